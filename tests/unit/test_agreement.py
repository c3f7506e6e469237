"""Stats, the weekly summary and the exports agree on the same data (issue 6, "Done when").

One small demo history (the sample county, fixed seed and `now`) is generated once for the module; each test
opens it. The weekly summary of every area for a few weeks must give the same figures as `riverbot stats` does
for the whole city; the export's patrol-rate table must be the stats' table row for row; the patrols exported
for a range must be exactly the finished patrols started in it, counted straight from the store; and every
problem stats counts as new in a range must be in that range's export.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.demo import generate
from bot.exports import export
from bot.i18n import Locales
from bot.summaries import SummaryService, Week, summary_text, week_of
from bot.tallies import Stats, TallyService, day_start
from storage import Store
from storage.store import to_db_time

LOCALES = Locales.load()
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
# The last complete week before NOW, one a month earlier, and one whose problems have long settled.
WEEKS = (week_of(date(2026, 11, 12)), week_of(date(2026, 10, 14)), week_of(date(2025, 6, 18)))
# Export ranges: a week, a month, and a quarter.
RANGES = (
    (WEEKS[0].first, WEEKS[0].last),
    (date(2026, 10, 1), date(2026, 10, 31)),
    (date(2025, 4, 1), date(2025, 6, 30)),
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("agreement") / "data"
    data_dir.mkdir(parents=True)
    settings = load_settings(env_file=None, data_dir=data_dir)

    async def fill() -> None:
        async with await Store.open(settings.database) as store:
            await generate(store, settings, scale="small", seed=11, now=NOW)

    asyncio.run(fill())
    return settings


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


def _bounds(settings: Settings, first: date, last: date) -> tuple[str, str]:
    return to_db_time(day_start(first, settings.tz)), to_db_time(day_start(last + timedelta(days=1), settings.tz))


@pytest.mark.parametrize("week", WEEKS, ids=str)
async def test_weekly_summary_agrees_with_stats(store: Store, settings: Settings, week: Week) -> None:
    stats = await TallyService(store, settings).stats(week.first, week.last)  # the whole city, as `riverbot stats`
    patrols = {a.area_id: a.rate for a in stats.patrols.areas}
    problems = {a.area_id: a.figures for a in stats.problems.areas}
    service = SummaryService(store, settings)
    areas = await store.areas.all()
    assert len(areas) == 5
    seen_required = seen_new = 0
    for area in areas:
        summary = await service.area_summary(area, week)
        rate, figures = summary.patrols.overall, summary.problems.overall
        assert (rate.done, rate.required) == (patrols[area.id].done, patrols[area.id].required), area.code
        assert (figures.new, figures.closed, figures.overdue) == (
            problems[area.id].new,
            problems[area.id].closed,
            problems[area.id].overdue,
        ), area.code
        # The reaches and chiefs of the summary are the stats' own for this area.
        reach_codes = {r.code for r in stats.patrols.reaches if r.area_code == area.code}
        assert {r.code for r in summary.patrols.reaches} == reach_codes
        # And the text says those numbers.
        text = summary_text(summary, LOCALES, "zh")
        assert f"实巡 {rate.done} / 应巡 {rate.required}" in text
        assert f"新增问题 {figures.new} 个，已销号 {figures.closed} 个，逾期 {figures.overdue} 个" in text
        seen_required += rate.required
        seen_new += figures.new
    # The areas' figures add up to the city's (every reach is in one area), and the week is not empty.
    assert seen_required == stats.patrols.overall.required > 0
    assert seen_new == stats.problems.overall.new


async def _csv_export(
    store: Store, settings: Settings, first: date, last: date, out: Path
) -> dict[str, list[list[str]]]:
    await export(store, settings, LOCALES, language="en", fmt="csv", first=first, last=last, out=out)
    tables = {}
    for name in ("patrols", "problems", "patrol_rate"):
        text = (out / f"{name}.csv").read_text(encoding="utf-8-sig")
        tables[name] = list(csv.reader(io.StringIO(text)))[1:]  # without the header
    return tables


def _rate_rows(stats: Stats) -> list[list[str]]:
    """(code, area, done, required) per row of the stats' patrol-rate table, areas, reaches, then chiefs."""
    p = stats.patrols
    return (
        [[a.code, a.code, str(a.rate.done), str(a.rate.required)] for a in p.areas]
        + [[r.code, r.area_code, str(r.rate.done), str(r.rate.required)] for r in p.reaches]
        + [[",".join(c.reach_codes), ",".join(c.area_codes), str(c.rate.done), str(c.rate.required)] for c in p.chiefs]
    )


