"""Browser capture against the local test web: what a reader saw, the media, the provenance.

Each test renders pages in the system's Chromium (Debian's, installed by .ci/run); every
request the browser and yt-dlp make goes through archiver's fetcher, on loopback only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import ipaddress
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from conftest import write
from lxml import html as lxml_html
from PIL import Image
from pypdf import PdfReader
from pywb_replay import pywb_collection, replayed_frame
from sqlite_utils import Database
from test_capture import cite, source_id
from testweb import TestWeb
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from archiver.capture import CaptureOptions, capture_sources
from archiver.capture.browser import NO_BROWSER, find_browser
from archiver.capture.verify import verify_captures
from archiver.net import guard
from archiver.net.fetch import FetchLimits
from archiver.views.retrieve import export_copy, search_text, source_copies

Run = Callable[..., Result]

pytestmark = pytest.mark.skipif(
    find_browser("auto") is None, reason="needs Chromium (Debian: apt-get install chromium)"
)

# The article exists only once the script has run; the red block is what the screenshot shows.
SCRIPTED = """<!doctype html><html><head><meta charset="utf-8"><title>Loading…</title></head>
<body><div id="app">Loading…</div><script>
document.getElementById('app').innerHTML =
  '<h1>Akimat closes Uralskaya Nedelya</h1>' +
  '<p>The regional akimat ordered the closure of the independent weekly Uralskaya Nedelya ' +
  'on Tuesday, citing unpaid registration fees that the editors say were never issued.</p>' +
  '<div id="red" style="width:600px;height:300px;background:rgb(220,20,20)"></div>';
