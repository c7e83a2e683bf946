"""The checker against a real local web: every hard case gets a verdict a researcher can trust."""

from __future__ import annotations

import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from conftest import At, write
from sqlite_utils import Database
from testweb import TestWeb, refused_port

from archiver.check import CheckOptions, CheckSummary, check_sources
from archiver.check.verdicts import Rules
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.net.fetch import Fetcher, FetchLimits
from archiver.net.pool import STOP_GRACE
from archiver.views.status import citation_rows

FAST = CheckOptions(
    limits=FetchLimits(
        timeout=3.0,
        max_bytes=500_000,
        allow_private_networks=True,
        user_agent="archiver-test (tests@example.org)",
    ),
    rules=Rules(dead_after_failures=3, dead_after_days=3.0),
    concurrency=8,
    per_host_concurrency=4,
    per_host_delay=0.0,
)


def cite(db: Database, urls: list[str], report: str = "r") -> None:
    parsed = ParsedReport(
        path="test", citations=[CitedURL(i + 1, 1, u) for i, u in enumerate(urls)]
    )
    import_report(db, parsed, report_id=report)


def verdicts(db: Database) -> dict[str, tuple[str, str | None]]:
    return {r["url"]: (r["verdict"], r["reason"]) for r in citation_rows(db)}


def check(db: Database, options: CheckOptions = FAST, **kwargs: object) -> CheckSummary:
    return check_sources(db, options, **kwargs)  # type: ignore[arg-type]


# source.invalid must not resolve, on a machine with internet too (the guard sees to that).
@pytest.mark.offline_names(".invalid")
def test_every_hard_case_gets_the_right_verdict(
    db: Database, web: TestWeb, tls_web: TestWeb
) -> None:
    expected = {
        web.url("/article/budget"): ("ok", "http_200"),
        web.url("/status/404"): ("failing", "http_404"),
        web.url("/status/410"): ("failing", "http_410"),
        web.url("/status/500"): ("failing", "http_500"),
        web.url("/status/401"): ("blocked", "http_401"),
        web.url("/status/403"): ("blocked", "http_403"),
        web.url("/status/451"): ("blocked", "http_451"),
        web.url("/status/429"): ("blocked", "rate_limited"),
        web.url("/redirect/permanent"): ("redirected", "moved_permanently"),
        web.url("/redirect/temporary"): ("ok", "http_200"),
        web.url("/redirect/home"): ("soft_404", "redirect_to_home"),
        web.url("/redirect/login"): ("blocked", "login_wall"),
        web.url("/loginwall"): ("blocked", "login_wall"),
        web.url("/soft404/en"): ("soft_404", "not_found_text"),
        web.url("/soft404/ru"): ("soft_404", "not_found_text"),
        web.url("/soft404/kk"): ("soft_404", "not_found_text"),
        web.url("/flaky/a"): ("ok", "http_200"),
        web.url("/head405"): ("ok", "http_200"),
        web.url("/loop/a"): ("failing", "redirect_loop"),
        web.url("/chain/12"): ("failing", "too_many_redirects"),
        web.url("/cp1251"): ("ok", "http_200"),
        web.url("/endless"): ("ok", "http_200"),
        web.url("/gzipbomb"): ("ok", "http_200"),
        web.url("/trickle-headers"): ("failing", "timeout"),
        web.url("/trickle"): ("failing", "timeout"),
        f"http://127.0.0.1:{refused_port()}/gone": ("failing", "connection_refused"),
        "http://source.invalid/page": ("failing", "dns_nxdomain"),
        tls_web.url("/article/secure"): ("failing", "tls_error"),
    }
    cite(db, list(expected))
    started = time.monotonic()
    summary = check(db)
    assert not summary.inconclusive, summary.message
    assert verdicts(db) == expected
    # Hostile servers are bounded: the trickle by the deadline, the bodies by max_bytes.
    assert time.monotonic() - started < 3.0 + 5.0
    rows = {r["url"]: r for r in citation_rows(db)}
    moved = rows[web.url("/redirect/permanent")]
    assert moved["final_url"] == web.url("/article/moved-here")
    attempts = {
        r["final_url"] or "": r
        for r in db.query("select * from checks where run_id = ?", [summary.run_id])
    }
    assert attempts[web.url("/gzipbomb")]["bytes_read"] < 1_000_000
    assert attempts[web.url("/endless")]["truncated"] == 1
    assert json.loads(attempts[web.url("/article/moved-here")]["redirects"])[0]["status"] == 301
    # The windows-1251 page, charset only in a meta tag, was read as Russian, not mojibake.
    pages = [
        zlib.decompress(r["body"]).decode() for r in db.query("select body from reference_texts")
    ]
    assert any("синими шарами" in page for page in pages)


