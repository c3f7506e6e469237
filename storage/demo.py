"""Bulk writes for `riverbot demo-data`: plain tuples in big batches, in write transactions of a fraction of a
second (SQLite) or a second (PostgreSQL).

The generator (bot/demo.py) hands over rows as tuples in the column order below; nothing here knows what the
rows mean. The store must be fresh: `has_history` says whether it already holds patrols or problems.
`bulk_writer(store)` picks the engine's way to load: SQLite inserts with executemany on the store's writing
connection; PostgreSQL streams rows with COPY (asyncpg's `copy_records_to_table`), then sets the identity
sequences past the ids written and analyzes the tables, so the first queries get good plans.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
import asyncpg

from storage.engine import WRITE_LOCK_KEY, PostgresEngine, SqliteEngine
from storage.store import Store

Row = tuple[Any, ...]
# One write transaction lasts about this long, then the load pauses long enough for a waiting writer (the bot) to
# get in: SQLite's busy handler retries at most every 100 ms, so a 0.15 s pause is always seen.
WRITE_SECONDS = 0.4
PAUSE_SECONDS = 0.15
# PostgreSQL queues writers on the advisory lock in order, so one waiting gets in at the next commit without a
# pause; a commit costs a WAL flush, so transactions there are longer.
PG_WRITE_SECONDS = 1.0
PG_CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class Table:
    """A table the load writes: the columns of the generator's tuples, in order, and columns whose value is the
    same on every row (a SQL literal in the INSERT, a value appended to each record for COPY)."""

    name: str
    columns: tuple[str, ...]
    constants: tuple[tuple[str, str], ...] = ()
    numbered: bool = True  # the generator gives the id (an identity column on PostgreSQL, set past it after)

    @property
    def insert_sql(self) -> str:
        names = ", ".join((*self.columns, *(c for c, _ in self.constants)))
        values = ", ".join(["?"] * len(self.columns) + [f"'{v}'" for _, v in self.constants])
        return f"INSERT INTO {self.name} ({names}) VALUES ({values})"

    @property
    def copy_columns(self) -> tuple[str, ...]:
        return (*self.columns, *(c for c, _ in self.constants))

    @property
    def copy_tail(self) -> tuple[str, ...]:
        return tuple(v for _, v in self.constants)


# Parents before children, so that foreign keys hold at every statement (and at every commit).
# fmt: off
_TABLES = (
    Table("areas", ("id", "code", "name_zh", "name_en", "created_at", "updated_at")),
    Table("reaches", ("id", "code", "name_zh", "name_en", "area_id", "level", "length_km", "tags", "geometry",
                      "min_lat", "min_lon", "max_lat", "max_lon", "created_at", "updated_at")),
    Table("people", ("id", "name", "phone", "home_area_id", "active", "created_at", "updated_at")),
    Table("person_roles", ("person_id", "role", "level", "granted_at", "granted_by"), numbered=False),
    Table("registrations", ("id", "person_id", "name", "home_area_id", "phone", "status", "decided_by", "decided_at",
                            "created_at")),
    Table("assignments", ("id", "person_id", "reach_id", "level", "starts_on", "ends_on", "created_at", "updated_at")),
    Table("patrols", ("id", "person_id", "reach_id", "started_at", "ended_at", "end_reason", "last_activity_at",
                      "distance_m", "duration_s", "point_count", "photo_count", "problem_count", "valid", "reasons",
                      "created_at", "updated_at"),
          (("status", "finished"),)),
    Table("patrol_points", ("patrol_id", "at", "lat", "lon", "accuracy_m"), (("source", "live"),), numbered=False),
    Table("problems", ("id", "reporter_id", "patrol_id", "reach_id", "area_id", "category", "description", "lat",
                       "lon", "status", "assignee_id", "deadline", "reported_at", "closed_at", "updated_at"),
          (("location_source", "shared"),)),
    Table("problem_events", ("problem_id", "at", "actor_id", "action", "from_status", "to_status", "note", "data"),
          numbered=False),
    Table("problem_followers", ("problem_id", "person_id", "since"), numbered=False),
)
# fmt: on
TABLE = {t.name: t for t in _TABLES}
TABLES = {t.name: t.insert_sql for t in _TABLES}

AREA_SQL = TABLES["areas"]
REACH_SQL = TABLES["reaches"]
PERSON_SQL = TABLES["people"]
ROLE_SQL = TABLES["person_roles"]
REGISTRATION_SQL = TABLES["registrations"]
ASSIGNMENT_SQL = TABLES["assignments"]
PATROL_SQL = TABLES["patrols"]
POINT_SQL = TABLES["patrol_points"]
PROBLEM_SQL = TABLES["problems"]
EVENT_SQL = TABLES["problem_events"]
FOLLOWER_SQL = TABLES["problem_followers"]


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


class BulkLoad(ABC):
    """Rows in, batches of `chunk` out, in write transactions of about `write_seconds` each, with a pause of
    `pause_seconds` after each so that the running bot's writes wait about that long, not for the whole load.
    `commit()` ends one early.

    The load is not one transaction: it goes into a fresh store only, and a failed load is started again on a
    fresh one."""

    def __init__(self, chunk: int, write_seconds: float, pause_seconds: float) -> None:
        self._chunk = chunk
        self._write_seconds = write_seconds
        self._pause_seconds = pause_seconds
        self._began = 0.0
        self._pending: dict[str, list[Row]] = {}
        self.written: dict[str, int] = dict.fromkeys(TABLES, 0)

    @abstractmethod
    async def begin(self) -> None:
        """Get ready and open the first transaction."""

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None:
        """Commit the transaction that is open."""

    @abstractmethod
    async def _write(self, table: str, rows: list[Row]) -> None: ...

    @abstractmethod
    async def _done(self, finished: bool) -> None:
        """After the last commit (`finished`) or a rollback: give back what `begin` took, tidy up."""

    @abstractmethod
    async def _rollback(self) -> None: ...

    async def _begin(self) -> None:
        await self._open()
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
            await self._write(table, part)
            self.written[table] += len(part)
            if time.monotonic() - self._began >= self._write_seconds:
                await self._close()
                if self._pause_seconds:
                    await asyncio.sleep(self._pause_seconds)  # the bot's writes get in here
                await self._begin()

    async def flush(self) -> None:
        # Parents before children, so that foreign keys hold at every statement (and at every commit).
        for table in TABLES:
            await self._flush(table)

    async def commit(self) -> None:
        await self.flush()
        await self._close()
        await self._begin()

    async def finish(self) -> None:
        await self.flush()
        await self._close()
        await self._done(True)

    async def abort(self) -> None:
        await self._rollback()
        await self._done(False)


class BulkWriter(BulkLoad):
    """The SQLite load, on the store's writing connection (nothing else writes meanwhile). While loading, SQLite
    gets a bigger page cache (index inserts touch many pages); it is set back at the end."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        chunk: int = 5_000,
        *,
        write_seconds: float = WRITE_SECONDS,
        pause_seconds: float = PAUSE_SECONDS,
    ) -> None:
        super().__init__(chunk, write_seconds, pause_seconds)
        self._conn = conn
        self._cache_size: int | None = None

    async def begin(self) -> None:
        row = await (await self._conn.execute("PRAGMA cache_size")).fetchone()
        self._cache_size = int(row[0]) if row is not None else None
        await self._conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, for the load only
        await self._begin()

    async def _open(self) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")

    async def _close(self) -> None:
        await self._conn.execute("COMMIT")

    async def _write(self, table: str, rows: list[Row]) -> None:
        await self._conn.executemany(TABLES[table], rows)

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")

    async def _done(self, finished: bool) -> None:
        if self._cache_size is not None:
            await self._conn.execute(f"PRAGMA cache_size = {self._cache_size}")
            self._cache_size = None
        await self._conn.execute("PRAGMA optimize")


