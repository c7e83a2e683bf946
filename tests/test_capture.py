"""Capture against a real local web: WARC files that read back, text, hashes, search, verify."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import write
from lxml import html as lxml_html
from sqlite_utils import Database
from testweb import TestWeb, refused_port
from warcio.archiveiterator import ArchiveIterator

from archiver.capture import CaptureOptions, CaptureSummary, capture_sources
from archiver.capture.verify import verify_captures
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.net.fetch import FetchLimits
from archiver.views.retrieve import export_capture, search_text

Run = Callable[..., Result]


def cite(db: Database, urls: list[str], report: str = "r") -> None:
    parsed = ParsedReport(
        path="test", citations=[CitedURL(i + 1, 1, u) for i, u in enumerate(urls)]
    )
    import_report(db, parsed, report_id=report)


@pytest.fixture
def options(tmp_path: Path) -> CaptureOptions:
    return CaptureOptions(
        data_dir=tmp_path / "data",
        limits=FetchLimits(timeout=5.0, allow_private_networks=True),
        max_capture_bytes=200_000,
        per_host_delay=0.0,
        browser="off",  # plain HTTP capture; tests/test_browser_capture.py renders pages
    )


def capture(db: Database, options: CaptureOptions, **kwargs: object) -> CaptureSummary:
    return capture_sources(db, options, **kwargs)  # type: ignore[arg-type]


def records(path: Path) -> list[tuple[str, str | None, object]]:
    with path.open("rb") as f:
        return [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                r.http_headers.get_statuscode() if r.http_headers else None,
            )
            for r in ArchiveIterator(f)
        ]


def source_id(db: Database, url: str) -> int:
    return int(next(db.query("select id from sources where url = ?", [url]))["id"])


def test_page_with_requisites_replays_from_its_warc(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    url = web.url("/with-assets")
    cite(db, [url])
    summary = capture(db, options)
    assert (summary.captured, summary.failed) == (1, 0)
    row = next(db.table("captures").rows)
    warc = options.data_dir / row["warc_path"]
    assert row["warc_path"].startswith(row["captured_at"][:10].replace("-", "/"))
    kinds = records(warc)
    assert kinds[0][0] == "warcinfo"
    uris = {uri for kind, uri, _ in kinds if kind == "response"}
    for asset in ("style.css", "bg.png", "logo.png", "app.js", "poster.png"):
        assert web.url(f"/assets/{asset}") in uris, asset
    assert [k for k, _, _ in kinds].count("request") == [k for k, _, _ in kinds].count("response")
    # Chain of custody: the file hash and every payload hash are what the WARC holds.
    assert row["warc_sha256"] == hashlib.sha256(warc.read_bytes()).hexdigest()
    assert row["ip"] == "127.0.0.1" and row["tool_version"]
    with warc.open("rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "response":
                stored = next(
                    db.query(
                        "select payload_sha256 from capture_resources where record_id = ?",
                        [record.rec_headers.get_header("WARC-Record-ID")],
                    )
                )
                assert (
                    hashlib.sha256(record.raw_stream.read()).hexdigest() == stored["payload_sha256"]
                )


def test_windows_1251_text_metadata_and_search(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    cite(db, [web.url("/cp1251"), web.url("/koi8r"), web.url("/article/english")])
    capture(db, options)
    ru = next(db.query("select * from captures where url = ?", [web.url("/cp1251")]))
    assert (ru["title"], ru["language"]) == ("Задержания в Алматы", "ru")
    hits = list(search_text(db, "синими"))
    assert {h["url"] for h in hits} == {web.url("/cp1251"), web.url("/koi8r")}
    assert "[синими]" in hits[0]["snippet"]
    assert hits[0]["footnotes"][0]["report"] == "r"
    assert len(list(search_text(db, "Синими шарами"))) == 2  # case folded, several words
    # Not FTS5 syntax (a colon, an unbalanced quote): searched as plain words, not an error.
    assert {h["url"] for h in search_text(db, 'синими: "шарами')} == {h["url"] for h in hits}


def test_hostile_bodies_are_bounded_and_marked(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    cite(db, [web.url("/endless"), web.url("/gzipbomb"), web.url("/redirect/permanent")])
    capture(db, options)
    rows = {r["url"]: r for r in db.table("captures").rows}
    endless = rows[web.url("/endless")]
    assert (endless["truncated"], endless["bytes"]) == (1, 200_000)
    with (options.data_dir / endless["warc_path"]).open("rb") as f:
        response = next(r for r in ArchiveIterator(f) if r.rec_type == "response")
        assert response.rec_headers.get_header("WARC-Truncated") == "length"
    bomb = rows[web.url("/gzipbomb")]
    assert bomb["bytes"] <= 200_000  # stored as sent, compressed, and capped
    moved = rows[web.url("/redirect/permanent")]
    kinds = records(options.data_dir / moved["warc_path"])
    assert ("response", web.url("/redirect/permanent"), "301") in kinds
    assert ("response", web.url("/article/moved-here"), "200") in kinds


def test_unchanged_pages_become_revisits_changed_pages_new_copies(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    cite(db, [web.url("/article/steady"), web.url("/changing")])
    capture(db, options)
    assert capture(db, options).selected == 0  # nothing new, nothing changed
    summary = capture(db, options, force=True)
    assert (summary.captured, summary.revisits) == (1, 1)
    steady = list(
        db.query("select * from captures where url = ? order by id", [web.url("/article/steady")])
    )
    assert [c["status"] for c in steady] == ["captured", "revisit"]
    kinds = [k for k, _, _ in records(options.data_dir / steady[1]["warc_path"])]
    assert "revisit" in kinds and "response" not in kinds
    # Requisites already stored are revisits too: a page's images are not stored twice.
    web_assets = web.url("/with-assets")
    cite(db, [web.url("/article/steady"), web.url("/changing"), web_assets])
    capture(db, options)
    capture(db, options, url=web_assets, force=True)
    second = list(db.query("select * from captures where url = ? order by id", [web_assets]))[-1]
    roles = {
        (r["role"], r["revisit_of"] is not None)
        for r in db.table("capture_resources").rows_where("capture_id = ?", [second["id"]])
    }
    # Every capture has its own provenance record; the page and requisites were stored before.
    assert roles == {("page", True), ("requisite", True), ("provenance", False)}
    changing = list(
        db.query("select payload_sha256 from captures where url = ?", [web.url("/changing")])
    )
    assert len({c["payload_sha256"] for c in changing}) == 2


def test_failed_capture_is_recorded(db: Database, options: CaptureOptions) -> None:
    url = f"http://127.0.0.1:{refused_port()}/gone"
    cite(db, [url])
    summary = capture(db, options)
    assert summary.failed == 1
    row = next(db.table("captures").rows)
    assert (row["status"], row["error_type"], row["warc_path"]) == (
        "failed",
        "connection_refused",
        None,
    )
    assert capture(db, options).selected == 1  # tried again next time


def test_verify_catches_one_flipped_byte_and_missing_files(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    cite(db, [web.url("/with-assets"), web.url("/article/two")])
    capture(db, options)
    assert verify_captures(db, options.data_dir).ok
    first, second = (options.data_dir / r["warc_path"] for r in db.table("captures").rows)
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0x01
    first.write_bytes(bytes(data))
    second.unlink()
    result = verify_captures(db, options.data_dir)
    problems = {p["problem"] for p in result.problems}
    assert "file altered" in problems and "missing" in problems


def test_export_opens_offline(
    db: Database, web: TestWeb, options: CaptureOptions, tmp_path: Path
) -> None:
    cite(db, [web.url("/with-assets"), web.url("/cp1251")])
    capture(db, options)
    out = tmp_path / "export"
    index = export_capture(db, source_id(db, web.url("/with-assets")), options.data_dir, out)
    tree = lxml_html.fromstring(index.read_text(encoding="utf-8"))
    refs = tree.xpath("//img/@src|//link[@rel='stylesheet']/@href|//video/@poster")
    assert refs and all(not ref.startswith("http") for ref in refs)
    assert not tree.xpath("//script")  # exported copies are inert: tests/test_export_inert.py
    assert all((out / ref).is_file() for ref in refs)
    css = next((out / ref) for ref in refs if ref.endswith(".css")).read_text()
    assert "url(" in css and "127.0.0.1" not in css
    ru = export_capture(db, source_id(db, web.url("/cp1251")), options.data_dir, tmp_path / "ru")
    assert "синими шарами" in ru.read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in ru.read_text(encoding="utf-8")


def test_cli_capture_get_search_verify(run_cli: Run, tmp_path: Path, web: TestWeb) -> None:
    write(tmp_path / "r.csv", f"footnote,url\n1,{web.url('/cp1251')}\n2,{web.url('/article/x')}\n")
    env = {"ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1", "ARCHIVER_PER_HOST_DELAY": "0"}
    assert run_cli("import", "r.csv", "--report", "r").exit_code == 0
    result = run_cli("capture", env=env)
    assert result.exit_code == 0, result.output
    assert "Captured 2 new" in result.output
    got = json.loads(run_cli("get", "1", "--report", "r", "--json").output)
    assert got["url"] == web.url("/cp1251") and got["verdict"] == "unchecked"
    assert set(got["local"]) >= {"path", "sha256", "captured_at", "warc"}
    assert Path(got["local"]["path"]).is_file()
    none_yet = run_cli("get", "https://not.cited.kz/x")
    assert none_yet.exit_code == 1
    hits = json.loads(run_cli("search", "синими", "--json").output)
    assert [h["url"] for h in hits] == [web.url("/cp1251")]
    assert run_cli("verify").exit_code == 0
    warc = tmp_path / "db" / "data" / got["local"]["warc"]
    raw = gzip.decompress(warc.read_bytes())
    warc.write_bytes(gzip.compress(raw.replace(b"Almaty", b"Almatx")))
    bad = run_cli("verify")
    assert bad.exit_code == 1 and "altered" in bad.output


def test_https_capture_records_the_certificate(
    db: Database, tls_web: TestWeb, options: CaptureOptions
) -> None:
    assert tls_web.cert_path is not None
    trusting = dataclasses.replace(
        options, limits=dataclasses.replace(options.limits, ca_bundle=str(tls_web.cert_path))
    )
    cite(db, [tls_web.url("/article/secure")])
    assert capture(db, trusting).captured == 1
    row = next(db.table("captures").rows)
    der = ssl.PEM_cert_to_DER_cert(tls_web.cert_path.read_text())
    assert row["tls_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert "commonName=localhost" in row["tls_subject"]
    assert row["tls_issuer"] == row["tls_subject"]  # self-signed
    assert row["ip"] == "127.0.0.1"


def test_a_cyrillic_url_is_captured_as_it_was_requested(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    path = "/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F"  # /статья, as a request line carries it
    web.set_page(path, "<html><head><title>Статья</title></head><body><p>Шары.</p></body></html>")
    url = web.url("/статья?q=синие шары")
    cite(db, [url.replace(" ", "%20")])
    summary = capture(db, options)
    assert (summary.captured, summary.failed) == (1, 0)  # was an internal error
    [sent] = web.requests_to(path)
    row = next(db.table("captures").rows)
    raw = gzip.decompress((options.data_dir / row["warc_path"]).read_bytes())
    assert f"GET {sent.path} HTTP/1.1\r\n".encode() in raw
    assert f"WARC-Target-URI: {web.base}{sent.path}\r\n".encode() in raw
    assert row["title"] == "Статья"
