"""Wayback lookups and saves against a local Wayback Machine, paced by a fake clock.

Every call goes over real HTTP to the stand-in on loopback; only time is fake, so waits the rate
limiter and the poll loop ask for take no time, and the stand-in dates requests by the same clock.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlite_utils import Database
from testweb import TestWeb, gzip_bomb, refused_port
from wayback_standin import WaybackStandin

from archiver.clock import Clock
from archiver.errors import ArchiverError
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.store import stamp
from archiver.views.status import citation_rows
from archiver.views.wayback import copies, nearest_copy
from archiver.wayback import RateLimiter, WaybackOptions, lookup, lookup_and_save, save
from archiver.wayback.client import MAX_REPLY_BYTES

NOW = datetime(2025, 11, 25, 12, 0, tzinfo=UTC)
ACCESS, SECRET = "test-access", "test-secret"


WAYBACK_FIELDS = (
    "wayback_url",
    "wayback_timestamp",
    "wayback_newest",
    "wayback_save",
    "wayback_saved_at",
)


def wayback_status(db: Database, source_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The Wayback fields of each source's `archiver status` row."""
    ids = {r["canonical_url"]: r["id"] for r in db.query("select id, canonical_url from sources")}
    rows = {ids[row["canonical_url"]]: row for row in citation_rows(db)}
    return {sid: {k: rows[sid][k] for k in WAYBACK_FIELDS} for sid in source_ids}


