"""What changed during a run: the one definition the CLI, the scheduler and the runs table use.

A source is *newly failing* when it became failing, soft 404 or blocked; *newly dead* when it
became dead; *recovered* when a problem (soft 404, blocked, failing, dead) became ok or
redirected; *drifted* when its text drifted; *newly archived* when it got its first Wayback or
local copy that holds the cited content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from ..store import scoped_sources

KINDS = ("newly_failing", "newly_dead", "recovered", "drifted", "newly_archived")
FAILING = frozenset({"failing", "soft_404", "blocked"})
PROBLEMS = frozenset({"soft_404", "blocked", "failing", "dead"})
_UNSEEN = {"verdict": "unchecked", "drifted": False, "archived": False}


def source_states(
    db: Database,
    report_id: str | None = None,
    url: str | None = None,
    source_ids: Sequence[int] | None = None,
) -> dict[int, dict[str, Any]]:
    """Each cited source's verdict, drift and whether it has a copy, by source id: what a later
    call compares with. One query over the scope, so a run can afford it twice."""
    rows = scoped_sources(
        db,
        "s.id, s.url, coalesce(st.verdict, 'unchecked') as verdict, "
        "coalesce(st.drifted, 0) as drifted, "
        # A copy counts only when it holds the cited content: a captured block page or
        # "not found" page is kept as evidence, but the page is not archived by it.
        "(select m.local_content_at is not null or m.wayback_url is not null "
        " from source_status m where m.source_id = s.id) as archived",
        report_id,
        url,
        source_ids,
    )
    return {
        row["id"]: {
            "url": row["url"],
            "verdict": row["verdict"],
            "drifted": bool(row["drifted"]),
            "archived": bool(row["archived"]),
        }
        for row in rows
    }


def changes(
    before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]
) -> dict[str, list[str]]:
    """URLs newly failing, newly dead, recovered, drifted and newly archived between two
    ``source_states``."""
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for key, now in after.items():
        then = before.get(key) or _UNSEEN
        if now["verdict"] in FAILING and then["verdict"] != now["verdict"]:
            found["newly_failing"].append(now["url"])
        if now["verdict"] == "dead" and then["verdict"] != "dead":
            found["newly_dead"].append(now["url"])
        if then["verdict"] in PROBLEMS and now["verdict"] in ("ok", "redirected"):
            found["recovered"].append(now["url"])
        if now["drifted"] and not then["drifted"]:
            found["drifted"].append(now["url"])
        if now["archived"] and not then["archived"]:
            found["newly_archived"].append(now["url"])
    return found
