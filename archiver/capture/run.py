"""``archiver capture``: evidence-grade local copies of cited sources.

Each capture is one WARC file holding the exact HTTP exchanges (every redirect hop, the page,
its requisites within their limits: archiver/capture/gather.py), written with warcio and
recorded in the database with the chain-of-custody facts: SHA-256 of every payload and of the
file, capture time, resolved IP, TLS certificate, tool version. The page's main text and
metadata go to the database too, for full-text search. Unchanged content is not stored twice:
a payload whose SHA-256 equals the last capture's becomes a WARC revisit record.

Files live under ``data_dir/YYYY/MM/DD/``; the database holds paths relative to ``data_dir``,
so the folder can be moved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from ..check.drift import measure_drift
from ..check.verdicts import classify, copy_holds
from ..clock import SYSTEM_CLOCK, Clock, Progress
from ..config import DEFAULTS, Settings
from ..errors import ParseTimeout
from ..net.fetch import Fetcher, FetchLimits, FetchResult
from ..net.outage import Outage
from ..net.pool import Attempt, HostGate, run_pool
from ..net.vantage import Vantage, parse_vantages
from ..pagetext import Page, decode_body, page_metadata
from ..parsing import ParseLimits
from ..store import scoped_sources, stamp
from ..version import __version__
from .browser import NO_BROWSER, VIEWPORT, BrowserSession, RenderOptions, find_browser
from .exchanges import (
    Resource,
    StoredPayloads,
    warc_date,
    write_exchange,
    write_hop,
    write_resource,
)
from .gather import SKIP_REASONS, RequisiteLimits, gather_requisites
from .media import fetch_media, has_media
from .provenance import provenance_json
from .rendered import RenderingBudget, render_into
from .requisites import html_requisites
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
    requisite_max_count: int = DEFAULTS.requisite_max_count
    requisite_max_depth: int = DEFAULTS.requisite_max_depth
    capture_deadline: float = DEFAULTS.capture_deadline
    parse: ParseLimits = field(default_factory=ParseLimits)
    concurrency: int = DEFAULTS.concurrency
    per_host_concurrency: int = DEFAULTS.per_host_concurrency
    per_host_delay: float = DEFAULTS.per_host_delay
    drift_threshold: float = DEFAULTS.drift_threshold
    browser: str = DEFAULTS.browser
    browser_concurrency: int = DEFAULTS.browser_concurrency
    browser_timeout: float = DEFAULTS.browser_timeout
    screenshot: bool = DEFAULTS.screenshot
    pdf: bool = DEFAULTS.pdf
    media: str = DEFAULTS.media
    media_max_bytes: int = DEFAULTS.media_max_bytes
    media_timeout: float = DEFAULTS.media_timeout
    # With capture_via_vantage: a source reachable only through one of them is captured so.
    vantages: tuple[Vantage, ...] = ()


def capture_options(settings: Settings) -> CaptureOptions:
    """The capture run's options from the user's settings."""
    return CaptureOptions(
        data_dir=settings.data_dir,
        # A capture reads whole bodies (up to max_capture_bytes): it gets capture_timeout.
        limits=FetchLimits.from_settings(settings, min_timeout=settings.capture_timeout),
        max_capture_bytes=settings.max_capture_bytes,
        requisites=settings.requisites,
        requisite_budget_bytes=settings.requisite_budget_bytes,
        requisite_max_count=settings.requisite_max_count,
        requisite_max_depth=settings.requisite_max_depth,
        capture_deadline=settings.capture_deadline,
        parse=ParseLimits.from_settings(settings),
        concurrency=settings.concurrency,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_delay=settings.per_host_delay,
        drift_threshold=settings.drift_threshold,
        browser=settings.browser,
        browser_concurrency=settings.browser_concurrency,
        browser_timeout=settings.browser_timeout,
        screenshot=settings.screenshot,
        pdf=settings.pdf,
        media=settings.media,
        media_max_bytes=settings.media_max_bytes,
        media_timeout=settings.media_timeout,
        vantages=parse_vantages(settings.vantage_points) if settings.capture_via_vantage else (),
    )


@dataclass
class _Job:
    source_id: int
    url: str
    host: str
    # The checker found this page to be its site's "not found" template (a soft 404 only a
    # probe of a missing path tells): a copy of it holds no content either.
    site_template: bool = False
    via: str | None = None  # a vantage that reached it when this machine could not


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
    # Whether its main text drifted from the citation-time text (None: not known).
    drifted: bool | None = None
    similarity: float | None = None
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
    text: str | None = None  # the page's main text: drift is measured on it
    text_truncated: bool = False  # text and metadata read from the first max_parse_bytes only
    media_text: str | None = None  # a video's title, description and subtitles: searchable
    requisites_skipped: dict[str, int] | None = None  # left out by the limits, by reason
    method: str = "http"  # http | browser
    vantage: str | None = None  # the vantage point it was captured through, if not from here
    provenance: str | None = None  # JSON; also in the WARC as a resource
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
    # Requisites of every capture: stored, failed (no answer, or the body broke off) and
    # left out by the limits, by reason; ``limited``: the captures that left some out.
    requisites: dict[str, Any] = field(
        default_factory=lambda: {"stored": 0, "failed": 0, "skipped": {}}
    )
    limited: list[dict[str, Any]] = field(default_factory=list)
    method: str = "http"  # how pages were captured: browser when Chromium ran, else http
    browser: str | None = None  # the Chromium binary used
    notes: list[str] = field(default_factory=list)  # said once per run (no browser, …)

    @property
    def done(self) -> int:
        return self.captured + self.revisits + self.failed

    def count_requisites(self, record: CaptureRecord) -> None:
        """Add one capture's requisites to the totals."""
        for resource in record.resources:
            if resource.role == "requisite":
                self.requisites["failed" if resource.error_type else "stored"] += 1
        if record.requisites_skipped:
            totals = self.requisites["skipped"]
            for reason, count in record.requisites_skipped.items():
                totals[reason] = totals.get(reason, 0) + count
            # In the order of the reasons, whichever capture named one first.
            self.requisites["skipped"] = {r: totals[r] for r in SKIP_REASONS if r in totals}
            self.limited.append({"url": record.url, "skipped": record.requisites_skipped})

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
    run = _Run(
        Fetcher(options.limits),
        HostGate(options.per_host_concurrency, options.per_host_delay),
        options,
        StoredPayloads(db),
        clock,
        _start_browser(options, summary),
        # Media downloads read for minutes, not seconds: a fetcher of their own.
        Fetcher(dataclasses.replace(options.limits, timeout=options.media_timeout))
        if options.media != "off"
        else None,
        {v.name: Fetcher(options.limits, v) for v in options.vantages},
    )
    outage = Outage()

    def attempt(job: _Job) -> Attempt[CaptureRecord]:
        through = run.vantage_fetchers.get(job.via or "")
        if through is None:
            return Attempt(_capture_one(run, job))
        # Page, requisites and the browser's requests all go through the vantage; media
        # downloads (minutes long) are not made through it.
        return Attempt(
            _capture_one(dataclasses.replace(run, fetcher=through, media_fetcher=None), job)
        )

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

    site_templates = {job.source_id for job in jobs if job.site_template}

    def store(record: CaptureRecord) -> None:
        if record.holds == "content" and record.source_id in site_templates:
            # The checker's rule that needs a probe of the site, which a capture does not make.
            record.holds, record.holds_reason = "not_found", "same_as_missing_page"
        if record.text:
            # The checker's drift rule, against the same citation-time text: a copy whose
            # text moved away is offered only when no other copy holds the cited content.
            threshold = options.drift_threshold
            drift = measure_drift(db, record.source_id, record.text, threshold, options.parse)
            if drift is not None:
                record.drifted, record.similarity = drift.drifted, drift.similarity
        _store(db, record)
        summary.bytes += record.bytes
        summary.count_requisites(record)
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
        for fetcher in (run.fetcher, run.media_fetcher, *run.vantage_fetchers.values()):
            if fetcher is not None:
                fetcher.close()
        if run.browser is not None:
            run.browser.close()
    summary.interrupted = stop is not None and stop.is_set() and summary.done < len(jobs)
    if outage.down():
        summary.network_down = True
        summary.message = (
            f"network looks down: {outage.describe()}; "
            "the captures will be tried again on the next run"
        )
    return summary


