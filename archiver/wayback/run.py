"""``archiver wayback``: look up each source's copies, then save the ones with none recent."""

from __future__ import annotations

import threading

from sqlite_utils import Database

from ..clock import SYSTEM_CLOCK, Clock, Progress, with_stop
from ..errors import Interrupted
from .lookup import lookup
from .options import WaybackOptions, WaybackSummary
from .save import save


def lookup_and_save(
    db: Database,
    options: WaybackOptions,
    *,
    report_id: str | None = None,
    url: str | None = None,
    do_lookup: bool = True,
    do_save: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    stop: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> WaybackSummary:
    """Look up first, so saves are queued from what the Archive has now.

    stop: once set, the run ends at its next wait (rate limiter, polling); every lookup and
    every save transition finished by then is stored, and the summary says ``interrupted``.
    """
    clock = with_stop(clock, stop)
    looked, saved = WaybackSummary(), WaybackSummary()
    try:
        if do_lookup:
            lookup(
                db,
                options,
                report_id=report_id,
                url=url,
                clock=clock,
                on_progress=on_progress,
                summary=looked,
            )
        if not do_save or looked.archive_unreachable:
            return looked
        save(db, options, report_id=report_id, url=url, clock=clock, summary=saved)
    except Interrupted:
        saved.interrupted = True
        saved.message = (
            f"interrupted after {looked.looked_up} lookup(s) ({looked.found} with a copy), "
            f"{saved.saved} save(s) and {saved.failed} failed"
        )
    saved.looked_up, saved.found = looked.looked_up, looked.found
    for error_type, count in looked.errors.items():
        saved.errors[error_type] = saved.errors.get(error_type, 0) + count
    saved.paused_until = {**looked.paused_until, **saved.paused_until}
    if not saved.interrupted:
        saved.message = "; ".join(m for m in (looked.message, saved.message) if m)
    return saved
