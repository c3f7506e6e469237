"""The weekly summary's chart: headline figures, the patrol rate per reach, problems by category.

Pure Pillow, no Telegram, no store: the caller passes every word already in the reader's language, and gets
JPEG bytes (Telegram re-encodes every photo as JPEG anyway, and JPEG takes a third of PNG's time). Chinese is
drawn with `bot.fonts.load` (a CJK font found on the system or `FONT_PATH`). CPU-bound: call it through
`asyncio.to_thread`.

What it is for: a chief glancing at the group chat on a phone sees first the four figures of the week, then
the reaches that fell short (the worst first, so the cut never hides one that needs attention before one that
met its requirement),
then what kind of problems came in. Colour carries the meaning (green met, orange short, grey nothing
required) and every bar also has its number, so nothing depends on telling colours apart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Literal

from PIL import Image, ImageDraw

from bot import fonts

WIDTH = 1000
MARGIN = 32
LABEL_MIN, LABEL_MAX = 160, 400  # room for reach and category names: as wide as the longest, within these
VALUE_WIDTH = 150  # right of the bars: "66.7%  2/3"
ROW = 34
BAR = 20
CATEGORY_ROW = 40
SUB_BAR = 8  # new / closed / overdue, one above the other
MAX_ROWS = 25  # reaches beyond this are left out of the picture (the text lists who is behind)
FILL_ROWS = 12  # reaches that met their requirement are drawn only up to this many rows

BACKGROUND = (255, 255, 255)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
FAINT = (233, 236, 239)
TILE = (244, 246, 248)
RULE = (206, 212, 218)
GOOD = (46, 139, 87)  # met the requirement; a better week
SHORT = (214, 95, 60)  # behind; a worse week; overdue
NONE = (173, 181, 189)  # nothing required
RUNNING = (158, 197, 232)  # a period still running: how far it has got, not a result yet
NEW = (66, 133, 244)
CLOSED = GOOD
OVERDUE = SHORT

Tone = Literal["plain", "good", "bad", "muted"]
_TONES: dict[str, tuple[int, int, int]] = {"plain": INK, "good": GOOD, "bad": SHORT, "muted": MUTED}


@dataclass(frozen=True, slots=True)
class Tile:
    """One headline figure: a label, a big value, and a line under it (e.g. the change against last week)."""

    label: str
    value: str
    note: str = ""
    _: KW_ONLY
    aside: str = ""  # small, after the value: e.g. "12/15" after the rate
    value_tone: Tone = "plain"
    note_tone: Tone = "muted"


@dataclass(frozen=True, slots=True)
class RateBar:
    label: str
    done: int
    required: int
    shown: str  # the rate as the text shows it ("76.9%"); for a running period, e.g. "this month · 8 days left"
    running: bool = False  # no period ended in the week: done/required are the running period's progress


@dataclass(frozen=True, slots=True)
class CategoryBar:
    label: str
    new: int
    closed: int
    overdue: int


@dataclass(frozen=True, slots=True)
class ChartText:
    title: str
    subtitle: str
    rate_heading: str
    problems_heading: str
    legend_met: str
    legend_short: str
    legend_none: str  # also the value shown for a reach with nothing required
    legend_new: str
    legend_closed: str
    legend_overdue: str
    empty: str  # shown when a section has nothing to draw
    more: str = ""  # e.g. "+12 more reaches", shown under a cut list
    footnote: str = ""
    legend_running: str = ""  # a period still running; in the legend only when a row shows one


def pick_rows(rates: Sequence[RateBar]) -> tuple[list[RateBar], list[RateBar]]:
    """The reaches to draw and those left out. The worst first: short of the requirement by rate, then met, then
    those still running their period (the furthest behind first), then those with nothing required (in the given
    order among equals). Every short reach is drawn, up to `MAX_ROWS`;
    met ones only fill the picture up to `FILL_ROWS`, since a column of full green bars tells a large area's
    group nothing the headline doesn't."""

    def key(bar: RateBar) -> tuple[int, float]:
        if bar.running:
            return (2, bar.done / bar.required if bar.required else 0.0)
        if not bar.required:
            return (3, 0.0)
        if bar.done >= bar.required:
            return (1, 0.0)
        return (0, bar.done / bar.required)

    ordered = sorted(rates, key=key)
    short = sum(1 for bar in ordered if bar.done < bar.required and not bar.running)
    count = min(MAX_ROWS, max(short, FILL_ROWS))
    return ordered[:count], ordered[count:]


