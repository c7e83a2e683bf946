"""Evidence bundles against the local test web: a report captured, bundled as a signed WACZ,
replayed by pywb, validated by the `wacz` package, and checked by `archiver verify` — which
must fail, saying what, on every kind of tampering."""

from __future__ import annotations

import gzip
import hashlib
import json
import stat
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import write
from pywb_replay import pywb_collection, replayed_frame
from testweb import TestWeb
from tsa_standin import TimestampAuthority
from wayback_standin import WaybackStandin

from archiver.bundle.keys import init_key, load_private_key, sign_text
from archiver.capture.browser import find_browser

Run = Callable[..., Result]

# Captures reach the loopback test web at once (no politeness delay between requests).
LOCAL = {"ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1", "ARCHIVER_PER_HOST_DELAY": "0"}

SCRIPTED = """<!doctype html><html><head><meta charset="utf-8"><title>Loading…</title></head>
<body><div id="app">Loading…</div><script>
document.getElementById('app').innerHTML = '<h1>Akimat closes Uralskaya Nedelya</h1>' +
  '<p>The regional akimat ordered the closure of the independent weekly on Tuesday, citing ' +
  'unpaid registration fees that the editors say were never issued.</p>';
document.title = 'Akimat closes Uralskaya Nedelya';
</script></body></html>"""


def cite(tmp_path: Path, rows: list[tuple[int, str, str]]) -> Path:
    lines = ["report,report_title,report_date,footnote,url,context"]
    lines += [
        f'r,Closures of the press,2018-04-03,{n},{url},"{context}"' for n, url, context in rows
    ]
    return write(tmp_path / "citations.csv", "\n".join(lines) + "\n")


def sources(web: TestWeb) -> list[tuple[int, str, str]]:
    return [
        (1, web.url("/with-assets"), "Officials warned about the ring road."),
        (2, web.url("/article/budget-vote"), "The council voted the budget down."),
        (3, web.url("/redirect/permanent"), "The ministry moved its statement."),
        (3, web.url("/article/rally-report"), "The ministry moved its statement."),
    ]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def pages(path: Path) -> list[dict[str, Any]]:
    lines = entries(path)["pages/pages.jsonl"].decode().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def bundled(tmp_path: Path, web: TestWeb, run_cli: Run) -> Path:
    """A report of three footnotes (four URLs) captured over HTTP, bundled and signed."""
    ok(run_cli("import", str(cite(tmp_path, sources(web)))))
    ok(run_cli("capture", env=LOCAL))
    ok(run_cli("keys", "init"))
    ok(run_cli("bundle", "--report", "r", "--sign"))
    return tmp_path / "r.wacz"


