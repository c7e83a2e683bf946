"""Files and folders only their owner may read: the database, captures, the scheduler's files.

The database holds every cited URL and run; captures hold the pages; on a shared machine the
default umask (022) would let every user read them. Files archiver creates get 0600, folders
it creates 0700 (the umask may only take more away). Folders that already existed, and files
that existed before, keep the mode their owner gave them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_dirs(path: Path) -> None:
    """``path`` and its missing parents, each created 0700; existing folders are not touched.

    (``os.makedirs(mode=...)`` gives the mode to the last folder only.)
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile


def create_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist yet (SQLite, SQLAlchemy and
    the WAL files after it then keep that mode); never through a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_new(path: Path) -> IO[bytes]:
    """``path`` opened for writing ("wb"), created 0600, never followed if it is a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, FILE_MODE), "wb")


def write_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet (a signing key: never overwritten), 0600, never
    through a symlink; ``FileExistsError`` if it is there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags, FILE_MODE), "wb") as f:
        f.write(data)


def write_bytes(path: Path, data: bytes) -> None:
    """``Path.write_bytes``, but a new file is 0600 and a symlink is not written through."""
    with open_new(path) as f:
        f.write(data)
