"""Other web archives over Memento: TimeMaps (paged, written awkwardly), TimeGates, an
aggregator; the memento nearest the citation date per archive, what it holds, kept as history,
within the same politeness as the Wayback lookups. Real archives on loopback
(tests/memento_standin.py); nothing else is contacted."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from memento_standin import Held, MementoArchive
from sqlite_utils import Database
from test_wayback import FakeClock as WaybackClock

from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport
from archiver.memento.archives import parse_archives
from archiver.memento.client import MementoOptions
from archiver.memento.linkformat import parse_links
from archiver.memento.lookup import lookup_mementos
from archiver.net.fetch import FetchLimits

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SOURCE = "https://news.example.kz/2018/vote"


def FakeClock() -> WaybackClock:
    """The Wayback tests' clock, at this module's moment."""
    return WaybackClock(NOW)


def cite(db: Database, url: str = SOURCE, date: str = "2018-04-03") -> None:
    parsed = ParsedReport(path="t", citations=[CitedURL(1, 1, url)], date=date)
    import_report(db, parsed, report_id="r")


def options(*entries: str, **changes: object) -> MementoOptions:
    return MementoOptions(
        archives=parse_archives(entries),
        limits=FetchLimits(timeout=3.0, allow_private_networks=True),
        **changes,  # type: ignore[arg-type]
    )


def state(db: Database) -> dict[str, dict[str, object]]:
    return {r["archive"]: r for r in db.query("select * from memento_state")}


def test_link_format_is_read_whatever_its_layout() -> None:
    text = (
        '<http://a.example/x,y;z>\n ;\tREL="first memento" ; datetime="Tue, 29 Feb 2000 '
        '03:17:20 GMT"; title="a \\"b\\", c; d",\r\n'
        'junk that is no link, <http://a.example/2>;rel=memento;datetime="Wed, 01 Mar 2000 '
        '00:00:00 GMT",<http://a.example/tm/2>; rel="timemap"; from="x", '
        '<http://a.example/cut>; rel="memento"; title="never closed'
    )
    links = list(parse_links(text))
    assert [link.url for link in links] == [
        "http://a.example/x,y;z",
        "http://a.example/2",
        "http://a.example/tm/2",
    ]
    assert links[0].rels == ("first", "memento")
    assert links[0].params["title"] == 'a "b", c; d'
    assert links[0].datetime == datetime(2000, 2, 29, 3, 17, 20, tzinfo=UTC)
    assert links[1].is_memento and not links[2].is_memento


@pytest.mark.parametrize(
    "hostile",
    [
        '"' * 2_000_000,
        "<" * 2_000_000,
        "<a>;" + "x;" * 1_000_000,
        '<a>; rel="' + '\\"' * 1_000_000,
        "<a>;rel=" + '"' * 2_000_000,
        ", ;" * 700_000,
    ],
    ids=["quotes", "opening", "bare-params", "escapes", "empty-quoted", "separators"],
)
def test_link_format_takes_linear_time_on_hostile_text(hostile: str) -> None:
    started = time.perf_counter()
    sum(1 for _ in parse_links(hostile))
    assert time.perf_counter() - started < 3.0


def test_nearest_memento_per_archive_from_timemaps_timegates_and_an_aggregator(
    db: Database, archives: tuple[MementoArchive, MementoArchive, MementoArchive]
) -> None:
    a, b, aggregator = archives
    cite(db)  # cited 2018-04-03
    # a (a TimeMap): a block page on the day before, the article a year earlier, and after.
    a.hold(
        SOURCE,
        Held("20170601101010"),
        Held("20180402090000", "block_page"),
        Held("20180501000000"),
    )
    # b (a TimeGate): only after the citation date.
    b.hold(SOURCE, Held("20180601000000"), Held("20190101000000"))
    aggregator.aggregate(SOURCE, a, b)
    aggregator.hold(SOURCE, Held("20180403120000", base="http://web.archive.org"))
    clock = FakeClock()
    found = lookup_mementos(
        db,
        options(f"a={a.timemap()}", f"b={b.timegate()}", f"agg={aggregator.timemap()}"),
        clock=clock,
    )
    rows = state(db)
    # The nearest memento that holds the content: the block page is not the copy.
    assert rows["a"]["memento_url"] == a.memento_url("20170601101010", SOURCE)
    assert rows["a"]["holds"] == "content" and rows["a"]["via"] == "timemap"
    assert rows["a"]["memento_datetime"] == "2017-06-01T10:10:10+00:00"
    # The TimeGate was asked for the end of the cited day and chose the nearest.
    assert b.requests[0][1] == "Tue, 03 Apr 2018 23:59:59 GMT"
    assert rows["b"]["memento_url"] == b.memento_url("20180601000000", SOURCE)
    assert (rows["b"]["via"], rows["b"]["status"]) == ("timegate", 200)
    # The aggregator's mementos are kept under the archives that hold them; the Wayback
    # Machine's are left to its own CDX lookups.
    aggregated = {
        r["archive"]: r["memento_url"]
        for r in db.query("select * from memento_lookups where endpoint = 'agg'")
    }
    assert aggregated == {
        "a": a.memento_url("20170601101010", SOURCE),
        "b": b.memento_url("20180601000000", SOURCE),
    }
    assert not any(
        r["archive"] == "web.archive.org" for r in db.query("select * from memento_state")
    )
    assert (found.looked_up, found.found) == (3, 1)
    assert found.archives == {"a": 1, "b": 1}
    # Every call waited for its host's turn (the Wayback lookups' budget, per host).
    assert clock.sleeps and all(s <= 3.0 + 1e-6 for s in clock.sleeps)
    # A second run within wayback_lookup_every asks nothing; the history keeps each lookup.
    before = len(a.requests) + len(b.requests)
    lookup_mementos(db, options(f"a={a.timemap()}", f"b={b.timegate()}"), clock=clock)
    assert len(a.requests) + len(b.requests) == before
    lookup_mementos(db, options(f"a={a.timemap()}"), url=SOURCE, clock=clock)
    assert (
        db.execute("select count(*) from memento_lookups where endpoint = 'a'").fetchone()[0] == 2
    )


def test_paged_timemaps_are_followed_within_bounds(
    db: Database, archives: tuple[MementoArchive, MementoArchive, MementoArchive]
) -> None:
    a, _, _ = archives
    cite(db)
    a.page_size = 2
    a.hold(
        SOURCE,
        *(Held(f"20{year}0101000000") for year in (10, 11, 12, 13, 14, 15)),
        Held("20180301000000"),
    )
    lookup_mementos(db, options(f"a={a.timemap()}"), clock=FakeClock())
    row = state(db)["a"]
    # The last page (from/until covering 2018) holds the nearest; each page read once.
    assert row["memento_url"] == a.memento_url("20180301000000", SOURCE)
    assert row["pages"] >= 2
    assert len(set(a.paths("/timemap/"))) == len(a.paths("/timemap/"))
    # At most max_pages pages: with one, only the first page's mementos are known.
    db.execute("delete from memento_lookups")
    lookup_mementos(db, options(f"a={a.timemap()}", max_pages=1), url=SOURCE, clock=FakeClock())
    assert state(db)["a"]["memento_url"] == a.memento_url("20110101000000", SOURCE)


def test_listed_status_is_used_and_a_429_pauses_that_archive(
    db: Database, archives: tuple[MementoArchive, MementoArchive, MementoArchive]
) -> None:
    a, b, _ = archives
    cite(db)
    a.listed_status = True
    a.hold(SOURCE, Held("20180101000000", "not_found"))
    b.answer_all = 429
    found = lookup_mementos(db, options(f"a={a.timemap()}", f"b={b.timemap()}"), clock=FakeClock())
    row = state(db)["a"]
    # A memento listed as a 404 is no copy of the content, and is not fetched to say so.
    assert row["memento_url"] is None
    assert not a.paths("/web/")
    assert f"memento:{b.base.removeprefix('http://')}" in found.paused_until
    paused = db.execute("select kind from wayback_pauses").fetchall()
    assert paused == [(f"memento:{b.base.removeprefix('http://')}",)]
    asked = len(b.requests)
    lookup_mementos(db, options(f"b={b.timemap()}"), url=SOURCE, clock=FakeClock())
    assert len(b.requests) == asked  # still paused: not asked again


def test_a_stop_ends_the_lookups_at_their_next_wait(
    db: Database, archives: tuple[MementoArchive, MementoArchive, MementoArchive]
) -> None:
    a, b, _ = archives
    cite(db)
    a.hold(SOURCE, Held("20180101000000"))
    b.hold(SOURCE, Held("20180101000000"))
    stop = threading.Event()
    stop.set()
    found = lookup_mementos(
        db, options(f"a={a.timemap()}", f"b={b.timemap()}"), clock=FakeClock(), stop=stop
    )
    assert found.interrupted and "interrupted" in found.message
    assert not b.requests  # nothing more was started
    assert db.table("memento_lookups").count == 0  # the lookup cut short left no half row


def test_a_malformed_archive_entry_is_a_one_line_setting_error() -> None:
    from archiver.config import load_settings
    from archiver.errors import ConfigError

    with pytest.raises(ConfigError, match="memento_archives"):
        load_settings(environ={"ARCHIVER_MEMENTO_ARCHIVES": "loc webarchive.loc.gov"})
    none = load_settings(environ={"ARCHIVER_MEMENTO_ARCHIVES": ""})
    assert none.memento_archives == ()
