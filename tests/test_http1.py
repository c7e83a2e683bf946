"""The check's lean HTTP/1.1 transport: what requests would have seen, within the same limits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from testweb import TestWeb, refused_port

from archiver.net import guard
from archiver.net.fetch import Fetcher, FetchLimits, FetchResult
from archiver.net.http1 import LeanFetcher

LIMITS = FetchLimits(timeout=3.0, max_bytes=500_000, allow_private_networks=True)
# Every hard case of the test web, fetched by both transports.
PATHS = (
    "/article/budget",
    "/status/404",
    "/status/410",
    "/status/500",
    "/status/401",
    "/status/403",
    "/status/451",
    "/status/429",
    "/redirect/permanent",
    "/redirect/308",
    "/redirect/temporary",
    "/redirect/home",
    "/redirect/login",
    "/loginwall",
    "/soft404/en",
    "/soft404/ru",
    "/head405",
    "/head-lies",
    "/loop/a",
    "/chain/12",
    "/chain/3",
    "/cp1251",
    "/endless",
    "/gzipbomb",
    "/pdf",
    "/article/etag",
    "/no-such-page",
)


def seen(result: FetchResult) -> dict[str, Any]:
    """What a verdict, a stored check row or a capture reads from a result."""
    return {
        "status": result.status,
        "final_url": result.final_url,
        "error_type": result.error_type,
        "hops": [(hop["url"], hop["status"], hop["location"]) for hop in result.redirects],
        "headers": {k: v for k, v in result.headers.items() if k != "date"},
        "content_type": result.content_type,
        "body": result.body,
        "truncated": result.truncated,
        "content_hash": result.content_hash,
        "http_version": result.http_version,
        "ip": result.ip,
        "retry_after": result.retry_after,
    }


def test_every_hard_case_reads_as_requests_reads_it(web: TestWeb) -> None:
    old, new = Fetcher(LIMITS), LeanFetcher(LIMITS)
    try:
        for path in PATHS:
            for method in ("GET", "HEAD"):
                want = seen(old.fetch(web.url(path), method=method))
                got = seen(new.fetch(web.url(path), method=method))
                assert got == want, (path, method)
        etag = old.fetch(web.url("/article/etag")).headers["etag"]
        conditional = {"If-None-Match": etag}
        assert seen(new.fetch(web.url("/article/etag"), headers=conditional)) == seen(
            old.fetch(web.url("/article/etag"), headers=conditional)
        )
        # What was sent: the same headers in the same order, Host aside.
        sent = [r.headers for r in web.requests_to("/article/budget")]
        assert list(sent[0].items()) == list(sent[1].items())
    finally:
        old.close()
        new.close()


# "source.invalid" is meant to fail resolution, as it does with or without internet.
@pytest.mark.offline_names(".invalid")
def test_failures_get_the_same_words(web: TestWeb, tls_web: TestWeb) -> None:
    urls = [
        f"http://127.0.0.1:{refused_port()}/gone",
        "http://source.invalid/page",
        tls_web.url("/article/secure"),
        "http://[::1:bad/",
    ]
    old, new = Fetcher(LIMITS), LeanFetcher(LIMITS)
    for url in urls:
        assert new.fetch(url).error_type == old.fetch(url).error_type, url
    # A trusted certificate: the same page over TLS.
    trusting = FetchLimits(
        timeout=3.0, allow_private_networks=True, ca_bundle=str(tls_web.cert_path)
    )
    secure = LeanFetcher(trusting).fetch(tls_web.url("/article/secure"))
    assert secure.status == 200 and secure.tls_cert_der and b"Secure" in secure.body
    assert (
        seen(secure)["body"]
        == seen(Fetcher(trusting).fetch(tls_web.url("/article/secure")))["body"]
    )


def test_the_deadline_holds_against_trickling_servers(web: TestWeb) -> None:
    fetcher = LeanFetcher(FetchLimits(timeout=1.0, allow_private_networks=True))
    for path in ("/trickle-headers", "/trickle"):
        started = time.monotonic()
        result = fetcher.fetch(web.url(path))
        assert result.error_type == "timeout", path
        assert time.monotonic() - started < 1.5


def test_max_bytes_counts_decompressed_bytes(web: TestWeb) -> None:
    result = LeanFetcher(FetchLimits(max_bytes=100_000, allow_private_networks=True)).fetch(
        web.url("/gzipbomb")
    )
    assert len(result.body) == 100_000 and result.truncated
    assert result.bytes_read < 100_000  # compressed bytes on the wire: far fewer


def test_private_addresses_are_refused_before_connecting(web: TestWeb) -> None:
    port = web.base.rsplit(":", 1)[1]
    guarded = LeanFetcher(FetchLimits(timeout=3.0))
    for url in (
        web.url("/article/x"),
        f"http://2130706433:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
    ):
        assert guarded.fetch(url).error_type == "private_address", url
    assert web.requests == []


def test_the_socket_guard_catches_what_dns_did_not_say(web: TestWeb) -> None:
    class Rebound(LeanFetcher):
        def _refuse_address(self, url: str) -> None:
            return None

    result = Rebound(FetchLimits(timeout=3.0)).fetch(web.url("/article/x"))
    assert result.error_type == "private_address"
    assert web.requests == []


@pytest.mark.parametrize("dns_says_public", [False, True])
def test_every_redirect_hop_passes_the_guard(
    web: TestWeb, web2: TestWeb, monkeypatch: pytest.MonkeyPatch, dns_says_public: bool
) -> None:
    """127.0.0.1 stands in for a public site that redirects to a private one (127.0.0.2)."""
    monkeypatch.setattr(guard, "is_public_address", lambda address: address == "127.0.0.1")
    web.set_page("/hop", "moved", status=302, headers={"Location": web2.url("/article/inside")})

    class Fetching(LeanFetcher):
        def _refuse_address(self, url: str) -> tuple[str, str] | None:
            return None if dns_says_public else super()._refuse_address(url)

    result = Fetching(FetchLimits(timeout=3.0)).fetch(web.url("/hop"))
    assert result.error_type == "private_address"
    assert [hop["status"] for hop in result.redirects] == [302]
    assert len(web.requests_to("/hop")) == 1 and web2.requests == []


def test_connections_are_kept_alive_and_shared(web: TestWeb) -> None:
    fetcher = LeanFetcher(LIMITS)
    threads = [
        threading.Thread(target=lambda: [fetcher.fetch(web.url("/article/a")) for _ in range(5)])
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(5):
        fetcher.fetch(web.url("/redirect/temporary"))  # a redirect keeps its connection too
    clients = {r.client for r in web.requests}
    assert len(web.requests) == 25 and len(clients) <= 3
    fetcher.close()


# --- odd but legal (and some illegal) answers, from a scripted server -------------------


class Scripted:
    """A server whose answers a test writes byte for byte; it records every request."""

    def __init__(self, answer: Callable[[str, dict[str, str], int], tuple[bytes, bool]]) -> None:
        self.answer = answer  # (path, headers, nth request on its connection) -> (bytes, close)
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf, nth = b"", 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = dict(line.split(": ", 1) for line in lines[1:])
                nth += 1
                self.requests.append((path, headers, nth))
                data, close = self.answer(path, headers, nth)
                conn.sendall(data)
                if close:
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def make(answer: Callable[[str, dict[str, str], int], tuple[bytes, bool]]) -> Scripted:
        servers.append(Scripted(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


PAGE = b"<html><head><title>Fine</title></head><body><p>Fine.</p></body></html>"


def test_framings_chunked_close_delimited_and_interim(scripted: Callable[..., Scripted]) -> None:
    def answer(path: str, headers: dict[str, str], nth: int) -> tuple[bytes, bool]:
        if path == "/chunked":
            body = b"".join(
                b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in (PAGE[:10], PAGE[10:])
            )
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
                b"X-Folded: one\r\n two\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n"
                + body
                + b"0\r\nX-Trailer: yes\r\n\r\n",
                False,
            )
        if path == "/http10":
            return b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE, True
        if path == "/continue":
            return (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                % (len(PAGE), PAGE),
                False,
            )
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False

    server = scripted(answer)
    fetcher = LeanFetcher(LIMITS)
    chunked = fetcher.fetch(server.base + "/chunked")
    assert (chunked.status, chunked.body, chunked.error_type) == (200, PAGE, None)
    assert chunked.headers["x-folded"] == "one two" and chunked.headers["x-twice"] == "a, b"
    again = fetcher.fetch(server.base + "/chunked")  # the same connection, read to its end
    assert again.body == PAGE and server.connections == 1
    old = fetcher.fetch(server.base + "/http10")
    assert (old.status, old.body, old.http_version) == (200, PAGE, "HTTP/1.0")
    interim = fetcher.fetch(server.base + "/continue")
    assert (interim.status, interim.body) == (200, PAGE)


def test_a_kept_connection_closed_by_the_server_is_retried_once(
    scripted: Callable[..., Scripted],
) -> None:
    page = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE)
    # Keep-alive announced, then the connection dropped: the next request finds it dead.
    server = scripted(lambda path, headers, nth: (page, True))
    fetcher = LeanFetcher(LIMITS)
    assert fetcher.fetch(server.base + "/a").ok
    time.sleep(0.05)
    assert fetcher.fetch(server.base + "/b").ok
    assert server.connections == 2 and len(server.requests) == 2


def test_broken_answers_are_protocol_errors_or_resets(scripted: Callable[..., Scripted]) -> None:
    answers = {
        "/garbage": (b"SSH-2.0-OpenSSH\r\n\r\n", True),
        "/short": (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nonly this", True),
        "/silent": (b"", True),
        "/badchunk": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", True),
    }
    server = scripted(lambda path, headers, nth: answers[path])
    fetcher = LeanFetcher(LIMITS)
    errors = {path: fetcher.fetch(server.base + path).error_type for path in answers}
    assert errors == {
        "/garbage": "protocol_error",
        "/short": "protocol_error",
        "/silent": "connection_reset",
        "/badchunk": "protocol_error",
    }


def test_cookies_set_on_a_hop_go_to_the_next(scripted: Callable[..., Scripted]) -> None:
    def answer(path: str, headers: dict[str, str], nth: int) -> tuple[bytes, bool]:
        if path == "/start":
            return (
                b"HTTP/1.1 302 Found\r\nLocation: /landing\r\nSet-Cookie: consent=yes; Path=/\r\n"
                b"Content-Length: 0\r\n\r\n",
                False,
            )
        if headers.get("Cookie") != "consent=yes":
            return b"HTTP/1.1 302 Found\r\nLocation: /start\r\nContent-Length: 0\r\n\r\n", False
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE), False

    server = scripted(answer)
    result = LeanFetcher(LIMITS).fetch(server.base + "/start")
    assert (result.status, result.final_url) == (200, server.base + "/landing")
    assert server.connections == 1  # the empty-bodied redirect kept its connection
