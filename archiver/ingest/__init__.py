"""Reading reports: every supported format turned into ParsedReport objects.

``read_report`` picks the reader by file extension (or ``fmt``), then screens the URLs in one
place: schemes we do not archive are moved to ``skipped``; URLs that do not parse are an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import InputError, InvalidURL
from ..store.stamps import file_sha256
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
    with _collector_paused():
        reports = _reader(fmt or detect_format(path))(path)
        sha256 = file_sha256(path)  # once for the file, however many reports it holds
        for i, report in enumerate(reports):
            # In place: the unscreened copy is freed as we go.
            reports[i] = dataclasses.replace(_screen_urls(report), sha256=sha256)
    return reports


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a file is read.

    A large file makes several objects a row and keeps them, none in a reference cycle; the
    collector would walk them all again and again (a tenth of a large import's time). Other
    garbage is still freed at once by reference counting; cycles wait until the end.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _screen_urls(report: ParsedReport) -> ParsedReport:
    """Keep http(s) URLs that parse; report other schemes as skipped; fail on broken URLs.

    Each kept URL carries its canonical form, worked out here once (the same URL cited again
    in the file is not worked out again).
    """
    kept: list[CitedURL] = []
    skipped = list(report.skipped)
    canonical: dict[str, str] = {}
    for cited in report.citations:
        url = cited.url
        form = canonical.get(url)
        if form is None:
            scheme = None if url.startswith(("https://", "http://")) else unsupported_scheme(url)
            if scheme is not None:
                skipped.append(
                    Skipped(url, f"{scheme}: links are not archived", cited.footnote, cited.line)
                )
                continue
            try:
                form = canonical_url(url)
            except InvalidURL as exc:
                raise InputError(
                    report.path, f"footnote {cited.footnote}: {exc}", cited.line
                ) from None
            canonical[url] = form = url if form == url else form  # one string, not two
        kept.append(  # every field given: dataclasses.replace() takes twice as long
            CitedURL(
                cited.footnote,
                cited.position,
                url,
                cited.context,
                cited.accessed,
                cited.line,
                canonical=form,
            )
        )
    if not kept:
        raise InputError(report.path, "no http(s) URLs to import")
    return dataclasses.replace(report, citations=kept, skipped=skipped)
