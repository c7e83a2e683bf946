"""Find each source's Wayback Machine copy nearest the date it was cited, and its newest copy.

The date is the citation's access date, else its report's date, the earliest over the source's
current citations (else the day it was first cited). Among captures that answered 200, the copy
is the latest one at or before the end of that day, else the earliest after it: a capture of a
404 page or of a redirect is never "the copy". Every capture the CDX server returns is stored.

CDX queries use waybackpy's ``WaybackMachineCDXServerAPI`` for their parameters and for parsing
its lines, with the transport replaced (see :class:`_CDXQuery`). When the CDX server fails, the
availability API still gives the copy closest to the date, from either side.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlite_utils import Database
from waybackpy import WaybackMachineCDXServerAPI
from waybackpy.cdx_utils import full_url
from waybackpy.exceptions import WaybackError

from ..clock import SYSTEM_CLOCK, Clock, Progress
from ..errors import CallFailed, Paused
from ..net.outage import Outage
from ..store import scoped_sources, stamp
from .client import ArchiveClient
from .options import WaybackOptions, WaybackSummary
from .timestamps import playback_url, wayback_timestamp

# The Archive is one host: network-level failures of this many lookups, with not one answer,
# mean it (or our network) is unreachable.
UNREACHABLE_AFTER = 3


@dataclass(frozen=True)
class Snapshot:
    """One capture as the CDX server lists it; status is None for revisits ("-")."""

    timestamp: str
    original: str
    status: int | None
    mimetype: str = ""
    digest: str = ""
    length: int | None = None


@dataclass(frozen=True)
class _Target:
    source_id: int
    url: str
    date: str
    timestamp: str


class _CDXQuery(WaybackMachineCDXServerAPI):
    """waybackpy's CDX query (parameters, checks, line parsing), sent through ArchiveClient.

    waybackpy 3.0.6 fetches through ``cdx_utils.get_response``: a new Session per call that
    follows proxy variables, no timeout, urllib3 retries with backoff sleeps on 5xx, and then
    more requests while the server hands out resume keys. None of that may run outside our rate
    limiter, so ``cdx_api_manager`` is replaced by exactly one request through our client; the
    endpoint, a per-instance attribute, is pointed at ``<wayback_url>/cdx/search/cdx``.
    """

    def __init__(self, client: ArchiveClient, url: str, **query: Any) -> None:
        super().__init__(url, user_agent=client.options.user_agent, **query)
        self.endpoint = f"{client.base}/cdx/search/cdx"
        self._client = client

    def cdx_api_manager(
        self, payload: dict[str, str], headers: dict[str, str]
    ) -> Generator[str, None, None]:
        payload["limit"] = str(self.limit)
        url = full_url(self.endpoint, params=payload)
        self.last_api_request_url = url
        reply = self._client.call("lookup", "GET", url)
        if reply.status != 200:
            raise CallFailed(f"http_{reply.status}", f"CDX server: HTTP {reply.status}")
        yield reply.text


def lookup(
    db: Database,
    options: WaybackOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    on_progress: Progress | None = None,
    summary: WaybackSummary | None = None,
) -> WaybackSummary:
    """Ask the Archive about the sources of one report, one URL (always asked), or all.

    summary: filled in as lookups finish (a new one by default), so a caller whose run is
    interrupted still has the counts so far.
    """
    summary = summary if summary is not None else WaybackSummary()
    targets = _targets(db, options, report_id, url, clock.now())
    with ArchiveClient(db, options, clock) as client:
        until = client.paused_until("lookup")
        if until is not None:
            summary.paused_until["lookup"] = stamp(until)
            summary.message = (
                f"lookups are paused until {stamp(until)} after a 429 from the Archive; "
                f"{len(targets)} source(s) wait for the next run"
            )
            return summary
        notes = _look_up_all(db, client, targets, summary, on_progress)
    found = f"looked up {summary.looked_up} source(s), {summary.found} with a copy"
    summary.message = "; ".join([found, *notes])
    return summary


def choose(snapshots: list[Snapshot], timestamp: str) -> tuple[Snapshot | None, Snapshot | None]:
    """The copy nearest a moment (latest before, else earliest after) and the newest copy.

    Only captures that answered 200 count.

    >>> caps = [Snapshot("20170601000000", "u", 200), Snapshot("20180301000000", "u", 404),
    ...         Snapshot("20190101000000", "u", 200)]
    >>> [s.timestamp for s in choose(caps, "20180415235959") if s]
    ['20170601000000', '20190101000000']
    """
    good = sorted((s for s in snapshots if s.status == 200), key=lambda s: s.timestamp)
    before = [s for s in good if s.timestamp <= timestamp]
    nearest = before[-1] if before else (good[0] if good else None)
    return nearest, (good[-1] if good else None)


def _look_up_all(
    db: Database,
    client: ArchiveClient,
    targets: list[_Target],
    summary: WaybackSummary,
    on_progress: Progress | None,
) -> list[str]:
    """Look up one target after another; returns notes for the run's message."""
    # Network failures before the first answer are held back: if nothing ever answers, the
    # Archive (or our network) is down, and the run must change nothing.
    unanswered: list[tuple[_Target, CallFailed]] = []
    outage = Outage(min_hosts=1, min_attempts=UNREACHABLE_AFTER)
    now_ts = wayback_timestamp(client.clock.now())
    for done, target in enumerate(targets):
        try:
            snapshots, via, error = _find(client, target, now_ts)
        except Paused as paused:
            summary.paused_until["lookup"] = stamp(paused.until)
            return [
                f"lookups paused until {stamp(paused.until)} after a 429 from the Archive; "
                f"{len(targets) - done} source(s) left for the next run"
            ]
        outage.record(client.base, _network_error(error))
        if error is not None and not outage.answered:
            unanswered.append((target, error))
            if outage.down():
                break
            continue
        for held, held_error in unanswered:
            _store(db, client, held, [], "cdx", held_error, summary)
        unanswered.clear()
        _store(db, client, target, snapshots, via, error, summary)
        if on_progress is not None:
            on_progress(done + 1, len(targets))
    if unanswered:
        summary.archive_unreachable = True
        return [
            f"the Wayback Machine could not be reached ({unanswered[0][1].message}); "
            "nothing was changed — check this machine's connection and wayback_url"
        ]
    return []


