"""A capture made in the browser: the page as Chromium rendered it, every request it made
recorded as a WARC exchange, and its rendered DOM, screenshot and PDF as resources."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from ..net.fetch import Fetcher, FetchResult
from ..net.pool import HostGate
from .browser import Answer, BrowserSession, Rendering, RenderOptions
from .exchanges import Resource, StoredPayloads, write_exchange, write_hop, write_resource
from .gather import SKIP_REASONS
from .warcfile import CaptureWarc, SpooledPayload

# Headers that describe how a body travelled: the browser gets the body decoded, whole.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# Request headers worth passing on from the browser; the fetcher sets the rest itself.
_FORWARDED = ("accept", "referer", "range")


def browser_answer(result: FetchResult) -> Answer:
    """A fetch's final response as the browser should get it."""
    headers = {k: v for k, v in result.headers.items() if k not in _TRANSFER_HEADERS}
    return Answer(result.status or 502, headers, result.body)


class RenderingBudget:
    """Requests and bytes one rendering may still spend, and what it left out and why (the
    requisites' words, and ``not_get``): a page that requests without end stops getting
    answers, and says so."""

    def __init__(self, requests: int, budget_bytes: int, deadline: float) -> None:
        self.requests = requests
        self.bytes = budget_bytes
        self.deadline = deadline
        self.skipped: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.closed = False  # the rendering is over: late answers are not written

    def left_out(self) -> dict[str, int]:
        return {r: self.skipped[r] for r in (*SKIP_REASONS, "not_get") if self.skipped[r]}

    def take(self) -> bool:
        with self.lock:
            reason = (
                "count"
                if self.requests <= 0
                else "budget"
                if self.bytes <= 0
                else "deadline"
                if time.monotonic() >= self.deadline
                else None
            )
            if reason is not None:
                self.skipped[reason] += 1
                return False
            self.requests -= 1
            return True


def render_into(
    session: BrowserSession,
    fetcher: Fetcher,
    gate: HostGate,
    warc: CaptureWarc,
    resources: list[Resource],
    first: FetchResult,
    options: RenderOptions,
    warc_date: str,
    stored: StoredPayloads,
    budget: RenderingBudget,
) -> Rendering:
    """Render the page whose document ``first`` holds; write what it requested, and what the
    browser made of it, into ``warc``. Raises what BrowserSession.render raises."""

    def answer(url: str, method: str, headers: dict[str, str], _body: bytes | None) -> Any:
        if method not in ("GET", "HEAD"):
            # A capture reads; it does not post forms, beacons or analytics on the reader's
            # behalf.
            with budget.lock:
                budget.skipped["not_get"] += 1
            return None
        if not budget.take():
            return None
        host = urlsplit(url).hostname or ""
        if not gate.enter(host, budget.deadline):
            with budget.lock:
                budget.skipped["deadline"] += 1
            return None
        payload = SpooledPayload()
        try:
            try:
                result = fetcher.fetch(
                    url,
                    method=method,
                    headers={k: v for k, v in headers.items() if k in _FORWARDED},
                    max_bytes=max(budget.bytes, 1),
                    raw_sink=payload.write,
                    raw_limit=max(budget.bytes, 1),
                    deadline=budget.deadline,
                )
            finally:
                gate.leave(host)
            with budget.lock:
                if budget.closed:
                    return None
                if result.status is None:  # every attempt a row, answered or not
                    failed = Resource(url, "requisite", None, None, None, 0, False, None, None)
                    failed.error_type, failed.error_message = (
                        result.error_type,
                        result.error_message,
                    )
                    resources.append(failed)
                    return None
                for hop in result.redirects:
                    resources.append(write_hop(warc, hop, warc_date))
                kept = write_exchange(warc, "requisite", url, result, payload, warc_date, stored)
                kept.error_type, kept.error_message = result.error_type, result.error_message
                resources.append(kept)
                budget.bytes -= payload.size
            return browser_answer(result)
        finally:
            payload.close()

    url = first.final_url or first.url
    try:
        rendering = session.render(url, browser_answer(first), answer, options, budget.deadline)
    finally:
        with budget.lock:
            budget.closed = True
    made = (
        ("dom", f"urn:dom:{url}", "text/html; charset=utf-8", rendering.dom.encode("utf-8")),
        ("screenshot", f"urn:screenshot:{url}", "image/png", rendering.screenshot),
        ("pdf", f"urn:pdf:{url}", "application/pdf", rendering.pdf),
    )
    with budget.lock:
        for role, uri, content_type, data in made:
            if data:
                payload = SpooledPayload.of(data)
                try:
                    resources.append(
                        write_resource(warc, role, uri, content_type, payload, warc_date)
                    )
                finally:
                    payload.close()
    return rendering
