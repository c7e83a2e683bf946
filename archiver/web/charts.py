"""The dashboard's two drawings as numbers for inline SVG: a report's verdict bar and a
source's timeline of checks (no script draws them; the stylesheet colours them by class)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Bar segments, worst first, as the report lists them.
BAR_ORDER = ("dead", "blocked", "failing", "soft_404", "redirected", "ok", "unchecked")
# Timeline lanes, top to bottom: good news up, bad news down.
LANES = ("ok", "redirected", "soft_404", "blocked", "failing", "dead", "unchecked")


def bar(summary: dict[str, int]) -> list[dict[str, Any]]:
    """Segments ``{verdict, n, x, width}`` of a bar 100 wide, one per verdict with sources.

    >>> [(s["verdict"], s["x"], s["width"]) for s in bar({"ok": 3, "dead": 1})]
    [('dead', 0.0, 25.0), ('ok', 25.0, 75.0)]
    """
    total = sum(summary.get(v, 0) for v in BAR_ORDER)
    segments, x = [], 0.0
    for verdict in BAR_ORDER:
        n = summary.get(verdict, 0)
        if not n:
            continue
        width = round(100.0 * n / total, 3)
        segments.append({"verdict": verdict, "n": n, "x": round(x, 3), "width": width})
        x += width
    return segments


def timeline(checks: list[dict[str, Any]], width: int = 720) -> dict[str, Any] | None:
    """Where each check goes on a chart ``width`` wide: one lane per outcome, time left to
    right; ``points`` (each ``{x, y, outcome, title}``) and the step line through them."""
    if not checks:
        return None
    left, right, lane, top = 90, 10, 18, 8
    times = [datetime.fromisoformat(c["checked_at"]).timestamp() for c in checks]
    first, last = min(times), max(times)
    span = last - first
    plot = width - left - right
    points = []
    for n, (check, moment) in enumerate(zip(checks, times, strict=True)):
        share = (moment - first) / span if span else (n + 1) / (len(checks) + 1)
        outcome = check["outcome"] if check["outcome"] in LANES else "unchecked"
        what = check["reason"] or check["error_type"] or check["status_code"] or ""
        points.append(
            {
                "x": round(left + share * plot, 1),
                "y": top + LANES.index(outcome) * lane + lane // 2,
                "outcome": outcome,
                "counted": check["counted"],
                "title": f"{check['checked_at']}: {outcome} {what}".strip(),
            }
        )
    # A step line: across at the old outcome, then down or up to the new one.
    path = f"M{points[0]['x']} {points[0]['y']}" + "".join(
        f" H{p['x']} V{p['y']}" for p in points[1:]
    )
    return {
        "width": width,
        "height": top * 2 + lane * len(LANES),
        "left": left,
        "lanes": [
            {"outcome": name, "y": top + n * lane + lane // 2} for n, name in enumerate(LANES)
        ],
        "points": points,
        "path": path,
        "first": checks[0]["checked_at"],
        "last": checks[-1]["checked_at"],
    }
