"""An exported copy is inert: opened in a real browser it runs nothing and asks for nothing.

The browser test captures a hostile page from the local test web with the real capture stage,
exports it, and opens ``index.html`` in headless Chromium whose every request, to any host,
goes through a counting :class:`testweb.Tracker` (it is the browser's proxy, loopback
included): zero connections means the copy made no request anywhere.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
from click.testing import Result
from conftest import write
from lxml import etree
from lxml import html as lxml_html
from sqlite_utils import Database
from test_capture import capture, cite, source_id
from test_capture import options as options  # the fixture, under its own name
from testweb import HOSTILE_TITLE, SCRIPT_RAN, TestWeb, Tracker

from archiver import css as css_scan
from archiver.capture import CaptureOptions
from archiver.capture.requisites import css_references, srcset_candidates
from archiver.css import browser_url_text, harmless_as_is
from archiver.views.inert import (
    CONTENT_SECURITY_POLICY,
    EMBEDDED,
    EXCESS,
    LIVE_LINKS,
    LIVE_MARKER,
    SCRIPT_LINKS,
    SCRIPTS,
    InertPage,
    Provenance,
    make_inert,
    make_svg_inert,
)
from archiver.views.retrieve import export_capture, export_copy

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    with Tracker("127.0.0.2") as server:
        yield server


def _page_behind(browser: Any, proxy: str) -> Any:
    """A page whose every request, to any host and loopback too, goes through ``proxy``.

    The proxy is the page's, not the browser's: Chromium's own background traffic (component
    updates, Google accounts) goes direct, where no name resolves, instead of being counted.
    """
    context = browser.new_context(proxy={"server": proxy, "bypass": "<-loopback>"})
    return context.new_page()


def _chromium(playwright: Any, proxy: str) -> Any:
    """Headless Chromium that resolves no name but the proxy's (an address), so nothing it
    does can leave this machine."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {urlsplit(proxy).hostname}"],
    )


