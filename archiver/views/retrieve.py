"""Finding what is stored for a cited source: ``get``, ``search`` and ``export``."""

from __future__ import annotations

import json
import sqlite3
import webbrowser
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator

from ..capture.requisites import rewrite_css
from ..config import DEFAULTS
from ..errors import ArchiverError, InvalidURL, StorageError
from ..net.fetch import decode_stored
from ..pagetext import decode_body
from ..store import private, require_report
from ..urls import canonical_url
from .bestcopy import best_copy_of, folder_param
from .elsewhere import mementos_of, vantages_of
from .inert import Provenance, make_inert, make_svg_inert
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
    """Everything stored about one source: verdict, citations, its copies and what each holds,
    and the best copy: the one holding the cited content nearest the citation date, ranked
    as ``status`` and ``report`` rank it (the ``source_copies`` view, store/migrations.py)."""
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
            "holds": c["holds"],
            "holds_reason": c["holds_reason"],
            "drifted": None if c["drifted"] is None else bool(c["drifted"]),
            "similarity": c["similarity"],
            "method": c["method"],
            "capture_id": c["id"],
        }
        for c in db.table("captures").rows_where("source_id = ?", [source_id], order_by="id desc")
    ]
    ranked = list(
        db.query("select * from source_copies where source_id = ? order by place", [source_id])
    )
    local = _local_copy(captures, ranked, data_dir)
    if local is not None:
        local.update(made_of(db, local["capture_id"], data_dir))
        local["requisites"] = _requisites_of(db, local["capture_id"])
    best = best_copy_of(db, source_id, data_dir)
    verdict = state.get("verdict") or "unchecked"
    return {
        "url": citations[0]["url"] if citations else source["url"],
        "canonical_url": source["canonical_url"],
        "verdict": verdict,
        "reason": state.get("reason"),
        "since": state.get("since"),
        "checked_at": state.get("checked_at"),
        "final_url": state.get("final_url"),
        "drifted": bool(state.get("drifted")),
        "last_ok_at": state.get("last_ok_at"),
        "citations": citations,
        "local": local,
        "captures": captures,
        "wayback": nearest_copy(db, source_id),
        "wayback_copies": copies(db, source_id),
        "copies": _copies_in_order(ranked, local),
        "best": best["kind"] if best else None,
        "best_copy": best,
        "mementos": mementos_of(db, source_id),
        "vantages": vantages_of(db, source_id),
    }


def made_of(db: Database, capture_id: int, data_dir: Path) -> dict[str, Any]:
    """How a capture was made and what archiver made of the page: ``method``, the rendered
    ``dom``, ``screenshot`` and ``pdf`` (each ``{uri, sha256, bytes}`` or null), ``media``
    (each ``{path, url, sha256, bytes, title, duration}``: path is the WARC holding it) and
    ``subtitles``, and the ``provenance`` record."""
    capture = db.table("captures").get(capture_id)
    made: dict[str, Any] = {"method": capture["method"], "dom": None, "screenshot": None}
    made.update(pdf=None, media=[], subtitles=[])
    for r in db.table("capture_resources").rows_where(
        "capture_id = ? and role in ('dom', 'screenshot', 'pdf', 'media', 'subtitles')",
        [capture_id],
        order_by="id",
    ):
        entry = {"uri": r["url"], "sha256": r["payload_sha256"], "bytes": r["bytes"]}
        if r["role"] == "media":
            meta = json.loads(r["meta"] or "{}")
            made["media"].append(
                {
                    "path": str((data_dir / capture["warc_path"]).resolve()),
                    "url": r["url"],
                    "sha256": r["payload_sha256"],
                    "bytes": r["bytes"],
                    "content_type": r["content_type"],
                    "title": meta.get("title"),
                    "duration": meta.get("duration"),
                    "truncated": bool(meta.get("truncated")),
                }
            )
        elif r["role"] == "subtitles":
            language = json.loads(r["meta"] or "{}").get("language")
            made["subtitles"].append({**entry, "language": language})
        else:
            made[r["role"]] = entry
    made["provenance"] = json.loads(capture["provenance"]) if capture["provenance"] else None
    return made


