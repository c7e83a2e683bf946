import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from archiver.errors import ArchiverError
from archiver.store import migrations, open_db


def test_new_database_is_wal_with_schema_and_foreign_keys(tmp_path: Path) -> None:
    db = open_db(tmp_path / "sub" / "archive.sqlite")
    assert db.journal_mode == "wal"
    assert {"reports", "sources", "citations", "citation_changes", "imports"} <= set(
        db.table_names()
    )
    assert {fk.other_table for fk in db["citations"].foreign_keys} == {"reports", "sources"}
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    open_db(path)
    db = open_db(path)
    assert migrations.pending(db) == []
    names = [row["name"] for row in db["_sqlite_migrations"].rows]
    assert len(names) == len(set(names))


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db["citations"].insert(
            {"report_id": "nope", "footnote": 1, "position": 1, "source_id": 99, "url": "x"}
        )


def test_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database " * 200)
    with pytest.raises(ArchiverError, match=r"notes\.sqlite: cannot open database"):
        open_db(path)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiverError, match="is a folder"):
        open_db(tmp_path)
