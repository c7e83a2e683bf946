"""Read the footnote citations and body links of a report written in Markdown.

A line-based reader rather than a Markdown renderer, because citations need the line each URL
is on and renderers drop source positions.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from archiver.errors import InputError

from .limits import read_text_file
from .model import CitedURL, ParsedReport, iso_date
from .sentences import URL_PATTERN, sentence_around, trim_url

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NOTE_DEF = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:[ \t]?(.*)$")
_LINK_DEF = re.compile(r"^ {0,3}\[([^\]^][^\]]*)\]:\s*<?([^\s>]+)>?")
# An ATX heading's opening: its text and closing hashes are read by _heading, because the
# pattern ``(?:\s+(.*?))?(?:\s+#+)?\s*$`` rescanned the trailing spaces at every character of
# the text (quadratic: "# a", 250 KB of spaces and "x" took over 20 s).
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?=\s|$)")
_RULE = re.compile(r"^ {0,3}(?:([-=*_])\s*)\1(?:\s*\1)+\s*$")  # thematic break, setext underline
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])\s")
_INDENTED = re.compile(r"^(?: {4}|\t)")
# Blockquote and list markers are layout, not words of the sentence.
_LINE_PREFIX = re.compile(r"^ {0,3}(?:>[ ]?)*(?:[-*+]\s+|\d{1,9}[.)]\s+)?")
# The value is group 2 with its trailing whitespace stripped (``(.*?)\s*$`` was quadratic).
_FRONT_MATTER_KEY = re.compile(r"^(title|date)\s*+:\s*+(.*)", re.IGNORECASE)

_LINK_TEXT = r"(?:[^\[\]]|\[[^\[\]]*\])"  # one level of nested brackets, as in [![img](src)]
_DESTINATION = r"(?:[^()\s<>]|\([^()\s]*\))+"  # balanced parentheses, as in Wikipedia URLs
_ALT_CHAR = r"(?:[^\]!]|!(?!\[))"  # any character but "]", and no "![" (another image)
_SOURCE_CHAR = r"(?:[^)!]|!(?!\[))"  # any character but ")", and no "![" (another image)
# Every part that reads ahead stops where the next token of its kind could start, so a failed
# token never rescans text a later one will scan again (a run of "![" or "[^" was quadratic):
# a note label holds no "[" (as CommonMark has it), an image no "![", a title in parentheses no
# "(". A comment and a code span are only opened here; _scan finds where they close.
_TOKENS = (
    r"(?P<comment><!--)"  # hidden from readers, so not a citation
    r"|(?P<ticks>`+)"
    r"|\[\^(?P<note>[^\]\s\[]+)\]"
    rf"|!\[(?P<alt>{_ALT_CHAR}*+)\]\({_SOURCE_CHAR}*+\)"
    rf"|\[(?P<text>{_LINK_TEXT}*)\]\(\s*<?(?P<url>{_DESTINATION})>?"
    r"""(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?\s*\)"""
    rf"|\[(?P<label>{_LINK_TEXT}+)\](?:\[(?P<ref>[^\[\]]*)\])?"
    r"|<(?P<auto>[a-z][a-z0-9+.-]{1,31}:[^\s<>]*)>"
    rf"|(?P<bare>{URL_PATTERN})"
)
_TOKEN = re.compile(_TOKENS, re.IGNORECASE | re.DOTALL)
# Once a "<!--" has no "-->" after it, no later one has: the rest is read without comments.
_TOKEN_NO_COMMENT = re.compile(
    _TOKENS.replace(r"(?P<comment><!--)|", ""), re.IGNORECASE | re.DOTALL
)
_TICKS = re.compile("`+")
_NO_URLS = "no footnote URLs or links found"


@dataclass
class _Block:
    """Consecutive source lines read as one text (a paragraph or a footnote definition)."""

    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, content)

    def text(self) -> str:
        return "\n".join(content for _, content in self.lines)

    def line_at(self, offset: int) -> int:
        """The source line of a character offset into :meth:`text`."""
        return self.lines[bisect_right(self.starts(), offset) - 1][0]

    def starts(self) -> list[int]:
        """Where each line starts in :meth:`text` (line_at of many marks reads it once)."""
        starts, start = [], 0
        for _, content in self.lines:
            starts.append(start)
            start += len(content) + 1
        return starts


@dataclass(frozen=True)
class _Mark:
    """A footnote reference or a link found in a block's text."""

    kind: str  # "note" (value = label) or "link" (value = URL)
    value: str
    offset: int  # in the plain text, for the sentence
    line: int


@dataclass
class _Document:
    """What the line pass finds: body blocks, footnote definitions, link definitions, metadata."""

    body: list[_Block] = field(default_factory=list)
    notes: dict[str, _Block] = field(default_factory=dict)
    link_defs: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    date: str | None = None


