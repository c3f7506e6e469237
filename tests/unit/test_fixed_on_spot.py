"""Fixed on the spot (现场已处置): a chief's report filed closed at once, with before and after photos. It counts
as found, closed and closed on time in the tallies, and its log says how it was closed; a volunteer may not."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.exports import export
from bot.i18n import Locales
from bot.people import PeopleService, Person
from bot.problems import Draft, DraftPhoto, ProblemService
from bot.summaries import SummaryService, week_of
from bot.tallies import ProblemFigures, TallyService
from storage import Store
from storage.registry import ReachValues


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data", timezone="Asia/Shanghai")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


async def photo_row(store: Store, sha: str) -> int:
    await store.execute(
        "INSERT INTO photos (sha256, path, format, size_bytes, width, height, phash, band0, band1, band2, band3,"
        " created_at) VALUES (?, ?, 'JPEG', 1, 1, 1, 0, 0, 0, 0, 0, '2026-12-01T00:00:00Z')",
        (sha, f"photos/{sha}.jpg"),
    )
    return int(await store.fetchval("SELECT id FROM photos WHERE sha256 = ?", (sha,)))


async def world(store: Store, settings: Settings, role: str) -> tuple[Person, Draft]:
    area_id, _ = await store.areas.upsert("A1", "曲塘镇", "Qutang")
    values = ReachValues("R1", "R1河", "R1 River", area_id, "village", None, (), None, None)
    reach_id, _ = await store.reaches.upsert(values)
    person_id = await store.people.create(name="王五", telegram_id=70, home_area_id=area_id)
    await store.people.grant_role(person_id, role, level="village" if role == "chief" else None)
    person = await PeopleService(store, settings).by_id(person_id)
    assert person is not None
    before, after = await photo_row(store, "aa"), await photo_row(store, "bb")
    draft = Draft(
        photos=[DraftPhoto(before, "f1", False, None)],
        lat=32.5,
        lon=120.45,
        location_source="shared",
        reach_id=reach_id,
        category="garbage",
        fixed_photos=[DraftPhoto(after, "f2", False, None)],
    )
    return person, draft


async def test_a_chiefs_fix_on_the_spot_counts_as_found_closed_and_on_time(store: Store, settings: Settings) -> None:
    chief, draft = await world(store, settings, "chief")
    service = ProblemService(store, settings)
    assert service.may_fix_on_spot(chief)
    problem = await service.submit_fixed(chief, draft, at=datetime.now(UTC) - timedelta(minutes=5))
    assert problem is not None and problem.status == "closed" and problem.assignee_id == chief.id
    assert problem.closed_at is not None and problem.deadline == problem.closed_at.astimezone(settings.tz).date()
    assert [(p.kind, p.added_by) for p in await store.problems.photos(problem.id)] == [
        ("before", chief.id),
        ("after", chief.id),
    ]
    events = await store.problems.events(problem.id)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("report", None, "reported"),
        ("fixed_on_spot", "reported", "closed"),
    ]
    today = datetime.now(settings.tz).date()
    tally = await TallyService(store, settings).problems(today - timedelta(days=1), today)
    assert tally.overall == ProblemFigures(new=1, closed=1, due=1, closed_on_time=1)
    assert tally.median_days_to_close is not None and tally.median_days_to_close < 0.01


async def test_a_volunteer_may_not_and_nothing_is_filed(store: Store, settings: Settings) -> None:
    volunteer, draft = await world(store, settings, "volunteer")
    service = ProblemService(store, settings)
    assert not service.may_fix_on_spot(volunteer)
    assert await service.submit_fixed(volunteer, draft, at=datetime.now(UTC)) is None
    assert await store.fetchval("SELECT count(*) FROM problems") == 0


async def test_summary_stats_and_export_agree_on_a_fix_on_the_spot(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    chief, draft = await world(store, settings, "chief")
    # Reported a second ago: the same week as its closing, whenever the test runs.
    at = datetime.now(UTC) - timedelta(seconds=1)
    problem = await ProblemService(store, settings).submit_fixed(chief, draft, at=at)
    assert problem is not None
    week = week_of(datetime.now(settings.tz).date())
    stats = await TallyService(store, settings).stats(week.first, week.last)
    [area] = await store.areas.all()
    summary = await SummaryService(store, settings).area_summary(area, week)
    for figures in (stats.problems.overall, summary.problems.overall):
        assert (figures.new, figures.closed, figures.open, figures.due, figures.closed_on_time) == (1, 1, 0, 1, 1)
    out = tmp_path / "out"
    await export(store, settings, Locales.load(), language="en", fmt="csv", first=week.first, last=week.last, out=out)
    rows = list(csv.reader(io.StringIO((out / "problems.csv").read_text(encoding="utf-8-sig"))))
    assert [int(row[0]) for row in rows[1:]] == [problem.id]
