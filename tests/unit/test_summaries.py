"""Weeks, splitting, the change in points, when the summary is due, and the chart draws."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime

import pytest
from PIL import Image

from bot.charts import (
    FAINT,
    FILL_ROWS,
    GOOD,
    MAX_ROWS,
    NEW,
    SHORT,
    WIDTH,
    CategoryBar,
    ChartText,
    RateBar,
    Tile,
    pick_rows,
    render_chart,
)
from bot.config import load_settings
from bot.delivery import due_week
from bot.summaries import change_points, format_points, last_week, parse_week, split_messages
from bot.tallies import Rate


def test_weeks() -> None:
    week = parse_week("2026-W47")
    assert week is not None and (week.first, week.last) == (date(2026, 11, 16), date(2026, 11, 22))
    assert parse_week("2025-W53") is None and parse_week("W47") is None
    assert last_week(date(2026, 11, 30)).code == "2026-W48"
    assert last_week(date(2027, 1, 4)).code == "2026-W53"


def test_split_on_lines() -> None:
    text = "\n".join(f"line {i:04d}" for i in range(1000))
    pieces = split_messages(text, 4096)
    assert all(len(p) <= 4096 for p in pieces) and "\n".join(pieces) == text
    assert split_messages("x" * 5000, 4096) == ["x" * 4096, "x" * 904]


def test_change_in_points_and_no_requirement() -> None:
    assert change_points(Rate(3, 4), Rate(1, 2)) == 25.0
    assert format_points(change_points(Rate(0, 0), Rate(1, 2))) == "—"
    assert format_points(0.0) == "±0.0" and format_points(-12.5) == "-12.5"


def test_due_after_summary_time_in_local_time() -> None:
    settings = load_settings(env_file=None, summary_time="mon 09:00")
    # Monday 2026-11-30 08:59 Shanghai = 00:59 UTC: not yet; 09:00 Shanghai = 01:00 UTC: last week is due.
    assert due_week(settings, datetime(2026, 11, 30, 0, 59, tzinfo=UTC)) is None
    week = due_week(settings, datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    assert week is not None and week.code == "2026-W48"


def _bars(*rows: tuple[int, int]) -> list[RateBar]:
    return [RateBar(f"reach {i}", done, required, "") for i, (done, required) in enumerate(rows)]


def test_chart_rows_put_shortfalls_first_and_leave_out_only_met_ones() -> None:
    rows = _bars((1, 1), (0, 0), (1, 3), (0, 2), (2, 3), (3, 3))
    shown, hidden = pick_rows(rows)
    assert [b.label for b in shown] == ["reach 3", "reach 2", "reach 4", "reach 0", "reach 5", "reach 1"]
    assert hidden == []
    many = _bars(*([(1, 1)] * 40 + [(0, 1)] * 3 + [(0, 0)] * 5))
    shown, hidden = pick_rows(many)
    assert len(shown) == FILL_ROWS and [b.done for b in shown[:3]] == [0, 0, 0]
    assert all(b.done >= b.required for b in hidden) and len(hidden) == 48 - FILL_ROWS
    behind = _bars(*([(0, 1)] * 30 + [(1, 1)] * 5))
    shown, hidden = pick_rows(behind)
    assert len(shown) == MAX_ROWS and all(b.done < b.required for b in shown)
    assert sum(1 for b in hidden if b.done < b.required) == 30 - MAX_ROWS


def _chart_text() -> ChartText:
    return ChartText(
        "\u57ce\u4e1c", "2026-W47", "rates", "problems", "met", "short", "none", "new", "closed", "overdue", "-"
    )


def _pixel(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def _near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(colour, expected, strict=True))


def _runs(image: Image.Image, x: int, colours: dict[str, tuple[int, int, int]]) -> list[tuple[str, int]]:
    """Down the column at `x`: the runs of the named colours (2 pixels or more), as (name, first y)."""
    runs: list[tuple[str, int, int]] = []
    for y in range(image.height):
        name = next((n for n, c in colours.items() if _near(_pixel(image, x, y), c)), None)
        if name is None:
            continue
        if runs and runs[-1][0] == name and runs[-1][2] == y - 1:
            runs[-1] = (name, runs[-1][1], y)
        else:
            runs.append((name, y, y))
    return [(name, top) for name, top, bottom in runs if bottom > top]


def test_chart_bars_show_met_short_and_nothing_required_apart() -> None:
    """Read the picture back: a third-done reach is orange for a third of its track, a met one green to the end,
    one with nothing required has no bar; the problem bars follow."""
    rates = [RateBar("A", 1, 3, "33.3%"), RateBar("B", 2, 2, "100.0%"), RateBar("C", 0, 0, "")]
    jpeg = render_chart(_chart_text(), [], rates, [CategoryBar("dumping", 2, 1, 1)])
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.width == WIDTH
    colours = {"track": FAINT, "met": GOOD, "short": SHORT, "new": NEW}
    # Near the end of every track: A grey, B green, C nothing but a thin rule, then the new-problems bar.
    end = [name for name, _ in _runs(image, WIDTH - 200, colours)]
    assert end[:2] == ["track", "met"] and "new" in end[end.index("met") :]
    met_y = next(y for name, y in _runs(image, WIDTH - 200, colours) if name == "met") + 5
    left = next(x for x in range(WIDTH) if _near(_pixel(image, x, met_y), GOOD))
    track = WIDTH - 200 - left
    # A third of the way along: A orange (its third done), B green.
    third = [name for name, _ in _runs(image, left + track // 4, colours)]
    assert third[:2] == ["short", "met"]
    # Half way: A grey again.
    assert [name for name, _ in _runs(image, left + track // 2, colours)][:2] == ["track", "met"]


def test_chart_draws_chinese_as_glyphs_not_boxes() -> None:
    """Two different Chinese titles must give different pictures: with a font lacking them, both would draw the
    same empty boxes."""
    a = _chart_text()
    b = dataclasses.replace(a, title="\u897f\u6e56")
    tiles = [Tile("rate", "50.0%", "up", note_tone="good"), Tile("overdue", "2", value_tone="bad")]
    first = Image.open(io.BytesIO(render_chart(a, tiles, [], []))).crop((0, 0, WIDTH, 80))
    second = Image.open(io.BytesIO(render_chart(b, tiles, [], []))).crop((0, 0, WIDTH, 80))
    assert first.tobytes() != second.tobytes()


def test_chart_subtitle_names_the_dates_in_each_language() -> None:
    from bot.i18n import Locales

    locales = Locales.load()
    week = parse_week("2026-W53")
    assert week is not None
    en = locales.plain("en", "summary.chart.subtitle_years", number=53, first=week.first, last=week.last)
    assert en == "Week 53: 28 Dec 2026 – 3 Jan 2027"
    zh = locales.plain("zh", "summary.chart.subtitle", number=47, first=date(2026, 11, 16), last=date(2026, 11, 22))
    assert zh.startswith("2026\u5e7411\u670816\u65e5")  # 2026 nian 11 yue 16 ri


def test_kept_text_masks_draw_exactly_what_drawing_afresh_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart from a warm mask cache equals the chart from an empty one, and equals text drawn by Pillow itself
    (the same string at two sizes is two masks)."""
    from bot import charts

    def chart() -> bytes:
        tiles = [Tile("rate", "50.0%", "up"), Tile("50.0%", "50.0%")]
        return render_chart(_chart_text(), tiles, [RateBar("A", 1, 2, "50.0%")], [CategoryBar("B", 1, 0, 0)])

    monkeypatch.setattr(charts, "_stencils", charts._Stencils())
    cold = chart()
    assert chart() == cold
    monkeypatch.setattr(
        charts._Canvas, "text", lambda self, x, y, text, font, fill=charts.INK: self.draw.text((x, y), text, fill, font)
    )
    assert Image.open(io.BytesIO(chart())).tobytes() == Image.open(io.BytesIO(cold)).tobytes()
