"""Storing a parsed report: one transaction that adds, updates, removes and restores citations.

Re-importing the same file changes nothing. A footnote that disappears from the file is marked
removed (its row and history stay); one that comes back is restored.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from ..store.reports import refresh_cited_on, refresh_report_counts
from ..store.stamps import file_sha256, utc_now
from ..urls import canonical_url
from .model import CitedURL, ParsedReport


def report_id_from_path(path: Path) -> str:
    """A report id for a file that names none: its file name, lower-case, words joined by '-'."""
    slug = re.sub(r"[^\w]+", "-", path.stem.lower(), flags=re.UNICODE).strip("-")
    return slug or "report"


@dataclass
class ImportResult:
    """What one import changed, as ``archiver import --json`` prints it."""

    report: str
    path: str
    added: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    restored: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    markers_without_urls: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_report(
    db: Database,
    parsed: ParsedReport,
    *,
    report_id: str | None = None,
    title: str | None = None,
    date: str | None = None,
    file_format: str | None = None,
) -> ImportResult:
    """Store one parsed report in a single transaction; options win over what the file says.

    The report's stored citations are read once and compared in memory; what changed is
    written with one ``executemany`` per kind of change.
    """
    path = Path(parsed.path)
    rid = report_id or parsed.report_id or report_id_from_path(path)
    now = utc_now()
    result = ImportResult(
        report=rid,
        path=str(path),
        markers_without_urls=list(parsed.markers_without_urls),
        skipped=[asdict(s) for s in parsed.skipped],
    )
    conn = db.conn
    with db.atomic():
        redated = _upsert_report(conn, rid, title or parsed.title, date or parsed.date, now)
        import_id = _insert(
            conn,
            "imports",
            {
                "report_id": rid,
                "path": str(path),
                # None: built in code.
                "sha256": parsed.sha256 or (file_sha256(path) if path.is_file() else None),
                "format": file_format,
                "imported_at": now,
                "markers_without_urls": json.dumps(parsed.markers_without_urls),
                "skipped": json.dumps(result.skipped, ensure_ascii=False),
            },
        )
        existing = {
            (row[1], row[2]): row
            for row in conn.execute(f"select {_STORED} from citations where report_id = ?", [rid])
        }
        seen: set[tuple[int, int]] = set()
        added: list[CitedURL] = []
        changed: list[tuple[CitedURL, tuple[Any, ...]]] = []  # updated or restored
        # Every change in the order it is recorded: (kind, footnote and position, stored row
        # or None when added), and the citations that need a source, in file order.
        events: list[tuple[str, tuple[int, int], tuple[Any, ...] | None]] = []
        cited_sources: list[CitedURL] = []
        for cited in parsed.citations:
            key = (cited.footnote, cited.position)
            seen.add(key)
            row = existing.get(key)
            summary = {"footnote": cited.footnote, "position": cited.position, "url": cited.url}
            if row is None:
                added.append(cited)
                cited_sources.append(cited)
                events.append(("added", key, None))
                result.added.append(summary)
                continue
            differs = row[3] != cited.url or row[4] != cited.context or row[5] != cited.accessed
            if row[6] is None and not differs:
                result.unchanged += 1
                continue
            changed.append((cited, row))
            cited_sources.append(cited)
            if row[6] is not None:
                events.append(("restored", key, row))
                result.restored.append(summary)
            else:
                events.append(("updated", key, row))
                result.updated.append({**summary, "old_url": row[3]})
        removed = [
            row for key, row in sorted(existing.items()) if key not in seen and row[6] is None
        ]
        events += [("removed", (row[1], row[2]), row) for row in removed]
        result.removed = [{"footnote": r[1], "position": r[2], "url": r[3]} for r in removed]
        source_ids = _source_ids(conn, cited_sources, now)
        new_ids: dict[tuple[int, int], int] = {}
        if added:
            conn.executemany(
                "insert into citations (report_id, footnote, position, source_id, url, context, "
                "accessed, added_at, updated_at, removed_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, null)",
                [
                    (
                        rid,
                        c.footnote,
                        c.position,
                        source_ids[_canonical(c)],
                        c.url,
                        c.context,
                        c.accessed,
                        now,
                        now,
                    )
                    for c in added
                ],
            )
            new_ids = {
                (footnote, position): pk
                for pk, footnote, position in conn.execute(
                    "select id, footnote, position from citations where report_id = ?", [rid]
                )
            }
        if changed:
            conn.executemany(
                "update citations set url = ?, context = ?, accessed = ?, source_id = ?, "
                "updated_at = ?, removed_at = null where id = ?",
                [
                    (c.url, c.context, c.accessed, source_ids[_canonical(c)], now, row[0])
                    for c, row in changed
                ],
            )
        if removed:
            conn.executemany(
                "update citations set removed_at = ?, updated_at = ? where id = ?",
                [(now, now, row[0]) for row in removed],
            )
        conn.executemany(
            "insert into citation_changes (citation_id, import_id, change, old_url, old_context, "
            "old_accessed) values (?, ?, ?, ?, ?, ?)",
            [
                (new_ids[key], import_id, kind, None, None, None)
                if row is None
                else (row[0], import_id, kind, row[3], row[4], row[5])
                for kind, key, row in events
            ],
        )
        conn.execute(
            "update imports set added = ?, updated = ?, removed = ?, restored = ?, unchanged = ? "
            "where id = ?",
            [
                len(result.added),
                len(result.updated),
                len(result.removed),
                len(result.restored),
                result.unchanged,
                import_id,
            ],
        )
        if result.added or result.updated or result.removed or result.restored:
            refresh_report_counts(conn, rid)
        if result.added or result.updated or result.removed or result.restored or redated:
            # The sources cited before and after: a moved or removed citation may have been
            # the one that dated its source.
            refresh_cited_on(conn, [*(row[7] for row in existing.values()), *source_ids.values()])
    return result


# The stored columns of a citation that an import compares, in this order (rows are tuples).
_STORED = "id, footnote, position, url, context, accessed, removed_at, source_id"
# SQLite's smallest limit on parameters in one statement is 999.
_CHUNK = 500


def _upsert_report(
    conn: sqlite3.Connection, rid: str, title: str | None, date: str | None, now: str
) -> bool:
    """Store the report's title and date; True when its date changed (its sources' citation
    dates may have)."""
    current = conn.execute("select title, date from reports where id = ?", [rid]).fetchone()
    if current is None:
        conn.execute(
            "insert into reports (id, title, date, created_at, updated_at) values (?, ?, ?, ?, ?)",
            [rid, title, date, now, now],
        )
        return False
    changes = {
        k: v
        for k, v, old in (("title", title, current[0]), ("date", date, current[1]))
        if v and v != old
    }
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        conn.execute(
            f"update reports set {sets}, updated_at = ? where id = ?", [*changes.values(), now, rid]
        )
    return "date" in changes


def _canonical(cited: CitedURL) -> str:
    """The citation's canonical URL: as screened by read_report, else worked out now."""
    return cited.canonical or canonical_url(cited.url)


