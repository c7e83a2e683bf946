"""A source's best copy, as ``get``, ``status`` and ``report`` show it: all of them read the
``best_*`` columns of its ``source_status`` row, which m011's triggers keep from the one
ranking of its copies (the ``source_copies`` view), through the SQL written here.

The object is ``{holds, kind, url or path, captured_at, drifted, reason}``; a local copy's
path is its WARC file under the data folder, which is the one parameter (``?``) the SQL
takes. Null when no copy holds the cited content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .jsonstream import SQLObject

_PATH = "? || '/' || m.best_path"
# The object's fields, in the order every format writes them, as SQL over the status row
# ``m``: its CSV columns, and what a row of plain values reads (one parameter: the data
# folder). A local copy has a path, any other a URL.
BEST_COPY_CSV: tuple[tuple[str, str], ...] = (
    ("best_copy_holds", "m.best_holds"),
    ("best_copy_kind", "m.best_kind"),
    ("best_copy_url", "m.best_url"),
    ("best_copy_path", f"case when m.best_kind = 'local' then {_PATH} end"),
    ("best_copy_captured_at", "m.best_at"),
    ("best_copy_drifted", "case when m.best_kind is not null then m.best_drifted end"),
    ("best_copy_reason", "m.best_reason"),
    # The other web archive holding it, when it is a memento (Memento); null otherwise.
    ("best_copy_archive", "m.best_archive"),
)
_KEYS = tuple(name.removeprefix("best_copy_") for name, _ in BEST_COPY_CSV)


def _json_fields(local: bool) -> tuple[tuple[str, str], ...]:
    """The object's fields as JSON values, for a local copy or another."""
    exprs = dict(zip(_KEYS, (expr for _, expr in BEST_COPY_CSV), strict=True))
    exprs["path"] = _PATH
    # json() of a constant is worked out once per query, not once per row.
    exprs["drifted"] = "iif(m.best_drifted, json('true'), json('false'))"
    del exprs["url" if local else "path"]
    return tuple(exprs.items())


# The object as JSON, written by SQLite (one parameter: the data folder).
BEST_COPY = SQLObject(
    (
        ("m.best_kind = 'local'", _json_fields(local=True)),
        ("m.best_kind is not null", _json_fields(local=False)),
    )
)
# For a table on a terminal: the kind, flagged when its text drifted, or "none".
BEST_COPY_SHORT = (
    "coalesce(m.best_kind || coalesce(' (' || m.best_archive || ')', '') "
    "|| iif(m.best_drifted, ' (drifted)', ''), 'none')"
)

NO_CONTENT = "no copy holds the cited content"


def folder_param(data_dir: Path) -> str:
    """The data folder as the SQL above joins it to a WARC file's relative path."""
    return str(Path(data_dir).resolve()).rstrip("/")


def best_copy_from(values: Iterable[Any]) -> dict[str, Any] | None:
    """The object from the values of the ``BEST_COPY_CSV`` columns, or None."""
    copy = dict(zip(_KEYS, values, strict=True))
    if copy["kind"] is None:
        return None
    del copy["url" if copy["kind"] == "local" else "path"]
    copy["drifted"] = bool(copy["drifted"])
    return copy


def with_best_copy(keys: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """Rows of values as dicts of ``keys``, their last values (the ``BEST_COPY_CSV``
    columns) folded into one ``best_copy``: a dict, or None."""
    n = len(keys)
    for values in rows:
        row = dict(zip(keys, values, strict=False))  # the first n values
        row["best_copy"] = best_copy_from(values[n:])
        yield row


def flat_best_copy(row: dict[str, Any]) -> dict[str, Any]:
    """A row's best copy (a dict, or None) as the ``BEST_COPY_CSV`` columns."""
    copy = row.get("best_copy") or {}
    flat = {name: copy.get(key) for (name, _), key in zip(BEST_COPY_CSV, _KEYS, strict=True)}
    if copy:
        flat["best_copy_drifted"] = int(copy["drifted"])
    return flat


def best_copy_of(db: Database, source_id: int, data_dir: Path) -> dict[str, Any] | None:
    """One source's best copy, as every view shows it."""
    select = ", ".join(expr for _, expr in BEST_COPY_CSV)
    values = db.execute(
        f"select {select} from source_status m where m.source_id = ?",
        [folder_param(data_dir), source_id],
    ).fetchone()
    return best_copy_from(values)


def no_content(last_ok_at: str | None) -> str:
    """What to say when no copy holds the cited content, plainly."""
    seen = (
        f"last seen with its content {last_ok_at}" if last_ok_at else "never seen with its content"
    )
    return f"{NO_CONTENT}; {seen}"
