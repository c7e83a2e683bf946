"""Reading reports: every supported format turned into ParsedReport objects.

``read_report`` picks the reader by file extension (or ``fmt``), then screens the URLs in one
place: schemes we do not archive are moved to ``skipped``; URLs that do not parse are an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, InvalidURL
from ..urls import canonical_url, unsupported_scheme
from .model import CitedURL, ParsedReport, Skipped, iso_date

__all__ = ["FORMATS", "CitedURL", "ParsedReport", "Skipped", "iso_date", "read_report"]

FORMATS = {
    "csv": (".csv",),
    "text": (".txt", ".text"),
    "pdf": (".pdf",),
    "docx": (".docx",),
    "html": (".html", ".htm", ".xhtml"),
    "markdown": (".md", ".markdown"),
}


def _reader(fmt: str) -> Callable[[Path], list[ParsedReport]]:
    # Readers are imported on demand: the PDF and Word libraries are slow to load.
    if fmt == "csv":
        from .csvfile import read_csv

        return read_csv
    if fmt == "text":
        from .text import read_text

        return lambda path: [read_text(path)]
    if fmt == "pdf":
        from .pdf import read_pdf

        return lambda path: [read_pdf(path)]
    if fmt == "docx":
        from .docx import read_docx

        return lambda path: [read_docx(path)]
    if fmt == "html":
        from .html import read_html

        return lambda path: [read_html(path)]
    from .markdown import read_markdown

    return lambda path: [read_markdown(path)]


def detect_format(path: Path) -> str:
    """The reader for a file, from its extension."""
    suffix = path.suffix.lower()
    for fmt, suffixes in FORMATS.items():
        if suffix in suffixes:
            return fmt
    known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
    raise InputError(path, f"unknown file type {suffix or '(none)'!r}; known: {known}")


def read_report(path: Path, fmt: str | None = None) -> list[ParsedReport]:
    """Read a report file into one ParsedReport per report it holds (CSV may hold several)."""
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not a report file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    reports = _reader(fmt or detect_format(path))(path)
    return [_screen_urls(report) for report in reports]


def _screen_urls(report: ParsedReport) -> ParsedReport:
    """Keep http(s) URLs that parse; report other schemes as skipped; fail on broken URLs."""
    kept: list[CitedURL] = []
    skipped = list(report.skipped)
    for cited in report.citations:
        scheme = unsupported_scheme(cited.url)
        if scheme is not None:
            skipped.append(
                Skipped(cited.url, f"{scheme}: links are not archived", cited.footnote, cited.line)
            )
            continue
        try:
            canonical_url(cited.url)
        except InvalidURL as exc:
            raise InputError(report.path, f"footnote {cited.footnote}: {exc}", cited.line) from None
        kept.append(cited)
    if not kept:
        raise InputError(report.path, "no http(s) URLs to import")
    return dataclasses.replace(report, citations=kept, skipped=skipped)