def stream_made(
    db: Database,
    data_dir: Path,
    capture_id: int,
    role: str,
    sink: Callable[[bytes], Any],
    limit: int = DEFAULTS.max_capture_bytes,
) -> bool:
    """Copy what a browser capture made (``role``: screenshot, pdf, dom) from its WARC
    resource record into ``sink``, at most ``limit`` bytes; False when the capture has none."""
    capture = db.table("captures").get(capture_id)
    resource = next(
        db.table("capture_resources").rows_where(
            "capture_id = ? and role = ? and record_offset is not null",
            [capture_id, role],
            order_by="id",
            limit=1,
        ),
        None,
    )
    if resource is None or not capture["warc_path"]:
        return False
    _stream_payload(db, data_dir, capture["warc_path"], resource, limit, sink)
    return True


def replay_files(db: Database, capture_id: int) -> list[str]:
    """The WARC files (relative to ``data_dir``) a replay of one capture needs: its own, and
    those holding the bodies its revisit records refer to."""
    capture = db.table("captures").get(capture_id)
    files = [capture["warc_path"]] if capture["warc_path"] else []
    for row in db.query(
        "select distinct c.warc_path from capture_resources r join captures c "
        "on c.id = r.capture_id where r.revisit_of is null and r.payload_sha256 in "
        "(select payload_sha256 from capture_resources where capture_id = ? "
        "and revisit_of is not null) and c.warc_path is not null",
        [capture_id],
    ):
        if row["warc_path"] not in files:
            files.append(row["warc_path"])
    return files


def _local_copy(
    captures: list[dict[str, Any]], ranked: list[dict[str, Any]], data_dir: Path
) -> dict[str, Any] | None:
    """The local copy to give a reader: the full capture ranked first (the one that holds
    the content nearest the citation, else the newest)."""
    pick_id = next((r["capture_id"] for r in ranked if r["kind"] == "local"), None)
    if pick_id is None:
        return None
    full = [c for c in captures if c["status"] == "captured"]  # newest first
    pick = next(c for c in full if c["capture_id"] == pick_id)
    latest = next(c for c in captures if c["status"] != "failed")
    return {
        "path": f"{folder_param(data_dir)}/{pick['warc']}" if pick["warc"] else None,
        "sha256": pick["sha256"],
        # The newest capture confirmed by later revisits: last seen so then.
        "captured_at": latest["captured_at"] if pick is full[0] else pick["captured_at"],
        "warc": pick["warc"],
        "holds": pick["holds"],
        "capture_id": pick["capture_id"],
    }


def _requisites_of(db: Database, capture_id: int) -> dict[str, Any]:
    """A capture's requisites: how many were stored, failed, and left out by its limits."""
    row = db.execute(
        """select c.requisites_skipped,
             (select count(*) from capture_resources r where r.capture_id = c.id
              and r.role = 'requisite' and r.error_type is null),
             (select count(*) from capture_resources r where r.capture_id = c.id
              and r.role = 'requisite' and r.error_type is not null)
           from captures c where c.id = ?""",
        [capture_id],
    ).fetchone()
    return {"stored": row[1], "failed": row[2], "skipped": requisites_skipped(row[0])}


