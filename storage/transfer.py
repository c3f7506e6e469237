"""Moving a county's database from its SQLite file to PostgreSQL (`riverbot migrate-data`): the SQL of both sides.

The source is opened read-only and read in one snapshot, so what is copied, counted and tallied is one moment of
it. The target is written in one transaction: the rows of every table go in with binary COPY (asyncpg's
`copy_records_to_table`: one statement a table, no row-by-row round trips), the identity sequences are moved past
the copied ids, and the caller checks the copy through the same transaction before it commits. Whatever goes
wrong, the target is left as it was.

Tables are loaded parents first, following the target's foreign keys, with every constraint and trigger in
force: a row SQLite kept against its own foreign keys (a hand edit in the sqlite3 shell, where they are off) is
refused, and the tables PostgreSQL derives with triggers (the reaches' bounding boxes, an R*Tree on SQLite) fill
themselves as the reaches go in. The append-only triggers of the problem log guard UPDATE and DELETE only, so a
load that inserts is never blocked by them, and nothing needs `session_replication_role` (a superuser's right).

SQLite keeps whatever value it is given; PostgreSQL's columns are typed. Every value is checked against its
column on the way, so a misfit aborts the move with its table, row, column and value instead of a COPY error
that names none of them.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiosqlite
import asyncpg

from storage.engine import (
    WRITE_LOCK_KEY,
    Connection,
    Engine,
    Params,
    PostgresConnection,
    Row,
    SqliteEngine,
    _init_connection,
)
from storage.store import Store, check_database_file

# Not data: each database keeps its own record of the migrations it went through.
NOT_COPIED = frozenset({"schema_version"})
# Rows per fetch from SQLite: big enough that the thread hop per fetch does not count, small enough to stay out of
# the way of memory on a province's patrol points.
BATCH = 5000
# (table, rows copied so far, rows in the table)
Progress = Callable[[str, int, int], None]


class TransferError(Exception):
    """A refusal or a failure the operator can act on: a key in the locales' [migrate_data] and its values.
    Raised before anything is written to the target, or with the target's transaction rolled back."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- the source -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[str, ...]
    # An SQLite virtual table (the reaches' R*Tree) or one of its shadow tables: derived, never copied.
    derived: bool


def readable(path: Path) -> Path:
    """The absolute path of the SQLite file to move. Raises TransferError when there is none at `path`, and
    storage.store.UnusableDatabase when the file is not a database."""
    if not path.is_file():
        raise TransferError("migrate_data.source_missing", path=str(path))
    check_database_file(path)
    return path.resolve()


def _surrogate_text(data: bytes) -> str:
    """Text as stored, even when it is not UTF-8: the bytes that are not come back as lone surrogates, which the
    value check then names (instead of a decoding error that names no row)."""
    return data.decode("utf-8", "surrogateescape")


