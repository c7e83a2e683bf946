"""A capture's requisites are bounded (count, depth, deadline, head size) and every attempt is
counted, failed ones too; hosts a page only borrows from get the politeness cited hosts get."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from conftest import write
from sqlite_utils import Database
from testweb import TestWeb, refused_port

from archiver.capture import CaptureOptions, CaptureSummary, capture_sources
from archiver.capture.verify import verify_captures
from archiver.check import CheckOptions, check_sources
from archiver.config import load_settings
from archiver.errors import ConfigError
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.net.fetch import Fetcher, FetchLimits
from archiver.net.http1 import LeanFetcher
from archiver.views.retrieve import export_copy
from archiver.views.status import citation_rows

CSS = {"Content-Type": "text/css"}


def cite(db: Database, urls: list[str]) -> None:
    parsed = ParsedReport(
        path="test", citations=[CitedURL(i + 1, 1, u) for i, u in enumerate(urls)]
    )
    import_report(db, parsed, report_id="r")


@pytest.fixture
def options(tmp_path: Path) -> CaptureOptions:
    return CaptureOptions(
        data_dir=tmp_path / "data",
        limits=FetchLimits(timeout=5.0, allow_private_networks=True),
        max_capture_bytes=200_000,
        per_host_delay=0.0,
        browser="off",  # the HTTP requisite walk; the browser's requests: test_browser_capture
    )


@pytest.fixture
def web3() -> Iterator[TestWeb]:
    with TestWeb(host="127.0.0.3") as site:
        yield site


def capture(db: Database, options: CaptureOptions) -> CaptureSummary:
    return capture_sources(db, options)


def page(*requisites: str, css: str = "") -> str:
    images = "".join(f'<img src="{url}">' for url in requisites)
    link = f'<link rel="stylesheet" href="{css}">' if css else ""
    return f"<html><head><title>Page</title>{link}</head><body><p>Text.</p>{images}</body></html>"


def requisite_rows(db: Database) -> list[dict[str, object]]:
    return list(db.table("capture_resources").rows_where("role = 'requisite'", order_by="id"))


def skipped(db: Database) -> dict[str, int] | None:
    value = next(db.query("select requisites_skipped from captures"))["requisites_skipped"]
    return json.loads(value) if value else None


def test_a_page_with_300_images_gets_200_and_the_rest_counted(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    web.set_page("/gallery", page(*(f"/assets/logo.png?i={i}" for i in range(300))))
    cite(db, [web.url("/gallery")])
    summary = capture(db, options)
    assert summary.captured == 1
    assert len(requisite_rows(db)) == 200 == len(web.requests_to("/assets/logo.png"))
    assert skipped(db) == {"count": 100}
    assert summary.requisites == {"stored": 200, "failed": 0, "skipped": {"count": 100}}
    assert summary.as_dict()["limited"] == [{"url": web.url("/gallery"), "skipped": {"count": 100}}]


def test_an_import_chain_is_followed_three_deep(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    for n in range(1, 7):  # 1.css imports 2.css, …, 6.css the last
        web.set_page(f"/css/{n}.css", f'@import "{n + 1}.css"; p {{ color: red }}', headers=CSS)
    web.set_page("/styled", page("/assets/logo.png", css="/css/1.css"))
    cite(db, [web.url("/styled")])
    capture(db, options)
    fetched = [row["url"] for row in requisite_rows(db)]
    assert fetched == [web.url(p) for p in ("/assets/logo.png", "/css/1.css", "/css/2.css")] + [
        web.url("/css/3.css")
    ]
    assert not web.requests_to("/css/4.css")
    assert skipped(db) == {"depth": 1}


def test_a_requisite_that_never_answers_ends_at_the_capture_deadline(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    # /slow/30 answers after 30 s, far past the deadline and the fetch timeout (5 s).
    web.set_page("/waits", page("/slow/30", "/assets/logo.png", "/assets/bg.png"))
    cite(db, [web.url("/waits")])
    began = time.monotonic()
    summary = capture(db, dataclasses.replace(options, capture_deadline=1.0))
    took = time.monotonic() - began
    assert 0.9 < took < 2.0, took
    assert summary.captured == 1  # the page itself is kept
    [row] = requisite_rows(db)
    assert (row["url"], row["status_code"], row["error_type"]) == (
        web.url("/slow/30"),
        None,
        "timeout",
    )
    assert skipped(db) == {"deadline": 2}


def test_failed_and_empty_requisites_are_rows_and_counted(
    db: Database, web: TestWeb, options: CaptureOptions, tmp_path: Path
) -> None:
    refused = f"http://127.0.0.1:{refused_port()}/gone.png"
    web.set_page("/empty.png", b"", headers={"Content-Type": "image/png"})
    web.set_page("/broken", page(refused, "/huge-headers", "/status/404", "/empty.png"))
    cite(db, [web.url("/broken")])
    summary = capture(db, options)
    rows = {row["url"]: row for row in requisite_rows(db)}
    assert {url: (r["status_code"], r["error_type"]) for url, r in rows.items()} == {
        refused: (None, "connection_refused"),
        web.url("/huge-headers"): (None, "headers_too_large"),
        web.url("/status/404"): (404, None),
        web.url("/empty.png"): (200, None),
    }
    assert rows[refused]["error_message"] and rows[refused]["record_id"] is None
    assert summary.requisites == {"stored": 2, "failed": 2, "skipped": {}}
    assert summary.limited == []
    # Rows without a WARC record neither trouble verify nor the export.
    assert verify_captures(db, options.data_dir).problems == []
    source = int(next(db.query("select id from sources"))["id"])
    exported = export_copy(db, source, options.data_dir, tmp_path / "out")
    assert exported.index.is_file()


Run = Callable[..., Result]


def test_capture_and_get_say_what_was_stored_failed_and_left_out(
    run_cli: Run, tmp_path: Path, web: TestWeb
) -> None:
    refused = f"http://127.0.0.1:{refused_port()}/gone.png"
    web.set_page("/mixed", page(refused, *(f"/assets/logo.png?i={i}" for i in range(5))))
    write(tmp_path / "r.csv", f"footnote,url\n1,{web.url('/mixed')}\n")
    env = {
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        "ARCHIVER_PER_HOST_DELAY": "0",
        "ARCHIVER_REQUISITE_MAX_COUNT": "4",
    }
    assert run_cli("import", "r.csv", "--report", "r").exit_code == 0
    result = run_cli("capture", env=env)
    assert result.exit_code == 0, result.output
    assert "Requisites: 3 stored, 1 failed, 2 left out (count 2)." in result.output
    assert f"requisites left out: {web.url('/mixed')} (count 2)" in result.output
    got = json.loads(run_cli("get", "1", "--report", "r", "--json").output)
    assert got["local"]["requisites"] == {"stored": 3, "failed": 1, "skipped": {"count": 2}}
    shown = run_cli("get", "1", "--report", "r").output
    assert "requisites: 3 stored, 1 failed, 2 left out (count 2)" in shown
    exported = run_cli("export", "1", "out", "--report", "r")
    assert "2 requisite(s) were left out at capture time" in exported.output
    banner = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "2 requisite(s) were left out at capture time by its limits (count 2)" in banner


def test_a_third_party_host_gets_per_host_politeness(
    db: Database, web: TestWeb, web2: TestWeb, web3: TestWeb, options: CaptureOptions
) -> None:
    # Two cited pages on two hosts both take their images from a third host (web2).
    web.set_page("/a", page(*(web2.url(f"/slow/0.2?a={i}") for i in range(2))))
    web3.set_page("/b", page(*(web2.url(f"/slow/0.2?b={i}") for i in range(2))))
    cite(db, [web.url("/a"), web3.url("/b")])
    polite = dataclasses.replace(options, concurrency=4, per_host_concurrency=1, per_host_delay=0.3)
    summary = capture(db, polite)
    assert summary.captured == 2
    assert web2.max_in_flight == 1
    starts = sorted(r.time for r in web2.requests_to("/slow/"))
    assert len(starts) == 4
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.28
    assert summary.requisites["stored"] == 4


def test_huge_headers_are_a_bounded_failure_for_checks_and_captures(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    huge, endless = web.url("/huge-headers"), web.url("/huge-headers?interim=1")
    cite(db, [huge, endless])
    began = time.monotonic()
    check_sources(
        db,
        CheckOptions(
            limits=FetchLimits(timeout=3.0, allow_private_networks=True), per_host_delay=0.0
        ),
    )
    summary = capture(db, options)
    assert time.monotonic() - began < 2.5
    assert {r["url"]: (r["verdict"], r["reason"]) for r in citation_rows(db)} == {
        huge: ("failing", "headers_too_large"),
        endless: ("failing", "headers_too_large"),
    }
    assert summary.failed == 2
    assert {f["url"]: f["error"] for f in summary.failures} == {
        huge: "headers_too_large",
        endless: "headers_too_large",
    }


@pytest.mark.parametrize("transport", [Fetcher, LeanFetcher])
def test_a_fetch_ends_at_its_callers_deadline(
    transport: type[Fetcher] | type[LeanFetcher], web: TestWeb
) -> None:
    fetcher = transport(FetchLimits(timeout=5.0, allow_private_networks=True))
    try:
        began = time.monotonic()
        result = fetcher.fetch(web.url("/slow/30"), deadline=began + 0.5)
        assert time.monotonic() - began < 1.0
        assert result.error_type == "timeout"
        # A deadline already passed: nothing is sent at all.
        late = fetcher.fetch(web.url("/"), deadline=time.monotonic() - 1)
        assert late.error_type == "timeout"
        assert [r.path for r in web.requests] == ["/slow/30"]
    finally:
        fetcher.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [("requisite_max_count", -1), ("requisite_max_depth", 0), ("capture_deadline", 0)],
)
def test_limits_out_of_range_are_refused(key: str, value: float, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"setting {key} = .* is out of range"):
        load_settings(environ={f"ARCHIVER_{key.upper()}": str(value)}, cwd=tmp_path)
