"""The scheduler: cadences, due sources, and the real service run as a process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, write
from sqlite_utils import Database
from testweb import TestWeb
from wayback_standin import WaybackStandin

from archiver.cadence import parse_cadence, parse_duration
from archiver.config import load_settings
from archiver.errors import ConfigError
from archiver.pipeline import due_sources

# --- cadences and due sources ---


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), ("2w", 1209600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_cadence("check_every", text).seconds == seconds


def test_cron_line_is_a_cadence() -> None:
    cadence = parse_cadence("check_every", "0 3 * * *")
    assert cadence.cron == "0 3 * * *" and cadence.seconds is None
    assert "hour='3'" in str(cadence.trigger())


@pytest.mark.parametrize("value", ["", "1x", "0s", "3", "0 25 * * *", "* * *"])
def test_bad_cadence_is_one_line_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="check_every") as error:
        load_settings(environ={"ARCHIVER_CHECK_EVERY": value})
    assert "\n" not in str(error.value)


def test_recheck_settings_take_durations_only_and_log_format_is_checked() -> None:
    with pytest.raises(ConfigError, match="recheck_dead_every"):
        load_settings(environ={"ARCHIVER_RECHECK_DEAD_EVERY": "0 3 * * *"})
    with pytest.raises(ConfigError, match="log_format"):
        load_settings(environ={"ARCHIVER_LOG_FORMAT": "xml"})


def test_due_sources_by_verdict(db: Database) -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    db["reports"].insert({"id": "r"})
    ages = {
        "new": None,
        "ok-fresh": ("ok", timedelta(hours=2)),
        "ok-old": ("ok", timedelta(days=1)),
        "failing-fresh": ("failing", timedelta(hours=12)),
        "failing-old": ("failing", timedelta(days=1, minutes=1)),
        "dead-recent": ("dead", timedelta(days=5)),
        "dead-old": ("dead", timedelta(days=31)),
        "uncited": ("ok", timedelta(days=9)),
    }
    ids = {}
    for n, (name, state) in enumerate(ages.items(), 1):
        ids[name] = n
        db["sources"].insert({"id": n, "canonical_url": f"https://a.kz/{name}", "url": name})
        if name != "uncited":
            db["citations"].insert(
                {"report_id": "r", "footnote": n, "position": 1, "source_id": n, "url": name}
            )
        if state:
            checked = (now - state[1]).isoformat(timespec="seconds")
            db["source_state"].insert({"source_id": n, "verdict": state[0], "checked_at": checked})
    every = {"check_every": 86400.0, "failing_every": 86400.0, "dead_every": 30 * 86400.0}
    due = due_sources(db, now, **every)
    assert due == [ids[n] for n in ("new", "ok-old", "failing-old", "dead-old")]
    # A cron check cadence: every healthy source is due whenever the job fires.
    every["check_every"] = None  # type: ignore[assignment]
    due = due_sources(db, now, **every)
    assert ids["ok-fresh"] in due and ids["failing-fresh"] not in due


# --- the service, as a process ---


@pytest.fixture
def service_env(
    tmp_path: Path, web: TestWeb, wayback: WaybackStandin, subprocess_guard: dict[str, str]
) -> dict[str, str]:
    urls = [web.url("/article/one"), web.url("/article/two"), web.url("/status/404")]
    rows = "".join(f"r,2018-04-03,{n},{url}\n" for n, url in enumerate(urls, 1))
    write(tmp_path / "citations.csv", "report,report_date,footnote,url\n" + rows)
    # The processes run under the tests' network guard (tests/subprocess_guard/sitecustomize.py).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")} | subprocess_guard
    return env | {
        "ARCHIVER_DB": str(tmp_path / "db" / "archive.sqlite"),
        "ARCHIVER_DATA_DIR": str(tmp_path / "db" / "data"),
        "ARCHIVER_CITATIONS": str(tmp_path / "citations.csv"),
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        "ARCHIVER_PER_HOST_DELAY": "0",
        "ARCHIVER_TIMEOUT": "5",
        "ARCHIVER_WAYBACK_URL": wayback.base,
        "ARCHIVER_MEMENTO_ARCHIVES": "",
        "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
        "ARCHIVER_CHECK_EVERY": "2s",
        "ARCHIVER_RECHECK_FAILING_EVERY": "2s",
        "ARCHIVER_IMPORT_EVERY": "1s",
        "ARCHIVER_WAYBACK_EVERY": "2s",
        "ARCHIVER_VERIFY_EVERY": "2s",
        "ARCHIVER_LOG_FORMAT": "json",
    }


Start = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start(tmp_path: Path, service_env: dict[str, str]) -> Iterator[Start]:
    """Start ``python scheduler.py`` in tmp_path; every process is killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def launch(**env: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "scheduler.py")],
            cwd=tmp_path,
            env=service_env | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield launch
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def archiver(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archiver", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def runs(env: dict[str, str]) -> list[dict[str, Any]]:
    if not Path(env["ARCHIVER_DB"]).is_file():
        return []
    conn = sqlite3.connect(env["ARCHIVER_DB"], timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("select * from runs order by id")]
    except sqlite3.OperationalError:  # no runs table yet
        return []
    finally:
        conn.close()


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_service_runs_jobs_refuses_a_second_and_stops_on_sigterm(
    start: Start, service_env: dict[str, str], web: TestWeb, tmp_path: Path
) -> None:
    service = start()

    def finished(job: str, count: int = 1) -> bool:
        return sum(r["job"] == job and r["status"] == "ok" for r in runs(service_env)) >= count

    wait_for(lambda: finished("check", 2) and finished("wayback") and finished("verify"), 20)
    checks = [r for r in runs(service_env) if r["job"] == "check" and r["status"] == "ok"]
    assert '"checked": 3' in checks[0]["counts"] and '"captured": 3' in checks[0]["counts"]

    second = start()
    assert second.wait(timeout=15) == 1
    assert "a scheduler is already running on this database" in second.stderr.read()  # type: ignore[union-attr]

    # The CLI works while the scheduler writes.
    write(tmp_path / "more.csv", f"report,footnote,url\nr2,1,{web.url('/article/three')}\n")
    for args in (("status",), ("import", "more.csv"), ("runs", "--json"), ("schedule", "--list")):
        result = archiver(service_env, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    listed = archiver(service_env, tmp_path, "schedule", "--list").stdout
    assert "check" in listed and "wayback" in listed and "T" in listed

    began = time.monotonic()
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=10) == 0
    assert time.monotonic() - began < 10
    log = service.stderr.read()  # type: ignore[union-attr]
    assert '"job": "check"' in log and '"newly_failing"' in log
    still = [r for r in runs(service_env) if r["status"] == "running"]
    assert not still, (still, log[-3000:])


def test_kill_9_mid_run_leaves_an_intact_database_and_a_restart_resumes(
    start: Start, service_env: dict[str, str], web: TestWeb, tmp_path: Path
) -> None:
    slow = "".join(f"r,2018-04-03,{n},{web.url(f'/slow/{n}.5')}\n" for n in (4, 5))
    with (tmp_path / "citations.csv").open("a", encoding="utf-8") as f:
        f.write(slow)
    service = start(ARCHIVER_CHECK_EVERY="1h", ARCHIVER_WAYBACK_EVERY="1h")
    wait_for(lambda: any(r["job"] == "check" for r in runs(service_env)), 15)
    web.wait_for_requests("/slow/")  # mid-check: the slow pages take seconds to answer
    service.kill()
    service.wait()
    conn = sqlite3.connect(service_env["ARCHIVER_DB"])
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert any(r["status"] == "running" for r in runs(service_env))

    restarted = start(ARCHIVER_CHECK_EVERY="1h", ARCHIVER_WAYBACK_EVERY="1h")
    wait_for(lambda: any(r["status"] == "interrupted" for r in runs(service_env)), 10)
    # The check job's next run is an hour away, but its last run was cut short: it runs now.
    wait_for(
        lambda: any(r["job"] == "check" and r["status"] == "ok" for r in runs(service_env)), 20
    )
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=10) == 0


