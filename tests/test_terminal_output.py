"""What a hostile page or report brings (escape sequences, C1 controls, bidi overrides) never
reaches the terminal: import, check, capture, run, get and search print it inert, as text
and as JSON, and the JSON still reads back the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import write
from testweb import TestWeb, refused_port

from archiver.cli import cli

# Retitles the terminal and rings, clears the screen, the same with an 8-bit CSI, reversed text.
HOSTILE = "\x1b]0;owned\x07\x1b[2J\x9b2J\u202eevil"
DANGEROUS = ("\x1b", "\x07", "\x9b", "\u202e")


def terminal(*args: str) -> Result:
    """The CLI as a terminal gets it: click leaves its ANSI stripping to non-terminals."""
    return CliRunner().invoke(cli, list(args), color=True, catch_exceptions=False)


def assert_inert(result: Result) -> None:
    found = [repr(c) for c in DANGEROUS if c in result.output]
    assert not found, f"{found} reached the terminal in:\n{result.output!r}"


def test_hostile_text_reaches_the_terminal_inert(
    run_cli: Callable[..., Result], web: TestWeb, tmp_path: Path
) -> None:
    sentences = " ".join(f"Полиция задерживала людей с синими шарами {n}." for n in range(40))
    page = (
        f"<html><head><title>Вести {HOSTILE}</title></head><body><article>"
        f"<h1>Шары {HOSTILE}</h1><p>{sentences} {HOSTILE}</p></article></body></html>"
    )
    web.set_page("/flip", page)
    hostile_url = web.url(f"/flip?q={HOSTILE}")
    refused = f"http://127.0.0.1:{refused_port()}/gone?{HOSTILE}"
    write(
        tmp_path / "citations.csv",
        f'footnote,url\n1,"{hostile_url}"\n2,"{refused}"\n3,"javascript:{HOSTILE}"\n',
    )
    write(
        tmp_path / "archiver.toml",
        "allow_private_networks = true\nper_host_delay = 0.0\ntimeout = 3.0\n",
    )
    printed = [terminal("import", "citations.csv"), terminal("check"), terminal("capture")]
    assert "Skipped line 4: javascript:" in printed[0].output
    assert "failed: http://127.0.0.1" in printed[2].output
    web.set_page("/flip", "gone", status=410)
    printed.append(terminal("check"))  # ok → failing: the URL is listed
    assert "ok → failing" in printed[-1].output
    web.set_page("/flip", page)
    printed.append(terminal("run"))  # failing → ok: "recovered: URL"
    assert "recovered: http://" in printed[-1].output
    printed += [terminal("get", "1", "--report", "citations"), terminal("search", "шарами")]
    assert "Вести" in printed[-1].output
    for result in printed:
        assert result.exit_code == 0, result.output
        assert_inert(result)

    as_json = [
        terminal("get", "1", "--report", "citations", "--json"),
        terminal("search", "шарами", "--json"),
        terminal("check", "--json"),
        terminal("import", "citations.csv", "--json"),
    ]
    for result in as_json:
        assert_inert(result)
    assert json.loads(as_json[0].output)["url"] == hostile_url
    assert HOSTILE in json.loads(as_json[1].output)[0]["title"]
    assert json.loads(as_json[3].output)["skipped"][0]["url"] == f"javascript:{HOSTILE}"
