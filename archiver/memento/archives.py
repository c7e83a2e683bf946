"""The ``memento_archives`` setting: ``NAME=URL`` per archive, URL a TimeMap or TimeGate."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

PLACEHOLDER = "{url}"


@dataclass(frozen=True)
class Archive:
    """One Memento endpoint: a TimeMap or a TimeGate (told apart by how it answers), of one
    archive or an aggregator (its mementos live on other hosts)."""

    name: str
    template: str

    def endpoint(self, url: str) -> str:
        """The endpoint's URL for the cited ``url`` (unescaped, as Memento archives take it).

        >>> Archive("a", "https://archive.ph/timemap/{url}").endpoint("https://e.kz/a?b=1")
        'https://archive.ph/timemap/https://e.kz/a?b=1'
        """
        return self.template.replace(PLACEHOLDER, url)

    @property
    def netloc(self) -> str:
        """Host and port, lower case: the archive as its budget and its mementos know it."""
        return urlsplit(self.template).netloc.lower().rpartition("@")[2]


def parse_archives(entries: tuple[str, ...]) -> tuple[Archive, ...]:
    """Every archive of the setting; a URL without ``{url}`` has the cited URL appended.

    >>> parse_archives(("loc=https://webarchive.loc.gov/all/timemap/link/",))[0].template
    'https://webarchive.loc.gov/all/timemap/link/{url}'
    """
    archives: list[Archive] = []
    for entry in entries:
        name, sep, url = entry.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"setting memento_archives: expected NAME=http(s)://URL, got {entry!r}"
            )
        if any(a.name == name for a in archives):
            raise ConfigError(f"setting memento_archives: the name {name!r} is used twice")
        if PLACEHOLDER not in url:
            url += PLACEHOLDER
        archives.append(Archive(name, url))
    return tuple(archives)
