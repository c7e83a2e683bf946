"""A capture's requisites, fetched breadth-first within the capture's limits.

A hostile page can name thousands of images, an endless chain of ``@import`` or a server that
never answers; none of it may make a capture unbounded. Four limits, and what each leaves out
is counted by its name:

- ``count``: at most ``max_count`` requisites are attempted, failed and empty ones included;
- ``depth``: a stylesheet on the page is depth 1, what it imports or references depth 2, …;
  nothing deeper than ``max_depth`` is fetched;
- ``budget``: at most ``budget_bytes`` of requisite payload are stored;
- ``deadline``: nothing starts, and nothing runs, past the capture's wall-clock deadline.

Breadth-first, so what is left out is what lies deepest and last: the page's own images and
stylesheets come before what those stylesheets reference. Every request waits at the run's
:class:`~archiver.net.pool.HostGate` first, whatever host it goes to, so a third-party image
host gets the politeness a cited host gets.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config import DEFAULTS
from ..net.fetch import Fetcher, FetchResult
from ..net.pool import HostGate
from ..pagetext import decode_body
from .requisites import css_requisites
from .warcfile import SpooledPayload

# What is left out, and why: the keys of ``captures.requisites_skipped``.
SKIP_REASONS = ("count", "depth", "budget", "deadline")
# How many left-out URLs are remembered, so that each is counted once.
REMEMBERED = 10_000


@dataclass(frozen=True)
class RequisiteLimits:
    """How far one capture follows its page's requisites."""

    max_count: int = DEFAULTS.requisite_max_count
    max_depth: int = DEFAULTS.requisite_max_depth
    budget_bytes: int = DEFAULTS.requisite_budget_bytes


# Receives every attempt, answered or not: (the URL asked for, what came, its payload).
Keep = Callable[[str, FetchResult, SpooledPayload], None]


def gather_requisites(
    fetcher: Fetcher,
    gate: HostGate,
    found: Iterable[str],
    limits: RequisiteLimits,
    deadline: float,
    keep: Keep,
    *,
    known: Iterable[str] = (),
) -> dict[str, int]:
    """Fetch the requisites ``found`` on a page (and what their stylesheets reference) and
    hand each attempt to ``keep``; return how many were left out, by reason (in the order of
    SKIP_REASONS; none left out: empty).

    deadline: a ``time.monotonic()`` moment; known: URLs already stored (the page itself).
    """
    skipped: Counter[str] = Counter()
    seen = set(known)  # fetched or queued, and left out (as many as REMEMBERED)
    todo: deque[tuple[str, int]] = deque()
    attempts = 0
    budget = limits.budget_bytes

    def add(urls: Iterable[str], depth: int) -> None:
        for url in urls:
            if url in seen:
                continue
            if depth > limits.max_depth:
                reason = "depth"
            elif attempts + len(todo) >= limits.max_count:
                reason = "count"  # never queued: the queue stays as short as the count
            else:
                seen.add(url)
                todo.append((url, depth))
                continue
            skipped[reason] += 1
            # Each left-out URL is counted once while memory allows; past that, once for
            # each stylesheet that names it (a hostile one may name millions).
            if len(seen) < limits.max_count + REMEMBERED:
                seen.add(url)

    add(found, 1)
    while todo:
        reason = _stop_reason(budget, deadline)
        if reason is not None:
            skipped[reason] += len(todo)
            break
        url, depth = todo[0]
        host = urlsplit(url).hostname or ""
        if not gate.enter(host, deadline):
            skipped["deadline"] += len(todo)
            break
        todo.popleft()
        attempts += 1
        payload = SpooledPayload()
        try:
            try:
                result = fetcher.fetch(
                    url, raw_sink=payload.write, raw_limit=budget, deadline=deadline
                )
            finally:
                gate.leave(host)
            keep(url, result, payload)
            budget -= payload.size
            if result.ok and result.content_type == "text/css" and result.body:
                css = decode_body(result.body, result.headers.get("content-type"))
                add(css_requisites(css, result.final_url or url), depth + 1)
        finally:
            payload.close()
    return {reason: skipped[reason] for reason in SKIP_REASONS if skipped[reason]}


def _stop_reason(budget: int, deadline: float) -> str | None:
    """Why no further requisite may start, or None while one may."""
    if budget <= 0:
        return "budget"
    if time.monotonic() >= deadline:
        return "deadline"
    return None