def _copies_in_order(
    ranked: list[dict[str, Any]], local: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The copies a reader can open, in the ranking's order, best first: the live page, the
    Wayback copies nearest the citation and newest, each other web archive's memento (with
    the ``archive`` holding it), and the local copy."""
    found: list[dict[str, Any]] = []
    for copy in ranked:
        kind = copy["kind"]
        if kind == "live":
            found.append(
                {"kind": kind, "url": copy["url"], "holds": copy["holds"]}
                | {"drifted": bool(copy["drifted"])}
            )
        elif kind == "memento":
            found.append(
                {"kind": kind, "url": copy["url"], "captured_at": copy["at"]}
                | {"holds": copy["holds"], "archive": copy["archive"]}
            )
        elif kind != "local":
            found.append(
                {"kind": kind, "url": copy["url"], "timestamp": copy["timestamp"]}
                | {"holds": copy["holds"]}
            )
        elif local is not None and copy["capture_id"] == local["capture_id"]:
            found.append(
                {
                    "kind": kind,
                    "path": local["path"],
                    "captured_at": local["captured_at"],
                    "holds": local["holds"],
                    "drifted": bool(copy["drifted"]),
                }
            )
    return found


def open_best(
    db: Database,
    source_id: int,
    found: dict[str, Any],
    data_dir: Path,
    *,
    max_bytes: int = DEFAULTS.max_capture_bytes,
) -> str | None:
    """Open the best copy (one that holds the cited content) in a browser; a local capture is
    exported first, under ``data_dir/exports``, as ``archiver export`` writes it (inert,
    offline). Returns what was opened, or None when no copy holds the content."""
    best = found["best_copy"]
    if best is None:
        return None
    target = best.get("url")
    if best["kind"] == "local":
        local = found["local"]
        out_dir = data_dir / "exports" / f"{source_id}-{(local['sha256'] or '')[:12]}"
        index = export_capture(
            db, source_id, data_dir, out_dir, capture_id=local["capture_id"], max_bytes=max_bytes
        )
        target = index.resolve().as_uri()
    webbrowser.open(target)
    return str(target)


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


@dataclass(frozen=True)
class Export:
    """An exported copy: its page, and what a reader must be told about it."""

    index: Path
    incomplete: list[str]  # sentences: what is cut short in this copy, and why
    removed: Counter[str]  # what was taken out of the page to make it inert (see inert.py)


def export_capture(
    db: Database,
    source_id: int,
    data_dir: Path,
    out_dir: Path,
    *,
    capture_id: int | None = None,
    max_bytes: int = DEFAULTS.max_capture_bytes,
) -> Path:
    """Write a full capture as an inert ``index.html`` plus ``files/``, openable offline;
    returns the page's path (see :func:`export_copy`)."""
    return export_copy(
        db, source_id, data_dir, out_dir, capture_id=capture_id, max_bytes=max_bytes
    ).index


def export_copy(
    db: Database,
    source_id: int,
    data_dir: Path,
    out_dir: Path,
    *,
    capture_id: int | None = None,
    max_bytes: int = DEFAULTS.max_capture_bytes,
    media_max_bytes: int = DEFAULTS.media_max_bytes,
) -> Export:
    """Write a full capture (``capture_id``; by default the one ``get`` gives as the local
    copy: that holds the cited content nearest the citation, else the newest) as
    ``index.html`` plus ``files/``: made inert (nothing runs, nothing is fetched:
    archiver/views/inert.py), with a banner saying what it is.

    Stored bodies are decoded at most ``max_bytes`` at a time (the most a capture stores of
    one body), and the requisites together at most ``max_bytes`` more: a compressed body that
    inflates without end costs that, not the disk.
    """
    try:
        return _export(db, source_id, data_dir, out_dir, capture_id, max_bytes, media_max_bytes)
    except OSError as exc:
        raise StorageError(exc.filename or out_dir, exc) from exc


