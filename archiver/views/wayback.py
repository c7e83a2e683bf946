"""What the store knows of each source's Wayback Machine copies, for status, report and get."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from ..wayback.timestamps import iso_from_timestamp


def wayback_status(db: Database, source_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The Wayback fields ``archiver status`` shows for each source (None where unknown).

    wayback_url, wayback_timestamp: the copy nearest the citation date. wayback_newest: the
    newest copy's timestamp, counting our own saves. wayback_save: the latest save's state, or
    "none". wayback_saved_at: when our latest successful save was captured (ISO 8601, UTC).
    """
    ids = json.dumps(source_ids)
    states = {
        r["source_id"]: r
        for r in db.query(
            "select * from wayback_state where source_id in (select value from json_each(?))",
            [ids],
        )
    }
    latest = {
        r["source_id"]: r["state"]
        for r in db.query(
            "select source_id, state from wayback_saves where id in (select max(id) from "
            "wayback_saves where source_id in (select value from json_each(?)) group by source_id)",
            [ids],
        )
    }
    saved = {
        r["source_id"]: r["timestamp"]
        for r in db.query(
            "select source_id, max(timestamp) as timestamp from wayback_saves where state = "
            "'saved' and source_id in (select value from json_each(?)) group by source_id",
            [ids],
        )
    }
    result = {}
    for source_id in source_ids:
        state = states.get(source_id) or {}
        newest = max(
            filter(None, [state.get("newest_timestamp"), saved.get(source_id)]), default=None
        )
        result[source_id] = {
            "wayback_url": state.get("nearest_url"),
            "wayback_timestamp": state.get("nearest_timestamp"),
            "wayback_newest": newest,
            "wayback_save": latest.get(source_id, "none"),
            "wayback_saved_at": iso_from_timestamp(saved[source_id])
            if source_id in saved
            else None,
        }
    return result


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
    """Every capture of a source the Archive told us about, oldest first."""
    return [
        dict(row)
        for row in db.query(
            "select timestamp, url, original, status, mimetype, digest, length from "
            "wayback_snapshots where source_id = ? order by timestamp, id",
            [source_id],
        )
    ]
