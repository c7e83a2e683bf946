"""Read-only views at scale: wall time, time to first byte, bytes out and peak RSS.

Builds a synthetic database of N citations (once; later runs reuse it when it was built for the
same size by the same generator and the schema has no pending migration), then times whole
processes ``python -m archiver --db DB <view>`` one after the other: status, reports, report
and search in their formats. Each child's stdout is a pipe the harness reads in chunks with
timestamps (time to first byte, bytes out); its peak RSS is ``ru_maxrss`` from ``os.wait4`` on
exactly that child. Every child runs under a wall-clock cap and is killed (its whole process
group) past it. Local files only: nothing is fetched, no server is started.

    python bench/views_bench.py                          # 1,000,000 citations
    python bench/views_bench.py --quick                  # 20,000 citations
    python bench/views_bench.py --only status-json,reports-json --repeat 3
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import resource
import selectors
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Bump when the synthetic data changes: a database built by an older generator is rebuilt.
GENERATOR = 3
SEED = 20180403
DEFAULT_CITATIONS = 1_000_000
QUICK_CITATIONS = 20_000
PER_REPORT = 100  # citations per report, footnotes 1..100, position 1
CITATIONS_PER_SOURCE = 2  # on average
SOURCES_PER_HOST = 100
TARGETS_AT = 1_000_000  # the targets are stated for this many citations
CHUNK = 1 << 16  # bytes read from a child's pipe at a time
TIMELINE_STEP = 0.25  # seconds between two points of a run's output timeline
MAX_PREPARE_SECONDS = 1800.0  # cap on building (or checking) the database


@dataclass(frozen=True)
class Target:
    metric: str  # a key of a run's numbers: "wall_s" or "peak_rss_mb"
    limit: float
    strict: bool = False  # "<" rather than "<="

    @property
    def label(self) -> str:
        op = "<" if self.strict else "≤"
        if self.metric == "peak_rss_mb":
            return f"RSS {op} {self.limit:g} MB"
        return f"wall {op} {self.limit:g} s"

    def met(self, summary: dict[str, Any]) -> bool:
        """Met only by a command that finished (exit 0) within the limit."""
        value = summary.get(self.metric)
        if summary["status"] != "ok" or value is None:
            return False
        return value < self.limit if self.strict else value <= self.limit


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    targets: tuple[Target, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(f'"{a}"' if " " in a or a == "page" else a for a in self.args)


STREAMING = Target("peak_rss_mb", 150)
QUICK = Target("wall_s", 0.5, strict=True)
COMMANDS = (
    Command("status-json", ("status", "--format", "json"), (STREAMING, Target("wall_s", 10))),
    Command("status-csv", ("status", "--format", "csv"), (STREAMING,)),
    Command("status-table", ("status",), (STREAMING,)),
    Command("status-one-json", ("status", "--report", "r00001", "--format", "json"), (QUICK,)),
    Command("reports-json", ("reports", "--json"), (QUICK,)),
    Command("reports-table", ("reports",), (QUICK,)),
    Command("report-json", ("report", "--format", "json"), (STREAMING,)),
    Command("report-md", ("report", "--format", "md"), (STREAMING,)),
    Command("report-html", ("report", "--format", "html"), (STREAMING,)),
    Command("report-csv", ("report", "--format", "csv"), (STREAMING,)),
    Command("report-annotated-md", ("report", "--annotated", "--format", "md"), (STREAMING,)),
    Command("report-one-md", ("report", "--report", "r00001", "--format", "md")),
    Command("search", ("search", "page")),
)


# --------------------------------------------------------------------------------------------
# The synthetic database


def _hex(rng: random.Random, bits: int = 256) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=n) for n in range(count)]


def _moment(day: date, second: int) -> str:
    """ISO 8601 in UTC, to the second, as the store writes moments."""
    h, rest = divmod(second % 86400, 3600)
    return f"{day.isoformat()}T{h:02d}:{rest // 60:02d}:{rest % 60:02d}+00:00"


def _wayback_timestamp(day: date, second: int) -> str:
    h, rest = divmod(second % 86400, 3600)
    return f"{day:%Y%m%d}{h:02d}{rest // 60:02d}{rest % 60:02d}"


def _shape(citations: int) -> dict[str, int]:
    sources = max(1, citations // CITATIONS_PER_SOURCE)
    return {
        "citations": citations,
        "reports": math.ceil(citations / PER_REPORT),
        "sources": sources,
        "hosts": max(1, round(sources / SOURCES_PER_HOST)),
    }


def build_database(path: Path, citations: int, seed: int) -> dict[str, Any]:
    """Write the database to ``path`` (a fresh file; renamed into place only when complete).

    Schema from ``archiver.store.open_db`` (every migration), rows with raw ``executemany``
    in one transaction. Returns the metadata also stored in the ``bench_meta`` table.
    """
    from archiver.store import open_db  # this checkout's, in the --prepare process only
    from archiver.store.reports import refresh_cited_on, refresh_report_counts

    shape = _shape(citations)
    n_reports, n_sources, n_hosts = shape["reports"], shape["sources"], shape["hosts"]
    rng = random.Random(seed)
    building = path.with_name(path.name + ".building")
    for stale in (building, *(Path(f"{p}{s}") for p in (building, path) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    open_db(building).conn.close()  # the schema, as the application creates it
    conn = sqlite3.connect(building, isolation_level=None)
    conn.execute("PRAGMA journal_mode = MEMORY")  # from WAL, for the build only
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")  # up to 1 GB: every index stays in memory
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("BEGIN")

    width = max(5, len(str(n_reports)))
    report_ids = [f"r{r:0{width}d}" for r in range(1, n_reports + 1)]
    host_width = max(4, len(str(n_hosts - 1)))
    hosts = [f"h{h:0{host_width}d}.example" for h in range(n_hosts)]
    report_days = [date(2010, 1, 1) + timedelta(days=rng.randrange(15 * 365)) for _ in report_ids]
    imported = date(2025, 10, 1)
    import_stamps = [_moment(imported + timedelta(days=r % 30), r * 37) for r in range(n_reports)]

    # Which source each citation cites: every source at least once; the other citations over
    # all sources at random, 5 % of them over a popular 0.2 % (pages many reports cite).
    cited = list(range(1, n_sources + 1))
    popular = max(1, n_sources // 500)
    cited += [
        rng.randrange(1, popular + 1) if rng.random() < 0.05 else rng.randrange(1, n_sources + 1)
        for _ in range(citations - n_sources)
    ]
    rng.shuffle(cited)
    first_report = [0] * (n_sources + 1)  # the first report citing each source (its date)
    for k, source in enumerate(cited):
        if not first_report[source]:
            first_report[source] = k // PER_REPORT + 1

    def url(source: int) -> str:
        return f"https://{hosts[(source - 1) % n_hosts]}/page/{source}"

    conn.executemany(
        "insert into reports (id, title, date, created_at, updated_at) values (?, ?, ?, ?, ?)",
        (
            (rid, f"Report {r + 1}: sources of {day.year}", day.isoformat(), at, at)
            for r, (rid, day, at) in enumerate(
                zip(report_ids, report_days, import_stamps, strict=True)
            )
        ),
    )
    conn.executemany(
        "insert into sources (id, canonical_url, url, host, first_cited_at) values (?, ?, ?, ?, ?)",
        (
            (
                s,
                url(s),
                url(s),
                hosts[(s - 1) % n_hosts],
                import_stamps[first_report[s] - 1],
            )
            for s in range(1, n_sources + 1)
        ),
    )

    def citation_rows() -> Iterator[tuple[Any, ...]]:
        for k, source in enumerate(cited):
            r, n = divmod(k, PER_REPORT)
            at = import_stamps[r]
            accessed = (report_days[r] - timedelta(days=k % 90)).isoformat() if k % 10 < 7 else None
            context = f"Footnote {n + 1} of {report_ids[r]}: a sentence that cites page {source}."
            yield (k + 1, report_ids[r], n + 1, 1, source, url(source), context, accessed, at, at)

    conn.executemany(
        "insert into citations (id, report_id, footnote, position, source_id, url, context, "
        "accessed, added_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        citation_rows(),
    )

    def import_rows() -> Iterator[tuple[Any, ...]]:
        for r, rid in enumerate(report_ids):
            count = min(PER_REPORT, citations - r * PER_REPORT)
            if rng.random() < 0.1:
                first = rng.randrange(1, PER_REPORT)
                markers = json.dumps(list(range(first, first + rng.randrange(1, 4))))
            else:
                markers = "[]"
            yield (
                r + 1,
                rid,
                f"reports/{rid}.csv",
                hashlib.sha256(rid.encode()).hexdigest(),
                "csv",
                import_stamps[r],
                count,
                0,
                0,
                0,
                0,
                markers,
                "[]",
            )

    conn.executemany(
        "insert into imports (id, report_id, path, sha256, format, imported_at, added, updated, "
        "removed, restored, unchanged, markers_without_urls, skipped) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        import_rows(),
    )

    checked = date(2025, 11, 20)
    days = _days(date(2024, 1, 1), 700)

    # Verdicts of the ~90 % of sources checked: (verdict, cumulative share of checked ones).
    verdicts = (
        ("ok", 0.80),
        ("redirected", 0.85),
        ("dead", 0.90),
        ("blocked", 0.93),
        ("soft_404", 0.96),
        ("failing", 1.0),
    )

    def state_rows() -> Iterator[tuple[Any, ...]]:
        for s in range(1, n_sources + 1):
            if rng.random() >= 0.9:
                continue
            x = rng.random()
            verdict = next(v for v, upto in verdicts if x < upto)
            at = _moment(checked, s * 7)
            since = _moment(days[s % 600], s)
            final_url, drifted, similarity = url(s), 0, None
            failures, failing_since, last_ok = 0, None, at
            status: int | None = 200
            if verdict == "ok":
                reason = "http_200"
            elif verdict == "redirected":
                reason, final_url = "moved_permanently", f"https://{hosts[s % n_hosts]}/moved/{s}"
            elif verdict == "dead":
                reason, status, failures = "http_404", 404, 5
                failing_since, last_ok = since, (_moment(days[s % 300], s) if s % 3 else None)
            elif verdict == "blocked":
                reason, status = ("http_403", 403) if s % 2 else ("login_wall", 200)
            elif verdict == "soft_404":
                reason = "not_found_text" if s % 2 else "redirect_to_home"
            else:  # failing
                reason, status = ("http_503", 503) if s % 2 else ("timeout", None)
                failures, failing_since = 1 + s % 3, since
                last_ok = _moment(days[s % 500], s)
            if verdict in ("ok", "redirected") and rng.random() < 0.04:
                drifted, similarity = 1, round(0.2 + 0.5 * rng.random(), 3)
            yield (
                s,
                verdict,
                reason,
                status,
                final_url,
                at,
                since,
                last_ok,
                drifted,
                similarity,
                failures,
                failing_since,
                f'"{_hex(rng, 64)}"' if s % 4 == 0 else None,
                "Mon, 03 Mar 2025 10:00:00 GMT" if s % 5 == 0 else None,
                "text/html; charset=utf-8",
                _hex(rng),
                _hex(rng),
            )

    conn.executemany(
        "insert into source_state (source_id, verdict, reason, http_status, final_url, "
        "checked_at, since, last_ok_at, drifted, similarity, failures, failing_since, etag, "
        "last_modified, content_type, content_hash, text_hash) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        state_rows(),
    )

    def wayback_rows() -> Iterator[tuple[Any, ...]]:
        for s in range(1, n_sources + 1):
            if rng.random() >= 0.6:
                continue
            cited_on = report_days[first_report[s] - 1]
            looked = _moment(checked + timedelta(days=1), s * 3)
            if rng.random() < 0.05:  # looked up, no copy found
                yield (s, cited_on.isoformat(), None, None, None, None, None, "cdx", looked)
                continue
            nearest = _wayback_timestamp(cited_on + timedelta(days=rng.randrange(-60, 60)), s)
            newest = _wayback_timestamp(date(2025, 1, 1) + timedelta(days=s % 300), s * 11)
            yield (
                s,
                cited_on.isoformat(),
                nearest,
                f"https://web.archive.org/web/{nearest}/{url(s)}",
                200,
                newest,
                f"https://web.archive.org/web/{newest}/{url(s)}",
                "cdx",
                looked,
            )

    conn.executemany(
        "insert into wayback_state (source_id, target_date, nearest_timestamp, nearest_url, "
        "nearest_status, newest_timestamp, newest_url, via, looked_up_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        wayback_rows(),
    )

    saves = (("saved", 0.6), ("queued", 0.7), ("submitted", 0.8), ("failed", 0.9))

    def save_rows() -> Iterator[tuple[Any, ...]]:
        for s in range(1, n_sources + 1):
            if rng.random() >= 0.2:
                continue
            x = rng.random()
            state = next((v for v, upto in saves if x < upto), "retry-later")
            queued = _moment(checked, s * 5)
            submitted = finished = timestamp = job = status_ext = message = error = None
            next_attempt = None
            attempts = 0 if state == "queued" else 1
            if state != "queued":
                submitted, job = _moment(checked, s * 5 + 60), f"spn2-{_hex(rng, 160)}"
            if state == "saved":
                finished = _moment(checked, s * 5 + 120)
                timestamp = _wayback_timestamp(checked, s * 5 + 100)
            elif state == "failed":
                finished, status_ext = _moment(checked, s * 5 + 120), "error:too-many-redirects"
                message, error = "Too many redirects.", "save_failed"
            elif state == "retry-later":
                next_attempt, error = _moment(checked + timedelta(days=1), s), "rate_limited"
            yield (
                s,
                state,
                job,
                queued,
                submitted,
                finished,
                timestamp,
                url(s),
                status_ext,
                message,
                error,
                attempts,
                next_attempt,
            )

    conn.executemany(
        "insert into wayback_saves (source_id, state, job_id, queued_at, submitted_at, "
        "finished_at, timestamp, original, status_ext, message, error_type, attempts, "
        "next_attempt_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        save_rows(),
    )

    def capture_rows() -> Iterator[tuple[Any, ...]]:
        for s in range(1, n_sources + 1):
            x = rng.random()
            if x >= 0.53:
                continue
            host = hosts[(s - 1) % n_hosts]
            times = [checked + timedelta(days=1)]
            if x < 0.05:  # captured twice: an older full capture too
                times.insert(0, date(2025, 3, 1) + timedelta(days=s % 90))
            for day in times:
                second = s * 13
                at = _moment(day, second)
                if x >= 0.5:  # the ~3 % whose only capture failed
                    yield (s, url(s), at, "failed", *(None,) * 7, None, None, None)
                    continue
                warc = f"{day:%Y/%m/%d}/{at[11:19].replace(':', '')}-{host}-{s}-{_hex(rng, 24)}"
                # What the copy holds: mostly the page; 4 % a block page, 2 % a login wall;
                # 5 % of the pages' text drifted from the citation-time text.
                y = rng.random()
                status, holds, reason = 200, "content", "http_200"
                if y < 0.04:
                    status, holds, reason = 403, "block_page", "http_403"
                elif y < 0.06:
                    holds, reason = "login_wall", "login_wall"
                drifted = int(holds == "content" and rng.random() < 0.05)
                yield (
                    s,
                    url(s),
                    at,
                    "captured",
                    warc + ".warc.gz",
                    _hex(rng),
                    status,
                    url(s),
                    _hex(rng),
                    _hex(rng),
                    4_000 + rng.randrange(200_000),
                    holds,
                    reason,
                    drifted,
                )

    conn.executemany(
        "insert into captures (source_id, url, captured_at, status, warc_path, warc_sha256, "
        "status_code, final_url, payload_sha256, content_hash, bytes, truncated, ip, title, "
        "language, tool_version, holds, holds_reason, drifted, error_type) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '192.0.2.10', 'A cited page', 'en', "
        "'0.1.0', ?, ?, ?, case when ? = 'failed' then 'connect_timeout' end)",
        ((*row, row[3]) for row in capture_rows()),
    )

    # The importer keeps each report's counts on its row, and each source's citation date
    # (its best copy follows, by trigger); these rows were inserted directly.
    for (report_id,) in conn.execute("select id from reports").fetchall():
        refresh_report_counts(conn, report_id)
    refresh_cited_on(conn, range(1, n_sources + 1))
    rows = {
        table: conn.execute(f"select count(*) from [{table}]").fetchone()[0]
        for table in (
            "reports",
            "sources",
            "citations",
            "imports",
            "source_state",
            "wayback_state",
            "wayback_saves",
            "captures",
        )
    }
    meta = {
        "generator": GENERATOR,
        "seed": seed,
        "citations": citations,
        "shape": shape,
        "rows": rows,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    conn.execute("create table bench_meta (key text primary key, value text not null)")
    conn.execute("COMMIT")
    problems = conn.execute("PRAGMA foreign_key_check").fetchmany(5)
    if problems:
        conn.close()
        raise SystemExit(f"BROKEN: the synthetic database breaks foreign keys: {problems}")
    meta["build_seconds"] = round(time.perf_counter() - started, 2)
    conn.execute("insert into bench_meta values ('meta', ?)", [json.dumps(meta)])
    conn.execute("PRAGMA journal_mode = WAL")  # as the application leaves it
    conn.close()
    building.replace(path)
    return meta


def stored_meta(path: Path) -> dict[str, Any] | None:
    """The metadata of a complete database at ``path`` (None when absent or unreadable)."""
    if not path.is_file():
        return None
    from sqlite_utils import Database

    from archiver.store import migrations

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = json.loads(
                conn.execute("select value from bench_meta where key = 'meta'").fetchone()[0]
            )
            meta["pending_migrations"] = [m.name for m in migrations.pending(Database(conn))]
            meta["citation_rows"] = conn.execute("select count(*) from citations").fetchone()[0]
        finally:
            conn.close()
    except (sqlite3.Error, TypeError, ValueError):
        return None
    return meta


def prepare(work: Path, citations: int, rebuild: bool) -> dict[str, Any]:
    """The database for ``citations``, reused when it matches, else built; and this checkout's
    modules compiled (a fresh worktree has no .pyc yet, which the first child would pay for).

    Runs in its own process (``--prepare``), so the harness stays small: on Linux a child's
    ``ru_maxrss`` starts from its parent's RSS at the fork, and the build holds hundreds of MB.
    Messages go to stderr; the result, {path, meta, reused}, is printed as JSON on stdout.
    """
    path = work / f"views-{citations}.sqlite"
    meta = None if rebuild else stored_meta(path)
    reused = (
        meta is not None
        and meta.get("generator") == GENERATOR
        and meta.get("seed") == SEED
        and meta.get("citations") == citations
        and meta.get("citation_rows") == citations
        and not meta.get("pending_migrations")
    )
    if reused:
        assert meta is not None
        print(
            f"reusing {path} (built {meta['built_at']} in {meta['build_seconds']:.1f} s)",
            file=sys.stderr,
        )
    else:
        print(f"building {path}: {citations:,} citations …", file=sys.stderr, flush=True)
        work.mkdir(parents=True, exist_ok=True)
        meta = build_database(path, citations, SEED)
        rows = ", ".join(f"{n:,} {table}" for table, n in meta["rows"].items())
        print(f"built in {meta['build_seconds']:.1f} s: {rows}", file=sys.stderr)
    compileall.compile_dir(ROOT / "archiver", quiet=1)
    return {"path": str(path), "meta": meta, "reused": reused}


def database(
    work: Path, citations: int, rebuild: bool, env: dict[str, str]
) -> tuple[Path, dict[str, Any], bool]:
    """``prepare`` in a child process of this script: (database path, its metadata, reused)."""
    argv = [sys.executable, __file__, "--prepare", "--citations", str(citations)]
    argv += ["--work", str(work), *(["--rebuild"] if rebuild else [])]
    try:
        done = subprocess.run(
            argv, env=env, stdout=subprocess.PIPE, text=True, timeout=MAX_PREPARE_SECONDS
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"building the database took over {MAX_PREPARE_SECONDS:g} s: stopped")
    if done.returncode != 0:
        sys.exit(f"building the database failed (exit {done.returncode})")
    prepared = json.loads(done.stdout)
    return Path(prepared["path"]), prepared["meta"], prepared["reused"]


# --------------------------------------------------------------------------------------------
# Timing one child process


def run_child(
    argv: list[str], env: dict[str, str], cwd: Path, max_seconds: float
) -> dict[str, Any]:
    """Run ``argv`` with stdout and stderr on pipes read here; return its numbers.

    wall_s: from just before the start to its exit (reaped, every byte read). ttfb_s: to the
    first byte of stdout. peak_rss_mb: ``ru_maxrss`` (KiB) of this child from ``os.wait4``.
    Past ``max_seconds`` its process group is killed and the run is a timeout.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as one past the cap
    )
    deadline = started + max_seconds
    out_bytes, ttfb, last_byte = 0, None, None
    timeline: list[tuple[float, int]] = []
    err = bytearray()
    exited, timed_out = False, False
    status = usage = None
    selector = selectors.DefaultSelector()
    pidfd = None
    try:
        assert child.stdout is not None and child.stderr is not None
        selector.register(child.stdout.fileno(), selectors.EVENT_READ, "out")
        selector.register(child.stderr.fileno(), selectors.EVENT_READ, "err")
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(child.pid)
                selector.register(pidfd, selectors.EVENT_READ, "exit")
            except OSError:
                pidfd = None
        while True:
            pipes_open = any(k.data != "exit" for k in selector.get_map().values())
            if not pipes_open and pidfd is None and not exited:
                # No pidfd: poll for the exit once the pipes are closed.
                pid, polled, polled_usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    exited, status, usage = True, polled, polled_usage
                else:
                    time.sleep(0.002)
            if not pipes_open and exited:
                break
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                timed_out = True
                break
            if not pipes_open and pidfd is None:
                continue
            for key, _ in selector.select(timeout=remaining):
                now = time.perf_counter()
                if key.data == "exit":
                    exited = True
                    selector.unregister(key.fd)
                    continue
                data = os.read(key.fd, CHUNK)
                if not data:
                    selector.unregister(key.fd)
                elif key.data == "out":
                    if ttfb is None:
                        ttfb = now - started
                    out_bytes += len(data)
                    last_byte = now - started
                    if not timeline or last_byte - timeline[-1][0] >= TIMELINE_STEP:
                        timeline.append((round(last_byte, 3), out_bytes))
                elif len(err) < CHUNK:
                    err += data[: CHUNK - len(err)]
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        if status is None:
            _, status, usage = os.wait4(child.pid, 0)
    except BaseException:  # Ctrl-C, or a bug here: the child does not outlive the harness
        with_child_gone(child)
        raise
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
        child.stdout.close()
        child.stderr.close()
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped here: Popen must not wait for it again
    if timeline and timeline[-1][1] != out_bytes:
        timeline.append((round(last_byte or wall, 3), out_bytes))
    stderr_text = err.decode("utf-8", "replace").strip()
    if timed_out:
        outcome = "timeout"
    elif code == 0:
        outcome = "ok"
    else:
        outcome = "error"
    return {
        "status": outcome,
        "exit_code": None if timed_out else code,
        "stderr_first_line": stderr_text.splitlines()[0][:500] if stderr_text else None,
        "wall_s": round(wall, 3),
        "ttfb_s": None if ttfb is None else round(ttfb, 3),
        "last_byte_s": None if last_byte is None else round(last_byte, 3),
        "bytes_out": out_bytes,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "timeline": timeline,
    }


