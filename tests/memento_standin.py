"""Memento archives on loopback: TimeMaps, TimeGates and the mementos themselves, written the
awkward ways real archives write them.

One :class:`MementoArchive` is one archive (its own port, so its own host to archiver):

- ``/timemap/link/<url>``: a TimeMap (``application/link-format``) of the URL's mementos,
  each link on lines of its own with odd spacing and tabs, quoted relations of several values
  (``rel="first memento"``, ``"last memento"``), a ``title`` holding commas, semicolons and
  escaped quotes, memento URLs holding commas and semicolons, upper-case parameter names;
  with ``page_size``, paged: each page links the next by ``rel="timemap"`` with
  ``from``/``until``, and itself by ``rel="self"``. ``listed_status`` adds a ``status``
  parameter to each memento (as some archives do).
- ``/timegate/<url>``: ``Accept-Datetime`` → 302 to the nearest memento (either side, as real
  TimeGates choose), ``Vary: accept-datetime`` and a Link header naming the original, the
  TimeMap and the ``first``/``last``/``prev``/``next`` mementos with their datetimes.
- ``/web/<14 digits>/<url>``: a memento, with ``Memento-Datetime``: the article
  (``content``), an archived block page (``block_page``: 403) or an archived "not found"
  page (``not_found``: 200, "Page not found").
- ``/status/<code>``: that status for every request (``answer_all``), e.g. 429.

An aggregator is a MementoArchive whose ``links`` name mementos held by others
(:meth:`aggregate`). Every request is logged (path, Accept-Datetime).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote

import pytest
from testweb import serve_in_thread, stop_serving

ARTICLE = (
    "<!doctype html><html><head><title>Independent news: the vote</title></head><body>"
    "<article><h1>The vote</h1><p>The assembly met on Tuesday and voted on the budget, as "
    "the archived copy of {url} from {ts} shows.</p></article></body></html>"
)
NOT_FOUND = "<html><head><title>Page not found</title></head><body>Not found</body></html>"
BLOCK = "<html><head><title>Access denied</title></head><body>Forbidden</body></html>"


@dataclass(frozen=True)
class Held:
    """One memento: when (14 digits), what it holds, and which archive base serves it."""

    timestamp: str
    holds: str = "content"
    base: str = ""  # another archive's base URL (an aggregator's link); "" for this one

    @property
    def moment(self) -> datetime:
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


class MementoArchive:
    """One Memento archive on loopback; see the module docstring."""

    __test__ = False

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.base = ""
        self.mementos: dict[str, list[Held]] = {}
        self.page_size: int | None = None
        self.listed_status = False
        self.answer_all: int | None = None
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def hold(self, url: str, *held: Held) -> None:
        self.mementos.setdefault(url, []).extend(held)
        self.mementos[url].sort(key=lambda h: h.timestamp)

    def aggregate(self, url: str, *archives: MementoArchive) -> None:
        """List the others' mementos of ``url`` as this archive's own TimeMap does."""
        for archive in archives:
            for held in archive.mementos.get(url, []):
                self.hold(url, Held(held.timestamp, held.holds, archive.base))

    def timemap(self, url: str = "{url}") -> str:
        return f"{self.base}/timemap/link/{url}"

    def timegate(self, url: str = "{url}") -> str:
        return f"{self.base}/timegate/{url}"

    def memento_url(self, timestamp: str, url: str) -> str:
        return f"{self.base}/web/{timestamp}/{url}"

    def paths(self, prefix: str) -> list[str]:
        with self._lock:
            return [path for path, _ in self.requests if path.startswith(prefix)]

    def __enter__(self) -> MementoArchive:
        archive = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with archive._lock:
                    archive.requests.append((self.path, self.headers.get("Accept-Datetime")))
                status, headers, body = archive._answer(self.path, self.headers)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def server_bind(self) -> None:  # no reverse DNS lookup (getfqdn)
                import socketserver

                socketserver.TCPServer.server_bind(self)

        self._server = Server((self.host, 0), Handler)
        self.base = f"http://{self.host}:{self._server.server_address[1]}"
        self._thread = serve_in_thread(self._server)
        return self

    def __exit__(self, *exc_info: object) -> None:
        stop_serving(self._server, self._thread)

    # --- answers -------------------------------------------------------------------------

    def _answer(self, path: str, headers: object) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.answer_all is not None:
            return self.answer_all, [], b"slow down"
        if path.startswith("/timemap/link/"):
            return self._timemap(path.removeprefix("/timemap/link/"))
        if path.startswith("/timegate/"):
            wanted = headers.get("Accept-Datetime")
            return self._timegate(unquote(path.removeprefix("/timegate/")), wanted)
        if path.startswith("/web/"):
            timestamp, _, url = path.removeprefix("/web/").partition("/")
            return self._memento(timestamp, url)
        return 404, [], b"no such page"

    def _timemap(self, rest: str) -> tuple[int, list[tuple[str, str]], bytes]:
        page = 1
        if rest.startswith("page/"):
            number, _, rest = rest.removeprefix("page/").partition("/")
            page = int(number)
        url = unquote(rest)
        held = self.mementos.get(url)
        if not held:
            return 404, [], b"no mementos"
        size = self.page_size or len(held)
        chunk = held[(page - 1) * size : page * size]
        links = [f'<{url}>;rel="original"']
        self_url = self.timemap(url) if page == 1 else f"{self.base}/timemap/link/page/{page}/{url}"
        links.append(f'<{self_url}> ; rel="self"; type="application/link-format"')
        links.append(f'<{self.timegate(url)}>;\n\trel="timegate"')
        for n, h in enumerate(chunk):
            rel = "memento"
            if n == 0 and page == 1:
                rel = "first memento"
            elif h is held[-1]:
                rel = "last memento"
            where = (h.base or self.base) + f"/web/{h.timestamp}/{url}"
            extra = f'; status="{_STATUS[h.holds]}"' if self.listed_status else ""
            links.append(
                f'<{where}>\n   ; REL="{rel}" ;\tdatetime="{_http(h.moment)}"'
                f'; title="a \\"copy\\", archived; really"{extra}'
            )
        if page * size < len(held):
            following = held[page * size : (page + 1) * size]
            links.append(
                f'<{self.base}/timemap/link/page/{page + 1}/{url}>; rel="timemap"; '
                f'type="application/link-format"; from="{_http(following[0].moment)}"; '
                f'until="{_http(following[-1].moment)}"'
            )
        body = ",\n".join(links) + "\n"
        return 200, [("Content-Type", "application/link-format")], body.encode()

    def _timegate(self, url: str, wanted: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
        held = self.mementos.get(url)
        if not held:
            return 404, [("Vary", "accept-datetime")], b"none"
        moment = parsedate_to_datetime(wanted) if wanted else held[-1].moment
        best = min(held, key=lambda h: abs((h.moment - moment).total_seconds()))
        at = held.index(best)
        named = {"first memento": held[0], "last memento": held[-1], "memento": best}
        if at > 0:
            named["prev memento"] = held[at - 1]
        if at + 1 < len(held):
            named["next memento"] = held[at + 1]
        links = [f'<{url}>; rel="original"', f'<{self.timemap(url)}>; rel="timemap"']
        links += [
            f'<{(h.base or self.base)}/web/{h.timestamp}/{url}>; rel="{rel}"; '
            f'datetime="{_http(h.moment)}"'
            for rel, h in named.items()
        ]
        location = f"{best.base or self.base}/web/{best.timestamp}/{url}"
        return (
            302,
            [("Location", location), ("Vary", "accept-datetime"), ("Link", ", ".join(links))],
            b"",
        )

    def _memento(self, timestamp: str, url: str) -> tuple[int, list[tuple[str, str]], bytes]:
        held = next((h for h in self.mementos.get(url, []) if h.timestamp == timestamp), None)
        if held is None:
            return 404, [], b"no such memento"
        headers = [
            ("Memento-Datetime", _http(held.moment)),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Link", f'<{url}>; rel="original"'),
        ]
        if held.holds == "block_page":
            return 403, headers, BLOCK.encode()
        if held.holds == "not_found":
            return 200, headers, NOT_FOUND.encode()
        return 200, headers, ARTICLE.format(url=url, ts=timestamp).encode()


_STATUS = {"content": 200, "block_page": 403, "not_found": 404}


def _http(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@pytest.fixture
def archives() -> Iterator[tuple[MementoArchive, MementoArchive, MementoArchive]]:
    """Two archives and an aggregator, each its own host (127.0.0.5, .6, .7)."""
    with (
        MementoArchive("127.0.0.5") as a,
        MementoArchive("127.0.0.6") as b,
        MementoArchive("127.0.0.7") as aggregator,
    ):
        yield a, b, aggregator
