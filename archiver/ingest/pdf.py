"""Read the footnote URLs of a PDF report from its text layer.

pypdf gives the text page by page; recovering which URL belongs to which footnote from that
scrambled text is the job of :func:`archiver.ingest.text.parse_text`, shared with ``.txt`` input.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from ..errors import InputError
from .limits import check_pdf_pages, check_pdf_size, check_pdf_text
from .model import ParsedReport, iso_date
from .text import parse_text

# PDF dates look like "D:20180403101500+02'00'"; only the calendar date is kept.
_PDF_DATE = re.compile(r"(?:D:)?(\d{4})(\d{2})(\d{2})")
# pypdf logs a warning for every flaw it recovers from; the ones that matter become InputErrors.
logging.getLogger("pypdf").setLevel(logging.ERROR)
# What pypdf raises besides its own errors when the bytes are not a well-formed PDF.
_BROKEN_PDF = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError)


def read_pdf(path: Path) -> ParsedReport:
    """Read a PDF report's citations, title and date, so reports can be imported as published."""
    check_pdf_size(path)
    reader = _open(path)
    pages: list[str] = []
    chars = 0
    try:
        count = len(reader.pages)
        check_pdf_pages(path, count)
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            check_pdf_text(path, chars, len(pages))
    except _BROKEN_PDF as exc:
        raise InputError(path, f"cannot read PDF text: {_one_line(exc)}") from None
    text = "\n".join(pages)
    if not text.strip():
        raise InputError(
            path,
            "PDF has no text layer (scanned?) — run OCR first (e.g. `ocrmypdf in.pdf out.pdf`) "
            "and import the result",
        )
    report = parse_text(text, str(path))
    report.title, report.date = _title_and_date(reader)
    return report


def _open(path: Path) -> PdfReader:
    """Open and, if needed, decrypt a PDF, turning pypdf's failures into one-line InputErrors."""
    try:
        reader = PdfReader(path)
        # Many PDFs are encrypted only to forbid printing or copying: the empty password opens them.
        locked = reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED
    except DependencyError as exc:
        raise InputError(path, f"cannot decrypt PDF: {_one_line(exc)}") from None
    except FileNotDecryptedError:
        locked = True
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None
    except _BROKEN_PDF as exc:
        raise InputError(path, f"not a readable PDF: {_one_line(exc)}") from None
    if locked:
        raise InputError(
            path, "PDF is encrypted with a password; save an unlocked copy and import it"
        )
    return reader


def _title_and_date(reader: PdfReader) -> tuple[str | None, str | None]:
    """/Title (whitespace collapsed) and /CreationDate as YYYY-MM-DD, when present and sane."""
    try:
        info = reader.metadata
        title = info.title if info else None
        created = info.creation_date_raw if info else None
    except _BROKEN_PDF:
        return None, None
    title = " ".join(str(title or "").split()) or None
    match = _PDF_DATE.match(str(created or "").strip())
    try:
        date = iso_date("-".join(match.groups())) if match else None
    except ValueError:
        date = None
    return title, date


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line, since the CLI prints errors as single lines."""
    return " ".join(str(exc).split()) or type(exc).__name__
