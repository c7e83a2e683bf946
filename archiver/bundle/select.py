"""Which captures go in a report's bundle, and which one backs each footnote.

For each cited source: the capture nearest the citation date (among copies that hold the
cited content, the latest from on or before the date, else the earliest after; when none
holds it, the same rule over every copy) and the newest capture; every capture with ``all``.
A capture whose records are revisits (the payload was stored already) needs the capture
that stored the payload: it goes in too, so the bundle replays without anything outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from ..errors import ArchiverError
from ..store import require_report

_CAPTURE_COLUMNS = (
    "id, source_id, url, final_url, captured_at, status, status_code, holds, method, "
    "warc_path, warc_sha256, payload_sha256, title"
)


@dataclass
class Citation:
    """One URL of one footnote, with the date it was cited on and the captures behind it."""

    row: dict[str, Any]
    cited_on: str | None
    backed_by: int | None = None
    captures: list[int] = field(default_factory=list)


@dataclass
class Selection:
    """A report's citations and the captures to bundle, each with why it is there."""

    report: dict[str, Any]
    citations: list[Citation]
    captures: dict[int, dict[str, Any]]  # capture id → its row, with "why": [reasons]

    def capture_ids(self) -> list[int]:
        return sorted(self.captures)


def select_captures(db: Database, report_id: str, *, all_captures: bool = False) -> Selection:
    """The captures that make a report's bundle (``all_captures``: every one of its sources)."""
    require_report(db, report_id)
    report = dict(db.table("reports").get(report_id))
    citations = [
        Citation(dict(row), row["accessed"] or report["date"])
        for row in db.query(
            "select c.*, s.canonical_url from citations c join sources s on s.id = c.source_id "
            "where c.report_id = ? and c.removed_at is null order by c.footnote, c.position",
            [report_id],
        )
    ]
    chosen: dict[int, dict[str, Any]] = {}
    by_source: dict[int, list[dict[str, Any]]] = {}
    for citation in citations:
        source_id = citation.row["source_id"]
        if source_id not in by_source:
            by_source[source_id] = [
                dict(row)
                for row in db.query(
                    f"select {_CAPTURE_COLUMNS} from captures where source_id = ? "
                    "and warc_path is not null order by captured_at, id",
                    [source_id],
                )
            ]
        found = by_source[source_id]
        if not found:
            continue
        nearest = nearest_capture(found, citation.cited_on)
        citation.backed_by = nearest["id"]
        footnote = citation.row["footnote"]
        _choose(chosen, nearest, f"nearest the citation date of footnote {footnote}")
        _choose(chosen, found[-1], "the latest capture")
        if all_captures:
            for row in found:
                _choose(chosen, row, "every capture (--all)")
    for row in _revisit_originals(db, list(chosen)):
        _choose(chosen, row, "stores payloads that the other captures' revisit records point to")
    for citation in citations:
        citation.captures = [
            c["id"] for c in by_source.get(citation.row["source_id"], []) if c["id"] in chosen
        ]
    if not chosen:
        raise ArchiverError(
            f"report {report_id}: none of its sources has a local capture yet "
            f"(run `archiver capture --report {report_id}` first)"
        )
    return Selection(report, citations, chosen)


def nearest_capture(captures: list[dict[str, Any]], cited_on: str | None) -> dict[str, Any]:
    """The capture (oldest first in ``captures``) nearest the citation date.

    >>> rows = [{"captured_at": d, "holds": h} for d, h in
    ...         [("2018-01-02", "content"), ("2018-05-01", "content"), ("2019-01-01", "content")]]
    >>> nearest_capture(rows, "2018-04-03")["captured_at"]
    '2018-01-02'
    >>> nearest_capture(rows, "2017-01-01")["captured_at"]
    '2018-01-02'
    """
    holding = [c for c in captures if c["holds"] == "content"] or captures
    if cited_on:
        before = [c for c in holding if c["captured_at"][:10] <= cited_on]
        if before:
            return before[-1]
    return holding[0]


def _choose(chosen: dict[int, dict[str, Any]], row: dict[str, Any], why: str) -> None:
    entry = chosen.setdefault(row["id"], {**row, "why": []})
    if why not in entry["why"]:
        entry["why"].append(why)


def _revisit_originals(db: Database, capture_ids: list[int]) -> list[dict[str, Any]]:
    """Captures holding the first stored copy of payloads the given captures revisit."""
    db.execute("create temp table if not exists bundle_captures (id integer primary key)")
    db.execute("delete from bundle_captures")
    db.conn.executemany("insert into bundle_captures values (?)", [(i,) for i in capture_ids])
    rows = [
        dict(row)
        for row in db.query(
            f"""select {_CAPTURE_COLUMNS} from captures where warc_path is not null and id in (
                  select capture_id from capture_resources where id in (
                    select min(r.id) from capture_resources r
                    where r.revisit_of is null and r.truncated = 0 and r.record_id is not null
                      and r.payload_sha256 in (
                        select v.payload_sha256 from capture_resources v
                        join bundle_captures b on b.id = v.capture_id
                        where v.revisit_of is not null)
                    group by r.payload_sha256))
                and id not in (select id from bundle_captures)
                order by id"""
        )
    ]
    db.execute("delete from bundle_captures")
    return rows
