"""What each page of the dashboard shows, as plain data: read through the views, the same
functions the CLI prints from, so a page and its JSON twin say what ``--json`` says.

Each function returns the JSON twin (a superset of the CLI's ``--json`` output: the CLI's
keys, with their values, plus what the page adds) and the page's template renders it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ..errors import ArchiverError
from ..store.runs import run_rows
from ..views.history import check_history, text_change
from ..views.report import URGENCY, ordered_rows, report_overview, summary_counts
from ..views.retrieve import made_of, resolve_ref, search_text, source_copies
from ..views.status import report_rows

REPORTS_PER_PAGE = 100
ROWS_PER_PAGE = 200
CAPTURES_SHOWN = 50
SEARCH_RESULTS = 50
# The report's filters: a verdict as the report shows it, or every one that needs a copy.
FILTERS = (
    "broken",
    "dead",
    "blocked",
    "failing",
    "soft_404",
    "drifted",
    "redirected",
    "ok",
    "unchecked",
)


def reports_data(db: Database, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """``archiver reports --json`` (each row as it prints it), a page at a time, each row
    with its ``summary`` (as ``archiver report --json``), ``without_content`` and
    ``last_checked``; and how many pages there are."""
    rows = report_rows(db)
    pages = max(1, -(-len(rows) // REPORTS_PER_PAGE))
    shown = rows[(page - 1) * REPORTS_PER_PAGE : page * REPORTS_PER_PAGE]
    for row in shown:
        row["summary"] = summary_counts(db, row["report"])
        row.update(report_overview(db, row["report"]))
    return shown, pages


def report_data(
    db: Database, data_dir: Path, report_id: str, shown: str | None = None, page: int = 1
) -> dict[str, Any]:
    """``archiver report --report ID --format json`` (report, summary, rows), with the rows
    in footnote order, ``shown`` only (a verdict, or ``broken``: every one that needs a copy),
    a page at a time; each row adds the source's ``reason``, ``best_copy`` and ``local`` (the
    local copy's capture, for its replay)."""
    if shown is not None and shown not in FILTERS:
        raise ArchiverError(f"unknown filter {shown!r}; known: {', '.join(FILTERS)}")
    summary = summary_counts(db, report_id)  # also says when there is no such report
    meta = db.table("reports").get(report_id)
    wanted = (
        (lambda row: True)
        if shown is None
        else (lambda row: row["verdict"] in URGENCY)
        if shown == "broken"
        else (lambda row: row["verdict"] == shown)
    )
    matching = (
        row for row in ordered_rows(db, report_id, data_dir, by_urgency=False) if wanted(row)
    )
    start = (page - 1) * ROWS_PER_PAGE
    rows = list(itertools.islice(matching, start, start + ROWS_PER_PAGE + 1))
    more = len(rows) > ROWS_PER_PAGE
    rows = rows[:ROWS_PER_PAGE]
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["canonical_url"]
        if key not in found:
            source_id = resolve_ref(db, row["url"], None)[0]  # as `archiver get URL` finds it
            found[key] = {"source_id": source_id, **source_copies(db, source_id, data_dir)}
        copies = found[key]
        local = copies["local"]
        row["source_id"] = copies["source_id"]
        row["reason"] = copies["reason"]
        row["best_copy"] = copies["best_copy"]
        row["local"] = (
            {k: local[k] for k in ("capture_id", "captured_at", "holds")} if local else None
        )
    return {
        "report": report_id,
        "title": meta["title"],
        "date": meta["date"],
        "summary": summary,
        **report_overview(db, report_id),
        "filter": shown,
        "page": page,
        "more": more,
        "rows": rows,
    }


def source_data(db: Database, data_dir: Path, url: str) -> dict[str, Any]:
    """``archiver get URL --json``, plus the ``source_id``, its latest ``checks`` (oldest
    first), what each recent capture was ``made`` of (screenshot, provenance, …) and the
    ``text_change`` between the copy kept for the citation and the latest."""
    source_id = resolve_ref(db, url, None)[0]
    found = source_copies(db, source_id, data_dir)
    local = found["local"]
    found["source_id"] = source_id
    found["checks"] = check_history(db, source_id)
    found["made"] = [
        {"capture_id": c["capture_id"], **made_of(db, c["capture_id"], data_dir)}
        for c in found["captures"][:CAPTURES_SHOWN]
        if c["status"] != "failed"
    ]
    found["text_change"] = text_change(db, source_id, local["capture_id"] if local else None)
    return found


def search_data(db: Database, query: str, report_id: str | None) -> list[dict[str, Any]]:
    """``archiver search QUERY --json``: matching sources, best first, with snippet and
    footnotes."""
    if not query.strip():
        return []
    return list(search_text(db, query, report_id, limit=SEARCH_RESULTS))


def last_run(db: Database) -> dict[str, Any] | None:
    latest = run_rows(db, 1)
    return latest[0] if latest else None


def runs_data(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """``archiver runs --json``: the latest runs, newest first."""
    return run_rows(db, limit)


def capture_data(db: Database, capture_id: int) -> dict[str, Any]:
    """One capture, as the replay page names it."""
    row = next(db.table("captures").rows_where("id = ?", [capture_id]), None)
    if row is None:
        raise ArchiverError(f"no capture {capture_id}")
    return {
        "capture_id": capture_id,
        "source_id": row["source_id"],
        "url": row["url"],
        "final_url": row["final_url"],
        "captured_at": row["captured_at"],
        "status": row["status"],
        "holds": row["holds"],
        "method": row["method"],
        "sha256": row["payload_sha256"],
        "warc": row["warc_path"],
        "warc_sha256": row["warc_sha256"],
    }