def _start_browser(options: CaptureOptions, summary: CaptureSummary) -> BrowserSession | None:
    """The run's Chromium, or None (and a note saying how to get one) for plain HTTP."""
    executable = find_browser(options.browser)
    if executable is None:
        if options.browser == "auto":
            summary.notes.append(NO_BROWSER)
        return None
    try:
        session = BrowserSession(executable, options.browser_concurrency)
    except Exception as exc:  # a Chromium that will not start: capture over HTTP, say why
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        summary.notes.append(
            f"Chromium at {executable} did not start ({first}): captured over plain HTTP"
        )
        return None
    summary.method, summary.browser = "browser", executable
    return session


def _select(db: Database, report_id: str | None, url: str | None, force: bool) -> list[_Job]:
    rows = scoped_sources(
        db,
        """s.id, s.url, s.host, st.content_hash as checked_hash,
           st.verdict = 'soft_404' and st.reason = 'same_as_missing_page' as site_template,
           (select c.content_hash from captures c
            where c.source_id = s.id and c.status != 'failed'
            order by c.id desc limit 1) as captured_hash,
           exists(select 1 from captures c where c.source_id = s.id
                  and c.status != 'failed') as captured,
           case when st.verdict = 'blocked' and st.reason = 'regional' then
               (select vs.vantage from vantage_state vs where vs.source_id = s.id
                and vs.outcome in ('ok', 'redirected') order by vs.vantage limit 1)
           end as via""",
        report_id,
        url,
    )
    jobs = []
    for row in rows:
        # The checker saw different content than the last capture holds: capture again.
        changed = row["checked_hash"] is not None and row["checked_hash"] != row["captured_hash"]
        if force or not row["captured"] or changed:
            jobs.append(
                _Job(
                    row["id"], row["url"], row["host"] or "", bool(row["site_template"]), row["via"]
                )
            )
    return jobs


