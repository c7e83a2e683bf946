"""``archiver verify``: prove the stored copies are the ones captured, byte for byte.

Every WARC file is re-hashed against the SHA-256 recorded when it was written, and every
payload in it against the SHA-256 recorded for that exchange. A missing file, a flipped byte,
a record that no longer reads: each is reported, none stops the rest.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from ..store import file_sha256, require_report


@dataclass
class VerifyResult:
    """How many files and payloads were checked, and every mismatch found."""

    files: int = 0
    payloads: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "payloads": self.payloads,
            "problems": self.problems,
        }


def verify_captures(db: Database, data_dir: Path, report_id: str | None = None) -> VerifyResult:
    """Re-hash stored WARC files and payloads (of one report's sources, or all)."""
    params: list[Any] = []
    where = "where c.warc_path is not null"
    if report_id is not None:
        require_report(db, report_id)
        where += " and c.source_id in (select source_id from citations where report_id = ?)"
        params = [report_id]
    files = list(
        db.query(
            "select c.warc_path as path, c.warc_sha256 as sha256, c.id as capture_id "
            f"from captures c {where} order by c.warc_path",
            params,
        )
    )
    result = VerifyResult()
    for row in files:
        result.files += 1
        path = data_dir / row["path"]
        if not path.is_file():
            result.problems.append({"path": row["path"], "problem": "missing"})
            continue
        actual = file_sha256(path)
        if actual != row["sha256"]:
            result.problems.append(
                {
                    "path": row["path"],
                    "problem": "file altered",
                    "expected": row["sha256"],
                    "actual": actual,
                }
            )
        expected = {
            r["record_id"]: r["payload_sha256"]
            for r in db.table("capture_resources").rows_where(
                "capture_id = ? and revisit_of is null and payload_sha256 is not null",
                [row["capture_id"]],
            )
        }
        _verify_payloads(path, row["path"], expected, result)
    return result


def _verify_payloads(path: Path, name: str, expected: dict[str, str], result: VerifyResult) -> None:
    found: set[str] = set()
    try:
        with path.open("rb") as f:
            for record in ArchiveIterator(f):
                record_id = record.rec_headers.get_header("WARC-Record-ID")
                # Exchanges and what archiver made of the page (DOM, screenshot, PDF, media).
                if record.rec_type not in ("response", "resource") or record_id not in expected:
                    continue
                digest = hashlib.sha256()
                # raw_stream: the payload as stored (still content-encoded), as it was hashed.
                while block := record.raw_stream.read(1 << 16):
                    digest.update(block)
                result.payloads += 1
                found.add(record_id)
                if digest.hexdigest() != expected[record_id]:
                    result.problems.append(
                        {
                            "path": name,
                            "problem": "payload altered",
                            "uri": record.rec_headers.get_header("WARC-Target-URI"),
                        }
                    )
    except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error) as exc:
        result.problems.append({"path": name, "problem": f"unreadable: {exc}"[:200]})
        return
    for record_id in expected.keys() - found:
        result.problems.append({"path": name, "problem": "record missing", "record": record_id})
