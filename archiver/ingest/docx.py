"""Read the footnote, endnote and body-link citations of a Word (.docx) report.

python-docx opens the package and gives us core properties and relationships, but it does not
model footnotes, so the note parts are parsed from their XML with lxml.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import OpcError
from docx.opc.part import Part
from lxml import etree

from archiver.errors import InputError

from .limits import check_zip
from .model import CitedURL, ParsedReport
from .sentences import find_urls, sentence_around

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_NOTE_REFERENCES = {f"{_W}footnoteReference": "footnote", f"{_W}endnoteReference": "endnote"}
_BREAKS = {f"{_W}tab", f"{_W}br", f"{_W}cr"}
_FIELD_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_NO_URLS = "no footnote URLs or links found"


@dataclass
class _Paragraph:
    """Plain text of one w:p plus where its links and note references sit in that text."""

    text: str = ""
    links: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, url)
    notes: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, w:id, offset)

    def urls(self) -> list[tuple[int, str]]:
        """Hyperlinks plus bare URLs typed as text, in reading order, without double counting."""
        found = [(start, url) for start, _, url in self.links]
        for offset, url in find_urls(self.text):
            if not any(start <= offset < end for start, end, _ in self.links):
                found.append((offset, url))
        return sorted(found)


@dataclass
class _Field:
    """A Word field being read: its instruction and where its displayed result starts."""

    start: int
    instruction: str = ""


class _ParagraphReader:
    """Collects the text, hyperlinks and note references of one paragraph in document order."""

    def __init__(self, rels: Mapping[str, str]) -> None:
        self.rels = rels
        self.paragraph = _Paragraph()
        # Complex fields (w:fldChar begin/separate/end) can nest, hence a stack.
        self.fields: list[_Field] = []

    def read(self, p: etree._Element) -> _Paragraph:
        self._walk(p)
        while self.fields:
            self._end_field()
        return self.paragraph

    @property
    def offset(self) -> int:
        return len(self.paragraph.text)

    def _walk(self, element: etree._Element) -> None:
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in (f"{_W}p", _MC_FALLBACK):
                # Nested paragraphs (text boxes) are read on their own; Fallback repeats Choice.
                continue
            if tag == f"{_W}t":
                self.paragraph.text += child.text or ""
            elif tag in _BREAKS:
                self.paragraph.text += " "
            elif tag in _NOTE_REFERENCES:
                note_id = child.get(f"{_W}id", "")
                self.paragraph.notes.append((_NOTE_REFERENCES[tag], note_id, self.offset))
            elif tag == f"{_W}hyperlink":
                start = self.offset
                self._walk(child)
                target = self.rels.get(child.get(f"{_R}id", ""))
                self._add_link(start, target, child.get(f"{_W}anchor"))
            elif tag == f"{_W}fldSimple":
                start = self.offset
                self._walk(child)
                self._add_field_link(start, child.get(f"{_W}instr", ""))
            elif tag == f"{_W}fldChar":
                kind = child.get(f"{_W}fldCharType")
                if kind == "begin":
                    self.fields.append(_Field(start=self.offset))
                elif kind == "separate" and self.fields:
                    self.fields[-1].start = self.offset
                elif kind == "end" and self.fields:
                    self._end_field()
            elif tag == f"{_W}instrText" and self.fields:
                self.fields[-1].instruction += child.text or ""
            else:
                self._walk(child)

    def _end_field(self) -> None:
        ended = self.fields.pop()
        self._add_field_link(ended.start, ended.instruction)

    def _add_field_link(self, start: int, instruction: str) -> None:
        tokens = [quoted or word for quoted, word in _FIELD_TOKEN.findall(instruction)]
        if not tokens or tokens[0].upper() != "HYPERLINK":
            return
        url = anchor = None
        arguments = iter(tokens[1:])
        for token in arguments:
            switch = token.lower()
            if switch in ("\\l", "\\o", "\\t"):  # switches that take a value
                value = next(arguments, "")
                anchor = value if switch == "\\l" else anchor
            elif not token.startswith("\\") and url is None:
                url = token
        self._add_link(start, url, anchor)

    def _add_link(self, start: int, target: str | None, anchor: str | None) -> None:
        # A link with only an anchor jumps inside the document (table of contents): not a source.
        if target:
            url = f"{target}#{anchor}" if anchor else target
            self.paragraph.links.append((start, self.offset, url))


def _paragraphs(root: etree._Element, rels: Mapping[str, str]) -> Iterator[_Paragraph]:
    """Every paragraph under ``root`` in document order, skipping compatibility duplicates."""
    for p in root.iter(f"{_W}p"):
        if next(p.iterancestors(_MC_FALLBACK), None) is None:
            yield _ParagraphReader(rels).read(p)


def _external_targets(part: Part) -> dict[str, str]:
    """Relationship id → target of the hyperlinks a part declares."""
    return {rid: rel.target_ref for rid, rel in part.rels.items() if rel.is_external}


def _read_notes(part: Part | None, kind: str) -> dict[str, list[str]]:
    """URLs of each footnote or endnote by w:id, leaving out separator pseudo-notes."""
    if part is None:
        return {}
    rels = _external_targets(part)
    notes: dict[str, list[str]] = {}
    for note in etree.fromstring(part.blob).iter(f"{_W}{kind}"):
        if note.get(f"{_W}type"):  # separator, continuationSeparator, continuationNotice
            continue
        urls: list[str] = []
        for paragraph in _paragraphs(note, rels):
            urls += [url for _, url in paragraph.urls() if url not in urls]
        notes[note.get(f"{_W}id", "")] = urls
    return notes


def read_docx(path: Path) -> ParsedReport:
    """Read a Word report's citations, so a report is imported from the file its authors edit.

    Numbering follows what a reader of the document sees: footnotes are numbered 1..n in the
    order their references appear in the body (the w:id values are not the displayed numbers),
    endnotes continue as n+1..n+m in their own reference order, and hyperlinks in the body text
    continue after the notes, one number per link in document order, with their sentence as
    context. Notes that are never referenced are not shown by Word and are not imported.
    Title and date (creation day) come from the core properties.
    """
    if path.stat().st_size == 0:
        raise InputError(path, _NO_URLS)
    if not zipfile.is_zipfile(path):
        raise InputError(path, "not a .docx file (not a zip archive)")
    check_zip(path)  # python-docx inflates every part into memory: not a zip bomb's
    try:
        document = docx.Document(str(path))
        main = document.part
        parts = {rel.reltype: rel.target_part for rel in main.rels.values() if not rel.is_external}
        notes = {
            "footnote": _read_notes(parts.get(RT.FOOTNOTES), "footnote"),
            "endnote": _read_notes(parts.get(RT.ENDNOTES), "endnote"),
        }
        body = list(_paragraphs(document.element, _external_targets(main)))
        properties = document.core_properties
    except (OpcError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError) as exc:
        raise InputError(path, f"not a readable .docx file: {_one_line(exc)}") from exc
    except etree.XMLSyntaxError as exc:
        raise InputError(path, f"broken XML inside the .docx file: {_one_line(exc)}") from exc

    # First body reference of each note, by kind, in reading order.
    contexts: dict[tuple[str, str], str] = {}
    for paragraph in body:
        for kind, note_id, offset in paragraph.notes:
            if note_id in notes[kind] and (kind, note_id) not in contexts:
                contexts[kind, note_id] = sentence_around(paragraph.text, offset)
    ordered = sorted(contexts, key=lambda key: key[0] != "footnote")  # stable: footnotes first

    report = ParsedReport(path=str(path), title=(properties.title or "").strip() or None)
    if properties.created is not None:
        report.date = properties.created.date().isoformat()
    for number, key in enumerate(ordered, start=1):
        urls = notes[key[0]][key[1]]
        if not urls:
            report.markers_without_urls.append(number)
        for position, url in enumerate(urls, start=1):
            report.citations.append(CitedURL(number, position, url, context=contexts[key]))
    number = len(ordered)
    for paragraph in body:
        for start, _, url in paragraph.links:
            number += 1
            context = sentence_around(paragraph.text, start)
            report.citations.append(CitedURL(number, 1, url, context=context))
    if not report.citations:
        raise InputError(path, _NO_URLS)
    return report


def _one_line(exc: BaseException) -> str:
    """The first line of an exception message, since InputError messages are one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
