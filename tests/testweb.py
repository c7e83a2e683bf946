"""A real local web of hard cases, served on loopback for link-checker and capture tests.

Everything here is a genuine HTTP server (``http.server`` on 127.0.0.0/8), not a mock: the
code under test opens real sockets, follows real redirects, reads real chunked, gzip and
trickling bodies, and verifies a real (self-signed) TLS certificate. Nothing ever leaves the
loopback interface.

Routes (HTML is ``text/html; charset=utf-8`` unless noted; ``<x>`` is a path parameter):

- ``/`` home; ``/article/<slug>`` article with ETag/Last-Modified and 304 answers.
- ``/status/<code>`` that status (429/503 add ``Retry-After: 1``); unknown paths 404, or a
  200 "Oops!" template with varying content when ``catch_all_soft404=True``.
- ``/redirect/{permanent,308,temporary,home,login}``, ``/private`` (to the login page),
  ``/login``, ``/loginwall``; ``/chain/<n>`` (n redirects, then 200); ``/loop/a`` <-> ``/loop/b``.
- ``/soft404/{en,ru,kk}`` localized "not found" pages that answer 200.
- ``/flaky/<key>`` (503 once) and ``/ratelimited/<key>`` (429 once), then 200.
- ``/endless`` (chunked, never ends), ``/gzipbomb`` (200 MiB once inflated), ``/trickle``
  (body at 1 byte/s), ``/trickle-headers`` (headers at 1 byte/s), ``/slow/<seconds>`` (<= 30).
- ``/huge-headers``: 5.4 MB of headers (90 lines of 60,000 bytes: within http.client's own
  limits of 100 headers and 64 KB a line), then a small page; ``?interim=1``: 100 Continue
  heads without end.
- ``/head405`` and ``/head-lies`` (HEAD disagrees with GET); ``/changing`` (new text per hit).
- ``/cp1251``, ``/koi8r``, ``/utf8-bom``: Russian text, charset only inside the document.
- ``/with-assets`` with ``/assets/{style.css,bg.png,logo.png,app.js,poster.png}``.
- ``/big/<n>`` exactly n bytes; ``/pdf`` a one-page PDF.
- ``/hostile?tracker=<base>`` a page full of beacons aimed at ``<base>`` (a :class:`Tracker`):
  scripts, handlers, frames, refreshes, prefetches, pings, remote images and CSS, next to
  legitimate local requisites (``/assets/style.css``, ``/assets/logo.png``).

:class:`Tracker` is a second kind of server: it counts every connection and request of any
method (a preconnect, a CONNECT through it as a proxy, a POSTed beacon), for tests that must
show that nothing is requested at all.

``TestWeb.max_in_flight`` is the most requests it was answering at once: with one site per
loopback address, the concurrency one host saw.

Use ``TestWeb`` directly or through the ``web``, ``web2`` and ``tls_web`` fixtures::

    with TestWeb() as site:
        requests.get(site.url("/article/budget-vote"))
        assert site.requests_to("/article/")
        site.wait_for_requests("/article/", count=1)  # at once: it has arrived
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import html
import http.server
import ipaddress
import random
import re
import secrets
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HTML = "text/html; charset=utf-8"
SITE_NAME = "Test News"

# --- content ---------------------------------------------------------------------------------

# Hand-written news sentences. Articles mix a few of them, chosen by slug, with generated ones,
# so the same URL always yields the same text (stable ETag) while different slugs differ.
_SENTENCES = (
    "The city council voted on Tuesday to approve a revised budget after weeks of debate.",
    "Officials said the new plan shifts money from road repairs to public transport.",
    "Opposition members argued that the changes had been rushed through without consultation.",
    "Residents who attended the hearing queued for more than an hour to speak.",
    "A spokesperson for the mayor declined to comment on the timing of the announcement.",
    "Heavy rain flooded several streets in the eastern districts overnight.",
    "Emergency services said no injuries had been reported, but traffic was diverted.",
    "Forecasters expect the weather to improve by the end of the week.",
    "The regional court postponed the hearing until next month at the request of the defence.",
    "Lawyers for the company said they would appeal against the ruling.",
    "According to the statistics office, inflation slowed for the third month in a row.",
    "Economists cautioned that food prices remain well above last year's levels.",
    "The national library reopened its reading rooms after a two-year renovation.",
    "Visitors can now consult digitised newspapers dating back to the nineteenth century.",
    "Teachers in three provinces began a strike over pay and working conditions.",
    "The education ministry said talks with the unions would resume on Monday.",
    "A new bridge across the river is expected to cut commuting times by twenty minutes.",
    "Construction was delayed twice because of shortages of steel and cement.",
    "Police detained several people outside the parliament building on Saturday.",
    "Human rights groups called for the release of those held and for an investigation.",
    "The health ministry reported a rise in seasonal influenza cases among children.",
    "Doctors urged parents to keep children with a fever at home from school.",
    "Farmers warned that the dry spring could reduce the wheat harvest considerably.",
    "The agriculture minister promised compensation for those worst affected by the drought.",
    "Journalists from several outlets said they had been denied access to the briefing.",
    "An independent media watchdog described the restrictions as unacceptable.",
    "The airport handled a record number of passengers during the holiday period.",
    "Airline executives said they plan to add direct flights to four new destinations.",
)

# Building blocks for generated news sentences (see _news_sentences).
_WHO = (
    "The mayor",
    "A council spokesperson",
    "Local residents",
    "The transport authority",
    "Firefighters",
    "Hospital staff",
    "The weather service",
    "Opposition deputies",
    "Market traders",
    "University researchers",
    "The port operator",
    "Volunteers",
)
_DID = (
    "announced new measures concerning",
    "raised concerns about",
    "published figures on",
    "held an emergency meeting about",
    "reported progress on",
    "called for an inquiry into",
    "issued a warning about",
    "began clearing up after",
    "criticised the handling of",
    "released a statement on",
    "postponed decisions on",
    "celebrated the completion of",
)
_WHAT = (
    "the northern ring road",
    "water supplies in the old town",
    "the winter heating plan",
    "bus fares",
    "the flooded riverside park",
    "a planned housing estate",
    "the central market fire",
    "school catchment areas",
    "air quality near the factory",
    "the new tram line",
    "rubbish collection",
    "the football stadium expansion",
)
_WHEN = (
    "early on Monday",
    "late last night",
    "shortly after noon",
    "on Wednesday evening",
    "before dawn",
    "during the morning rush hour",
    "at a press conference",
    "in a televised address",
    "over the weekend",
    "at the start of the session",
)
_TAIL = (
    "with {n} people affected according to early estimates",
    "officials confirmed in a statement",
    "a move that will cost about {n} thousand euros",
    "although details remain unclear",
    "after a petition gathered {n} signatures",
    "local media reported",
    "and a decision is expected within {n} days",
    "prompting questions from journalists",
)

# The Russian text for the legacy-encoding pages (KOI8-R has no typographic quotes or dashes,
# so the text sticks to plain punctuation).
_RUSSIAN = (
    "Полиция задерживала людей с синими шарами в Алматы.",
    "Очевидцы рассказали, что задержания начались около полудня на центральной площади.",
    "Участники акции утверждали, что вышли на улицу мирно и без плакатов.",
    "В городском управлении полиции от комментариев отказались.",
    "Правозащитники потребовали освободить задержанных и провести проверку.",
    "Вечером большинство задержанных были отпущены, некоторым назначены штрафы.",
)

_NAV = (
    '<nav class="site-nav"><a href="/">Home</a> | <a href="/article/world">World</a> | '
    '<a href="/article/politics">Politics</a> | <a href="/article/business">Business</a> | '
    '<a href="/article/culture">Culture</a> | <a href="/login">Log in</a></nav>'
)


def _page(title: str, body: str, head: str = '<meta charset="utf-8">', lang: str = "en") -> str:
    """Wrap body HTML in the site template every page shares, as real sites do."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head>{head}<title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>\n'
        f'<body><header><h1 class="masthead">{SITE_NAME}</h1>{_NAV}</header>\n'
        f"<main>{body}</main>\n"
        f"<footer><p>&copy; 2024 {SITE_NAME}. All rights reserved.</p></footer>"
        "</body></html>\n"
    )


