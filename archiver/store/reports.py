"""Each report's counts, kept on its row: `archiver reports` reads them instead of counting
every citation of every report; and the date each cited source was first cited, kept on its
status row for the ranking of its copies."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

_COUNT = """
    update reports set (footnotes, citations, sources, removed) = (
        select count(distinct case when c.removed_at is null then c.footnote end),
               count(case when c.removed_at is null then 1 end),
               count(distinct case when c.removed_at is null then c.source_id end),
               count(case when c.removed_at is not null then 1 end)
        from citations c where c.report_id = reports.id)
    where id = ?
"""


def refresh_report_counts(conn: sqlite3.Connection, report_id: str) -> None:
    """Recount one report's footnotes, citations, sources and removed citations; call it in
    the transaction that changed them."""
    conn.execute(_COUNT, [report_id])


# The earliest access date of a source's current citations, else their report's date: the
# moment its copies are measured from (m011's source_copies, and the Wayback lookup).
_CITED_ON = """
    update source_status set cited_on = (
        select min(coalesce(c.accessed, r.date)) from citations c
        join reports r on r.id = c.report_id
        where c.source_id = source_status.source_id and c.removed_at is null)
    where source_id in (select value from json_each(?))
"""


def refresh_cited_on(conn: sqlite3.Connection, source_ids: Iterable[int]) -> None:
    """Work out again when each of these sources was first cited (its best copy follows, by
    trigger); call it in the transaction that changed their citations or their reports' dates."""
    conn.execute(_CITED_ON, [json.dumps(sorted(set(source_ids)))])
