"""The SQLite store: opening it safely, and its schema as ``sqlite_utils`` migrations.

Tables (plain names, foreign keys and indexes, so the file reads well in Datasette):

- ``reports``: one row per report (id, title, date).
- ``sources``: one row per distinct URL, keyed by its canonical form.
- ``citations``: one row per URL in a footnote; removed footnotes keep their row (``removed_at``).
- ``citation_changes``: what each import added, updated, removed or restored, with old values.
- ``imports``: one row per import of a report file, with its counts and warnings.

Later stages add their own tables with further migrations; they do not rewrite these.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import ArchiverError

BUSY_TIMEOUT_MS = 30_000

migrations = Migrations("archiver")


@migrations()
def m001_reports_sources_citations(db: Database) -> None:
    db.table("reports").create(
        {"id": str, "title": str, "date": str, "created_at": str, "updated_at": str},
        pk="id",
        not_null={"id"},
    )
    db.table("sources").create(
        {
            "id": int,
            "canonical_url": str,
            "url": str,
            "host": str,
            "first_cited_at": str,
        },
        pk="id",
        not_null={"canonical_url", "url"},
    )
    db.table("sources").create_index(["canonical_url"], unique=True)
    db.table("sources").create_index(["host"])
    db.table("imports").create(
        {
            "id": int,
            "report_id": str,
            "path": str,
            "sha256": str,
            "format": str,
            "imported_at": str,
            "added": int,
            "updated": int,
            "removed": int,
            "restored": int,
            "unchanged": int,
            "markers_without_urls": str,
            "skipped": str,
        },
        pk="id",
        foreign_keys=[("report_id", "reports", "id")],
    )
    db.table("imports").create_index(["report_id"])
    db.table("citations").create(
        {
            "id": int,
            "report_id": str,
            "footnote": int,
            "position": int,
            "source_id": int,
            "url": str,
            "context": str,
            "accessed": str,
            "added_at": str,
            "updated_at": str,
            "removed_at": str,
        },
        pk="id",
        not_null={"report_id", "footnote", "position", "source_id", "url"},
        foreign_keys=[("report_id", "reports", "id"), ("source_id", "sources", "id")],
    )
    db.table("citations").create_index(["report_id", "footnote", "position"], unique=True)
    db.table("citations").create_index(["source_id"])
    db.table("citation_changes").create(
        {
            "id": int,
            "citation_id": int,
            "import_id": int,
            "change": str,
            "old_url": str,
            "old_context": str,
            "old_accessed": str,
        },
        pk="id",
        foreign_keys=[("citation_id", "citations", "id"), ("import_id", "imports", "id")],
    )
    db.table("citation_changes").create_index(["citation_id"])
    db.table("citation_changes").create_index(["import_id"])


def open_db(path: Path | str) -> Database:
    """Open (creating if needed) the database in WAL mode and bring its schema up to date."""
    path = Path(path)
    if path.is_dir():
        raise ArchiverError(f"{path}: is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        db.enable_wal()
        migrations.apply(db)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise ArchiverError(f"{path}: cannot open database: {exc}") from exc
    return db
