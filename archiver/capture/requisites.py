"""Page requisites: what a page needs to display offline, found in its HTML and stylesheets.

Used twice: when capturing (which URLs to fetch along with the page) and when exporting (which
references to point at the local files instead; see archiver/views/inert.py for the page).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from .. import css as css_scan
from ..css import browser_url_text, harmless_as_is
from ..pagetext import parse_html
from ..parsing import DEFAULT_PARSE_LIMITS, ParseLimits, heavy_parse

# (xpath, attribute) pairs naming one requisite each; srcset lists several.
_SINGLE = (
    ("//img[@src]", "src"),
    ("//script[@src]", "src"),
    ("//video[@poster]", "poster"),
    ("//video[@src]|//audio[@src]|//source[@src]", "src"),
    ("//input[@type='image'][@src]", "src"),
    ("//link[@href][contains(concat(' ', normalize-space(@rel), ' '), ' stylesheet ')]", "href"),
    ("//link[@href][contains(concat(' ', normalize-space(@rel), ' '), ' icon ')]", "href"),
)
_SRCSET = "//img[@srcset]|//source[@srcset]"


def requisite_url(base: str, ref: str) -> str | None:
    """The http(s) URL a reference written on a page at ``base`` names, or None (a fragment,
    ``data:``, ``javascript:`` and the like fetch nothing from the web)."""
    ref = browser_url_text(ref)
    if not ref or ref.startswith("#"):
        return None
    try:
        url = urljoin(base, ref)
    except ValueError:  # an invalid IPv6 literal, say
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def html_requisites(
    markup: str, page_url: str, limits: ParseLimits = DEFAULT_PARSE_LIMITS
) -> list[str]:
    """Requisite URLs of an HTML page (of its first ``limits.max_bytes``), in document order,
    without duplicates; raises ParseTimeout past ``limits.timeout``."""
    head, _ = limits.cut(markup)
    return heavy_parse(_requisites_in, head, page_url, timeout=limits.timeout)


def _requisites_in(markup: str, page_url: str) -> list[str]:
    tree = parse_html(markup)
    base = page_url
    for href in tree.xpath("//base/@href")[:1]:
        base = urljoin(page_url, str(href))
    found: list[str] = []
    for xpath, attribute in _SINGLE:
        for element in tree.xpath(xpath):
            found.append(str(element.get(attribute)))
    for element in tree.xpath(_SRCSET):
        found.extend(url for url, _ in srcset_candidates(str(element.get("srcset"))))
    for style in tree.xpath("//style/text()|//@style"):
        found.extend(ref for ref in css_references(str(style)))
    urls = (requisite_url(base, ref) for ref in found)
    return list(dict.fromkeys(url for url in urls if url))


_SPACES = " \t\n\r\f"


def srcset_candidates(srcset: str) -> list[tuple[str, str]]:
    """A srcset's (URL, descriptors) pairs, split as browsers split them: on commas after a
    URL and between descriptors, so a ``data:`` URL keeps its commas. One pass, no pattern."""
    found: list[tuple[str, str]] = []
    i, n = 0, len(srcset)
    while i < n:
        while i < n and (srcset[i] in _SPACES or srcset[i] == ","):
            i += 1
        start = i
        while i < n and srcset[i] not in _SPACES:
            i += 1
        url, descriptors = srcset[start:i], ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start, depth = i, 0
            while i < n and (srcset[i] != "," or depth):
                if srcset[i] == "(":
                    depth += 1
                elif srcset[i] == ")" and depth:
                    depth -= 1
                i += 1
            descriptors = srcset[start:i].strip()
            i += 1
        if url:
            found.append((url, descriptors))
    return found


def css_references(css: str) -> list[str]:
    """The url(), @import and image-set() references of a stylesheet, as a browser reads
    them (escapes decoded)."""
    return css_scan.references(css)


def css_requisites(css: str, css_url: str) -> list[str]:
    urls = (requisite_url(css_url, ref) for ref in css_references(css))
    return list(dict.fromkeys(url for url in urls if url))


def rewrite_css(css: str, css_url: str, local: Callable[[str], str | None]) -> str:
    """A stylesheet for an offline copy: references to captured files point at them (``local``
    maps a URL to a relative path); any other reference to the web is neutralised, an
    @import of it dropped, so the stylesheet never fetches anything from the network."""
    written: set[str] = set()

    def replace(ref: str) -> str | None:
        if harmless_as_is(ref):
            return ref
        url = requisite_url(css_url, ref)
        path = local(url) if url else None
        if path is not None:
            written.add(path)
        return path

    rewritten, _ = css_scan.rewrite(css, replace, lambda u: u in written or harmless_as_is(u))
    return rewritten