document.title = 'Akimat closes Uralskaya Nedelya';
</script></body></html>"""

LAZY = """<!doctype html><html><head><meta charset="utf-8"><title>Lazy gallery</title></head>
<body><h1>Gallery of the rally</h1><p>Photographs of the rally in Almaty, loaded as you scroll
down the page to them.</p><div style="height:6000px"></div>
<img id="late" data-src="/assets/poster.png" width="40" height="40"><script>
const img = document.getElementById('late');
new IntersectionObserver((entries, observer) => {
  if (entries[0].isIntersecting) { img.src = img.dataset.src; observer.disconnect(); }
}).observe(img);
</script></body></html>"""

NEVER_SETTLES = """<!doctype html><html><head><meta charset="utf-8"><title>Live blog</title>
</head><body><h1>Live blog</h1><p>Updates every few moments from the court hearing of the
journalists charged with spreading false information.</p><script>
setInterval(() => fetch('/status/200?poll=' + Math.random()).catch(() => {}), 100);
</script></body></html>"""

CLIP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 200
VIDEO = """<!doctype html><html><head><meta charset="utf-8"><title>Protest video</title></head>
<body><h1>Protest on Republic Square</h1><p>Video of the protest filmed by a witness on the
day of the rally, before the police dispersed it.</p>
<video controls width="320" src="/media/clip.mp4">
<track kind="subtitles" srclang="en" src="/media/clip.en.vtt"></video></body></html>"""
SUBTITLES = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\nThe police detained twelve protesters\n"


# The CLI on the local test web, with the browser (run_cli turns it off otherwise).
BROWSER_ENV = {
    "ARCHIVER_ALLOW_PRIVATE_NETWORKS": "1",
    "ARCHIVER_PER_HOST_DELAY": "0",
    "ARCHIVER_BROWSER": "auto",
}


@pytest.fixture
def options(tmp_path: Path) -> CaptureOptions:
    return CaptureOptions(
        data_dir=tmp_path / "data",
        limits=FetchLimits(timeout=5.0, allow_private_networks=True),
        per_host_delay=0.0,
        browser="auto",
        browser_timeout=5.0,
    )


def resources(db: Database, role: str | None = None) -> list[dict[str, object]]:
    where = "role = ?" if role else "1"
    return list(db.table("capture_resources").rows_where(where, [role] if role else []))


def warc_records(db: Database, data_dir: Path) -> dict[str, bytes]:
    """Target URI → content of every response and resource record of the capture."""
    capture = next(db.table("captures").rows)
    found = {}
    with (data_dir / capture["warc_path"]).open("rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type in ("response", "resource"):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                found[uri] = record.content_stream().read()
    return found


def test_scripted_page_is_captured_as_rendered(
    db: Database, web: TestWeb, options: CaptureOptions, tmp_path: Path
) -> None:
    web.set_page("/app", SCRIPTED)
    url = web.url("/app")
    cite(db, [url])
    summary = capture_sources(db, options)
    assert summary.captured == 1 and summary.method == "browser", summary
    capture = next(db.table("captures").rows)
    assert capture["method"] == "browser" and capture["holds"] == "content"
    assert capture["title"] == "Akimat closes Uralskaya Nedelya"
    # The rendered text is what search finds (the raw HTML only says "Loading…").
    hits = search_text(db, "Uralskaya Nedelya")
    assert [h["url"] for h in hits] == [url]
    records = warc_records(db, options.data_dir)
    dom = records[f"urn:dom:{url}"].decode()
    assert "registration fees" in dom and "registration fees" not in SCRIPTED.split("<script>")[0]
    # The screenshot shows what the script drew, the PDF has the article's words.
    shot = Image.open(io.BytesIO(records[f"urn:screenshot:{url}"])).convert("RGB")
    assert shot.width == 1280
    column = [shot.getpixel((300, y)) for y in range(0, min(shot.height, 600), 10)]
    assert (220, 20, 20) in column, column
    pdf = PdfReader(io.BytesIO(records[f"urn:pdf:{url}"]))
    assert "Uralskaya Nedelya" in "".join(page.extract_text() for page in pdf.pages)
    # Each made resource has its own SHA-256 in the database, and verify checks them all.
    made = {r["role"]: r for r in resources(db) if r["role"] in ("dom", "screenshot", "pdf")}
    assert set(made) == {"dom", "screenshot", "pdf"}
    assert all(len(str(r["payload_sha256"])) == 64 for r in made.values())
    result = verify_captures(db, options.data_dir)
    assert result.ok and result.payloads >= 4, result.problems
    # get: method, the made files and the provenance record.
    local = source_copies(db, source_id(db, url), options.data_dir)["local"]
    assert local["method"] == "browser"
    assert local["screenshot"]["sha256"] == made["screenshot"]["payload_sha256"]
    provenance = local["provenance"]
    assert provenance["cited_url"] == url and provenance["method"] == "browser"
    assert provenance["software"]["chromium"] and provenance["software"]["archiver"]
    assert provenance["viewport"] == {"width": 1280, "height": 900}
    roles = {item["role"] for item in provenance["captured"]}
    assert {"page", "dom", "screenshot", "pdf"} <= roles


def test_altered_screenshot_fails_verify(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    web.set_page("/app", SCRIPTED)
    cite(db, [web.url("/app")])
    capture_sources(db, options)
    capture = next(db.table("captures").rows)
    shot = next(r for r in resources(db, "screenshot"))
    path = options.data_dir / capture["warc_path"]
    # Rewrite the WARC with one byte of the screenshot changed, and the file hash updated,
    # so only the payload check can tell.
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    with path.open("rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_headers.get_header("WARC-Record-ID") == shot["record_id"]:
                data = bytearray(record.content_stream().read())
                data[-20] ^= 0x01
                record = writer.create_warc_record(
                    record.rec_headers.get_header("WARC-Target-URI"),
                    "resource",
                    payload=io.BytesIO(bytes(data)),
                    length=len(data),
                    warc_content_type="image/png",
                    warc_headers_dict={
                        "WARC-Record-ID": shot["record_id"],
                        "WARC-Date": record.rec_headers.get_header("WARC-Date"),
                    },
                )
            writer.write_record(record)
    path.write_bytes(out.getvalue())
    db.execute("update captures set warc_sha256 = ?", [hashlib.sha256(out.getvalue()).hexdigest()])
    result = verify_captures(db, options.data_dir)
    assert [p["problem"] for p in result.problems] == ["payload altered"]
    assert result.problems[0]["uri"].startswith("urn:screenshot:")


def test_lazy_images_load_when_scrolled_to(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    web.set_page("/lazy", LAZY)
    cite(db, [web.url("/lazy")])
    capture_sources(db, options)
    fetched = {r["url"] for r in resources(db, "requisite")}
    assert web.url("/assets/poster.png") in fetched


def test_page_that_redirects_twice(db: Database, web: TestWeb, options: CaptureOptions) -> None:
    cite(db, [web.url("/chain/2")])
    capture_sources(db, options)
    capture = next(db.table("captures").rows)
    assert capture["method"] == "browser" and capture["status_code"] == 200
    assert capture["final_url"] == web.url("/chain/0")
    hops = resources(db, "redirect")
    assert [(h["url"], h["status_code"]) for h in hops] == [
        (web.url("/chain/2"), 302),
        (web.url("/chain/1"), 302),
    ]
    provenance = json.loads(capture["provenance"])
    assert len(provenance["redirects"]) == 2
    assert provenance["final_url"] == capture["final_url"]
    # The browser loaded the page once, at its final address: never past the fetcher.
    assert len(web.requests_to("/chain/0")) == 1


def test_page_that_never_settles_is_recorded_by_the_deadline(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    web.set_page("/live", NEVER_SETTLES)
    cite(db, [web.url("/live")])
    started = time.monotonic()
    summary = capture_sources(db, dataclasses.replace(options, browser_timeout=2.0))
    took = time.monotonic() - started
    assert summary.captured == 1 and took < 20, took
    capture = next(db.table("captures").rows)
    assert capture["method"] == "browser"
    notes = json.loads(capture["provenance"])["notes"]
    assert any("did not settle within 2 s" in note for note in notes), notes
    assert resources(db, "screenshot")  # recorded as it stood


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 plays a public host; every other address keeps its usual judgment (so the
    second test host, 127.0.0.2, is private, like 10.0.0.1)."""
    judge = guard._is_public

    def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return str(ip) == "127.0.0.1" or judge(ip)

    monkeypatch.setattr(guard, "_is_public", is_public)


