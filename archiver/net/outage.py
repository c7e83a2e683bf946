"""Our network or theirs: the one rule by which check, capture and Wayback tell them apart.

From a machine whose connection is down every source fails, and it must never look as if
every source died. So a run's attempts are grouped by host: a host whose every attempt failed
at the network level (DNS, unreachable, connect timeout) with not one answer is "down"; when
enough hosts were tried and most of them are down at once, the run says nothing about the
sources, it says our network is down. The Wayback Machine is one host, so the Wayback stage
asks the same question with its own thresholds: a few attempts, no answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Errors that say more about our own connection to the internet than about the site.
NETWORK_LEVEL_ERRORS = frozenset(
    {"dns_nxdomain", "dns_failure", "network_unreachable", "connect_timeout"}
)
# Of every stage that fetches cited sources: at least this many hosts tried, and this share
# of them down.
MIN_HOSTS = 3
DOWN_SHARE = 0.8


@dataclass
class Outage:
    """Attempts of one run, by host, and whether they add up to our network being down."""

    min_hosts: int = MIN_HOSTS
    min_attempts: int = 1
    share: float = DOWN_SHARE
    _hosts: dict[str, Counter[str]] = field(default_factory=dict)
    _answered: set[str] = field(default_factory=set)
    attempts: int = 0

    def record(self, host: str, error_type: str | None) -> None:
        """One attempt: ``error_type`` None when the host answered (whatever it said)."""
        self.attempts += 1
        kinds = self._hosts.setdefault(host, Counter())
        if error_type in NETWORK_LEVEL_ERRORS:
            kinds[error_type] += 1
        else:
            self._answered.add(host)

    @property
    def answered(self) -> bool:
        """Did any host answer at all?"""
        return bool(self._answered)

    def down(self) -> bool:
        hosts = len(self._hosts)
        down = hosts - len(self._answered)
        return (
            hosts >= self.min_hosts
            and self.attempts >= self.min_attempts
            and down >= self.share * hosts
        )

    def describe(self) -> str:
        """'12 of 12 hosts failed at the network level (30 dns_nxdomain)'."""
        kinds: Counter[str] = Counter()
        for host, counts in self._hosts.items():
            if host not in self._answered:
                kinds.update(counts)
        detail = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        down = len(self._hosts) - len(self._answered)
        return f"{down} of {len(self._hosts)} hosts failed at the network level ({detail})"
