"""Captured HTML made inert: a copy that, opened in any browser with the network up, runs
none of the page's code and asks nothing of the network.

An exported copy is evidence, opened years later on a reader's machine. Left live, the page's
scripts, handlers, frames, refreshes and remote images would tell the site (or its trackers)
who opened it and when, and could rewrite what it shows. :func:`make_inert` rebuilds the page:

- ``<script>`` and every ``on*`` attribute gone; ``<noscript>`` content shown, as a browser
  without scripts shows it; ``javascript:``, ``vbscript:``, ``data:`` and ``file:`` links gone;
- ``<iframe>``, ``<frame>``, ``<object>``, ``<embed>``, ``<applet>``, portals: a visible note
  naming what they showed, as text;
- no ``<base>``, no ``<meta http-equiv>`` (refreshes, cookies, the page's own CSP), no
  ``<link>`` but stylesheets and icons that were exported; forms that cannot be sent;
- every resource reference (``src``, ``srcset``, ``poster``, ``background``, SVG ``href``,
  CSS ``url()``, ``@import``, ``image-set()``) either one of the exported files, a fragment of
  the page, or a ``data:`` picture; anything else removed (its URL kept in a ``data-``
  attribute, which no browser fetches), ``ping`` and ``attributionsrc`` too;
- links to the live web still work, marked "↗ live web", in a new tab, with no referrer;
- a Content Security Policy as the head's first element, in case anything was missed: no
  script, frame, object, form submission or fetch that is not a local file or a data: picture;
- a banner saying what the copy is: from where, captured when, its SHA-256.

Parsed with lxml (libxml2's HTML5 tokenizer), walked once, serialised by lxml: time is linear
in the page's size and no pattern is ever retried over hostile text. Raw text is never copied
where the browser could read it as markup: comments are dropped and every ``<`` inside
``<style>`` is written as a CSS escape.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

from .. import css as css_scan
from ..capture.requisites import requisite_url, srcset_candidates
from ..css import browser_url_text, harmless_as_is
from ..version import __version__

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; script-src-attr 'none'; object-src 'none'; "
    "frame-src 'none'; child-src 'none'; worker-src 'none'; connect-src 'none'; "
    "manifest-src 'none'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; form-action 'none'; "
    "base-uri 'none'"
)
"""For a file:// page, 'self' is any local file (browsers cannot tie it to one folder); only
the exported files are ever referenced, so nothing else local is asked for either."""

# More attributes than any page needs on one element: the rest are dropped (libxml2 and lxml
# look an attribute up by walking along those before it).
_MOST_ATTRIBUTES = 500

# What make_inert counts, as the banner says it (singular, plural).
SCRIPTS = "scripts removed"
HANDLERS = "event handlers removed"
EMBEDDED = "frames and embedded objects replaced by a note"
REFRESHES = "automatic refreshes removed"
ACTIVE = "other active elements removed"
SCRIPT_LINKS = "javascript: links disabled"
OTHER_LINKS = "links of other kinds disabled"
FORMS = "forms disabled"
BLOCKED = "references to the web blocked"
LIVE_LINKS = "links to the live web marked"
EXCESS = f"attributes past the {_MOST_ATTRIBUTES}th of one element dropped"
_SINGULAR = {
    SCRIPTS: "script removed",
    HANDLERS: "event handler removed",
    EMBEDDED: "frame or embedded object replaced by a note",
    REFRESHES: "automatic refresh removed",
    ACTIVE: "other active element removed",
    SCRIPT_LINKS: "javascript: link disabled",
    OTHER_LINKS: "link of another kind disabled",
    FORMS: "form disabled",
    BLOCKED: "reference to the web blocked",
    LIVE_LINKS: "link to the live web marked",
    EXCESS: f"attribute past the {_MOST_ATTRIBUTES}th of one element dropped",
}

TITLE_PREFIX = "[Archived copy] "
LIVE_MARKER = "↗ live web"

_REMOVED_WITH_CONTENT = frozenset(
    {
        "script",
        "noembed",
        "noframes",
        "base",
        "param",
        "listener",
        "handler",
        # SVG animation can set href to javascript: or swap in other URLs: the copy is still.
        "set",
        "animate",
        "animatemotion",
        "animatetransform",
        "animatecolor",
        "discard",
    }
)
_EMBEDDING = {
    "iframe": ("embedded frame", ("src",)),
    "frame": ("frame", ("src",)),
    "object": ("embedded object", ("data", "codebase")),
    "embed": ("embedded object", ("src",)),
    "applet": ("Java applet", ("code", "archive", "codebase")),
    "portal": ("embedded page", ("src",)),
    "fencedframe": ("embedded frame", ("src",)),
    "webview": ("embedded page", ("src",)),
    "frameset": ("frame set", ()),
}
_RAW_TEXT_AS_PRE = frozenset({"xmp", "plaintext", "listing"})
_FORM_CONTROLS = frozenset({"input", "button", "select", "textarea"})
_HYPERLINKS = frozenset({"a", "area"})
# Attributes dropped wherever they are: they fetch, run, or redirect something elsewhere.
_DROPPED_ATTRIBUTES = frozenset(
    {
        "ping",
        "attributionsrc",
        "srcdoc",
        "action",
        "formaction",
        "formmethod",
        "formtarget",
        "formenctype",
        "target",
        "manifest",
        "codebase",
        "classid",
        "archive",
        "integrity",  # the files were rewritten: a hash of the original would refuse them
        "crossorigin",  # a CORS request for a local file fails, and the file with it
        "nonce",
        "autofocus",
        "xml:base",
        "http-equiv",
        "imagesrcset",
        "imagesizes",
    }
)
# Attributes naming something the browser fetches to display the element.
_RESOURCE_ATTRIBUTES = frozenset(
    {"src", "href", "xlink:href", "poster", "background", "lowsrc", "dynsrc", "data", "icon"}
)
# URLs only shown or used as identifiers (never fetched): kept when they name the web.
_CITATION_ATTRIBUTES = frozenset({"cite", "longdesc"})
# SVG presentation attributes that take CSS values, url() included.
_CSS_VALUE_ATTRIBUTES = frozenset(
    {
        "fill",
        "stroke",
        "filter",
        "mask",
        "clip-path",
        "marker",
        "marker-start",
        "marker-mid",
        "marker-end",
        "cursor",
    }
)
_ATTRIBUTE_NAME = re.compile(r"[a-z_][a-z0-9_.:-]*")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_XLINK = "http://www.w3.org/1999/xlink"
_PREFIXES = {_XLINK: "xlink", "http://www.w3.org/XML/1998/namespace": "xml"}
_KEPT_LINK_RELS = frozenset({"stylesheet", "icon", "apple-touch-icon"})
_HARMLESS_LINK_SCHEMES = frozenset({"mailto", "tel"})

# Inline styles with !important: the page's own CSS cannot hide or restyle our notes (an
# element's own important declarations beat every stylesheet's, layered or not).
_BANNER_STYLE = (
    "all:initial!important;display:block!important;box-sizing:border-box!important;"
    "position:relative!important;z-index:2147483647!important;margin:0 0 12px!important;"
    "padding:10px 16px!important;background:#fff8dc!important;color:#1a1a1a!important;"
    "border-bottom:3px solid #b8860b!important;text-align:left!important;"
    "font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif!important;"
    "direction:ltr!important;visibility:visible!important;opacity:1!important"
)
_LINE_STYLE = (
    "all:initial!important;display:block!important;font:inherit!important;"
    "color:inherit!important;margin:2px 0!important;overflow-wrap:anywhere!important"
)
_HEADING_STYLE = _LINE_STYLE + ";font-weight:700!important;font-size:15px!important"
_CODE_STYLE = (
    "all:initial!important;font:12px/1.5 ui-monospace,Menlo,Consolas,monospace!important;"
    "color:inherit!important;overflow-wrap:anywhere!important"
)
_MARKER_STYLE = (
    # inline-block: a link's underline is not drawn through it
    "all:initial!important;display:inline-block!important;margin-left:4px!important;"
    "padding:0 4px!important;border:1px solid #c98a00!important;border-radius:3px!important;"
    "background:#fff1c2!important;color:#7a4300!important;white-space:nowrap!important;"
    "font:600 11px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif!important;"
    "user-select:none!important;visibility:visible!important;cursor:pointer!important"
)
_NOTE_STYLE = (
    "all:initial!important;display:inline-block!important;box-sizing:border-box!important;"
    "max-width:100%!important;margin:2px 0!important;padding:4px 8px!important;"
    "border:1px dashed #888!important;background:#f3f3f3!important;color:#333!important;"
    "font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif!important;"
    "overflow-wrap:anywhere!important;visibility:visible!important"
)


@dataclass(frozen=True)
class Provenance:
    """What the banner says about the copy."""

    url: str  # as cited
    captured_at: str  # ISO 8601
    final_url: str | None = None  # after redirects, when different
    payload_sha256: str | None = None  # of the page's body as received
    warc: str | None = None  # the WARC file holding it, relative to the data folder
    truncated: str | None = None  # why the copy is incomplete, if it is
    rendered: bool = False  # the markup is the DOM as Chromium rendered it
    beside: tuple[tuple[str, str], ...] = ()  # (what, file) written next to this copy


@dataclass(frozen=True)
class InertPage:
    """The rewritten page and what was taken out of it, by kind."""

    markup: str
    removed: Counter[str]


def make_inert(
    markup: str,
    page_url: str,
    local: Callable[[str], str | None],
    provenance: Provenance | None = None,
) -> InertPage:
    """``markup`` (captured at ``page_url``) as an inert page; ``local`` maps the URL of a
    captured requisite to its exported file ("files/…"), or None when there is none."""
    root, cut = _parse(markup)
    walk = _Walk(root, page_url, local)
    walk.run()
    if cut:
        walk.removed[EXCESS] += cut
    head, body = _head_and_body(root)
    _secure_head(head, provenance.url if provenance else page_url)
    if provenance is not None:
        body.insert(0, _banner(provenance, walk.removed, walk.refreshes))
    text = lxml_html.tostring(root, encoding="unicode", doctype="<!DOCTYPE html>")
    return InertPage(str(text), walk.removed)


def make_svg_inert(data: bytes, svg_url: str, local: Callable[[str], str | None]) -> bytes | None:
    """An SVG image with nothing that runs or fetches, or None when it is not an SVG document
    (a browser would not show it either). Shown through <img> or CSS, SVG never runs scripts;
    opened by itself from the folder, it would, without any policy to stop it."""
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None or _tag(root) != "svg":
        return None
    _Walk(root, svg_url, local).run()
    return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))


def _parse(markup: str) -> tuple[Any, int]:
    """The page's tree, and how many attributes past the most one element may have were cut."""
    markup, cut = _cap_attributes(markup, _MOST_ATTRIBUTES)
    parser = lxml_html.HTMLParser(
        remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
    )
    try:
        return lxml_html.document_fromstring(markup, parser=parser), cut
    except (ValueError, etree.ParserError):  # empty, or nothing but whitespace
        return lxml_html.document_fromstring("<html><head></head><body></body></html>"), cut


