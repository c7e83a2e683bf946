"""`status`, `report`, `reports` and `search` as they stream: the same bytes as a whole-list
`json.dumps`, counts kept on each report's row, hostile text inert where it is printed, and a
reader that stops early."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import write
from markdown_it import MarkdownIt
from sqlite_utils import Database

from archiver.store import open_db
from archiver.views import status
from archiver.views.report import build_report, summary_counts
from archiver.views.status import citation_rows
from archiver.wayback.timestamps import iso_from_timestamp

Run = Callable[..., Result]

# Text a hostile report or page can bring: quotes, backslashes, control characters, a line
# separator, an escape sequence that retitles a terminal, Markdown and HTML that would run.
HOSTILE = (
    'He said "no" \\ then\tleft\x01 \u2028 😀 \x1b]0;owned\x07 '
    "[x](javascript:alert(1)) <img src=x onerror=alert(1)> | cell"
)


def _import(run_cli: Run, tmp_path: Path, rows: list[tuple[str, int, str, str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["report", "report_title", "footnote", "url", "context"])
    for report, footnote, url, context in rows:
        writer.writerow([report, f"Report {report} {HOSTILE}", footnote, url, context])
    write(tmp_path / "c.csv", out.getvalue())
    result = run_cli("import", "c.csv")
    assert result.exit_code == 0, result.output


def _hostile_db(run_cli: Run, tmp_path: Path) -> Path:
    """Two reports whose sources have verdicts, Wayback copies and saves, with hostile text."""
    _import(
        run_cli,
        tmp_path,
        [
            ("a", 1, "https://a.kz/1", HOSTILE),
            ("a", 2, "https://a.kz/2", "Two."),
            ("a", 2, "https://b.kz/2", "Two, second URL."),
            ("a", 3, "https://a.kz/1?utm_source=x", "Again."),
            ("b", 1, "https://b.kz/2", "Cited by b."),
        ],
    )
    path = tmp_path / "db" / "archive.sqlite"
    db = open_db(path)
    ids = {r["canonical_url"]: r["id"] for r in db.query("select * from sources")}
    a1, a2, b2 = ids["https://a.kz/1"], ids["https://a.kz/2"], ids["https://b.kz/2"]
    db["source_state"].insert_all(
        [
            {"source_id": a1, "verdict": "dead", "reason": "http_404", "since": "2025-01-01"},
            {"source_id": a2, "verdict": "ok", "reason": "http_200", "drifted": 1},
            {"source_id": b2, "verdict": "blocked", "reason": "http_451", "final_url": HOSTILE},
        ]
    )
    db["wayback_state"].insert(
        {
            "source_id": a1,
            "nearest_url": "https://web.archive.org/web/20180320101010/https://a.kz/1",
            "nearest_timestamp": "20180320101010",
            "newest_timestamp": "20190101000000",
        }
    )
    db["wayback_saves"].insert_all(
        [
            {"source_id": a1, "state": "saved", "timestamp": "20250101120000", "attempts": 1},
            {"source_id": a1, "state": "failed", "attempts": 1},
            {"source_id": b2, "state": "saved", "timestamp": "20240101120000", "attempts": 1},
        ]
    )
    db["captures"].insert(
        {"source_id": a2, "status": "captured", "captured_at": "2025-02-02", "holds": "content"}
    )
    db.conn.close()
    return path


def test_streamed_json_holds_the_rows_exactly(run_cli: Run, tmp_path: Path) -> None:
    path = _hostile_db(run_cli, tmp_path)
    db = open_db(path)
    for scope in ([], ["--report", "a"]):
        rows = list(citation_rows(db, *scope[1:]))
        out = run_cli("status", "--format", "json", *scope).stdout
        assert json.loads(out) == rows
        lines = out.rstrip("\n").split("\n")  # a list, one object per line, for line tools
        assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(rows) + 2
        assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == rows
        data = build_report(db, *scope[1:])
        data["rows"] = list(data["rows"])
        out = run_cli("report", "--format", "json", *scope).output
        assert out == json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    rows = json.loads(run_cli("status", "--format", "json").stdout)
    first = rows[0]
    assert first["context"] == HOSTILE
    # Our own latest save failed; the saved one still counts as the newest copy.
    assert (first["wayback_save"], first["wayback_newest"], first["wayback_saved_at"]) == (
        "failed",
        "20250101120000",
        "2025-01-01T12:00:00+00:00",
    )
    assert [r["wayback_save"] for r in rows] == ["failed", "none", "saved", "failed", "saved"]
    unknown = run_cli("status", "--format", "json", "--report", "zz")
    assert unknown.exit_code == 1 and "no report 'zz' in the database" in unknown.output


def test_report_counts_sources_and_lists_the_urgent_first(run_cli: Run, tmp_path: Path) -> None:
    path = _hostile_db(run_cli, tmp_path)
    data = json.loads(run_cli("report", "--format", "json").output)
    # a.kz/1 is cited twice (once with a tracking parameter): one source.
    assert data["summary"] == {
        "ok": 1,
        "redirected": 0,
        "drifted": 1,
        "soft_404": 0,
        "blocked": 1,
        "failing": 0,
        "dead": 1,
        "unchecked": 0,
        "sources": 3,
        "with_wayback": 1,
        "with_local": 1,
    }
    order = [(r["report"], r["footnote"], r["verdict"]) for r in data["rows"]]
    assert order == [
        ("a", 1, "dead"),
        ("a", 3, "dead"),
        ("a", 2, "blocked"),
        ("a", 2, "drifted"),
        ("b", 1, "blocked"),
    ]
    use = {(r["report"], r["footnote"], r["url"]): r["use_instead"] for r in data["rows"]}
    assert use[("a", 1, "https://a.kz/1")].startswith("https://web.archive.org/web/2018")
    assert use[("a", 2, "https://a.kz/2")] == "local copy: archiver get 2 --report a --open"
    assert use[("b", 1, "https://b.kz/2")] is None  # blocked, and no copy anywhere
    assert summary_counts(open_db(path), "b")["sources"] == 1


def test_reports_counts_follow_every_import(run_cli: Run, tmp_path: Path) -> None:
    _import(run_cli, tmp_path, [("a", n, f"https://a.kz/{n}", "x") for n in (1, 2, 3)])
    _import(run_cli, tmp_path, [("a", n, f"https://a.kz/{n % 3}", "x") for n in (1, 2, 4, 5)])
    (row,) = json.loads(run_cli("reports", "--json").output)
    db = open_db(tmp_path / "db" / "archive.sqlite")
    current = list(db.query("select * from citations where removed_at is null"))
    assert (row["footnotes"], row["citations"], row["sources"], row["removed"]) == (
        4,
        len(current),
        len({c["source_id"] for c in current}),
        1,
    )


def test_terminal_and_markdown_output_keep_hostile_text_inert(run_cli: Run, tmp_path: Path) -> None:
    _hostile_db(run_cli, tmp_path)
    table = run_cli("reports").output
    assert "\x1b" not in table and "\x07" not in table
    assert len(table.splitlines()) == 3  # header and two reports: no line was split
    assert all(line.count("\t") == 7 for line in table.splitlines())

    markdown = run_cli("report", "--format", "md").output
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<img" not in rendered and 'href="javascript' not in rendered
    sources = rendered.split("<table>")[2]
    assert all(row.count("<td>") == 8 for row in sources.split("<tr>")[2:])
    assert "[x](javascript:alert(1))" in rendered  # shown as the text it is


def test_reports_for_people_keep_hostile_urls_and_text_inert(run_cli: Run, tmp_path: Path) -> None:
    script = "https://a.kz/<script>alert(1)</script>"  # URLs may hold no space, but this
    link = "https://a.kz/[x](javascript:alert(1))"
    _import(run_cli, tmp_path, [("a", 1, script, HOSTILE), ("a", 2, link, HOSTILE)])
    printed = {
        form: run_cli("report", *form).output
        for form in (
            ("--format", "md"),
            ("--format", "html"),
            ("--annotated",),
            ("--annotated", "--format", "html"),
        )
    }
    for form, output in printed.items():
        # Retitling the terminal, ringing it, any other control character: none is printed.
        assert not {"\x1b", "\x07", "\x01"} & set(output), form
    # A renderer that lets any link through (markdown-it refuses javascript: by itself).
    permissive = MarkdownIt("commonmark")
    permissive.validateLink = lambda url: True
    annotated = permissive.render(printed[("--annotated",)])
    assert "<script" not in annotated and "href=" not in annotated
    assert "https://a.kz/[x](javascript:alert(1))" in annotated  # shown as the text it is


def test_a_reader_that_stops_early_gets_no_traceback(
    run_cli: Run, tmp_path: Path, subprocess_guard: dict[str, str]
) -> None:
    _import(run_cli, tmp_path, [("a", n, f"https://a.kz/{n}", "x" * 200) for n in range(1, 3001)])
    db = tmp_path / "db" / "archive.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "archiver", "--db", str(db), "status", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_guard,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(100).startswith(b'[\n{"report":')
    process.stdout.close()  # as `| head` does
    assert process.wait(timeout=60) == 1
    assert process.stderr.read() == b""


def _expected_status(db: Database) -> list[dict[str, Any]]:
    """Status rows computed here, in Python, from the tables each stage writes."""
    state = {r["source_id"]: r for r in db.query("select * from source_state")}
    wayback = {r["source_id"]: r for r in db.query("select * from wayback_state")}
    saves = list(db.query("select * from wayback_saves order by id"))
    captures = list(db.query("select * from captures where status = 'captured'"))
    rows = []
    for c in db.query(
        "select c.*, s.canonical_url from citations c join sources s on s.id = c.source_id "
        "where removed_at is null order by report_id, footnote, position"
    ):
        sid, st, ws = c["source_id"], state.get(c["source_id"], {}), wayback.get(c["source_id"], {})
        saved = max(
            (s["timestamp"] for s in saves if s["source_id"] == sid and s["state"] == "saved"),
            default=None,
        )
        mine = [s["state"] for s in saves if s["source_id"] == sid]
        newest = max(filter(None, [ws.get("newest_timestamp"), saved]), default=None)
        local = max((k["captured_at"] for k in captures if k["source_id"] == sid), default=None)
        rows.append(
            {
                "report": c["report_id"],
                "footnote": c["footnote"],
                "url": c["url"],
                "verdict": st.get("verdict") or "unchecked",
                "final_url": st.get("final_url"),
                "drifted": st.get("drifted") or 0,
                "canonical_url": c["canonical_url"],
                "wayback_url": ws.get("nearest_url"),
                "wayback_newest": newest,
                "wayback_save": mine[-1] if mine else "none",
                "wayback_saved_at": iso_from_timestamp(saved) if saved else None,
                "local_captured_at": local,
            }
        )
    return rows


def _kept_best(db: Database) -> dict[int, tuple[Any, ...]]:
    """Each source's best copy as its status row keeps it."""
    rows = db.execute(
        "select source_id, best_kind, best_url, best_path, best_at, best_drifted from source_status"
    )
    return {row[0]: row[1:] for row in rows}


