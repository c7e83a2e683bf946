"""Reports on a report's sources (Markdown, HTML, CSV, JSON) and annotated footnotes ready to
publish, all computed from ``citation_rows``."""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from typing import Any

from sqlite_utils import Database

from .status import citation_rows

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
    "use_instead",
    "context",
)


def summary_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Sources (not citations: a source cited twice counts once) per verdict, drifted, and
    how many have a Wayback or a local copy. ``rows`` are ``citation_rows``."""
    sources = {row["canonical_url"]: row for row in rows}.values()
    verdicts = Counter(row["verdict"] for row in sources)
    counts = {verdict: verdicts[verdict] for verdict in COUNTED if verdict != "drifted"}
    counts["drifted"] = sum(1 for row in sources if row["drifted"])
    counts["unchecked"] = verdicts["unchecked"]
    counts["sources"] = len(sources)
    counts["with_wayback"] = sum(1 for row in sources if row["wayback_url"])
    counts["with_local"] = sum(1 for row in sources if row["local_captured_at"])
    return {
        key: counts[key] for key in (*COUNTED, "unchecked", "sources", "with_wayback", "with_local")
    }


def _shown_verdict(row: dict[str, Any]) -> str:
    """A page that still answers but whose text changed is shown as drifted: that is the news.
    (The summary counts it both as its verdict and as drifted, as `archiver status` does.)"""
    return (
        "drifted" if row["drifted"] and row["verdict"] in ("ok", "redirected") else row["verdict"]
    )


def _date(timestamp: str | None) -> str | None:
    """A Wayback timestamp or an ISO time as the date people read.

    >>> _date("20180320101010"), _date("2026-11-25T15:35:52+00:00")
    ('2018-03-20', '2026-11-25')
    """
    if not timestamp:
        return None
    if "-" in timestamp:
        return timestamp[:10]
    return f"{timestamp[:4]}-{timestamp[4:6]}-{timestamp[6:8]}"


def _use_instead(row: dict[str, Any]) -> str | None:
    """What a reader of a broken or changed footnote should open instead."""
    if _shown_verdict(row) not in URGENCY:
        return None
    if row["wayback_url"]:
        return row["wayback_url"]
    if row["local_captured_at"]:
        return f"local copy: archiver get {row['footnote']} --report {row['report']} --open"
    return None


def ordered_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cited URL, dead, blocked and drifted first, then in footnote order."""
    out = [
        {
            "report": row["report"],
            "footnote": row["footnote"],
            "position": row["position"],
            "url": row["url"],
            "canonical_url": row["canonical_url"],
            "verdict": _shown_verdict(row),
            "since": row["since"],
            "wayback_url": row["wayback_url"],
            "wayback_date": _date(row["wayback_timestamp"]),
            "local_captured_at": row["local_captured_at"],
            "use_instead": _use_instead(row),
            "context": row["context"],
        }
        for row in rows
    ]
    return sorted(out, key=lambda r: (r["report"], URGENCY.get(r["verdict"], 9), r["footnote"]))


def build_report(db: Database, report_id: str | None = None) -> dict[str, Any]:
    """The report's summary and rows as plain data: every format is written from this."""
    rows = citation_rows(db, report_id)
    return {"report": report_id, "summary": summary_counts(rows), "rows": ordered_rows(rows)}


def render(data: dict[str, Any], output_format: str) -> str:
    """``build_report`` data as md, html, csv or json."""
    if output_format == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output_format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["report", *ROW_COLUMNS, "canonical_url"])
        writer.writeheader()
        writer.writerows(data["rows"])
        return out.getvalue()
    if output_format == "md":
        return _markdown(data)
    if output_format == "html":
        return _html(data)
    raise ValueError(f"unknown format {output_format!r}")


def _title(data: dict[str, Any]) -> str:
    return f"Sources of {data['report']}" if data["report"] else "Cited sources"


