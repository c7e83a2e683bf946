"""Each source's memento nearest its citation date, in every archive of ``memento_archives``.

An endpoint is asked once per source, with ``Accept-Datetime`` set to the end of the cited
day; its answer says what it is:

- a TimeMap (200, ``application/link-format``): every memento listed, pages followed through
  ``rel="timemap"`` links (those covering the date first, at most ``max_pages``);
- a TimeGate (a redirect with ``Vary: accept-datetime`` or a ``Link`` header): the memento it
  chose, and the ``first``/``last``/``prev``/``next`` mementos its Link header names;
- a memento itself (200 with ``Memento-Datetime``); 404: the archive has none.

Mementos are grouped by the archive that holds them (an aggregator lists many), the Wayback
Machine's left to its CDX lookups; in each, the latest at or before the end of the cited day is
the one, else the earliest after, as for Wayback copies. What a chosen memento holds is
learned from its status when the archive lists one, else by fetching it and applying the
checker's own rules to its bytes: only a ``content`` memento is offered to a reader.
Every lookup is a row of ``memento_lookups`` (history); ``memento_state`` holds each
source's memento per archive now. Only the nearest mementos are kept: a TimeMap of 100,000
is read in one pass and costs a few objects per archive.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urljoin

from sqlite_utils import Database

from ..check.verdicts import BLOCKING_STATUS, classify, copy_holds
from ..clock import SYSTEM_CLOCK, Clock, Progress, with_stop
from ..errors import Interrupted, Paused
from ..net.fetch import FetchResult
from ..net.outage import NETWORK_LEVEL_ERRORS
from ..pagetext import Page, decode_body
from ..store import scoped_sources, stamp
from .archives import Archive
from .client import MementoClient, MementoOptions, netloc
from .linkformat import Link, http_datetime, parse_links

# Network-level failures of this many calls, with not one answer: our network is down.
UNREACHABLE_AFTER = 3
_REDIRECTS = (301, 302, 303, 307, 308)
_HTML = ("text/html", "application/xhtml+xml", "")


@dataclass(frozen=True, slots=True)
class Memento:
    url: str
    at: datetime | None
    status: int | None = None


class _Nearest:
    """The few mementos nearest a moment per archive (``KEEP`` at or before it, the latest
    first, and ``KEEP`` after it, the earliest first), kept as mementos stream past: memory
    stays a few objects per archive, whatever their number."""

    KEEP = 3

    def __init__(self, moment: datetime, skip: str) -> None:
        self.moment = moment
        self.skip = skip
        self.count = 0
        self.before: dict[str, list[Memento]] = {}
        self.after: dict[str, list[Memento]] = {}
        self.undated: dict[str, list[Memento]] = {}

    def add(self, memento: Memento) -> None:
        where = netloc(memento.url)
        if where == self.skip or (memento.status is not None and memento.status // 100 != 2):
            return
        self.count += 1
        at = memento.at
        if at is None:
            kept = self.undated.setdefault(where, [])
            if len(kept) < self.KEEP and memento not in kept:
                kept.append(memento)
            return
        side, latest_first = (self.before, True) if at <= self.moment else (self.after, False)
        kept = side.setdefault(where, [])
        if memento in kept:
            return
        kept.append(memento)
        kept.sort(key=lambda m: m.at or self.moment, reverse=latest_first)
        del kept[self.KEEP :]

    def candidates(self) -> list[tuple[str, list[Memento]]]:
        """Per archive, its mementos in the order to try them (before the moment, then after,
        then undated), the archive whose best is nearest the moment first."""
        places = set(self.before) | set(self.after) | set(self.undated)
        ordered = {
            where: [*self.before.get(where, []), *self.after.get(where, []),
                    *self.undated.get(where, [])]
            for where in places
        }  # fmt: skip

        def distance(item: tuple[str, list[Memento]]) -> tuple[float, str]:
            at = item[1][0].at
            if at is None:
                return float("inf"), item[0]
            seconds = abs((at - self.moment).total_seconds())
            return seconds * (1 if at <= self.moment else 2), item[0]

        return sorted(ordered.items(), key=distance)


@dataclass
class MementoSummary:
    """What the Memento lookups did: ``looked_up`` (source × endpoint asks), ``found``
    (sources with a memento that holds their content), ``archives`` (those mementos, by the
    archive holding them), ``errors`` by type, ``paused_until`` by host, ``unreachable`` (no
    archive answered: nothing changed), ``interrupted`` (stopped at one of its waits)."""

    looked_up: int = 0
    found: int = 0
    archives: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    paused_until: dict[str, str] = field(default_factory=dict)
    unreachable: bool = False
    interrupted: bool = False
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Target:
    source_id: int
    url: str
    date: str
    moment: datetime  # the end of the cited day


def lookup_mementos(
    db: Database,
    options: MementoOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> MementoSummary:
    """Ask every Memento archive about the sources of one report, one URL (always asked), or
    all (those not asked within ``lookup_every`` days).

    stop: once set, the run ends at its next wait; every lookup finished by then is stored,
    and the summary says ``interrupted``.
    """
    summary = MementoSummary()
    clock = with_stop(clock, stop)
    if not options.archives:
        summary.message = "no Memento archives configured"
        return summary
    targets = _targets(db, options, report_id, url, clock.now())
    skip = netloc(options.wayback_url)
    held: list[list[dict[str, Any]]] = []  # network failures before the first answer
    answered = False
    with MementoClient(db, options, clock) as client:
        for done, (target, archive) in enumerate(targets):
            try:
                rows = _look_up(client, archive, target, skip)
            except Paused as paused:
                summary.paused_until[paused.kind] = stamp(paused.until)
                continue
            except Interrupted:
                summary.interrupted = True
                break
            if rows[0]["error_type"] in NETWORK_LEVEL_ERRORS and not answered:
                held.append(rows)
                if len(held) >= UNREACHABLE_AFTER:
                    break
                continue
            answered = True
            for lookup in [*held, rows]:
                _store(db, lookup, summary)
            held.clear()
            if on_progress is not None:
                on_progress(done + 1, len(targets))
    summary.found = _found(db, [t.source_id for t, _ in targets], summary)
    if held and not answered:
        summary.unreachable = True
        summary.message = (
            f"no Memento archive could be reached ({held[0][0]['error_message']}); nothing was "
            "changed — check this machine's connection"
        )
    else:
        summary.message = (
            f"asked {len(options.archives)} Memento archive(s) {summary.looked_up} time(s), "
            f"{summary.found} source(s) with a memento that holds the cited content"
        )
        if summary.paused_until:
            summary.message += f"; paused after a 429: {', '.join(sorted(summary.paused_until))}"
        if summary.interrupted:
            summary.message += "; interrupted, the rest left for the next run"
    return summary


def _look_up(
    client: MementoClient, archive: Archive, target: _Target, skip: str
) -> list[dict[str, Any]]:
    """The rows one endpoint's answer about one source makes (at least one)."""
    now = stamp(client.clock.now())
    base = {
        "source_id": target.source_id,
        "endpoint": archive.name,
        "archive": archive.name,
        "target_date": target.date,
        "looked_up_at": now,
        "via": None,
        "mementos": 0,
        "pages": 0,
        "error_type": None,
        "error_message": None,
    }
    nearest = _Nearest(target.moment, skip)
    via, pages, error = _ask(client, archive, target, nearest)
    base.update(via=via, pages=pages, mementos=nearest.count)
    if error is not None:
        base["error_type"], base["error_message"] = error
        return [base]
    rows = []
    budget = client.options.max_verified
    for where, mementos in nearest.candidates():
        # The nearest memento that holds the cited content, else the nearest of them all.
        chosen: dict[str, Any] | None = None
        for memento in mementos:
            held = _what_it_holds(client, memento, verify=budget > 0)
            budget -= held.pop("fetched")
            if held["memento_datetime"] is None:
                continue
            chosen = chosen or held
            if held["holds"] == "content":
                chosen = held
                break
            if budget <= 0 and held["holds"] is None:
                break
        if chosen is not None:
            rows.append({**base, "archive": client.options.archive_named(where), **chosen})
    return rows or [base]


