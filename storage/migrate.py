"""Versioned SQL migrations: `migrations/NNNN_name.sql`, each applied in one transaction.

A migration that fails is rolled back whole, so the database stays at the previous version and the bot refuses
to start rather than run on a half-changed schema. A database newer than this code is refused too: running old
code on it could silently drop what the new columns hold.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import aiosqlite

from storage.engine import Dialect, PostgresEngine

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A migration that rebuilds a table must run with foreign keys off (SQLite ignores the pragma inside a
# transaction); it says so on its first line and is checked with foreign_key_check before it commits.
NO_FOREIGN_KEYS = "-- riverbot: foreign_keys=off"


# Called with (the database's version, the version it is about to be brought to) before a migration changes a
# database that already holds a schema: the moment to back it up. Not called for a new, empty database.
BeforeMigrating = Callable[[int, int], Awaitable[None]]


class MigrationError(Exception):
    """The schema could not be brought to the version this code needs."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def needs_foreign_keys_off(self) -> bool:
        return self.sql.lstrip().startswith(NO_FOREIGN_KEYS)


def bundled_migrations(dialect: Dialect = "sqlite") -> list[Migration]:
    """The migrations shipped in `storage/migrations/` (SQLite) or `storage/migrations/postgresql/`, in order.
    The PostgreSQL series starts with a baseline at the version PostgreSQL support came in; every later number
    exists in both folders."""
    folder = resources.files("storage.migrations")
    if dialect == "postgresql":
        folder = folder.joinpath("postgresql")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return check_sequence(found, first=1 if dialect == "sqlite" else None)


def check_sequence(migrations: Iterable[Migration], *, first: int | None = 1) -> list[Migration]:
    """In order and without gaps, from `first` (None: from whichever comes first, a baseline)."""
    ordered = sorted(migrations, key=lambda m: m.version)
    if first is None:
        first = ordered[0].version if ordered else 1
    for expected, migration in enumerate(ordered, start=first):
        if migration.version != expected:
            raise MigrationError(f"migration numbers must run 1, 2, 3…; found {migration.version} at {expected}")
    return ordered


def split_statements(sql: str) -> list[str]:
    """Split a script into statements; `executescript` would commit on its own and break atomicity."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        raise MigrationError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]!r}")
    return statements


async def current_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ) as cursor:
        if await cursor.fetchone() is None:
            return 0
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: Sequence[Migration], *, before: BeforeMigrating | None = None
) -> list[int]:
    """Bring the schema up to date; return the versions applied (empty when it already was). `before` runs
    first when there is something to apply to a database at version 1 or later; if it fails, nothing is
    applied."""
    migrations = check_sequence(migrations)
    # In its own write transaction: a bare statement that reads, then writes, gets "database is locked" at once
    # (no busy wait) when another process wrote in between, as two processes creating one file at once do.
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
    version = await current_version(conn)
    latest = migrations[-1].version if migrations else 0
    if version > latest:
        raise MigrationError(
            f"the database is at schema version {version}, newer than this riverbot ({latest}); upgrade riverbot"
        )
    if before is not None and 1 <= version < latest:
        await before(version, latest)
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= version:
            continue
        if await _apply_one(conn, migration):
            applied.append(migration.version)
    return applied


async def _apply_one(conn: aiosqlite.Connection, migration: Migration) -> bool:
    """Apply one migration; False when another process applied it while this one waited for the lock."""
    fk_off = migration.needs_foreign_keys_off
    if fk_off:
        await conn.execute("PRAGMA foreign_keys = OFF")
    try:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Two processes starting at once both read the old version; only the lock holder's reading counts.
            if await current_version(conn) >= migration.version:
                await conn.execute("ROLLBACK")
                return False
            for statement in split_statements(migration.sql):
                await conn.execute(statement)
            if fk_off:
                async with conn.execute("PRAGMA foreign_key_check") as cursor:
                    broken = list(await cursor.fetchall())
                if broken:
                    raise MigrationError(f"migration {migration.version} breaks foreign keys: {broken[:3]}")
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
            await conn.execute("COMMIT")
            return True
        except BaseException as exc:
            await conn.execute("ROLLBACK")
            if isinstance(exc, MigrationError):
                raise
            if isinstance(exc, sqlite3.Error):
                raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
            raise
    finally:
        if fk_off:
            await conn.execute("PRAGMA foreign_keys = ON")


# Held (for the session) by the one process migrating a PostgreSQL database; others wait, then find it done.
MIGRATE_LOCK_KEY = 0x7269766572626F75


async def apply_postgres_migrations(
    engine: PostgresEngine, migrations: Sequence[Migration], *, before: BeforeMigrating | None = None
) -> int:
    """Bring a PostgreSQL database up to date and return its version. An empty database gets the baseline (which
    records the versions it stands for), then whatever came after; each migration is one transaction."""
    migrations = check_sequence(migrations, first=None)
    if not migrations:
        raise MigrationError("no PostgreSQL migrations are bundled")
    baseline, latest = migrations[0], migrations[-1].version
    async with engine.pool.acquire() as raw:
        await raw.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK_KEY)
        try:
            version = await postgres_version(raw)
            if version > latest:
                raise MigrationError(
                    f"the database is at schema version {version}, newer than this riverbot ({latest});"
                    " upgrade riverbot"
                )
            if 0 < version < baseline.version:
                raise MigrationError(f"a PostgreSQL database at version {version} predates the baseline")
            if before is not None and 1 <= version < latest:
                await before(version, latest)
            for migration in migrations:
                if migration.version <= version:
                    continue
                try:
                    async with raw.transaction():
                        # The simple query protocol runs a whole script, function bodies and all.
                        await raw.execute(migration.sql)
                        await raw.execute(
                            "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)"
                            " ON CONFLICT (version) DO NOTHING",  # the baseline records its own
                            migration.version,
                            migration.name,
                            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        )
                except Exception as exc:
                    if isinstance(exc, MigrationError):
                        raise
                    raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
                version = migration.version
            return await postgres_version(raw)
        finally:
            await raw.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK_KEY)


async def postgres_version(raw: Any) -> int:
    """The schema version of a PostgreSQL database (an asyncpg connection): 0 when it has no schema yet."""
    exists = await raw.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await raw.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