def test_exported_hostile_page_makes_no_request_in_chromium(
    db: Database, web: TestWeb, tracker: Tracker, options: CaptureOptions, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.is_file():
        pytest.skip("no Chromium at /usr/bin/chromium")
    url = web.url(f"/hostile?tracker={tracker.base}")
    cite(db, [url])
    assert capture(db, options).captured == 1
    # Capturing asks the tracker for the page's requisites (that is what a crawler does);
    # from here on nothing may reach it.
    index = export_capture(db, source_id(db, url), options.data_dir, tmp_path / "export")
    shutil.copytree(index.parent, tmp_path / "moved")  # a copy moved elsewhere opens the same
    index = tmp_path / "moved" / "index.html"
    connections, lines = tracker.connections, tracker.request_lines
    asked_web = len(web.requests)

    console: list[str] = []
    requested: list[str] = []
    seen: dict[str, object] = {}
    with sync_api.sync_playwright() as playwright:
        browser = _chromium(playwright, tracker.base)
        try:
            page = _page_behind(browser, tracker.base)
            page.on("console", lambda message: console.append(message.text))
            page.on("request", lambda request: requested.append(request.url))
            page.goto(index.as_uri(), wait_until="load")
            # Settled: nothing in flight for 500 ms (a request anywhere would also show in
            # `requested` and on the tracker).
            page.wait_for_load_state("networkidle")
            page.click("#jslink", timeout=2000)
            page.focus("input[name=q]", timeout=2000)
            # One round trip through the page's event loop after the click has been handled.
            page.evaluate("() => new Promise(done => setTimeout(done, 50))")
            seen["title"] = page.title()
            seen["logo"] = page.eval_on_selector("#logo", "img => img.naturalWidth")
            seen["masthead"] = page.eval_on_selector(".masthead", "e => getComputedStyle(e).color")
            seen["background"] = page.evaluate("getComputedStyle(document.body).backgroundImage")
            seen["border"] = page.evaluate("getComputedStyle(document.body).borderTopColor")
            seen["banner"] = page.inner_text("#archiver-banner", timeout=2000)
            page.screenshot(path=str(tmp_path / "export.png"), full_page=True)
        except sync_api.Error as exc:
            # The old, live export navigates away (its meta refresh): say so with the hits.
            seen["error"] = str(exc).splitlines()[0]
        finally:
            browser.close()

    hits = tracker.request_lines[len(lines) :]
    off_file = [u for u in requested if not u.startswith("file:")]
    assert (tracker.connections - connections, hits, off_file, seen.get("error")) == (
        0,
        [],
        [],
        None,
    ), (
        f"the export reached the network: {tracker.connections - connections} connections, "
        f"{len(hits)} requests {hits}; the browser asked for {off_file}; {seen.get('error')}"
    )
    assert len(web.requests) == asked_web
    assert seen["title"] == f"[Archived copy] {HOSTILE_TITLE}", "a script ran"
    assert not [m for m in console if SCRIPT_RAN in m]
    # The sanitiser left nothing for the Content Security Policy to block.
    assert not [m for m in console if "Content Security Policy" in m], console
    # Legitimate requisites, captured from the test web, display from files/.
    assert isinstance(seen["logo"], int) and seen["logo"] > 0
    assert seen["masthead"] == "rgb(153, 0, 0)"  # .masthead { color: #900 } in style.css
    background = str(seen["background"])
    assert background.startswith('url("file:') and "/files/" in background
    assert seen["border"] == "rgb(0, 128, 0)"  # from /hostile.css, rewritten and exported
    banner = str(seen["banner"])
    assert "Archived copy" in banner and url in banner and "SHA-256" in banner
    # The exported stylesheets refer to nothing but the exported files.
    exported = {f.name for f in (index.parent / "files").iterdir()}
    for sheet in (index.parent / "files").glob("*.css"):
        refs = css_references(sheet.read_text(encoding="utf-8"))
        assert all(ref in exported or harmless_as_is(ref) for ref in refs), (sheet, refs)
    assert not list((index.parent / "files").glob("*.js"))  # scripts are not exported


# --- the inert function on tricky markup -----------------------------------------------------

PAGE = "https://news.example/story/1"
LOCAL = {
    "https://news.example/logo.png": "files/aaaa.png",
    "https://news.example/site.css": "files/bbbb.css",
    "https://news.example/sprite.svg": "files/cccc.svg",
}
# Attributes through which a browser fetches, navigates or runs something.
_URL_ATTRIBUTES = (
    "src",
    "href",
    "xlink:href",
    "poster",
    "background",
    "data",
    "action",
    "formaction",
    "srcset",
    "ping",
    "lowsrc",
    "dynsrc",
    "codebase",
    "attributionsrc",
    "srcdoc",
)


def inert(markup: str, provenance: Provenance | None = None) -> InertPage:
    return make_inert(markup, PAGE, LOCAL.get, provenance)


def live_parts(markup: str) -> list[str]:
    """Everything in an output page that could run or reach the web; [] for an inert one."""
    tree = lxml_html.document_fromstring(markup)
    found: list[str] = []
    allowed = set(LOCAL.values())
    for element in tree.iter():
        if not isinstance(element.tag, str):
            found.append(f"comment or PI {element!r}")
            continue
        tag = element.tag.lower().rsplit(":", 1)[-1]
        if tag in {"script", "iframe", "frame", "object", "embed", "applet", "base", "noscript"}:
            found.append(f"<{tag}>")
        if tag == "meta" and (element.get("http-equiv") or "").lower() not in (
            "",
            "content-security-policy",
            "x-dns-prefetch-control",
        ):
            found.append(f"<meta http-equiv={element.get('http-equiv')}>")
        if tag == "style" and "<" in (element.text or ""):
            found.append("'<' in a <style>")
        for name, value in element.attrib.items():
            lowered = name.lower()
            if lowered.startswith("on"):
                found.append(f"{tag}[{name}]")
            if lowered == "style" or tag == "style":
                refs = css_references(value)
            elif lowered not in _URL_ATTRIBUTES:
                continue
            elif lowered == "srcset":
                refs = [url for url, _ in srcset_candidates(value)]
            else:
                refs = [value]
            for ref in refs:
                text = browser_url_text(ref)
                scheme = text.split(":", 1)[0].lower() if ":" in text else ""
                navigates = tag == "a" and lowered in ("href", "xlink:href")
                if navigates and scheme in ("http", "https") and element.get("target"):
                    continue  # a marked live link (checked by the tests that expect one)
                if navigates and scheme in ("mailto", "tel"):
                    continue
                if urldefrag(text)[0] in allowed or harmless_as_is(text):
                    continue
                found.append(f"{tag}[{name}={value!r}]")
        if tag == "style":
            for ref in css_references(element.text or ""):
                if ref not in allowed and not harmless_as_is(ref):
                    found.append(f"<style> url {ref!r}")
    return found


@pytest.mark.parametrize(
    "markup",
    [
        '<IMG SRC="logo.png" ONERROR="alert(1)" OnLoad="x()">',
        '<a href="jav&#x61;script:alert(1)">entity</a>',
        '<a href="&#106;&#97;vascript:alert(1)">decimal entities</a>',
        '<a href="java&#x09;script:alert(1)">tab inside the scheme</a>',
        '<a href="java\nscript:alert(1)">newline inside the scheme</a>',
        '<a href=" &#1; JaVaScRiPt:alert(1)">controls and case</a>',
        '<a href="vbscript:msgbox(1)">vb</a><a href="livescript:x">ls</a>',
        '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data</a>',
        '<a href="file:///etc/passwd">file</a><a href="blob:https://x/y">blob</a>',
        '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
        '<svg><a href="javascript:alert(1)"><text>x</text></a></svg>',
        '<svg><animate attributeName="href" to="javascript:alert(1)"/><set to="x"/></svg>',
        '<svg onload="alert(1)"><image href="https://t.example/i.png"/></svg>',
        '<svg><use xlink:href="https://t.example/sprite.svg#a"/><use href="#local"/></svg>',
        '<svg><style><img src=x onerror="alert(1)"></style></svg>',
        '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
        '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">m</maction>',
        "<noscript><noscript><img src='https://t.example/ns.gif' onerror=x()></noscript>"
        "<p>shown</p></noscript>",
        '<object data="https://t.example/o.swf"><embed src="https://t.example/e.swf"></object>',
        '<embed src="https://t.example/e.swf"><p>after the embed</p>',
        '<iframe src="javascript:alert(1)"></iframe><iframe srcdoc="<script>x()</script>">',
        '<frameset><frame src="https://t.example/f1"><frame src="https://t.example/f2"></frameset>',
        '<applet code="Evil.class" codebase="https://t.example/"></applet>',
        '<meta http-equiv="REFRESH" content="0;URL=\'https://t.example/r\'">',
        '<meta http-equiv="Set-Cookie" content="a=b"><meta http-equiv="Content-Security-Policy"'
        ' content="report-uri https://t.example/csp">',
        '<base href="https://t.example/"><img src="pixel.gif"><a href="page">relative</a>',
        '<form action="https://t.example/f"><input autofocus onfocus="x()">'
        '<button formaction="https://t.example/g">go</button></form>',
        '<a href="https://elsewhere.example/" ping="https://t.example/p">ping</a>',
        '<link rel="preconnect" href="https://t.example"><link rel="dns-prefetch" href="//t.ex">'
        '<link rel="prefetch" href="https://t.example/p"><link rel="preload" href="/x" as="image">'
        '<link rel="modulepreload" href="/m.js"><link rel="manifest" href="/m.json">'
        '<link rel="stylesheet" href="https://t.example/remote.css">',
        '<img src="logo.png" srcset="https://t.example/2x.png 2x, logo.png 1x" sizes="10px">',
        '<picture><source srcset="https://t.example/a.webp"><img src="logo.png"></picture>',
        '<div style="background:url(https://t.example/a)">a</div>'
        '<div style="background:\\75 rl(https://t.example/b)">b</div>'
        "<div style=\"background-image:image-set('https://t.example/c' 1x)\">c</div>",
        "<style>@import 'https://t.example/z.css'; @\\69mport url(https://t.example/y.css);"
        " p { background: URL( 'https://t.example/x' ) } /* url(not-a-ref) */</style>",
        "<style>a { color: red } </style><style>b {} &lt;/style&gt;</style>",
        '<table background="https://t.example/bg.png"><tr><td background="/x.png">c</td></tr>',
        '<video poster="https://t.example/p.png" src="https://t.example/v.mp4">'
        '<track src="https://t.example/t.vtt"></video><audio src="https://t.example/a.mp3">',
        '<input type="image" src="https://t.example/i.png"><img lowsrc="https://t.example/l">',
        '<img src="logo.png" attributionsrc="https://t.example/attr">',
        "<!-- <script>alert(1)</script> --><!--[if IE]><script>x()</script><![endif]-->",
        "<xmp><script>alert(1)</script></xmp><plaintext><img src=x onerror=y()>",
        "<template><script>x()</script><img src='https://t.example/t.png'></template>",
        '<html manifest="https://t.example/app.cache"><body background="https://t.example/b">',
        '<a href="\\\\t.example\\share">backslashes</a><a href="//t.example/x">scheme-less</a>',
        '<details open ontoggle="x()"><summary>s</summary></details><body onpageshow="y()">',
        '<img src="logo.png" integrity="sha256-x" crossorigin="anonymous">',
        '<svg><filter id="f"/><rect filter="url(https://t.example/f.svg#f)" fill="url(#f)"/></svg>',
        '<div data-src="https://t.example/lazy.png" data-archiver-live="x">lazy</div>',
    ],
)
def test_tricky_markup_comes_out_inert(markup: str) -> None:
    out = inert(markup).markup
    assert live_parts(out) == [], out


def test_links_to_the_web_stay_clickable_marked_and_without_referrer() -> None:
    out = inert(
        '<p>See <a href="/other" ping="https://t.example/p">the other story</a>, '
        '<a href="#notes">the notes</a>, <a href="https://news.example/story/1#top">the top</a>'
        ' and <a href="mailto:desk@news.example">the desk</a>.</p><a href="javascript:x()">js</a>'
    )
    tree = lxml_html.document_fromstring(out.markup)
    live = tree.xpath("//a[@data-archiver-live]")
    assert [a.get("href") for a in live] == ["https://news.example/other"]
    link = live[0]
    assert (link.get("target"), link.get("rel"), link.get("referrerpolicy")) == (
        "_blank",
        "noopener noreferrer",
        "no-referrer",
    )
    assert "archiver-live-link" in link.get("class") and link.get("ping") is None
    assert link.text_content() == "the other story" + LIVE_MARKER
    hrefs = [a.get("href") for a in tree.xpath("//a")]
    assert hrefs == [
        "https://news.example/other",
        "#notes",
        "#top",
        "mailto:desk@news.example",
        None,
    ]
    assert tree.xpath("//a[not(@href)]/@data-archiver-removed-href") == ["javascript:x()"]
    assert out.removed[SCRIPT_LINKS] == 1 and out.removed[LIVE_LINKS] == 1


def test_local_requisites_stay_and_everything_else_is_noted() -> None:
    out = inert(
        '<head><link rel="stylesheet" href="/site.css" integrity="sha384-x"></head>'
        '<body><img src="/logo.png" srcset="https://t.example/2x.png 2x"><p>a<script>x()</script>b'
        '<iframe src="https://t.example/frame"></iframe>c</p>'
        "<noscript><p>no scripts here</p></noscript>"
        '<svg><use href="/sprite.svg#icon"/></svg>'
    )
    tree = lxml_html.document_fromstring(out.markup)
    assert tree.xpath("//link/@href") == ["files/bbbb.css"]
    assert tree.xpath("//link/@integrity") == []  # the rewritten file would fail the hash
    assert tree.xpath("//img/@src") == ["files/aaaa.png"]
    assert tree.xpath("//img/@data-archiver-blocked-srcset") == ["https://t.example/2x.png 2x"]
    assert tree.xpath("//use/@href") == ["files/cccc.svg#icon"]
    paragraph = tree.xpath("//p")[0]
    assert paragraph.text_content() == (
        "ab[embedded frame not kept in this copy: https://t.example/frame]c"
    )
    assert "no scripts here" in tree.text_content()  # <noscript> content shown, as without JS
    assert (out.removed[SCRIPTS], out.removed[EMBEDDED]) == (1, 1)


def test_policy_first_then_banner_escaped() -> None:
    provenance = Provenance(
        url='https://news.example/story/1?q=<script>alert("x")</script>',
        captured_at="2024-04-03T10:15:00+06:00",
        payload_sha256="a" * 64,
        warc="2024/04/03/x.warc.gz",
        truncated="the capture stored only the first 10 bytes of the page as sent.",
    )
    out = inert(
        '<html><head><meta charset="windows-1251"><title>Old</title></head>'
        '<body><meta http-equiv="refresh" content="5; url=https://t.example/next">text</body>',
        provenance,
    )
    tree = lxml_html.document_fromstring(out.markup)
    head = tree.find("head")
    assert head[0].get("http-equiv") == "Content-Security-Policy"
    assert head[0].get("content") == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert [m.get("charset") for m in tree.iter("meta") if m.get("charset")] == ["utf-8"]
    assert tree.xpath("//meta[@name='referrer']/@content") == ["no-referrer"]
    assert tree.findtext(".//title") == "[Archived copy] Old"
    banner = tree.get_element_by_id("archiver-banner")
    assert banner.getparent().tag == "body" and banner.getparent().index(banner) == 0
    said = banner.text_content()
    assert provenance.url in said and "<script>" not in out.markup.split("</head>")[1]
    assert "2024-04-03 04:15:00 UTC" in said and "a" * 64 in said
    assert "https://t.example/next" in said  # the removed redirect is named
    assert "Incomplete: the capture stored only the first 10 bytes" in said


def test_svg_file_is_made_inert() -> None:
    svg = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        b' onload="alert(1)"><script>alert(2)</script><defs><g id="i"/></defs>'
        b'<a xlink:href="javascript:alert(3)"><use xlink:href="#i"/></a>&x;'
        b'<image xlink:href="https://t.example/i.png"/><foreignObject><iframe '
        b'xmlns="http://www.w3.org/1999/xhtml" src="https://t.example/f"/></foreignObject></svg>'
    )
    out = make_svg_inert(svg, "https://news.example/i.svg", LOCAL.get)
    assert out is not None
    root = etree.fromstring(out)
    names = {etree.QName(e).localname for e in root.iter() if isinstance(e.tag, str)}
    assert not names & {"script", "iframe"}
    attributes = [(k, v) for e in root.iter() if isinstance(e.tag, str) for k, v in e.items()]
    assert not [k for k, _ in attributes if etree.QName(k).localname.startswith("on")]
    hrefs = [v for k, v in attributes if etree.QName(k).localname == "href"]
    assert hrefs == ["#i"]  # the fragment stays; javascript: and the web image are gone
    assert b"passwd" not in out.replace(b"file:///etc/passwd", b"")  # the entity not expanded
    assert make_svg_inert(b"<html>not svg</html>", "https://x/", LOCAL.get) is None
    assert make_svg_inert(b"\x00\x01 not xml", "https://x/", LOCAL.get) is None


