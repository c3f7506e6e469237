"""The weekly summary's chart: the patrol rate per reach as horizontal bars, and problems by category.

Pure Pillow, no Telegram, no store: the caller passes the labels (already in the reader's language) and the
figures, and gets JPEG bytes: Telegram re-encodes every photo as JPEG anyway, and JPEG takes a third of the
time PNG did, which was most of composing a summary. Chinese is drawn with `bot.fonts.load` (a CJK font found
on the system or `FONT_PATH`). CPU-bound: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from bot import fonts

WIDTH = 1000
MARGIN = 30
LABEL_WIDTH = 300
ROW = 34
BAR = 22
MAX_ROWS = 25  # reaches beyond this are left out of the picture (the text lists who is behind)
BACKGROUND = (255, 255, 255)
INK = (33, 37, 41)
FAINT = (222, 226, 230)
GOOD = (46, 139, 87)  # met the requirement
SHORT = (214, 95, 60)  # behind
NONE = (173, 181, 189)
NEW = (66, 133, 244)
CLOSED = (46, 139, 87)
OVERDUE = (214, 95, 60)


@dataclass(frozen=True, slots=True)
class RateBar:
    label: str
    done: int
    required: int
    shown: str  # the rate as the text shows it ("76.9%" or "—")


@dataclass(frozen=True, slots=True)
class CategoryBar:
    label: str
    new: int
    closed: int
    overdue: int


@dataclass(frozen=True, slots=True)
class ChartText:
    title: str
    rate_heading: str
    problems_heading: str
    legend_new: str
    legend_closed: str
    legend_overdue: str
    empty: str  # shown when a section has nothing to draw
    more: str = ""  # e.g. "+12 more reaches", shown under a cut list


def _fit(draw: ImageDraw.ImageDraw, text: str, font: fonts.Font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render_chart(text: ChartText, rates: Sequence[RateBar], categories: Sequence[CategoryBar]) -> bytes:
    """JPEG bytes of the chart."""
    rates = list(rates)
    cut = max(0, len(rates) - MAX_ROWS)
    rates = rates[:MAX_ROWS]
    categories = [c for c in categories if c.new or c.closed or c.overdue]
    title_font, heading_font, font = fonts.load(30), fonts.load(24), fonts.load(18)
    rate_rows = max(1, len(rates)) + (1 if cut else 0)
    category_rows = max(1, len(categories))
    height = MARGIN * 2 + 50 + 40 + rate_rows * ROW + 30 + 40 + 30 + category_rows * ROW + 10
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = MARGIN
    draw.text((MARGIN, y), _fit(draw, text.title, title_font, WIDTH - 2 * MARGIN), fill=INK, font=title_font)
    y += 50
    draw.text((MARGIN, y), text.rate_heading, fill=INK, font=heading_font)
    y += 40
    bar_left = MARGIN + LABEL_WIDTH
    bar_width = WIDTH - bar_left - MARGIN - 150
    if not rates:
        draw.text((MARGIN, y), text.empty, fill=NONE, font=font)
        y += ROW
    for rate in rates:
        draw.text((MARGIN, y + 2), _fit(draw, rate.label, font, LABEL_WIDTH - 10), fill=INK, font=font)
        draw.rectangle((bar_left, y, bar_left + bar_width, y + BAR), fill=FAINT)
        if rate.required:
            share = min(1.0, rate.done / rate.required)
            colour = GOOD if rate.done >= rate.required else SHORT
            if share > 0:
                draw.rectangle((bar_left, y, bar_left + round(bar_width * share), y + BAR), fill=colour)
        label = f"{rate.shown}  {rate.done}/{rate.required}" if rate.required else rate.shown
        draw.text((bar_left + bar_width + 10, y + 2), label, fill=INK, font=font)
        y += ROW
    if cut:
        draw.text((MARGIN, y), text.more, fill=NONE, font=font)
        y += ROW
    y += 30
    draw.text((MARGIN, y), text.problems_heading, fill=INK, font=heading_font)
    y += 40
    x = MARGIN
    for colour, name in ((NEW, text.legend_new), (CLOSED, text.legend_closed), (OVERDUE, text.legend_overdue)):
        draw.rectangle((x, y + 4, x + 16, y + 20), fill=colour)
        draw.text((x + 22, y), name, fill=INK, font=font)
        x += 40 + round(draw.textlength(name, font=font))
    y += 30
    if not categories:
        draw.text((MARGIN, y), text.empty, fill=NONE, font=font)
    most = max([1] + [max(c.new, c.closed, c.overdue) for c in categories])
    third = BAR // 3
    for row in categories:
        draw.text((MARGIN, y + 2), _fit(draw, row.label, font, LABEL_WIDTH - 10), fill=INK, font=font)
        for i, (value, colour) in enumerate(((row.new, NEW), (row.closed, CLOSED), (row.overdue, OVERDUE))):
            top = y + i * third
            if value:
                draw.rectangle(
                    (bar_left, top, bar_left + max(2, round(bar_width * value / most)), top + third - 1), fill=colour
                )
        draw.text((bar_left + bar_width + 10, y + 2), f"{row.new} / {row.closed} / {row.overdue}", fill=INK, font=font)
        y += ROW
    out = io.BytesIO()
    # High quality without chroma subsampling: coloured bars and small text keep clean edges.
    image.save(out, "JPEG", quality=92, subsampling=0)
    return out.getvalue()
