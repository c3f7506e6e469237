"""The two engines under the Store: one SQLite file (the default), or a PostgreSQL server.

Repositories talk to a `Connection`: execute, insert, executemany and the three fetches, with `?` (or `:name`)
placeholders as SQLite writes them. Each engine maps that onto its driver, so the SQL the repositories hold is
written once wherever the two dialects agree, and side by side (`Connection.dialect`) where they do not.

Both engines keep SQLite's one-writer model, because the repositories were written for it: a read followed by a
write inside `atomic()` may rely on nobody writing in between. SQLite gets that from `BEGIN IMMEDIATE` behind one
connection; PostgreSQL from a transaction-scoped advisory lock that every writing transaction takes first, in
every worker process. Reads run beside writes on both, without waiting.

On PostgreSQL that lock is a readers-writer lock: the hot, narrow writes of the intake (a batch of live-location
points: storage/patrols.py) take it `shared`, beside each other, and settle what they have in common with row
locks taken in one order; every other write takes it exclusively, as before, and so still runs with no other
writer at all. One global writer made N worker processes take live locations no faster than one (issue 17).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import aiosqlite
import asyncpg

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any] | dict[str, Any]
# sqlite3.Row or asyncpg.Record: both index by position and by column name, and have keys().
Row = Any

# The key of the advisory lock that makes PostgreSQL writes one at a time, as SQLite's are. Any constant will do
# as long as nothing else in the database uses it: "riverbot" in ASCII, as a signed 64-bit integer.
WRITE_LOCK_KEY = 0x7269766572626F74


class DatabaseUnreachable(ConnectionError):
    """The PostgreSQL server could not be reached (refused, no such host, the connection broke): the driver's
    OSError, told apart from the OSErrors of files and of Telegram that the callers also see. It may pass."""


class DatabaseRefused(Exception):
    """The PostgreSQL server answered and would not let us in (no such database, a wrong user or password): unlike
    `DatabaseUnreachable`, this does not pass by itself, so `riverbot` exits 2 (fix the settings), not 3 (retry)."""


# What the database says when it fails, whichever engine: what code outside storage/ catches, rather than
# sqlite3.Error, to report a database failure. (asyncpg.InterfaceError is left out: it means misuse, a bug.)
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.Error,
    asyncpg.PostgresError,
    DatabaseUnreachable,
    DatabaseRefused,
)


class Connection(ABC):
    """What a repository writes and reads through: the transaction it is in, or the engine's reader."""

    dialect: ClassVar[Dialect]

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement; returns the rows it changed."""

    @abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int:
        """One INSERT of one row into a table with an `id` key; returns the new row's id."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        for row in await self.fetchall(sql, params):
            return row
        return None

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class SqliteConnection(Connection):
    dialect = "sqlite"

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.raw.execute(sql, params) as cursor:
            return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        async with self.raw.execute(sql, params) as cursor:
            if cursor.lastrowid is None or cursor.rowcount == 0:
                raise RuntimeError("insert() used for a statement that inserted nothing")
            return cursor.lastrowid

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self.raw.executemany(sql, rows)

    # execute_fetchall is one hop to the connection's thread instead of three (execute, fetch, close): reads
    # are on every update's path, and the hops dominate a primary-key lookup.
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.raw.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        for row in await self.raw.execute_fetchall(sql, params):
            return row
        return None


