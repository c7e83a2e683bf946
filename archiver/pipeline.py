"""The main job, written once: import → check → capture → Wayback, and every run recorded.

The CLI (``archiver run`` and each stage command), the scheduler's jobs and any Python caller
all run work through :func:`run_main_job`, with the stages they want; each call is one
``runs`` row (``archiver runs``) holding its counts and summary, and returns a
:class:`RunSummary` whose :meth:`~RunSummary.lines` are what the CLI prints and the
scheduler logs. "What changed" is computed in one place (:mod:`archiver.views.changes`) over
the sources the run was about.

When the check finds our own network down, the run stops there: capture and Wayback would
only fail the same way, and no verdict was changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .cadence import parse_duration
from .clock import SYSTEM_CLOCK, Clock, Progress
from .config import Settings
from .errors import ArchiverError, Interrupted
from .ingest import detect_format, read_report
from .ingest.importer import ImportResult, import_report
from .store import file_sha256, runs, scoped_sources
from .textsafe import shown
from .views.changes import KINDS, changes, source_states

# Stages in the order the main job runs them.
STAGES = ("import", "check", "capture", "wayback", "verify")
MAIN_JOB = ("import", "check", "capture", "wayback")
TRIGGERS = ("cli", "schedule", "library", "web")
# How many URLs of each kind of change the summary lines list.
MAX_LISTED = 50
# The most a source may count as due before its cadence has passed (see due_sources).
MAX_DUE_SLACK = timedelta(hours=1)

StageProgress = Callable[[str], Progress | None]


@dataclass
class RunSummary:
    """What one run did, stage by stage, and what changed; ``archiver runs --json`` stores it.

    job: the command or scheduler job (run, check, capture, wayback, archive, verify, import).
    status: ok, failed (``error`` says why) or interrupted (a stop or Ctrl-C).
    network_down: the check found our network down, so nothing after it ran.
    """

    run_id: int
    job: str
    trigger: str
    stages: list[str]
    status: str = "running"
    started_at: str = ""
    finished_at: str | None = None
    network_down: bool = False
    skipped: str = ""
    error: str | None = None
    imports: list[ImportResult] = field(default_factory=list)
    check: Any = None
    capture: Any = None
    wayback: Any = None
    verify: Any = None
    changes: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The numbers a log line and ``archiver runs`` show, the same for every caller."""
        counts: dict[str, int] = {}
        if "import" in self.stages:
            counts["imported"] = len(self.imports)
            counts["added"] = sum(len(r.added) for r in self.imports)
            counts["removed"] = sum(len(r.removed) for r in self.imports)
        if self.check is not None:
            counts["checked"] = self.check.checked
            counts["inconclusive"] = int(self.check.inconclusive)
        if self.capture is not None:
            counts["captured"] = self.capture.captured + self.capture.revisits
            counts["capture_failed"] = self.capture.failed
        if self.wayback is not None:
            counts["looked_up"] = self.wayback.looked_up
            counts["saved"] = self.wayback.saved
            counts["save_failed"] = self.wayback.failed
        if self.verify is not None:
            counts["files"] = self.verify.files
            counts["problems"] = len(self.verify.problems)
        if self.changes:
            counts.update({kind: len(self.changes[kind]) for kind in KINDS})
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job": self.job,
            "trigger": self.trigger,
            "stages": self.stages,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "network_down": self.network_down,
            "skipped": self.skipped,
            "error": self.error,
            "counts": self.counts(),
            "imports": [r.as_dict() for r in self.imports],
            **{
                stage: part.as_dict() if part is not None else None
                for stage, part in (
                    ("check", self.check),
                    ("capture", self.capture),
                    ("wayback", self.wayback),
                    ("verify", self.verify),
                )
            },
            "changes": self.changes,
        }

    def lines(self) -> list[str]:
        """What changed, in one line and a list: the main job's last words, and its log."""
        if not self.changes:
            return []
        out = [
            "Since the last run: "
            + ", ".join(f"{len(self.changes[kind])} {kind.replace('_', ' ')}" for kind in KINDS)
            + "."
        ]
        for kind in KINDS:
            if kind == "newly_archived":
                continue  # good news needs no list
            for url in self.changes[kind][:MAX_LISTED]:
                out.append(f"  {kind.replace('_', ' ')}: {shown(url)}")
        return out


def run_main_job(
    db: Database,
    settings: Settings,
    *,
    stages: Sequence[str] = MAIN_JOB,
    job: str = "run",
    trigger: str = "library",
    report_id: str | None = None,
    url: str | None = None,
    force: bool = False,
    due_only: bool = False,
    lookup: bool = True,
    save: bool = True,
    only_changed_citations: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event | None = None,
    on_progress: StageProgress | None = None,
) -> RunSummary:
    """Run ``stages`` (in the main job's order) as one recorded run, and say what changed.

    report_id, url: only these sources (check, capture, Wayback, verify).
    force: capture every selected source, changed or not.
    due_only: check only the sources due by their verdict's cadence (the scheduler's way).
    lookup, save: the Wayback stage's two halves.
    only_changed_citations: import the ``citations`` file only when it changed since its
    last import (the scheduler's way; a person running ``archiver run`` sees it imported).
    on_progress: given a stage's name, the (done, total) callback for that stage, or None.
    """
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        raise ArchiverError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    if trigger not in TRIGGERS:
        raise ArchiverError(f"unknown trigger {trigger!r}; known: {', '.join(TRIGGERS)}")
    ordered = [stage for stage in STAGES if stage in stages]
    if "import" in ordered and not settings.citations.exists():
        raise ArchiverError(
            f"{settings.citations}: citations file not found; run from the project folder, "
            "or set `citations` in archiver.toml or ARCHIVER_CITATIONS"
        )
    summary = RunSummary(runs.start_run(db, job, trigger), job, trigger, ordered)
    summary.started_at = db.table("runs").get(summary.run_id)["started_at"]
    work = _Work(
        db, settings, summary, report_id, url, force, due_only, lookup, save,
        only_changed_citations, clock, stop, on_progress,
    )  # fmt: skip
    try:
        work.run()
    except (Interrupted, KeyboardInterrupt):
        summary.status = "interrupted"
        _finish(db, summary)
        raise
    except BaseException as exc:
        summary.status = "failed"
        summary.error = f"{type(exc).__name__}: {exc}"[:1000]
        _finish(db, summary)
        raise
    interrupted = any(
        getattr(part, "interrupted", False)
        for part in (summary.check, summary.capture, summary.wayback)
    )
    summary.status = "interrupted" if interrupted else "ok"
    _finish(db, summary)
    return summary