class FakeClock:
    """Time that moves only when the code under test waits (or a test says so)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.moment = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.moment += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    def timestamp(self) -> float:
        return self.moment.timestamp()


class Crash(Exception):
    """Stands for the process dying."""


class CrashingClock(FakeClock):
    """Dies at the first wait: in a save run, the pause before the first poll."""

    def sleep(self, seconds: float) -> None:
        raise Crash


@pytest.fixture
def clock(wayback: WaybackStandin) -> FakeClock:
    fake = FakeClock()
    wayback.now = fake.timestamp
    return fake


def options(wayback: WaybackStandin, keys: bool = False, **changes: Any) -> WaybackOptions:
    values: dict[str, Any] = {
        "wayback_url": wayback.base,
        "wayback_availability_url": wayback.url("/wayback/available"),
        "timeout": 2.0,
        "user_agent": "archiver-test (tests@example.org)",
    }
    if keys:
        values.update(wayback_access_key=ACCESS, wayback_secret_key=SECRET)
    return WaybackOptions(**{**values, **changes})


def cite(
    db: Database,
    urls: Sequence[str | tuple[str, str]],
    report: str = "r",
    date: str | None = "2018-04-03",
) -> None:
    """Import a report citing these URLs (each optionally with its access date)."""
    cited = []
    for n, item in enumerate(urls, 1):
        url, accessed = (item, None) if isinstance(item, str) else item
        cited.append(CitedURL(n, 1, url, accessed=accessed))
    import_report(db, ParsedReport(path="test", citations=cited), report_id=report, date=date)


def source_id(db: Database, url: str) -> int:
    return int(next(db.query("select id from sources where url = ?", [url]))["id"])


def saves(db: Database) -> list[dict[str, Any]]:
    return [dict(r) for r in db.query("select * from wayback_saves order by id")]


def test_nearest_copy_is_the_latest_good_capture_before_the_date(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/news/1"
    for timestamp, status in [
        ("20170601120000", 200),
        ("20180301000000", 404),
        ("20180320000000", 301),
        ("20180412235900", None),  # a revisit record: no status of its own
        ("20180501000000", 200),
        ("20240101000000", 200),
        ("20250101000000", 404),
    ]:
        wayback.add_snapshot(page, timestamp, status=status)
    cite(db, [(page, "2018-04-12")])

    summary = lookup(db, options(wayback), clock=clock)

    assert (summary.looked_up, summary.found, summary.errors) == (1, 1, {})
    sid = source_id(db, page)
    assert wayback_status(db, [sid])[sid] == {
        "wayback_url": f"{wayback.base}/web/20170601120000/{page}",
        "wayback_timestamp": "20170601120000",
        "wayback_newest": "20240101000000",
        "wayback_save": "none",
        "wayback_saved_at": None,
    }
    assert nearest_copy(db, sid) == {
        "url": f"{wayback.base}/web/20170601120000/{page}",
        "timestamp": "20170601120000",
        "status": 200,
    }
    stored = [(c["timestamp"], c["status"]) for c in copies(db, sid)]
    assert stored == [
        ("20170601120000", 200),
        ("20180301000000", 404),
        ("20180320000000", 301),
        ("20180412235900", None),
        ("20180501000000", 200),
        ("20240101000000", 200),
        ("20250101000000", 404),
    ]
    # The stored playback URL really replays the capture.
    with requests.Session() as http:
        http.trust_env = False
        assert http.get(nearest_copy(db, sid)["url"]).status_code == 200  # type: ignore[index]
    assert len(wayback.requests_of("cdx")) == 1

    # A fresh answer is not asked for again, unless that URL is asked about by name.
    assert lookup(db, options(wayback), clock=clock).looked_up == 0
    assert lookup(db, options(wayback), url=page, clock=clock).looked_up == 1
    assert len(wayback.requests_of("cdx")) == 2
    assert len(copies(db, sid)) == 7  # the same captures, not stored twice


def test_earliest_good_capture_after_the_date_when_none_before(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    later, never = "https://example.org/later", "https://example.org/never"
    wayback.add_snapshot(later, "20180101000000", status=404)
    wayback.add_snapshot(later, "20190301000000")
    wayback.add_snapshot(later, "20200301000000")
    cite(db, [(later, "2018-06-01"), never])

    summary = lookup(db, options(wayback), clock=clock)

    assert (summary.looked_up, summary.found) == (2, 1)
    status = wayback_status(db, [source_id(db, later), source_id(db, never)])
    assert status[source_id(db, later)]["wayback_timestamp"] == "20190301000000"
    assert status[source_id(db, later)]["wayback_newest"] == "20200301000000"
    assert status[source_id(db, never)]["wayback_timestamp"] is None
    assert nearest_copy(db, source_id(db, never)) is None


def test_access_date_beats_report_date_and_the_earliest_citation_counts(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    accessed, undated, twice = (
        f"https://example.org/{n}" for n in ("accessed", "undated", "twice")
    )
    for url in (accessed, undated):
        wayback.add_snapshot(url, "20160420000000")
        wayback.add_snapshot(url, "20191215000000")
    wayback.add_snapshot(twice, "20161201000000")
    wayback.add_snapshot(twice, "20190101000000")
    cite(db, [(accessed, "2016-05-01"), undated, twice], report="a", date="2020-01-01")
    cite(db, [twice], report="b", date="2017-01-01")

    lookup(db, options(wayback), clock=clock)

    targets = {r["source_id"]: r["target_date"] for r in db.table("wayback_state").rows}
    nearest = {k: v["wayback_timestamp"] for k, v in wayback_status(db, list(targets)).items()}
    assert targets[source_id(db, accessed)] == "2016-05-01"
    assert nearest[source_id(db, accessed)] == "20160420000000"
    assert targets[source_id(db, undated)] == "2020-01-01"
    assert nearest[source_id(db, undated)] == "20191215000000"
    assert targets[source_id(db, twice)] == "2017-01-01"
    assert nearest[source_id(db, twice)] == "20161201000000"


def test_a_long_history_gets_targeted_queries(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/popular"
    for timestamp, status in [
        ("20100101000000", 200),
        ("20110101000000", 200),
        ("20120101000000", 200),
        ("20150101000000", 404),
        ("20180301000000", 200),
        ("20180501000000", 200),
        ("20230101000000", 200),
        ("20240101000000", 404),
    ]:
        wayback.add_snapshot(page, timestamp, status=status)
    cite(db, [(page, "2018-04-12")])

    lookup(db, options(wayback, cdx_limit=3), clock=clock)

    sid = source_id(db, page)
    assert wayback_status(db, [sid])[sid]["wayback_timestamp"] == "20180301000000"
    assert wayback_status(db, [sid])[sid]["wayback_newest"] == "20230101000000"
    queries = [r.query for r in wayback.requests_of("cdx")]
    assert len(queries) == 3  # the oldest page, the latest good one by the date, the newest
    assert queries[1]["to"] == ["20180412235959"]
    assert queries[1]["filter"] == ["statuscode:200"]
    assert queries[2]["closest"] == [NOW.strftime("%Y%m%d%H%M%S")]
    assert len(copies(db, sid)) == 5


def test_without_keys_lookups_run_and_saving_says_how_to_set_keys(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    old, recent = "https://example.org/old", "https://example.org/recent"
    wayback.add_snapshot(old, "20180101000000")
    wayback.add_snapshot(recent, (NOW - timedelta(days=5)).strftime("%Y%m%d%H%M%S"))
    cite(db, [old, recent])

    summary = lookup_and_save(db, options(wayback), clock=clock)

    assert (summary.looked_up, summary.found) == (2, 2)
    assert summary.message.count("needs archive.org keys") == 1
    for hint in ("ARCHIVER_WAYBACK_ACCESS_KEY", "ARCHIVER_WAYBACK_SECRET_KEY", "archiver.toml"):
        assert hint in summary.message
    assert wayback.requests_of("save") == [] and wayback.requests_of("user") == []
    # Only the source with no capture in the last 30 days waits for keys.
    assert summary.queued == 1
    status = wayback_status(db, [source_id(db, old), source_id(db, recent)])
    assert status[source_id(db, old)]["wayback_save"] == "queued"
    assert status[source_id(db, recent)]["wayback_save"] == "none"


def test_save_end_to_end_queued_submitted_saved(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/new"
    wayback.job_outcome(page, pending_polls=1)
    cite(db, [page])

    summary = lookup_and_save(db, options(wayback, keys=True), clock=clock)

    assert (summary.saved, summary.submitted, summary.queued, summary.failed) == (1, 0, 0, 0)
    [row] = saves(db)
    [job] = wayback.jobs
    assert row["state"] == "saved"
    assert row["job_id"] == job.job_id and row["job_id"].startswith("spn2-")
    assert row["timestamp"] == job.timestamp and row["original"] == page
    assert row["attempts"] == 1
    sid = source_id(db, page)
    status = wayback_status(db, [sid])[sid]
    assert status["wayback_save"] == "saved"
    assert status["wayback_newest"] == job.timestamp
    assert status["wayback_saved_at"] == stamp(
        datetime.strptime(job.timestamp or "", "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    )
    # The account's free sessions are read before submitting; the job is polled until done.
    assert [r.kind for r in wayback.requests] == ["cdx", "user", "save", "status", "status"]
    [post] = wayback.requests_of("save")
    assert post.form == {
        "url": [page],
        "if_not_archived_within": [str(30 * 86400)],
        "skip_first_archive": ["1"],
    }
    assert post.headers["Authorization"] == f"LOW {ACCESS}:{SECRET}"
    assert post.headers["Accept"] == "application/json"
    assert {r.path for r in wayback.requests_of("status")} == {f"/save/status/{job.job_id}"}


def test_a_run_stopped_while_saving_keeps_the_counts_so_far(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    quick, slow = "https://example.org/quick", "https://example.org/slow"
    wayback.job_outcome(quick, pending_polls=0)
    wayback.job_outcome(slow, stay_pending=True)
    cite(db, [quick, slow])
    stop = threading.Event()

    class StopOnceOneIsSaved(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if any(row["state"] == "saved" for row in saves(db)):
                stop.set()  # as the scheduler does on SIGTERM

    summary = lookup_and_save(
        db, options(wayback, keys=True, poll_wait=60), clock=StopOnceOneIsSaved(), stop=stop
    )

    assert summary.interrupted
    assert (summary.looked_up, summary.saved, summary.failed) == (2, 1, 0)
    assert summary.message.startswith("interrupted after 2 lookup(s)")
    assert sorted(row["state"] for row in saves(db)) == ["saved", "submitted"]


def test_a_crash_after_submitting_resumes_polling_instead_of_resubmitting(
    db: Database, wayback: WaybackStandin, tmp_path: Path
) -> None:
    page = "https://example.org/crash"
    wayback.job_outcome(page, pending_polls=0)
    cite(db, [page])

    with pytest.raises(Crash):
        save(db, options(wayback, keys=True), clock=CrashingClock())

    # The job id was committed before the first poll: another connection sees it.
    with sqlite3.connect(tmp_path / "archive.sqlite") as other:
        [(state, job_id)] = other.execute("select state, job_id from wayback_saves").fetchall()
    assert state == "submitted" and job_id == wayback.jobs[0].job_id
    assert wayback.requests_of("status") == []

    summary = save(db, options(wayback, keys=True), clock=FakeClock())

    assert summary.saved == 1
    assert len(wayback.requests_of("save")) == 1  # never submitted twice
    assert [r.path for r in wayback.requests_of("status")] == [f"/save/status/{job_id}"]
    assert saves(db)[0]["state"] == "saved"


def test_a_pending_job_stays_submitted_and_is_resumed_later(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/slow-capture"
    wayback.job_outcome(page, stay_pending=True)
    cite(db, [page])

    first = save(db, options(wayback, keys=True, poll_wait=20), clock=clock)

    assert (first.saved, first.submitted) == (0, 1)
    assert "still in progress" in first.message
    assert saves(db)[0]["state"] == "submitted"
    assert 3 <= len(wayback.requests_of("status")) <= 5  # every 5 s for 20 s

    wayback.release_jobs()
    clock.advance(600)
    second = save(db, options(wayback, keys=True), clock=clock)

    assert (second.saved, second.submitted) == (1, 0)
    assert len(wayback.requests_of("save")) == 1
    assert saves(db)[0]["state"] == "saved"


def test_a_job_lost_by_the_archive_is_retried_later_on_purpose(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/lost"
    wayback.job_outcome(page, stay_pending=True)
    cite(db, [page])
    save(db, options(wayback, keys=True, poll_wait=0), clock=clock)  # submit only
    assert saves(db)[0]["state"] == "submitted"

    clock.advance(2 * 86400)
    stale = save(db, options(wayback, keys=True), clock=clock)

    assert (stale.retry_later, stale.errors) == (1, {"stale_job": 1})
    assert saves(db)[0]["message"] == "still pending a day after submission"
    wayback.job_outcome(page, pending_polls=0)
    clock.advance(2 * 3600)
    again = save(db, options(wayback, keys=True), clock=clock)
    assert again.saved == 1
    assert len(wayback.requests_of("save")) == 2  # the one deliberate second submission


def test_a_429_pauses_lookups_persistently_and_leaves_the_rest(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    pages = [f"https://example.org/p{n}" for n in range(3)]
    for page in pages:
        wayback.add_snapshot(page, "20180101000000")
    cite(db, pages)
    wayback.fail("cdx", 429)

    first = lookup(db, options(wayback), clock=clock)

    assert first.paused_until == {"lookup": stamp(NOW + timedelta(seconds=60))}
    assert first.looked_up == 0 and "3 source(s) left" in first.message
    assert list(db.table("wayback_state").rows) == []
    assert len(wayback.requests_of("cdx")) == 1

    clock.advance(30)  # a new run within the pause makes no call of that kind
    second = lookup(db, options(wayback), clock=clock)
    assert "paused until" in second.message and second.looked_up == 0
    assert len(wayback.requests_of("cdx")) == 1

    clock.advance(31)
    assert lookup(db, options(wayback), clock=clock).looked_up == 3

    wayback.fail("cdx", 429)  # a repeat soon after doubles the pause
    clock.advance(10)
    again = lookup(db, options(wayback), url=pages[0], clock=clock)
    assert again.paused_until == {"lookup": stamp(clock.now() + timedelta(seconds=120))}


def test_a_429_on_saving_pauses_saves_and_keeps_them_queued(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    pages = [f"https://example.org/s{n}" for n in range(3)]
    cite(db, pages)
    wayback.fail("save", 429)

    first = save(db, options(wayback, keys=True), clock=clock)

    assert "save" in first.paused_until and first.queued == 3
    assert [r["state"] for r in saves(db)] == ["queued"] * 3
    clock.advance(30)
    second = save(db, options(wayback, keys=True), clock=clock)
    assert second.queued == 3
    assert len(wayback.requests_of("save")) == 1
    assert len(wayback.requests_of("user")) == 1  # not even the sessions are asked about

    clock.advance(31)
    third = save(db, options(wayback, keys=True), clock=clock)
    assert (third.saved, third.queued) == (3, 0)


def test_refusals_are_recorded_with_their_status_ext(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    blocked, capped, gone, fine = (
        f"https://example.org/{n}" for n in ("blocked", "capped", "gone", "fine")
    )
    wayback.refuse(blocked, "error:blocked-url", "This URL is in the Save Page Now blocklist.")
    wayback.refuse(capped, "error:too-many-daily-captures", "Captured 5 times today.")
    wayback.job_outcome(gone, status_ext="error:not-found", message="Not found.", pending_polls=0)
    cite(db, [blocked, capped, gone, fine])

    summary = save(db, options(wayback, keys=True), clock=clock)

    rows = {r["source_id"]: r for r in saves(db)}
    assert (rows[source_id(db, blocked)]["state"], rows[source_id(db, blocked)]["status_ext"]) == (
        "failed",
        "error:blocked-url",
    )
    assert rows[source_id(db, blocked)]["message"] == "This URL is in the Save Page Now blocklist."
    assert rows[source_id(db, blocked)]["job_id"] is None
    # The daily cap is about one URL: it waits a day, and the others go on.
    assert rows[source_id(db, capped)]["state"] == "retry-later"
    retry_at = datetime.fromisoformat(rows[source_id(db, capped)]["next_attempt_at"])
    assert retry_at >= NOW + timedelta(days=1)
    assert (rows[source_id(db, gone)]["state"], rows[source_id(db, gone)]["status_ext"]) == (
        "failed",
        "error:not-found",
    )
    assert rows[source_id(db, fine)]["state"] == "saved"
    assert (summary.saved, summary.failed, summary.retry_later) == (1, 2, 1)
    assert summary.errors == {
        "error:blocked-url": 1,
        "error:too-many-daily-captures": 1,
        "error:not-found": 1,
    }
    # Failed saves are not queued again by the next run; the capped one waits for its day.
    clock.advance(3600)
    assert save(db, options(wayback, keys=True), clock=clock).queued == 0
    assert len(wayback.requests_of("save")) == 4


def test_too_many_requests_refusal_pauses_saves(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    first, second = "https://example.org/first", "https://example.org/second"
    wayback.refuse(first, "error:too-many-requests", "Too many requests from your IP.")
    cite(db, [first, second])

    summary = save(db, options(wayback, keys=True), clock=clock)

    assert "save" in summary.paused_until and summary.queued == 2
    assert len(wayback.requests_of("save")) == 1


def test_server_errors_and_timeouts_are_recorded(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    slow, broken, fine = (f"https://example.org/{n}" for n in ("slow", "broken", "fine"))
    for page in (slow, broken, fine):
        wayback.add_snapshot(page, "20180101000000")
    cite(db, [slow, broken, fine])
    wayback.slow("cdx", 1.0)  # slow: the CDX server times out, the availability API answers
    wayback.fail("cdx", 503)  # broken: both fail
    wayback.fail("available", 503, after=1)

    summary = lookup(db, options(wayback, timeout=0.3), clock=clock)

    assert summary.errors == {"timeout": 1, "http_503": 1}
    assert (summary.looked_up, summary.found) == (3, 2)
    states = {r["source_id"]: r for r in db.table("wayback_state").rows}
    assert states[source_id(db, slow)]["via"] == "availability"
    assert states[source_id(db, slow)]["error_type"] == "timeout"
    assert states[source_id(db, slow)]["nearest_timestamp"] == "20180101000000"
    assert states[source_id(db, broken)]["error_type"] == "http_503"
    assert states[source_id(db, broken)]["nearest_timestamp"] is None
    assert states[source_id(db, fine)]["error_type"] is None
    # A failed lookup is asked again by the next run, even though it is fresh.
    assert lookup(db, options(wayback), clock=clock).looked_up == 2


def test_save_server_errors_and_poll_timeouts_are_recorded(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    first, second = "https://example.org/first", "https://example.org/second"
    cite(db, [first, second])
    wayback.fail("save", 502)
    wayback.slow("status", 1.0)

    summary = save(db, options(wayback, keys=True, timeout=0.3), clock=clock)

    rows = {r["source_id"]: r for r in saves(db)}
    assert rows[source_id(db, first)]["state"] == "retry-later"
    assert rows[source_id(db, first)]["error_type"] == "http_502"
    assert rows[source_id(db, second)]["state"] == "saved"  # the poll after the timeout
    assert summary.errors == {"http_502": 1, "timeout": 1}
    assert (summary.saved, summary.retry_later) == (1, 1)


def test_unreachable_archive_changes_nothing(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    nowhere = f"http://127.0.0.1:{refused_port()}"
    cite(db, [f"https://example.org/{n}" for n in range(5)])
    unreachable = options(
        wayback,
        keys=True,
        wayback_url=nowhere,
        wayback_availability_url=f"{nowhere}/wayback/available",
    )

    summary = lookup_and_save(db, unreachable, clock=clock)

    assert summary.archive_unreachable
    assert "could not be reached" in summary.message and "nothing was changed" in summary.message
    assert summary.looked_up == 0
    assert list(db.table("wayback_state").rows) == []
    assert saves(db) == []


def test_no_free_sessions_and_refused_keys_leave_saves_queued(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    cite(db, ["https://example.org/a"])
    wayback.sessions = 0
    busy = save(db, options(wayback, keys=True), clock=clock)
    assert busy.queued == 1 and "free capture session" in busy.message

    wayback.sessions = 3
    wrong = options(wayback, keys=True, wayback_secret_key="wrong")
    refused = save(db, wrong, clock=clock)
    assert refused.queued == 1 and "refused the account keys" in refused.message
    assert wayback.requests_of("save") == []


def test_a_source_whose_recent_copies_are_block_pages_is_still_saved(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    blocked, kept = "https://example.org/blocked", "https://example.org/kept"
    for status, page in ((403, blocked), (200, kept)):
        wayback.add_snapshot(
            page, stamp(NOW - timedelta(days=2)).replace("-", "")[:8] + "000000", status
        )
        wayback.job_outcome(page, pending_polls=0)
    cite(db, [blocked, kept])

    summary = lookup_and_save(db, options(wayback, keys=True), clock=clock)

    assert summary.saved == 1
    assert [r.form["url"] for r in wayback.requests_of("save")] == [[blocked]]


def test_a_save_after_a_block_page_asks_for_a_new_capture_not_the_block_page(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/blocked"
    blocked = stamp(NOW - timedelta(days=2)).replace("-", "")[:8] + "000000"
    wayback.add_snapshot(page, blocked, 403)
    wayback.job_outcome(page, pending_polls=0)
    cite(db, [page])

    assert lookup_and_save(db, options(wayback, keys=True), clock=clock).saved == 1

    # Asked not to capture again if archived within 30 days, the Archive would answer with
    # the block page it holds from two and a half days ago.
    [request] = wayback.requests_of("save")
    assert int(request.form["if_not_archived_within"][0]) < 2.5 * 86400
    [saved] = saves(db)
    assert saved["timestamp"] != blocked and wayback.jobs[0].existing is None


def test_a_capture_late_in_the_cdx_index_is_not_saved_again(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    page = "https://example.org/fresh"
    wayback.cdx_delay = 3600
    wayback.job_outcome(page, pending_polls=0)
    cite(db, [(page, "2018-04-12")])
    assert lookup_and_save(db, options(wayback, keys=True), clock=clock).saved == 1
    [job] = wayback.jobs

    clock.advance(60)
    again = lookup_and_save(db, options(wayback, keys=True, lookup_every=0), clock=clock)

    assert (again.looked_up, again.found, again.queued) == (1, 0, 0)
    assert len(wayback.requests_of("save")) == 1
    sid = source_id(db, page)
    assert wayback_status(db, [sid])[sid]["wayback_timestamp"] is None
    assert wayback_status(db, [sid])[sid]["wayback_newest"] == job.timestamp

    clock.advance(3600)
    lookup(db, options(wayback, lookup_every=0), clock=clock)
    assert wayback_status(db, [sid])[sid]["wayback_timestamp"] == job.timestamp


def test_calls_are_spaced_by_the_rate_limits(
    db: Database, wayback: WaybackStandin, clock: FakeClock
) -> None:
    pages = [f"https://example.org/r{n}" for n in range(5)]
    for page in pages:
        wayback.job_outcome(page, pending_polls=0)
    cite(db, pages)
    wayback.sessions = 5

    lookup_and_save(db, options(wayback, keys=True, wayback_saves_per_minute=6), clock=clock)

    def gaps(kind: str) -> list[float]:
        times = [r.time for r in wayback.requests_of(kind)]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    assert len(gaps("cdx")) == 4 and min(gaps("cdx")) >= 3.0  # 20 a minute
    assert len(gaps("save")) == 4 and min(gaps("save")) >= 10.0  # 6 a minute


def test_budgets_are_separate_per_kind() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"save": 10, "lookup": 20}, clock)
    for kind in ("save", "lookup", "save", "lookup", "lookup"):
        limiter.acquire(kind)
    # Only the second save waits (6 s); by then the lookups' bucket has refilled, so only the
    # third lookup waits (3 s). One kind's calls never use up the other's budget.
    assert clock.sleeps == pytest.approx([6.0, 3.0])
    assert clock.now() == NOW + timedelta(seconds=9)


def test_keys_are_sent_to_spn2_only_and_never_stored_logged_or_shown(
    db: Database, wayback: WaybackStandin, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pages = [f"https://example.org/k{n}" for n in range(3)]
    wayback.refuse(pages[1], "error:blocked-url")
    cite(db, pages)
    wayback.fail("status", 429, after=2)
    opts = options(wayback, keys=True)

    summary = lookup_and_save(db, opts, clock=clock)

    assert "status" in summary.paused_until
    assert "paused" in caplog.text  # the pause was logged, with its reason
    assert all(
        r.headers.get("Authorization") == f"LOW {ACCESS}:{SECRET}"
        for r in wayback.requests
        if r.kind in ("save", "user", "status")
    )
    assert all("Authorization" not in r.headers for r in wayback.requests_of("cdx"))
    stored = json.dumps(
        [list(db.table(name).rows) for name in db.table_names()], default=str
    ) + json.dumps(summary.as_dict())
    for secret in (ACCESS, SECRET):
        assert secret not in stored
        assert secret not in caplog.text
        assert secret not in repr(opts)


def test_unknown_url_is_an_error(db: Database, wayback: WaybackStandin, clock: Clock) -> None:
    with pytest.raises(ArchiverError, match="not a cited source"):
        lookup(db, options(wayback), url="https://not-cited.example/", clock=clock)


def test_a_compressed_answer_is_read_only_up_to_its_limit(
    db: Database, web: TestWeb, clock: FakeClock
) -> None:
    # A broken proxy (or a mistyped wayback_url) answers with 200 MiB once inflated.
    bomb = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    for path in ("/cdx/search/cdx", "/wayback/available"):
        web.set_page(path, gzip_bomb(), headers=bomb)
    cite(db, ["https://example.org/a"])
    answers = WaybackOptions(
        wayback_url=web.base, wayback_availability_url=web.url("/wayback/available"), timeout=5
    )
    tracemalloc.start()
    try:
        summary = lookup(db, answers, clock=clock)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.errors == {"too_large": 1}
    assert peak < 5 * MAX_REPLY_BYTES  # not the 200 MiB the answer inflates to
    [state] = db.table("wayback_state").rows
    assert "longer than 10,000,000 bytes once decompressed" in state["error_message"]
