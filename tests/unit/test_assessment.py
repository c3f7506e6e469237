"""The assessment report's rules (bot/assessment.py): its periods, and its figures against the tallies.

The figures must be those of `riverbot stats`: per area exactly the stats' rows, and the finer cuts (per chief,
by who reported) must add up to the unsplit figures, on the demo history of tests/unit/test_agreement.py.
"""

from __future__ import annotations

from dataclasses import astuple
from datetime import date

import pytest

from bot.assessment import (
    AssessmentError,
    AssessmentReport,
    AssessmentService,
    assessment_file,
    parse_period,
    preset,
)
from bot.config import Settings
from bot.i18n import Locales
from bot.tallies import TallyService
from storage import Store
from storage.tallies import SPLITS, ProblemGroup
from tests.unit import test_agreement

settings = test_agreement.settings
store = test_agreement.store
LOCALES = Locales.load()
TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "first", "last", "kind"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30), "month"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
        (" 2026-3 ", date(2026, 3, 1), date(2026, 3, 31), "month"),
        ("2026-Q4", date(2026, 10, 1), TODAY, "quarter"),  # still running: cut at today
        ("2026-q1", date(2026, 1, 1), date(2026, 3, 31), "quarter"),
        ("2026-H1", date(2026, 1, 1), date(2026, 6, 30), "half"),
        ("2025-H2", date(2025, 7, 1), date(2025, 12, 31), "half"),
        ("2025", date(2025, 1, 1), date(2025, 12, 31), "year"),
        ("2026-12", date(2026, 12, 1), TODAY, "month"),
    ],
)
def test_periods_as_typed(text: str, first: date, last: date, kind: str) -> None:
    period = parse_period(text, TODAY)
    assert period is not None
    assert (period.first, period.last, period.kind) == (first, last, kind)
    assert parse_period(period.text, TODAY) == period  # the button's text reads back the same


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026-H3", "2027-01", "1999", "26-11", "", "x"])
def test_bad_periods(text: str) -> None:
    assert parse_period(text, TODAY) is None


def test_presets_and_their_labels() -> None:
    assert preset("last_month", date(2026, 1, 15)).text == "2025-12"
    assert preset("last_quarter", date(2026, 2, 1)).text == "2025-Q4"
    assert preset("this_half", TODAY).text == "2026-H2" and preset("this_half", TODAY).last == TODAY
    assert preset("last_half", date(2026, 3, 1)).text == "2025-H2"
    assert preset("last_year", TODAY).label(LOCALES, "zh") == "2025年度"
    assert preset("last_month", TODAY).label(LOCALES, "zh") == "2026年11月"
    assert preset("last_quarter", TODAY).label(LOCALES, "en") == "Q3 2026"
    assert preset("this_half", TODAY).label(LOCALES, "zh") == "2026年下半年"


def _key(group: ProblemGroup) -> tuple[int, str]:
    return group.area_id, group.category


@pytest.mark.parametrize(("first", "last"), test_agreement.RANGES)
async def test_the_finer_cuts_add_up_to_the_stats_figures(
    store: Store, settings: Settings, first: date, last: date
) -> None:
    tallies = TallyService(store, settings)
    whole = {_key(g): astuple(g)[2:9] for g in await tallies.problem_groups(first, last)}
    assert whole  # the demo history has problems in every range
    for split in SPLITS:
        summed: dict[tuple[int, str], list[int]] = {}
        for g in await tallies.problem_groups(first, last, split=split):
            figures = summed.setdefault(_key(g), [0] * 7)
            for i, value in enumerate(astuple(g)[2:9]):
                figures[i] += value
        assert {k: tuple(v) for k, v in summed.items()} == whole, split


@pytest.mark.parametrize(("first", "last"), test_agreement.RANGES[1:])
async def test_area_rows_are_the_stats_rows(store: Store, settings: Settings, first: date, last: date) -> None:
    config = settings
    period = parse_period(f"{first.year}-{first.month:02d}", TODAY)
    assert period is not None
    stats = await TallyService(store, config).stats(period.first, period.last)
    report = await AssessmentService(store, config).build(period, office="X", language="zh")
    rates = {a.code: a.rate for a in stats.patrols.areas}
    figures = {a.code: a.figures for a in stats.problems.areas}
    assert {a.code: a.rate for a in report.areas} == rates
    assert {a.code: a.problems.figures for a in report.areas} == figures
    assert report.rate == stats.patrols.overall and report.problems.figures == stats.problems.overall
    assert report.categories == stats.problems.categories
    assert sorted((c.person_id, c.rate) for c in report.chiefs) == sorted(
        (c.person_id, c.rate) for c in stats.patrols.chiefs
    )
    assert len(report.overdue) == stats.problems.overall.overdue
    assert all(o.days >= 1 and o.deadline < period.last for o in report.overdue)
    # Every problem found is found by someone: chiefs and volunteers are part of it.
    for area in report.areas:
        found = area.problems
        assert found.found_by_chiefs + found.found_by_volunteers <= found.figures.new
    # Ranked first, best first; the unranked (too few required patrols) last.
    ranks = [a.rank for a in report.areas]
    assert ranks == sorted(ranks, key=lambda r: (r is None, r or 0))
    text = AssessmentReport(report, LOCALES, "zh").rules()[-1]
    assert "少于 5 次" in text and "并列" in text


async def test_a_scope_keeps_its_areas_and_refuses_others(store: Store, settings: Settings) -> None:
    config = settings
    period = parse_period("2026-10", TODAY)
    assert period is not None
    areas = await store.areas.all()
    inside, outside = areas[0], areas[1]
    service = AssessmentService(store, config)
    whole = await service.build(period, office="X", language="zh")
    scoped = await service.build(period, office="X", language="zh", areas=frozenset({inside.id}))
    assert [a.code for a in scoped.areas] == [inside.code]
    [row] = [a for a in whole.areas if a.code == inside.code]
    assert scoped.rate == row.rate and scoped.problems.figures == row.problems.figures
    assert all(inside.code in [code for code, _ in c.areas] for c in scoped.chiefs)
    with pytest.raises(AssessmentError) as error:
        await service.build(period, office="X", language="zh", area_code=outside.code, areas=frozenset({inside.id}))
    assert error.value.key == "unknown_area"


async def test_a_town_office_reports_as_itself_and_says_how_assistants_count(store: Store, settings: Settings) -> None:
    """OFFICE_NAME is the county's: a scoped office's report is titled with its own areas. The rules state
    whether assistants' patrols count, as ASSISTANT_PATROLS_COUNT says."""
    period = parse_period("2026-10", TODAY)
    assert period is not None
    inside = (await store.areas.all())[0]
    report, _ = await assessment_file(
        store, settings, LOCALES, language="zh", period=period, fmt="xlsx", areas=frozenset({inside.id})
    )
    assert report.office == f"{inside.name_zh}河长办"
    counted = AssessmentReport(report, LOCALES, "zh").rules()
    assert any("并计入巡河率" in line for line in counted)
    off = settings.model_copy(update={"assistant_patrols_count": False})
    report, _ = await assessment_file(store, off, LOCALES, language="zh", period=period, fmt="xlsx")
    assert report.office == "河长办"
    assert any("不计入巡河率" in line for line in AssessmentReport(report, LOCALES, "zh").rules())
