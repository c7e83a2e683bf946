"""A local Wayback Machine: the Internet Archive's wire formats, served on loopback for tests.

A real HTTP server (``http.server`` on 127.0.0.1, port 0, a daemon thread), answering at the
Archive's own paths, so the code under test builds real requests and parses real answers:

- ``POST /save``: SPN2. Form fields (``url``, ``if_not_archived_within``, ...) and
  ``Authorization: LOW <access>:<secret>``; 401 without or with wrong keys; ``{"url", "job_id"}``
  with ids like ``spn2-<hex>``, or an HTTP 200 refusal ``{"status": "error", "status_ext",
  "message"}`` (see :meth:`WaybackStandin.refuse`, and ``error:user-session-limit`` when every
  session is busy).
- ``GET /save/status/<job_id>``: ``pending`` for a while, then ``success`` (``timestamp``,
  ``original_url``, ...) or ``error`` (``status_ext``); see :meth:`WaybackStandin.job_outcome`.
  A successful job adds a capture, listed by the CDX server ``cdx_delay`` seconds later.
- ``GET /save/status/user``: ``available``, ``processing``, ``daily_captures``,
  ``daily_captures_limit`` (keys required).
- ``GET /cdx/search/cdx``: ``url`` (exact match on a SURT-like key), ``output=json`` (header row
  first) or plain text, ``fl``, ``filter=[!]field:regex`` (repeatable), ``from``/``to``,
  ``sort=closest&closest=<ts>`` and ``sort=reverse``, ``limit`` (negative: the last N).
- ``GET /wayback/available?url=&timestamp=``: the availability API's JSON.
- ``GET /web/<ts>[id_]/<url>``: playback; 302 to the nearest capture when not exact, else the
  stored body with the captured status.

Failure modes, per endpoint kind (``save``, ``status``, ``user``, ``cdx``, ``available``,
``playback``), for N calls of that kind, queued in order: :meth:`fail` (429 pages with no
Retry-After, 5xx) and :meth:`slow` (answers after a real delay, for timeouts).

Every request is recorded (method, path, query, headers, form, time) so tests can check pacing,
and that keys are sent where they belong. ``now`` (a settable callable, seconds since the epoch)
dates captures, jobs and records: tests point it at their fake clock.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
from testweb import serve_in_thread, stop_serving

FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
KINDS = ("save", "status", "user", "cdx", "available", "playback")
# The first 14-digit moment a partial timestamp stands for ("2018" is 2018-01-01 00:00:00).
_TS_FLOOR = "00000101000000"


@dataclass
class Capture:
    """One capture the stand-in holds; the CDX server lists it from ``visible_at`` on."""

    url: str
    timestamp: str
    status: int | None
    mimetype: str
    digest: str
    body: bytes
    visible_at: float


@dataclass
class Job:
    """One SPN2 job: pending for ``pending_polls`` polls (or until released), then done."""

    job_id: str
    url: str
    pending_polls: int = 1
    stay_pending: bool = False
    status_ext: str | None = None
    message: str = ""
    existing: str | None = None
    polls: int = 0
    done: bool = False
    timestamp: str | None = None


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived; ``time`` is the stand-in's ``now()``."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]
    time: float
    kind: str


@dataclass
class _Outcome:
    pending_polls: int = 1
    stay_pending: bool = False
    status_ext: str | None = None
    message: str = ""


@dataclass
class _Trouble:
    status: int = 0
    delay: float = 0.0
    times: int = 1
    after: int = 0
    echo: bool = False


def urlkey(url: str) -> str:
    """The SURT-like key captures are matched by: no scheme, no www., host labels reversed.

    >>> urlkey("https://www.Example.org/News?id=1")
    'org,example)/news?id=1'
    """
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port not in (None, 80, 443) else ""
    key = ",".join(reversed(host.split("."))) + port + ")" + (parts.path or "/")
    return (key + ("?" + parts.query if parts.query else "")).lower()


def to_datetime(timestamp: str) -> datetime:
    padded = timestamp + _TS_FLOOR[len(timestamp) :]
    return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


class WaybackStandin:
    """The local Wayback Machine; see the module docstring for what it answers."""

    __test__ = False

    def __init__(
        self,
        access_key: str = "test-access",
        secret_key: str = "test-secret",
        sessions: int = 3,
        daily_captures_limit: int = 100_000,
        cdx_delay: float = 0.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.sessions = sessions
        self.daily_captures_limit = daily_captures_limit
        self.cdx_delay = cdx_delay
        self.now = now
        self.base = ""
        self._lock = threading.Lock()
        self._captures: list[Capture] = []
        self._jobs: dict[str, Job] = {}
        self._outcomes: dict[str, _Outcome] = {}
        self._refusals: dict[str, tuple[str, str]] = {}
        self._trouble: dict[str, list[_Trouble]] = {kind: [] for kind in KINDS}
        self._log: list[Recorded] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> WaybackStandin:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self  # type: ignore[attr-defined]
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)

    def __enter__(self) -> WaybackStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base + path

    # --- what tests set up -----------------------------------------------------------------

    def add_snapshot(
        self,
        url: str,
        timestamp: str,
        status: int | None = 200,
        digest: str | None = None,
        body: bytes | str | None = None,
        mimetype: str = "text/html",
        visible_after: float = 0.0,
    ) -> Capture:
        """Hold a capture of ``url``; the CDX server lists it ``visible_after`` seconds from now."""
        data = body.encode() if isinstance(body, str) else body
        if data is None:
            data = f"<html><body>{url} as captured at {timestamp}</body></html>".encode()
        capture = Capture(
            url=url,
            timestamp=timestamp,
            status=status,
            mimetype=mimetype,
            digest=digest or base64.b32encode(hashlib.sha1(data).digest()).decode(),
            body=data,
            visible_at=self.now() + visible_after,
        )
        with self._lock:
            self._captures.append(capture)
        return capture

    def refuse(self, url: str, status_ext: str, message: str = "") -> None:
        """Answer ``POST /save`` for this URL with an HTTP 200 refusal."""
        with self._lock:
            self._refusals[url] = (status_ext, message or f"Refused: {status_ext}")

    def job_outcome(
        self,
        url: str,
        *,
        status_ext: str | None = None,
        message: str = "",
        pending_polls: int = 1,
        stay_pending: bool = False,
    ) -> None:
        """How jobs for this URL end: success, or error with ``status_ext``, after some polls."""
        with self._lock:
            self._outcomes[url] = _Outcome(pending_polls, stay_pending, status_ext, message)

    def release_jobs(self) -> None:
        """Let jobs held pending finish at their next poll."""
        with self._lock:
            for job in self._jobs.values():
                job.stay_pending = False

    def fail(self, kind: str, status: int, times: int = 1, after: int = 0) -> None:
        """Answer ``times`` calls of this kind, after ``after`` more good ones, with ``status``.

        A 429 comes without Retry-After, as the Archive sends it. Troubles queue up per kind.
        """
        with self._lock:
            self._trouble[kind].append(_Trouble(status=status, times=times, after=after))

    def echo(self, kind: str, status: int = 500, times: int = 1, after: int = 0) -> None:
        """Answer ``times`` calls of this kind with ``status`` and a page that repeats the
        request's Authorization header raw, JSON-escaped, URL-encoded and as a Python repr
        (as a careless proxy or debug page would), to show no form of the keys gets out."""
        with self._lock:
            self._trouble[kind].append(_Trouble(status=status, times=times, after=after, echo=True))

    def slow(self, kind: str, seconds: float, times: int = 1, after: int = 0) -> None:
        """Answer ``times`` calls of this kind (after ``after`` good ones) ``seconds`` late."""
        with self._lock:
            self._trouble[kind].append(_Trouble(delay=seconds, times=times, after=after))

    # --- what tests inspect ----------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._log)

    def requests_of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    @property
    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    # --- answers ---------------------------------------------------------------------------

    def _trouble_for(self, kind: str) -> _Trouble | None:
        with self._lock:
            queue = self._trouble[kind]
            if not queue:
                return None
            trouble = queue[0]
            if trouble.after > 0:
                trouble.after -= 1
                return None
            trouble.times -= 1
            if trouble.times <= 0:
                queue.pop(0)
            return trouble

    def _record(self, handler: _Handler, kind: str, form: dict[str, list[str]]) -> None:
        parts = urlsplit(handler.path)
        record = Recorded(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=dict(handler.headers.items()),
            form=form,
            time=self.now(),
            kind=kind,
        )
        with self._lock:
            self._log.append(record)

    def _authorized(self, handler: _Handler) -> bool:
        return handler.headers.get("Authorization") == f"LOW {self.access_key}:{self.secret_key}"

    def _save(self, handler: _Handler, form: dict[str, list[str]]) -> tuple[int, Any]:
        if not self._authorized(handler):
            return 401, {"message": "You need to be logged in to use Save Page Now."}
        url = (form.get("url") or [""])[0]
        if not url:
            return 200, _refusal("error:invalid-url-syntax", "Please provide a URL.")
        with self._lock:
            if url in self._refusals:
                return 200, _refusal(*self._refusals[url])
            if self._processing() >= self.sessions:
                return 200, _refusal(
                    "error:user-session-limit", "You have reached your limit of active sessions."
                )
            outcome = self._outcomes.get(url, _Outcome())
            job = Job(
                job_id="spn2-" + secrets.token_hex(20),
                url=url,
                pending_polls=outcome.pending_polls,
                stay_pending=outcome.stay_pending,
                status_ext=outcome.status_ext,
                message=outcome.message,
                existing=self._recent_capture(url, (form.get("if_not_archived_within") or [""])[0]),
            )
            self._jobs[job.job_id] = job
        return 200, {"url": url, "job_id": job.job_id}

    def _recent_capture(self, url: str, within: str) -> str | None:
        """The newest capture inside ``if_not_archived_within`` (seconds, or "30d"-style)."""
        match = re.fullmatch(r"(\d+)([dhm]?)", within.strip())
        if not match:
            return None
        seconds = int(match[1]) * {"": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        key = urlkey(url)
        recent = [
            c.timestamp
            for c in self._captures
            if urlkey(c.url) == key and self.now() - to_datetime(c.timestamp).timestamp() < seconds
        ]
        return max(recent, default=None)

    def _processing(self) -> int:
        return sum(1 for j in self._jobs.values() if not j.done)

    def _status(self, job_id: str) -> tuple[int, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return 404, {"status": "error", "message": f"Job {job_id} not found."}
            job.polls += 1
            if job.stay_pending or job.polls <= job.pending_polls:
                return 200, {"status": "pending", "job_id": job_id, "resources": []}
            if job.status_ext is not None:
                job.done = True
                return 200, {**_refusal(job.status_ext, job.message), "job_id": job_id}
            if job.timestamp is None:
                job.timestamp = job.existing or self._capture_now(job.url)
            answer = {
                "status": "success",
                "job_id": job_id,
                "original_url": job.url,
                "timestamp": job.timestamp,
                "duration_sec": 6.2,
                "http_status": 200,
                "resources": [job.url],
                "outlinks": {},
            }
            if job.timestamp == job.existing:
                answer["message"] = "The same snapshot had been made recently."
            job.done = True
            return 200, answer

    def _capture_now(self, url: str) -> str:
        """Add the capture a successful job made; the CDX server lists it after ``cdx_delay``."""
        timestamp = _timestamp(self.now())
        self._captures.append(
            Capture(
                url=url,
                timestamp=timestamp,
                status=200,
                mimetype="text/html",
                digest=base64.b32encode(hashlib.sha1(url.encode()).digest()).decode(),
                body=f"<html><body>{url} saved</body></html>".encode(),
                visible_at=self.now() + self.cdx_delay,
            )
        )
        return timestamp

    def _user(self, handler: _Handler) -> tuple[int, Any]:
        if not self._authorized(handler):
            return 401, {"message": "You need to be logged in to use Save Page Now."}
        with self._lock:
            processing = self._processing()
            today = _timestamp(self.now())[:8]
            daily = sum(1 for j in self._jobs.values() if (j.timestamp or "")[:8] == today)
        return 200, {
            "available": max(0, self.sessions - processing),
            "processing": processing,
            "daily_captures": daily,
            "daily_captures_limit": self.daily_captures_limit,
        }

    def _matching(self, url: str) -> list[Capture]:
        key, now = urlkey(url), self.now()
        with self._lock:
            found = [c for c in self._captures if urlkey(c.url) == key and c.visible_at <= now]
        return sorted(found, key=lambda c: c.timestamp)

    def _cdx(self, query: dict[str, list[str]]) -> tuple[int, str, str]:
        def one(name: str) -> str:
            return (query.get(name) or [""])[0]

        if not one("url"):
            return 400, "text/plain", "org.archive.wayback.exception.BadQueryException: url?\n"
        fields = one("fl").split(",") if one("fl") else list(FIELDS)
        rows = [dict(zip(FIELDS, _cdx_row(c), strict=True)) for c in self._matching(one("url"))]
        if one("from"):
            rows = [r for r in rows if r["timestamp"][: len(one("from"))] >= one("from")]
        if one("to"):
            rows = [r for r in rows if r["timestamp"][: len(one("to"))] <= one("to")]
        for expression in query.get("filter", []):
            negate = expression.startswith("!")
            name, _, pattern = expression.lstrip("!").partition(":")
            rows = [r for r in rows if bool(re.fullmatch(pattern, r[name])) != negate]
        if one("sort") == "closest" and one("closest"):
            target = to_datetime(one("closest"))
            rows.sort(key=lambda r: abs((to_datetime(r["timestamp"]) - target).total_seconds()))
        elif one("sort") == "reverse":
            rows.reverse()
        if one("limit"):
            limit = int(one("limit"))
            rows = rows[:limit] if limit >= 0 else rows[limit:]
        table = [[r[name] for name in fields] for r in rows]
        if one("output") == "json":
            return 200, "application/json", json.dumps([fields, *table] if table else [])
        return 200, "text/plain", "".join(" ".join(row) + "\n" for row in table)

    def _available(self, query: dict[str, list[str]]) -> dict[str, Any]:
        url = (query.get("url") or [""])[0]
        timestamp = (query.get("timestamp") or [""])[0]
        good = [c for c in self._matching(url) if c.status == 200]
        if timestamp:
            target = to_datetime(timestamp)
            good.sort(key=lambda c: abs((to_datetime(c.timestamp) - target).total_seconds()))
        else:
            good.reverse()
        if not good:
            return {"url": url, "archived_snapshots": {}}
        best = good[0]
        closest = {
            "status": "200",
            "available": True,
            "url": f"{self.base}/web/{best.timestamp}/{best.url}",
            "timestamp": best.timestamp,
        }
        return {"url": url, "archived_snapshots": {"closest": closest}}

    def _playback(self, handler: _Handler) -> None:
        match = re.match(r"/web/(\d{1,14})([a-z]{2}_)?/(.+)", handler.path, re.DOTALL)
        captures = self._matching(match[3]) if match else []
        if match is None or not captures:
            handler.reply(
                404, "text/html", b"<p>Hrm. The Wayback Machine has not archived that URL."
            )
            return
        wanted, flag = match[1] + _TS_FLOOR[len(match[1]) :], match[2] or ""
        target = to_datetime(wanted)
        best = min(captures, key=lambda c: abs((to_datetime(c.timestamp) - target).total_seconds()))
        if best.timestamp != wanted:
            location = f"{self.base}/web/{best.timestamp}{flag}/{best.url}"
            handler.reply(302, "text/html", b"", {"Location": location})
            return
        memento = to_datetime(best.timestamp).strftime("%a, %d %b %Y %H:%M:%S GMT")
        body = best.body if flag == "id_" else b"<!-- wayback toolbar -->\n" + best.body
        handler.reply(best.status or 200, best.mimetype, body, {"Memento-Datetime": memento})


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every answer back by 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the stand-in's record."""

    def reply(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, data: Any) -> None:
        self.reply(status, "application/json", json.dumps(data).encode())

    def do_GET(self) -> None:
        # A client that timed out has gone by the time a slow answer is written: not an error.
        with contextlib.suppress(ConnectionError):
            self._handle({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        with contextlib.suppress(ConnectionError):
            self._handle(parse_qs(body, keep_blank_values=True))

    def _handle(self, form: dict[str, list[str]]) -> None:
        standin: WaybackStandin = self.server.standin
        parts = urlsplit(self.path)
        kind = _kind(self.command, parts.path)
        standin._record(self, kind, form)
        trouble = standin._trouble_for(kind) if kind in KINDS else None
        if trouble is not None and trouble.delay:
            time.sleep(trouble.delay)
        if trouble is not None and trouble.echo:
            auth = self.headers.get("Authorization", "")
            forms = [auth, json.dumps(auth), quote(auth, safe=""), quote_plus(auth), repr(auth)]
            page = f"<h1>{trouble.status}</h1><pre>{chr(10).join(forms)}</pre>".encode()
            self.reply(trouble.status, "text/html", page)
            return
        if trouble is not None and trouble.status:
            page = f"<html><body><h1>{trouble.status}</h1></body></html>".encode()
            self.reply(trouble.status, "text/html", page)
            return
        query = parse_qs(parts.query, keep_blank_values=True)
        if kind == "save":
            self.reply_json(*standin._save(self, form))
        elif kind == "user":
            self.reply_json(*standin._user(self))
        elif kind == "status":
            self.reply_json(*standin._status(parts.path.rsplit("/", 1)[1]))
        elif kind == "cdx":
            status, content_type, text = standin._cdx(query)
            self.reply(status, content_type, text.encode())
        elif kind == "available":
            self.reply_json(200, standin._available(query))
        elif kind == "playback":
            standin._playback(self)
        else:
            self.reply(404, "text/html", b"<p>Not found.</p>")


def _kind(method: str, path: str) -> str:
    if method == "POST":
        return "save" if path == "/save" else ""
    if path == "/save/status/user":
        return "user"
    if path.startswith("/save/status/"):
        return "status"
    if path == "/cdx/search/cdx":
        return "cdx"
    if path == "/wayback/available":
        return "available"
    return "playback" if path.startswith("/web/") else ""


def _cdx_row(capture: Capture) -> list[str]:
    status = "-" if capture.status is None else str(capture.status)
    length = str(len(capture.body))
    return [
        urlkey(capture.url),
        capture.timestamp,
        capture.url,
        capture.mimetype,
        status,
        capture.digest,
        length,
    ]


def _refusal(status_ext: str, message: str) -> dict[str, str]:
    return {"status": "error", "status_ext": status_ext, "message": message}


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%d%H%M%S")


@pytest.fixture(name="wayback")
def wayback_fixture() -> Iterator[WaybackStandin]:
    """A fresh local Wayback Machine, with keys ``test-access`` / ``test-secret``."""
    with WaybackStandin() as standin:
        yield standin
