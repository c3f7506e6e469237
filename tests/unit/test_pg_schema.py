"""The PostgreSQL baseline is the schema SQLite's seventeen migrations leave: the same tables and columns, keys,
indexes, checks and defaults; the same refusals (foreign keys, uniques, the append-only event log); the reach
boxes searchable through their index; and migrating it is safe to repeat and to race."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from storage import Store
from storage.engine import PostgresEngine, is_unique_violation
from storage.migrate import MIGRATE_LOCK_KEY, apply_postgres_migrations, bundled_migrations
from tests.postgres import needs_postgres, scratch_database

# SQLite's INTEGER PRIMARY KEYs that are not numbered by the database: Telegram's ids, a person's, a version.
GIVEN_KEYS = {
    "chats.id",
    "chat_bindings.chat_id",
    "dialogs.telegram_id",
    "inbox.update_id",
    "kept_reports.telegram_id",
    "unreachable_told.person_id",
    "schema_version.version",
    "reach_boxes.id",
}
PG_TYPES = {"INTEGER": {"integer", "bigint"}, "INT": {"bigint"}, "TEXT": {"text"}, "REAL": {"double precision"}}
PG_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


async def sqlite_schema(path: Path) -> dict[str, Any]:
    """Tables (columns, foreign keys, checks), indexes and triggers of a SQLite database after all migrations."""
    async with await Store.open(path):
        pass
    conn = sqlite3.connect(path)
    try:
        tables: dict[str, dict[str, Any]] = {}
        # PRAGMA table_list tells the R*Tree's shadow tables (its own storage) from the tables.
        for _, name, kind, *_ in conn.execute("PRAGMA table_list"):
            if kind in ("table", "virtual") and not name.startswith("sqlite_"):
                sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
                columns = conn.execute(f"PRAGMA table_info({name})").fetchall()
                tables[name] = {
                    "virtual": kind == "virtual",
                    "columns": [(c[1], c[2], bool(c[3] or c[5]), c[4]) for c in columns],
                    "single_integer_key": [c[1] for c in columns if c[5] and c[2] == "INTEGER"]
                    if sum(1 for c in columns if c[5]) == 1
                    else [],
                    "foreign_keys": {
                        (fk[3], fk[2], fk[4], fk[5], fk[6])
                        for fk in conn.execute(f"PRAGMA foreign_key_list({name})").fetchall()
                    },
                    "checks": len(re.findall(r"\bCHECK\s*\(", sql, re.IGNORECASE)),
                }
        indexes = {
            (name, table): (bool(unique), bool(partial))
            for table in tables
            for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})").fetchall()
            if origin == "c"  # CREATE INDEX; not the ones behind PRIMARY KEY and UNIQUE
        }
        triggers = {
            (r[0], r[1]) for r in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")
        }
    finally:
        conn.close()
    return {"tables": tables, "indexes": indexes, "triggers": triggers}


async def postgres_schema(conn: asyncpg.Connection) -> dict[str, Any]:
    tables: dict[str, dict[str, Any]] = {}
    for r in await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default, collation_name, is_identity"
        " FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        table = tables.setdefault(r["table_name"], {"columns": [], "identity": [], "collations": {}})
        default = r["column_default"]
        if default is not None:
            default = re.sub(r"::[a-z ]+$", "", default)
        table["columns"].append((r["column_name"], r["data_type"], r["is_nullable"] == "NO", default))
        if r["is_identity"] == "YES":
            table["identity"].append(r["column_name"])
        if r["data_type"] == "text":
            table["collations"][r["column_name"]] = r["collation_name"]
    for r in await conn.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, a.attname AS col, c.confrelid::regclass::text AS ref,"
        " f.attname AS ref_col, c.confupdtype::text, c.confdeltype::text"
        " FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
        " JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1]"
        " WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    ):
        tables[r["tbl"]].setdefault("foreign_keys", set()).add(
            (r["col"], r["ref"], r["ref_col"], PG_ACTIONS[r["confupdtype"]], PG_ACTIONS[r["confdeltype"]])
        )
    for r in await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, count(*) AS n FROM pg_constraint"
        " WHERE contype = 'c' AND connamespace = current_schema()::regnamespace GROUP BY 1"
    ):
        tables[r["tbl"]]["checks"] = r["n"]
    indexes = {
        (r["name"], r["tbl"]): (r["indisunique"], r["partial"])
        for r in await conn.fetch(
            "SELECT c.relname AS name, t.relname AS tbl, i.indisunique, i.indpred IS NOT NULL AS partial"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
            " WHERE t.relnamespace = current_schema()::regnamespace"
        )
    }
    triggers = {
        (r[0], r[1])
        for r in await conn.fetch("SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")
    }
    return {"tables": tables, "indexes": indexes, "triggers": triggers}


@pytest.fixture
async def migrated() -> AsyncIterator[str]:
    async with scratch_database() as url:
        async with await Store.open(url):
            pass
        yield url


@needs_postgres
async def test_the_baseline_has_sqlites_tables_and_columns(tmp_path: Path, migrated: str) -> None:
    lite = await sqlite_schema(tmp_path / "riverbot.sqlite3")
    conn = await asyncpg.connect(migrated)
    try:
        pg = await postgres_schema(conn)
    finally:
        await conn.close()

    assert set(pg["tables"]) == set(lite["tables"])
    for name, table in lite["tables"].items():
        ported = pg["tables"][name]
        # Names in SQLite's order (ALTER TABLE's columns last), so `SELECT *` reads alike.
        assert [c[0] for c in ported["columns"]] == [c[0] for c in table["columns"]], name
        for (column, lite_type, not_null, default), (_, pg_type, pg_not_null, pg_default) in zip(
            table["columns"], ported["columns"], strict=True
        ):
            where = f"{name}.{column}"
            assert pg_type in PG_TYPES[lite_type], where
            # An R*Tree stores no NULL (it would store 0.0): its port says NOT NULL, and the triggers keep it so.
            assert pg_not_null == (not_null or table["virtual"]), where
            assert pg_default == default, where
        assert set(ported["collations"].values()) <= {"C"}, name
        assert ported["identity"] == [k for k in table["single_integer_key"] if f"{name}.{k}" not in GIVEN_KEYS], name
        assert ported.get("foreign_keys", set()) == table["foreign_keys"], name
        # The R*Tree refuses a box whose min exceeds its max, without a CHECK to say so; its port has two.
        assert ported.get("checks", 0) == table["checks"] + (2 if table["virtual"] else 0), name

    for index, kind in lite["indexes"].items():
        assert pg["indexes"].get(index) == kind, index
    assert pg["indexes"][("reach_boxes_box", "reach_boxes")] == (False, False)
    assert lite["triggers"] <= pg["triggers"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on each engine: the refusals must be the same on both."""
    if request.param == "sqlite":
        async with await Store.open(tmp_path / "riverbot.sqlite3") as store:
            yield store
        return
    async with scratch_database() as url, await Store.open(url) as store:
        yield store