def read_markdown(path: Path) -> ParsedReport:
    """Read a Markdown report's citations, so a report is imported from its Markdown source.

    Footnotes with numeric labels keep their number; named ones (``[^smith]``) are numbered
    after the highest numeric label, in order of first reference in the body (unreferenced
    ones last). Inline, reference-style, autolinked and bare URLs in the body outside
    footnotes follow, one number per link in document order. Code is ignored.
    """
    data = read_text_file(path, "Markdown")
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        raise InputError(path, message, line=line) from None
    document = _read_lines(source.splitlines())
    report = ParsedReport(path=str(path), title=document.title, date=document.date)

    body: list[tuple[str, _Mark]] = []  # (plain paragraph text, mark)
    for block in document.body:
        plain, marks = _scan(block, document.link_defs)
        body += [(plain, mark) for mark in marks]
    first_reference: dict[str, tuple[str, _Mark]] = {}
    for plain, mark in body:
        if mark.kind == "note":
            first_reference.setdefault(mark.value, (plain, mark))

    numbers = _number_notes(document.notes, first_reference)
    for label, number in sorted(numbers.items(), key=lambda item: item[1]):
        urls: list[_Mark] = []
        seen: set[str] = set()  # a set: a note of many URLs is not quadratic
        for mark in _scan(document.notes[label], document.link_defs)[1]:
            if mark.kind == "link" and mark.value not in seen:
                seen.add(mark.value)
                urls.append(mark)
        context = None
        if label in first_reference:
            plain, reference = first_reference[label]
            context = sentence_around(plain, reference.offset)
        if not urls:
            report.markers_without_urls.append(number)
        for position, mark in enumerate(urls, start=1):
            report.citations.append(CitedURL(number, position, mark.value, context, line=mark.line))
    # A reference to a numbered footnote that was never written is worth a warning too.
    report.markers_without_urls += sorted(
        {int(label) for label in first_reference if label.isdecimal()} - set(numbers.values())
    )

    number = max(numbers.values(), default=0)
    for plain, mark in body:
        if mark.kind == "link":
            number += 1
            context = sentence_around(plain, mark.offset)
            report.citations.append(CitedURL(number, 1, mark.value, context, line=mark.line))
    if not report.citations:
        raise InputError(path, _NO_URLS)
    return report


def _number_notes(
    notes: Mapping[str, _Block], first_reference: Mapping[str, object]
) -> dict[str, int]:
    """Footnote label → number: numeric labels as written, named ones after the highest."""
    numbers = {label: int(label) for label in notes if label.isdecimal()}
    named = [label for label in first_reference if label in notes and label not in numbers]
    referenced = set(named)
    named += [label for label in notes if label not in numbers and label not in referenced]
    highest = max(numbers.values(), default=0)
    numbers.update({label: highest + index for index, label in enumerate(named, start=1)})
    return numbers


def _read_lines(lines: list[str]) -> _Document:
    """Sort lines into body paragraphs, footnote definitions and link definitions, skipping
    front matter and code, since where a line belongs decides what its URLs mean."""
    document = _Document()
    start = _front_matter(lines, document)
    fence = ""  # the opening fence while inside a fenced code block
    note: _Block | None = None  # the footnote definition being read
    block: _Block | None = None  # the body paragraph being read
    blank_before = True
    in_list = indented_code = False
    for number, line in enumerate(lines[start:], start=start + 1):
        if fence:
            closing = _FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = ""
            continue
        if not line.strip():
            block, blank_before = None, True
            continue
        indented = bool(_INDENTED.match(line))
        after_blank, blank_before = blank_before, False
        if note is not None and (indented or not (after_blank or _starts_block(line))):
            # Indented lines continue a footnote; so does plain text right after it.
            note.lines.append((number, _INDENTED.sub("", line, count=1)))
            continue
        note = None
        if indented and (indented_code or (after_blank and not in_list)):
            indented_code = True
            continue
        indented_code = False
        if after_blank and not indented:
            in_list = False
        if opening := _FENCE.match(line):
            fence, block = opening.group(1), None
        elif definition := _NOTE_DEF.match(line):
            note = _Block([(number, definition.group(2))])
            document.notes.setdefault(definition.group(1), note)
            block = None
        elif link_def := _LINK_DEF.match(line):
            document.link_defs.setdefault(_label_key(link_def.group(1)), link_def.group(2))
        elif heading := _heading(line):
            hashes, title = heading
            if hashes == "#" and document.title is None and title:
                document.title = title
            document.body.append(_Block([(number, title or "")]))
            block = None
        elif _RULE.match(line):
            block = None
        else:
            in_list = in_list or bool(_LIST_ITEM.match(line))
            if block is None or _LIST_ITEM.match(line):
                block = _Block()
                document.body.append(block)
            block.lines.append((number, _LINE_PREFIX.sub("", line, count=1)))
    return document


def _heading(line: str) -> tuple[str, str | None] | None:
    """(hashes, text) of an ATX heading line, as
    ``^ {0,3}(#{1,6})(?:\\s+(.*?))?(?:\\s+#+)?\\s*$`` reads it: the text without its
    surrounding whitespace and without closing hashes that follow whitespace; None for a line
    that is no heading, and None for the text when nothing follows the hashes."""
    opening = _HEADING.match(line)
    if opening is None:
        return None
    rest = line[opening.end() :]
    if not rest:
        return opening.group(1), None
    text = rest.strip()
    unclosed = text.rstrip("#")
    if unclosed != text and unclosed and unclosed[-1].isspace():
        text = unclosed.rstrip()
    return opening.group(1), text


