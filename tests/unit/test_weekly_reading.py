"""The weekly summary reads right (issue 15): running periods' progress beside the rate, the reported week named
as the reader says it, plural words in English."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from PIL import Image

from bot import summaries
from bot.charts import RUNNING, ChartText, RateBar, pick_rows, render_chart
from bot.config import PatrolRule, Settings
from bot.i18n import Locales, placeholders
from bot.summaries import SummaryService, chart_rows, parse_week, summary_text, weeks_ago
from bot.tallies import TallyService
from storage import Store
from tests.support import World, d

LOCALES = Locales.load()


async def _town(store: Store) -> dict[str, int]:
    world = World(store)
    lb = await world.area("LB", "李堡镇", "Libao Town")
    ids = {"area": lb}
    for code, name, rule in (("LB-01", "李堡河", "month"), ("LB-02", "新河", "xun"), ("LB-03", "西河", "quarter")):
        reach = await world.reach(code, lb, "town", name, f"{code} River")
        chief = await world.person(f"{name}河长", level="town")
        await world.assign(chief, reach, "2026-01-01", level="town", rule=PatrolRule(1, rule))
        ids[code], ids[f"{code} chief"] = reach, chief
    return ids


async def test_running_periods_count_up_to_the_weeks_end(store: Store, settings: Settings) -> None:
    ids = await _town(store)
    world = World(store)
    world.area_of = {}
    await world.patrol(ids["LB-01 chief"], ids["LB-01"], "2026-11-22 23:50")  # Sunday night: counts
    await world.patrol(ids["LB-03 chief"], ids["LB-03"], "2026-11-23 00:10")  # Monday: after the week
    running = await TallyService(store, settings).running(d("2026-11-22"))
    by_reach = {p.reach_id: (p.period.kind, p.done, p.required, p.days_left) for p in running}
    assert by_reach == {
        ids["LB-01"]: ("month", 1, 1, 8),
        ids["LB-02"]: ("xun", 0, 1, 8),
        ids["LB-03"]: ("quarter", 0, 1, 39),
    }
    # On the last day of November the month and the xun end: only the quarter runs on.
    assert [p.period.kind for p in await TallyService(store, settings).running(d("2026-11-30"))] == ["quarter"]


async def test_a_monthly_town_shows_progress_not_nothing_required(store: Store, settings: Settings) -> None:
    await _town(store)
    week = parse_week("2026-W47")
    assert week is not None
    area = await store.areas.by_code("LB")
    assert area is not None
    summary = await SummaryService(store, settings).area_summary(area, week, today=date(2026, 11, 23))
    bars = {bar.label: bar for bar in chart_rows(summary, LOCALES, "zh")}
    assert bars["李堡河"] == RateBar("李堡河", 0, 1, "本月 · 剩 8 天", running=True)
    assert bars["西河"].running and bars["西河"].shown == "本季度 · 剩 39 天"
    assert not bars["新河"].running and bars["新河"].required == 1  # its xun of 11-20 Nov ended in the week
    en = {bar.label: bar for bar in chart_rows(summary, LOCALES, "en")}
    assert en["LB-01 River"].shown == "this month · 8 days left"
    text = summary_text(summary, LOCALES, "en")
    assert "Every chief" not in text and "ended last week" in text


def test_weeks_ago_names_the_reported_week() -> None:
    week = parse_week("2026-W47")
    assert week is not None
    assert [weeks_ago(week, day) for day in (date(2026, 11, 22), date(2026, 11, 23), date(2026, 12, 2))] == [0, 1, 2]


def test_running_rows_come_after_results_and_are_drawn_in_their_colour() -> None:
    rows = [
        RateBar("none", 0, 0, ""),
        RateBar("running", 0, 1, "本月 · 剩 8 天", running=True),
        RateBar("short", 0, 1, "0.0%"),
    ]
    shown, _ = pick_rows(rows)
    assert [bar.label for bar in shown] == ["short", "running", "none"]
    half = RateBar("running", 1, 2, "本月 · 剩 8 天", running=True)
    text = ChartText("t", "s", "r", "p", "met", "short", "none", "new", "closed", "overdue", "-", footnote="a\nb")
    image = Image.open(io.BytesIO(render_chart(text, [], [half], [])))
    rgb = image.convert("RGB")
    near = 0
    for x in range(0, rgb.width, 2):
        for y in range(0, rgb.height, 2):
            pixel = rgb.getpixel((x, y))
            assert isinstance(pixel, tuple)
            near += all(abs(int(a) - b) < 12 for a, b in zip(pixel, RUNNING, strict=True))
    assert near > 100


def test_english_counts_pick_their_word() -> None:
    assert LOCALES.plain("en", "summary.running.line", reach="R", period="this month", done=0, required=1, days=1) == (
        "• R: this month 0/1, 1 day left"
    )
    assert LOCALES.t("en", "summary.chart.more", count=1) == "1 more reach not shown"
    assert LOCALES.t("en", "summary.chart.more", count=2) == "2 more reaches not shown"


PLURAL_NOUNS = "points|days|reaches|problems|photos|patrols|rows|invites|files|minutes|hours|groups|areas|chiefs"


# Figures with a decimal ("+1.0 points") and names ("Libao river chiefs") take no singular.
NOT_COUNTS = {"summary.rate", "summary.chart.tile.rate_up", "summary.chart.tile.rate_down", "try.group_title"}


def test_no_english_string_reads_1_things_or_hedges_with_s_in_brackets() -> None:
    rendered = 0
    for key, template in LOCALES.catalogs["en"].items():
        if key in NOT_COUNTS:
            continue
        assert "(s)" not in template and "(es)" not in template, key
        params = dict.fromkeys(placeholders(template), 1)
        try:
            text = LOCALES.plain("en", key, **params)
        except (AttributeError, ValueError, TypeError, IndexError):
            continue  # takes dates or other objects: its counts are covered where it is tested
        rendered += 1
        assert not re.search(rf"\b1 (?:[a-z-]+ )?(?:{PLURAL_NOUNS})\b", text), (key, text)
    assert rendered > 500


async def test_the_chart_names_the_reported_week_as_last_week(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _town(store)
    week = parse_week("2026-W47")
    area = await store.areas.by_code("LB")
    assert week is not None and area is not None
    summary = await SummaryService(store, settings).area_summary(area, week, today=date(2026, 11, 23))
    seen: list[str] = []

    def drawn(text: ChartText, *rest: object) -> bytes:
        seen.append(text.subtitle)
        return b""

    monkeypatch.setattr(summaries, "render_chart", drawn)
    summaries.chart_jpeg(summary, LOCALES, "zh")
    summaries.chart_jpeg(summary, LOCALES, "en")
    assert seen == ["上周 · 2026年11月16日至11月22日（第 47 周）", "Last week · Week 47: 16 Nov – 22 Nov 2026"]