REFUSED = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)
NOW = "2026-12-03T08:00:00Z"


async def seed(store: Store) -> dict[str, int]:
    area = await store.insert(
        "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES ('A', 'a', 'a', ?, ?)", (NOW, NOW)
    )
    reach = await store.insert(
        "INSERT INTO reaches (code, name_zh, name_en, area_id, level, created_at, updated_at)"
        " VALUES ('R', 'r', 'r', ?, 'village', ?, ?)",
        (area, NOW, NOW),
    )
    chief = await store.insert(
        "INSERT INTO people (telegram_id, name, created_at, updated_at) VALUES (11, 'chief', ?, ?)", (NOW, NOW)
    )
    helper = await store.insert(
        "INSERT INTO people (telegram_id, name, created_at, updated_at) VALUES (12, 'helper', ?, ?)", (NOW, NOW)
    )
    return {"area": area, "reach": reach, "chief": chief, "helper": helper}


async def test_foreign_keys_and_their_actions(either: Store) -> None:
    ids = await seed(either)
    with pytest.raises(REFUSED):
        await either.execute(
            "INSERT INTO reaches (code, name_zh, name_en, area_id, level, created_at, updated_at)"
            " VALUES ('X', 'x', 'x', 999, 'village', ?, ?)",
            (NOW, NOW),
        )
    await either.execute(
        "INSERT INTO person_roles (person_id, role, level, granted_at, granted_by) VALUES (?, 'chief', 'town', ?, ?)",
        (ids["chief"], NOW, ids["helper"]),
    )
    await either.execute(
        "INSERT INTO chats (id, type, created_at, updated_at) VALUES (-100123, 'supergroup', ?, ?)", (NOW, NOW)
    )
    await either.execute(
        "INSERT INTO chat_bindings (chat_id, area_id, bound_by, bound_at) VALUES (-100123, ?, ?, ?)",
        (ids["area"], ids["helper"], NOW),
    )
    # ON UPDATE CASCADE: a group moved to a supergroup keeps its binding under the new id.
    await either.execute("UPDATE chats SET id = -100999 WHERE id = -100123")
    assert await either.fetchval("SELECT chat_id FROM chat_bindings") == -100999
    # ON DELETE SET NULL and CASCADE.
    await either.execute("DELETE FROM people WHERE id = ?", (ids["helper"],))
    assert await either.fetchval("SELECT granted_by FROM person_roles WHERE person_id = ?", (ids["chief"],)) is None
    assert await either.fetchval("SELECT bound_by FROM chat_bindings") is None
    await either.execute("DELETE FROM people WHERE id = ?", (ids["chief"],))
    assert await either.fetchval("SELECT count(*) FROM person_roles") == 0
    # Without an ON DELETE, a referenced row stays.
    with pytest.raises(REFUSED):
        await either.execute("DELETE FROM areas WHERE id = ?", (ids["area"],))


