"""The references a stylesheet makes (``url()``, ``@import``, ``image-set()`` strings), found by
one linear scan that reads CSS as a browser's tokenizer does.

A pattern over the text cannot be trusted with hostile CSS: escapes make ``\\75 rl(x)`` a
``url()``, comments hide look-alikes, and a pattern such as ``url\\(([^)]+)\\)`` retried at every
``url(`` of ``url(url(url(…`` takes quadratic time. This scanner follows CSS Syntax Level 3
(comments, strings, escapes, url tokens, names) far enough to find every reference a browser
would fetch, looks at each character once, and reports spans so a caller can rewrite them.
It errs towards finding too much: ``1url(x)`` is reported although it is a dimension.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_WHITESPACE = " \t\n\r\f"
_HEX = frozenset("0123456789abcdefABCDEF")
# Functions whose string arguments are URLs a browser fetches (image() and src() are not in
# Chromium yet; a later browser that adds them finds them rewritten already).
_URL_STRING_FUNCTIONS = frozenset({"url", "src", "image", "image-set", "-webkit-image-set"})
# Runs of one character class: no alternation, nothing after the run, so no backtracking.
_NAME_RUN = re.compile(r"[A-Za-z0-9_\-\u0080-\U0010ffff]*")
_PLAIN_RUN = re.compile(r"[^\"'/\\()\[\]{};@<A-Za-z_\-\u0080-\U0010ffff]*")
# What a browser drops before reading a URL's scheme: C0 controls and spaces around it, and
# tabs and newlines anywhere in it.
_URL_EDGES = "".join(chr(c) for c in range(0x21))
_URL_DROPPED = str.maketrans("", "", "\t\n\r")
# Data URLs that only ever render as a picture or a font: nothing in them can run or fetch.
NEUTRAL = "data:,"
_PICTURE_DATA = ("data:image/", "data:font/", "data:application/font-", "data:application/x-font-")


def browser_url_text(value: str) -> str:
    """A URL attribute or CSS value as the browser's URL parser sees it (``" jav\\tascript:"``
    is ``javascript:``)."""
    return value.strip(_URL_EDGES).translate(_URL_DROPPED)


def harmless_as_is(ref: str) -> bool:
    """A reference that leaves nothing: a fragment of this document, a picture or font carried
    in the URL itself, or ``data:,`` (empty: what neutralised references become)."""
    text = browser_url_text(ref)
    return text.startswith("#") or text == NEUTRAL or text.lower().startswith(_PICTURE_DATA)


@dataclass(frozen=True)
class Reference:
    """One URL a stylesheet asks for, and where it is written."""

    url: str  # as the browser reads it: escapes decoded
    start: int  # the token naming it: ``url(…)`` or a string
    end: int
    quoted: bool  # a string token (in url(), image-set(), @import), not an unquoted url(…)
    rule: tuple[int, int] | None = None  # the whole @import rule, for an @import's reference


@dataclass
class _Scan:
    css: str
    references: list[Reference]
    openers: list[int]  # positions of "<!--" outside strings and comments


def scan(css: str) -> tuple[list[Reference], list[int]]:
    """Every reference in ``css``, in order, and where the ``<!--`` tokens are."""
    found = _Scan(css, [], [])
    _Scanner(found).run()
    return found.references, found.openers


def references(css: str) -> list[str]:
    """The URLs ``css`` refers to, in order, as a browser reads them."""
    return [ref.url for ref in scan(css)[0]]


def rewrite(
    css: str,
    replace: Callable[[str], str | None],
    allowed: Callable[[str], bool],
    *,
    in_html: bool = False,
) -> tuple[str, int]:
    """``css`` with every reference rewritten, and how many were neutralised.

    ``replace`` maps a reference to the URL to write instead (perhaps the same), or None:
    then a ``url()`` or image-set string becomes the empty ``data:,`` and an ``@import`` rule
    is dropped. ``in_html``: the text goes inside a ``<style>`` element, where a ``<`` could
    end it early (``</style>``, or in SVG any tag): every ``<`` is written as the CSS escape
    ``\\3c `` (the same character to CSS) and ``<!--`` tokens, which CSS ignores, are dropped.

    The result is scanned again and must refer to nothing but what ``allowed`` accepts; if it
    does (a bug, or CSS this scanner misreads), the whole stylesheet is dropped: failing
    closed is better than a copy that phones home.
    """
    refs, openers = scan(css)
    edits: list[tuple[int, int, str]] = []
    neutralised = 0
    for ref in refs:
        target = replace(ref.url)
        if target is None:
            neutralised += 1
            if ref.rule is not None:
                # A space, not nothing: "u@import 'x';rl(…)" must not become "url(…)".
                edits.append((ref.rule[0], ref.rule[1], " "))
                continue
            target = NEUTRAL
        elif target == ref.url:
            continue
        quoted = _css_string(target)
        edits.append((ref.start, ref.end, quoted if ref.quoted else f"url({quoted})"))
    if in_html:
        edits.extend((at, at + 4, " ") for at in openers)
    edits.sort()
    pieces: list[str] = []
    done = 0
    for start, end, text in edits:
        if start < done:  # inside an @import already dropped
            continue
        pieces += [css[done:start], text]
        done = end
    pieces.append(css[done:])
    out = "".join(pieces)
    if in_html:
        out = out.replace("<", "\\3c ")
    if not all(allowed(url) for url in references(out)):
        return "", neutralised + 1
    return out, neutralised


def _css_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ")
    return f'"{escaped}"'


class _Scanner:
    """The tokenizer walk: ``i`` only moves forward."""

    def __init__(self, found: _Scan) -> None:
        self.found = found
        self.css = found.css
        self.n = len(found.css)
        self.i = 0
        self.nesting: list[str] = []  # open functions (by name) and brackets
        self.at_rule: tuple[str, int, int] | None = None  # (name, start, nesting depth)
        self.at_rule_ref: Reference | None = None

    def run(self) -> None:
        css, n = self.css, self.n
        while self.i < n:
            self.i = _PLAIN_RUN.match(css, self.i).end()  # type: ignore[union-attr]
            if self.i >= n:
                break
            c = css[self.i]
            if c == "/" and css.startswith("*", self.i + 1):
                close = css.find("*/", self.i + 2)
                self.i = n if close < 0 else close + 2
            elif c in "\"'":
                self._string()
            elif c == "@":
                self._at_keyword()
            elif c == "<":
                if css.startswith("<!--", self.i):
                    self.found.openers.append(self.i)
                    self.i += 4
                else:
                    self.i += 1
            elif c in "([{":
                self.nesting.append(c)
                self.i += 1
            elif c in ")]}":
                if c == "}":
                    self._end_at_rule(self.i, len(self.nesting) - 1)
                if self.nesting:
                    self.nesting.pop()
                self.i += 1
            elif c == ";":
                self._end_at_rule(self.i + 1, len(self.nesting))
                self.i += 1
            elif self._starts_name(self.i):
                self._name_like()
            else:  # "/" alone, "\" before a newline, "-" alone
                self.i += 1
        self._end_at_rule(n, -1)

    # --- tokens ---

    def _string(self) -> None:
        css, n = self.css, self.n
        start, quote = self.i, css[self.i]
        self.i += 1
        chars: list[str] = []
        while self.i < n:
            c = css[self.i]
            if c == quote:
                self.i += 1
                break
            if c == "\n" or c == "\r" or c == "\f":
                break  # a bad string: it ends before the newline
            if c == "\\":
                if self.i + 1 < n and css[self.i + 1] in "\n\r\f":
                    self.i += 2 if css.startswith("\r\n", self.i + 1) else 1
                    self.i += 1
                    continue
                decoded, self.i = self._escape(self.i)
                chars.append(decoded)
                continue
            run_end = self.i + 1
            while run_end < n and css[run_end] not in (quote, "\\", "\n", "\r", "\f"):
                run_end += 1
            chars.append(css[self.i : run_end])
            self.i = run_end
        context = self.nesting[-1] if self.nesting else ""
        if context in _URL_STRING_FUNCTIONS or self._in_import():
            self._found(Reference("".join(chars), start, self.i, quoted=True))

    def _name_like(self) -> None:
        start = self.i
        name = self._name().lower()
        if self.i < self.n and self.css[self.i] == "(":
            self.i += 1
            after = self.i
            while after < self.n and self.css[after] in _WHITESPACE:
                after += 1
            if name == "url" and not (after < self.n and self.css[after] in "\"'"):
                self._url_token(start)
            else:
                self.nesting.append(name)

    def _url_token(self, start: int) -> None:
        css, n = self.css, self.n
        while self.i < n and css[self.i] in _WHITESPACE:
            self.i += 1
        chars: list[str] = []
        while self.i < n:
            c = css[self.i]
            if c == ")":
                self.i += 1
                break
            if c in _WHITESPACE:
                while self.i < n and css[self.i] in _WHITESPACE:
                    self.i += 1
                if self.i < n and css[self.i] != ")":
                    self._bad_url_rest()
                    break
                continue
            if c == "\\" and self._valid_escape(self.i):
                decoded, self.i = self._escape(self.i)
                chars.append(decoded)
                continue
            if c in "\"'(\\" or ord(c) < 0x20 or ord(c) == 0x7F:
                self._bad_url_rest()
                break
            chars.append(c)
            self.i += 1
        self._found(Reference("".join(chars), start, self.i, quoted=False))

    def _bad_url_rest(self) -> None:
        """Skip what is left of a malformed url(…), up to its ")"."""
        css, n = self.css, self.n
        while self.i < n:
            c = css[self.i]
            if c == ")":
                self.i += 1
                return
            if c == "\\" and self._valid_escape(self.i):
                self.i = self._escape(self.i)[1]
            else:
                self.i += 1

    def _at_keyword(self) -> None:
        start = self.i
        self.i += 1
        if self.i >= self.n or not self._starts_name(self.i):
            return
        name = self._name().lower()
        if name in ("import", "namespace") and self.at_rule is None:
            self.at_rule = (name, start, len(self.nesting))
            self.at_rule_ref = None

    # --- @import and @namespace ---

    def _in_import(self) -> bool:
        return self.at_rule is not None and self.at_rule[0] == "import"

    def _found(self, ref: Reference) -> None:
        if self.at_rule is None:
            self.found.references.append(ref)
        elif self.at_rule[0] == "import" and self.at_rule_ref is None:
            self.at_rule_ref = ref
        # Later tokens of the rule (media queries, a @namespace's URL) fetch nothing.

    def _end_at_rule(self, end: int, depth: int) -> None:
        """A ";" at the rule's depth, the "}" around it or the end of the text ends it."""
        if self.at_rule is None or depth > self.at_rule[2]:
            return
        name, start, _ = self.at_rule
        if name == "import" and self.at_rule_ref is not None:
            ref = self.at_rule_ref
            self.found.references.append(
                Reference(ref.url, ref.start, ref.end, ref.quoted, rule=(start, end))
            )
        self.at_rule = None
        self.at_rule_ref = None

    # --- names and escapes ---

    def _valid_escape(self, i: int) -> bool:
        return self.css[i] == "\\" and not (i + 1 < self.n and self.css[i + 1] in "\n\r\f")

    def _starts_name(self, i: int) -> bool:
        c = self.css[i]
        if c == "-":
            if i + 1 >= self.n:
                return False
            nxt = self.css[i + 1]
            return nxt == "-" or _name_start(nxt) or self._valid_escape(i + 1)
        return _name_start(c) or (c == "\\" and self._valid_escape(i))

    def _name(self) -> str:
        parts: list[str] = []
        while self.i < self.n:
            run_end = _NAME_RUN.match(self.css, self.i).end()  # type: ignore[union-attr]
            if run_end > self.i:
                parts.append(self.css[self.i : run_end])
                self.i = run_end
            elif self._valid_escape(self.i):
                decoded, self.i = self._escape(self.i)
                parts.append(decoded)
            else:
                break
        return "".join(parts)

    def _escape(self, i: int) -> tuple[str, int]:
        """The character an escape at ``i`` (a backslash) stands for, and where it ends."""
        css, n = self.css, self.n
        j = i + 1
        if j >= n:
            return "\ufffd", j
        if css[j] not in _HEX:
            return css[j], j + 1
        k = j
        while k < n and k - j < 6 and css[k] in _HEX:
            k += 1
        code = int(css[j:k], 16)
        if k < n and css[k] in _WHITESPACE:
            k += 2 if css.startswith("\r\n", k) else 1
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return "\ufffd", k
        return chr(code), k


def _name_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or ord(c) >= 0x80
