"""Hostile report files: a zip bomb, a PDF too long, a huge text file are one-line errors
naming the file and the limit, found before the content is inflated or read whole."""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from pypdf.generic import NameObject, StreamObject
from test_ingest_pdf import report_pdf

from archiver.errors import InputError
from archiver.ingest import limits, read_report

MB = 1_000_000


def docx_with(path: Path, part: str, chunks: int, chunk: bytes = b"\0" * MB) -> Path:
    """A real .docx (python-docx's template) plus one part of ``chunks`` x ``chunk``, streamed
    into the zip so the test never holds it whole."""
    template = path.with_name("template.docx")
    docx.Document().save(str(template))
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            if item.filename != part:
                out.writestr(item, src.read(item.filename))
        with out.open(part, "w") as f:
            for _ in range(chunks):
                f.write(chunk)
    return path


def declare_size(path: Path, part: str, size: int) -> None:
    """Rewrite the uncompressed size the zip declares for ``part`` (local and central headers)."""
    data = bytearray(path.read_bytes())
    name = part.encode()
    # (signature, where the uncompressed size is, where the name's length is, where the name is)
    for signature, size_at, length_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        at = data.find(signature)
        while at >= 0:
            (length,) = struct.unpack_from("<H", data, at + length_at)
            if data[at + name_at : at + name_at + length] == name:
                struct.pack_into("<I", data, at + size_at, size)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_a_zip_bomb_docx_is_refused_before_it_inflates(tmp_path: Path) -> None:
    bomb = docx_with(tmp_path / "bomb.docx", "word/document.xml", 200)  # 200 MB of zeros
    assert bomb.stat().st_size < 2 * MB
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            read_report(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message and str(bomb) in message
    assert "word/document.xml" in message and f"{limits.MAX_DOCX_PART_BYTES:,}" in message
    assert peak < 20 * MB


def test_a_declared_gigabyte_is_refused_without_reading(tmp_path: Path) -> None:
    path = docx_with(tmp_path / "liar.docx", "word/document.xml", 1, b"<w:document/>")
    declare_size(path, "word/document.xml", 1_000_000_000)
    with pytest.raises(InputError, match=r"1,000,000,000 bytes, over the .* byte limit"):
        read_report(path)


def test_a_part_that_shrinks_too_much_is_refused(tmp_path: Path) -> None:
    path = docx_with(tmp_path / "dense.docx", "word/media/image1.png", 20)  # 20 MB → ~20 KB
    with pytest.raises(InputError, match=r"word/media/image1.png inflates .* times .* 100:1"):
        read_report(path)


def test_too_many_parts_or_bytes_in_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = docx_with(tmp_path / "many.docx", "word/extra.xml", 1, b"<x/>" * 1000)
    monkeypatch.setattr(limits, "MAX_DOCX_PARTS", 3)
    with pytest.raises(InputError, match=r"parts, over the limit of 3"):
        read_report(path)
    monkeypatch.setattr(limits, "MAX_DOCX_PARTS", 10_000)
    monkeypatch.setattr(limits, "MAX_DOCX_TOTAL_BYTES", 2_000)
    with pytest.raises(InputError, match=r"more than the 2,000 byte limit"):
        read_report(path)


def test_pdf_pages_text_and_size_are_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = report_pdf(tmp_path / "report.pdf")  # two pages
    monkeypatch.setattr(limits, "MAX_PDF_PAGES", 1)
    with pytest.raises(InputError, match=r"PDF has 2 pages, over the limit of 1"):
        read_report(pdf)
    monkeypatch.setattr(limits, "MAX_PDF_PAGES", 5_000)
    monkeypatch.setattr(limits, "MAX_PDF_TEXT_CHARS", 50)
    with pytest.raises(InputError, match=r"longer than the limit of 50 characters"):
        read_report(pdf)
    monkeypatch.setattr(limits, "MAX_PDF_BYTES", 100)
    with pytest.raises(InputError, match=r"PDF file of [\d,]+ bytes is over the 100 byte limit"):
        read_report(pdf)


@pytest.mark.parametrize(
    ("name", "kind"), [("r.txt", "text"), ("r.html", "HTML"), ("r.md", "Markdown")]
)
def test_text_html_and_markdown_files_are_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, kind: str
) -> None:
    path = tmp_path / name
    path.write_text("1 https://example.org/a\n" * 100, encoding="utf-8")
    monkeypatch.setattr(limits, "MAX_TEXT_BYTES", 1_000)
    with pytest.raises(InputError) as caught:
        read_report(path)
    assert str(caught.value) == (
        f"{path}: {kind} file of 2,400 bytes is over the 1,000 byte limit for importing"
    )


def test_a_pdf_stream_that_inflates_without_end_costs_a_bounded_amount(tmp_path: Path) -> None:
    # pypdf inflates a stream to 75 MB at most; this one would be 300 MB (from 300 KB).
    writer = PdfWriter(clone_from=str(report_pdf(tmp_path / "report.pdf")))
    compressor = zlib.compressobj(9)
    spaces = b" " * MB
    stream = StreamObject()
    stream._data = b"".join(
        [compressor.compress(spaces) for _ in range(300)] + [compressor.flush()]
    )
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    writer.add_blank_page(612, 792)[NameObject("/Contents")] = writer._add_object(stream)
    bomb = tmp_path / "bomb.pdf"
    writer.write(str(bomb))
    assert bomb.stat().st_size < MB
    tracemalloc.start()
    try:
        [report] = read_report(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(report.citations) == 5  # the real pages are read as before
    assert peak < 100 * MB
