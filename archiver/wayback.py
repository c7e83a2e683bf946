"""The Wayback Machine stage's core: its options, its tables, and one polite client for the Archive.

Lookups (``wayback_lookup``) and saves (``wayback_save``) reach the Internet Archive only through
:class:`ArchiveClient`, which

- meters every call with one :class:`RateLimiter`, a token bucket per kind of call: ``save``
  (SPN2 submissions, ``wayback_saves_per_minute``), ``lookup`` (CDX and availability,
  ``wayback_lookups_per_minute``) and ``status`` (SPN2 job and account reads, metered at the
  lookup rate: they are reads too, and charging them to saves would starve submissions);
- pauses a kind of call after a 429 (a minute, doubling on repeats) and keeps the pause in
  ``wayback_pauses`` so the next run respects it: the Archive firewalls clients that go on
  after 429s, and its 429s carry no Retry-After;
- sends the account keys to SPN2 endpoints only, and never puts them in a message or a row.

Time comes from a :class:`Clock`, so tests pace the limiter with a fake clock while every request
still goes to a real (local) HTTP server.

Tables: ``wayback_snapshots`` (every capture found), ``wayback_state`` (each source's nearest and
newest copy), ``wayback_saves`` (each save and its state), ``wayback_pauses`` (back-off).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import requests
from sqlite_utils import Database

from .config import Settings
from .errors import ArchiverError
from .stamps import stamp
from .status import scoped_sources
from .version import __version__

log = logging.getLogger(__name__)

Kind = Literal["save", "status", "lookup"]
PAUSE_FIRST = 60.0
PAUSE_LONGEST = 24 * 3600.0
# A 429 this soon after the previous pause ended is a repeat, and doubles the pause.
PAUSE_REPEAT_WINDOW = 3600.0


@dataclass(frozen=True)
class WaybackOptions:
    """Everything a Wayback run needs, taken from Settings by the caller; its repr hides the keys.

    wayback_save_within: days; a source with a capture this recent is not saved again.
    lookup_every: days before a source already looked up is asked about again.
    poll_wait: seconds a run polls one SPN2 job before leaving it for the next run.
    cdx_limit: captures asked for in one CDX request; longer histories get targeted queries.
    """

    wayback_url: str = "https://web.archive.org"
    wayback_availability_url: str = "https://archive.org/wayback/available"
    wayback_access_key: str = field(default="", repr=False)
    wayback_secret_key: str = field(default="", repr=False)
    wayback_save_within: float = 30.0
    wayback_saves_per_minute: float = 10.0
    wayback_lookups_per_minute: float = 20.0
    timeout: float = 20.0
    user_agent: str = f"archiver/{__version__} (checks sources cited in published reports)"
    lookup_every: float = 7.0
    poll_wait: float = 120.0
    poll_interval: float = 5.0
    cdx_limit: int = 1000

    @property
    def has_keys(self) -> bool:
        return bool(self.wayback_access_key and self.wayback_secret_key)


def wayback_options(settings: Settings) -> WaybackOptions:
    """The Wayback run's options from the user's settings."""
    return WaybackOptions(
        wayback_url=settings.wayback_url.rstrip("/"),
        wayback_availability_url=settings.wayback_availability_url,
        wayback_access_key=settings.wayback_access_key,
        wayback_secret_key=settings.wayback_secret_key,
        wayback_save_within=settings.wayback_save_within,
        wayback_saves_per_minute=settings.wayback_saves_per_minute,
        wayback_lookups_per_minute=settings.wayback_lookups_per_minute,
        timeout=settings.timeout,
        user_agent=settings.user_agent,
    )


@dataclass
class WaybackSummary:
    """What a run did, as ``archiver wayback --json`` prints it.

    looked_up, found: sources asked about this run, and how many have a copy near their date.
    saved, failed: saves that finished this run. submitted, retry_later, queued: saves left in
    that state for a later run. errors: failed lookups and saves this run, by error type.
    paused_until: kinds of call paused after a 429, and when they resume (UTC, ISO 8601).
    archive_unreachable: no call reached the Archive at all, so nothing was changed.
    """

    looked_up: int = 0
    found: int = 0
    saved: int = 0
    submitted: int = 0
    failed: int = 0
    retry_later: int = 0
    queued: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    message: str = ""
    paused_until: dict[str, str] = field(default_factory=dict)
    archive_unreachable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def count_error(self, error_type: str) -> None:
        self.errors[error_type] = self.errors.get(error_type, 0) + 1


class Clock(Protocol):
    """Where a run reads the time and waits: the system's clock, or a test's fake one."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real time (UTC) and real waiting."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class RateLimiter:
    """Token buckets, one per kind of call, safe to share between threads.

    A bucket holds one token at most, so calls are evenly spaced (60 / rate seconds) instead of
    bursting: the Archive counts per minute, and a burst across a minute's edge can trip it.
    """

    def __init__(self, per_minute: Mapping[str, float], clock: Clock) -> None:
        for kind, rate in per_minute.items():
            if rate <= 0:
                raise ArchiverError(f"the {kind} rate must be above 0 per minute, not {rate}")
        self._per_second = {kind: rate / 60.0 for kind, rate in per_minute.items()}
        self._tokens = dict.fromkeys(per_minute, 1.0)
        self._last: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def acquire(self, kind: str) -> None:
        """Wait until a call of this kind is due; a token is reserved before waiting."""
        with self._lock:
            now = self._clock.now().timestamp()
            rate = self._per_second[kind]
            elapsed = now - self._last.get(kind, now)
            tokens = min(1.0, self._tokens[kind] + elapsed * rate)
            self._last[kind] = now
            self._tokens[kind] = tokens - 1.0
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
        if wait > 0:
            self._clock.sleep(wait)


