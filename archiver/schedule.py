"""``archiver schedule``: the long-running service; APScheduler 3 jobs that call the library.

Jobs and their next run times live in an SQLAlchemy job store in ``<db>.scheduler.sqlite``
beside the database, so they survive restarts; ``coalesce``, ``max_instances=1`` and a month of
misfire grace mean a machine that slept a week runs each overdue job once, not seven times.
One scheduler per database: it holds ``flock`` on ``<db>.scheduler.lock``, which the kernel
releases when the process dies, so a crash leaves nothing stuck. Every run is a ``runs`` row
and one line on the log (plain or JSON, ``log_format``).

Stopping (SIGTERM, SIGINT) sets one event: check and capture start nothing more and store what
finished within ``STOP_GRACE`` seconds, Wayback stops at its next wait; the service exits once
the running jobs have recorded that, or after ``STOP_WAIT`` seconds regardless (every write is
a short transaction, so a cut leaves nothing half-written). Rows a killed scheduler left
``running`` are marked ``interrupted`` on the next start; the work itself is picked up again
because each job selects what is still due.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TextIO

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlite_utils import Database

from .cadence import Cadence, parse_cadence, parse_duration
from .config import Settings
from .db import open_db
from .errors import ArchiverError
from .stamps import file_sha256, utc_now

MISFIRE_GRACE = 30 * 86400  # seconds: an overdue job still runs (once) after a month asleep
STOP_WAIT = 8.0
MAX_DUE_SLACK = timedelta(hours=1)


def store_path(db_path: Path) -> Path:
    """The job store beside the database: ``archive.sqlite`` → ``archive.scheduler.sqlite``."""
    return db_path.with_suffix(".scheduler.sqlite")


def lock_path(db_path: Path) -> Path:
    return db_path.with_suffix(".scheduler.lock")


def job_cadences(settings: Settings) -> dict[str, Cadence]:
    """Each job's cadence. The check job fires often enough to recheck failing sources on time."""
    check = parse_cadence("check_every", settings.check_every)
    failing = parse_duration(settings.recheck_failing_every) or 0.0
    if check.seconds is not None and failing < check.seconds:
        check = Cadence(
            f"{settings.check_every}, failing {settings.recheck_failing_every}", failing
        )
    return {
        "import": parse_cadence("import_every", settings.import_every),
        "check": check,
        "wayback": parse_cadence("wayback_every", settings.wayback_every),
        "verify": parse_cadence("verify_every", settings.verify_every),
    }


def due_sources(
    db: Database,
    now: datetime,
    *,
    check_every: float | None,
    failing_every: float,
    dead_every: float,
) -> list[int]:
    """Cited sources due for a check: never checked, or last checked longer ago than their
    verdict's cadence (``check_every`` None, a cron cadence, makes every healthy source due).

    A source counts as due a little early (half its cadence, an hour at most), so a job that
    fires on its cadence always finds the sources it checked last time due again.
    """
    due = []
    for row in db.query(
        "select s.id, st.verdict, st.checked_at from sources s "
        "left join source_state st on st.source_id = s.id "
        "where s.id in (select source_id from citations where removed_at is null) order by s.id"
    ):
        if row["checked_at"] is None:
            due.append(row["id"])
            continue
        every = {"failing": failing_every, "dead": dead_every}.get(row["verdict"], check_every)
        if every is None:
            due.append(row["id"])
            continue
        slack = min(timedelta(seconds=every / 2), MAX_DUE_SLACK)
        if now - datetime.fromisoformat(row["checked_at"]) >= timedelta(seconds=every) - slack:
            due.append(row["id"])
    return due


class Interrupted(Exception):
    """The service is stopping: raised from a Wayback wait so the run ends there."""


