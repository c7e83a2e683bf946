"""Where requests may go, how long they may take and how much head an answer may have: the
address guard, the deadline watchdog and the head cap.

All act on the connection itself, through connection classes given to ``requests``:

- the address guard checks the address a socket actually connected to, on every connection and
  so on every redirect hop, whatever notation the URL used (decimal, IPv4-mapped IPv6, …) and
  whatever DNS answered between our own lookup and the connect (DNS rebinding);
- the watchdog shuts a socket down when its request's wall-clock deadline passes, so a server
  that trickles its headers a byte a second cannot hold a worker: read timeouts restart with
  every byte, a deadline does not;
- the head cap stops reading an answer's status line and headers (100 Continue heads before it
  included) at ``MAX_HEAD_BYTES``: more is ``headers_too_large``, not megabytes held in memory
  (http.client alone allows 100 headers of 64 KB each, and 100 Continue heads without end).

Per-request values (deadline, whether private addresses are allowed, the vantage) travel in a
thread-local, because ``requests`` runs each request synchronously in the calling thread.

Through a vantage (net.vantage) the socket's peer is the proxy, which the user named: it is not
judged. The target is judged before the request, by the fetcher's own lookup; a ``socks5h``
or HTTP proxy resolves the name again on its side (see the README on vantage points).
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import ipaddress
import itertools
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)

from ..errors import ArchiverError
from . import dns
from .vantage import Vantage, VantageError, socks5_connect

# IPv6 prefixes that carry an IPv4 address a packet is delivered to, judged by that address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits
# RFC 8215 local-use NAT64: where the IPv4 sits depends on the operator's prefix length, and
# IANA lists it as not globally reachable, so nothing inside it is public.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible ::a.b.c.d
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT IPv4-translated ::ffff:0:a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address leads to (mapped, compatible, NAT64, 6to4, Teredo),
    or None when it embeds none. A NAT64 gateway or a 6to4/Teredo relay would deliver to them,
    so a private one inside must be refused like the bare address.

    >>> embedded_ipv4(ipaddress.IPv6Address("2002:a00:1::"))
    [IPv4Address('10.0.0.1')]
    """
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:  # 2002::/16: the IPv4 is bits 16-48
        return [ip.sixtofour]
    if ip.teredo is not None:  # 2001::/32: the server, and the client (XOR 0xffffffff)
        return list(ip.teredo)
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64 or ip in _TRANSLATED:
        return [last32]
    if ip in _COMPATIBLE and int(ip) > 1:  # not :: (unspecified) nor ::1 (loopback)
        return [last32]
    return None


def is_public_address(address: str) -> bool:
    """True for globally routable unicast addresses; an IPv6 address that embeds IPv4
    (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4 it leads to.

    >>> [is_public_address(a) for a in ("8.8.8.8", "127.0.0.1", "::ffff:10.0.0.1", "169.254.1.1")]
    [True, False, False, False]
    >>> [is_public_address(a) for a in ("64:ff9b::a00:1", "64:ff9b::808:808", "2002:7f00:1::")]
    [False, True, False]
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            return all(_is_public(v4) for v4 in inner)
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


class PrivateAddressError(ArchiverError, ConnectionError):
    """A connection reached an address that the guard does not allow.

    Raised inside urllib3's connect, so it reaches the fetch wrapped by urllib3 and requests;
    the fetch finds it in the exception's chain and reports ``private_address``.
    """


# The most bytes of status lines and headers one answer may have, interim heads included.
MAX_HEAD_BYTES = 65_536


class HeadersTooLarge(http.client.HTTPException):
    """An answer's head (status lines and headers) went past MAX_HEAD_BYTES.

    An HTTPException, so urllib3 and requests wrap it as they wrap a malformed answer; the
    fetch finds it in the chain and reports ``headers_too_large``."""


class _HeadReader:
    """The response's file, for as long as its head is read: every line counts against the
    cap, and no line is read past it."""

    def __init__(self, fp: Any, cap: int) -> None:
        self._fp = fp
        self._left = cap

    def readline(self, limit: int = -1) -> bytes:
        room = self._left + 1  # one byte past the cap tells "too large" from "exactly full"
        line: bytes = self._fp.readline(room if limit is None or limit < 0 else min(limit, room))
        self._left -= len(line)
        if self._left < 0:
            raise HeadersTooLarge(f"the answer's head is longer than {MAX_HEAD_BYTES} bytes")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


class _HeadCappedResponse(http.client.HTTPResponse):
    """http.client's response, reading its head (100 Continue heads too) through the cap."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        plain = self.fp
        self.fp = _HeadReader(plain, MAX_HEAD_BYTES)
        try:
            super().begin()
        finally:
            if self.fp is not None:  # None when begin() closed the connection
                self.fp = plain


class _RequestContext(threading.local):
    """What the connection classes need to know about the request running in this thread."""

    def __init__(self) -> None:
        self.allow_private = True
        self.deadline: float | None = None
        self.watches: list[_Watch] = []
        self.peer: str | None = None
        self.tls_cert: dict[str, Any] | None = None
        self.tls_cert_der: bytes | None = None
        # The fetcher's deadline-bound lookup (host, port) -> addresses, shared with its guard.
        self.addrinfo: Callable[[str, int], list[dns.AddrInfo]] | None = None
        # The vantage this request goes through (its socket's peer is that proxy), or None.
        self.via: Vantage | None = None


context = _RequestContext()