class CallFailed(Exception):
    """A call to the Archive that got no usable answer; type and message are stored as data.

    network: the Archive was not reached at all (refused, DNS, connect timeout).
    """

    def __init__(self, error_type: str, message: str, *, network: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.network = network


class Paused(Exception):
    """This kind of call is paused until ``until`` after a 429 (or a "too many" refusal)."""

    def __init__(self, kind: Kind, until: datetime) -> None:
        super().__init__(f"{kind} calls to the Wayback Machine are paused until {stamp(until)}")
        self.kind = kind
        self.until = until


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from the Archive, read in full (they are small)."""

    status: int
    text: str

    def json(self) -> Any:
        """The body as JSON; an HTML error page instead is a failed call."""
        if self.status >= 400:
            raise CallFailed(f"http_{self.status}", f"HTTP {self.status}: {self.text[:200]}")
        try:
            return json.loads(self.text)
        except ValueError:
            raise CallFailed("bad_response", f"not JSON: {self.text[:200]!r}") from None


class ArchiveClient:
    """Every call to the Archive: rate-limited, paused after 429s, keys only where needed."""

    def __init__(self, db: Database, options: WaybackOptions, clock: Clock) -> None:
        self.options = options
        self.clock = clock
        self.base = options.wayback_url.rstrip("/")
        self._db = db
        lookups = options.wayback_lookups_per_minute
        per_minute = {"save": options.wayback_saves_per_minute, "status": lookups}
        self._limiter = RateLimiter({**per_minute, "lookup": lookups}, clock)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or netrc from the environment
        self._session.headers["User-Agent"] = options.user_agent
        self._secrets = [s for s in (options.wayback_access_key, options.wayback_secret_key) if s]

    def __enter__(self) -> ArchiveClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._session.close()

    def call(
        self,
        kind: Kind,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        spn: bool = False,
    ) -> Reply:
        """Make one call, waiting for its turn; spn: an SPN2 endpoint, which gets the keys."""
        until = self.paused_until(kind)
        if until is not None:
            raise Paused(kind, until)
        self._limiter.acquire(kind)
        headers = {}
        if spn:
            headers["Accept"] = "application/json"
            if self.options.has_keys:
                key = f"{self.options.wayback_access_key}:{self.options.wayback_secret_key}"
                headers["Authorization"] = f"LOW {key}"
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self.options.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # "from None": the chained exception would carry the request, Authorization and all.
            raise self._failure(exc) from None
        if response.status_code == 429:
            raise Paused(kind, self.pause(kind, f"HTTP 429 from {response.url.split('?')[0]}"))
        return Reply(response.status_code, response.text)

    def paused_until(self, kind: Kind) -> datetime | None:
        row = next(self._db.table("wayback_pauses").rows_where("kind = ?", [kind]), None)
        if row is None:
            return None
        until = datetime.fromisoformat(row["paused_until"])
        return until if until > self.clock.now() else None

    def pause(self, kind: Kind, reason: str) -> datetime:
        """Pause this kind of call: a minute, doubled when the last pause ended within the hour."""
        now = self.clock.now()
        seconds = PAUSE_FIRST
        row = next(self._db.table("wayback_pauses").rows_where("kind = ?", [kind]), None)
        if row is not None:
            ended = datetime.fromisoformat(row["paused_until"])
            if (now - ended).total_seconds() <= PAUSE_REPEAT_WINDOW:
                seconds = min(PAUSE_LONGEST, max(PAUSE_FIRST, row["seconds"] * 2))
        until = now + timedelta(seconds=seconds)
        self._db.table("wayback_pauses").upsert(
            {
                "kind": kind,
                "paused_until": stamp(until),
                "seconds": seconds,
                "reason": reason,
                "paused_at": stamp(now),
            },
            pk="kind",
        )
        log.warning("Wayback Machine %s calls paused for %d s: %s", kind, seconds, reason)
        return until

    def scrub(self, text: str) -> str:
        """The text with the account keys masked, before it is stored or shown anywhere."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _failure(self, exc: requests.RequestException) -> CallFailed:
        if isinstance(exc, requests.ConnectTimeout):
            error_type, network = "connect_timeout", True
        elif isinstance(exc, requests.Timeout):
            error_type, network = "timeout", False
        elif isinstance(exc, requests.ConnectionError):
            error_type, network = "connection_error", True
        else:
            error_type, network = "request_error", False
        message = self.scrub(f"{type(exc).__name__}: {exc}")[:300]
        return CallFailed(error_type, message, network=network)


def migrate(db: Database) -> None:
    """Create the Wayback stage's tables (registered by db.py as migration ``m003_wayback``)."""
    db.table("wayback_snapshots").create(
        {
            "id": int,
            "source_id": int,
            "timestamp": str,
            "original": str,
            "url": str,
            "status": int,
            "mimetype": str,
            "digest": str,
            "length": int,
            "found_at": str,
        },
        pk="id",
        not_null={"source_id", "timestamp", "digest"},
        defaults={"digest": ""},
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_snapshots").create_index(["source_id", "timestamp", "digest"], unique=True)
    db.table("wayback_state").create(
        {
            "source_id": int,
            "target_date": str,
            "nearest_timestamp": str,
            "nearest_url": str,
            "nearest_status": int,
            "newest_timestamp": str,
            "newest_url": str,
            "via": str,
            "looked_up_at": str,
            "error_type": str,
            "error_message": str,
        },
        pk="source_id",
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_saves").create(
        {
            "id": int,
            "source_id": int,
            "state": str,
            "job_id": str,
            "queued_at": str,
            "submitted_at": str,
            "finished_at": str,
            "timestamp": str,
            "original": str,
            "status_ext": str,
            "message": str,
            "error_type": str,
            "attempts": int,
            "next_attempt_at": str,
        },
        pk="id",
        not_null={"source_id", "state", "attempts"},
        defaults={"attempts": 0},
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_saves").create_index(["source_id", "state"])
    db.table("wayback_saves").create_index(["state"])
    db.table("wayback_saves").create_index(["job_id"], unique=True)
    db.table("wayback_pauses").create(
        {"kind": str, "paused_until": str, "seconds": float, "reason": str, "paused_at": str},
        pk="kind",
    )


def scope_sources(db: Database, report_id: str | None, url: str | None) -> list[tuple[int, str]]:
    """The (id, url) of the cited sources of one report, one URL, or every current citation."""
    return [(r["id"], r["url"]) for r in scoped_sources(db, "s.id, s.url", report_id, url)]


def wayback_status(db: Database, source_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The Wayback fields ``archiver status`` shows for each source (None where unknown).

    wayback_url, wayback_timestamp: the copy nearest the citation date. wayback_newest: the
    newest copy's timestamp, counting our own saves. wayback_save: the latest save's state, or
    "none". wayback_saved_at: when our latest successful save was captured (ISO 8601, UTC).
    """
    ids = json.dumps(source_ids)
    states = {
        r["source_id"]: r
        for r in db.query(
            "select * from wayback_state where source_id in (select value from json_each(?))",
            [ids],
        )
    }
    latest = {
        r["source_id"]: r["state"]
        for r in db.query(
            "select source_id, state from wayback_saves where id in (select max(id) from "
            "wayback_saves where source_id in (select value from json_each(?)) group by source_id)",
            [ids],
        )
    }
    saved = {
        r["source_id"]: r["timestamp"]
        for r in db.query(
            "select source_id, max(timestamp) as timestamp from wayback_saves where state = "
            "'saved' and source_id in (select value from json_each(?)) group by source_id",
            [ids],
        )
    }
    result = {}
    for source_id in source_ids:
        state = states.get(source_id) or {}
        newest = max(
            filter(None, [state.get("newest_timestamp"), saved.get(source_id)]), default=None
        )
        result[source_id] = {
            "wayback_url": state.get("nearest_url"),
            "wayback_timestamp": state.get("nearest_timestamp"),
            "wayback_newest": newest,
            "wayback_save": latest.get(source_id, "none"),
            "wayback_saved_at": iso_from_timestamp(saved[source_id])
            if source_id in saved
            else None,
        }
    return result


def nearest_copy(db: Database, source_id: int) -> dict[str, Any] | None:
    """The copy nearest the citation date, as ``archiver get --json`` shows it (or None)."""
    row = next(db.table("wayback_state").rows_where("source_id = ?", [source_id]), None)
    if row is None or row["nearest_timestamp"] is None:
        return None
    return {
        "url": row["nearest_url"],
        "timestamp": row["nearest_timestamp"],
        "status": row["nearest_status"],
    }


def copies(db: Database, source_id: int) -> list[dict[str, Any]]:
    """Every capture of a source the Archive told us about, oldest first."""
    return [
        dict(row)
        for row in db.query(
            "select timestamp, url, original, status, mimetype, digest, length from "
            "wayback_snapshots where source_id = ? order by timestamp, id",
            [source_id],
        )
    ]


def playback_url(base: str, timestamp: str, original: str) -> str:
    """Where a capture is replayed.

    >>> playback_url("https://web.archive.org", "20180403120000", "http://example.org/a")
    'https://web.archive.org/web/20180403120000/http://example.org/a'
    """
    return f"{base.rstrip('/')}/web/{timestamp}/{original}"


def wayback_timestamp(moment: datetime) -> str:
    """A moment as the Archive's 14-digit UTC timestamp.

    >>> wayback_timestamp(datetime(2018, 4, 3, 9, 5, tzinfo=UTC))
    '20180403090500'
    """
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def iso_from_timestamp(timestamp: str) -> str:
    """A 14-digit Archive timestamp as ISO 8601 (UTC), the way the database writes moments.

    >>> iso_from_timestamp("20180403090500")
    '2018-04-03T09:05:00+00:00'
    """
    return stamp(datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC))
