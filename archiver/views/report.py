"""Reports on a report's sources (Markdown, HTML, CSV, JSON) and annotated footnotes ready to
publish, written as their rows are read from the same columns as ``citation_rows``."""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlite_utils import Database

from ..config import DEFAULTS
from ..csvsafe import safe_dict
from ..store import require_report
from ..textsafe import shown
from .bestcopy import (
    BEST_COPY,
    BEST_COPY_CSV,
    flat_best_copy,
    folder_param,
    no_content,
    with_best_copy,
)
from .jsonstream import SQLObject, dumps, json_array, json_list, json_object_sql
from .status import citation_query, stream_rows, stream_tuples

# The verdicts the summary counts, in the order people read them.
COUNTED = ("ok", "redirected", "drifted", "soft_404", "blocked", "failing", "dead")
# What a reader needs to act on comes first.
URGENCY = {"dead": 0, "blocked": 1, "drifted": 2, "soft_404": 3, "failing": 4}
ROW_COLUMNS = (
    "footnote",
    "position",
    "url",
    "verdict",
    "since",
    "wayback_url",
    "wayback_date",
    "local_captured_at",
    "mementos",
    "reason",
    "vantages_failed",
    "use_instead",
    "context",
    "last_ok_at",
    *(name for name, _ in BEST_COPY_CSV),
)


# The verdict a report shows: a page that still answers but whose text changed is shown as
# drifted, since that is the news (the summary counts it both as its verdict and as drifted,
# as `archiver status` does).
_SHOWN = (
    "case when m.drifted and m.verdict in ('ok', 'redirected') then 'drifted' else m.verdict end"
)
_URGENCY = f"case {_SHOWN} " + " ".join(f"when '{v}' then {n}" for v, n in URGENCY.items())
_URGENCY += " else 9 end"
# The earliest local copy that holds the cited content (not a block page or a login wall).
_LOCAL = "m.local_content_at"
# What a reader of a broken or changed footnote should open instead: its best copy.
_USE_INSTEAD = (
    f"case when {_URGENCY} < 9 then case m.best_kind when 'local' then "
    "'local copy: archiver get ' || c.footnote || ' --report ' || c.report_id || ' --open' "
    "else m.best_url end end"
)
# Each column of a report row and the SQL that reads it.
REPORT_COLUMNS: tuple[tuple[str, str | SQLObject], ...] = (
    ("report", "c.report_id"),
    ("footnote", "c.footnote"),
    ("position", "c.position"),
    ("url", "c.url"),
    ("canonical_url", "m.canonical_url"),
    ("verdict", _SHOWN),
    ("since", "m.since"),
    ("last_ok_at", "m.last_ok_at"),
    ("wayback_url", "m.wayback_url"),
    (
        "wayback_date",
        "substr(m.wayback_timestamp, 1, 4) || '-' || substr(m.wayback_timestamp, 5, 2) "
        "|| '-' || substr(m.wayback_timestamp, 7, 2)",
    ),
    ("local_captured_at", _LOCAL),
    # The other web archives holding a memento of its content ("loc 2018-03-20, …").
    ("mementos", "m.mementos"),
    ("reason", "m.reason"),
    # Blocked from here and not from elsewhere (`regional`): where it could not be reached.
    ("vantages_failed", "m.vantages_failed"),
    ("use_instead", _USE_INSTEAD),
    ("context", "c.context"),
    ("best_copy", BEST_COPY),
)
# The rows as plain values: the best copy as its columns, folded into a dict as it is read.
_ROW_KEYS = [name for name, expr in REPORT_COLUMNS if isinstance(expr, str)]
_ROW_SELECT = ", ".join(
    [expr for _, expr in REPORT_COLUMNS if isinstance(expr, str)]
    + [expr for _, expr in BEST_COPY_CSV]
)
# Dead, blocked and drifted first, then in footnote order.
_BY_URGENCY = f"{_URGENCY}, c.footnote, c.position"


