"""Vantage points: named proxies elsewhere (a VPS in another country) that see the web as
readers there do, and the SOCKS5 handshake the guarded transport speaks to reach them.

A vantage is ``NAME=URL`` with URL ``http://``, ``https://`` (an HTTP proxy: absolute-form
requests for ``http`` targets, ``CONNECT`` tunnels for ``https`` ones), ``socks5h://`` (the
proxy resolves names, so a DNS block here is not one there) or ``socks5://`` (names are
resolved here and the proxy is given the address the guard judged). Credentials in the URL
(``user:password@``) are sent to the proxy only, and never shown.

Failures that are the vantage's, not the site's, have error types of their own, so a vantage
that is down never counts as a vantage that could not reach the site:
``vantage_unreachable`` (no connection to the proxy) and ``vantage_refused`` (the proxy
would not carry the request: authentication, its own rules, a protocol it does not speak).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from ..errors import ConfigError

SCHEMES = ("http", "https", "socks5", "socks5h")
# Vantage failures that say nothing about the site: the vantage abstains.
VANTAGE_ERRORS = frozenset({"vantage_unreachable", "vantage_refused"})


@dataclass(frozen=True)
class Vantage:
    """One named proxy; its repr and ``shown`` leave the credentials out."""

    name: str
    scheme: str
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def socks(self) -> bool:
        return self.scheme.startswith("socks")

    @property
    def proxy_url(self) -> str:
        """The proxy's URL as ``requests`` takes it (HTTP proxies), credentials included."""
        auth = ""
        if self.username or self.password:
            auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}"

    @property
    def shown(self) -> str:
        """``NAME=URL`` with any credentials masked, for settings and messages."""
        auth = "***@" if self.username or self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}={self.scheme}://{auth}{host}:{self.port}"


def parse_vantage(entry: str) -> Vantage:
    """One ``NAME=URL`` entry of the ``vantage_points`` setting.

    >>> parse_vantage("de=socks5h://u:p%40ss@127.0.0.1:1080").shown
    'de=socks5h://***@127.0.0.1:1080'
    >>> parse_vantage("us=http://proxy.example").port
    80
    """
    name, sep, url = entry.partition("=")
    name, url = name.strip(), url.strip()
    if not sep or not name or not url:
        raise ConfigError(f"setting vantage_points: expected NAME=URL, got {_masked(entry)!r}")
    if not all(ch.isalnum() or ch in "-_." for ch in name) or name == "direct":
        raise ConfigError(
            f"setting vantage_points: {name!r} is not a name (letters, digits, - _ .; "
            "'direct' is this machine's own path)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"setting vantage_points: {name}: {exc}") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError(
            f"setting vantage_points: {name}: expected http://, https://, socks5:// or "
            "socks5h://HOST:PORT"
        )
    default_port = {"http": 80, "https": 443}.get(parts.scheme, 1080)
    return Vantage(
        name=name,
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or default_port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def parse_vantages(entries: tuple[str, ...]) -> tuple[Vantage, ...]:
    """Every vantage of the setting, names unique."""
    vantages = tuple(parse_vantage(entry) for entry in entries)
    names = [v.name for v in vantages]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"setting vantage_points: the name {name!r} is used twice")
    return vantages


def _masked(entry: str) -> str:
    """An entry as it may be shown in an error: anything between ``//`` and ``@`` hidden."""
    head, sep, rest = entry.partition("//")
    return head + sep + ("***@" + rest.rpartition("@")[2] if "@" in rest else rest)


class VantageError(OSError):
    """A fetch through a vantage that ended there; ``error_type`` as a fetch reports it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


# SOCKS5 (RFC 1928) replies: what the proxy says became of the connection to the target.
_SOCKS_REPLIES = {
    1: ("connection_reset", "general SOCKS server failure"),
    2: ("vantage_refused", "connection not allowed by the proxy's rules"),
    3: ("network_unreachable", "network unreachable from the vantage"),
    4: ("host_unreachable", "host unreachable from the vantage (or its name did not resolve)"),
    5: ("connection_refused", "connection refused, as seen from the vantage"),
    6: ("timeout", "TTL expired on the way from the vantage"),
    7: ("vantage_refused", "the proxy does not support CONNECT"),
    8: ("vantage_refused", "the proxy does not support this address type"),
}


def socks5_connect(
    sock: socket.socket, vantage: Vantage, host: str, port: int, deadline: float
) -> None:
    """Ask the SOCKS5 proxy on ``sock`` to connect to ``host``:``port``, all before
    ``deadline`` (time.monotonic); raises :class:`VantageError` saying what failed where.

    ``host`` is a name (``socks5h``: the proxy resolves it) or an address literal.
    """
    reader = _Reader(sock, deadline)
    methods = b"\x00\x02" if vantage.username or vantage.password else b"\x00"
    reader.send(b"\x05" + bytes([len(methods)]) + methods)
    version, method = reader.read(2)
    if version != 5:
        raise VantageError("vantage_refused", f"vantage {vantage.name} does not speak SOCKS5")
    if method == 2:
        user = vantage.username.encode("utf-8")[:255]
        password = vantage.password.encode("utf-8")[:255]
        reader.send(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        if reader.read(2)[1] != 0:
            raise VantageError(
                "vantage_refused", f"vantage {vantage.name} refused its username and password"
            )
    elif method != 0:
        raise VantageError(
            "vantage_refused", f"vantage {vantage.name} accepts none of our authentication methods"
        )
    reader.send(b"\x05\x01\x00" + _address(host) + port.to_bytes(2, "big"))
    _, reply, _, kind = reader.read(4)
    if reply != 0:
        error_type, says = _SOCKS_REPLIES.get(reply, ("connection_reset", f"SOCKS reply {reply}"))
        raise VantageError(error_type, f"vantage {vantage.name}: {says} ({host}:{port})")
    # The address the proxy bound: read and dropped (it is the proxy's, not the target's).
    length = {1: 4, 4: 16}.get(kind)
    if length is None:
        length = reader.read(1)[0] if kind == 3 else -1
    if length < 0:
        raise VantageError("vantage_refused", f"vantage {vantage.name}: a malformed SOCKS5 reply")
    reader.read(length + 2)


def _address(host: str) -> bytes:
    """A SOCKS5 address field: an IPv4 or IPv6 literal, else a name (at most 255 bytes)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host.encode("idna") if not host.isascii() else host.encode("ascii")
        if len(name) > 255:
            raise VantageError("invalid_url", "host name longer than 255 bytes") from None
        return b"\x03" + bytes([len(name)]) + name
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


class _Reader:
    """Exact reads and whole writes on a socket, each waiting at most until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def _wait(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the vantage did not answer within the deadline")
        self._sock.settimeout(left)

    def send(self, data: bytes) -> None:
        self._wait()
        self._sock.sendall(data)

    def read(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            self._wait()
            chunk = self._sock.recv(count - len(data))
            if not chunk:
                raise VantageError("vantage_refused", "the proxy closed the connection")
            data += chunk
        return bytes(data)
