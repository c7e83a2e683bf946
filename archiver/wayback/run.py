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
    looked = WaybackSummary()
    try:
        if do_lookup:
            looked = lookup(
                db, options, report_id=report_id, url=url, clock=clock, on_progress=on_progress
            )
        if not do_save or looked.archive_unreachable:
            return looked
        saved = save(db, options, report_id=report_id, url=url, clock=clock)
    except Interrupted:
        looked.interrupted = True
        looked.message = "; ".join(m for m in (looked.message, "interrupted") if m)
        return looked
    saved.looked_up, saved.found = looked.looked_up, looked.found
    for error_type, count in looked.errors.items():
        saved.errors[error_type] = saved.errors.get(error_type, 0) + count
    saved.paused_until = {**looked.paused_until, **saved.paused_until}
    saved.message = "; ".join(m for m in (looked.message, saved.message) if m)
    return saved