def _starts_block(line: str) -> bool:
    """True for lines that open something new rather than continue the paragraph above."""
    patterns = (_FENCE, _NOTE_DEF, _LINK_DEF, _HEADING, _RULE, _LIST_ITEM)
    return any(pattern.match(line) for pattern in patterns)


def _front_matter(lines: list[str], document: _Document) -> int:
    """Take ``title:`` and ``date:`` from YAML front matter; return the first line after it."""
    if not lines or lines[0].strip() != "---":
        return 0
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            for entry in lines[1:index]:
                if match := _FRONT_MATTER_KEY.match(entry):
                    value = match.group(2).rstrip().strip("\"'")
                    _set_meta(document, match.group(1).lower(), value)
            return index + 1
    return 0  # no closing line: a thematic break, not front matter


def _set_meta(document: _Document, key: str, value: str) -> None:
    if key == "title":
        document.title = value or None
        return
    try:
        document.date = iso_date(value)
    except ValueError:
        document.date = None


def _scan(block: _Block, link_defs: Mapping[str, str]) -> tuple[str, list[_Mark]]:
    """The block's text as read (markup removed, footnote markers dropped) and its marks.

    The text is collected in parts and joined once, and line starts are computed once: adding
    to one string and recounting lines for every mark made a long paragraph quadratic.
    """
    text = block.text()
    starts = block.starts()
    parts: list[str] = []
    length = 0  # of the plain text so far

    def add(part: str) -> None:
        nonlocal length
        parts.append(part)
        length += len(part)

    def line_at(offset: int) -> int:
        return block.lines[bisect_right(starts, offset) - 1][0]

    marks: list[_Mark] = []
    position = 0  # where the text not yet taken into the plain text starts
    search_from = 0
    pattern = _TOKEN
    spans: _CodeSpans | None = None
    while token := pattern.search(text, search_from):
        if pattern is _TOKEN and token["comment"] is not None:
            close = text.find("-->", token.end())
            if close < 0:
                pattern, search_from = _TOKEN_NO_COMMENT, token.start()
                continue
            add(text[position : token.start()])
            position = search_from = close + 3
            continue
        if token["ticks"] is not None:
            spans = spans or _CodeSpans(text)
            closing = spans.closing(token.start(), token.end())
            if closing is None:
                search_from = token.end()  # no code span opens in this run: it is text
                continue
            ticks, close = closing
            add(text[position : token.start()])
            add(text[token.start() + ticks : close])
            position = search_from = close + ticks
            continue
        add(text[position : token.start()])
        position = search_from = token.end()
        if token["note"] is not None:
            marks.append(_Mark("note", token["note"], length, line_at(token.start())))
        elif token["alt"] is not None:
            add(token["alt"])
        else:
            shown, url = _link(token, link_defs)
            if url is None:
                # "[x]" that is no reference link is text, and may itself hold a bare URL.
                add("[")
                position = search_from = token.start() + 1
                continue
            if url:
                marks.append(_Mark("link", url, length, line_at(token.start())))
            add(shown)
    return "".join(parts) + text[position:], marks


class _CodeSpans:
    """Where the code span opened by a run of backticks closes, as
    ``(`+)(.+?)(?<!`)\\1(?!`)`` finds it: at the first later run of exactly as many
    backticks, the opening run giving up backticks until one exists.

    That pattern tried every length of every run against the rest of the text: cubic on a
    run of backticks (a 250 KB one took more than 20 s); here runs are listed once by length.
    """

    def __init__(self, text: str) -> None:
        self.by_length: dict[int, list[int]] = {}
        for run in _TICKS.finditer(text):
            self.by_length.setdefault(run.end() - run.start(), []).append(run.start())

    def closing(self, start: int, end: int) -> tuple[int, int] | None:
        """(backticks that open the span, where its closing run starts), or None."""
        for ticks in range(end - start, 0, -1):  # at most the run's length, once per run
            later = self.by_length.get(ticks)
            if later:
                found = bisect_right(later, end)
                if found < len(later):
                    return ticks, later[found]
        return None


def _link(token: re.Match[str], link_defs: Mapping[str, str]) -> tuple[str, str | None]:
    """(text shown, URL) of a link token; URL None for an undefined reference, "" for no URL."""
    if token["url"] is not None:
        return token["text"] or "", token["url"]
    if token["auto"] is not None:
        return token["auto"], token["auto"]
    if token["bare"] is not None:
        url = trim_url(token["bare"])
        return token["bare"], url if "://" in url and not url.endswith("://") else ""
    label = token["label"] or ""
    return label, link_defs.get(_label_key(token["ref"] or label))


def _label_key(label: str) -> str:
    """Link labels match case-insensitively and ignoring runs of whitespace."""
    return " ".join(label.split()).casefold()
