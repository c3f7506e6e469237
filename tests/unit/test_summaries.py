"""Weeks, splitting, the change in points, when the summary is due, and the chart draws."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.charts import CategoryBar, ChartText, RateBar, render_chart
from bot.config import load_settings
from bot.summaries import change_points, format_points, last_week, parse_week, split_messages
from bot.tallies import Rate
from handlers.summaries import due_week


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


def test_chart_is_a_png() -> None:
    text = ChartText("城东 周报", "巡河率", "问题分类", "新增", "已销号", "逾期", "无")
    png = render_chart(
        text, [RateBar("丁堡河", 1, 2, "50.0%"), RateBar("立公河", 0, 0, "—")], [CategoryBar("乱堆", 2, 1, 1)]
    )
    assert png.startswith(b"\xff\xd8")  # JPEG
