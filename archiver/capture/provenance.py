"""A capture's provenance record: what was asked, what answered, with which software, what
was stored (each with its hash) and what failed — Scoop's provenance summary, as JSON."""

from __future__ import annotations

import contextlib
import json
import platform
from functools import cache
from importlib import metadata
from typing import Any

from ..version import __version__


@cache
def software_versions() -> dict[str, str]:
    """The versions of what made a capture (the browser's is added when it ran)."""
    versions = {"archiver": __version__, "python": platform.python_version()}
    for package in ("warcio", "requests", "playwright", "yt-dlp", "trafilatura"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def provenance_json(
    record: Any,
    *,
    method: str,
    user_agent: str,
    browser: str | None,
    viewport: dict[str, int] | None,
    notes: list[str],
) -> str:
    """The provenance of ``record`` (a CaptureRecord with its resources so far) as JSON."""
    versions = dict(software_versions())
    if browser:
        versions["chromium"] = browser
    redirects = [
        {"url": r.url, "status": r.status_code} for r in record.resources if r.role == "redirect"
    ]
    stored = [
        {
            "role": r.role,
            "url": r.url,
            "status": r.status_code,
            "content_type": r.content_type,
            "sha256": r.payload_sha256,
            "bytes": r.bytes,
            **({"truncated": True} if r.truncated else {}),
            **({"revisit_of": r.revisit_of} if r.revisit_of else {}),
        }
        for r in record.resources
        if r.role != "redirect" and r.record_id is not None
    ]
    failed = [
        {"url": r.url, "error": r.error_type, "message": r.error_message}
        for r in record.resources
        if r.error_type
    ]
    document = {
        "cited_url": record.url,
        "final_url": record.final_url or record.url,
        "redirects": redirects,
        "captured_at": record.captured_at,
        "method": method,
        "vantage": record.vantage,
        "ip": record.ip,
        "tls": {
            "subject": record.tls_subject,
            "issuer": record.tls_issuer,
            "sha256_fingerprint": record.tls_fingerprint,
        }
        if record.tls_fingerprint
        else None,
        "software": versions,
        "user_agent": user_agent,
        "viewport": viewport,
        "holds": record.holds,
        "captured": stored,
        "failed": failed,
        "left_out": record.requisites_skipped or {},
        "notes": notes,
    }
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=False)
