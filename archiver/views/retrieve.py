"""Finding what is stored for a cited source: ``get``, ``search`` and ``export``."""

from __future__ import annotations

import mimetypes
import re
import sqlite3
import webbrowser
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from lxml import html as lxml_html
from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator

from ..capture.requisites import rewrite_css, rewrite_html
from ..errors import ArchiverError, InvalidURL, StorageError
from ..pagetext import decode_body
from ..store import private, require_report
from ..urls import canonical_url
from .wayback import copies, nearest_copy


def resolve_ref(db: Database, ref: str, report_id: str | None) -> list[int]:
    """Source ids for a REF: a URL, or a footnote number of ``report_id`` (maybe two URLs)."""
    if ref.isdigit():
        if report_id is None:
            raise ArchiverError(f"footnote {ref}: say which report with --report")
        require_report(db, report_id)
        rows = list(
            db.query(
                "select source_id from citations where report_id = ? and footnote = ? "
                "and removed_at is null order by position",
                [report_id, int(ref)],
            )
        )
        if not rows:
            raise ArchiverError(f"report {report_id} has no footnote {ref} with a URL")
        return [row["source_id"] for row in rows]
    try:
        key = canonical_url(ref)
    except InvalidURL as exc:
        raise ArchiverError(f"{ref}: not a footnote number or a URL ({exc})") from None
    row = next(db.table("sources").rows_where("canonical_url = ?", [key], select="id"), None)
    if row is None:
        raise ArchiverError(f"{ref} is not a cited source in this database")
    return [row["id"]]


def source_copies(db: Database, source_id: int, data_dir: Path) -> dict[str, Any]:
    """Everything stored about one source: verdict, citations, and its local copies."""
    source = db.table("sources").get(source_id)
    state = next(db.table("source_state").rows_where("source_id = ?", [source_id]), None) or {}
    citations = [
        {
            "report": r["report_id"],
            "footnote": r["footnote"],
            "position": r["position"],
            "url": r["url"],
            "context": r["context"],
        }
        for r in db.table("citations").rows_where(
            "source_id = ? and removed_at is null", [source_id], order_by="report_id, footnote"
        )
    ]
    captures = [
        {
            "captured_at": c["captured_at"],
            "status": c["status"],
            "http_status": c["status_code"],
            "warc": c["warc_path"],
            "sha256": c["payload_sha256"],
            "truncated": bool(c["truncated"]),
            "error": c["error_type"],
        }
        for c in db.table("captures").rows_where("source_id = ?", [source_id], order_by="id desc")
    ]
    full = next((c for c in captures if c["status"] == "captured"), None)
    latest = next((c for c in captures if c["status"] != "failed"), None)
    local = None
    if full is not None and latest is not None:
        local = {
            "path": str((data_dir / full["warc"]).resolve()),
            "sha256": full["sha256"],
            # A later revisit confirmed the same content: that is when it was last seen so.
            "captured_at": latest["captured_at"],
            "warc": full["warc"],
        }
    verdict = state.get("verdict") or "unchecked"
    nearest = nearest_copy(db, source_id)
    snapshots = copies(db, source_id)
    ordered = _copies_in_order(
        live=state.get("final_url") or source["url"] if verdict in ("ok", "redirected") else None,
        nearest=nearest,
        newest=next((s for s in reversed(snapshots) if s["status"] in (200, None)), None),
        local=local,
    )
    return {
        "url": citations[0]["url"] if citations else source["url"],
        "canonical_url": source["canonical_url"],
        "verdict": verdict,
        "reason": state.get("reason"),
        "since": state.get("since"),
        "checked_at": state.get("checked_at"),
        "final_url": state.get("final_url"),
        "drifted": bool(state.get("drifted")),
        "citations": citations,
        "local": local,
        "captures": captures,
        "wayback": nearest,
        "wayback_copies": snapshots,
        "copies": ordered,
        "best": ordered[0]["kind"] if ordered else None,
    }


