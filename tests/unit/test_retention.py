"""Retention: the window in local days, the simplified track, and which points and photos a run may prune."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import retention
from bot.config import ConfigError, Settings, load_settings
from bot.i18n import Locales
from bot.patrols import PatrolService
from bot.retention import RetentionService, cutoff, simplify, years_back
from storage import Store, to_db_time
from storage.migrate import bundled_migrations
from storage.retention import decode_track, encode_track
from tests.factories import make_jpeg
from tests.support import World, d, local

SHANGHAI = ZoneInfo("Asia/Shanghai")

# -- the window ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "years", "zone", "first_kept"),
    [
        # 01:00 on 5 March in Shanghai is still 4 March in UTC: the day is the configured zone's.
        ("2026-03-04T17:00:00+00:00", 3, "Asia/Shanghai", "2023-03-05T00:00:00+08:00"),
        ("2026-03-04T17:00:00+00:00", 3, "UTC", "2023-03-04T00:00:00+00:00"),
        # 29 February back to a year without one: the 28th, a day more kept rather than less.
        ("2028-02-29T10:00:00+08:00", 1, "Asia/Shanghai", "2027-02-28T00:00:00+08:00"),
        ("2028-02-29T10:00:00+08:00", 4, "Asia/Shanghai", "2024-02-29T00:00:00+08:00"),
        # The day after 28 February in a common year goes back to 1 March, never to a leap day.
        ("2027-03-01T08:00:00+08:00", 3, "Asia/Shanghai", "2024-03-01T00:00:00+08:00"),
        ("2026-12-31T23:59:00+08:00", 10, "Asia/Shanghai", "2016-12-31T00:00:00+08:00"),
    ],
)
def test_the_first_moment_kept_is_local_midnight_years_back(now: str, years: int, zone: str, first_kept: str) -> None:
    found = cutoff(datetime.fromisoformat(now), years, ZoneInfo(zone))
    assert found == datetime.fromisoformat(first_kept)
    assert found is not None and found.utcoffset() == datetime.fromisoformat(first_kept).utcoffset()


def test_zero_years_keeps_everything() -> None:
    assert cutoff(datetime(2026, 3, 5, tzinfo=UTC), 0, SHANGHAI) is None


def test_years_back_on_leap_days() -> None:
    assert years_back(d("2024-02-29"), 1) == d("2023-02-28")
    assert years_back(d("2024-02-29"), 4) == d("2020-02-29")
    assert years_back(d("2023-02-28"), 1) == d("2022-02-28")


# -- the simplified track ------------------------------------------------------------------------------------

M_PER_DEG_LAT = 111_195.0  # metres per degree of latitude, as bot.retention's projection gives it


def _east(metres: float, lat: float = 32.5) -> float:
    """Degrees of longitude for `metres` eastwards at `lat`."""
    return metres / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


def _off_line_m(point: tuple[float, float], line: list[tuple[float, float]]) -> float:
    """Metres from a point to the nearest segment of a polyline (local flat projection)."""
    kx = M_PER_DEG_LAT * math.cos(math.radians(line[0][1]))
    px, py = point[0] * kx, point[1] * M_PER_DEG_LAT
    best = math.inf
    for (alon, alat), (blon, blat) in itertools.pairwise(line):
        ax, ay, bx, by = alon * kx, alat * M_PER_DEG_LAT, blon * kx, blat * M_PER_DEG_LAT
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best


def test_short_tracks_stay_as_they_are() -> None:
    assert simplify([]) == []
    assert simplify([(120.4, 32.5)]) == [(120.4, 32.5)]
    assert simplify([(120.4, 32.5), (120.5, 32.5)]) == [(120.4, 32.5), (120.5, 32.5)]


def test_a_straight_walk_becomes_its_two_ends() -> None:
    walk = [(120.4 + _east(10 * i), 32.5) for i in range(200)]
    assert simplify(walk) == [walk[0], walk[-1]]


def test_gps_jitter_below_the_tolerance_goes() -> None:
    rng = random.Random(7)
    walk = [(120.4 + _east(10 * i), 32.5 + rng.uniform(-2, 2) / M_PER_DEG_LAT) for i in range(300)]
    assert simplify(walk, tolerance_m=5.0) == [walk[0], walk[-1]]


def test_the_turn_of_an_out_and_back_walk_stays() -> None:
    # Out 1 km east along the bank and back: every point lies on one line, yet the walk turned at 1 km.
    out = [(120.4 + _east(10 * i), 32.5) for i in range(101)]
    walk = out + out[-2::-1]
    assert simplify(walk) == [walk[0], out[-1], walk[-1]]


def test_a_winding_walk_keeps_at_most_the_cap_and_its_ends_in_order() -> None:
    walk = [(120.4 + _east(5 * i), 32.5 + 200 * math.sin(i / 15) / M_PER_DEG_LAT) for i in range(2000)]
    kept = simplify(walk, max_points=50)
    assert len(kept) == 50
    assert kept[0] == walk[0] and kept[-1] == walk[-1]
    indexes = [walk.index(p) for p in kept]
    assert indexes == sorted(indexes)  # a subsequence of the walk, in time order


def test_without_a_cap_every_point_is_within_the_tolerance() -> None:
    rng = random.Random(3)
    lon, lat = 120.4, 32.5
    walk = []
    for _ in range(400):  # a random walk of 3–10 m steps
        lon += _east(rng.uniform(-10, 10))
        lat += rng.uniform(-10, 10) / M_PER_DEG_LAT
        walk.append((lon, lat))
    kept = simplify(walk, tolerance_m=5.0, max_points=10_000)
    assert len(kept) < len(walk)
    assert max(_off_line_m(p, kept) for p in walk) <= 5.0 + 1e-6


def test_the_track_is_stored_as_compact_geojson_order() -> None:
    track = [(120.123456789, 32.987654321), (120.2, 32.1)]
    text = encode_track(track)
    assert text == "[[120.123457,32.987654],[120.2,32.1]]"
    assert decode_track(text) == [(120.123457, 32.987654), (120.2, 32.1)]
    assert decode_track(None) == []


# -- which points and photos go ------------------------------------------------------------------------------

NOW = local("2026-03-05 12:00")  # three years keep everything from 2023-03-05 00:00 (+08:00)


def _keeping(settings: Settings, years: int = 3) -> Settings:
    return settings.model_copy(update={"retention_years": years})


async def _track(store: Store, patrol_id: int, start: str, count: int) -> None:
    """`count` live points, one every 10 s, walking east and winding."""
    at = local(start)
    for i in range(count):
        await store.patrols.add_point(
            patrol_id,
            at=at + timedelta(seconds=10 * i),
            lat=32.5 + 100 * math.sin(i / 20) / M_PER_DEG_LAT,
            lon=120.4 + _east(8 * i),
            accuracy_m=5.0,
            source="live",
        )
    await store.patrols.drain()


async def _photo(store: Store, settings: Settings, seed: int, *, created: str) -> int:
    stored = await PatrolService(store, settings).store_photo(make_jpeg(seed=seed), person_id=None)
    await store.execute("UPDATE photos SET created_at = ? WHERE id = ?", (to_db_time(local(created)), stored.photo_id))
    return stored.photo_id


async def _on_patrol(store: Store, patrol_id: int, photo_id: int) -> None:
    await store.patrols.add_photo(
        patrol_id, photo_id=photo_id, file_id=f"f{photo_id}", as_document=False, sent_at=NOW, caption=None
    )


async def _on_problem(store: Store, problem_id: int, photo_id: int) -> None:
    await store.problems.add_photo(problem_id, photo_id=photo_id, file_id=f"f{photo_id}", kind="before", added_by=None)


async def _file_of(store: Store, settings: Settings, photo_id: int) -> Path:
    photo = await store.photos.by_id(photo_id)
    assert photo is not None
    return settings.data_dir / photo.path


async def test_points_go_only_for_patrols_that_ended_before_the_window(store: Store, settings: Settings) -> None:
    world = World(store)
    area = await world.area("QT")
    reach = await world.reach("XM-01", area)
    chief = await world.person("张三")
    # World.patrol ends a patrol 30 minutes after it starts.
    old = await world.patrol(chief, reach, "2023-03-04 23:00")  # ended 23:30 the day before the window
    edge = await world.patrol(chief, reach, "2023-03-04 23:40")  # ended 00:10 on its first day
    walking = await world.patrol(chief, reach, "2023-03-01 08:00", finished=False)  # still open
    for patrol_id in (old, edge, walking):
        await _track(store, patrol_id, "2023-03-01 08:00", 300)
    before = await store.patrols.by_id(old)
    service = RetentionService(store, _keeping(settings))

    plan = await service.plan(NOW)
    assert (plan.dry_run, plan.patrols, plan.points) == (True, 1, 300)
    assert await store.patrols.point_count(old) == 300  # a plan changes nothing

    pruned = await service.prune(NOW)
    assert (pruned.patrols, pruned.points) == (1, 300)
    assert pruned.cutoff == local("2023-03-05 00:00")
    assert await store.patrols.point_count(old) == 0
    assert await store.patrols.point_count(edge) == 300
    assert await store.patrols.point_count(walking) == 300
    # Every figure the product reads stays as it was; the route stays, simplified.
    assert await store.patrols.by_id(old) == before
    track = await store.retention.track(old)
    assert track is not None and 2 < len(track) <= 50
    assert track[0] == (120.4, 32.5)
    assert await store.retention.track(edge) is None

    again = await service.prune(NOW)
    assert (again.patrols, again.points) == (0, 0)


async def test_a_patrol_without_a_verdict_keeps_its_points(store: Store, settings: Settings) -> None:
    world = World(store)
    reach = await world.reach("XM-01", await world.area("QT"))
    chief = await world.person("张三")
    patrol_id = await world.patrol(chief, reach, "2020-05-01 08:00")
    await _track(store, patrol_id, "2020-05-01 08:00", 20)
    # Data from elsewhere, finished but never judged: its card would judge it from the points.
    await store.execute("UPDATE patrols SET valid = NULL WHERE id = ?", (patrol_id,))
    pruned = await RetentionService(store, _keeping(settings)).prune(NOW)
    assert pruned.patrols == 0 and await store.patrols.point_count(patrol_id) == 20


async def test_photos_go_unless_something_inside_the_window_shows_them(store: Store, settings: Settings) -> None:
    world = World(store)
    reach = await world.reach("XM-01", await world.area("QT"))
    chief = await world.person("张三")
    old_patrol = await world.patrol(chief, reach, "2022-06-01 08:00")
    recent_patrol = await world.patrol(chief, reach, "2024-06-01 08:00")
    open_problem = await world.problem(chief, reach, reported="2022-01-10 09:00", deadline="2022-01-17")
    closed_lately = await world.problem(
        chief, reach, reported="2022-02-10 09:00", deadline="2022-02-17", closed="2023-06-01 09:00"
    )
    closed_long_ago = await world.problem(
        chief, reach, reported="2022-03-10 09:00", deadline="2022-03-17", closed="2022-03-15 09:00"
    )
    dismissed_long_ago = await world.problem(chief, reach, reported="2022-04-10 09:00", dismissed="2022-04-11 09:00")

    of_old_patrol = await _photo(store, settings, 1, created="2022-06-01 08:10")
    of_recent_patrol = await _photo(store, settings, 2, created="2022-06-01 08:10")  # the same picture sent again
    of_open_problem = await _photo(store, settings, 3, created="2022-01-10 09:00")
    of_closed_lately = await _photo(store, settings, 4, created="2022-02-10 09:00")
    of_closed_long_ago = await _photo(store, settings, 5, created="2022-03-10 09:00")
    of_dismissed = await _photo(store, settings, 6, created="2022-04-10 09:00")
    unused_old = await _photo(store, settings, 7, created="2021-01-01 09:00")
    unused_new = await _photo(store, settings, 8, created="2026-01-01 09:00")
    await _on_patrol(store, old_patrol, of_old_patrol)
    await _on_patrol(store, recent_patrol, of_recent_patrol)
    await _on_problem(store, open_problem, of_open_problem)
    await _on_problem(store, closed_lately, of_closed_lately)
    await _on_problem(store, closed_long_ago, of_closed_long_ago)
    await _on_problem(store, dismissed_long_ago, of_dismissed)
    files = {i: await _file_of(store, settings, i) for i in range(of_old_patrol, unused_new + 1)}
    gone = {of_old_patrol, of_closed_long_ago, of_dismissed, unused_old}
    service = RetentionService(store, _keeping(settings))

    plan = await service.plan(NOW)
    assert plan.photos == 4 and plan.photo_bytes == sum(files[i].stat().st_size for i in gone)

    pruned = await service.prune(NOW)
    assert (pruned.photos, pruned.photo_bytes, pruned.missing_files) == (4, plan.photo_bytes, 0)
    for photo_id, path in files.items():
        record = await store.photos.by_id(photo_id)
        assert record is not None, "a photo's row always stays"
        assert record.pruned == (photo_id in gone), photo_id
        assert path.exists() == (photo_id not in gone), photo_id
        # The thumbnail beside it stays: small, and not the original.
        assert path.with_name(f"{record.sha256}.thumb.jpg").exists()
    # The record still serves duplicate detection: found by hash and by perceptual hash.
    record = await store.photos.by_id(of_old_patrol)
    assert record is not None and await store.photos.by_sha(record.sha256) == record
    assert of_old_patrol in {i for i, _ in await store.photos.candidates(_bands(record.phash))}
    # Problem cards learn which of their photos are only records now.
    assert [p.pruned for p in await store.problems.photos(closed_long_ago)] == [True]
    assert [p.pruned for p in await store.problems.photos(closed_lately)] == [False]


def _bands(phash: int) -> tuple[int, int, int, int]:
    return ((phash >> 48) & 0xFFFF, (phash >> 32) & 0xFFFF, (phash >> 16) & 0xFFFF, phash & 0xFFFF)


async def test_a_photo_sent_again_is_young_again_and_a_pruned_one_comes_back(store: Store, settings: Settings) -> None:
    patrols = PatrolService(store, settings)
    sent_again = await _photo(store, settings, 1, created="2021-01-01 09:00")
    pruned_before = await _photo(store, settings, 2, created="2021-01-01 09:00")
    service = RetentionService(store, _keeping(settings))
    # The first is sent again now (a new report with an old picture): it is as young as today.
    assert (await patrols.store_photo(make_jpeg(seed=1), person_id=None)).photo_id == sent_again
    assert (await service.prune(NOW)).photos == 1
    record = await store.photos.by_id(sent_again)
    assert record is not None and not record.pruned
    # The second was pruned; the same bytes sent again put the original back under the same row.
    path = await _file_of(store, settings, pruned_before)
    assert not path.exists()
    stored = await patrols.store_photo(make_jpeg(seed=2), person_id=None)
    assert stored.photo_id == pruned_before and not stored.new
    record = await store.photos.by_id(pruned_before)
    assert record is not None and not record.pruned and path.read_bytes() == make_jpeg(seed=2)


async def test_an_original_already_missing_is_marked_and_counted_apart(store: Store, settings: Settings) -> None:
    photo_id = await _photo(store, settings, 1, created="2021-01-01 09:00")
    (await _file_of(store, settings, photo_id)).unlink()
    pruned = await RetentionService(store, _keeping(settings)).prune(NOW)
    assert (pruned.photos, pruned.photo_bytes, pruned.missing_files) == (1, 0, 1)


async def test_retention_off_prunes_nothing(store: Store, settings: Settings) -> None:
    await _photo(store, settings, 1, created="2001-01-01 09:00")
    service = RetentionService(store, settings)
    assert not service.enabled
    pruned = await service.prune(NOW)
    assert pruned.cutoff is None and pruned.photos == 0
    # A preview for another window counts without the setting.
    assert (await service.plan(NOW, years=3)).photos == 1


async def test_progress_is_reported_per_transaction(store: Store, settings: Settings) -> None:
    world = World(store)
    reach = await world.reach("XM-01", await world.area("QT"))
    chief = await world.person("张三")
    for day in range(1, 4):
        await world.patrol(chief, reach, f"2020-05-0{day} 08:00")
    await _photo(store, settings, 1, created="2020-01-01 09:00")
    seen: list[tuple[str, int, int]] = []
    await RetentionService(store, _keeping(settings)).prune(NOW, progress=lambda *step: seen.append(step))
    assert seen[-2:] == [("patrols", 3, 3), ("photos", 1, 1)]


# -- the schema ----------------------------------------------------------------------------------------------


async def test_migration_from_the_previous_version_keeps_the_data_and_prunes_it(settings: Settings) -> None:
    path = settings.database_path
    settings.data_dir.mkdir(parents=True)
    async with await Store.open(path, migrations=bundled_migrations()[:8]) as old:
        assert old.schema_version == 8
        world = World(old)
        reach = await world.reach("XM-01", await world.area("QT"))
        # Written as SQL: today's repository reads columns (patrols.walked_by, 0016) this old schema lacks.
        person = await world.person("张三")
        at, end = "2020-05-01T00:00:00Z", "2020-05-01T00:30:00Z"
        await old.execute(
            "INSERT INTO patrols (person_id, reach_id, status, started_at, ended_at, end_reason, last_activity_at,"
            " distance_m, duration_s, point_count, photo_count, valid, created_at, updated_at)"
            " VALUES (?, ?, 'finished', ?, ?, 'finished', ?, 1200.0, 1800, 20, 1, 1, ?, ?)",
            (person, reach, at, end, end, at, end),
        )
        patrol_id = int(await old.fetchval("SELECT id FROM patrols"))
        await _track(old, patrol_id, "2020-05-01 08:00", 30)
    async with await Store.open(path) as store:
        assert store.schema_version == len(bundled_migrations()) >= 9
        columns = {r[1] for r in await store.fetchall("PRAGMA table_info(patrols)")}
        assert {"track", "points_pruned_at"} <= columns
        columns = {r[1] for r in await store.fetchall("PRAGMA table_info(photos)")}
        assert {"pruned_at", "received_at"} <= columns
        assert await store.retention.track(patrol_id) is None
        assert (await RetentionService(store, _keeping(settings)).prune(NOW)).points == 30


async def test_an_empty_store_has_the_retention_schema(store: Store) -> None:
    listed = (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        if store.dialect == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index'"
    )
    indexes = {r[0] for r in await store.fetchall(listed)}
    assert {"patrols_unpruned", "photos_unpruned", "problem_photos_photo"} <= indexes


# -- the settings --------------------------------------------------------------------------------------------


def test_retention_is_off_by_default_and_runs_at_night(settings: Settings) -> None:
    assert settings.retention_years == 0
    assert settings.retention_time.isoformat() == "04:30:00"


@pytest.mark.parametrize(("name", "value"), [("retention_years", "-1"), ("retention_years", "101"),
                                             ("retention_years", "三年"), ("retention_time", "25:00")])  # fmt: skip
def test_a_bad_retention_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, **{name: value})
    assert caught.value.key == f"config.invalid.{name}"
    zh = Locales.load().plain("zh", caught.value.key, **caught.value.params)
    assert name.upper() in zh and value in zh


async def test_one_track_that_cannot_be_pruned_is_skipped_and_the_others_are(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 13, finding 2: a job skips one bad record, logs it, and goes on.
    world = World(store)
    reach = await world.reach("XM-01", await world.area("QT"))
    chief = await world.person("张三")
    patrols = [await world.patrol(chief, reach, f"2020-05-0{day} 08:00") for day in range(1, 4)]
    for patrol_id in patrols:
        await _track(store, patrol_id, "2020-05-01 08:00", 10)
    bad = patrols[1]
    simplified = retention._simplified

    def broken(tracks: list[Any]) -> list[Any]:
        if any(track.patrol_id == bad for track in tracks):
            raise ValueError("a track nobody foresaw")
        return simplified(tracks)

    monkeypatch.setattr(retention, "POINTS_PER_TRANSACTION", 1)  # a transaction per patrol
    monkeypatch.setattr(retention, "_simplified", broken)
    pruned = await RetentionService(store, _keeping(settings)).prune(NOW)
    assert (pruned.patrols, pruned.points) == (2, 20)
    assert [await store.patrols.point_count(p) for p in patrols] == [0, 10, 0]  # tried again the next night
    assert [r.levelname for r in caplog.records if f"{bad}" in r.getMessage() and r.exc_info] == ["ERROR"]
