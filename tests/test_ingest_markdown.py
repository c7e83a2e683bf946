"""read_markdown on footnoted Markdown reports: numbering, lines, contexts and what is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import InputError
from archiver.ingest.markdown import read_markdown

REPORT = """\
---
title: "Annual Ocean Report"
date: 2024-03-05
---
# Ignored heading title

The sea rose by 3 mm.[^1] Forests burned more than ever[^smith]. Reefs bleached.[^2]
See [the data](https://data.example.org/set_(2024)) and <https://auto.example.com/a>.

```
https://code.example.com/fenced [^1]
```

Run `curl https://inline-code.example.com` first. Write to [us](mailto:team@example.org).

    https://indented-code.example.com

[^1]: NOAA [tide gauges](https://noaa.example.gov/tides) and
    <https://second.example.org/b>, also
    https://third.example.org/c.
[^smith]: Smith 2020, https://smith.example.edu/paper.pdf.
[^2]: Field notes, not online.
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_footnotes_then_body_links(tmp_path: Path) -> None:
    report = read_markdown(write(tmp_path, REPORT))

    assert [(c.footnote, c.position, c.url, c.line) for c in report.citations] == [
        (1, 1, "https://noaa.example.gov/tides", 18),
        (1, 2, "https://second.example.org/b", 19),
        (1, 3, "https://third.example.org/c", 20),
        # Named footnotes come after the highest numbered one.
        (3, 1, "https://smith.example.edu/paper.pdf", 21),
        (4, 1, "https://data.example.org/set_(2024)", 8),
        (5, 1, "https://auto.example.com/a", 8),
        (6, 1, "mailto:team@example.org", 14),
    ]
    contexts = {c.footnote: c.context for c in report.citations}
    assert contexts[1] == "The sea rose by 3 mm."
    assert contexts[3] == "Forests burned more than ever."
    assert contexts[4] == "See the data and https://auto.example.com/a."
    assert contexts[6] == "Write to us."
    assert report.markers_without_urls == [2]
    assert (report.title, report.date) == ("Annual Ocean Report", "2024-03-05")


def test_named_footnotes_numbered_by_first_reference(tmp_path: Path) -> None:
    text = """# Named notes

Second cited first.[^beta] Then the other one.[^alpha] Then beta again.[^beta]

[^alpha]: https://alpha.example.org/
[^beta]:  https://beta.example.org/
\t<https://beta-two.example.org/>
"""
    report = read_markdown(write(tmp_path, text))

    assert [(c.footnote, c.position, c.url, c.context) for c in report.citations] == [
        (1, 1, "https://beta.example.org/", "Second cited first."),
        (1, 2, "https://beta-two.example.org/", "Second cited first."),
        (2, 1, "https://alpha.example.org/", "Then the other one."),
    ]
    assert report.title == "Named notes"


def test_reference_style_links_and_bracketed_text(tmp_path: Path) -> None:
    text = "A [report][r1] and [a remark, https://bare.example.org/x].\n\n[r1]: https://r.example.org\n"

    report = read_markdown(write(tmp_path, text))

    assert [(c.footnote, c.url) for c in report.citations] == [
        (1, "https://r.example.org"),
        (2, "https://bare.example.org/x"),
    ]


def test_only_code_is_an_input_error(tmp_path: Path) -> None:
    text = "Example:\n\n```\n[^1]: https://code.example.com\n```\n"

    with pytest.raises(InputError, match="no footnote URLs or links found"):
        read_markdown(write(tmp_path, text))


def test_not_utf8_names_encoding_and_line(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_bytes("Line one\nНе UTF-8 [^1]\n".encode("cp1251"))

    with pytest.raises(InputError, match="not UTF-8") as caught:
        read_markdown(path)
    assert caught.value.line == 2


def test_code_spans_comments_and_headings_read_as_commonmark_has_them(tmp_path: Path) -> None:
    """The edges of the linear token reader: each case was read the same way by the old
    backtracking patterns."""
    text = """\
# Title with closing hashes ##

``a`https://in-code.example.org/`` and ```https://unclosed.example.org/ run on to
`one``https://also-code.example.org/``two` ends; <!-- https://hidden.example.org/ --> hides.
A note[^1] then <!-- never closed https://after-open-comment.example.org/

[^1]: https://note.example.org/
"""
    report = read_markdown(write(tmp_path, text))
    assert report.title == "Title with closing hashes"
    # "```" has no closing run of three, so it gives up one backtick and closes at the next
    # "``": the URL after it is code, the one after that closing run is text.
    assert [c.url for c in report.citations] == [
        "https://note.example.org/",
        "https://also-code.example.org/",
        "https://after-open-comment.example.org/",
    ]


def test_images_and_note_labels_stop_where_the_next_one_opens(tmp_path: Path) -> None:
    """A note label holds no "[" and an image no "![", as in CommonMark; an image source with
    parentheses is still one image, never a link."""
    text = """\
See ![chart](https://img.example.org/a_(b).png) and ![x ![y](https://img.example.org/y) here.
A label [^a[^2] with a[^2] later.

[^2]: https://two.example.org/
"""
    report = read_markdown(write(tmp_path, text))
    assert [(c.footnote, c.url) for c in report.citations] == [(2, "https://two.example.org/")]
