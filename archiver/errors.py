"""Exceptions archiver raises.

    ArchiverError                 every error archiver raises on purpose
    ├── ConfigError               a setting that cannot be read or has a bad value
    └── InputError                a report file that cannot be imported (names file and line)
        └── InvalidURL            a cited URL that does not parse

The CLI turns any ArchiverError into a one-line message and a non-zero exit.
"""

from __future__ import annotations

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


class InvalidURL(ValueError):
    """A cited URL that does not parse (raised by archiver.urls, wrapped in InputError)."""
