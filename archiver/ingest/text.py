"""Read a report from plain text extracted from a PDF, recovering which URL is which footnote.

Extraction keeps the words but scrambles the footnote area at each page bottom: a page's
footnote numbers and URLs arrive as one block, numbers before, after or between the URLs, mixed
with page numbers and running footers. The body text keeps its markers in reading order
(``balloons.12``, ``DCK8;``, ``‘explanations’ 5,``), so the body says *which* footnotes a page
has and the block says *which URLs* they cite:

1. Runs of lines holding only numbers, URLs, blanks and running footers are footnote blocks;
   every other line is body text.
2. Markers are read from the body as the increasing sequence 1, 2, 3, … in reading order.
3. Each block's URL lines are paired, in order, with the markers the body introduced since the
   previous block; when the counts differ, the numbers inside the block settle which they are.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .csvfile import decode_utf8
from .limits import read_text_file
from .model import CitedURL, ParsedReport, Skipped
from .sentences import URL_PATTERN, sentence_around, trim_url

# Footnotes may cite any scheme (the importer filters them centrally); a bare www. host is a
# URL to a human reader too, unless it is a running footer (those repeat, see _running_lines).
_URL = re.compile(
    rf"{URL_PATTERN}|\b(?:mailto|javascript|file):[^\s<>\"]+|(?<![\w@./-])www\.[^\s<>\"]+",
    re.IGNORECASE,
)
_NUMBERS_LINE = re.compile(r"\d{1,3}(?:\s+\d{1,3})*")
# "12 https://…" or "12. Author, Title, https://…": a footnote that kept its own number.
_LABELLED_LINE = re.compile(r"\s*([1-9]\d{0,2})[.)]?\s+\S")
# What may sit between the URLs of one footnote line ("url ; url").
_URL_SEPARATORS = re.compile(r"[\s;,|]*")
# The tail of a URL that the PDF wrapped onto the next line: one token of URL characters with
# at least one of /?=&#%_ in it. The part before the first of those cannot match one of them,
# so nothing is ever given back: `[url chars]*[/?=&#%_][url chars]*` tried every split of a
# line of slashes (quadratic: 0.25 MB of "/" ending in "^" took over 20 s).
_URL_TAIL = re.compile(r"(?:[^\W_]|[\-.~@!$'()*+,;:])*+[/?=&#%_][\w\-.~/?#@!$&'()*+,;=%:]*+")
# A footnote marker is a number glued to a word or punctuation ("DCK8;", "balloons.12") or one
# space after closing punctuation ("‘explanations’ 5,", "him. 31 Next"); numbers after a plain
# word and space ("On 13 March") are text, as are decimals and thousands ("40,000", "22.03").
_MARKER = re.compile(
    r"(?:(?<=[^\W\d_])|(?<=[.,;:!?)\]’”\"'])|(?<=[.!?)\]’”\"'] ))"
    r"([1-9]\d{0,2})(?!\d|[.,]\d)(?=[\s.,;:!?)\]’”\"']|$)"
)
_BULLETS = "•▪◦‣∙●\uf0a7\uf0b7"
# How many footnote numbers in a row may be unreadable in the body before the sequence is lost.
_MAX_MARKER_GAP = 3
_NO_URLS = "no footnote URLs found (expected numbers and URLs at page bottoms)"


@dataclass
class _Entry:
    """The URLs of one footnote line of a block; ``number`` when the line carries its own."""

    urls: list[str]
    line: int
    number: int | None = None


@dataclass
class _Block:
    """A footnote area: lines ``first``..``last`` (0-based), its URL lines and bare numbers."""

    first: int
    last: int = -1
    entries: list[_Entry] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Marker:
    """A footnote marker in the body: line index and the column span to cut for the context."""

    number: int
    line: int
    start: int
    end: int


def read_text(path: Path) -> ParsedReport:
    """Read a text file extracted from a PDF, so reports already converted can be imported."""
    data = read_text_file(path, "text")
    return parse_text(decode_utf8(path, data), str(path))


def parse_text(text: str, path: str) -> ParsedReport:
    """Recover footnote → URL citations from extracted text; shared by the text and PDF readers."""
    lines = [line.replace("\f", " ").rstrip("\r") for line in text.split("\n")]
    running = _running_lines(lines)
    blocks = _find_blocks(lines, running)
    in_block = {i for block in blocks for i in range(block.first, block.last + 1)}
    body = [
        ""
        if i in in_block or line.strip() in running or _NUMBERS_LINE.fullmatch(line.strip())
        else line
        for i, line in enumerate(lines)
    ]
    footnote_numbers = {n for block in blocks for n in block.numbers}
    markers = _sequence(_marker_candidates(body), footnote_numbers)
    footnotes, skipped = _assign(blocks, markers)
    if not footnotes:
        raise InputError(path, _NO_URLS)

    by_number = {marker.number: marker for marker in markers}
    contexts = _Contexts(body, markers)
    citations = []
    for number in sorted(footnotes):
        marker = by_number.get(number)
        context = contexts.of(marker) if marker else None
        position = 0
        for entry in footnotes[number]:
            for url in entry.urls:
                position += 1
                citations.append(CitedURL(number, position, url, context, line=entry.line))
    skipped.extend(
        Skipped(url, "not in a footnote", line=i + 1)
        for i, line in enumerate(body)
        for url in _urls(line)
    )
    skipped.sort(key=lambda item: item.line or 0)
    return ParsedReport(
        path=path,
        citations=citations,
        markers_without_urls=sorted({m.number for m in markers} - set(footnotes)),
        skipped=skipped,
    )


def _urls(line: str) -> list[str]:
    """The URLs in one line, end punctuation dropped and bare www. hosts given a scheme."""
    found = []
    for match in _URL.finditer(line):
        url = trim_url(match.group())
        if url.lower().startswith("www."):
            url = "http://" + url
        if not url.endswith(":") and not url.endswith("://"):
            found.append(url)
    return found


def _running_lines(lines: list[str]) -> set[str]:
    """Lines repeated on several pages (footers like ``www.example.org``), which are not citations.

    A repeated line with a scheme is kept out: two footnotes may well cite the same URL.
    """
    counts = Counter(line.strip() for line in lines)
    return {
        line
        for line, count in counts.items()
        if count > 1 and line and "://" not in line and not _NUMBERS_LINE.fullmatch(line)
    }


def _url_entry(line: str, index: int) -> _Entry | None:
    """The entry a footnote-area line holds: only URLs, or a number followed by a URL."""
    urls = _urls(line)
    if not urls:
        return None
    if _URL_SEPARATORS.fullmatch(_URL.sub("", line)):
        return _Entry(urls, index + 1)
    labelled = _LABELLED_LINE.match(line)
    if labelled:
        return _Entry(urls, index + 1, int(labelled.group(1)))
    return None


def _find_blocks(lines: list[str], running: set[str]) -> list[_Block]:
    """Group footnote-area lines into blocks; a block needs URLs and at least one number."""
    blocks: list[_Block] = []
    block: _Block | None = None
    previous_was_url = False
    # Wrapped tails of the block's last URL, joined once the run of them ends: adding each to
    # the URL in turn copied the growing URL every line (quadratic on many short tail lines).
    tails: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if block is None:
            block = _Block(first=index)
        # A footer inside the footnote area is neither footnote nor body: step over it.
        entry = None if stripped in running else _url_entry(line, index)
        is_tail = previous_was_url and " " not in stripped and bool(_URL_TAIL.fullmatch(stripped))
        if tails and (entry or not is_tail):  # the tail run has ended
            _join_tails(block, tails)
        if entry:
            block.entries.append(entry)
        elif is_tail:
            tails.append(stripped)
        elif _NUMBERS_LINE.fullmatch(stripped):
            block.numbers.extend(int(n) for n in stripped.split())
        elif stripped and stripped not in running:
            _close(block, index - 1, blocks)
            block = None
        previous_was_url = entry is not None or is_tail
    if block is not None:
        if tails:
            _join_tails(block, tails)
        _close(block, len(lines) - 1, blocks)
    return blocks


def _join_tails(block: _Block, tails: list[str]) -> None:
    """Append the wrapped tails to the block's last URL, all at once."""
    urls = block.entries[-1].urls
    urls[-1] = "".join([urls[-1], *tails])
    tails.clear()


