"""The records of a capture's WARC: exchanges (request and response, or a revisit when the
payload is stored already), redirect hops and resources (DOM, screenshot, PDF, media,
provenance), each returned as the row the database keeps of it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from ..net.fetch import FetchResult
from .warcfile import CaptureWarc, SpooledPayload


class StoredPayloads:
    """Payloads already stored in full, by SHA-256: a repeat becomes a revisit record."""

    def __init__(self, db: Database) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, tuple[str, str]] = {
            row["payload_sha256"]: (
                row["url"],
                warc_date(datetime.fromisoformat(row["captured_at"])),
            )
            for row in db.query(
                """select r.payload_sha256, r.url, c.captured_at
                   from capture_resources r join captures c on c.id = r.capture_id
                   where r.revisit_of is null and r.truncated = 0 and r.payload_sha256 is not null
                   order by r.id desc"""
            )
        }

    def original(
        self, payload: SpooledPayload, url: str, captured_at: str
    ) -> tuple[str, str] | None:
        """The (url, date) stored earlier with this payload, or None after noting this one."""
        with self._lock:
            earlier = self._known.get(payload.sha256)
            if earlier is None:
                self._known[payload.sha256] = (url, captured_at)
            return earlier


@dataclass
class Resource:
    """One exchange (the page, a redirect hop, or a requisite) of a capture; a requisite that
    got no answer has no WARC record, only its error."""

    url: str
    role: str  # page | redirect | requisite | dom | screenshot | pdf | media | …
    status_code: int | None
    content_type: str | None
    payload_sha256: str | None
    bytes: int
    truncated: bool
    record_id: str | None
    record_offset: int | None
    revisit_of: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    meta: str | None = None  # JSON: what archiver knows of a made resource (media title, …)


def write_hop(warc: CaptureWarc, hop: dict[str, Any], warc_date: str) -> Resource:
    request = warc.request(hop["url"], "GET", hop["request_headers"], warc_date)
    response = warc.response(
        hop["url"],
        f"{hop['status']} {hop['reason']}",
        hop["headers"],
        "HTTP/1.1",
        None,
        warc_date,
        ip=hop.get("ip"),
        concurrent_to=request.record_id,
    )
    return Resource(
        hop["url"],
        "redirect",
        hop["status"],
        None,
        None,
        0,
        False,
        response.record_id,
        response.offset,
    )


def write_exchange(
    warc: CaptureWarc,
    role: str,
    url: str,
    result: FetchResult,
    payload: SpooledPayload,
    warc_date: str,
    stored: StoredPayloads,
) -> Resource:
    """Write a request and its response, or a revisit when the payload is stored already."""
    url = result.final_url or url
    request = warc.request(url, result.method, result.request_headers, warc_date)
    status_line = f"{result.status} {result.reason or ''}".strip()
    protocol = result.http_version or "HTTP/1.1"
    earlier = None if result.raw_truncated else stored.original(payload, url, warc_date)
    if earlier is not None:
        written = warc.revisit(
            url,
            status_line,
            result.raw_headers,
            protocol,
            payload.warc_digest,
            earlier[0],
            earlier[1],
            warc_date,
        )
    else:
        written = warc.response(
            url,
            status_line,
            result.raw_headers,
            protocol,
            payload,
            warc_date,
            ip=result.ip,
            truncated=result.raw_truncated,
            concurrent_to=request.record_id,
        )
    return Resource(
        url,
        role,
        result.status,
        result.content_type or None,
        payload.sha256,
        payload.size,
        result.raw_truncated,
        written.record_id,
        written.offset,
        revisit_of=earlier[0] if earlier else None,
    )


def warc_date(moment: datetime) -> str:
    """WARC-Date: ISO 8601 in UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_resource(
    warc: CaptureWarc,
    role: str,
    uri: str,
    content_type: str,
    payload: SpooledPayload,
    warc_date: str,
    meta: str | None = None,
) -> Resource:
    """Write something made of the page (role dom, screenshot, pdf, media, subtitles,
    media_info, provenance) as a resource record."""
    written = warc.resource(uri, content_type, payload, warc_date)
    return Resource(
        uri,
        role,
        None,
        content_type,
        payload.sha256,
        payload.size,
        False,
        written.record_id,
        written.offset,
        meta=meta,
    )
