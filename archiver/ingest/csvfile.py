"""Citations in the ``citations.csv`` format: read (one or several reports) and write.

Columns: ``footnote`` and ``url`` are required; ``report``, ``report_title``, ``report_date``,
``context`` and ``accessed`` are optional. Rows of one footnote keep their file order as the
URLs' positions inside that footnote; a row with an empty ``url`` records a footnote that cites
no URL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..errors import InputError
from .model import CitedURL, ParsedReport, iso_date

REQUIRED_COLUMNS = ("footnote", "url")
OPTIONAL_COLUMNS = ("report", "report_title", "report_date", "context", "accessed")
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
    if not text.strip():
        raise InputError(path, "file is empty")
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many locales save with ';'; the header tells which one this file uses.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
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
        reports: dict[str, ParsedReport] = {}
        seen: dict[tuple[str, int, str], int] = {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(path, f"expected {len(header)} fields, found {len(row)}", line)
            record = dict(zip(header, (cell.strip() for cell in row), strict=True))
            report_key = record.get("report", "")
            report = reports.setdefault(report_key, ParsedReport(path=str(path)))
            _fill_report(path, line, report, report_key, record)
            number = _footnote_number(path, line, record["footnote"])
            url = record["url"]
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
            position = 1 + sum(1 for c in report.citations if c.footnote == number)
            report.citations.append(
                CitedURL(
                    footnote=number,
                    position=position,
                    url=url,
                    context=record.get("context") or None,
                    accessed=_date(path, line, "accessed", record.get("accessed", "")),
                    line=line,
                )
            )
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV: {exc}", reader.line_num) from None
    if not reports:
        raise InputError(path, "no citation rows after the header")
    return list(reports.values())


def _fill_report(
    path: Path, line: int, report: ParsedReport, report_key: str, record: dict[str, str]
) -> None:
    """Take the report's id, title and date from a row; rows of one report must agree."""
    report.report_id = report_key or None
    for attr, column in (("title", "report_title"), ("date", "report_date")):
        value = record.get(column, "")
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
            rows += 1
    return rows
