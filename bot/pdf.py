"""Print-ready PDF documents for the office: reports and files that go upward or into a binder.

One small builder on top of fpdf2 (pure Python; it embeds a subset of the font, so the files stay small). It is
shared by every PDF the bot writes (assessment reports, one-river-one-file dossiers), so they all look alike:
A4, the system's Chinese font (`bot.fonts`, the same face the pictures use, read from a .ttc collection by its
face index), a title block, paragraphs, tables whose header row comes again on every page and whose long cells
wrap, pictures scaled to fit, and a page number at the foot of every page.

No Telegram and no store: the caller passes every word already in the reader's language; the builder itself
takes only the page number's words from locales (`pdf.page`). CPU-bound: call it through `asyncio.to_thread`
from the bot.

Why fpdf2 and not reportlab: both draw Chinese from a TTC face, but fpdf2 has the repeated table header and cell
wrapping built in, needs only fontTools and Pillow (already here), and is actively maintained.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, WrapMode, XPos, YPos
from fpdf.fonts import FontFace
from PIL import Image, UnidentifiedImageError

from bot import fonts
from bot.i18n import Locales

FAMILY = "cjk"
MARGIN = 12.0  # mm, on every side: room for a binder's holes and a printer's unprintable edge
FOOTER = 10.0  # mm kept at the foot for the page number
BODY_SIZE = 10.0
TABLE_SIZE = 8.5
TITLE_SIZE = 16.0
HEADING_SIZE = 12.0
HEADER_FILL = (221, 226, 230)
MUTED = (90, 98, 104)

Orientation = Literal["portrait", "landscape"]
Alignment = Literal["left", "right", "center"]


class PdfError(Exception):
    """The document cannot be drawn (no Chinese font on the system, a picture that is not one); `key` is the
    locale key under `pdf.` that says why to a person."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its heading, its share of the width (relative weights) and how its cells are aligned."""

    heading: str
    weight: float = 1.0
    align: Alignment = "left"


class _Pdf(FPDF):
    """FPDF with the page-number footer, in the reader's language (`pdf.page`: `{page}` and `{pages}`)."""

    def __init__(self, orientation: Orientation, locales: Locales, lang: str | None) -> None:
        super().__init__(orientation="L" if orientation == "landscape" else "P", unit="mm", format="A4")
        self.locales = locales
        self.reader_lang = lang

    def footer(self) -> None:
        self.set_y(-FOOTER)
        self.set_font(FAMILY, size=8)
        self.set_text_color(*MUTED)
        # fpdf2 replaces its alias with the page count when the document is closed.
        label = self.locales.plain(self.reader_lang, "pdf.page", page=self.page_no(), pages=self.str_alias_nb_pages)
        self.cell(0, 5, label, align=Align.C)
        self.set_text_color(0, 0, 0)


