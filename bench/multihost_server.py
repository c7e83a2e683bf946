"""A local "web" of many hosts with injected latency, for benchmarking link checkers.

Listens on H loopback addresses (127.0.1.1 … 127.0.1.H, all routed to ``lo`` on Linux) on one
shared port, and answers every GET/HEAD with 200 and a ~1 KB HTML page after
``asyncio.sleep(latency)`` (with ``--ok-prefix /source/``, only paths under it; others get a
real 404, so checkers that probe a made-up path to detect soft-404 sites see a healthy site).
``/robots.txt`` allows everything. HTTP is parsed by hand on asyncio streams because ``http.server``
is far too slow to stay out of the measurement. It runs as its own process(es), so its CPU never
shares the checker's GIL; ``--workers N`` forks N processes that share the port via
SO_REUSEPORT, and the kernel balances connections between them.

The first line on stdout is JSON: ``{"port": P, "hosts": [...], "base_urls": [...], ...}``.
``GET /__stats`` (answered at once, not counted) returns request counters summed over workers,
so a harness can see retries, HEAD-then-GET pairs and robots.txt fetches.

The server stops by itself after ``--max-seconds``, on SIGTERM/SIGINT, and workers stop when
their parent dies.

Example: python bench/multihost_server.py --hosts 20 --latency 0.1 --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.sharedctypes import RawArray
from typing import Any

LOCAL_NET_PREFIX = "127.0.1."
MAX_HOSTS = 254
# Counter slots per worker in the shared array.
COUNTERS = ("requests", "get", "head", "robots", "not_found", "other", "connections")
ROBOTS_BODY = b"User-agent: *\nAllow: /\n"
NOT_FOUND_BODY = b"<!doctype html><title>Not found</title><h1>Not found</h1>\n"
FILLER = (
    "This page stands in for a cited source. It is served by the benchmark's multi-host "
    "server after an injected delay, so that a link checker's throughput is limited by how "
    "many requests it keeps in flight, not by how fast the server answers. "
)


def host_addresses(count: int) -> list[str]:
    """The loopback addresses the server listens on: 127.0.1.1 … 127.0.1.count."""
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"--hosts must be 1..{MAX_HOSTS}, got {count}")
    return [f"{LOCAL_NET_PREFIX}{i}" for i in range(1, count + 1)]


def page(path: str) -> bytes:
    """A small HTML page (~1 KB) that names its path, so every URL has distinct content."""
    safe = html.escape(path)
    return (
        "<!doctype html>\n<html><head><meta charset=utf-8>"
        f"<title>Source {safe}</title></head>\n<body><h1>Source {safe}</h1>\n"
        f"<p>You asked for {safe}. {FILLER * 4}</p>\n</body></html>\n"
    ).encode()


def response_head(status: str, content_type: str, length: int, keep_alive: bool) -> bytes:
    """Status line and headers.

    ``LinkChecker: 1`` is the opt-in that LinkChecker requires before it lifts its own
    per-host rate limit (otherwise it waits 0.1–0.6 s between requests to one host); other
    clients ignore it.
    """
    return (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "LinkChecker: 1\r\n"
        "Server: bench-multihost\r\n"
        "\r\n"
    ).encode("latin-1")


class Server:
    """One worker's request handling; it writes only its own slots of the shared counters."""

    def __init__(self, latency: float, ok_prefix: str, stats: Any, index: int, workers: int):
        self.latency = latency
        self.ok_prefix = ok_prefix
        self.stats = stats
        self.offset = index * len(COUNTERS)
        self.workers = workers

    def count(self, name: str) -> None:
        self.stats[self.offset + COUNTERS.index(name)] += 1

    def stats_json(self) -> bytes:
        """Counters summed over all workers (each worker writes only its own slots)."""
        n = len(COUNTERS)
        totals = {
            name: sum(self.stats[w * n + i] for w in range(self.workers))
            for i, name in enumerate(COUNTERS)
        }
        return json.dumps(totals).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one keep-alive connection until the client closes it."""
        self.count("connections")
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    writer.write(response_head("400 Bad Request", "text/plain", 0, False))
                    return
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                body_length = int(headers.get("content-length", "0") or 0)
                if body_length:
                    await reader.readexactly(body_length)
                connection = headers.get("connection", "").lower()
                keep_alive = (
                    connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
                )
                path = target.split("?", 1)[0]
                if path == "/__stats":
                    body = self.stats_json()
                    writer.write(response_head("200 OK", "application/json", len(body), keep_alive))
                    writer.write(body)
                else:
                    keep_alive = await self.respond(writer, method, target, path, keep_alive)
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, ValueError):
            return
        except asyncio.CancelledError:
            return  # shutting down: end quietly instead of a traceback per open connection
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def respond(
        self, writer: asyncio.StreamWriter, method: str, target: str, path: str, keep_alive: bool
    ) -> bool:
        """Answer one request after the injected latency; returns whether to keep the connection."""
        self.count("requests")
        if method not in ("GET", "HEAD"):
            self.count("other")
            writer.write(response_head("405 Method Not Allowed", "text/plain", 0, False))
            return False
        self.count("get" if method == "GET" else "head")
        await asyncio.sleep(self.latency)
        status = "200 OK"
        if path == "/robots.txt":
            self.count("robots")
            body, content_type = ROBOTS_BODY, "text/plain; charset=utf-8"
        elif path.startswith(self.ok_prefix):
            body, content_type = page(target), "text/html; charset=utf-8"
        else:
            self.count("not_found")
            status, body, content_type = "404 Not Found", NOT_FOUND_BODY, "text/html; charset=utf-8"
        writer.write(response_head(status, content_type, len(body), keep_alive))
        if method == "GET":
            writer.write(body)
        return keep_alive


def make_socket(address: str, port: int, listen: bool) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT, so every worker can bind the same address and port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address, port))
    if listen:
        sock.listen(4096)
        sock.setblocking(False)
    return sock


def reserve_port(addresses: list[str], port: int, attempts: int = 50) -> list[socket.socket]:
    """Bind (not listen) one socket per address on one common port, to hold it for the workers.

    A bound socket that is not listening gets no connections, so the workers' listening
    sockets (same port, SO_REUSEPORT) receive them all. With ``port == 0`` the kernel picks
    a port on the first address; a few retries cover it being taken on another address.
    """
    for _ in range(attempts if port == 0 else 1):
        held: list[socket.socket] = []
        try:
            first = make_socket(addresses[0], port, listen=False)
            held.append(first)
            chosen = first.getsockname()[1]
            held.extend(make_socket(a, chosen, listen=False) for a in addresses[1:])
            return held
        except OSError:
            for sock in held:
                sock.close()
            if port != 0:
                raise
    raise OSError(f"no port free on all of {addresses[0]}…{addresses[-1]}")


def install_loop_policy(apply: bool = True) -> str:
    """Use uvloop when it is installed (faster event loop), else asyncio's default."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return "asyncio"
    if apply:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def worker_main(
    index: int,
    addresses: list[str],
    port: int,
    latency: float,
    ok_prefix: str,
    stats: Any,
    workers: int,
    deadline: float,
    ready: Any,
) -> None:
    """One server process: listen on every address, serve until the deadline or SIGTERM."""
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    install_loop_policy()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = Server(latency, ok_prefix, stats, index, workers)
        servers = [
            await asyncio.start_server(
                server.handle, sock=make_socket(address, port, listen=True), limit=65536
            )
            for address in addresses
        ]
        ready.release()
        while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
        for srv in servers:
            srv.close()

    asyncio.run(serve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=20, help="number of loopback hosts")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0, help="port on every host (0 = pick one)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (SO_REUSEPORT)")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop after this long")
    parser.add_argument(
        "--ok-prefix",
        default="/",
        help="answer 200 only under this path prefix, 404 elsewhere (default: every path); "
        "a checker that probes a made-up path to spot soft-404 sites needs a real 404",
    )
    args = parser.parse_args(argv)

    addresses = host_addresses(args.hosts)
    held = reserve_port(addresses, args.port)
    port = held[0].getsockname()[1]
    deadline = time.monotonic() + args.max_seconds
    workers = max(1, args.workers)
    ctx = multiprocessing.get_context("fork")
    stats = RawArray("q", workers * len(COUNTERS))
    ready = ctx.Semaphore(0)
    procs = [
        ctx.Process(
            target=worker_main,
            args=(
                i,
                addresses,
                port,
                args.latency,
                args.ok_prefix,
                stats,
                workers,
                deadline,
                ready,
            ),
            daemon=True,
        )
        for i in range(workers)
    ]
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    for proc in procs:
        proc.start()
    for _ in procs:
        if not ready.acquire(timeout=30):
            print(json.dumps({"error": "workers did not start"}), flush=True)
            stopping = True
            break
    else:
        print(
            json.dumps(
                {
                    "port": port,
                    "ports": [port] * len(addresses),
                    "hosts": addresses,
                    "base_urls": [f"http://{a}:{port}" for a in addresses],
                    "latency": args.latency,
                    "ok_prefix": args.ok_prefix,
                    "workers": workers,
                    "loop": install_loop_policy(apply=False),
                    "pid": os.getpid(),
                }
            ),
            flush=True,
        )
    while not stopping and time.monotonic() < deadline and all(p.is_alive() for p in procs):
        time.sleep(0.2)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
    for sock in held:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
