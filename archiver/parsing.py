"""Whole-document parses of fetched pages: capped input, a bounded wait, threads of their own.

lxml and trafilatura build a tree many times the markup's size, in time that grows with it
(trafilatura reads a megabyte of bare ``<p>`` elements in about 7 s). So a whole-document parse

- reads at most ``max_parse_bytes`` of markup (:meth:`ParseLimits.cut`, at the start of a tag);
- runs on one of two parsing threads, not on every worker: the C allocator keeps an arena per
  thread, each grown to the largest tree its thread built, so two threads bound the memory;
- is waited for at most ``parse_timeout`` once it started. One still running then is abandoned:
  the caller gets :class:`~archiver.errors.ParseTimeout` and a fresh thread takes the stuck
  one's place, so later parses never queue behind it. The stuck thread ends by itself (its
  input is capped) and exits; while too many are still running, new parses are refused at once.

lxml's parser and trafilatura's Python code give up the GIL as they go, so the workers' fetches
and the deadline watchdog keep running beside a slow parse (gaps of a tenth of a second at most).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .config import DEFAULTS, Settings
from .errors import ParseTimeout

T = TypeVar("T")

# How far before the cap a cut looks for the start of a tag, so that no tag, entity or
# character is split (a longer stretch without "<" is cut where the cap falls).
TAG_LOOKBACK = 65_536
PARSING_THREADS = 2
# Abandoned parses still running at once, each holding its tree: past this, no new parse starts.
MOST_ABANDONED = 4


@dataclass(frozen=True)
class ParseLimits:
    """How much of a page a whole-document parse reads, and how long it is waited for."""

    max_bytes: int = DEFAULTS.max_parse_bytes
    timeout: float = DEFAULTS.parse_timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(max_bytes=settings.max_parse_bytes, timeout=settings.parse_timeout)

    def cut(self, markup: str) -> tuple[str, bool]:
        """The part of ``markup`` a parser may read (at most ``max_bytes`` in UTF-8), and
        whether that is less than all of it.

        >>> ParseLimits(max_bytes=12).cut("<p>one</p><p>two</p>")
        ('<p>one</p>', True)
        >>> ParseLimits(max_bytes=12).cut("<p>né</p>")
        ('<p>né</p>', False)
        """
        most = self.max_bytes
        if len(markup) <= most // 4:  # a character is at most four bytes
            return markup, False
        encoded = markup[:most].encode("utf-8", "surrogatepass")
        if len(markup) <= most and len(encoded) <= most:
            return markup, False
        head = encoded[:most].decode("utf-8", "ignore")  # drops a character the cut split
        tag = head.rfind("<", max(0, len(head) - TAG_LOOKBACK))
        return (head[:tag] if tag > 0 else head), True


DEFAULT_PARSE_LIMITS = ParseLimits()


_ON_PARSER = threading.local()


def heavy_parse(
    function: Callable[..., T],
    *args: Any,
    timeout: float = DEFAULTS.parse_timeout,
    **kwargs: Any,
) -> T:
    """Run a whole-document parse on a parsing thread and wait for it, ``timeout`` seconds at
    most from when it starts (it may first wait its turn behind parses already running).

    Raises ParseTimeout when it takes longer, or when too many abandoned parses still run.
    """
    if getattr(_ON_PARSER, "active", False):
        return function(*args, **kwargs)  # already on one: waiting for another would deadlock
    return _threads.run(functools.partial(function, *args, **kwargs), timeout)


class _Task:
    __slots__ = ("call", "error", "finished", "result", "started", "thread")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.started = threading.Event()
        self.finished = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None


class _ParsingThreads:
    """A fixed number of live parsing threads; one stuck past its time is replaced.

    The threads exist from the first parse on, not from the import of this module.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._live = 0
        self._abandoned: set[threading.Thread] = set()
        self._names = iter(range(1, 1 << 62))

    def run(self, call: Callable[[], T], timeout: float) -> T:
        with self._lock:
            if len(self._abandoned) >= MOST_ABANDONED:
                raise ParseTimeout(
                    f"{len(self._abandoned)} earlier pages are still being read past "
                    "parse_timeout; this one was not read"
                )
            while self._live < self._size:
                self._start_thread()
        task = _Task(call)
        self._tasks.put(task)
        # Every task ahead ends or is abandoned within its timeout, and abandoned threads
        # are replaced, so the turn comes.
        task.started.wait()
        if not task.finished.wait(timeout):
            with self._lock:
                if not task.finished.is_set():
                    assert task.thread is not None
                    self._abandoned.add(task.thread)
                    self._live -= 1
                    self._start_thread()
                    raise ParseTimeout(
                        f"reading the page took longer than {timeout:g} s (parse_timeout); "
                        "it was given up"
                    )
        if task.error is not None:
            raise task.error
        return task.result

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"archiver-parse-{next(self._names)}", daemon=True
        )
        self._live += 1
        thread.start()

    def _work(self) -> None:
        _ON_PARSER.active = True
        me = threading.current_thread()
        while True:
            task = self._tasks.get()
            task.thread = me
            task.started.set()
            try:
                task.result = task.call()
            except BaseException as exc:  # handed to the caller, who raises it
                task.error = exc
            with self._lock:
                task.finished.set()
                if me in self._abandoned:  # replaced meanwhile: the caller gave up on it
                    self._abandoned.discard(me)
                    return


_threads = _ParsingThreads(PARSING_THREADS)