_SPACE_RUN = re.compile(r"[\t\n\f\r ]*")
_TAG_NAME_RUN = re.compile(r"[^\t\n\f\r />]*")
_ATTRIBUTE_NAME_RUN = re.compile(r"[^\t\n\f\r />=]*")
_UNQUOTED_VALUE_RUN = re.compile(r"[^\t\n\f\r >]*")
# Elements whose content libxml2 reads as text up to their end tag, not as tags.
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed"})


def _cap_attributes(markup: str, most: int) -> tuple[str, int]:
    """``markup`` with no start tag holding more than ``most`` attributes, and how many were
    cut.

    libxml2 checks each new attribute against all before it (and lxml reads them the same
    way), so one tag with 100,000 attributes would take minutes. This pass follows the HTML
    tokenizer through tags, quoted values, comments and raw text, with str.find and runs of one
    character class, so it is linear; it changes nothing in a page without such a tag.
    """
    pieces: list[str] = []
    done, i, n, excess = 0, 0, len(markup), 0
    while True:
        i = markup.find("<", i)
        if i < 0 or i + 1 >= n:
            break
        after = markup[i + 1]
        if after == "!":
            end, skip = ("-->", 4) if markup.startswith("<!--", i) else (">", 2)
            close = markup.find(end, i + skip)
            i = n if close < 0 else close + len(end)
            continue
        if after in "/?":
            close = markup.find(">", i + 2)
            i = n if close < 0 else close + 1
            continue
        if not ("a" <= after <= "z" or "A" <= after <= "Z"):
            i += 1
            continue
        j = _TAG_NAME_RUN.match(markup, i + 1).end()  # type: ignore[union-attr]
        name = markup[i + 1 : j].lower()
        count, cut = 0, -1
        while j < n:
            j = _SPACE_RUN.match(markup, j).end()  # type: ignore[union-attr]
            if j >= n:
                break
            if markup[j] == ">":
                j += 1
                break
            if markup[j] == "/":
                j += 1
                continue
            count += 1
            if count == most + 1:
                cut = j
            j = _ATTRIBUTE_NAME_RUN.match(markup, j + 1).end()  # type: ignore[union-attr]
            j = _SPACE_RUN.match(markup, j).end()  # type: ignore[union-attr]
            if j < n and markup[j] == "=":
                j = _SPACE_RUN.match(markup, j + 1).end()  # type: ignore[union-attr]
                if j < n and markup[j] in "\"'":
                    close = markup.find(markup[j], j + 1)
                    j = n if close < 0 else close + 1
                else:
                    j = _UNQUOTED_VALUE_RUN.match(markup, j).end()  # type: ignore[union-attr]
        if cut >= 0:
            pieces += [markup[done:cut], ">"]
            done = j
            excess += count - most
        i = j
        if name == "plaintext":
            break
        if name in _RAW_TEXT:
            i = _end_tag(markup, name, i)
    if not pieces:
        return markup, 0
    pieces.append(markup[done:])
    return "".join(pieces), excess


