"""The check's transport: a lean HTTP/1.1 client on plain sockets, bounded and guarded like
:class:`~archiver.net.fetch.Fetcher`, giving the same :class:`FetchResult`.

Why a second client: a check is one small request and a peek at the answer, thousands at once.
Through ``requests`` and ``urllib3`` each costs ~0.9 ms of CPU and a dozen trips through the
GIL; with 128 requests in flight that is one core, and every answer waits for it. Here it is
a tenth of that, so the worker threads do nothing but wait on their sockets. Captures keep the
``requests`` Fetcher (whole bodies, WARC records of every exchange).

Every rule of Fetcher holds, most in code they share:

- address guard: the host of every hop is resolved and refused when non-public before any
  connection (:class:`~archiver.net.fetch.PreResolving`), and every socket is checked for the
  address it actually connected to (:func:`~archiver.net.guard.check_peer`) before a byte is
  sent, and again when a kept-alive connection is reused;
- wall-clock deadline: every blocking call (connect, TLS handshake, send, each receive) waits
  at most what is left of the fetch's ``timeout``, so a server that trickles bytes cannot hold
  a worker past it — the watchdog thread's job, done without one;
- ``max_bytes`` after decompression, and truncation, by :func:`~archiver.net.fetch.read_body`;
- redirects followed by hand, at most ``max_redirects``, loops and non-http(s) targets refused,
  cookies a hop sets sent to the next (as a ``requests`` session would);
- failures are results, with the same ``error_type`` words.

Connections are kept alive in one pool per origin shared by all threads (so politeness limits
also bound the connections to a host). A kept connection the server has closed is noticed
before reuse; a request that fails on a reused connection before any byte of answer is sent
once more on a new one, as browsers do.
"""

from __future__ import annotations

import contextlib
import errno
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.auth
import requests.utils

from ..store.stamps import utc_now
from . import dns, guard
from .fetch import (
    CHUNK,
    FetchLimits,
    FetchResult,
    PreResolving,
    fetch_seconds,
    past_deadline,
    read_body,
)

CONNECT_TIMEOUT = 10.0
# At most this much is asked of the socket at once. Not 64 KB: every receive allocates its
# full size before shrinking to what came, and with a hundred threads doing so the heap
# fragments (a 10,000-URL check peaked 16 MB higher with 64 KB).
RECV_SIZE = 16_384
MAX_HEADER_BYTES = guard.MAX_HEAD_BYTES  # an answer's heads together, and a chunk's size line
MAX_HEADERS = 100  # as http.client
IDLE_PER_ORIGIN = 16
IDLE_SECONDS = 30.0  # a kept connection idle longer is closed rather than reused
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A redirect's body, read (so its connection is kept) if it is at most this large and here
# within this long.
DISCARD_BYTES = 65_536
DISCARD_WAIT = 0.1
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class BadResponse(Exception):
    """The server's answer is not HTTP/1.x as we can read it (``protocol_error``)."""


class IncompleteBody(BadResponse):
    """The connection closed before the body its headers announced (``protocol_error``)."""


class Disconnected(ConnectionError):
    """The server closed the connection without an answer (``connection_reset``)."""


# No connection within the connect timeout (``connect_timeout``).
ConnectTimeout = dns.ConnectTimeout


