"""``archiver check``: fetch every source, classify it, and turn the run into verdicts.

Workers fetch concurrently (``concurrency`` in all, per-host limits through HostQueue) over
the lean HTTP/1.1 transport (net.http1: a tenth of the CPU of ``requests`` per check, so the
threads only wait on their sockets); each works out its source's attempt row and new state,
and the calling thread alone writes to SQLite: the attempts as they come, the new states and
first pages into TEMP tables. Verdicts are applied at the end of a run, once we know whether
the run says anything about the sources at all: when our own network is down (canary URLs
failing, or most hosts failing at the network level at once), every attempt is recorded but
no verdict changes.
"""

from __future__ import annotations

import gc
import json
import secrets
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from ..clock import SYSTEM_CLOCK, Clock, Progress
from ..config import DEFAULTS, Settings
from ..errors import ParseTimeout
from ..net.fetch import FetchLimits, FetchResult
from ..net.http1 import LeanFetcher
from ..net.outage import Outage
from ..net.pool import Attempt, run_pool
from ..net.vantage import Vantage, parse_vantages
from ..pagetext import Page, decode_body, same_template
from ..parsing import ParseLimits
from ..store import scoped_sources, stamp
from .drift import measure_drift, text_hash
from .vantage import (
    Candidate,
    Rechecks,
    apply_rechecks,
    needs_recheck,
    recheck,
    store_rechecks,
    vantage_note,
)
from .verdicts import Outcome, Rules, classify, next_state

# The longest Retry-After we wait for within a run; longer ones are left to the next run.
MAX_RETRY_WAIT = 60.0
DEFAULT_BACKOFF = 5.0
HTML_TYPES = ("text/html", "application/xhtml+xml", "")
STATE_COLUMNS = (
    "source_id", "verdict", "reason", "http_status", "final_url", "checked_at", "since",
    "last_ok_at", "drifted", "similarity", "failures", "failing_since", "etag",
    "last_modified", "content_type", "content_hash", "text_hash",
)  # fmt: skip
VERDICT_AT, REASON_AT = STATE_COLUMNS.index("verdict"), STATE_COLUMNS.index("reason")


@dataclass(frozen=True)
class CheckOptions:
    """Everything a check run needs to know, taken from Settings by the caller."""

    limits: FetchLimits = field(default_factory=FetchLimits)
    rules: Rules = field(default_factory=Rules)
    parse: ParseLimits = field(default_factory=ParseLimits)
    concurrency: int = DEFAULTS.concurrency
    per_host_concurrency: int = DEFAULTS.per_host_concurrency
    per_host_delay: float = DEFAULTS.per_host_delay
    canary_urls: tuple[str, ...] = DEFAULTS.canary_urls
    vantages: tuple[Vantage, ...] = ()


def check_options(settings: Settings) -> CheckOptions:
    """The check run's options from the user's settings."""
    return CheckOptions(
        limits=FetchLimits.from_settings(settings),
        rules=Rules(
            dead_after_failures=settings.dead_after_failures,
            dead_after_days=settings.dead_after_days,
            drift_threshold=settings.drift_threshold,
        ),
        parse=ParseLimits.from_settings(settings),
        concurrency=settings.concurrency,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_delay=settings.per_host_delay,
        canary_urls=settings.canary_urls,
        vantages=parse_vantages(settings.vantage_points),
    )


@dataclass(slots=True)
class _Job:
    source_id: int
    url: str
    host: str
    state: dict[str, Any] | None
    has_reference: bool = False
    attempts: int = 0


@dataclass(slots=True)
class _Answer:
    """What verdicts need of a fetch: a run keeps one per source until it ends, so no more."""

    status: int | None
    final_url: str | None
    error_type: str | None
    etag: str | None
    last_modified: str | None
    content_type: str | None
    content_hash: str | None

    @classmethod
    def of(cls, result: FetchResult) -> _Answer:
        return cls(
            result.status,
            result.final_url,
            result.error_type,
            result.headers.get("etag"),
            result.headers.get("last-modified"),
            result.content_type or None,
            result.content_hash,
        )