class _Watch:
    """One socket under one request's deadline; ``done`` once the request finished."""

    __slots__ = ("deadline", "done", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.done = False


class _Watchdog:
    """One thread that shuts down sockets whose request deadline has passed.

    Workers never take a lock here: a new watch goes through a SimpleQueue and finishing one
    is a flag; the thread looks every TICK seconds, so deadlines hold to within a TICK.
    """

    TICK = 0.2

    def __init__(self) -> None:
        self._incoming: queue.SimpleQueue[_Watch] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> _Watch:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="archiver-watchdog")
                    thread.daemon = True
                    thread.start()
                    self._thread = thread
        entry = _Watch(sock, deadline)
        self._incoming.put(entry)
        return entry

    def _run(self) -> None:
        pending: list[tuple[float, int, _Watch]] = []
        order = itertools.count()
        while True:
            try:
                entry = self._incoming.get(timeout=self.TICK)
                heapq.heappush(pending, (entry.deadline, next(order), entry))
                while True:
                    entry = self._incoming.get_nowait()
                    heapq.heappush(pending, (entry.deadline, next(order), entry))
            except queue.Empty:
                pass
            now = time.monotonic()
            while pending and (pending[0][2].done or pending[0][0] <= now):
                _, _, entry = heapq.heappop(pending)
                if not entry.done:
                    # The plain socket's shutdown, not SSLSocket's: it must not touch TLS state
                    # the worker is using; it only makes the worker's read return. OSError:
                    # its owner closed it already.
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(entry.sock, socket.SHUT_RDWR)


watchdog = _Watchdog()


def check_peer(sock: socket.socket, allow_private: bool) -> str:
    """The address ``sock`` is connected to; closes it and raises when that is not allowed.

    Both transports call this on every connected socket, before a byte of a request is sent.
    """
    peer = str(sock.getpeername()[0])
    if not allow_private and not is_public_address(peer):
        sock.close()
        raise PrivateAddressError(f"refused non-public address {peer}")
    return peer


def _on_socket(sock: socket.socket | None) -> None:
    """Check the connected peer and put the socket under this request's deadline."""
    if sock is None:
        return
    if context.via is None:
        context.peer = sock.getpeername()[0]
        check_peer(sock, context.allow_private)
    else:
        context.peer = None  # the proxy's address, not the target's: not recorded as it
    if context.deadline is not None:
        context.watches.append(watchdog.watch(sock, context.deadline))


def _new_conn(conn: HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn``, but the lookup and every connect attempt keep to the request's
    deadline (urllib3 would give each address the full connect timeout, and wait on DNS)."""
    host = conn._dns_host.strip("[]")
    deadline = context.deadline if context.deadline is not None else float("inf")
    cap = conn.timeout if isinstance(conn.timeout, int | float) else 10.0
    if deadline == float("inf"):
        deadline = time.monotonic() + cap
    options = conn.socket_options or []

    def prepare(sock: socket.socket) -> None:
        for option in options:
            sock.setsockopt(*option)

    via = context.via
    try:
        lookup = context.addrinfo
        if via is not None and via.socks:
            return _through_socks(conn, via, host, deadline, cap, prepare)
        infos = lookup(host, conn.port) if lookup else dns.resolve(host, conn.port, deadline)
        sock = dns.connect(infos, deadline, cap, f"{conn.host}:{conn.port}", prepare)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except UnicodeError:
        raise LocationParseError(f"'{host}', label empty or too long") from None
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out ({exc})") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


def _through_socks(
    conn: HTTPConnection,
    via: Vantage,
    host: str,
    deadline: float,
    cap: float,
    prepare: Callable[[socket.socket], None],
) -> socket.socket:
    """A socket to ``host`` tunnelled by the SOCKS5 vantage ``via``, within the deadline.

    ``socks5``: the proxy is given the address our lookup found (and the fetch judged);
    ``socks5h``: the name, which the proxy resolves.
    """
    lookup = context.addrinfo
    try:
        proxies = (
            lookup(via.host, via.port) if lookup else dns.resolve(via.host, via.port, deadline)
        )
        sock = dns.connect(proxies, deadline, cap, f"vantage {via.name}", prepare)
    except (OSError, UnicodeError) as exc:
        raise VantageError(
            "vantage_unreachable", f"no connection to vantage {via.name}: {exc}"
        ) from exc
    try:
        target = host
        if via.scheme == "socks5":
            infos = lookup(host, conn.port) if lookup else dns.resolve(host, conn.port, deadline)
            target = str(infos[0][4][0])
        socks5_connect(sock, via, target, conn.port, deadline)
        sock.settimeout(conn.timeout if isinstance(conn.timeout, int | float) else cap)
    except BaseException:
        sock.close()
        raise
    return sock


class _GuardedHTTPConnection(HTTPConnection):
    response_class = _HeadCappedResponse

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)

    def connect(self) -> None:
        super().connect()
        _on_socket(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection: new request, new deadline
            _on_socket(self.sock)
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(HTTPSConnection):
    response_class = _HeadCappedResponse

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)

    def connect(self) -> None:
        super().connect()
        _on_socket(self.sock)
        _remember_certificate(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _on_socket(self.sock)
            _remember_certificate(self.sock)
        super().request(*args, **kwargs)


def _remember_certificate(sock: Any) -> None:
    """Keep the server certificate for the record a capture makes (chain of custody)."""
    try:
        context.tls_cert = sock.getpeercert()
        context.tls_cert_der = sock.getpeercert(binary_form=True)
    except (AttributeError, ValueError, OSError):
        context.tls_cert = context.tls_cert_der = None


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_GUARDED_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections pass through the address guard and the watchdog,
    through an HTTP proxy (a vantage) too."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_GUARDED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_GUARDED_POOLS)
        return manager
