"""Vantage points on loopback: an HTTP proxy (absolute-form requests and CONNECT tunnels), a
SOCKS5 proxy, and a site that answers each by where its request came from.

Each proxy connects onward *from its own source address* (127.0.0.3, 127.0.0.4, …: Linux
routes all of 127/8 to lo), as a proxy in another country connects from its own; a request
made directly comes from 127.0.0.1. :class:`RegionalSite` answers by that address, the way a
site that blocks a country (or a country that blocks a site) answers:

    with RegionalSite({"/news": {"127.0.0.3": 200, "*": "reset"}}) as site, \\
            HttpProxy(source="127.0.0.3") as abroad:
        ...  # direct: connection reset; through `abroad`: the page

Actions: a status code (200 serves an article), ``"reset"`` (a TCP reset, as a censor's
middlebox sends). Everything is real sockets; nothing leaves loopback.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import socketserver
import ssl
import struct
import threading
from pathlib import Path
from typing import Any

from testweb import serve_in_thread, stop_serving, write_self_signed_cert

ARTICLE = (
    "<!doctype html><html><head><title>Independent news: the vote</title></head><body>"
    "<article><h1>The vote</h1><p>The assembly met on Tuesday and voted on the budget. "
    "Reporters from three regions describe what was said and who stayed away.</p>"
    "</article></body></html>"
)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


def _read_head(sock: socket.socket, limit: int = 65536) -> bytes:
    """Bytes up to and including the blank line that ends an HTTP head."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(timeout=10)


