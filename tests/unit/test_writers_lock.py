"""The writers' lock (storage/engine.py, issue 17): track points of several workers are written side by side,
every other write still alone.

Each "worker" is a Store of its own on the same database (shared, as the webhook workers' stores are): a SQLite
file, or the PostgreSQL database the run gives each test. On SQLite every write is exclusive (one writer); the
races below must come out the same on both engines.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from storage import Store
from storage.engine import WRITE_LOCK_KEY
from storage.registry import ReachValues
from tests.conftest import TEST_ENGINE

T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
DEADLINE_S = 60.0

postgresql_only = pytest.mark.skipif(
    TEST_ENGINE != "postgresql", reason="writers side by side: SQLite has one writer by design"
)


async def _patrols(store: Store, count: int) -> list[int]:
    area_id, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("DBH-01", "丁堡河", "Dingbao River", area_id, "town", None, (), None, None)
    )
    ids = []
    for n in range(count):
        person_id = await store.people.create(name=f"河长{n}", telegram_id=100 + n)
        patrol, _ = await store.patrols.start(person_id, reach_id, T0)
        ids.append(patrol.id)
    return ids


async def _waiting_for_the_lock(store: Store) -> bool:
    """A session waits for the writers' lock (PostgreSQL)."""
    rows = await store.fetchall(
        "SELECT objid, classid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return any(((int(r[1]) << 32) | int(r[0])) == WRITE_LOCK_KEY for r in rows)


async def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S:.0f} s: {what}")
        await asyncio.sleep(0.02)


async def test_two_workers_racing_points_on_the_same_patrols_store_each_once_and_latest_last(
    workers: tuple[Store, Store],
) -> None:
    """Both workers write points of the same two patrols at once, in opposite orders, then the same points at
    once: each point is stored once, each patrol's last activity is its latest point, and no batch deadlocks (on
    PostgreSQL the batches run side by side and lock their patrols in id order)."""
    a, b = workers
    first, second = await _patrols(a, 2)
    ats = [T0 + timedelta(seconds=s) for s in range(1, 121)]

    async def walk(store: Store, order: list[int], seconds: list[datetime], lat: float) -> None:
        await asyncio.gather(
            *(
                store.patrols.add_point(patrol_id, at=at, lat=lat, lon=120.4, accuracy_m=None, source="live")
                for at in seconds
                for patrol_id in order
            )
        )

    # a: seconds 1-80 of first then second; b: seconds 41-120 of second then first (other points).
    await asyncio.gather(walk(a, [first, second], ats[:80], 32.5), walk(b, [second, first], ats[40:], 32.6))
    # Then both the same points: a second delivery handled by two workers.
    await asyncio.gather(walk(a, [first, second], ats[:20], 32.7), walk(b, [second, first], ats[:20], 32.7))
    for patrol_id in (first, second):
        assert await a.fetchval("SELECT count(*) FROM patrol_points WHERE patrol_id = ?", (patrol_id,)) == 180
        patrol = await b.patrols.by_id(patrol_id)
        assert patrol is not None and patrol.last_activity_at == ats[-1]


async def test_a_shared_write_and_an_exclusive_one_never_overlap(workers: tuple[Store, Store]) -> None:
    """A batch of points (shared) and any other write (exclusive) on another worker: one after the other, so
    what the repositories read before they write still holds, as with one writer."""
    a, b = workers
    (patrol_id,) = await _patrols(a, 1)
    events: list[str] = []
    inside, leave = asyncio.Event(), asyncio.Event()

    async def shared() -> None:
        async with a.atomic(shared=True) as conn:
            await conn.execute("UPDATE patrols SET updated_at = updated_at WHERE id = ?", (patrol_id,))
            events.append("shared in")
            inside.set()
            await leave.wait()
            events.append("shared out")

    async def exclusive() -> None:
        async with b.atomic() as conn:
            events.append("exclusive in")
            await conn.execute("UPDATE meta SET value = value WHERE key = 'none'")

    holder = asyncio.create_task(shared())
    await asyncio.wait_for(inside.wait(), DEADLINE_S)
    other = asyncio.create_task(exclusive())
    if b.dialect == "postgresql":
        await _until(lambda: _waiting_for_the_lock(a), "the exclusive writer waits for the shared one")
    else:
        await asyncio.sleep(0)  # SQLite: its BEGIN IMMEDIATE waits for the file's one writer
    assert events == ["shared in"]
    leave.set()
    await asyncio.wait_for(asyncio.gather(holder, other), DEADLINE_S)
    assert events == ["shared in", "shared out", "exclusive in"]


