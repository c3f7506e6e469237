"""The store: migrations, pragmas, transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from storage import Migration, MigrationError, Store, migrate
from storage import store as store_module
from storage.migrate import bundled_migrations, split_statements
from storage.registry import ReachValues


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "riverbot.sqlite3"


async def test_empty_database_is_migrated_to_the_latest_version(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        assert store.schema_version == len(bundled_migrations())
        tables = await store.table_names()
        assert {"people", "person_roles", "chats", "failed_updates", "schema_version"} <= set(tables)
        rows = await store.fetchall("SELECT version, name FROM schema_version ORDER BY version")
        assert [r["version"] for r in rows] == list(range(1, len(bundled_migrations()) + 1))


async def test_reopening_is_a_no_op(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        await store.people.record_contact(1, name="张三", username=None, language_code="zh-hans", started=True)
        applied = await store.fetchall("SELECT applied_at FROM schema_version")
    async with await Store.open(db_path) as store:
        assert [r[0] for r in await store.fetchall("SELECT applied_at FROM schema_version")] == [r[0] for r in applied]
        person = await store.people.by_telegram_id(1)
        assert person is not None and person.name == "张三"


async def test_pragmas(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        assert await store.fetchval("PRAGMA foreign_keys") == 1
        assert await store.fetchval("PRAGMA journal_mode") == "wal"
        assert await store.fetchval("PRAGMA synchronous") == 2  # FULL
        assert await store.fetchval("PRAGMA busy_timeout") == 30000


async def test_failing_migration_leaves_the_previous_version(db_path: Path) -> None:
    good = bundled_migrations()
    broken = Migration(
        len(good) + 1,
        "broken",
        "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    async with await Store.open(db_path) as store:
        await store.people.record_contact(7, name="李四", username=None, language_code=None, started=True)
    with pytest.raises(MigrationError, match="broken"):
        await Store.open(db_path, migrations=[*good, broken])
    async with await Store.open(db_path) as store:
        assert store.schema_version == len(good)
        assert "half_done" not in await store.table_names()
        assert await store.people.by_telegram_id(7) is not None


async def test_migration_from_the_previous_version(db_path: Path) -> None:
    """Every shipped migration applies on top of the one before it, with data in place."""
    all_migrations = bundled_migrations()
    for upto in range(1, len(all_migrations) + 1):
        async with await Store.open(db_path, migrations=all_migrations[:upto]) as store:
            assert store.schema_version == upto
    async with await Store.open(db_path) as store:
        assert store.schema_version == len(all_migrations)


async def test_newer_database_is_refused(db_path: Path) -> None:
    async with await Store.open(db_path):
        pass
    async with aiosqlite.connect(db_path) as conn:
        await conn.execute("INSERT INTO schema_version VALUES (999, 'future', '2030-01-01T00:00:00Z')")
        await conn.commit()
    with pytest.raises(MigrationError, match="newer"):
        await Store.open(db_path)


async def test_migration_numbers_must_be_contiguous(db_path: Path) -> None:
    with pytest.raises(MigrationError):
        await Store.open(db_path, migrations=[Migration(2, "gap", "SELECT 1;")])


async def test_foreign_keys_off_migration_is_checked(db_path: Path) -> None:
    first = Migration(1, "parent", "CREATE TABLE parent (id INTEGER PRIMARY KEY);")
    second = Migration(
        2,
        "child",
        "-- riverbot: foreign_keys=off\n"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\n"
        "INSERT INTO child VALUES (1, 42);\n",
    )
    with pytest.raises(MigrationError, match="foreign keys"):
        await Store.open(db_path, migrations=[first, second])
    async with await Store.open(db_path, migrations=[first]) as store:
        assert store.schema_version == 1
        assert await store.fetchval("PRAGMA foreign_keys") == 1


async def test_atomic_rolls_back_everything(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        with pytest.raises(RuntimeError):
            async with store.atomic() as conn:
                await conn.execute(
                    "INSERT INTO chats (id, type, created_at, updated_at) VALUES (-1, 'group', 'x', 'x')"
                )
                raise RuntimeError("boom")
        assert await store.chats.get(-1) is None


async def test_nested_atomic_is_a_savepoint(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        async with store.atomic() as conn:
            await conn.execute("INSERT INTO chats (id, type, created_at, updated_at) VALUES (-1, 'group', 'x', 'x')")
            with pytest.raises(RuntimeError):
                async with store.atomic() as inner:
                    await inner.execute(
                        "INSERT INTO chats (id, type, created_at, updated_at) VALUES (-2, 'group', 'x', 'x')"
                    )
                    raise RuntimeError("inner fails")
            # reads inside the transaction see its own writes
            assert await store.chats.get(-1) is not None
        assert await store.chats.get(-1) is not None
        assert await store.chats.get(-2) is None


async def test_foreign_keys_are_enforced(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        with pytest.raises(sqlite3.IntegrityError):
            await store.people.grant_role(12345, "admin")


async def test_concurrent_writers_are_serialized(db_path: Path) -> None:
    async with await Store.open(db_path) as store:

        async def add(i: int) -> None:
            async with store.atomic() as conn:
                count = await store.fetchval("SELECT COUNT(*) FROM chats")
                await asyncio.sleep(0)
                await conn.execute(
                    "INSERT INTO chats (id, type, title, created_at, updated_at) VALUES (?, 'group', ?, 'x', 'x')",
                    (-i, str(count)),
                )

        await asyncio.gather(*(add(i) for i in range(1, 41)))
        titles = sorted(int(r[0]) for r in await store.fetchall("SELECT title FROM chats"))
        assert titles == list(range(40))  # each writer saw every earlier commit: no lost update


async def test_committed_write_survives_an_abrupt_stop(db_path: Path) -> None:
    """A commit is on disk before atomic() returns: a second connection sees it without any close."""
    store = await Store.open(db_path)
    try:
        await store.people.record_contact(5, name="王五", username=None, language_code=None, started=True)
        with sqlite3.connect(db_path) as other:
            assert other.execute("SELECT name FROM people WHERE telegram_id = 5").fetchone() == ("王五",)
    finally:
        await store.close()


def test_statement_splitting_keeps_semicolons_in_strings() -> None:
    sql = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- comment; still a comment\nINSERT INTO a VALUES ('1;2');\n"
    assert split_statements(sql) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "-- comment; still a comment\nINSERT INTO a VALUES ('1;2');",
    ]


def test_incomplete_statement_is_rejected() -> None:
    with pytest.raises(MigrationError):
        split_statements("CREATE TABLE a (x TEXT")


async def test_people_at_version_1_survive_the_registry_migration(db_path: Path) -> None:
    v1 = bundled_migrations()[:1]
    async with await Store.open(db_path, migrations=v1) as store:
        # Raw SQL: today's repositories speak today's schema.
        await store.execute(
            "INSERT INTO people (telegram_id, name, username, language_code, started_at, created_at, updated_at)"
            " VALUES (8, '周八', 'zhou', 'zh-hans', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z',"
            " '2026-01-01T00:00:00Z')"
        )
    async with await Store.open(db_path) as store:
        person = await store.people.by_telegram_id(8)
        assert person is not None and person.name == "周八" and person.username == "zhou"
        assert await store.fetchval("SELECT home_area_id FROM people WHERE telegram_id = 8") is None
        assert {"areas", "reaches", "assignments", "invites", "chat_bindings"} <= set(await store.table_names())


@pytest.fixture
def garbage_db(db_path: Path) -> Path:
    db_path.parent.mkdir(parents=True)
    # SQLite's header, then junk: passes the header check, so SQLite itself opens it and fails.
    db_path.write_bytes(b"SQLite format 3\x00" + b"not a database\x00\xff" * 500)
    return db_path


async def test_a_file_that_is_no_database_leaves_no_connection_thread(
    garbage_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection left open keeps a non-daemon thread alive, and the process never exits."""
    opened: list[aiosqlite.Connection] = []  # kept referenced, as a traceback would keep them
    real_connect = aiosqlite.connect

    def connect(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
        conn = real_connect(*args, **kwargs)
        opened.append(conn)
        return conn

    monkeypatch.setattr(aiosqlite, "connect", connect)
    before = set(threading.enumerate())
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        await Store.open(garbage_db)
    assert opened
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("asyncio_"):
            continue  # the loop's executor (the startup lock waits there); the loop shuts it down on exit
        thread.join(timeout=2)
        assert not thread.is_alive()


async def test_two_processes_migrating_at_once(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second process read the old version just before the first one applied every migration."""
    real_version = migrate.current_version
    raced = False

    async def version_then_race(conn: aiosqlite.Connection) -> int:
        nonlocal raced
        version = await real_version(conn)
        if not raced:
            raced = True
            await (await Store.open(db_path)).close()  # the other process, between our check and our apply
        return version

    @asynccontextmanager
    async def no_lock(path: Path) -> AsyncIterator[None]:
        yield  # as on a system without flock: the migrations' own re-check must carry it

    monkeypatch.setattr(migrate, "current_version", version_then_race)
    monkeypatch.setattr(store_module, "_startup_lock", no_lock)
    async with await Store.open(db_path) as store:
        assert raced
        assert store.schema_version == len(bundled_migrations())
        rows = await store.fetchall("SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, len(bundled_migrations()) + 1))


async def test_stores_upgrading_the_same_file_at_once(db_path: Path) -> None:
    await (await Store.open(db_path, migrations=bundled_migrations()[:1])).close()
    opened = await asyncio.gather(*(Store.open(db_path) for _ in range(3)), return_exceptions=True)
    stores = [s for s in opened if isinstance(s, Store)]
    for store in stores:
        await store.close()
    assert [s.schema_version for s in stores] == [len(bundled_migrations())] * 3, opened


async def test_a_task_started_inside_atomic_is_not_in_the_transaction(db_path: Path) -> None:
    """It inherits the context variable, but runs on its own: it must not write into (or read) our transaction."""
    async with await Store.open(db_path) as store:
        seen: list[object] = []
        looked = asyncio.Event()

        async def child() -> None:
            seen.append(store.in_transaction())
            seen.append(await store.chats.get(-1))  # not committed yet: invisible from outside
            looked.set()
            async with store.atomic() as conn:  # waits for the writer lock, then is a transaction of its own
                seen.append(store.in_transaction())
                seen.append(await store.chats.get(-1) is not None)
                await conn.execute(
                    "INSERT INTO chats (id, type, created_at, updated_at) VALUES (-2, 'group', 'x', 'x')"
                )

        async with store.atomic() as conn:
            await conn.execute("INSERT INTO chats (id, type, created_at, updated_at) VALUES (-1, 'group', 'x', 'x')")
            task = asyncio.create_task(child())
            await looked.wait()  # the child has looked from outside; now it waits for the writer lock
            assert store.in_transaction()
            assert not task.done()  # its write waits for our COMMIT
        await task
        assert seen == [False, None, True, True]  # then it saw our committed row, in its own transaction
        assert await store.chats.get(-2) is not None


async def test_stores_created_at_once_on_a_new_file(db_path: Path) -> None:
    """Two processes starting together on an empty data directory: both open, neither fails."""
    stores = await asyncio.gather(*(Store.open(db_path) for _ in range(3)))
    try:
        assert {s.schema_version for s in stores} == {len(bundled_migrations())}
    finally:
        for store in stores:
            await store.close()


async def test_kept_reports_from_empty_and_from_the_previous_version(db_path: Path) -> None:
    """0014 adds the strangers' kept reports; the people and reaches before it stay, and the table works."""
    all_migrations = bundled_migrations()
    kept_at = next(m.version for m in all_migrations if m.name.endswith("kept_reports"))
    async with await Store.open(db_path, migrations=all_migrations[: kept_at - 1]) as store:
        await store.people.create(name="路人", telegram_id=9)  # writes only: later columns are not there yet
        area, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
        await store.reaches.upsert(ReachValues("R1", "河", "River", area, "village", None, (), None, None))
    async with await Store.open(db_path) as store:
        assert "kept_reports" in await store.table_names()
        assert await store.people.by_telegram_id(9) is not None
        reach = await store.fetchval("SELECT id FROM reaches WHERE code = 'R1'")
        assert await store.kept_reports.add_photo(9, [1, "f1", False, None], limit=2) == 1
        assert await store.kept_reports.add_photo(9, [1, "f1", False, None], limit=2) == 1  # the same photo
        await store.kept_reports.set_reach(9, reach)
        assert await store.kept_reports.add_photo(9, [2, "f2", True, [32.5, 120.4]], limit=2) == 2
        assert await store.kept_reports.add_photo(9, [3, "f3", False, None], limit=2) is None
        kept = await store.kept_reports.take(9)
        assert kept is not None and kept.reach_id == reach and [p[0] for p in kept.photos] == [1, 2]
        assert await store.kept_reports.take(9) is None
