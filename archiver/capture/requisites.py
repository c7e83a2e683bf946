"""Page requisites: what a page needs to display offline, found in its HTML and stylesheets.

Used twice: when capturing (which URLs to fetch along with the page) and when exporting (which
references to point at the local files instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

from ..pagetext import heavy_parse, parse_html

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
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)


def _usable(base: str, ref: str) -> str | None:
    ref = ref.strip()
    if not ref or ref.startswith(("data:", "javascript:", "#", "about:", "blob:")):
        return None
    url = urljoin(base, ref)
    return url if urlsplit(url).scheme in ("http", "https") else None


def html_requisites(markup: str, page_url: str) -> list[str]:
    """Requisite URLs of an HTML page, in document order, without duplicates."""
    return heavy_parse(_requisites_in, markup, page_url)


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
        found.extend(part.strip().split(" ")[0] for part in str(element.get("srcset")).split(","))
    for style in tree.xpath("//style/text()|//@style"):
        found.extend(ref for ref in css_references(str(style)))
    urls = (_usable(base, ref) for ref in found)
    return list(dict.fromkeys(url for url in urls if url))


def css_references(css: str) -> list[str]:
    """The url(...) and @import references of a stylesheet, as written."""
    return [m.group(2) or m.group(4) for m in CSS_URL.finditer(css)]


def css_requisites(css: str, css_url: str) -> list[str]:
    urls = (_usable(css_url, ref) for ref in css_references(css))
    return list(dict.fromkeys(url for url in urls if url))


def rewrite_html(markup: str, page_url: str, local: Callable[[str], str | None]) -> str:
    """Point requisite references at local files (``local`` maps a URL to a relative path)."""
    tree = lxml_html.fromstring(markup)
    base = page_url
    for element in tree.xpath("//base"):
        base = urljoin(page_url, element.get("href") or "")
        element.drop_tree()

    def swap(ref: str) -> str:
        url = _usable(base, ref)
        path = local(url) if url else None
        return path or ref

    for xpath, attribute in _SINGLE:
        for element in tree.xpath(xpath):
            element.set(attribute, swap(str(element.get(attribute))))
    for element in tree.xpath(_SRCSET):
        parts = []
        for part in str(element.get("srcset")).split(","):
            bits = part.strip().split(" ", 1)
            parts.append(" ".join([swap(bits[0]), *bits[1:]]))
        element.set("srcset", ", ".join(parts))
    for element in tree.xpath("//style"):
        element.text = rewrite_css(element.text or "", base, local)
    for element in tree.xpath("//*[@style]"):
        element.set("style", rewrite_css(str(element.get("style")), base, local))
    # Links to other pages stay absolute, so they lead to the live web, not to a broken file.
    for element in tree.xpath("//a[@href]"):
        element.set("href", urljoin(base, str(element.get("href"))))
    return str(lxml_html.tostring(tree, encoding="unicode", doctype="<!DOCTYPE html>"))


def rewrite_css(css: str, css_url: str, local: Callable[[str], str | None]) -> str:
    def swap(match: re.Match[str]) -> str:
        ref = match.group(2) or match.group(4)
        url = _usable(css_url, ref)
        path = local(url) if url else None
        if path is None:
            return match.group(0)
        return f'url("{path}")' if match.group(2) else f'@import "{path}"'

    return CSS_URL.sub(swap, css)
