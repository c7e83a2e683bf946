"""``archiver serve``: the dashboard on waitress, captures replayed by pywb, actions in a thread.

waitress is a production WSGI server in pure Python, with a pool of threads: each request
reads SQLite on a connection of its own, which suits sync SQLite better than an event loop
would. pywb (the replay engine) runs in a process of its own, on another port: another origin,
so a captured page's scripts can never reach the dashboard.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping
from types import FrameType

import waitress

from ..config import Settings
from ..errors import ArchiverError
from ..store import open_db
from .actions import Runner
from .app import Dashboard
from .replay import Replay
from .security import Guard, check_bind

THREADS = 8


class DashboardServer:
    """The whole of ``archiver serve``, started and stopped as one.

    host, port: where to listen (default: the ``serve_host``, ``serve_port`` settings).
    read_only: no actions (check, capture, Wayback), only pages.
    replay: start pywb to replay captures (without it, pages only say it is not running).
    replay_env: the environment pywb's process runs with (default: this one's).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        read_only: bool = False,
        replay: bool = True,
        replay_env: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host or settings.serve_host
        check_bind(self.host, settings.serve_token)
        open_db(settings.db).conn.close()  # the schema up to date before anything reads it
        self.replay = (
            Replay(settings.data_dir, self.host, settings.serve_replay_port, replay_env)
            if replay
            else None
        )
        self.runner = None if read_only else Runner(settings)
        self.app = Dashboard(
            settings,
            Guard(settings.serve_token),
            read_only=read_only,
            replay=self.replay,
            runner=self.runner,
        )
        port = settings.serve_port if port is None else port
        try:
            self._server = waitress.create_server(
                self.app,
                host=self.host,
                port=port,
                threads=THREADS,
                ident="archiver",
                channel_timeout=60,
                max_request_body_size=1_000_000,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            self._stop_helpers()
            raise ArchiverError(f"cannot listen on {self.host}:{port}: {exc.strerror}") from exc
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> DashboardServer:
        """Start replay, then serve in a thread (tests, notebooks); see :meth:`stop`."""
        if self.replay is not None:
            self.replay.start()
        self._thread = threading.Thread(target=self._server.run, name="archiver-serve")
        self._thread.start()
        return self

    def run(self) -> None:
        """Start replay, then serve until Ctrl-C or SIGTERM (the CLI's way)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _exit)  # stop pywb too, not only this process
        try:
            if self.replay is not None:
                self.replay.start()
            self._server.run()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop listening, stop a running action (it keeps what it finished), stop pywb."""
        if self._thread is not None and self._thread.is_alive():
            # Closed by the serving thread itself, between two polls: closing its sockets from
            # here would pull them from under a select() in progress.
            self._server.trigger.pull_trigger(self._close_all)
            self._thread.join(10)
        else:
            self._close_all()
        self._server.task_dispatcher.shutdown()
        self._stop_helpers()

    def _close_all(self) -> None:
        """Close every socket of the server (listening, connections, trigger): its loop ends."""
        for channel in list(self._server._map.values()):
            channel.close()
        self._server.close()

    def _stop_helpers(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.replay is not None:
            self.replay.stop()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
