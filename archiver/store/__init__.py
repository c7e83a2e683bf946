"""The SQLite store: the schema of every stage, how the file is opened, what a command is about.

It knows tables, not stages: nothing here imports check, capture, Wayback or the views.
"""

from .database import BUSY_TIMEOUT_MS, open_db, open_reader
from .migrations import migrations
from .scope import require_report, scoped_sources
from .stamps import file_sha256, stamp, utc_now

__all__ = [
    "BUSY_TIMEOUT_MS",
    "file_sha256",
    "migrations",
    "open_db",
    "open_reader",
    "require_report",
    "scoped_sources",
    "stamp",
    "utc_now",
]
