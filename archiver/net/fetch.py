"""The HTTP client of archiver: bounded, guarded requests that report failures as data.

:class:`Fetcher` (``requests``) serves captures and everything else; checks use its lean twin
:class:`~archiver.net.http1.LeanFetcher`, which shares the rules below and this result type.

Every fetch is bounded: a connect and read ``timeout``, a wall-clock deadline for the whole
fetch (all redirect hops; a caller's ``deadline`` may end it sooner), at most 64 KB of status
line and headers per answer, at most ``max_bytes`` of body *after* decompression (we
decompress ourselves, chunk by chunk, so a gzip bomb costs ``max_bytes``, not gigabytes), at
most 10 redirects with loops detected. Failures are results (``error_type``, ``error_message``), not
exceptions, the way a 404 is a result and not an exception.

Error types: ``private_address``, ``dns_nxdomain``, ``dns_failure``, ``connection_refused``,
``network_unreachable``, ``connect_timeout``, ``timeout``, ``connection_reset``, ``tls_error``,
``redirect_loop``, ``too_many_redirects``, ``bad_redirect``, ``invalid_url``,
``headers_too_large``, ``protocol_error``; through a vantage (net.vantage) also
``vantage_unreachable``, ``vantage_refused``, ``host_unreachable`` and ``tunnel_failed``.
"""

from __future__ import annotations

import email.utils
import errno
import hashlib
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from ..config import DEFAULTS, Settings
from ..store.stamps import utc_now
from . import dns, guard
from .vantage import Vantage, VantageError

MAX_REDIRECTS = 10
CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """How far one fetch may go. ``timeout`` bounds connect, each read, and the whole fetch."""

    timeout: float = DEFAULTS.timeout
    max_bytes: int = DEFAULTS.max_bytes
    max_redirects: int = MAX_REDIRECTS
    user_agent: str = DEFAULTS.user_agent
    allow_private_networks: bool = DEFAULTS.allow_private_networks
    ca_bundle: str = DEFAULTS.ca_bundle  # PEM file of CAs to trust instead (intranets)

    @classmethod
    def from_settings(cls, settings: Settings, *, min_timeout: float = 0.0) -> FetchLimits:
        """The limits the user set; ``min_timeout`` for stages that read whole bodies."""
        return cls(
            timeout=max(settings.timeout, min_timeout),
            max_bytes=settings.max_bytes,
            user_agent=settings.user_agent,
            allow_private_networks=settings.allow_private_networks,
            ca_bundle=settings.ca_bundle,
        )


