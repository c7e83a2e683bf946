"""Which words of a page's main text were added and removed between two copies.

Bounded for hostile pages: each side is cut at ``MAX_WORDS`` words, and the words are aligned
by patience diff (words found once on each side anchor the alignment; the gaps between anchors
are aligned the same way), with difflib's matcher only on small gaps, and a budget on the work
of all the passes together: past it, what is left is shown as replaced. Two 50 MB pages cost
what two pages of ``MAX_WORDS`` words do, whatever their words.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from typing import Any

MAX_WORDS = 5000
# A gap at most this big (words before × words after) is aligned by difflib.
_SMALL = 2500
# Words looked at by every pass together, per word compared.
_BUDGET_PER_WORD = 30


def word_diff(before: str, after: str, max_words: int = MAX_WORDS) -> dict[str, Any]:
    """``{parts, added, removed, cut}``: parts are ``{op, text}`` with op ``same``, ``added``
    or ``removed``, in reading order; added and removed count words; cut says a side had more
    than ``max_words`` words and only its first ``max_words`` were compared.

    >>> word_diff("the akimat closed the weekly", "the akimat fined the weekly")["parts"]
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'op': 'same', 'text': 'the akimat'}, {'op': 'removed', 'text': 'closed'},
     {'op': 'added', 'text': 'fined'}, {'op': 'same', 'text': 'the weekly'}]
    """
    a, cut_a = _words(before, max_words)
    b, cut_b = _words(after, max_words)
    out = _Parts()
    budget = _BUDGET_PER_WORD * (len(a) + len(b) + 1)
    # Tasks in reverse reading order: ("diff", a0, a1, b0, b1) or ("same", a0, a1).
    tasks: list[tuple[Any, ...]] = [("diff", 0, len(a), 0, len(b))]
    while tasks:
        task = tasks.pop()
        if task[0] == "same":
            out.add("same", a[task[1] : task[2]])
            continue
        _, a0, a1, b0, b1 = task
        while a0 < a1 and b0 < b1 and a[a0] == b[b0]:  # the common beginning
            out.add("same", [a[a0]])
            a0, b0 = a0 + 1, b0 + 1
        end = 0
        while a1 - end > a0 and b1 - end > b0 and a[a1 - 1 - end] == b[b1 - 1 - end]:
            end += 1
        if end:
            tasks.append(("same", a1 - end, a1))
            a1, b1 = a1 - end, b1 - end
        budget -= (a1 - a0) + (b1 - b0)
        anchors = _anchors(a, a0, a1, b, b0, b1) if budget > 0 else []
        if not anchors:
            _replace(out, a[a0:a1], b[b0:b1], small=budget > 0)
            continue
        # Each gap before an anchor, the anchor itself, in reading order (pushed reversed).
        ends = [*anchors, (a1, b1)]
        later: list[tuple[Any, ...]] = []
        prev_a, prev_b = a0, b0
        for i, j in ends:
            later.append(("diff", prev_a, i, prev_b, j))
            if (i, j) != (a1, b1):
                later.append(("same", i, i + 1))
            prev_a, prev_b = i + 1, j + 1
        tasks.extend(reversed(later))
    return {"parts": out.parts(), "added": out.added, "removed": out.removed, "cut": cut_a or cut_b}


def _anchors(
    a: list[str], a0: int, a1: int, b: list[str], b0: int, b1: int
) -> list[tuple[int, int]]:
    """Words that occur once in ``a[a0:a1]`` and once in ``b[b0:b1]``, as (i, j) pairs in
    both orders at once: the longest increasing run of them (patience sorting)."""
    in_a, in_b = Counter(a[a0:a1]), Counter(b[b0:b1])
    where_b = {b[j]: j for j in range(b0, b1) if in_b[b[j]] == 1 and in_a[b[j]] == 1}
    pairs = [(i, where_b[a[i]]) for i in range(a0, a1) if a[i] in where_b and in_a[a[i]] == 1]
    # Longest increasing subsequence of the j's, in O(k log k).
    tops: list[int] = []  # the smallest j ending a run of each length
    top_at: list[int] = []  # index in pairs of that j
    back = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tops, j)
        back[n] = top_at[k - 1] if k else -1
        if k == len(tops):
            tops.append(j)
            top_at.append(n)
        else:
            tops[k], top_at[k] = j, n
    run: list[tuple[int, int]] = []
    n = top_at[-1] if top_at else -1
    while n >= 0:
        run.append(pairs[n])
        n = back[n]
    run.reverse()
    return run


def _replace(out: _Parts, old: list[str], new: list[str], small: bool) -> None:
    """A gap with no anchor: difflib when it is small, else all of it replaced."""
    if small and old and new and len(old) * len(new) <= _SMALL:
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                out.add("same", old[i1:i2])
            else:
                out.add("removed", old[i1:i2])
                out.add("added", new[j1:j2])
        return
    out.add("removed", old)
    out.add("added", new)


class _Parts:
    """Runs of words with the same op, joined as they come."""

    def __init__(self) -> None:
        self._runs: list[tuple[str, list[str]]] = []
        self.added = 0
        self.removed = 0

    def add(self, op: str, words: list[str]) -> None:
        if not words:
            return
        if op == "added":
            self.added += len(words)
        elif op == "removed":
            self.removed += len(words)
        if self._runs and self._runs[-1][0] == op:
            self._runs[-1][1].extend(words)
        else:
            self._runs.append((op, list(words)))

    def parts(self) -> list[dict[str, str]]:
        return [{"op": op, "text": " ".join(words)} for op, words in self._runs]


def _words(text: str, limit: int) -> tuple[list[str], bool]:
    """The first ``limit`` words of ``text``, and whether there were more (``split`` with a
    maximum leaves the rest as one piece: one pass, no list of every word)."""
    pieces = text.split(None, limit)
    return pieces[:limit], len(pieces) > limit