def _ask(
    client: MementoClient, archive: Archive, target: _Target, nearest: _Nearest
) -> tuple[str | None, int, tuple[str, str] | None]:
    """Feed every memento the endpoint names into ``nearest``: (what the endpoint turned out
    to be, TimeMap pages read, the failure if there was one)."""
    headers = {
        "Accept": "application/link-format, */*;q=0.1",
        "Accept-Datetime": format_datetime(target.moment, usegmt=True),
    }
    location = archive.endpoint(target.url)
    for _hop in range(4):  # plain redirects of the endpoint itself (http → https, a new name)
        result = client.get(
            location,
            headers,
            follow_redirects=False,
            max_bytes=client.options.max_timemap_bytes,
        )
        if result.error_type is not None:
            return None, 0, (result.error_type, result.error_message or "")
        status, answer = result.status or 0, result.headers
        if status in _REDIRECTS and answer.get("location"):
            moved = urljoin(location, answer["location"].strip())
            if "accept-datetime" in answer.get("vary", "").lower() or "link" in answer:
                for link in parse_links(answer.get("link", "")):
                    _add_link(nearest, link, location)
                # The one it chose; when its Link header dated it, that dated one is kept.
                nearest.add(Memento(moved, None))
                return "timegate", 0, None
            location = moved
            continue
        if status == 200 and answer.get("memento-datetime"):
            where = urljoin(location, answer.get("content-location", "") or location)
            nearest.add(Memento(where, http_datetime(answer["memento-datetime"])))
            return "memento", 0, None
        if status == 200:
            return "timemap", _timemap(client, result, location, target, nearest, headers), None
        if status == 404:
            return "timemap", 0, None  # nothing archived
        return None, 0, (f"http_{status}", f"{archive.name}: HTTP {status}")
    return None, 0, ("too_many_redirects", f"{archive.name}: the endpoint kept redirecting")


