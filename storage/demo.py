"""Bulk writes for `riverbot demo-data`: plain tuples in big batches.

The generator (bot/demo.py) hands over rows as tuples in the column order below; nothing here knows what the
rows mean. The store must be fresh: `has_history` says whether it already holds patrols or problems.
`bulk_writer(store)` picks the engine's way to load: on SQLite, executemany on the store's writing connection in
transactions of a fraction of a second, so the bot can write in between; on PostgreSQL, COPY (asyncpg's
`copy_records_to_table`) in one transaction, with the indexes and foreign keys built after the rows.
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
# PostgreSQL: rows per COPY, and the memory each index build may take (the server's default is 64 MB).
PG_CHUNK = 50_000
PG_INDEX_MEMORY = "256MB"


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


class BulkLoad(ABC):
    """Rows in, by table, written in batches of `chunk`: `begin()`, `add()` as they come, `commit()` where a
    transaction may end, then `finish()` (or `abort()` when the generator failed). A failed load is started again
    on a fresh store."""

    def __init__(self, chunk: int) -> None:
        self._chunk = chunk
        self._pending: dict[str, list[Row]] = {}
        self.written: dict[str, int] = dict.fromkeys(TABLES, 0)

    @abstractmethod
    async def begin(self) -> None: ...

    @abstractmethod
    async def _fetchval(self, sql: str) -> Any: ...

    async def next_id(self, table: str) -> int:
        """The id after the largest in `table`, as the load sees it (PostgreSQL's load locks the tables it writes
        against everyone else until it ends, reads included)."""
        if table not in TABLES:
            raise ValueError(table)
        return int(await self._fetchval(f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))  # a known table name

    @abstractmethod
    async def _write(self, table: str, rows: list[Row]) -> None:
        """One batch of at most `chunk` rows."""

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def finish(self) -> None: ...

    @abstractmethod
    async def abort(self) -> None: ...

    async def add(self, table: str, rows: Sequence[Row]) -> None:
        pending = self._pending.setdefault(table, [])
        pending.extend(rows)
        if len(pending) >= self._chunk:
            await self.flush()

    async def flush(self) -> None:
        # Parents before children, so that foreign keys hold at every statement (and at every commit).
        for table in TABLES:
            rows = self._pending.pop(table, [])
            for start in range(0, len(rows), self._chunk):
                part = rows[start : start + self._chunk]
                await self._write(table, part)
                self.written[table] += len(part)


class BulkWriter(BulkLoad):
    """The SQLite load, on the store's writing connection (nothing else in this process writes meanwhile), in
    write transactions of about `write_seconds` each, with a pause of `pause_seconds` after each so that the
    running bot's writes wait about that long, not for the whole load (a city's history is a minute of writing).
    `commit()` ends one early. While loading, SQLite gets a bigger page cache (index inserts touch many pages);
    it is set back at the end."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        chunk: int = 5_000,
        *,
        write_seconds: float = WRITE_SECONDS,
        pause_seconds: float = PAUSE_SECONDS,
    ) -> None:
        super().__init__(chunk)
        self._conn = conn
        self._write_seconds = write_seconds
        self._pause_seconds = pause_seconds
        self._began = 0.0
        self._cache_size: int | None = None

    async def begin(self) -> None:
        row = await (await self._conn.execute("PRAGMA cache_size")).fetchone()
        self._cache_size = int(row[0]) if row is not None else None
        await self._conn.execute("PRAGMA cache_size = -65536")  # 64 MiB, for the load only
        await self._begin()

    async def _fetchval(self, sql: str) -> Any:
        row = await (await self._conn.execute(sql)).fetchone()
        return None if row is None else row[0]

    async def _begin(self) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")
        self._began = time.monotonic()

    async def _write(self, table: str, rows: list[Row]) -> None:
        await self._conn.executemany(TABLES[table], rows)
        if time.monotonic() - self._began >= self._write_seconds:
            await self._conn.execute("COMMIT")
            await asyncio.sleep(self._pause_seconds)  # the bot's writes get in here
            await self._begin()

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


