"""PDF reports: the text layer is read with pypdf and its footnotes re-paired like text input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image

from archiver.errors import InputError
from archiver.ingest.pdf import read_pdf


def footnote_line(pdf: FPDF, text: str) -> None:
    pdf.cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")


def report_pdf(path: Path, *, user_password: str | None = None) -> Path:
    """Two pages: footnotes that keep their numbers, then numbers printed after their URLs."""
    pdf = FPDF()
    pdf.set_title("Kazakhstan: the ban")
    pdf.set_creation_date(datetime(2018, 4, 3, 10, 0, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(
        0,
        6,
        "Protest sentiment is on the rise, as confirmed by recent strikes.1 "
        "The court banned the movement.2 Activists were summoned to police stations.",
    )
    pdf.set_y(-40)
    pdf.set_font("Helvetica", size=8)
    footnote_line(pdf, "1 https://example.org/strikes")
    footnote_line(pdf, "2 https://example.org/ban ; https://example.com/ban-copy")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Police stopped people with blue balloons.3 Children cried.4")
    pdf.set_y(-40)
    pdf.set_font("Helvetica", size=8)
    for line in ("https://example.net/balloons", "4", "https://example.net/children", "3"):
        footnote_line(pdf, line)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.output(str(path))
    return path


def test_footnote_urls_title_and_date(tmp_path: Path) -> None:
    report = read_pdf(report_pdf(tmp_path / "report.pdf"))
    assert [(c.footnote, c.position, c.url) for c in report.citations] == [
        (1, 1, "https://example.org/strikes"),
        (2, 1, "https://example.org/ban"),
        (2, 2, "https://example.com/ban-copy"),
        (3, 1, "https://example.net/balloons"),
        (4, 1, "https://example.net/children"),
    ]
    assert report.citations[0].context == (
        "Protest sentiment is on the rise, as confirmed by recent strikes."
    )
    assert report.title == "Kazakhstan: the ban"
    assert report.date == "2018-04-03"
    assert report.path == str(tmp_path / "report.pdf")


def test_encrypted_pdf_opens_with_the_empty_password(tmp_path: Path) -> None:
    report = read_pdf(report_pdf(tmp_path / "locked.pdf", user_password=""))
    assert len(report.citations) == 5


def test_password_protected_pdf_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="encrypted with a password"):
        read_pdf(report_pdf(tmp_path / "secret.pdf", user_password="secret"))


def test_image_only_pdf_has_no_text_layer(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 80, 40, style="F")
    pdf.image(Image.new("RGB", (8, 8), (200, 30, 30)), x=100, y=100, w=20)
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    with pytest.raises(InputError, match="text layer") as caught:
        read_pdf(path)
    assert "OCR" in str(caught.value)


def test_garbage_with_pdf_extension_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"this is not a PDF at all\n" * 20)
    with pytest.raises(InputError, match="not a readable PDF") as caught:
        read_pdf(path)
    assert "\n" not in str(caught.value)