class _StopClock:
    """Wayback's clock: real time, but a wait ends the run as soon as ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(max(0.0, seconds)):
            raise Interrupted


@dataclass
class Outcome:
    """What one job run did, for its ``runs`` row and log line."""

    counts: dict[str, int]
    interrupted: bool = False


class Service:
    """Runs jobs for the scheduler: each run opens its own connection (SQLite connections stay
    in their thread) and records itself in ``runs``."""

    def __init__(self, settings: Settings, log: TextIO, stop: threading.Event) -> None:
        self.settings = settings
        self.log = log
        self.stop = stop
        self._active = 0
        self._idle = threading.Condition()
        self._import_lock = threading.Lock()
        self._jobs: dict[str, Callable[[Database], Outcome]] = {
            "import": self._import,
            "check": self._check,
            "wayback": self._wayback,
            "verify": self._verify,
        }

    def run(self, name: str) -> None:
        """Run one job and record it; a failure is stored and logged, the service goes on."""
        if self.stop.is_set():  # handed to the executor just before the stop
            return
        with self._idle:
            self._active += 1
        started = time.monotonic()
        db = open_db(self.settings.db)
        try:
            run_id = _insert_run(db, name)
            status, error, counts = "ok", None, {}
            try:
                outcome = self._jobs[name](db)
                counts = outcome.counts
                status = "interrupted" if outcome.interrupted else "ok"
            except Interrupted:
                status = "interrupted"
            except Exception as exc:  # one failed run must not stop the service
                status, error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
            with db.atomic():
                db.table("runs").update(
                    run_id,
                    {
                        "finished_at": utc_now(),
                        "status": status,
                        "counts": json.dumps(counts),
                        "error": error,
                    },
                )
            self._log_line(name, status, time.monotonic() - started, counts, error)
        finally:
            db.close()
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, seconds: float) -> bool:
        """Wait for running jobs to finish; False if some are still running after ``seconds``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, seconds)

    def _import(self, db: Database) -> Outcome:
        from .importer import import_report
        from .ingest import read_report

        path = self.settings.citations
        with self._import_lock:
            if not path.is_file() or file_sha256(path) == _imported_sha256(db, path):
                return Outcome({"imported": 0})
            results = [import_report(db, parsed) for parsed in read_report(path)]
        return Outcome(
            {
                "imported": len(results),
                "added": sum(len(r.added) for r in results),
                "updated": sum(len(r.updated) for r in results),
                "removed": sum(len(r.removed) for r in results),
            }
        )

    def _check(self, db: Database) -> Outcome:
        """Check the due sources (on the current citations file), then capture what changed."""
        from .capture import capture_options, capture_sources
        from .check import check_options, check_sources

        self._import(db)
        ids = due_sources(
            db,
            datetime.now(UTC),
            check_every=parse_duration(self.settings.check_every),
            failing_every=parse_duration(self.settings.recheck_failing_every) or 0.0,
            dead_every=parse_duration(self.settings.recheck_dead_every) or 0.0,
        )
        summary = check_sources(db, check_options(self.settings), source_ids=ids, stop=self.stop)
        moves = [(c["from"], c["to"]) for c in summary.changes]
        counts = {
            "due": len(ids),
            "checked": summary.checked,
            "newly_failing": sum(1 for a, b in moves if b == "failing" and a != "failing"),
            "newly_dead": sum(1 for a, b in moves if b == "dead"),
            "recovered": sum(
                1 for a, b in moves if a in ("failing", "dead") and b not in ("failing", "dead")
            ),
            "inconclusive": int(summary.inconclusive),
            "captured": 0,
        }
        if summary.inconclusive or self.stop.is_set():
            return Outcome(counts, interrupted=self.stop.is_set())
        captured = capture_sources(db, capture_options(self.settings), stop=self.stop)
        counts["captured"] = captured.captured + captured.revisits
        counts["capture_failed"] = captured.failed
        return Outcome(counts, interrupted=self.stop.is_set())

    def _wayback(self, db: Database) -> Outcome:
        from .wayback import wayback_options
        from .wayback_save import lookup_and_save

        summary = lookup_and_save(db, wayback_options(self.settings), clock=_StopClock(self.stop))
        return Outcome(
            {
                "looked_up": summary.looked_up,
                "found": summary.found,
                "saved": summary.saved,
                "save_failed": summary.failed,
            }
        )

    def _verify(self, db: Database) -> Outcome:
        from .verify import verify_captures

        result = verify_captures(db, self.settings.data_dir)
        return Outcome({"files": result.files, "problems": len(result.problems)})

    def _log_line(
        self, job: str, status: str, seconds: float, counts: dict[str, int], error: str | None
    ) -> None:
        if self.settings.log_format == "json":
            line = json.dumps(
                {
                    "time": utc_now(),
                    "job": job,
                    "status": status,
                    "seconds": round(seconds, 2),
                    "counts": counts,
                    "error": error,
                },
                ensure_ascii=False,
            )
        else:
            detail = " ".join(f"{key}={value}" for key, value in counts.items())
            line = f"{utc_now()} {job} {status} in {seconds:.1f}s {detail}".rstrip()
            if error:
                line += f" error: {error}"
        print(line, file=self.log, flush=True)


# The service the scheduler's jobs run in: jobs are stored by reference ("module:function" and
# a job name), never pickled with live objects.
_service: Service | None = None


def run_job(name: str) -> None:
    """The function every stored job calls."""
    if _service is None:
        raise ArchiverError("no scheduler service is running in this process")
    _service.run(name)


