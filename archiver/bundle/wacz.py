"""``archiver bundle``: one report's evidence as a WACZ 1.1.1 file (Webrecorder's zip of WARC
files, a CDXJ index, a page list and a hashed manifest) that ReplayWeb.page and pywb replay
as it is, optionally signed as the WACZ Signing and Verification specification describes.

Layout (the WACZ spec's, plus archiver's manifest in a folder of its own)::

    archive/<capture>.warc.gz   each bundled capture's WARC file, byte for byte as stored
    indexes/index.cdx.gz        CDXJ lines in gzip blocks (cdxj-indexer's compressed form)
    indexes/index.idx           the block index ReplayWeb.page reads first
    pages/pages.jsonl           one page per cited source
    archiver/manifest.json      the report, its footnotes, verdicts, Wayback copies, provenance
    datapackage.json            every file with its SHA-256 and size
    datapackage-digest.json     the SHA-256 of datapackage.json, and its signature

Everything streams: a WARC file is copied into the zip (stored, not compressed again) a
megabyte at a time while it is hashed and indexed in the same pass, the index lines are
sorted by cdxj-indexer in bounded memory (spilling to temporary files), and the manifest and
page list are written a footnote at a time. The file is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from cdxj_indexer.main import CDXJIndexer, CompressedWriter, SortingWriter
from sqlite_utils import Database

from ..errors import ArchiverError, StorageError
from ..store import private
from ..version import __version__
from .keys import load_private_key, sign_text
from .manifest import manifest_pieces, page_lines
from .select import Selection, select_captures

WACZ_VERSION = "1.1.1"
INDEX_LINES_PER_BLOCK = 1024  # as py-wacz writes them (ArchiveWeb.page's default)
_CHUNK = 1 << 20
# Index records: exchanges, what archiver made, revisits (no requests, no warcinfo).
_INDEXED = "response,revisit,resource,metadata"


@dataclass
class BundleResult:
    """What a bundle holds: its path, counts, and the package digest (and signer)."""

    path: str
    report: str
    sources: int = 0
    pages: int = 0
    captures: int = 0
    records: int = 0
    bytes: int = 0
    digest: str = ""
    signed_by: str | None = None
    timestamped: bool = False
    without_capture: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "report": self.report,
            "sources": self.sources,
            "pages": self.pages,
            "captures": self.captures,
            "records": self.records,
            "bytes": self.bytes,
            "digest": self.digest,
            "signed_by": self.signed_by,
            "timestamped": self.timestamped,
            "without_capture": self.without_capture,
        }


class HashingZip:
    """A zip being written whose every entry is hashed (SHA-256) and counted as it goes in:
    the resources list of ``datapackage.json``."""

    def __init__(self, out: IO[bytes], created: datetime) -> None:
        self.zip = zipfile.ZipFile(out, "w", allowZip64=True)
        self._date = created.timetuple()[:6]
        self.resources: list[dict[str, Any]] = []

    def entry(self, name: str, *, compress: bool, size: int | None = None) -> _Entry:
        info = zipfile.ZipInfo(name, self._date)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16
        if size is not None:
            info.file_size = size  # tells zipfile whether ZIP64 headers are needed
        return _Entry(self, name, self.zip.open(info, "w"))

    def write_text(self, name: str, pieces: Iterable[str]) -> None:
        with self.entry(name, compress=True) as out:
            for piece in pieces:
                out.write(piece.encode("utf-8"))

    def close(self) -> None:
        self.zip.close()


class _Entry:
    def __init__(self, owner: HashingZip, name: str, handle: IO[bytes]) -> None:
        self._owner, self.name, self._handle = owner, name, handle
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._handle.write(data)
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def __enter__(self) -> _Entry:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()
        self._owner.resources.append(
            {
                # Frictionless names: lower case letters, digits, ".", "_" and "-".
                "name": os.path.basename(self.name).lower(),
                "path": self.name,
                "hash": "sha256:" + self.sha256,
                "bytes": self.size,
            }
        )


class _Tee:
    """A file read by the WARC indexer whose bytes also go into the zip entry as read."""

    def __init__(self, source: IO[bytes], sink: _Entry) -> None:
        self._source, self._sink = source, sink

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(_CHUNK if size is None or size < 0 else size)
        if data:
            self._sink.write(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class _BlockWriter:
    """cdxj-indexer's compressed writer, flushed at the end only when a block is open (its
    own flush would add an empty block)."""

    def __init__(self, writer: CompressedWriter) -> None:
        self._writer = writer

    def write(self, line: str) -> None:
        self._writer.write(line)

    def flush(self) -> None:
        if self._writer.block:
            self._writer.flush()


def write_bundle(
    db: Database,
    data_dir: Path,
    report_id: str,
    output: Path,
    *,
    sign: bool = False,
    all_captures: bool = False,
    timestamper: Callable[[str], dict[str, str]] | None = None,
    now: datetime | None = None,
) -> BundleResult:
    """Write the WACZ bundle of ``report_id`` to ``output``.

    sign: sign the package digest with this archiver's key (``archiver keys init``).
    timestamper: with ``sign``, asks a time-stamping authority for a token over the signature
    (returns the ``timeSignature`` and ``timestampCert`` fields).
    """
    key = load_private_key(data_dir) if sign else None  # no key: fail before any work
    selection = select_captures(db, report_id, all_captures=all_captures)
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    created = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = BundleResult(str(output), report_id)
    names = _names_in_bundle(selection)
    partial = output.with_name(output.name + ".part")
    try:
        with private.open_new(partial) as out:
            bundle = HashingZip(out, moment)
            result.records = _write_archives(bundle, data_dir, selection, names)
            software = _software()
            pages = _Counter(page_lines(db, selection))
            bundle.write_text("pages/pages.jsonl", pages)
            result.pages = max(0, pages.count - 1)  # the first line is the list's header
            bundle.write_text(
                "archiver/manifest.json",
                manifest_pieces(db, selection, names, created, software),
            )
            package = _datapackage(selection, bundle.resources, created)
            package_bytes = json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")
            with bundle.entry("datapackage.json", compress=True) as entry:
                entry.write(package_bytes)
            digest: dict[str, Any] = {"path": "datapackage.json", "hash": "sha256:" + entry.sha256}
            result.digest = digest["hash"]
            if key is not None:
                signature, public = sign_text(key, digest["hash"])
                signed: dict[str, Any] = {
                    "hash": digest["hash"],
                    "created": created,
                    "software": f"archiver {__version__}",
                    "version": "0.1.0",  # of the WACZ Signing and Verification spec
                    "signature": signature,
                    "publicKey": public.base64,
                }
                if timestamper is not None:
                    signed.update(timestamper(signature))
                    result.timestamped = True
                digest["signedData"] = signed
                result.signed_by = public.fingerprint
            with bundle.entry("datapackage-digest.json", compress=True) as entry:
                entry.write(json.dumps(digest, indent=2).encode("utf-8"))
            bundle.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, output)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(output, exc) from exc
        raise
    result.bytes = output.stat().st_size
    result.captures = len(selection.captures)
    result.sources = len({c.row["source_id"] for c in selection.citations})
    result.without_capture = [
        {"footnote": c.row["footnote"], "url": c.row["url"]}
        for c in selection.citations
        if c.backed_by is None
    ]
    return result


class _Counter:
    """Lines passed on, counted: as an iterable of the page list, or as the file the WARC
    indexer writes its lines to."""

    def __init__(self, lines: Iterable[str] = (), out: IO[str] | None = None) -> None:
        self._lines, self._out = lines, out
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.count += 1
            yield line

    def write(self, line: str) -> None:
        assert self._out is not None
        self._out.write(line)
        self.count += 1


def _names_in_bundle(selection: Selection) -> dict[int, str]:
    """``archive/<file name>`` for each capture: its own file name, made unique."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for capture_id in selection.capture_ids():
        base = Path(selection.captures[capture_id]["warc_path"]).name
        name = base if base not in taken else f"{capture_id}-{base}"
        taken.add(name)
        names[capture_id] = f"archive/{name}"
    return names


