"""The SQLite functions the PostgreSQL baseline defines answer as SQLite does: julianday() to the last bit (the
repositories subtract and compare its days), group_concat() with SQLite's separators and NULL handling."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from storage import Store
from tests.postgres import create_database, drop_database, needs_postgres

pytestmark = needs_postgres


@pytest.fixture(scope="module")
def migrated_url() -> Iterator[str]:
    """One migrated database for the module: the functions only read."""

    async def create() -> str:
        url = await create_database()
        async with await Store.open(url):
            pass
        return url

    url = asyncio.run(create())
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
async def pg(migrated_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(migrated_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def lite() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    try:
        yield conn
    finally:
        conn.close()


TIMES = [
    # What the store writes: UTC times and local dates.
    "2026-12-03T08:15:42Z",
    "2026-12-03",
    "1970-01-01T00:00:00Z",
    "2000-02-29T12:00:00Z",
    "1900-03-01",
    "2099-12-31T23:59:59Z",
    # What else SQLite's parser takes.
    "2026-01-01 10:00",
    "2026-01-01T10:00:00.123+08:00",
    "2026-01-01T10:00:00.5Z",
    "2026-01-01T10:00:00.9999Z",
    "2026-01-01T10:00:00 -05:30",
    "2026-01-01T10:00:00z",
    "2026-01-01T24:00:00Z",
    "2026-02-30",
    "2026-01-01 ",
    "2026-01-01T",
    "2026-01-0110:00",
    # And what it does not: NULL.
    "2026-13-01",
    "2026-00-10",
    "2026-01-32",
    "2026-01-01T10:00:60Z",
    "2026-01-01T10:60Z",
    "2026-01-01T10:00:00+15:00",
    "2026-01-01T10:00:00.",
    "2026-01-01Z",
    " 2026-01-01",
    "26-01-01",
    "x",
    "",
    None,
]


@pytest.mark.parametrize("value", TIMES)
async def test_julianday_is_sqlites(value: str | None, pg: asyncpg.Connection, lite: sqlite3.Connection) -> None:
    expected = lite.execute("SELECT julianday(?)", (value,)).fetchone()[0]
    assert await pg.fetchval("SELECT julianday($1)", value) == expected


async def test_julianday_differences_are_sqlites(pg: asyncpg.Connection, lite: sqlite3.Connection) -> None:
    """Days overdue, days to close: the differences the tallies sum and compare."""
    pairs = [
        ("2026-12-03T08:15:42Z", "2026-11-30"),
        ("2026-03-01", "2026-02-28T23:59:59Z"),
        ("2026-12-03", "2026-12-03"),
    ]
    for later, earlier in pairs:
        expected = lite.execute("SELECT julianday(?) - julianday(?)", (later, earlier)).fetchone()[0]
        assert await pg.fetchval("SELECT julianday($1) - julianday($2)", later, earlier) == expected


ROWS = [
    (1, "admin", None, 7),
    (1, "chief", "town", 3),
    (1, None, "x", None),
    (1, "volunteer", "", 12),
    (2, None, None, None),
    (3, "only", None, -1),
]
CONCATS = [
    "group_concat(role)",
    "group_concat(role, '; ')",
    "group_concat(role, '')",
    "group_concat(role, NULL)",
    "group_concat(role || ':' || COALESCE(level, ''), ',')",
    "group_concat(n)",
    "group_concat(n, '|')",
    "group_concat(DISTINCT role)",
]


@pytest.mark.parametrize("expression", CONCATS)
async def test_group_concat_is_sqlites(expression: str, pg: asyncpg.Connection, lite: sqlite3.Connection) -> None:
    lite.execute("CREATE TABLE t (g INTEGER, role TEXT, level TEXT, n INTEGER)")
    lite.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", ROWS)
    async with pg.transaction():
        await pg.execute("CREATE TEMPORARY TABLE t (g BIGINT, role TEXT, level TEXT, n BIGINT) ON COMMIT DROP")
        await pg.executemany("INSERT INTO t VALUES ($1, $2, $3, $4)", ROWS)
        for group in [1, 2, 3, 4]:  # 4: no rows at all
            # One group per query, no GROUP BY: both read the rows in the order they were written.
            sql = f"SELECT {expression} FROM t WHERE g = ?"
            expected = lite.execute(sql, (group,)).fetchone()[0]
            got = await pg.fetchval(sql.replace("?", "$1"), group)
            if expression.startswith("group_concat(DISTINCT"):  # the order DISTINCT leaves is each engine's own
                expected, got = (None if v is None else sorted(v.split(",")) for v in (expected, got))
            assert got == expected, (group, expression)


async def test_the_functions_say_what_the_planner_may_do(pg: asyncpg.Connection) -> None:
    """IMMUTABLE: julianday() may sit in an index or a CHECK; PARALLEL SAFE: in a parallel plan."""
    rows = await pg.fetch(
        "SELECT proname, provolatile::text, proparallel::text, prokind::text FROM pg_proc"
        " WHERE proname IN ('julianday', 'group_concat') AND pronamespace = current_schema()::regnamespace"
    )
    assert sorted((r["proname"], r["prokind"]) for r in rows) == [("group_concat", "a")] * 4 + [("julianday", "f")]
    assert {(r["provolatile"], r["proparallel"]) for r in rows} == {("i", "s")}
