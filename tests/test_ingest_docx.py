"""read_docx on real .docx files: python-docx writes the body, the test adds the note parts."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.text.paragraph import Paragraph
from lxml import etree

from archiver.errors import InputError
from archiver.ingest.docx import read_docx

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS = f'xmlns:w="{W_NS}" xmlns:r="{R_NS}"'
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
WML = "application/vnd.openxmlformats-officedocument.wordprocessingml"


# --- fixture builder -------------------------------------------------------------------------


def run(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


def link(rid: str, text: str) -> str:
    return f'<w:hyperlink r:id="{rid}">{run(text)}</w:hyperlink>'


def field_link(url: str, text: str) -> str:
    """A HYPERLINK field code, the other way Word stores links."""
    return (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> HYPERLINK "{url}" \\o "tip" </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        f"{run(text)}"
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


def note_ref(kind: str, note_id: int) -> str:
    return f'<w:r><w:{kind}Reference w:id="{note_id}"/></w:r>'


def append_xml(paragraph: Paragraph, xml: str) -> None:
    """Append raw runs/hyperlinks to a python-docx paragraph."""
    wrapper = etree.fromstring(f"<w:p {NS}>{xml}</w:p>")
    for child in wrapper:
        paragraph._p.append(child)


def notes_part(kind: str, notes: dict[int, str]) -> str:
    separators = (
        f'<w:{kind} w:type="separator" w:id="-1"><w:p>{run("—")}</w:p></w:{kind}>'
        f'<w:{kind} w:type="continuationSeparator" w:id="0"><w:p/></w:{kind}>'
    )
    body = "".join(
        f'<w:{kind} w:id="{note_id}"><w:p><w:r><w:{kind}Ref/></w:r>{xml}</w:p></w:{kind}>'
        for note_id, xml in notes.items()
    )
    return f'<?xml version="1.0"?><w:{kind}s {NS}>{separators}{body}</w:{kind}s>'


def rels_part(targets: dict[str, str]) -> str:
    rels = "".join(
        f'<Relationship Id="{rid}" Type="{RT.HYPERLINK}" Target="{url}" TargetMode="External"/>'
        for rid, url in targets.items()
    )
    return f'<?xml version="1.0"?><Relationships xmlns="{PKG_RELS}">{rels}</Relationships>'


def add_note_parts(path: Path, footnotes: str, footnote_rels: str, endnotes: str) -> None:
    """Rewrite the package with footnotes.xml/endnotes.xml, their content types and rels."""
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    types = etree.fromstring(entries["[Content_Types].xml"])
    for kind in ("footnotes", "endnotes"):
        override = etree.SubElement(types, f"{{{CT_NS}}}Override")
        override.set("PartName", f"/word/{kind}.xml")
        override.set("ContentType", f"{WML}.{kind}+xml")
    entries["[Content_Types].xml"] = etree.tostring(types)
    document_rels = etree.fromstring(entries["word/_rels/document.xml.rels"])
    for rid, kind, reltype in (
        ("rIdFn", "footnotes", RT.FOOTNOTES),
        ("rIdEn", "endnotes", RT.ENDNOTES),
    ):
        rel = etree.SubElement(document_rels, f"{{{PKG_RELS}}}Relationship")
        rel.attrib.update({"Id": rid, "Type": reltype, "Target": f"{kind}.xml"})
    entries["word/_rels/document.xml.rels"] = etree.tostring(document_rels)
    entries["word/footnotes.xml"] = footnotes.encode()
    entries["word/_rels/footnotes.xml.rels"] = footnote_rels.encode()
    entries["word/endnotes.xml"] = endnotes.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)


def build_report(path: Path) -> Path:
    """Three footnotes (w:ids 5, 3, 4 cited in that order), one endnote, one body link."""
    document = docx.Document()
    document.core_properties.title = "Ocean Report"
    document.core_properties.created = datetime(2024, 5, 6, 12, 0)
    body_link = document.part.relate_to("https://body.example.org/summary", RT.HYPERLINK, True)
    document.add_heading("Ocean Report", level=1)
    first = document.add_paragraph("Sea levels rose by 3 mm a year.")
    append_xml(
        first,
        note_ref("footnote", 5)
        + run(" Coastal cities are exposed")
        + note_ref("footnote", 3)
        + run("."),
    )
    second = document.add_paragraph("Heat records fell again.")
    append_xml(
        second,
        note_ref("endnote", 1)
        + run(" Forests burned")
        + note_ref("footnote", 4)
        + run(". Read the ")
        + link(body_link, "summary")
        + run(" online, or jump to ")
        + '<w:hyperlink w:anchor="_Toc1">'
        + run("the contents")
        + "</w:hyperlink>"
        + run("."),
    )
    document.save(str(path))
    footnotes = notes_part(
        "footnote",
        {
            3: run("Available at https://plain.example.org/report.pdf, accessed 2024."),
            4: run("Ask ") + link("rId2", "the author") + run("."),
            5: run("See ")
            + link("rId1", "NOAA data")
            + run(" and ")
            + field_link("https://field.example.org/tides", "tide gauges")
            + run("."),
            9: run("Never cited: https://unused.example.org/"),
        },
    )
    footnote_rels = rels_part(
        {"rId1": "https://noaa.example.gov/sea-level", "rId2": "mailto:author@example.org"}
    )
    endnotes = notes_part("endnote", {1: run("Records: https://endnote.example.org/data")})
    add_note_parts(path, footnotes, footnote_rels, endnotes)
    return path


# --- tests -----------------------------------------------------------------------------------


def test_footnotes_numbered_by_reference_order_then_endnotes_then_body_links(
    tmp_path: Path,
) -> None:
    report = read_docx(build_report(tmp_path / "report.docx"))

    assert [(c.footnote, c.position, c.url) for c in report.citations] == [
        (1, 1, "https://noaa.example.gov/sea-level"),
        (1, 2, "https://field.example.org/tides"),
        (2, 1, "https://plain.example.org/report.pdf"),
        (3, 1, "mailto:author@example.org"),
        (4, 1, "https://endnote.example.org/data"),
        (5, 1, "https://body.example.org/summary"),
    ]
    contexts = {c.footnote: c.context for c in report.citations}
    assert contexts == {
        1: "Sea levels rose by 3 mm a year.",
        2: "Coastal cities are exposed.",
        3: "Forests burned.",
        4: "Heat records fell again.",
        5: "Read the summary online, or jump to the contents.",
    }
    assert report.title == "Ocean Report"
    assert report.date == "2024-05-06"
    assert report.markers_without_urls == []


def test_not_a_zip_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_text("this is plain text\n")

    with pytest.raises(InputError, match="not a zip archive"):
        read_docx(path)


def test_broken_note_xml_is_an_input_error(tmp_path: Path) -> None:
    path = build_report(tmp_path / "report.docx")
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    entries["word/footnotes.xml"] = b"<w:footnotes"
    with zipfile.ZipFile(path, "w") as target:
        for name, data in entries.items():
            target.writestr(name, data)

    with pytest.raises(InputError, match="broken XML") as caught:
        read_docx(path)
    assert "\n" not in str(caught.value)


def test_document_without_links_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.docx"
    document = docx.Document()
    document.add_paragraph("No sources at all.")
    document.save(str(path))

    with pytest.raises(InputError, match="no footnote URLs or links found"):
        read_docx(path)