def test_browser_requests_pass_the_address_guard(
    db: Database,
    web: TestWeb,
    web2: TestWeb,
    options: CaptureOptions,
    loopback_is_public: None,
) -> None:
    private = web2.url("/assets/logo.png")
    web.set_page(
        "/reaches",
        f"""<!doctype html><html><head><meta charset="utf-8"><title>Reaches inside</title>
        </head><body><h1>A page that reaches inside</h1><p>It asks for addresses on the
        reader's own network, from markup and from a script, after it has loaded.</p>
        <img src="{private}"><img src="http://10.0.0.1/x.png"><iframe src="{web2.url("/")}">
        </iframe><script>fetch('{web2.url("/status/200")}').catch(() => {{}});
        new Image().src = '{web2.url("/beacon")}';</script></body></html>""",
    )
    cite(db, [web.url("/reaches")])
    guarded = dataclasses.replace(
        options, limits=dataclasses.replace(options.limits, allow_private_networks=False)
    )
    summary = capture_sources(db, guarded)
    assert summary.captured == 1
    assert web2.requests == []  # nothing reached the second host, by any path
    provenance = json.loads(next(db.table("captures").rows)["provenance"])
    refused = {f["url"]: f["error"] for f in provenance["failed"]}
    assert refused.get(private) == "private_address"
    assert refused.get("http://10.0.0.1/x.png") == "private_address"


def test_video_page_media_subtitles_and_export(
    db: Database, web: TestWeb, options: CaptureOptions, tmp_path: Path
) -> None:
    web.set_page("/video", VIDEO)
    web.set_page("/media/clip.mp4", CLIP, headers={"Content-Type": "video/mp4"})
    web.set_page("/media/clip.en.vtt", SUBTITLES, headers={"Content-Type": "text/vtt"})
    url = web.url("/video")
    cite(db, [url])
    capture_sources(db, options)
    media = resources(db, "media")
    assert [m["url"] for m in media] == [web.url("/media/clip.mp4")]
    records = warc_records(db, options.data_dir)
    assert records[web.url("/media/clip.mp4")] == CLIP  # the file itself, whole, in the WARC
    assert media[0]["bytes"] == len(CLIP)
    assert resources(db, "subtitles") and resources(db, "media_info")
    # Subtitles and the title are searchable.
    assert [h["url"] for h in search_text(db, "detained twelve protesters")] == [url]
    local = source_copies(db, source_id(db, url), options.data_dir)["local"]
    assert [m["bytes"] for m in local["media"]] == [len(CLIP)]
    assert Path(local["media"][0]["path"]).is_file()
    exported = export_copy(db, source_id(db, url), options.data_dir, tmp_path / "out")
    page = exported.index.read_text(encoding="utf-8")
    src = lxml_html.fromstring(page).xpath("//video/@src")
    assert len(src) == 1 and (tmp_path / "out" / src[0]).read_bytes() == CLIP
    assert (tmp_path / "out" / "files" / "screenshot.png").is_file()
    assert (tmp_path / "out" / "files" / "page.pdf").is_file()
    assert "detained twelve" in (tmp_path / "out/files/subtitles.en.vtt").read_text()
    track = lxml_html.fromstring(page).xpath("//video/track/@src")
    assert track == ["files/subtitles.en.vtt"]  # the player finds the subtitles offline