class Engine(ABC):
    """A database the Store runs on: a reader for reads outside transactions, and serialized write
    transactions."""

    dialect: ClassVar[Dialect]
    reader: Connection

    @abstractmethod
    def write(self, *, exclusive: bool = True, shared: bool = False) -> AbstractAsyncContextManager[Connection]:
        """One write transaction, the only one running: committed when the block ends, rolled back when it
        raises or is cancelled. Not `exclusive` (PostgreSQL): beside other writers, for statements that are right
        whoever else writes (each row written is the caller's alone, an insert ignores a conflict) and that would
        otherwise queue behind every other write in every process: the inbox's bookkeeping (storage/inbox.py).
        `shared` (PostgreSQL; it overrides `exclusive`): beside other shared writers, never beside an exclusive
        one, for writes that lock the rows they share with other shared writers, in one order (the live-location
        points). SQLite has one writer: every write there is exclusive."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def table_names(self) -> list[str]: ...


class SqliteEngine(Engine):
    """One SQLite file in WAL mode: one writing connection behind a lock, one reading connection."""

    dialect = "sqlite"

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self.raw_writer = writer
        self.writer = SqliteConnection(writer)
        self.reader = SqliteConnection(reader)
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def write(self, *, exclusive: bool = True, shared: bool = False) -> AsyncIterator[Connection]:
        async with self._write_lock:  # one connection: every write is exclusive here
            conn = self.raw_writer
            try:
                # BEGIN inside the try: a task cancelled while BEGIN waits for another process's lock must not
                # leave the shared writer connection inside a transaction for every later write to trip on.
                await conn.execute("BEGIN IMMEDIATE")
                yield self.writer
                await conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    await asyncio.shield(conn.execute("ROLLBACK"))

    async def close(self) -> None:
        async with self._write_lock:
            await self.reader.raw.close()  # type: ignore[attr-defined]
            await self.raw_writer.close()

    async def table_names(self) -> list[str]:
        rows = await self.reader.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [str(r[0]) for r in rows]


# --- PostgreSQL -------------------------------------------------------------------------------------------------

# A quoted string, a quoted name, a comment, a `::` cast, a `?` or a `:name`: the scanner skips the first four and
# numbers the last two.
_TOKENS = re.compile(
    r"'(?:[^']|'')*'"
    r'|"(?:[^"]|"")*"'
    r"|--[^\n]*"
    r"|/\*.*?\*/"
    r"|::"
    r"|\?"
    r"|:[A-Za-z_][A-Za-z_0-9]*",
    re.DOTALL,
)


@lru_cache(maxsize=4096)
def numbered(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """SQLite's placeholders as PostgreSQL's `$1, $2, …`: returns the statement and, when it used `:name`
    placeholders, the names in the order of their numbers (a name used twice keeps one number)."""
    names: dict[str, int] = {}
    count = 0
    positional = False

    def replace(match: re.Match[str]) -> str:
        nonlocal count, positional
        token = match.group(0)
        if token == "?":
            positional = True
            count += 1
            return f"${count}"
        if token.startswith(":") and token != "::":
            name = token[1:]
            if name not in names:
                names[name] = len(names) + 1
            return f"${names[name]}"
        return token

    out = _TOKENS.sub(replace, sql)
    if positional and names:
        raise ValueError("a statement mixes ? and :name placeholders")
    return out, (tuple(names) if names else None)


def bind(sql: str, params: Params) -> tuple[str, Sequence[Any]]:
    """The statement in PostgreSQL's placeholders and its arguments in their order."""
    text, names = numbered(sql)
    if names is None:
        if isinstance(params, dict):
            raise TypeError("named parameters given to a statement with ? placeholders")
        return text, params
    if not isinstance(params, dict):
        raise TypeError("a statement with :name placeholders needs a dict of parameters")
    return text, [params[name] for name in names]


