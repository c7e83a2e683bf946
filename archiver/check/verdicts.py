"""Verdicts: what one fetch says about a source, and how a history of them becomes a verdict.

Pure functions over plain values, so every rule can be tested without a network.

One attempt's *outcome*:
- ``ok``, ``redirected``, ``soft_404``, ``blocked``: the site answered (any of these resets the
  failure count: the page or its site is there);
- ``failing`` and *hard* (404, 410, NXDOMAIN, refused, TLS, redirect loops, other 4xx): evidence
  that the page is gone; enough of them, over enough days, make it ``dead``;
- ``failing`` and *transient* (5xx, timeouts, resets, temporary DNS failures): evidence of
  nothing; they neither build nor break a streak, and a dead source stays dead through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..config import DEFAULTS
from ..net.fetch import FetchResult
from ..pagetext import Page, is_login_url, is_not_found_url

REACHABLE = frozenset({"ok", "redirected", "soft_404", "blocked"})
HARD_ERRORS = frozenset(
    {
        "dns_nxdomain",
        "connection_refused",
        "tls_error",
        "redirect_loop",
        "too_many_redirects",
        "bad_redirect",
        "invalid_url",
    }
)
BLOCKING_STATUS = {401: "http_401", 403: "http_403", 407: "http_407", 451: "http_451"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt says: an outcome word, why, and whether a failure is hard evidence."""

    verdict: str
    reason: str
    hard: bool = False


@dataclass(frozen=True)
class Rules:
    """When failures make a source dead, and when changed text makes it drifted."""

    dead_after_failures: int = DEFAULTS.dead_after_failures
    dead_after_days: float = DEFAULTS.dead_after_days
    drift_threshold: float = DEFAULTS.drift_threshold


def classify(result: FetchResult, page: Page | None) -> Outcome:
    """The outcome of one fetch (page: the parsed final HTML page, when there is one)."""
    if result.error_type == "private_address":
        return Outcome("blocked", "private_address")
    if result.error_type is not None:
        return Outcome("failing", result.error_type, hard=result.error_type in HARD_ERRORS)
    status = result.status or 0
    if status in BLOCKING_STATUS:
        return Outcome("blocked", BLOCKING_STATUS[status])
    if status == 429:
        return Outcome("blocked", "rate_limited")
    if status in (404, 410):
        return Outcome("failing", f"http_{status}", hard=True)
    if status >= 500:
        return Outcome("failing", f"http_{status}")
    if status >= 400:
        return Outcome("failing", f"http_{status}", hard=True)
    final = result.final_url or result.url
    if result.redirects:
        if is_login_url(final):
            return Outcome("blocked", "login_wall")
        if _is_home(final) and not _is_home(result.url):
            return Outcome("soft_404", "redirect_to_home")
        if is_not_found_url(final) and not is_not_found_url(result.url):
            return Outcome("soft_404", "redirect_to_not_found")
    if page is not None:
        if page.says_not_found:
            return Outcome("soft_404", "not_found_text")
        if page.is_login_wall:
            return Outcome("blocked", "login_wall")
    if (
        result.redirects
        and result.redirects[0]["status"] in (301, 308)
        and not _same_page(result.url, final)
    ):
        return Outcome("redirected", "moved_permanently")
    return Outcome("ok", f"http_{status}")


# What a copy (a local capture, a Wayback capture, the live page) holds: only ``content`` is
# the page that was cited; the others are evidence of what a reader met instead.
HOLDS = ("content", "block_page", "login_wall", "not_found", "error", "truncated")


def copy_holds(outcome: Outcome, truncated: bool = False) -> str:
    """What a copy holds, by the checker's own outcome for its bytes."""
    if truncated:
        return "truncated"
    if outcome.verdict in ("ok", "redirected"):
        return "content"
    if outcome.reason == "login_wall":
        return "login_wall"
    if outcome.verdict == "blocked":
        return "block_page"
    if outcome.verdict == "soft_404" or outcome.reason in ("http_404", "http_410"):
        return "not_found"
    return "error"


def _is_home(url: str) -> bool:
    path = urlsplit(url).path
    return path in ("", "/") or path.lower() in ("/index.html", "/index.php", "/home")


def _same_page(a: str, b: str) -> bool:
    """http→https, www. and a trailing slash do not move a page."""

    def key(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url)
        host = (parts.hostname or "").removeprefix("www.")
        return host, parts.path.rstrip("/") or "/", parts.query

    return key(a) == key(b)


def next_state(
    previous: dict[str, Any] | None, outcome: Outcome, now: datetime, rules: Rules
) -> dict[str, Any]:
    """The source's new verdict fields after one attempt, given its stored state."""
    prev = previous or {}
    prev_verdict = prev.get("verdict") or "unchecked"
    failures = int(prev.get("failures") or 0)
    failing_since = prev.get("failing_since")
    last_ok_at = prev.get("last_ok_at")
    stamp = now.isoformat(timespec="seconds")
    reason: str | None
    if outcome.verdict in REACHABLE:
        verdict, reason = outcome.verdict, outcome.reason
        failures, failing_since = 0, None
        if verdict in ("ok", "redirected"):
            last_ok_at = stamp
    elif outcome.hard:
        failures += 1
        failing_since = failing_since or stamp
        span_days = (now - datetime.fromisoformat(failing_since)).total_seconds() / 86400
        confirmed = failures >= rules.dead_after_failures and span_days >= rules.dead_after_days
        verdict = "dead" if confirmed or prev_verdict == "dead" else "failing"
        reason = outcome.reason
    else:
        verdict = "dead" if prev_verdict == "dead" else "failing"
        reason = prev.get("reason") if verdict == "dead" else outcome.reason
    return {
        "verdict": verdict,
        "reason": reason,
        "since": stamp if verdict != prev_verdict else prev.get("since") or stamp,
        "last_ok_at": last_ok_at,
        "failures": failures,
        "failing_since": failing_since,
    }