def test_media_over_plain_http_without_a_browser(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    web.set_page("/video", VIDEO)
    web.set_page("/media/clip.mp4", CLIP, headers={"Content-Type": "video/mp4"})
    cite(db, [web.url("/video")])
    capture_sources(db, dataclasses.replace(options, browser="off"))
    capture = next(db.table("captures").rows)
    assert capture["method"] == "http"
    assert [m["bytes"] for m in resources(db, "media")] == [len(CLIP)]
    assert not resources(db, "screenshot")


def test_media_over_the_limit_is_not_downloaded(
    db: Database, web: TestWeb, options: CaptureOptions
) -> None:
    web.set_page("/video", VIDEO)
    web.set_page("/media/clip.mp4", CLIP, headers={"Content-Type": "video/mp4"})
    cite(db, [web.url("/video")])
    capture_sources(db, dataclasses.replace(options, browser="off", media_max_bytes=10_000))
    assert not resources(db, "media") or all(
        json.loads(str(m["meta"]))["truncated"] for m in resources(db, "media")
    )
    notes = json.loads(next(db.table("captures").rows)["provenance"])["notes"]
    assert any(note.startswith("media:") for note in notes), notes


@pytest.fixture
def no_browser_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield


def test_without_a_browser_capture_works_and_says_how_to_get_one(
    run_cli: Run, tmp_path: Path, web: TestWeb, no_browser_anywhere: None
) -> None:
    web.set_page("/app", SCRIPTED)
    write(tmp_path / "r.csv", f"footnote,url\n1,{web.url('/app')}\n2,{web.url('/article/x')}\n")
    env = BROWSER_ENV
    assert run_cli("import", "r.csv", "--report", "r").exit_code == 0
    result = run_cli("capture", env=env)
    assert result.exit_code == 0, result.output
    assert "Captured 2 new" in result.output
    assert result.output.count(NO_BROWSER) == 1  # once per run, not per page
    assert "apt-get install chromium" in result.output
    got = json.loads(run_cli("get", "1", "--report", "r", "--json").output)
    assert got["local"]["method"] == "http" and got["local"]["screenshot"] is None


def test_cli_get_shows_a_browser_capture(run_cli: Run, tmp_path: Path, web: TestWeb) -> None:
    web.set_page("/app", SCRIPTED)
    write(tmp_path / "r.csv", f"footnote,url\n1,{web.url('/app')}\n")
    env = BROWSER_ENV
    assert run_cli("import", "r.csv", "--report", "r").exit_code == 0
    captured = run_cli("capture", env=env)
    assert "in Chromium" in captured.output, captured.output
    shown = run_cli("get", "1", "--report", "r")
    assert "captured with: browser" in shown.output
    assert "screenshot:" in shown.output and "pdf:" in shown.output
    assert run_cli("verify").exit_code == 0


def test_pywb_replays_the_capture_with_the_rendered_text(
    db: Database,
    web: TestWeb,
    options: CaptureOptions,
    tmp_path: Path,
    subprocess_guard: dict[str, str],
) -> None:
    pytest.importorskip("pywb")
    web.set_page("/app", SCRIPTED)
    url = web.url("/app")
    cite(db, [url])
    capture_sources(db, options)
    warc = options.data_dir / next(db.table("captures").rows)["warc_path"]
    from playwright.sync_api import sync_playwright

    with (
        pywb_collection(tmp_path / "pywb", [str(warc)], subprocess_guard) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=find_browser("auto"))
        page = browser.new_page()
        frame = replayed_frame(page, base + url, "registration fees")
        assert "Uralskaya Nedelya" in frame.locator("body").inner_text()
        if os.environ.get("ARCHIVER_KEEP_SCREENSHOTS"):
            page.screenshot(path=os.environ["ARCHIVER_KEEP_SCREENSHOTS"] + "/replay.png")
        browser.close()