def _rowcount(status: str) -> int:
    """The rows a statement changed, from its command tag ("UPDATE 3", "INSERT 0 1", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection(Connection):
    """One pooled connection, inside a transaction the engine opened."""

    dialect = "postgresql"

    def __init__(self, raw: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        self.raw = raw

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, args = bind(sql, params)
        return _rowcount(await self.raw.execute(text, *args))

    async def insert(self, sql: str, params: Params = ()) -> int:
        text, args = bind(sql, params)
        value = await self.raw.fetchval(f"{text} RETURNING id", *args)
        if value is None:
            raise RuntimeError("insert() used for a statement that inserted nothing")
        return int(value)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        prepared = [bind(sql, row) for row in rows]
        if prepared:
            await self.raw.executemany(prepared[0][0], [args for _, args in prepared])

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = bind(sql, params)
        return list(await self.raw.fetch(text, *args))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = bind(sql, params)
        return await self.raw.fetchrow(text, *args)


class PostgresReader(Connection):
    """Reads outside a transaction: each on whichever pooled connection is free."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def execute(self, sql: str, params: Params = ()) -> int:
        raise RuntimeError("writes go through Store.atomic()")

    async def insert(self, sql: str, params: Params = ()) -> int:
        raise RuntimeError("writes go through Store.atomic()")

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        raise RuntimeError("writes go through Store.atomic()")

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = bind(sql, params)
        try:
            return list(await self._pool.fetch(text, *args))
        except OSError as exc:
            raise DatabaseUnreachable(str(exc)) from exc

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = bind(sql, params)
        try:
            return await self._pool.fetchrow(text, *args)
        except OSError as exc:
            raise DatabaseUnreachable(str(exc)) from exc


class PostgresEngine(Engine):
    """A PostgreSQL database shared by any number of processes."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.pool = pool
        self.reader = PostgresReader(pool)
        # Writers in this process queue here rather than each holding a pooled connection while they wait for
        # the advisory lock.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str, *, max_size: int = 10) -> PostgresEngine:
        with connect_errors():
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                server_settings={"TimeZone": "UTC", "jit": "off"},
                init=_init_connection,
                connection_class=_PooledConnection,
            )
        return cls(url, pool)

    @asynccontextmanager
    async def write(self, *, exclusive: bool = True, shared: bool = False) -> AsyncIterator[Connection]:
        begin = _BEGIN_SHARED if shared else _BEGIN_EXCLUSIVE if exclusive else "BEGIN"
        # Exclusive writers in this process queue here; shared ones only queue behind an exclusive writer, at the
        # server, which is where they must wait anyway.
        queue = self._write_lock if exclusive and not shared else contextlib.nullcontext()
        async with queue, _acquired(self.pool) as raw:
            try:
                # BEGIN and the lock in one round trip (the simple protocol runs both), inside the try: cancelled
                # while it waits for the lock, the transaction is rolled back here, not left to the pool.
                await raw.execute(begin)
                yield PostgresConnection(raw)
            except BaseException:
                if not raw.is_closed():
                    await asyncio.shield(raw.execute("ROLLBACK"))
                raise
            else:
                await raw.execute("COMMIT")

    async def fetch_alone(self, sql: str, params: Params = ()) -> list[Row]:
        """One statement outside any transaction (it is its own), beside every writer: for `Store.write_alone`."""
        text, args = bind(sql, params)
        async with _acquired(self.pool) as raw:
            return list(await raw.fetch(text, *args))

    async def close(self) -> None:
        async with self._write_lock:
            await self.pool.close()

    async def table_names(self) -> list[str]:
        rows = await self.reader.fetchall(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        return [str(r[0]) for r in rows]

    @asynccontextmanager
    async def session_lock(self, space: int, key: int) -> AsyncIterator[bool]:
        """Hold the session advisory lock (space, key) while the block runs, on a pooled connection kept for it;
        yields False (and holds nothing) when another session has it. It lives as long as that session: a process
        that dies, however it dies, drops it the moment the server sees its connection close, with nothing to
        expire first. The lock is let go before the connection goes back to the pool; a connection that cannot
        say so is closed instead, and its session's locks end with it."""
        async with _acquired(self.pool) as raw:
            if not await raw.fetchval("SELECT pg_try_advisory_lock($1, $2)", space, key):
                yield False
                return
            try:
                yield True
            finally:
                try:
                    await raw.execute("SELECT pg_advisory_unlock($1, $2)", space, key)
                except Exception:  # the session is gone, or going: so is the lock
                    _end_session(raw)
                except BaseException:
                    _end_session(raw)
                    raise


def _end_session(raw: Any) -> None:
    """Close a pooled connection at once (its session's locks end with it); one the pool has already let go of,
    its session lost, is left alone."""
    with contextlib.suppress(asyncpg.InterfaceError):
        raw.terminate()


