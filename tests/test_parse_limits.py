"""A fetched page is parsed within max_parse_bytes and parse_timeout: a slow parse is a recorded
failure of its own source, and never holds up other workers, other parses or the deadlines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trafilatura
from sqlite_utils import Database
from testweb import TestWeb

from archiver import pagetext
from archiver.capture import CaptureOptions, CaptureSummary, capture_sources
from archiver.capture.browser import find_browser
from archiver.check import CheckOptions, check_sources
from archiver.config import load_settings
from archiver.errors import ParseTimeout
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.net.fetch import FetchLimits
from archiver.parsing import MOST_ABANDONED, PARSING_THREADS, ParseLimits, heavy_parse
from archiver.store import open_db

SLOW = "SLOW-TO-PARSE"
LIMITS = FetchLimits(timeout=1.0, allow_private_networks=True)


def cite(db: Database, urls: list[str]) -> None:
    parsed = ParsedReport(
        path="test", citations=[CitedURL(i + 1, 1, u) for i, u in enumerate(urls)]
    )
    import_report(db, parsed, report_id="r")


def finishes(call: Callable[[], Any], within: float) -> Any:
    """Run ``call`` on a thread; fail the test (instead of hanging it) past ``within`` s.

    A database is used by the thread that opened it: ``call`` opens its own.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # re-raised below, on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still running after {within:g} s"
    if "error" in outcome:
        raise outcome["error"]
    outcome["seconds"] = time.monotonic() - started
    return outcome


