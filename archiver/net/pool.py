"""The one worker pool of check and capture: politeness without idle workers.

Workers ask :class:`HostQueue` for the next item. It only hands out an item whose host has a
free slot (``per_host_concurrency``) and whose last request began at least ``per_host_delay``
ago, so a worker never sits blocked on a busy host while other hosts have work waiting. A host
that asks us to slow down (429/503, ``Retry-After``) is held back until the time it named.
:class:`HostGate` holds single requests to the same limits, for hosts an item only borrows
from (a captured page's images on another host).
:func:`run_pool` runs the workers and hands each result to the calling thread, which alone
writes to SQLite; a stop starts nothing new and abandons what is still running after a grace.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Host(Generic[T]):
    pending: deque[T] = field(default_factory=deque)
    active: int = 0
    next_start: float = 0.0
    scheduled: bool = False


class HostQueue(Generic[T]):
    """A blocking work queue that respects per-host concurrency, spacing and back-off."""

    def __init__(
        self,
        items: Iterable[T],
        host_of: Callable[[T], str],
        per_host_concurrency: int,
        per_host_delay: float,
    ) -> None:
        self._host_of = host_of
        self._limit = max(1, per_host_concurrency)
        self._delay = max(0.0, per_host_delay)
        self._hosts: dict[str, _Host[T]] = {}
        self._ready: list[tuple[float, int, str]] = []  # (earliest start, tie-break, host)
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._active = 0
        self._stopped = False
        for item in items:
            self._hosts.setdefault(host_of(item), _Host()).pending.append(item)
        with self._cond:
            for name in self._hosts:
                self._schedule(name)

    def _schedule(self, name: str) -> None:
        host = self._hosts[name]
        if host.pending and host.active < self._limit and not host.scheduled:
            host.scheduled = True
            heapq.heappush(self._ready, (host.next_start, next(self._order), name))
            self._cond.notify()

    def get(self) -> T | None:
        """The next item allowed to start now (waiting if needed); None when all work is done."""
        with self._cond:
            while True:
                if self._stopped:
                    return None
                if self._ready:
                    start, _, name = self._ready[0]
                    now = time.monotonic()
                    if start <= now:
                        heapq.heappop(self._ready)
                        host = self._hosts[name]
                        host.scheduled = False
                        item = host.pending.popleft()
                        host.active += 1
                        host.next_start = now + self._delay
                        self._active += 1
                        self._schedule(name)
                        return item
                    self._cond.wait(start - now)
                elif self._active == 0:
                    return None
                else:
                    self._cond.wait()

    def done(
        self,
        item: T,
        *,
        retry_in: float | None = None,
        hold_host: float = 0.0,
        contacted: bool = True,
    ) -> None:
        """Release the item's slot; ``retry_in`` puts it back to start again after that long.

        hold_host: keep the whole host idle for this many seconds (it asked us to back off).
        contacted: False when no connection was made (DNS failed, say): politeness toward a
        host we never reached needs no delay.
        """
        with self._cond:
            name = self._host_of(item)
            host = self._hosts[name]
            host.active -= 1
            self._active -= 1
            now = time.monotonic()
            if not contacted:
                host.next_start = min(host.next_start, now)
            pause = max(hold_host, retry_in or 0.0)
            host.next_start = max(host.next_start, now + pause)
            if retry_in is not None:
                host.pending.appendleft(item)
            if host.scheduled and (pause or not contacted):
                # Already queued for another start time: queue again at the new one.
                self._ready = [entry for entry in self._ready if entry[2] != name]
                heapq.heapify(self._ready)
                host.scheduled = False
            self._schedule(name)
            self._cond.notify_all()

    def stop(self) -> None:
        """Hand out nothing more (shutdown): workers finish what they hold and get None."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


@dataclass
class _Gate:
    active: int = 0
    next_start: float = 0.0


