"""The dashboard (`archiver serve`) against data the real pipeline made from the local test web:
a real server on loopback, pywb replaying the captures, and Chromium clicking through it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import netguard
import pytest
from click.testing import CliRunner
from test_browser_capture import SCRIPTED
from testweb import TestWeb
from wayback_standin import WaybackStandin

from archiver.capture.browser import find_browser
from archiver.cli import cli
from archiver.config import Settings, load_settings
from archiver.errors import ArchiverError
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.pipeline import run_main_job
from archiver.store import open_db
from archiver.web.server import DashboardServer

CHROMIUM = find_browser("auto")
HOSTILE_CONTEXT = 'The akimat closed the weekly <script>alert("fn1")</script> & "quoted" it.'
HOSTILE_TITLE = '<img src=x onerror=alert("title")> Court & "press"'
ARTICLE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>Court hearing of the journalists</h1><p>The court in Almaty heard the case of the
two journalists charged with spreading false information on {day}, and adjourned it until
the prosecution could produce its witnesses, who did not appear.</p></body></html>"""


class FastClock:
    """The real time, and no waiting: the Wayback stage's pacing costs the tests nothing."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        return None


@dataclass
class Site:
    settings: Settings
    web: TestWeb
    server: DashboardServer
    app_url: str
    article_url: str
    gone_url: str
    blocked_url: str
    drift_url: str
    replay_log: Path

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return fetch(self.server.url.rstrip("/") + path, headers=headers)

    def json(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, body
        return json.loads(body)


def fetch(
    url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def cite(db: Any, urls: list[tuple[str, str]]) -> None:
    parsed = ParsedReport(
        path="test",
        citations=[CitedURL(n + 1, 1, url, context) for n, (url, context) in enumerate(urls)],
        title=HOSTILE_TITLE,
        date="2018-04-03",
    )
    import_report(db, parsed, report_id="odf-2018")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One report of six footnotes made by the real pipeline (check, browser capture, Wayback
    lookup; then a second check and capture once pages changed), and the dashboard over it."""
    root = tmp_path_factory.mktemp("web")
    with TestWeb() as web, WaybackStandin() as wayback:
        web.set_page("/app", SCRIPTED)
        web.set_page("/court", ARTICLE.format(title="Court hearing", day="Monday"))
        web.set_page("/hearing", ARTICLE.format(title=HOSTILE_TITLE, day="Monday"))
        urls = {
            "app": web.url("/app"),
            "article": web.url("/hearing"),
            "gone": web.url("/status/404"),
            "blocked": web.url("/status/403"),
            "drift": web.url("/court"),
        }
        wayback.add_snapshot(urls["app"], "20180320101010", body=SCRIPTED)
        env = {
            "ARCHIVER_DB": str(root / "archive.sqlite"),
            "ARCHIVER_DATA_DIR": str(root / "data"),
            "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVER_PER_HOST_DELAY": "0",
            "ARCHIVER_TIMEOUT": "5",
            "ARCHIVER_BROWSER_TIMEOUT": "5",
            "ARCHIVER_DEAD_AFTER_FAILURES": "2",
            "ARCHIVER_DEAD_AFTER_DAYS": "0",
            "ARCHIVER_DRIFT_THRESHOLD": "0.97",  # a few words changed are drift here
            "ARCHIVER_BROWSER": CHROMIUM or "off",
            "ARCHIVER_WAYBACK_URL": wayback.base,
            "ARCHIVER_MEMENTO_ARCHIVES": "",
            "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
        }
        settings = load_settings(environ=env, cwd=root)
        db = open_db(settings.db)
        cite(
            db,
            [
                (urls["app"], HOSTILE_CONTEXT),
                (urls["article"], "Reported by the weekly on the day of the hearing."),
                (urls["gone"], "The ministry's statement, since removed."),
                (urls["blocked"], "The opposition party's page."),
                (urls["drift"], "The court's own account of the hearing."),
            ],
        )
        run_main_job(db, settings, stages=["check", "capture"])
        run_main_job(db, settings, stages=["wayback"], url=urls["app"], clock=FastClock())
        # Captured again unchanged: the page is a revisit record of the first capture's body.
        run_main_job(db, settings, stages=["capture"], url=urls["article"], force=True)
        # Later: the article is gone, the court's account rewritten.
        web.set_page("/app", "<h1>Not found</h1>", status=404)
        web.set_page("/court", ARTICLE.format(title="Court hearing", day="Friday, in secret"))
        run_main_job(db, settings, stages=["check"])
        run_main_job(db, settings, stages=["capture"], url=urls["drift"], force=True)
        db.conn.close()
        log = root / "netguard-replay.log"
        replay_env = {**os.environ, **netguard.subprocess_env(log)}
        with DashboardServer(settings, port=0, replay_env=replay_env) as server:
            yield Site(
                settings,
                web,
                server,
                urls["app"],
                urls["article"],
                urls["gone"],
                urls["blocked"],
                urls["drift"],
                log,
            )
        assert not log.exists() or not log.read_text(), log.read_text()