class Source:
    """The SQLite database to move, read-only, in one read transaction from `open` to `close`."""

    def __init__(self, path: Path, raw: aiosqlite.Connection) -> None:
        self.path = path
        self.raw = raw

    @classmethod
    async def open(cls, path: Path) -> Source:
        """`path` as `readable` checked it."""
        uri = f"file:{quote(str(path))}?mode=ro"
        raw = await aiosqlite.connect(uri, uri=True, isolation_level=None, timeout=30.0)
        try:
            raw.row_factory = aiosqlite.Row
            raw.text_factory = _surrogate_text
            await raw.execute("PRAGMA busy_timeout = 30000")
            await raw.execute("BEGIN")
            # The snapshot starts with the first read: this one, for every later read to agree with.
            await raw.execute_fetchall("SELECT count(*) FROM sqlite_master")
        except BaseException:
            await raw.close()
            raise
        return cls(path, raw)

    async def close(self) -> None:
        if self.raw.in_transaction:
            await self.raw.execute("ROLLBACK")
        await self.raw.close()

    def store(self) -> Store:
        """The Store's repositories over this snapshot, for the figures to compare; it reads and cannot write."""
        return Store(SqliteEngine(self.path, self.raw, self.raw))

    async def version(self) -> int:
        """The schema version; 0 when the file holds no riverbot schema."""
        found = await self.raw.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        )
        if not list(found):
            return 0
        rows = list(await self.raw.execute_fetchall("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        return int(rows[0][0])

    async def tables(self) -> dict[str, SourceTable]:
        rows = list(
            await self.raw.execute_fetchall(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                " ORDER BY name"
            )
        )
        virtual = {str(r[0]) for r in rows if str(r[1] or "").upper().startswith("CREATE VIRTUAL TABLE")}
        tables: dict[str, SourceTable] = {}
        for name, _ in rows:
            columns = await self.raw.execute_fetchall(f"SELECT name FROM pragma_table_info({_literal(name)})")
            shadow = any(name.startswith(f"{v}_") for v in virtual)
            tables[name] = SourceTable(name, tuple(str(c[0]) for c in columns), name in virtual or shadow)
        return tables

    async def count(self, table: str) -> int:
        rows = list(await self.raw.execute_fetchall(f"SELECT count(*) FROM {_quoted(table)}"))
        return int(rows[0][0])

    async def rows(self, table: str, columns: Sequence[str]) -> AsyncIterator[tuple[Any, ...]]:
        sql = f"SELECT {', '.join(_quoted(c) for c in columns)} FROM {_quoted(table)}"
        async with self.raw.execute(sql) as cursor:
            while batch := await cursor.fetchmany(BATCH):
                for row in batch:
                    yield tuple(row)

    async def history_span(self) -> tuple[str | None, str | None]:
        """The first and last moments (stored UTC text) of the patrols and problems: the range whose figures the
        move must keep."""
        rows = list(
            await self.raw.execute_fetchall(
                "SELECT min(first), max(last) FROM ("
                " SELECT min(started_at) AS first, max(started_at) AS last FROM patrols"
                " UNION ALL SELECT min(reported_at), max(reported_at) FROM problems)"
            )
        )
        return rows[0][0], rows[0][1]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- the target -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetColumn:
    name: str
    type: str  # PostgreSQL's own name: int8, float8, text, bytea, bool, jsonb, …
    not_null: bool
    shown: str = ""  # as SQL writes it (bigint, double precision), for messages


@dataclass(frozen=True)
class TargetTable:
    name: str
    columns: tuple[TargetColumn, ...]  # the ones a COPY writes: generated columns are the database's own
    key: tuple[str, ...]  # the primary key, to name a row in a message
    parents: frozenset[str]  # tables its foreign keys point to


_COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS type_name, a.attnotnull AS not_null,
       a.attgenerated <> '' AS generated, format_type(a.atttypid, a.atttypmod) AS shown
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum
"""

_KEYS_SQL = """
SELECT c.relname AS table_name, a.attname AS column_name
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE i.indisprimary AND n.nspname = current_schema()
ORDER BY c.relname, array_position(CAST(i.indkey AS smallint[]), a.attnum)
"""

_PARENTS_SQL = """
SELECT DISTINCT c.relname AS table_name, p.relname AS parent
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_class p ON p.oid = k.confrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'f' AND n.nspname = current_schema()
"""

# Identity columns and serials: the sequences that number new rows.
_SEQUENCES_SQL = """
SELECT c.relname AS table_name, a.attname AS column_name,
       pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS sequence
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL
"""


class _Unfit(Exception):
    """A value its PostgreSQL column cannot hold."""


_INTEGER_RANGE = {"int2": 2**15, "int4": 2**31, "int8": 2**63}


def _converter(column: TargetColumn) -> Callable[[Any], Any]:
    """The check (and conversion) of a SQLite value for one PostgreSQL column; raises _Unfit."""
    kind = column.type

    def checked(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(value: Any) -> Any:
            if value is None:
                if column.not_null:
                    raise _Unfit
                return None
            return convert(value)

        return run

    if kind in _INTEGER_RANGE:
        bound = _INTEGER_RANGE[kind]

        def integer(value: Any) -> int:
            if type(value) is not int or not -bound <= value < bound:
                raise _Unfit
            return value

        return checked(integer)
    if kind in ("float4", "float8"):

        def real(value: Any) -> float:
            if type(value) not in (int, float) or (type(value) is float and math.isnan(value)):
                raise _Unfit
            return float(value)

        return checked(real)
    if kind == "numeric":

        def number(value: Any) -> Decimal:
            if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
                raise _Unfit
            return Decimal(value) if type(value) is int else Decimal(repr(value))

        return checked(number)
    if kind == "bool":

        def boolean(value: Any) -> bool:
            if type(value) is not int or value not in (0, 1):
                raise _Unfit
            return bool(value)

        return checked(boolean)
    if kind == "bytea":

        def blob(value: Any) -> bytes:
            if type(value) is not bytes:
                raise _Unfit
            return value

        return checked(blob)
    if kind in ("text", "varchar", "bpchar", "name"):
        return checked(_text)
    if kind in ("json", "jsonb"):

        def document(value: Any) -> str:
            text = _text(value)
            try:
                json.loads(text)
            except ValueError:
                raise _Unfit from None
            return text

        return checked(document)
    if kind in ("date", "timestamptz", "timestamp"):
        parse = date.fromisoformat if kind == "date" else datetime.fromisoformat

        def moment(value: Any) -> date:
            try:
                return parse(_text(value))
            except ValueError:
                raise _Unfit from None

        return checked(moment)
    return checked(lambda value: value)  # a type this code does not know: PostgreSQL has the last word


def _text(value: Any) -> str:
    if type(value) is not str or "\x00" in value:
        raise _Unfit
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # not UTF-8 in the file (see _surrogate_text)
        raise _Unfit from None
    return value


def _shown(value: Any) -> str:
    """A value as a message shows it: its Python literal, cut short."""
    if value is None:
        return "NULL"
    text = repr(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def load_order(tables: Iterable[TargetTable]) -> list[TargetTable]:
    """Parents before children, by the target's foreign keys (a table's references to itself are checked at the
    end of its one COPY, so they need no order); among equals, by name."""
    waiting = {t.name: t for t in tables}
    done: set[str] = set()
    ordered: list[TargetTable] = []
    while waiting:
        ready = sorted(
            name for name, t in waiting.items() if all(p in done or p == name or p not in waiting for p in t.parents)
        )
        if not ready:
            raise TransferError("migrate_data.cycle", tables=", ".join(sorted(waiting)))
        for name in ready:
            ordered.append(waiting.pop(name))
            done.add(name)
    return ordered


class _OneAtATime(Connection):
    """One connection's statements one after another: the Store asks several reads at once (the weekly job's and
    the stats' parts), which a pool spreads over connections, but one connection takes one at a time."""

    dialect = "postgresql"

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await self._conn.execute(sql, params)

    async def insert(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await self._conn.insert(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._lock:
            await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            return await self._conn.fetchall(sql, params)


class _CheckEngine(Engine):
    """The target's open transaction as an engine, so that the Store's own queries check the copy before it is
    committed. Reads only."""

    dialect = "postgresql"

    def __init__(self, conn: Connection) -> None:
        self.reader = _OneAtATime(conn)

    def write(self, *, exclusive: bool = True, shared: bool = False) -> AbstractAsyncContextManager[Connection]:
        raise RuntimeError("the check of a copy only reads")

    async def close(self) -> None:
        return None

    async def table_names(self) -> list[str]:
        rows = await self.reader.fetchall(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        return [str(r[0]) for r in rows]


class Target:
    """The PostgreSQL database to fill, through one connection in one transaction."""

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw
        self._transaction: Any = None

    @classmethod
    async def connect(cls, url: str) -> Target:
        raw = await asyncpg.connect(url, server_settings={"TimeZone": "UTC"})
        return cls(raw)

    async def close(self) -> None:
        if self._transaction is not None:
            await self.rollback()
        await self.raw.close()

    async def begin(self) -> None:
        """The one transaction, holding the write lock every riverbot writer takes: a worker started against the
        target by mistake waits until the move is over instead of writing into the middle of it."""
        self._transaction = self.raw.transaction()
        await self._transaction.start()
        await self.raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK_KEY)

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        await transaction.commit()

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None and not self.raw.is_closed():
            await transaction.rollback()

    async def tables(self) -> dict[str, TargetTable]:
        columns: dict[str, list[TargetColumn]] = {}
        for row in await self.raw.fetch(_COLUMNS_SQL):
            found = columns.setdefault(row["table_name"], [])
            if not row["generated"]:
                found.append(TargetColumn(row["column_name"], row["type_name"], row["not_null"], row["shown"]))
        keys: dict[str, list[str]] = {}
        for row in await self.raw.fetch(_KEYS_SQL):
            keys.setdefault(row["table_name"], []).append(row["column_name"])
        parents: dict[str, set[str]] = {}
        for row in await self.raw.fetch(_PARENTS_SQL):
            parents.setdefault(row["table_name"], set()).add(row["parent"])
        return {
            name: TargetTable(name, tuple(cols), tuple(keys.get(name, ())), frozenset(parents.get(name, ())))
            for name, cols in columns.items()
        }

    async def first_with_rows(self, tables: Iterable[str]) -> str | None:
        """The first of `tables` that holds a row: the target must be empty."""
        for name in sorted(tables):
            if await self.raw.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_quoted(name)})"):
                return name
        return None

    async def count(self, table: str) -> int:
        return int(await self.raw.fetchval(f"SELECT count(*) FROM {_quoted(table)}"))

    async def copy(
        self,
        table: TargetTable,
        rows: Callable[[], AsyncIterator[tuple[Any, ...]]],
        total: int,
        progress: Progress | None,
    ) -> int:
        """Every row `rows()` yields (in the order of `table.columns`) into `table`, in one COPY; returns the rows
        copied. A value its column cannot hold raises TransferError naming it; so does PostgreSQL refusing a row
        (a foreign key, a CHECK, a duplicate key). `rows()` gives the same rows in the same order each time (one
        snapshot): a row PostgreSQL refuses by its line number is found by reading them again, rather than keeping
        every row's key on the way for the rare failure."""
        convert = [_converter(c) for c in table.columns]
        names = [c.name for c in table.columns]
        key_at = [names.index(k) for k in table.key if k in names]
        copied = 0

        def key_of(row: tuple[Any, ...], number: int) -> str:
            if not key_at:
                return f"#{number}"
            return ", ".join(f"{names[i]}={row[i]}" for i in key_at)

        async def records() -> AsyncIterator[tuple[Any, ...]]:
            nonlocal copied
            async for row in rows():
                out = []
                for i, value in enumerate(row):
                    try:
                        out.append(convert[i](value))
                    except _Unfit:
                        raise TransferError(
                            "migrate_data.bad_value",
                            table=table.name,
                            row=key_of(row, copied + 1),
                            column=names[i],
                            value=_shown(value),
                            type=table.columns[i].shown or table.columns[i].type,
                        ) from None
                copied += 1
                if progress is not None and (copied % BATCH == 0 or copied == total):
                    progress(table.name, copied, total)
                yield tuple(out)

        async def key_at_line(number: int) -> str | None:
            seen = 0
            async for row in rows():
                seen += 1
                if seen == number:
                    return key_of(row, number)
            return None

        try:
            await self.raw.copy_records_to_table(table.name, records=records(), columns=names)
        except asyncpg.PostgresError as exc:
            # asyncpg's str() of an error adds DETAIL and HINT on lines of their own; one line says it better.
            detail = getattr(exc, "detail", None)
            if detail and len(detail) > 200:  # "Failing row contains (…)" holds a reach's whole geometry
                detail = detail[:197] + "..."
            reason = str(getattr(exc, "message", None) or exc) + (f" ({detail})" if detail else "")
            # A row's own check names its line ("COPY reaches, line 5"); a foreign key, checked at the end, none.
            line = re.search(r"\bline (\d+)", str(getattr(exc, "context", "") or ""))
            row = await key_at_line(int(line.group(1))) if line else None
            if row is not None:
                raise TransferError("migrate_data.refused_row", table=table.name, row=row, reason=reason) from None
            raise TransferError("migrate_data.refused_rows", table=table.name, reason=reason) from None
        if progress is not None and copied == 0:
            progress(table.name, 0, 0)
        return copied

    async def reset_sequences(self, tables: Iterable[str]) -> None:
        """Every identity sequence of `tables` past the largest id copied, so the next row numbered by the
        database does not collide with a moved one."""
        wanted = set(tables)
        for row in await self.raw.fetch(_SEQUENCES_SQL):
            if row["table_name"] not in wanted:
                continue
            largest = await self.raw.fetchval(
                f"SELECT max({_quoted(row['column_name'])}) FROM {_quoted(row['table_name'])}"
            )
            await self.raw.execute("SELECT setval($1, $2, false)", row["sequence"], max(int(largest or 0), 0) + 1)

    async def check_store(self) -> Store:
        """The Store's repositories over the open transaction: the moved data as the bot would read it, before
        anyone else can."""
        await _init_connection(self.raw)  # numbers decoded as the Store's own pool decodes them
        return Store(_CheckEngine(PostgresConnection(self.raw)))


def same_postgres_database(first: str, second: str) -> bool:
    """Whether two PostgreSQL URLs name one database: the same host, port and database name (and socket)."""
    def where(url: str) -> tuple[str, int, str]:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        host = (parts.hostname or query.get("host", [""])[0] or "localhost").rstrip("/")
        port = parts.port or int(query.get("port", ["5432"])[0])
        database = parts.path.lstrip("/") or query.get("dbname", [""])[0] or parts.username or ""
        return host, port, database

    return where(first) == where(second)