@dataclass(frozen=True)
class _Run:
    """What every capture of one run shares."""

    fetcher: Fetcher
    gate: HostGate  # every request of every worker, to any host, passes it
    options: CaptureOptions
    stored: StoredPayloads
    clock: Clock
    browser: BrowserSession | None = None
    media_fetcher: Fetcher | None = None
    vantage_fetchers: dict[str, Fetcher] = field(default_factory=dict)


def _capture_one(run: _Run, job: _Job) -> CaptureRecord:
    """Fetch one page (and its requisites) into a new WARC file, all within the deadline."""
    options, stored = run.options, run.stored
    deadline = time.monotonic() + options.capture_deadline
    started = run.clock.now()
    date = warc_date(started)
    record = CaptureRecord(job.source_id, job.url, stamp(started), "captured")
    record.vantage = run.fetcher.vantage.name if run.fetcher.vantage is not None else None
    payload = SpooledPayload()
    host = urlsplit(job.url).hostname or ""
    try:
        if not run.gate.enter(host, deadline):
            record.status, record.error_type = "failed", "timeout"
            record.error_message = f"{host} was busy until the capture's deadline"
            return record
        try:
            result = run.fetcher.fetch(
                job.url,
                raw_sink=payload.write,
                raw_limit=options.max_capture_bytes,
                deadline=deadline,
            )
        finally:
            run.gate.leave(host)
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
                record.resources.append(write_hop(warc, hop, date))
            page = write_exchange(warc, "page", job.url, result, payload, date, stored)
            record.resources.append(page)
            if page.revisit_of is not None:
                record.status = "revisit"
            notes: list[str] = []
            if record.vantage is not None:
                notes.append(
                    f"captured through vantage point {record.vantage}: this machine could not "
                    "reach the page (blocked, regional)"
                )
            if run.browser is not None and _renders(result):
                markup = _capture_in_browser(run, warc, record, result, date, deadline, notes)
            if record.method == "http" and options.requisites and markup is not None:
                try:
                    _capture_requisites(run, warc, record, date, markup, deadline)
                except ParseTimeout as exc:  # the page is stored; its requisites are not
                    record.error_type, record.error_message = "parse_timeout", str(exc)
            page_url = record.final_url or job.url
            if run.media_fetcher is not None and has_media(page_url, markup):
                _capture_media(run, warc, record, page_url, date, notes)
            _write_provenance(warc, record, run, date, notes)
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


