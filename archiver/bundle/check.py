"""``archiver verify BUNDLE.wacz``: check a bundle with nothing but the file (no database, no
network) and say exactly what does not hold.

In order: every file in the zip against its SHA-256 and size in ``datapackage.json`` (a file
missing, added or altered is named), ``datapackage.json`` against the digest in
``datapackage-digest.json``, the signature of that digest (and who made it: the key given,
or this archiver's own), the time-stamp token when there is one, and the payload of every
WARC record against its ``WARC-Payload-Digest``. Each problem is recorded; none stops the
others.

The bundle is untrusted input: the zip's declared sizes are checked before anything is
inflated (Python's zipfile never inflates an entry past its declared size), JSON files are
read only up to a cap, and a WARC file whose records inflate past a cap is not read further.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .keys import PublicKey, check_signature
from .timestamp import check_token

MAX_ENTRIES = 1_000_000
MAX_JSON_BYTES = 200_000_000  # datapackage.json of a million files is about 200 MB
MAX_RATIO = 1_000  # how much larger than stored an entry may declare itself…
RATIO_FROM_BYTES = 1_000_000  # …once it is larger than this
# A WARC file's records may inflate to this many times the file (HTML gzips about 10:1).
MAX_WARC_INFLATION = 1_000
MIN_WARC_ALLOWANCE = 1 << 30
_CHUNK = 1 << 20
_UNHASHED = ("datapackage.json", "datapackage-digest.json")


@dataclass
class BundleCheck:
    """What checking a bundle found: counts, the signer, and every problem."""

    bundle: str
    files: int = 0
    records: int = 0
    signed: bool = False
    signer: str | None = None
    signer_expected: str | None = None
    created: str | None = None
    timestamp: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, file: str | None, text: str) -> None:
        self.problems.append({"file": file, "problem": text})

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "bundle": self.bundle,
            "files": self.files,
            "records": self.records,
            "signed": self.signed,
            "signer": self.signer,
            "signer_expected": self.signer_expected,
            "created": self.created,
            "timestamp": self.timestamp,
            "problems": self.problems,
            "notes": self.notes,
        }


def verify_bundle(
    path: Path,
    *,
    expected_key: PublicKey | None = None,
    expected_as: str = "the expected key",
    require_signature: bool = False,
) -> BundleCheck:
    """Check the bundle at ``path``.

    expected_key: the signer's public key; a bundle signed by another key fails.
    expected_as: how that key is named in messages ("the key given with --key").
    require_signature: an unsigned bundle fails (when the key was asked for explicitly).
    """
    check = BundleCheck(str(path))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        check.problem(None, f"not a readable zip file ({exc})")
        return check
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            check.problem(None, f"{len(entries):,} files, over the limit of {MAX_ENTRIES:,}")
            return check
        infos = _usable_entries(entries, check)
        package, package_bytes = _read_json(archive, infos, "datapackage.json", check)
        listed = _listed(package, check)
        for name, expected in listed.items():
            info = infos.get(name)
            if info is None:
                if name not in {e.filename for e in entries}:
                    check.problem(name, f"missing: {name} is listed in datapackage.json")
                continue
            _check_file(archive, info, expected, check)
        for name in infos:
            if name not in listed and name not in _UNHASHED:
                check.problem(
                    name,
                    f"not listed: {name} is in the bundle but not in "
                    "datapackage.json (a file added after it was made)",
                )
        if package is not None:
            check.created = package.get("created") if isinstance(package, dict) else None
            _check_digest(archive, infos, package_bytes, check)
        _check_signer(check, expected_key, expected_as, require_signature)
    return check


def _usable_entries(
    entries: list[zipfile.ZipInfo], check: BundleCheck
) -> dict[str, zipfile.ZipInfo]:
    """Entries by name, without folders, duplicates and would-be zip bombs (each reported)."""
    counts = Counter(e.filename for e in entries)
    usable: dict[str, zipfile.ZipInfo] = {}
    for info in entries:
        name = info.filename
        if name.endswith("/"):
            continue
        if counts[name] > 1:
            if name not in usable:
                check.problem(
                    name,
                    f"{name} is in the zip {counts[name]} times (which one a "
                    "reader opens depends on the reader)",
                )
            usable[name] = info
            continue
        if info.file_size > RATIO_FROM_BYTES and info.file_size > info.compress_size * MAX_RATIO:
            check.problem(
                name,
                f"{name} declares it inflates {info.file_size:,} bytes from "
                f"{info.compress_size:,}, over {MAX_RATIO}:1 (a zip bomb?): not read",
            )
            continue
        usable[name] = info
    return usable


def _read_json(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], name: str, check: BundleCheck
) -> tuple[Any, bytes]:
    info = infos.get(name)
    if info is None:
        check.problem(name, f"missing: {name}, the bundle's list of files and hashes")
        return None, b""
    if info.file_size > MAX_JSON_BYTES:
        check.problem(name, f"{name} is {info.file_size:,} bytes, over {MAX_JSON_BYTES:,}")
        return None, b""
    try:
        with archive.open(info) as f:
            data = f.read(MAX_JSON_BYTES + 1)
        return json.loads(data), data
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        check.problem(name, f"damaged: {name} cannot be read from the zip ({exc})")
    except (ValueError, RecursionError) as exc:
        check.problem(name, f"{name} is not JSON ({str(exc)[:100]})")
    return None, b""


def _listed(package: Any, check: BundleCheck) -> dict[str, dict[str, Any]]:
    """The files datapackage.json lists, by path, with their hash and size."""
    resources = package.get("resources") if isinstance(package, dict) else None
    if package is not None and not isinstance(resources, list):
        check.problem("datapackage.json", "datapackage.json has no list of resources")
    listed: dict[str, dict[str, Any]] = {}
    for resource in resources or []:
        path = resource.get("path") if isinstance(resource, dict) else None
        if not isinstance(path, str):
            check.problem("datapackage.json", f"a resource without a path: {str(resource)[:100]}")
            continue
        listed[path] = resource
    return listed


class _Hashing:
    """A zip entry read through SHA-256, counting what was read."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(_CHUNK if size is None or size < 0 else size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _check_file(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, expected: dict[str, Any], check: BundleCheck
) -> None:
    name = info.filename
    algorithm, _, value = str(expected.get("hash") or "").partition(":")
    if algorithm != "sha256" or not value:
        check.problem(
            name, f"{name}: datapackage.json gives no SHA-256 for it ({expected.get('hash')!r})"
        )
        return
    try:
        with archive.open(info) as f:
            reader = _Hashing(f)
            if name.startswith("archive/") and name.endswith((".warc", ".warc.gz")):
                _check_records(reader, name, info.file_size, check)
            reader.drain()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        check.problem(name, f"damaged: {name} cannot be read from the zip ({exc})")
        return
    check.files += 1
    actual = reader.digest.hexdigest()
    if actual != value.lower():
        check.problem(name, f"altered: {name} has SHA-256 {actual}; datapackage.json says {value}")
    elif expected.get("bytes") not in (None, reader.size):
        check.problem(
            name,
            f"altered: {name} is {reader.size:,} bytes; datapackage.json says "
            f"{expected.get('bytes')}",
        )


