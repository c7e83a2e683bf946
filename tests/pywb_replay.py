"""pywb, the replay engine readers use, run for a test: a collection of WARC or WACZ files
served on a free loopback port, and a page opened in it the way a reader opens one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_MANAGE = "from pywb.manager.manager import main; import sys; main(sys.argv[1:])"


@contextmanager
def pywb_collection(root: Path, add: list[str], env: dict[str, str]) -> Iterator[str]:
    """Serve collection ``c`` of pywb under ``root``, made by ``wb-manager add ADD…``; yield
    its base URL (``http://127.0.0.1:PORT/c/``). ``env``: the test's subprocess guard."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**env, "PYTHONWARNINGS": "ignore"}
    for args in (["init", "c"], ["add", *add[:-1], "c", add[-1]]):
        subprocess.run(
            [sys.executable, "-c", _MANAGE, *args], cwd=root, env=env, check=True, timeout=60
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "pywb.apps.cli", "-p", str(port), "-b", "127.0.0.1"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}/c/"
    finally:
        os.killpg(server.pid, 15)
        server.wait(10)


def replayed_frame(page: Any, url: str, text: str) -> Any:
    """Open ``url`` in pywb (it may still be starting) and wait for ``text`` in its replay
    frame; return the frame."""
    for _ in range(100):
        try:
            page.goto(url, timeout=10_000)
            break
        except Exception:
            time.sleep(0.2)
    page.wait_for_selector("iframe", timeout=15_000)
    frame = page.frame_locator("iframe").first
    frame.locator(f"text={text}").first.wait_for(timeout=15_000)
    return frame