@dataclass(slots=True)
class _Done:
    """One finished attempt, on its way from a worker to the writing thread."""

    job: _Job
    answer: _Answer
    outcome: Outcome
    checked_at: datetime
    text: str | None = None  # main text, extracted only when the page changed
    reference: bytes | None = None  # the first good page, compressed, to compare against later
    row: dict[str, Any] | None = None  # the attempt as stored in `checks`, until written
    state: tuple[Any, ...] = ()  # the source's new state (STATE_COLUMNS), drift aside


@dataclass(slots=True)
class _Kept:
    """What the end of a run needs of a finished attempt whose rows are written: one small
    object per source (kept among the run's short-lived objects, more would pin memory)."""

    job: _Job
    error_type: str | None  # for the outage rule
    verdict: str
    reason: str | None
    text: str | None  # main text of a changed page, for drift


@dataclass
class CheckSummary:
    """What a run did, as ``archiver check --json`` prints it."""

    run_id: int
    checked: int
    inconclusive: bool
    message: str
    verdicts: dict[str, int] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    vantages: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives, without its deep copy of every value: a first check
        # of 10,000 sources is 10,000 changes, and asdict took a tenth of a second over them.
        summary = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}
        summary["verdicts"] = dict(self.verdicts)
        summary["changes"] = [dict(change) for change in self.changes]
        summary["drifted"] = list(self.drifted)
        summary["vantages"] = dict(self.vantages)
        return summary


