"""TimeMaps and Link headers (``application/link-format``, RFC 6690 and RFC 8288), read in
one pass.

An archive's TimeMap is hostile input like any page: a long one lists hundreds of thousands
of mementos, spread over lines as the archive likes, with quoted relations of several values
(``rel="first memento"``), commas and semicolons inside URLs and quoted strings, escaped
quotes, and a last link cut short when the answer was. So it is scanned left to right, once:
every pattern below matches a run of one character class (no alternatives, nothing to
backtrack), a link that does not parse is skipped to the next top-level comma, and a link cut
off at the end is dropped. Time and memory are linear in the text.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

_SPACE = re.compile(r"[ \t\r\n]*")
_SEPARATORS = re.compile(r"[ \t\r\n,]*")
_TOKEN = re.compile(r"[^=;,<>\" \t\r\n]*")
_QUOTED = re.compile(r'[^"\\]*')
_UNTIL_COMMA = re.compile(r'[^,"]*')
# The most links read from one answer: a page of this many is more than any archive pages by.
MAX_LINKS = 200_000


@dataclass(frozen=True, slots=True)
class Link:
    """One link: its target, relation types (lower case) and other parameters."""

    url: str
    rels: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def datetime(self) -> datetime | None:
        """The memento's ``datetime`` parameter (RFC 1123), or None when absent or malformed."""
        return http_datetime(self.params.get("datetime"))

    @property
    def is_memento(self) -> bool:
        return "memento" in self.rels


def http_datetime(value: str | None) -> datetime | None:
    """An HTTP date (``Tue, 29 Feb 2000 03:17:20 GMT``) as an aware UTC datetime, or None.

    >>> http_datetime("Tue, 29 Feb 2000 03:17:20 GMT").isoformat()
    '2000-02-29T03:17:20+00:00'
    >>> http_datetime("yesterday") is None
    True
    """
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_links(text: str, limit: int = MAX_LINKS) -> Iterator[Link]:
    """Every well-formed link in ``text``, in order, at most ``limit``.

    >>> tm = '''<http://a.org/x>; rel="original",
    ...   <http://arc.org/2018/http://a.org/x>
    ...      ; rel="first memento"; datetime="Mon, 01 Jan 2018 10:00:00 GMT",
    ...   <http://arc.org/tm/2/x>;rel=timemap;type="application/link-format"'''
    >>> [(link.url[-9:], link.rels) for link in parse_links(tm)]
    [('//a.org/x', ('original',)), ('//a.org/x', ('first', 'memento')), ('rg/tm/2/x', ('timemap',))]
    """
    at, end, count = 0, len(text), 0
    while count < limit:
        at = _SEPARATORS.match(text, at).end()  # type: ignore[union-attr]
        if at >= end:
            return
        if text[at] != "<":
            at = _skip(text, at)
            continue
        close = text.find(">", at + 1)
        if close < 0:
            return  # cut off
        url = text[at + 1 : close].strip()
        params, at = _params(text, close + 1)
        if params is None:
            return  # cut off inside its parameters
        if url:
            count += 1
            yield Link(url, tuple(params.get("rel", "").lower().split()), params)


def _params(text: str, at: int) -> tuple[dict[str, str] | None, int]:
    """The ``;name=value`` parameters from ``at`` up to the link's end (a top-level comma);
    None when the text ends inside a quoted value. The first of a repeated name counts."""
    params: dict[str, str] = {}
    end = len(text)
    while True:
        at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
        if at >= end or text[at] == ",":
            return params, at
        if text[at] != ";":  # not a parameter: this link ends at the next comma
            return params, _skip(text, at)
        at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
        token_end = _TOKEN.match(text, at).end()  # type: ignore[union-attr]
        name = text[at:token_end].lower()
        at = _SPACE.match(text, token_end).end()  # type: ignore[union-attr]
        value = ""
        if at < end and text[at] == "=":
            at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
            if at < end and text[at] == '"':
                quoted, at = _quoted(text, at + 1)
                if quoted is None:
                    return None, end
                value = quoted
            else:
                value_end = _TOKEN.match(text, at).end()  # type: ignore[union-attr]
                value, at = text[at:value_end], value_end
        if name and name not in params:
            params[name] = value


def _quoted(text: str, at: int) -> tuple[str | None, int]:
    """The quoted string starting after its opening quote, escapes undone, and where it
    ends; None when the text ends first."""
    pieces: list[str] = []
    end = len(text)
    while True:
        run_end = _QUOTED.match(text, at).end()  # type: ignore[union-attr]
        pieces.append(text[at:run_end])
        if run_end >= end:
            return None, end
        if text[run_end] == '"':
            return "".join(pieces), run_end + 1
        if run_end + 1 >= end:  # a backslash at the very end
            return None, end
        pieces.append(text[run_end + 1])
        at = run_end + 2


def _skip(text: str, at: int) -> int:
    """Past the next comma that is not inside a quoted string (or to the end)."""
    end = len(text)
    while at < end:
        at = _UNTIL_COMMA.match(text, at).end()  # type: ignore[union-attr]
        if at >= end:
            return end
        if text[at] == ",":
            return at + 1
        _, at = _quoted(text, at + 1)
    return end