def test_bundle_replays_in_pywb_validates_and_verifies(
    tmp_path: Path, web: TestWeb, run_cli: Run, subprocess_guard: dict[str, str]
) -> None:
    chromium = find_browser("auto")
    if chromium is None:
        pytest.skip("needs Chromium (Debian: apt-get install chromium)")
    pytest.importorskip("pywb")
    web.set_page("/app", SCRIPTED)
    rows = [(4, web.url("/app"), "The weekly was closed by the akimat."), *sources(web)]
    ok(run_cli("import", str(cite(tmp_path, rows))))
    env = {**LOCAL, "ARCHIVER_BROWSER": "auto", "ARCHIVER_BROWSER_TIMEOUT": "5"}
    ok(run_cli("capture", env=env))
    ok(run_cli("keys", "init"))
    made = ok(run_cli("bundle", "--report", "r", "--sign", "--output", "press.wacz")).output
    bundle = tmp_path / "press.wacz"
    assert "5 cited source(s), 5 page(s)" in made
    verified = ok(run_cli("verify", str(bundle)))
    assert "intact" in verified.output and "signed by SHA256:" in verified.output

    # The rendering is in it: screenshot, PDF and DOM records, and the provenance says so.
    files = entries(bundle)
    index = gzip.decompress(files["indexes/index.cdx.gz"]).decode()
    for kind in ("screenshot", "pdf", "dom", "provenance"):
        assert f'"url": "urn:{kind}:{web.url("/app")}"' in index, kind
    manifest = json.loads(files["archiver/manifest.json"])
    browser = [c for c in manifest["captures"] if c["url"] == web.url("/app")]
    assert browser and browser[0]["method"] == "browser"
    assert browser[0]["provenance"]["method"] == "browser"

    # The `wacz` package's own validator passes it (hashes, paths, frictionless package).
    validated = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(bundle)],
        env={**subprocess_guard, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "the passed WACZ is valid" in validated.stdout

    # pywb (the real engine) replays every page of the bundle, each with its text.
    listed = pages(bundle)[1:]
    assert len(listed) == 5  # one page per cited source
    expected = {
        web.url("/app"): "registration fees",
        web.url("/with-assets"): "With assets",
        web.url("/article/budget-vote"): "Budget vote",
        web.url("/redirect/permanent"): "Moved here",
        web.url("/article/rally-report"): "Rally report",
    }
    from playwright.sync_api import sync_playwright

    with (
        pywb_collection(
            tmp_path / "pywb", ["--unpack-wacz", str(bundle)], subprocess_guard
        ) as base,
        sync_playwright() as playwright,
    ):
        browser_app = playwright.chromium.launch(executable_path=chromium)
        page = browser_app.new_page()
        for entry in listed:
            stamp = "".join(ch for ch in entry["ts"] if ch.isdigit())
            want = expected[entry["url"]]
            frame = replayed_frame(page, f"{base}{stamp}/{entry['url']}", want)
            assert want in frame.locator("body").inner_text(), entry
        browser_app.close()


def test_manifest_says_what_backs_each_footnote(
    tmp_path: Path, web: TestWeb, run_cli: Run, wayback: WaybackStandin
) -> None:
    rows = sources(web)
    wayback.add_snapshot(rows[1][1], "20180320101010")
    ok(run_cli("import", str(cite(tmp_path, rows))))
    ok(run_cli("check", env=LOCAL))
    ok(run_cli("wayback", "--lookup-only"))
    ok(run_cli("capture", env=LOCAL))
    for _ in range(2):  # two more captures of each source: revisit records, nothing new stored
        ok(run_cli("capture", "--force", env=LOCAL))
    made = json.loads(ok(run_cli("bundle", "--report", "r", "--json")).output)
    assert (made["sources"], made["pages"], made["signed_by"]) == (4, 4, None)
    files = entries(tmp_path / "r.wacz")
    manifest = json.loads(files["archiver/manifest.json"])
    assert manifest["report"] == {"id": "r", "title": "Closures of the press", "date": "2018-04-03"}
    assert [f["footnote"] for f in manifest["footnotes"]] == [1, 2, 3]
    three = manifest["footnotes"][2]["citations"]
    assert [c["url"] for c in three] == [rows[2][1], rows[3][1]]
    budget = manifest["footnotes"][1]["citations"][0]
    assert budget["context"] == "The council voted the budget down."
    assert budget["verdict"]["verdict"] == "ok"
    assert budget["verdict_history"][0]["verdict"] == "ok"
    assert budget["wayback"]["nearest"]["timestamp"] == "20180320101010"
    assert [c["timestamp"] for c in budget["wayback"]["copies"]] == ["20180320101010"]
    # Three captures of each source: the one nearest the report's date and the latest only.
    captures = {c["id"]: c for c in manifest["captures"]}
    assert len(captures) == 8
    backing = captures[budget["backed_by"]["capture"]]
    assert backing["status"] == "captured" and backing["warc"] in files
    assert budget["backed_by"]["why"] == "the capture nearest the citation date (2018-04-03)"
    assert backing["provenance"]["cited_url"] == rows[1][1]
    assert all(
        c["warc_sha256"] == hashlib.sha256(files[c["warc"]]).hexdigest() for c in captures.values()
    )
    titles = [p["title"] for p in pages(tmp_path / "r.wacz")[1:]]
    assert titles == [
        "1. Officials warned about the ring road.",
        "2. The council voted the budget down.",
        "3. The ministry moved its statement.",
        "3. The ministry moved its statement.",
    ]
    # --all: every capture of every source.
    every = json.loads(ok(run_cli("bundle", "--report", "r", "--all", "--json")).output)
    assert every["captures"] == 12
    ok(run_cli("verify", "r.wacz"))


def test_a_flipped_byte_in_a_warc_fails(bundled: Path, run_cli: Run) -> None:
    with zipfile.ZipFile(bundled) as archive:
        info = next(i for i in archive.infolist() if i.filename.startswith("archive/"))
    data = bytearray(bundled.read_bytes())
    header = info.header_offset
    start = header + 30 + int.from_bytes(data[header + 26 : header + 28], "little")
    start += int.from_bytes(data[header + 28 : header + 30], "little")
    data[start + info.compress_size // 2] ^= 0x01
    bundled.write_bytes(bytes(data))
    failed = run_cli("verify", str(bundled))
    assert failed.exit_code == 1
    assert f"{info.filename} cannot be read from the zip" in failed.output, failed.output
    assert "NOT intact" in failed.output


def test_an_altered_payload_fails_even_with_every_hash_redone(bundled: Path, run_cli: Run) -> None:
    files = entries(bundled)
    name = next(
        n
        for n, data in files.items()
        if n.startswith("archive/") and b"ring road" in _inflate(data)
    )
    altered = _edit_members(files[name], b"ring road", b"ring ro4d")
    # Unsigned, every hash redone: only the WARC's own payload digest can tell.
    _repack(bundled, {name: altered}, key_dir=None)
    failed = run_cli("verify", str(bundled))
    assert failed.exit_code == 1
    assert f"in {name}, the payload of" in failed.output
    assert "does not match its WARC-Payload-Digest" in failed.output


def test_a_removed_file_fails(bundled: Path, run_cli: Run) -> None:
    files = entries(bundled)
    del files["pages/pages.jsonl"]
    _write_zip(bundled, files)
    failed = run_cli("verify", str(bundled), "--json")
    assert failed.exit_code == 1
    problems = json.loads(failed.output)["problems"]
    assert problems == [
        {
            "file": "pages/pages.jsonl",
            "problem": "missing: pages/pages.jsonl is listed in datapackage.json",
        }
    ]


def test_altered_pages_fail(bundled: Path, run_cli: Run) -> None:
    files = entries(bundled)
    files["pages/pages.jsonl"] = files["pages/pages.jsonl"].replace(b"ring road", b"ring road!")
    _write_zip(bundled, files)
    failed = run_cli("verify", str(bundled))
    assert failed.exit_code == 1
    assert "altered: pages/pages.jsonl has SHA-256" in failed.output


def test_a_manifest_re_signed_by_another_key_fails(
    bundled: Path, tmp_path: Path, run_cli: Run
) -> None:
    public = tmp_path / "signer.pem"
    public.write_text(ok(run_cli("keys", "show")).stdout)
    files = entries(bundled)
    manifest = files["archiver/manifest.json"].replace(b"ring road", b"ring bridge")
    other = tmp_path / "other"
    init_key(other)
    _repack(bundled, {"archiver/manifest.json": manifest}, key_dir=other)
    # Every hash agrees and the signature is valid — by the wrong key.
    for args in ((), ("--key", str(public))):
        failed = run_cli("verify", str(bundled), *args)
        assert failed.exit_code == 1, args
        assert "someone else signed this package" in failed.output
    # Without a re-signature the altered manifest fails on its hash.
    _repack(bundled, {"archiver/manifest.json": manifest + b" "}, key_dir=None, fix=False)
    failed = run_cli("verify", str(bundled))
    assert "altered: archiver/manifest.json" in failed.output


def test_keys_are_private_and_never_replaced(tmp_path: Path, run_cli: Run, web: TestWeb) -> None:
    ok(run_cli("import", str(cite(tmp_path, sources(web)[:1]))))
    ok(run_cli("capture", env=LOCAL))
    refused = run_cli("bundle", "--report", "r", "--sign")
    assert refused.exit_code == 1 and "archiver keys init" in refused.output
    assert not list(tmp_path.glob("*.wacz*"))
    made = ok(run_cli("keys", "init")).output
    key = tmp_path / "db/data/keys/signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    shown = json.loads(ok(run_cli("keys", "show", "--json")).output)
    assert shown["fingerprint"] in made and shown["algorithm"] == "ECDSA secp256r1"
    again = run_cli("keys", "init")
    assert again.exit_code == 1 and "exists already" in again.output
    assert json.loads(ok(run_cli("keys", "show", "--json")).output) == shown
    # An unsigned bundle passes on its hashes, but not when a signer's key is asked for.
    ok(run_cli("bundle", "--report", "r"))
    plain = ok(run_cli("verify", "r.wacz"))
    assert "not signed" in plain.output
    (tmp_path / "key.pem").write_text(shown["pem"])
    failed = run_cli("verify", "r.wacz", "--key", "key.pem")
    assert failed.exit_code == 1 and "not signed, but a signature by" in failed.output
    assert run_cli("verify", "r.txt").exit_code == 2  # not a bundle: a usage error


def test_time_stamp_token_from_a_local_authority(
    bundled: Path, tmp_path: Path, run_cli: Run
) -> None:
    with TimestampAuthority() as tsa:
        env = {"ARCHIVER_TIMESTAMP_URL": tsa.url}
        made = ok(run_cli("bundle", "--report", "r", "--sign", "--output", "t.wacz", env=env))
        assert "time-stamped" in made.output and tsa.granted == 1
    verified = ok(run_cli("verify", "t.wacz"))
    assert "time-stamped" in verified.output and "CN=Stand-in TSA" in verified.output
    # A token taken from another bundle does not vouch for this one's signature.
    stamped = json.loads(entries(tmp_path / "t.wacz")["datapackage-digest.json"])["signedData"]
    files = entries(bundled)
    digest = json.loads(files["datapackage-digest.json"])
    digest["signedData"]["timeSignature"] = stamped["timeSignature"]
    files["datapackage-digest.json"] = json.dumps(digest).encode()
    _write_zip(bundled, files)
    failed = run_cli("verify", str(bundled))
    assert failed.exit_code == 1
    assert "bad time-stamp token: it is a time-stamp of something else" in failed.output


# --- tampering helpers: what someone with the file (and maybe a key of their own) can do ---


def _write_zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            stored = name.startswith("archive/") or name.endswith(".cdx.gz")
            archive.writestr(name, data, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)


def _repack(
    path: Path, changes: dict[str, bytes], *, key_dir: Path | None, fix: bool = True
) -> None:
    """Replace files; with ``fix``, redo datapackage.json and its digest, signed by the key in
    ``key_dir`` (or unsigned)."""
    files = entries(path)
    files.update(changes)
    if fix:
        package = json.loads(files["datapackage.json"])
        for resource in package["resources"]:
            data = files[resource["path"]]
            resource["hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
            resource["bytes"] = len(data)
        files["datapackage.json"] = json.dumps(package).encode()
        digest: dict[str, Any] = {
            "path": "datapackage.json",
            "hash": "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest(),
        }
        if key_dir is not None:
            signature, public = sign_text(load_private_key(key_dir), digest["hash"])
            digest["signedData"] = {
                "hash": digest["hash"],
                "created": package["created"],
                "signature": signature,
                "publicKey": public.base64,
            }
        files["datapackage-digest.json"] = json.dumps(digest).encode()
    _write_zip(path, files)


def _members(data: bytes) -> list[bytes]:
    """The records of a WARC file gzipped per record, each inflated."""
    found = []
    while data:
        inflater = zlib.decompressobj(31)
        found.append(inflater.decompress(data))
        data = inflater.unused_data
    return found


def _inflate(data: bytes) -> bytes:
    return b"".join(_members(data))


def _edit_members(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new)  # the record's Content-Length stays right
    return b"".join(gzip.compress(m.replace(old, new)) for m in _members(data))


def test_hostile_bundles_are_refused_without_inflating_them(tmp_path: Path, run_cli: Run) -> None:
    bomb = tmp_path / "bomb.wacz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("archive/bomb.warc.gz", "w") as entry:
            for _ in range(200):
                entry.write(bytes(1 << 20))  # 200 MB of zeros, about 200 KB deflated
        archive.writestr("datapackage.json", "[")
    started = time.monotonic()
    failed = run_cli("verify", str(bomb), "--json")
    assert failed.exit_code == 1 and time.monotonic() - started < 5
    problems = [p["problem"] for p in json.loads(failed.output)["problems"]]
    assert any("(a zip bomb?): not read" in p for p in problems), problems
    assert "datapackage.json is not JSON" in " ".join(problems)
    junk = write(tmp_path / "junk.wacz", b"not a zip at all")
    failed = run_cli("verify", str(junk))
    assert failed.exit_code == 1 and "not a readable zip file" in failed.output
