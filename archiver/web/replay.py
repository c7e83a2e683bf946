"""The dashboard's side of replay: start pywb in its own process, and give it each capture the
dashboard is asked to show, as a collection of its own (see ``replay_server``)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database

from ..errors import ArchiverError
from ..views.retrieve import replay_files

# How long pywb may take to start (it loads its rules and templates).
START_TIMEOUT = 60.0
# Collections kept at once; the oldest go first (each is links and a small index).
MAX_COLLECTIONS = 500


class Replay:
    """pywb serving archiver's WARC files on ``host:port`` (0: any free port)."""

    def __init__(
        self,
        data_dir: Path,
        host: str,
        port: int = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.requested_port = port
        self.port = 0
        self._env = dict(env) if env is not None else None
        self._key = secrets.token_bytes(32)
        self._root = Path(tempfile.mkdtemp(prefix="archiver-replay-"))  # 0700
        self._collections = self._root / "collections"
        self._collections.mkdir()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start pywb (unless it runs) and wait until it listens; raises ArchiverError when
        it cannot."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()

    def _start(self) -> None:
        command = [sys.executable, "-m", "archiver.web.replay_server", "--root", str(self._root)]
        command += ["--host", self.host, "--port", str(self.requested_port or self.port)]
        process = subprocess.Popen(
            command,
            cwd=self._root,  # no templates or config from wherever serve was started
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C goes to serve, which stops it in order
        )
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
            chunk = os.read(process.stdout.fileno(), 100) if ready else b""
            if not chunk:
                process.kill()
                process.wait()
                raise ArchiverError(
                    "the replay server (pywb) did not start"
                    + (" in time" if not ready else f" (exit status {process.returncode})")
                )
            line += chunk
        process.stdout.close()
        self.port = int(line.split()[1])
        self._process = process

    def alive(self) -> bool:
        """Is pywb running? Started again if it died (its collections stay)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return True
            try:
                self._start()
            except ArchiverError:
                return False
            return True

    def stop(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGTERM)
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(self._process.pid, signal.SIGKILL)
                    self._process.wait()
            self._process = None
        shutil.rmtree(self._root, ignore_errors=True)

    def collection(self, db: Database, capture_id: int) -> str:
        """The name of the collection that replays ``capture_id``, made on first use: its WARC
        files linked in (none copied) and indexed by pywb's own indexer."""
        secret = hmac.new(self._key, str(capture_id).encode(), hashlib.sha256).hexdigest()
        name = f"c{capture_id}-{secret[:32]}"
        folder = self._collections / name
        if folder.is_dir():
            return name
        files = replay_files(db, capture_id)
        if not files:
            raise ArchiverError(f"capture {capture_id} has no WARC file to replay")
        with self._lock:
            if folder.is_dir():
                return name
            self._make_room()
            building = Path(tempfile.mkdtemp(prefix=".build-", dir=self._collections))
            try:
                _build(building, self.data_dir, files)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
            building.rename(folder)  # whole or not at all: pywb never sees half of one
        return name

    def _make_room(self) -> None:
        existing = sorted(
            (p for p in self._collections.iterdir() if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for old in existing[: max(0, len(existing) - MAX_COLLECTIONS + 1)]:
            shutil.rmtree(old, ignore_errors=True)

    def url(self, host: str, collection: str, captured_at: str, url: str) -> str:
        """The replay address of ``url`` as captured at ``captured_at`` (ISO), on ``host``
        (the name the browser used for the dashboard, so the two stay on one machine)."""
        stamp = "".join(ch for ch in captured_at[:19] if ch.isdigit())
        return f"http://{host}:{self.port}/{collection}/{stamp}/{quote(url, safe=':/?&=%#@+,;~')}"


def _build(folder: Path, data_dir: Path, files: list[str]) -> None:
    from pywb.indexer.cdxindexer import write_cdx_index

    (folder / "indexes").mkdir()
    archive = folder / "archive"
    archive.mkdir()
    lines: list[bytes] = []
    for n, relative in enumerate(files):
        source = (data_dir / relative).resolve()
        if not source.is_relative_to(data_dir) or not source.is_file():
            raise ArchiverError(f"{relative}: the capture's WARC file is missing")
        name = f"{n}-{source.name}"
        (archive / name).symlink_to(source)
        with source.open("rb") as warc, tempfile.TemporaryFile() as out:
            write_cdx_index(out, warc, name, cdxj=True, sort=True)
            out.seek(0)
            lines.extend(line for line in out if line.strip())
    lines.sort()  # one sorted index over every file: pywb searches it by bisection
    with (folder / "indexes" / "index.cdxj").open("wb") as index:
        index.writelines(lines)