def check_sources(
    db: Database,
    options: CheckOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    source_ids: Sequence[int] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> CheckSummary:
    """Check the sources of one report, one URL, or all; record attempts; update verdicts.

    source_ids: only these (still cited) sources, as the scheduler picks those due.
    stop: once set, no further source is started; what completed within ``STOP_GRACE`` seconds
    counts like a whole run (verdicts applied unless it looks like a network outage), the
    rest is left for the next run.
    """
    jobs = _select_jobs(db, report_id, url, source_ids)
    scope = "all sources" if source_ids is None else f"{len(jobs)} due source(s)"
    scope = f"report {report_id}" if report_id else f"url {url}" if url else scope
    now = clock.now
    started = now()
    run_id = int(
        db.table("check_runs")
        .insert({"started_at": stamp(started), "scope": scope, "sources": len(jobs)})
        .last_pk  # type: ignore[arg-type]
    )
    fetcher = LeanFetcher(options.limits)
    # What exists now (modules, settings, the jobs) lives through the run: kept out of the
    # collector's full passes, which otherwise pause every worker for tens of milliseconds.
    frozen = not gc.get_freeze_count()
    if frozen:
        gc.freeze()
    rechecks = Rechecks()
    try:
        canary_failure = _canaries_down(fetcher, options.canary_urls)
        if canary_failure:
            done: list[_Kept] = []
            message = f"network looks down: {canary_failure}; no source was checked"
        else:
            done = _run_workers(db, fetcher, jobs, options, run_id, on_progress, now, stop)
            message = _network_down(done)
            if not message:
                rechecks = _second_opinions(done, options, now, stop)
    finally:
        fetcher.close()
        if frozen:
            gc.unfreeze()
    inconclusive = bool(message)
    interrupted = stop is not None and stop.is_set() and len(done) < len(jobs)
    summary = CheckSummary(
        run_id=run_id,
        checked=len(done),
        inconclusive=inconclusive,
        message=message or f"checked {len(done)} source(s)",
        interrupted=interrupted,
    )
    if interrupted:
        summary.message += f"; interrupted, {len(jobs) - len(done)} left for the next run"
    summary.seconds = round((now() - started).total_seconds(), 3)
    with db.atomic():
        if inconclusive:
            if done:
                db.execute("update checks set counted = 0 where run_id = ?", [run_id])
        else:
            apply_rechecks(db, f"temp.[{STAGED_STATE}]", done, rechecks, options.rules)
            _apply_verdicts(db, done, options, summary)
            store_rechecks(db, run_id, rechecks, [item.job.source_id for item in done])
            if rechecks.seen:
                summary.vantages = rechecks.counts()
                summary.message += vantage_note(summary.vantages, len(options.vantages))
        _drop_staging(db)
        summary.verdicts = _verdict_counts(db, [j.source_id for j in jobs])
        db.table("check_runs").update(
            run_id,
            {
                "finished_at": stamp(now()),
                "checked": len(done),
                "inconclusive": int(inconclusive),
                "message": summary.message,
                "summary": json.dumps(
                    {"verdicts": summary.verdicts, "changes": len(summary.changes)}
                ),
            },
        )
    return summary


def _second_opinions(
    done: list[_Kept],
    options: CheckOptions,
    now: Callable[[], datetime],
    stop: threading.Event | None,
) -> Rechecks:
    """Ask every vantage point about the sources that failed from here (check/vantage.py)."""
    if not options.vantages:
        return Rechecks()
    candidates = [
        Candidate(item.job.source_id, item.job.url, item.job.host, item.verdict, previous)
        for item in done
        if needs_recheck(
            item.verdict,
            item.reason,
            item.error_type,
            previous := (item.job.state or {}).get("verdict") or "unchecked",
        )
    ]
    return recheck(
        options.vantages,
        candidates,
        limits=options.limits,
        parse=options.parse,
        now=now,
        concurrency=options.concurrency,
        per_host_concurrency=options.per_host_concurrency,
        per_host_delay=options.per_host_delay,
        stop=stop,
    )


def _select_jobs(
    db: Database, report_id: str | None, url: str | None, source_ids: Sequence[int] | None
) -> list[_Job]:
    rows = scoped_sources(
        db,
        "s.id, s.url, s.host, st.*, "
        "exists(select 1 from reference_texts r where r.source_id = s.id) as has_reference",
        report_id,
        url,
        source_ids,
    )
    return [
        _Job(
            source_id=row["id"],
            url=row["url"],
            host=row["host"] or "",
            state=dict(row) if row["verdict"] is not None else None,
            has_reference=bool(row["has_reference"]),
        )
        for row in rows
    ]


def _canaries_down(fetcher: LeanFetcher, canaries: tuple[str, ...]) -> str | None:
    """When every canary fails, describe it; None when there are none or one answers."""
    if not canaries:
        return None
    failures = []
    for canary in canaries:
        result = fetcher.fetch(canary, method="GET", max_bytes=16_384)
        if result.error_type is None and (result.status or 0) < 500:
            return None
        failures.append(f"{canary} ({result.error_type or result.status})")
    return "every canary URL failed: " + ", ".join(failures)


def _network_down(done: list[_Kept]) -> str:
    """Say so when the run's failures look like our network rather than the sites."""
    outage = Outage()
    for item in done:
        outage.record(item.job.host, item.error_type)
    if not outage.down():
        return ""
    return (
        f"network looks down: {outage.describe()}; no verdict was changed — "
        "check this machine's connection"
    )


def _run_workers(
    db: Database,
    fetcher: LeanFetcher,
    jobs: list[_Job],
    options: CheckOptions,
    run_id: int,
    on_progress: Progress | None,
    now: Callable[[], datetime],
    stop: threading.Event | None,
) -> list[_Kept]:
    probes = _Probes(fetcher, options.per_host_delay, options.parse)
    done: list[_Kept] = []
    pending = _Pending()
    _prepare_staging(db)

    def attempt(job: _Job) -> Attempt[_Done]:
        item, result = _check_one(fetcher, job, probes, options.parse, now)
        retry = _retry_delay(result)
        if retry is not None and job.attempts == 1:
            return Attempt(None, retry_in=retry, hold_host=retry)
        # The rows are built here, on a worker, so the writing thread only writes.
        item.row = _check_row(run_id, item, result)
        item.state = _state_row(item, options.rules)
        return Attempt(item, hold_host=_hold_host(result), contacted=result.ip is not None)

    def failed(job: _Job, exc: Exception) -> _Done:
        result = FetchResult(
            url=job.url, method="GET", error_type="internal_error", error_message=repr(exc)[:300]
        )
        item = _Done(job, _Answer.of(result), Outcome("failing", "internal_error"), now())
        item.row = _check_row(run_id, item, result)
        item.state = _state_row(item, options.rules)
        return item

    def store(item: _Done) -> None:
        done.append(pending.add(item))
        if len(pending.rows) >= 200:
            pending.flush(db)
        if on_progress is not None:
            on_progress(len(done), len(jobs))

    try:
        run_pool(
            jobs,
            lambda j: j.host,
            attempt,
            failed=failed,
            store=store,
            concurrency=options.concurrency,
            per_host_concurrency=options.per_host_concurrency,
            per_host_delay=options.per_host_delay,
            stop=stop,
            name="archiver-check",
        )
    finally:
        pending.flush(db)
    return done


# Per-connection TEMP tables (no other connection sees them, no migration makes them): each
# finished source's new state and first page wait here until the run ends and says whether
# they count, so the end of a run is two INSERT … SELECT statements, and no run holds its
# sources' pages in memory.
STAGED_STATE = "archiver_check_state"
STAGED_REFERENCES = "archiver_check_references"
REFERENCE_COLUMNS = ("source_id", "taken_at", "content_hash", "body")


def _prepare_staging(db: Database) -> None:
    with db.atomic():
        for staged, table in (
            (STAGED_STATE, "source_state"),
            (STAGED_REFERENCES, "reference_texts"),
        ):
            db.execute(f"drop table if exists temp.[{staged}]")
            db.execute(f"create temp table [{staged}] as select * from main.[{table}] where 0")


def _drop_staging(db: Database) -> None:
    for staged in (STAGED_STATE, STAGED_REFERENCES):
        db.execute(f"drop table if exists temp.[{staged}]")


class _Pending:
    """Finished attempts not yet written: their `checks` rows, new states and first pages."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.states: list[tuple[Any, ...]] = []
        self.references: list[tuple[Any, ...]] = []

    def add(self, item: _Done) -> _Kept:
        """Queue its rows; what the end of the run still needs of it."""
        self.rows.append(item.row or {})
        self.states.append(item.state)
        if item.reference is not None:
            self.references.append(
                (
                    item.job.source_id,
                    stamp(item.checked_at),
                    item.answer.content_hash,
                    item.reference,
                )
            )
        reason = item.state[REASON_AT]
        return _Kept(
            item.job,
            item.answer.error_type,
            item.state[VERDICT_AT],
            sys.intern(reason) if isinstance(reason, str) else None,
            item.text,
        )

    def flush(self, db: Database) -> None:
        """Write them in one short transaction, so other writers are not held up."""
        if not self.rows:
            return
        with db.atomic():
            _replace_rows(db, "checks", self.rows)
            _insert_or_replace(db, f"temp.[{STAGED_STATE}]", STATE_COLUMNS, self.states)
            _insert_or_replace(
                db, f"temp.[{STAGED_REFERENCES}]", REFERENCE_COLUMNS, self.references
            )
        self.rows.clear()
        self.states.clear()
        self.references.clear()


def _check_row(run_id: int, item: _Done, result: FetchResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "source_id": item.job.source_id,
        "checked_at": stamp(item.checked_at),
        "method": result.method,
        "status_code": result.status,
        "final_url": result.final_url,
        "redirects": json.dumps(
            [{k: hop[k] for k in ("url", "status", "location")} for hop in result.redirects]
        )
        if result.redirects
        else None,
        "error_type": result.error_type,
        "error_message": result.error_message,
        "elapsed_ms": result.elapsed_ms,
        "ttfb_ms": result.ttfb_ms,
        "bytes_read": result.bytes_read,
        "truncated": int(result.truncated),
        "content_type": result.content_type or None,
        "content_hash": result.content_hash,
        "text_hash": text_hash(item.text),
        "ip": result.ip,
        "outcome": item.outcome.verdict,
        "reason": item.outcome.reason,
        "counted": 1,
    }


def _check_one(
    fetcher: LeanFetcher,
    job: _Job,
    probes: _Probes,
    parse: ParseLimits,
    now: Callable[[], datetime],
) -> tuple[_Done, FetchResult]:
    """Fetch one source the cheapest reliable way and classify what came back."""
    job.attempts += 1
    state = job.state or {}
    headers: dict[str, str] = {}
    if state.get("verdict") in ("ok", "redirected"):
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
    result: FetchResult | None = None
    if not headers and (state.get("content_type") or "") in HTML_TYPES:
        probes.prime(job.url)
    if state.get("content_type") and state["content_type"] not in HTML_TYPES:
        # A PDF or a video known to be there: HEAD says whether it still is, without the body.
        head = fetcher.fetch(job.url, method="HEAD", headers=headers)
        if head.error_type is None and head.status is not None and head.status < 400:
            result = head
    if result is None:
        result = fetcher.fetch(job.url, headers=headers)
    if result.status == 304:
        verdict = state.get("verdict") or "ok"
        return _Done(job, _Answer.of(result), Outcome(verdict, "not_modified"), now()), result
    page = _page(result, parse)
    try:
        return _read_page(job, result, page, probes, now), result
    except ParseTimeout as exc:
        # The page came but could not be read in time: evidence of nothing (transient).
        result.error_type, result.error_message = "parse_timeout", str(exc)
        return _Done(job, _Answer.of(result), Outcome("failing", "parse_timeout"), now()), result


def _read_page(
    job: _Job,
    result: FetchResult,
    page: Page | None,
    probes: _Probes,
    now: Callable[[], datetime],
) -> _Done:
    """Classify a fetched answer by what its page says (raises ParseTimeout)."""
    done = _Done(job, _Answer.of(result), classify(result, page), now())
    if page is None or done.outcome.verdict not in ("ok", "redirected"):
        return done
    if probes.looks_like_missing_page(result, page):
        done.outcome = Outcome("soft_404", "same_as_missing_page")
    elif not job.has_reference:
        # Main-text extraction is the costly part of a check: the first good page is kept
        # as it is, and only a page whose bytes changed is extracted and compared with it.
        done.reference = zlib.compress(page.markup.encode("utf-8"), 1)
    elif result.content_hash != (job.state or {}).get("content_hash"):
        done.text = page.main_text
    return done


def _page(result: FetchResult, parse: ParseLimits) -> Page | None:
    if result.method == "HEAD" or not result.body or result.content_type not in HTML_TYPES:
        return None
    return Page(decode_body(result.body, result.headers.get("content-type")), parse)


def _retry_delay(result: FetchResult) -> float | None:
    """429/503 once: wait what the host asked (bounded) and try again within this run."""
    if result.status not in (429, 503):
        return None
    wait = result.retry_after
    if wait is None:
        return DEFAULT_BACKOFF
    return wait if wait <= MAX_RETRY_WAIT else None


def _hold_host(result: FetchResult) -> float:
    if result.status in (429, 503):
        return min(result.retry_after or DEFAULT_BACKOFF, MAX_RETRY_WAIT)
    return 0.0


class _Probes:
    """One request per host to a path that cannot exist, to learn its "missing page" template."""

    def __init__(self, fetcher: LeanFetcher, delay: float, parse: ParseLimits) -> None:
        self._fetcher = fetcher
        self.delay = delay
        self._parse = parse
        self._lock = threading.Lock()
        self._pages: dict[str, Page | None] = {}
        self._host_locks: dict[str, threading.Lock] = {}

    def prime(self, url: str) -> None:
        """Probe ``url``'s host now if nobody has yet, in this job's slot: before the first
        page of a host whose pages will need it (a first check, no validators), rather than
        after, when every other page of that host fetched meanwhile waits for it.

        Only without a per-host delay: with one, the host's next page starts ``delay`` after
        this job did and must not meet our page request; and it cannot start before the
        probe-after-the-page is done anyway.
        """
        if self.delay > 0:
            return
        origin = _origin(url)
        with self._lock:
            if origin in self._host_locks:
                return
            host_lock = self._host_locks[origin] = threading.Lock()
            host_lock.acquire()
        try:
            self._pages[origin] = self._probe(origin)
        finally:
            host_lock.release()

    def looks_like_missing_page(self, result: FetchResult, page: Page) -> bool:
        origin = _origin(result.final_url or result.url)
        with self._lock:
            host_lock = self._host_locks.setdefault(origin, threading.Lock())
        with host_lock:
            if origin not in self._pages:
                self._pages[origin] = self._probe(origin)
        missing = self._pages[origin]
        return missing is not None and same_template(page, missing)

    def _probe(self, origin: str) -> Page | None:
        time.sleep(min(self.delay, 5.0))  # the probe is one more request to a host
        result = self._fetcher.fetch(f"{origin}/archiver-probe-{secrets.token_hex(8)}")
        if not result.ok:
            return None  # the host answers missing pages honestly
        return _page(result, self._parse)


def _state_row(item: _Done, rules: Rules) -> tuple[Any, ...]:
    """The source's state after this attempt, in STATE_COLUMNS order (drift left to the end:
    it reads the reference text from the database)."""
    job, answer = item.job, item.answer
    previous = job.state or {}
    # Start from the stored row, so every row written has every column.
    fields = {column: previous.get(column) for column in STATE_COLUMNS}
    fields.update(next_state(job.state, item.outcome, item.checked_at, rules))
    fields.update(
        {
            "source_id": job.source_id,
            "checked_at": stamp(item.checked_at),
            "http_status": answer.status,
            "final_url": answer.final_url,
        }
    )
    if item.outcome.reason != "not_modified" and item.outcome.verdict in ("ok", "redirected"):
        fields.update(
            {
                "etag": answer.etag,
                "last_modified": answer.last_modified,
                "content_type": answer.content_type,
                "content_hash": answer.content_hash,
                "text_hash": text_hash(item.text),
            }
        )
    if item.reference is not None:
        fields.update({"drifted": 0, "similarity": 1.0})
    return tuple(fields[column] for column in STATE_COLUMNS)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _apply_verdicts(
    db: Database, done: list[_Kept], options: CheckOptions, summary: CheckSummary
) -> None:
    """Fold each attempt into its source's state, recording changes and drift.

    Each attempt's new state was worked out on its worker (``_state_row``) and staged as the
    run went; what is left here is drift, which needs the database, and one copy.
    """
    columns = ", ".join(f"[{c}]" for c in STATE_COLUMNS)
    for item in done:
        job = item.job
        previous = job.state or {}
        verdict, reason = item.verdict, item.reason
        drift = None
        if item.text is not None:
            threshold = options.rules.drift_threshold
            drift = measure_drift(db, job.source_id, item.text, threshold, options.parse)
        if drift is not None:
            db.execute(
                f"update temp.[{STAGED_STATE}] set drifted = ?, similarity = ? where source_id = ?",
                [int(drift.drifted), drift.similarity, job.source_id],
            )
            if drift.drifted and not previous.get("drifted"):
                summary.drifted.append(job.url)
        before = previous.get("verdict") or "unchecked"
        if verdict != before:
            change = {"url": job.url, "from": before, "to": verdict, "reason": reason}
            summary.changes.append(change)
    db.execute(
        f"insert or replace into source_state ({columns}) "
        f"select {columns} from temp.[{STAGED_STATE}]"
    )
    references = ", ".join(f"[{c}]" for c in REFERENCE_COLUMNS)
    db.execute(
        f"insert or replace into reference_texts ({references}) "
        f"select {references} from temp.[{STAGED_REFERENCES}]"
    )


def _insert_or_replace(
    db: Database, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        db.conn.executemany(
            f"insert or replace into {table} ({', '.join(f'[{c}]' for c in columns)}) "
            f"values ({', '.join('?' for _ in columns)})",
            rows,
        )


def _replace_rows(db: Database, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert or replace many rows of the same columns in one statement: thousands per run."""
    if not rows:
        return
    columns = list(rows[0])
    sql = (
        f"insert or replace into [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
        f"values ({', '.join('?' for _ in columns)})"
    )
    db.conn.executemany(sql, [tuple(row[c] for c in columns) for row in rows])


def _verdict_counts(db: Database, source_ids: list[int]) -> dict[str, int]:
    if not source_ids:
        return {}
    counts: Counter[str] = Counter()
    states = {
        row["source_id"]: row["verdict"]
        for row in db.query("select source_id, verdict from source_state")
    }
    for source_id in source_ids:
        counts[states.get(source_id, "unchecked")] += 1
    return dict(counts)