def _end_tag(markup: str, name: str, start: int) -> int:
    """Where the end tag of raw-text element ``name`` begins, looking from ``start``."""
    i = start
    while True:
        i = markup.find("</", i)
        if i < 0:
            return len(markup)
        if markup[i + 2 : i + 2 + len(name)].lower() == name:
            return i
        i += 2


class _Walk:
    """One pass over the tree, parents before children; removals that would move text are
    done afterwards, one parent at a time, so no text is copied more than once."""

    def __init__(self, root: Any, page_url: str, local: Callable[[str], str | None]) -> None:
        self.root = root
        self.page_url = page_url
        self.base = page_url
        for href in root.xpath("//base/@href")[:1]:
            candidate = urljoin(page_url, browser_url_text(str(href)))
            if urlsplit(candidate).scheme in ("http", "https"):
                self.base = candidate
        self.local = local
        self.written: set[str] = set()  # exported files the page now refers to
        self.removed: Counter[str] = Counter()
        self.refreshes: list[str] = []
        self._fate: dict[Any, str] = {}  # element -> "drop" | "unwrap"
        self._touched: list[Any] = []  # their parents, in document order
        self._parents: set[Any] = set()

    def run(self) -> None:
        stack: list[tuple[Any, bool]] = [(self.root, False)]
        while stack:
            element, foreign = stack.pop()
            tag = _tag(element) if isinstance(element.tag, str) else ""
            inside = (foreign or tag in ("svg", "math")) and tag != "foreignobject"
            next_up = self._visit(element, foreign)
            stack.extend((following, inside) for following in next_up)
        # Deepest parents first: a <noscript> inside a <noscript> is unwrapped before its own.
        for parent in reversed(self._touched):
            _rebuild(parent, self._fate)

    # --- elements ---

    def _visit(self, element: Any, foreign: bool) -> list[Any]:
        """Make one element safe; return what to visit next, last first (its children)."""
        if not isinstance(element.tag, str):  # a comment, PI or entity the parser kept
            self._mark(element, "drop")
            return []
        tag = _tag(element)
        if tag in _REMOVED_WITH_CONTENT:
            self.removed[SCRIPTS if tag == "script" else ACTIVE] += 1
            self._mark(element, "drop")
            return []
        if tag in _EMBEDDING:
            return self._replace_embedding(element, tag)
        if tag == "meta" and self._drop_meta(element):
            return []
        if tag == "link" and not self._keep_link(element):
            return []
        if tag == "noscript":
            self._mark(element, "unwrap")
        elif tag in _RAW_TEXT_AS_PRE:
            element.tag = "pre"  # shown the same; its text is escaped on output like any
        elif tag == "style":
            self._style_element(element)
        elif tag == "form":
            self.removed[FORMS] += 1
        elif tag in _FORM_CONTROLS:
            element.set("disabled", "disabled")
        handled: set[str] = set()
        if tag in _HYPERLINKS:
            handled = self._hyperlink(element, tag, foreign)
        elif tag == "link":
            handled = {"href"}
        self._attributes(element, handled)
        return [] if tag == "style" else list(reversed(element))

    def _mark(self, element: Any, fate: str) -> None:
        parent = element.getparent()
        if parent is None:
            return
        if parent not in self._parents:
            self._parents.add(parent)
            self._touched.append(parent)
        self._fate[element] = fate

    def _replace_embedding(self, element: Any, tag: str) -> list[Any]:
        """A note in the element's place; returns what follows it to visit (the content that
        libxml2, not knowing <embed> is void, put inside it)."""
        what, attributes = _EMBEDDING[tag]
        if tag == "frameset":
            urls = [self._display_url(f.get("src")) for f in element.iter("frame", "iframe")]
        else:
            urls = [self._display_url(element.get(a)) for a in attributes]
        shown = ", ".join(u for u in urls if u)
        if not shown and element.get("srcdoc") is not None:
            shown = "a document written into the page (srcdoc)"
        note = lxml_html.Element(
            "span",
            {"class": "archiver-removed", "style": _NOTE_STYLE, "data-archiver-removed": tag},
        )
        note.text = _clean(f"[{what} not kept in this copy" + (f": {shown}]" if shown else "]"))
        parent = element.getparent()
        if parent is None:
            return []
        self.removed[EMBEDDED] += 1
        following = list(element) if tag == "embed" else []
        if not following:
            note.tail = ((element.text or "") if tag == "embed" else "") + (element.tail or "")
            parent.replace(element, note)
            return []
        note.tail = element.text
        following[-1].tail = (following[-1].tail or "") + (element.tail or "")
        parent.replace(element, note)
        for moved in reversed(following):
            note.addnext(moved)
        return list(reversed(following))

    def _drop_meta(self, element: Any) -> bool:
        """Drop a <meta> that acts (refresh, cookies, a CSP, charset, referrer policy)."""
        equiv = (element.get("http-equiv") or "").strip().lower()
        name = (element.get("name") or "").strip().lower()
        if not equiv and element.get("charset") is None and name != "referrer":
            return False
        if equiv == "refresh":
            self.removed[REFRESHES] += 1
            target = _refresh_target(element.get("content") or "")
            if target:
                self.refreshes.append(self._display_url(target) or target)
        self._mark(element, "drop")
        return True

    def _keep_link(self, element: Any) -> bool:
        """A stylesheet or icon that was exported stays, pointing at its file; every other
        <link> (prefetch, preconnect, preload, manifest, …) fetches or announces: dropped."""
        rels = set((element.get("rel") or "").lower().split())
        path = self._local_file(element.get("href") or "")
        if rels & _KEPT_LINK_RELS and path is not None:
            element.set("href", path)
            return True
        self.removed[BLOCKED] += 1
        self._mark(element, "drop")
        return False

    def _style_element(self, element: Any) -> None:
        for child in list(element):
            element.remove(child)
        element.text = _clean(self._css(element.text or "", in_html=True))

    def _hyperlink(self, element: Any, tag: str, foreign: bool) -> set[str]:
        """A link stays a link only to the web (marked as leaving the copy), to a fragment of
        this page, or to mail and telephone; anything else it would run or open is removed."""
        names = ("href", "xlink:href", f"{{{_XLINK}}}href")
        written = next((element.get(n) for n in names if element.get(n) is not None), None)
        for name in names:
            element.attrib.pop(name, None)
        if written is None:
            return set(names)
        target, kind = self._link_target(written)
        if target is None:
            element.set("data-archiver-removed-href", _clean(written))
            element.set(
                "title",
                "This link ran a script or opened something other than a web page: "
                "removed in the archived copy",
            )
            self.removed[SCRIPT_LINKS if kind == "script" else OTHER_LINKS] += 1
            return set(names)
        element.set("href", _clean(target))
        if kind == "web":
            element.set("target", "_blank")
            element.set("rel", "noopener noreferrer")
            element.set("referrerpolicy", "no-referrer")
            element.set("data-archiver-live", "")
            classes = (element.get("class") or "").split()
            element.set("class", " ".join([*classes, "archiver-live-link"]))
            if element.get("title") is None:
                element.set("title", _clean(f"Live web: {target} (leaves the archived copy)"))
            if tag == "a" and not foreign:
                marker = lxml_html.Element(
                    "span", {"class": "archiver-live-marker", "style": _MARKER_STYLE}
                )
                marker.text = LIVE_MARKER
                element.append(marker)
            self.removed[LIVE_LINKS] += 1
        return {*names, "target", "rel", "referrerpolicy"}

    def _link_target(self, written: str) -> tuple[str | None, str]:
        text = browser_url_text(written)
        if not text:
            return None, "other"
        if text.startswith("#"):
            return text, "fragment"
        scheme = _scheme_of(text)
        if scheme is None:
            # Before the query, browsers read "\" as "/" in web URLs: "\\host\x" is "//host/x".
            cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
            text = text[:cut].replace("\\", "/") + text[cut:]
            try:
                text = urljoin(self.base, text)
            except ValueError:
                return None, "other"
            scheme = _scheme_of(text)
        if scheme in ("javascript", "vbscript", "livescript"):
            return None, "script"
        if scheme in _HARMLESS_LINK_SCHEMES:
            return text, "other"
        if scheme not in ("http", "https"):
            return None, "other"
        page, fragment = urldefrag(text)
        if fragment and page == urldefrag(self.page_url)[0]:
            return f"#{fragment}", "fragment"
        return text, "web"

    # --- attributes ---

    def _attributes(self, element: Any, handled: set[str]) -> None:
        """Keep, rewrite or drop each attribute. The element's attributes are then written
        afresh in one go: libxml2 finds an attribute by walking the element's list, so
        removing them one by one from an element with thousands would take quadratic time."""
        kept: list[tuple[str, str]] = []
        changed = False
        # lxml looks each value up by name, so reading them all is quadratic in their number.
        count = len(element.attrib)
        if count > _MOST_ATTRIBUTES:  # an SVG file (HTML is capped before parsing)
            pairs = [(n, element.get(n)) for n in element.keys()[:_MOST_ATTRIBUTES]]
            self.removed[EXCESS] += count - _MOST_ATTRIBUTES
            changed = True
        else:
            pairs = element.items()
        for name, value in pairs:
            lowered = _attribute_name(name)
            written = value if lowered in handled else self._attribute(lowered, value)
            if written is None:
                changed = True
                continue
            if isinstance(written, tuple):  # kept under another name (data-archiver-…)
                (name, written), changed = written, True
            changed = changed or written != value
            kept.append((name, written))
        if any(n == "sizes" for n, _ in kept) and not any(n == "srcset" for n, _ in kept):
            kept = [(n, v) for n, v in kept if n != "sizes"]
            changed = True
        if changed:
            element.attrib.clear()
            for name, value in kept:
                element.set(name, _clean(value))

    def _attribute(self, lowered: str, value: str) -> str | tuple[str, str] | None:
        """What one attribute becomes: its value (maybe rewritten), a (name, value) to keep in
        its stead, or None to drop it."""
        if not _ATTRIBUTE_NAME.fullmatch(lowered) or lowered in _DROPPED_ATTRIBUTES:
            return None
        if lowered.startswith("on"):
            self.removed[HANDLERS] += 1
            return None
        if lowered == "style" or lowered in _CSS_VALUE_ATTRIBUTES:
            return self._css(value)
        if lowered == "srcset":
            return self._srcset(value)
        if lowered in _RESOURCE_ATTRIBUTES:
            kept = self._resource(value)
            if kept is None:
                self.removed[BLOCKED] += 1
                blocked = f"data-archiver-blocked-{lowered.replace(':', '-')}"
                return blocked, self._display_url(value) or value
            return kept
        if lowered in _CITATION_ATTRIBUTES:
            return self._display_url(value)
        if lowered == "usemap" and not browser_url_text(value).startswith("#"):
            return None
        return value

    def _srcset(self, value: str) -> str | tuple[str, str]:
        kept = []
        for url, descriptors in srcset_candidates(value):
            local = self._resource(url)
            if local is None:
                self.removed[BLOCKED] += 1
            else:
                kept.append(f"{local} {descriptors}".strip())
        return ", ".join(kept) if kept else ("data-archiver-blocked-srcset", value)

    def _resource(self, value: str) -> str | None:
        """What a resource reference becomes: an exported file, itself when harmless (a
        fragment, a data: picture), or None."""
        if harmless_as_is(value):
            return browser_url_text(value)
        return self._local_file(value)

    def _local_file(self, value: str) -> str | None:
        url = requisite_url(self.base, value)
        if url is None:
            return None
        address, fragment = urldefrag(url)
        path = self.local(address)
        if path is None:
            return None
        self.written.add(path)
        return f"{path}#{fragment}" if fragment else path

    def _css(self, text: str, in_html: bool = False) -> str:
        def replace(ref: str) -> str | None:
            return browser_url_text(ref) if harmless_as_is(ref) else self._local_file(ref)

        def allowed(ref: str) -> bool:
            return harmless_as_is(ref) or urldefrag(ref)[0] in self.written

        rewritten, neutralised = css_scan.rewrite(text, replace, allowed, in_html=in_html)
        self.removed[BLOCKED] += neutralised
        return rewritten

    def _display_url(self, value: str | None) -> str | None:
        """A URL to name in a note or keep as a citation: absolute http(s), or None."""
        if not value:
            return None
        text = browser_url_text(value)
        try:
            url = urljoin(self.base, text)
        except ValueError:
            return None
        return url if urlsplit(url).scheme in ("http", "https") else None


