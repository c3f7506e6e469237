"""The engine seam: SQLite's placeholders as PostgreSQL's, and the Connection API on whichever engine runs."""

from __future__ import annotations

import asyncio

import pytest

from storage import Store
from storage.engine import bind, numbered, sqlite_path


def test_question_marks_are_numbered_in_order() -> None:
    assert numbered("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == (
        "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)",
        None,
    )


def test_names_are_numbered_once_each() -> None:
    text, names = numbered("UPDATE t SET a = :now, b = :now WHERE id = :id")
    assert text == "UPDATE t SET a = $1, b = $1 WHERE id = $2"
    assert names == ("now", "id")
    assert bind("UPDATE t SET a = :now, b = :now WHERE id = :id", {"id": 7, "now": "x"})[1] == ["x", 7]


def test_quoted_text_comments_and_casts_are_left_alone() -> None:
    sql = "SELECT '?', 'it''s :x', \"col?\", x::text -- why?\n FROM t /* :y ? */ WHERE a = ?"
    assert numbered(sql)[0] == "SELECT '?', 'it''s :x', \"col?\", x::text -- why?\n FROM t /* :y ? */ WHERE a = $1"


def test_mixed_or_mismatched_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        numbered("SELECT ? , :a")
    with pytest.raises(TypeError):
        bind("SELECT ?", {"a": 1})
    with pytest.raises(TypeError):
        bind("SELECT :a", (1,))


def test_sqlite_urls_name_files(tmp_path: object) -> None:
    assert str(sqlite_path("sqlite:///var/lib/riverbot/db.sqlite3")) == "var/lib/riverbot/db.sqlite3"
    assert str(sqlite_path("sqlite:////var/lib/riverbot/db.sqlite3")) == "/var/lib/riverbot/db.sqlite3"
    with pytest.raises(ValueError):
        sqlite_path("sqlite://host/db")


async def test_the_connection_api_on_this_engine(store: Store) -> None:
    """Insert returns the id, execute the rows changed, a nested atomic() rolls back alone; on either engine."""
    area = await store.insert(
        "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ("A1", "a", "a", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    )
    assert isinstance(area, int) and area > 0
    assert await store.execute("UPDATE areas SET name_en = :n WHERE id = :id", {"n": "b", "id": area}) == 1
    assert await store.execute("UPDATE areas SET name_en = 'c' WHERE id = ?", (area + 1000,)) == 0
    async with store.atomic() as conn:
        await conn.execute("UPDATE areas SET name_en = 'd' WHERE id = ?", (area,))
        with pytest.raises(RuntimeError):
            async with store.atomic() as inner:
                await inner.execute("UPDATE areas SET name_en = 'e' WHERE id = ?", (area,))
                raise RuntimeError("undo the inner part only")
        assert await conn.fetchval("SELECT name_en FROM areas WHERE id = ?", (area,)) == "d"
    row = await store.fetchone("SELECT id, code, name_en FROM areas WHERE id = ?", (area,))
    assert row is not None and row["code"] == "A1" and row[2] == "d"
    assert await store.fetchval("SELECT sum(id) FROM areas") == area  # a whole number reads back as an int
    assert "areas" in await store.table_names()


async def test_writers_are_one_at_a_time(store: Store) -> None:
    """Two tasks that read, then write, never interleave: the one-writer model holds on both engines."""
    area = await store.insert(
        "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES ('N', '0', '0', '', '')"
    )

    async def bump() -> None:
        async with store.atomic() as conn:
            value = int(await conn.fetchval("SELECT name_zh FROM areas WHERE id = ?", (area,)))
            await asyncio.sleep(0)
            await conn.execute("UPDATE areas SET name_zh = ? WHERE id = ?", (str(value + 1), area))

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await store.fetchval("SELECT name_zh FROM areas WHERE id = ?", (area,)) == "20"
