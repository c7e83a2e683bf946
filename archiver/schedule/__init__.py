"""``archiver schedule``: the long-running service; APScheduler 3 jobs that call the library.

Jobs and their next run times live in an SQLAlchemy job store in ``<db>.scheduler.sqlite``
beside the database, so they survive restarts; ``coalesce``, ``max_instances=1`` and a month of
misfire grace mean a machine that slept a week runs each overdue job once, not seven times.
One scheduler per database: it holds ``flock`` on ``<db>.scheduler.lock``, which the kernel
releases when the process dies, so a crash leaves nothing stuck. Every run is a ``runs`` row
and one line on the log (plain or JSON, ``log_format``).

Each job is the main job (:func:`archiver.pipeline.run_main_job`) with some of its stages, so
a scheduled run is recorded, counted and summarised exactly as ``archiver run`` is.

Stopping (SIGTERM, SIGINT) sets one event: check and capture start nothing more and store what
finished within ``STOP_GRACE`` seconds, Wayback stops at its next wait; the service exits once
the running jobs have recorded that, or after ``STOP_WAIT`` seconds regardless (every write is
a short transaction, so a cut leaves nothing half-written). Rows a killed scheduler left
``running`` are marked ``interrupted`` on the next start; the work itself is picked up again
because each job selects what is still due.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TextIO

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler

from ..cadence import Cadence, parse_cadence, parse_duration
from ..config import Settings
from ..errors import ArchiverError, Interrupted
from ..pipeline import RunSummary, run_main_job
from ..store import open_db, private, utc_now
from ..store.runs import close_interrupted_runs

MISFIRE_GRACE = 30 * 86400  # seconds: an overdue job still runs (once) after a month asleep
STOP_WAIT = 8.0


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


# Each job of the scheduler is the main job with some of its stages.
JOBS: dict[str, dict[str, Any]] = {
    "import": {"stages": ("import",)},
    "check": {"stages": ("import", "check", "capture"), "due_only": True},
    "wayback": {"stages": ("wayback",)},
    "verify": {"stages": ("verify",)},
}


class Service:
    """Runs jobs for the scheduler: each run opens its own connection (SQLite connections stay
    in their thread) and goes through the main job, which records it in ``runs``."""

    def __init__(self, settings: Settings, log: TextIO, stop: threading.Event) -> None:
        self.settings = settings
        self.log = log
        self.stop = stop
        self._active = 0
        self._idle = threading.Condition()
        self._import_lock = threading.Lock()  # the import and check jobs both import

    def run(self, name: str) -> None:
        """Run one job; a failure is recorded and logged, the service goes on."""
        with self._idle:
            if self.stop.is_set():  # handed to the executor just before the stop
                return
            self._active += 1
        started = time.monotonic()
        db = open_db(self.settings.db)
        try:
            summary = None
            error: str | None = None
            try:
                imports = "import" in JOBS[name]["stages"]
                with self._import_lock if imports else contextlib.nullcontext():
                    summary = run_main_job(
                        db,
                        self.settings,
                        job=name,
                        trigger="schedule",
                        only_changed_citations=True,
                        stop=self.stop,
                        **JOBS[name],
                    )
            except Interrupted:
                pass  # recorded as interrupted by the main job
            except Exception as exc:  # one failed run must not stop the service
                error = f"{type(exc).__name__}: {exc}"[:1000]
            self._log(name, summary, time.monotonic() - started, error)
        finally:
            db.close()
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, seconds: float) -> bool:
        """Wait for running jobs to finish; False if some are still running after ``seconds``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, seconds)

    def _log(self, job: str, summary: RunSummary | None, seconds: float, error: str | None) -> None:
        """One line per run (plain or JSON), then what changed, as ``archiver run`` prints it."""
        status = summary.status if summary is not None else ("failed" if error else "interrupted")
        counts = summary.counts() if summary is not None else {}
        if self.settings.log_format == "json":
            line = json.dumps(
                {
                    "time": utc_now(),
                    "job": job,
                    "run_id": summary.run_id if summary is not None else None,
                    "status": status,
                    "seconds": round(seconds, 2),
                    "counts": counts,
                    "changes": summary.changes if summary is not None else {},
                    "error": error,
                },
                ensure_ascii=False,
            )
            print(line, file=self.log, flush=True)
            return
        detail = " ".join(f"{key}={value}" for key, value in counts.items())
        line = f"{utc_now()} {job} {status} in {seconds:.1f}s {detail}".rstrip()
        if error:
            line += f" error: {error}"
        lines = [line, *(summary.lines() if summary is not None else [])]
        if summary is not None and summary.capture is not None:
            # Said once per run, as `archiver capture` says it (no browser found, …).
            lines.extend(f"  note: {note}" for note in summary.capture.notes)
        print("\n".join(lines), file=self.log, flush=True)


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
    private.make_dirs(path.parent)
    private.create_file(path)  # 0600 before SQLAlchemy's SQLite opens it
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
    private.make_dirs(path.parent)
    # Never through a symlink: one planted at the lock path would have us truncate and write
    # whatever it points to.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, private.FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArchiverError(
                f"{path}: the scheduler lock file is a symlink; remove it (archiver will not "
                "write through it) and start again"
            ) from None
        raise ArchiverError(f"{path}: cannot open the scheduler lock: {exc.strerror}") from None
    handle = os.fdopen(fd, "r+", encoding="utf-8")
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
        resume = close_interrupted_runs(db, "schedule")
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
