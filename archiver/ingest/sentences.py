"""Text helpers the report readers share: the sentence that cites a source, and bare URLs.

Readers build the plain text of a paragraph with footnote markers removed, remember where each
marker (or link) was, and ask :func:`sentence_around` for the sentence at that offset, so a
citation carries the claim it supports.
"""

from __future__ import annotations

import re

#: Longest context kept; a run-on "sentence" (a table cell, a list flattened into one line)
#: is cut to a window around the citation instead.
MAX_CONTEXT = 400

# A sentence ends at . ! ? or … (plus closing quotes/brackets) and whitespace; _ends() also
# wants a next character that is not lowercase, so "e.g. this" and "approx. five" do not split.
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+")
_CLOSERS = "\"'”’»)]"
_TERMINATORS = ".!?…"

#: Bare http(s)/ftp URLs in running text; readers embed it in their own token patterns.
URL_PATTERN = r"\b(?:https?|ftp)://[^\s<>\"'`{}|\\^\[\]]+"
_URL = re.compile(URL_PATTERN, re.IGNORECASE)
_TRAILING = ".,;:!?*_~'\"”’»"


def collapse_whitespace(text: str) -> str:
    """Squeeze runs of whitespace to one space, because layout line breaks are not content.

    >>> collapse_whitespace("  a\\n\\tb  ")
    'a b'
    """
    return " ".join(text.split())


def sentence_around(text: str, index: int) -> str:
    """Return the sentence of ``text`` at ``index`` (whitespace collapsed, at most ~400 chars).

    ``index`` is where a footnote marker stood; a marker right after the full stop
    ("a claim.[1] Next") belongs to the sentence before it.

    >>> sentence_around("First one. A claim. Next one.", 19)
    'A claim.'
    >>> sentence_around("First one. A claim here, e.g. this. Next.", 18)
    'A claim here, e.g. this.'
    """
    index = max(0, min(index, len(text)))
    before = text[:index].rstrip()
    core = before.rstrip(_CLOSERS)
    ends = _ends(text)
    if core and core[-1] in _TERMINATORS:
        end = len(before)
        start_limit = len(core.rstrip(_TERMINATORS))
    else:
        end = next((nxt for stop, nxt in ends if stop >= index), len(text))
        start_limit = index
    start = max((nxt for _, nxt in ends if nxt <= start_limit), default=0)
    sentence = collapse_whitespace(text[start:end])
    if len(sentence) <= MAX_CONTEXT:
        return sentence
    return _window(text, start, end, index)


def _ends(text: str) -> list[tuple[int, int]]:
    """Sentence ends as ``(offset of the punctuation, offset where the next sentence starts)``."""
    found = []
    for match in _END.finditer(text):
        following = text[match.end() : match.end() + 1]
        if not following.islower():
            found.append((match.start(), match.end()))
    return found


def _window(text: str, start: int, end: int, index: int) -> str:
    """Cut an overlong sentence to whole words around ``index``, marking the cuts with "…"."""
    half = MAX_CONTEXT // 2 - 2
    left = max(start, index - half)
    right = min(end, index + half)
    words = text[left:right].split()
    if left > start:
        words = ["…", *words[1:]]
    if right < end:
        words = [*words[:-1], "…"]
    return " ".join(words)


def trim_url(candidate: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL, keeping balanced ``(...)``.

    >>> trim_url("https://en.wikipedia.org/wiki/Foo_(bar)).")
    'https://en.wikipedia.org/wiki/Foo_(bar)'
    """
    url = candidate
    while url and (url[-1] in _TRAILING or _unbalanced_paren(url)):
        url = url[:-1]
    return url


def _unbalanced_paren(url: str) -> bool:
    """True when a final ")" closes a parenthesis opened before the URL."""
    return url.endswith(")") and url.count(")") > url.count("(")


def find_urls(text: str) -> list[tuple[int, str]]:
    """Return ``(offset, url)`` for each bare URL in ``text``, since notes often paste them raw.

    >>> find_urls("See https://example.org/a.pdf, accessed 2024.")
    [(4, 'https://example.org/a.pdf')]
    """
    found = []
    for match in _URL.finditer(text):
        url = trim_url(match.group())
        if "://" in url and not url.endswith("://"):
            found.append((match.start(), url))
    return found
