"""Tallies with hand-computed answers at the edges: period ends, time zones, hand-overs, problem lifecycles.

Every expected figure is worked out by hand in the comment above it. Times are written in local time (Asia/Shanghai,
UTC+8, no daylight saving), with the UTC instant alongside where it falls on another day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import PatrolRule, Settings
from bot.i18n import Locales
from bot.patrols import PatrolService
from bot.tallies import (
    MIN_RANKED,
    ProblemFigures,
    Rate,
    StatsReport,
    TallyService,
    aligned,
    day_start,
    display_width,
    parse_day,
    percent,
    ranks,
    required_windows,
)
from storage import Store
from tests.support import TZ, World, d


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


@pytest.fixture
def tallies(store: Store, settings: Settings) -> TallyService:
    return TallyService(store, settings)


# -- the rate itself -----------------------------------------------------------------------------------------


def test_percent_is_a_dash_without_requirement_and_never_rounds_to_a_full_or_empty_mark() -> None:
    assert percent(Rate(0, 0)) == "—"
    assert percent(Rate(0, 5, 5)) == "0.0%"
    assert percent(Rate(5, 5, 5)) == "100.0%"
    assert percent(Rate(2, 3, 3)) == "66.7%"
    # 999/1000 = 99.9 %; 1999/2000 = 99.95 % would round to 100.0 %: shown 99.9 %.
    assert percent(Rate(1999, 2000)) == "99.9%"
    # 1/3000 = 0.033 % would round to 0.0 %: shown 0.1 %.
    assert percent(Rate(1, 3000)) == "0.1%"
    assert Rate(0, 0).value is None


def test_small_samples_are_not_ranked_and_ties_share_a_rank() -> None:
    big = MIN_RANKED
    rates = [
        Rate(1, 1, 1),  # 100 % from one period: too small to rank
        Rate(big - 1, big, big),  # 80 %
        Rate(big, big, big),  # 100 %
        Rate(big - 1, big, big),  # 80 %, tied
        Rate(0, 0, 0),  # nothing required
        Rate(0, big - 1, big - 1),  # 0 % but small
    ]
    assert ranks(rates) == [None, 2, 1, 2, None, None]
    # Rectification: one due problem closed on time is 100 %, and still not ranked.
    assert ranks([ProblemFigures(due=1, closed_on_time=1).rectification]) == [None]


def test_period_edges_are_local_midnights() -> None:
    # Monday 2025-03-10 00:00 in Shanghai is Sunday 2025-03-09 16:00 UTC.
    assert day_start(d("2025-03-10"), TZ) == datetime(2025, 3, 9, 16, 0, tzinfo=UTC)
    # Where clocks change, the day still starts at local midnight: Berlin went to summer time on 2025-03-30.
    berlin = ZoneInfo("Europe/Berlin")
    assert day_start(d("2025-03-30"), berlin) == datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    assert day_start(d("2025-03-31"), berlin) == datetime(2025, 3, 30, 22, 0, tzinfo=UTC)
    # Periods ending in Wed 2024-02-21 … Sun 2024-03-03: xun Feb 21–29 (leap year), weeks Feb 19–25 and
    # Feb 26–Mar 3, month February; no quarter.
    windows = required_windows(d("2024-02-21"), d("2024-03-03"), TZ)
    assert {(w.kind, w.active_on) for w in windows} == {
        ("xun", d("2024-02-29")),
        ("week", d("2024-02-25")),
        ("week", d("2024-03-03")),
        ("month", d("2024-02-29")),
    }
    # Week Feb 26–Mar 3 runs from Feb 25 16:00 UTC to Mar 3 16:00 UTC.
    [week] = [w for w in windows if w.active_on == d("2024-03-03")]
    assert (week.start, week.end) == (datetime(2024, 2, 25, 16, tzinfo=UTC), datetime(2024, 3, 3, 16, tzinfo=UTC))


# -- weeks, and a patrol late on Sunday ------------------------------------------------------------------------


async def test_sunday_night_counts_for_its_week_and_monday_morning_for_the_next(
    world: World, tallies: TallyService
) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("张三")
    await world.assign(chief, reach, "2025-03-03")  # village: 1/week
    # Sunday 2025-03-09 23:50 local = 15:50 UTC, still Sunday: week Mar 3–9.
    await world.patrol(chief, reach, "2025-03-09 23:50")
    # Monday 2025-03-17 07:59 local = Sunday 23:59 UTC: week Mar 17–23, not Mar 10–16.
    await world.patrol(chief, reach, "2025-03-17 07:59")
    # Weeks ending in Mar 3 … Mar 23: Mar 9 (1 patrol), Mar 16 (none), Mar 23 (1) → done 2 of 3.
    tally = await tallies.patrol_rate(d("2025-03-03"), d("2025-03-23"))
    assert (tally.overall.done, tally.overall.required, tally.overall.periods) == (2, 3, 3)
    # Week Mar 10–16 alone: nothing, although in UTC the Monday patrol fell on Sunday the 16th.
    week = await tallies.patrol_rate(d("2025-03-10"), d("2025-03-16"))
    assert (week.overall.done, week.overall.required) == (0, 1)
    assert [c.name for c in week.behind] == ["张三"]


async def test_a_range_in_which_no_period_ends_has_no_rate(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("张三")
    await world.assign(chief, reach, "2025-01-01")
    await world.patrol(chief, reach, "2025-03-05 09:00")
    # Tuesday Mar 4 … Saturday Mar 8: no week ends inside, so nothing is required: "—", not 0 % or 100 %.
    tally = await tallies.patrol_rate(d("2025-03-04"), d("2025-03-08"))
    assert tally.overall == Rate(0, 0, 0)
    assert tally.overall.value is None and percent(tally.overall) == "—"
    assert [(a.code, a.rate, a.rank) for a in tally.areas] == [("QT", Rate(0, 0, 0), None)]
    assert [c.rate.value for c in tally.chiefs] == [None] and tally.behind == []
    # A person with no assignment at all: nothing required either.
    stranger = await world.person("李四")
    alone = await tallies.patrol_rate(d("2025-03-01"), d("2025-03-31"), person_id=stranger)
    assert alone.overall.value is None and alone.chiefs == []


# -- hand-overs in the middle of a period ----------------------------------------------------------------------


async def test_whoever_holds_the_reach_when_the_period_ends_answers_for_it(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    before = await world.person("老王")
    after = await world.person("小李")
    await world.assign(before, reach, "2025-02-01", "2025-03-05")  # ends Wednesday of week Mar 3–9
    await world.assign(after, reach, "2025-03-06")  # starts Thursday of that week
    await world.patrol(before, reach, "2025-02-26 10:00")  # week Feb 24–Mar 2
    await world.patrol(before, reach, "2025-03-04 10:00")  # week Mar 3–9, but he is gone by Sunday
    await world.patrol(after, reach, "2025-03-05 10:00")  # before his start, inside the week he answers for
    await world.patrol(after, reach, "2025-03-08 10:00")  # a second in the same week: requirement is 1
    await world.patrol(after, reach, "2025-03-12 10:00", valid=False)  # week Mar 10–16: invalid, not counted
    await world.patrol(after, reach, "2025-03-13 10:00", finished=False)  # still open: not counted
    tally = await tallies.patrol_rate(d("2025-02-24"), d("2025-03-16"))
    chiefs = {c.name: c.rate for c in tally.chiefs}
    # 老王: week Feb 24–Mar 2 (active on Mar 2): 1 of 1. Week Mar 3–9: not active on Mar 9, not his.
    assert chiefs["老王"] == Rate(1, 1, 1)
    # 小李: week Mar 3–9 (active on Mar 9): patrols Mar 5 and Mar 8 → min(2, 1) = 1; week Mar 10–16: the invalid
    # and the open patrol count nothing → 0. Done 1 of 2: the extra patrol does not make up for the next week.
    assert chiefs["小李"] == Rate(1, 2, 2)
    # The reach and the area: 1 + 1 = 2 of 1 + 2 = 3.
    assert [(r.code, r.rate) for r in tally.reaches] == [("XM", Rate(2, 3, 3))]
    assert tally.overall == Rate(2, 3, 3) and tally.areas[0].rate == Rate(2, 3, 3)
    assert [(c.name, c.rate.short) for c in tally.behind] == [("小李", 1)]
    assigned = {a.person_name: a.patrols for a in tally.assignments}
    assert assigned == {"老王": 1, "小李": 2}  # valid patrols in the periods answered for, not capped


async def test_an_assignment_that_began_and_ended_inside_one_period_answers_for_nothing(
    world: World, tallies: TallyService
) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("王五")
    await world.assign(chief, reach, "2025-03-04", "2025-03-06")
    await world.patrol(chief, reach, "2025-03-05 10:00")
    tally = await tallies.patrol_rate(d("2025-03-01"), d("2025-03-31"))
    # Active Mar 4–6, and no week ends then (Mar 2, 9, 16, 23, 30 are Sundays): nothing required.
    assert tally.overall == Rate(0, 0, 0)


# -- 旬, months, quarters -------------------------------------------------------------------------------------


async def test_xun_ends_in_leap_february_and_a_31_day_month(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    reach = await world.reach("DBH", area, "town")
    chief = await world.person("赵六", level="town")
    await world.assign(chief, reach, "2024-01-01", level="town")  # town: 1/xun
    await world.patrol(chief, reach, "2024-02-05 10:00")  # Feb 1–10
    await world.patrol(chief, reach, "2024-02-29 23:50")  # Feb 21–29, the leap day (15:50 UTC)
    await world.patrol(chief, reach, "2024-03-01 00:05")  # Mar 1–10 (Feb 29 16:05 UTC), not February's
    await world.patrol(chief, reach, "2024-03-15 10:00", valid=False)  # Mar 11–20: invalid
    await world.patrol(chief, reach, "2024-03-31 23:59")  # Mar 21–31, an 11-day xun
    # Xun ending Feb 1 … Mar 31: Feb 10 ✓, Feb 20 ✗, Feb 29 ✓, Mar 10 ✓, Mar 20 ✗, Mar 31 ✓ → 4 of 6.
    assert (await tallies.patrol_rate(d("2024-02-01"), d("2024-03-31"))).overall == Rate(4, 6, 6)
    # Feb 21 … Feb 28: the third xun of a leap February ends on the 29th, outside → nothing required.
    assert (await tallies.patrol_rate(d("2024-02-21"), d("2024-02-28"))).overall == Rate(0, 0, 0)
    # The 29th alone: xun Feb 21–29 ends on it → 1 of 1.
    assert (await tallies.patrol_rate(d("2024-02-29"), d("2024-02-29"))).overall == Rate(1, 1, 1)


async def test_xun_and_month_end_on_the_28th_of_a_common_february(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    town_reach = await world.reach("DBH", area, "town")
    county_reach = await world.reach("TYH", area, "county")
    town = await world.person("赵六", level="town")
    county = await world.person("钱七", level="county")
    await world.assign(town, town_reach, "2025-01-01", level="town")  # 1/xun
    await world.assign(county, county_reach, "2025-01-01", level="county")  # 1/month
    await world.patrol(town, town_reach, "2025-02-28 23:50")  # xun Feb 21–28
    await world.patrol(county, county_reach, "2025-03-01 00:01")  # Feb 28 16:01 UTC, but March locally
    tally = await tallies.patrol_rate(d("2025-02-28"), d("2025-02-28"))
    # The 28th ends xun Feb 21–28 (town: 1 of 1) and February (county: the patrol was in March → 0 of 1).
    assert {c.name: c.rate for c in tally.chiefs} == {"赵六": Rate(1, 1, 1), "钱七": Rate(0, 1, 1)}
    assert tally.overall == Rate(1, 2, 2)


async def test_months_of_30_and_31_days(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    reach = await world.reach("TYH", area, "county")
    chief = await world.person("钱七", level="county")
    await world.assign(chief, reach, "2024-01-01", level="county")  # 1/month
    await world.patrol(chief, reach, "2024-01-31 23:30")  # January (31 days), 15:30 UTC
    await world.patrol(chief, reach, "2024-02-29 23:50")  # February (29 days), 15:50 UTC
    await world.patrol(chief, reach, "2024-04-30 16:30")  # April (30 days) … local 16:30 is 08:30 UTC
    await world.patrol(chief, reach, "2024-06-01 00:30")  # May 31 16:30 UTC, but June locally
    # Months ending Jan … Jun: Jan ✓, Feb ✓, Mar ✗, Apr ✓, May ✗ (its only patrol is June's), Jun ✓ → 4 of 6.
    assert (await tallies.patrol_rate(d("2024-01-01"), d("2024-06-30"))).overall == Rate(4, 6, 6)
    # April 30 alone ends April: 1 of 1; May 31 alone ends May: 0 of 1.
    assert (await tallies.patrol_rate(d("2024-04-30"), d("2024-04-30"))).overall == Rate(1, 1, 1)
    assert (await tallies.patrol_rate(d("2024-05-31"), d("2024-05-31"))).overall == Rate(0, 1, 1)


async def test_quarters_with_an_assignment_of_its_own_rule(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    reach = await world.reach("CJ", area, "city")
    chief = await world.person("孙八", level="city")
    await world.assign(chief, reach, "2024-01-01", level="city", rule=PatrolRule(2, "quarter"))  # city is 1/month
    for day in ("2024-01-10", "2024-02-10", "2024-03-31"):  # Q1: three
        await world.patrol(chief, reach, f"{day} 10:00")
    await world.patrol(chief, reach, "2024-06-30 23:00")  # Q2: one (15:00 UTC)
    await world.patrol(chief, reach, "2024-07-01 00:30")  # Q3 locally (Jun 30 16:30 UTC)
    # Quarters ending Jan 1 … Jun 30: Q1 min(3, 2) = 2, Q2 min(1, 2) = 1 → 3 of 4. The rule is the assignment's:
    # by level (1/month) it would have been six months.
    tally = await tallies.patrol_rate(d("2024-01-01"), d("2024-06-30"))
    assert tally.overall == Rate(3, 4, 2)
    # Jan 1 … Mar 30: Q1 ends on the 31st, outside → nothing required.
    assert (await tallies.patrol_rate(d("2024-01-01"), d("2024-03-30"))).overall == Rate(0, 0, 0)
    # Q3 alone: the Jul 1 patrol → 1 of 2.
    assert (await tallies.patrol_rate(d("2024-07-01"), d("2024-09-30"))).overall == Rate(1, 2, 1)


async def test_adjacent_ranges_count_every_period_exactly_once(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    levels = {"village": "XM", "town": "DBH", "county": "TYH", "city": "CJ"}
    for index, (level, code) in enumerate(levels.items()):
        reach = await world.reach(code, area, level)
        chief = await world.person(f"河长{index}", level=level)
        await world.assign(chief, reach, "2024-01-15", "2024-11-20", level=level)
        for day in range(0, 330, 4 + index):  # patrols every few days, some on period edges
            await world.patrol(chief, reach, f"{date(2024, 1, 1) + timedelta(days=day)} 23:{50 - index}")
    whole_range = (await tallies.patrol_rate(d("2024-01-01"), d("2024-12-31"))).overall
    assert whole_range.required > 0
    for split in ("2024-01-31", "2024-02-10", "2024-02-28", "2024-02-29", "2024-03-31", "2024-06-30", "2024-11-17"):
        left = (await tallies.patrol_rate(d("2024-01-01"), d(split))).overall
        right = (await tallies.patrol_rate(d(split) + timedelta(days=1), d("2024-12-31"))).overall
        assert left + right == whole_range, split


async def test_area_rate_sums_its_reaches_and_ranks_only_big_enough_areas(world: World, tallies: TallyService) -> None:
    big, small, empty = await world.area("A1"), await world.area("A2"), await world.area("A3")
    for area, name in ((big, "大"), (small, "小")):
        reach = await world.reach(f"R{area}", area)
        chief = await world.person(name)
        await world.assign(chief, reach, "2025-01-01")
        await world.patrol(chief, reach, "2025-03-05 10:00")
    # Extra reach in A1 with a second chief who never patrols.
    idle = await world.person("闲")
    await world.assign(idle, await world.reach("R9", big), "2025-01-01")
    march = await tallies.patrol_rate(d("2025-03-01"), d("2025-03-31"))  # weeks ending Mar 2, 9, 16, 23, 30
    rows = {a.code: (a.rate, a.rank) for a in march.areas}
    # A1: 2 chiefs × 5 weeks = 10 required, 1 done → 10 % from 10 periods: ranked 1 (the only one big enough).
    # A2: 1 of 5 required: 5 periods = MIN_RANKED, ranked; 20 % beats A1's 10 %.
    assert rows["A1"] == (Rate(1, 10, 10), 2) and rows["A2"] == (Rate(1, 5, 5), 1)
    assert rows["A3"] == (Rate(0, 0, 0), None)
    only_a2 = await tallies.patrol_rate(d("2025-03-01"), d("2025-03-31"), area_id=small)
    assert [a.code for a in only_a2.areas] == ["A2"] and only_a2.overall == Rate(1, 5, 5)
    # Two weeks only: 4 periods in A1, 2 in A2: too few to rank either.
    fortnight = await tallies.patrol_rate(d("2025-03-03"), d("2025-03-16"))
    assert [a.rank for a in fortnight.areas] == [None, None, None]
    assert empty


async def test_current_period_progress_agrees_with_the_patrol_service(
    world: World, tallies: TallyService, store: Store, settings: Settings
) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("张三")
    await world.assign(chief, reach, "2025-03-01")
    await world.patrol(chief, reach, "2025-03-10 09:00")
    await world.patrol(chief, reach, "2025-03-11 09:00")
    await world.patrol(chief, reach, "2025-03-09 23:00")  # last week
    [progress] = await tallies.progress(d("2025-03-12"))
    # Week Mar 10–16 on Wednesday the 12th: 2 valid patrols (not capped), 1 required, 16 − 12 + 1 = 5 days left.
    assert (progress.done, progress.required, progress.days_left, progress.short) == (2, 1, 5, False)
    assert (progress.period.start, progress.period.end) == (d("2025-03-10"), d("2025-03-16"))
    [theirs] = await PatrolService(store, settings).progress(chief, d("2025-03-12"))
    assert (theirs.done, theirs.required, theirs.days_left, theirs.period) == (
        progress.done,
        progress.required,
        progress.days_left,
        progress.period,
    )


# -- problems -------------------------------------------------------------------------------------------------


async def _march_problems(world: World) -> dict[str, int]:
    qt, cd = await world.area("QT"), await world.area("CD", "城东街道", "Chengdong")
    qt_reach, cd_reach = await world.reach("XM", qt), await world.reach("LG", cd)
    chief = await world.person("张三")
    volunteer = await world.person("志愿者", role="volunteer", level=None)
    ids = {
        # closed on its deadline day, 23:00 local (15:00 UTC): on time; 13.0 days after it was reported
        "p1": await world.problem(chief, qt_reach, category="dumping", reported="2025-02-20 23:00",
                                  deadline="2025-03-05", closed="2025-03-05 23:00"),
        # closed at 00:30 on the 10th locally (still the 9th in UTC), deadline the 9th: late; 7.5 days
        "p2": await world.problem(chief, qt_reach, category="dumping", reported="2025-03-02 12:30",
                                  deadline="2025-03-09", closed="2025-03-10 00:30"),
        # in CD, open, deadline Mar 17: overdue at the end of March
        "p3": await world.problem(chief, cd_reach, reported="2025-03-10 09:00", deadline="2025-03-17"),
        # open, deadline Apr 1: neither due in March nor overdue
        "p4": await world.problem(volunteer, qt_reach, reported="2025-03-25 09:00", deadline="2025-04-01"),
        # open, deadline Mar 31 = the last day: due, but not overdue (due by the end of that day)
        "p5": await world.problem(chief, qt_reach, category="outfall", reported="2025-03-28 09:00",
                                  deadline="2025-03-31"),
        # dismissed: new, but neither due nor open
        "p6": await world.problem(chief, qt_reach, category="other", reported="2025-03-03 09:00",
                                  deadline="2025-03-10", dismissed="2025-03-04 09:00"),
        # in CD, reported in February, closed in April: open and overdue at the end of March
        "p7": await world.problem(chief, cd_reach, category="occupation", reported="2025-02-01 09:00",
                                  deadline="2025-02-08", closed="2025-04-02 09:00"),
        # closed in March, reopened in April (fresh deadline Apr 10): closed at the end of March by the event log,
        # yet not "closed in March" any more (it was not put right); not due in March (its deadline is now April's)
        "p8": await world.problem(chief, qt_reach, category="occupation", reported="2025-02-10 09:00",
                                  deadline="2025-02-17", closed="2025-03-20 09:00",
                                  reopened=("2025-04-03 09:00", "2025-04-10")),
        # reported 23:30 on Mar 31 local (15:30 UTC): new in March and open, no deadline yet
        "p9": await world.problem(volunteer, qt_reach, reported="2025-03-31 23:30"),
        # reported 00:10 on Apr 1 local (Mar 31 16:10 UTC): not March's
        "p10": await world.problem(chief, qt_reach, reported="2025-04-01 00:10"),
        # deadline Mar 3, closed in February before it: due in March and on time, though closed before March
        "p11": await world.problem(chief, qt_reach, category="dumping", reported="2025-02-25 09:00",
                                   deadline="2025-03-03", closed="2025-02-27 09:00"),
    }  # fmt: skip
    await world.patrol(volunteer, qt_reach, "2025-03-06 09:00")
    await world.patrol(volunteer, cd_reach, "2025-03-07 09:00", valid=False)
    await world.patrol(volunteer, qt_reach, "2025-02-07 09:00")  # February: not counted
    await world.person("没来过的志愿者", role="volunteer", level=None)
    return ids


async def test_problem_figures_for_march(world: World, tallies: TallyService) -> None:
    await _march_problems(world)
    tally = await tallies.problems(d("2025-03-01"), d("2025-03-31"))
    # new: p2 p3 p4 p5 p6 p9 = 6 (p1 p7 p8 p11 reported in February, p10 in April)
    # closed: p1 (Mar 5), p2 (Mar 10 local) = 2 (p8 reopened since; p11 closed in February; p7 in April)
    # dismissed: p6 = 1
    # open at the end: p3 p4 p5 p7 p9 = 5 (p8 was closed then; p10 not yet reported)
    # overdue: p3 (Mar 17), p7 (Feb 8) = 2; p5's deadline is the last day itself
    # due (deadline in March, not dismissed): p1 (Mar 5), p2 (Mar 9), p3 (Mar 17), p5 (Mar 31), p11 (Mar 3) = 5
    # closed on time: p1, p11 = 2 → 整改率 2 / 5 = 40.0 %
    assert tally.overall == ProblemFigures(new=6, closed=2, dismissed=1, open=5, overdue=2, due=5, closed_on_time=2)
    assert percent(tally.overall.rectification) == "40.0%"
    # median days to close of p1 (13.0) and p2 (7.5) = 10.25
    assert tally.median_days_to_close == pytest.approx(10.25)
    areas = {a.code: a.figures for a in tally.areas}
    # CD: p3 (new, open, overdue, due), p7 (open, overdue)
    assert areas["CD"] == ProblemFigures(new=1, open=2, overdue=2, due=1)
    # QT: new p2 p4 p5 p6 p9; closed p1 p2; dismissed p6; open p4 p5 p9; due p1 p2 p5 p11; on time p1 p11
    assert areas["QT"] == ProblemFigures(new=5, closed=2, dismissed=1, open=3, due=4, closed_on_time=2)
    assert [a.rank for a in tally.areas] == [None, None]  # 1 and 4 due problems: too few to rank
    categories = tally.categories
    assert categories["dumping"] == ProblemFigures(new=1, closed=2, due=3, closed_on_time=2)  # p1 p2 p11
    assert categories["garbage"] == ProblemFigures(new=3, open=3, overdue=1, due=1)  # p3 p4 p9
    assert categories["outfall"] == ProblemFigures(new=1, open=1, due=1)  # p5
    assert categories["other"] == ProblemFigures(new=1, dismissed=1)  # p6
    assert categories["occupation"] == ProblemFigures(open=1, overdue=1)  # p7 (p8 closed at the end)
    assert categories["fishing"] == ProblemFigures()
    only_cd = await tallies.problems(d("2025-03-01"), d("2025-03-31"), area_id=await _area_id(world, "CD"))
    assert only_cd.overall == areas["CD"] and only_cd.median_days_to_close is None


async def _area_id(world: World, code: str) -> int:
    area = await world.store.areas.by_code(code)
    assert area is not None
    return area.id


async def test_open_at_the_end_of_an_earlier_range_is_read_from_the_event_log(
    world: World, tallies: TallyService
) -> None:
    ids = await _march_problems(world)
    # End of March 19 (before p8 was closed on the 20th): p8 was open then, overdue since Feb 17, though its row
    # now says assigned with an April deadline.
    tally = await tallies.problems(d("2025-03-19"), d("2025-03-19"))
    # Open at the end of Mar 19: p2? closed Mar 10 → no. p1 closed Mar 5 → no. p3 (deadline 17: overdue), p7 (overdue),
    # p8 (deadline Feb 17 then: overdue) → 3 open, 3 overdue. p4 p5 p9 not yet reported; p6 dismissed.
    assert (tally.overall.open, tally.overall.overdue) == (3, 3)
    # End of Feb 28: p1 (deadline Mar 5), p7 (overdue since Feb 8), p8 (overdue since Feb 17) open; p11 closed.
    february = await tallies.problems(d("2025-02-01"), d("2025-02-28"))
    assert (february.overall.open, february.overall.overdue) == (3, 2)
    assert ids


async def test_problems_without_any_event_count_by_their_rows(world: World, tallies: TallyService) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("张三")
    # Loaded from elsewhere without a log: reported in February, closed in April → open at the end of March.
    await world.problem(chief, reach, reported="2025-02-01 09:00", deadline="2025-02-08", closed="2025-04-02 09:00",
                        log=False)  # fmt: skip
    # Closed in March: closed, not open.
    await world.problem(chief, reach, reported="2025-02-01 09:00", deadline="2025-03-08", closed="2025-03-02 09:00",
                        log=False)  # fmt: skip
    tally = await tallies.problems(d("2025-03-01"), d("2025-03-31"))
    assert tally.overall == ProblemFigures(closed=1, open=1, overdue=1, due=1, closed_on_time=1)


async def test_median_of_an_odd_count_and_no_rectification_rate_without_due_problems(
    world: World, tallies: TallyService
) -> None:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("张三")
    # Closed in May after 1, 10 and 2.5 days; their deadlines are in April.
    for reported, closed in (("2025-04-30 09:00", "2025-05-01 09:00"), ("2025-04-25 09:00", "2025-05-05 09:00"),
                             ("2025-04-29 21:00", "2025-05-02 09:00")):  # fmt: skip
        await world.problem(chief, reach, reported=reported, deadline="2025-04-30", closed=closed)
    may = await tallies.problems(d("2025-05-01"), d("2025-05-31"))
    # Durations 1.0, 2.5, 10.0 → median 2.5. Nothing fell due in May: 整改率 "—", not 0 % or 100 %.
    assert may.median_days_to_close == pytest.approx(2.5)
    assert (may.overall.closed, may.overall.due) == (3, 0)
    assert may.overall.rectification.value is None and percent(may.overall.rectification) == "—"
    # April: three due (Apr 30), all closed late → 0 of 3 = 0.0 %.
    april = await tallies.problems(d("2025-04-01"), d("2025-04-30"))
    assert (april.overall.due, april.overall.closed_on_time, april.overall.open, april.overall.overdue) == (3, 0, 3, 0)
    assert percent(april.overall.rectification) == "0.0%"


async def test_rectification_adds_up_over_adjacent_ranges(world: World, tallies: TallyService) -> None:
    await _march_problems(world)
    whole = (await tallies.problems(d("2025-02-01"), d("2025-04-30"))).overall
    parts = [
        (await tallies.problems(d(first), d(last))).overall
        for first, last in (("2025-02-01", "2025-03-04"), ("2025-03-05", "2025-03-09"), ("2025-03-10", "2025-04-30"))
    ]
    assert (sum(p.due for p in parts), sum(p.closed_on_time for p in parts)) == (whole.due, whole.closed_on_time)
    assert (sum(p.new for p in parts), sum(p.closed for p in parts)) == (whole.new, whole.closed)
    # Feb 1 … Apr 30: due p1 p2 p3 p5 p7 (Feb 8) p11 and p8 (Apr 10 now) p4 (Apr 1) = 8; on time p1 p11 = 2.
    assert (whole.due, whole.closed_on_time) == (8, 2)


async def test_volunteer_activity(world: World, tallies: TallyService) -> None:
    await _march_problems(world)
    [volunteer] = await tallies.volunteers(d("2025-03-01"), d("2025-03-31"))
    # Patrols Mar 6 (valid) and Mar 7 (invalid); reports p4 and p9. The one who never came is not listed.
    assert (volunteer.name, volunteer.patrols, volunteer.valid_patrols, volunteer.reports) == ("志愿者", 2, 1, 2)
    only_cd = await tallies.volunteers(d("2025-03-01"), d("2025-03-31"), area_id=await _area_id(world, "CD"))
    assert [(v.patrols, v.valid_patrols, v.reports) for v in only_cd] == [(1, 0, 0)]


# -- the command line's output ------------------------------------------------------------------------------


def test_dates_on_the_command_line_are_written_in_full() -> None:
    assert parse_day(" 2025-03-01 ") == d("2025-03-01")
    assert [parse_day(t) for t in ("2025-3-1", "20250301", "2025-W10-1", "2025-02-30", "")] == [None] * 5


def test_display_width_counts_chinese_as_two_columns() -> None:
    assert display_width("QT") == 2
    assert display_width("曲塘镇") == 6
    assert display_width("ＡＢ") == 4  # full-width
    lines = aligned(["片区", "名称", "实巡"], [["QT", "曲塘镇", "3"], ["CD", "Chengdong", "12"]], [False, False, True])
    # Every line's "done" column ends at the same display column.
    assert len({display_width(line) for line in lines}) == 1
    assert lines[1] == "QT    曲塘镇        3"


async def test_report_formats(world: World, tallies: TallyService) -> None:
    await _march_problems(world)
    stats = await tallies.stats(d("2025-03-01"), d("2025-03-31"))
    report = StatsReport(stats, Locales.load(), "zh")
    table = report.table()
    assert "巡河率" in table and "整改率" in table and "40.0%" in table
    # `riverbot stats` writes the table a few lines at a time: the same text, never held whole.
    chunks = list(report.table_chunks(lines=3))
    assert "".join(chunks) == table and len(chunks) == -(-table.count("\n") // 3)
    assert all(chunk.endswith("\n") and chunk.count("\n") <= 3 for chunk in chunks)
    data = report.as_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    header = data.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("统计范围,编码,名称")


async def test_overdue_lists_of_every_area_at_once_are_each_areas_oldest(world: World) -> None:
    ids = await _march_problems(world)
    summaries = world.store.summaries
    lists = await summaries.overdue_by_area(d("2025-04-30"), limit=2)
    # Open now with a deadline before Apr 30. QT: p5 (Mar 31), p4 (Apr 1), p8 (reopened, Apr 10): 3, the two oldest
    # listed. CD: p3 (Mar 17); p7 is closed now. p9 and p10 have no deadline, so are never overdue.
    qt, cd = await _area_id(world, "QT"), await _area_id(world, "CD")
    assert {area: ([p.id for p in listed], total) for area, (listed, total) in lists.items()} == {
        qt: ([ids["p5"], ids["p4"]], 3),
        cd: ([ids["p3"]], 1),
    }
    for area in (qt, cd):
        assert lists[area] == await summaries.overdue(area, d("2025-04-30"), limit=2)
    assert await summaries.overdue_by_area(d("2025-03-17"), limit=2) == {}  # p3's deadline is not before itself
