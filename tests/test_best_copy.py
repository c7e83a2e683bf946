"""The best copy of each source — only one that holds the cited content, the nearest to the
citation date, a drifted one only when nothing else is left — named alike by `get`,
`status` and `report` in every format, on a database built by the real commands against the
local test web and the local Wayback stand-in."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import write
from lxml import html as lxml_html
from testweb import TestWeb, _changing_html
from wayback_standin import WaybackStandin

from archiver.cli import cli
from archiver.store import open_db
from archiver.views.changes import source_states

CITED_ON = "2018-04-03"
# Footnote → the test-web page it cites.
PAGES = {
    1: "/article/still-here",  # Wayback copies before and after the citation, a local copy
    2: "/p/flip",  # captured changed (drifted), then as cited again; now gone
    3: "/p/drift-only",  # its only copy drifted; now gone
    4: "/p/last-seen",  # fine when checked, a block page when captured; now blocked
    5: "/soft404/en",  # never there
}
DRIFTED = " (its text changed since it was cited)"
# Each page's text when cited, and changed (no two pages alike: a payload stored once is a
# revisit record after that).
AS_CITED = {n: _changing_html(10 * n) for n in (2, 3, 4)}
CHANGED = {n: _changing_html(10 * n + 1) for n in (2, 3)}


class Built:
    """The CLI bound to the built database, and the servers it used."""

    def __init__(self, root: Path, env: dict[str, str | None], web: TestWeb) -> None:
        self.root, self.env, self.web = root, env, web

    def __call__(self, *args: str) -> Result:
        db = str(self.root / "archive.sqlite")
        result = CliRunner().invoke(cli, ["--db", db, *args], env=self.env)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("best")
    with TestWeb() as web, WaybackStandin() as wayback:
        lines = ["report,report_date,footnote,url"]
        lines += [f"odf,{CITED_ON},{n},{web.url(path)}" for n, path in PAGES.items()]
        write(root / "citations.csv", "\n".join(lines) + "\n")
        still_here = web.url(PAGES[1])
        wayback.add_snapshot(still_here, "20170101000000")  # long before the citation
        wayback.add_snapshot(still_here, "20180405000000")  # nearer, but after it
        env: dict[str, str | None] = {n: None for n in os.environ if n.startswith("ARCHIVER_")}
        env |= {
            "ARCHIVER_DATA_DIR": str(root / "data"),
            "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVER_PER_HOST_DELAY": "0",
            "ARCHIVER_REQUISITES": "0",
            "ARCHIVER_WAYBACK_URL": wayback.base,
            "ARCHIVER_MEMENTO_ARCHIVES": "",
            "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
        }
        run = Built(root, env, web)
        for n, text in AS_CITED.items():
            web.set_page(PAGES[n], text)
        run("import", str(root / "citations.csv"))
        run("check")  # the citation-time text of every page
        for n, text in CHANGED.items():
            web.set_page(PAGES[n], text)
        web.set_page(PAGES[4], "<title>Forbidden</title>", status=403)
        run("capture")
        web.set_page(PAGES[2], AS_CITED[2])
        run("capture", "--url", web.url(PAGES[2]))  # as cited again: a second capture
        for n in (2, 3):
            web.set_page(PAGES[n], "<title>Not Found</title>", status=404)
        run("check")
        run("wayback", "--lookup-only")
        yield run


def _by_footnote(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["footnote"]: row for row in rows}


def test_the_best_copy_holds_the_cited_content_nearest_the_citation(built: Built) -> None:
    best = {n: built.json("get", str(n), "--report", "odf", "--json")["best_copy"] for n in PAGES}
    # A copy from before the citation beats a nearer one from after it.
    assert best[1]["kind"] == "wayback_nearest" and "/web/20170101000000/" in best[1]["url"]
    assert best[1]["reason"] == f"the nearest copy from before the citation date, {CITED_ON}"
    assert best[1]["drifted"] is False
    # Of two local copies, the one whose text is still the cited text, though it is newer.
    flip = built.json("get", "2", "--report", "odf", "--json")
    captured = [c for c in flip["captures"] if c["status"] == "captured"]  # newest first
    assert [c["drifted"] for c in captured] == [False, True]
    assert best[2]["kind"] == "local" and best[2]["drifted"] is False
    assert flip["local"]["capture_id"] == captured[0]["capture_id"]
    assert best[2]["path"] == flip["local"]["path"] and Path(best[2]["path"]).is_file()
    # A copy whose text drifted is named only when nothing else holds the content, flagged.
    assert best[3]["kind"] == "local" and best[3]["drifted"] is True
    assert "its text changed since it was cited" in best[3]["reason"]
    # A block page and a soft 404 are kept, never offered.
    assert best[4] is None and best[5] is None


def test_status_and_report_rows_name_the_same_best_copy_as_get(built: Built) -> None:
    best = {n: built.json("get", str(n), "--report", "odf", "--json")["best_copy"] for n in PAGES}
    status = _by_footnote(built.json("status", "--format", "json"))
    report = _by_footnote(built.json("report", "--format", "json")["rows"])
    assert {n: row["best_copy"] for n, row in status.items()} == best
    assert {n: row["best_copy"] for n, row in report.items()} == best

    flat = {
        n: {
            key: row[f"best_copy_{key}"]
            for key in ("holds", "kind", "url", "path", "captured_at", "drifted", "reason")
        }
        for command in (("status", "--format", "csv"), ("report", "--format", "csv"))
        for n, row in _by_footnote(
            [
                {**r, "footnote": int(r["footnote"])}
                for r in csv.DictReader(io.StringIO(built(*command).stdout))
            ]
        ).items()
    }
    for n, copy in best.items():
        if copy is None:
            assert set(flat[n].values()) == {""}
            continue
        assert flat[n]["kind"] == copy["kind"] and flat[n]["reason"] == copy["reason"]
        assert flat[n]["url" if "url" in copy else "path"] == copy.get("url", copy.get("path"))
        assert flat[n]["drifted"] == str(int(copy["drifted"]))

    table = list(csv.DictReader(io.StringIO(built("status").stdout), delimiter="\t"))
    assert [row["best_copy"] for row in table] == [
        "wayback_nearest",
        "local",
        "local (drifted)",
        "none",
        "none",
    ]


def test_the_report_says_plainly_when_no_copy_holds_the_content(built: Built) -> None:
    rows = _by_footnote(built.json("report", "--format", "json")["rows"])
    last_ok = rows[4]["last_ok_at"]
    assert last_ok and rows[4]["use_instead"] is None
    assert rows[3]["use_instead"] == "local copy: archiver get 3 --report odf --open"

    markdown = {
        int(line.split(" | ")[0].strip("| ")): line
        for line in built("report", "--format", "md").stdout.splitlines()
        if line.count(" | ") == 7 and line.split(" | ")[0].strip("| ").isdigit()
    }
    assert f"no copy holds the cited content; last seen with its content {last_ok}" in markdown[4]
    assert "no copy holds the cited content; never seen with its content" in markdown[5]
    best_cell, use_cell = markdown[3].split(" | ")[5:7]
    assert best_cell.startswith("local 2") and best_cell.endswith(DRIFTED)
    assert use_cell == f"local copy: archiver get 3 --report odf --open{DRIFTED}"

    page = lxml_html.fromstring(built("report", "--format", "html").stdout)
    cells = {
        int(tr.xpath("td[1]/text()")[0]): tr.xpath("td[@class='best']/text()")[0]
        for tr in page.xpath("//table[@class='sources']/tr[td]")
    }
    assert (cells[1], cells[4], cells[5]) == ("wayback_nearest 2017-01-01", "none", "none")
    assert cells[2].startswith("local 2") and "changed" not in cells[2]
    assert cells[3].startswith("local 2")
    assert cells[3].endswith(DRIFTED)


def test_export_writes_the_copy_that_holds_the_text_as_cited(built: Built) -> None:
    out = built.root / "export-2"
    built("export", "2", str(out), "--report", "odf")
    text = (out / "index.html").read_text(encoding="utf-8")
    for n, page in ((2, AS_CITED[2]), (None, CHANGED[2])):
        sentence = lxml_html.fromstring(page).xpath("string(//article//p)").split(".")[0]
        assert sentence and (sentence in text) is (n == 2)


def test_a_copy_from_before_the_citation_turns_later_when_the_citation_date_moves(
    built: Built, tmp_path: Path
) -> None:
    """The citation date is kept for the ranking as the report is imported again."""
    web = built.web
    url = web.url(PAGES[1])

    def reason() -> str:
        """The best copy's reason, as get gives it and as status keeps it."""
        shown = built.json("get", url, "--json")["best_copy"]["reason"]
        kept = _by_footnote(built.json("status", "--format", "json"))[1]["best_copy"]["reason"]
        assert kept == shown
        return str(shown)

    def import_with(accessed: str) -> None:
        lines = ["report,report_date,footnote,url,accessed"]
        lines += [f"odf,{CITED_ON},{n},{web.url(path)}," for n, path in PAGES.items()]
        lines[1] += accessed  # footnote 1's
        write(tmp_path / "citations.csv", "\n".join(lines) + "\n")
        built("import", str(tmp_path / "citations.csv"))

    assert reason() == f"the nearest copy from before the citation date, {CITED_ON}"
    import_with("2016-06-01")  # the author saw the page long before the report came out
    assert reason() == "the nearest copy after the citation date, 2016-06-01"
    import_with("")
    assert reason() == f"the nearest copy from before the citation date, {CITED_ON}"


