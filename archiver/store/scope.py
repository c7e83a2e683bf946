"""Which sources a command is about: one report's, one URL's, some ids, or every cited one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from ..errors import ArchiverError
from ..urls import canonical_url


def require_report(db: Database, report_id: str) -> None:
    """Fail with the list of known reports when ``report_id`` is not one of them."""
    if next(db.table("reports").rows_where("id = ?", [report_id]), None) is None:
        known = (
            ", ".join(r["id"] for r in db.table("reports").rows_where(order_by="id")) or "none yet"
        )
        raise ArchiverError(f"no report {report_id!r} in the database (known: {known})")


def scoped_sources(
    db: Database,
    columns: str,
    report_id: str | None = None,
    url: str | None = None,
    source_ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``columns`` (over ``sources s`` left-joined to ``source_state st``) for the cited
    sources of one report, one URL, some source ids, or every current citation.
    """
    cited = "s.id in (select source_id from citations where removed_at is null)"
    where, params = cited, []
    if source_ids is not None:
        where, params = (
            f"{cited} and s.id in (select value from json_each(?))",
            [json.dumps(list(source_ids))],
        )
    elif report_id is not None:
        require_report(db, report_id)
        where = (
            "s.id in (select source_id from citations where report_id = ? and removed_at is null)"
        )
        params = [report_id]
    elif url is not None:
        where, params = "s.canonical_url = ?", [canonical_url(url)]
    rows = [
        dict(row)
        for row in db.query(
            f"select {columns} from sources s left join source_state st on st.source_id = s.id "
            f"where {where} order by s.id",
            params,
        )
    ]
    if url is not None and not rows:
        raise ArchiverError(f"{url} is not a cited source; import the report that cites it first")
    return rows
