"""The Store: repositories over one engine, SQLite (the default) or PostgreSQL (storage/engine.py).

Both engines allow one writer at a time. On SQLite all writes go through one connection guarded by a lock and
start with `BEGIN IMMEDIATE`, so a transaction never fails half-way with "database is locked" when it tries to
upgrade a read lock; reads go through their own connection and, thanks to WAL, never wait for a writer. On
PostgreSQL a write transaction takes an advisory lock first, across every worker process.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Self

import aiosqlite

from storage.assistants import Assistants
from storage.dbtime import from_db_time, to_db_time, utc_now
from storage.dispatch import Dispatch
from storage.engine import (
    Connection,
    Dialect,
    Engine,
    Params,
    PostgresEngine,
    Row,
    SqliteEngine,
    is_postgres_url,
    sqlite_path,
)
from storage.inbox import Inbox
from storage.kept import KeptReports
from storage.marks import Marks
from storage.migrate import (
    BeforeMigrating,
    Migration,
    apply_migrations,
    apply_postgres_migrations,
    bundled_migrations,
    current_version,
)
from storage.patrols import Patrols, Photos
from storage.problems import Problems
from storage.registry import Areas, Assignments, Bindings, Dialogs, Invites, Meta, Reaches, Registrations
from storage.repos import Chats, FailedUpdates, People
from storage.retention import Retention
from storage.summaries import Summaries
from storage.tallies import Tallies

if sys.platform != "win32":  # flock: the startup lock across processes is POSIX only
    import fcntl

# The time helpers used to live here; storage/__init__.py and older callers still import them from here.
__all__ = ["Params", "Row", "Store", "Synchronous", "from_db_time", "to_db_time", "utc_now"]

Synchronous = Literal["FULL", "NORMAL", "EXTRA"]

# The transaction the current task is in, so that a nested atomic() becomes a SAVEPOINT instead of deadlocking
# on the writer lock it already holds.
_current_tx: contextvars.ContextVar[_Transaction | None] = contextvars.ContextVar("riverbot_tx", default=None)


# How much of the writers' lock a transaction holds (Engine.write): none, shared, or all of it.
_NONE, _SHARED, _EXCLUSIVE = 0, 1, 2


class _Transaction:
    def __init__(self, conn: Connection, store: Store, level: int = _EXCLUSIVE) -> None:
        self.conn = conn
        self.store = store
        self.level = level
        self.savepoints = 0
        # A task created inside atomic() inherits the context variable but not the transaction: it runs on its
        # own, possibly after the COMMIT, so it must take the writer lock like anyone else.
        self.task = asyncio.current_task()


SQLITE_HEADER = b"SQLite format 3\x00"


class UnusableDatabase(sqlite3.DatabaseError):
    """The file where the database belongs is not one to work on: `problem` is "empty" (0 bytes, as a command
    that wrote over it may leave it), "foreign" (another kind of file) or "damaged" (SQLite's quick check found
    broken pages; `detail` is its first finding). Initialising an empty or foreign file would quietly replace the
    office's records with an empty database, and working on a damaged one fails later, halfway through someone's
    work; so each is refused at start and left as it is, for `riverbot restore`."""

    def __init__(self, path: Path, problem: Literal["empty", "foreign", "damaged"], detail: str = "") -> None:
        what = {"empty": "0 bytes", "foreign": "no SQLite header", "damaged": detail}[problem]
        super().__init__(f"{path} is {'damaged' if problem == 'damaged' else 'not a database'} ({what})")
        self.path = path
        self.problem = problem
        self.detail = detail


def check_database_file(path: Path) -> None:
    """Refuse a file at `path` that SQLite would take as a new, empty database or cannot read; a missing file
    is fine (a first start creates it)."""
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    if not header:
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return  # not yet checkpointed: SQLite reads it from the WAL
        raise UnusableDatabase(path, "empty")
    if header != SQLITE_HEADER:
        raise UnusableDatabase(path, "foreign")


class Store:
    """The only way to the database. Repositories (`store.people`, `store.chats`, …) hold the SQL.

    `shared`: other processes take updates on this same database (always so on PostgreSQL; on SQLite only when
    asked, as tests of several workers do). Then nothing that decides behaviour is kept in this process between
    calls: the people and open-patrol caches are not used, and a write the caller does not wait for (a live
    location's track point) is committed before the call returns, so that the next worker sees it. Alone on a
    SQLite file, the caches stay: another process there is the command line, seen within their CACHE_SECONDS.
    docs/workers-state.md lists every piece of state and what became of it.
    """

    def __init__(self, engine: Engine, *, shared: bool | None = None) -> None:
        self.engine = engine
        self.dialect: Dialect = engine.dialect
        self.shared: bool = engine.dialect == "postgresql" if shared is None else shared
        self.schema_version = 0
        self.people = People(self)
        self.chats = Chats(self)
        self.failed_updates = FailedUpdates(self)
        self.areas = Areas(self)
        self.reaches = Reaches(self)
        self.assignments = Assignments(self)
        self.invites = Invites(self)
        self.bindings = Bindings(self)
        self.registrations = Registrations(self)
        self.dialogs = Dialogs(self)
        self.meta = Meta(self)
        self.photos = Photos(self)
        self.patrols = Patrols(self)
        self.assistants = Assistants(self)
        self.problems = Problems(self)
        self.dispatch = Dispatch(self)
        self.tallies = Tallies(self)
        self.summaries = Summaries(self)
        self.inbox = Inbox(self)
        self.retention = Retention(self)
        self.kept_reports = KeptReports(self)
        self.marks = Marks(self)

    @property
    def path(self) -> Path:
        """The SQLite file; the tools that work on the file itself (backups, bulk reads) need it."""
        if not isinstance(self.engine, SqliteEngine):
            raise RuntimeError("this store is on PostgreSQL: it has no database file")
        return self.engine.path

    @classmethod
    async def open(
        cls,
        target: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        migrations: Sequence[Migration] | None = None,
        before_migrating: BeforeMigrating | None = None,
        verify: bool = False,
        shared: bool | None = None,
    ) -> Self:
        """Open (creating if needed) and migrate the database at `target`: a SQLite file's path or `sqlite:///`
        URL, or a `postgresql://` URL. `before_migrating` (a backup) runs before a migration changes an existing
        schema. `verify` runs SQLite's quick check first (the bot's start and `migrate`), so a damaged file is
        refused before anything is written to it. `shared` (see the class): None for the engine's own answer."""
        if is_postgres_url(target):
            return await cls._open_postgres(
                str(target), migrations=migrations, before_migrating=before_migrating, shared=shared
            )
        path = sqlite_path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer: aiosqlite.Connection | None = None
        try:
            async with _startup_lock(path):
                # Checked and created under the lock: a new file is 0 bytes until its opener has set it up, and
                # that opener holds the lock until then; a 0-byte file seen here is one nobody is setting up.
                existed = path.exists()
                check_database_file(path)
                writer = await _connect(path, synchronous)
                if verify and existed:
                    await _quick_check(writer, path)
                await writer.execute("PRAGMA journal_mode = WAL")
                await apply_migrations(
                    writer, bundled_migrations() if migrations is None else migrations, before=before_migrating
                )
            version = await current_version(writer)
            reader = await _connect(path, synchronous)
        except BaseException:
            if writer is not None:
                await writer.close()
            raise
        store = cls(SqliteEngine(path, writer, reader), shared=shared)
        store.schema_version = version
        return store

    @classmethod
    async def _open_postgres(
        cls,
        url: str,
        *,
        migrations: Sequence[Migration] | None,
        before_migrating: BeforeMigrating | None,
        shared: bool | None,
    ) -> Self:
        engine = await PostgresEngine.connect(url)
        try:
            version = await apply_postgres_migrations(
                engine, bundled_migrations("postgresql") if migrations is None else migrations, before=before_migrating
            )
        except BaseException:
            await engine.close()
            raise
        store = cls(engine, shared=shared)
        store.schema_version = version
        return store

    async def close(self) -> None:
        await self.patrols.drain()  # track points still being written are kept, not dropped
        await self.engine.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def atomic(self, *, exclusive: bool = True, shared: bool = False) -> AsyncIterator[Connection]:
        """A write transaction (or a SAVEPOINT when nested): all of it is stored, or none of it. Not `exclusive`:
        beside other writers on PostgreSQL (Engine.write), for the inbox's bookkeeping only. `shared`: beside
        other shared writers but no exclusive one, for writes that lock the rows they share (the track points)."""
        level = _SHARED if shared else _EXCLUSIVE if exclusive else _NONE
        tx = self._own_tx()
        if tx is not None:
            if level > tx.level:
                # Taking more of the writers' lock now, after row locks, could deadlock against a writer that holds
                # it and waits for those rows.
                raise RuntimeError("a write needing more of the writers' lock inside a transaction holding less")
            tx.savepoints += 1
            name = f"sp{tx.savepoints}"
            await tx.conn.execute(f"SAVEPOINT {name}")
            try:
                yield tx.conn
            except BaseException:
                await tx.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                await tx.conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                await tx.conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        async with self.engine.write(exclusive=exclusive, shared=shared) as conn:
            token = _current_tx.set(_Transaction(conn, self, level))
            try:
                yield conn
            finally:
                _current_tx.reset(token)

    def _own_tx(self) -> _Transaction | None:
        """This store's transaction, if the current task is the one that opened it."""
        tx = _current_tx.get()
        if tx is None or tx.store is not self or tx.task is not asyncio.current_task():
            return None
        return tx

    def in_transaction(self) -> bool:
        return self._own_tx() is not None

    def _read_conn(self) -> Connection:
        # Inside a transaction, read through it so the task sees its own uncommitted writes.
        tx = self._own_tx()
        return tx.conn if tx is not None else self.engine.reader

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._read_conn().fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._read_conn().fetchall(sql, params)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        return await self._read_conn().fetchval(sql, params)

    async def write_alone(self, sql: str, params: Params = ()) -> list[Row]:
        """One statement that writes beside other writers (`atomic(exclusive=False)`: rows that are the caller's
        alone), in a transaction of its own or the caller's; returns the rows it returns. On PostgreSQL, outside a
        transaction, the statement is its own transaction: one round trip instead of BEGIN, it and COMMIT (the
        inbox's bookkeeping, a few statements for every update a worker handles)."""
        if isinstance(self.engine, PostgresEngine) and self._own_tx() is None:
            return await self.engine.fetch_alone(sql, params)
        async with self.atomic(exclusive=False) as conn:
            return await conn.fetchall(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement in its own transaction (or the caller's); returns the rows changed."""
        async with self.atomic() as conn:
            return await conn.execute(sql, params)

    async def insert(self, sql: str, params: Params = ()) -> int:
        """One INSERT in its own transaction (or the caller's); returns the new row's id."""
        async with self.atomic() as conn:
            return await conn.insert(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.atomic() as conn:
            await conn.executemany(sql, rows)

    async def table_names(self) -> list[str]:
        return await self.engine.table_names()

    async def database_bytes(self) -> int:
        """The database's size on disk: the SQLite file and its WAL, or what PostgreSQL counts for the
        database (`riverbot status`)."""
        if isinstance(self.engine, SqliteEngine):
            path = self.engine.path
            files = (path, path.with_name(path.name + "-wal"))
            return sum(p.stat().st_size for p in files if p.exists())
        return int(await self.fetchval("SELECT pg_database_size(current_database())"))


async def _connect(path: Path, synchronous: Synchronous) -> aiosqlite.Connection:
    # isolation_level=None: the sqlite3 module must not open transactions behind our back; atomic() does.
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=30.0)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 30000")
        # The first PRAGMA that reads the file: on a file that is not a database, this is what fails.
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        # The connection's worker is a non-daemon thread: left open, it keeps the process from exiting.
        await conn.close()
        raise
    return conn


async def _quick_check(conn: aiosqlite.Connection, path: Path) -> None:
    """SQLite's quick check: every page and b-tree well formed (not index contents against tables, which
    `integrity_check` adds at many times the cost). Badly broken pages make the check itself fail. Measured on
    the city-scale demo (940 MB, 2 million patrols): 7-13 s, 8 of them the patrols table; a county's database
    takes well under a second. Paid once per start, against running for days on a damaged file."""
    try:
        async with conn.execute("PRAGMA quick_check(3)") as cursor:
            findings = [str(row[0]) for row in await cursor.fetchall()]
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, UnusableDatabase):
            raise
        raise UnusableDatabase(path, "damaged", str(exc)) from exc
    if findings != ["ok"]:
        raise UnusableDatabase(path, "damaged", "; ".join(findings))


@asynccontextmanager
async def _startup_lock(path: Path) -> AsyncIterator[None]:
    """One opener at a time switches the file to WAL and migrates it, across processes (`flock` on a lock
    file beside the database). Two processes creating one new file at once otherwise race on the switch to
    WAL, where SQLite's busy timeout does not apply. The wait runs in a thread, so that openers in this same
    process (which flock also excludes) keep running and can finish."""
    if sys.platform == "win32":  # not a POSIX system: no cross-process guard
        yield
        return
    handle = await asyncio.to_thread(open, path.with_name(path.name + ".lock"), "a+b")
    try:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
