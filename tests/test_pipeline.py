"""The main job written once: the CLI and the scheduler run it alike, every run is recorded,
the public API runs it from Python, and the store's schema upgrades old databases intact."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import write
from sqlite_utils import Database
from testweb import TestWeb
from wayback_standin import WaybackStandin

import archiver
import archiver.errors
from archiver.cli import cli
from archiver.config import load_settings
from archiver.schedule import Service
from archiver.store import migrations, open_db

PAGES = ("/article/one", "/article/two", "/status/404", "/status/410")


def environment(root: Path, web: TestWeb, wayback: WaybackStandin) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["report,report_date,footnote,url"]
    lines += [f"r,2018-04-03,{n},{web.url(path)}" for n, path in enumerate(PAGES, 1)]
    write(root / "citations.csv", "\n".join(lines) + "\n")
    return {
        "ARCHIVER_DB": str(root / "archive.sqlite"),
        "ARCHIVER_CITATIONS": str(root / "citations.csv"),
        "ARCHIVER_DATA_DIR": str(root / "data"),
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        "ARCHIVER_PER_HOST_DELAY": "0",
        "ARCHIVER_REQUISITES": "0",
        "ARCHIVER_WAYBACK_URL": wayback.base,
        "ARCHIVER_MEMENTO_ARCHIVES": "",
        "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
    }


def runs_of(path: str) -> list[dict[str, Any]]:
    db = open_db(path)
    try:
        return [dict(r) for r in db.query("select * from runs order by id")]
    finally:
        db.close()


def since_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Since the last run"))
    return [line for line in lines[start:] if line.startswith(("Since", "  "))]


def test_cli_and_scheduler_print_the_same_summary_and_both_are_runs(
    tmp_path: Path, web: TestWeb, wayback: WaybackStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("ARCHIVER_")]:
        monkeypatch.delenv(name)
    cli_env = environment(tmp_path / "cli", web, wayback)
    job_env = environment(tmp_path / "job", web, wayback)

    result = CliRunner().invoke(cli, ["run"], env=cli_env, catch_exceptions=False)
    assert result.exit_code == 0, result.output

    log = io.StringIO()
    settings = load_settings(environ=job_env)
    Service(settings, log, threading.Event()).run("check")

    printed = since_lines(result.output)
    logged = since_lines(log.getvalue())
    assert printed == logged
    # The 404 and 410 pages are captured too, but a "not found" page is no copy of them.
    assert printed[0] == (
        "Since the last run: 2 newly failing, 0 newly dead, 0 recovered, 0 drifted, "
        "2 newly archived."
    )
    assert sorted(printed[1:]) == sorted(
        f"  newly failing: {web.url(path)}" for path in ("/status/404", "/status/410")
    )

    [cli_run] = runs_of(cli_env["ARCHIVER_DB"])
    [job_run] = runs_of(job_env["ARCHIVER_DB"])
    assert (cli_run["job"], cli_run["trigger"], cli_run["status"]) == ("run", "cli", "ok")
    assert (job_run["job"], job_run["trigger"], job_run["status"]) == ("check", "schedule", "ok")
    cli_counts, job_counts = json.loads(cli_run["counts"]), json.loads(job_run["counts"])
    for key in ("checked", "captured", "newly_failing", "newly_dead", "recovered"):
        assert cli_counts[key] == job_counts[key], key
    summary = json.loads(cli_run["summary"])
    assert summary["check"]["checked"] == 4 and summary["wayback"]["looked_up"] == 4
    assert summary["imports"][0]["added"][0]["footnote"] == 1

    # Every stage command is a run too, and `archiver runs` lists them all.
    for args in (("check",), ("capture",), ("wayback", "--lookup-only"), ("verify",)):
        assert CliRunner().invoke(cli, list(args), env=cli_env).exit_code == 0, args
    listed = CliRunner().invoke(cli, ["runs", "--json"], env=cli_env)
    jobs = [(r["job"], r["trigger"], r["status"]) for r in json.loads(listed.output)]
    assert jobs == [
        ("verify", "cli", "ok"),
        ("wayback", "cli", "ok"),
        ("capture", "cli", "ok"),
        ("check", "cli", "ok"),
        ("run", "cli", "ok"),
    ]


def test_the_citations_file_is_recorded_in_its_own_format(
    tmp_path: Path, web: TestWeb, wayback: WaybackStandin
) -> None:
    write(tmp_path / "report.md", f"A claim.[^1]\n\n[^1]: {web.url('/article/one')}\n")
    env = environment(tmp_path, web, wayback) | {"ARCHIVER_CITATIONS": str(tmp_path / "report.md")}
    db = open_db(env["ARCHIVER_DB"])
    archiver.run_main_job(db, load_settings(environ=env), stages=["import"])
    [row] = db.query("select format from imports")
    assert row["format"] == "markdown"


def test_a_notebook_checks_a_report_through_the_public_api(
    db: Database, tmp_path: Path, web: TestWeb, wayback: WaybackStandin
) -> None:
    env = environment(tmp_path, web, wayback)
    settings = archiver.load_settings(environ=env)
    for parsed in archiver.read_report(settings.citations):
        archiver.import_report(db, parsed)

    run = archiver.run_main_job(db, settings, stages=["check"], report_id="r")

    assert run.check.verdicts == {"ok": 2, "failing": 2}
    assert run.as_dict()["check"]["verdicts"] == run.check.verdicts
    assert run.lines()[0].startswith("Since the last run: 2 newly failing")
    [row] = db.query("select job, trigger, status from runs")
    assert row == {"job": "run", "trigger": "library", "status": "ok"}


def test_public_names_are_exactly_all_and_each_resolves() -> None:
    # Subpackages become attributes once imported; everything else public is in __all__.
    public = {
        name
        for name in dir(archiver)
        if not name.startswith("_") and not isinstance(getattr(archiver, name), ModuleType)
    }
    assert public == set(archiver.__all__) - {"__version__"}
    for name in archiver.__all__:
        assert getattr(archiver, name) is not None, name
    with pytest.raises(AttributeError):
        _ = archiver.no_such_name


def test_every_exception_is_an_archiver_error() -> None:
    classes = [
        value
        for value in vars(archiver.errors).values()
        if isinstance(value, type) and issubclass(value, Exception)
    ]
    assert len(classes) >= 9
    assert all(issubclass(cls, archiver.ArchiverError) for cls in classes)
    from archiver.net.guard import PrivateAddressError

    assert issubclass(PrivateAddressError, archiver.ArchiverError)


def test_a_failed_run_is_recorded_with_its_error(db: Database, tmp_path: Path) -> None:
    settings = load_settings(environ={"ARCHIVER_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    with pytest.raises(archiver.ArchiverError, match="no report 'nope'"):
        archiver.run_main_job(db, settings, stages=["check"], report_id="nope", trigger="cli")
    [row] = db.query("select job, trigger, status, error from runs")
    assert row["status"] == "failed" and "no report 'nope'" in row["error"]


def test_enum_columns_refuse_words_the_code_does_not_know(db: Database) -> None:
    db["sources"].insert({"id": 1, "canonical_url": "https://example.org/", "url": "x"})
    db["source_state"].insert({"source_id": 1, "verdict": "ok"})
    for table, column, row in (
        ("source_state", "verdict", {"source_id": 1}),
        ("captures", "status", {"source_id": 1}),
        ("wayback_saves", "state", {"source_id": 1, "attempts": 0}),
        ("runs", "status", {"job": "run", "started_at": "x"}),
    ):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"), db.atomic():
            if table == "source_state":
                db.execute("update source_state set verdict = 'gone' where source_id = 1")
            else:
                db[table].insert({**row, column: "gone"})


def test_an_old_database_upgrades_with_its_captures_and_history(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m006_checked_words_one_warc_record")
    db["reports"].insert({"id": "r"})
    db["sources"].insert({"id": 1, "canonical_url": "https://example.org/", "url": "x"})
    db["captures"].insert({"id": 7, "source_id": 1, "status": "captured", "captured_at": "t"})
    db["warc_files"].insert({"path": "2018/a.warc.gz", "sha256": "ab" * 32, "capture_id": 7})
    db["capture_resources"].insert({"capture_id": 7, "url": "x", "role": "page"})
    db["source_state"].insert({"source_id": 1, "verdict": "dead"})
    db["wayback_state"].insert(
        {"source_id": 1, "looked_up_at": "2018-04-03T00:00:00+00:00", "nearest_url": "w"}
    )
    db["wayback_saves"].insert({"id": 3, "source_id": 1, "state": "saved", "attempts": 1})
    db["runs"].insert({"job": "check", "started_at": "t", "status": "ok"})
    db.conn.commit()
    db.close()

    upgraded = open_db(path)

    assert migrations.pending(upgraded) == []
    assert not upgraded["warc_files"].exists()
    [capture] = upgraded.query("select warc_path, warc_sha256 from captures")
    assert capture == {"warc_path": "2018/a.warc.gz", "warc_sha256": "ab" * 32}
    assert upgraded.execute("pragma foreign_key_check").fetchall() == []
    assert upgraded["capture_resources"].count == 1
    assert "CHECK" in upgraded["source_state"].schema
    assert ["source_id", "id"] in [i.columns for i in upgraded["captures"].indexes]
    [lookup] = upgraded.query("select source_id, nearest_url from wayback_lookups")
    assert lookup == {"source_id": 1, "nearest_url": "w"}
    [event] = upgraded.query("select save_id, to_state from wayback_save_events")
    assert event == {"save_id": 3, "to_state": "saved"}
    [run] = upgraded.query("select trigger from runs")
    assert run["trigger"] == "schedule"


def test_wayback_lookups_and_save_moves_are_history_not_overwritten(
    db: Database, wayback: WaybackStandin
) -> None:
    from test_wayback import FakeClock, cite, options

    clock = FakeClock()
    wayback.now = clock.timestamp
    page, refused = "https://example.org/kept", "https://example.org/refused"
    wayback.add_snapshot(page, "20180101000000")
    wayback.job_outcome(page, pending_polls=1)
    wayback.refuse(refused, "error:blocked-url", "In the blocklist.")
    cite(db, [page, refused])

    archiver.lookup_and_save(db, options(wayback, keys=True, wayback_save_within=0), clock=clock)
    clock.advance(8 * 86400)
    archiver.lookup_and_save(db, options(wayback, keys=True), clock=clock)

    lookups = list(db.query("select source_id, looked_up_at from wayback_lookups"))
    assert len(lookups) == 4  # two sources, looked up twice: both answers kept
    moves = [
        (r["url"], r["from_state"], r["to_state"])
        for r in db.query(
            "select s.url, e.from_state, e.to_state from wayback_save_events e "
            "join wayback_saves w on w.id = e.save_id join sources s on s.id = w.source_id "
            "order by e.id"
        )
    ]
    assert (page, None, "queued") in moves
    assert moves.index((page, "queued", "submitted")) < moves.index((page, "submitted", "saved"))
    assert (refused, "queued", "failed") in moves
    [failed] = db.query(
        "select e.status_ext, e.message from wayback_save_events e where e.to_state = 'failed'"
    )
    assert failed == {"status_ext": "error:blocked-url", "message": "In the blocklist."}
