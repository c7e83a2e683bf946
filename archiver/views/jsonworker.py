"""A worker process writing blocks of a JSON query, for ``citation_rows_json`` on a second
core (SQLite's allocator mutex keeps two threads from building JSON at once). Imports only
the standard library, so it starts in a fraction of a second."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CHUNK_ROWS = 500
END_OF_BLOCK = b""
FAILED = b"\x00"  # followed by the error's text
# Chunks read ahead of what the reader has taken (about 13 MB): while the reader drains
# another worker's block, this one keeps reading its next.
_AHEAD = 40


def write_blocks(path: str, blocks: Sequence[tuple[str, Sequence[Any]]], out: Connection) -> None:
    """Send each block's rows (one JSON object each), joined with ",\\n" in chunks, then an
    empty message; on an error, its text after ``FAILED``."""
    ahead: queue.Queue[bytes | None] = queue.Queue(_AHEAD)

    def send() -> None:
        while (chunk := ahead.get()) is not None:
            out.send_bytes(chunk)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        conn = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True, timeout=30)
        conn.execute("PRAGMA cache_size = -16000")
        for sql, params in blocks:
            cursor = conn.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                ahead.put(b",\n".join(row for (row,) in rows))
            ahead.put(END_OF_BLOCK)
        conn.close()
    except (sqlite3.Error, OSError) as exc:
        ahead.put(FAILED + str(exc).encode("utf-8", "replace"))
    finally:
        ahead.put(None)
        sender.join()
        out.close()
