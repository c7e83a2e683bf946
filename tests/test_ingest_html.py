"""read_html on the footnote shapes generators write, plain-link pages and legacy charsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import InputError
from archiver.ingest.html import read_html

PANDOC = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sea Level  Report</title>
<meta name="citation_publication_date" content="2023/07/14"></head>
<body>
<nav><a href="https://site.example.com/">Home</a></nav>
<p>Sea levels rose.<a href="#fn1" class="footnote-ref" id="fnref1"><sup>1</sup></a>
Another claim<a href="#fn2" class="footnote-ref" id="fnref2" role="doc-noteref"><sup>2</sup></a>
stands here. An interview<a href="#fn3" class="footnote-ref" id="fnref3"><sup>3</sup></a> too.</p>
<section id="footnotes" class="footnotes footnotes-end-of-document" role="doc-endnotes">
<hr><ol>
<li id="fn1"><p>See <a href="https://a.example.org/one">one</a> and
<a href="https://b.example.org/two">two</a>.<a href="#fnref1" class="footnote-back"
role="doc-backlink">↩︎</a></p></li>
<li id="fn2"><p>Plain https://c.example.org/three. <a href="#fnref2" class="footnote-back">↩︎</a>
</p></li>
<li id="fn3"><p>Interview, 2020.<a href="#fnref3" class="footnote-back">↩︎</a></p></li>
</ol></section></body></html>
"""

WIKIPEDIA = """<html><head><title>Thing - Wikipedia</title></head><body><div id="content">
<p>The thing exists.<sup id="cite_ref-smith_1-0" class="reference"><a
href="#cite_note-smith-1">[1]</a></sup> It is big.<sup id="cite_ref-2" class="reference"><a
href="#cite_note-2">[2]</a></sup><sup id="cite_ref-smith_1-1" class="reference"><a
href="#cite_note-smith-1">[1]</a></sup></p>
<div class="reflist"><ol class="references">
<li id="cite_note-smith-1"><span class="mw-cite-backlink">^ <a href="#cite_ref-smith_1-0"><sup><i>
<b>a</b></i></sup></a> <a href="#cite_ref-smith_1-1"><sup><i><b>b</b></i></sup></a></span>
<span class="reference-text"><cite class="citation web"><a class="external text"
href="https://smith.example.org/report">Smith report</a>. <a href="/wiki/The_Guardian">The
Guardian</a></cite></span></li>
<li id="cite_note-2"><span class="mw-cite-backlink"><b><a href="#cite_ref-2">^</a></b></span>
<span class="reference-text"><a rel="nofollow" class="external free"
href="http://big.example.com/x">http://big.example.com/x</a></span></li>
</ol></div></div></body></html>
"""

LINKS = """<html><head><base href="https://base.example.org/dir/">
<meta property="article:published_time" content="2022-02-03T10:00:00Z"></head>
<body><p>Read the <a href="report.pdf">full report</a>. Then see <a href="#below">below</a>
or <a href="https://abs.example.com/">this site</a>. Mail <a href="mailto:a@example.org">us</a>.
</p></body></html>
"""

CYRILLIC = """<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
<title>Доклад о море</title></head><body>
<p>Уровень моря вырос на 3 мм.<sup><a href="#fn1" class="footnote-ref">1</a></sup> Дальше.</p>
<ol class="footnotes"><li id="fn1">Источник: <a href="https://ru.example.org/data">данные</a>
<a href="#fnref1">^</a></li></ol></body></html>
"""


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "report.html"
    path.write_bytes(text.encode(encoding))
    return path


def rows(path: Path) -> list[tuple[int, int, str]]:
    return [(c.footnote, c.position, c.url) for c in read_html(path).citations]


def test_pandoc_footnotes_without_backlinks_or_body_links(tmp_path: Path) -> None:
    report = read_html(write(tmp_path, PANDOC))

    assert [(c.footnote, c.position, c.url) for c in report.citations] == [
        (1, 1, "https://a.example.org/one"),
        (1, 2, "https://b.example.org/two"),
        (2, 1, "https://c.example.org/three"),
    ]
    assert [c.context for c in report.citations] == [
        "Sea levels rose.",
        "Sea levels rose.",
        "Another claim stands here.",
    ]
    assert report.markers_without_urls == [3]
    assert report.title == "Sea Level Report"
    assert report.date == "2023-07-14"


def test_wikipedia_cite_notes_numbered_by_label(tmp_path: Path) -> None:
    report = read_html(write(tmp_path, WIKIPEDIA))

    # Relative /wiki/ links have no <base> to resolve against, so they are not sources.
    assert [(c.footnote, c.position, c.url, c.context) for c in report.citations] == [
        (1, 1, "https://smith.example.org/report", "The thing exists."),
        (2, 1, "http://big.example.com/x", "It is big."),
    ]


def test_page_without_footnotes_cites_every_body_link(tmp_path: Path) -> None:
    report = read_html(write(tmp_path, LINKS))

    assert [(c.footnote, c.url, c.context) for c in report.citations] == [
        (1, "https://base.example.org/dir/report.pdf", "Read the full report."),
        (2, "https://abs.example.com/", "Then see below or this site."),
        (3, "mailto:a@example.org", "Mail us."),
    ]
    assert report.date == "2022-02-03"


def test_windows_1251_declared_in_meta(tmp_path: Path) -> None:
    report = read_html(write(tmp_path, CYRILLIC, encoding="cp1251"))

    assert report.title == "Доклад о море"
    [cited] = report.citations
    assert (cited.footnote, cited.url) == (1, "https://ru.example.org/data")
    assert cited.context == "Уровень моря вырос на 3 мм."


def test_undeclared_legacy_charset_is_detected(tmp_path: Path) -> None:
    text = CYRILLIC.replace("; charset=windows-1251", "") * 3  # give the detector some text
    report = read_html(write(tmp_path, text, encoding="cp1251"))

    assert report.title == "Доклад о море"


def test_python_markdown_and_google_docs_shapes(tmp_path: Path) -> None:
    page = """<html><body>
<p>Claim one.<sup id="fnref:a"><a class="footnote-ref" href="#fn:a">1</a></sup></p>
<p><span>Claim two.</span><sup><a href="#ftnt2" id="ftnt_ref2">[2]</a></sup></p>
<div class="footnote"><ol><li id="fn:a"><p>https://pm.example.org/x&#160;<a
class="footnote-backref" href="#fnref:a">↩</a></p></li></ol></div>
<hr><div><p><a href="#ftnt_ref2" id="ftnt2">[2]</a><span>&nbsp;Source: <a
href="https://www.google.com/url?q=https://g.example.org/&amp;sa=D">g</a></span></p></div>
</body></html>"""

    assert rows(write(tmp_path, page)) == [
        (1, 1, "https://pm.example.org/x"),
        (2, 1, "https://g.example.org/"),
    ]


def test_empty_page_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no footnote URLs or links found"):
        read_html(write(tmp_path, "<html><body><p>Nothing cited.</p></body></html>"))
