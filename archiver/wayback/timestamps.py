"""The Archive's 14-digit timestamps and playback addresses."""

from __future__ import annotations

from datetime import UTC, datetime

from ..store.stamps import stamp


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


def timestamp_moment(timestamp: str) -> datetime:
    """A 14-digit Archive timestamp as a moment (UTC).

    >>> timestamp_moment("20180403090500").isoformat()
    '2018-04-03T09:05:00+00:00'
    """
    return datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def iso_from_timestamp(timestamp: str) -> str:
    """A 14-digit Archive timestamp as ISO 8601 (UTC), the way the database writes moments.

    >>> iso_from_timestamp("20180403090500")
    '2018-04-03T09:05:00+00:00'
    """
    return stamp(timestamp_moment(timestamp))
