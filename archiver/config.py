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

from .cadence import validate_cadences
from .errors import ConfigError
from .memento.archives import parse_archives
from .net.vantage import parse_vantages
from .version import __version__

CONFIG_FILENAME = "archiver.toml"
ENV_PREFIX = "ARCHIVER_"


def _setting(default: Any, help: str, *, secret: bool = False, credentials: bool = False) -> Any:
    """A setting's default and help; a secret one is left out of repr and shown masked, one
    that may hold credentials (proxy URLs) is left out of repr and shown with them masked."""
    return field(
        default=default,
        repr=not (secret or credentials),
        metadata={"help": help, "secret": secret, "credentials": credentials},
    )


@dataclass(frozen=True)
class Settings:
    """Every setting archiver knows, with its default and what it is for."""

    db: Path = _setting(Path("db/archive.sqlite"), "SQLite database file")
    data_dir: Path = _setting(Path("db/data"), "folder where captured copies are stored")
    citations: Path = _setting(Path("citations.csv"), "report file that `archiver run` imports")
    timeout: float = _setting(20.0, "seconds a fetch may take: connect, each read, and in all")
    max_bytes: int = _setting(2_000_000, "most body bytes a check reads (after decompression)")
    concurrency: int = _setting(32, "requests in flight at once, all hosts together")
    per_host_concurrency: int = _setting(2, "requests in flight at once to one host")
    per_host_delay: float = _setting(1.0, "seconds between the starts of requests to one host")
    dead_after_failures: int = _setting(3, "consecutive hard failures before a source is dead")
    dead_after_days: float = _setting(3.0, "days those failures must span before it is dead")
    drift_threshold: float = _setting(
        0.5, "text similarity (0–1) to the first check below which a source (or a copy) has drifted"
    )
    user_agent: str = _setting(
        f"archiver/{__version__} (checks sources cited in published reports)",
        "User-Agent sent with every request; add how to reach you",
    )
    canary_urls: tuple[str, ...] = _setting(
        (), "URLs that are always up: if all fail, the run is our network, not theirs"
    )
    allow_private_networks: bool = _setting(
        False, "allow requests to loopback, private and link-local addresses"
    )
    ca_bundle: str = _setting(
        "", "PEM file of certificate authorities to trust instead of the system's (intranets)"
    )
    max_capture_bytes: int = _setting(
        50_000_000, "most bytes of one captured page stored; larger ones are truncated"
    )
    capture_timeout: float = _setting(
        60.0, "seconds one capture fetch may take at least (it reads whole pages, not a peek)"
    )
    max_parse_bytes: int = _setting(
        5_000_000, "most bytes of a page's markup read for its text and metadata; the rest is not"
    )
    parse_timeout: float = _setting(
        20.0, "seconds reading one page's text and metadata may take before it is given up"
    )
    requisites: bool = _setting(True, "capture images, stylesheets, scripts a page needs")
    requisite_budget_bytes: int = _setting(
        10_000_000, "most bytes of requisites captured with one page"
    )
    browser: str = _setting(
        "auto",
        "capture in headless Chromium: auto (if one is found), off, or the path of a Chromium",
    )
    browser_concurrency: int = _setting(2, "pages rendered in the browser at once")
    browser_timeout: float = _setting(
        30.0, "seconds a page may take to settle (network idle) in the browser"
    )
    screenshot: bool = _setting(True, "browser captures store a full-page screenshot (PNG)")
    pdf: bool = _setting(True, "browser captures store a PDF print of the page")
    media: str = _setting(
        "auto", "download video and audio with yt-dlp: auto (pages that have some) or off"
    )
    media_max_bytes: int = _setting(
        1_000_000_000, "largest media file downloaded (the best format under it is chosen)"
    )
    media_timeout: float = _setting(600.0, "seconds one page's media download may take")
    requisite_max_count: int = _setting(
        200, "most requisites fetched with one page (failed and empty ones count too)"
    )
    requisite_max_depth: int = _setting(
        3, "how deep requisites are followed: page → stylesheet → @import → @import is 3"
    )
    capture_deadline: float = _setting(
        120.0, "seconds one capture may take in all, its page and every requisite"
    )
    wayback_url: str = _setting(
        "https://web.archive.org", "Wayback Machine: save, status, CDX and playback hang off it"
    )
    wayback_availability_url: str = _setting(
        "https://archive.org/wayback/available", "Wayback availability API"
    )
    wayback_access_key: str = _setting(
        "", "archive.org S3-like access key, needed to save pages", secret=True
    )
    wayback_secret_key: str = _setting(
        "", "archive.org S3-like secret key, needed to save pages", secret=True
    )
    wayback_save_within: float = _setting(
        30.0, "days: a source with a Wayback capture this recent is not saved again"
    )
    wayback_saves_per_minute: float = _setting(10.0, "Save Page Now requests per minute")
    wayback_lookup_every: float = _setting(
        7.0, "days before a source already looked up in the Wayback Machine is asked about again"
    )
    wayback_poll_wait: float = _setting(
        120.0, "seconds a run waits for one Save Page Now job before leaving it to the next run"
    )
    wayback_poll_interval: float = _setting(5.0, "seconds between polls of Save Page Now jobs")
    wayback_lookups_per_minute: float = _setting(20.0, "CDX and availability requests per minute")
    memento_archives: tuple[str, ...] = _setting(
        (
            "archive.today=https://archive.ph/timemap/{url}",
            "arquivo.pt=https://arquivo.pt/wayback/timemap/link/{url}",
            "loc=https://webarchive.loc.gov/all/timemap/link/{url}",
            "timetravel=https://timetravel.mementoweb.org/timemap/link/{url}",
        ),
        "other web archives asked over Memento: NAME=URL of a TimeMap or TimeGate ({url}: "
        "the cited URL) or an aggregator; none: only the Wayback Machine",
    )
    vantage_points: tuple[str, ...] = _setting(
        (),
        "NAME=URL proxies elsewhere (http, https, socks5, socks5h) through which failing and "
        "blocked sources are checked again, before any is called dead",
        credentials=True,
    )
    capture_via_vantage: bool = _setting(
        False, "capture a source that only a vantage point can reach through that vantage"
    )
    check_every: str = _setting(
        "1d", "scheduler: how often sources are checked (90s, 6h, 1d, or cron like 0 3 * * *)"
    )
    recheck_failing_every: str = _setting(
        "1d", "scheduler: failing sources are checked again this long after their last check"
    )
    recheck_dead_every: str = _setting(
        "30d", "scheduler: dead sources are checked again this long after (they come back)"
    )
    wayback_every: str = _setting("1h", "scheduler: Wayback lookups and saves (duration or cron)")
    verify_every: str = _setting("7d", "scheduler: re-hash stored captures (duration or cron)")
    import_every: str = _setting(
        "5m", "scheduler: re-import the `citations` file when it changed (duration or cron)"
    )
    log_format: str = _setting("plain", "scheduler log lines on stderr: plain or json")
    timestamp_url: str = _setting(
        "",
        "RFC 3161 time-stamping authority asked for a token by `archiver bundle --sign` "
        "(empty: none)",
    )
    serve_host: str = _setting(
        "127.0.0.1", "dashboard (archiver serve): address to listen on; others need serve_token"
    )
    serve_port: int = _setting(8000, "dashboard: port to listen on (0: any free port)")
    serve_replay_port: int = _setting(
        0, "dashboard: port of its replay server, another origin (0: any free port)"
    )
    serve_token: str = _setting(
        "",
        "dashboard: bearer token (or login) every request needs; required off loopback",
        secret=True,
    )

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def help(cls, key: str) -> str:
        return str(next(f for f in dataclasses.fields(cls) if f.name == key).metadata["help"])

    @classmethod
    def is_secret(cls, key: str) -> bool:
        return bool(next(f for f in dataclasses.fields(cls) if f.name == key).metadata["secret"])

    @classmethod
    def has_credentials(cls, key: str) -> bool:
        field = next(f for f in dataclasses.fields(cls) if f.name == key)
        return bool(field.metadata["credentials"])

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.names()}