def _network_error(error: CallFailed | None) -> str | None:
    """A failed call in the outage rule's words: a network-level error type, or None (an
    answer, even an error page, means the Archive was reached)."""
    if error is None or not error.network:
        return None
    return error.error_type if error.error_type == "connect_timeout" else "network_unreachable"


def _find(
    client: ArchiveClient, target: _Target, now_ts: str
) -> tuple[list[Snapshot], str, CallFailed | None]:
    """The target's captures, how they were found, and the CDX failure if there was one."""
    try:
        return _cdx_snapshots(client, target, now_ts), "cdx", None
    except CallFailed as exc:
        if not (exc.error_type == "timeout" or exc.error_type.startswith("http_5")):
            return [], "cdx", exc
        failed = exc
    try:
        closest = _availability(client, target)
    except CallFailed:
        return [], "cdx", failed
    return ([closest] if closest else []), "availability", failed


def _cdx_snapshots(client: ArchiveClient, target: _Target, now_ts: str) -> list[Snapshot]:
    """Every capture in one request, or, for a history longer than that, the ones that matter."""
    limit = client.options.cdx_limit
    found = _query(client, target.url, limit=str(limit))
    if len(found) < limit:
        return found
    # The page above is the oldest part of a long history: ask for the latest good capture up to
    # the date, the earliest after it if there is none before, and the newest one.
    good = ["statuscode:200"]
    near = {"filters": good, "sort": "closest", "closest": target.timestamp, "limit": "1"}
    found += _query(client, target.url, end_timestamp=target.timestamp, **near)
    if not any(s.status == 200 and s.timestamp <= target.timestamp for s in found):
        found += _query(client, target.url, start_timestamp=target.timestamp, **near)
    found += _query(client, target.url, filters=good, sort="closest", closest=now_ts, limit="1")
    return list({(s.timestamp, s.digest): s for s in found}.values())


def _query(client: ArchiveClient, url: str, **query: Any) -> list[Snapshot]:
    try:
        return [
            Snapshot(
                timestamp=s.timestamp,
                original=s.original,
                status=int(s.statuscode) if s.statuscode.isdigit() else None,
                mimetype=s.mimetype,
                digest=s.digest,
                length=int(s.length) if s.length.isdigit() else None,
            )
            for s in _CDXQuery(client, url, **query).snapshots()
        ]
    except (WaybackError, ValueError) as exc:  # waybackpy refusing a line it cannot parse
        raise CallFailed("bad_response", f"CDX server: {exc}"[:300]) from None


