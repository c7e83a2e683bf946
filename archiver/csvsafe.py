"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection").

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken by
Excel, LibreOffice and Google Sheets as the start of a formula (``=HYPERLINK(...)`` in a cited
page's title runs when the file is opened). Such a cell is written with a single quote before
it, which spreadsheets show as text and do not display.

The quote must not change what ``archiver import`` reads back from a file ``convert`` wrote, so
the prefix is reversible: a cell is quoted when, after any quotes it already begins with, it
starts with a risky character; reading removes one quote from exactly such a cell. ``"'=x"``
is written ``"''=x"`` and read back as ``"'=x"``; ``"'hello"`` is left as it is both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

RISKY = frozenset("=+-@\t\r")
# First characters worth a closer look: the risky ones and the quote that may precede them.
_LOOK = RISKY | {"'"}


def neutralise(value: Any) -> Any:
    """``value`` as safe to put in a spreadsheet cell; non-strings (numbers, None) unchanged.

    >>> neutralise("=1+1"), neutralise("-1"), neutralise("'=x"), neutralise("'a"), neutralise(-1)
    ("'=1+1", "'-1", "''=x", "'a", -1)
    """
    if value.__class__ is str and value[:1] in _LOOK and value.lstrip("'")[:1] in RISKY:
        return "'" + value
    return value


def restore(cell: str) -> str:
    """What :func:`neutralise` was given, from what it wrote (other cells unchanged).

    >>> restore("'=1+1"), restore("''=x"), restore("'a"), restore("=raw")
    ('=1+1', "'=x", "'a", '=raw')
    """
    if cell[:1] == "'" and cell.lstrip("'")[:1] in RISKY:
        return cell[1:]
    return cell


def safe_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with every cell neutralised; the row itself when none needs it (the common case)."""
    for value in row:
        if value.__class__ is str and value[:1] in _LOOK:
            return tuple(neutralise(v) for v in row)
    return row


def safe_rows(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows for a ``csv.writer``, neutralised one at a time as they are read."""
    return map(safe_row, rows)


def safe_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A row for a ``csv.DictWriter`` with every value neutralised."""
    return {key: neutralise(value) for key, value in row.items()}