def _ranked_best(db: Database) -> dict[int, tuple[Any, ...]]:
    """Each source's best copy ranked now, from the tables each stage writes."""
    best = {
        row[0]: row[1:]
        for row in db.execute(
            "select source_id, kind, url, path, at, drifted from source_copies "
            "where place = 1 and holds = 'content'"
        )
    }
    return {sid: best.get(sid, (None, None, None, None, 0)) for sid in _kept_best(db)}


def test_status_follows_every_write_of_every_stage(run_cli: Run, tmp_path: Path) -> None:
    path = _hostile_db(run_cli, tmp_path)
    db = open_db(path)
    ids = {r["canonical_url"]: r["id"] for r in db.query("select * from sources")}
    a1, a2, b2 = ids["https://a.kz/1"], ids["https://a.kz/2"], ids["https://b.kz/2"]
    changes = [
        "update source_state set verdict = 'ok', drifted = 0, final_url = 'https://x/' "
        f"where source_id = {a1}",
        f"delete from source_state where source_id = {b2}",
        "update wayback_state set nearest_url = 'https://w/2', "
        f"newest_timestamp = '20300101000000' where source_id = {a1}",
        f"insert into wayback_state (source_id, nearest_url) values ({b2}, 'https://w/b')",
        f"delete from wayback_state where source_id = {a1}",
        "update wayback_saves set state = 'saved', timestamp = '20260101000000' "
        f"where source_id = {a1} and state = 'failed'",
        f"update wayback_saves set source_id = {a2} where source_id = {b2}",
        "insert into captures (source_id, status, captured_at) "
        f"values ({a1}, 'captured', '2026-01-01')",
        f"insert into captures (source_id, status, captured_at) values ({a1}, 'failed', '2027')",
        f"update captures set source_id = {b2} where source_id = {a2}",
    ]
    changes += [
        f"update captures set holds = 'content' where source_id = {a1}",
        f"update source_state set drifted = 1 where source_id = {a1}",
        f"update captures set drifted = 1 where source_id = {a1}",
        f"update sources set url = 'https://a.kz/moved' where id = {a1}",
        f"delete from captures where source_id = {a1}",
    ]
    fields = list(_expected_status(db)[0])
    for change in changes:
        with db.atomic():
            db.execute(change)
        shown = [{k: row[k] for k in fields} for row in citation_rows(db)]
        assert shown == _expected_status(db), change
        # Each source's best copy, kept by triggers, is the one the ranking gives now.
        assert _kept_best(db) == _ranked_best(db), change
    # A re-import that moves footnote 2 to another URL shows the new source's status.
    _import(run_cli, tmp_path, [("a", 1, "https://a.kz/1", "x"), ("a", 2, "https://b.kz/2", "y")])
    assert [r["wayback_save"] for r in citation_rows(db, "a")] == ["saved", "none"]
    assert _kept_best(db) == _ranked_best(db)


def test_status_of_every_report_read_by_worker_processes_keeps_order(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(
        run_cli,
        tmp_path,
        [(f"r{r}", n, f"https://h{r}.kz/{n}", HOSTILE) for r in range(9, 0, -1) for n in (2, 1)],
    )
    db = open_db(tmp_path / "db" / "archive.sqlite")
    serial = run_cli("status", "--format", "json").stdout
    monkeypatch.setattr(status, "_BLOCK_CITATIONS", 3)  # 6 blocks over 2 processes
    parallel = run_cli("status", "--format", "json").stdout
    assert parallel == serial
    assert [(r["report"], r["footnote"]) for r in json.loads(parallel)] == [
        (f"r{r}", n) for r in range(1, 10) for n in (1, 2)
    ]
    assert json.loads(parallel) == list(citation_rows(db))
