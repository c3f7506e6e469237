"""The tallies give the same figures on PostgreSQL as on SQLite, for the same data (issue 17).

The statements behind them differ by engine where PostgreSQL needs its own to stay proportional at province scale
(`storage/tallies.py`: the patrol counts per assignment, the volunteers' patrols, the days to close), so each is
checked here against SQLite's on one small county's history, moved to PostgreSQL whole by `riverbot migrate-data`:
the counts per assignment for a year, a week, one area, the current and the running periods, windows with a gap
between them, without the assistants' patrols; the stats; every area's weekly summary; the volunteers; the
medians. They run whenever RIVERBOT_TEST_POSTGRES names a server, on either engine's run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.config import Settings, load_settings
from bot.demo import generate
from bot.i18n import Locales
from bot.summaries import SummaryService, Week, week_of
from bot.tallies import (
    TallyService,
    current_windows,
    day_start,
    required_windows,
    running_windows,
)
from bot.transfer import migrate_data
from storage import Store
from storage.tallies import Window, julian_day
from tests.postgres import create_database, drop_database, needs_postgres
from tests.unit.test_pg_compat import TIMES

pytestmark = needs_postgres

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)
YEAR = (date(2025, 11, 21), TODAY)
WEEKS = (week_of(date(2026, 11, 12)), week_of(date(2026, 6, 3)))


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path, str]]:
    """(settings, the SQLite file, the PostgreSQL URL): one county's year of history on both engines."""
    data_dir = tmp_path_factory.mktemp("engines") / "data"
    data_dir.mkdir(parents=True)
    settings = load_settings(env_file=None, data_dir=data_dir, database_url=None)

    async def fill() -> str:
        async with await Store.open(settings.database_path) as store:
            await generate(store, settings, scale="small", seed=5, years=1, now=NOW)
        url = await create_database()
        # The move checks the stats on both engines itself (the whole year), before it commits.
        await migrate_data(settings, Locales.load(), source=settings.database_path, target=url, today=TODAY)
        return url

    url = asyncio.run(fill())
    yield settings, settings.database_path, url
    asyncio.run(drop_database(url))


@pytest.fixture
async def stores(engines: tuple[Settings, Path, str]) -> AsyncIterator[tuple[Store, Store]]:
    _, path, url = engines
    async with await Store.open(path) as lite, await Store.open(url) as pg:
        assert (lite.dialect, pg.dialect) == ("sqlite", "postgresql")
        yield lite, pg


@pytest.fixture
def settings(engines: tuple[Settings, Path, str]) -> Settings:
    return engines[0]


def _cases(settings: Settings) -> dict[str, tuple[list[Window], date, date, dict[str, Any]]]:
    tz = settings.tz
    week = WEEKS[0]
    weeks = required_windows(date(2026, 9, 1), date(2026, 10, 31), tz)
    weekly = [w for w in weeks if w.kind == "week"]
    return {
        "year": (required_windows(*YEAR, tz), *YEAR, {}),
        "week": (required_windows(week.first, week.last, tz), week.first, week.last, {}),
        "one area's week": (required_windows(week.first, week.last, tz), week.first, week.last, {"area_id": 2}),
        "current": (current_windows(TODAY, tz), TODAY, TODAY, {}),
        "running": (running_windows(week.last, tz), week.last, week.last, {"windowed_only": True}),
        "without assistants": (required_windows(*YEAR, tz), *YEAR, {"assisted": False}),
        # Every other week: patrols in the weeks between count nowhere.
        "windows with gaps": (weekly[::2], weekly[0].active_on, weekly[-1].active_on, {}),
        "months only": ([w for w in weeks if w.kind == "month"], date(2026, 9, 1), date(2026, 10, 31), {}),
    }


