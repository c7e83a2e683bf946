"""Files archiver creates are its user's alone: 0600 files, 0700 folders it made, and a lock
file that is never written through a symlink."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.capture.warcfile import CaptureWarc
from archiver.config import Settings
from archiver.errors import ArchiverError
from archiver.schedule import acquire_lock, build_scheduler, lock_path, store_path
from archiver.store import open_db


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files default to 0644 and folders to 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "db" / "archive.sqlite"
    db = open_db(path)
    db["probe"].insert({"x": 1})  # WAL and shared memory exist while the connection is open
    try:
        for name in ("archive.sqlite", "archive.sqlite-wal", "archive.sqlite-shm"):
            assert mode(path.parent / name) == 0o600, name
        assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "db") == 0o700
    finally:
        db.close()


def test_folders_the_user_had_keep_their_mode(tmp_path: Path) -> None:
    mine = tmp_path / "shared"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    open_db(mine / "archive.sqlite").close()
    assert mode(mine) == 0o755
    assert mode(mine / "archive.sqlite") == 0o600


def test_captures_and_their_folders_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    target = data / "2025" / "11" / "25" / "capture.warc.gz"
    warc = CaptureWarc(target)
    assert mode(target.with_name(target.name + ".part")) == 0o600
    warc.close()
    assert mode(target) == 0o600
    for folder in (data, data / "2025", data / "2025" / "11", data / "2025" / "11" / "25"):
        assert mode(folder) == 0o700, folder


def test_scheduler_lock_and_job_store_are_private(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "db" / "archive.sqlite")
    lock = acquire_lock(settings.db)
    try:
        assert mode(lock_path(settings.db)) == 0o600
        assert mode(tmp_path / "db") == 0o700
    finally:
        lock.close()
    build_scheduler(settings)
    assert mode(store_path(settings.db)) == 0o600


def test_a_symlink_at_the_lock_path_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "archive.sqlite"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    lock_path(db).symlink_to(victim)
    with pytest.raises(ArchiverError, match="symlink"):
        acquire_lock(db)
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    # A dangling symlink must not create its target either.
    dangling = tmp_path / "other.sqlite"
    lock_path(dangling).symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(ArchiverError, match="symlink"):
        acquire_lock(dangling)
    assert not (tmp_path / "nowhere.txt").exists()
