"""The test network guard itself: what it lets through, what it stops, and that a stopped
attempt fails the test even when the code under test swallows the error."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import netguard
import pytest
import requests
from testweb import TestWeb

TESTS = Path(__file__).resolve().parent


def _take_violations() -> list[str]:
    """The violations so far, forgotten: these tests make them on purpose."""
    found = netguard.violations()
    netguard.clear()
    return found


def test_loopback_and_localhost_pass(web: TestWeb) -> None:
    assert requests.get(web.url("/article/x"), timeout=5).status_code == 200
    port = int(web.base.rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", port)}
    assert addresses <= {"127.0.0.1", "::1"}
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert netguard.violations() == []


def test_a_public_name_is_stopped_and_recorded() -> None:
    if netguard.resolve_all():
        infos = socket.getaddrinfo("example.org", 443, type=socket.SOCK_STREAM)
        assert {info[4][0] for info in infos} == {netguard.RESOLVE_ALL_ADDRESS}
    else:
        with pytest.raises(socket.gaierror) as caught:
            socket.getaddrinfo("example.org", 443)
        assert caught.value.errno == socket.EAI_NONAME  # what DNS says without internet
    # requests swallows nothing here, but a checker would: the record is what counts.
    with pytest.raises(requests.ConnectionError):
        requests.get("http://example.org/", timeout=5)
    found = _take_violations()
    assert any("'example.org'" in v for v in found)
    if netguard.resolve_all():
        assert any(
            f"connect to non-loopback address '{netguard.RESOLVE_ALL_ADDRESS}'" in v for v in found
        )


def test_a_public_address_is_never_connected_to() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError) as caught:
            sock.connect(("192.0.2.1", 80))
        assert caught.value.errno == errno.ENETUNREACH
        assert sock.connect_ex(("192.0.2.1", 80)) == errno.ENETUNREACH
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    found = _take_violations()
    assert len(found) == 3 and all("'192.0.2.1'" in v for v in found)


@pytest.mark.offline_names
def test_offline_names_fail_like_dns_without_internet_and_are_no_violation() -> None:
    for name in ("example.org", "a.kz", "source.invalid"):
        with pytest.raises(socket.gaierror) as caught:
            socket.getaddrinfo(name, 80)
        assert caught.value.errno == socket.EAI_NONAME
    assert netguard.violations() == []


@pytest.mark.offline_names("a.kz", ".invalid")
def test_offline_names_cover_only_the_names_given() -> None:
    for name in ("a.kz", "source.invalid", "x.y.invalid"):
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo(name, 80)
    assert netguard.violations() == []
    with netguard.offline_names("web.archive.org"), pytest.raises(socket.gaierror):
        socket.getaddrinfo("web.archive.org", 443)
    assert netguard.violations() == []
    with contextlib.suppress(socket.gaierror):
        socket.getaddrinfo("b.kz", 80)  # not named: a violation like any other
    assert [v.split(" (")[0] for v in _take_violations()] == ["resolved non-loopback name 'b.kz'"]


def test_a_name_a_test_maps_to_loopback_resolves_there(web: TestWeb) -> None:
    netguard.map_to_loopback("news.test", "127.0.0.1")
    port = web.base.rsplit(":", 1)[1]
    assert requests.get(f"http://news.test:{port}/article/x", timeout=5).status_code == 200
    with pytest.raises(ValueError):
        netguard.map_to_loopback("elsewhere.test", "192.0.2.1")
    assert netguard.violations() == []


def test_subprocesses_get_the_guard(tmp_path: Path) -> None:
    log = tmp_path / "violations.log"
    code = textwrap.dedent(
        """
        import socket
        try:
            socket.create_connection(("example.org", 80), timeout=2)
        except OSError as exc:
            print(type(exc).__name__)
        """
    )
    env = dict(os.environ) | netguard.subprocess_env(log)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "resolved non-loopback name 'example.org'" in log.read_text(encoding="utf-8")


def test_a_swallowed_violation_fails_the_test(tmp_path: Path) -> None:
    """What the guard is for: a checker turns the refusal into a verdict; the test still fails."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(
            """
            import socket
            import pytest

            def swallowed():
                try:
                    socket.getaddrinfo("example.org", 443)
                    socket.create_connection(("example.org", 443), timeout=1)
                except OSError:
                    return "dns_failure"

            def test_leaks():
                assert swallowed() == "dns_failure"

            @pytest.mark.offline_names
            def test_expects_offline_names():
                assert swallowed() == "dns_failure"
            """
        ),
        encoding="utf-8",
    )
    # -p conftest: tests/conftest.py (the guard, its hooks and fixtures) as a plugin.
    args = ["-q", "-p", "conftest", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, str(tmp_path / "test_leaky.py")],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    assert "the test tried to leave loopback" in done.stdout
    assert "resolved non-loopback name 'example.org'" in done.stdout