def _rebuild(parent: Any, fate: dict[Any, str]) -> None:
    """Drop and unwrap ``parent``'s marked children, joining the text around them once."""
    kept: list[Any] = []
    pieces: list[str] = [parent.text or ""]
    owner: Any = None  # whose tail the pieces are: None for the parent's own text

    def settle() -> None:
        text = "".join(pieces) or None
        if owner is None:
            parent.text = text
        else:
            owner.tail = text

    for child in list(parent):
        what = fate.get(child)
        if what == "drop":
            pieces.append(child.tail or "")
            continue
        if what == "unwrap":
            pieces.append(child.text or "")
            grandchildren = list(child)
            tail = child.tail or ""
        else:
            grandchildren, tail = [child], None
        for kept_child in grandchildren:
            settle()
            owner, pieces = kept_child, [kept_child.tail or ""]
            kept.append(kept_child)
        if tail is not None:
            pieces.append(tail)
    settle()
    for child in list(parent):
        parent.remove(child)
    parent.extend(kept)


def _head_and_body(root: Any) -> tuple[Any, Any]:
    head = root.find("head")
    if head is None:
        head = lxml_html.Element("head")
        root.insert(0, head)
    body = root.find("body")
    if body is None:  # a frameset page, now a note: put what is left in a body
        body = lxml_html.Element("body")
        for child in [c for c in root if c is not head]:
            body.append(child)
        root.append(body)
    return head, body