def _export(
    db: Database,
    source_id: int,
    data_dir: Path,
    out_dir: Path,
    capture_id: int | None,
    max_bytes: int,
    media_max_bytes: int,
) -> Export:
    if capture_id is None:
        # The one the ranking puts first: the copy a reader should get.
        ranked = db.execute(
            "select capture_id from source_copies where source_id = ? and kind = 'local' "
            "order by place limit 1",
            [source_id],
        ).fetchone()
        capture_id = ranked[0] if ranked else None
    capture = next(
        db.table("captures").rows_where(
            "source_id = ? and status = 'captured' and id = ?", [source_id, capture_id]
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
    # requisites is never held in memory whole. Scripts and pages are not exported: nothing
    # in the copy may run, and nothing refers to them any more.
    # The media file downloaded whole stands in for the browser's partial fetch of it.
    names = {
        r["url"]: name
        for role in ("requisite", "media")
        for r in resources
        # A requisite that got no answer has no record to export.
        if r["role"] == role and r["record_offset"] is not None
        if (r["status_code"] or 0) < 400
        if (name := _file_name(r["url"], r["content_type"] or "", r["payload_sha256"]))
    }
    incomplete: list[str] = []
    budget = max_bytes
    media_budget = media_max_bytes
    exported: set[str] = set()
    for resource in resources:
        name = names.get(resource["url"])
        if resource["role"] not in ("requisite", "media") or name is None:
            continue
        if name in exported or name != _file_name(
            resource["url"], resource["content_type"] or "", resource["payload_sha256"]
        ):
            continue  # written already, or the browser's partial fetch of a media file
        exported.add(name)
        # The media file has a budget of its own (media_max_bytes): it is the evidence.
        media = resource["role"] == "media"
        if budget <= 0 and not media:
            incomplete.append(
                f"{resource['url']} was not exported: the requisites' budget "
                f"({max_bytes} bytes decoded) was spent"
            )
            del names[resource["url"]]
            continue
        spent = _export_requisite(
            db,
            data_dir,
            capture["warc_path"],
            resource,
            files / name,
            names,
            max(media_budget if media else budget, 0),
            incomplete,
        )
        if media:
            media_budget -= spent
        else:
            budget -= spent
    beside = _export_made(db, data_dir, capture["warc_path"], resources, files, names, max_bytes)
    page = next(r for r in resources if r["role"] == "page")
    rendered = next((r for r in resources if r["role"] == "dom"), None)
    body, content_type, cut = _payload(
        db, data_dir, capture["warc_path"], rendered or page, max_bytes
    )
    notes = []
    if capture["truncated"]:
        notes.append(
            f"the capture stored only the first {capture['bytes']} bytes of the page as sent"
        )
    if cut:
        notes.append(f"the page decodes to more than {max_bytes} bytes; only those are shown")
    left_out = _left_out(capture.get("requisites_skipped"))
    if left_out:
        notes.append(left_out)
    incomplete[:0] = [f"{page['url']}: {note}" for note in notes]
    provenance = Provenance(
        url=capture["url"],
        captured_at=capture["captured_at"],
        final_url=capture["final_url"],
        payload_sha256=capture["payload_sha256"],
        warc=capture["warc_path"],
        truncated="; ".join(notes) + "." if notes else None,
        rendered=rendered is not None,
        beside=tuple(beside),
    )
    inert = make_inert(
        decode_body(body, content_type),
        page["url"],
        lambda u: f"files/{names[u]}" if u in names else None,
        provenance,
    )
    index = out_dir / "index.html"
    private.write_bytes(index, inert.markup.encode("utf-8"))
    return Export(index, incomplete, inert.removed)


# What a browser capture made of the page, and the names it is exported under.
_MADE_FILES = {"screenshot": "screenshot.png", "pdf": "page.pdf"}


def _export_made(
    db: Database,
    data_dir: Path,
    warc_path: str,
    resources: list[dict[str, Any]],
    files: Path,
    names: dict[str, str],
    limit: int,
) -> list[tuple[str, str]]:
    """Write the screenshot, PDF and subtitles beside the page (a ``<track>`` then points at
    its subtitles); say what was written."""
    written = []
    for resource in resources:
        role = resource["role"]
        if role in _MADE_FILES:
            name = _MADE_FILES[role]
            what = "Full-page screenshot" if role == "screenshot" else "PDF print"
        elif role == "subtitles":
            meta = json.loads(resource["meta"] or "{}")
            language = meta.get("language") or "und"
            ext = "srt" if meta.get("ext") == "srt" else "vtt"
            name = f"subtitles.{_safe_name(language)}.{ext}"
            if meta.get("url"):
                names[meta["url"]] = name
            what = f"Subtitles ({language})"
        else:
            continue
        with private.open_new(files / name) as out:
            _stream_payload(db, data_dir, warc_path, resource, limit, out.write)
        written.append((f"{what}, made when captured", f"files/{name}"))
    return written


def _safe_name(text: str) -> str:
    """A language tag as part of a file name: letters, digits and dashes only."""
    return "".join(ch for ch in text[:20] if ch.isascii() and (ch.isalnum() or ch == "-")) or "und"


def _left_out(skipped_json: str | None) -> str | None:
    """What a capture's limits left out of it, as a note ("12 requisite(s) were left out at
    capture time by its limits (count 10, depth 2)"), or None."""
    skipped = requisites_skipped(skipped_json)
    if not skipped:
        return None
    total = sum(skipped.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in skipped.items())
    return f"{total} requisite(s) were left out at capture time by its limits ({reasons})"


def requisites_skipped(skipped_json: str | None) -> dict[str, int]:
    """``captures.requisites_skipped`` as a dict (empty when nothing was left out)."""
    if not skipped_json:
        return {}
    loaded = json.loads(skipped_json)
    return {str(reason): int(count) for reason, count in loaded.items()}


def _export_requisite(
    db: Database,
    data_dir: Path,
    warc_path: str,
    resource: dict[str, Any],
    target: Path,
    names: dict[str, str],
    limit: int,
    incomplete: list[str],
) -> int:
    """Write one requisite's body to ``target`` and return how many bytes it took. A
    stylesheet is rewritten to refer to the exported files only, an SVG image made inert
    (it runs scripts when opened by itself); others are copied as they decode."""
    kind = _EXPORTED_TYPES.get(_media_type(resource["content_type"] or ""))
    if kind in (".css", ".svg"):
        body, content_type, cut = _payload(db, data_dir, warc_path, resource, limit)
        if kind == ".css":
            css = rewrite_css(decode_body(body, content_type), resource["url"], names.get)
            data: bytes | None = css.encode("utf-8")
        else:
            data = make_svg_inert(body, resource["url"], names.get)
        if data is None:
            incomplete.append(f"{resource['url']} was not exported: it is not a readable SVG")
            del names[resource["url"]]
            return len(body)
        private.write_bytes(target, data)
    else:
        with private.open_new(target) as out:
            cut = _stream_payload(db, data_dir, warc_path, resource, limit, out.write)
    if cut:
        incomplete.append(f"{resource['url']} was cut at {limit} bytes (decoded)")
    return target.stat().st_size


def _payload(
    db: Database, data_dir: Path, warc_path: str, resource: dict[str, Any], limit: int
) -> tuple[bytes, str, bool]:
    """A resource's body decoded from its content encoding, at most ``limit`` bytes of it; its
    Content-Type; and whether it was cut."""
    body = bytearray()
    content_type: list[str] = []
    cut = _stream_payload(db, data_dir, warc_path, resource, limit, body.extend, content_type)
    return bytes(body), (content_type or [resource["content_type"] or ""])[0], cut


def _stream_payload(
    db: Database,
    data_dir: Path,
    warc_path: str,
    resource: dict[str, Any],
    limit: int,
    sink: Callable[[bytes], Any],
    content_type: list[str] | None = None,
) -> bool:
    """Decode a resource's body from its WARC record into ``sink``, at most ``limit`` bytes;
    True when there was more (or the rest would not decode)."""
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
            return False
        offset, path = original["record_offset"], original["warc_path"]
    with (data_dir / path).open("rb") as f:
        f.seek(offset)
        record = next(iter(ArchiveIterator(f)))
        # A resource record (screenshot, media, …) has no HTTP headers: stored as made.
        http = record.http_headers
        if content_type is not None:
            content_type.append(
                (http.get_header("Content-Type") if http else record.content_type) or ""
            )
        encoding = (http.get_header("Content-Encoding") if http else "") or ""
        try:
            return decode_stored(record.raw_stream.read, encoding, limit, sink)
        except zlib.error:
            return True


# What an exported requisite may be, by media type, and the name its file ends with: types a
# page displays. Scripts, HTML and anything else are not exported.
_EXPORTED_TYPES = {
    "text/css": ".css",
    "image/png": ".png",
    "image/apng": ".png",
    "image/jpeg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/x-icon": ".ico",
    "image/vnd.microsoft.icon": ".ico",
    "image/svg+xml": ".svg",
    "font/woff2": ".woff2",
    "font/woff": ".woff",
    "font/ttf": ".ttf",
    "font/otf": ".otf",
    "application/font-woff": ".woff",
    "application/font-woff2": ".woff2",
    "application/x-font-woff": ".woff",
    "application/x-font-ttf": ".ttf",
    "application/vnd.ms-fontobject": ".eot",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/ogg": ".ogv",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "audio/webm": ".weba",
}
# Servers often send pictures and fonts as "application/octet-stream": then the URL's own
# ending tells what the file is, if it is one of these.
_UNTYPED = ("", "application/octet-stream", "binary/octet-stream", "application/unknown")
_SUFFIXES = frozenset(set(_EXPORTED_TYPES.values()) - {".css", ".svg"} | {".jpeg"})


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _file_name(url: str, content_type: str, sha256: str | None) -> str | None:
    """The exported file's name: its payload hash and an ending browsers open it by, or None
    when it is not something a page displays."""
    media_type = _media_type(content_type)
    suffix = _EXPORTED_TYPES.get(media_type)
    if suffix is None and media_type in _UNTYPED:
        from_url = PurePosixPath(urlsplit(url).path).suffix.lower()
        suffix = from_url if from_url in _SUFFIXES else None
    if suffix is None:
        return None
    return f"{(sha256 or 'unknown')[:16]}{suffix}"