def _capture_requisites(
    run: _Run,
    warc: CaptureWarc,
    record: CaptureRecord,
    warc_date: str,
    markup: str,
    deadline: float,
) -> None:
    """Images, stylesheets (and what they reference), scripts and posters, within the limits;
    every attempt becomes a resource, those that got no answer with their error only."""
    page_url = record.final_url or record.url
    options = run.options

    def keep(url: str, result: FetchResult, payload: SpooledPayload) -> None:
        if result.status is None:
            resource = Resource(url, "requisite", None, None, None, 0, False, None, None)
        else:
            resource = write_exchange(
                warc, "requisite", url, result, payload, warc_date, run.stored
            )
        resource.error_type, resource.error_message = result.error_type, result.error_message
        record.resources.append(resource)

    skipped = gather_requisites(
        run.fetcher,
        run.gate,
        html_requisites(markup, page_url, options.parse),
        RequisiteLimits(
            options.requisite_max_count,
            options.requisite_max_depth,
            options.requisite_budget_bytes,
        ),
        deadline,
        keep,
        known=[record.url, page_url, *(r.url for r in record.resources)],
    )
    record.requisites_skipped = skipped or None


def _renders(result: FetchResult) -> bool:
    """Whether the browser should load this answer: an HTML page (whatever its status: a
    block page rendered is evidence too)."""
    return result.error_type is None and result.content_type in HTML_TYPES and bool(result.body)


def _capture_in_browser(
    run: _Run,
    warc: CaptureWarc,
    record: CaptureRecord,
    result: FetchResult,
    date: str,
    deadline: float,
    notes: list[str],
) -> str | None:
    """Render the page and let its rendering speak for it: the rendered text feeds search,
    drift and the soft-404 and login-wall rules. Returns the rendered DOM, or the page's own
    markup when the rendering failed: the HTTP capture then stands (its requisites fetched as
    usual), and the notes say why. The browser's requests are the page's requisites: the
    same count, budget, deadline and per-host gate bound them."""
    assert run.browser is not None
    options = run.options
    render_options = RenderOptions(
        options.browser_timeout, options.screenshot, options.pdf, options.limits.user_agent
    )
    budget = RenderingBudget(options.requisite_max_count, options.requisite_budget_bytes, deadline)
    try:
        rendering = render_into(
            run.browser,
            run.fetcher,
            run.gate,
            warc,
            record.resources,
            result,
            render_options,
            date,
            run.stored,
            budget,
        )
    except Exception as exc:  # the browser crashed or hung: the HTTP capture still stands
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        notes.append(f"the browser could not render the page ({first}); captured over HTTP")
        record.resources[:] = [r for r in record.resources if r.role in ("page", "redirect")]
        return decode_body(result.body, result.headers.get("content-type"))
    record.method = "browser"
    record.requisites_skipped = budget.left_out() or None
    notes.extend(rendering.notes)
    page = Page(rendering.dom, options.parse)
    try:
        meta = page_metadata(page, rendering.final_url, result.headers.get("content-language"))
        text = page.main_text
        outcome = classify(result, page)
    except ParseTimeout as exc:  # the HTTP page's text and metadata stand
        notes.append(f"the rendered page could not be read: {exc}")
        return rendering.dom
    record.title = rendering.title or meta["title"]
    record.language = meta["language"] or record.language
    record.published = meta["published"] or record.published
    record.canonical_url = meta["canonical_url"] or record.canonical_url
    record.author = meta["author"] or record.author
    record.text = text or rendering.text
    record.text_truncated = page.parse_truncated
    record.holds = copy_holds(outcome, record.truncated)
    record.holds_reason = outcome.reason
    return rendering.dom