@pytest.mark.parametrize(
    "case",
    [
        "year",
        "week",
        "one area's week",
        "current",
        "running",
        "without assistants",
        "windows with gaps",
        "months only",
    ],
)
async def test_patrol_counts_per_assignment_are_the_same(
    stores: tuple[Store, Store], settings: Settings, case: str
) -> None:
    windows, first, last, options = _cases(settings)[case]
    rules = {level: (rule.count, rule.period) for level, rule in settings.patrol_rules.items()}
    lite, pg = [
        await store.tallies.assignment_counts(windows, rules, active_from=first, active_to=last, **options)
        for store in stores
    ]
    assert lite == pg
    assert sum(c.patrols for c in lite) > 0 and sum(c.periods for c in lite) > 0
    if case == "windows with gaps":  # the gaps did leave patrols out
        every_week = [w for w in required_windows(first, last, settings.tz) if w.kind == "week"]
        whole = await stores[0].tallies.assignment_counts(every_week, rules, active_from=first, active_to=last)
        assert sum(c.patrols for c in whole) > sum(c.patrols for c in lite)


async def test_overlapping_windows_of_one_kind_are_refused(stores: tuple[Store, Store], settings: Settings) -> None:
    """PostgreSQL puts a patrol in one window of a kind at most: windows that overlap would count differently."""
    week = WEEKS[0]
    start = day_start(week.first, settings.tz)
    windows = [
        Window("week", week.last, start, start + timedelta(days=7)),
        Window("week", week.last, start + timedelta(days=3), start + timedelta(days=10)),
    ]
    for store in stores:
        with pytest.raises(ValueError, match="overlap"):
            await store.tallies.assignment_counts(windows, {}, active_from=week.first, active_to=week.last)


@pytest.mark.parametrize("period", [YEAR, (WEEKS[0].first, WEEKS[0].last)], ids=["year", "week"])
async def test_stats_are_the_same(stores: tuple[Store, Store], settings: Settings, period: tuple[date, date]) -> None:
    lite, pg = [await TallyService(store, settings).stats(*period) for store in stores]
    assert lite == pg
    assert lite.volunteers and lite.problems.median_days_to_close is not None


@pytest.mark.parametrize("week", WEEKS, ids=str)
async def test_every_areas_weekly_summary_is_the_same(
    stores: tuple[Store, Store], settings: Settings, week: Week
) -> None:
    lite, pg = [await SummaryService(store, settings).week_summaries(week, TODAY) for store in stores]
    assert lite == pg
    assert any(s.volunteers for s in lite.values()) and any(s.running for s in lite.values())


async def test_volunteers_and_medians_are_the_same(stores: tuple[Store, Store], settings: Settings) -> None:
    start, end = day_start(YEAR[0], settings.tz), day_start(YEAR[1] + timedelta(days=1), settings.tz)
    results = []
    for store in stores:
        tallies = store.tallies
        results.append(
            (
                await tallies.volunteers(start=start, end=end),
                await tallies.volunteers(start=start, end=end, area_id=2),
                await tallies.volunteers_by_area(start=start, end=end),
                await tallies.median_days_to_close(start=start, end=end),
                await tallies.median_days_to_close(start=start, end=end, area_id=2),
                await tallies.median_days_to_close_by_area(start=start, end=end),
            )
        )
    assert results[0] == results[1]
    assert results[0][0] and results[0][2] and results[0][5]


@pytest.fixture
async def pg_conn(engines: tuple[Settings, Path, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(engines[2])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize("value", TIMES)
async def test_julian_day_is_sqlites_julianday(value: str | None, pg_conn: asyncpg.Connection) -> None:
    """The day arithmetic PostgreSQL's statements spell out, to the last bit, for the times the store writes and
    for everything else SQLite's julianday() reads (or does not)."""
    with sqlite3.connect(":memory:") as lite:
        expected = lite.execute(f"SELECT {julian_day('sqlite', '?')}", (value,)).fetchone()[0]
    assert await pg_conn.fetchval(f"SELECT {julian_day('postgresql', 'CAST($1 AS TEXT)')}", value) == expected