def _close(block: _Block, last: int, blocks: list[_Block]) -> None:
    """Keep a finished run of footnote-area lines if it looks like footnotes.

    Without any number it is more likely a URL on a line of its own in the body text.
    """
    labelled = any(entry.number is not None for entry in block.entries)
    if block.entries and (block.numbers or labelled):
        block.last = last
        blocks.append(block)


def _marker_candidates(body: list[str]) -> list[_Marker]:
    """Every number in the body placed like a footnote marker, in reading order."""
    found = []
    for index, line in enumerate(body):
        # Digits inside URLs ("…/a/8481,…") are never markers.
        masked = _URL.sub(lambda m: " " * len(m.group()), line)
        for match in _MARKER.finditer(masked):
            start = match.start()
            # A spaced marker takes its space along, so "‘explanations’ 5, under" reads
            # "‘explanations’, under" once the marker is cut out.
            if start > 0 and masked[start - 1] == " ":
                start -= 1
            found.append(_Marker(int(match.group(1)), index, start, match.end()))
    return found


def _sequence(candidates: list[_Marker], footnote_numbers: set[int]) -> list[_Marker]:
    """Keep the candidates that continue the sequence 1, 2, 3, … in reading order.

    Numbers may be skipped (their markers unreadable) for a few steps, or for longer when the
    footnote blocks show the number, but only when the skipped ones do not follow: a stray
    early "2" must not swallow the real marker 1 that comes after it.
    """
    accepted: list[_Marker] = []
    expected = 1
    smaller_later = _smaller_later([candidate.number for candidate in candidates])
    for index, candidate in enumerate(candidates):
        if candidate.number != expected:
            if candidate.number < expected:
                continue
            near = candidate.number <= expected + _MAX_MARKER_GAP
            if not near and candidate.number not in footnote_numbers:
                continue
            # _comes_later(range(expected, candidate.number), candidates[index + 1 :]) in O(1)
            if smaller_later[index] >= expected:
                continue
        accepted.append(candidate)
        expected = candidate.number + 1
    return accepted