def test_a_captured_block_page_or_not_found_page_is_no_archived_copy(built: Built) -> None:
    db = open_db(built.root / "archive.sqlite")
    ids = {r["url"]: r["id"] for r in db.query("select id, url from sources")}
    states = source_states(db)
    archived = {n: states[ids[built.web.url(path)]]["archived"] for n, path in PAGES.items()}
    # Footnotes 4 and 5 were captured too, but as a block page and a soft 404.
    assert archived == {1: True, 2: True, 3: True, 4: False, 5: False}


def test_a_copy_of_a_sites_not_found_template_is_no_copy(
    run_cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker tells a catch-all site's "not found" template by probing a missing path;
    the capture of that page holds no content either."""
    for name, value in (("ALLOW_PRIVATE_NETWORKS", "1"), ("PER_HOST_DELAY", "0")):
        monkeypatch.setenv(f"ARCHIVER_{name}", value)
    monkeypatch.setenv("ARCHIVER_REQUISITES", "0")
    with TestWeb(host="127.0.0.3", catch_all_soft404=True) as site:
        url = site.url("/news/2018/deleted-story")
        write(tmp_path / "c.csv", f"report,report_date,footnote,url\nr,{CITED_ON},1,{url}\n")
        for command in (("import", "c.csv"), ("check",), ("capture",)):
            assert run_cli(*command).exit_code == 0
        found = json.loads(run_cli("get", url, "--json").stdout)
    assert (found["verdict"], found["reason"]) == ("soft_404", "same_as_missing_page")
    assert found["local"]["holds"] == "not_found" and found["best_copy"] is None
    [row] = json.loads(run_cli("status", "--format", "json").stdout)
    assert row["best_copy"] is None and row["local_content_at"] is None