def _paragraphs(sentences: list[str]) -> str:
    """Group sentences into <p> elements of three or four, like news copy."""
    groups = [sentences[i : i + 4] for i in range(0, len(sentences), 4)]
    return "\n".join(f"<p>{html.escape(' '.join(g))}</p>" for g in groups)


def _title_from_slug(slug: str) -> str:
    return slug.replace("-", " ").strip().capitalize() or "Untitled"


def _news_sentences(rng: random.Random, count: int) -> list[str]:
    """Sentences assembled from parts: with thousands of combinations, two pages built from
    different seeds share almost no sentence, which is what tells one article from another."""
    return [
        f"{rng.choice(_WHO)} {rng.choice(_DID)} {rng.choice(_WHAT)} {rng.choice(_WHEN)}, "
        f"{rng.choice(_TAIL).format(n=rng.randint(2, 990))}."
        for _ in range(count)
    ]


def article_html(slug: str, head: str = '<meta charset="utf-8">', media: str = "") -> str:
    """A realistic article page whose text is fixed for a slug and differs between slugs."""
    rng = random.Random(f"article:{slug}")
    sentences = rng.sample(_SENTENCES, 8) + _news_sentences(rng, 14)
    rng.shuffle(sentences)
    title = _title_from_slug(slug)
    body = (
        f'<article>{media}<h2>{html.escape(title)}</h2><p class="byline">By Staff Reporter</p>\n'
        f"{_paragraphs(sentences)}</article>"
    )
    return _page(f"{title} — {SITE_NAME}", body, head)