def _secure_head(head: Any, url: str) -> None:
    """The policy first, before anything the browser could act on; then charset, referrer."""
    metas = [
        {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY},
        {"charset": "utf-8"},
        {"name": "referrer", "content": "no-referrer"},
        {"http-equiv": "x-dns-prefetch-control", "content": "off"},
    ]
    for position, attributes in enumerate(metas):
        head.insert(position, lxml_html.Element("meta", attributes))
    title = head.find("title")
    if title is None:
        title = lxml_html.Element("title")
        title.text = _clean(url)
        head.append(title)
    title.text = _clean(TITLE_PREFIX + " ".join((title.text_content() or url).split()))
    for child in list(title):
        title.remove(child)


def _banner(provenance: Provenance, removed: Counter[str], refreshes: list[str]) -> Any:
    banner = lxml_html.Element(
        "archiver-banner", {"id": "archiver-banner", "role": "note", "style": _BANNER_STYLE}
    )

    def line(text: str, style: str = _LINE_STYLE, code: str | None = None) -> None:
        element = etree.SubElement(banner, "archiver-line", {"style": style})
        element.text = _clean(text)
        if code is not None:
            value = etree.SubElement(element, "archiver-code", {"style": _CODE_STYLE})
            value.text = _clean(code)

    line("Archived copy — not the live page", _HEADING_STYLE)
    source = provenance.final_url or provenance.url
    line(f"Captured from {source} on {_utc(provenance.captured_at)} by archiver {__version__}.")
    if provenance.final_url and provenance.final_url != provenance.url:
        line(f"Cited as {provenance.url} (redirected when captured).")
    if provenance.payload_sha256:
        line("SHA-256 of the page as received: ", code=provenance.payload_sha256)
    if provenance.warc:
        line("The page exactly as received is kept in the WARC file ", code=provenance.warc)
        line("This file is a view of it, rewritten so that it can be opened safely.")
    if provenance.rendered:
        line(
            "This is the page as a browser (Chromium) rendered it when captured, after its "
            "scripts had run; the page's own traffic is in the WARC file too."
        )
    for what, name in provenance.beside:
        line(f"{what}: ", code=name)
    line(
        "Made inert for reading: the page's scripts, event handlers, frames and automatic "
        "refreshes were removed and nothing in this copy is loaded from the network. "
        f"Links marked “{LIVE_MARKER}” leave this copy and open the live web."
    )
    if removed:
        counts = [f"{removed[k]} {_SINGULAR[k] if removed[k] == 1 else k}" for k in _SINGULAR]
        line("Changed: " + "; ".join(c for c in counts if not c.startswith("0 ")) + ".")
    for target in refreshes:
        line(f"The page redirected itself to {target}; that redirect was removed.")
    if provenance.truncated:
        line(f"Incomplete: {provenance.truncated}", _LINE_STYLE + ";color:#8b0000!important")
    return banner