@dataclass(slots=True)
class FetchResult:
    """What one fetch saw: the final answer, the redirect chain, and the body as far as read."""

    url: str
    method: str
    status: int | None = None
    final_url: str | None = None
    redirects: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    bytes_read: int = 0
    truncated: bool = False
    raw_truncated: bool = False
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    content_hash: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    started_at: str = ""
    elapsed_ms: int = 0
    ttfb_ms: int | None = None
    ip: str | None = None
    http_version: str | None = None
    reason: str | None = None
    tls_cert: dict[str, Any] | None = None
    tls_cert_der: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None and self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date).

    >>> parse_retry_after("120")
    120.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Decoder:
    """Undo Content-Encoding chunk by chunk, never producing more than asked for."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self._inflate: Any = None
        # Some servers send raw deflate without the zlib header: retried once on error.
        self._deflate_probe = encoding == "deflate"
        if encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        self._pending = b""

    def decode(self, chunk: bytes, limit: int) -> bytes:
        """Return up to ``limit`` decoded bytes of what has arrived so far."""
        if self._inflate is None:
            return chunk[:limit]
        data = self._pending + chunk
        try:
            out = self._inflate.decompress(data, limit)
        except zlib.error:
            if self._deflate_probe:
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate_probe = False
                out = self._inflate.decompress(data, limit)
            else:
                raise
        self._deflate_probe = False
        self._pending = self._inflate.unconsumed_tail
        return bytes(out)


def decode_stored(
    read: Callable[[int], bytes], content_encoding: str, limit: int, sink: Callable[[bytes], None]
) -> bool:
    """Decode a body stored as it was sent (gzip, deflate or plain) into ``sink``, at most
    ``limit`` bytes of it, as a fetch reads at most ``max_bytes``: a gzip bomb in a WARC costs
    ``limit``, not gigabytes. True when the body decodes to more than ``limit`` bytes.

    Raises zlib.error when the stored body is not what its Content-Encoding says.
    """
    decoder = _Decoder(content_encoding)
    written = 0
    while True:
        chunk = read(CHUNK)
        # One byte more than the limit tells a body that is cut from one that fits exactly.
        piece = decoder.decode(chunk, limit + 1 - written)
        while piece:
            sink(piece[: limit - written])
            written += len(piece)
            if written > limit:
                return True
            if not decoder._pending:  # all of this chunk decoded: read the next one
                break
            piece = decoder.decode(b"", limit + 1 - written)
        if not chunk:
            return False


class PreResolving:
    """The first half of the address guard, shared by both transports: before any connection
    to a host is made, resolve it (answers cached a minute) and refuse non-public addresses.
    The second half checks the address each socket really connected to (guard.py).

    Lookups keep to the running fetch's deadline (:mod:`archiver.net.dns`), and the transports
    connect to the addresses resolved here, so a host is looked up once per fetch at most.
    """

    limits: FetchLimits
    remote_dns = False

    def __init__(self, limits: FetchLimits) -> None:
        self.limits = limits
        self._dns: dict[tuple[str, int], tuple[float, list[dns.AddrInfo]]] = {}
        self._fetch = threading.local()  # the deadline of the fetch running in this thread

    def _begin(self, deadline: float) -> None:
        self._fetch.deadline = deadline

    def _deadline(self) -> float:
        deadline: float | None = getattr(self._fetch, "deadline", None)
        return deadline if deadline is not None else time.monotonic() + self.limits.timeout

    def _refuse_address(self, url: str) -> tuple[str, str] | None:
        """Resolve the host and refuse non-public addresses before any connection is made.

        Through a vantage that resolves names on its side (``remote_dns``), a name that does
        not resolve here (a DNS block) is left to it; one that resolves to a private address
        here is refused all the same.
        """
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            return "invalid_url", f"no host in {url!r}"
        if self.limits.allow_private_networks:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self._resolve(host, port)
        except (socket.gaierror, dns.ResolveTimeout):
            if self.remote_dns and not _is_literal(host):
                return None
            raise
        private = [a for a in addresses if not guard.is_public_address(a)]
        if private:
            return "private_address", f"{host} resolves to non-public address {private[0]}"
        return None

    def _resolve(self, host: str, port: int) -> list[str]:
        return sorted({str(info[4][0]) for info in self.addrinfo(host, port)})

    def addrinfo(self, host: str, port: int) -> list[dns.AddrInfo]:
        """The host's addresses to connect to, looked up within the fetch's deadline."""
        key = (host, port)
        cached = self._dns.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        infos = dns.resolve(host, port, self._deadline())
        self._dns[key] = (time.monotonic() + 60.0, infos)
        return infos


def _is_literal(host: str) -> bool:
    return dns._literal(host, 80) is not None


class Fetcher(PreResolving):
    """Makes bounded, guarded requests; one ``requests`` session per worker thread.

    vantage: send every request through this proxy (net.vantage), judged as direct ones are.
    """

    def __init__(self, limits: FetchLimits, vantage: Vantage | None = None) -> None:
        super().__init__(limits)
        self.vantage = vantage
        self.remote_dns = vantage is not None and vantage.scheme != "socks5"
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Settings come from archiver's own settings only: no proxies or .netrc credentials
            # picked up from the environment and sent to cited sites.
            session.trust_env = False
            if self.limits.ca_bundle:
                session.verify = self.limits.ca_bundle
            adapter = guard.GuardedAdapter(pool_connections=256, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            if self.vantage is not None and not self.vantage.socks:
                url = self.vantage.proxy_url
                session.proxies = {"http": url, "https": url}
            session.headers.update(
                {
                    "User-Agent": self.limits.user_agent,
                    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                    "Accept-Encoding": "gzip, deflate",
                    "Accept-Language": "en, ru;q=0.9, kk;q=0.8, *;q=0.5",
                }
            )
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        max_bytes: int | None = None,
        raw_sink: Callable[[bytes], None] | None = None,
        raw_limit: int = 0,
        data: bytes | None = None,
        deadline: float | None = None,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """Fetch ``url``, following redirects by hand so each hop passes the address guard.

        max_bytes: how much decoded body to keep in ``body`` (default: the limits').
        raw_sink: receives the final response's payload as transferred (still content-encoded),
        up to ``raw_limit`` bytes, so a capture can store it without holding it in memory.
        data: a request body (the media downloader's API calls), sent again on each hop.
        deadline: a ``time.monotonic()`` moment the whole fetch (DNS and connect included)
        ends by, if sooner than ``timeout`` from now: a capture's own deadline.
        follow_redirects: False to take a redirect as the answer (a Memento TimeGate's 302).
        """
        limits = self.limits
        budget = limits.max_bytes if max_bytes is None else max_bytes
        result = FetchResult(url=url, method=method, started_at=utc_now())
        started = time.monotonic()
        allowed = fetch_seconds(started, limits.timeout, deadline)
        if allowed <= 0:
            return past_deadline(result)
        guard.context.allow_private = limits.allow_private_networks
        guard.context.deadline = started + allowed
        guard.context.addrinfo = self.addrinfo  # connections use (and wait for) our lookups
        guard.context.via = self.vantage
        self._begin(guard.context.deadline)
        guard.context.watches = []
        guard.context.peer = None
        guard.context.tls_cert = guard.context.tls_cert_der = None
        seen = {url}
        current = url
        try:
            for _hop in range(limits.max_redirects + 1):
                refusal = self._refuse_address(current)
                if refusal is not None:
                    result.error_type, result.error_message = refusal
                    break
                response = self._session().request(
                    method,
                    current,
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    stream=True,
                    timeout=(min(allowed, 10.0), allowed),
                )
                try:
                    result.ttfb_ms = result.ttfb_ms or _ms_since(started)
                    location = response.headers.get("location")
                    if response.is_redirect and location and follow_redirects:
                        target = urljoin(current, location.strip())
                        result.redirects.append(
                            {
                                "url": current,
                                "status": response.status_code,
                                "location": target,
                                # The exchange itself, for captures that store every hop.
                                "reason": response.reason,
                                "headers": [
                                    (str(k), str(v)) for k, v in response.raw.headers.items()
                                ],
                                "request_headers": [
                                    (str(k), str(v)) for k, v in response.request.headers.items()
                                ],
                                "ip": guard.context.peer,
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
                    self._read_final(result, response, current, budget, raw_sink, raw_limit)
                    break
                finally:
                    response.close()
            else:
                result.error_type = "too_many_redirects"
                result.error_message = f"more than {limits.max_redirects} redirects"
        except Exception as exc:  # every transport failure becomes data; see _classify
            result.error_type, result.error_message = _classify(exc, started, allowed)
        finally:
            for watch in guard.context.watches:
                watch.done = True
            guard.context.addrinfo = None
            guard.context.via = None
            result.ip = guard.context.peer
            result.tls_cert = guard.context.tls_cert
            result.tls_cert_der = guard.context.tls_cert_der
            result.elapsed_ms = _ms_since(started)
        if result.redirects and result.final_url is None:
            result.final_url = current
        if self.vantage is not None and result.status == 407:
            # Only a proxy asks for proxy credentials: the vantage, not the site.
            result.error_type = "vantage_refused"
            result.error_message = f"vantage {self.vantage.name} wants other credentials (407)"
        return result

    def _read_final(
        self,
        result: FetchResult,
        response: requests.Response,
        url: str,
        budget: int,
        raw_sink: Callable[[bytes], None] | None,
        raw_limit: int,
    ) -> None:
        result.status = response.status_code
        result.reason = response.reason
        result.final_url = url
        result.headers = {k.lower(): v for k, v in response.headers.items()}
        result.raw_headers = [(str(k), str(v)) for k, v in response.raw.headers.items()]
        result.request_headers = [(str(k), str(v)) for k, v in response.request.headers.items()]
        result.http_version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(response.raw.version, "HTTP/1.1")
        if result.method == "HEAD":
            return
        read_body(
            result,
            lambda amount: response.raw.read(amount, decode_content=False),
            response.headers.get("content-encoding", ""),
            budget,
            guard.context.deadline or float("inf"),
            raw_sink,
            raw_limit,
        )


def fetch_seconds(started: float, timeout: float, deadline: float | None) -> float:
    """How long a fetch started at ``started`` may take: ``timeout``, or less when the
    caller's ``deadline`` comes first (rounded to milliseconds, for messages)."""
    if deadline is None or deadline >= started + timeout:
        return timeout
    return round(deadline - started, 3)


def past_deadline(result: FetchResult) -> FetchResult:
    """A fetch not started because its caller's deadline had passed: a ``timeout``."""
    result.error_type = "timeout"
    result.error_message = "not started: the deadline had passed"
    return result


def read_body(
    result: FetchResult,
    read: Callable[[int], bytes],
    content_encoding: str,
    budget: int,
    deadline: float,
    raw_sink: Callable[[bytes], None] | None = None,
    raw_limit: int = 0,
) -> bool:
    """Read a body as transferred with ``read`` and keep up to ``budget`` bytes of it decoded.

    Both transports read bodies here, so max_bytes means the same after decompression for
    each. Returns True when the body was read to its end (the connection may be reused).
    """
    decoder = _Decoder(content_encoding)
    body = bytearray()
    sink_limit = raw_limit if raw_sink is not None else 0
    ended = False
    while len(body) < budget or result.bytes_read < sink_limit:
        chunk = read(CHUNK)
        if not chunk:
            ended = True
            break
        if result.bytes_read < sink_limit and raw_sink is not None:
            raw_sink(chunk[: sink_limit - result.bytes_read])
            result.raw_truncated = result.bytes_read + len(chunk) > sink_limit
        result.bytes_read += len(chunk)
        if len(body) < budget:
            body += decoder.decode(chunk, budget - len(body))
            result.truncated = len(body) >= budget
        if time.monotonic() > deadline:
            raise TimeoutError("wall-clock deadline passed while reading the body")
    else:
        # Stopped by a limit: the body was cut only if the server had more to send.
        more = bool(read(1))
        ended = not more
        result.truncated = result.truncated and more
        result.raw_truncated = result.raw_truncated or (bool(raw_sink) and more)
    result.body = bytes(body)
    result.content_hash = hashlib.sha256(body).hexdigest()
    return ended


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and every one it wraps (requests and urllib3 wrap them several deep)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                stack.append(linked)


def _errno_in(exc: BaseException) -> int | None:
    """The first OS error number in an exception's chain."""
    for current in _chain(exc):
        if isinstance(current, OSError) and isinstance(current.errno, int) and current.errno:
            return current.errno
    return None


def _classify(exc: BaseException, started: float, timeout: float) -> tuple[str, str]:
    """Name a transport failure the way verdicts need it: whose fault, and how final."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    text = str(exc)
    refused = next((e for e in _chain(exc) if isinstance(e, guard.PrivateAddressError)), None)
    if refused is not None:
        return "private_address", str(refused)[:200]
    too_large = next((e for e in _chain(exc) if isinstance(e, guard.HeadersTooLarge)), None)
    if too_large is not None:
        return "headers_too_large", str(too_large)
    at_vantage = next((e for e in _chain(exc) if isinstance(e, VantageError)), None)
    if at_vantage is not None:
        return at_vantage.error_type, str(at_vantage)[:300]
    if isinstance(exc, requests.exceptions.ProxyError):
        return _proxy_failure(exc, message)
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_NONAME:
            return "dns_nxdomain", message
        return "dns_failure", message
    if time.monotonic() - started >= timeout:
        return "timeout", f"no complete answer within {timeout:g} s ({message})"
    code = _errno_in(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls_error", message
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect_timeout", message
    if isinstance(exc, requests.exceptions.ReadTimeout | TimeoutError):
        return "timeout", message
    if code == errno.ECONNREFUSED:
        return "connection_refused", message
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
        return "network_unreachable", message
    if "NameResolutionError" in message or "Name or service not known" in text:
        return "dns_nxdomain", message
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return "invalid_url", message
    if isinstance(exc, zlib.error | urllib3.exceptions.DecodeError):
        return "protocol_error", f"body does not decode: {message}"
    if code in (errno.ECONNRESET, errno.EPIPE) or isinstance(
        exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return "connection_reset", message
    return "protocol_error", message


def _proxy_failure(exc: BaseException, message: str) -> tuple[str, str]:
    """An HTTP proxy (a vantage) that failed: unreachable itself, refusing the request
    (407, 403), or unable to reach the site (a ``CONNECT`` answered 502, 503, 504)."""
    text = " ".join(str(e) for e in _chain(exc))
    if "Tunnel connection failed" in text:
        code = text.split("Tunnel connection failed:", 1)[1].split()[0:1]
        if code and code[0] in ("502", "503", "504"):
            return "tunnel_failed", f"the vantage could not reach the site ({message})"
        return "vantage_refused", f"the vantage refused to connect ({message})"
    return "vantage_unreachable", f"no connection to the vantage ({message})"


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
