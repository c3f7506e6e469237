"""The shared PDF builder (bot/pdf.py): Chinese drawn with the system font, the table header on every page,
long cells wrapped rather than cut, pictures scaled to the page, the page number from locales.

Read back with poppler (pdftotext, pdftoppm, pdfinfo) as a reader's viewer would; skipped with the reason on a
machine without poppler or without a Chinese font.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from bot import fonts
from bot.i18n import Locales
from bot.pdf import Column, Document, PdfError

SYSTEM_FONT = fonts._search()
requires_cjk = pytest.mark.skipif(SYSTEM_FONT is None, reason="no Chinese font on this machine (fonts-wqy-microhei)")
requires_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) is not installed",
)
pytestmark = [requires_cjk, requires_poppler]

LOCALES = Locales.load()


def pages_text(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, as pdftotext reads it (pages split on form feed)."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True)
    return out.stdout.split("\f")[:-1]


def squeeze(text: str) -> str:
    """Text without white space: pdftotext spaces out Chinese its own way."""
    return re.sub(r"\s+", "", text)


def page_size(pdf: bytes, tmp_path: Path) -> tuple[float, float]:
    path = tmp_path / "size.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True).stdout
    found = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert found, info
    return float(found[1]), float(found[2])


def render_first_page(pdf: bytes, tmp_path: Path) -> Image.Image:
    path = tmp_path / "render.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")], check=True)
    [png] = sorted(tmp_path.glob("p*.png"))
    return Image.open(png).convert("L")


def document(lang: str = "zh", orientation: str = "landscape") -> Document:
    return Document(LOCALES, lang, orientation=orientation, font=SYSTEM_FONT)  # type: ignore[arg-type]


def test_a_landscape_a4_page_draws_chinese_and_renders(tmp_path: Path) -> None:
    doc = document()
    doc.title("\u6cb3\u957f\u5236\u8003\u6838\u901a\u62a5", "2026\u5e7411\u6708")  # title and period
    doc.paragraph("\u5de1\u6cb3\u7387 = \u6709\u6548\u5de1\u6cb3 \u00f7 \u5e94\u5de1\u6cb3")
    pdf = doc.to_bytes()

    assert pdf.startswith(b"%PDF-")
    width, height = page_size(pdf, tmp_path)
    assert (round(width), round(height)) == (842, 595)  # A4 landscape, in points
    [page] = pages_text(pdf, tmp_path)
    assert "\u6cb3\u957f\u5236\u8003\u6838\u901a\u62a5" in page
    assert "\u5de1\u6cb3\u7387" in page
    picture = render_first_page(pdf, tmp_path)
    assert min(picture.tobytes()) < 100  # something dark was drawn: the text is not blank


def test_portrait_is_a4_portrait(tmp_path: Path) -> None:
    doc = document(orientation="portrait")
    doc.paragraph("x")
    assert tuple(round(side) for side in page_size(doc.to_bytes(), tmp_path)) == (595, 842)


def test_the_table_header_repeats_on_every_page_and_long_cells_wrap(tmp_path: Path) -> None:
    doc = document()
    long_name = "\u9752\u5c71\u9547" * 30  # far wider than its column: must wrap, not be cut off
    columns = [Column("\u7247\u533a", 3), Column("\u5de1\u6cb3\u7387", 1, "right")]
    rows = [[f"row{i:03d}", f"{i}%"] for i in range(120)]
    rows.insert(3, [long_name, "1%"])
    doc.table(columns, rows)
    pages = pages_text(doc.to_bytes(), tmp_path)

    assert len(pages) >= 3
    for page in pages:
        assert "\u7247\u533a" in page and "\u5de1\u6cb3\u7387" in page  # the heading row on each page
    text = "".join(pages)
    for i in range(120):
        assert f"row{i:03d}" in text  # no row lost at a page break
    assert text.count("\u9752") == 30  # every character of the long cell is there, over several lines
    first = pages[0].splitlines()
    assert sum("\u9752\u5c71\u9547" in line for line in first) >= 2


def test_every_page_is_numbered_from_locales(tmp_path: Path) -> None:
    for lang in ("zh", "en"):
        doc = document(lang)
        doc.table([Column("n")], [[i] for i in range(150)])
        pages = pages_text(doc.to_bytes(), tmp_path)
        count = len(pages)
        assert count >= 2
        for number, page in enumerate(pages, start=1):
            expected = LOCALES.plain(lang, "pdf.page", page=number, pages=count)
            assert squeeze(expected) in squeeze(page), (lang, number, page[-200:])


def test_a_picture_is_scaled_to_fit(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 300), (0, 0, 0)).save(buffer, "PNG")  # far wider than the page
    doc = document()
    doc.image(buffer.getvalue(), caption="\u5de1\u6cb3\u8f68\u8ff9")
    jpeg = io.BytesIO()
    Image.new("RGB", (200, 3000), (0, 0, 0)).save(jpeg, "JPEG")  # far taller than max_height
    doc.image(jpeg.getvalue(), max_height=50)
    pdf = doc.to_bytes()
    assert "\u5de1\u6cb3\u8f68\u8ff9" in pages_text(pdf, tmp_path)[0]
    picture = render_first_page(pdf, tmp_path)
    width, _ = picture.size
    row = picture.crop((0, 40, width, 41)).tobytes()
    dark = [x for x, value in enumerate(row) if value < 50]
    assert dark, "the picture was not drawn"
    margin = width * 12 / 297  # the page margin, in pixels
    assert min(dark) >= margin - 2 and max(dark) <= width - margin + 2  # inside the margins: scaled down


def test_bytes_that_are_not_a_picture_are_refused() -> None:
    unfinished = document()
    with pytest.raises(PdfError) as error:
        unfinished.image(b"not a picture at all")
    unfinished.close()
    assert error.value.key == "bad_image"
    assert LOCALES.has("pdf.bad_image")


def test_no_chinese_font_is_a_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    with pytest.raises(PdfError) as error:
        Document(LOCALES, "zh")
    assert error.value.key == "no_font"
    assert LOCALES.has("pdf.no_font")


def test_pictures_side_by_side_with_captions(tmp_path: Path) -> None:
    """`images`: three pictures in one row, each inside its third of the page, each caption under it; a row that
    does not fit goes to the next page whole."""
    pictures = []
    for index in range(4):
        buffer = io.BytesIO()
        Image.new("RGB", (600, 400), (0, 0, 0)).save(buffer, "JPEG")
        pictures.append((buffer.getvalue(), f"#{100 + index}"))
    doc = document(orientation="portrait")
    doc.images(pictures, per_row=3, max_height=40)
    pdf = doc.to_bytes()
    text = pages_text(pdf, tmp_path)[0]
    assert all(f"#{100 + i}" in text for i in range(4))
    picture = render_first_page(pdf, tmp_path)
    width, _ = picture.size
    row = picture.crop((0, 40, width, 41)).tobytes()
    runs, inside = 0, False
    for value in row:
        if value < 50 and not inside:
            runs += 1
        inside = value < 50
    assert runs == 3  # the fourth is on the next row
    unfinished = document()
    with pytest.raises(PdfError):
        unfinished.images([(b"not a picture", "")])
    unfinished.close()
