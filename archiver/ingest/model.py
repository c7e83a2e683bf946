"""What every report reader returns: the cited URLs of one report, in footnote order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class CitedURL:
    """One URL in one footnote.

    position: 1-based order of the URL inside its footnote (a footnote can cite two URLs).
    line: where it was read in the file (1-based), so errors and warnings can point at it.
    canonical: the URL's canonical form (``archiver.urls.canonical_url``), filled in when
    ``read_report`` screens the URLs, so that the importer need not work it out again.
    """

    footnote: int
    position: int
    url: str
    context: str | None = None
    accessed: str | None = None
    line: int | None = None
    canonical: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Skipped:
    """A link found in the report that is not imported, with the reason (e.g. ``mailto`` scheme)."""

    url: str
    reason: str
    footnote: int | None = None
    line: int | None = None


@dataclass
class ParsedReport:
    """A report file as read: its citations plus what the file says about the report itself."""

    path: str
    citations: list[CitedURL] = field(default_factory=list)
    markers_without_urls: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    report_id: str | None = None
    title: str | None = None
    date: str | None = None
    # SHA-256 of the file as read_report read it (None: not read from a file).
    sha256: str | None = None


def iso_date(text: str) -> str:
    """Normalise a date as written in a file or option to ``YYYY-MM-DD``.

    Accepts ``YYYY-MM-DD`` or an ISO date-time (the time is dropped); raises ValueError otherwise.

    >>> iso_date("2018-04-03T10:00:00Z")
    '2018-04-03'
    """
    text = text.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise ValueError(f"not a date (expected YYYY-MM-DD): {text!r}") from None
