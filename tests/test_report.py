"""`archiver report`, `get --open` and the `run` summary on a database built by two real runs
against the local test web and the local Wayback stand-in."""

from __future__ import annotations

import csv
import http.server
import io
import json
import os
import subprocess
import threading
import webbrowser
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner, Result
from conftest import write
from lxml import html as lxml_html
from testweb import TestWeb
from wayback_standin import WaybackStandin

from archiver.cli import cli
from archiver.views.report import COUNTED

CHROMIUM = Path("/usr/bin/chromium")
# Footnote → test-web path and the verdict two runs give it.
CITED = {
    1: ("/article/still-here", "ok"),
    2: ("/redirect/permanent", "redirected"),
    3: ("/soft404/en", "soft_404"),
    4: ("/loginwall", "blocked"),
    5: ("/status/410", "dead"),
    6: ("/changing", "drifted"),
}


class Built:
    """The CLI bound to the built database, the servers it used, and the last run's output."""

    def __init__(
        self, root: Path, env: dict[str, str | None], web: TestWeb, wayback: WaybackStandin
    ):
        self.root, self.env, self.web, self.wayback = root, env, web, wayback
        self.output = ""

    def __call__(self, *args: str) -> Result:
        db = str(self.root / "archive.sqlite")
        return CliRunner().invoke(cli, ["--db", db, *args], env=self.env, catch_exceptions=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Two `archiver run`s over six footnotes, once for the module: Wayback lookups are
    rate-limited, so this is the slow part."""
    root = tmp_path_factory.mktemp("built")
    with TestWeb() as web, WaybackStandin() as wayback:
        lines = ["report,report_title,report_date,footnote,url,context"]
        for n, (path, _) in CITED.items():
            lines.append(f"odf,ODF report,2018-04-03,{n},{web.url(path)},Sentence {n} cites it.")
        write(root / "citations.csv", "\n".join(lines) + "\n")
        for n in (4, 5):  # the Archive holds the blocked and the dead page
            wayback.add_snapshot(web.url(CITED[n][0]), "20180320101010")
        # None unsets: no ARCHIVER_* variable of the outer environment reaches these runs.
        env: dict[str, str | None] = {n: None for n in os.environ if n.startswith("ARCHIVER_")}
        env |= {
            "ARCHIVER_CITATIONS": str(root / "citations.csv"),
            "ARCHIVER_DATA_DIR": str(root / "data"),
            "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVER_PER_HOST_DELAY": "0",
            "ARCHIVER_DEAD_AFTER_FAILURES": "2",
            "ARCHIVER_DEAD_AFTER_DAYS": "0",
            "ARCHIVER_REQUISITES": "0",
            "ARCHIVER_WAYBACK_URL": wayback.base,
            "ARCHIVER_MEMENTO_ARCHIVES": "",
            "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
        }
        run = Built(root, env, web, wayback)
        for _ in range(2):
            result = run("run")
            assert result.exit_code == 0, result.output
        run.output = result.output
        yield run


def status_counts(run_cli: Built) -> dict[str, int]:
    """The report's summary, counted here from `status` rows: sources, not citations."""
    rows = json.loads(run_cli("status", "--format", "json").stdout)
    sources = {row["canonical_url"]: row for row in rows}.values()
    counts = {v: sum(1 for r in sources if r["verdict"] == v) for v in COUNTED if v != "drifted"}
    counts["drifted"] = sum(1 for row in sources if row["drifted"])
    counts["unchecked"] = sum(1 for row in sources if row["verdict"] == "unchecked")
    counts["sources"] = len(sources)
    counts["with_wayback"] = sum(1 for row in sources if row["wayback_url"])
    counts["with_local"] = sum(1 for row in sources if row["local_content_at"])
    return counts


def test_run_ends_with_what_changed(built: Built) -> None:
    web, output = built.web, built.output
    assert "Since the last run: " in output
    assert f"newly dead: {web.url('/status/410')}" in output
    assert f"drifted: {web.url('/changing')}" in output


def test_verdicts_and_counts_agree_with_status_in_every_format(
    built: Built,
) -> None:
    run_cli = built
    expected = status_counts(run_cli)
    assert {k: expected[k] for k in COUNTED} == {
        "ok": 2,  # the drifted page still answers: counted ok, and drifted
        "redirected": 1,
        "drifted": 1,
        "soft_404": 1,
        "blocked": 1,
        "failing": 0,
        "dead": 1,
    }
    # Every source is captured, but only the ok, redirected and (first) drifted pages' copies
    # hold the cited content: a soft 404, a login wall and a 410 are kept, never offered.
    assert (expected["with_wayback"], expected["with_local"]) == (2, 3)
    rows = json.loads(run_cli("status", "--format", "json").stdout)
    assert sum(1 for row in rows if row["local_captured_at"]) == len(CITED)

    data = json.loads(run_cli("report", "--format", "json").output)
    assert data["summary"] == expected
    verdicts = {row["footnote"]: row["verdict"] for row in data["rows"]}
    assert verdicts == {n: v for n, (_, v) in CITED.items()}
    assert [row["footnote"] for row in data["rows"]][:3] == [5, 4, 6]  # dead, blocked, drifted
    dead = data["rows"][0]
    assert dead["use_instead"] == dead["wayback_url"] and dead["since"]
    assert data["rows"][2]["use_instead"].startswith("local copy: archiver get 6")

    rows = list(csv.DictReader(io.StringIO(run_cli("report", "--format", "csv").output)))
    assert len(rows) == len(CITED)
    by_source = {r["canonical_url"]: r["verdict"] for r in rows}
    for verdict in ("redirected", "soft_404", "blocked", "dead", "drifted"):
        assert list(by_source.values()).count(verdict) == expected[verdict]

    markdown = run_cli("report", "--format", "md").output
    header, _, values = markdown.splitlines()[2:5]
    assert (
        dict(
            zip(
                header.strip("| ").split(" | "),
                map(int, values.strip("| ").split(" | ")),
                strict=True,
            )
        )
        == expected
    )
    assert "Sentence 5 cites it." in markdown

    page = lxml_html.fromstring(run_cli("report", "--format", "html").output)
    shown = {
        td.get("class")[len("count-") :]: int(td.text)
        for td in page.xpath("//td[starts-with(@class, 'count-')]")
    }
    assert shown == expected
    # Self-contained: nothing for a browser to fetch.
    assert not page.xpath("//link|//script|//img|//iframe|//object|//embed|//*[@src]")
    assert "url(" not in "".join(page.xpath("//style/text()"))


def test_annotated_html_matches_every_footnote(
    built: Built,
) -> None:
    run_cli, web, wayback = built, built.web, built.wayback
    page = lxml_html.fromstring(run_cli("report", "--annotated", "--format", "html").output)
    items = page.xpath("//ol[@class='footnotes']/li")
    assert [int(li.get("value")) for li in items] == sorted(CITED)
    for li in items:
        link = li.find("a")
        path = CITED[int(li.get("value"))][0]
        assert link.get("href") == web.url(path)
        if path in ("/loginwall", "/status/410"):
            assert (
                link.get("data-versionurl") == f"{wayback.base}/web/20180320101010/{web.url(path)}"
            )
            assert link.get("data-versiondate") == "2018-03-20"
        else:
            assert link.get("data-versionurl") is None
    text = run_cli("report", "--annotated").output
    assert f"5. {web.url('/status/410')} (archived 2018-03-20: {wayback.base}/web/" in text


def test_get_names_only_a_copy_that_holds_the_cited_content(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli = built
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    ok = json.loads(run_cli("get", "1", "--report", "odf", "--json", "--open").stdout)
    # Our first capture is nearer the citation than today's live page.
    assert [(c["kind"], c["holds"]) for c in ok["copies"]] == [
        ("local", "content"),
        ("live", "content"),
    ]
    assert ok["best"] == "local" and ok["best_copy"]["holds"] == "content"
    assert ok["best_copy"]["reason"] == "the nearest copy after the citation date, 2018-04-03"
    index = Path(opened[0].removeprefix("file://"))
    assert index.is_file() and (built.root / "data" / "exports") in index.parents

    dead = json.loads(run_cli("get", "5", "--report", "odf", "--json").stdout)
    assert dead["best"] == "wayback_nearest" and dead["best_copy"]["url"] == dead["wayback"]["url"]
    assert dead["local"]["holds"] == "not_found"  # the 410 page is kept as evidence
    login = json.loads(run_cli("get", "4", "--report", "odf", "--json").stdout)
    assert login["local"]["holds"] == "login_wall" and login["best"] == "wayback_nearest"

    # A soft 404 was captured, and is kept, but no copy holds what was cited.
    soft_404 = run_cli("get", "3", "--report", "odf", "--json", "--open")
    found = json.loads(soft_404.stdout)
    assert found["best"] is None and found["best_copy"] is None
    assert [(c["kind"], c["holds"]) for c in found["copies"]] == [("local", "not_found")]
    assert len(opened) == 1 and "no copy holds the cited content" in soft_404.stderr
    text = run_cli("get", "3", "--report", "odf").stdout
    assert "best copy: none — no copy holds the cited content" in text


class _LoggingHandler(http.server.SimpleHTTPRequestHandler):
    requested: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        type(self).requested.append(self.path)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_html_report_renders_offline_in_chromium(built: Built, tmp_path: Path) -> None:
    run_cli = built
    site = tmp_path / "site"
    site.mkdir()
    assert (
        run_cli("report", "--format", "html", "--output", str(site / "report.html")).exit_code == 0
    )
    _LoggingHandler.requested = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: _LoggingHandler(*a, directory=str(site)),  # type: ignore[misc]
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shot = tmp_path / "shot.png"
    try:
        subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                # Outside the Python guard: no name resolves, so Chromium reaches only loopback.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--screenshot={shot}",
                "--window-size=1200,1600",
                f"http://127.0.0.1:{server.server_address[1]}/report.html",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert shot.stat().st_size > 10_000
    # Chromium asks for a favicon on its own; the page itself asks for nothing.
    assert [p for p in _LoggingHandler.requested if p != "/favicon.ico"] == ["/report.html"]


# The three hosts resolve nowhere, with or without internet: the network is down for them.
@pytest.mark.offline_names("a.kz", "b.kz", "c.kz")
def test_run_without_network_stops_after_the_check_and_reports_no_change(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    # Three hosts out of reach: more than one site's trouble, so the network is ours.
    cited = "".join(f"{n},https://{host}.kz/{n}\n" for n, host in enumerate("abc", 1))
    write(tmp_path / "citations.csv", "footnote,url\n" + cited)
    result = run_cli("run")
    assert result.exit_code == 0, result.output
    assert "the network is unreachable" in result.output
    assert "newly failing:" not in result.output
    assert result.output.rstrip().endswith(
        "Since the last run: 0 newly failing, 0 newly dead, 0 recovered, 0 drifted, "
        "0 newly archived."
    )
