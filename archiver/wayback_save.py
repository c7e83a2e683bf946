"""Save sources with no recent Wayback Machine copy through Save Page Now 2 (SPN2).

Each save is a ``wayback_saves`` row that moves queued → submitted (job id) → saved (timestamp)
| failed (status_ext, message) | retry-later, every move committed at once. The job id in
particular is stored before the first poll, so a run that dies after submitting polls that job
next time instead of submitting the URL again. (Should a run die between the Archive accepting a
URL and the commit, the next submission carries ``if_not_archived_within``, so the Archive does
not capture it twice.) A run polls the jobs earlier runs left first, then submits queued saves
as long as the account has free capture sessions (``GET /save/status/user``).

SPN2 is our own small client: waybackpy 3.0.6 only knows the anonymous ``GET /save/<url>``,
which the Archive now answers with 401 or 429.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from .stamps import stamp
from .wayback import (
    SYSTEM_CLOCK,
    ArchiveClient,
    CallFailed,
    Clock,
    Paused,
    Reply,
    WaybackOptions,
    WaybackSummary,
    scope_sources,
    wayback_timestamp,
)
from .wayback_lookup import lookup

NO_KEYS = (
    "saving to the Wayback Machine needs archive.org keys (https://archive.org/account/s3.php): "
    "set ARCHIVER_WAYBACK_ACCESS_KEY and ARCHIVER_WAYBACK_SECRET_KEY, or wayback_access_key and "
    "wayback_secret_key in archiver.toml"
)
# SPN2 errors about the moment rather than the URL: worth another try later.
TRANSIENT = frozenset(
    {
        "error:bad-gateway",
        "error:bandwidth-limit-exceeded",
        "error:browsing-timeout",
        "error:capture-location-error",
        "error:celery",
        "error:gateway-timeout",
        "error:internal-server-error",
        "error:invalid-server-response",
        "error:no-browsers-available",
        "error:overloaded",
        "error:proxy-error",
        "error:read-timeout",
        "error:service-unavailable",
        "error:soft-time-limit-exceeded",
    }
)
# SPN2 caps captures of one URL per day: that URL waits a day, the others go on.
DAILY_CAP = "error:too-many-daily-captures"
# Refusals about our pace: saves pause like after a 429.
TOO_MANY = frozenset({"error:too-many-requests"})
SESSIONS_FULL = "error:user-session-limit"
MAX_ATTEMPTS = 5
RETRY_FIRST = timedelta(hours=1)
RETRY_LONGEST = timedelta(days=7)
# A job still pending this long after submission is lost on the Archive's side.
STALE_JOB = timedelta(days=1)
# Server or network failures in a row after which a run stops submitting.
STOP_AFTER_FAILURES = 3


@dataclass
class _Job:
    save_id: int
    job_id: str
    submitted_at: str
    deadline: datetime


def save(
    db: Database,
    options: WaybackOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> WaybackSummary:
    """Queue sources with no capture within ``wayback_save_within`` days; submit and poll saves."""
    summary = WaybackSummary()
    source_ids = [source_id for source_id, _ in scope_sources(db, report_id, url)]
    _queue(db, options, source_ids, clock.now())
    if options.has_keys:
        with ArchiveClient(db, options, clock) as client:
            notes = _SaveRun(db, client, source_ids, summary).run()
    else:
        notes = [NO_KEYS]
    counts = _open_counts(db, source_ids)
    summary.submitted = counts.get("submitted", 0)
    summary.retry_later = counts.get("retry-later", 0)
    summary.queued = counts.get("queued", 0)
    done = (
        f"saved {summary.saved}, failed {summary.failed}; {summary.submitted} submitted, "
        f"{summary.queued} queued and {summary.retry_later} to retry later"
    )
    summary.message = "; ".join([done, *notes])
    return summary


def lookup_and_save(
    db: Database,
    options: WaybackOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    do_lookup: bool = True,
    do_save: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    on_progress: Callable[[int, int], None] | None = None,
) -> WaybackSummary:
    """``archiver wayback``: look up first, so saves are queued from what the Archive has now."""
    scope: dict[str, Any] = {"report_id": report_id, "url": url, "clock": clock}
    looked = WaybackSummary()
    if do_lookup:
        looked = lookup(db, options, on_progress=on_progress, **scope)
    if not do_save or looked.archive_unreachable:
        return looked
    saved = save(db, options, **scope)
    saved.looked_up, saved.found = looked.looked_up, looked.found
    for error_type, count in looked.errors.items():
        saved.errors[error_type] = saved.errors.get(error_type, 0) + count
    saved.paused_until = {**looked.paused_until, **saved.paused_until}
    saved.message = "; ".join(m for m in (looked.message, saved.message) if m)
    return saved


def _queue(db: Database, options: WaybackOptions, source_ids: list[int], now: datetime) -> None:
    """Queue the sources with no capture, no save and no failed save within the window."""
    since = now - timedelta(days=options.wayback_save_within)
    rows = db.query(
        """
        select s.id from sources s
        where s.id in (select value from json_each(:ids))
          and not exists (select 1 from wayback_saves w where w.source_id = s.id and (
                w.state in ('queued', 'submitted', 'retry-later')
                or (w.state = 'saved' and w.timestamp >= :since_ts)
                or (w.state = 'failed' and w.finished_at >= :since)))
          and not exists (select 1 from wayback_snapshots p
                          where p.source_id = s.id and p.timestamp >= :since_ts)
        order by s.id
        """,
        {
            "ids": json.dumps(source_ids),
            "since_ts": wayback_timestamp(since),
            "since": stamp(since),
        },
    )
    queued = [
        {"source_id": r["id"], "state": "queued", "queued_at": stamp(now), "attempts": 0}
        for r in rows
    ]
    with db.atomic():
        db.table("wayback_saves").insert_all(queued)


def _open_counts(db: Database, source_ids: list[int]) -> dict[str, int]:
    rows = db.query(
        "select state, count(*) as n from wayback_saves where state in ('queued', 'submitted', "
        "'retry-later') and source_id in (select value from json_each(?)) group by state",
        [json.dumps(source_ids)],
    )
    return {r["state"]: r["n"] for r in rows}


class _SaveRun:
    """One pass over the saves in scope: poll what earlier runs submitted, then submit the rest."""

    def __init__(
        self, db: Database, client: ArchiveClient, source_ids: list[int], summary: WaybackSummary
    ) -> None:
        self.db = db
        self.client = client
        self.options = client.options
        self.clock = client.clock
        self.source_ids = json.dumps(source_ids)
        self.summary = summary
        self.notes: list[str] = []
        self.sessions = 0
        self.submitting = True
        self.polling = True
        self.failures_in_a_row = 0

    def run(self) -> list[str]:
        start = self.clock.now()
        jobs = [
            _Job(r["id"], r["job_id"], r["submitted_at"], start + self._poll_wait)
            for r in self._rows("state = 'submitted'")
        ]
        ready = self._rows(
            "state = 'queued' or (state = 'retry-later' and next_attempt_at <= ?)", [stamp(start)]
        )
        self._poll(jobs)
        paused = self.client.paused_until("save")
        if ready and paused is not None:
            self._paused(Paused("save", paused))
        if ready and self.submitting:
            self.sessions = self._free_sessions()
        while True:
            if ready and self.sessions > 0 and self.submitting:
                job = self._submit(ready.pop(0))
                if job is not None:
                    jobs.append(job)
                    self.sessions -= 1
                continue
            now = self.clock.now()
            if not self.polling or not any(j.deadline > now for j in jobs):
                break
            self.clock.sleep(self.options.poll_interval)
            self._poll(jobs)
        if ready and self.submitting:
            self.notes.append("the rest wait for a free capture session")
        if jobs and self.polling:
            self.notes.append(f"{len(jobs)} capture(s) still in progress; the next run asks again")
        return self.notes

    @property
    def _poll_wait(self) -> timedelta:
        return timedelta(seconds=self.options.poll_wait)

    def _rows(self, where: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.db.query(
                "select w.*, s.url from wayback_saves w join sources s on s.id = w.source_id "
                f"where w.source_id in (select value from json_each(?)) and ({where}) "
                "order by w.id",
                [self.source_ids, *(params or [])],
            )
        ]

    def _free_sessions(self) -> int:
        """How many captures the account may start now, from ``/save/status/user``."""
        try:
            reply = self.client.call(
                "status", "GET", f"{self.client.base}/save/status/user", spn=True
            )
            if self._keys_refused(reply):
                return 0
            user = reply.json()
        except Paused as paused:
            self._paused(paused)
            return 0
        except CallFailed as exc:
            self.notes.append(f"could not read the account's capture sessions: {exc.message}")
            self.summary.count_error(exc.error_type)
            return 0
        if int(user.get("daily_captures", 0)) >= int(user.get("daily_captures_limit", 1)):
            self.notes.append(
                f"the account's daily captures are used up ({user.get('daily_captures')})"
            )
            return 0
        return int(user.get("available", 0))

    def _submit(self, row: dict[str, Any]) -> _Job | None:
        """Submit one URL; the job id is committed before anything else happens."""
        seconds = int(self.options.wayback_save_within * 86400)
        form = {
            "url": row["url"],
            "if_not_archived_within": str(seconds),
            "skip_first_archive": "1",
        }
        try:
            reply = self.client.call(
                "save", "POST", f"{self.client.base}/save", data=form, spn=True
            )
            if self._keys_refused(reply):
                return None
            if reply.status >= 500:
                raise CallFailed(f"http_{reply.status}", f"SPN2: HTTP {reply.status}")
            answer = reply.json()
        except Paused as paused:
            self._paused(paused)
            return None
        except CallFailed as exc:
            self._retry_later(
                {**row, "attempts": row["attempts"] + 1}, exc.error_type, None, exc.message
            )
            self.failures_in_a_row += 1
            if exc.network or self.failures_in_a_row >= STOP_AFTER_FAILURES:
                self.submitting = False
                self.notes.append(f"submitting stopped after: {exc.message}")
            return None
        self.failures_in_a_row = 0
        job_id = answer.get("job_id")
        if job_id:
            now = self.clock.now()
            self._update(
                row["id"],
                state="submitted",
                job_id=str(job_id),
                submitted_at=stamp(now),
                attempts=row["attempts"] + 1,
                error_type=None,
            )
            return _Job(row["id"], str(job_id), stamp(now), now + self._poll_wait)
        status_ext = str(answer.get("status_ext") or "error:unknown")
        message = str(answer.get("message") or "")
        if status_ext in TOO_MANY:
            self._paused(Paused("save", self.client.pause("save", status_ext)))
        elif status_ext == SESSIONS_FULL:
            self.sessions = 0
        else:
            self._refused({**row, "attempts": row["attempts"] + 1}, status_ext, message)
        return None

    def _poll(self, jobs: list[_Job]) -> None:
        """Ask once about each job still within its wait; finished ones leave the list."""
        for job in list(jobs):
            if not self.polling:
                return
            if job.deadline <= self.clock.now():
                continue
            url = f"{self.client.base}/save/status/{job.job_id}"
            try:
                answer = self.client.call("status", "GET", url, spn=True).json()
            except Paused as paused:
                self._paused(paused)
                return
            except CallFailed as exc:
                self._update(job.save_id, error_type=exc.error_type, message=exc.message)
                self.summary.count_error(exc.error_type)
                continue
            status = answer.get("status")
            if status == "pending":
                if datetime.fromisoformat(job.submitted_at) < self.clock.now() - STALE_JOB:
                    row = self.db.table("wayback_saves").get(job.save_id)
                    self._retry_later(
                        row, "stale_job", None, "still pending a day after submission"
                    )
                    jobs.remove(job)
                continue
            jobs.remove(job)
            self.sessions += 1
            if status == "success":
                self._saved(job, answer)
            else:
                row = self.db.table("wayback_saves").get(job.save_id)
                ext = str(answer.get("status_ext") or "error:unknown")
                self._refused(row, ext, str(answer.get("message") or ""))

    def _saved(self, job: _Job, answer: dict[str, Any]) -> None:
        self._update(
            job.save_id,
            state="saved",
            finished_at=stamp(self.clock.now()),
            timestamp=str(answer.get("timestamp") or ""),
            original=answer.get("original_url"),
            status_ext=None,
            error_type=None,
            message=answer.get("message"),
        )
        self.summary.saved += 1

    def _refused(self, row: dict[str, Any], status_ext: str, message: str) -> None:
        """An SPN2 error: try again later when it is about the moment, else the save failed."""
        if (status_ext in TRANSIENT or status_ext == DAILY_CAP) and row["attempts"] < MAX_ATTEMPTS:
            self._retry_later(row, None, status_ext, message)
            return
        self._update(
            row["id"],
            state="failed",
            finished_at=stamp(self.clock.now()),
            status_ext=status_ext,
            message=message,
            attempts=row["attempts"],
        )
        self.summary.failed += 1
        self.summary.count_error(status_ext)

    def _retry_later(
        self, row: dict[str, Any], error_type: str | None, status_ext: str | None, message: str
    ) -> None:
        now = self.clock.now()
        wait = min(RETRY_LONGEST, RETRY_FIRST * 2 ** max(0, row["attempts"] - 1))
        if status_ext == DAILY_CAP:
            wait = max(wait, timedelta(days=1))
        self._update(
            row["id"],
            state="retry-later",
            error_type=error_type,
            status_ext=status_ext,
            message=message,
            attempts=row["attempts"],
            next_attempt_at=stamp(now + wait),
        )
        self.summary.count_error(status_ext or error_type or "unknown")

    def _keys_refused(self, reply: Reply) -> bool:
        if reply.status not in (401, 403):
            return False
        self.submitting = self.polling = False
        self.notes.append(
            f"the Archive refused the account keys (HTTP {reply.status}); check "
            "wayback_access_key and wayback_secret_key — saves stay queued"
        )
        return True

    def _paused(self, paused: Paused) -> None:
        self.summary.paused_until[paused.kind] = stamp(paused.until)
        if paused.kind == "save":
            self.submitting = False
        else:
            self.polling = False
            self.submitting = False  # without status reads there is no knowing the free sessions
        self.notes.append(
            f"{paused.kind} calls paused until {stamp(paused.until)} after the Archive said "
            "too many; the rest stays queued for the next run"
        )

    def _update(self, save_id: int, **values: Any) -> None:
        """Write one save's new state in its own transaction, so a crash cannot lose it."""
        for key in ("message", "status_ext"):
            if isinstance(values.get(key), str):
                values[key] = self.client.scrub(values[key])[:500]
        self.db.table("wayback_saves").update(save_id, values)