@pytest.fixture
def slow_parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Make every parse of markup containing SLOW spin (holding the GIL as Python code does)
    until the returned event is set; the test sets it at the end, so no thread is left."""
    release = threading.Event()

    def spinning(real: Callable[..., Any]) -> Callable[..., Any]:
        def parse(markup: str, *args: Any, **kwargs: Any) -> Any:
            while SLOW in markup and not release.is_set():
                sum(range(10_000))
            return real(markup, *args, **kwargs)

        return parse

    monkeypatch.setattr(trafilatura, "extract", spinning(trafilatura.extract))
    monkeypatch.setattr(trafilatura, "extract_metadata", spinning(trafilatura.extract_metadata))
    yield release
    release.set()
    given_up_end()


def given_up_end() -> None:
    """Wait for given-up parses to end, so that the next test starts with none left."""
    deadline = time.monotonic() + 10
    while sum(t.name.startswith("archiver-parse") for t in threading.enumerate()) > (
        PARSING_THREADS
    ):
        assert time.monotonic() < deadline, "given-up parses still running"
        time.sleep(0.02)


def slow_page(n: int) -> str:
    # A password field makes the checker read the main text at once (is it a login wall?).
    return (
        f"<html><head><title>Slow {n}</title></head><body><p>{SLOW}</p>"
        '<form><input type="password" name="p"></form></body></html>'
    )


def test_slow_parses_are_given_up_and_later_parses_do_not_wait_for_them(
    slow_parses: threading.Event,
) -> None:
    started = time.monotonic()
    for _ in range(2):  # as many as there are parsing threads, and both stay stuck
        with pytest.raises(ParseTimeout, match=r"longer than 0\.5 s"):
            heavy_parse(trafilatura.extract, f"<p>{SLOW}</p>", timeout=0.5)
    assert time.monotonic() - started < 2.5
    quick = finishes(lambda: heavy_parse(pagetext.parse_html, "<p>quick</p>", timeout=5), 3)
    assert quick["value"].text_content() == "quick"
    assert quick["seconds"] < 1.0


def test_while_too_many_given_up_parses_still_run_no_new_one_starts() -> None:
    release = threading.Event()
    try:
        for _ in range(MOST_ABANDONED):
            with pytest.raises(ParseTimeout, match="parse_timeout"):
                heavy_parse(release.wait, timeout=0.2)
        started = time.monotonic()
        with pytest.raises(ParseTimeout, match=f"{MOST_ABANDONED} earlier pages are still"):
            heavy_parse(str, "never run", timeout=5)
        assert time.monotonic() - started < 0.1
    finally:
        release.set()
    given_up_end()  # their threads leave, and parsing resumes
    assert heavy_parse(str, "read", timeout=5) == "read"


def test_a_slow_page_fails_its_own_capture_while_the_others_and_the_deadline_go_on(
    db: Database, web: TestWeb, tmp_path: Path, slow_parses: threading.Event
) -> None:
    for n in (1, 2):
        web.set_page(f"/slow/{n}", slow_page(n))
    articles = [web.url(f"/article/story-{n}") for n in range(4)]
    cite(db, [web.url("/slow/1"), web.url("/slow/2"), web.url("/trickle"), *articles])
    options = CaptureOptions(
        data_dir=tmp_path / "data",
        limits=LIMITS,
        requisites=False,
        parse=ParseLimits(timeout=1.5),
        concurrency=8,
        per_host_concurrency=8,
        per_host_delay=0.0,
        browser="off",  # the HTTP path; the rendered page's own test is below
    )
    run = finishes(lambda: capture_sources(open_db(tmp_path / "archive.sqlite"), options), 20)
    summary: CaptureSummary = run["value"]
    assert not slow_parses.is_set()  # the slow parses are spinning still
    assert run["seconds"] < 8.0
    rows = {r["url"]: r for r in db.query("select * from captures")}
    for n in (1, 2):
        slow = rows[web.url(f"/slow/{n}")]
        assert (slow["status"], slow["error_type"]) == ("failed", "parse_timeout")
        assert "longer than 1.5 s (parse_timeout)" in slow["error_message"]
    # The watchdog cut the trickling page at its 1 s deadline meanwhile.
    assert rows[web.url("/trickle")]["error_type"] == "timeout"
    for url in articles:
        assert (rows[url]["status"], rows[url]["holds"]) == ("captured", "content")
    texts = {r["source_id"] for r in db.query("select source_id from capture_texts")}
    assert len(texts) == len(articles)
    assert (summary.captured, summary.failed) == (len(articles) + 1, 2)


def test_a_slow_page_is_a_recorded_transient_failure_of_its_check(
    db: Database, web: TestWeb, tmp_path: Path, slow_parses: threading.Event
) -> None:
    for n in (1, 2):
        web.set_page(f"/slow/{n}", slow_page(n))
    articles = [web.url(f"/article/story-{n}") for n in range(4)]
    cite(db, [web.url("/slow/1"), web.url("/slow/2"), web.url("/trickle"), *articles])
    options = CheckOptions(
        limits=LIMITS,
        parse=ParseLimits(timeout=1.5),
        concurrency=8,
        per_host_concurrency=8,
        per_host_delay=0.0,
    )
    run = finishes(lambda: check_sources(open_db(tmp_path / "archive.sqlite"), options), within=20)
    assert run["seconds"] < 8.0
    assert not slow_parses.is_set()
    rows = {
        r["url"]: r
        for r in db.query(
            "select s.url, c.*, st.verdict from checks c join sources s on s.id = c.source_id "
            "join source_state st on st.source_id = s.id"
        )
    }
    for n in (1, 2):
        slow = rows[web.url(f"/slow/{n}")]
        assert (slow["status_code"], slow["error_type"]) == (200, "parse_timeout")
        assert (slow["verdict"], slow["reason"]) == ("failing", "parse_timeout")
    assert {rows[url]["verdict"] for url in articles} == {"ok"}
    assert rows[web.url("/trickle")]["error_type"] == "timeout"  # cut at its 1 s deadline


def test_an_oversized_page_is_parsed_only_up_to_max_parse_bytes(
    db: Database, web: TestWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1.6 MB of bare Cyrillic paragraphs: trafilatura alone takes seconds per megabyte of them.
    body = "<p>Суд запретил</p>" * 60_000
    page = f"<html><head><title>Большая</title></head><body>{body}</body></html>"
    web.set_page("/huge", page)
    cite(db, [web.url("/huge")])
    parsed: list[int] = []

    def measured(real: Callable[..., Any]) -> Callable[..., Any]:
        def parse(markup: str, *args: Any, **kwargs: Any) -> Any:
            parsed.append(len(markup.encode("utf-8")))
            return real(markup, *args, **kwargs)

        return parse

    monkeypatch.setattr(trafilatura, "extract", measured(trafilatura.extract))
    monkeypatch.setattr(trafilatura, "extract_metadata", measured(trafilatura.extract_metadata))
    monkeypatch.setattr(pagetext, "parse_html", measured(pagetext.parse_html))
    options = CaptureOptions(
        data_dir=tmp_path / "data",
        limits=FetchLimits(timeout=10.0, allow_private_networks=True),
        max_capture_bytes=5_000_000,
        parse=ParseLimits(max_bytes=100_000),
        per_host_delay=0.0,
        browser="off",  # the HTTP path; the rendered page's own test is below
    )
    run = finishes(lambda: capture_sources(open_db(tmp_path / "archive.sqlite"), options), 60)
    assert len(parsed) >= 3  # main text, metadata, their lxml tree (and requisites')
    assert max(parsed) <= 100_000
    row = next(db.query("select * from captures"))
    assert (row["status"], row["bytes"], row["text_truncated"]) == (
        "captured",
        len(page.encode("utf-8")),
        1,
    )
    assert row["title"] == "Большая"
    text = next(db.query("select text from capture_texts"))["text"]
    assert text.startswith("Суд запретил") and len(text.encode("utf-8")) < 100_000
    assert run["seconds"] < 5.0


def test_parse_limits_come_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"ARCHIVER_MAX_PARSE_BYTES": "200000", "ARCHIVER_PARSE_TIMEOUT": "3"},
        cwd=tmp_path,
    )
    assert ParseLimits.from_settings(settings) == ParseLimits(max_bytes=200_000, timeout=3.0)
    assert load_settings(environ={}, cwd=tmp_path).max_parse_bytes == 5_000_000


@pytest.mark.skipif(find_browser("auto") is None, reason="needs Chromium")
def test_a_rendered_page_too_slow_to_read_keeps_the_http_text(
    db: Database, web: TestWeb, tmp_path: Path, slow_parses: threading.Event
) -> None:
    # The marker exists only once the script has run: the HTTP page reads at once.
    web.set_page(
        "/scripted",
        "<html><head><title>Scripted</title></head><body><p>The court banned the movement "
        "on Tuesday.</p><script>document.body.insertAdjacentHTML('beforeend', "
        f"'<p>{SLOW[:4]}' + '{SLOW[4:]}</p>')</script></body></html>",
    )
    cite(db, [web.url("/scripted")])
    options = CaptureOptions(
        data_dir=tmp_path / "data",
        limits=FetchLimits(timeout=5.0, allow_private_networks=True),
        parse=ParseLimits(timeout=1.5),
        per_host_delay=0.0,
        browser_timeout=5.0,
        media="off",
    )
    run = finishes(lambda: capture_sources(open_db(tmp_path / "archive.sqlite"), options), 40)
    assert not slow_parses.is_set()
    row = next(db.query("select * from captures"))
    assert (row["status"], row["method"], row["holds"]) == ("captured", "browser", "content")
    assert "the rendered page could not be read" in row["provenance"]
    assert row["title"] == "Scripted"
    text = next(db.query("select text from capture_texts"))["text"]
    assert "The court banned the movement" in text
    assert run["seconds"] < 30
