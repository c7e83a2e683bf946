"""What is stored, as rows for ``archiver status`` and ``archiver reports``."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from ..store import require_report
from .wayback import wayback_status

STATUS_COLUMNS = ("report", "footnote", "position", "url", "verdict", "reason", "since")


def citation_rows(db: Database, report_id: str | None = None) -> list[dict[str, Any]]:
    """One row per current (not removed) citation, in report and footnote order, with the
    source's verdict, its Wayback Machine copies and its newest local capture."""
    where = "where c.removed_at is null"
    params: list[Any] = []
    if report_id is not None:
        require_report(db, report_id)
        where += " and c.report_id = ?"
        params.append(report_id)
    sql = f"""
        select c.report_id as report, c.footnote, c.position, c.url,
               coalesce(st.verdict, 'unchecked') as verdict, st.reason, st.http_status,
               st.final_url, st.checked_at, st.since, st.last_ok_at,
               coalesce(st.drifted, 0) as drifted, s.canonical_url, c.context, c.accessed,
               c.source_id
        from citations c join sources s on s.id = c.source_id
        left join source_state st on st.source_id = s.id
        {where}
        order by c.report_id, c.footnote, c.position
    """
    rows = [dict(row) for row in db.query(sql, params)]
    wayback = wayback_status(db, sorted({row["source_id"] for row in rows}))
    # When each source was last captured in full: a local copy a reader can be given.
    local = {
        r["source_id"]: r["captured_at"]
        for r in db.query(
            "select source_id, max(captured_at) as captured_at from captures "
            "where status = 'captured' group by source_id"
        )
    }
    for row in rows:
        source_id = row.pop("source_id")
        row.update(wayback[source_id])
        row["local_captured_at"] = local.get(source_id)
    return rows


def report_rows(db: Database) -> list[dict[str, Any]]:
    """One row per report: its counts, and the markers its last import found without a URL."""
    sql = """
        select r.id as report, r.title, r.date,
          count(distinct case when c.removed_at is null then c.footnote end) as footnotes,
          count(case when c.removed_at is null then 1 end) as citations,
          count(distinct case when c.removed_at is null then c.source_id end) as sources,
          count(case when c.removed_at is not null then 1 end) as removed,
          (select i.markers_without_urls from imports i where i.report_id = r.id
           order by i.id desc limit 1) as markers_without_urls,
          (select max(i.imported_at) from imports i where i.report_id = r.id) as imported_at
        from reports r left join citations c on c.report_id = r.id
        group by r.id order by r.id
    """
    rows = []
    for row in db.query(sql):
        row = dict(row)
        row["markers_without_urls"] = json.loads(row["markers_without_urls"] or "[]")
        rows.append(row)
    return rows


def number_ranges(numbers: list[int]) -> str:
    """Write footnote numbers compactly for people.

    >>> number_ranges([31, 32, 33, 35, 40, 41])
    '31–33, 35, 40–41'
    """
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
