"""Reading a fetched page as a person would: its characters, its main text, and what it says.

Shared by the checker (soft-404s, login walls, drift) and the importer of HTML reports.
Main-text extraction is trafilatura's: it drops navigation, ads and boilerplate, which is what
makes "the text changed" mean the article changed, not the sidebar.
"""

from __future__ import annotations

import codecs
import html
import re
from typing import Any

from charset_normalizer import from_bytes
from lxml import html as lxml_html

from .parsing import DEFAULT_PARSE_LIMITS, ParseLimits, heavy_parse

# A charset declaration is ``<meta\s[^>]*?charset=…`` or ``<?xml[^>]*?encoding=…``; neither
# can run past the tag's ">", so each tag is read up to its ">" once (see declared_encoding).
_DECLARATION_OPEN = re.compile(rb"<meta\s|<\?xml", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""encoding\s*=\s*["']([\w.:-]+)""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# What "this page does not exist" says in the languages our sources use (en, ru, kk), looked
# for in the title and headings only: an article may well quote "not found" in its text.
NOT_FOUND = re.compile(
    r"\b(?:404|page not found|not found|page (?:does not|doesn't) exist|no longer available"
    r"|couldn't find|could not find|страница не найдена|не найдена|не найдено|не существует"
    r"|страница удалена|ошибка 404|бет табылмады|табылмады|бет жоқ)",
    re.IGNORECASE,
)
_LOGIN_PATH = re.compile(
    r"/(?:login|log-in|signin|sign-in|sign_in|auth|accounts?/login|checkpoint|session/new)\b",
    re.IGNORECASE,
)
_NOT_FOUND_PATH = re.compile(r"/(?:404|not-?found|error|errors?/404)(?:[/.?]|$)", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


def decode_html(data: bytes, header_charset: str | None = None) -> str:
    """Decode as a browser would: BOM, HTTP charset, ``<meta>`` charset, UTF-8, then detection.

    Raises UnicodeError when nothing declares the encoding and detection cannot tell.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    for declared in (_lookup(header_charset), declared_encoding(data[:16384])):
        if declared:
            return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise UnicodeError("cannot tell the character encoding")
    return str(best)


def decode_body(data: bytes, content_type: str | None) -> str:
    """A fetched body as text, by its Content-Type charset or its own declaration; bytes no
    encoding explains become replacement characters rather than an error."""
    try:
        return decode_html(data, charset_from_content_type(content_type))
    except UnicodeError:
        return data.decode("utf-8", errors="replace")


def declared_encoding(head: bytes) -> str | None:
    """The charset named by ``<meta>`` or the XML declaration, mapped as browsers map it."""
    label = _declared_label(head)
    if label is None:
        return None
    try:
        return _lookup(label.decode("ascii"))
    except UnicodeDecodeError:
        return None


def _declared_label(head: bytes) -> bytes | None:
    """The first declaration's label, as ``<meta\\s[^>]*?charset…|<\\?xml[^>]*?encoding…``
    would find it, in linear time.

    That pattern rescanned the tag from every ``<meta`` inside it, quadratic on a head full of
    ``<meta <meta …`` (0.2 s for the 16 KB head). A tag whose declaration fails fails for every
    later opener of the same kind before the same ">", so those are skipped.
    """
    failed_before = {b"m": -1, b"?": -1}  # per kind: the ">" before which openers fail
    for opener in _DECLARATION_OPEN.finditer(head):
        kind = opener.group()[1:2].lower()
        if opener.start() < failed_before[kind]:
            continue
        close = head.find(b">", opener.end())
        end = len(head) if close < 0 else close
        tail = _META_CHARSET if kind == b"m" else _XML_ENCODING
        found = tail.search(head, opener.end(), end)
        if found:
            return found.group(1)
        failed_before[kind] = len(head) + 1 if close < 0 else close
    return None


def _lookup(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    # HTML treats latin-1/ASCII labels as windows-1252, and a UTF-16 label read as
    # ASCII-compatible bytes can only really be UTF-8.
    if name in ("iso8859-1", "ascii"):
        return "cp1252"
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset=`` parameter of a Content-Type header, if any."""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


# The title and main heading are what ``<title[^>]*>(.*?)</title\s*>`` (``h1`` alike) finds;
# that pattern, retried from every "<title" of a page that never closes one, was quadratic
# (a 250 KB page of "<title>" took minutes), so _element_text reads it in one pass.
_TITLE = (re.compile(r"<title", re.IGNORECASE), re.compile(r"</title\s*+>", re.IGNORECASE))
_H1 = (re.compile(r"<h1", re.IGNORECASE), re.compile(r"</h1\s*+>", re.IGNORECASE))
_TAG = re.compile(r"<[^>]+>")
# ``<input\b[^>]*\btype\s*=\s*["']?password``, split at the tag's ">" (see _has_password_input).
_INPUT_OPEN = re.compile(r"<input\b", re.IGNORECASE)
_PASSWORD_TYPE = re.compile(r"\btype\s*+=\s*+[\"']?password", re.IGNORECASE)


def _element_text(markup: str, element: tuple[re.Pattern[str], re.Pattern[str]]) -> str | None:
    """The content of the first element, as ``<name[^>]*>(.*?)</name\\s*>`` finds it.

    Only the first opener matters: when it has no ">" or no closing tag after it, no later
    opener has one either, so the pattern fails everywhere.
    """
    opener, closer = element
    opened = opener.search(markup)
    if opened is None:
        return None
    start = markup.find(">", opened.end()) + 1
    if not start:
        return None
    closed = closer.search(markup, start)
    return markup[start : closed.start()] if closed else None


def _has_password_input(markup: str) -> bool:
    """Whether an ``<input>`` tag has type=password, reading each tag up to its ">" once.

    The type must come before the tag's ">", so when the first ``<input`` of a stretch has no
    password type, no later ``<input`` before the same ">" has one either.
    """
    position = 0
    while opened := _INPUT_OPEN.search(markup, position):
        close = markup.find(">", opened.end())
        end = len(markup) if close < 0 else close
        if _PASSWORD_TYPE.search(markup, opened.end(), end):
            return True
        if close < 0:
            return False
        position = close + 1
    return False


def _inline_text(fragment: str) -> str:
    # Nothing after the last ">" is a tag: leaving it out of the substitution keeps a run of
    # "<" with no ">" linear (each "<" used to scan to the end of the fragment).
    tags_end = fragment.rfind(">") + 1
    stripped = _TAG.sub(" ", fragment[:tags_end]) + fragment[tags_end:]
    return " ".join(html.unescape(stripped).split())


class Page:
    """An HTML page as the checks need it: title, main heading, login form, main text.

    Title, heading and login form are read with cheap patterns, over all the markup; the full
    parse and the main-text extraction happen only when something asks for them (drift,
    templates, metadata), on the first ``limits.max_bytes`` of it, within ``limits.timeout``
    (else they raise ParseTimeout).
    """

    def __init__(self, markup: str, limits: ParseLimits = DEFAULT_PARSE_LIMITS) -> None:
        self.markup = markup
        self.limits = limits
        self._parse_input: tuple[str, bool] | None = None
        title = _element_text(markup, _TITLE)
        self.title = _inline_text(title) if title is not None else ""
        heading = _element_text(markup, _H1)
        self.headings = _inline_text(heading) if heading is not None else ""
        self.has_password_field = _has_password_input(markup)
        self._main_text: str | None = None

    @property
    def parse_input(self) -> str:
        """The markup whole-document parsers read: at most ``limits.max_bytes`` of it."""
        return self._cut()[0]

    @property
    def parse_truncated(self) -> bool:
        """Whether main text and metadata come from only the first part of the page."""
        return self._cut()[1]

    def _cut(self) -> tuple[str, bool]:
        if self._parse_input is None:
            self._parse_input = self.limits.cut(self.markup)
        return self._parse_input

    @property
    def main_text(self) -> str:
        """The article text without navigation and boilerplate (falls back to all body text)."""
        if self._main_text is None:
            self._main_text = heavy_parse(_main_text, self.parse_input, timeout=self.limits.timeout)
        return self._main_text

    @property
    def says_not_found(self) -> bool:
        """The title or main heading says the page is missing (en, ru, kk)."""
        return bool(NOT_FOUND.search(self.title) or NOT_FOUND.search(self.headings))

    @property
    def is_login_wall(self) -> bool:
        """A password form with little else: the content is behind a login."""
        return self.has_password_field and len(_WORD.findall(self.main_text)) < 120


def parse_html(markup: str) -> Any:
    """An lxml tree of any markup, however broken (an empty document at worst)."""
    try:
        return lxml_html.fromstring(markup or "<html></html>")
    except (ValueError, lxml_html.etree.ParserError):
        return lxml_html.fromstring("<html></html>")


def _main_text(markup: str) -> str:
    # fast: no second opinion from readability/jusText, which triples the cost for what
    # drift and template comparison need (the same extraction every time).
    import trafilatura  # slow to import; a check that never extracts never pays it

    extracted = trafilatura.extract(
        markup, fast=True, favor_recall=True, include_comments=False, deduplicate=False
    )
    return extracted or _all_text(markup)


def _all_text(markup: str) -> str:
    """Every visible word, for pages where main-text extraction finds nothing."""
    tree = parse_html(markup)
    for bad in tree.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    return " ".join(tree.text_content().split())


def is_login_url(url: str) -> bool:
    return bool(_LOGIN_PATH.search(url))


def is_not_found_url(url: str) -> bool:
    return bool(_NOT_FOUND_PATH.search(url))


def similarity(a: str, b: str) -> float:
    """How much two texts share, 0..1: Jaccard similarity of their 3-word shingles.

    >>> similarity("the court banned the movement today", "the court banned the movement today")
    1.0
    >>> similarity("the court banned the movement", "police stopped people with balloons")
    0.0
    """
    sa, sb = _shingles(a), _shingles(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def same_template(page: Page, missing: Page) -> bool:
    """Whether ``page`` is the site's "missing page" template (``missing``, from a probe).

    Templates vary between loads (trending lists, tokens, dates), so besides near-identical
    text, the same title with a good share of identical text lines is a match too. A probe
    with next to no text (a page built by scripts) proves nothing.
    """
    if len(_WORD.findall(missing.main_text)) < 10:
        return False
    if similarity(page.main_text, missing.main_text) >= 0.7:
        return True
    lines_a = {line.strip() for line in page.main_text.splitlines() if line.strip()}
    lines_b = {line.strip() for line in missing.main_text.splitlines() if line.strip()}
    shared = len(lines_a & lines_b) / max(len(lines_a), len(lines_b), 1)
    return page.title == missing.title and shared >= 0.4


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 3:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


_KAZAKH_LETTERS = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
_CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
_LATIN = re.compile(r"[a-zA-Z]")


def guess_language(text: str) -> str | None:
    """A rough language for pages that do not declare one: Kazakh, Russian or English.

    >>> guess_language("Полиция задерживала людей с синими шарами")
    'ru'
    >>> guess_language("Сіз іздеген бет жоқ")
    'kk'
    """
    sample = text[:5000]
    cyrillic, latin = len(_CYRILLIC.findall(sample)), len(_LATIN.findall(sample))
    if cyrillic > latin:
        return "kk" if len(_KAZAKH_LETTERS.findall(sample)) > cyrillic * 0.01 else "ru"
    return "en" if latin else None


def page_metadata(page: Page, url: str, content_language: str | None) -> dict[str, str | None]:
    """Title, language, publication date, canonical URL and author, as the page states them.

    The date comes only from explicit markup (meta tags, JSON-LD, time elements), not from a
    guess over the text: a wrong publication date is worse than none in evidence.
    """

    return heavy_parse(_metadata, page, url, content_language, timeout=page.limits.timeout)


def _metadata(page: Page, url: str, content_language: str | None) -> dict[str, str | None]:
    import trafilatura

    markup = page.parse_input
    document = trafilatura.extract_metadata(
        markup, default_url=url, extensive=False, date_config={"extensive_search": False}
    )
    tree = parse_html(markup)
    lang = next(iter(tree.xpath("/html/@lang")), None) or content_language
    canonical = next(iter(tree.xpath("//link[@rel='canonical']/@href")), None)
    return {
        "title": page.title or (document.title if document else None),
        "language": (str(lang).split(",")[0].strip().split("-")[0].lower() if lang else None)
        or guess_language(page.main_text),
        "published": document.date if document else None,
        "canonical_url": str(canonical) if canonical else None,
        "author": document.author if document else None,
    }