def _timemap(
    client: MementoClient,
    first: FetchResult,
    location: str,
    target: _Target,
    nearest: _Nearest,
    headers: dict[str, str],
) -> int:
    """Read a TimeMap and its further pages; returns the pages read."""
    seen = {location, first.final_url or location}
    pages: list[Link] = []
    read = 0
    result: FetchResult | None = first
    while result is not None:
        read += 1
        base = result.final_url or result.url
        for link in parse_links(result.body.decode("utf-8", errors="replace")):
            if link.is_memento:
                _add_link(nearest, link, base)
            elif "timemap" in link.rels and "self" not in link.rels:
                absolute = urljoin(base, link.url)
                if absolute not in seen:
                    seen.add(absolute)
                    pages.append(Link(absolute, link.rels, link.params))
        result = None
        if pages and read < client.options.max_pages:
            page = _next_page(pages, target.moment)
            fetched = client.get(page.url, headers, max_bytes=client.options.max_timemap_bytes)
            if fetched.error_type is None and fetched.status == 200:
                result = fetched
    return read


def _next_page(pages: list[Link], moment: datetime) -> Link:
    """The page to read next, taken off ``pages``: one whose ``from``–``until`` covers the
    moment, else the first listed."""
    for n, page in enumerate(pages):
        start = http_datetime(page.params.get("from"))
        end = http_datetime(page.params.get("until"))
        if (start is None or start <= moment) and (end is None or moment <= end):
            return pages.pop(n)
    return pages.pop(0)


def _add_link(nearest: _Nearest, link: Link, base: str) -> None:
    if not link.is_memento:
        return
    status = link.params.get("status", "")
    nearest.add(
        Memento(
            urljoin(base, link.url),
            link.datetime,
            int(status) if status.isdigit() and len(status) == 3 else None,
        )
    )


def _what_it_holds(client: MementoClient, memento: Memento, *, verify: bool) -> dict[str, Any]:
    """The memento's columns: URL, time, status and what it holds (fetched to tell, unless
    its status says it already or ``verify`` is off)."""
    row: dict[str, Any] = {
        "memento_url": memento.url,
        "memento_datetime": stamp(memento.at) if memento.at else None,
        "status": memento.status,
        "holds": None,
        "holds_reason": None,
        "fetched": 0,
    }
    if memento.status is not None:
        row["holds"], row["holds_reason"] = _status_holds(memento.status), f"http_{memento.status}"
        return row
    if not verify:
        row["holds_reason"] = "not_fetched"
        return row
    row["fetched"] = 1
    try:
        result = client.get(memento.url, {"Accept": "text/html,*/*;q=0.8"})
    except Paused:
        row["holds_reason"] = "paused"
        return row
    if row["memento_datetime"] is None:
        at = http_datetime(result.headers.get("memento-datetime"))
        row["memento_datetime"] = stamp(at) if at else None
    if result.error_type is not None:
        row["holds_reason"] = result.error_type
        return row
    page = None
    if result.body and result.content_type in _HTML:
        text = decode_body(result.body, result.headers.get("content-type"))
        page = Page(text, client.options.parse)
    try:
        outcome = classify(result, page)
    except Exception:  # a page too slow to read: judged by its status alone
        outcome = classify(result, None)
    row["status"] = result.status
    row["holds"], row["holds_reason"] = copy_holds(outcome), outcome.reason
    return row


