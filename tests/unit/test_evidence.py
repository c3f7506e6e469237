"""What a problem photo's stamp says it shows (bot/evidence.py, ProblemService.sightings), and the memory of which
photos each chat was sent (migration 0013): after-photos carry their own time and place, never the problem's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings, load_settings
from bot.evidence import trusted_taken_at
from bot.problems import ProblemService
from storage import Store
from storage.migrate import bundled_migrations
from storage.problems import NewProblem, ProblemPhoto, ProblemRecord
from storage.registry import ReachValues

REPORTED = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ARRIVED = datetime(2026, 12, 2, 2, 10, tzinfo=UTC)  # 10:10 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data", timezone="Asia/Shanghai")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


async def setting(store: Store) -> tuple[ProblemRecord, int, int]:
    """A problem reported on a reach; its chief, who patrols it; the reach."""
    area_id, _ = await store.areas.upsert("A1", "曲塘镇", "Qutang")
    values = ReachValues("R1", "R1河", "R1 River", area_id, "village", None, (), None, None)
    reach_id, _ = await store.reaches.upsert(values)
    chief = await store.people.create(name="王五", telegram_id=70, home_area_id=area_id)
    new = NewProblem(chief, None, reach_id, area_id, "garbage", None, 32.5, 120.45, "shared")
    problem = await store.problems.by_id(await store.problems.insert(new, reported_at=REPORTED))
    assert problem is not None
    return problem, chief, reach_id


def after(*, taken_at: str | None = None, gps: tuple[float, float] | None = None, by: int | None) -> ProblemPhoto:
    return ProblemPhoto(2, "f2", "after", "photos/x.jpg", taken_at, ARRIVED, False, gps, by)


async def test_an_after_photo_with_exif_gps_and_time_is_stamped_with_them(store: Store, settings: Settings) -> None:
    problem, chief, _ = await setting(store)
    photo = after(taken_at="2026-12-02T10:03:00", gps=(32.51, 120.46), by=chief)
    [seen] = await ProblemService(store, settings).sightings(problem, [photo])
    assert (seen.kind, seen.gps, seen.place_source) == ("after", (32.51, 120.46), "exif")
    assert seen.taken_at == datetime(2026, 12, 2, 10, 3) and seen.received_at == ARRIVED


async def test_an_after_photo_without_gps_takes_the_senders_recent_track_point(
    store: Store, settings: Settings
) -> None:
    problem, chief, reach_id = await setting(store)
    patrol, _ = await store.patrols.start(chief, reach_id, ARRIVED - timedelta(minutes=40))
    for minutes, lon in ((30, 120.451), (6, 120.452), (-30, 120.453)):  # the last: after the photo, too late
        await store.patrols.add_point(
            patrol.id, at=ARRIVED - timedelta(minutes=minutes), lat=32.502, lon=lon, accuracy_m=5, source="single"
        )
    [seen] = await ProblemService(store, settings).sightings(problem, [after(by=chief)])
    assert (seen.gps, seen.place_source, seen.place_at) == ((32.502, 120.452), "track", ARRIVED - timedelta(minutes=6))
    assert seen.taken_at is None  # no capture time: the arrival time stands in, and the stamp says so


async def test_an_after_photo_with_no_place_of_its_own_is_not_given_the_problems(
    store: Store, settings: Settings
) -> None:
    problem, chief, reach_id = await setting(store)
    patrol, _ = await store.patrols.start(chief, reach_id, ARRIVED - timedelta(hours=3))
    await store.patrols.add_point(  # an hour before the photo: not where it was taken
        patrol.id, at=ARRIVED - timedelta(hours=1), lat=32.502, lon=120.451, accuracy_m=5, source="single"
    )
    [seen] = await ProblemService(store, settings).sightings(problem, [after(by=chief)])
    assert seen.gps is None and seen.place_source is None
    before = ProblemPhoto(1, "f1", "before", "photos/y.jpg", None, REPORTED)
    [seen] = await ProblemService(store, settings).sightings(problem, [before])
    assert (seen.kind, seen.gps, seen.received_at) == ("before", (32.5, 120.45), REPORTED)


@pytest.mark.parametrize(
    ("taken_at", "trusted"),
    [
        (datetime(2026, 12, 2, 10, 3), True),  # camera clock, office zone: between report and arrival
        (datetime(2026, 12, 2, 2, 3, tzinfo=UTC), True),
        (datetime(2026, 11, 30, 8, 0), False),  # before the problem was reported: not an after-photo's time
        (datetime(2026, 12, 3, 10, 0), False),  # after it arrived: a wrong clock
        (datetime(2026, 12, 2, 11, 0), True),  # within the slack for a drifting clock
    ],
)
def test_which_capture_times_are_trusted(taken_at: datetime, trusted: bool) -> None:
    kept = trusted_taken_at(taken_at, not_before=REPORTED, not_after=ARRIVED, tz=SHANGHAI)
    assert (kept == taken_at) if trusted else kept is None


async def test_the_photo_messages_a_chat_got_are_remembered_and_forgotten(store: Store, settings: Settings) -> None:
    problem, _, _ = await setting(store)
    service = ProblemService(store, settings)
    photo = await photo_row(store)
    assert await service.photos_sent(70, problem.id) == {}
    await service.remember_photos_sent(70, problem.id, {photo: 11})
    await service.remember_photos_sent(70, problem.id, {photo: 15})  # sent again after a deletion: the new one
    assert await service.photos_sent(70, problem.id) == {photo: 15}
    assert await service.photos_sent(71, problem.id) == {}
    await service.forget_photos_sent(70, problem.id)
    assert await service.photos_sent(70, problem.id) == {}


async def photo_row(store: Store) -> int:
    await store.execute(
        "INSERT INTO photos (sha256, path, format, size_bytes, width, height, phash, band0, band1, band2, band3,"
        " created_at) VALUES ('ab', 'photos/ab.jpg', 'JPEG', 1, 1, 1, 0, 0, 0, 0, 0, '2026-12-01T00:00:00Z')"
    )
    return int(await store.fetchval("SELECT id FROM photos WHERE sha256 = 'ab'"))


async def test_migration_0013_from_empty_and_from_the_previous_version(tmp_path: Path, settings: Settings) -> None:
    """From empty: the table is there. From 0012 with a problem and its photo: both kept, the memory empty."""
    fresh = tmp_path / "fresh.sqlite3"
    async with await Store.open(fresh) as store:
        assert "problem_photo_messages" in await store.table_names()
    path = tmp_path / "riverbot.sqlite3"
    async with await Store.open(path, migrations=bundled_migrations()[:12]) as store:
        assert "problem_photo_messages" not in await store.table_names()
        problem, _, _ = await setting(store)
        photo = await photo_row(store)
        await store.problems.add_photo(problem.id, photo_id=photo, file_id="f", kind="before", added_by=None)
    async with await Store.open(path) as store:
        assert [p.photo_id for p in await store.problems.photos(problem.id)] == [photo]
        service = ProblemService(store, settings)
        assert await service.photos_sent(70, problem.id) == {}
        await service.remember_photos_sent(70, problem.id, {photo: 9})
        assert await service.photos_sent(70, problem.id) == {photo: 9}
