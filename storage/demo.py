"""Bulk writes for `riverbot demo-data`: plain tuples, executemany in batches, transactions of a fraction of a second.

The generator (bot/demo.py) hands over rows as tuples in the column order below; nothing here knows what the
rows mean. The store must be fresh: `has_history` says whether it already holds patrols or problems.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiosqlite

from storage.engine import SqliteEngine
from storage.store import Store

Row = tuple[Any, ...]
# One write transaction lasts about this long, then the load pauses long enough for a waiting writer (the bot) to
# get in: SQLite's busy handler retries at most every 100 ms, so a 0.15 s pause is always seen.
WRITE_SECONDS = 0.4
PAUSE_SECONDS = 0.15

AREA_SQL = "INSERT INTO areas (id, code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
REACH_SQL = (
    "INSERT INTO reaches (id, code, name_zh, name_en, area_id, level, length_km, tags, geometry,"
    " min_lat, min_lon, max_lat, max_lon, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PERSON_SQL = (
    "INSERT INTO people (id, name, phone, home_area_id, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ROLE_SQL = "INSERT INTO person_roles (person_id, role, level, granted_at, granted_by) VALUES (?, ?, ?, ?, ?)"
REGISTRATION_SQL = (
    "INSERT INTO registrations (id, person_id, name, home_area_id, phone, status, decided_by, decided_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
ASSIGNMENT_SQL = (
    "INSERT INTO assignments (id, person_id, reach_id, level, starts_on, ends_on, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
PATROL_SQL = (
    "INSERT INTO patrols (id, person_id, reach_id, status, started_at, ended_at, end_reason, last_activity_at,"
    " distance_m, duration_s, point_count, photo_count, problem_count, valid, reasons, created_at, updated_at)"
    " VALUES (?, ?, ?, 'finished', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
POINT_SQL = "INSERT INTO patrol_points (patrol_id, at, lat, lon, accuracy_m, source) VALUES (?, ?, ?, ?, ?, 'live')"
PROBLEM_SQL = (
    "INSERT INTO problems (id, reporter_id, patrol_id, reach_id, area_id, category, description, lat, lon,"
    " location_source, status, assignee_id, deadline, reported_at, closed_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'shared', ?, ?, ?, ?, ?, ?)"
)
EVENT_SQL = (
    "INSERT INTO problem_events (problem_id, at, actor_id, action, from_status, to_status, note, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
FOLLOWER_SQL = "INSERT INTO problem_followers (problem_id, person_id, since) VALUES (?, ?, ?)"

TABLES = {
    "areas": AREA_SQL,
    "reaches": REACH_SQL,
    "people": PERSON_SQL,
    "person_roles": ROLE_SQL,
    "registrations": REGISTRATION_SQL,
    "assignments": ASSIGNMENT_SQL,
    "patrols": PATROL_SQL,
    "patrol_points": POINT_SQL,
    "problems": PROBLEM_SQL,
    "problem_events": EVENT_SQL,
    "problem_followers": FOLLOWER_SQL,
}


async def has_history(store: Store) -> bool:
    """Whether the store already holds patrols or problems: demo data goes only into a fresh store."""
    return bool(await store.fetchval("SELECT EXISTS (SELECT 1 FROM patrols) OR EXISTS (SELECT 1 FROM problems)"))


async def has_registry(store: Store) -> bool:
    return bool(await store.fetchval("SELECT EXISTS (SELECT 1 FROM areas) OR EXISTS (SELECT 1 FROM reaches)"))


async def reaches(store: Store) -> list[Row]:
    """(id, area_id, level, geometry text or None, length_km) of every reach, by id."""
    rows = await store.fetchall("SELECT id, area_id, level, geometry, length_km FROM reaches ORDER BY id")
    return [tuple(r) for r in rows]


async def next_id(store: Store, table: str) -> int:
    if table not in TABLES:
        raise ValueError(table)
    return int(await store.fetchval(f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))  # a known table name


class BulkWriter:
    """Rows in, batches of `chunk` out, in write transactions of about `write_seconds` each, with a pause of
    `pause_seconds` after each so that the running bot's writes wait about that long, not for the whole load
    (a city's history is a minute of writing). `commit()` ends one early.

    The load is not one transaction, and was not before either (it committed every year of history): it goes into
    a fresh store only, and a failed load is started again on a fresh one.
    While loading, SQLite gets a bigger page cache (index inserts touch many pages); it is set back on close.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        chunk: int = 5_000,
        *,
        write_seconds: float = WRITE_SECONDS,
        pause_seconds: float = PAUSE_SECONDS,
    ) -> None:
        self._conn = conn
        self._chunk = chunk
        self._write_seconds = write_seconds
        self._pause_seconds = pause_seconds
        self._began = 0.0
        self._pending: dict[str, list[Row]] = {}
        self.written: dict[str, int] = dict.fromkeys(TABLES, 0)
        self._cache_size: int | None = None

    async def begin(self) -> None:
        row = await (await self._conn.execute("PRAGMA cache_size")).fetchone()
        self._cache_size = int(row[0]) if row is not None else None
        await self._conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, for the load only
        await self._begin()

    async def _begin(self) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")
        self._began = time.monotonic()

    async def add(self, table: str, rows: Sequence[Row]) -> None:
        pending = self._pending.setdefault(table, [])
        pending.extend(rows)
        if len(pending) >= self._chunk:
            await self.flush()

    async def _flush(self, table: str) -> None:
        rows = self._pending.pop(table, [])
        for start in range(0, len(rows), self._chunk):
            part = rows[start : start + self._chunk]
            await self._conn.executemany(TABLES[table], part)
            self.written[table] += len(part)
            if time.monotonic() - self._began >= self._write_seconds:
                await self._conn.execute("COMMIT")
                await asyncio.sleep(self._pause_seconds)  # the bot's writes get in here
                await self._begin()

    async def flush(self) -> None:
        # Parents before children, so that foreign keys hold at every statement (and at every commit).
        for table in TABLES:
            await self._flush(table)

    async def commit(self) -> None:
        await self.flush()
        await self._conn.execute("COMMIT")
        await self._begin()

    async def finish(self) -> None:
        await self.flush()
        await self._conn.execute("COMMIT")
        await self._restore()

    async def abort(self) -> None:
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")
        await self._restore()

    async def _restore(self) -> None:
        if self._cache_size is not None:
            await self._conn.execute(f"PRAGMA cache_size = {self._cache_size}")
            self._cache_size = None
        await self._conn.execute("PRAGMA optimize")


def writer_connection(store: Store) -> aiosqlite.Connection:
    """The store's writing connection, for a bulk load that runs while nothing else writes."""
    engine = store.engine
    if not isinstance(engine, SqliteEngine):
        raise RuntimeError("the bulk load writes SQLite only")
    return engine.raw_writer  # the bulk load manages its own transactions