class HostGate:
    """Per-host concurrency and spacing for single requests, shared by every worker of a run.

    :class:`HostQueue` spaces the items of a run by their own host; a capture's requisites go
    to other hosts too (CDNs, a page's image server), and there one worker's requests meet
    another's. Every request to a host passes this gate first, so each host a run touches,
    cited or not, sees at most ``per_host_concurrency`` requests at once, starting at least
    ``per_host_delay`` apart.
    """

    # Hosts idle past their delay are forgotten once this many are remembered.
    PRUNE_AT = 4096

    def __init__(self, per_host_concurrency: int, per_host_delay: float) -> None:
        self._limit = max(1, per_host_concurrency)
        self._delay = max(0.0, per_host_delay)
        self._hosts: dict[str, _Gate] = {}
        self._cond = threading.Condition()

    def enter(self, host: str, deadline: float) -> bool:
        """Wait for a free slot at ``host`` and take it; False (no slot taken) when
        ``deadline`` (a ``time.monotonic()`` moment) comes first."""
        with self._cond:
            while True:
                # Looked up again after every wait: an idle host may be pruned meanwhile.
                gate = self._hosts.get(host)
                if gate is None:
                    if len(self._hosts) >= self.PRUNE_AT:
                        self._prune()
                    gate = self._hosts[host] = _Gate()
                now = time.monotonic()
                if gate.active < self._limit and gate.next_start <= now:
                    gate.active += 1
                    gate.next_start = now + self._delay
                    return True
                if now >= deadline:
                    return False
                wait = deadline - now
                if gate.active < self._limit:
                    wait = min(wait, gate.next_start - now)
                self._cond.wait(wait)

    def leave(self, host: str) -> None:
        """Give back the slot :meth:`enter` took."""
        with self._cond:
            self._hosts[host].active -= 1  # a host with a slot taken is never pruned
            self._cond.notify_all()

    def _prune(self) -> None:
        now = time.monotonic()
        for name in [n for n, g in self._hosts.items() if not g.active and g.next_start <= now]:
            del self._hosts[name]


# After a stop, how long in-flight requests may take to finish before they are abandoned
# (worker threads are daemons; a stopped service must exit within 10 seconds).
STOP_GRACE = 4.0


@dataclass(slots=True)
class Attempt(Generic[R]):
    """What a worker did with one item: a result to store, or (result None) a retry.

    retry_in: put the item back to start again after this many seconds.
    hold_host: keep the item's host idle this long (it asked us to back off).
    contacted: False when no connection was made, so no politeness delay is owed.
    """

    result: R | None
    retry_in: float | None = None
    hold_host: float = 0.0
    contacted: bool = True


_FINISHED: Any = object()


def run_pool(
    items: Sequence[T],
    host_of: Callable[[T], str],
    attempt: Callable[[T], Attempt[R]],
    *,
    failed: Callable[[T, Exception], R],
    store: Callable[[R], None],
    concurrency: int,
    per_host_concurrency: int,
    per_host_delay: float,
    stop: threading.Event | None = None,
    name: str = "archiver-worker",
) -> bool:
    """Run ``attempt`` on every item in worker threads; ``store`` each result on this thread.

    failed: the result of an item whose attempt raised (a bug must not stop or hang the run).
    Returns False when a stop (``stop`` set, or Ctrl-C) left items unfinished: items in flight
    after STOP_GRACE seconds are abandoned, nothing of them stored.
    """
    if not items:
        return True
    work: HostQueue[T] = HostQueue(items, host_of, per_host_concurrency, per_host_delay)
    results: queue.Queue[Any] = queue.Queue()

    def worker() -> None:
        while (item := work.get()) is not None:
            try:
                outcome = attempt(item)
            except Exception as exc:  # recorded as the item's result by ``failed``
                outcome = Attempt(failed(item, exc))
            work.done(
                item,
                retry_in=outcome.retry_in,
                hold_host=outcome.hold_host,
                contacted=outcome.contacted,
            )
            if outcome.result is not None:
                results.put(outcome.result)
        results.put(_FINISHED)

    threads = [
        threading.Thread(target=worker, name=f"{name}-{i}", daemon=True)
        for i in range(max(1, min(concurrency, len(items))))
    ]
    for thread in threads:
        thread.start()
    finished = 0
    deadline: float | None = None
    try:
        while finished < len(threads):
            if deadline is None and stop is not None and stop.is_set():
                work.stop()
                deadline = time.monotonic() + STOP_GRACE
            wait = 0.2 if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                return False
            try:
                result = results.get(timeout=wait if stop is not None else None)
            except queue.Empty:
                continue
            if result is _FINISHED:
                finished += 1
            else:
                store(result)
    except KeyboardInterrupt:
        work.stop()
        raise
    for thread in threads:
        thread.join()
    return deadline is None
