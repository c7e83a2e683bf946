"""One Settings object: defaults, then ``archiver.toml``, then ``ARCHIVER_<KEY>`` variables.

The CLI (and the scheduler) build it once with :func:`load_settings` and pass it down;
library code takes the values it needs as arguments and never reads the environment.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONFIG_FILENAME = "archiver.toml"
ENV_PREFIX = "ARCHIVER_"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every setting archiver knows, with its default and what it is for."""

    db: Path = _setting(Path("db/archive.sqlite"), "SQLite database file")
    data_dir: Path = _setting(Path("db/data"), "folder where captured copies are stored")
    citations: Path = _setting(Path("citations.csv"), "report file that `archiver run` imports")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def help(cls, key: str) -> str:
        return str(next(f for f in dataclasses.fields(cls) if f.name == key).metadata["help"])

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.names()}


def _coerce(key: str, value: Any, default: Any, origin: str) -> Any:
    """Turn a toml or environment value into the type of the setting's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"expected true or false, got {value!r}")
        if isinstance(default, Path):
            if not isinstance(value, str | Path) or not str(value):
                raise ValueError(f"expected a path, got {value!r}")
            return Path(value)
        if isinstance(default, int | float):
            return type(default)(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: bad value for {key}: {exc}") from exc


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build Settings from defaults, the toml file, the environment, then explicit overrides.

    config_path: a file the user named (must exist); else ``archiver.toml`` in ``cwd``, if any.
    overrides: values from command-line options, applied last; ``None`` values are ignored.
    """
    defaults = Settings()
    values: dict[str, Any] = {}
    if config_path is None:
        candidate = (cwd or Path.cwd()) / CONFIG_FILENAME
        config_path = candidate if candidate.is_file() else None
    elif not config_path.is_file():
        raise ConfigError(f"{config_path}: config file not found")
    if config_path is not None:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{config_path}: cannot read config: {exc}") from exc
        for key, value in data.items():
            if key not in Settings.names():
                known = ", ".join(Settings.names())
                raise ConfigError(f"{config_path}: unknown setting {key!r} (known: {known})")
            coerced = _coerce(key, value, getattr(defaults, key), str(config_path))
            # A path in a config file means a path beside that file, wherever archiver runs.
            if isinstance(coerced, Path) and not coerced.is_absolute():
                coerced = config_path.parent / coerced
            values[key] = coerced
    for key in Settings.names():
        env_name = ENV_PREFIX + key.upper()
        if environ is not None and env_name in environ:
            values[key] = _coerce(key, environ[env_name], getattr(defaults, key), env_name)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, getattr(defaults, key), f"--{key.replace('_', '-')}")
    return dataclasses.replace(defaults, **values)
