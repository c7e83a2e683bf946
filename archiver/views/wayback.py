"""What the store knows of each source's Wayback Machine copies, for status, report and get."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database


def nearest_copy(db: Database, source_id: int) -> dict[str, Any] | None:
    """The copy nearest the citation date, as ``archiver get --json`` shows it (or None)."""
    row = next(db.table("wayback_state").rows_where("source_id = ?", [source_id]), None)
    if row is None or row["nearest_timestamp"] is None:
        return None
    return {
        "url": row["nearest_url"],
        "timestamp": row["nearest_timestamp"],
        "status": row["nearest_status"],
    }


def copies(db: Database, source_id: int) -> list[dict[str, Any]]:
    """Every capture of a source the Archive told us about, oldest first, with what it
    holds."""
    return [
        dict(row)
        for row in db.query(
            "select timestamp, url, original, status, mimetype, digest, length, holds from "
            "wayback_copies where source_id = ? order by timestamp, id",
            [source_id],
        )
    ]