def _utc(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _refresh_target(content: str) -> str | None:
    """The URL of a refresh's ``content`` ("5; url=…"), if it names one."""
    _, separator, rest = content.partition(";") if ";" in content else content.partition(",")
    if not separator:
        return None
    rest = rest.strip()
    if rest[:3].lower() == "url":
        rest = rest[3:].lstrip()
        if rest.startswith("="):
            rest = rest[1:].lstrip()
    return rest.strip("'\"").strip() or None


# Characters lxml (like XML) cannot hold, which a page can still smuggle in as "&#1;": written
# as U+FFFD wherever a value from the page is put back into the tree.
_NOT_XML = {c: "\ufffd" for c in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]}


def _clean(text: str) -> str:
    return text.translate(_NOT_XML)


def _attribute_name(name: str) -> str:
    """An attribute's name as the rules here spell it: lower case, "xlink:href" for XLink's
    href in an XML tree (an SVG file), any other namespace "ns:"."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return f"{_PREFIXES.get(namespace, 'ns')}:{local}".lower()
    return name.lower()


def _scheme_of(url: str) -> str | None:
    scheme, colon, _ = url.partition(":")
    scheme = scheme.lower()
    return scheme if colon and _SCHEME.fullmatch(scheme) else None


def _tag(element: Any) -> str:
    """The element's name as browsers match it: lower case, any "prefix:" dropped."""
    tag = str(element.tag)
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()
