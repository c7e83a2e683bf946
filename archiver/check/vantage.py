"""A second opinion from elsewhere: sources that failed from here, checked again through each
vantage point (``vantage_points``), before any verdict is made of the failure.

From one network, "403", "451", "connection reset" and "timed out" mean "gone" or "not from
here". So a source is checked again through every vantage when its check from here failed at
the network level, was blocked by status (403, 451), or is about to make it ``dead``:

- reached from some vantage (its content: ``ok`` or ``redirected``) and not from here: the
  verdict is ``blocked`` with reason ``regional``, never ``dead``;
- about to become ``dead``: only if every vantage agrees (no answer from the site there
  either); a vantage that answered, or was itself unreachable, keeps it ``failing``.

Every recheck is a row of ``vantage_checks`` (history); ``vantage_state`` holds what each
vantage saw at a source's latest check, which status, get and the report name.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from ..net.fetch import Fetcher, FetchLimits, FetchResult
from ..net.pool import Attempt, run_pool
from ..net.vantage import VANTAGE_ERRORS, Vantage
from ..pagetext import Page, decode_body
from ..parsing import ParseLimits
from ..store import stamp
from .verdicts import Outcome, Rules, classify, next_state

# Failures from here that may be ours (a block on the way) rather than the site's.
NETWORK_ERRORS = frozenset(
    {
        "timeout",
        "connect_timeout",
        "connection_reset",
        "connection_refused",
        "network_unreachable",
        "dns_nxdomain",
        "dns_failure",
        "tls_error",
    }
)
BLOCKED_REASONS = frozenset({"http_403", "http_451", "regional"})
REGIONAL = Outcome("blocked", "regional")
CONTENT = ("ok", "redirected")
HTML_TYPES = ("text/html", "application/xhtml+xml", "")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A source whose check from here may not be the whole story."""

    source_id: int
    url: str
    host: str
    verdict: str  # its new verdict from this run's check
    previous: str  # its verdict before this run


@dataclass(slots=True)
class Seen:
    """What one vantage saw of one source."""

    vantage: str
    outcome: Outcome
    result: FetchResult
    checked_at: datetime

    @property
    def abstains(self) -> bool:
        """The vantage itself failed: it says nothing about the site."""
        return self.result.error_type in VANTAGE_ERRORS

    @property
    def reached(self) -> bool:
        return self.outcome.verdict in CONTENT


@dataclass
class Rechecks:
    """What the vantages saw in one run, and the verdicts that changed because of it."""

    seen: dict[int, list[Seen]] = field(default_factory=dict)
    regional: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # kept from `dead`: a vantage disagreed

    def counts(self) -> dict[str, Any]:
        unavailable = sorted({s.vantage for seen in self.seen.values() for s in seen if s.abstains})
        return {
            "rechecked": len(self.seen),
            "regional": len(self.regional),
            "kept_from_dead": len(self.held),
            "unavailable": unavailable,
        }


def needs_recheck(verdict: str, reason: str | None, error_type: str | None, previous: str) -> bool:
    """Whether a source's check from here should be asked of the vantages too.

    >>> needs_recheck("failing", "connection_reset", "connection_reset", "ok")
    True
    >>> needs_recheck("failing", "http_503", None, "ok")
    False
    >>> needs_recheck("blocked", "login_wall", None, "ok")
    False
    """
    if error_type in NETWORK_ERRORS:
        return True
    if verdict == "blocked":
        return reason in BLOCKED_REASONS
    return verdict == "dead" and previous != "dead"


def decide(candidate: Candidate, seen: Sequence[Seen]) -> Outcome | None:
    """The verdict the vantages make of a source: ``REGIONAL``; a ``failing`` outcome that
    keeps it from ``dead``; or None, when the check from here stands."""
    if candidate.verdict not in CONTENT and any(s.reached for s in seen):
        return REGIONAL
    if candidate.verdict == "dead" and candidate.previous != "dead":
        agree = all(s.outcome.verdict == "failing" and not s.abstains for s in seen)
        if not agree:
            return Outcome("failing", "vantages_disagree")
    return None