def _copies_text(row: dict[str, Any]) -> str:
    parts = []
    if row["wayback_url"]:
        parts.append(f"Wayback {row['wayback_date']}: {row['wayback_url']}")
    if row["local_captured_at"]:
        parts.append(f"local {_date(row['local_captured_at'])}")
    return "; ".join(parts) or "none"


def _md_cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def _markdown(data: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = [f"# {_title(data)}", "", "| " + " | ".join(summary) + " |"]
    lines.append("|" + "---|" * len(summary))
    lines.append("| " + " | ".join(str(n) for n in summary.values()) + " |")
    lines += ["", "| fn | URL | verdict | since | archived copies | use instead | context |"]
    lines.append("|---|---|---|---|---|---|---|")
    for row in data["rows"]:
        cells = (
            row["footnote"],
            row["url"],
            row["verdict"],
            row["since"],
            _copies_text(row),
            row["use_instead"],
            row["context"],
        )
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


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


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )


def _link(url: str | None) -> str:
    if not url:
        return ""
    if not url.startswith(("http://", "https://")):
        return html.escape(url)
    return f'<a href="{html.escape(url)}">{html.escape(url)}</a>'


def _html(data: dict[str, Any]) -> str:
    summary = data["summary"]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in summary)
    counts = "".join(f'<td class="count-{k}">{n}</td>' for k, n in summary.items())
    body = [f'<table class="summary"><tr>{head}</tr><tr>{counts}</tr></table>']
    body.append(
        '<table class="sources"><tr><th>fn</th><th>URL</th><th>verdict</th><th>since</th>'
        "<th>archived copies</th><th>use instead</th><th>context</th></tr>"
    )
    for row in data["rows"]:
        copies = []
        if row["wayback_url"]:
            copies.append(f"Wayback {row['wayback_date']}: {_link(row['wayback_url'])}")
        if row["local_captured_at"]:
            copies.append(f"local {_date(row['local_captured_at'])}")
        body.append(
            f'<tr class="{row["verdict"]}"><td>{row["footnote"]}</td>'
            f'<td class="url">{_link(row["url"])}</td><td>{row["verdict"]}</td>'
            f"<td>{html.escape(row['since'] or '')}</td>"
            f'<td class="copies">{"<br>".join(copies) or "none"}</td>'
            f'<td class="copies">{_link(row["use_instead"])}</td>'
            f"<td>{html.escape(row['context'] or '')}</td></tr>"
        )
    body.append("</table>\n")
    return _page(_title(data), "\n".join(body))


def annotated(data: dict[str, Any], output_format: str) -> str:
    """The footnotes ready to publish: each URL followed by its archived copy and date; in HTML
    as Robust Links (``data-versionurl``, ``data-versiondate``)."""
    rows = sorted(data["rows"], key=lambda r: (r["report"], r["footnote"], r["position"]))
    if output_format == "html":
        items = []
        for row in rows:
            url = html.escape(row["url"])
            if row["wayback_url"]:
                archive = html.escape(row["wayback_url"])
                items.append(
                    f'<li value="{row["footnote"]}"><a href="{url}" data-versionurl="{archive}" '
                    f'data-versiondate="{row["wayback_date"]}">{url}</a> '
                    f'(archived <a href="{archive}">{row["wayback_date"]}</a>)</li>'
                )
            else:
                items.append(f'<li value="{row["footnote"]}"><a href="{url}">{url}</a></li>')
        return _page(_title(data), '<ol class="footnotes">\n' + "\n".join(items) + "\n</ol>\n")
    if output_format in ("json", "csv"):
        raise ValueError("--annotated writes md or html")
    lines = []
    for row in rows:
        archived = (
            f" (archived {row['wayback_date']}: {row['wayback_url']})" if row["wayback_url"] else ""
        )
        lines.append(f"{row['footnote']}. {row['url']}{archived}")
    return "\n".join(lines) + "\n"
