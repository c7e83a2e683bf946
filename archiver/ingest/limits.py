"""How much one imported report file may make archiver read, so a hostile file (a zip bomb,
a PDF of a million pages) is a one-line error and memory stays bounded.

The limits are far above any real report (the largest reports seen are a few MB) and are read
when a file is imported, so tests can lower them. CSV files have no size limit: a citations
CSV of a million rows is expected, and it is read row by row.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import InputError

# Text, HTML and Markdown reports: bytes of the file.
MAX_TEXT_BYTES = 100_000_000
# PDF: bytes of the file (pypdf reads it whole), pages, characters of extracted text.
MAX_PDF_BYTES = 200_000_000
MAX_PDF_PAGES = 5_000
MAX_PDF_TEXT_CHARS = 50_000_000
# DOCX (a zip): parts, inflated bytes of one part and of all, and how much a part may shrink.
MAX_DOCX_PARTS = 10_000
MAX_DOCX_PART_BYTES = 100_000_000
MAX_DOCX_TOTAL_BYTES = 300_000_000
MAX_DOCX_RATIO = 100  # XML deflates 5-20:1; a run of zeros 1000:1
RATIO_FROM_BYTES = 1_000_000  # smaller parts may shrink as much as they like


def read_capped(path: Path, limit: int, kind: str) -> bytes:
    """The file's bytes, refusing (before reading) a file larger than ``limit``."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise too_large(path, kind, size, limit)
            data = f.read(limit + 1)  # a file that grows meanwhile is still cut at the limit
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise too_large(path, kind, len(data), limit)
    return data


def read_text_file(path: Path, kind: str) -> bytes:
    """A text, HTML or Markdown report's bytes, within ``MAX_TEXT_BYTES`` (read at call time,
    so the limit can be changed in one place)."""
    return read_capped(path, MAX_TEXT_BYTES, kind)


def check_pdf_size(path: Path) -> None:
    check_size(path, MAX_PDF_BYTES, "PDF")  # pypdf reads the file whole


def check_pdf_pages(path: Path, count: int) -> None:
    if count > MAX_PDF_PAGES:
        raise InputError(path, f"PDF has {count:,} pages, over the limit of {MAX_PDF_PAGES:,}")


def check_pdf_text(path: Path, chars: int, pages: int) -> None:
    if chars > MAX_PDF_TEXT_CHARS:
        raise InputError(
            path,
            f"PDF text is longer than the limit of {MAX_PDF_TEXT_CHARS:,} "
            f"characters (at page {pages:,})",
        )


def check_size(path: Path, limit: int, kind: str) -> None:
    """Refuse a file larger than ``limit`` before a library reads it whole."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None
    if size > limit:
        raise too_large(path, kind, size, limit)


def too_large(path: Path, kind: str, size: int, limit: int) -> InputError:
    return InputError(
        path, f"{kind} file of {size:,} bytes is over the {limit:,} byte limit for importing"
    )


def check_zip(path: Path) -> None:
    """Refuse a zip (DOCX) whose parts would inflate past the limits, before inflating any.

    The sizes checked are those the zip declares; Python's zipfile never inflates a part past
    its declared size (a part that lies fails its CRC), so they bound what is read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable .docx file: {exc}") from None
    if len(parts) > MAX_DOCX_PARTS:
        raise InputError(
            path, f"the .docx has {len(parts):,} parts, over the limit of {MAX_DOCX_PARTS:,}"
        )
    total = 0
    for part in parts:
        size = part.file_size
        if size > MAX_DOCX_PART_BYTES:
            raise InputError(
                path,
                f"part {part.filename} inflates to {size:,} bytes, over the "
                f"{MAX_DOCX_PART_BYTES:,} byte limit for one part (a zip bomb?)",
            )
        if size > RATIO_FROM_BYTES and size > part.compress_size * MAX_DOCX_RATIO:
            ratio = size // max(1, part.compress_size)
            raise InputError(
                path,
                f"part {part.filename} inflates {ratio:,} times its stored size, over the "
                f"limit of {MAX_DOCX_RATIO}:1 (a zip bomb?)",
            )
        total += size
        if total > MAX_DOCX_TOTAL_BYTES:
            raise InputError(
                path,
                f"the .docx parts inflate to more than the {MAX_DOCX_TOTAL_BYTES:,} byte limit "
                "(a zip bomb?)",
            )
