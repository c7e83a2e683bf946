"""What a Wayback run needs (taken from Settings) and what it reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import DEFAULTS, Settings


@dataclass(frozen=True)
class WaybackOptions:
    """Everything a Wayback run needs, taken from Settings by the caller; its repr hides the keys.

    wayback_save_within: days; a source with a capture this recent is not saved again.
    lookup_every: days before a source already looked up is asked about again.
    poll_wait: seconds a run polls one SPN2 job before leaving it for the next run.
    poll_interval: seconds between two polls of the jobs a run waits for.
    cdx_limit: captures asked for in one CDX request; longer histories get targeted queries.
    """

    wayback_url: str = DEFAULTS.wayback_url
    wayback_availability_url: str = DEFAULTS.wayback_availability_url
    wayback_access_key: str = field(default="", repr=False)
    wayback_secret_key: str = field(default="", repr=False)
    wayback_save_within: float = DEFAULTS.wayback_save_within
    wayback_saves_per_minute: float = DEFAULTS.wayback_saves_per_minute
    wayback_lookups_per_minute: float = DEFAULTS.wayback_lookups_per_minute
    timeout: float = DEFAULTS.timeout
    user_agent: str = DEFAULTS.user_agent
    lookup_every: float = DEFAULTS.wayback_lookup_every
    poll_wait: float = DEFAULTS.wayback_poll_wait
    poll_interval: float = DEFAULTS.wayback_poll_interval
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
        lookup_every=settings.wayback_lookup_every,
        poll_wait=settings.wayback_poll_wait,
        poll_interval=settings.wayback_poll_interval,
    )


@dataclass
class WaybackSummary:
    """What a run did, as ``archiver wayback --json`` prints it.

    looked_up, found: sources asked about this run, and how many have a copy near their date.
    saved, failed: saves that finished this run. submitted, retry_later, queued: saves left in
    that state for a later run. errors: failed lookups and saves this run, by error type.
    paused_until: kinds of call paused after a 429, and when they resume (UTC, ISO 8601).
    archive_unreachable: no call reached the Archive at all, so nothing was changed.
    interrupted: the run was stopped (scheduler shutdown) at one of its waits.
    memento: what the other web archives' lookups did (``MementoSummary.as_dict()``), when
    any are configured.
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
    interrupted: bool = False
    memento: dict[str, Any] = field(default_factory=dict)  # the other archives (Memento)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def count_error(self, error_type: str) -> None:
        self.errors[error_type] = self.errors.get(error_type, 0) + 1
