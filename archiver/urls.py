"""Cited URLs: which ones we import, and the canonical form that identifies a source."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from url_normalize import url_normalize

from .errors import InvalidURL

SUPPORTED_SCHEMES = ("http", "https")

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
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(f"URL does not parse: {url!r} ({exc})") from exc
    if parts.scheme.lower() not in SUPPORTED_SCHEMES:
        raise InvalidURL(f"not an http(s) URL (write it with http:// or https://): {url!r}")
    if not parts.hostname or any(c.isspace() for c in url):
        raise InvalidURL(f"URL does not parse: {url!r}")
    try:
        normal = url_normalize(url)
    except Exception as exc:  # url_normalize raises assorted errors on hostile input
        raise InvalidURL(f"URL does not parse: {url!r} ({exc})") from exc
    if not normal:
        raise InvalidURL(f"URL does not parse: {url!r}")
    parts = urlsplit(normal)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path or "/", urlencode(query, safe="/:@!$'()*+,;~%"), "")
    )