def test_sigterm_mid_check_applies_what_finished_and_exits_promptly(
    start: Start, service_env: dict[str, str], web: TestWeb, tmp_path: Path
) -> None:
    with (tmp_path / "citations.csv").open("a", encoding="utf-8") as f:
        f.write(f"r,2018-04-03,4,{web.url('/slow/8')}\n")
    service = start(ARCHIVER_TIMEOUT="20")
    wait_for(lambda: any(r["job"] == "check" for r in runs(service_env)), 15)
    # /slow/8 is in flight, and the three fast pages were asked for: they answer at once, so
    # they finish within the stop's grace period.
    for path in ("/article/one", "/article/two", "/status/404", "/slow/8"):
        web.wait_for_requests(path)
    began = time.monotonic()
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=10) == 0
    assert time.monotonic() - began < 10
    check = next(r for r in runs(service_env) if r["job"] == "check")
    assert check["status"] == "interrupted"
    db = Database(service_env["ARCHIVER_DB"])
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    verdicts = dict(
        db.execute(
            "select s.url, st.verdict from sources s join source_state st on st.source_id = s.id"
        ).fetchall()
    )
    assert verdicts == {
        web.url("/article/one"): "ok",
        web.url("/article/two"): "ok",
        web.url("/status/404"): "failing",
    }
    assert "interrupted" in db.execute("select message from check_runs").fetchone()[0]