class Document:
    """An A4 document built top to bottom: `title`, `heading`, `paragraph`, `table`, `image`, then `to_bytes`.

    `locales` and `lang` give the footer's page number ("page 2 of 5" in the reader's language).
    `font` defaults to the Chinese font `bot.fonts` finds; without one, `PdfError("no_font")`: a report whose
    names all come out as empty boxes is worse than a clear refusal.
    """

    def __init__(
        self,
        locales: Locales,
        lang: str | None,
        *,
        orientation: Orientation = "portrait",
        font: fonts.FontFile | None = None,
        title: str = "",
        author: str = "",
    ) -> None:
        font = font or fonts.cjk_font()
        if font is None:
            raise PdfError("no_font")
        self._pdf = _Pdf(orientation, locales, lang)
        pdf = self._pdf
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(auto=True, margin=MARGIN + FOOTER)
        pdf.add_font(FAMILY, "", str(font.path), collection_font_number=font.index)
        pdf.set_font(FAMILY, size=BODY_SIZE)
        pdf.set_creator("riverbot")
        if title:
            pdf.set_title(title)
        if author:
            pdf.set_author(author)
        pdf.add_page()

    @property
    def width(self) -> float:
        """The printable width in mm."""
        return float(self._pdf.epw)

    def title(self, text: str, *lines: str) -> None:
        """The title block: the title centred and large, then each line (period, office, date) centred below."""
        pdf = self._pdf
        pdf.set_font(FAMILY, size=TITLE_SIZE)
        pdf.multi_cell(0, TITLE_SIZE * 0.5, text, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=BODY_SIZE)
        pdf.set_text_color(*MUTED)
        for line in lines:
            pdf.multi_cell(0, BODY_SIZE * 0.5, line, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(3)

    def heading(self, text: str) -> None:
        """A section heading; it starts a new page rather than sit alone at the foot of one."""
        pdf = self._pdf
        if pdf.will_page_break(HEADING_SIZE * 0.5 + 2 + 20):
            pdf.add_page()
        pdf.ln(2)
        pdf.set_font(FAMILY, size=HEADING_SIZE)
        pdf.multi_cell(0, HEADING_SIZE * 0.55, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=BODY_SIZE)
        pdf.ln(1)

    def paragraph(self, text: str, *, size: float = BODY_SIZE, muted: bool = False) -> None:
        """Running text, wrapped to the page width (Chinese wraps between any two characters)."""
        pdf = self._pdf
        pdf.set_font(FAMILY, size=size)
        if muted:
            pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(FAMILY, size=BODY_SIZE)
        pdf.ln(1)

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[object]], *, size: float = TABLE_SIZE) -> None:
        """A table across the page width: the heading row again at the top of every page, long cells wrapped.

        Cells are shown with `str()`; None shows as an empty cell.
        """
        if not columns:
            return
        pdf = self._pdf
        pdf.set_font(FAMILY, size=size)
        total = sum(column.weight for column in columns) or 1.0
        widths = tuple(pdf.epw * column.weight / total for column in columns)
        aligns = tuple(Align.coerce(column.align[0].upper()) for column in columns)
        heading_style = FontFace(emphasis="", fill_color=HEADER_FILL)
        with pdf.table(
            col_widths=widths,
            width=pdf.epw,
            text_align=aligns,
            headings_style=heading_style,
            repeat_headings=1,
            line_height=size * 0.5,
            borders_layout=TableBordersLayout.ALL,
            wrapmode=WrapMode.CHAR,
            padding=0.8,
        ) as table:
            heading = table.row()
            for column in columns:
                heading.cell(column.heading, align=Align.C)
            for values in rows:
                row = table.row()
                for index in range(len(columns)):
                    value = values[index] if index < len(values) else None
                    row.cell("" if value is None else str(value))
        pdf.set_font(FAMILY, size=BODY_SIZE)
        pdf.ln(2)

    def image(self, data: bytes, *, max_height: float = 90.0, caption: str = "") -> None:
        """A PNG or JPEG picture, scaled to fit the page width and `max_height` mm, never enlarged past 150 dpi.

        Raises `PdfError("bad_image")` for bytes that are not a picture.
        """
        try:
            with Image.open(io.BytesIO(data)) as probe:
                probe.verify()
            with Image.open(io.BytesIO(data)) as picture:
                width_px, height_px = picture.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise PdfError("bad_image", str(exc)) from None
        if width_px <= 0 or height_px <= 0:
            raise PdfError("bad_image", "empty picture")
        natural = 25.4 / 150  # mm per pixel at 150 dpi
        scale = min(self._pdf.epw / width_px, max_height / height_px, natural)
        width, height = width_px * scale, height_px * scale
        pdf = self._pdf
        if pdf.will_page_break(height + (5 if caption else 0)):
            pdf.add_page()
        x = pdf.l_margin + (pdf.epw - width) / 2
        pdf.image(io.BytesIO(data), x=x, y=pdf.get_y(), w=width, h=height)
        pdf.set_y(pdf.get_y() + height + 1)
        if caption:
            self.paragraph(caption, size=8, muted=True)

    def images(self, items: Sequence[tuple[bytes, str]], *, per_row: int = 3, max_height: float = 60.0) -> None:
        """Pictures side by side, `per_row` a row, each scaled into its share of the width and `max_height` mm
        (never past 150 dpi), with its one-line caption under it; a row never splits across pages.

        Raises `PdfError("bad_image")` for bytes that are not a picture.
        """
        pdf = self._pdf
        gap = 3.0
        share = (pdf.epw - gap * (per_row - 1)) / per_row
        for first in range(0, len(items), per_row):
            row = items[first : first + per_row]
            sizes = []
            for data, _ in row:
                width_px, height_px = _picture_size(data)
                scale = min(share / width_px, max_height / height_px, 25.4 / 150)
                sizes.append((width_px * scale, height_px * scale))
            height = max(h for _, h in sizes)
            below = 4.0 if any(caption for _, caption in row) else 0.0
            if pdf.will_page_break(height + below + 1):
                pdf.add_page()
            top = pdf.get_y()
            for index, ((data, caption), (width, tall)) in enumerate(zip(row, sizes, strict=True)):
                x = pdf.l_margin + index * (share + gap)
                pdf.image(io.BytesIO(data), x=x + (share - width) / 2, y=top, w=width, h=tall)
                if caption:
                    pdf.set_xy(x, top + height + 0.5)
                    pdf.set_font(FAMILY, size=7)
                    pdf.set_text_color(*MUTED)
                    pdf.cell(share, 3.5, caption, align=Align.C)
                    pdf.set_text_color(0, 0, 0)
                    pdf.set_font(FAMILY, size=BODY_SIZE)
            pdf.set_xy(pdf.l_margin, top + height + below + 2)

    def page_break(self) -> None:
        self._pdf.add_page()

    @property
    def pages(self) -> int:
        return int(self._pdf.pages_count)

    def to_bytes(self) -> bytes:
        try:
            return bytes(self._pdf.output())
        finally:
            self.close()

    def close(self) -> None:
        """Close the font files fpdf2 keeps open (it reads them lazily): left to the garbage collector, they
        raise ResourceWarning wherever it happens to run."""
        for font in self._pdf.fonts.values():
            ttfont = getattr(font, "ttfont", None)
            if ttfont is not None:
                ttfont.close()


def _picture_size(data: bytes) -> tuple[int, int]:
    """A picture's size in pixels; `PdfError("bad_image")` when the bytes are not a picture."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PdfError("bad_image", str(exc)) from None
    if width <= 0 or height <= 0:
        raise PdfError("bad_image", "empty picture")
    return width, height