def _adversarial(size: int) -> str:
    """Markup built to hit every slow path: runs of removed elements whose tails must be joined,
    nested and unterminated constructs, escapes, CSS that a backtracking pattern chokes on."""
    unit = (
        '<div ONCLICK="x()" style="background:url(url(url(\\75 rl(https://t.example/a'
        ' b c d e f g h ">t<script>s</script>u<script>v</script>w<noscript><noscript>'
        '<img src=x srcset="a 1x,b 2x,c 3x,d 4x,,,,, ,e"></noscript></noscript>'
        '<a href="&#x6a;avascript:1">j</a><a href="/p?q">p</a><embed src=e>'
        "<style>@import 'x' url(url(url(url( /* unterminated comment "
        "'unterminated string \\\n \\75\\72\\6c( <!-- </style>"
        "<svg><a xlink:href=javascript:1><style><img src=1></style></a></svg></div>"
    )
    units = unit * (size // 2 // len(unit))
    # One parent with thousands of removed children, whose tails are joined once, not each time.
    siblings = "<p>" + "text<script>s</script><!-- c -->" * (size // 4 // 33) + "</p>"
    # One stylesheet where a pattern like url\(([^)]+)\) would rescan from every "url(".
    sheet = "<style>a { b: " + "url(" * (size // 8 // 4) + "</style>"
    onclicks = "<i " + " ".join(f"on{n}=x" for n in range(size // 8 // 8)) + ">i</i>"
    deep = "<b>" * 3000  # past libxml2's depth limit: parsing stops there, quickly
    return f"<html><head>{sheet}</head><body>{units}{siblings}{onclicks}{deep}</body></html>"


def test_time_is_linear_in_the_page_size() -> None:
    small, large = _adversarial(500_000), _adversarial(2_000_000)

    def seconds(markup: str) -> float:
        started = time.perf_counter()
        out = inert(markup)
        elapsed = time.perf_counter() - started
        assert out.removed[SCRIPTS] > 1000 and out.removed[EXCESS] > 1000
        return elapsed

    small_time, large_time = seconds(small), seconds(large)
    # Four times the input: about four times the time (quadratic would be sixteen).
    assert large_time < 10 * small_time + 0.5, (small_time, large_time)
    assert large_time < 60


# --- bounded reading of stored bodies --------------------------------------------------------


def test_export_of_a_gzip_bomb_is_bounded_and_says_so(
    db: Database, web: TestWeb, options: CaptureOptions, tmp_path: Path
) -> None:
    url = web.url("/gzipbomb")  # 200 MiB of HTML once inflated
    cite(db, [url])
    capture(db, options)
    started = time.perf_counter()
    exported = export_copy(
        db, source_id(db, url), options.data_dir, tmp_path / "bomb", max_bytes=1_000_000
    )
    assert time.perf_counter() - started < 20
    assert exported.index.stat().st_size < 2_000_000
    assert any("decodes to more than 1000000 bytes" in note for note in exported.incomplete)
    assert any("stored only the first" in note for note in exported.incomplete)
    assert "Incomplete:" in exported.index.read_text(encoding="utf-8")


def test_cli_export_writes_an_inert_copy_and_names_what_is_missing(
    run_cli: Callable[..., Result], tmp_path: Path, web: TestWeb
) -> None:
    write(
        tmp_path / "r.csv", f"footnote,url\n1,{web.url('/with-assets')}\n2,{web.url('/gzipbomb')}\n"
    )
    env = {
        "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
        "ARCHIVER_PER_HOST_DELAY": "0",
        "ARCHIVER_MAX_CAPTURE_BYTES": "500000",
    }
    assert run_cli("import", "r.csv", "--report", "r").exit_code == 0
    assert run_cli("capture", env=env).exit_code == 0
    whole = run_cli("export", "1", "out1", "--report", "r", env=env)
    assert whole.exit_code == 0 and "incomplete" not in whole.output
    page = (tmp_path / "out1" / "index.html").read_text(encoding="utf-8")
    assert page.index('http-equiv="Content-Security-Policy"') < page.index("<title>")
    assert "<script" not in page and "Archived copy" in page
    assert not list((tmp_path / "out1" / "files").glob("*.js"))
    bomb = run_cli("export", "2", "out2", "--report", "r", env=env)
    assert bomb.exit_code == 0
    assert "incomplete:" in bomb.output and "decodes to more than 500000 bytes" in bomb.output


# --- the CSS scanner -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a{b:url(http://t/a)}", ["http://t/a"]),
        ("a{b:URL( 'http://t/b' )}", ["http://t/b"]),
        ("a{b:\\75 rl(http://t/c)} d{e:u\\72l(http://t/d)}", ["http://t/c", "http://t/d"]),
        ("a{b:url(http\\3a //t/e)}", ["http://t/e"]),
        ("@\\69mport 'http://t/f' screen;", ["http://t/f"]),
        ("a{b:image-set('http://t/g' 1x, url(h) 2x)}", ["http://t/g", "h"]),
        ("/* url(http://t/no) */ a{content:'url(no)'}", []),
        ("@namespace svg url(http://www.w3.org/2000/svg); a{b:url(x)}", ["x"]),
        ("@media print { @import url(i); a{b:url(j)} }", ["i", "j"]),
    ],
)
def test_css_references_are_read_as_a_browser_reads_them(css: str, expected: list[str]) -> None:
    assert css_scan.references(css) == expected


def test_css_rewrite_neutralises_and_never_joins_tokens() -> None:
    def nothing(ref: str) -> str | None:
        return None

    out, neutralised = css_scan.rewrite(
        "u@import 'x';rl(http://t/a) b{c:url(http://t/b)} <!-- </style><img src=x>",
        nothing,
        harmless_as_is,
        in_html=True,
    )
    assert neutralised == 2 and "<" not in out
    assert css_scan.references(out) == ["data:,"]
    local, _ = css_scan.rewrite(
        "@import url(a.css) screen; p{b:url(#f)}",
        lambda ref: "files/1.css" if ref == "a.css" else ref,
        lambda ref: ref in ("files/1.css", "#f"),
    )
    assert local == '@import url("files/1.css") screen; p{b:url(#f)}'


def test_css_scan_is_linear_where_a_pattern_would_backtrack() -> None:
    def seconds(css: str) -> float:
        started = time.perf_counter()
        css_scan.references(css)
        return time.perf_counter() - started

    small = seconds("url(" * 100_000 + "'" + "\\" * 100_000)
    large = seconds("url(" * 400_000 + "'" + "\\" * 400_000)
    assert large < 10 * small + 0.2, (small, large)