def _write_archives(
    bundle: HashingZip, data_dir: Path, selection: Selection, names: dict[int, str]
) -> int:
    """Copy each capture's WARC file into the bundle, indexing it in the same pass; then write
    the sorted, compressed index. Returns how many records were indexed."""
    indexer = CDXJIndexer(None, [], records=_INDEXED)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as lines:
        counted = _Counter(out=lines)
        for capture_id in selection.capture_ids():
            capture = selection.captures[capture_id]
            path = data_dir / capture["warc_path"]
            name = names[capture_id]
            try:
                source = path.open("rb")
            except OSError as exc:
                raise ArchiverError(
                    f"capture {capture_id}: its WARC file {path} cannot be read "
                    f"({exc.strerror or exc}); run `archiver verify`"
                ) from None
            size = os.fstat(source.fileno()).st_size
            with source, bundle.entry(name, compress=False, size=size) as entry:
                tee = _Tee(source, entry)
                indexer.process_one(tee, counted, name)
                tee.drain()
            if entry.sha256 != capture["warc_sha256"]:
                raise ArchiverError(
                    f"capture {capture_id}: {path} is not the file captured (its SHA-256 is "
                    f"{entry.sha256}, {capture['warc_sha256']} was recorded); run "
                    "`archiver verify` — nothing was bundled"
                )
        lines.seek(0)
        with tempfile.TemporaryFile("w+", encoding="utf-8") as idx:
            with bundle.entry("indexes/index.cdx.gz", compress=False) as data:
                blocks = CompressedWriter(
                    idx,
                    data_out=data,
                    num_lines=INDEX_LINES_PER_BLOCK,
                    data_out_name="index.cdx.gz",
                    digest_records=True,
                )
                sorter = SortingWriter(_BlockWriter(blocks))
                for line in lines:
                    sorter.write(line)
                sorter.flush()
            idx.seek(0)
            bundle.write_text("indexes/index.idx", idx)
    return counted.count


def _datapackage(
    selection: Selection, resources: list[dict[str, Any]], created: str
) -> dict[str, Any]:
    report = selection.report
    title = report["title"] or report["id"]
    dated = f", dated {report['date']}" if report["date"] else ""
    return {
        "profile": "data-package",
        "resources": resources,
        "wacz_version": WACZ_VERSION,
        "title": title,
        "description": (
            f"The sources cited in the report {report['id']}{dated}, as archiver captured "
            "them: one page per cited source, titled with its footnote number and citing "
            "sentence. archiver/manifest.json has every footnote, its verdict history, "
            "Wayback copies, which capture backs it, and each capture's provenance."
        ),
        "created": created,
        "software": _software_line(),
    }


def _software() -> dict[str, str]:
    versions = {"archiver": __version__}
    for package in ("warcio", "cdxj-indexer"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _software_line() -> str:
    return ", ".join(f"{name} {version}" for name, version in _software().items())
