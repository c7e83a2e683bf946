"""A source over time: its checks, and its main text when cited and now (for the dashboard)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from .status import stream_rows
from .textdiff import word_diff

# The most checks a timeline shows (the latest ones): a source checked daily for years has
# thousands, and the page must stay small.
MAX_CHECKS = 500


def check_history(db: Database, source_id: int, limit: int = MAX_CHECKS) -> list[dict[str, Any]]:
    """The source's latest checks, oldest first: when, the outcome, the HTTP status or the
    error, and whether it counted (a check during an outage does not)."""
    rows = stream_rows(
        db,
        "select checked_at, outcome, reason, status_code, error_type, counted from checks "
        "where source_id = ? order by id desc limit ?",
        [source_id, int(limit)],
    )
    found = list(rows)
    found.reverse()
    for row in found:
        row["counted"] = bool(row["counted"])
    return found


def text_change(db: Database, source_id: int, cited_capture_id: int | None) -> dict[str, Any]:
    """The main text of the copy kept for the citation (``cited_capture_id``, the local copy
    ``get`` names) beside the latest captured text, as a word diff: ``{from, to, diff}``, where
    from and to are ``{capture_id, captured_at}`` and diff is :func:`word_diff`'s answer, or
    None when there is nothing to compare (one capture with text, or none)."""
    texts = {
        row["capture_id"]: row
        for row in db.query(
            "select t.capture_id, c.captured_at, t.text from capture_texts t "
            "join captures c on c.id = t.capture_id where t.source_id = ? and t.capture_id in "
            "(?, (select max(capture_id) from capture_texts where source_id = ?))",
            [source_id, cited_capture_id, source_id],
        )
    }
    cited = texts.get(cited_capture_id) if cited_capture_id is not None else None
    latest = texts[max(texts)] if texts else None
    result: dict[str, Any] = {
        "from": _side(cited),
        "to": _side(latest),
        "diff": None,
    }
    if cited is not None and latest is not None and cited is not latest:
        result["diff"] = word_diff(cited["text"] or "", latest["text"] or "")
    return result


def _side(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"capture_id": row["capture_id"], "captured_at": row["captured_at"]} if row else None
