"""Every request to a Memento archive: through the guarded fetcher (address guard, deadline,
head and body caps), and as polite as the Wayback lookups.

Each archive host gets the Wayback lookups' budget of its own (``wayback_lookups_per_minute``,
calls evenly spaced by :class:`~archiver.wayback.client.RateLimiter`), and a 429 pauses calls
to that host a minute, doubling on repeats, stored in ``wayback_pauses`` as ``memento:HOST``
so the next run respects it too: the same rule the Wayback Machine's lookups follow.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlite_utils import Database

from ..clock import Clock
from ..config import DEFAULTS, Settings
from ..errors import Paused
from ..net.fetch import Fetcher, FetchLimits, FetchResult
from ..parsing import ParseLimits
from ..wayback.client import RateLimiter, pause, paused_until
from .archives import Archive, parse_archives

# An answer read at most this far once decompressed: a TimeMap page of 10,000 mementos is
# about 1.5 MB; a longer one is read as far as this and its cut-off last link dropped.
MAX_TIMEMAP_BYTES = 10_000_000
# TimeMap pages followed for one source in one archive (``rel="timemap"`` links).
MAX_PAGES = 8
# Mementos fetched to learn what they hold, per source and endpoint (an aggregator lists many
# archives: the ones nearest the citation date first).
MAX_VERIFIED = 4


@dataclass(frozen=True)
class MementoOptions:
    """What the Memento lookups need, taken from Settings by the caller."""

    archives: tuple[Archive, ...] = ()
    limits: FetchLimits = field(default_factory=FetchLimits)
    parse: ParseLimits = field(default_factory=ParseLimits)
    lookups_per_minute: float = DEFAULTS.wayback_lookups_per_minute
    lookup_every: float = DEFAULTS.wayback_lookup_every  # days
    wayback_url: str = DEFAULTS.wayback_url  # its mementos are the CDX lookups' to find
    max_pages: int = MAX_PAGES
    max_timemap_bytes: int = MAX_TIMEMAP_BYTES
    max_verified: int = MAX_VERIFIED

    def archive_named(self, netloc: str) -> str:
        """The configured name of the archive at ``netloc``, else the netloc itself."""
        for archive in self.archives:
            if archive.netloc == netloc:
                return archive.name
        return netloc


def memento_options(settings: Settings) -> MementoOptions:
    """The Memento lookups' options from the user's settings."""
    return MementoOptions(
        archives=parse_archives(settings.memento_archives),
        limits=FetchLimits.from_settings(settings),
        parse=ParseLimits.from_settings(settings),
        lookups_per_minute=settings.wayback_lookups_per_minute,
        lookup_every=settings.wayback_lookup_every,
        wayback_url=settings.wayback_url,
    )


class MementoClient:
    """Rate-limited, pause-respecting GETs to Memento archives, one budget per host."""

    def __init__(self, db: Database, options: MementoOptions, clock: Clock) -> None:
        self.options = options
        self.clock = clock
        self._db = db
        self._fetcher = Fetcher(options.limits)
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> MementoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._fetcher.close()

    def paused_until(self, url: str) -> datetime | None:
        return paused_until(self._db, _kind(url), self.clock.now())

    def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        follow_redirects: bool = True,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """One GET, in its host's turn; raises Paused when the host is paused (or a 429
        pauses it now)."""
        kind = _kind(url)
        until = self.paused_until(url)
        if until is not None:
            raise Paused(kind, until)
        with self._lock:
            limiter = self._limiters.get(kind)
            if limiter is None:
                rate = {"lookup": self.options.lookups_per_minute}
                limiter = self._limiters[kind] = RateLimiter(rate, self.clock)
        limiter.acquire("lookup")
        result = self._fetcher.fetch(
            url, headers=headers, follow_redirects=follow_redirects, max_bytes=max_bytes
        )
        if result.status == 429:
            now = self.clock.now()
            raise Paused(kind, pause(self._db, kind, f"HTTP 429 from {netloc(url)}", now))
        return result


def netloc(url: str) -> str:
    """Host and port (lower case): what one archive is, for budgets and grouping."""
    return urlsplit(url).netloc.lower().rpartition("@")[2]


def _kind(url: str) -> str:
    return f"memento:{netloc(url)}"