class _Stencils:
    """Rendered text kept as masks, for the words every chart repeats (headings, legends, "100.0%  1/1").

    Drawing a string costs FreeType a rendering every time, and a week's 165 charts draw the same few hundred
    strings thousands of times; pasting a kept mask is several times cheaper. Reach names are unique to a chart
    and are drawn directly. Shared by the drawing threads: a dict read or write is atomic, and a mask is only
    ever read once stored.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._masks: dict[tuple[object, ...], tuple[Image.Image, int, int]] = {}

    def get(self, text: str, font: fonts.Font) -> tuple[Image.Image, int, int]:
        key = (text, getattr(font, "path", None), getattr(font, "index", 0), getattr(font, "size", 0))
        found = self._masks.get(key)
        if found is None:
            left, top, right, bottom = (round(v) for v in font.getbbox(text))
            mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
            ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=font)
            found = (mask, left, top)
            if len(self._masks) >= self.LIMIT:
                self._masks.clear()  # a new week's figures: start over rather than track use
            self._masks[key] = found
        return found


_stencils = _Stencils()


class _Canvas:
    """The image, its pen and the fonts, with the few drawing moves the chart is made of."""

    def __init__(self, height: int) -> None:
        self.image = Image.new("RGB", (WIDTH, height), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.title = fonts.load(32)
        self.big = fonts.load(34)
        self.heading = fonts.load(23)
        self.body = fonts.load(18)
        self.small = fonts.load(15)
        self.labels = LABEL_MIN  # the width of the name column, set once the names are known
        # Widths measured on this chart: each name is measured for the column's width and again to fit it. Kept
        # for the one chart only: a cache kept across charts pinned the memory of the week's figures after them.
        self._widths: dict[tuple[str, int], float] = {}

    def text(self, x: float, y: float, text: str, font: fonts.Font, fill: tuple[int, int, int] = INK) -> None:
        """Text that recurs from chart to chart (see `_Stencils`)."""
        if text:
            mask, left, top = _stencils.get(text, font)
            self.image.paste(fill, (round(x) + left, round(y) + top), mask)

    def name(self, x: float, y: float, text: str, font: fonts.Font, width: float) -> None:
        """A reach's or category's name, cut to `width` so it cannot run into its bar; drawn directly, since
        names hardly recur (see `_Stencils`)."""
        self.draw.text((x, y), self._cut(text, font, width), fill=INK, font=font)

    def fitted(
        self, x: float, y: float, text: str, font: fonts.Font, width: float, *, fill: tuple[int, int, int] = INK
    ) -> None:
        self.text(x, y, self._cut(text, font, width), font, fill)

    def _cut(self, text: str, font: fonts.Font, width: float) -> str:
        """The text, or as much as fits in `width` followed by an ellipsis."""
        if self.width(text, font) <= width:
            return text
        while text and font.getlength(text + "…") > width:
            text = text[:-1]
        return text + "…"

    def width(self, text: str, font: fonts.Font) -> float:
        key = (text, id(font))
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = font.getlength(text)
        return found

    def box(self, left: float, top: float, right: float, bottom: float, fill: tuple[int, int, int]) -> None:
        self.draw.rectangle((round(left), round(top), round(right), round(bottom)), fill=fill)

    def legend(self, x: float, y: float, items: Sequence[tuple[tuple[int, int, int], str]]) -> None:
        for colour, name in items:
            self.box(x, y + 4, x + 14, y + 18, colour)
            self.text(x + 20, y, name, self.small, MUTED)
            x += 44 + self.width(name, self.small)


def _height(text: ChartText, rate_rows: int, category_rows: int) -> int:
    height = MARGIN + 44 + 34  # title, subtitle
    height += 112 + 30  # tiles
    height += 36 + 28 + rate_rows * ROW  # heading, legend, rows
    height += 24 + 36 + 28 + category_rows * CATEGORY_ROW  # gap, heading, legend, rows
    if text.footnote:
        height += 16 + 24 * len(text.footnote.split("\n"))
    return height + MARGIN


def render_chart(
    text: ChartText, tiles: Sequence[Tile], rates: Sequence[RateBar], categories: Sequence[CategoryBar]
) -> bytes:
    """JPEG bytes of the chart; `rates` are drawn in the order given (see `pick_rows`), `text.more` under them."""
    shown = list(rates)
    categories = [c for c in categories if c.new or c.closed or c.overdue]
    rate_rows = max(1, len(shown)) + (1 if text.more else 0)
    canvas = _Canvas(_height(text, rate_rows, max(1, len(categories))))
    names = [r.label for r in shown] + [c.label for c in categories]
    longest = max([canvas.width(name, canvas.body) for name in names], default=0.0)
    canvas.labels = round(min(LABEL_MAX, max(LABEL_MIN, longest + 18)))
    y = _header(canvas, text, tiles, MARGIN)
    y = _rates(canvas, text, shown, y)
    y = _categories(canvas, text, categories, y + 24)
    if text.footnote:
        canvas.box(MARGIN, y + 8, WIDTH - MARGIN, y + 8, RULE)
        for index, line in enumerate(text.footnote.split("\n")):
            canvas.fitted(MARGIN, y + 16 + 24 * index, line, canvas.small, WIDTH - 2 * MARGIN, fill=MUTED)
    out = io.BytesIO()
    # Telegram re-encodes photos as 4:2:0 JPEG anyway: more quality or full chroma here only costs time and bytes.
    canvas.image.save(out, "JPEG", quality=88, subsampling=2)
    return out.getvalue()


def _header(canvas: _Canvas, text: ChartText, tiles: Sequence[Tile], y: int) -> int:
    canvas.fitted(MARGIN, y, text.title, canvas.title, WIDTH - 2 * MARGIN)
    y += 44
    canvas.text(MARGIN, y, text.subtitle, canvas.body, MUTED)
    y += 34
    if tiles:
        gap = 14
        width = (WIDTH - 2 * MARGIN - gap * (len(tiles) - 1)) / len(tiles)
        for index, tile in enumerate(tiles):
            left = MARGIN + index * (width + gap)
            canvas.box(left, y, left + width, y + 112, TILE)
            canvas.fitted(left + 16, y + 12, tile.label, canvas.small, width - 32, fill=MUTED)
            canvas.text(left + 16, y + 36, tile.value, canvas.big, _TONES[tile.value_tone])
            if tile.aside:
                after = left + 16 + canvas.width(tile.value, canvas.big) + 8
                canvas.fitted(after, y + 52, tile.aside, canvas.small, left + width - 12 - after, fill=MUTED)
            canvas.fitted(left + 16, y + 84, tile.note, canvas.small, width - 32, fill=_TONES[tile.note_tone])
    return y + 112 + 30


def _rates(canvas: _Canvas, text: ChartText, rates: Sequence[RateBar], y: int) -> int:
    canvas.text(MARGIN, y, text.rate_heading, canvas.heading)
    y += 36
    legend = [(GOOD, text.legend_met), (SHORT, text.legend_short)]
    running = text.legend_running and any(rate.running for rate in rates)
    if running:
        legend.append((RUNNING, text.legend_running))
    if not running or any(not rate.required and not rate.running for rate in rates):
        legend.append((NONE, text.legend_none))
    canvas.legend(MARGIN, y, legend)
    y += 28
    left = MARGIN + canvas.labels
    width = WIDTH - left - MARGIN - VALUE_WIDTH
    if not rates:
        canvas.text(MARGIN, y + 4, text.empty, canvas.body, MUTED)
        y += ROW
    for rate in rates:
        canvas.name(MARGIN, y + 4, rate.label, canvas.body, canvas.labels - 14)
        top = y + (ROW - BAR) / 2
        if rate.running and rate.required:
            canvas.box(left, top, left + width, top + BAR, FAINT)
            share = min(1.0, rate.done / rate.required)
            canvas.box(left, top, left + max(3.0, width * share), top + BAR, RUNNING)
            canvas.fitted(left + 8, top + 1, rate.shown, canvas.small, width - 16)
            canvas.text(left + width + 12, y + 4, f"{rate.done}/{rate.required}", canvas.body)
        elif not rate.required:
            canvas.box(left, top + BAR / 2 - 1, left + width, top + BAR / 2 + 1, FAINT)
            canvas.text(left + width + 12, y + 4, text.legend_none, canvas.body, MUTED)
        else:
            canvas.box(left, top, left + width, top + BAR, FAINT)
            share = min(1.0, rate.done / rate.required)
            met = rate.done >= rate.required
            if share > 0:
                canvas.box(left, top, left + width * share, top + BAR, GOOD if met else SHORT)
            else:  # nothing done: a sliver, so "0 %" is visibly a result, not a missing bar
                canvas.box(left, top, left + 3, top + BAR, SHORT)
            canvas.text(left + width + 12, y + 4, f"{rate.shown}  {rate.done}/{rate.required}", canvas.body)
        y += ROW
    if text.more:
        canvas.text(MARGIN, y + 4, text.more, canvas.small, MUTED)
        y += ROW
    return y


def _categories(canvas: _Canvas, text: ChartText, categories: Sequence[CategoryBar], y: int) -> int:
    canvas.text(MARGIN, y, text.problems_heading, canvas.heading)
    y += 36
    canvas.legend(MARGIN, y, ((NEW, text.legend_new), (CLOSED, text.legend_closed), (OVERDUE, text.legend_overdue)))
    y += 28
    if not categories:
        canvas.text(MARGIN, y + 4, text.empty, canvas.body, MUTED)
        return y + CATEGORY_ROW
    left = MARGIN + canvas.labels
    width = WIDTH - left - MARGIN - VALUE_WIDTH
    most = max(max(c.new, c.closed, c.overdue) for c in categories)
    for row in categories:
        canvas.name(MARGIN, y + (CATEGORY_ROW - 24) / 2, row.label, canvas.body, canvas.labels - 14)
        top = y + (CATEGORY_ROW - 3 * SUB_BAR - 4) / 2
        for value, colour in ((row.new, NEW), (row.closed, CLOSED), (row.overdue, OVERDUE)):
            canvas.box(left, top, left + width, top + SUB_BAR - 1, FAINT)
            if value:
                right = left + max(3.0, width * value / most)
                canvas.box(left, top, right, top + SUB_BAR - 1, colour)
            top += SUB_BAR + 2
        figures = f"{row.new} / {row.closed} / {row.overdue}"
        canvas.text(left + width + 12, y + (CATEGORY_ROW - 24) / 2, figures, canvas.body)
        y += CATEGORY_ROW
    return y
