"""Shared fixtures: a real database file, and the CLI run in a clean folder and environment."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlite_utils import Database
from testweb import tls_web, web, web2  # noqa: F401 - fixtures for every test module
from wayback_standin import wayback_fixture  # noqa: F401 - the `wayback` fixture

from archiver.cli import cli
from archiver.store import open_db

REPO = Path(__file__).resolve().parents[1]
# The first report (text extracted from its PDF), kept with the tests: a clone has no ../shared.
SEED = REPO / "tests" / "data" / "000_227782df85e410f6.txt"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_db(tmp_path / "archive.sqlite")


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke ``archiver`` in tmp_path with no ARCHIVER_* variables from the outer environment."""
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("ARCHIVER_"):
            monkeypatch.delenv(name)

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


class At:
    """A clock stopped at one moment (its waits are real), for runs "days later"."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def write(path: Path, text: str | bytes) -> Path:
    """Write a test input file and return its path."""
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
