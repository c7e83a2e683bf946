"""The dashboard as a WSGI application: routes, the JSON twin of every page, and the headers
that keep captured content and other sites away from it.

Each request opens its own read-only connection (WAL: it never waits for a writer nor holds
one up) and closes it before the answer goes out. Pages are rendered by Jinja2 with
autoescaping: every title, context and URL from a report or a captured page is text. No page
runs a script or shows captured HTML: captures are replayed by pywb on another origin, inside
a sandboxed frame, and the Content Security Policy allows nothing else.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..config import Settings
from ..errors import ArchiverError
from ..store import open_reader
from ..views.report import write_annotated, write_report
from ..views.retrieve import stream_made
from .actions import ACTIONS, Runner
from .charts import bar, timeline
from .pages import (
    FILTERS,
    capture_data,
    last_run,
    report_data,
    reports_data,
    runs_data,
    search_data,
    source_data,
)
from .replay import Replay
from .security import SESSION_COOKIE, Guard, host_name

REPORT_FORMATS = {"md": "text/markdown", "html": "text/html", "csv": "text/csv"}
REPORT_FORMATS["json"] = "application/json"
ANNOTATED_FORMATS = ("md", "html")
STATIC = {"dashboard.css": "text/css; charset=utf-8"}
PNG = b"\x89PNG\r\n\x1a\n"
# A host name or address as the browser named the dashboard: one the replay address may use.
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45}")
_URL_MAP = Map(
    [
        Rule("/", endpoint="reports"),
        Rule("/report", endpoint="report"),
        Rule("/source", endpoint="source"),
        Rule("/search", endpoint="search"),
        Rule("/runs", endpoint="runs"),
        Rule("/download", endpoint="download"),
        Rule("/replay/<int:capture_id>", endpoint="replay"),
        Rule("/captures/<int:capture_id>/screenshot.png", endpoint="screenshot"),
        Rule("/captures/<int:capture_id>/page.pdf", endpoint="pdf"),
        Rule("/actions", endpoint="start_action", methods=["POST"]),
        Rule("/actions/<job_id>", endpoint="action"),
        Rule("/login", endpoint="login", methods=["GET", "POST"]),
        Rule("/static/<name>", endpoint="static"),
    ],
    strict_slashes=False,
)
# Pages that answer without the token: the login form and its stylesheet.
_OPEN = frozenset({"login", "static"})


class Dashboard:
    """The WSGI application ``archiver serve`` runs.

    replay: the pywb server captures are replayed on (None: no replay links).
    runner: where actions run (None, or read_only: no actions).
    """

    def __init__(
        self,
        settings: Settings,
        guard: Guard,
        *,
        read_only: bool = False,
        replay: Replay | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.read_only = read_only or runner is None
        self.replay = replay
        self.runner = runner
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("archiver.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["pretty"] = lambda value: json.dumps(
            value, ensure_ascii=False, indent=2
        )
        self.templates.filters["web_url"] = _web_url
        self.templates.filters["date"] = lambda value: (value or "")[:10]
        self.templates.globals.update(bar=bar, actions=ACTIONS, filters=FILTERS)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = _Request(environ)
        response = self._respond(request)
        self._secure(request, response)
        return response(environ, start_response)

    # -- dispatch ---------------------------------------------------------------------------

    def _respond(self, request: Request) -> Response:
        if not self.guard.host_ok(request.host):
            return Response("This dashboard answers on loopback names only.\n", 421)
        path, as_json = request.path, False
        if path.endswith(".json"):
            path, as_json = path[: -len(".json")], True
            path = "/" if path in ("", "/index") else path
        elif request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
            "application/json"
        ):
            as_json = True
        try:
            endpoint, args = _URL_MAP.bind_to_environ(request.environ).match(
                path, method=request.method
            )
        except MethodNotAllowed:
            return self._error(request, as_json, 405, "method not allowed")
        except HTTPException:
            return self._error(request, as_json, 404, "no such page")
        if endpoint not in _OPEN and not self.guard.authorized(
            request.headers.get("Authorization", ""), request.cookies.get(SESSION_COOKIE)
        ):
            if as_json or "Authorization" in request.headers:
                response = _json({"error": "this dashboard needs its token"}, 401)
                response.headers["WWW-Authenticate"] = 'Bearer realm="archiver"'
                return response
            return _redirect("/login?" + urlencode({"next": request.full_path}))
        try:
            handler = getattr(self, f"_{endpoint}")
            if request.method == "POST":
                return handler(request, **args)
            db = open_reader(self.settings.db)
            try:
                return handler(request, db, as_json, **args)
            finally:
                db.conn.close()
        except HTTPException as exc:  # not found, a form too large, …
            return self._error(request, as_json, exc.code or 400, exc.description or exc.name)
        except ArchiverError as exc:
            return self._error(request, as_json, 404, str(exc))
        except sqlite3.Error as exc:
            return self._error(request, as_json, 503, f"database error: {exc}; try again")
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return self._error(request, as_json, 500, "something went wrong; see the log")

    def _page(
        self, request: Request, as_json: bool, template: str, data: Any, **extra: Any
    ) -> Response:
        if as_json:
            return _json(data)
        context = {
            "data": data,
            "csrf": self.guard.csrf_token(),
            "read_only": self.read_only,
            "login": bool(self.guard.token),
            "json_url": _json_url(request),
            **extra,
        }
        return Response(self.templates.get_template(template).render(context), mimetype="text/html")

    def _error(self, request: Request, as_json: bool, status: int, message: str) -> Response:
        if as_json:
            return _json({"error": message}, status)
        page = self.templates.get_template("error.html").render(
            status=status, message=message, login=bool(self.guard.token), json_url=None
        )
        return Response(page, status, mimetype="text/html")

    def _secure(self, request: Request, response: Response) -> None:
        """Headers on every answer: nothing runs, nothing loads from elsewhere, no framing,
        and only the replay server may be framed."""
        frames = "'none'"
        if self.replay is not None and self.replay.port:
            frames = f"http://{_browser_host(request, self.replay.host)}:{self.replay.port}"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'self'; "
            f"frame-src {frames}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # Same-origin requests keep their Origin (the CSRF check reads it); no other site
        # learns which dashboard page linked to it.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")

    # -- pages ------------------------------------------------------------------------------

    def _reports(self, request: Request, db: Any, as_json: bool) -> Response:
        page = _page_number(request)
        rows, count = reports_data(db, page)
        response = self._page(
            request,
            as_json,
            "reports.html",
            rows,
            page=page,
            pages=count,
            last_run=last_run(db),
        )
        if page < count:
            response.headers["Link"] = f'</?page={page + 1}>; rel="next"'
        return response

    def _report(self, request: Request, db: Any, as_json: bool) -> Response:
        report_id = _required(request, "id")
        shown = request.args.get("verdict") or None
        data = report_data(db, self.settings.data_dir, report_id, shown, _page_number(request))
        return self._page(
            request,
            as_json,
            "report.html",
            data,
            formats=list(REPORT_FORMATS),
            annotated=ANNOTATED_FORMATS,
            query=lambda **kw: _query({"id": report_id, "verdict": shown, **kw}),
        )

    def _source(self, request: Request, db: Any, as_json: bool) -> Response:
        data = source_data(db, self.settings.data_dir, _required(request, "url"))
        return self._page(request, as_json, "source.html", data, chart=timeline(data["checks"]))

    def _search(self, request: Request, db: Any, as_json: bool) -> Response:
        query = request.args.get("q", "")
        report_id = request.args.get("report") or None
        data = search_data(db, query, report_id)
        return self._page(request, as_json, "search.html", data, q=query, report=report_id)

    def _runs(self, request: Request, db: Any, as_json: bool) -> Response:
        return self._page(request, as_json, "runs.html", runs_data(db))

    def _replay(self, request: Request, db: Any, as_json: bool, capture_id: int) -> Response:
        data = capture_data(db, capture_id)
        data["replay_url"] = None
        data["replay_error"] = None
        if data["status"] == "failed":
            data["replay_error"] = "this capture failed: there is nothing to replay"
        elif self.replay is None or not self.replay.alive():
            data["replay_error"] = "the replay server is not running"
        else:
            collection = self.replay.collection(db, capture_id)
            data["replay_url"] = self.replay.url(
                _browser_host(request, self.replay.host),
                collection,
                data["captured_at"],
                data["url"],
            )
        return self._page(request, as_json, "replay.html", data)

    def _screenshot(self, request: Request, db: Any, as_json: bool, capture_id: int) -> Response:
        body = self._made(db, capture_id, "screenshot")
        if body.read(len(PNG)) != PNG:
            raise NotFound("this capture's screenshot is not a PNG")
        body.seek(0)
        response = Response(wrap_file(request.environ, body), mimetype="image/png")
        response.headers["Cache-Control"] = "private, max-age=86400"  # a capture never changes
        return response

    def _pdf(self, request: Request, db: Any, as_json: bool, capture_id: int) -> Response:
        body = self._made(db, capture_id, "pdf")
        response = Response(wrap_file(request.environ, body), mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="capture-{capture_id}.pdf"'
        return response

    def _made(self, db: Any, capture_id: int, role: str) -> Any:
        if next(db.table("captures").rows_where("id = ?", [capture_id]), None) is None:
            raise NotFound(f"no capture {capture_id}")
        body = tempfile.SpooledTemporaryFile(max_size=2_000_000)  # noqa: SIM115 (the answer closes it)
        limit = self.settings.max_capture_bytes
        if not stream_made(db, self.settings.data_dir, capture_id, role, body.write, limit):
            body.close()
            raise NotFound(f"capture {capture_id} has no {role}")
        body.seek(0)
        return body

    def _download(self, request: Request, db: Any, as_json: bool) -> Response:
        """A report in a format ``archiver report`` writes, as a file to save (never shown
        on this origin)."""
        report_id = _required(request, "report")
        output_format = request.args.get("format", "md")
        annotated = request.args.get("annotated") == "1"
        if output_format not in (ANNOTATED_FORMATS if annotated else REPORT_FORMATS):
            raise ArchiverError(f"no such format: {output_format}")
        # Written whole before the answer starts: the read is over (its snapshot let go) before
        # a slow client has read the first byte. Past 2 MB it waits on disk, not in memory.
        body = tempfile.SpooledTemporaryFile(max_size=2_000_000)  # noqa: SIM115 (the answer closes it)
        text = io.TextIOWrapper(body, encoding="utf-8", newline="")
        if annotated:
            write_annotated(db, report_id, output_format, text)
        else:
            write_report(db, report_id, output_format, text)
        text.flush()
        text.detach()
        body.seek(0)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", report_id)[:100] or "report"
        name += "-annotated" if annotated else ""
        response = Response(
            wrap_file(request.environ, body),
            mimetype=REPORT_FORMATS[output_format],
        )
        response.headers["Content-Disposition"] = (
            f"attachment; filename=\"{name}.{output_format}\"; filename*=UTF-8''"
            f"{quote(name)}.{output_format}"
        )
        return response

    def _action(self, request: Request, db: Any, as_json: bool, job_id: str) -> Response:
        job = self.runner.get(job_id) if self.runner is not None else None
        if job is None:
            raise NotFound("no such action (they are forgotten when the server restarts)")
        return self._page(request, as_json, "action.html", job.as_dict(), label=ACTIONS)

    def _static(self, request: Request, db: Any, as_json: bool, name: str) -> Response:
        if name not in STATIC:
            raise NotFound("no such file")
        body = resources.files("archiver.web").joinpath("static", name).read_bytes()
        response = Response(body, mimetype=STATIC[name])
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    # -- forms ------------------------------------------------------------------------------

    def _start_action(self, request: Request) -> Response:
        if self.read_only or self.runner is None:
            return self._error(request, False, 403, "this dashboard is read-only (--read-only)")
        if not self._form_ok(request):
            return self._error(request, False, 403, "this form is out of date: reload the page")
        try:
            job = self.runner.submit(
                request.form.get("action", ""),
                request.form.get("report") or None,
                request.form.get("url") or None,
            )
        except ArchiverError as exc:  # an unknown action, or too many waiting
            return self._error(request, False, 400, str(exc))
        return _redirect(f"/actions/{job.id}")

    def _login(self, request: Request, *_: Any) -> Response:
        if not self.guard.token:
            return _redirect("/")  # nothing to log in to
        target = request.values.get("next", "/")
        if not _local_path(target):
            target = "/"
        if request.method == "POST":
            if not self._form_ok(request):
                return self._error(request, False, 403, "this form is out of date: reload it")
            if not self.guard.token_ok(request.form.get("token", "")):
                page = self._login_page(target, "That is not this dashboard's token.")
                return Response(page, 403, mimetype="text/html")
            response = _redirect(target)
            response.set_cookie(
                SESSION_COOKIE, self.guard.session, httponly=True, samesite="Strict", path="/"
            )
            return response
        return Response(self._login_page(target, None), mimetype="text/html")

    def _login_page(self, target: str, problem: str | None) -> str:
        return self.templates.get_template("login.html").render(
            next=target,
            problem=problem,
            csrf=self.guard.csrf_token(),
            login=bool(self.guard.token),
            json_url=None,
        )

    def _form_ok(self, request: Request) -> bool:
        return self.guard.csrf_ok(
            request.form.get("csrf", ""), request.headers.get("Origin"), request.host
        )


class _Request(Request):
    """Forms are small: an action or a login, never an upload."""

    max_content_length = 64 * 1024
    max_form_memory_size = 64 * 1024
    max_form_parts = 50


def _browser_host(request: Request, fallback: str) -> str:
    """The host the browser used for the dashboard, for an address beside it on another port
    (the replay server's), as a URL writes it (``[::1]``); ``fallback`` when it is odd."""
    host = host_name(request.host)
    host = host if _HOST.fullmatch(host) else fallback
    return f"[{host}]" if ":" in host else host


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return Response(body, status, mimetype="application/json")


def _redirect(target: str) -> Response:
    return Response("", 303, headers={"Location": target})


def _required(request: Request, name: str) -> str:
    value = request.args.get(name, "")
    if not value:
        raise ArchiverError(f"say which one: ?{name}=…")
    return value


def _page_number(request: Request) -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 10**6 else 1


def _query(params: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _json_url(request: Request) -> str:
    path = request.path.rstrip("/") or "/"
    path = "/index" if path == "/" else path
    return path + ".json" + (f"?{request.query_string.decode()}" if request.query_string else "")


def _local_path(target: str) -> bool:
    """A path on this dashboard (``/runs``), never another site's (``//x``, ``/\\x``, or one
    a browser reads as such once it drops tabs and newlines)."""
    return (
        target.startswith("/")
        and target.isascii()
        and target.isprintable()
        and " " not in target
        and "\\" not in target
        and not target.startswith("//")
    )


def _web_url(value: Any) -> str | None:
    """A URL from a report or an archive as a link, only when it is http(s)."""
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return value
    return None
