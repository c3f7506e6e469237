"""Blocking reads for work done in a worker thread (exports, dossiers, backups), on either engine.

The Store's connections belong to the bot's event loop; a job that reads a year of records in a thread must not
make that loop wait, nor wait for it. So such a job opens a reader of its own:
- SQLite: a read-only `sqlite3` connection to the file. WAL lets it read while the bot writes.
- PostgreSQL: one asyncpg connection, owned by a private event loop on a thread of the reader's own, which the
  blocking calls hand their queries to. asyncpg rather than a second, synchronous driver: the statements, the
  placeholders (`engine.bind`), the type decoding (`engine._init_connection`) and the errors the callers know
  stay those of the Store. The loop gets its own thread, not the caller's, so the reader works from any thread,
  including one that runs an event loop of its own (a test, a coroutine that reads a few rows).

Both read each statement at one moment (SQLite: the statement's implicit read transaction; PostgreSQL: READ
COMMITTED, one snapshot per statement), and inside `snapshot()` every statement reads the same moment (SQLite:
one read transaction; PostgreSQL: REPEATABLE READ). The PostgreSQL connection always stays inside a READ ONLY
transaction, so that `rows()` can stream through a server-side cursor, as SQLite's cursor streams.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import asyncpg

from storage.engine import (
    Dialect,
    Params,
    PostgresEngine,
    Row,
    SqliteEngine,
    _init_connection,
    bind,
    connect_errors,
    is_postgres_url,
    sqlite_path,
)

if TYPE_CHECKING:
    from storage.store import Store

T = TypeVar("T")

# Rows fetched per round trip while `rows()` streams on PostgreSQL: a chunk of track points.
STREAM_BATCH = 5000


def database_target(target: Store | str | Path) -> str | Path:
    """The database a store (or a target) is on: the SQLite file's path, or the PostgreSQL URL."""
    if isinstance(target, (str, Path)):
        return target if is_postgres_url(target) else sqlite_path(target)
    engine = target.engine
    if isinstance(engine, PostgresEngine):
        return engine.url
    if isinstance(engine, SqliteEngine):
        return engine.path
    raise TypeError(f"no database target for {engine!r}")


class BlockingReader(ABC):
    """Read-only access to the store's database for one thread; use as a context manager."""

    dialect: ClassVar[Dialect]

    @abstractmethod
    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of one statement (`?` or `:name` placeholders, as the repositories write them)."""

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        for row in self.fetchall(sql, params):
            return row
        return None

    def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    @abstractmethod
    def rows(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """The rows of one statement, streamed: for results too big to hold (a year's track points)."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[None]:
        """Every statement inside the block reads the database as it was at one moment."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> BlockingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(target: Store | str | Path) -> BlockingReader:
    """A reader on the database of `target` (a store, or what `Store.open` takes)."""
    where = database_target(target)
    if isinstance(where, str):
        return PostgresBlockingReader(where)
    return SqliteBlockingReader(where)


class SqliteBlockingReader(BlockingReader):
    """The file opened read-only: a reader can never write, nor create a missing database."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 30000")

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def rows(self, sql: str, params: Params = ()) -> Iterator[Row]:
        yield from self._conn.execute(sql, params)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        # A deferred BEGIN: the read transaction, and with it the WAL snapshot, starts at the first read.
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


_READ_COMMITTED = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
_REPEATABLE_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class PostgresBlockingReader(BlockingReader):
    """One connection of its own, outside the Store's pool: a long export never holds a connection the bot's
    writers and readers need."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="riverbot-reader", daemon=True)
        self._thread.start()
        self._in_snapshot = False
        try:
            self._conn: asyncpg.Connection = self._run(self._connect())
        except BaseException:
            self._stop()
            raise

    async def _connect(self) -> asyncpg.Connection:
        with connect_errors():
            conn = await asyncpg.connect(self.url, server_settings={"TimeZone": "UTC"})
        try:
            await _init_connection(conn)
            await conn.execute(_READ_COMMITTED)
        except BaseException:
            await conn.close()
            raise
        return conn

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = bind(sql, params)
        return list(self._run(self._statement(lambda: self._conn.fetch(text, *args))))

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = bind(sql, params)
        return self._run(self._statement(lambda: self._conn.fetchrow(text, *args)))

    def rows(self, sql: str, params: Params = ()) -> Iterator[Row]:
        text, args = bind(sql, params)

        async def open_cursor() -> Any:
            return await self._conn.cursor(text, *args)

        cursor = self._run(self._statement(open_cursor))
        while True:
            batch = self._run(self._statement(lambda: cursor.fetch(STREAM_BATCH)))
            yield from batch
            if len(batch) < STREAM_BATCH:
                return

    async def _statement(self, work: Callable[[], Awaitable[T]]) -> T:
        """One statement; outside a snapshot, a failed one does not leave the connection in an aborted
        transaction for the next (SQLite's reader goes on after an error too)."""
        try:
            return await work()
        except asyncpg.PostgresError:
            if not self._in_snapshot and not self._conn.is_closed():
                await self._conn.execute(f"ROLLBACK; {_READ_COMMITTED}")
            raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        if self._in_snapshot:
            raise RuntimeError("snapshots do not nest")
        self._run(self._conn.execute(f"COMMIT; {_REPEATABLE_READ}"))
        self._in_snapshot = True
        try:
            yield
        finally:
            self._in_snapshot = False
            # ROLLBACK rather than COMMIT: it read only, and a failed statement left the transaction aborted.
            self._run(self._conn.execute(f"ROLLBACK; {_READ_COMMITTED}"))

    def close(self) -> None:
        try:
            if not self._conn.is_closed():
                self._run(self._conn.close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def schema_version_of(reader: BlockingReader) -> int:
    """The database's schema version; 0 for one riverbot never set up (no schema_version table yet)."""
    if reader.dialect == "postgresql":
        exists = reader.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    else:
        exists = reader.fetchval("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    if not exists:
        return 0
    return int(reader.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
