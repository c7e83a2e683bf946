"""Scheduler cadences: a duration (``90s``, ``6h``, ``1d``) or a 5-field cron line (``0 3 * * *``).

Cron lines are read in the machine's local time zone, as crontab does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

# APScheduler (with its time-zone libraries) is imported only by what needs it: the
# scheduler's triggers and a cron line's check; every other command starts without it.

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
# Cadences that may be cron lines; the recheck ones are ages, so durations only.
CADENCE_SETTINGS = ("check_every", "wayback_every", "verify_every", "import_every")
AGE_SETTINGS = ("recheck_failing_every", "recheck_dead_every")


@dataclass(frozen=True)
class Cadence:
    """A parsed cadence: ``seconds`` for a duration, ``cron`` for a cron line."""

    text: str
    seconds: float | None = None
    cron: str | None = None

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger that fires on this cadence."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.seconds is not None:
            return IntervalTrigger(seconds=self.seconds)
        return CronTrigger.from_crontab(str(self.cron))


def parse_duration(text: str) -> float | None:
    """Seconds in ``90s``, ``6h``, ``1d``, ``1h30m``; None when ``text`` is not a duration.

    >>> parse_duration("1h30m")
    5400.0
    """
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        return None
    return float(sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(compact)))


def parse_cadence(key: str, text: str, *, cron_ok: bool = True) -> Cadence:
    """Parse a setting's value; a bad one is a one-line ConfigError naming the setting."""
    seconds = parse_duration(text)
    if seconds is not None:
        if seconds < 1:
            raise ConfigError(f"setting {key} = {text!r} is too short: at least 1s")
        return Cadence(text, seconds=seconds)
    if cron_ok and len(text.split()) == 5:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(text)
        except ValueError as exc:
            raise ConfigError(f"setting {key} = {text!r} is not a valid cron line: {exc}") from exc
        return Cadence(text, cron=" ".join(text.split()))
    expected = "a duration like 90s, 6h, 1d" + (" or a cron line like 0 3 * * *" if cron_ok else "")
    raise ConfigError(f"setting {key} = {text!r}: expected {expected}")


def validate_cadences(values: dict[str, str]) -> None:
    """Raise ConfigError for the first cadence setting that does not parse."""
    for key in CADENCE_SETTINGS:
        parse_cadence(key, values[key])
    for key in AGE_SETTINGS:
        parse_cadence(key, values[key], cron_ok=False)