def with_child_gone(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group and reap it (ignoring one already gone)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.wait4(child.pid, 0)
    child.returncode = -signal.SIGKILL


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs; the status of the first run that did not finish well, if any."""
    bad = next((r for r in runs if r["status"] != "ok"), None)
    summary: dict[str, Any] = {
        "status": (bad or runs[0])["status"],
        "exit_code": (bad or runs[0])["exit_code"],
        "stderr_first_line": (bad or runs[0])["stderr_first_line"],
        "runs": len(runs),
    }
    for key in ("wall_s", "ttfb_s", "last_byte_s", "bytes_out", "peak_rss_mb", "cpu_s"):
        values = [r[key] for r in runs if r[key] is not None]
        summary[key] = statistics.median(values) if values else None
    return summary


# --------------------------------------------------------------------------------------------
# Output


def _cell(value: float | None, fmt: str) -> str:
    """``value`` in ``fmt`` ("8.2f"), or a dash as wide when there is none."""
    if value is None:
        return "—".rjust(int(fmt.split(".")[0] or 0))
    return format(value, fmt)


def status_text(summary: dict[str, Any], max_seconds: float) -> str:
    if summary["status"] == "ok":
        return "ok"
    if summary["status"] == "timeout":
        return f"timeout (> {max_seconds:g} s)"
    line = summary["stderr_first_line"] or ""
    return f"exit {summary['exit_code']}: {line[:60] + ('…' if len(line) > 60 else '')}".strip()


def print_table(results: list[dict[str, Any]], max_seconds: float, at_target: bool) -> None:
    width = max(len("command"), *(len(r["command"]) for r in results))
    print(
        f"{'command':<{width}}  {'wall s':>8}  {'TTFB s':>8}  {'MB out':>8}  "
        f"{'RSS MB':>8}  {'status':<18}  targets" + ("" if at_target else f" (at {TARGETS_AT:,})")
    )
    for r in results:
        s = r["median"]
        targets = "; ".join(f"{t['label']} {'pass' if t['met'] else 'FAIL'}" for t in r["targets"])
        print(
            f"{r['command']:<{width}}  {_cell(s['wall_s'], '8.2f')}  {_cell(s['ttfb_s'], '8.2f')}  "
            f"{s['bytes_out'] / 1e6:8.2f}  {_cell(s['peak_rss_mb'], '8.0f')}  "
            f"{status_text(s, max_seconds):<18}  {targets}"
        )


def git_facts() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else None

    dirty = git("status", "--porcelain", "--", "archiver")
    return {
        "root": str(ROOT),
        "commit": git("rev-parse", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "archiver_dirty": bool(dirty) if dirty is not None else None,
    }


# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    names = ", ".join(c.name for c in COMMANDS)
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=f"Commands (for --only): {names}.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--citations", type=int, help=f"default {DEFAULT_CITATIONS:,}")
    size.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CITATIONS:,} citations (a smoke run)"
    )
    parser.add_argument("--only", help="comma list of command names to run (default: all)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per command; the median is reported"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build the database even if one fits"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "bench" / "work",
        help="folder of the databases (default bench/work)",
    )
    parser.add_argument("--max-seconds-per-command", type=float, default=120.0)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.citations = QUICK_CITATIONS if args.quick else (args.citations or DEFAULT_CITATIONS)
    if args.citations < 1 or args.repeat < 1 or args.max_seconds_per_command <= 0:
        parser.error("--citations, --repeat and --max-seconds-per-command must be positive")
    known = {c.name: c for c in COMMANDS}
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            parser.error(f"unknown command(s) {', '.join(unknown)}; known: {names}")
        args.commands = [c for c in COMMANDS if c.name in wanted]
    else:
        args.commands = list(COMMANDS)
    return args


def main() -> None:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the --prepare child's stderr
    work = args.work.resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    if args.prepare:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(prepare(work, args.citations, args.rebuild)))
        return
    started_at = datetime.now(UTC)
    db_path, meta, reused = database(work, args.citations, args.rebuild, env)

    # Untimed: read the database once into the OS page cache, and start the CLI once.
    with db_path.open("rb") as f:
        while f.read(1 << 20):
            pass
    base = [sys.executable, "-m", "archiver", "--db", str(db_path)]
    warm = run_child([*base, "--version"], env, work, args.max_seconds_per_command)
    if warm["status"] != "ok":
        sys.exit(f"`archiver --version` failed: {warm['stderr_first_line']}")

    # On Linux a child's ru_maxrss starts from the harness's RSS at the fork: this is the floor.
    harness_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    at_target = args.citations == TARGETS_AT
    results = []
    for command in args.commands:
        runs = []
        for _ in range(args.repeat):
            runs.append(run_child([*base, *command.args], env, work, args.max_seconds_per_command))
            if runs[-1]["status"] != "ok":
                break  # a timeout or an error would only repeat itself
        summary = summarize(runs)
        result = {
            "name": command.name,
            "command": command.text,
            "argv": ["python", "-m", "archiver", "--db", "DB", *command.args],
            "median": summary,
            "targets": [
                {
                    "label": t.label,
                    "metric": t.metric,
                    "limit": t.limit,
                    "strict": t.strict,
                    "met": t.met(summary),
                }
                for t in command.targets
            ],
            "runs": runs,
        }
        results.append(result)
        s = summary
        print(
            f"  {command.text}: {_cell(s['wall_s'], '.2f')} s, "
            f"{s['bytes_out'] / 1e6:.2f} MB, {_cell(s['peak_rss_mb'], '.0f')} MB RSS, "
            f"{status_text(s, args.max_seconds_per_command)}",
            flush=True,
        )

    shape = meta["shape"]
    size_mb = db_path.stat().st_size / 1e6
    built = "reused" if reused else f"built in {meta['build_seconds']:.1f} s"
    print()
    print(
        f"{shape['citations']:,} citations, {shape['reports']:,} reports, "
        f"{meta['rows']['sources']:,} sources over {shape['hosts']:,} hosts; "
        f"{db_path} ({size_mb:.0f} MB, {built}); median of {args.repeat}, "
        f"cap {args.max_seconds_per_command:g} s per command"
    )
    print_table(results, args.max_seconds_per_command, at_target)
    if not at_target:
        print(f"(targets are set for {TARGETS_AT:,} citations; at this size they only indicate)")

    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"views-{started_at:%Y%m%dT%H%M%SZ}.json"
    report = {
        "benchmark": "views",
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "code": git_facts(),
        "options": {
            "citations": args.citations,
            "repeat": args.repeat,
            "max_seconds_per_command": args.max_seconds_per_command,
            "only": [c.name for c in args.commands],
            "rebuild": args.rebuild,
        },
        "database": {
            "path": str(db_path),
            "size_mb": round(size_mb, 1),
            "reused": reused,
            "build_seconds": meta["build_seconds"],
            "built_at": meta["built_at"],
            "generator": meta["generator"],
            "seed": meta["seed"],
            "shape": shape,
            "rows": meta["rows"],
        },
        "targets_at_citations": TARGETS_AT,
        "targets_apply": at_target,
        "harness_peak_rss_mb": harness_rss_mb,
        "warm_up": warm,
        "commands": results,
    }
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