class PostgresBulkWriter(BulkLoad):
    """The PostgreSQL load: COPY on one pooled connection, each transaction holding the write lock every writer
    takes (storage/engine.py), so the bot's writes wait for one transaction at most. At the end the identity
    sequences are set past the ids written (COPY gives them; the sequences did not move) and the tables are
    vacuumed and analyzed: fresh statistics for the planner, and the visibility map that index-only scans need,
    which autovacuum would otherwise build some minutes later."""

    def __init__(
        self,
        engine: PostgresEngine,
        chunk: int = PG_CHUNK,
        *,
        write_seconds: float = PG_WRITE_SECONDS,
        pause_seconds: float = 0.0,
    ) -> None:
        super().__init__(chunk, write_seconds, pause_seconds)
        self._engine = engine
        self._raw: Any = None  # the pooled connection, from begin() to the end
        self._transaction: Any = None

    async def begin(self) -> None:
        self._raw = await self._engine.pool.acquire()
        await self._begin()

    async def _open(self) -> None:
        self._transaction = self._raw.transaction()
        await self._transaction.start()
        await self._raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)

    async def _close(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.commit()

    async def _write(self, table: str, rows: list[Row]) -> None:
        spec = TABLE[table]
        tail = spec.copy_tail
        records = [row + tail for row in rows] if tail else rows
        await self._raw.copy_records_to_table(table, records=records, columns=spec.copy_columns)

    async def _rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await asyncio.shield(transaction.rollback())

    async def _done(self, finished: bool) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            written = [t for t in _TABLES if self.written[t.name]]
            if finished and written:
                async with raw.transaction():
                    await raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
                    for spec in written:
                        if spec.numbered:
                            await _set_identity(raw, spec.name)
                # VACUUM runs outside a transaction; ANALYZE with it.
                await raw.execute(f"VACUUM (ANALYZE) {', '.join(t.name for t in written)}")
        finally:
            await self._engine.pool.release(raw)


async def _set_identity(raw: asyncpg.Connection, table: str) -> None:
    """The next id the database gives in `table` comes after the largest there (a known table name)."""
    await raw.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
    )


def bulk_writer(store: Store) -> BulkLoad:
    """The engine's bulk load for the store (nothing else in this process writes while it runs)."""
    engine = store.engine
    if isinstance(engine, PostgresEngine):
        return PostgresBulkWriter(engine)
    return BulkWriter(writer_connection(store))


def writer_connection(store: Store) -> aiosqlite.Connection:
    """The store's writing connection, for a bulk load that runs while nothing else writes."""
    engine = store.engine
    if not isinstance(engine, SqliteEngine):
        raise RuntimeError("the bulk load writes SQLite only")
    return engine.raw_writer  # the bulk load manages its own transactions