def recheck(
    vantages: Sequence[Vantage],
    candidates: Sequence[Candidate],
    *,
    limits: FetchLimits,
    parse: ParseLimits,
    now: Any,
    concurrency: int,
    per_host_concurrency: int,
    per_host_delay: float,
    stop: threading.Event | None = None,
) -> Rechecks:
    """Fetch every candidate through every vantage, politely (per-host limits apply to the
    site, whichever vantage the request leaves from), and decide what they say."""
    found = Rechecks()
    if not vantages or not candidates:
        return found
    fetchers = {v.name: Fetcher(limits, v) for v in vantages}
    jobs = [(c, v) for c in candidates for v in vantages]

    def attempt(job: tuple[Candidate, Vantage]) -> Attempt[tuple[int, Seen]]:
        candidate, vantage = job
        result = fetchers[vantage.name].fetch(candidate.url)
        seen = Seen(vantage.name, _classify(result, parse), result, now())
        contacted = result.error_type not in VANTAGE_ERRORS
        return Attempt((candidate.source_id, seen), contacted=contacted)

    def failed(job: tuple[Candidate, Vantage], exc: Exception) -> tuple[int, Seen]:
        candidate, vantage = job
        result = FetchResult(
            url=candidate.url,
            method="GET",
            error_type="internal_error",
            error_message=repr(exc)[:300],
        )
        outcome = Outcome("failing", "internal_error")
        return candidate.source_id, Seen(vantage.name, outcome, result, now())

    def store(item: tuple[int, Seen]) -> None:
        found.seen.setdefault(item[0], []).append(item[1])

    try:
        run_pool(
            jobs,
            lambda job: job[0].host,
            attempt,
            failed=failed,
            store=store,
            concurrency=concurrency,
            per_host_concurrency=per_host_concurrency,
            per_host_delay=per_host_delay,
            stop=stop,
            name="archiver-vantage",
        )
    finally:
        for fetcher in fetchers.values():
            fetcher.close()
    for candidate in candidates:
        seen = found.seen.get(candidate.source_id)
        if not seen or len(seen) < len(vantages):
            found.seen.pop(candidate.source_id, None)  # a stopped run: decide nothing
            continue
        seen.sort(key=lambda s: s.vantage)
        decision = decide(candidate, seen)
        if decision is REGIONAL:
            found.regional.append(candidate.source_id)
        elif decision is not None:
            found.held.append(candidate.source_id)
    return found


def _classify(result: FetchResult, parse: ParseLimits) -> Outcome:
    """What a vantage's answer says, by the checker's rules (a login wall, a "not found"
    page); a page that cannot be read in time is taken by its status alone."""
    if result.error_type in VANTAGE_ERRORS:
        return Outcome("failing", result.error_type or "vantage_error")
    page = None
    if result.body and result.content_type in HTML_TYPES:
        page = Page(decode_body(result.body, result.headers.get("content-type")), parse)
    try:
        return classify(result, page)
    except Exception:  # ParseTimeout and kin: the answer is still an answer
        return classify(result, None)


def store_rechecks(db: Database, run_id: int, found: Rechecks, checked: Sequence[int]) -> None:
    """Write what the vantages saw: history rows, and each source's current picture, which
    a source checked this run without a recheck no longer has (it is what it is from here)."""
    rows, states = [], []
    for source_id, seen in found.seen.items():
        for s in seen:
            r = s.result
            row = {
                "run_id": run_id,
                "source_id": source_id,
                "vantage": s.vantage,
                "checked_at": stamp(s.checked_at),
                "status_code": r.status,
                "final_url": r.final_url,
                "error_type": r.error_type,
                "error_message": r.error_message,
                "elapsed_ms": r.elapsed_ms,
                "outcome": s.outcome.verdict,
                "reason": s.outcome.reason,
            }
            rows.append(row)
            states.append({k: row[k] for k in _STATE_KEYS})
    db.table("vantage_checks").insert_all(rows)
    if checked:
        db.execute(
            "delete from vantage_state where run_id != ? and source_id in "
            "(select value from json_each(?))",
            [run_id, _json_ids(checked)],
        )
    db.table("vantage_state").upsert_all(states, pk=("source_id", "vantage"))


_STATE_KEYS = (
    "source_id", "vantage", "run_id", "checked_at", "status_code", "error_type", "outcome",
    "reason",
)  # fmt: skip


def _json_ids(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def apply_rechecks(
    db: Database, staged: str, done: Sequence[Any], found: Rechecks, rules: Rules
) -> None:
    """Fold what the vantages said into the check run's staged states (the table ``staged``)
    and its finished items (``verdict``, ``reason``): ``blocked``/``regional`` for a source
    some vantage reached, ``failing`` (not yet ``dead``) where one disagreed."""
    changed = set(found.regional) | set(found.held)
    for item in done:
        source_id = item.job.source_id
        if source_id not in changed:
            continue
        previous = item.job.state or {}
        row = db.execute(
            f"select checked_at, failures, failing_since from {staged} where source_id = ?",
            [source_id],
        ).fetchone()
        checked_at = datetime.fromisoformat(row[0])
        if source_id in found.regional:
            fields = next_state(previous, REGIONAL, checked_at, rules)
        else:
            was_failing = previous.get("verdict") == "failing"
            fields = {
                "verdict": "failing",
                "reason": item.reason,
                "since": previous.get("since") if was_failing else stamp(checked_at),
                "last_ok_at": previous.get("last_ok_at"),
                "failures": row[1],
                "failing_since": row[2],
            }
        db.execute(
            f"update {staged} set verdict = ?, reason = ?, since = ?, "
            "last_ok_at = ?, failures = ?, failing_since = ? where source_id = ?",
            [*(fields[k] for k in _RECHECKED), source_id],
        )
        item.verdict, item.reason = fields["verdict"], fields["reason"]


_RECHECKED = ("verdict", "reason", "since", "last_ok_at", "failures", "failing_since")


def vantage_note(counts: dict[str, Any], vantages: int) -> str:
    note = (
        f"; {counts['rechecked']} source(s) checked again through {vantages} vantage point(s): "
        f"{counts['regional']} blocked only from some (regional), "
        f"{counts['kept_from_dead']} kept from dead"
    )
    if counts["unavailable"]:
        note += f"; unreachable vantage point(s): {', '.join(counts['unavailable'])}"
    return note
