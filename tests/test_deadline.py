"""A fetch's wall-clock deadline covers DNS and every connect attempt, for both transports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from testweb import TestWeb

from archiver.net.fetch import Fetcher, FetchLimits
from archiver.net.http1 import LeanFetcher

TIMEOUT = 1.5
MARGIN = 0.6  # thread start, the watchdog's tick, a loaded machine
TRANSPORTS = [Fetcher, LeanFetcher]
Transport = type[Fetcher] | type[LeanFetcher]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Names this test's resolver knows: a list of addresses, or "hang" (a resolver that does
    not answer for long). Other names go to the guarded resolver as usual."""
    known: dict[str, Any] = {}
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        numeric = kwargs.get("flags", args[3] if len(args) > 3 else 0) & socket.AI_NUMERICHOST
        if name not in known or numeric:  # AI_NUMERICHOST never asks DNS
            return real(host, port, *args, **kwargs)
        if known[name] == "hang":
            release.wait(8.0)  # far past the deadline; released when the test ends
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))
            for address in known[name]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield known
    release.set()


def blackhole(address: str, port: int) -> Callable[[], None]:
    """A listener on ``address:port`` whose accept queue is full: a connect hangs (SYN dropped)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(0)
    filler = socket.socket()
    filler.connect((address, port))  # takes the one place in the queue

    def close() -> None:
        filler.close()
        server.close()

    return close


def timed(transport: Transport, url: str, **limits: Any) -> tuple[Any, float]:
    fetcher = transport(FetchLimits(timeout=TIMEOUT, **limits))
    started = time.monotonic()
    try:
        result = fetcher.fetch(url)
    finally:
        fetcher.close()
    return result, time.monotonic() - started


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_hanging_resolver_cannot_hold_a_fetch_past_its_deadline(
    answers: dict[str, Any], transport: Transport, allow_private: bool
) -> None:
    # A name of its own: lookups of one name in flight are shared, and the previous test's
    # lookup ends (released) while this one waits.
    name = f"slow-{transport.__name__.lower()}-{int(allow_private)}.test"
    answers[name] = "hang"
    result, elapsed = timed(transport, f"http://{name}/page", allow_private_networks=allow_private)
    assert result.error_type == "timeout", result.error_message
    assert elapsed < TIMEOUT + MARGIN


def test_the_resolve_function_is_the_one_to_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    """archiver.net.dns.getaddrinfo is the only blocking lookup; bounded by the deadline."""
    from archiver.net import dns

    release = threading.Event()

    def hang(host: str, port: int) -> list[Any]:
        release.wait(8.0)
        return []

    monkeypatch.setattr(dns, "getaddrinfo", hang)
    try:
        for transport in TRANSPORTS:
            result, elapsed = timed(transport, "http://hang.test/")
            assert result.error_type == "timeout" and elapsed < TIMEOUT + MARGIN
            assert "hang.test" in (result.error_message or "")
    finally:
        release.set()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_blackholed_addresses_share_the_deadline(
    answers: dict[str, Any], web: TestWeb, transport: Transport
) -> None:
    """Two addresses that never answer a connect, then one that works: the fetch gets there
    within one deadline (each address gets its share of what is left), not N x timeout."""
    port = int(web.base.rsplit(":", 1)[1])
    holes = [blackhole(address, port) for address in ("127.0.0.2", "127.0.0.3")]
    try:
        answers["many.test"] = ["127.0.0.2", "127.0.0.3", "127.0.0.1"]
        result, elapsed = timed(
            transport, f"http://many.test:{port}/article/x", allow_private_networks=True
        )
        assert result.status == 200, result.error_message
        assert elapsed < TIMEOUT + MARGIN

        answers["holes.test"] = ["127.0.0.2", "127.0.0.3"]
        result, elapsed = timed(
            transport, f"http://holes.test:{port}/article/x", allow_private_networks=True
        )
        assert result.error_type in ("timeout", "connect_timeout"), result.error_message
        assert elapsed < TIMEOUT + MARGIN
    finally:
        for close in holes:
            close()