def _availability(client: ArchiveClient, target: _Target) -> Snapshot | None:
    """The availability API's closest capture to the date, when it answered 200."""
    reply = client.call(
        "lookup",
        "GET",
        client.options.wayback_availability_url,
        params={"url": target.url, "timestamp": target.timestamp},
    )
    closest = ((reply.json() or {}).get("archived_snapshots") or {}).get("closest") or {}
    if not closest.get("available") or str(closest.get("status")) != "200":
        return None
    timestamp = str(closest["timestamp"])
    marker = f"/{timestamp}/"
    where = str(closest.get("url", ""))
    original = where.split(marker, 1)[1] if marker in where else target.url
    return Snapshot(timestamp, original, 200)


def _store(
    db: Database,
    client: ArchiveClient,
    target: _Target,
    snapshots: list[Snapshot],
    via: str,
    error: CallFailed | None,
    summary: WaybackSummary,
) -> None:
    """Record what one lookup found, in one short transaction."""
    now = stamp(client.clock.now())
    summary.looked_up += 1
    state: dict[str, Any] = {
        "source_id": target.source_id,
        "target_date": target.date,
        "looked_up_at": now,
        "via": via,
        "error_type": error.error_type if error else None,
        "error_message": error.message if error else None,
    }
    if error is not None:
        summary.count_error(error.error_type)
    if snapshots or error is None:
        nearest, newest = choose(snapshots, target.timestamp)
        summary.found += nearest is not None
        state.update(
            nearest_timestamp=nearest.timestamp if nearest else None,
            nearest_url=_playback(client, nearest),
            nearest_status=nearest.status if nearest else None,
        )
        if via == "cdx":  # the availability API says nothing about the newest copy
            state.update(
                newest_timestamp=newest.timestamp if newest else None,
                newest_url=_playback(client, newest),
            )
    rows = [
        {
            "source_id": target.source_id,
            "timestamp": s.timestamp,
            "original": s.original,
            "url": playback_url(client.base, s.timestamp, s.original),
            "status": s.status,
            "mimetype": s.mimetype,
            "digest": s.digest,
            "length": s.length,
            "found_at": now,
        }
        for s in snapshots
    ]
    with db.atomic():
        db.table("wayback_snapshots").insert_all(rows, ignore=True)
        db.table("wayback_lookups").insert({**state, "snapshots": len(snapshots)})
        db.table("wayback_state").upsert(state, pk="source_id")


def _playback(client: ArchiveClient, snapshot: Snapshot | None) -> str | None:
    return playback_url(client.base, snapshot.timestamp, snapshot.original) if snapshot else None


def _targets(
    db: Database, options: WaybackOptions, report_id: str | None, url: str | None, now: datetime
) -> list[_Target]:
    """The sources to ask about, each with its citation date; recent answers are not asked again."""
    sources = [(r["id"], r["url"]) for r in scoped_sources(db, "s.id, s.url", report_id, url)]
    # When each source was first cited, as its copies are ranked from (kept by the importer).
    dates = {
        r["source_id"]: r["cited_on"]
        for r in db.query(
            "select source_id, cited_on from source_status where cited_on is not null"
        )
    }
    first_cited = {
        r["id"]: r["first_cited_at"] for r in db.query("select id, first_cited_at from sources")
    }
    known = {r["source_id"]: r for r in db.query("select * from wayback_state")}
    fresh_since = stamp(now - timedelta(days=options.lookup_every))
    targets = []
    for source_id, source_url in sources:
        cited = dates.get(source_id) or (first_cited.get(source_id) or stamp(now))[:10]
        state = known.get(source_id)
        if (
            url is None
            and state is not None
            and state["error_type"] is None
            and state["target_date"] == cited
            and state["looked_up_at"] >= fresh_since
        ):
            continue
        # The end of the cited day: a capture made on the day the author looked still counts.
        end_of_day = date.fromisoformat(cited).strftime("%Y%m%d") + "235959"
        targets.append(_Target(source_id, source_url, cited, end_of_day))
    return targets