def summary_counts(db: Database, report_id: str | None = None) -> dict[str, int]:
    """Sources (not citations: a source cited twice counts once) per verdict, drifted, and
    how many have a Wayback or a local copy, counted by SQLite."""
    scope, params = "removed_at is null", []
    if report_id is not None:
        require_report(db, report_id)
        scope += " and report_id = ?"
        params.append(report_id)
    sql = f"""
        select m.verdict, count(*) as n, sum(m.drifted != 0) as drifted,
               sum(m.wayback_url is not null) as with_wayback,
               sum(m.local_content_at is not null) as with_local
        from (select distinct source_id from citations where {scope}) cited
        join source_status m on m.source_id = cited.source_id
        group by 1
    """
    counts = dict.fromkeys((*COUNTED, "unchecked", "sources", "with_wayback", "with_local"), 0)
    for row in db.execute(sql, params).fetchall():
        verdict, n, drifted, with_wayback, with_local = row
        if verdict in counts and verdict != "drifted":
            counts[verdict] += n
        counts["sources"] += n
        counts["drifted"] += drifted
        counts["with_wayback"] += with_wayback
        counts["with_local"] += with_local
    return counts


def _report_ids(db: Database, report_id: str | None) -> list[str]:
    if report_id is not None:
        require_report(db, report_id)
        return [report_id]
    return [r[0] for r in db.execute("select id from reports order by id").fetchall()]


def ordered_rows(
    db: Database,
    report_id: str | None = None,
    data_dir: Path = DEFAULTS.data_dir,
    *,
    by_urgency: bool = True,
) -> Iterator[dict[str, Any]]:
    """One row per cited URL, dead, blocked and drifted first, then in footnote order (or in
    footnote order only, ``by_urgency=False``, as the dashboard lists them): one query per
    report, so the first row comes at once and no report is sorted in memory."""
    folder = [folder_param(data_dir)]
    order_by = _BY_URGENCY if by_urgency else "c.footnote, c.position"
    for rid in _report_ids(db, report_id):
        sql, params = citation_query(db, _ROW_SELECT, rid, order_by=order_by, select_params=folder)
        yield from with_best_copy(_ROW_KEYS, stream_tuples(db, sql, params))


def report_overview(db: Database, report_id: str) -> dict[str, Any]:
    """What the list of reports shows beside the summary: ``without_content``, how many
    footnotes need a copy (dead, blocked, drifted, soft 404, failing) and have none that holds
    the cited content (the rows whose "use instead" says so), and ``last_checked``, when one
    of its sources was last checked."""
    columns = dict(REPORT_COLUMNS)
    needy = ", ".join(f"'{verdict}'" for verdict in URGENCY)
    inner, params = citation_query(
        db,
        f"c.footnote as footnote, {columns['verdict']} as verdict, "
        f"{columns['use_instead']} as use_instead, m.checked_at as checked_at",
        report_id,
    )
    sql = (
        "select count(distinct case when verdict in (" + needy + ") and use_instead is null "
        f"then footnote end), max(checked_at) from ({inner})"
    )
    without, last = db.execute(sql, params).fetchone()
    return {"without_content": without, "last_checked": last}


def _ordered_json(db: Database, report_id: str | None, data_dir: Path) -> Iterator[str]:
    """``ordered_rows`` as JSON list elements, written by SQLite."""
    select = json_object_sql(REPORT_COLUMNS, level=1) + " as row"
    folder = [folder_param(data_dir)]
    for rid in _report_ids(db, report_id):
        sql, params = citation_query(db, select, rid, order_by=_BY_URGENCY, select_params=folder)
        yield from (row for (row,) in stream_tuples(db, sql, params))


def build_report(
    db: Database, report_id: str | None = None, data_dir: Path = DEFAULTS.data_dir
) -> dict[str, Any]:
    """The report's summary and rows as plain data: every format is written from this.
    ``rows`` is an iterator, read once: a report of a million rows is never held."""
    return {
        "report": report_id,
        "summary": summary_counts(db, report_id),
        "rows": ordered_rows(db, report_id, data_dir),
    }


def write_report(
    db: Database,
    report_id: str | None,
    output_format: str,
    out: TextIO,
    data_dir: Path = DEFAULTS.data_dir,
) -> None:
    """Write the report in md, html, csv or json to ``out`` as its rows are read (local
    copies are in ``data_dir``)."""
    if output_format == "json":
        summary = summary_counts(db, report_id)
        out.write(f'{{\n  "report": {dumps(report_id, 1)},\n  "summary": {dumps(summary, 1)},')
        out.write('\n  "rows": ')
        out.writelines(json_list(_ordered_json(db, report_id, data_dir), level=1))
        out.write("\n}\n")
        return
    out.writelines(_pieces(build_report(db, report_id, data_dir), output_format))


