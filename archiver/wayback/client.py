"""One polite client for the Internet Archive: every call of the Wayback stage goes through it.

Lookups (``wayback_lookup``) and saves (``wayback_save``) reach the Internet Archive only through
:class:`ArchiveClient`, which

- meters every call with one :class:`RateLimiter`, a token bucket per kind of call: ``save``
  (SPN2 submissions, ``wayback_saves_per_minute``), ``lookup`` (CDX and availability,
  ``wayback_lookups_per_minute``) and ``status`` (SPN2 job and account reads, metered at the
  lookup rate: they are reads too, and charging them to saves would starve submissions);
- pauses a kind of call after a 429 (a minute, doubling on repeats) and keeps the pause in
  ``wayback_pauses`` so the next run respects it: the Archive firewalls clients that go on
  after 429s, and its 429s carry no Retry-After;
- sends the account keys to SPN2 endpoints only, and never puts them in a message or a row;
- reads at most ``MAX_REPLY_BYTES`` of an answer, decompressed chunk by chunk as fetches are,
  so a gzip bomb from a broken proxy or a mistyped ``wayback_url`` costs that much.

Time comes from a :class:`Clock`, so tests pace the limiter with a fake clock while every request
still goes to a real (local) HTTP server.

Tables: ``wayback_snapshots`` (every capture found), ``wayback_state`` (each source's nearest and
newest copy), ``wayback_saves`` (each save and its state), ``wayback_pauses`` (back-off).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, quote_plus

import requests
import urllib3
from sqlite_utils import Database

from ..clock import Clock
from ..errors import ArchiverError, CallFailed, Paused
from ..net.fetch import decode_stored
from ..store.stamps import stamp
from .options import WaybackOptions

log = logging.getLogger(__name__)

Kind = Literal["save", "status", "lookup"]
PAUSE_FIRST = 60.0
PAUSE_LONGEST = 24 * 3600.0
# A 429 this soon after the previous pause ended is a repeat, and doubles the pause.
PAUSE_REPEAT_WINDOW = 3600.0
# The longest answer read, once decompressed: a CDX page of 1,000 captures is about 250 KB.
MAX_REPLY_BYTES = 10_000_000


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


_PERCENT = re.compile(r"%[0-9A-F]{2}")


def secret_forms(*secrets: str) -> list[str]:
    """Every way a secret may be written out: as is, escaped by repr or JSON, URL-encoded
    (either case of hex), as bytes' repr; longest first, so no form is left half-masked.

    >>> secret_forms("a b/")
    ['a%20b%2F', 'a%20b%2f', 'a%20b/', 'a+b%2F', 'a+b%2f', 'a b/']
    """
    forms: set[str] = set()
    for secret in filter(None, secrets):
        quoted = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
        forms |= quoted | {_PERCENT.sub(lambda m: m.group().lower(), q) for q in quoted}
        forms |= {
            secret,
            repr(secret)[1:-1],
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            repr(secret.encode("utf-8"))[2:-1],
        }
    return sorted(forms, key=lambda form: (-len(form), form))


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
        self._secrets = secret_forms(options.wayback_access_key, options.wayback_secret_key)

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
        failure: CallFailed | None = None
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self.options.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            failure = self._failure(exc)
        if failure is not None:
            # Raised outside the except block, so that neither __cause__ nor __context__
            # carries the original exception and its request, Authorization and all.
            raise failure
        with response:
            if response.status_code == 429:
                where = response.url.split("?")[0]
                raise Paused(kind, self.pause(kind, f"HTTP 429 from {where}"))
            text = self._text(response)
        # An error page may repeat what it was sent (a proxy's, a debug page): scrubbed here,
        # before any message, row or log line is made from it.
        return Reply(response.status_code, self.scrub(text))

    def _text(self, response: requests.Response) -> str:
        """The answer's body as text, at most MAX_REPLY_BYTES of it once decompressed."""
        body = bytearray()
        failure: CallFailed | None = None
        try:
            longer = decode_stored(
                lambda amount: response.raw.read(amount, decode_content=False),
                response.headers.get("content-encoding", ""),
                MAX_REPLY_BYTES,
                body.extend,
            )
            if longer:
                failure = CallFailed(
                    "too_large", f"answer longer than {MAX_REPLY_BYTES:,} bytes once decompressed"
                )
        except (urllib3.exceptions.HTTPError, OSError, zlib.error) as exc:
            failure = self._failure(exc)
        if failure is not None:
            raise failure  # outside the except block, as in call()
        try:
            return body.decode(response.encoding or "utf-8", errors="replace")
        except LookupError:  # a charset nobody knows
            return body.decode("utf-8", errors="replace")

    def paused_until(self, kind: Kind) -> datetime | None:
        return paused_until(self._db, kind, self.clock.now())

    def pause(self, kind: Kind, reason: str) -> datetime:
        """Pause this kind of call: a minute, doubled when the last pause ended within the hour."""
        now = self.clock.now()
        until = pause(self._db, kind, reason, now)
        seconds = (until - now).total_seconds()
        log.warning("Wayback Machine %s calls paused for %d s: %s", kind, seconds, reason)
        return until

    def scrub(self, text: str) -> str:
        """The text with every form of the account keys masked, before it is stored or shown."""
        for form in self._secrets:
            if form in text:
                text = text.replace(form, "***")
        return text

    def _failure(self, exc: Exception) -> CallFailed:
        if isinstance(exc, requests.ConnectTimeout):
            error_type, network = "connect_timeout", True
        elif isinstance(exc, requests.Timeout | urllib3.exceptions.ReadTimeoutError):
            error_type, network = "timeout", False
        elif isinstance(exc, requests.ConnectionError):
            error_type, network = "connection_error", True
        elif isinstance(exc, zlib.error):
            error_type, network = "bad_response", False
        elif not isinstance(exc, requests.RequestException):  # the body broke off
            error_type, network = "connection_error", False
        else:
            error_type, network = "request_error", False
        message = self.scrub(f"{type(exc).__name__}: {exc}")[:300]
        return CallFailed(error_type, message, network=network)


def paused_until(db: Database, kind: str, now: datetime) -> datetime | None:
    """When calls of this kind (``lookup``, ``save``, ``memento:HOST``, …) may go again, if
    a 429 paused them and the pause has not ended."""
    row = next(db.table("wayback_pauses").rows_where("kind = ?", [kind]), None)
    if row is None:
        return None
    until = datetime.fromisoformat(row["paused_until"])
    return until if until > now else None


def pause(db: Database, kind: str, reason: str, now: datetime) -> datetime:
    """Pause calls of this kind after a 429: a minute, doubled when the last pause ended
    within the hour (at most a day); stored, so the next run respects it too."""
    seconds = PAUSE_FIRST
    row = next(db.table("wayback_pauses").rows_where("kind = ?", [kind]), None)
    if row is not None:
        ended = datetime.fromisoformat(row["paused_until"])
        if (now - ended).total_seconds() <= PAUSE_REPEAT_WINDOW:
            seconds = min(PAUSE_LONGEST, max(PAUSE_FIRST, row["seconds"] * 2))
    until = now + timedelta(seconds=seconds)
    db.table("wayback_pauses").upsert(
        {
            "kind": kind,
            "paused_until": stamp(until),
            "seconds": seconds,
            "reason": reason,
            "paused_at": stamp(now),
        },
        pk="kind",
    )
    return until
