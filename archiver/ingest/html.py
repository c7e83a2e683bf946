"""Read the footnote citations (or, lacking footnotes, the links) of a report saved as HTML.

Footnotes are recognised by their ids rather than by one generator's markup, which covers
pandoc (``fn1``), Python-Markdown (``fn:1``), Wikipedia (``cite_note-…``), Word "Save as HTML"
(``_ftn1``), Google Docs (``ftnt1``) and the many ``footnote-1`` hand-made variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from archiver.errors import InputError
from archiver.pagetext import decode_html

from .limits import read_text_file
from .model import CitedURL, ParsedReport, iso_date
from .sentences import collapse_whitespace, find_urls, sentence_around

# An id that names a footnote: a known prefix then a separator or digit, but not a backlink
# target such as "fnref1", "ftnt_ref1" or "footnote-ref-1".
# The bare words "note"/"footnote" need a number, so a heading id like "note-on-methods" is not
# taken for a footnote.
_NOTE_ID = re.compile(
    r"^(?:(?:fn|ftnt?|_ftn|_?edn|cite_note)(?![-_:.]?ref)(?:[-_:.]\S+|\d\S*)"
    r"|(?:foot|end)?note[-_:.]?\d+)$",
    re.IGNORECASE,
)
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "div", "dl", "dt",
        "figcaption", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "li", "main", "ol",
        "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_SKIP = frozenset({"script", "style", "template", "noscript"})
_DATE_NAMES = ("citation_publication_date", "article:published_time", "dc.date", "date")
_REDIRECTORS = frozenset({"www.google.com", "google.com"})
_NO_URLS = "no footnote URLs or links found"


def read_html(path: Path) -> ParsedReport:
    """Read a report page's citations, since many reports are published only as web pages.

    Footnotes are numbered by the label of their first body reference ("1", "[2]"), else by
    their position in the notes list; a number already taken goes to the next free one. URLs
    are the links inside each note (backlinks and same-page links left out) plus URLs pasted
    as text. A page with no footnotes instead yields every link in the body, numbered in
    document order, with the sentence around the link as context.
    """
    data = read_text_file(path, "HTML")
    if not data.strip():
        raise InputError(path, _NO_URLS)
    soup = BeautifulSoup(_decode(path, data), "lxml")
    base_tag = soup.find("base", href=True)
    base = _attr(base_tag, "href") if isinstance(base_tag, Tag) else ""
    report = ParsedReport(path=str(path), title=_title(soup), date=_date(soup))
    if not _read_footnotes(soup, base, report):
        _read_links(soup, base, report)
    if not report.citations:
        raise InputError(path, _NO_URLS)
    return report


def _read_footnotes(soup: BeautifulSoup, base: str, report: ParsedReport) -> bool:
    """Add each footnote's URLs to ``report``; False when the page has no footnotes."""
    targets: dict[str, Tag] = {}
    for tag in soup.find_all(True):
        for key in ("name", "id"):  # an id wins over an older <a name> with the same value
            value = _attr(tag, key)
            if _NOTE_ID.match(value) and (key == "id" or value not in targets):
                targets[value] = tag

    notes: dict[int, Tag] = {}  # id(note content) → content, in document order
    for tag in targets.values():
        if tag.name == "li":  # a numbered notes list, even where the body never links to it
            content = _note_content(tag)
            notes.setdefault(id(content), content)
    references: dict[int, list[Tag]] = {}
    for anchor in soup.find_all("a", href=True):
        target = targets.get(unquote(_attr(anchor, "href"))[1:]) if _is_fragment(anchor) else None
        if target is None or any(id(parent) in notes for parent in anchor.parents):
            continue  # a backlink or cross-reference written inside a note
        content = _note_content(target)
        notes.setdefault(id(content), content)
        references.setdefault(id(content), []).append(anchor)
    if not notes:
        return False

    markers = {id(_marker(anchor)) for anchors in references.values() for anchor in anchors}
    sentences = _Sentences(markers, hide=True)
    used: set[int] = set()
    ordered = sorted(notes.values(), key=_document_order(soup))
    positions: dict[int, dict[int, int]] = {}
    for sequence, content in enumerate(ordered, start=1):
        anchors = references.get(id(content), [])
        label = anchors[0].get_text().strip(" []()\u00a0") if anchors else ""
        number = _free_number(label, _list_position(content, positions) or sequence, used)
        context = sentences.around(_marker(anchors[0])) if anchors else None
        urls = _note_urls(content, base)
        if not urls:
            report.markers_without_urls.append(number)
        for position, url in enumerate(urls, start=1):
            report.citations.append(CitedURL(number, position, url, context=context))
    report.citations.sort(key=lambda cited: (cited.footnote, cited.position))
    report.markers_without_urls.sort()
    return True


