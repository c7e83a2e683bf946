"""The CLI as a user meets it: commands, JSON output, one-line errors, help for everything."""

import json
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import Result
from conftest import write

from archiver.cli import cli
from archiver.config import Settings
from archiver.store import open_db

Run = Callable[..., Result]

CSV = (
    "report,report_title,report_date,footnote,url,context\n"
    "odf,Kazakhstan report,2018-04-03,1,https://a.kz/1,One.\n"
    "odf,Kazakhstan report,2018-04-03,2,https://a.kz/2,Two.\n"
    "odf,Kazakhstan report,2018-04-03,2,https://a.kz/1?utm_source=x,Two.\n"
)


# `run` checks too: the made-up a.kz resolves nowhere, so nothing leaves the machine.
@pytest.mark.offline_names("a.kz")
def test_run_imports_citations_csv_into_default_database(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "citations.csv", CSV)
    result = run_cli("run")
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output
    db = open_db(tmp_path / "db" / "archive.sqlite")
    assert db["citations"].count == 3
    assert db["sources"].count == 2
    again = run_cli("run")
    assert "0 added" in again.output and "3 unchanged" in again.output


def test_run_without_citations_file_says_what_to_do(run_cli: Run) -> None:
    result = run_cli("run")
    assert result.exit_code == 1
    assert "citations.csv: citations file not found" in result.output
    assert "Traceback" not in result.output


def test_import_json_then_status_json(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "r.csv", CSV)
    result = run_cli("--db", "x.sqlite", "import", "r.csv", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["report"] == "odf"
    assert [a["footnote"] for a in payload["added"]] == [1, 2, 2]
    assert payload["markers_without_urls"] == []
    rows = json.loads(run_cli("--db", "x.sqlite", "status", "--format", "json").stdout)
    assert [(r["report"], r["footnote"], r["verdict"]) for r in rows] == [
        ("odf", 1, "unchecked"),
        ("odf", 2, "unchecked"),
        ("odf", 2, "unchecked"),
    ]
    assert rows[2]["url"] == "https://a.kz/1?utm_source=x"  # as cited
    csv_out = run_cli("--db", "x.sqlite", "status", "--format", "csv").output
    assert csv_out.splitlines()[0].startswith("report,footnote,position,url,verdict")
    reports = json.loads(run_cli("--db", "x.sqlite", "reports", "--json").output)
    assert (
        reports[0]["citations"] == 3 and reports[0]["sources"] == 2 and reports[0]["footnotes"] == 2
    )


def test_options_fill_what_the_file_does_not_give(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "plain.csv", "footnote,url\n1,https://a.kz/\n")
    result = run_cli(
        "import", "plain.csv", "--report", "r9", "--title", "T", "--date", "2018-04-03"
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(run_cli("reports", "--json").output)
    assert (row["report"], row["title"], row["date"]) == ("r9", "T", "2018-04-03")


def test_bad_input_is_one_line_without_traceback(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "bad.csv", "footnote,url\nx,https://a.kz/\n")
    result = run_cli("import", "bad.csv")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: bad.csv:2: footnote must be a positive whole number, got 'x'"
    )
    assert (
        not (tmp_path / "db" / "archive.sqlite").exists()
        or open_db(tmp_path / "db" / "archive.sqlite")["citations"].count == 0
    )


def test_bad_date_option(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "r.csv", CSV)
    result = run_cli("import", "r.csv", "--date", "April 2018")
    assert result.exit_code == 2
    assert "not a date" in result.output


def test_unknown_report_lists_known_ones(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "r.csv", CSV)
    run_cli("import", "r.csv")
    result = run_cli("status", "--report", "nope")
    assert result.exit_code == 1
    assert "no report 'nope' in the database (known: odf)" in result.output


def test_environment_selects_database(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "r.csv", CSV)
    run_cli("import", "r.csv", env={"ARCHIVER_DB": "env.sqlite"})
    assert open_db(tmp_path / "env.sqlite")["citations"].count == 3


def test_convert_writes_reimportable_csv(run_cli: Run, tmp_path: Path) -> None:
    write(tmp_path / "r.csv", CSV)
    assert run_cli("convert", "r.csv", "out.csv").exit_code == 0
    result = run_cli("import", "out.csv", "--json")
    assert len(json.loads(result.output)["added"]) == 3


def _commands(group: click.Group) -> list[tuple[str, click.Command]]:
    return sorted(group.commands.items())


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_has_help(name: str, command: click.Command) -> None:
    assert command.help and len(command.help.strip()) > 20, f"`archiver {name}` has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and param.name != "help":
            assert param.help or param.type.name == "choice", f"{name} {param.opts} has no help"


@pytest.mark.parametrize(("name", "command"), _commands(cli))
def test_every_command_is_documented_in_readme(name: str, command: click.Command) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"archiver {name}" in readme


@pytest.mark.parametrize("key", Settings.names())
def test_every_setting_is_documented_in_readme(key: str) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"`{key}`" in readme, f"setting {key} is not in README's settings table"