def _smaller_later(numbers: list[int]) -> list[int]:
    """For each position, the largest smaller number that comes after it before any larger one
    does (0 if none), so _sequence answers each _comes_later in constant time.

    Scanning the later candidates for every skip was quadratic on a body of many equal numbers
    with the one that settles it at the end. One pass from the end with a stack of the numbers
    not yet passed by a larger one: the last number popped for being smaller is the largest
    before the next one at least as large; an equal one there continues with its own answer.
    """
    answers = [0] * len(numbers)
    stack: list[int] = []  # positions; their numbers never decrease from top to bottom
    for index in range(len(numbers) - 1, -1, -1):
        number = numbers[index]
        largest = 0
        while stack and numbers[stack[-1]] < number:
            largest = numbers[stack.pop()]
        if stack and numbers[stack[-1]] == number:
            largest = max(largest, answers[stack[-1]])
        answers[index] = largest
        stack.append(index)
    return answers


def _comes_later(missing: range, later: list[_Marker]) -> bool:
    """Whether a skipped number still shows up before the sequence would have moved past it.

    Only the candidates up to the next larger number count, so noise pages away (a phone
    number in a contact list) does not block a skip.
    """
    for candidate in later:
        if candidate.number in missing:
            return True
        if candidate.number > missing.stop:
            return False
    return False