def _read_links(soup: BeautifulSoup, base: str, report: ParsedReport) -> None:
    """Add every body link as its own numbered citation, for pages that link inline."""
    body = soup.body or soup
    links = [(a, _resolve(_attr(a, "href"), base)) for a in body.find_all("a", href=True)]
    sentences = _Sentences({id(anchor) for anchor, url in links if url}, hide=False)
    for number, (anchor, url) in enumerate([(a, url) for a, url in links if url], start=1):
        report.citations.append(CitedURL(number, 1, url, context=sentences.around(anchor)))


def _note_content(target: Tag) -> Tag:
    """The element holding a note's text: the target itself, or the block around an anchor."""
    if target.name != "a":
        return target
    block = target.find_parent(["li", "p", "div", "aside", "dd"])
    return block if block is not None else target


def _marker(anchor: Tag) -> Tag:
    """The visible marker of a reference: ``<sup><a>1</a></sup>`` as a whole, else the anchor."""
    parent = anchor.parent
    if parent is not None and parent.name == "sup" and parent.get_text() == anchor.get_text():
        return parent
    return anchor


class _Sentences:
    """The sentence around each marked element, reading each paragraph's text only once."""

    def __init__(self, marks: set[int], hide: bool) -> None:
        self.marks = marks  # id() of the marked elements
        self.hide = hide  # leave the marked elements' own text out (footnote numbers)
        self.texts: dict[int, tuple[str, dict[int, int]]] = {}
        self.blocks: dict[int, Tag | None] = {}  # id(element) → its block, itself included

    def around(self, tag: Tag) -> str | None:
        block = self._block_of(tag.parent) or tag
        if id(block) not in self.texts:
            self.texts[id(block)] = _block_text(block, self.marks, self.hide)
        text, offsets = self.texts[id(block)]
        offset = offsets.get(id(tag))  # None inside text nobody reads, such as <noscript>
        return None if offset is None else sentence_around(text, offset)

    def _block_of(self, element: Tag | None) -> Tag | None:
        """The nearest block element at or above ``element`` (``tag.find_parent(_BLOCKS)`` of
        its child), remembered for every element passed: links deep in one block would
        otherwise each climb the same ancestors (quadratic in the nesting depth)."""
        passed: list[int] = []
        found: Tag | None = None
        while element is not None and element.name != "[document]":
            if id(element) in self.blocks:
                found = self.blocks[id(element)]
                break
            passed.append(id(element))
            if element.name in _BLOCKS:
                found = element
                break
            element = element.parent
        for key in passed:
            self.blocks[key] = found
        return found