@pytest.mark.parametrize("first,last", RANGES, ids=lambda d: d.isoformat())
async def test_export_agrees_with_stats_and_the_store(
    store: Store, settings: Settings, tmp_path: Path, first: date, last: date
) -> None:
    stats = await TallyService(store, settings).stats(first, last)
    tables = await _csv_export(store, settings, first, last, tmp_path / "out")

    # The patrol-rate table: the same rows, same order, same done and required.
    exported = [[row[1], row[3], row[4], row[5]] for row in tables["patrol_rate"]]
    assert exported == _rate_rows(stats)
    assert len(stats.patrols.chiefs) > 0 and stats.patrols.overall.required > 0
    chief_names = [row[2] for row in tables["patrol_rate"][-len(stats.patrols.chiefs) :]]
    assert chief_names == [c.name for c in stats.patrols.chiefs]

    # Patrols: exactly the finished patrols started in the range (local days), counted in the store.
    start, end = _bounds(settings, first, last)
    finished = await store.fetchall(
        "SELECT id FROM patrols WHERE status = 'finished' AND started_at >= ? AND started_at < ? ORDER BY id",
        (start, end),
    )
    assert [int(row[0]) for row in tables["patrols"]] == [int(row[0]) for row in finished]
    assert len(finished) > 0

    # Problems: every one stats counts as new is exported, and stats counts every one reported in the range.
    new = {
        int(row[0])
        for row in await store.fetchall(
            "SELECT id FROM problems WHERE reported_at >= ? AND reported_at < ?", (start, end)
        )
    }
    assert len(new) == stats.problems.overall.new
    exported_problems = {int(row[0]) for row in tables["problems"]}
    assert new <= exported_problems
    assert len(exported_problems) == len(tables["problems"])  # each once


@pytest.mark.parametrize("week", WEEKS, ids=str)
async def test_all_areas_at_once_equal_each_area_alone(store: Store, settings: Settings, week: Week) -> None:
    """The weekly job composes every area from one query per figure; people must read exactly the same."""
    from bot.summaries import chart_jpeg

    service = SummaryService(store, settings)
    locales = Locales.load()
    together = await service.week_summaries(week)
    for area in await store.areas.all():
        alone = await service.area_summary(area, week)
        for language in ("zh", "en"):
            assert summary_text(together[area.id], locales, language) == summary_text(alone, locales, language)
        assert chart_jpeg(together[area.id], locales, "zh") == chart_jpeg(alone, locales, "zh")
        assert together[area.id].problems.median_days_to_close == alone.problems.median_days_to_close
        assert together[area.id].patrols.chiefs == alone.patrols.chiefs
        assert together[area.id].patrols.reaches == alone.patrols.reaches
        assert together[area.id].volunteers == alone.volunteers
        assert (together[area.id].overdue, together[area.id].overdue_total) == (alone.overdue, alone.overdue_total)
        assert together[area.id].previous == alone.previous


async def test_the_weeks_exercise_every_batched_figure(store: Store, settings: Settings) -> None:
    """The comparison above can only fail where the data has something to compare."""
    service = SummaryService(store, settings)
    weeks = [await service.week_summaries(week) for week in WEEKS]
    summaries = [s for week in weeks for s in week.values()]
    assert any(s.volunteers for s in summaries)
    assert any(s.overdue for s in summaries)
    assert any(s.problems.median_days_to_close is not None for s in summaries)
    assert any(s.previous.required for s in summaries)
    # The batched overdue lists equal each area's own (cut short: tests/unit/test_tallies.py). Against a far day
    # every open problem with a deadline counts.
    areas = await store.areas.all()
    for day in [week.last for week in WEEKS] + [date(2030, 1, 1)]:
        lists = await store.summaries.overdue_by_area(day, limit=2)
        for area in areas:
            assert lists.get(area.id, ([], 0)) == await store.summaries.overdue(area.id, day, limit=2)
    assert lists


