"""Save sources with no recent Wayback Machine copy through Save Page Now 2 (SPN2).

Each save is a ``wayback_saves`` row in one :class:`SaveState` at a time:

    queued ──submit──▶ submitted ──poll──▶ saved
      │                    │   └──────────▶ failed       (an error about the URL)
      └──────────────▶ retry-later ◀──┘                  (an error about the moment)

Every move is committed at once, together with a ``wayback_save_events`` row saying from
where to where and why (history, never overwritten). The job id in particular is stored before
the first poll, so a run that dies after submitting polls that job next time instead of
submitting the URL again. (Should a run die between the Archive accepting a URL and the commit,
the next submission carries ``if_not_archived_within``, so the Archive does not capture it
twice.) A run polls the jobs earlier runs left first, then submits queued saves as long as the
account has free capture sessions (``GET /save/status/user``).

SPN2 is our own small client: waybackpy 3.0.6 only knows the anonymous ``GET /save/<url>``,
which the Archive now answers with 401 or 429.
"""

from __future__ import annotations

import contextlib
import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import CallFailed, Paused
from ..store import scoped_sources, stamp
from .client import ArchiveClient, Reply
from .options import WaybackOptions, WaybackSummary
from .timestamps import timestamp_moment, wayback_timestamp


class SaveState(enum.StrEnum):
    """Where one save stands; the words are those stored in ``wayback_saves.state``."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    SAVED = "saved"
    FAILED = "failed"
    RETRY_LATER = "retry-later"


OPEN_STATES = (SaveState.QUEUED, SaveState.SUBMITTED, SaveState.RETRY_LATER)


class _Phase(enum.Enum):
    """What a save run may still do: both, only poll what it submitted, or nothing more."""

    SUBMIT_AND_POLL = enum.auto()
    POLL_ONLY = enum.auto()
    STOPPED = enum.auto()


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
    summary: WaybackSummary | None = None,
) -> WaybackSummary:
    """Queue sources with no capture within ``wayback_save_within`` days; submit and poll saves.

    summary: filled in as saves finish (a new one by default), as for ``lookup``.
    """
    summary = summary if summary is not None else WaybackSummary()
    saves = SaveLog(db, [row["id"] for row in scoped_sources(db, "s.id", report_id, url)])
    saves.queue_missing(options, clock.now())
    if options.has_keys:
        with ArchiveClient(db, options, clock) as client:
            notes = _SaveRun(saves, client, summary).run()
    else:
        notes = [NO_KEYS]
    counts = saves.open_counts()
    summary.submitted = counts.get(SaveState.SUBMITTED, 0)
    summary.retry_later = counts.get(SaveState.RETRY_LATER, 0)
    summary.queued = counts.get(SaveState.QUEUED, 0)
    done = (
        f"saved {summary.saved}, failed {summary.failed}; {summary.submitted} submitted, "
        f"{summary.queued} queued and {summary.retry_later} to retry later"
    )
    summary.message = "; ".join([done, *notes])
    return summary


class SaveLog:
    """The saves of some sources in the store: read them, queue new ones, move their state."""

    def __init__(self, db: Database, source_ids: list[int]) -> None:
        self.db = db
        self._ids = json.dumps(source_ids)

    def queue_missing(self, options: WaybackOptions, now: datetime) -> None:
        """Queue the sources with no capture holding content within the window (a block
        page or a "not found" is no copy of the page), no open save and no save that ended
        within the window (saved, whatever it holds, or failed: tried again after it).
        What a capture holds is read from ``wayback_copies``, as ``get`` and the ranking of
        copies read it."""
        since = now - timedelta(days=options.wayback_save_within)
        # Read in full before writing: a half-read query keeps an old snapshot open, and this
        # connection could then not begin its write once another one has committed.
        rows = list(
            self.db.query(
                """
            select s.id from sources s
            where s.id in (select value from json_each(:ids))
              and not exists (select 1 from wayback_saves w where w.source_id = s.id and (
                    w.state in ('queued', 'submitted', 'retry-later')
                    or (w.state = 'saved' and w.timestamp >= :since_ts)
                    or (w.state = 'failed' and w.finished_at >= :since)))
              and not exists (select 1 from wayback_copies p
                              where p.source_id = s.id and p.timestamp >= :since_ts
                                and p.holds = 'content')
            order by s.id
            """,
                {
                    "ids": self._ids,
                    "since_ts": wayback_timestamp(since),
                    "since": stamp(since),
                },
            )
        )
        with self.db.atomic():
            for row in rows:
                save_id = int(
                    self.db.table("wayback_saves")
                    .insert(
                        {
                            "source_id": row["id"],
                            "state": SaveState.QUEUED.value,
                            "queued_at": stamp(now),
                            "attempts": 0,
                        }
                    )
                    .last_pk  # type: ignore[arg-type]
                )
                self._event(save_id, None, SaveState.QUEUED, stamp(now), {})

    def rows(self, where: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """The saves in scope matching ``where``, each with its source's URL and the newest
        Archive capture of it that does not hold the content (``newest_other``)."""
        return [
            dict(r)
            for r in self.db.query(
                "select w.*, s.url, (select max(p.timestamp) from wayback_copies p "
                "where p.source_id = w.source_id and p.holds != 'content') as newest_other "
                "from wayback_saves w join sources s on s.id = w.source_id "
                f"where w.source_id in (select value from json_each(?)) and ({where}) "
                "order by w.id",
                [self._ids, *(params or [])],
            )
        ]

    def get(self, save_id: int) -> dict[str, Any]:
        return dict(self.db.table("wayback_saves").get(save_id))

    def open_counts(self) -> dict[str, int]:
        rows = self.db.query(
            "select state, count(*) as n from wayback_saves where state in ('queued', "
            "'submitted', 'retry-later') and source_id in (select value from json_each(?)) "
            "group by state",
            [self._ids],
        )
        return {r["state"]: r["n"] for r in rows}

    def move(self, save_id: int, to: SaveState | None, at: str, **values: Any) -> None:
        """Write one save's new state (or, ``to`` None, new facts in the same state) and the
        event that records it, in one transaction of its own, so a crash cannot lose it."""
        with self.db.atomic():
            before = self.db.execute(
                "select state from wayback_saves where id = ?", [save_id]
            ).fetchone()[0]
            if to is not None:
                values["state"] = to.value
            self.db.table("wayback_saves").update(save_id, values)
            self._event(save_id, before, SaveState(values.get("state", before)), at, values)

    def _event(
        self,
        save_id: int,
        before: str | None,
        after: SaveState,
        at: str,
        values: dict[str, Any],
    ) -> None:
        self.db.table("wayback_save_events").insert(
            {
                "save_id": save_id,
                "at": at,
                "from_state": before,
                "to_state": after.value,
                "job_id": values.get("job_id"),
                "error_type": values.get("error_type"),
                "status_ext": values.get("status_ext"),
                "message": values.get("message"),
            }
        )


class _SaveRun:
    """One pass over the saves in scope: poll what earlier runs submitted, then submit the rest."""

    def __init__(self, saves: SaveLog, client: ArchiveClient, summary: WaybackSummary) -> None:
        self.saves = saves
        self.client = client
        self.options = client.options
        self.clock = client.clock
        self.summary = summary
        self.notes: list[str] = []
        self.phase = _Phase.SUBMIT_AND_POLL
        self.sessions = 0  # captures the account may start now
        self.failures_in_a_row = 0

    @property
    def submitting(self) -> bool:
        return self.phase is _Phase.SUBMIT_AND_POLL

    @property
    def polling(self) -> bool:
        return self.phase is not _Phase.STOPPED

    def stop_submitting(self) -> None:
        if self.phase is _Phase.SUBMIT_AND_POLL:
            self.phase = _Phase.POLL_ONLY

    def run(self) -> list[str]:
        start = self.clock.now()
        jobs = [
            _Job(r["id"], r["job_id"], r["submitted_at"], start + self._poll_wait)
            for r in self.saves.rows("state = 'submitted'")
        ]
        ready = self.saves.rows(
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
        with contextlib.suppress(TypeError, ValueError):  # none, or not a timestamp
            # A recent block page or "not found" is no copy: SPN2 must not answer with it.
            since = self.clock.now() - timestamp_moment(row["newest_other"])
            seconds = max(1, min(seconds, int(since.total_seconds()) - 1))
        form = {
            "url": row["url"],
            "if_not_archived_within": str(seconds),
            "skip_first_archive": "1",
        }
        attempts = row["attempts"] + 1
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
            self._retry_later(row["id"], attempts, exc.error_type, None, exc.message)
            self.failures_in_a_row += 1
            if exc.network or self.failures_in_a_row >= STOP_AFTER_FAILURES:
                self.stop_submitting()
                self.notes.append(f"submitting stopped after: {exc.message}")
            return None
        self.failures_in_a_row = 0
        job_id = answer.get("job_id")
        if job_id:
            now = stamp(self.clock.now())
            self._move(
                row["id"],
                SaveState.SUBMITTED,
                job_id=str(job_id),
                submitted_at=now,
                attempts=attempts,
                error_type=None,
            )
            return _Job(row["id"], str(job_id), now, self.clock.now() + self._poll_wait)
        status_ext = str(answer.get("status_ext") or "error:unknown")
        message = str(answer.get("message") or "")
        if status_ext in TOO_MANY:
            self._paused(Paused("save", self.client.pause("save", status_ext)))
        elif status_ext == SESSIONS_FULL:
            self.sessions = 0
        else:
            self._refused(row["id"], attempts, status_ext, message)
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
                self._move(job.save_id, None, error_type=exc.error_type, message=exc.message)
                self.summary.count_error(exc.error_type)
                continue
            status = answer.get("status")
            attempts = self.saves.get(job.save_id)["attempts"]
            if status == "pending":
                if datetime.fromisoformat(job.submitted_at) < self.clock.now() - STALE_JOB:
                    self._retry_later(
                        job.save_id,
                        attempts,
                        "stale_job",
                        None,
                        "still pending a day after submission",
                    )
                    jobs.remove(job)
                continue
            jobs.remove(job)
            self.sessions += 1
            if status == "success":
                self._move(
                    job.save_id,
                    SaveState.SAVED,
                    finished_at=stamp(self.clock.now()),
                    timestamp=str(answer.get("timestamp") or ""),
                    original=answer.get("original_url"),
                    status_ext=None,
                    error_type=None,
                    message=answer.get("message"),
                )
                self.summary.saved += 1
            else:
                ext = str(answer.get("status_ext") or "error:unknown")
                self._refused(job.save_id, attempts, ext, str(answer.get("message") or ""))

    def _refused(self, save_id: int, attempts: int, status_ext: str, message: str) -> None:
        """An SPN2 error: try again later when it is about the moment, else the save failed."""
        if (status_ext in TRANSIENT or status_ext == DAILY_CAP) and attempts < MAX_ATTEMPTS:
            self._retry_later(save_id, attempts, None, status_ext, message)
            return
        self._move(
            save_id,
            SaveState.FAILED,
            finished_at=stamp(self.clock.now()),
            status_ext=status_ext,
            message=message,
            attempts=attempts,
        )
        self.summary.failed += 1
        self.summary.count_error(status_ext)

    def _retry_later(
        self,
        save_id: int,
        attempts: int,
        error_type: str | None,
        status_ext: str | None,
        message: str,
    ) -> None:
        wait = min(RETRY_LONGEST, RETRY_FIRST * 2 ** max(0, attempts - 1))
        if status_ext == DAILY_CAP:
            wait = max(wait, timedelta(days=1))
        self._move(
            save_id,
            SaveState.RETRY_LATER,
            error_type=error_type,
            status_ext=status_ext,
            message=message,
            attempts=attempts,
            next_attempt_at=stamp(self.clock.now() + wait),
        )
        self.summary.count_error(status_ext or error_type or "unknown")

    def _keys_refused(self, reply: Reply) -> bool:
        if reply.status not in (401, 403):
            return False
        self.phase = _Phase.STOPPED
        self.notes.append(
            f"the Archive refused the account keys (HTTP {reply.status}); check "
            "wayback_access_key and wayback_secret_key — saves stay queued"
        )
        return True

    def _paused(self, paused: Paused) -> None:
        self.summary.paused_until[paused.kind] = stamp(paused.until)
        if paused.kind == "save":
            self.stop_submitting()
        else:
            # Without status reads there is no polling, nor knowing the free sessions.
            self.phase = _Phase.STOPPED
        self.notes.append(
            f"{paused.kind} calls paused until {stamp(paused.until)} after the Archive said "
            "too many; the rest stays queued for the next run"
        )

    def _move(self, save_id: int, to: SaveState | None, **values: Any) -> None:
        for key in ("message", "status_ext"):
            if isinstance(values.get(key), str):
                values[key] = self.client.scrub(values[key])[:500]
        self.saves.move(save_id, to, stamp(self.clock.now()), **values)
