"""Where every stage reads the time and waits: the system's clock, or a test's fake one.

Each stage takes the same three arguments for this: ``clock`` (now and sleep), ``stop`` (an
event that ends waits and starts no new work) and ``on_progress`` (done, total).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from .errors import Interrupted

Progress = Callable[[int, int], None]


class Clock(Protocol):
    """Now, and a wait."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real time (UTC) and real waiting."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class StoppableClock:
    """A clock whose waits end with :class:`Interrupted` as soon as ``stop`` is set."""

    def __init__(self, clock: Clock, stop: threading.Event) -> None:
        self._clock = clock
        self._stop = stop

    def now(self) -> datetime:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        if self._stop.is_set():
            raise Interrupted("stopped")
        if isinstance(self._clock, SystemClock):
            if self._stop.wait(max(0.0, seconds)):
                raise Interrupted("stopped")
            return
        self._clock.sleep(seconds)
        if self._stop.is_set():
            raise Interrupted("stopped")


def with_stop(clock: Clock, stop: threading.Event | None) -> Clock:
    """``clock``, made to end its waits when ``stop`` is set (unchanged without one)."""
    return clock if stop is None else StoppableClock(clock, stop)