class _Proxy:
    """What both proxies share: a source address, optional credentials, and counts."""

    def __init__(self, source: str, credentials: tuple[str, str] | None) -> None:
        if not source.startswith("127."):
            raise ValueError(f"test proxies connect from loopback only, not {source!r}")
        self.source = source
        self.credentials = credentials
        self.host = "127.0.0.1"
        self.port = 0
        self.requests: list[str] = []  # what each client asked for (host:port or a URL)
        self.connections = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _note(self, what: str) -> None:
        with self._lock:
            self.requests.append(what)

    def _upstream(self, host: str, port: int) -> socket.socket:
        address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.bind((self.source, 0))
        sock.connect(address)
        return sock

    def _serve(self, handle: Any) -> None:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with proxy._lock:
                    proxy.connections += 1
                self.request.settimeout(10)
                with contextlib.suppress(OSError):
                    handle(self.request)

        self._server = _Server((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = serve_in_thread(self._server)

    def stop(self) -> None:
        stop_serving(self._server, self._thread)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class HttpProxy(_Proxy):
    """An HTTP proxy: ``CONNECT host:port`` tunnels, and absolute-form requests forwarded with
    ``Connection: close``; Basic credentials (407 without them) when given."""

    def __init__(self, source: str = "127.0.0.3", credentials: tuple[str, str] | None = None):
        super().__init__(source, credentials)

    def __enter__(self) -> HttpProxy:
        self._serve(self._handle)
        return self

    def url(self, scheme: str = "http") -> str:
        auth = ":".join(self.credentials) + "@" if self.credentials else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"

    def _handle(self, client: socket.socket) -> None:
        head = _read_head(client)
        if not head:
            return
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        if self.credentials:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            if f"proxy-authorization: basic {token}".lower() not in (h.lower() for h in headers):
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                return
        self._note(target)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            try:
                upstream = self._upstream(host.strip("[]"), int(port))
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with upstream:
                _relay(client, upstream)
            return
        rest = target.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        host, _, port = authority.rpartition(":")
        try:
            upstream = self._upstream(host, int(port or 80))
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        kept = [
            h for h in headers if not h.lower().startswith(("proxy-", "connection:", "keep-alive:"))
        ]
        request = "\r\n".join([f"{method} /{path} HTTP/1.1", *kept, "Connection: close", "", ""])
        with upstream:
            upstream.sendall(request.encode("latin-1"))
            with contextlib.suppress(OSError):
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)


class Socks5Proxy(_Proxy):
    """A SOCKS5 proxy (RFC 1928; username and password, RFC 1929, when given) that resolves
    names itself (``socks5h``) or takes addresses (``socks5``)."""

    def __init__(self, source: str = "127.0.0.4", credentials: tuple[str, str] | None = None):
        super().__init__(source, credentials)

    def __enter__(self) -> Socks5Proxy:
        self._serve(self._handle)
        return self

    def url(self, scheme: str = "socks5h") -> str:
        auth = ":".join(self.credentials) + "@" if self.credentials else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"

    def _recv(self, sock: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise OSError("client went away")
            data += chunk
        return data

    def _handle(self, client: socket.socket) -> None:
        _, count = self._recv(client, 2)
        methods = self._recv(client, count)
        want = 2 if self.credentials else 0
        if want not in methods:
            client.sendall(b"\x05\xff")
            return
        client.sendall(bytes([5, want]))
        if want == 2:
            _, ulen = self._recv(client, 2)
            user = self._recv(client, ulen).decode()
            plen = self._recv(client, 1)[0]
            password = self._recv(client, plen).decode()
            ok = (user, password) == self.credentials
            client.sendall(b"\x01" + (b"\x00" if ok else b"\x01"))
            if not ok:
                return
        _, command, _, kind = self._recv(client, 4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, self._recv(client, 4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, self._recv(client, 16))
        else:
            host = self._recv(client, self._recv(client, 1)[0]).decode("idna")
        (port,) = struct.unpack(">H", self._recv(client, 2))
        self._note(f"{host}:{port}")
        if command != 1:
            client.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        try:
            upstream = self._upstream(host, port)
        except socket.gaierror:
            client.sendall(b"\x05\x04\x00\x01" + bytes(6))
            return
        except OSError:
            client.sendall(b"\x05\x05\x00\x01" + bytes(6))
            return
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(self.source) + b"\x00\x00")
        with upstream:
            _relay(client, upstream)


class RegionalSite:
    """A site on 127.0.0.1 that answers each path by the address its request came from.

    routes: path → {source address or "*": action}; an action is a status code (200: an
    article) or "reset". Unknown paths are 404. ``tls``: HTTPS with a self-signed certificate
    for 127.0.0.1 and localhost (``cert_path``).
    """

    __test__ = False

    def __init__(
        self,
        routes: dict[str, dict[str, int | str]],
        tls: bool = False,
        cert_dir: Path | None = None,
    ) -> None:
        self.routes = routes
        self.tls = tls
        self.cert_dir = cert_dir
        self.cert_path: Path | None = None
        self.seen: list[tuple[str, str]] = []  # (source address, path)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> RegionalSite:
        context = None
        if self.tls:
            if self.cert_dir is None:
                raise ValueError("a TLS RegionalSite needs cert_dir")
            self.cert_path, key_path = write_self_signed_cert(self.cert_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, key_path)
        site = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                source = sock.getpeername()[0]
                sock.settimeout(10)
                with contextlib.suppress(OSError, ssl.SSLError):
                    if context is not None:
                        sock = context.wrap_socket(sock, server_side=True)
                    site._answer(sock, source)

        self._server = _Server(("127.0.0.1", 0), Handler)
        port = self._server.server_address[1]
        self.base = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        self._thread = serve_in_thread(self._server)
        return self

    def __exit__(self, *exc_info: object) -> None:
        stop_serving(self._server, self._thread)

    def sources(self, path: str) -> list[str]:
        """The addresses requests for ``path`` came from, in order."""
        with self._lock:
            return [source for source, seen in self.seen if seen == path]

    def _answer(self, sock: socket.socket, source: str) -> None:
        head = _read_head(sock)
        if not head:
            return
        path = head.split(b" ", 2)[1].decode("latin-1").split("?")[0]
        with self._lock:
            self.seen.append((source, path))
        actions = self.routes.get(path, {"*": 404})
        action = actions.get(source, actions.get("*", 404))
        if action == "reset":
            # SO_LINGER 0: close() sends a TCP reset (on a TLS socket too: no close_notify).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        status = int(action)
        page = ARTICLE.replace("</article>", f"<p>Filed under {path}.</p></article>")
        body = (page if status == 200 else f"<html><title>{status}</title></html>").encode()
        sock.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
