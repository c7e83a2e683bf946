"""JSON written row by row, byte for byte what ``json.dumps(..., ensure_ascii=False,
indent=2)`` writes for the whole list: a million rows go out as they are read, never held.

``json.dumps`` with ``indent`` runs the pure-Python encoder; rows of plain values are written
here with the C string encoder and a key prefix computed once per shape of row, about five
times faster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

_INDENT = "  "


def dumps(value: Any, level: int = 0) -> str:
    """``value`` as ``json.dumps(..., indent=2)`` writes it when nested ``level`` deep."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return text.replace("\n", "\n" + _INDENT * level) if level else text


def _scalar(value: Any, level: int) -> str:
    kind = type(value)
    if kind is str:
        return str(encode_basestring(value))
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return dumps(value, level)


def json_list(elements: Iterable[str], level: int = 0) -> Iterator[str]:
    """Pieces of a JSON list nested ``level`` deep, from its elements already encoded (each
    indented as its place in the list requires)."""
    first = True
    for element in elements:
        yield ("[\n" if first else ",\n") + element
        first = False
    yield "[]" if first else "\n" + _INDENT * level + "]"


def json_array(rows: Iterable[Mapping[str, Any]], level: int = 0) -> Iterator[str]:
    """Pieces of a JSON list of objects, nested ``level`` deep, one row at a time."""
    return json_list(_objects(rows, level + 1), level)


def _objects(rows: Iterable[Mapping[str, Any]], level: int) -> Iterator[str]:
    inner = _INDENT * level
    close = "\n" + inner + "}"
    prefixes: dict[tuple[str, ...], list[str]] = {}
    for row in rows:
        keys = tuple(row)
        if not keys:
            yield inner + "{}"
            continue
        prefix = prefixes.get(keys)
        if prefix is None:
            field = inner + _INDENT
            prefix = prefixes[keys] = [f"\n{field}{encode_basestring(k)}: " for k in keys]
        values = zip(prefix, row.values(), strict=True)
        yield inner + "{" + ",".join(p + _scalar(v, level + 1) for p, v in values) + close


@dataclass(frozen=True)
class SQLObject:
    """A column holding a JSON object or null, in SQL: the fields, ``(name, expression)``
    each, of the first variant whose condition holds; null when none does."""

    variants: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    def compact(self) -> str:
        """The object as SQLite's ``json_object`` writes it (for ``json_object`` rows)."""
        whens = " ".join(
            f"when {condition} then json_object("
            + ", ".join(f"'{name}', {expr}" for name, expr in fields)
            + ")"
            for condition, fields in self.variants
        )
        return f"case {whens} end"

    def indented(self, depth: int) -> str:
        """The object as ``json.dumps(..., indent=2)`` writes it as the value of a field
        ``depth`` indents deep."""
        whens = []
        for condition, fields in self.variants:
            parts = [
                f"'{',' if n else ''}\n{_INDENT * (depth + 1)}{encode_basestring(name)}: ' "
                f"|| json_quote({expr})"
                for n, (name, expr) in enumerate(fields)
            ]
            whens.append(
                f"when {condition} then '{{' || "
                + " || ".join(parts)
                + f" || '\n{_INDENT * depth}}}'"
            )
        return f"case {' '.join(whens)} else 'null' end"


def json_object_sql(columns: Iterable[tuple[str, str | SQLObject]], level: int = 0) -> str:
    """A SQL expression that writes a row of ``(name, expression)`` columns as one element of
    a JSON list nested ``level`` deep, byte for byte as ``json.dumps(..., indent=2)`` would.

    SQLite's ``json_quote`` escapes strings as Python's encoder does (UTF-8 kept, control
    characters escaped) and writes integers and NULL alike; the columns hold no floats.
    """
    inner = _INDENT * (level + 1)
    fields = [
        f"'{',' if n else ''}\n{inner}{_INDENT}{encode_basestring(name)}: ' || "
        + (expr.indented(level + 2) if isinstance(expr, SQLObject) else f"json_quote({expr})")
        for n, (name, expr) in enumerate(columns)
    ]
    return f"'{inner}{{' || " + " || ".join(fields) + f" || '\n{inner}}}'"