def _changing_html(n: int) -> str:
    """Version n of a live page whose whole text is rewritten on every visit."""
    sentences = _news_sentences(random.Random(f"changing:{n}"), 20)
    body = f"<article><h2>Live updates</h2>\n{_paragraphs(sentences)}</article>"
    return _page(f"Live updates — {SITE_NAME}", body)


def _home_html() -> str:
    slugs = (
        "budget-vote",
        "flooded-streets",
        "court-postponed",
        "library-reopens",
        "teachers-strike",
        "new-bridge",
    )
    items = "\n".join(
        f'<li><a href="/article/{s}">{html.escape(_title_from_slug(s))}</a></li>' for s in slugs
    )
    intro = _paragraphs(list(_SENTENCES[:4]))
    return _page(
        f"{SITE_NAME} — Home", f"<section><h2>Top stories</h2>{intro}<ul>{items}</ul></section>"
    )


def _login_form(next_path: str) -> str:
    return (
        '<form method="post" action="/login"><input type="hidden" name="next" '
        f'value="{html.escape(next_path)}"><label>Email <input type="email" name="email"></label>'
        '<label>Password <input type="password" name="password"></label>'
        '<button type="submit">Log in</button></form>'
    )


def _status_html(code: int) -> str:
    phrase = _phrase(code)
    return (
        f"<html><head><title>{code} {phrase}</title></head><body><h1>{phrase}</h1>"
        f"<p>The server answered {code} {phrase} for this address.</p></body></html>\n"
    )


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown Status"


def _soft404_html(title: str, message: str, lang: str) -> str:
    body = f'<section class="error"><h2>{title}</h2><p>{message}</p></section>'
    return _page(title, body, lang=lang)


def _catch_all_html() -> str:
    """The 'not found' template of a news site that never sends 404: 200, navigation, and a
    request time and token that differ on every hit, so pages never compare byte-equal."""
    token = secrets.token_hex(8)
    trending = random.sample(_SENTENCES, 3)
    body = (
        '<section class="error"><h2>Oops! We couldn\'t find that page.</h2>'
        "<p>It may have been moved or deleted. Try the search or one of our top stories.</p>"
        f'<form action="/search"><input name="q"><input type="hidden" name="csrf" value="{token}">'
        "</form><h3>Trending</h3><ul>"
        + "".join(f"<li>{html.escape(s)}</li>" for s in trending)
        + f'</ul><p class="generated">Generated {formatdate(usegmt=True)} · request {token}'
        "</p></section>"
    )
    return _page(f"Oops! — {SITE_NAME}", body)


def _legacy_russian(encoding: str, meta: str) -> bytes:
    """A Russian article whose charset is declared only inside the HTML (legacy sites)."""
    paragraphs = "\n".join(f"<p>{s} {s}</p>" for s in _RUSSIAN)
    doc = (
        f"<html><head>{meta}<title>Задержания в Алматы</title></head>"
        f"<body><h1>Задержания в Алматы</h1>\n{paragraphs}\n</body></html>\n"
    )
    return doc.encode(encoding)


def _png(rgb: tuple[int, int, int], size: int = 2) -> bytes:
    """A real, decodable PNG of one colour (so capture tools can verify image bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))  # filter 0 per row
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _pdf() -> bytes:
    """A minimal one-page PDF with a correct xref table, for non-HTML content."""
    stream = b"BT /F1 18 Tf 72 720 Td (Test PDF document) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


@functools.cache
def gzip_bomb() -> bytes:
    """gzip of 200 MiB of HTML whitespace (~200 KB), compressed in 1 MiB steps so building it
    never holds the expanded body in memory; cached because it takes about half a second."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31 = gzip container
    parts = [compressor.compress(b"<html><head><title>Bomb</title></head><body>")]
    spaces = b" " * (1 << 20)
    parts += [compressor.compress(spaces) for _ in range(200)]
    parts.append(compressor.flush())
    return b"".join(parts)


_ASSETS: dict[str, tuple[str, bytes]] = {
    "/assets/style.css": (
        "text/css; charset=utf-8",
        b"body { font-family: Georgia, serif; background: url('/assets/bg.png') repeat; }\n"
        b".masthead { color: #900; }\n",
    ),
    "/assets/app.js": (
        "text/javascript; charset=utf-8",
        b"document.addEventListener('DOMContentLoaded', function () {\n"
        b"  document.body.classList.add('js');\n});\n",
    ),
    "/assets/logo.png": ("image/png", _png((200, 20, 20))),
    "/assets/bg.png": ("image/png", _png((250, 250, 240))),
    "/assets/poster.png": ("image/png", _png((20, 20, 200), size=4)),
}

_WITH_ASSETS_HEAD = (
    '<meta charset="utf-8"><link rel="stylesheet" href="/assets/style.css">'
    '<script src="/assets/app.js" defer></script>'
)


_WITH_ASSETS_MEDIA = (
    '<img src="/assets/logo.png" alt="Test News logo" width="2" height="2">'
    '<video poster="/assets/poster.png" controls width="320"></video>'
)