# Every stage's options take their defaults from here, so a default is written once.
DEFAULTS = Settings()


def _coerce(key: str, value: Any, default: Any, origin: str) -> Any:
    """Turn a toml or environment value into the type of the setting's default.

    Surrounding whitespace is never part of a value: a key pasted with a newline is still the
    key (and the whitespace would make a header invalid, its error echoing the key), a path
    or URL copied with a trailing space still names the same thing.
    """
    if isinstance(value, str | Path):
        value = str(value).strip()
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
        for raw_key, value in data.items():
            key = raw_key.strip()
            if key not in Settings.names():
                known = ", ".join(Settings.names())
                raise ConfigError(f"{config_path}: unknown setting {key!r} (known: {known})")
            coerced = _coerce(key, value, getattr(defaults, key), str(config_path))
            # A path in a config file means a path beside that file, wherever archiver runs.
            if isinstance(coerced, Path) and not coerced.is_absolute():
                coerced = config_path.parent / coerced
            values[key] = coerced
    variables = _variables(environ or {})
    for key in Settings.names():
        env_name = ENV_PREFIX + key.upper()
        if env_name in variables:
            values[key] = _coerce(key, variables[env_name], getattr(defaults, key), env_name)
    for raw_key, value in (overrides or {}).items():
        key = raw_key.strip()
        if value is not None:
            values[key] = _coerce(key, value, getattr(defaults, key), f"--{key.replace('_', '-')}")
    settings = dataclasses.replace(defaults, **values)
    _validate(settings)
    return settings