def build_scheduler(settings: Settings, run_now: set[str] | None = None) -> BlockingScheduler:
    """The scheduler with its persistent store and every job, keeping stored next run times
    of jobs whose cadence is unchanged (so a restart does not postpone them).

    run_now: jobs to run at once, as those whose last run was cut short.
    """
    path = store_path(settings.db)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = {job.id: job for job in stored_jobs(settings)}
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE,
        },
    )
    now = datetime.now(UTC)
    for name, cadence in job_cadences(settings).items():
        trigger = cadence.trigger()
        old = previous.get(name)
        options: dict[str, Any] = {}
        if name in (run_now or set()) or (old is None and name in ("import", "check")):
            options["next_run_time"] = now  # a new service starts by importing and checking
        elif old is not None and str(old.trigger) == str(trigger) and old.next_run_time:
            options["next_run_time"] = old.next_run_time
        scheduler.add_job(
            "archiver.schedule:run_job",
            trigger,
            args=[name],
            id=name,
            name=name,
            replace_existing=True,
            **options,
        )
    return scheduler


def stored_jobs(settings: Settings) -> list[Job]:
    """The jobs in the store as the last scheduler left them (none before the first start)."""
    path = store_path(settings.db)
    if not path.is_file():
        return []
    store = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    store.start(BlockingScheduler(), "default")
    try:
        return store.get_all_jobs()
    finally:
        store.shutdown()


def acquire_lock(db_path: Path) -> IO[str]:
    """Hold the database's scheduler lock, or say which process holds it."""
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ArchiverError(
            f"{db_path}: a scheduler is already running on this database (pid {holder})"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def serve(settings: Settings, log: TextIO = sys.stderr) -> None:
    """Run the scheduler until SIGTERM or SIGINT (the main thread only: it takes the signals)."""
    global _service
    lock = acquire_lock(settings.db)
    try:
        db = open_db(settings.db)
        resume = _close_interrupted_runs(db)
        db.close()
        stop = threading.Event()
        _service = Service(settings, log, stop)
        scheduler = build_scheduler(settings, run_now=resume)

        def on_signal(signum: int, frame: object) -> None:
            stop.set()
            if scheduler.running:
                scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        print(f"{utc_now()} scheduler started on {settings.db} (pid {os.getpid()})", file=log)
        scheduler.start()
        if not _service.wait_idle(STOP_WAIT):
            # A job still busy (a long verify, a slow request): its writes are transactions,
            # so ending here loses only that run's unfinished part; the next start redoes it.
            print(f"{utc_now()} scheduler stopped with a job still running", file=log, flush=True)
            os._exit(1)
        print(f"{utc_now()} scheduler stopped", file=log, flush=True)
    finally:
        lock.close()


def job_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every job with its cadence and next run time (from the store; none before a first start)."""
    stored = {job.id: job for job in stored_jobs(settings)}
    rows = []
    for name, cadence in job_cadences(settings).items():
        job = stored.get(name)
        next_run = job.next_run_time if job is not None else None
        rows.append(
            {
                "job": name,
                "every": cadence.text,
                "next_run": next_run.astimezone(UTC).isoformat(timespec="seconds")
                if next_run
                else None,
            }
        )
    return rows


def run_rows(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest scheduled runs, newest first, with their counts decoded."""
    rows = []
    for row in db.query("select * from runs order by id desc limit ?", [limit]):
        row["counts"] = json.loads(row["counts"]) if row["counts"] else {}
        rows.append(row)
    return rows


def _close_interrupted_runs(db: Database) -> set[str]:
    """Mark runs a killed scheduler left ``running`` as interrupted; return the jobs whose
    last run was interrupted, to run again at once."""
    with db.atomic():
        db.execute(
            "update runs set status = 'interrupted', finished_at = ?, "
            "error = 'the scheduler stopped before this run finished' "
            "where status = 'running'",
            [utc_now()],
        )
    return {
        row["job"]
        for row in db.query(
            "select job, status from runs where id in (select max(id) from runs group by job)"
        )
        if row["status"] == "interrupted"
    }


def _insert_run(db: Database, job: str) -> int:
    with db.atomic():
        return int(
            db.table("runs")
            .insert({"job": job, "started_at": utc_now(), "status": "running"})
            .last_pk  # type: ignore[arg-type]
        )


def _imported_sha256(db: Database, path: Path) -> str | None:
    row = next(
        db.query("select sha256 from imports where path = ? order by id desc limit 1", [str(path)]),
        None,
    )
    return row["sha256"] if row else None
