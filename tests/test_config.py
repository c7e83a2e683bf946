from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from archiver.config import Settings, load_settings
from archiver.errors import ConfigError


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.db == Path("db/archive.sqlite")
    assert settings.data_dir == Path("db/data")


def test_toml_then_environment_then_option(tmp_path: Path) -> None:
    (tmp_path / "archiver.toml").write_text('db = "x.sqlite"\ndata_dir = "/srv/data"\n')
    from_file = load_settings(environ={}, cwd=tmp_path)
    # Relative paths in the file are beside the file, wherever archiver is started.
    assert from_file.db == tmp_path / "x.sqlite"
    assert from_file.data_dir == Path("/srv/data")
    from_env = load_settings(environ={"ARCHIVER_DB": "env.sqlite"}, cwd=tmp_path)
    assert from_env.db == Path("env.sqlite")
    assert from_env.data_dir == Path("/srv/data")
    from_option = load_settings(
        environ={"ARCHIVER_DB": "env.sqlite"}, overrides={"db": "opt.sqlite"}, cwd=tmp_path
    )
    assert from_option.db == Path("opt.sqlite")


def test_explicit_config_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_unknown_key_is_an_error_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text('databse = "typo.sqlite"\n')
    with pytest.raises(ConfigError, match=r"archiver.toml: unknown setting 'databse'"):
        load_settings(config, environ={})


def test_broken_toml_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text("db = \n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(config, environ={})


def test_bad_value_names_its_origin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ARCHIVER_DB: bad value for db"):
        load_settings(environ={"ARCHIVER_DB": ""}, cwd=tmp_path)


def test_every_setting_has_help() -> None:
    assert all(Settings.help(key) for key in Settings.names())


def test_out_of_range_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="concurrency = 0 is out of range"):
        load_settings(environ={"ARCHIVER_CONCURRENCY": "0"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="ARCHIVER_TIMEOUT: bad value for timeout"):
        load_settings(environ={"ARCHIVER_TIMEOUT": "soon"}, cwd=tmp_path)


def test_lists_and_booleans_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "ARCHIVER_CANARY_URLS": "https://a.example/, https://b.example/",
            "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        },
        cwd=tmp_path,
    )
    assert settings.canary_urls == ("https://a.example/", "https://b.example/")
    assert settings.allow_private_networks is True


def test_keys_and_values_lose_surrounding_whitespace_in_the_settings_file(tmp_path: Path) -> None:
    # Quoted keys may hold spaces in TOML; a value copied from a web page may hold a newline.
    (tmp_path / "archiver.toml").write_text(
        '" log_format " = "json\\n"\n'
        '"user_agent\\t" = "  archiver-test (it@example.org)  "\n'
        'data_dir = " /srv/data "\n'
        'check_every = " 6h "\n'
        'wayback_url = " https://wayback.example/ "\n'
    )
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.log_format == "json"
    assert settings.user_agent == "archiver-test (it@example.org)"
    assert settings.data_dir == Path("/srv/data")
    assert settings.check_every == "6h"
    assert settings.wayback_url == "https://wayback.example/"


def test_variable_names_and_values_lose_surrounding_whitespace(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "ARCHIVER_LOG_FORMAT ": " json\n",  # as an env file with "NAME = value" gives it
            " ARCHIVER_DB": "\tmine.sqlite ",
            "ARCHIVER_CA_BUNDLE": " /etc/ssl/intranet.pem\r\n",
            "ARCHIVER_TIMEOUT\t": " 7.5 ",
        },
        cwd=tmp_path,
    )
    assert settings.log_format == "json"
    assert settings.db == Path("mine.sqlite")
    assert settings.ca_bundle == "/etc/ssl/intranet.pem"
    assert settings.timeout == 7.5
    # The variable's exact name wins over one with spaces around it.
    exact = load_settings(environ={"ARCHIVER_TIMEOUT ": "1", "ARCHIVER_TIMEOUT": "2"}, cwd=tmp_path)
    assert exact.timeout == 2.0


def test_option_keys_and_values_lose_surrounding_whitespace(tmp_path: Path) -> None:
    settings = load_settings(
        environ={}, overrides={" db ": Path(" opt.sqlite\n"), "timeout": " 3 "}, cwd=tmp_path
    )
    assert settings.db == Path("opt.sqlite")
    assert settings.timeout == 3.0


def test_the_db_option_loses_surrounding_whitespace(run_cli: Callable[..., Result]) -> None:
    result = run_cli("--db", " mine.sqlite\n", "settings")
    assert result.exit_code == 0, result.output
    assert "db = mine.sqlite    #" in result.output
