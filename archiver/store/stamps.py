"""How times and hashes are written in the database, the same way by every stage."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path


def stamp(moment: datetime) -> str:
    """ISO 8601 in UTC, to the second.

    >>> stamp(datetime(2018, 4, 3, 10, 0, 0, 123, tzinfo=UTC))
    '2018-04-03T10:00:00+00:00'
    """
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def utc_now() -> str:
    """The current time as stored everywhere in the database."""
    return stamp(datetime.now(UTC))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read a megabyte at a time (WARC files can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