def _check_records(reader: _Hashing, name: str, size: int, check: BundleCheck) -> None:
    """Every record's payload against its WARC-Payload-Digest (revisits have none of their
    own: their digest is the original's)."""
    allowance = max(MIN_WARC_ALLOWANCE, size * MAX_WARC_INFLATION)
    inflated = 0
    try:
        for record in ArchiveIterator(reader, arc2warc=True):
            declared = record.rec_headers.get_header("WARC-Payload-Digest")
            if not declared or record.rec_type == "revisit":
                continue
            algorithm, _, value = declared.partition(":")
            try:
                digest = hashlib.new(algorithm.lower())
            except ValueError:
                check.notes.append(f"{name}: a digest in {algorithm}, which is not checked")
                continue
            while block := record.raw_stream.read(1 << 16):
                digest.update(block)
                inflated += len(block)
                if inflated > allowance:
                    check.problem(
                        name,
                        f"{name}: its records inflate past {allowance:,} bytes "
                        "(a compression bomb?): not checked further",
                    )
                    return
            check.records += 1
            if not _same_digest(digest.digest(), value):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                record_id = record.rec_headers.get_header("WARC-Record-ID")
                check.problem(
                    name,
                    f"altered: in {name}, the payload of {uri} (record "
                    f"{record_id}) does not match its WARC-Payload-Digest {declared}",
                )
    except (ArchiveLoadFailed, ValueError, EOFError, zlib.error) as exc:
        check.problem(name, f"damaged: {name} is not a readable WARC file ({str(exc)[:200]})")


