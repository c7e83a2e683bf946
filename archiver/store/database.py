"""Opening the SQLite store safely: WAL, a busy timeout, foreign keys, the schema up to date."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from ..errors import ArchiverError
from .migrations import migrations
from .private import create_file, make_dirs

BUSY_TIMEOUT_MS = 30_000
# SQLite's page cache, in KiB (its default is 2 MB): a view of a million citations reads one
# source row per citation, and 16 MB keeps the hot pages of an 800 MB file in memory.
CACHE_KIB = 16_000


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


def open_db(path: Path | str) -> Database:
    """Open (creating if needed) the database in WAL mode and bring its schema up to date."""
    path = Path(path)
    if path.is_dir():
        raise ArchiverError(f"{path}: is a folder, not a database file")
    try:
        make_dirs(path.parent)
        create_file(path)  # 0600 before SQLite opens it; -wal and -shm take its mode
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = _Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        db.enable_wal()
        migrations.apply(db)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise ArchiverError(f"{path}: cannot open database: {exc}") from exc
    return db


def open_reader(path: Path | str) -> Database:
    """Open an existing database to read only, for one request of the dashboard: no schema
    change, no write (``query_only``), the same busy timeout. In WAL mode a reader never waits
    for a writer, nor a writer for it, so pages read while a scheduled run writes."""
    path = Path(path)
    if not path.is_file():
        raise ArchiverError(f"{path}: no database here yet: run `archiver import` first")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = _Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        db.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        raise ArchiverError(f"{path}: cannot open database: {exc}") from exc
    return db