class PostgresBulkWriter(BulkLoad):
    """The PostgreSQL load: one transaction on one pooled connection, holding the write lock every writer takes
    (storage/engine.py), so the bot's writes wait for the whole load: run it before the bot.

    Kept row by row, the tables' secondary indexes and foreign keys make COPY some seven times slower (each row
    locks its parents, each index takes a random insert); so the load drops them first and builds them again at
    the end, in bulk, inside the same transaction: if anything fails, the rollback puts them back with the rest.
    Then the identity sequences are set past the ids written (COPY gives the ids; the sequences did not move),
    and after the commit the tables are vacuumed and analyzed: fresh statistics for the planner, and the
    visibility map that index-only scans need, which autovacuum would otherwise build some minutes later."""

    def __init__(self, engine: PostgresEngine, chunk: int = PG_CHUNK) -> None:
        super().__init__(chunk)
        self._engine = engine
        self._raw: Any = None  # the pooled connection, from begin() to the end
        self._transaction: Any = None
        self._rebuild: list[str] = []  # what begin() dropped, as the statements that make it again

    async def begin(self) -> None:
        self._raw = await self._engine.pool.acquire()
        try:
            self._transaction = self._raw.transaction()
            await self._transaction.start()
            await self._raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)
            await self._raw.execute(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_MEMORY}'")
            self._rebuild = await _drop_secondary(self._raw, list(TABLES))
        except BaseException:
            await self.abort()
            raise

    async def _fetchval(self, sql: str) -> Any:
        return await self._raw.fetchval(sql)

    async def _write(self, table: str, rows: list[Row]) -> None:
        spec = TABLE[table]
        tail = spec.copy_tail
        records = [row + tail for row in rows] if tail else rows
        await self._raw.copy_records_to_table(table, records=records, columns=spec.copy_columns)

    async def commit(self) -> None:
        await self.flush()  # one transaction: what is handed over so far is sent, and stays uncommitted

    async def finish(self) -> None:
        await self.flush()
        try:
            for statement in self._rebuild:
                await self._raw.execute(statement)
            for spec in _TABLES:
                if spec.numbered and self.written[spec.name]:
                    await _set_identity(self._raw, spec.name)
            transaction, self._transaction = self._transaction, None
            await transaction.commit()
        except BaseException:
            await self.abort()
            raise
        raw, self._raw = self._raw, None
        try:
            written = [t.name for t in _TABLES if self.written[t.name]]
            if written:  # VACUUM runs outside a transaction; ANALYZE with it
                await raw.execute(f"VACUUM (ANALYZE) {', '.join(written)}")
        finally:
            await self._engine.pool.release(raw)

    async def abort(self) -> None:
        transaction, self._transaction = self._transaction, None
        raw, self._raw = self._raw, None
        try:
            if transaction is not None:
                await asyncio.shield(transaction.rollback())
        finally:
            if raw is not None:
                await self._engine.pool.release(raw)


async def _drop_secondary(raw: asyncpg.Connection, tables: list[str]) -> list[str]:
    """Drop the foreign keys the tables hold and their indexes that back no constraint (primary keys and unique
    constraints stay, and so does any index a foreign key elsewhere refers to); returns the statements that make
    them again, indexes first."""
    indexes = await raw.fetch(
        "SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        " ORDER BY i.relname",
        tables,
    )
    keys = await raw.fetch(
        "SELECT c.conrelid::regclass::text AS tab, c.conname AS name, pg_get_constraintdef(c.oid) AS definition"
        " FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.conrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)"
        " ORDER BY c.conname",
        tables,
    )
    for key in keys:
        await raw.execute(f'ALTER TABLE {key["tab"]} DROP CONSTRAINT "{key["name"]}"')
    for index in indexes:
        await raw.execute(f'DROP INDEX "{index["name"]}"')
    return [str(i["definition"]) for i in indexes] + [
        f'ALTER TABLE {k["tab"]} ADD CONSTRAINT "{k["name"]}" {k["definition"]}' for k in keys
    ]


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
