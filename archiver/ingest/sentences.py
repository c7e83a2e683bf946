"""Text helpers the report readers share: the sentence that cites a source, and bare URLs.

Readers build the plain text of a paragraph with footnote markers removed, remember where each
marker (or link) was, and ask :func:`sentence_around` for the sentence at that offset, so a
citation carries the claim it supports.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

#: Longest context kept; a run-on "sentence" (a table cell, a list flattened into one line)
#: is cut to a window around the citation instead.
MAX_CONTEXT = 400

# A sentence ends at . ! ? or … (plus closing quotes/brackets) and whitespace; _ends() also
# wants a next character that is not lowercase, so "e.g. this" and "approx. five" do not split.
# The three character sets are disjoint, so a match always takes whole runs; starting only at a
# run's first character and never giving back (possessive) keeps a long run of dots with no
# space after it linear instead of quadratic (every start used to rescan the rest of the run).
_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’»)\]]*+\s+")
_CLOSERS = "\"'”’»)]"
_TERMINATORS = ".!?…"
#: Texts up to this long are read directly; longer ones (a report with one huge paragraph and
#: many citations in it) through an index built once per text, so each citation costs about
#: the length of its sentence rather than the length of the paragraph.
_INDEXED_FROM = 4096
# Runs at least this long are indexed, so stripping a run backwards never walks a long one.
_LONG_RUN = 32
_WORD = re.compile(r"\S+")

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
    if len(text) >= _INDEXED_FROM:
        return _indexed(text).sentence_around(index)
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


@dataclass(frozen=True)
class _Runs:
    """The runs of one character class that are at least _LONG_RUN long: (starts, ends)."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str, chars: str) -> _Runs:
        found = [m.span() for m in re.finditer(f"{chars}{{{_LONG_RUN},}}", text)]
        return cls([start for start, _ in found], [end for _, end in found])

    def start_before(self, text: str, index: int, strip: str | None) -> int:
        """Where ``text[:index].rstrip(strip)`` ends, without copying or walking a long run."""
        low = max(0, index - _LONG_RUN)
        kept = len(text[low:index].rstrip(strip))
        if kept or low == 0:
            return low + kept
        # The whole window is stripped: it lies in a long run, whose start the index knows.
        return self.starts[bisect_right(self.starts, index - 1) - 1]


class _Indexed:
    """A long text's sentence ends and long runs, so sentence_around is cheap per citation."""

    def __init__(self, text: str) -> None:
        self.text = text
        ends = _ends(text)
        self.stops = [stop for stop, _ in ends]
        self.nexts = [nxt for _, nxt in ends]
        self.spaces = _Runs.of(text, r"\s")
        self.closers = _Runs.of(text, r"[\"'”’»)\]]")
        self.terminators = _Runs.of(text, r"[.!?…]")

    def sentence_around(self, index: int) -> str:
        """sentence_around(self.text, index), reading only around the sentence."""
        text = self.text
        before = self.spaces.start_before(text, index, None)
        core = self.closers.start_before(text, before, _CLOSERS)
        if core and text[core - 1] in _TERMINATORS:
            end = before
            start_limit = self.terminators.start_before(text, core, _TERMINATORS)
        else:
            found = bisect_left(self.stops, index)
            end = self.nexts[found] if found < len(self.stops) else len(text)
            start_limit = index
        found = bisect_right(self.nexts, start_limit)
        start = self.nexts[found - 1] if found else 0
        sentence = self._collapsed(start, end)
        if sentence is not None:
            return sentence
        return _window(text, start, end, index)

    def _collapsed(self, start: int, end: int) -> str | None:
        """collapse_whitespace(text[start:end]) if it is at most MAX_CONTEXT long, else None;
        long runs of whitespace are jumped over rather than scanned."""
        text, spaces = self.text, self.spaces
        words: list[str] = []
        length = -1
        position = start
        while position < end:
            run = bisect_right(spaces.starts, position) - 1
            if run >= 0 and spaces.ends[run] > position:
                position = spaces.ends[run]
                continue
            word = _WORD.search(text, position, end)
            if word is None:
                break
            words.append(word.group())
            length += len(words[-1]) + 1
            if length > MAX_CONTEXT:
                return None
            position = word.end()
        return " ".join(words)


@functools.lru_cache(maxsize=4)
def _indexed(text: str) -> _Indexed:
    """The index of a long text; the readers ask about the same paragraph text many times."""
    return _Indexed(text)


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
    # Counting once and moving an end index keeps a URL followed by a long run of dots or
    # brackets linear (each step used to copy the URL and count its parentheses again).
    end = len(candidate)
    opened, closed = candidate.count("("), candidate.count(")")
    while end:
        last = candidate[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last == ")" and closed > opened:  # closes a parenthesis opened before the URL
            closed -= 1
            end -= 1
        else:
            break
    return candidate[:end]


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
