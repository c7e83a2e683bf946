"""``archiver capture``: evidence-grade local copies of cited sources.

Each capture is one WARC file holding the exact HTTP exchanges (every redirect hop, the page,
its requisites one level deep), written with warcio and recorded in the database with the
chain-of-custody facts: SHA-256 of every payload and of the file, capture time, resolved IP,
TLS certificate, tool version. The page's main text and metadata go to the database too, for
full-text search. Unchanged content is not stored twice: a payload whose SHA-256 equals the
last capture's becomes a WARC revisit record.

Files live under ``data_dir/YYYY/MM/DD/``; the database holds paths relative to ``data_dir``,
so the folder can be moved.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from ..check.verdicts import classify, copy_holds
from ..clock import SYSTEM_CLOCK, Clock, Progress
from ..config import DEFAULTS, Settings
from ..errors import ParseTimeout
from ..net.fetch import Fetcher, FetchLimits, FetchResult
from ..net.outage import Outage
from ..net.pool import Attempt, run_pool
from ..pagetext import Page, decode_body, page_metadata
from ..parsing import ParseLimits
from ..store import scoped_sources, stamp
from ..version import __version__
from .requisites import css_requisites, html_requisites
from .warcfile import CaptureWarc, SpooledPayload, open_capture_warc

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class CaptureOptions:
    """Everything a capture run needs, taken from Settings by the caller."""

    data_dir: Path = DEFAULTS.data_dir
    limits: FetchLimits = field(default_factory=FetchLimits)
    max_capture_bytes: int = DEFAULTS.max_capture_bytes
    requisites: bool = DEFAULTS.requisites
    requisite_budget_bytes: int = DEFAULTS.requisite_budget_bytes
    parse: ParseLimits = field(default_factory=ParseLimits)
    concurrency: int = DEFAULTS.concurrency
    per_host_concurrency: int = DEFAULTS.per_host_concurrency
    per_host_delay: float = DEFAULTS.per_host_delay


def capture_options(settings: Settings) -> CaptureOptions:
    """The capture run's options from the user's settings."""
    return CaptureOptions(
        data_dir=settings.data_dir,
        # A capture reads whole bodies (up to max_capture_bytes): it gets capture_timeout.
        limits=FetchLimits.from_settings(settings, min_timeout=settings.capture_timeout),
        max_capture_bytes=settings.max_capture_bytes,
        requisites=settings.requisites,
        requisite_budget_bytes=settings.requisite_budget_bytes,
        parse=ParseLimits.from_settings(settings),
        concurrency=settings.concurrency,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_delay=settings.per_host_delay,
    )


@dataclass
class _Job:
    source_id: int
    url: str
    host: str


class _StoredPayloads:
    """Payloads already stored in full, by SHA-256: a repeat becomes a revisit record."""

    def __init__(self, db: Database) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, tuple[str, str]] = {
            row["payload_sha256"]: (
                row["url"],
                _warc_date(datetime.fromisoformat(row["captured_at"])),
            )
            for row in db.query(
                """select r.payload_sha256, r.url, c.captured_at
                   from capture_resources r join captures c on c.id = r.capture_id
                   where r.revisit_of is null and r.truncated = 0 and r.payload_sha256 is not null
                   order by r.id desc"""
            )
        }

    def original(
        self, payload: SpooledPayload, url: str, captured_at: str
    ) -> tuple[str, str] | None:
        """The (url, date) stored earlier with this payload, or None after noting this one."""
        with self._lock:
            earlier = self._known.get(payload.sha256)
            if earlier is None:
                self._known[payload.sha256] = (url, captured_at)
            return earlier


@dataclass
class Resource:
    """One stored exchange (the page, a redirect hop, or a requisite) of a capture."""

    url: str
    role: str  # page | redirect | requisite
    status_code: int | None
    content_type: str | None
    payload_sha256: str | None
    bytes: int
    truncated: bool
    record_id: str
    record_offset: int
    revisit_of: str | None = None


@dataclass
class CaptureRecord:
    """What one capture produced, before it is written to the database."""

    source_id: int
    url: str
    captured_at: str
    status: str  # captured | revisit | failed
    warc_path: str | None = None
    warc_sha256: str | None = None
    status_code: int | None = None
    final_url: str | None = None
    payload_sha256: str | None = None
    content_hash: str | None = None
    bytes: int = 0
    truncated: bool = False
    holds: str | None = None  # what the copy holds: check.verdicts.HOLDS
    holds_reason: str | None = None
    ip: str | None = None
    tls_subject: str | None = None
    tls_issuer: str | None = None
    tls_fingerprint: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    title: str | None = None
    language: str | None = None
    published: str | None = None
    canonical_url: str | None = None
    author: str | None = None
    text: str | None = None
    text_truncated: bool = False  # text and metadata read from the first max_parse_bytes only
    resources: list[Resource] = field(default_factory=list)


@dataclass
class CaptureSummary:
    """What a run did, as ``archiver capture --json`` prints it."""

    selected: int
    captured: int = 0
    revisits: int = 0
    failed: int = 0
    bytes: int = 0
    message: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    network_down: bool = False
    interrupted: bool = False

    @property
    def done(self) -> int:
        return self.captured + self.revisits + self.failed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capture_sources(
    db: Database,
    options: CaptureOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    force: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> CaptureSummary:
    """Capture the selected sources: new ones and changed ones, or all of them with ``force``.

    stop: once set, no further capture starts; captures still in flight after ``STOP_GRACE``
    seconds are abandoned (nothing of them is stored) and taken up by the next run.
    """
    jobs = _select(db, report_id, url, force)
    summary = CaptureSummary(selected=len(jobs))
    if not jobs:
        summary.message = "nothing to capture: every source has a current capture"
        return summary
    fetcher = Fetcher(options.limits)
    stored = _StoredPayloads(db)
    outage = Outage()

    def attempt(job: _Job) -> Attempt[CaptureRecord]:
        return Attempt(_capture_one(fetcher, job, options, stored, clock))

    def failed(job: _Job, exc: Exception) -> CaptureRecord:
        # OSError: disk full, permissions; anything else is a bug in one capture.
        storage = isinstance(exc, OSError)
        return CaptureRecord(
            job.source_id,
            job.url,
            stamp(clock.now()),
            "failed",
            error_type="storage_error" if storage else "internal_error",
            error_message=(str(exc) if storage else repr(exc))[:300],
        )

    def store(record: CaptureRecord) -> None:
        _store(db, record)
        summary.bytes += record.bytes
        outage.record(urlsplit(record.url).netloc, record.error_type)
        if record.status == "failed":
            summary.failed += 1
            summary.failures.append(
                {"url": record.url, "error": record.error_type, "message": record.error_message}
            )
        elif record.status == "revisit":
            summary.revisits += 1
        else:
            summary.captured += 1
        if on_progress is not None:
            on_progress(summary.captured + summary.revisits + summary.failed, len(jobs))

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
            name="archiver-capture",
        )
    finally:
        fetcher.close()
    summary.interrupted = stop is not None and stop.is_set() and summary.done < len(jobs)
    if outage.down():
        summary.network_down = True
        summary.message = (
            f"network looks down: {outage.describe()}; "
            "the captures will be tried again on the next run"
        )
    return summary


def _select(db: Database, report_id: str | None, url: str | None, force: bool) -> list[_Job]:
    rows = scoped_sources(
        db,
        """s.id, s.url, s.host, st.content_hash as checked_hash,
           (select c.content_hash from captures c
            where c.source_id = s.id and c.status != 'failed'
            order by c.id desc limit 1) as captured_hash,
           exists(select 1 from captures c where c.source_id = s.id
                  and c.status != 'failed') as captured""",
        report_id,
        url,
    )
    jobs = []
    for row in rows:
        # The checker saw different content than the last capture holds: capture again.
        changed = row["checked_hash"] is not None and row["checked_hash"] != row["captured_hash"]
        if force or not row["captured"] or changed:
            jobs.append(_Job(row["id"], row["url"], row["host"] or ""))
    return jobs


def _capture_one(
    fetcher: Fetcher, job: _Job, options: CaptureOptions, stored: _StoredPayloads, clock: Clock
) -> CaptureRecord:
    """Fetch one page (and its requisites) into a new WARC file."""
    started = clock.now()
    warc_date = _warc_date(started)
    record = CaptureRecord(job.source_id, job.url, stamp(started), "captured")
    payload = SpooledPayload()
    try:
        result = fetcher.fetch(job.url, raw_sink=payload.write, raw_limit=options.max_capture_bytes)
        if result.status is None:
            record.status = "failed"
            record.error_type, record.error_message = result.error_type, result.error_message
            return record
        if result.error_type is not None:  # an answer came, then the body broke off
            record.error_type, record.error_message = result.error_type, result.error_message
        try:
            markup = _describe(record, result, payload, options.parse)
        except ParseTimeout as exc:
            record.status = "failed"
            record.error_type, record.error_message = "parse_timeout", str(exc)
            return record
        relative = Path(started.strftime("%Y/%m/%d")) / (
            # The random part keeps two captures of one source in one second apart.
            f"{started.strftime('%H%M%S')}-{_slug(job.host)}-{job.source_id}-"
            f"{secrets.token_hex(3)}.warc.gz"
        )
        with open_capture_warc(options.data_dir / relative) as warc:
            for hop in result.redirects:
                record.resources.append(_write_hop(warc, hop, warc_date))
            page = _write_exchange(warc, "page", job.url, result, payload, warc_date, stored)
            record.resources.append(page)
            if page.revisit_of is not None:
                record.status = "revisit"
            if options.requisites and markup is not None:
                try:
                    _capture_requisites(fetcher, warc, record, options, warc_date, markup, stored)
                except ParseTimeout as exc:  # the page is stored; its requisites are not
                    record.error_type, record.error_message = "parse_timeout", str(exc)
            record.warc_sha256 = warc.close()
        record.warc_path = relative.as_posix()
        return record
    finally:
        payload.close()


def _describe(
    record: CaptureRecord, result: FetchResult, payload: SpooledPayload, parse: ParseLimits
) -> str | None:
    """Fill in the record from the fetch; return the page's markup when it is HTML.

    Raises ParseTimeout when the page's text and metadata cannot be read in time.
    """
    record.status_code = result.status
    record.final_url = result.final_url
    record.payload_sha256 = payload.sha256
    record.content_hash = result.content_hash
    record.bytes = payload.size
    record.truncated = result.raw_truncated
    record.ip = result.ip
    if result.tls_cert_der:
        record.tls_fingerprint = hashlib.sha256(result.tls_cert_der).hexdigest()
        cert = result.tls_cert or {}
        record.tls_subject = _dn(cert.get("subject"))
        record.tls_issuer = _dn(cert.get("issuer"))
    markup = page = None
    if result.ok and result.content_type in HTML_TYPES and result.body:
        markup = decode_body(result.body, result.headers.get("content-type"))
        page = Page(markup, parse)
        meta = page_metadata(
            page, result.final_url or result.url, result.headers.get("content-language")
        )
        record.title, record.language = meta["title"], meta["language"]
        record.published, record.canonical_url = meta["published"], meta["canonical_url"]
        record.author = meta["author"]
        record.text = page.main_text
        record.text_truncated = page.parse_truncated
    # The checker's rules on the captured bytes: check and capture never disagree about
    # whether a copy holds the page or a block page, a login wall or a "not found".
    outcome = classify(result, page)
    record.holds = copy_holds(outcome, record.truncated or result.error_type is not None)
    record.holds_reason = outcome.reason
    return markup


def _write_hop(warc: CaptureWarc, hop: dict[str, Any], warc_date: str) -> Resource:
    request = warc.request(hop["url"], "GET", hop["request_headers"], warc_date)
    response = warc.response(
        hop["url"],
        f"{hop['status']} {hop['reason']}",
        hop["headers"],
        "HTTP/1.1",
        None,
        warc_date,
        ip=hop.get("ip"),
        concurrent_to=request.record_id,
    )
    return Resource(
        hop["url"],
        "redirect",
        hop["status"],
        None,
        None,
        0,
        False,
        response.record_id,
        response.offset,
    )


def _write_exchange(
    warc: CaptureWarc,
    role: str,
    url: str,
    result: FetchResult,
    payload: SpooledPayload,
    warc_date: str,
    stored: _StoredPayloads,
) -> Resource:
    """Write a request and its response, or a revisit when the payload is stored already."""
    url = result.final_url or url
    request = warc.request(url, result.method, result.request_headers, warc_date)
    status_line = f"{result.status} {result.reason or ''}".strip()
    protocol = result.http_version or "HTTP/1.1"
    earlier = None if result.raw_truncated else stored.original(payload, url, warc_date)
    if earlier is not None:
        written = warc.revisit(
            url,
            status_line,
            result.raw_headers,
            protocol,
            payload.warc_digest,
            earlier[0],
            earlier[1],
            warc_date,
        )
    else:
        written = warc.response(
            url,
            status_line,
            result.raw_headers,
            protocol,
            payload,
            warc_date,
            ip=result.ip,
            truncated=result.raw_truncated,
            concurrent_to=request.record_id,
        )
    return Resource(
        url,
        role,
        result.status,
        result.content_type or None,
        payload.sha256,
        payload.size,
        result.raw_truncated,
        written.record_id,
        written.offset,
        revisit_of=earlier[0] if earlier else None,
    )


def _capture_requisites(
    fetcher: Fetcher,
    warc: CaptureWarc,
    record: CaptureRecord,
    options: CaptureOptions,
    warc_date: str,
    markup: str,
    stored: _StoredPayloads,
) -> None:
    """Images, stylesheets (and what they reference), scripts and posters, within the budget."""
    page_url = record.final_url or record.url
    todo = html_requisites(markup, page_url, options.parse)
    budget = options.requisite_budget_bytes
    seen: set[str] = set()
    page_host = urlsplit(page_url).netloc
    while todo and budget > 0:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if urlsplit(url).netloc == page_host and options.per_host_delay:
            time.sleep(min(options.per_host_delay, 1.0))  # politeness toward the page's host
        payload = SpooledPayload()
        try:
            result = fetcher.fetch(url, raw_sink=payload.write, raw_limit=budget)
            if result.status is None:
                continue
            resource = _write_exchange(warc, "requisite", url, result, payload, warc_date, stored)
            record.resources.append(resource)
            budget -= payload.size
            if result.ok and result.content_type == "text/css" and result.body:
                css = decode_body(result.body, result.headers.get("content-type"))
                todo.extend(
                    u for u in css_requisites(css, result.final_url or url) if u not in seen
                )
        finally:
            payload.close()


def _store(db: Database, record: CaptureRecord) -> None:
    """Write one capture and its resources in one short transaction."""
    row = {k: v for k, v in asdict(record).items() if k not in ("resources", "text")}
    row["truncated"] = int(record.truncated)
    row["text_truncated"] = int(record.text_truncated)
    row["tool_version"] = __version__
    with db.atomic():
        capture_id = int(db.table("captures").insert(row).last_pk)  # type: ignore[arg-type]
        db.table("capture_resources").insert_all(
            [
                {**asdict(resource), "truncated": int(resource.truncated), "capture_id": capture_id}
                for resource in record.resources
            ]
        )
        if record.text and record.status == "captured":
            db.table("capture_texts").insert(
                {
                    "capture_id": capture_id,
                    "source_id": record.source_id,
                    "title": record.title,
                    "text": record.text,
                }
            )


def _dn(name: Any) -> str | None:
    """An X.509 name from ssl.getpeercert() as one readable string (CN=…, O=…)."""
    if not name:
        return None
    return ", ".join(f"{key}={value}" for rdn in name for key, value in rdn)


def _slug(host: str) -> str:
    return re.sub(r"[^\w.-]+", "_", host)[:60] or "host"


def _warc_date(moment: datetime) -> str:
    """WARC-Date: ISO 8601 in UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