def _assign(
    blocks: list[_Block], markers: list[_Marker]
) -> tuple[dict[int, list[_Entry]], list[Skipped]]:
    """Give every block entry its footnote number; entries with no plausible number are skipped."""
    footnotes: dict[int, list[_Entry]] = {}
    skipped: list[Skipped] = []
    previous_end = -1
    # Markers are in reading order: each block's "before", "page" and "later" markers are a
    # prefix, a slice and a suffix, so a report with many blocks is not blocks x markers work.
    lines = [m.line for m in markers]
    numbers = [m.number for m in markers]
    most_before = [0]  # most_before[i]: the largest of numbers[:i]
    for number in numbers:
        most_before.append(max(most_before[-1], number))
    least_after: list[int | None] = [None]  # least_after[-i - 1]: the smallest of numbers[-i:]
    for number in reversed(numbers):
        smallest = least_after[-1]
        least_after.append(number if smallest is None else min(smallest, number))
    least_after.reverse()
    most_footnote = 0  # the largest key of footnotes
    for block in blocks:
        first_page = bisect_right(lines, previous_end)
        page = numbers[first_page : bisect_left(lines, block.first)]
        low = max(most_before[first_page], most_footnote)
        later = least_after[bisect_right(lines, block.last)]
        unlabelled = [entry for entry in block.entries if entry.number is None]
        labels = {entry.number for entry in block.entries}
        high = later if later is not None else max([low, *page]) + len(block.entries) + 1
        in_range = {n for n in block.numbers if low < n < high}
        page = [n for n in page if n not in labels and n not in footnotes]
        if not labels - {None} and not in_range and not set(page) & set(block.numbers):
            # Its numbers are all page numbers: a list of links in the body, not footnotes.
            skipped.extend(_not_footnotes(block.entries))
            previous_end = block.last
            continue
        free = iter(_numbers_for(len(unlabelled), page, in_range - labels))
        for entry in block.entries:
            if entry.number is None:
                entry.number = next(free, None)
            if entry.number is None:
                entry.number = _next_free(most_footnote, low, high)
            if entry.number is None:
                skipped.extend(
                    Skipped(url, "footnote number not found", line=entry.line) for url in entry.urls
                )
            else:
                footnotes.setdefault(entry.number, []).append(entry)
                most_footnote = max(most_footnote, entry.number)
        previous_end = block.last
    return footnotes, skipped


def _numbers_for(count: int, page: list[int], in_block: set[int]) -> list[int]:
    """The footnote numbers for ``count`` URL lines of one block, smallest first.

    The page's markers are right when their count matches; otherwise the block's own numbers
    tell which markers it holds (a page without URL footnotes contributed extra markers) or
    which it also holds (a marker the body lost).
    """
    union = sorted(set(page) | in_block)
    for option in (page, [n for n in page if n in in_block], union):
        if len(option) == count:
            return list(option)
    # No reading fits: pair what there is in order; extra URL lines get the next free numbers.
    return (page if len(page) >= count else union)[:count]


def _next_free(most_footnote: int, low: int, high: int) -> int | None:
    """The next footnote number after those taken (the largest is ``most_footnote``), if it
    still lies before the next page's."""
    number = max(low, most_footnote) + 1
    return number if number < high else None


def _not_footnotes(entries: Iterable[_Entry]) -> list[Skipped]:
    """Report the URLs of a number-less block as body links, so they are seen but not imported."""
    return [
        Skipped(url, "not in a footnote", line=entry.line)
        for entry in entries
        for url in entry.urls
    ]


