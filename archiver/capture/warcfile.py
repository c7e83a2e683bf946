"""Writing captures as WARC files (ISO 28500) with warcio: one gzip member per record.

A capture's payloads are streamed to temporary files while they arrive, hashed on the way
(SHA-256 for our records, SHA-1 base32 for WARC's own digests), and only then written as
records, so no body is ever held whole in memory. The file is written under a temporary name
and renamed when complete: a crash leaves no half-written WARC where a reader would find it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from requests.models import PreparedRequest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ..store import private
from ..store.stamps import file_sha256
from ..version import __version__

# Headers describing how the body travelled, not what it is: the payload is stored de-chunked.
_HOP_HEADERS = frozenset({"transfer-encoding"})


def as_sent(url: str) -> str:
    """The URL as the request put it on the wire: host in IDNA, anything not ASCII or not
    printable percent-encoded (``/wiki/Казахстан`` is ``/wiki/%D0%9A…``). WARC headers and
    request lines are ASCII, and the record must say what was asked for, byte for byte."""
    prepared = PreparedRequest()
    prepared.prepare_url(url, None)
    return str(prepared.url)


class SpooledPayload:
    """A payload arriving in chunks: kept in a temporary file and hashed as it comes."""

    def __init__(self) -> None:
        # Closed by close(); a temporary file is deleted by the OS even if we never get there.
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1()  # WARC-Payload-Digest's convention, not for security
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self._sha256.update(chunk)
        self._sha1.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def warc_digest(self) -> str:
        return "sha1:" + base64.b32encode(self._sha1.digest()).decode("ascii")

    @classmethod
    def of(cls, data: bytes) -> SpooledPayload:
        payload = cls()
        payload.write(data)
        return payload

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class WrittenRecord:
    """Where a record landed: its id and byte offset in the WARC file."""

    record_id: str
    offset: int


class CaptureWarc:
    """One WARC file holding one page capture: warcinfo, then request/response pairs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private.make_dirs(path.parent)  # data_dir/YYYY/MM/DD, 0700 where archiver makes them
        self._partial = path.with_name(path.name + ".part")
        self._file = private.open_new(self._partial)  # 0600; the rename keeps the mode
        self._writer = WARCWriter(self._file, gzip=True)
        info = {
            "software": f"archiver/{__version__} (warcio)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        }
        self._writer.write_record(self._writer.create_warcinfo_record(path.name, info))

    def request(
        self, url: str, method: str, headers: list[tuple[str, str]], warc_date: str
    ) -> WrittenRecord:
        url = as_sent(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        names = {name.lower() for name, _ in headers}
        if "host" not in names:
            headers = [("Host", parts.netloc), *headers]
        http = StatusAndHeaders(f"{method} {target} HTTP/1.1", headers, is_http_request=True)
        record = self._writer.create_warc_record(
            url, "request", http_headers=http, warc_headers_dict={"WARC-Date": warc_date}
        )
        return self._write(record)

    def response(
        self,
        url: str,
        status_line: str,
        headers: list[tuple[str, str]],
        protocol: str,
        payload: SpooledPayload | None,
        warc_date: str,
        *,
        ip: str | None = None,
        truncated: bool = False,
        concurrent_to: str | None = None,
    ) -> WrittenRecord:
        http = StatusAndHeaders(
            status_line, [(k, v) for k, v in headers if k.lower() not in _HOP_HEADERS], protocol
        )
        extra: dict[str, str] = {"WARC-Date": warc_date}
        if ip:
            extra["WARC-IP-Address"] = ip
        if truncated:
            extra["WARC-Truncated"] = "length"
        if concurrent_to:
            extra["WARC-Concurrent-To"] = concurrent_to
        body: Any = None
        length = 0
        if payload is not None:
            payload.file.seek(0)
            body, length = payload.file, payload.size
            extra["WARC-Payload-Digest"] = payload.warc_digest
        record = self._writer.create_warc_record(
            as_sent(url),
            "response",
            payload=body,
            length=length,
            http_headers=http,
            warc_headers_dict=extra,
        )
        return self._write(record)

    def revisit(
        self,
        url: str,
        status_line: str,
        headers: list[tuple[str, str]],
        protocol: str,
        digest: str,
        refers_to_uri: str,
        refers_to_date: str,
        warc_date: str,
    ) -> WrittenRecord:
        """Same payload as an earlier capture: the headers are new, the body is not stored again."""
        http = StatusAndHeaders(
            status_line, [(k, v) for k, v in headers if k.lower() not in _HOP_HEADERS], protocol
        )
        record = self._writer.create_revisit_record(
            as_sent(url),
            digest,
            refers_to_uri,
            refers_to_date,
            http_headers=http,
            warc_headers_dict={"WARC-Date": warc_date},
        )
        return self._write(record)

    def resource(
        self, uri: str, content_type: str, payload: SpooledPayload, warc_date: str
    ) -> WrittenRecord:
        """Something archiver made of the page (its DOM, a screenshot, a PDF, the media, the
        provenance record): a WARC ``resource`` record with its own target URI."""
        payload.file.seek(0)
        record = self._writer.create_warc_record(
            uri,
            "resource",
            payload=payload.file,
            length=payload.size,
            warc_content_type=content_type,
            warc_headers_dict={
                "WARC-Date": warc_date,
                "WARC-Payload-Digest": payload.warc_digest,
            },
        )
        return self._write(record)

    def _write(self, record: Any) -> WrittenRecord:
        offset = self._file.tell()
        self._writer.write_record(record)
        return WrittenRecord(record.rec_headers.get_header("WARC-Record-ID"), offset)

    def close(self) -> str:
        """Finish the file, move it into place, and return its SHA-256."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self.path)
        return file_sha256(self.path)

    def abandon(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)


@contextmanager
def open_capture_warc(path: Path) -> Iterator[CaptureWarc]:
    """A CaptureWarc that is removed, not left half-written, if the capture fails."""
    warc = CaptureWarc(path)
    try:
        yield warc
    except BaseException:
        warc.abandon()
        raise
