"""`archiver wayback`, `status` and `get` against the local Wayback stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from conftest import write
from wayback_standin import WaybackStandin

Run = Callable[..., Result]
URL = "https://tengrinews.kz/kazakhstan_news/video-340610/"


def env_for(wayback: WaybackStandin, keys: bool) -> dict[str, str]:
    env = {
        "ARCHIVER_WAYBACK_URL": wayback.base,
        "ARCHIVER_MEMENTO_ARCHIVES": "",
        "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
    }
    if keys:
        env |= {
            "ARCHIVER_WAYBACK_ACCESS_KEY": wayback.access_key,
            "ARCHIVER_WAYBACK_SECRET_KEY": wayback.secret_key,
        }
    return env


def test_lookup_fills_status_and_get(run_cli: Run, tmp_path: Path, wayback: WaybackStandin) -> None:
    write(
        tmp_path / "r.csv",
        f"report,report_date,footnote,url\nodf,2018-04-03,1,{URL}\nodf,2018-04-03,2,https://new.kz/x\n",
    )
    assert run_cli("import", "r.csv").exit_code == 0
    wayback.add_snapshot(URL, "20180320101010")
    wayback.add_snapshot(URL, "20180402080000", status=404)  # never the nearest
    wayback.add_snapshot(URL, "20180601000000")
    wayback.add_snapshot(URL, "20240101000000")
    result = run_cli("wayback", "--lookup-only", env=env_for(wayback, keys=False))
    assert result.exit_code == 0, result.output
    rows = {r["footnote"]: r for r in json.loads(run_cli("status", "--format", "json").stdout)}
    assert rows[1]["wayback_timestamp"] == "20180320101010"
    assert rows[1]["wayback_url"] == f"{wayback.base}/web/20180320101010/{URL}"
    assert rows[1]["wayback_newest"] == "20240101000000"
    assert rows[2]["wayback_timestamp"] is None
    got = json.loads(run_cli("get", URL, "--json").output)
    assert got["wayback"] == {
        "url": f"{wayback.base}/web/20180320101010/{URL}",
        "timestamp": "20180320101010",
        "status": 200,
    }
    assert len(got["wayback_copies"]) == 4


def test_saving_needs_keys_and_keys_are_never_shown(
    run_cli: Run, tmp_path: Path, wayback: WaybackStandin
) -> None:
    write(tmp_path / "r.csv", "footnote,url\n1,https://new.kz/x\n")
    run_cli("import", "r.csv")
    without = run_cli("wayback", env=env_for(wayback, keys=False))
    assert without.exit_code == 0
    assert "ARCHIVER_WAYBACK_ACCESS_KEY" in without.output
    assert not wayback.requests_of("save")
    with_keys = run_cli("wayback", "--json", env=env_for(wayback, keys=True))
    assert with_keys.exit_code == 0, with_keys.output
    assert json.loads(with_keys.output)["saved"] == 1
    rows = json.loads(run_cli("status", "--format", "json").stdout)
    assert rows[0]["wayback_save"] == "saved" and rows[0]["wayback_saved_at"]
    shown = run_cli("settings", env=env_for(wayback, keys=True)).output
    assert wayback.secret_key not in shown and "*** (set)" in shown
