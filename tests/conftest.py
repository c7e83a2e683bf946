"""Shared fixtures: a real database file, the CLI run in a clean folder and environment, and
the network guard that keeps every test on loopback (see tests/netguard.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import netguard
import pytest
from click.testing import CliRunner, Result
from memento_standin import archives  # noqa: F401 - the `archives` fixture
from sqlite_utils import Database
from testweb import tls_web, web, web2  # noqa: F401 - fixtures for every test module
from wayback_standin import wayback_fixture  # noqa: F401 - the `wayback` fixture

from archiver.cli import cli
from archiver.store import open_db

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SEED = DATA / "000_227782df85e410f6.txt"

# Before any test runs: no test may reach past loopback (names fail like DNS without internet).
netguard.install()

_SUBPROCESS_LOGS = pytest.StashKey[list[Path]]()
_REPORTED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "offline_names(*names): these names ('a.kz'; '.invalid' for a domain; none given:"
        " every name) are expected not to resolve, as on a machine without internet; their"
        " failed lookups are not network violations",
    )


def _offline_names(item: pytest.Item) -> tuple[str, ...]:
    """The names the test's ``offline_names`` marker expects not to resolve (``*``: all)."""
    marker = item.get_closest_marker("offline_names")
    if marker is None:
        return ()
    return tuple(marker.args) or ("*",)


def _violations(item: pytest.Item) -> list[str]:
    found = netguard.violations()
    for path in item.stash.get(_SUBPROCESS_LOGS, []):
        if path.is_file() and path.stat().st_size:
            found.append(f"in a subprocess ({path}):\n{path.read_text(encoding='utf-8')}")
    return found


def _fail_on_violations(item: pytest.Item, when: str) -> None:
    found = _violations(item)
    reported = item.stash.get(_REPORTED, 0)
    if len(found) > reported:
        item.stash[_REPORTED] = len(found)
        mode = " (ARCHIVER_TEST_RESOLVE_ALL mode)" if netguard.resolve_all() else ""
        pytest.fail(
            f"the test tried to leave loopback {when}{mode}:\n\n" + "\n".join(found[reported:]),
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        _fail_on_violations(item, "during the test")


@pytest.fixture(autouse=True)
def network_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if it (or a fixture) resolved a public name or connected off loopback.

    Violations left by an earlier test's threads are not dropped: they fail this one.
    """
    netguard.start_test(_offline_names(request.node))
    yield
    item = request.node
    try:
        _fail_on_violations(item, "in setup or teardown")
    finally:
        netguard.clear()
        netguard.start_test()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Violations outside tests/ (the archiver doctests) fail the run too."""
    left = netguard.violations()
    if left:
        print("\nnetwork guard: left loopback outside a test:\n" + "\n".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def subprocess_guard(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Environment for a Python subprocess that runs under the same network guard; its
    violations go to a file this test is failed on."""
    log = tmp_path / f"netguard-{len(request.node.stash.get(_SUBPROCESS_LOGS, []))}.log"
    request.node.stash.setdefault(_SUBPROCESS_LOGS, []).append(log)
    return netguard.subprocess_env(log, offline=_offline_names(request.node))


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_db(tmp_path / "archive.sqlite")


@pytest.fixture
def run_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Callable[..., Result]:
    """Invoke ``archiver`` in tmp_path with no ARCHIVER_* variables from the outer environment,
    and the Wayback Machine the test's local stand-in (the `wayback` fixture), never the real
    one, and no other web archive; ``env`` may point elsewhere."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ARCHIVER_"):
            monkeypatch.delenv(name)
    wayback = request.getfixturevalue("wayback")
    # Plain HTTP captures unless a test asks for the browser: a second or two saved per run.
    monkeypatch.setenv("ARCHIVER_BROWSER", "off")
    monkeypatch.setenv("ARCHIVER_WAYBACK_URL", wayback.base)
    monkeypatch.setenv("ARCHIVER_WAYBACK_AVAILABILITY_URL", wayback.url("/wayback/available"))
    # No Memento archive either: the public defaults are never contacted by tests.
    monkeypatch.setenv("ARCHIVER_MEMENTO_ARCHIVES", "")

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
