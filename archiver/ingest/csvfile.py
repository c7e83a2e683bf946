"""Citations in the ``citations.csv`` format: read (one or several reports) and write.

Columns: ``footnote`` and ``url`` are required; ``report``, ``report_title``, ``report_date``,
``context`` and ``accessed`` are optional. Rows of one footnote keep their file order as the
URLs' positions inside that footnote; a row with an empty ``url`` records a footnote that cites
no URL.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from ..csvsafe import restore, safe_row
from ..errors import InputError
from .model import CitedURL, ParsedReport, iso_date

REQUIRED_COLUMNS = ("footnote", "url")
COLUMNS = ("report", "report_title", "report_date", "footnote", "url", "context", "accessed")


def decode_utf8(path: Path, data: bytes) -> str:
    """Decode a report file as UTF-8 (with or without BOM), or say where it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise InputError(
            path,
            f"not valid UTF-8 (tried utf-8): byte 0x{bad} cannot be decoded; "
            "save the file as UTF-8 and import again",
            line,
        ) from None


def read_csv(path: Path) -> list[ParsedReport]:
    """Read a citations CSV; rows are grouped into one ParsedReport per ``report`` value."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from exc
    text = decode_utf8(path, data)
    del data
    if not text.strip():
        raise InputError(path, "file is empty")
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many locales save with ';'; the header tells which one this file uses.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(_lines(text), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        missing = [col for col in REQUIRED_COLUMNS if col not in header]
        if missing:
            raise InputError(
                path,
                f"missing required column(s): {', '.join(missing)} "
                f"(found: {', '.join(h for h in header if h) or 'none'})",
                1,
            )
        column = {name: i for i, name in enumerate(header)}  # a repeated name: its last column
        footnote_at, url_at = column["footnote"], column["url"]
        report_at, title_at, date_at, context_at, accessed_at = (
            column.get(name)
            for name in ("report", "report_title", "report_date", "context", "accessed")
        )
        width = len(header)
        reports: dict[str, ParsedReport] = {}
        # What each report's rows said last (title, date): a row saying the same is not re-read.
        report_fields: dict[str, tuple[str, str]] = {}
        seen: dict[tuple[str, int, str], int] = {}
        positions: dict[tuple[str, int], int] = {}
        for row in reader:
            line = reader.line_num
            if not "".join(row).strip():
                continue
            # Undo the quote `convert` (csvsafe) put before cells a spreadsheet would run.
            row = [restore(cell) if cell[:1] == "'" else cell for cell in row]
            if len(row) != width:
                raise InputError(path, f"expected {width} fields, found {len(row)}", line)
            report_key = "" if report_at is None else row[report_at].strip()
            fields = (
                "" if title_at is None else row[title_at].strip(),
                "" if date_at is None else row[date_at].strip(),
            )
            report = reports.get(report_key)
            if report is None:
                report = reports[report_key] = ParsedReport(path=str(path))
            if report_fields.get(report_key) != fields:
                _fill_report(path, line, report, report_key, *fields)
                report_fields[report_key] = fields
            number = _footnote_number(path, line, row[footnote_at].strip())
            url = row[url_at].strip()
            if not url:
                # A footnote the report has but that cites no URL: kept so that it is reported.
                report.markers_without_urls.append(number)
                continue
            key = (report_key, number, url)
            if key in seen:
                raise InputError(
                    path, f"footnote {number} cites {url} twice (also on line {seen[key]})", line
                )
            seen[key] = line
            position = positions[report_key, number] = positions.get((report_key, number), 0) + 1
            report.citations.append(
                CitedURL(
                    footnote=number,
                    position=position,
                    url=url,
                    context=(None if context_at is None else row[context_at].strip()) or None,
                    accessed=(
                        None
                        if accessed_at is None
                        else _date(path, line, "accessed", row[accessed_at].strip())
                    ),
                    line=line,
                )
            )
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV: {exc}", reader.line_num) from None
    if not reports:
        raise InputError(path, "no citation rows after the header")
    return list(reports.values())


# One line and its end: \r\n, \r or \n, as io.StringIO(text, newline="") splits them (the
# last line may have none; the match at the very end is empty). Linear: it never backtracks.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their ends, one at a time: what ``io.StringIO(text,
    newline="")`` yields, without its copy of the whole text (four bytes a character)."""
    for match in _LINE.finditer(text):
        line = match.group()
        if line:
            yield line


def _fill_report(
    path: Path, line: int, report: ParsedReport, report_key: str, title: str, date: str
) -> None:
    """Take the report's id, title and date from a row; rows of one report must agree."""
    report.report_id = report_key or None
    for attr, column, value in (("title", "report_title", title), ("date", "report_date", date)):
        if column == "report_date":
            value = _date(path, line, column, value) or ""
        if not value:
            continue
        current = getattr(report, attr)
        if current is not None and current != value:
            raise InputError(
                path,
                f"{column} {value!r} differs from {current!r} given earlier for this report",
                line,
            )
        setattr(report, attr, value)


def _footnote_number(path: Path, line: int, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InputError(path, f"footnote must be a positive whole number, got {text!r}", line)
    return int(text)


def _date(path: Path, line: int, column: str, text: str) -> str | None:
    if not text:
        return None
    try:
        return iso_date(text)
    except ValueError as exc:
        raise InputError(path, f"{column}: {exc}", line) from None


def write_csv(reports: Iterable[ParsedReport], out: TextIO) -> int:
    """Write reports' citations in the ``citations.csv`` format; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    for report in reports:
        entries = [(c.footnote, c.position, c.url, c.context, c.accessed) for c in report.citations]
        entries += [(n, 0, "", None, None) for n in report.markers_without_urls]
        for footnote, _, url, context, accessed in sorted(entries, key=lambda e: e[:2]):
            writer.writerow(
                safe_row(
                    (
                        report.report_id or "",
                        report.title or "",
                        report.date or "",
                        footnote,
                        url,
                        context or "",
                        accessed or "",
                    )
                )
            )
            rows += 1
    return rows