HOSTILE_TITLE = "Hostile page"
# What the page's scripts set the title to: seeing it means a script ran.
SCRIPT_RAN = "SCRIPT RAN"


def hostile_css(tracker: str) -> str:
    """A stylesheet of the hostile page (captured with it) that asks ``tracker`` for more
    stylesheets, a font and pictures, beside a legitimate picture of the site."""
    t = tracker.rstrip("/")
    return (
        f"@import url({t}/t/css-file-import);\n@import '{t}/t/css-file-import-string' screen;\n"
        "main, body { border-top: 4px solid rgb(0, 128, 0); }\n"
        f".hero {{ background-image: url('/assets/bg.png'), url({t}/t/css-file-background); }}\n"
        f"@font-face {{ font-family: Tracked; src: url({t}/t/css-file-font); }}\n"
        f".masthead {{ cursor: url({t}/t/css-file-cursor), auto; }}\n"
        f".escaped {{ list-style-image: \\75 rl({t}/t/css-file-escaped); }}\n"
    )


def hostile_html(site: str, tracker: str) -> str:
    """A page that tries every way we know to phone home to ``tracker`` when opened, beside
    requisites of ``site`` that an offline copy should still display. Each beacon asks for its
    own path under ``/t/`` so a leak names its vector."""
    t = html.escape(tracker.rstrip("/"), quote=True)
    ws = html.escape("ws://" + tracker.split("://", 1)[-1].rstrip("/"), quote=True)
    js = (
        f"document.title = '{SCRIPT_RAN}'; console.log('{SCRIPT_RAN}');"
        f"fetch('{t}/t/fetch'); navigator.sendBeacon('{t}/t/beacon', 'who');"
        f"new Image().src = '{t}/t/new-image';"
        f"var x = new XMLHttpRequest(); x.open('GET', '{t}/t/xhr'); x.send();"
        f"try {{ new WebSocket('{ws}/t/websocket'); }} catch (e) {{}}"
    )
    head = (
        f'<meta charset="utf-8"><meta http-equiv="refresh" content="0; url={t}/t/refresh">'
        f'<base href="{t}/t/base/">'
        f'<link rel="stylesheet" href="{site}/assets/style.css">'
        f'<link rel="stylesheet" href="{site}/hostile.css?tracker={t}">'
        f'<link rel="prefetch" href="{t}/t/prefetch"><link rel="preconnect" href="{t}">'
        f'<link rel="dns-prefetch" href="{t}"><link rel="preload" as="image" href="{t}/t/preload">'
        f'<link rel="icon" href="{t}/t/icon"><link rel="stylesheet" href="{t}/t/stylesheet">'
        f"<style>@import url({t}/t/import.css); @import '{t}/t/import-string.css';"
        f".hero {{ background: url({t}/t/css-background); }}"
        f"@font-face {{ font-family: Beacon; src: url('{t}/t/font') format('woff'); }}"
        f".beacon-font {{ font-family: Beacon; }}"
        f".escaped {{ background: \\75 rl({t}/t/css-escaped); }}</style>"
        f'<script src="{t}/t/external.js"></script><script>{js}</script>'
    )
    body = (
        f'<h2 class="masthead">{HOSTILE_TITLE}</h2>'
        f'<p class="hero beacon-font escaped">This page wants to know who reads it.</p>'
        f'<img id="logo" src="{site}/assets/logo.png" alt="logo" width="40" height="40">'
        f'<img src="{t}/t/img" alt="tracking pixel">'
        f'<img src="relative-to-base.png" alt="resolved against base">'
        f'<img id="srcset" src="{site}/assets/logo.png" srcset="{t}/t/srcset 2x" alt="srcset">'
        f'<picture><source srcset="{t}/t/picture"><img src="{t}/t/picture-img" alt=""></picture>'
        f'<video poster="{t}/t/poster" src="{t}/t/video"></video><audio src="{t}/t/audio"></audio>'
        f'<iframe src="{t}/t/iframe"></iframe>'
        f'<iframe srcdoc="&lt;img src=&quot;{t}/t/srcdoc&quot;&gt;"></iframe>'
        f'<object data="{t}/t/object"></object><embed src="{t}/t/embed">'
        f'<form action="{t}/t/form" method="post"><input name="q" autofocus '
        f"onfocus=\"fetch('{t}/t/onfocus')\"><button>Send</button></form>"
        f'<p><a id="ping" href="{t}/t/ping-target" ping="{t}/t/ping">a link with a ping</a></p>'
        f'<p><a id="jslink" href="javascript:fetch(\'{t}/t/javascript-link\');'
        f"document.title='{SCRIPT_RAN}'\">a javascript: link</a></p>"
        f'<p><a id="entity" href="jav&#x61;script&#x3a;fetch(\'{t}/t/entity-link\')">entity</a></p>'
        f'<p><a id="live" href="{site}/article/budget-vote">a link to the live site</a></p>'
        f'<svg width="20" height="20" onload="fetch(\'{t}/t/svg-onload\')">'
        f'<image href="{t}/t/svg-image" width="10" height="10"/>'
        f'<a xlink:href="javascript:fetch(\'{t}/t/svg-link\')"><text y="15">svg</text></a></svg>'
        f"<div style=\"background-image: url('{t}/t/inline-style')\">styled inline</div>"
        f'<table background="{t}/t/table-background"><tr><td>cell</td></tr></table>'
        f'<img src="nowhere" onerror="fetch(\'{t}/t/onerror\')" alt="">'
        f'<noscript><img src="{t}/t/noscript" alt=""></noscript>'
        f'<input type="image" src="{t}/t/input-image" alt="">'
        f"<details open ontoggle=\"fetch('{t}/t/ontoggle')\"><summary>more</summary></details>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}<title>{HOSTILE_TITLE}</title></head>'
        f"<body onload=\"fetch('{t}/t/body-onload')\">{body}</body></html>\n"
    )


