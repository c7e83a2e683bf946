"""Cited URLs: which ones we import, and the canonical form that identifies a source."""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from url_normalize import url_normalize
from url_normalize.normalize_host import normalize_host

from .errors import InvalidURL

SUPPORTED_SCHEMES = ("http", "https")
# What str.isspace() calls whitespace, the same set (tests/test_urls.py checks every character).
_SPACE = re.compile(r"\s")

# Query parameters that only track the click; two URLs differing only in these are one source.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref_src",
        "__tn__",
        "__cft__[0]",
        "si",
    }
)
TRACKING_PREFIXES = ("utm_",)


def unsupported_scheme(url: str) -> str | None:
    """Return the scheme when it is one we do not archive (mailto:, javascript:, file:, ...).

    A URL with no scheme at all is not skipped here: it is a broken URL, reported as such.
    """
    scheme = urlsplit(url.strip()).scheme.lower()
    if not scheme or scheme in SUPPORTED_SCHEMES:
        return None
    return scheme


def canonical_url(url: str) -> str:
    """The form that identifies a source: case, default ports, fragments and trackers removed.

    >>> canonical_url("HTTP://Example.COM:80/a?utm_source=x&id=2#top")
    'http://example.com/a?id=2'
    """
    return _canonical(url, fast=True)


def _canonical(url: str, *, fast: bool) -> str:
    """canonical_url; ``fast=False`` always takes url-normalize's whole path (tests compare)."""
    url = url.strip()
    if fast:
        simple = _simple_canonical(url)
        if simple is not None:
            return simple
    scheme, netloc, path, query = _normalized(url)
    if query:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _tracking(k)]
        query = urlencode(pairs, safe="/:@!$'()*+,;~%")
    return urlunsplit((scheme, netloc, path or "/", query, ""))


def _tracking(param: str) -> bool:
    key = param.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _normalized(url: str) -> tuple[str, str, str, str]:
    """Check the URL, then (scheme, netloc, path, query) of what url_normalize makes of it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(f"URL does not parse: {url!r} ({exc})") from exc
    if parts.scheme.lower() not in SUPPORTED_SCHEMES:
        raise InvalidURL(f"not an http(s) URL (write it with http:// or https://): {url!r}")
    if not parts.hostname or _SPACE.search(url):
        raise InvalidURL(f"URL does not parse: {url!r}")
    try:
        normal = url_normalize(url)
    except Exception as exc:  # url_normalize raises assorted errors on hostile input
        raise InvalidURL(f"URL does not parse: {url!r} ({exc})") from exc
    if not normal:
        raise InvalidURL(f"URL does not parse: {url!r}")
    scheme, netloc, path, query, _ = urlsplit(normal)
    return scheme, netloc, path, query


# A plain ASCII http(s) URL that url_normalize leaves as it is but for the host's case and
# IDNA form, the default port, empty query parameters and an empty path: scheme, host, port,
# path, query (the fragment is dropped; a '#!' one, which url_normalize moves into the query,
# does not match). No whitespace, userinfo, brackets or percent-escapes: whatever does not
# match takes url_normalize's whole path. Each part's characters exclude the next part's
# delimiter, so matching never backtracks: linear time on any input.
_SIMPLE_URL = re.compile(
    r"(?i:(https?))://([A-Za-z0-9._-]+)(?::([0-9]{1,5}))?"
    r"(/[A-Za-z0-9._~:/@!$&'()*+,;=-]*)?"
    r"(?:\?([A-Za-z0-9._~:/?@!$'()*+,;=&-]*))?"
    r"(?:#(?:[A-Za-z0-9._~:/?@$'()*+,;=&-][A-Za-z0-9._~:/?@!$'()*+,;=&-]*)?)?"
)
_SIMPLE_NORMAL_HOST = re.compile(r"[a-z0-9._-]+")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _simple_canonical(url: str) -> str | None:
    """What ``_canonical(url, fast=False)`` returns, for a URL of the simple shape above; None
    for any other URL.

    For these characters url_normalize changes nothing in the path or the query parameters
    (it would only percent-encode a second '=' in a parameter, and rewrite dot segments and
    '//'); the host goes through url_normalize's own host step, cached per host (it is most
    of the cost). urlsplit would accept such a URL unless its port is above 65535. Without
    '?' in the query, parse_qsl and urlencode give back each parameter as it is, with '='
    added where it has none.
    """
    match = _SIMPLE_URL.fullmatch(url)
    if match is None:
        return None
    scheme, host, port, path, query = match.groups()
    path = path or "/"
    if "//" in path or "/./" in path or "/../" in path or path.endswith(("/.", "/..")):
        return None
    normal_host = _normal_host(host)
    if normal_host is None or not _SIMPLE_NORMAL_HOST.fullmatch(normal_host):
        return None
    scheme = scheme.lower()
    netloc = normal_host
    if port is not None:
        if int(port) > 65535:
            return None
        port = str(int(port))
        if _DEFAULT_PORTS[scheme] != port:
            netloc += ":" + port
    if not query:
        return f"{scheme}://{netloc}{path}"
    if "?" in query:
        return None
    kept = []
    for param in query.split("&"):
        if not param:
            continue
        key, equals, _ = param.partition("=")
        if equals and "=" in _:
            return None
        if not _tracking(key.replace("+", " ")):
            kept.append(param if equals else param + "=")
    return f"{scheme}://{netloc}{path}?{'&'.join(kept)}" if kept else f"{scheme}://{netloc}{path}"


@functools.lru_cache(maxsize=1 << 16)
def _normal_host(host: str) -> str | None:
    """url_normalize's host step; None where it fails (the whole path then says why)."""
    try:
        return normalize_host(host)
    except Exception:  # url_normalize's whole path then reports it
        return None
