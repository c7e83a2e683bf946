"""What is stored, as rows for ``archiver status`` and ``archiver reports``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ..config import DEFAULTS
from ..errors import ArchiverError
from ..store import require_report
from .bestcopy import BEST_COPY, BEST_COPY_CSV, BEST_COPY_SHORT, folder_param, with_best_copy
from .jsonworker import CHUNK_ROWS, END_OF_BLOCK, FAILED, write_blocks

# The columns of `archiver status` on a terminal.
STATUS_COLUMNS = (
    "report", "footnote", "position", "url", "verdict", "reason", "since", "best_copy",
)  # fmt: skip


def _iso(timestamp: str) -> str:
    """SQL writing a 14-digit Archive timestamp as the ISO 8601 moment the database writes."""
    parts = [f"substr({timestamp}, {at}, {n})" for at, n in ((1, 4), (5, 2), (7, 2), (9, 2))]
    rest = [f"substr({timestamp}, {at}, 2)" for at in (11, 13)]
    return (
        f"{parts[0]} || '-' || {parts[1]} || '-' || {parts[2]} || 'T' || {parts[3]} || ':' || "
        f"{rest[0]} || ':' || {rest[1]} || '+00:00'"
    )


# Each column of a status row and the SQL that reads it, from the citation and its source's
# status row (``source_status``, kept by triggers): two rows read per citation, so a row
# costs the same at a million citations as at ten.
CITATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("report", "c.report_id"),
    ("footnote", "c.footnote"),
    ("position", "c.position"),
    ("url", "c.url"),
    ("verdict", "m.verdict"),
    ("reason", "m.reason"),
    ("http_status", "m.http_status"),
    ("final_url", "m.final_url"),
    ("checked_at", "m.checked_at"),
    ("since", "m.since"),
    ("last_ok_at", "m.last_ok_at"),
    ("drifted", "m.drifted"),
    ("canonical_url", "m.canonical_url"),
    ("context", "c.context"),
    ("accessed", "c.accessed"),
    # The copy nearest the citation date.
    ("wayback_url", "m.wayback_url"),
    ("wayback_timestamp", "m.wayback_timestamp"),
    # The newest copy's timestamp, counting our own saves.
    (
        "wayback_newest",
        "max(coalesce(m.archive_newest, m.saved_timestamp), "
        "coalesce(m.saved_timestamp, m.archive_newest))",
    ),
    ("wayback_save", "m.wayback_save"),
    # When our latest successful save was captured.
    ("wayback_saved_at", _iso("m.saved_timestamp")),
    # When the source was last captured in full, whatever the copy holds.
    ("local_captured_at", "m.local_captured_at"),
    # Its earliest local copy that holds the cited content (not a block page, a login wall,
    # a "not found" or a truncated body): the one a reader can be given.
    ("local_content_at", "m.local_content_at"),
    # At its latest check, the vantage points that reached its content, and those (this
    # machine's own path, `direct`, among them) that did not: set only when one was asked.
    ("vantages_reached", "m.vantages_reached"),
    ("vantages_failed", "m.vantages_failed"),
    # The other web archives that hold a memento of its content, each with its date.
    ("mementos", "m.mementos"),
)
# A JSON row holds the best copy as an object (the last key); CSV as columns, a table as a
# word.
JSON_COLUMNS = (*CITATION_COLUMNS, ("best_copy", BEST_COPY.compact()))
CSV_COLUMNS = (*CITATION_COLUMNS, *BEST_COPY_CSV)
_TABLE_ONLY = {"best_copy": BEST_COPY_SHORT}
CITATIONS_FROM = "from citations c join source_status m on m.source_id = c.source_id"


def citation_query(
    db: Database,
    select: str,
    report_id: str | None = None,
    order_by: str = "c.report_id, c.footnote, c.position",
    select_params: Sequence[Any] = (),
) -> tuple[str, list[Any]]:
    """The SQL and parameters reading ``select`` (over ``CITATIONS_FROM``, taking
    ``select_params``) for every current (not removed) citation, or one report's."""
    where, params = "c.removed_at is null", list(select_params)
    if report_id is not None:
        require_report(db, report_id)
        where += " and c.report_id = ?"
        params.append(report_id)
    return f"select {select} {CITATIONS_FROM} where {where} order by {order_by}", params


def citation_rows(
    db: Database, report_id: str | None = None, data_dir: Path = DEFAULTS.data_dir
) -> Iterator[dict[str, Any]]:
    """One row per current (not removed) citation, in report and footnote order, with the
    source's verdict, its Wayback Machine copies, its newest local capture and its best copy
    (local copies are in ``data_dir``); read as they are used, so a million rows take no
    more memory than one."""
    select = ", ".join(expr for _, expr in CSV_COLUMNS)
    sql, params = citation_query(db, select, report_id, select_params=[folder_param(data_dir)])
    return with_best_copy([name for name, _ in CITATION_COLUMNS], stream_tuples(db, sql, params))


