"""What other places say about a source: each vantage point's answer at its latest check, and
each other web archive's memento (Memento), as ``get`` and the dashboard show them."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

CONTENT = ("ok", "redirected")


def vantages_of(db: Database, source_id: int) -> list[dict[str, Any]]:
    """Each vantage point's answer at the source's latest check (none when that check needed
    no second opinion): ``{vantage, reached, outcome, reason, http_status, error, checked_at}``."""
    return [
        {
            "vantage": row["vantage"],
            "reached": row["outcome"] in CONTENT,
            "outcome": row["outcome"],
            "reason": row["reason"],
            "http_status": row["status_code"],
            "error": row["error_type"],
            "checked_at": row["checked_at"],
        }
        for row in db.query(
            "select * from vantage_state where source_id = ? order by vantage", [source_id]
        )
    ]


def mementos_of(db: Database, source_id: int) -> list[dict[str, Any]]:
    """Each other web archive's memento of the source nearest its citation date:
    ``{archive, url, datetime, status, holds, holds_reason, via, endpoint, looked_up_at,
    error}``, those that hold the content first."""
    return [
        {
            "archive": row["archive"],
            "url": row["memento_url"],
            "datetime": row["memento_datetime"],
            "status": row["status"],
            "holds": row["holds"],
            "holds_reason": row["holds_reason"],
            "via": row["via"],
            "endpoint": row["endpoint"],
            "looked_up_at": row["looked_up_at"],
            "error": row["error_type"],
        }
        for row in db.query(
            "select * from memento_state where source_id = ? "
            "order by holds is not 'content', memento_url is null, archive",
            [source_id],
        )
    ]