class _Contexts:
    """The body sentence that carries each marker, with every marker's digits cut out.

    Each paragraph's text is built once and shared by its markers (so the sentence index of a
    long one is built once too), and paragraph bounds are remembered per line walked: building
    them anew for each of up to 999 markers made one long paragraph quadratic.
    """

    def __init__(self, body: list[str], markers: list[_Marker]) -> None:
        self.body = body
        self.markers = markers  # in reading order
        self.lines = [m.line for m in markers]
        self.first: dict[int, int] = {}  # line → first line of its paragraph
        self.last: dict[int, int] = {}  # line → last line of its paragraph
        self.texts: dict[tuple[int, int], tuple[str, dict[_Marker, int]]] = {}

    def of(self, marker: _Marker) -> str:
        bounds = (
            self._end(marker.line, self.first, _step_up),
            self._end(marker.line, self.last, _step_down),
        )
        if bounds not in self.texts:
            self.texts[bounds] = self._text(*bounds)
        text, offsets = self.texts[bounds]
        return sentence_around(text, offsets.get(marker, 0))

    def _end(
        self, index: int, known: dict[int, int], step: Callable[[list[str], int], int | None]
    ) -> int:
        """Where the walk from ``index`` stops, remembering it for every line it passed."""
        passed = []
        line: int | None = index
        while line is not None and line not in known:
            passed.append(line)
            end, line = line, step(self.body, line)
        stop = known[line] if line is not None else end
        for walked in passed:
            known[walked] = stop
        return stop

    def _text(self, first: int, last: int) -> tuple[str, dict[_Marker, int]]:
        """The paragraph's text with the markers cut out, and where each marker stood."""
        cuts: dict[int, list[_Marker]] = {}
        for other in self.markers[bisect_left(self.lines, first) : bisect_right(self.lines, last)]:
            cuts.setdefault(other.line, []).append(other)
        parts: list[str] = []
        offsets: dict[_Marker, int] = {}
        offset = 0
        for line_index in range(first, last + 1):
            line = self.body[line_index]
            column = 0
            for cut in sorted(cuts.get(line_index, []), key=lambda m: m.start):
                parts.append(line[column : cut.start])
                offset += cut.start - column
                offsets[cut] = offset
                column = cut.end
            parts.append(line[column:] + "\n")
            offset += len(line) - column + 1
        return "".join(parts), offsets


def _paragraph(body: list[str], index: int) -> tuple[int, int]:
    """The lines of the paragraph around ``index``.

    Blank lines (and removed footnote blocks) end a paragraph unless the text after them goes on
    in lowercase: then it is one sentence broken by a page bottom or a figure caption. Headings,
    list items and a line ending in ":" (a list follows) are boundaries too.
    """
    first = index
    while (above := _step_up(body, first)) is not None:
        first = above
    last = index
    while (below := _step_down(body, last)) is not None:
        last = below
    return first, last


def _step_up(body: list[str], first: int) -> int | None:
    """The paragraph line above ``first``, or None when ``first`` starts the paragraph."""
    if first <= 0 or _starts_item(body[first]):
        return None
    above = first - 1
    while above >= 0 and not body[above].strip():
        above -= 1
    if above < 0 or _is_heading(body[above]) or body[above].rstrip().endswith(":"):
        return None
    if above < first - 1 and not _continues(body[first]):
        return None
    return above


def _step_down(body: list[str], last: int) -> int | None:
    """The paragraph line below ``last``, or None when ``last`` ends the paragraph."""
    if last >= len(body) - 1:
        return None
    below = last + 1
    while below < len(body) and not body[below].strip():
        below += 1
    if below == len(body) or _starts_item(body[below]) or _is_heading(body[below]):
        return None
    if body[last].rstrip().endswith(":"):
        return None
    if below > last + 1 and not _continues(body[below]):
        return None
    return below


def _continues(line: str) -> bool:
    """Whether a line after a break continues the sentence before it (starts in lowercase)."""
    return line.lstrip()[:1].islower()


def _starts_item(line: str) -> bool:
    """Whether a line opens a bulleted list item, which is a sentence of its own."""
    return line.lstrip().startswith(tuple(_BULLETS))


def _is_heading(line: str) -> bool:
    """Whether a line is an all-capitals heading, which no body sentence runs into."""
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)