def citation_rows_json(
    db: Database, report_id: str | None = None, data_dir: Path = DEFAULTS.data_dir
) -> Iterator[bytes]:
    """``citation_rows`` as a UTF-8 JSON list with one object per line, each built by
    SQLite's ``json_object``, in pieces. Every report's rows at once (a million in a few
    seconds) are read by worker processes, one block of reports after another."""
    pairs = ", ".join(f"'{name}', {expr}" for name, expr in JSON_COLUMNS)
    select = f"cast(json_object({pairs}) as blob)"
    folder = [folder_param(data_dir)]
    path = db.execute("pragma database_list").fetchone()[2]
    blocks = _report_blocks(db, select, folder) if report_id is None and path else []
    if len(blocks) < 2 * _WORKERS:
        chunks = _chunks(db, *citation_query(db, select, report_id, select_params=folder))
    else:
        chunks = _chunks_from_workers(path, blocks)
    first = True
    for chunk in chunks:
        yield (b"[\n" if first else b",\n") + chunk
        first = False
    yield b"[]" if first else b"\n]"


def _chunks(db: Database, sql: str, params: list[Any]) -> Iterator[bytes]:
    cursor = db.execute(sql, params)
    try:
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield b",\n".join(row for (row,) in rows)
    finally:
        cursor.close()


# Worker processes for a whole-database JSON status, and the citations per block of reports
# one reads: large enough that a block's query costs little, small enough that the first
# rows come at once.
_WORKERS = 2
_PIPE_BYTES = 1 << 20
_BLOCK_CITATIONS = 20_000


def _report_blocks(
    db: Database, select: str, select_params: list[Any]
) -> list[tuple[str, list[Any]]]:
    """Queries over runs of consecutive reports, each about ``_BLOCK_CITATIONS`` citations."""
    sql = f"select {select} {CITATIONS_FROM} where c.removed_at is null "
    sql += "and c.report_id >= ? and c.report_id <= ? order by c.report_id, c.footnote, c.position"
    blocks, first, count = [], None, 0
    reports = db.execute("select id, citations from reports order by id").fetchall()
    for n, (rid, citations) in enumerate(reports):
        first = rid if first is None else first
        count += citations
        if count >= _BLOCK_CITATIONS or n == len(reports) - 1:
            blocks.append((sql, [*select_params, first, rid]))
            first, count = None, 0
    return blocks


def _chunks_from_workers(path: str, blocks: list[tuple[str, list[Any]]]) -> Iterator[bytes]:
    """The blocks' chunks in order, block ``k`` read by worker ``k % _WORKERS``."""
    context = multiprocessing.get_context("spawn")  # nothing of this process is inherited
    pipes, workers = [], []
    for w in range(_WORKERS):
        receive, send = context.Pipe(duplex=False)
        _widen(receive)
        worker = context.Process(
            target=write_blocks, args=(path, blocks[w::_WORKERS], send), daemon=True
        )
        worker.start()
        send.close()
        pipes.append(receive)
        workers.append(worker)
    try:
        for k in range(len(blocks)):
            while (chunk := _receive(pipes[k % _WORKERS])) != END_OF_BLOCK:
                yield chunk
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def _widen(pipe: Connection) -> None:
    """Let a pipe hold a whole chunk (Linux: 64 KB by default), so a worker writes each in
    one go instead of taking turns with the reader every 64 KB."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _receive(pipe: Connection) -> bytes:
    try:
        chunk = pipe.recv_bytes()
    except EOFError:
        raise ArchiverError("reading the database: a worker process ended early") from None
    if chunk.startswith(FAILED):
        raise ArchiverError(f"reading the database: {chunk[1:].decode('utf-8', 'replace')}")
    return chunk


def citation_tuples(
    db: Database,
    columns: Sequence[str],
    report_id: str | None = None,
    data_dir: Path = DEFAULTS.data_dir,
) -> Iterator[tuple[Any, ...]]:
    """Only ``columns`` of ``CSV_COLUMNS`` (or ``STATUS_COLUMNS``), as tuples, for CSV and
    tables."""
    exprs = dict(CSV_COLUMNS) | _TABLE_ONLY
    chosen = [exprs[c] for c in columns]
    folder = [folder_param(data_dir)] * sum(expr.count("?") for expr in chosen)
    sql, params = citation_query(db, ", ".join(chosen), report_id, select_params=folder)
    return stream_tuples(db, sql, params)


def stream_rows(db: Database, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    """The rows of a query as dicts, read one at a time."""
    cursor = db.execute(sql, params)
    keys = [d[0] for d in cursor.description]
    try:
        for row in cursor:
            yield dict(zip(keys, row, strict=True))
    finally:
        cursor.close()  # a half-read query would hold its read snapshot open


def stream_tuples(db: Database, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of a query as tuples (the fastest way out of SQLite), read one at a time."""
    cursor = db.execute(sql, params)
    try:
        yield from cursor
    finally:
        cursor.close()


def report_rows(db: Database) -> list[dict[str, Any]]:
    """One row per report: its counts, and the markers its last import found without a URL."""
    sql = """
        select r.id as report, r.title, r.date, r.footnotes, r.citations, r.sources, r.removed,
          (select i.markers_without_urls from imports i where i.report_id = r.id
           order by i.id desc limit 1) as markers_without_urls,
          (select max(i.imported_at) from imports i where i.report_id = r.id) as imported_at
        from reports r order by r.id
    """
    rows = list(stream_rows(db, sql, []))
    for row in rows:
        row["markers_without_urls"] = json.loads(row["markers_without_urls"] or "[]")
    return rows


def number_ranges(numbers: list[int]) -> str:
    """Write footnote numbers compactly for people.

    >>> number_ranges([31, 32, 33, 35, 40, 41])
    '31–33, 35, 40–41'
    """
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
