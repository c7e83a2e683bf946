"""Storing a parsed report: one transaction that adds, updates, removes and restores citations.

Re-importing the same file changes nothing. A footnote that disappears from the file is marked
removed (its row and history stay); one that comes back is restored.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

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

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.restored)

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
    """Store one parsed report in a single transaction; options win over what the file says."""
    path = Path(parsed.path)
    rid = report_id or parsed.report_id or report_id_from_path(path)
    now = utc_now()
    result = ImportResult(
        report=rid,
        path=str(path),
        markers_without_urls=list(parsed.markers_without_urls),
        skipped=[asdict(s) for s in parsed.skipped],
    )
    with db.atomic():
        _upsert_report(db, rid, title or parsed.title, date or parsed.date, now)
        import_id = _insert(
            db,
            "imports",
            {
                "report_id": rid,
                "path": str(path),
                "sha256": file_sha256(path) if path.is_file() else None,  # None: built in code
                "format": file_format,
                "imported_at": now,
                "markers_without_urls": json.dumps(parsed.markers_without_urls),
                "skipped": json.dumps(result.skipped, ensure_ascii=False),
            },
        )
        existing = {
            (row["footnote"], row["position"]): row
            for row in db.table("citations").rows_where("report_id = ?", [rid])
        }
        seen: set[tuple[int, int]] = set()
        for cited in parsed.citations:
            key = (cited.footnote, cited.position)
            seen.add(key)
            _store_citation(db, rid, cited, existing.get(key), import_id, now, result)
        for key, row in sorted(existing.items()):
            if key not in seen and row["removed_at"] is None:
                db.table("citations").update(row["id"], {"removed_at": now, "updated_at": now})
                _record_change(db, row, import_id, "removed")
                result.removed.append(_summary(row))
        db.table("imports").update(
            import_id,
            {
                "added": len(result.added),
                "updated": len(result.updated),
                "removed": len(result.removed),
                "restored": len(result.restored),
                "unchanged": result.unchanged,
            },
        )
    return result


def _upsert_report(db: Database, rid: str, title: str | None, date: str | None, now: str) -> None:
    table = db.table("reports")
    current = next(table.rows_where("id = ?", [rid]), None)
    if current is None:
        table.insert(
            {"id": rid, "title": title, "date": date, "created_at": now, "updated_at": now}
        )
        return
    changes = {k: v for k, v in (("title", title), ("date", date)) if v and v != current[k]}
    if changes:
        table.update(rid, {**changes, "updated_at": now})


def _source_id(db: Database, url: str, now: str) -> int:
    canonical = canonical_url(url)
    row = next(db.table("sources").rows_where("canonical_url = ?", [canonical], select="id"), None)
    if row is not None:
        return int(row["id"])
    pk = _insert(
        db,
        "sources",
        {
            "canonical_url": canonical,
            "url": url,
            "host": urlsplit(canonical).hostname,
            "first_cited_at": now,
        },
    )
    return int(pk)


def _store_citation(
    db: Database,
    rid: str,
    cited: CitedURL,
    row: dict[str, Any] | None,
    import_id: int,
    now: str,
    result: ImportResult,
) -> None:
    values = {"url": cited.url, "context": cited.context, "accessed": cited.accessed}
    summary = {"footnote": cited.footnote, "position": cited.position, "url": cited.url}
    if row is None:
        pk = _insert(
            db,
            "citations",
            {
                "report_id": rid,
                "footnote": cited.footnote,
                "position": cited.position,
                "source_id": _source_id(db, cited.url, now),
                **values,
                "added_at": now,
                "updated_at": now,
                "removed_at": None,
            },
        )
        _record_change(db, {"id": pk}, import_id, "added")
        result.added.append(summary)
        return
    differs = any(row[k] != v for k, v in values.items())
    if row["removed_at"] is None and not differs:
        result.unchanged += 1
        return
    change = "restored" if row["removed_at"] is not None else "updated"
    db.table("citations").update(
        row["id"],
        {
            **values,
            "source_id": _source_id(db, cited.url, now),
            "updated_at": now,
            "removed_at": None,
        },
    )
    _record_change(db, row, import_id, change)
    if change == "restored":
        result.restored.append(summary)
    else:
        result.updated.append({**summary, "old_url": row["url"]})


def _record_change(db: Database, row: dict[str, Any], import_id: int, change: str) -> None:
    db.table("citation_changes").insert(
        {
            "citation_id": row["id"],
            "import_id": import_id,
            "change": change,
            "old_url": row.get("url"),
            "old_context": row.get("context"),
            "old_accessed": row.get("accessed"),
        }
    )


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {"footnote": row["footnote"], "position": row["position"], "url": row["url"]}


def _insert(db: Database, table: str, row: dict[str, Any]) -> int:
    """Insert a row into a table with an integer primary key and return that key."""
    return int(db.table(table).insert(row).last_pk)  # type: ignore[arg-type]