async def test_uniques_partial_uniques_and_checks(either: Store) -> None:
    ids = await seed(either)
    with pytest.raises(REFUSED) as duplicate:
        await either.execute(
            "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES ('A', 'b', 'b', ?, ?)",
            (NOW, NOW),
        )
    assert is_unique_violation(duplicate.value)

    async def start(person: int, walker: int | None) -> int:
        return await either.insert(
            "INSERT INTO patrols (person_id, walked_by, reach_id, started_at, last_activity_at, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (person, walker, ids["reach"], NOW, NOW, NOW, NOW),
        )

    first = await start(ids["chief"], None)
    # One open patrol per walker: the chief's second is refused, the assistant's for the chief is not.
    with pytest.raises(REFUSED) as second:
        await start(ids["chief"], None)
    assert is_unique_violation(second.value)
    assistants = await start(ids["chief"], ids["helper"])
    await either.execute("UPDATE patrols SET status = 'finished', ended_at = ?, valid = 1 WHERE id = ?", (NOW, first))
    await start(ids["chief"], None)

    for refused in [
        # A chief has a level, no one else does.
        ("INSERT INTO person_roles (person_id, role, granted_at) VALUES (?, 'chief', ?)", (ids["chief"], NOW)),
        # An open patrol has no end.
        ("UPDATE patrols SET ended_at = ? WHERE id = ?", (NOW, assistants)),
        ("UPDATE people SET active = 2 WHERE id = ?", (ids["chief"],)),
        ("UPDATE people SET name = '  ' WHERE id = ?", (ids["chief"],)),
        (
            "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES ('B', NULL, 'b', ?, ?)",
            (NOW, NOW),
        ),
    ]:
        with pytest.raises(REFUSED):
            await either.execute(*refused)


async def test_the_problem_log_is_append_only(either: Store) -> None:
    ids = await seed(either)
    problem = await either.insert(
        "INSERT INTO problems (reporter_id, reach_id, area_id, category, lat, lon, location_source, status,"
        " reported_at, updated_at) VALUES (?, ?, ?, 'garbage', 32.0, 120.0, 'shared', 'reported', ?, ?)",
        (ids["chief"], ids["reach"], ids["area"], NOW, NOW),
    )
    event = await either.insert(
        "INSERT INTO problem_events (problem_id, at, actor_id, action, to_status) VALUES (?, ?, ?, 'reported', ?)",
        (problem, NOW, ids["chief"], "reported"),
    )
    for statement in [
        "UPDATE problem_events SET note = 'rewritten' WHERE id = ?",
        "DELETE FROM problem_events WHERE id = ?",
    ]:
        with pytest.raises(REFUSED, match="problem_events is append-only") as refused:
            await either.execute(statement, (event,))
        if isinstance(refused.value, asyncpg.PostgresError):
            assert refused.value.sqlstate == "23000"
    # Merging a person's two rows re-points who did it.
    assert await either.execute("UPDATE problem_events SET actor_id = ? WHERE id = ?", (ids["helper"], event)) == 1
    assert await either.fetchval("SELECT note FROM problem_events WHERE id = ?", (event,)) is None


