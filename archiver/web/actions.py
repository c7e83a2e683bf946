"""Check now, capture now, save to the Wayback Machine now: the dashboard's actions.

Each runs in one background thread, one at a time, through the main job's own function
(:func:`archiver.pipeline.run_main_job`, trigger ``web``), so it is recorded in ``runs`` and
takes the write lock in short transactions like every run: a scheduled run beside it waits
its turn for each write, never for the whole action.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import ArchiverError
from ..pipeline import run_main_job
from ..store import open_db

# Each action: the stage it runs, and the label people read.
ACTIONS = {
    "check": ("check", "Check now"),
    "capture": ("capture", "Capture now"),
    "wayback": ("wayback", "Save to the Wayback Machine now"),
}
# Actions waiting at once; more are refused (a page reloaded in a loop cannot queue forever).
MAX_QUEUED = 20
# Jobs remembered for their progress pages.
MAX_KEPT = 200


@dataclass
class Job:
    """One action asked for: what, on what, and how far it got."""

    id: str
    action: str
    report_id: str | None
    url: str | None
    state: str = "queued"  # queued, running, finished
    stage: str | None = None
    done: int = 0
    total: int | None = None
    run_id: int | None = None
    status: str | None = None  # the run's: ok, failed, interrupted
    error: str | None = None
    message: str = ""  # what the stage said (Wayback without keys: lookups only, …)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.id,
            "action": self.action,
            "report": self.report_id,
            "url": self.url,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "message": self.message,
            "counts": self.counts,
        }


class Runner:
    """The queue of actions and the thread that runs them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: queue.Queue[Job | None] = queue.Queue(MAX_QUEUED)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="archiver-actions", daemon=True)
        self._thread.start()

    def submit(self, action: str, report_id: str | None, url: str | None) -> Job:
        if action not in ACTIONS:
            raise ArchiverError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        if (report_id is None) == (url is None):
            raise ArchiverError("an action is for one report or one URL")
        job = Job(secrets.token_hex(8), action, report_id, url)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ArchiverError(
                f"{MAX_QUEUED} actions are waiting already; try again when they are done"
            ) from None
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[: max(0, len(self._jobs) - MAX_KEPT)]:
                if self._jobs[old].state == "finished":
                    del self._jobs[old]
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the running action to stop (it keeps what it finished) and wait for it."""
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue wakes the thread anyway
            self._queue.put_nowait(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None or self._stop.is_set():
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        stage = ACTIONS[job.action][0]
        job.state = "running"

        def on_progress(name: str) -> Any:
            job.stage, job.done, job.total = name, 0, None

            def update(done: int, total: int) -> None:
                job.done, job.total = done, total

            return update

        try:
            db = open_db(self.settings.db)
            try:
                summary = run_main_job(
                    db,
                    self.settings,
                    stages=[stage],
                    job=stage,
                    trigger="web",
                    report_id=job.report_id,
                    url=job.url,
                    force=stage == "capture",  # "capture now" means now, changed or not
                    stop=self._stop,
                    on_progress=on_progress,
                )
            finally:
                db.conn.close()
            job.run_id, job.status, job.counts = summary.run_id, summary.status, summary.counts()
            job.message = getattr(getattr(summary, stage), "message", "") or ""
            if summary.network_down:
                job.error = "the network looks down from here: no verdict was changed"
        except ArchiverError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # recorded in runs by run_main_job; the page says so
            traceback.print_exc()
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.state = "finished"
