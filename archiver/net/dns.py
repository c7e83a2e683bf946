"""Name lookups and connects that keep to a fetch's wall-clock deadline.

``getaddrinfo`` cannot be interrupted, and a resolver that does not answer holds its caller
for as long as the system's resolver retries (tens of seconds). So a lookup runs in a thread
of its own and the fetch waits for it only until its deadline; a lookup still going by then is
left to finish on its own, and concurrent lookups of the same name share one thread, so a
hanging name costs one thread, not one per fetch. Address literals need no DNS: no thread.

A host with several addresses gets each connect attempt a fair share of the time left, so
addresses that all blackhole end the fetch at its deadline, not after N connect timeouts.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

# (family, type, proto, canonname, sockaddr), as socket.getaddrinfo gives them.
AddrInfo = tuple[Any, ...]

_lock = threading.Lock()
_pending: dict[tuple[str, int], Future[list[AddrInfo]]] = {}


class ResolveTimeout(TimeoutError):
    """The resolver did not answer before the fetch's deadline."""


class ConnectTimeout(TimeoutError):
    """No address of the host accepted a connection before the deadline (or its cap)."""


def getaddrinfo(host: str, port: int) -> list[AddrInfo]:
    """The blocking system lookup (the one thing tests replace to play a slow resolver)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _literal(host: str, port: int) -> list[AddrInfo] | None:
    """The address a numeric host stands for, without DNS; None for a name."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None


def resolve(host: str, port: int, deadline: float) -> list[AddrInfo]:
    """``getaddrinfo(host, port)``, waiting at most until ``deadline`` (time.monotonic)."""
    literal = _literal(host, port)
    if literal is not None:
        return literal
    key = (host, port)
    with _lock:
        future = _pending.get(key)
        if future is None:
            future = _pending[key] = Future()
            thread = threading.Thread(
                target=_lookup, args=(key, future), name="archiver-dns", daemon=True
            )
            thread.start()
    left = deadline - time.monotonic()
    try:
        return future.result(timeout=max(0.0, left))
    except FutureTimeout:
        raise ResolveTimeout(f"no DNS answer for {host} within the deadline") from None


def _lookup(key: tuple[str, int], future: Future[list[AddrInfo]]) -> None:
    try:
        future.set_result(getaddrinfo(*key))
    except BaseException as exc:  # handed to every waiter, as getaddrinfo would raise it
        future.set_exception(exc)
    finally:
        with _lock:
            if _pending.get(key) is future:
                del _pending[key]


def connect(
    infos: list[AddrInfo],
    deadline: float,
    cap: float,
    describe: str,
    prepare: Callable[[socket.socket], None] | None = None,
) -> socket.socket:
    """Connect to the first address that answers, all attempts within ``deadline``.

    Each attempt waits at most ``cap`` and at most an equal share of the time left among the
    addresses not yet tried. Returns the socket (timeout still set to that attempt's);
    raises ConnectTimeout when the time ran out, else the last attempt's error.
    """
    error: OSError | None = None
    for index, (family, kind, proto, _, address) in enumerate(infos):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(min(cap, left / (len(infos) - index)))
            if prepare is not None:
                prepare(sock)
            sock.connect(address)
            return sock
        except TimeoutError as exc:
            sock.close()
            error = ConnectTimeout(f"no connection to {describe} within the timeout")
            error.__cause__ = exc
        except OSError as exc:
            sock.close()
            error = exc
        except BaseException:
            sock.close()
            raise
    if error is None and infos:
        error = ConnectTimeout(f"no connection to {describe} within the timeout")
    raise error or OSError(errno.EHOSTUNREACH, f"no address for {describe}")
