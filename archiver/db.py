"""The SQLite store: opening it safely, and its schema as ``sqlite_utils`` migrations.

Tables (plain names, foreign keys and indexes, so the file reads well in Datasette):

- ``reports``: one row per report (id, title, date).
- ``sources``: one row per distinct URL, keyed by its canonical form.
- ``citations``: one row per URL in a footnote; removed footnotes keep their row (``removed_at``).
- ``citation_changes``: what each import added, updated, removed or restored, with old values.
- ``imports``: one row per import of a report file, with its counts and warnings.
- ``check_runs``, ``checks``: every run of the link checker and every attempt it made.
- ``source_state``: each checked source's current verdict and what it rests on.
- ``reference_texts``: each source's first good page (compressed) and, once a later check
  found it changed, its main text: what drift is measured against.
- ``captures``, ``capture_resources``, ``warc_files``, ``capture_texts`` (with FTS5): local
  copies, every exchange stored in them, the WARC files with their hashes, and searchable text.
- ``wayback_snapshots``, ``wayback_state``, ``wayback_saves``, ``wayback_pauses``: copies in
  the Wayback Machine, the nearest and newest per source, Save Page Now jobs, rate-limit pauses.
- ``runs``: every scheduled job run (``archiver runs``): job, start, end, status, counts, error.

Later stages add their own tables with further migrations; they do not rewrite these.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import ArchiverError

BUSY_TIMEOUT_MS = 30_000

migrations = Migrations("archiver")


class _Database(Database):
    """sqlite-utils' Database, but a transaction takes the write lock when it begins.

    A deferred transaction (sqlite-utils' ``BEGIN``) that reads, then writes after another
    connection committed, fails at once with "database is locked" — the busy timeout does not
    apply. ``BEGIN IMMEDIATE`` waits its turn instead, so the scheduler and the CLI can write
    to the same file at the same time.
    """

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoint
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


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
        db = _Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        db.enable_wal()
        migrations.apply(db)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise ArchiverError(f"{path}: cannot open database: {exc}") from exc
    return db


@migrations()
def m002_checks(db: Database) -> None:
    """Link checking: every attempt (``checks``), per run (``check_runs``), current state."""
    db.table("check_runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "scope": str,
            "sources": int,
            "checked": int,
            "inconclusive": int,
            "message": str,
            "summary": str,
        },
        pk="id",
    )
    db.table("checks").create(
        {
            "id": int,
            "run_id": int,
            "source_id": int,
            "checked_at": str,
            "method": str,
            "status_code": int,
            "final_url": str,
            "redirects": str,
            "error_type": str,
            "error_message": str,
            "elapsed_ms": int,
            "ttfb_ms": int,
            "bytes_read": int,
            "truncated": int,
            "content_type": str,
            "content_hash": str,
            "text_hash": str,
            "ip": str,
            "outcome": str,
            "reason": str,
            "counted": int,
        },
        pk="id",
        foreign_keys=[("run_id", "check_runs", "id"), ("source_id", "sources", "id")],
    )
    db.table("checks").create_index(["source_id", "id"])
    db.table("checks").create_index(["run_id"])
    db.table("source_state").create(
        {
            "source_id": int,
            "verdict": str,
            "reason": str,
            "http_status": int,
            "final_url": str,
            "checked_at": str,
            "since": str,
            "last_ok_at": str,
            "drifted": int,
            "similarity": float,
            "failures": int,
            "failing_since": str,
            "etag": str,
            "last_modified": str,
            "content_type": str,
            "content_hash": str,
            "text_hash": str,
        },
        pk="source_id",
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("source_state").create_index(["verdict"])
    db.table("reference_texts").create(
        {
            "source_id": int,
            "taken_at": str,
            "content_hash": str,
            "body": bytes,
            "text_hash": str,
            "text": str,
        },
        pk="source_id",
        foreign_keys=[("source_id", "sources", "id")],
    )


@migrations()
def m003_captures(db: Database) -> None:
    """Local captures: WARC files, the exchanges in them, chain-of-custody facts, text."""
    db.table("captures").create(
        {
            "id": int,
            "source_id": int,
            "url": str,
            "captured_at": str,
            "status": str,
            "warc_path": str,
            "warc_sha256": str,
            "status_code": int,
            "final_url": str,
            "payload_sha256": str,
            "content_hash": str,
            "bytes": int,
            "truncated": int,
            "ip": str,
            "tls_subject": str,
            "tls_issuer": str,
            "tls_fingerprint": str,
            "error_type": str,
            "error_message": str,
            "title": str,
            "language": str,
            "published": str,
            "canonical_url": str,
            "author": str,
            "tool_version": str,
        },
        pk="id",
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("captures").create_index(["source_id", "id"])
    db.table("warc_files").create(
        {"path": str, "sha256": str, "capture_id": int, "created_at": str},
        pk="path",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("capture_resources").create(
        {
            "id": int,
            "capture_id": int,
            "url": str,
            "role": str,
            "status_code": int,
            "content_type": str,
            "payload_sha256": str,
            "bytes": int,
            "truncated": int,
            "record_id": str,
            "record_offset": int,
            "revisit_of": str,
        },
        pk="id",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("capture_resources").create_index(["capture_id"])
    db.table("capture_texts").create(
        {"capture_id": int, "source_id": int, "title": str, "text": str},
        pk="capture_id",
        foreign_keys=[("capture_id", "captures", "id"), ("source_id", "sources", "id")],
    )
    # unicode61 folds case for Cyrillic and Kazakh letters too, so "Синими" finds "синими".
    db.table("capture_texts").enable_fts(
        ["title", "text"], fts_version="FTS5", tokenize="unicode61", create_triggers=True
    )


@migrations()
def m004_wayback(db: Database) -> None:
    """Wayback Machine: snapshots found, nearest and newest copies, saves, pauses."""
    from .wayback import migrate

    migrate(db)


@migrations()
def m005_runs(db: Database) -> None:
    """Scheduled job runs: one row each, written when it starts and again when it ends."""
    db.table("runs").create(
        {
            "id": int,
            "job": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "counts": str,
            "error": str,
        },
        pk="id",
        not_null={"job", "started_at", "status"},
    )
    db.table("runs").create_index(["job", "id"])