@postgresql_only
async def test_shared_writers_of_two_workers_run_side_by_side(workers: tuple[Store, Store]) -> None:
    """What the shared mode is for: one worker's batch of points does not wait for another's."""
    a, b = workers
    first, second = await _patrols(a, 2)
    inside, leave = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with a.atomic(shared=True) as conn:
            await conn.execute("UPDATE patrols SET updated_at = updated_at WHERE id = ?", (first,))
            inside.set()
            await leave.wait()

    holder = asyncio.create_task(hold())
    try:
        await asyncio.wait_for(inside.wait(), DEADLINE_S)
        async with asyncio.timeout(DEADLINE_S / 2):
            await b.patrols.add_point(second, at=T0, lat=32.5, lon=120.4, accuracy_m=None, source="live")
        assert not holder.done()
    finally:
        leave.set()
        await holder
    assert await b.fetchval("SELECT count(*) FROM patrol_points WHERE patrol_id = ?", (second,)) == 1


@postgresql_only
async def test_an_exclusive_writer_waits_for_a_shared_one_and_then_blocks_the_next(
    workers: tuple[Store, Store], settings: Settings
) -> None:
    """PostgreSQL queues a shared request behind a waiting exclusive one: a stream of point batches cannot keep
    the other writes out for ever."""
    a, b = workers
    (patrol_id,) = await _patrols(a, 1)
    third = await Store.open(settings.database, shared=True)
    events: list[str] = []
    inside, leave = asyncio.Event(), asyncio.Event()

    async def shared(store: Store, name: str, wait: bool) -> None:
        async with store.atomic(shared=True) as conn:
            await conn.execute("UPDATE patrols SET updated_at = updated_at WHERE id = ?", (patrol_id,))
            events.append(name)
            if wait:
                inside.set()
                await leave.wait()

    async def exclusive() -> None:
        async with b.atomic():
            events.append("exclusive")

    try:
        first = asyncio.create_task(shared(a, "first shared", True))
        await asyncio.wait_for(inside.wait(), DEADLINE_S)
        middle = asyncio.create_task(exclusive())
        await _until(lambda: _waiting_for_the_lock(a), "the exclusive writer waits")
        last = asyncio.create_task(shared(third, "second shared", False))

        async def two_waiting() -> bool:
            rows = await a.fetchall("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            return int(rows[0][0]) >= 2

        await _until(two_waiting, "the second shared writer waits behind the exclusive one")
        leave.set()
        await asyncio.wait_for(asyncio.gather(first, middle, last), DEADLINE_S)
        assert events == ["first shared", "exclusive", "second shared"]
    finally:
        leave.set()
        await third.close()


async def test_a_write_needing_more_of_the_lock_inside_a_transaction_holding_less_is_refused(
    workers: tuple[Store, Store],
) -> None:
    a, _ = workers
    async with a.atomic(shared=True):
        with pytest.raises(RuntimeError):
            async with a.atomic():
                pass
        async with a.atomic(exclusive=False):  # less is fine: a savepoint
            pass
    async with a.atomic(exclusive=False):
        with pytest.raises(RuntimeError):
            async with a.atomic(shared=True):
                pass
