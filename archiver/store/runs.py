"""The ``runs`` table: one row per run of the main job or of one stage, from any caller.

A run is inserted as ``running`` when it starts and finished with its status, counts and
summary when it ends, each in its own short transaction, so ``archiver runs`` shows a run
while it is going on, and a run whose process died stays visible (``interrupted``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from .stamps import utc_now

# The message stored on a run whose process stopped before it could finish the row.
STOPPED_EARLY = "the process stopped before this run finished"


def start_run(db: Database, job: str, trigger: str) -> int:
    """Insert a ``running`` row for ``job`` (run, import, check, …) started by ``trigger``."""
    with db.atomic():
        return int(
            db.table("runs")
            .insert({"job": job, "trigger": trigger, "started_at": utc_now(), "status": "running"})
            .last_pk  # type: ignore[arg-type]
        )


def finish_run(
    db: Database,
    run_id: int,
    status: str,
    counts: dict[str, int],
    summary: dict[str, Any] | None,
    error: str | None,
) -> str:
    """Record how a run ended; returns the time it finished, as stored."""
    finished = utc_now()
    with db.atomic():
        db.table("runs").update(
            run_id,
            {
                "finished_at": finished,
                "status": status,
                "counts": json.dumps(counts),
                "summary": json.dumps(summary, ensure_ascii=False) if summary else None,
                "error": error,
            },
        )
    return finished


def run_rows(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first, with their counts decoded (summary left out: it is long)."""
    rows = []
    for row in db.query(
        "select id, job, trigger, started_at, finished_at, status, counts, error from runs "
        "order by id desc limit ?",
        [limit],
    ):
        row["counts"] = json.loads(row["counts"]) if row["counts"] else {}
        rows.append(row)
    return rows


def close_interrupted_runs(db: Database, trigger: str) -> set[str]:
    """Mark runs of ``trigger`` left ``running`` as interrupted; return the jobs whose last run
    was interrupted, to run again at once. Only the scheduler calls this: its lock guarantees
    that no run of its own is still going on, which nothing guarantees for CLI runs."""
    with db.atomic():
        db.execute(
            "update runs set status = 'interrupted', finished_at = ?, error = ? "
            "where status = 'running' and trigger = ?",
            [utc_now(), STOPPED_EARLY, trigger],
        )
    return {
        row["job"]
        for row in db.query(
            "select job, status from runs where id in "
            "(select max(id) from runs where trigger = ? group by job)",
            [trigger],
        )
        if row["status"] == "interrupted"
    }