def test_status_json_has_the_checker_columns(
    db: Database, web: TestWeb, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    write(
        tmp_path / "r.csv",
        f"footnote,url\n1,{web.url('/redirect/permanent')}\n2,{web.url('/status/404')}\n",
    )
    env = {"ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1", "ARCHIVER_PER_HOST_DELAY": "0"}
    assert run_cli("import", "r.csv").exit_code == 0
    result = run_cli("check", env=env)
    assert result.exit_code == 0, result.output
    assert "1 failing, 1 redirected" in result.output
    rows = json.loads(run_cli("status", "--format", "json").stdout)
    keys = {
        "verdict",
        "reason",
        "http_status",
        "final_url",
        "checked_at",
        "since",
        "last_ok_at",
        "drifted",
    }
    assert keys <= set(rows[0])
    assert rows[0]["http_status"] == 200 and rows[0]["last_ok_at"]
    assert (rows[1]["verdict"], rows[1]["http_status"], rows[1]["last_ok_at"]) == (
        "failing",
        404,
        None,
    )


def test_a_missing_page_confirmed_over_days_becomes_dead_and_recovers(
    db: Database, web: TestWeb
) -> None:
    web.set_page("/article/deleted", "gone", status=404)
    url = web.url("/article/deleted")
    cite(db, [url])
    day = datetime(2026, 1, 1, tzinfo=UTC)
    for offset in (0, 1, 3):
        check(db, clock=At(day + timedelta(days=offset)))
    assert verdicts(db)[url] == ("dead", "http_404")
    web.set_page("/article/deleted", "<html><title>Back</title><p>It is back.</p></html>")
    summary = check(db, clock=At(day + timedelta(days=10)))
    assert verdicts(db)[url] == ("ok", "http_200")
    assert summary.changes == [{"url": url, "from": "dead", "to": "ok", "reason": "http_200"}]


def test_catch_all_site_template_is_a_soft_404(db: Database) -> None:
    with TestWeb(host="127.0.0.3", catch_all_soft404=True) as site:
        cite(db, [site.url("/news/2018/deleted-story"), site.url("/article/real-story")])
        check(db)
        assert verdicts(db) == {
            site.url("/news/2018/deleted-story"): ("soft_404", "same_as_missing_page"),
            site.url("/article/real-story"): ("ok", "http_200"),
        }
        assert len(site.requests_to("/archiver-probe-")) == 1  # one probe per host


def test_changed_text_is_drift_and_the_same_text_is_not(db: Database, web: TestWeb) -> None:
    cite(db, [web.url("/changing"), web.url("/article/stable")])
    check(db)
    check(db)
    rows = {r["url"]: r for r in citation_rows(db)}
    assert rows[web.url("/changing")]["drifted"] == 1
    assert rows[web.url("/changing")]["verdict"] == "ok"
    assert rows[web.url("/article/stable")]["drifted"] == 0


def test_conditional_requests_and_user_agent(db: Database, web: TestWeb) -> None:
    cite(db, [web.url("/article/etag")])
    check(db)
    check(db)
    first, second = web.requests_to("/article/etag")
    assert "If-None-Match" not in first.headers
    assert second.header("If-None-Match")
    assert first.header("User-Agent") == "archiver-test (tests@example.org)"
    assert verdicts(db)[web.url("/article/etag")] == ("ok", "not_modified")


def test_per_host_limits_and_delay(db: Database, web: TestWeb, web2: TestWeb) -> None:
    cite(
        db,
        [web.url(f"/article/a{i}") for i in range(4)]
        + [web2.url(f"/article/b{i}") for i in range(4)],
    )
    polite = CheckOptions(
        limits=FAST.limits, concurrency=8, per_host_concurrency=1, per_host_delay=0.3
    )
    check(db, polite)
    for site in (web, web2):
        times = sorted(r.time for r in site.requests_to("/article/"))
        assert len(times) == 4
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.29
    # The two hosts were worked in parallel, not one after the other.
    assert abs(web.requests_to("/article/")[0].time - web2.requests_to("/article/")[0].time) < 0.2


def test_retry_after_is_honoured(db: Database, web: TestWeb) -> None:
    cite(db, [web.url("/ratelimited/x")])
    check(db)
    first, second = web.requests_to("/ratelimited/x")
    assert second.time - first.time >= 1.9  # the server asked for 2 s
    assert verdicts(db)[web.url("/ratelimited/x")] == ("ok", "http_200")


def test_private_addresses_are_refused_by_default(db: Database, web: TestWeb) -> None:
    port = web.base.rsplit(":", 1)[1]
    urls = [
        web.url("/article/x"),
        f"http://2130706433:{port}/article/x",
        f"http://[::ffff:127.0.0.1]:{port}/",
    ]
    cite(db, urls)
    guarded = CheckOptions(limits=FetchLimits(timeout=3.0), per_host_delay=0.0)
    check(db, guarded)
    assert set(verdicts(db).values()) == {("blocked", "private_address")}
    assert web.requests == []


def test_the_socket_guard_catches_what_dns_did_not_say(web: TestWeb) -> None:
    """DNS rebinding: our lookup said public, the connection went to loopback."""

    class Rebound(Fetcher):
        def _refuse_address(self, url: str) -> None:
            return None

    result = Rebound(FetchLimits(timeout=3.0)).fetch(web.url("/article/x"))
    assert result.error_type == "private_address"
    assert web.requests == []


# The .invalid hosts resolve nowhere: what a machine without internet sees for every host.
@pytest.mark.offline_names(".invalid")
def test_network_down_changes_no_verdict(db: Database, web: TestWeb) -> None:
    cite(db, [web.url("/article/ok")])
    check(db)
    cite(
        db,
        [web.url("/article/ok"), "http://a.invalid/1", "http://b.invalid/2", "http://c.invalid/3"],
    )
    for _ in range(3):
        summary = check(db, report_id="r")
        assert not summary.inconclusive  # one host answered: the network is up
    cite(db, ["http://a.invalid/1", "http://b.invalid/2", "http://c.invalid/3"], report="offline")
    before = verdicts(db)
    for _ in range(3):
        summary = check(db, report_id="offline", clock=At(datetime.now(UTC) + timedelta(days=9)))
        assert summary.inconclusive
        assert "network looks down" in summary.message
    assert verdicts(db) == before
    assert "dead" not in {v for v, _ in verdicts(db).values()}
    counted = db.execute("select count(*) from checks where counted = 0").fetchone()[0]
    assert counted == 9


def test_failing_canaries_make_the_run_inconclusive(db: Database, web: TestWeb) -> None:
    cite(db, [web.url("/status/404")])
    options = CheckOptions(
        limits=FAST.limits, per_host_delay=0.0, canary_urls=(f"http://127.0.0.1:{refused_port()}/",)
    )
    summary = check(db, options)
    assert summary.inconclusive and "canary" in summary.message
    assert verdicts(db)[web.url("/status/404")] == ("unchecked", None)
    assert web.requests_to("/status/404") == []


def test_check_cli_errors_and_url_scope(
    run_cli: Callable[..., Result], tmp_path: Path, web: TestWeb
) -> None:
    write(
        tmp_path / "r.csv",
        f"footnote,url\n1,{web.url('/article/one')}\n2,{web.url('/article/two')}\n",
    )
    run_cli("import", "r.csv")
    env = {"ARCHIVER_ALLOW_PRIVATE_NETWORKS": "true", "ARCHIVER_PER_HOST_DELAY": "0"}
    assert run_cli("check", "--report", "nope", env=env).exit_code == 1
    missing = run_cli("check", "--url", "https://elsewhere.kz/x", env=env)
    assert missing.exit_code == 1 and "not a cited source" in missing.output
    one = run_cli("check", "--url", web.url("/article/one"), "--json", env=env)
    assert json.loads(one.output)["checked"] == 1
    assert len(web.requests_to("/article/two")) == 0


def test_head_for_known_documents_with_get_fallback(db: Database, web: TestWeb) -> None:
    cite(db, [web.url("/pdf"), web.url("/head-lies")])
    check(db)
    # Pretend the second source was a document too: its server's HEAD says 404, GET works.
    db.execute("update source_state set content_type = 'application/pdf'")
    check(db)
    assert [r.method for r in web.requests_to("/pdf")] == ["GET", "HEAD"]
    assert [r.method for r in web.requests_to("/head-lies")] == ["GET", "HEAD", "GET"]
    assert verdicts(db)[web.url("/head-lies")][0] == "ok"


def test_per_host_concurrency_holds(db: Database, web: TestWeb) -> None:
    cite(db, [web.url(f"/slow/0.{n}3") for n in range(1, 7)])
    two = CheckOptions(limits=FAST.limits, concurrency=8, per_host_concurrency=2, per_host_delay=0)
    check(db, two)
    starts = sorted(r.time for r in web.requests_to("/slow/"))
    assert len(starts) == 6
    # Each takes at least 0.13 s: a third request never starts while two are in flight.
    assert all(c - a >= 0.12 for a, c in itertools.pairwise(starts[::2]))
    assert set(verdicts(db).values()) == {("ok", "http_200")}


def test_a_stop_ends_the_run_within_the_grace_and_keeps_what_finished(
    db: Database, web: TestWeb
) -> None:
    fast = [web.url(f"/article/quick{n}") for n in range(4)]
    slow = [web.url("/slow/9"), web.url("/slow/9.5")]
    cite(db, fast + slow)
    patient = CheckOptions(
        limits=FetchLimits(timeout=20.0, allow_private_networks=True),
        concurrency=8,
        per_host_concurrency=8,
        per_host_delay=0.0,
    )
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    summary = check(db, patient, stop=stop)
    assert time.monotonic() - started < 0.5 + STOP_GRACE + 1.0
    assert summary.interrupted and summary.checked == 4
    assert all(verdicts(db)[url] == ("ok", "http_200") for url in fast)
    assert all(verdicts(db)[url] == ("unchecked", None) for url in slow)