def _copies_in_order(
    live: str | None,
    nearest: dict[str, Any] | None,
    newest: dict[str, Any] | None,
    local: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The copies a reader can open, most useful first: the page itself while it is fine, the
    Archive's copy from when it was cited, its newest copy, then our own capture."""
    found: list[dict[str, Any]] = []
    if live:
        found.append({"kind": "live", "url": live})
    if nearest:
        found.append(
            {"kind": "wayback_nearest", "url": nearest["url"], "timestamp": nearest["timestamp"]}
        )
    if newest and (nearest is None or newest["url"] != nearest["url"]):
        found.append(
            {"kind": "wayback_newest", "url": newest["url"], "timestamp": newest["timestamp"]}
        )
    if local:
        found.append({"kind": "local", "path": local["path"], "captured_at": local["captured_at"]})
    return found


def open_best(db: Database, source_id: int, found: dict[str, Any], data_dir: Path) -> str | None:
    """Open ``found["copies"][0]`` in a browser; a local capture is exported first, under
    ``data_dir/exports``, so it opens offline. Returns what was opened, or None."""
    if not found["copies"]:
        return None
    best = found["copies"][0]
    target = best.get("url")
    if best["kind"] == "local":
        out_dir = data_dir / "exports" / f"{source_id}-{(found['local']['sha256'] or '')[:12]}"
        target = export_capture(db, source_id, data_dir, out_dir).resolve().as_uri()
    webbrowser.open(target)
    return target


def search_text(
    db: Database, query: str, report_id: str | None = None, limit: int = 50
) -> Iterator[dict[str, Any]]:
    """Sources whose newest captured text matches ``query`` (FTS5), best first, with their
    footnotes and a snippet; each result is read as it is used."""
    if not query.strip():
        raise ArchiverError("empty search query")
    params: list[Any] = []
    scope = ""
    if report_id is not None:
        require_report(db, report_id)
        scope = "and t.source_id in (select source_id from citations where report_id = ?)"
        params.append(report_id)
    sql = f"""
        select t.source_id, t.title, s.url,
               snippet(capture_texts_fts, 1, '[', ']', '…', 16) as snippet
        from capture_texts_fts f
        join capture_texts t on t.capture_id = f.rowid
        join sources s on s.id = t.source_id
        where capture_texts_fts match ?
          and t.capture_id = (select max(capture_id) from capture_texts
                              where source_id = t.source_id)
          {scope}
        order by f.rank limit {int(limit)}
    """
    try:
        cursor = db.execute(sql, [query, *params])
    except sqlite3.OperationalError:
        # Not valid FTS5 syntax (a stray quote, colon or dash): search the words literally.
        quoted = " ".join('"' + word.replace('"', '""') + '"' for word in query.split())
        cursor = db.execute(sql, [quoted, *params])
    return _with_footnotes(db, cursor, report_id)


def _with_footnotes(
    db: Database, cursor: sqlite3.Cursor, report_id: str | None
) -> Iterator[dict[str, Any]]:
    keys = [d[0] for d in cursor.description]
    try:
        for values in cursor:
            row = dict(zip(keys, values, strict=True))
            row["footnotes"] = [
                {"report": c["report_id"], "footnote": c["footnote"]}
                for c in db.table("citations").rows_where(
                    "source_id = ? and removed_at is null"
                    + (" and report_id = ?" if report_id is not None else ""),
                    [row["source_id"], *([report_id] if report_id is not None else [])],
                    order_by="report_id, footnote",
                )
            ]
            yield row
    finally:
        cursor.close()


def export_capture(db: Database, source_id: int, data_dir: Path, out_dir: Path) -> Path:
    """Write the newest full capture as ``index.html`` plus ``files/``, openable offline."""
    try:
        return _export(db, source_id, data_dir, out_dir)
    except OSError as exc:
        raise StorageError(exc.filename or out_dir, exc) from exc


def _export(db: Database, source_id: int, data_dir: Path, out_dir: Path) -> Path:
    capture = next(
        db.table("captures").rows_where(
            "source_id = ? and status = 'captured'", [source_id], order_by="id desc", limit=1
        ),
        None,
    )
    if capture is None:
        raise ArchiverError("no local copy of this source yet: run `archiver capture` first")
    resources = list(
        db.table("capture_resources").rows_where(
            "capture_id = ? and role != 'redirect'", [capture["id"]], order_by="id"
        )
    )
    files = out_dir / "files"
    private.make_dirs(files)  # an export is a capture too: its owner's alone
    # Names first, from the stored rows; then one body at a time, so a page with large
    # requisites is never held in memory whole.
    names = {
        r["url"]: _file_name(r["url"], r["content_type"] or "", r["payload_sha256"])
        for r in resources
        if r["role"] == "requisite" and (r["status_code"] or 0) < 400
    }
    for resource in resources:
        name = names.get(resource["url"])
        if resource["role"] != "requisite" or name is None:
            continue
        body, content_type = _payload(db, data_dir, capture["warc_path"], resource)
        if content_type.split(";")[0].strip().lower() == "text/css":
            css = decode_body(body, content_type)
            body = rewrite_css(css, resource["url"], lambda u: names.get(u or "")).encode("utf-8")
        private.write_bytes(files / name, body)
    page = next(r for r in resources if r["role"] == "page")
    body, content_type = _payload(db, data_dir, capture["warc_path"], page)
    markup = decode_body(body, content_type)
    rewritten = rewrite_html(
        markup, page["url"], lambda u: f"files/{names[u]}" if u in names else None
    )
    index = out_dir / "index.html"
    private.write_bytes(index, _declare_utf8(rewritten).encode("utf-8"))
    return index


def _payload(
    db: Database, data_dir: Path, warc_path: str, resource: dict[str, Any]
) -> tuple[bytes, str]:
    """A resource's body, decoded from its content encoding, read from its WARC record."""
    offset, path = resource["record_offset"], warc_path
    if resource["revisit_of"] is not None:
        # The body is in the capture that first stored this payload.
        original = next(
            db.query(
                "select r.record_offset, c.warc_path from capture_resources r "
                "join captures c on c.id = r.capture_id "
                "where r.payload_sha256 = ? and r.revisit_of is null limit 1",
                [resource["payload_sha256"]],
            ),
            None,
        )
        if original is None:
            return b"", resource["content_type"] or ""
        offset, path = original["record_offset"], original["warc_path"]
    with (data_dir / path).open("rb") as f:
        f.seek(offset)
        record = next(iter(ArchiveIterator(f)))
        content_type = record.http_headers.get_header("Content-Type") or ""
        return record.content_stream().read(), content_type


def _file_name(url: str, content_type: str, sha256: str | None) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        suffix = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    return f"{(sha256 or 'unknown')[:16]}{suffix}"


def _declare_utf8(markup: str) -> str:
    """The export is written as UTF-8: say so, replacing the page's own charset declaration."""
    tree = lxml_html.fromstring(markup)
    for meta in tree.xpath(
        "//meta[@charset]|//meta[translate(@http-equiv,'CONTENT-YP','content-yp')='content-type']"
    ):
        meta.drop_tree()
    head = tree.find("head")
    if head is None:
        head = lxml_html.Element("head")
        tree.insert(0, head)
    head.insert(0, lxml_html.Element("meta", charset="utf-8"))
    return str(lxml_html.tostring(tree, encoding="unicode", doctype="<!DOCTYPE html>"))