def _status_holds(status: int) -> str:
    """What a memento holds by the status its archive lists (as a Wayback capture's is read).

    >>> [_status_holds(s) for s in (200, 451, 410, 500)]
    ['content', 'block_page', 'not_found', 'error']
    """
    if 200 <= status < 300:
        return "content"
    if status in BLOCKING_STATUS or status == 429:
        return "block_page"
    return "not_found" if status in (404, 410) else "error"


def _store(db: Database, rows: list[dict[str, Any]], summary: MementoSummary) -> None:
    """One lookup's rows (history) and the state they leave, in one short transaction; a
    failed lookup keeps the memento known from before."""
    summary.looked_up += 1
    error = rows[0]["error_type"]
    if error is not None:
        summary.errors[error] = summary.errors.get(error, 0) + 1
    states = [{k: row[k] for k in _ERROR_STATE} if error else row for row in rows]
    with db.atomic():
        db.table("memento_lookups").insert_all(rows)
        for state in states:
            if state["endpoint"] != state["archive"] and _asked_directly(db, state):
                continue  # the archive's own endpoint answered: an aggregator's word is second
            db.table("memento_state").upsert(state, pk=("source_id", "archive"))


def _asked_directly(db: Database, state: dict[str, Any]) -> bool:
    return bool(
        db.execute(
            "select 1 from memento_state where source_id = ? and archive = ? "
            "and endpoint = archive and error_type is null",
            [state["source_id"], state["archive"]],
        ).fetchone()
    )


_ERROR_STATE = (
    "source_id", "archive", "endpoint", "target_date", "looked_up_at", "error_type",
    "error_message",
)  # fmt: skip


def _found(db: Database, source_ids: list[int], summary: MementoSummary) -> int:
    if not source_ids:
        return 0
    ids = "[" + ",".join(str(i) for i in set(source_ids)) + "]"
    rows = db.execute(
        "select archive, count(*) from memento_state where holds = 'content' and source_id in "
        "(select value from json_each(?)) group by archive",
        [ids],
    ).fetchall()
    summary.archives = {name: count for name, count in rows}
    return int(
        db.execute(
            "select count(distinct source_id) from memento_state where holds = 'content' "
            "and source_id in (select value from json_each(?))",
            [ids],
        ).fetchone()[0]
    )


def _targets(
    db: Database,
    options: MementoOptions,
    report_id: str | None,
    url: str | None,
    now: datetime,
) -> list[tuple[_Target, Archive]]:
    """(source, archive) pairs to ask, each source with its citation date; pairs answered
    within ``lookup_every`` days for the same date are not asked again (unless ``url``)."""
    sources = [(r["id"], r["url"]) for r in scoped_sources(db, "s.id, s.url", report_id, url)]
    dates = {
        r["source_id"]: r["cited"]
        for r in db.query(
            "select c.source_id, min(coalesce(c.accessed, r.date)) as cited from citations c "
            "join reports r on r.id = c.report_id where c.removed_at is null group by c.source_id"
        )
    }
    first_cited = {
        r["id"]: r["first_cited_at"] for r in db.query("select id, first_cited_at from sources")
    }
    fresh_since = stamp(now - timedelta(days=options.lookup_every))
    fresh = {
        (r["source_id"], r["endpoint"], r["target_date"])
        for r in db.query(
            "select distinct source_id, endpoint, target_date from memento_lookups "
            "where error_type is null and looked_up_at >= ?",
            [fresh_since],
        )
    }
    pairs = []
    for source_id, source_url in sources:
        cited = dates.get(source_id) or (first_cited.get(source_id) or stamp(now))[:10]
        day = date.fromisoformat(cited)
        moment = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        target = _Target(source_id, source_url, cited, moment)
        for archive in options.archives:
            if url is None and (source_id, archive.name, cited) in fresh:
                continue
            pairs.append((target, archive))
    return pairs