def _block_text(block: Tag, marks: set[int], hide: bool) -> tuple[str, dict[int, int]]:
    """Text of ``block`` and the offset of each marked element in it (its text left out if
    ``hide``), so the sentence around a marker can be cut from the text the reader sees."""
    parts: list[str] = []
    offsets: dict[int, int] = {}
    length = 0
    # Depth first with a stack of child iterators, not recursion: a deeply nested page
    # (thousands of unclosed <span>) raised RecursionError.
    stack = [iter(block.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, Tag):
            if id(child) in marks:
                offsets[id(child)] = length
                if hide:
                    continue
            if child.name in _SKIP:
                continue
            if child.name == "br" or child.name in _BLOCKS:
                parts.append(" ")
                length += 1
            stack.append(iter(child.children))
        elif _is_text(child):
            parts.append(str(child))
            length += len(parts[-1])
    return "".join(parts), offsets


def _note_urls(content: Tag, base: str) -> list[str]:
    """Links in a note plus URLs written out as text, in reading order, each once."""
    urls: list[str] = []
    seen: set[str] = set()  # as ``urls``, for a note of many links not to be quadratic
    for node in content.descendants:
        if isinstance(node, Tag):
            found = [_resolve(_attr(node, "href"), base)] if node.name == "a" else []
        elif _is_text(node) and node.find_parent("a") is None:
            found = [url for _, url in find_urls(str(node))]
        else:
            found = []
        new = [url for url in found if url and url not in seen]
        urls += new
        seen.update(new)
    return urls


def _resolve(href: str, base: str) -> str | None:
    """An absolute link target, or None for same-page links and relative links with no base."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        parts = urlsplit(href)
    except ValueError:
        return href  # let the caller report the URL that does not parse
    if parts.hostname in _REDIRECTORS and parts.path == "/url":
        # Google Docs exports wrap every link in a google.com/url?q=<target> redirect.
        target = parse_qs(parts.query).get("q", [""])[0]
        return target or href
    if parts.scheme:
        return href
    return urljoin(base, href) if base else None


def _free_number(label: str, position: int, used: set[int]) -> int:
    """The note's label if it is a number not yet used, else its list position, else the next
    number after the highest so far (a second "1" in another notes list)."""
    for number in (int(label) if label.isdecimal() else 0, position):
        if number > 0 and number not in used:
            break
    else:
        number = max(used) + 1
    used.add(number)
    return number


def _list_position(content: Tag, known: dict[int, dict[int, int]] | None = None) -> int | None:
    """1-based position of a list item in its ``<ol>``, honouring ``start``.

    ``known`` keeps each list's positions (by id of list, then of item), so the notes of one
    long list do not each count the items before them (quadratic).
    """
    parent = content.parent
    if content.name != "li" or parent is None:
        return None
    known = {} if known is None else known
    if id(parent) not in known:
        start = _attr(parent, "start")
        offset = int(start) - 1 if start.isdigit() else 0
        items = parent.find_all("li", recursive=False)
        known[id(parent)] = {id(item): i + offset for i, item in enumerate(items, start=1)}
    return known[id(parent)][id(content)]


def _document_order(soup: BeautifulSoup) -> Callable[[Tag], int]:
    """A sort key giving each element's position in the page, to order notes as they appear."""
    order = {id(tag): index for index, tag in enumerate(soup.find_all(True))}
    return lambda tag: order[id(tag)]


def _is_fragment(anchor: Tag) -> bool:
    return _attr(anchor, "href").startswith("#")


def _is_text(node: object) -> bool:
    """True for document text, false for comments, doctypes and other markup strings."""
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _attr(tag: Tag, name: str) -> str:
    """An attribute as one string (bs4 gives lists for multi-valued attributes like class)."""
    value = tag.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def _title(soup: BeautifulSoup) -> str | None:
    title = soup.title.get_text() if soup.title else ""
    return collapse_whitespace(title) or None


def _date(soup: BeautifulSoup) -> str | None:
    """Publication date from the usual meta tags, as YYYY-MM-DD, when one parses."""
    found: dict[str, str] = {}
    for meta in soup.find_all("meta"):
        key = (_attr(meta, "name") or _attr(meta, "property")).lower()
        found.setdefault(key, _attr(meta, "content"))
    for name in _DATE_NAMES:
        try:
            return iso_date(found.get(name, "").replace("/", "-"))
        except ValueError:
            continue
    return None


def _decode(path: Path, data: bytes) -> str:
    """Decode as a browser would: BOM, then declared charset, then UTF-8, then detection."""
    try:
        return decode_html(data)
    except UnicodeError:
        raise InputError(
            path, "cannot tell the character encoding; save the page as UTF-8"
        ) from None
