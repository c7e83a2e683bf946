"""Each report's counts, kept on its row: `archiver reports` reads them instead of counting
every citation of every report."""

from __future__ import annotations

import sqlite3

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