# --- server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it, for asserting what the client under test sent."""

    method: str
    path: str  # including the query string
    headers: dict[str, str]
    time: float  # time.monotonic() when the request line was parsed
    client: tuple[str, int]

    def header(self, name: str) -> str | None:
        """Header value by case-insensitive name (clients differ in header capitalisation)."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _html(text: str, status: int = 200, **headers: str) -> _Response:
    return _Response(status, text.encode("utf-8"), {"Content-Type": HTML, **headers})


def _redirect(status: int, location: str) -> _Response:
    body = (
        f'<html><head><title>Moved</title></head><body><a href="{location}">here</a></body></html>'
    )
    return _html(body, status, Location=location)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, web: TestWeb, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        self.web = web
        self.tls = tls
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that could leave
        # loopback; the name is unused here, so skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is None:
            return sock, addr
        # Handshake lazily in the connection's own thread, so a slow or refusing client cannot
        # stall the accept loop.
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that disconnect mid-body or reject the self-signed certificate are the point
        # of this server; only unexpected errors deserve a traceback.
        if isinstance(sys.exception(), OSError):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed ACK
    # adds ~40 ms to every response.
    disable_nagle_algorithm = True
    server_version = "TestWeb/1.0"
    server: _Server

    # --- plumbing ---

    def setup(self) -> None:
        super().setup()
        self.server.web._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.web._track(self.connection, add=False)

    def version_string(self) -> str:
        return self.server_version  # without the Python version: responses stay identical

    def log_message(self, format: str, *args: Any) -> None:
        """Silence stderr access logs; the request log on TestWeb is the record."""

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        web = self.server.web
        web._record(self)
        web._in_flight(+1)
        try:
            self._answer()
        finally:
            web._in_flight(-1)

    def _answer(self) -> None:
        web = self.server.web
        if web.delay and web._stopping.wait(web.delay):
            return
        path = self.path.split("?", 1)[0]
        page = web._page_for(self.path)
        if page is not None:
            self._send(page)
            return
        stream = self._streams().get(path)
        if stream is not None:
            self._stream(stream)
            return
        big = re.fullmatch(r"/big/(\d+)", path)
        # Sizes above 1 GiB fall through to "not found" rather than tie up a thread for ages.
        if big and int(big[1]) <= 1 << 30:
            self._stream(functools.partial(self._big, int(big[1])))
            return
        self._send(self._route(path))

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        # 1xx, 204 and 304 responses have no body by definition.
        has_body = response.status >= 200 and response.status not in (204, 304)
        if has_body:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if has_body and self.command != "HEAD":
            self.wfile.write(response.body)

    def _stream(self, writer: Callable[[], None]) -> None:
        """Run a route that writes its own response; the client leaving ends it quietly."""
        try:
            writer()
        except OSError:  # BrokenPipe, ConnectionReset, TLS EOF: the client gave up
            self.close_connection = True
        if self.server.web._stopping.is_set():  # cut short: the response may be incomplete
            self.close_connection = True

    def _streams(self) -> dict[str, Callable[[], None]]:
        return {
            "/endless": self._endless,
            "/trickle": self._trickle,
            "/trickle-headers": self._trickle_headers,
            "/huge-headers": self._huge_headers,
        }

    # --- routes ---

    def _route(self, path: str) -> _Response:
        web = self.server.web
        fixed: dict[str, Callable[[], _Response]] = {
            "/": lambda: _html(_home_html()),
            "/redirect/permanent": lambda: _redirect(301, "/article/moved-here"),
            "/redirect/308": lambda: _redirect(308, "/article/moved-here"),
            "/redirect/temporary": lambda: _redirect(302, "/article/temp-target"),
            "/redirect/home": lambda: _redirect(301, "/"),
            "/redirect/login": lambda: _redirect(302, "/login?next=/private"),
            "/private": lambda: _redirect(302, "/login?next=/private"),
            "/login": lambda: _html(_page("Log in", f"<h2>Log in</h2>{_login_form('/')}")),
            "/loginwall": lambda: _html(
                _page("Sign in", f"<h2>You must log in to continue</h2>{_login_form('/loginwall')}")
            ),
            "/loop/a": lambda: _redirect(302, "/loop/b"),
            "/loop/b": lambda: _redirect(302, "/loop/a"),
            "/soft404/en": lambda: _html(
                _soft404_html(
                    "Page not found", "Sorry, the page you are looking for does not exist.", "en"
                )
            ),
            "/soft404/ru": lambda: _html(
                _soft404_html("Страница не найдена", "Запрашиваемая страница не существует.", "ru")
            ),
            "/soft404/kk": lambda: _html(
                _soft404_html("Бет табылмады", "Сіз іздеген бет жоқ.", "kk")
            ),
            "/gzipbomb": lambda: _Response(
                200, gzip_bomb(), {"Content-Type": "text/html", "Content-Encoding": "gzip"}
            ),
            "/head405": self._head405,
            "/head-lies": self._head_lies,
            "/changing": lambda: _html(_changing_html(web._count("/changing"))),
            "/cp1251": lambda: _Response(
                200,
                _legacy_russian("windows-1251", '<meta charset="windows-1251">'),
                {"Content-Type": "text/html"},
            ),
            "/koi8r": lambda: _Response(
                200,
                _legacy_russian(
                    "koi8-r",
                    '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">',
                ),
                {"Content-Type": "text/html"},
            ),
            "/utf8-bom": lambda: _Response(
                200, b"\xef\xbb\xbf" + _legacy_russian("utf-8", ""), {"Content-Type": "text/html"}
            ),
            "/with-assets": lambda: _html(
                article_html("with-assets", _WITH_ASSETS_HEAD, _WITH_ASSETS_MEDIA)
            ),
            "/pdf": lambda: _Response(200, _pdf(), {"Content-Type": "application/pdf"}),
            "/hostile": lambda: _html(hostile_html(web.base, self._query("tracker"))),
            "/hostile.css": lambda: _Response(
                200,
                hostile_css(self._query("tracker")).encode("utf-8"),
                {"Content-Type": "text/css; charset=utf-8"},
            ),
        }
        if path in fixed:
            return fixed[path]()
        if path in _ASSETS:
            content_type, data = _ASSETS[path]
            return _Response(200, data, {"Content-Type": content_type})
        patterns: tuple[tuple[str, Callable[[str], _Response]], ...] = (
            (r"/article/([\w.-]+)", self._article),
            (r"/status/(\d{3})", self._status),
            (r"/chain/(\d+)", self._chain),
            (r"/flaky/(.+)", lambda key: self._once(f"flaky:{key}", 503, "1")),
            (r"/ratelimited/(.+)", lambda key: self._once(f"ratelimited:{key}", 429, "2")),
            (r"/slow/(\d+(?:\.\d+)?)", self._slow),
        )
        for pattern, handler in patterns:
            match = re.fullmatch(pattern, path)
            if match:
                return handler(match[1])
        if web.catch_all_soft404:
            return _html(_catch_all_html())
        return _html(_status_html(404), 404)

    def _query(self, name: str) -> str:
        """One query parameter of this request ("" when absent)."""
        values = parse_qs(urlsplit(self.path).query).get(name)
        return values[0] if values else ""

    def _article(self, slug: str) -> _Response:
        body = article_html(slug).encode("utf-8")
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        # A per-slug publication date in 2024, stable across runs.
        days = int(hashlib.sha1(slug.encode()).hexdigest(), 16) % 300
        modified = dt.datetime(2024, 1, 1, 9, 30, tzinfo=dt.UTC) + dt.timedelta(days=days)
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        if self._not_modified(etag, modified):
            return _Response(304, b"", headers)
        return _Response(200, body, {"Content-Type": HTML, **headers})

    def _not_modified(self, etag: str, modified: dt.datetime) -> bool:
        """RFC 9110 §13.1: If-None-Match wins; If-Modified-Since only counts without it."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return "*" in tags or etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since is None:
            return False
        try:
            return modified <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):  # unparseable dates are ignored, as servers do
            return False

    def _status(self, code_text: str) -> _Response:
        code = int(code_text)
        if not 200 <= code <= 599:  # a 1xx is never a final response
            return _html(_status_html(400), 400)
        retry = {"Retry-After": "1"} if code in (429, 503) else {}
        return _html(_status_html(code), code, **retry)

    def _chain(self, n_text: str) -> _Response:
        n = int(n_text)
        if n == 0:
            return _html(article_html("end-of-chain"))
        return _redirect(302, f"/chain/{n - 1}")

    def _once(self, key: str, status: int, retry_after: str) -> _Response:
        """Fail the first request for key with a retryable status, then serve an article."""
        if self.server.web._count(key) == 1:
            return _html(_status_html(status), status, **{"Retry-After": retry_after})
        return _html(article_html(key.split(":", 1)[1]))

    def _slow(self, seconds: str) -> _Response:
        if self.server.web._stopping.wait(min(float(seconds), 30.0)):
            return _html(_status_html(503), 503)
        return _html(article_html("slow-page"))

    def _head405(self) -> _Response:
        if self.command == "HEAD":
            return _html(_status_html(405), 405, Allow="GET")
        return _html(article_html("head-not-allowed"))

    def _head_lies(self) -> _Response:
        if self.command == "HEAD":
            return _html(_status_html(404), 404)
        return _html(article_html("head-lies"))

    # --- streaming routes ---

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        opening = b"<html><head><title>Endless</title></head><body>\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(opening), opening))
        filler = (b"<p>More and more and more.</p>\n" * 2200)[: 64 * 1024]
        frame = b"%x\r\n%s\r\n" % (len(filler), filler)
        while not self.server.web._stopping.is_set():
            self.wfile.write(frame)

    def _trickle(self) -> None:
        body = _padded_html("Trickle", 600)  # 1 byte/s: ten minutes in all
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            if self.server.web._stopping.wait(1.0):
                return

    def _trickle_headers(self) -> None:
        body = _padded_html("Trickle headers", 200)
        head = (
            "HTTP/1.1 200 OK\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            f"Content-Type: {HTML}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("ascii")
        for i in range(len(head)):
            self.wfile.write(head[i : i + 1])
            if self.server.web._stopping.wait(1.0):
                return
        if self.command != "HEAD":
            self.wfile.write(body)

    def _huge_headers(self) -> None:
        self.close_connection = True
        stopping = self.server.web._stopping
        if self._query("interim"):
            interim = b"HTTP/1.1 100 Continue\r\nX-Filler: " + b"c" * 1000 + b"\r\n\r\n"
            while not stopping.is_set():
                self.wfile.write(interim)
            return
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        filler = b"x" * 60_000
        for i in range(90):
            if stopping.is_set():
                return
            self.wfile.write(b"X-Filler-%d: %s\r\n" % (i, filler))
        body = _padded_html("Huge headers", 200)
        self.wfile.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _big(self, size: int) -> None:
        """Exactly size bytes of HTML, streamed in 64 KiB pieces to keep memory flat."""
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in _big_body(size):
            self.wfile.write(piece)


def _padded_html(title: str, size: int) -> bytes:
    opening = f"<html><head><title>{title}</title></head><body><p>".encode()
    closing = b"</p></body></html>\n"
    return opening + b"." * (size - len(opening) - len(closing)) + closing


def _big_body(size: int) -> Iterator[bytes]:
    opening = b"<html><head><title>Big page</title></head><body><pre>"
    closing = b"</pre></body></html>\n"
    if size < len(opening) + len(closing):  # too small for a document: just the first bytes
        yield (opening + closing)[:size]
        return
    yield opening
    remaining = size - len(opening) - len(closing)
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?\n"
    block = (line * (65536 // len(line) + 1))[:65536]
    while remaining > 0:
        yield block[:remaining]
        remaining -= len(block)
    yield closing


class TestWeb:
    """A loopback web site full of hard cases; see the module docstring for the routes."""

    __test__ = False  # a helper, not a test class, even when imported into a test module

    def __init__(
        self,
        host: str = "127.0.0.1",
        delay: float = 0.0,
        tls: bool = False,
        catch_all_soft404: bool = False,
        cert_dir: Path | None = None,
    ) -> None:
        """delay: latency added before every response. catch_all_soft404: unknown paths get a
        200 'Oops' template instead of 404. cert_dir: where a TLS site writes its key and
        self-signed certificate (a private temporary folder when None)."""
        if not host.startswith("127."):
            raise ValueError(f"TestWeb serves loopback only, not {host!r}")
        self.host = host
        self.delay = delay
        self.tls = tls
        self.catch_all_soft404 = catch_all_soft404
        self.cert_dir = cert_dir
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.base = ""
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # notified as each request arrives
        self._log: list[RequestRecord] = []
        self._pages: dict[str, _Response] = {}
        self._counts: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._active = 0
        self._max_active = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> TestWeb:
        context = None
        if self.tls:
            if self.cert_dir is None:
                self._tempdir = tempfile.TemporaryDirectory(prefix="testweb-")
                self.cert_dir = Path(self._tempdir.name)
            self.cert_path, self.key_path = write_self_signed_cert(self.cert_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, self.key_path)
        self._server = _Server(self, (self.host, 0), context)
        port = self._server.server_address[1]
        self.base = f"{'https' if self.tls else 'http'}://{self.host}:{port}"
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        """Stop accepting, end streaming responses and drop open keep-alive connections."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # socket.socket's own shutdown: on a TLS socket it leaves the SSL state alone,
            # which another thread may still be using.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> TestWeb:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base + (path if path.startswith("/") else "/" + path)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def max_in_flight(self) -> int:
        """The most requests this site was answering at once, so far."""
        with self._lock:
            return self._max_active

    def requests_to(self, path_prefix: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def wait_for_requests(
        self, path_prefix: str, count: int = 1, timeout: float = 15.0
    ) -> list[RequestRecord]:
        """Block until ``count`` requests to ``path_prefix`` have arrived, and return them.

        A request counts once its request line and headers are parsed, before any answer: so
        a test knows the client is waiting on that page (say, a slow one) at that moment, with
        no sleep. Fails the test (AssertionError) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [r for r in self._log if r.path.startswith(path_prefix)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} request(s) to {path_prefix} within {timeout:g} s"
                    )
                self._arrived.wait(left)

    def set_page(
        self,
        path: str,
        body: bytes | str,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve body at path (exact, query included if given) from now on, overriding any
        route, so a test can make a page change or disappear between two checks."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = {"Content-Type": HTML, **(headers or {})}
        with self._lock:
            self._pages[path] = _Response(status, data, all_headers)

    # --- used by the handler threads ---

    def _record(self, handler: _Handler) -> None:
        record = RequestRecord(
            method=handler.command,
            path=handler.path,
            headers=dict(handler.headers.items()),
            time=time.monotonic(),
            client=(str(handler.client_address[0]), int(handler.client_address[1])),
        )
        with self._arrived:
            self._log.append(record)
            self._arrived.notify_all()

    def _in_flight(self, change: int) -> None:
        with self._lock:
            self._active += change
            self._max_active = max(self._max_active, self._active)

    def _page_for(self, path_with_query: str) -> _Response | None:
        with self._lock:
            page = self._pages.get(path_with_query)
            if page is None:
                page = self._pages.get(path_with_query.split("?", 1)[0])
            return page

    def _count(self, key: str) -> int:
        """How many times key has been requested, this request included."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class Tracker:
    """A loopback server that counts everything sent its way: every TCP connection (a
    preconnect opens one and sends nothing) and every request line, of any method, answered
    404 (or 403 to a proxy CONNECT) and closed. Used as a browser's proxy, it also sees what
    the browser would have asked of any other host."""

    __test__ = False

    def __init__(self, host: str = "127.0.0.2") -> None:
        if not host.startswith("127."):
            raise ValueError(f"Tracker listens on loopback only, not {host!r}")
        self.host = host
        self.base = ""
        self._lock = threading.Lock()
        self._connections = 0
        self._lines: list[str] = []
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Tracker:
        tracker = self

        class Count(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                tracker._note_connection()
                self.request.settimeout(2.0)
                with contextlib.suppress(OSError):
                    head = self.request.recv(65536)
                    if not head:
                        return
                    line = head.split(b"\r\n", 1)[0].decode("latin-1")
                    tracker._note_line(line)
                    status = "403 Forbidden" if line.startswith("CONNECT ") else "404 Not Found"
                    self.request.sendall(
                        f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n".encode("ascii")
                    )

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((self.host, 0), Count)
        self.base = f"http://{self.host}:{self._server.server_address[1]}"
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)

    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def request_lines(self) -> list[str]:
        """The first line of every request so far ("GET /t/img HTTP/1.1"), oldest first."""
        with self._lock:
            return list(self._lines)

    def _note_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def _note_line(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)


def write_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write cert.pem and key.pem for CN=localhost, valid for localhost and 127.0.0.1.

    The certificate is its own CA, so a client trusts it only when told to (verify=cert.pem).
    """
    key = ec.generate_private_key(ec.SECP256R1())  # milliseconds, unlike RSA
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def refused_port() -> int:
    """A loopback port nothing listens on: bound to learn a free number, then released.

    Another process could grab it in between, but on a test machine that is vanishingly rare.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- fixtures --------------------------------------------------------------------------------
# Each names itself explicitly so a test module may import it under an alias (a parameter named
# like an imported fixture is a lint error, F811) and pytest still finds it by its real name.


@pytest.fixture(name="web")
def web() -> Iterator[TestWeb]:
    """The main test site on 127.0.0.1."""
    with TestWeb() as site:
        yield site


@pytest.fixture(name="web2")
def web2() -> Iterator[TestWeb]:
    """A second, independent host on 127.0.0.2 (Linux routes all of 127/8 to lo), for
    cross-host redirects and per-host politeness."""
    with TestWeb(host="127.0.0.2") as site:
        yield site


@pytest.fixture(name="tls_web")
def tls_web(tmp_path: Path) -> Iterator[TestWeb]:
    """An HTTPS site with a fresh self-signed certificate at tls_web.cert_path."""
    with TestWeb(tls=True, cert_dir=tmp_path) as site:
        yield site


def serve_in_thread(server: socketserver.BaseServer) -> threading.Thread:
    """Serve on a daemon thread; a short poll interval keeps stopping (and teardown) fast."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer | None, thread: threading.Thread | None) -> None:
    """Stop what ``serve_in_thread`` started, closing the listening socket."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