@dataclass
class _Work:
    """One call of the main job: what it was asked, and a method per stage."""

    db: Database
    settings: Settings
    summary: RunSummary
    report_id: str | None
    url: str | None
    force: bool
    due_only: bool
    lookup: bool
    save: bool
    only_changed_citations: bool
    clock: Clock
    stop: threading.Event | None
    on_progress: StageProgress | None

    def run(self) -> None:
        stages = self.summary.stages
        if "import" in stages:
            self.summary.imports = import_citations(
                self.db, self.settings.citations, self.only_changed_citations
            )
        judged = {"check", "capture", "wayback"} & set(stages)
        before = source_states(self.db, self.report_id, self.url) if judged else {}
        if "check" in stages:
            self._check()
        if "capture" in stages and self._going_on():
            self._capture()
        if "wayback" in stages and self._going_on():
            self._wayback()
        if "verify" in stages:
            from .capture.verify import verify_captures

            self.summary.verify = verify_captures(self.db, self.settings.data_dir, self.report_id)
        if judged:
            self.summary.changes = changes(before, source_states(self.db, self.report_id, self.url))

    def _going_on(self) -> bool:
        """Not after the check found our network down, nor once asked to stop."""
        return not self.summary.network_down and not (self.stop is not None and self.stop.is_set())

    def _progress(self, stage: str) -> Progress | None:
        return self.on_progress(stage) if self.on_progress is not None else None

    def _check(self) -> None:
        from .check import check_options, check_sources

        due = None
        if self.due_only:
            due = due_sources(
                self.db,
                self.clock.now(),
                check_every=parse_duration(self.settings.check_every),
                failing_every=parse_duration(self.settings.recheck_failing_every) or 0.0,
                dead_every=parse_duration(self.settings.recheck_dead_every) or 0.0,
            )
        check = check_sources(
            self.db,
            check_options(self.settings),
            report_id=self.report_id,
            url=self.url,
            source_ids=due,
            clock=self.clock,
            stop=self.stop,
            on_progress=self._progress("check"),
        )
        self.summary.check = check
        if check.inconclusive:
            self.summary.network_down = True
            self.summary.skipped = "capture and Wayback: the network is unreachable from here"

    def _capture(self) -> None:
        from .capture import capture_options, capture_sources

        self.summary.capture = capture_sources(
            self.db,
            capture_options(self.settings),
            report_id=self.report_id,
            url=self.url,
            force=self.force,
            clock=self.clock,
            stop=self.stop,
            on_progress=self._progress("capture"),
        )

    def _wayback(self) -> None:
        from .wayback import lookup_and_save, wayback_options

        wayback = self.summary.wayback = lookup_and_save(
            self.db,
            wayback_options(self.settings),
            report_id=self.report_id,
            url=self.url,
            do_lookup=self.lookup,
            do_save=self.save,
            clock=self.clock,
            stop=self.stop,
            on_progress=self._progress("wayback"),
        )
        if self.lookup and not wayback.interrupted and not wayback.archive_unreachable:
            self._mementos(wayback)

    def _mementos(self, wayback: Any) -> None:
        """The other web archives (Memento), asked after the Wayback Machine's lookups, in
        the same stage and within the same budgets."""
        from .memento.client import memento_options
        from .memento.lookup import lookup_mementos

        options = memento_options(self.settings)
        if not options.archives:
            return
        found = lookup_mementos(
            self.db,
            options,
            report_id=self.report_id,
            url=self.url,
            clock=self.clock,
            stop=self.stop,
        )
        wayback.interrupted = wayback.interrupted or found.interrupted
        wayback.memento = found.as_dict()
        wayback.message = "; ".join(m for m in (wayback.message, found.message) if m)


def _finish(db: Database, summary: RunSummary) -> None:
    summary.finished_at = runs.finish_run(
        db, summary.run_id, summary.status, summary.counts(), summary.as_dict(), summary.error
    )


def import_citations(db: Database, path: Path, only_if_changed: bool) -> list[ImportResult]:
    """Import the ``citations`` file (every report in it), in the format its name says.

    only_if_changed: skip a file whose SHA-256 is that of its last import.
    """
    if only_if_changed and file_sha256(path) == _imported_sha256(db, path):
        return []
    file_format = detect_format(path)
    return [import_report(db, parsed, file_format=file_format) for parsed in read_report(path)]


def _imported_sha256(db: Database, path: Path) -> str | None:
    row = next(
        db.query("select sha256 from imports where path = ? order by id desc limit 1", [str(path)]),
        None,
    )
    return row["sha256"] if row else None


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
    for row in scoped_sources(db, "s.id, st.verdict, st.checked_at"):
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