def _source_ids(conn: sqlite3.Connection, cited: list[CitedURL], now: str) -> dict[str, int]:
    """The source id of each citation's canonical URL; sources not stored yet are added, in
    the order first cited, with the URL as first cited."""
    first_url: dict[str, str] = {}
    for c in cited:
        first_url.setdefault(_canonical(c), c.url)
    canonicals = list(first_url)
    ids = _stored_source_ids(conn, canonicals)
    new = [canonical for canonical in canonicals if canonical not in ids]
    if new:
        conn.executemany(
            "insert into sources (canonical_url, url, host, first_cited_at) values (?, ?, ?, ?)",
            [(canonical, first_url[canonical], _host(canonical), now) for canonical in new],
        )
        ids.update(_stored_source_ids(conn, new))
    return ids


def _host(canonical: str) -> str | None:
    """``urlsplit(canonical).hostname``, worked out once per netloc: in ``scheme://netloc/…``
    (a canonical URL always has a path) the netloc ends at the path's first '/'."""
    parts = canonical.split("/", 3)
    if len(parts) < 3 or parts[1] or "?" in parts[2] or "#" in parts[2]:
        return urlsplit(canonical).hostname
    return _netloc_host(parts[2])


@functools.lru_cache(maxsize=1 << 16)
def _netloc_host(netloc: str) -> str | None:
    return urlsplit("//" + netloc).hostname


def _stored_source_ids(conn: sqlite3.Connection, canonicals: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(canonicals), _CHUNK):
        chunk = canonicals[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        ids.update(
            conn.execute(
                f"select canonical_url, id from sources where canonical_url in ({marks})", chunk
            ).fetchall()
        )
    return ids


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    """Insert a row into a table with an integer primary key and return that key."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    cursor = conn.execute(f"insert into {table} ({columns}) values ({marks})", list(row.values()))
    return int(cursor.lastrowid)  # type: ignore[arg-type]