@needs_postgres
async def test_the_reach_boxes_follow_the_reaches_and_their_index_answers_a_window(migrated: str) -> None:
    async with await Store.open(migrated) as store:
        area = await store.insert(
            "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES ('A', 'a', 'a', ?, ?)",
            (NOW, NOW),
        )
        rows = [(f"R{i}", 31.0 + i * 0.01, 120.0 + i * 0.01) for i in range(300)]
        await store.executemany(
            "INSERT INTO reaches (code, name_zh, name_en, area_id, level, min_lat, min_lon, max_lat, max_lon,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'village', ?, ?, ?, ?, ?, ?)",
            [(code, code, code, area, lat, lon, lat + 0.005, lon + 0.005, NOW, NOW) for code, lat, lon in rows],
        )
        await store.execute(
            "INSERT INTO reaches (code, name_zh, name_en, area_id, level, created_at, updated_at)"
            " VALUES ('UNMAPPED', 'u', 'u', ?, 'village', ?, ?)",
            (area, NOW, NOW),
        )
        assert await store.fetchval("SELECT count(*) FROM reach_boxes") == 300
        window = (31.503, 120.503, 31.552, 120.552)  # min_lat, min_lon, max_lat, max_lon: R50…R55 meet it
        query = (
            "SELECT r.code FROM reach_boxes b JOIN reaches r ON r.id = b.id"
            " WHERE box(point(b.min_lon, b.min_lat), point(b.max_lon, b.max_lat))"
            " && box(point(?, ?), point(?, ?)) ORDER BY r.code"
        )
        args = (window[1], window[0], window[3], window[2])
        assert [r[0] for r in await store.fetchall(query, args)] == [f"R{i}" for i in range(50, 56)]

        engine = store.engine
        assert isinstance(engine, PostgresEngine)
        async with engine.pool.acquire() as raw, raw.transaction():
            await raw.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(
                r[0]
                for r in await raw.fetch(
                    "EXPLAIN SELECT id FROM reach_boxes WHERE box(point(min_lon, min_lat), point(max_lon, max_lat))"
                    " && box(point($1, $2), point($3, $4))",
                    *args,
                )
            )
        assert "reach_boxes_box" in plan, plan

        # Moved, unmapped, deleted: the boxes follow, as SQLite's triggers keep its R*Tree.
        await store.execute(
            "UPDATE reaches SET min_lat = 10, max_lat = 10.1, min_lon = 10, max_lon = 10.1 WHERE code = 'R50'"
        )
        await store.execute(
            "UPDATE reaches SET min_lat = NULL, min_lon = NULL, max_lat = NULL, max_lon = NULL WHERE code = 'R51'"
        )
        await store.execute("DELETE FROM reaches WHERE code = 'R52'")
        await store.execute(
            "UPDATE reaches SET min_lat = 31.5, min_lon = 120.5, max_lat = 31.51, max_lon = 120.51"
            " WHERE code = 'UNMAPPED'"
        )
        assert [r[0] for r in await store.fetchall(query, args)] == ["R53", "R54", "R55", "UNMAPPED"]
        assert (
            await store.fetchval("SELECT b.max_lat FROM reach_boxes b JOIN reaches r USING (id) WHERE code = 'R50'")
            == 10.1
        )
        assert await store.fetchval("SELECT count(*) FROM reach_boxes") == await store.fetchval(
            "SELECT count(*) FROM reaches WHERE min_lat IS NOT NULL"
        )
        with pytest.raises(asyncpg.CheckViolationError):  # an R*Tree refuses a box turned inside out
            await store.execute("UPDATE reaches SET max_lat = 0 WHERE code = 'R53'")


@needs_postgres
async def test_migrating_again_changes_nothing(migrated: str) -> None:
    async with await Store.open(migrated) as store:
        before = [tuple(r) for r in await store.fetchall("SELECT * FROM schema_version ORDER BY version")]
        assert store.schema_version == 17
        engine = store.engine
        assert isinstance(engine, PostgresEngine)
        assert await apply_postgres_migrations(engine, bundled_migrations("postgresql")) == 17
        after = [tuple(r) for r in await store.fetchall("SELECT * FROM schema_version ORDER BY version")]
    assert before == after
    assert [v for v, *_ in after] == list(range(1, 18))
    assert after[-1][1] == "dispatch_extensions"  # the name the SQLite series records, not the baseline's


@needs_postgres
async def test_two_processes_migrating_at_once_both_end_at_the_latest() -> None:
    async with scratch_database() as url:
        stores = await asyncio.gather(Store.open(url), Store.open(url))
        try:
            assert [s.schema_version for s in stores] == [17, 17]
            assert await stores[0].fetchval("SELECT count(*) FROM schema_version") == 17
        finally:
            for store in stores:
                await store.close()


@needs_postgres
async def test_a_second_migrator_waits_for_the_first_then_finds_it_done() -> None:
    async with scratch_database() as url:
        first = await asyncpg.connect(url)
        try:
            await first.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK_KEY)
            second = asyncio.create_task(Store.open(url))
            # Waiting on the lock, not failing: its session shows in pg_locks as not granted.
            deadline = asyncio.get_running_loop().time() + 60
            while not await first.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ):
                assert not second.done(), second.exception()
                assert asyncio.get_running_loop().time() < deadline, "the second migrator never waited"
                await asyncio.sleep(0.05)
            assert not second.done()
            # The first migrates while the second waits; the second must not apply the baseline again.
            (baseline,) = bundled_migrations("postgresql")
            async with first.transaction():
                await first.execute(baseline.sql)
            await first.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK_KEY)
            async with await second as store:
                assert store.schema_version == 17
                assert await store.fetchval("SELECT count(*) FROM schema_version") == 17
        finally:
            await first.close()
