"""What a bundle says about the report beside the WARC records: ``archiver/manifest.json``
(the report, every footnote with its URL, context, verdict history and Wayback copies, which
capture backs it, and each capture's provenance record) and ``pages/pages.jsonl`` (one page
per cited source, titled with its footnote number and citing sentence).

Both are written as pieces, a footnote or a capture at a time, so a report of thousands of
footnotes is never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlite_utils import Database

from ..views.jsonstream import dumps, json_list
from ..views.wayback import copies, nearest_copy
from .select import Citation, Selection

MANIFEST_FORMAT = "archiver-bundle-manifest/1"


def warc_ts(captured_at: str) -> str:
    """A capture time as WACZ pages and WARC-Date write it.

    >>> warc_ts("2018-04-03T10:00:00+00:00")
    '2018-04-03T10:00:00Z'
    """
    return datetime.fromisoformat(captured_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_pieces(
    db: Database,
    selection: Selection,
    names: dict[int, str],
    created: str,
    software: dict[str, str],
) -> Iterator[str]:
    """``archiver/manifest.json`` as pieces of text; ``names`` maps a capture id to its WARC
    file's path inside the bundle."""
    report = selection.report
    yield "{\n"
    yield f'  "format": {dumps(MANIFEST_FORMAT)},\n'
    yield f'  "created": {dumps(created)},\n'
    yield f'  "software": {dumps(software, 1)},\n'
    head = {"id": report["id"], "title": report["title"], "date": report["date"]}
    yield f'  "report": {dumps(head, 1)},\n'
    yield '  "footnotes": '
    yield from json_list(_footnotes(db, selection, names), 1)
    yield ',\n  "captures": '
    yield from json_list(_captures(db, selection, names), 1)
    yield "\n}\n"


def _footnotes(db: Database, selection: Selection, names: dict[int, str]) -> Iterator[str]:
    for footnote, group in groupby(selection.citations, key=lambda c: c.row["footnote"]):
        entry = {
            "footnote": footnote,
            "citations": [_citation(db, c, selection, names) for c in group],
        }
        yield "    " + dumps(entry, 2)


def _citation(
    db: Database, citation: Citation, selection: Selection, names: dict[int, str]
) -> dict[str, Any]:
    row = citation.row
    source_id = row["source_id"]
    state = next(db.table("source_state").rows_where("source_id = ?", [source_id]), None) or {}
    backed = selection.captures.get(citation.backed_by) if citation.backed_by else None
    return {
        "position": row["position"],
        "url": row["url"],
        "canonical_url": row["canonical_url"],
        "context": row["context"],
        "accessed": row["accessed"],
        "cited_on": citation.cited_on,
        "verdict": {
            "verdict": state.get("verdict") or "unchecked",
            "reason": state.get("reason"),
            "since": state.get("since"),
            "checked_at": state.get("checked_at"),
            "last_ok_at": state.get("last_ok_at"),
            "drifted": bool(state.get("drifted")),
        },
        "verdict_history": list(verdict_history(db, source_id)),
        "wayback": {"nearest": nearest_copy(db, source_id), "copies": copies(db, source_id)},
        "backed_by": {
            "capture": backed["id"],
            "warc": names[backed["id"]],
            "captured_at": backed["captured_at"],
            "holds": backed["holds"],
            "why": "the capture nearest the citation date"
            + (f" ({citation.cited_on})" if citation.cited_on else ""),
        }
        if backed
        else None,
        "captures": citation.captures,
    }


def verdict_history(db: Database, source_id: int) -> Iterator[dict[str, Any]]:
    """Each run of checks with one outcome, oldest first: what the checker saw and when (the
    checks of runs that found the network down are left out: they change no verdict)."""
    rows = db.query(
        "select checked_at, outcome, reason, status_code from checks "
        "where source_id = ? and counted = 1 order by id",
        [source_id],
    )
    current: dict[str, Any] | None = None
    for row in rows:
        if current is not None and current["verdict"] == row["outcome"]:
            current["to"] = row["checked_at"]
            current["checks"] += 1
            continue
        if current is not None:
            yield current
        current = {
            "verdict": row["outcome"],
            "reason": row["reason"],
            "http_status": row["status_code"],
            "from": row["checked_at"],
            "to": row["checked_at"],
            "checks": 1,
        }
    if current is not None:
        yield current


def _captures(db: Database, selection: Selection, names: dict[int, str]) -> Iterator[str]:
    for capture_id in selection.capture_ids():
        row = selection.captures[capture_id]
        stored = db.execute(
            "select provenance from captures where id = ?", [capture_id]
        ).fetchone()[0]
        entry = {
            "id": capture_id,
            "url": row["url"],
            "final_url": row["final_url"],
            "captured_at": row["captured_at"],
            "method": row["method"],
            "status": row["status"],
            "http_status": row["status_code"],
            "holds": row["holds"],
            "warc": names[capture_id],
            "warc_sha256": row["warc_sha256"],
            "why": row["why"],
            "provenance": json.loads(stored) if stored else None,
        }
        yield "    " + dumps(entry, 2)


def page_lines(db: Database, selection: Selection) -> Iterator[str]:
    """``pages/pages.jsonl``: a header, then one page per cited source that has a capture,
    titled "14. <the citing sentence>" ("3, 7. …" for a source two footnotes cite)."""
    title = selection.report["title"] or selection.report["id"]
    header = {"format": "json-pages-1.0", "id": "pages", "title": title, "hasText": True}
    yield json.dumps(header, ensure_ascii=False) + "\n"
    seen: dict[int, list[Citation]] = {}
    for citation in selection.citations:
        if citation.backed_by is not None:
            seen.setdefault(citation.row["source_id"], []).append(citation)
    for source_id, cited in seen.items():
        first = cited[0]
        capture = selection.captures[first.backed_by or 0]
        numbers = ", ".join(dict.fromkeys(str(c.row["footnote"]) for c in cited))
        context = next((c.row["context"] for c in cited if c.row["context"]), None)
        text = db.execute(
            "select text from capture_texts where capture_id = ?", [capture["id"]]
        ).fetchone()
        page = {
            "id": f"source-{source_id}",
            "url": capture["url"],
            "ts": warc_ts(capture["captured_at"]),
            "title": f"{numbers}. {context}" if context else f"{numbers}. {first.row['url']}",
            "text": (text[0] if text else None) or "",
        }
        yield json.dumps(page, ensure_ascii=False) + "\n"
