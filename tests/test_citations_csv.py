"""The committed citations.csv is what the importer makes of the seed report, and it imports."""

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import Result
from conftest import REPO, SEED

from archiver.ingest import read_report

Run = Callable[..., Result]
CITATIONS = REPO / "citations.csv"
# The real hosts the committed report cites.
CITED_HOSTS = sorted({urlsplit(c.url).hostname or "" for c in read_report(CITATIONS)[0].citations})


def test_committed_csv_matches_the_importer_output(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("convert", str(SEED), "fresh.csv", "--report", "odf-2018-kazakhstan-dck")
    assert result.exit_code == 0, result.output
    (fresh,) = read_report(tmp_path / "fresh.csv")
    (committed,) = read_report(CITATIONS)
    key = [(c.footnote, c.position, c.url, c.context) for c in fresh.citations]
    assert key == [(c.footnote, c.position, c.url, c.context) for c in committed.citations]
    assert fresh.markers_without_urls == committed.markers_without_urls


# `run` checks the report's 30 real sources: here their hosts resolve nowhere, so the check
# finds the network down and nothing leaves the machine, whether it has internet or not.
@pytest.mark.offline_names(*CITED_HOSTS)
def test_committed_csv_is_the_seed_report(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "citations.csv").write_bytes(CITATIONS.read_bytes())
    assert run_cli("run").exit_code == 0
    (report,) = json.loads(run_cli("reports", "--json").output)
    assert report["report"] == "odf-2018-kazakhstan-dck"
    assert report["date"].startswith("2018-04")
    assert report["title"]
    assert (report["footnotes"], report["citations"], report["sources"]) == (30, 31, 30)
    assert report["markers_without_urls"] == list(range(31, 39))
    rows = json.loads(run_cli("status", "--format", "json").stdout)
    by_footnote = {(r["footnote"], r["position"]): r for r in rows}
    assert by_footnote[(6, 1)]["url"] == "https://www.youtube.com/watch?v=C8m_KQHo7bc"
    assert by_footnote[(5, 2)]["canonical_url"] == by_footnote[(3, 1)]["canonical_url"]
    assert all(r["context"] for r in rows)
