"""The replay server: pywb, in a process of its own, on another port than the dashboard.

Run by :class:`archiver.web.replay.Replay` as ``python -m archiver.web.replay_server``; it
prints ``PORT n`` once listening. pywb runs on gevent and patches the standard library when
imported, so it gets its own process, where a slow rewrite of a hostile page cannot hold up
the dashboard either.

Each capture is a collection of its own (a folder the dashboard makes: the capture's WARC
files linked in, their CDXJ index), named with a secret the dashboard keeps, so the replay
shows exactly that capture, and only someone who was shown the dashboard's page finds it.
Every answer tells the browser to sandbox the page (``Content-Security-Policy: sandbox``):
opened on its own, out of the dashboard's frame, a captured script still runs in an origin of
its own, reads no cookie, and reaches nothing but this server.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# A collection's name: the capture id, then the secret part (see Replay.collection).
COLLECTION = re.compile(r"c[0-9]{1,19}-[0-9a-f]{32}")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,300}")


def guard(app: Callable[..., Any], collections: Path) -> Callable[..., Any]:
    """Only replays (GET) of collections that exist, and pywb's own scripts; no listing of
    collections; every answer sandboxed and kept to this server."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        first = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
        known = first == "static" or (
            COLLECTION.fullmatch(first) is not None and (collections / first).is_dir()
        )
        host = environ.get("HTTP_HOST", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or not known:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        here = f"http://{host}" if _HOST.fullmatch(host) else "'none'"
        policy = (
            "sandbox allow-scripts; "
            f"default-src {here} data: blob: 'unsafe-inline' 'unsafe-eval'; "
            "form-action 'none'; base-uri 'none'"
        )

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [
                (name, value)
                for name, value in headers
                if name.lower() not in ("content-security-policy", "set-cookie")
            ]
            headers += [("Content-Security-Policy", policy), ("Referrer-Policy", "no-referrer")]
            return start_response(status, headers, exc_info)

        return app(environ, respond)

    return guarded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # pywb prints as it works ("Dir … unchanged" on every lookup): nothing may fill the pipe
    # the dashboard reads the port from, so that line goes out on a copy of it, and stdout
    # goes nowhere.
    report = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = os.fdopen(1, "w")

    import gevent
    from gevent.pywsgi import WSGIServer
    from pywb.apps.frontendapp import FrontEndApp

    config = args.root / "config.yaml"
    config.write_text("{}\n", encoding="utf-8")
    collections = args.root / "collections"
    app = FrontEndApp(
        config_file=str(config),
        custom_config={
            "collections_root": str(collections),
            # The dashboard's page is the frame: pywb serves the page itself.
            "framed_replay": False,
            "enable_memento": False,
        },
    )
    # pywb's inner index server logs every lookup; errors still reach stderr.
    app.warcserver_server.server.log = _Quiet()
    server = WSGIServer((args.host, args.port), guard(app, collections), log=None)
    server.init_socket()
    report.write(f"PORT {server.address[1]}\n")
    report.close()
    gevent.spawn(_end_with, os.getppid())
    server.serve_forever()


class _Quiet:
    """A log that keeps nothing."""

    def write(self, line: str) -> None:
        return None


def _end_with(parent: int) -> None:
    """Exit when the dashboard's process is gone, even killed with no chance to stop us."""
    import gevent

    while os.getppid() == parent:
        gevent.sleep(2)
    os._exit(0)


if __name__ == "__main__":
    main()