def _capture_media(
    run: _Run,
    warc: CaptureWarc,
    record: CaptureRecord,
    page_url: str,
    date: str,
    notes: list[str],
) -> None:
    """The page's video or audio, subtitles and info JSON, as resources of this capture; their
    words (title, description, subtitles) become searchable with the page's."""
    assert run.media_fetcher is not None
    options = run.options
    media = fetch_media(
        page_url,
        run.media_fetcher,
        max_bytes=options.media_max_bytes,
        deadline=time.monotonic() + options.media_timeout,
    )
    try:
        if media.error:
            notes.append(f"media: {media.error}")
        for file in media.files:
            uri = file.url
            if file.role == "subtitles":
                uri = f"urn:subtitles:{file.meta['language']}:{page_url}"
            if file.truncated:
                notes.append(f"media: {file.url} cut at {options.media_max_bytes} bytes")
            meta = {**file.meta, "truncated": file.truncated}
            _store_file(warc, record, file.role, uri, file.content_type, file.path, date, meta)
        if media.info is not None:
            info = json.dumps(media.info, ensure_ascii=False, default=str).encode("utf-8")
            payload = SpooledPayload.of(info)
            try:
                record.resources.append(
                    write_resource(
                        warc,
                        "media_info",
                        f"urn:media-info:{page_url}",
                        "application/json",
                        payload,
                        date,
                    )
                )
            finally:
                payload.close()
        record.media_text = media.text() or None
    finally:
        media.close()


def _store_file(
    warc: CaptureWarc,
    record: CaptureRecord,
    role: str,
    uri: str,
    content_type: str,
    path: Path,
    date: str,
    meta: dict[str, Any],
) -> None:
    payload = SpooledPayload()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                payload.write(chunk)
        record.resources.append(
            write_resource(warc, role, uri, content_type, payload, date, json.dumps(meta))
        )
    finally:
        payload.close()


def _write_provenance(
    warc: CaptureWarc, record: CaptureRecord, run: _Run, date: str, notes: list[str]
) -> None:
    browser = run.browser
    document = provenance_json(
        record,
        method=record.method,
        user_agent=run.options.limits.user_agent,
        browser=browser.version if browser is not None and record.method == "browser" else None,
        viewport=VIEWPORT if record.method == "browser" else None,
        notes=notes,
    )
    record.provenance = document
    payload = SpooledPayload.of(document.encode("utf-8"))
    try:
        record.resources.append(
            write_resource(
                warc,
                "provenance",
                f"urn:provenance:{record.url}",
                "application/json",
                payload,
                date,
            )
        )
    finally:
        payload.close()


def _store(db: Database, record: CaptureRecord) -> None:
    """Write one capture and its resources in one short transaction."""
    row = {k: v for k, v in asdict(record).items() if k not in ("resources", "text", "media_text")}
    row["truncated"] = int(record.truncated)
    row["drifted"] = None if record.drifted is None else int(record.drifted)
    row["text_truncated"] = int(record.text_truncated)
    if record.requisites_skipped:
        row["requisites_skipped"] = json.dumps(record.requisites_skipped)
    row["tool_version"] = __version__
    with db.atomic():
        capture_id = int(db.table("captures").insert(row).last_pk)  # type: ignore[arg-type]
        db.table("capture_resources").insert_all(
            [
                {**asdict(resource), "truncated": int(resource.truncated), "capture_id": capture_id}
                for resource in record.resources
            ]
        )
        text = "\n\n".join(filter(None, (record.text, record.media_text)))
        if text and record.status == "captured":
            db.table("capture_texts").insert(
                {
                    "capture_id": capture_id,
                    "source_id": record.source_id,
                    "title": record.title,
                    "text": text,
                }
            )


def _dn(name: Any) -> str | None:
    """An X.509 name from ssl.getpeercert() as one readable string (CN=…, O=…)."""
    if not name:
        return None
    return ", ".join(f"{key}={value}" for rdn in name for key, value in rdn)


def _slug(host: str) -> str:
    return re.sub(r"[^\w.-]+", "_", host)[:60] or "host"