class _Conn:
    """One connection and what has been received on it but not yet read."""

    __slots__ = ("buf", "idle_since", "origin", "peer", "received", "sock", "tls", "used")

    def __init__(self, sock: socket.socket, origin: tuple[str, str, int], peer: str) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.origin = origin
        self.peer = peer
        self.used = False  # has answered a request before (kept alive)
        self.idle_since = 0.0
        self.received = False  # any byte received for the current request
        self.tls: tuple[dict[str, Any] | None, bytes | None] = (None, None)

    def recv(self, deadline: float, read_timeout: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("wall-clock deadline passed")
        self.sock.settimeout(min(read_timeout, left))
        data = self.sock.recv(RECV_SIZE)
        if data:
            self.received = True
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Answer:
    """A status line and headers, as read."""

    __slots__ = ("cookies", "headers", "raw_headers", "reason", "status", "version")

    def __init__(self) -> None:
        self.status = 0
        self.reason = ""
        self.version = "HTTP/1.1"
        self.headers: dict[str, str] = {}
        self.raw_headers: list[tuple[str, str]] = []
        self.cookies: list[str] = []


class _Body:
    """Reads one answer's payload as transferred (dechunked, still content-encoded)."""

    def __init__(
        self, conn: _Conn, answer: _Answer, method: str, deadline: float, timeout: float
    ) -> None:
        self.conn = conn
        self.deadline = deadline
        self.timeout = timeout
        headers = answer.headers
        self.keep = _keeps_alive(answer)
        self.chunked = False
        self.left: int | None = 0  # bytes of the body (or current chunk) still to come
        self.done = method == "HEAD" or answer.status in (204, 304) or answer.status < 200
        if self.done:
            return
        codings = headers.get("transfer-encoding", "").lower()
        if codings and codings.rsplit(",", 1)[-1].strip() == "chunked":
            self.chunked = True
        else:
            self.left = _content_length(headers.get("content-length"))
            if self.left is None:
                self.keep = False  # the body ends when the connection does
            elif self.left == 0:
                self.done = True

    def _more(self) -> bytes:
        data = self.conn.recv(self.deadline, self.timeout)
        if data:
            self.conn.buf += data
        return data

    def _line(self) -> bytes:
        buf = self.conn.buf
        while (end := buf.find(b"\n")) < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise BadResponse("chunk header line too long")
            if not self._more():
                raise IncompleteBody("connection closed inside a chunked body")
        line = bytes(buf[:end])
        del buf[: end + 1]
        return line.rstrip(b"\r")

    def read(self, amount: int) -> bytes:
        """Up to ``amount`` bytes of payload; b"" once the body has ended."""
        if self.done:
            return b""
        buf = self.conn.buf
        if self.chunked and self.left == 0:
            size = self._line().split(b";", 1)[0].strip()
            try:
                self.left = int(size, 16)
            except ValueError:
                raise BadResponse(f"bad chunk size {size[:20]!r}") from None
            if self.left == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                self.done = True
                return b""
        if not buf and not self._more():
            if self.left is None:  # read until close: this is the end
                self.done = True
                return b""
            raise IncompleteBody(f"connection closed with {self.left} byte(s) of body to come")
        take = len(buf) if self.left is None else min(amount, self.left, len(buf))
        take = min(take, amount)
        data = bytes(buf[:take])
        del buf[:take]
        if self.left is not None:
            self.left -= take
            if self.left == 0:
                if self.chunked:
                    if self._line():
                        raise BadResponse("chunk not followed by CRLF")
                else:
                    self.done = True
        return data


class _Cookies:
    """The cookies one fetch was given, sent along to the next hops (as a session would).

    Made only when an answer sets one, so a check that meets none never imports cookiejar.
    """

    def __init__(self) -> None:
        import http.cookiejar

        self._jar = http.cookiejar.CookieJar()

    def header_for(self, url: str) -> str | None:
        import urllib.request

        request = urllib.request.Request(url)
        self._jar.add_cookie_header(request)
        return request.unredirected_hdrs.get("Cookie")

    def take(self, url: str, set_cookies: list[str]) -> None:
        import urllib.request

        response: Any = _SetCookies(set_cookies)
        self._jar.extract_cookies(response, urllib.request.Request(url))


class _SetCookies:
    """What CookieJar.extract_cookies needs of a response: its Set-Cookie headers."""

    def __init__(self, values: list[str]) -> None:
        self._values = values

    def info(self) -> _SetCookies:
        return self

    def get_all(self, name: str, default: list[str]) -> list[str]:
        return self._values if name.lower() == "set-cookie" else default


class LeanFetcher(PreResolving):
    """Bounded, guarded GET and HEAD requests over HTTP/1.1, safe to share between threads."""

    def __init__(self, limits: FetchLimits) -> None:
        super().__init__(limits)
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._base_headers = [
            ("User-Agent", limits.user_agent),
            ("Accept-Encoding", "gzip, deflate"),
            ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
            ("Connection", "keep-alive"),
            ("Accept-Language", "en, ru;q=0.9, kk;q=0.8, *;q=0.5"),
        ]

    def close(self) -> None:
        with self._lock:
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        max_bytes: int | None = None,
        raw_sink: Callable[[bytes], None] | None = None,
        raw_limit: int = 0,
        deadline: float | None = None,
    ) -> FetchResult:
        """Fetch ``url`` as :meth:`Fetcher.fetch` does (same arguments, same result)."""
        limits = self.limits
        budget = limits.max_bytes if max_bytes is None else max_bytes
        result = FetchResult(url=url, method=method, started_at=utc_now())
        started = time.monotonic()
        allowed = fetch_seconds(started, limits.timeout, deadline)
        if allowed <= 0:
            return past_deadline(result)
        deadline = started + allowed
        self._begin(deadline)
        seen = {url}
        current = url
        cookies: _Cookies | None = None
        stage = ["connect"]
        try:
            for _hop in range(limits.max_redirects + 1):
                refusal = self._refuse_address(current)
                if refusal is not None:
                    result.error_type, result.error_message = refusal
                    break
                sent = self._request_headers(headers, cookies, current)
                stage[0] = "connect"
                conn, answer = self._exchange(method, current, sent, deadline, stage)
                result.ip = conn.peer
                result.tls_cert, result.tls_cert_der = conn.tls
                result.ttfb_ms = result.ttfb_ms or _ms_since(started)
                if answer.cookies:
                    cookies = cookies if cookies is not None else _Cookies()
                    cookies.take(current, answer.cookies)
                location = answer.headers.get("location")
                if answer.status in REDIRECT_STATUSES and location:
                    self._discard(conn, answer, method, deadline)
                    target = urljoin(current, location.strip())
                    result.redirects.append(
                        {
                            "url": current,
                            "status": answer.status,
                            "location": target,
                            "reason": answer.reason,
                            "headers": answer.raw_headers,
                            "request_headers": sent,
                            "ip": conn.peer,
                        }
                    )
                    if urlsplit(target).scheme not in ("http", "https"):
                        result.error_type = "bad_redirect"
                        result.error_message = f"redirect to unsupported URL {target!r}"
                        break
                    if target in seen:
                        result.error_type = "redirect_loop"
                        result.error_message = f"redirect loop back to {target}"
                        break
                    seen.add(target)
                    current = target
                    continue
                result.status = answer.status
                result.reason = answer.reason
                result.final_url = current
                result.headers = answer.headers
                result.raw_headers = answer.raw_headers
                result.request_headers = sent
                result.http_version = answer.version
                body = _Body(conn, answer, method, deadline, limits.timeout)
                kept = False
                try:
                    if method == "HEAD":
                        kept = body.keep
                    else:
                        ended = read_body(
                            result,
                            body.read,
                            answer.headers.get("content-encoding", ""),
                            budget,
                            deadline,
                            raw_sink,
                            raw_limit,
                        )
                        kept = ended and body.done and body.keep
                finally:
                    self._release(conn, kept)
                break
            else:
                result.error_type = "too_many_redirects"
                result.error_message = f"more than {limits.max_redirects} redirects"
        except Exception as exc:  # every transport failure becomes data; see classify
            result.error_type, result.error_message = classify(exc, started, allowed, stage[0])
        finally:
            result.elapsed_ms = _ms_since(started)
        if result.redirects and result.final_url is None:
            result.final_url = current
        return result

    def _request_headers(
        self, extra: dict[str, str] | None, cookies: _Cookies | None, url: str
    ) -> list[tuple[str, str]]:
        """The headers sent (Host aside), in the order a ``requests`` session sends them."""
        sent = list(self._base_headers)
        if extra:
            names = {name.lower(): i for i, (name, _) in enumerate(sent)}
            for name, value in extra.items():
                if name.lower() in names:
                    sent[names[name.lower()]] = (name, value)
                else:
                    sent.append((name, value))
        if cookies is not None:
            cookie = cookies.header_for(url)
            if cookie:
                sent.append(("Cookie", cookie))
        return sent

    def _exchange(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        deadline: float,
        stage: list[str],
    ) -> tuple[_Conn, _Answer]:
        """Send one request and read the answer's head, on a kept or a new connection."""
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(url, None)  # IDNA hosts, quoted paths: the URL requests would send
        prepared_url = str(prepared.url)
        parts = urlsplit(prepared_url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        default_port = 443 if scheme == "https" else 80
        port = parts.port or default_port
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = f"[{host}]" if ":" in host else host
        if port != default_port:
            host_header += f":{port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if "@" in parts.netloc:  # credentials in the URL: Basic auth, as requests sends them
            user, password = requests.utils.get_auth_from_url(prepared_url)
            lines.append(f"Authorization: {requests.auth._basic_auth_str(user, password)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        origin = (scheme, host, port)
        for attempt in range(2):
            conn = self._take(origin) if attempt == 0 else None
            if conn is None:
                stage[0] = "connect"
                conn = self._connect(origin, deadline)
            stage[0] = "exchange"
            conn.received = False
            try:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("wall-clock deadline passed")
                conn.sock.settimeout(min(self.limits.timeout, left))
                conn.sock.sendall(request)
                return conn, self._read_head(conn, deadline)
            except (Disconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not conn.used or conn.received:
                    raise
                # A kept connection the server closed meanwhile: once more on a new one.
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_head(self, conn: _Conn, deadline: float) -> _Answer:
        room = MAX_HEADER_BYTES  # for the final head and every interim one before it
        while True:
            head, room = self._head_bytes(conn, deadline, room)
            answer = _parse_head(head)
            if not 100 <= answer.status < 200 or answer.status == 101:
                return answer  # 1xx interim answers (100 Continue) are skipped

    def _head_bytes(self, conn: _Conn, deadline: float, room: int) -> tuple[bytes, int]:
        """One head, and how many head bytes are left to the answer after it."""
        buf = conn.buf
        start = 0
        while True:
            end = _HEAD_END.search(buf, max(0, start - 3))
            if end is not None and end.end() <= room:
                head = bytes(buf[: end.start()])
                del buf[: end.end()]
                return head, room - end.end()
            if end is not None or len(buf) > room:
                raise guard.HeadersTooLarge(
                    f"the answer's head is longer than {MAX_HEADER_BYTES} bytes"
                )
            start = len(buf)
            data = conn.recv(deadline, self.limits.timeout)
            if not data:
                if buf:
                    raise BadResponse("connection closed in the middle of the headers")
                raise Disconnected("the server closed the connection without an answer")
            buf += data

    def _connect(self, origin: tuple[str, str, int], deadline: float) -> _Conn:
        scheme, host, port = origin
        infos = self.addrinfo(host, port)  # cached by PreResolving, within the deadline
        sock = dns.connect(
            infos,
            deadline,
            min(CONNECT_TIMEOUT, self.limits.timeout),
            f"{host}:{port}",
            lambda s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
        )
        peer = guard.check_peer(sock, self.limits.allow_private_networks)
        conn = _Conn(sock, origin, peer)
        if scheme == "https":
            secure = self._handshake(sock, host, deadline)
            conn.sock = secure
            try:
                conn.tls = (secure.getpeercert(), secure.getpeercert(binary_form=True))
            except (ValueError, OSError):
                conn.tls = (None, None)
        return conn

    def _handshake(self, sock: socket.socket, host: str, deadline: float) -> ssl.SSLSocket:
        try:
            if self._tls is None:
                context = ssl.create_default_context(
                    cafile=self.limits.ca_bundle or requests.utils.DEFAULT_CA_BUNDLE_PATH
                )
                context.set_alpn_protocols(["http/1.1"])
                self._tls = context
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("wall-clock deadline passed")
            sock.settimeout(min(self.limits.timeout, left))
            return self._tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    def _take(self, origin: tuple[str, str, int]) -> _Conn | None:
        """A kept connection to ``origin`` that still looks open, if there is one."""
        now = time.monotonic()
        while True:
            with self._lock:
                conns = self._idle.get(origin)
                if not conns:
                    return None
                conn = conns.pop()
            # Readable while idle means the server closed it (or sent what nobody asked for).
            stale = now - conn.idle_since > IDLE_SECONDS or bool(conn.buf)
            if not stale:
                try:
                    poller = select.poll()  # not select(): it fails for descriptors past 1023
                    poller.register(conn.sock, select.POLLIN | select.POLLPRI)
                    stale = bool(poller.poll(0))
                except (OSError, ValueError):
                    stale = True
            if stale:
                conn.close()
                continue
            if not self.limits.allow_private_networks:
                guard.check_peer(conn.sock, False)  # the same socket: the same answer
            return conn

    def _release(self, conn: _Conn, keep: bool) -> None:
        if keep:
            conn.used = True
            conn.idle_since = time.monotonic()
            with self._lock:
                conns = self._idle.setdefault(conn.origin, [])
                if len(conns) < IDLE_PER_ORIGIN:
                    conns.append(conn)
                    return
        conn.close()

    def _discard(self, conn: _Conn, answer: _Answer, method: str, deadline: float) -> None:
        """Done with a redirect: read its (small) body so the connection can be kept, waiting
        for it at most DISCARD_WAIT — a redirect that announces a body it never sends must not
        cost the fetch its deadline; past that, or when large, it is closed as Fetcher does."""
        wait_until = min(deadline, time.monotonic() + DISCARD_WAIT)
        body = _Body(conn, answer, method, wait_until, DISCARD_WAIT)
        kept = False
        if body.keep and (body.chunked or (body.left or 0) <= DISCARD_BYTES):
            try:
                read = 0
                while read <= DISCARD_BYTES and (chunk := body.read(CHUNK)):
                    read += len(chunk)
                kept = body.done
            except (OSError, BadResponse):
                kept = False
        self._release(conn, kept)


def _parse_head(head: bytes) -> _Answer:
    lines = head.split(b"\n")
    status_line = lines[0].rstrip(b"\r").decode("latin-1")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise BadResponse(f"not an HTTP/1.x status line: {status_line[:100]!r}")
    answer = _Answer()
    answer.status = int(code)
    answer.reason = reason.strip()
    answer.version = "HTTP/1.0" if version == "HTTP/1.0" else "HTTP/1.1"
    raw = answer.raw_headers
    if len(lines) > MAX_HEADERS + 1:
        raise BadResponse(f"more than {MAX_HEADERS} headers")
    for line in lines[1:]:
        text = line.rstrip(b"\r").decode("latin-1")
        if text[:1] in (" ", "\t") and raw:  # an obsolete folded continuation line
            name, value = raw[-1]
            raw[-1] = (name, f"{value} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if colon and name.strip():
            raw.append((name.strip(), value.strip()))
    headers = answer.headers
    for name, value in raw:
        key = name.lower()
        if key == "set-cookie":
            answer.cookies.append(value)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return answer


def _keeps_alive(answer: _Answer) -> bool:
    tokens = {t.strip().lower() for t in answer.headers.get("connection", "").split(",")}
    if "close" in tokens:
        return False
    return answer.version == "HTTP/1.1" or "keep-alive" in tokens


def _content_length(value: str | None) -> int | None:
    """The body's length, or None (read until the connection closes) if absent or unreadable."""
    if value is None:
        return None
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1:
        return None
    text = values.pop()
    return int(text) if text.isdigit() else None


def classify(exc: BaseException, started: float, timeout: float, stage: str) -> tuple[str, str]:
    """Name a transport failure with the words Fetcher uses (``fetch._classify``)."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, guard.PrivateAddressError):
        return "private_address", str(exc)[:200]
    if isinstance(exc, guard.HeadersTooLarge):
        return "headers_too_large", str(exc)
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_NONAME:
            return "dns_nxdomain", message
        return "dns_failure", message
    if time.monotonic() - started >= timeout:
        return "timeout", f"no complete answer within {timeout:g} s ({message})"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) and stage == "connect":
        return "tls_error", message
    if isinstance(exc, ConnectTimeout):
        return "connect_timeout", message
    if isinstance(exc, TimeoutError):
        return "timeout", message
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ECONNREFUSED:
        return "connection_refused", message
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
        return "network_unreachable", message
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return "invalid_url", message
    if isinstance(exc, UnicodeError) and stage == "connect":
        return "invalid_url", message  # a host name IDNA cannot encode
    if isinstance(exc, zlib.error):
        return "protocol_error", f"body does not decode: {message}"
    if isinstance(exc, BadResponse):
        return "protocol_error", message
    if isinstance(exc, ConnectionError | ssl.SSLError) or code in (errno.ECONNRESET, errno.EPIPE):
        return "connection_reset", message
    return "protocol_error", message


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