def cli_json(site: Site, *args: str) -> Any:
    env = {
        "ARCHIVER_DB": str(site.settings.db),
        "ARCHIVER_DATA_DIR": str(site.settings.data_dir),
        "ARCHIVER_BROWSER": "off",
    }
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def only(keys: Any, row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in keys}


def test_json_twins_say_what_the_cli_says(site: Site) -> None:
    cli_reports = cli_json(site, "reports", "--json")
    web_reports = site.json("/index.json")
    assert [only(r, w) for r, w in zip(cli_reports, web_reports, strict=True)] == cli_reports
    assert web_reports[0]["without_content"] >= 1  # the article that is gone

    cli_report = cli_json(site, "report", "--report", "odf-2018", "--format", "json")
    web_report = site.json("/report.json?id=odf-2018")
    assert (web_report["report"], web_report["summary"]) == ("odf-2018", cli_report["summary"])
    by_footnote = {(r["footnote"], r["position"]): r for r in web_report["rows"]}
    assert [r["footnote"] for r in web_report["rows"]] == [1, 2, 3, 4, 5]  # footnote order
    for row in cli_report["rows"]:
        assert only(row, by_footnote[(row["footnote"], row["position"])]) == row

    for url in (site.app_url, site.drift_url):
        cli_get = cli_json(site, "get", url, "--json")
        web_get = site.json("/source.json?url=" + quote(url, safe=""))
        assert only(cli_get, web_get) == cli_get

    cli_search = cli_json(site, "search", "journalists", "--json")
    assert cli_search and site.json("/search.json?q=journalists") == cli_search
    assert site.json("/runs.json")[: len(cli_runs := cli_json(site, "runs", "--json"))] == cli_runs
    # Content negotiation: the page itself answers JSON when asked for it.
    status, headers, body = site.get("/report?id=odf-2018", Accept="application/json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["summary"] == cli_report["summary"]


def test_hostile_titles_and_contexts_are_text(site: Site) -> None:
    for path in ("/", "/report?id=odf-2018", "/search?q=journalists"):
        status, headers, body = site.get(path)
        page = body.decode()
        assert status == 200
        assert "<script" not in page and "<img src=x" not in page, path
        assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none'
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    page = site.get("/report?id=odf-2018")[2].decode()
    assert "&lt;script&gt;alert(&#34;fn1&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&#34;title&#34;)&gt; Court &amp; &#34;press&#34;" in page


def test_replay_of_a_revisit_and_nothing_but_replays(site: Site) -> None:
    db = sqlite3.connect(site.settings.db)
    [(capture_id,)] = db.execute(
        "select max(c.id) from captures c join sources s on s.id = c.source_id where s.url = ?",
        [site.article_url],
    ).fetchall()
    [(revisit_of,)] = db.execute(
        "select revisit_of from capture_resources where capture_id = ? and role = 'page'",
        [capture_id],
    ).fetchall()
    db.close()
    assert revisit_of is not None  # its body is in the first capture's WARC file
    replay = site.json(f"/replay/{capture_id}.json")["replay_url"]
    status, headers, body = fetch(replay)
    assert status == 200 and b"adjourned it until" in body
    assert headers["Content-Security-Policy"].startswith("sandbox allow-scripts;")
    # Nothing else: no list of collections, no guessing one, no POST.
    where = urlsplit(replay)
    base = f"{where.scheme}://{where.netloc}"
    collection = where.path.split("/")[1]
    guessed = collection[:-4] + ("0000" if not collection.endswith("0000") else "1111")
    for path in ("/", "/collinfo.json", f"/{guessed}/", f"/{collection[:-1]}/cdx"):
        assert fetch(base + path)[0] == 404, path
    assert fetch(replay, {"x": "1"})[0] == 404
    assert site.get("/report.json?id=nope")[0] == 404


def test_text_diff_is_bounded_on_hostile_text() -> None:
    from archiver.views.textdiff import word_diff

    few = " ".join(str(n % 3) for n in range(1_000_000))  # no word is unique: no anchor
    many = " ".join(f"w{n}" for n in range(200_000))
    edited = " ".join(f"w{n}" if n % 7 else "x" for n in range(200_000))
    started = time.monotonic()
    for before, after in ((few, few[2:]), (many, edited), (many, few)):
        diff = word_diff(before, after)
        assert diff["cut"]
    assert time.monotonic() - started < 2
    diff = word_diff("the court heard the case on Monday", "the court heard the case on Friday")
    assert diff["parts"][-2:] == [
        {"op": "removed", "text": "Monday"},
        {"op": "added", "text": "Friday"},
    ]


def test_refuses_another_address_without_a_token(site: Site, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve", "--host", "0.0.0.0", "--port", "0"],
        env={"ARCHIVER_DB": str(tmp_path / "a.sqlite"), "ARCHIVER_SERVE_TOKEN": ""},
    )
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0 without serve_token" in result.output
    assert not (tmp_path / "a.sqlite").exists()  # refused before touching anything
    with pytest.raises(ArchiverError, match="without serve_token"):
        DashboardServer(site.settings, host="192.0.2.1", port=0)


def test_serve_prints_its_address_and_stops_pywb_with_it(
    tmp_path: Path, subprocess_guard: dict[str, str]
) -> None:
    env = {**os.environ, **subprocess_guard, "PYTHONUNBUFFERED": "1"}
    env["ARCHIVER_DB"] = str(tmp_path / "archive.sqlite")
    server = subprocess.Popen(
        [sys.executable, "-m", "archiver", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("Dashboard: http://127.0.0.1:"), first
        assert "replayed by pywb on port" in server.stdout.readline()
        url = first.split()[1]
        assert fetch(url)[0] == 200
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(children) == 1  # pywb
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
    finally:
        server.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{children[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{children[0]}").exists()


def _csrf(page: bytes) -> str:
    marker = b'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index(b'"', start)].decode()


def test_actions_need_a_post_with_this_dashboards_csrf_token(site: Site) -> None:
    base = site.server.url.rstrip("/")
    origin = base
    form = {"action": "check", "url": site.article_url}
    runs_before = site.json("/runs.json")
    assert fetch(base + "/actions", form, {"Origin": origin})[0] == 403  # no token
    assert fetch(base + "/actions", {**form, "csrf": "1.forged"}, {"Origin": origin})[0] == 403
    token = _csrf(site.get("/report?id=odf-2018")[2])
    # The right token from another site (or a sandboxed frame: Origin null) is refused too.
    for other in ("http://127.0.0.1:1", "null"):
        assert fetch(base + "/actions", {**form, "csrf": token}, {"Origin": other})[0] == 403
    assert site.get("/actions")[0] == 405  # never by GET
    assert site.json("/runs.json") == runs_before  # nothing ran
    status, headers, _ = fetch(base + "/actions", {**form, "csrf": token}, {"Origin": origin})
    assert status == 303
    job = headers["Location"]
    for _ in range(200):
        state = site.json(job + ".json")
        if state["state"] == "finished":
            break
        time.sleep(0.05)
    assert state["status"] == "ok" and state["counts"]["checked"] == 1, state
    newest = site.json("/runs.json")[0]
    assert (newest["id"], newest["job"], newest["trigger"]) == (state["run_id"], "check", "web")


def test_read_only_has_no_buttons_and_refuses_actions(site: Site) -> None:
    with DashboardServer(site.settings, port=0, read_only=True, replay=False) as server:
        page = fetch(server.url + "report?id=odf-2018")[2]
        assert b"Check now" not in page and b'action="/actions"' not in page
        status, _, body = fetch(
            server.url + "actions",
            {"action": "check", "url": site.article_url, "csrf": "x"},
            {"Origin": server.url.rstrip("/")},
        )
        assert status == 403 and b"read-only" in body


def test_a_token_is_needed_for_everything_but_the_login_form(site: Site) -> None:
    settings = Settings(**{**site.settings.as_dict(), "serve_token": "s3cret-token"})
    with DashboardServer(settings, port=0, replay=False) as server:
        base = server.url.rstrip("/")
        status, headers, _ = fetch(base + "/report?id=odf-2018")
        assert status == 303 and headers["Location"].startswith("/login?next=")
        assert fetch(base + "/index.json")[0] == 401
        bearer = {"Authorization": "Bearer s3cret-token"}
        assert fetch(base + "/index.json", headers=bearer)[0] == 200
        assert fetch(base + "/index.json", headers={"Authorization": "Bearer nope"})[0] == 401
        login = fetch(base + "/login")[2]
        form = {"token": "s3cret-token", "next": "/runs", "csrf": _csrf(login)}
        status, headers, _ = fetch(base + "/login", form, {"Origin": base})
        assert status == 303 and headers["Location"] == "/runs"
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        assert fetch(base + "/runs", headers={"Cookie": cookie})[0] == 200
        wrong = fetch(base + "/login", {**form, "token": "guess"}, {"Origin": base})
        assert wrong[0] == 403


def test_loopback_names_only_without_a_token(site: Site) -> None:
    """A page whose name is rebound to 127.0.0.1 asks with its own Host: refused."""
    assert site.get("/", Host="attacker.example")[0] == 421
    assert site.get("/", Host=f"localhost:{site.server.port}")[0] == 200


def test_pages_answer_while_a_run_holds_the_write_lock(site: Site) -> None:
    writer = sqlite3.connect(site.settings.db)
    writer.execute("begin immediate")
    writer.execute(
        "insert into runs (job, trigger, started_at, status) values "
        "('check', 'cli', '2026-01-01T00:00:00+00:00', 'running')"
    )
    try:
        started = time.monotonic()
        for path in ("/", "/report?id=odf-2018", "/source?url=" + quote(site.app_url)):
            assert site.get(path)[0] == 200
        assert time.monotonic() - started < 5
    finally:
        writer.rollback()
        writer.close()


def test_report_download_in_every_format(site: Site) -> None:
    for fmt in ("md", "html", "csv", "json"):
        status, headers, body = site.get(f"/download?report=odf-2018&format={fmt}")
        assert status == 200 and headers["Content-Disposition"].startswith("attachment"), fmt
        assert site.gone_url.encode() in body
    status, _, body = site.get("/download?report=odf-2018&format=html&annotated=1")
    assert status == 200 and b"data-versionurl" in body


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("needs Chromium (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


def _shoot(page: Any, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    keep = os.environ.get("ARCHIVER_KEEP_SCREENSHOTS")
    if keep:
        page.screenshot(path=str(Path(keep) / name), full_page=True)


def test_three_clicks_from_the_reports_to_a_replayed_copy(
    site: Site, chromium: Any, tmp_path: Path
) -> None:
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(site.server.url)
    _shoot(page, "dashboard-reports.png", tmp_path)
    page.click("a.report-link")  # 1
    assert page.locator("p.context").first.inner_text() == HOSTILE_CONTEXT  # shown as text
    page.click("a.broken-filter")  # 2
    _shoot(page, "dashboard-report.png", tmp_path)
    shown = page.locator("table.footnotes a.source-link").all_inner_texts()
    assert set(shown) == {site.app_url, site.gone_url, site.blocked_url, site.drift_url}
    assert page.locator("table.footnotes .badge").all_inner_texts() == [
        "failing",
        "dead",
        "blocked",
        "drifted",
    ]
    page.click("#fn-1 a.local")  # 3: footnote 1's local copy, replayed
    frame = page.frame_locator("iframe.replay")
    frame.locator("text=registration fees").wait_for(timeout=15_000)  # rendered by its script
    assert "Uralskaya Nedelya" in frame.locator("body").inner_text()
    assert page.get_attribute("iframe.replay", "sandbox") == "allow-scripts"
    replay = urlsplit(page.get_attribute("iframe.replay", "src") or "")
    dashboard = urlsplit(site.server.url)
    assert (replay.hostname, replay.port != dashboard.port) == (dashboard.hostname, True)
    _shoot(page, "dashboard-replay.png", tmp_path)

    page.go_back()
    page.click(f"a.source-link:text-is('{site.app_url}')")
    assert page.locator("svg.timeline circle").count() == 2
    assert page.locator("img.thumb").first.evaluate("img => img.naturalWidth") > 100
    # The best copy is the Wayback Machine's, from before the citation; ours is from after.
    assert page.locator("p.best-copy a").inner_text().startswith("wayback nearest 2018-03-20")
    page.click("a.replay-link")
    page.frame_locator("iframe.replay").locator("text=registration fees").wait_for()

    page.goto(site.server.url + "source?url=" + quote(site.drift_url, safe=""))
    assert page.locator(".diff del").first.inner_text() == "Monday,"
    assert page.locator(".diff ins").first.inner_text() == "Friday, in secret,"
    _shoot(page, "dashboard-source.png", tmp_path)
    page.goto(site.server.url + "search?q=journalists")
    assert page.locator("ol.results li").count() == 2
    _shoot(page, "dashboard-search.png", tmp_path)
    assert not dialogs  # no hostile title or context ran
    hosts = {urlsplit(url).hostname for url in requested}
    assert hosts == {"127.0.0.1"}, requested  # nothing left this machine
    context.close()
