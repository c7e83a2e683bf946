"""The whole way through: a source whose only surviving copy is in a second archive gets that
copy as its best copy, and a source blocked from here but reachable through a vantage point
is `blocked`/`regional`, never `dead` — in `get`, `status`, the report and the dashboard.
The main job runs against local archives (Wayback and Memento stand-ins), local proxies and a
site that answers by where a request comes from."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from conftest import write
from memento_standin import Held, MementoArchive
from proxies import HttpProxy, RegionalSite
from sqlite_utils import Database
from wayback_standin import WaybackStandin
from werkzeug.test import Client

from archiver.config import Settings, load_settings
from archiver.pipeline import run_main_job
from archiver.store import open_db
from archiver.web.app import Dashboard
from archiver.web.security import Guard

ABROAD = "127.0.0.3"


class FastClock:
    """Real dates, waits skipped: the rate limiters' spacing costs no test time."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@dataclass
class World:
    settings: Settings
    db: Database
    gone: str  # dead everywhere; its only copy is in archive "elsewhere"
    news: str  # reset from here, there from abroad
    archive: MementoArchive
    env: dict[str, str]


@pytest.fixture
def world(
    tmp_path: Path, wayback: WaybackStandin, archives: tuple[MementoArchive, ...]
) -> Iterator[World]:
    archive = archives[0]
    routes: dict[str, dict[str, int | str]] = {
        "/gone": {"*": 404},
        "/news": {ABROAD: 200, "*": "reset"},
    }
    with RegionalSite(routes) as site, HttpProxy(source=ABROAD) as proxy:
        gone, news = site.url("/gone"), site.url("/news")
        archive.hold(gone, Held("20180320101010"), Held("20180401000000", "block_page"))
        write(
            tmp_path / "r.csv",
            "report,report_title,report_date,footnote,url\n"
            f"odf,Report,2018-04-03,1,{gone}\nodf,Report,2018-04-03,2,{news}\n",
        )
        env = {
            "ARCHIVER_DB": str(tmp_path / "archive.sqlite"),
            "ARCHIVER_DATA_DIR": str(tmp_path / "data"),
            "ARCHIVER_CITATIONS": str(tmp_path / "r.csv"),
            "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVER_PER_HOST_DELAY": "0",
            "ARCHIVER_TIMEOUT": "5",
            "ARCHIVER_BROWSER": "off",
            "ARCHIVER_MEDIA": "off",
            "ARCHIVER_DEAD_AFTER_FAILURES": "1",
            "ARCHIVER_DEAD_AFTER_DAYS": "0",
            "ARCHIVER_WAYBACK_URL": wayback.base,
            "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
            "ARCHIVER_MEMENTO_ARCHIVES": f"elsewhere={archive.timemap()}",
            "ARCHIVER_VANTAGE_POINTS": f"abroad={proxy.url()}",
        }
        settings = load_settings(environ=env, cwd=tmp_path)
        db = open_db(settings.db)
        run_main_job(db, settings, clock=FastClock())
        yield World(settings, db, gone, news, archive, env)


def test_copies_elsewhere_and_regional_blocks_are_shown_everywhere(
    world: World, run_cli: Callable[..., Result]
) -> None:
    cli = {k: v for k, v in world.env.items() if k != "ARCHIVER_CITATIONS"}
    gone = json.loads(run_cli("get", world.gone, "--json", env=cli).stdout)
    assert gone["verdict"] == "dead"
    # Its only copy that holds the content is the memento of 2018-03-20 in "elsewhere".
    assert gone["best_copy"]["kind"] == "memento"
    assert gone["best_copy"]["archive"] == "elsewhere"
    assert gone["best_copy"]["url"] == world.archive.memento_url("20180320101010", world.gone)
    assert gone["mementos"][0]["holds"] == "content"
    news = json.loads(run_cli("get", world.news, "--json", env=cli).stdout)
    assert (news["verdict"], news["reason"]) == ("blocked", "regional")
    assert [(v["vantage"], v["reached"]) for v in news["vantages"]] == [("abroad", True)]
    text = run_cli("get", world.news, env=cli).output
    assert "through abroad: ok (http_200) — reached" in text
    # status: the verdict, the vantages, and the memento.
    rows = {r["url"]: r for r in json.loads(run_cli("status", "--format", "json", env=cli).stdout)}
    assert rows[world.news]["vantages_failed"] == "direct"
    assert rows[world.news]["vantages_reached"] == "abroad"
    assert rows[world.gone]["mementos"] == "elsewhere 2018-03-20"
    best = rows[world.gone]["best_copy"]
    assert (best["kind"], best["archive"]) == ("memento", "elsewhere")
    # The report tells what to use instead, and where it is kept.
    report = run_cli("report", "--format", "md", env=cli).output
    assert world.archive.memento_url("20180320101010", world.gone) in report
    assert "elsewhere" in report
    assert "regional" in report
    # The dashboard's source page shows both.
    app = Client(Dashboard(world.settings, Guard(""), read_only=True))
    page = app.get("/source", query_string={"url": world.gone}, headers={"Host": "127.0.0.1"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Other web archives" in html and "elsewhere" in html
    news_page = app.get(
        "/source", query_string={"url": world.news}, headers={"Host": "127.0.0.1"}
    ).get_data(as_text=True)
    assert "Seen from elsewhere" in news_page and "abroad" in news_page
