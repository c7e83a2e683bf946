"""Secrets: surrounding whitespace is not part of a key, and no form of a key (raw, escaped,
quoted, URL-encoded, inside an exception's repr) reaches output, logs or the database."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from click.testing import Result
from conftest import write
from wayback_standin import WaybackStandin

from archiver.config import Settings, load_settings
from archiver.errors import ConfigError
from archiver.store import open_db

Run = Callable[..., Result]
# Keys with characters that every kind of escaping changes.
ACCESS = "acc'ess&key"
SECRET = 's3"cr\\et/+=%'


def forms(secret: str) -> set[str]:
    """Every way the secret could be written out by a message, a repr, JSON or a URL."""
    return {
        secret,
        repr(secret),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        repr(secret.encode())[2:-1],
    }


def leaks(text: str) -> list[str]:
    found = []
    for secret in (ACCESS, SECRET, f"{ACCESS}:{SECRET}"):
        found += [form for form in forms(secret) if form in text]
    return found


def test_secrets_lose_surrounding_whitespace_from_environment_and_file(tmp_path: Path) -> None:
    write(tmp_path / "archiver.toml", f'wayback_access_key = "  {ACCESS}\\t\\n"\n')
    settings = load_settings(
        cwd=tmp_path, environ={"ARCHIVER_WAYBACK_SECRET_KEY": f" \t{SECRET} \r\n"}
    )
    assert settings.wayback_access_key == ACCESS
    assert settings.wayback_secret_key == SECRET
    assert all(Settings.is_secret(k) for k in ("wayback_access_key", "wayback_secret_key"))


def test_a_secret_that_cannot_be_sent_is_refused_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={"ARCHIVER_WAYBACK_SECRET_KEY": "ab\ncd-secret"})
    assert "wayback_secret_key" in str(caught.value)
    assert "cd-secret" not in str(caught.value) and "cd-secret" not in repr(caught.value)


def test_no_form_of_the_keys_gets_out_of_a_failing_wayback_call(
    run_cli: Run, tmp_path: Path, wayback: WaybackStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wayback.access_key, wayback.secret_key = ACCESS, SECRET
    write(tmp_path / "r.csv", "footnote,url\n1,https://new.kz/x\n2,https://new.kz/y\n")
    assert run_cli("import", "r.csv").exit_code == 0
    env = {
        "ARCHIVER_WAYBACK_URL": wayback.base,
        "ARCHIVER_MEMENTO_ARCHIVES": "",
        "ARCHIVER_WAYBACK_AVAILABILITY_URL": wayback.url("/wayback/available"),
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        # Pasted with a stray space and newline, as keys often are.
        "ARCHIVER_WAYBACK_ACCESS_KEY": f"  {ACCESS} \n",
        "ARCHIVER_WAYBACK_SECRET_KEY": f"\t{SECRET}\n",
        "ARCHIVER_WAYBACK_POLL_WAIT": "2",
        "ARCHIVER_WAYBACK_POLL_INTERVAL": "0.1",
    }
    outputs = []
    # First run: the account read fails with a page that repeats the Authorization header.
    wayback.echo("user")
    first = run_cli("wayback", "--save-only", env=env)
    outputs += [first.stdout, first.stderr]
    assert first.exit_code == 0, first.output
    assert "could not read the account's capture sessions" in first.stdout
    # Second run: the keys work (stripped) and the job's status read fails the same way.
    wayback.echo("status", times=10)
    second = run_cli("wayback", "--save-only", "--json", env=env)
    outputs += [second.stdout, second.stderr]
    assert second.exit_code == 0, second.output
    assert wayback.jobs, "the stripped keys were accepted: a save was started"
    assert all(
        r.headers.get("Authorization") == f"LOW {ACCESS}:{SECRET}"
        for r in wayback.requests
        if r.kind in ("save", "user", "status")
    )
    db = open_db(tmp_path / "db" / "archive.sqlite")
    messages = [row["message"] for row in db.query("select message from wayback_saves")]
    assert any(m and "HTTP 500" in m for m in messages), messages
    stored = []
    for table in db.table_names():
        for row in db.execute(f"select * from [{table}]").fetchall():
            stored += [value for value in row if isinstance(value, str)]
    for where, text in [
        ("stdout/stderr", "\n".join(outputs)),
        ("log", caplog.text + "\n".join(repr(r.args) for r in caplog.records)),
        ("database", "\n".join(stored)),
    ]:
        assert leaks(text) == [], where
