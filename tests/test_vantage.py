"""Vantage points: a source blocked from here but reachable through a proxy elsewhere is
`blocked`/`regional`, never `dead`; `dead` needs every vantage to agree. Real proxies on
loopback (tests/proxies.py: an HTTP proxy with CONNECT, a SOCKS5 proxy), each connecting from
its own address, and a site that answers by that address."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write
from proxies import HttpProxy, RegionalSite, Socks5Proxy
from sqlite_utils import Database

from archiver.capture.run import CaptureOptions, capture_sources
from archiver.check import CheckOptions, check_sources
from archiver.check.verdicts import Rules
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.net.fetch import Fetcher, FetchLimits
from archiver.net.vantage import parse_vantage, parse_vantages
from archiver.views.status import citation_rows

ABROAD, NEIGHBOUR = "127.0.0.3", "127.0.0.4"  # where each proxy connects from; here is .1
LIMITS = FetchLimits(timeout=3.0, allow_private_networks=True)


@pytest.fixture
def site() -> Iterator[RegionalSite]:
    routes: dict[str, dict[str, int | str]] = {
        # Reset from here, 451 in the neighbouring country, there from abroad.
        "/news": {ABROAD: 200, NEIGHBOUR: 451, "*": "reset"},
        "/gone": {"*": 404},
        "/geo404": {ABROAD: 200, "*": 404},
        "/open": {"*": 200},
    }
    with RegionalSite(routes) as regional:
        yield regional


@pytest.fixture
def proxies() -> Iterator[tuple[HttpProxy, Socks5Proxy]]:
    with (
        HttpProxy(source=ABROAD, credentials=("reader", "p@ss word")) as http,
        Socks5Proxy(source=NEIGHBOUR, credentials=("kz", "secret")) as socks,
    ):
        yield http, socks


def options(*vantages: str, dead_now: bool = False) -> CheckOptions:
    rules = Rules(dead_after_failures=1, dead_after_days=0.0) if dead_now else Rules()
    return CheckOptions(
        limits=LIMITS,
        rules=rules,
        concurrency=4,
        per_host_concurrency=2,
        per_host_delay=0.0,
        vantages=parse_vantages(vantages),
    )


def cite(db: Database, urls: list[str]) -> None:
    parsed = ParsedReport(path="t", citations=[CitedURL(i + 1, 1, u) for i, u in enumerate(urls)])
    import_report(db, parsed, report_id="r")


def rows(db: Database) -> dict[str, dict[str, object]]:
    return {r["url"]: r for r in citation_rows(db)}


def test_blocked_here_reachable_abroad_is_regional_and_never_dead(
    db: Database, site: RegionalSite, proxies: tuple[HttpProxy, Socks5Proxy]
) -> None:
    http, socks = proxies
    cite(db, [site.url("/news"), site.url("/gone"), site.url("/geo404"), site.url("/open")])
    summary = check_sources(
        db, options(f"abroad={http.url()}", f"neighbour={socks.url()}", dead_now=True)
    )
    found = rows(db)
    news = found[site.url("/news")]
    assert (news["verdict"], news["reason"]) == ("blocked", "regional")
    assert news["vantages_reached"] == "abroad"
    assert news["vantages_failed"] == "direct, neighbour"
    # A 404 from here that a vantage does not see is no death either.
    geo = found[site.url("/geo404")]
    assert (geo["verdict"], geo["reason"]) == ("blocked", "regional")
    # Gone everywhere: dead, every vantage agreeing.
    gone = found[site.url("/gone")]
    assert (gone["verdict"], gone["reason"]) == ("dead", "http_404")
    assert gone["vantages_failed"] == "abroad, direct, neighbour"
    # Reachable from here: no vantage was asked.
    assert found[site.url("/open")]["vantages_reached"] is None
    assert site.sources("/open") == ["127.0.0.1"]
    assert sorted(site.sources("/news")) == ["127.0.0.1", ABROAD, NEIGHBOUR]
    assert summary.vantages == {
        "rechecked": 3,
        "regional": 2,
        "kept_from_dead": 0,
        "unavailable": [],
    }
    assert "2 blocked only from some (regional)" in summary.message
    seen = {
        (r["vantage"], r["outcome"], r["reason"])
        for r in db.query(
            "select * from vantage_checks where source_id = (select id from sources where url = ?)",
            [site.url("/news")],
        )
    }
    assert seen == {("abroad", "ok", "http_200"), ("neighbour", "blocked", "http_451")}
    # A check that no longer needs a second opinion leaves no stale picture behind.
    check_sources(db, options())
    assert rows(db)[site.url("/open")]["vantages_failed"] is None
    assert rows(db)[site.url("/news")]["vantages_reached"] is None
    assert db.table("vantage_checks").count == 6  # the history stays


def test_an_unreachable_vantage_keeps_a_source_from_dead(
    db: Database, site: RegionalSite, proxies: tuple[HttpProxy, Socks5Proxy]
) -> None:
    http, _ = proxies
    cite(db, [site.url("/gone")])
    summary = check_sources(
        db, options(f"abroad={http.url()}", "down=socks5h://127.0.0.1:1", dead_now=True)
    )
    gone = rows(db)[site.url("/gone")]
    assert (gone["verdict"], gone["reason"]) == ("failing", "http_404")
    assert summary.vantages["kept_from_dead"] == 1
    assert summary.vantages["unavailable"] == ["down"]
    assert "unreachable vantage point(s): down" in summary.message


def test_every_proxy_kind_is_guarded_bounded_and_authenticated(
    tmp_path: Path, proxies: tuple[HttpProxy, Socks5Proxy]
) -> None:
    http, socks = proxies
    with (
        RegionalSite({"/news": {ABROAD: 200, NEIGHBOUR: 200, "*": "reset"}}) as site,
        RegionalSite(
            {"/news": {ABROAD: 200, NEIGHBOUR: 200, "*": "reset"}}, tls=True, cert_dir=tmp_path
        ) as tls,
    ):
        limits = dataclasses.replace(LIMITS, ca_bundle=str(tls.cert_path))
        assert Fetcher(limits).fetch(site.url("/news")).error_type == "connection_reset"
        for entry in (f"a={http.url()}", f"b={socks.url()}", f"c={socks.url('socks5')}"):
            fetcher = Fetcher(limits, parse_vantage(entry))
            for target in (site, tls):  # plain (forwarded or tunnelled) and HTTPS (CONNECT)
                result = fetcher.fetch(target.url("/news"))
                assert (result.status, result.error_type) == (200, None), (entry, target.base)
                assert b"The assembly met" in result.body
        # HTTPS through the HTTP proxy went by CONNECT, plain HTTP by absolute URL.
        assert f"127.0.0.1:{tls.base.rsplit(':', 1)[1]}" in http.requests
        assert site.url("/news") in http.requests
        # Wrong or missing credentials are the vantage's refusal, not the site's answer.
        for entry in (
            f"a=http://127.0.0.1:{http.port}",
            f"b=socks5h://kz:wrong@127.0.0.1:{socks.port}",
        ):
            for target in (site, tls):
                result = Fetcher(limits, parse_vantage(entry)).fetch(target.url("/news"))
                assert result.error_type == "vantage_refused", (entry, result.error_message)
    # The guard judges the target, not the proxy: private targets never reach the vantage.
    guarded = FetchLimits(timeout=3.0)
    before = (http.connections, socks.connections)
    for entry in (f"a={http.url()}", f"b={socks.url()}", f"c={socks.url('socks5')}"):
        fetcher = Fetcher(guarded, parse_vantage(entry))
        for target in ("http://10.0.0.1/", "http://127.0.0.1:9/", "https://[::ffff:127.0.0.1]/"):
            assert fetcher.fetch(target).error_type == "private_address"
    assert (http.connections, socks.connections) == before
    # A vantage that is down says so, apart from the sites it was asked about.
    for entry in ("x=http://127.0.0.1:1", "y=socks5h://127.0.0.1:1"):
        result = Fetcher(LIMITS, parse_vantage(entry)).fetch("http://127.0.0.1:9/")
        assert result.error_type == "vantage_unreachable"


def test_settings_show_vantages_without_their_credentials(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    write(
        tmp_path / "archiver.toml",
        'vantage_points = ["de=socks5h://user:hunter2@127.0.0.1:1080", "us=http://127.0.0.1:3128"]\n',
    )
    result = run_cli("settings")
    assert result.exit_code == 0, result.output
    assert (
        "hunter2" not in result.output
        and "user" not in result.output.split("vantage_points")[1].split("\n")[0]
    )
    assert "de=socks5h://***@127.0.0.1:1080" in result.output
    bad = run_cli("settings", env={"ARCHIVER_VANTAGE_POINTS": "de=ftp://x"})
    assert bad.exit_code == 1 and "vantage_points" in bad.output
    shown = json.dumps(bad.output)
    assert "hunter2" not in shown


def test_capture_goes_through_a_vantage_that_reaches_the_source(
    db: Database, tmp_path: Path, site: RegionalSite, proxies: tuple[HttpProxy, Socks5Proxy]
) -> None:
    http, socks = proxies
    vantages = (f"abroad={http.url()}", f"neighbour={socks.url()}")
    cite(db, [site.url("/news"), site.url("/open")])
    check_sources(db, options(*vantages))
    direct = CaptureOptions(
        data_dir=tmp_path / "data",
        limits=LIMITS,
        per_host_delay=0.0,
        browser="off",
        media="off",
    )
    first = capture_sources(db, direct)
    assert (first.captured, first.failed) == (1, 1)  # from here, the regional one fails
    via = dataclasses.replace(direct, vantages=parse_vantages(vantages))
    second = capture_sources(db, via, url=site.url("/news"))
    assert (second.captured, second.failed) == (1, 0)
    capture = db.execute(
        "select vantage, holds, provenance from captures where status = 'captured' "
        "and source_id = (select id from sources where url = ?)",
        [site.url("/news")],
    ).fetchone()
    assert capture[:2] == ("abroad", "content")
    provenance = json.loads(capture[2])
    assert provenance["vantage"] == "abroad"
    assert any("through vantage point abroad" in note for note in provenance["notes"])
    # Only the vantage that reached it was used; the source reachable from here went direct.
    assert site.sources("/news").count(ABROAD) == 2  # the recheck, then the capture
    assert site.sources("/open") == ["127.0.0.1", "127.0.0.1"]