def _variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The ARCHIVER_* variables by name, whitespace around a name dropped (as an env file's
    ``NAME = value`` gives it); a variable of the exact name wins over a padded one."""
    padded = {name.strip(): value for name, value in environ.items() if name != name.strip()}
    found = {name: value for name, value in padded.items() if name.startswith(ENV_PREFIX)}
    found.update((name, value) for name, value in environ.items() if name.startswith(ENV_PREFIX))
    return found


def _sendable(value: str) -> bool:
    """Can this go in an HTTP header as it is (printable Latin-1, no control characters)?"""
    return all(" " <= ch <= "~" or "\xa0" <= ch <= "\xff" for ch in value)


# Bounds that keep a setting meaningful: (key, lowest allowed, highest allowed).
_BOUNDS = (
    ("timeout", 0.1, None),
    ("max_bytes", 1024, None),
    ("concurrency", 1, 1024),
    ("per_host_concurrency", 1, 64),
    ("per_host_delay", 0.0, None),
    ("dead_after_failures", 1, None),
    ("dead_after_days", 0.0, None),
    ("drift_threshold", 0.0, 1.0),
    ("max_capture_bytes", 1024, None),
    ("requisite_budget_bytes", 0, None),
    ("requisite_max_count", 0, 100_000),
    ("requisite_max_depth", 1, 20),
    ("capture_deadline", 0.1, None),
    ("wayback_save_within", 0.0, None),
    ("wayback_lookup_every", 0.0, None),
    ("wayback_poll_wait", 0.0, None),
    ("wayback_poll_interval", 0.1, None),
    ("capture_timeout", 0.1, None),
    ("max_parse_bytes", 1024, None),
    ("parse_timeout", 0.1, None),
    ("browser_concurrency", 1, 16),
    ("browser_timeout", 1.0, 600.0),
    ("media_max_bytes", 1024, None),
    ("media_timeout", 1.0, None),
    # The Archive's documented limits are about 12 saves and 30 lookups a minute.
    ("wayback_saves_per_minute", 0.1, 12.0),
    ("wayback_lookups_per_minute", 0.1, 30.0),
    ("serve_port", 0, 65535),
    ("serve_replay_port", 0, 65535),
)


def _validate(settings: Settings) -> None:
    for key in Settings.names():
        value = getattr(settings, key)
        if Settings.is_secret(key) and isinstance(value, str) and not _sendable(value):
            # The value is not shown: it is a secret, even when mistyped.
            raise ConfigError(
                f"setting {key}: contains a control or non-Latin-1 character that cannot be "
                "sent in an HTTP header; copy the key again"
            )
    for key, low, high in _BOUNDS:
        value = getattr(settings, key)
        if value < low or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(f"setting {key} = {value} is out of range: must be {allowed}")
    validate_cadences(settings.as_dict())
    parse_vantages(settings.vantage_points)
    parse_archives(settings.memento_archives)
    if settings.media not in ("auto", "off"):
        raise ConfigError(f"setting media = {settings.media!r}: expected auto or off")
    if not settings.browser.strip():
        raise ConfigError("setting browser is empty: expected auto, off or a Chromium path")
    if settings.log_format not in ("plain", "json"):
        raise ConfigError(f"setting log_format = {settings.log_format!r}: expected plain or json")
    for key, urls in (
        ("canary_urls", settings.canary_urls),
        ("timestamp_url", (settings.timestamp_url,) if settings.timestamp_url else ()),
        ("wayback_url", (settings.wayback_url,)),
        ("wayback_availability_url", (settings.wayback_availability_url,)),
    ):
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"setting {key}: {url!r} is not an http(s) URL")