# The transaction's first round trip: BEGIN, and the writers' lock in its mode.
_BEGIN_EXCLUSIVE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
_BEGIN_SHARED = f"BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK_KEY})"


class _PooledConnection(asyncpg.Connection):
    """A pooled connection given back as it is: no reset query.

    asyncpg resets a connection each time the pool takes it back (advisory unlock all, CLOSE ALL, UNLISTEN *,
    RESET ALL): a round trip, and server work, for every read and every write, five an update on the intake path.
    The Store leaves nothing to reset on a pooled connection: each of its transactions ends before it is given
    back (asyncpg still rolls back one that did not), its advisory locks are transaction-scoped (the migration's
    session lock is released in a `finally`), it sets nothing but `SET LOCAL`, and LISTEN is on the workers' own
    connection (storage/claims.py), not a pooled one."""

    def get_reset_query(self) -> str:
        return ""


@asynccontextmanager
async def _acquired(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """A pooled connection, as `pool.acquire()` gives it, but a server out of reach raises DatabaseUnreachable;
    OSErrors raised inside the block (a photo's file) stay what they are."""
    try:
        raw = await pool.acquire()
    except OSError as exc:
        raise DatabaseUnreachable(str(exc)) from exc
    try:
        yield raw
    finally:
        await pool.release(raw)


def _numeric(text: str) -> int | float:
    """PostgreSQL's numeric (what sum() of integers and avg() give) as SQLite answers: an int when whole."""
    value = float(text)
    return int(text) if text.lstrip("-").isdigit() else value


async def _init_connection(raw: asyncpg.Connection) -> None:
    """Every pooled connection decodes the same way."""
    await raw.set_type_codec("numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text")


def id_set(dialect: Dialect, placeholder: str = "?") -> str:
    """A set of ids passed as one parameter, for `x IN <this>`: one statement however many ids, and one plan.
    SQLite reads the ids from a JSON array, PostgreSQL from an array; give the parameter `ids_param(...)`."""
    if dialect == "postgresql":
        return f"(SELECT unnest(CAST({placeholder} AS BIGINT[])))"
    return f"(SELECT value FROM json_each({placeholder}))"


def ids_param(dialect: Dialect, ids: Iterable[int]) -> str | list[int]:
    """The parameter for `id_set`."""
    if dialect == "postgresql":
        return [int(i) for i in ids]
    return json.dumps([int(i) for i in ids])


# Connecting failed before the server could say why (refused, no such socket, a timeout), or the server is not
# taking connections now (starting up, shutting down, full): all may pass.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# The server answered and said no (no such database, a wrong user or password): these do not pass by themselves.
_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InsufficientPrivilegeError,
    asyncpg.ClientConfigurationError,
)


@contextmanager
def connect_errors() -> Iterator[None]:
    """Connecting to PostgreSQL: a server out of reach as `DatabaseUnreachable` (it may come back, so a service
    manager retries), one that refused as `DatabaseRefused` (only a changed DATABASE_URL or server helps)."""
    try:
        yield
    except _REFUSED as exc:
        raise DatabaseRefused(str(exc) or type(exc).__name__) from exc
    except DatabaseUnreachable:
        raise
    except _UNREACHABLE as exc:
        raise DatabaseUnreachable(str(exc) or type(exc).__name__) from exc


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def sqlite_path(target: str | Path) -> Path:
    """The file a `sqlite:///…` URL (or a plain path) names."""
    if isinstance(target, Path):
        return target
    if target.startswith("sqlite:///"):
        return Path(target.removeprefix("sqlite:///") or ".")
    if target.startswith("sqlite://"):
        raise ValueError(f"not a SQLite URL with a path: {target!r} (write sqlite:///path/to/file)")
    return Path(target)


# A constraint said no (unique, foreign key, check, or an append-only trigger), whichever engine.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


def is_unique_violation(exc: BaseException) -> bool:
    """A UNIQUE constraint said no, whichever engine."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return type(exc).__name__ == "UniqueViolationError"