@pytest.mark.parametrize("counted", [True, False], ids=["assistants_count", "assistants_not_counted"])
async def test_assistants_patrols_agree_across_stats_summary_and_export(
    settings: Settings, tmp_path: Path, counted: bool
) -> None:
    """Some valid patrols of one chief were walked by an assistant (河长助理 代巡). Whether they count
    (ASSISTANT_PATROLS_COUNT) or not, stats, the weekly summary and the export give the same figures, and the
    summary and the export name the assistant."""
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(settings.data_dir, data_dir)
    mine = load_settings(env_file=None, data_dir=data_dir, assistant_patrols_count=counted)
    week = WEEKS[0]
    start, end = _bounds(mine, week.first, week.last)
    async with await Store.open(mine.database_path) as store:
        # The chief of the most valid patrols that week, and a volunteer as their assistant.
        row = await store.fetchone(
            "SELECT person_id, count(*) FROM patrols WHERE status = 'finished' AND valid = 1"
            " AND started_at >= ? AND started_at < ? GROUP BY person_id ORDER BY 2 DESC, 1 LIMIT 1",
            (start, end),
        )
        assert row is not None and row[1] >= 1
        chief_id = int(row[0])
        helper = await store.fetchone(
            "SELECT p.id, p.name FROM people p JOIN person_roles r ON r.person_id = p.id AND r.role = 'volunteer'"
            " ORDER BY p.id LIMIT 1"
        )
        assert helper is not None
        before = await TallyService(store, mine).stats(week.first, week.last)
        before_rate = next(c.rate for c in before.patrols.chiefs if c.person_id == chief_id)
        await store.assistants.add(chief_id, int(helper[0]), by=None)
        walked = await store.execute(
            "UPDATE patrols SET walked_by = ? WHERE person_id = ? AND status = 'finished' AND valid = 1"
            " AND started_at >= ? AND started_at < ?",
            (int(helper[0]), chief_id, start, end),
        )
        assert walked == row[1]

        stats = await TallyService(store, mine).stats(week.first, week.last)
        chief_rate = next(c.rate for c in stats.patrols.chiefs if c.person_id == chief_id)
        # Counted: the chief's rate is exactly what it was when the chief walked them himself; not counted:
        # those patrols are gone from it (each fills at most one required patrol of its period).
        if counted:
            assert chief_rate == before_rate
        else:
            assert chief_rate.done < before_rate.done and chief_rate.required == before_rate.required

        # The summary of each area agrees with stats, and the chief's area names the assistant.
        service = SummaryService(store, mine)
        patrols = {a.area_id: a.rate for a in stats.patrols.areas}
        named = False
        for area in await store.areas.all():
            summary = await service.area_summary(area, week)
            rate = summary.patrols.overall
            assert (rate.done, rate.required) == (patrols[area.id].done, patrols[area.id].required), area.code
            text = summary_text(summary, LOCALES, "zh")
            if summary.assisted:
                named = True
                assert f"{helper[1]} 代 " in text and f"巡河 {walked} 次（有效 {walked} 次）" in text
                assert ("（按本地规定，不计入巡河率）" in text) is (not counted)
        assert named

        # The export: its rate table is stats', and each patrol walked by the assistant names them.
        tables = await _csv_export(store, mine, week.first, week.last, tmp_path / "out")
        exported = [[r[1], r[3], r[4], r[5]] for r in tables["patrol_rate"]]
        assert exported == _rate_rows(stats)
        walked_ids = {
            int(r[0]) for r in await store.fetchall("SELECT id FROM patrols WHERE walked_by IS NOT NULL")
        }
        for patrol in tables["patrols"]:
            assert (patrol[-1] == helper[1]) is (int(patrol[0]) in walked_ids)
        assert sum(1 for patrol in tables["patrols"] if patrol[-1] == helper[1]) == walked