def _same_digest(actual: bytes, declared: str) -> bool:
    """Compare with a digest written in base32 (WARC's custom) or hex."""
    text = declared.strip()
    if text.lower() == actual.hex():
        return True
    try:
        padded = text.upper() + "=" * (-len(text) % 8)
        return base64.b32decode(padded) == actual
    except (binascii.Error, ValueError):
        return False


def _check_digest(
    archive: zipfile.ZipFile,
    infos: dict[str, zipfile.ZipInfo],
    package_bytes: bytes,
    check: BundleCheck,
) -> None:
    if "datapackage-digest.json" not in infos:
        check.problem(
            "datapackage-digest.json",
            "missing: datapackage-digest.json, so nothing vouches for datapackage.json",
        )
        return
    digest, _ = _read_json(archive, infos, "datapackage-digest.json", check)
    if not isinstance(digest, dict):
        return
    actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    if digest.get("hash") != actual:
        check.problem(
            "datapackage.json",
            f"altered: datapackage.json has {actual}; "
            f"datapackage-digest.json says {digest.get('hash')}",
        )
    signed = digest.get("signedData")
    if not signed:
        return
    check.signed = True
    if not isinstance(signed, dict):
        check.problem("datapackage-digest.json", "signedData is not an object")
        return
    if signed.get("hash") != digest.get("hash"):
        check.problem(
            "datapackage-digest.json",
            f"the signature is of {signed.get('hash')}, "
            f"not of this package's digest {digest.get('hash')}",
        )
    if signed.get("created") != check.created:
        check.problem(
            "datapackage-digest.json",
            f"signed as created {signed.get('created')}, but datapackage.json says {check.created}",
        )
    key, error = check_signature(
        str(signed.get("hash") or ""),
        str(signed.get("signature") or ""),
        str(signed.get("publicKey") or ""),
    )
    if key is not None:
        check.signer = key.fingerprint
    if error:
        check.problem("datapackage-digest.json", f"bad signature: {error}")
    if signed.get("timeSignature"):
        when, error = check_token(str(signed.get("signature") or ""), signed)
        if error:
            check.problem("datapackage-digest.json", f"bad time-stamp token: {error}")
        else:
            check.timestamp = when


def _check_signer(
    check: BundleCheck, expected: PublicKey | None, expected_as: str, required: bool
) -> None:
    if expected is not None:
        check.signer_expected = expected.fingerprint
    if not check.signed:
        if required:
            check.problem(
                "datapackage-digest.json",
                f"not signed, but a signature by {expected_as} was asked for",
            )
        else:
            check.notes.append(
                "not signed: the hashes show the files agree with each other, not who made them"
            )
        return
    if check.signer is None:
        return
    if expected is None:
        check.notes.append(
            f"signed by key {check.signer}; nothing here says whose it is "
            "(give the signer's public key with --key)"
        )
    elif check.signer != expected.fingerprint:
        check.problem(
            "datapackage-digest.json",
            f"signed by key {check.signer}, not by "
            f"{expected_as} {expected.fingerprint}: someone else signed this package",
        )
