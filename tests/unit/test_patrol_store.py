"""The patrol store's write-behind track points and its open-patrol cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import Store
from storage.migrate import bundled_migrations
from storage.patrols import PatrolMedia
from storage.registry import ReachValues

START = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


async def _patrol(store: Store) -> tuple[int, int]:
    area_id, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("DBH-01", "丁堡河", "Dingbao River", area_id, "town", None, (), None, None)
    )
    person_id = await store.people.create(name="王五", telegram_id=42)
    patrol, _ = await store.patrols.start(person_id, reach_id, START)
    return person_id, patrol.id


async def test_live_points_written_behind_are_all_kept_on_a_clean_close(tmp_path: Path) -> None:
    path = tmp_path / "riverbot.sqlite3"
    store = await Store.open(path)
    _, patrol_id = await _patrol(store)
    await asyncio.gather(
        *(
            store.patrols.add_point(
                patrol_id,
                at=START + timedelta(seconds=i),
                lat=32.5,
                lon=120.4 + i * 1e-5,
                accuracy_m=None,
                source="live",
            )
            for i in range(1500)
        )
    )
    await store.close()  # without waiting for the writer: close drains it
    async with await Store.open(path) as reopened:
        assert await reopened.patrols.point_count(patrol_id) == 1500
        patrol = await reopened.patrols.by_id(patrol_id)
        assert patrol is not None and patrol.last_activity_at == START + timedelta(seconds=1499)


async def test_readers_see_points_still_queued(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "riverbot.sqlite3") as store:
        person_id, patrol_id = await _patrol(store)
        for i in range(50):
            await store.patrols.add_point(
                patrol_id, at=START + timedelta(minutes=i), lat=32.5, lon=120.4, accuracy_m=None, source="live"
            )
        [open_patrol] = await store.patrols.open_patrols()
        assert open_patrol.last_activity_at == START + timedelta(minutes=49)
        cached = await store.patrols.open_for(person_id)
        assert cached is not None and cached.last_activity_at == START + timedelta(minutes=49)


async def test_the_open_patrol_cache_follows_a_note_written_inside_a_transaction(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "riverbot.sqlite3") as store:
        person_id, patrol_id = await _patrol(store)
        before = await store.patrols.open_for(person_id)
        assert before is not None and before.problem_count == 0
        async with store.atomic():
            await store.patrols.add_note(patrol_id, at=START + timedelta(minutes=5), text="#1", kind="problem")
        after = await store.patrols.open_for(person_id)
        assert after is not None and after.problem_count == 1


async def test_migration_0012_keeps_patrols_and_adds_media_and_guides(tmp_path: Path) -> None:
    """0012 adds a patrol's voice and video evidence and the guides sent; a patrol from before it takes both."""
    path = tmp_path / "riverbot.sqlite3"
    async with await Store.open(path, migrations=bundled_migrations()[:11]) as store:
        # Written as SQL: today's repository reads columns (patrols.walked_by, 0016) this old schema lacks.
        area_id, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
        reach_id, _ = await store.reaches.upsert(
            ReachValues("DBH-01", "丁堡河", "Dingbao River", area_id, "town", None, (), None, None)
        )
        person_id = await store.people.create(name="王五", telegram_id=42)
        at = "2025-03-05T02:00:00Z"
        await store.execute(
            "INSERT INTO patrols (person_id, reach_id, started_at, last_activity_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (person_id, reach_id, at, at, at, at),
        )
        patrol_id = int(await store.fetchval("SELECT id FROM patrols"))
        assert "patrol_media" not in await store.table_names()
    async with await Store.open(path) as store:
        media = PatrolMedia("voice", "AwAC1", "AgAD1", 7, START + timedelta(minutes=3), None)
        assert await store.patrols.add_media(patrol_id, media) == 1
        assert await store.patrols.add_media(patrol_id, media) == 1  # the same message handled again
        assert await store.patrols.media(patrol_id) == [media]
        assert await store.patrols.claim_guide(person_id, "live_location")
        assert not await store.patrols.claim_guide(person_id, "live_location")
    async with await Store.open(tmp_path / "fresh.sqlite3") as fresh:
        assert {"patrol_media", "guides_sent"} <= set(await fresh.table_names())