def render(data: dict[str, Any], output_format: str) -> str:
    """``build_report`` data as md, html, csv or json."""
    return "".join(_pieces(data, output_format))


def _pieces(data: dict[str, Any], output_format: str) -> Iterator[str]:
    if output_format == "json":
        yield f'{{\n  "report": {dumps(data["report"], 1)},\n  "summary": '
        yield f'{dumps(data["summary"], 1)},\n  "rows": '
        yield from json_array(data["rows"], level=1)
        yield "\n}\n"
    elif output_format == "csv":
        yield from _csv(data["rows"])
    elif output_format == "md":
        yield from map(shown, _markdown(data))
    elif output_format == "html":
        yield from map(shown, _html(data))
    else:
        raise ValueError(f"unknown format {output_format!r}")


def _csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    line = _Line()
    writer = csv.DictWriter(line, fieldnames=["report", *ROW_COLUMNS, "canonical_url"])
    writer.writeheader()
    yield line.take()
    for row in rows:
        flat = {k: v for k, v in row.items() if k != "best_copy"} | flat_best_copy(row)
        writer.writerow(safe_dict(flat))  # no cell may start a spreadsheet formula
        yield line.take()


class _Line:
    """What a csv writer wrote last, taken one row at a time."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def take(self) -> str:
        text, self.text = self.text, ""
        return text


def _date(timestamp: str | None) -> str | None:
    """An ISO time as the date people read.

    >>> _date("2026-11-25T15:35:52+00:00")
    '2026-11-25'
    """
    return timestamp[:10] if timestamp else None


def _title(data: dict[str, Any]) -> str:
    return f"Sources of {data['report']}" if data["report"] else "Cited sources"


def _copies_text(row: dict[str, Any]) -> str:
    parts = []
    if row["wayback_url"]:
        parts.append(f"Wayback {row['wayback_date']}: {row['wayback_url']}")
    if row["local_captured_at"]:
        parts.append(f"local {_date(row['local_captured_at'])}")
    if row["mementos"]:
        parts.append(row["mementos"])
    return "; ".join(parts) or "none"


def _verdict_text(row: dict[str, Any]) -> str:
    """The verdict as a reader needs it: a regional block says where it was not reachable."""
    if row["reason"] == "regional" and row["verdict"] == "blocked":
        return f"blocked (regional: not from {row['vantages_failed'] or 'here'})"
    return str(row["verdict"])


# Characters that make Markdown raw HTML, a link or image, code, emphasis or a new cell: a
# hostile context or URL stays text in its table cell.
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]<>|!"} | {"\n": " ", "\r": " "})


def _use_instead(row: dict[str, Any]) -> str | None:
    """What to open instead, or, for a footnote that needs one, that there is nothing."""
    if row["use_instead"] is None and row["verdict"] in URGENCY:
        return no_content(row.get("last_ok_at"))
    return row["use_instead"]


def _drift_note(row: dict[str, Any]) -> str:
    best = row.get("best_copy")
    return " (its text changed since it was cited)" if best and best["drifted"] else ""


def _best_text(row: dict[str, Any]) -> str:
    """The best copy in a few words: its kind and date, flagged when its text drifted."""
    best = row.get("best_copy")
    if best is None:
        return "none"
    kind = f"{best['kind']} in {best['archive']}" if best.get("archive") else best["kind"]
    return f"{kind} {_date(best['captured_at']) or ''}".rstrip() + _drift_note(row)


def _md_cell(text: Any) -> str:
    return str(text or "").translate(_MD_SPECIAL)


def _markdown(data: dict[str, Any]) -> Iterator[str]:
    summary = data["summary"]
    yield f"# {_md_cell(_title(data))}\n\n| " + " | ".join(summary) + " |\n"
    yield "|" + "---|" * len(summary) + "\n"
    yield "| " + " | ".join(str(n) for n in summary.values()) + " |\n"
    yield "\n| fn | URL | verdict | since | archived copies | best copy | use instead | context |\n"
    yield "|---|---|---|---|---|---|---|---|\n"
    for row in data["rows"]:
        use_instead = _use_instead(row)
        cells = (
            row["footnote"],
            row["url"],
            _verdict_text(row),
            row["since"],
            _copies_text(row),
            _best_text(row),
            use_instead and use_instead + _drift_note(row),
            row["context"],
        )
        yield "| " + " | ".join(_md_cell(c) for c in cells) + " |\n"


# Inline so the file stands alone: no fonts, images or scripts fetched when it is opened.
_CSS = """
body { font: 15px/1.45 Georgia, serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; vertical-align: top; text-align: left; }
th { background: #eee; }
td.url, td.copies { word-break: break-all; font-size: .9em; }
tr.dead td, tr.blocked td { background: #fde8e8; }
tr.drifted td, tr.soft_404 td, tr.failing td { background: #fff6dc; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  tr { page-break-inside: avoid; }
  a { color: inherit; }
}
"""


def _page_start(title: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n"
    )


_PAGE_END = "</body></html>\n"


def _link(url: str | None) -> str:
    if not url:
        return ""
    if not url.startswith(("http://", "https://")):
        return html.escape(url)
    return f'<a href="{html.escape(url)}">{html.escape(url)}</a>'


def _html(data: dict[str, Any]) -> Iterator[str]:
    summary = data["summary"]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in summary)
    counts = "".join(f'<td class="count-{html.escape(k)}">{n}</td>' for k, n in summary.items())
    yield _page_start(_title(data))
    yield f'<table class="summary"><tr>{head}</tr><tr>{counts}</tr></table>\n'
    yield (
        '<table class="sources"><tr><th>fn</th><th>URL</th><th>verdict</th><th>since</th>'
        "<th>archived copies</th><th>best copy</th><th>use instead</th><th>context</th></tr>\n"
    )
    for row in data["rows"]:
        copies = []
        if row["wayback_url"]:
            copies.append(f"Wayback {row['wayback_date']}: {_link(row['wayback_url'])}")
        if row["local_captured_at"]:
            copies.append(f"local {html.escape(_date(row['local_captured_at']) or '')}")
        if row["mementos"]:
            copies.append(html.escape(row["mementos"]))
        yield (
            f'<tr class="{html.escape(row["verdict"])}"><td>{row["footnote"]}</td>'
            f'<td class="url">{_link(row["url"])}</td><td>{html.escape(_verdict_text(row))}</td>'
            f"<td>{html.escape(row['since'] or '')}</td>"
            f'<td class="copies">{"<br>".join(copies) or "none"}</td>'
            f'<td class="best">{html.escape(_best_text(row))}</td>'
            f'<td class="copies">{_link(_use_instead(row))}{html.escape(_drift_note(row))}</td>'
            f"<td>{html.escape(row['context'] or '')}</td></tr>\n"
        )
    yield "</table>\n" + _PAGE_END


def write_annotated(db: Database, report_id: str | None, output_format: str, out: TextIO) -> None:
    """The footnotes ready to publish, in footnote order: each URL followed by its archived
    copy and date; in HTML as Robust Links (``data-versionurl``, ``data-versiondate``)."""
    if output_format not in ("md", "html"):
        raise ValueError("--annotated writes md or html")
    select = ", ".join(
        f"{expr} as {name}"
        for name, expr in REPORT_COLUMNS
        if name in ("footnote", "url", "wayback_url", "wayback_date")
    )
    rows = stream_rows(db, *citation_query(db, select, report_id))
    title = f"Sources of {report_id}" if report_id else "Cited sources"
    if output_format == "md":
        # A URL may hold what Markdown reads as HTML or a link ("…/[x](javascript:…)"): escaped.
        for row in rows:
            archived = (
                f" (archived {row['wayback_date']}: {_md_cell(row['wayback_url'])})"
                if row["wayback_url"]
                else ""
            )
            out.write(shown(f"{row['footnote']}. {_md_cell(row['url'])}{archived}\n"))
        return
    out.write(_page_start(title) + '<ol class="footnotes">\n')
    for row in rows:
        url = html.escape(row["url"])
        if row["wayback_url"]:
            archive = html.escape(row["wayback_url"])
            date = html.escape(row["wayback_date"])
            out.write(
                shown(
                    f'<li value="{row["footnote"]}"><a href="{url}" data-versionurl="{archive}" '
                    f'data-versiondate="{date}">{url}</a> (archived <a href="{archive}">{date}</a>)'
                    "</li>\n"
                )
            )
        else:
            out.write(shown(f'<li value="{row["footnote"]}"><a href="{url}">{url}</a></li>\n'))
    out.write("</ol>\n" + _PAGE_END)
