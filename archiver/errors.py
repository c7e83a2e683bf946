"""Exceptions archiver raises, every one an ArchiverError.

    ArchiverError                 every error archiver raises on purpose
    ├── ConfigError               a setting that cannot be read or has a bad value
    ├── InputError                a report file that cannot be imported (names file and line)
    ├── InvalidURL                a cited URL that does not parse (also a ValueError)
    ├── StorageError              a file archiver writes or reads cannot be (disk full, a folder
    │                             that is not writable); names the path
    ├── Interrupted               a run was asked to stop (scheduler shutdown) while it waited
    ├── ParseTimeout              reading a page's text ran past ``parse_timeout`` and was
    │                             abandoned (check and capture store it as the source's result)
    └── WaybackError              a call to the Wayback Machine that did not get its answer
        ├── CallFailed            no usable answer; ``error_type`` and ``message`` are data
        └── Paused                that kind of call is paused until ``until`` after a 429

The CLI turns any ArchiverError into a one-line message and a non-zero exit. Failures of one
source (a fetch that timed out, an address the guard refused) are not exceptions: they are
results, stored as ``error_type`` and ``error_message``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class ArchiverError(Exception):
    """Base of every error archiver raises on purpose."""


class ConfigError(ArchiverError):
    """A setting that cannot be read or has a bad value."""


class InputError(ArchiverError):
    """A report file that cannot be imported; the message names the file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class InvalidURL(ArchiverError, ValueError):
    """A cited URL that does not parse (raised by archiver.urls, wrapped in InputError)."""


class StorageError(ArchiverError):
    """A file that cannot be written or read; the message names it and says why."""

    def __init__(self, path: str | Path, exc: OSError) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {exc.strerror or exc}")


class Interrupted(ArchiverError):
    """A run was asked to stop while it waited; what it finished is stored."""


class ParseTimeout(ArchiverError):
    """A whole-document parse of a page ran past its time and was abandoned to finish alone."""


class WaybackError(ArchiverError):
    """A call to the Wayback Machine that did not get the answer it asked for."""


class CallFailed(WaybackError):
    """A call to the Archive that got no usable answer; type and message are stored as data.

    network: the Archive was not reached at all (refused, DNS, connect timeout).
    """

    def __init__(self, error_type: str, message: str, *, network: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.network = network


class Paused(WaybackError):
    """This kind of call is paused until ``until`` after a 429 (or a "too many" refusal)."""

    def __init__(self, kind: str, until: datetime) -> None:
        when = until.isoformat(timespec="seconds")
        super().__init__(f"{kind} calls to the Wayback Machine are paused until {when}")
        self.kind = kind
        self.until = until
