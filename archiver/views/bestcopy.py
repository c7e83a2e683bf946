"""A source's best copy, as ``get``, ``status`` and ``report`` show it: all of them read the
``best_*`` columns of its ``source_status`` row, which m011's triggers keep from the one
ranking of its copies (the ``source_copies`` view), through the SQL written here.

The object is ``{holds, kind, url or path, captured_at, drifted, reason}``; a local copy's
path is its WARC file under the data folder, which is the one parameter (``?``) the SQL
takes. Null when no copy holds the cited content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .jsonstream import SQLObject

# Over the status row ``m``.
_FIRST = (("holds", "m.best_holds"), ("kind", "m.best_kind"))
_REST = (
    ("captured_at", "m.best_at"),
    # json() of a constant is worked out once per query, not once per row.
    ("drifted", "iif(m.best_drifted, json('true'), json('false'))"),
    ("reason", "m.best_reason"),
)
_PATH = "? || '/' || m.best_path"
BEST_COPY = SQLObject(
    (
        ("m.best_kind = 'local'", (*_FIRST, ("path", _PATH), *_REST)),
        ("m.best_kind is not null", (*_FIRST, ("url", "m.best_url"), *_REST)),
    )
)
# The object's fields as CSV columns, in the same order (one parameter: the data folder).
BEST_COPY_CSV: tuple[tuple[str, str], ...] = (
    ("best_copy_holds", "m.best_holds"),
    ("best_copy_kind", "m.best_kind"),
    ("best_copy_url", "m.best_url"),
    ("best_copy_path", f"case when m.best_kind = 'local' then {_PATH} end"),
    ("best_copy_captured_at", "m.best_at"),
    ("best_copy_drifted", "case when m.best_kind is not null then m.best_drifted end"),
    ("best_copy_reason", "m.best_reason"),
)
# For a table on a terminal: the kind, flagged when its text drifted, or "none".
BEST_COPY_SHORT = "coalesce(m.best_kind || iif(m.best_drifted, ' (drifted)', ''), 'none')"

NO_CONTENT = "no copy holds the cited content"


def folder_param(data_dir: Path) -> str:
    """The data folder as the SQL above joins it to a WARC file's relative path."""
    return str(Path(data_dir).resolve()).rstrip("/")


def with_best_copy(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows whose ``best_copy`` (as SQLite's ``json_object`` wrote it) is a dict, or None."""
    for row in rows:
        text = row["best_copy"]
        row["best_copy"] = json.loads(text) if text is not None else None
        yield row


def flat_best_copy(row: dict[str, Any]) -> dict[str, Any]:
    """A row's best copy (a dict, or None) as the ``BEST_COPY_CSV`` columns."""
    copy = row.get("best_copy") or {}
    flat = {name: copy.get(name.removeprefix("best_copy_")) for name, _ in BEST_COPY_CSV}
    if copy:
        flat["best_copy_drifted"] = int(copy["drifted"])
    return flat


def best_copy_of(db: Database, source_id: int, data_dir: Path) -> dict[str, Any] | None:
    """One source's best copy, as every view shows it."""
    (text,) = db.execute(
        f"select {BEST_COPY.compact()} from source_status m where m.source_id = ?",
        [folder_param(data_dir), source_id],
    ).fetchone()
    return json.loads(text) if text is not None else None


def no_content(last_ok_at: str | None) -> str:
    """What to say when no copy holds the cited content, plainly."""
    seen = (
        f"last seen with its content {last_ok_at}" if last_ok_at else "never seen with its content"
    )
    return f"{NO_CONTENT}; {seen}"
