"""Every kind of bad CSV gets a one-line error naming the file and line; good CSV reads fully."""

from pathlib import Path

import pytest
from conftest import write

from archiver.errors import InputError
from archiver.ingest import read_report

HEADER = "report,report_title,report_date,footnote,url,context,accessed\n"


def test_reads_rows_in_footnote_order_with_positions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        HEADER
        + "r1,Title,2018-04-03,1,https://a.kz/1,First sentence.,2018-03-30\n"
        + "r1,Title,2018-04-03,2,https://a.kz/2,,\n"
        + "r1,Title,2018-04-03,2,https://a.kz/3,,\n",
    )
    (report,) = read_report(path)
    assert (report.report_id, report.title, report.date) == ("r1", "Title", "2018-04-03")
    assert [(c.footnote, c.position, c.url) for c in report.citations] == [
        (1, 1, "https://a.kz/1"),
        (2, 1, "https://a.kz/2"),
        (2, 2, "https://a.kz/3"),
    ]
    assert report.citations[0].context == "First sentence."
    assert report.citations[0].accessed == "2018-03-30"


def test_only_required_columns_and_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "Footnote;URL\n1;https://a.kz/x\n")
    (report,) = read_report(path)
    assert report.report_id is None
    assert report.citations[0].url == "https://a.kz/x"


def test_footnote_rows_without_url_are_reported_not_imported(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "footnote,url\n1,https://a.kz/\n2,\n3,\n")
    (report,) = read_report(path)
    assert [c.footnote for c in report.citations] == [1]
    assert report.markers_without_urls == [2, 3]


def test_several_reports_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "report,footnote,url\na,1,https://a.kz/\nb,1,https://b.kz/\n")
    assert [r.report_id for r in read_report(path)] == ["a", "b"]


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "\ufefffootnote,url\n1,https://a.kz/\n".encode())
    assert read_report(path)[0].citations[0].footnote == 1


def test_skips_and_reports_unarchivable_schemes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        "footnote,url\n1,https://a.kz/\n2,javascript:alert(1)\n3,mailto:press@knb.kz\n4,file:///etc/passwd\n",
    )
    (report,) = read_report(path)
    assert [c.footnote for c in report.citations] == [1]
    assert [(s.footnote, s.line) for s in report.skipped] == [(2, 3), (3, 4), (4, 5)]
    assert "javascript" in report.skipped[0].reason


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ("", "file is empty", None),
        ("footnote,url\n", "no citation rows", None),
        ("footnote,link\n1,https://a.kz/\n", "missing required column(s): url", 1),
        (
            "footnote,url\n1,https://a.kz/\nfive,https://b.kz/\n",
            "footnote must be a positive whole number, got 'five'",
            3,
        ),
        ("footnote,url\n0,https://a.kz/\n", "positive whole number", 2),
        ("footnote,url\n1,https://a.kz/\n2,http://exa mple.kz/\n", "URL does not parse", 3),
        ("footnote,url\n1,www.a.kz/x\n", "not an http(s) URL", 2),
        ("footnote,url\n1,https://a.kz/,extra\n", "expected 2 fields, found 3", 2),
        ('footnote,url\n1,"https://a.kz/\n', "malformed CSV", 2),
        ("footnote,url,accessed\n1,https://a.kz/,30/03/2018\n", "accessed: not a date", 2),
        (
            "footnote,url\n1,https://a.kz/\n1,https://a.kz/\n",
            "cites https://a.kz/ twice (also on line 2)",
            3,
        ),
        (
            "report,report_date,footnote,url\nr,2018-04-01,1,https://a.kz/\nr,2018-04-02,2,https://b.kz/\n",
            "report_date '2018-04-02' differs",
            3,
        ),
    ],
)
def test_bad_csv_names_file_and_line(
    tmp_path: Path, content: str, message: str, line: int | None
) -> None:
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(InputError) as info:
        read_report(path)
    assert message in str(info.value)
    assert info.value.line == line
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_non_utf8_says_which_encoding_was_tried(tmp_path: Path) -> None:
    content = "footnote,url,context\n1,https://a.kz/,Синими шарами\n".encode("cp1251")
    path = write(tmp_path / "cp1251.csv", content)
    with pytest.raises(InputError, match=r"cp1251.csv:2: not valid UTF-8 \(tried utf-8\)"):
        read_report(path)


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_report(tmp_path / "nope.csv")
    with pytest.raises(InputError, match=r"unknown file type '\.xls'"):
        read_report(write(tmp_path / "c.xls", "x"))


def test_line_ends_and_line_numbers(tmp_path: Path) -> None:
    # \r\n, \r and \n all end a row; a quoted newline and U+2028 stay inside their field.
    content = (
        'footnote,url,context\r\n1,https://a.kz/1,One.\r2,https://a.kz/2,"Two\nlines"\n'
        "3,https://a.kz/3,Three\u2028more\n4,https://a.kz/4,"
    )
    (report,) = read_report(write(tmp_path / "c.csv", content))
    assert [(c.footnote, c.line, c.context) for c in report.citations] == [
        (1, 2, "One."),
        (2, 4, "Two\nlines"),
        (3, 5, "Three\u2028more"),
        (4, 6, None),
    ]
