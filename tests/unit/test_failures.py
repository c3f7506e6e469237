"""Failed updates and storage outages: what counts as a full disk, told once, kept so often, kept so long."""

from __future__ import annotations

import errno
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.config import Settings
from bot.failures import (
    ALIKE_KEPT,
    FailedUpdates,
    Kept,
    Outage,
    StorageAlarm,
    StorageTrouble,
    storage_trouble,
)
from storage import Store
from storage.demo import writer_connection
from storage.engine import DatabaseUnreachable

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


# PostgreSQL cannot be told to stop growing a table, so a full disk is played by a trigger on every table that
# fails each write as the server does when it cannot extend a file.
_PG_FULL = """
CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device' USING ERRCODE = '53100';
END $$;
DO $$ DECLARE t text; BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
        EXECUTE format('CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION disk_full()', t);
    END LOOP;
END $$;
"""


async def make_full(store: Store) -> None:
    """The database may not grow: on SQLite, the file may not take a page more (real SQLITE_FULL)."""
    if store.dialect == "postgresql":
        async with store.atomic() as conn:
            await conn.execute(_PG_FULL)
        return
    pages = int(await store.fetchval("PRAGMA page_count"))
    await writer_connection(store).execute(f"PRAGMA max_page_count = {pages}")


async def make_roomy(store: Store) -> None:
    if store.dialect == "postgresql":
        async with store.atomic() as conn:
            await conn.execute("DROP FUNCTION disk_full() CASCADE")
        return
    await writer_connection(store).execute("PRAGMA max_page_count = 1073741823")


def _raised(sql: str, conn: sqlite3.Connection) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        conn.execute(sql)
    return caught.value


def test_what_sqlite_and_the_disk_say_when_nothing_can_be_written(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite3")
    conn.execute("CREATE TABLE t (b BLOB)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    assert storage_trouble(_raised("INSERT INTO t VALUES (zeroblob(100000))", conn)) is StorageTrouble.FULL
    conn.execute("PRAGMA query_only = ON")
    assert storage_trouble(_raised("INSERT INTO t VALUES (1)", conn)) is StorageTrouble.READ_ONLY
    conn.close()

    assert storage_trouble(OSError(errno.ENOSPC, "No space left on device")) is StorageTrouble.FULL
    assert storage_trouble(OSError(errno.EDQUOT, "Disk quota exceeded")) is StorageTrouble.FULL
    assert storage_trouble(OSError(errno.EROFS, "Read-only file system")) is StorageTrouble.READ_ONLY
    assert storage_trouble(PermissionError(errno.EACCES, "Permission denied")) is StorageTrouble.READ_ONLY
    assert storage_trouble(OSError(errno.EIO, "Input/output error")) is StorageTrouble.IO_ERROR
    assert storage_trouble(sqlite3.OperationalError("disk I/O error")) is StorageTrouble.IO_ERROR


def test_a_database_server_out_of_reach_is_an_outage() -> None:
    """PostgreSQL on another machine can be down or cut off: then nothing can be stored, as with a full disk."""
    assert storage_trouble(DatabaseUnreachable("[Errno 111] Connection refused")) is StorageTrouble.UNREACHABLE
    assert storage_trouble(asyncpg.ConnectionDoesNotExistError("connection was closed")) is (
        StorageTrouble.UNREACHABLE
    )
    assert storage_trouble(asyncpg.AdminShutdownError("terminating connection")) is StorageTrouble.UNREACHABLE
    assert storage_trouble(asyncpg.CannotConnectNowError("the database system is starting up")) is (
        StorageTrouble.UNREACHABLE
    )
    # A constraint, a lock timeout, a bug in a statement: not an outage. Nor a refused connection to Telegram.
    assert storage_trouble(asyncpg.UniqueViolationError("duplicate key")) is None
    assert storage_trouble(asyncpg.LockNotAvailableError("could not obtain lock")) is None
    assert storage_trouble(asyncpg.UndefinedColumnError("column does not exist")) is None
    assert storage_trouble(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")) is None


def test_a_wrapped_cause_counts_and_other_errors_do_not() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("could not keep the photo") from exc
    except RuntimeError as wrapped:
        assert storage_trouble(wrapped) is StorageTrouble.FULL
    assert storage_trouble(RuntimeError("the river overflowed")) is None
    assert storage_trouble(sqlite3.IntegrityError("UNIQUE constraint failed: people.phone")) is None
    assert storage_trouble(sqlite3.OperationalError("database is locked")) is None
    assert storage_trouble(FileNotFoundError(errno.ENOENT, "gone")) is None
    assert storage_trouble(None) is None


def test_the_admins_are_told_once_per_outage() -> None:
    alarm = StorageAlarm()
    assert alarm.recovered() is None  # no outage, nothing to announce
    first = alarm.failed(StorageTrouble.FULL, NOW)
    assert first == Outage(StorageTrouble.FULL, NOW)
    assert alarm.failed(StorageTrouble.FULL, NOW + timedelta(minutes=1)) is None
    assert alarm.failed(StorageTrouble.READ_ONLY, NOW + timedelta(minutes=2)) is None
    assert alarm.recovered() == first
    assert alarm.recovered() is None
    assert alarm.failed(StorageTrouble.FULL, NOW + timedelta(hours=1)) == Outage(
        StorageTrouble.FULL, NOW + timedelta(hours=1)
    )


async def _keep(
    failures: FailedUpdates,
    *,
    user_id: int = 7,
    error: str = "Traceback\nRuntimeError: boom",
    cause: BaseException | None = None,
) -> Kept:
    return await failures.keep(
        update_id=1, chat_id=user_id, user_id=user_id, payload="{}", error=error, cause=cause, at=NOW
    )


async def test_one_persons_identical_failures_are_kept_so_often(store: Store, settings: Settings) -> None:
    failures = FailedUpdates(store, settings)
    for _ in range(ALIKE_KEPT):
        assert (await _keep(failures)).stored
    capped = await _keep(failures)
    assert not capped.stored and capped.capped and capped.trouble is None
    # Another error, or another person, is kept as before.
    assert (await _keep(failures, error="Traceback\nKeyError: 'reach'")).stored
    assert (await _keep(failures, user_id=8)).stored
    assert len(await store.failed_updates.open(limit=100)) == ALIKE_KEPT + 2


async def test_a_full_database_keeps_nothing_and_starts_one_outage(store: Store, settings: Settings) -> None:
    failures = FailedUpdates(store, settings)
    await make_full(store)
    big = "x" * 8000  # needs pages of its own
    kept = await _keep(failures, error=big)
    assert kept.failure_id is None and kept.trouble is StorageTrouble.FULL
    assert kept.outage == Outage(StorageTrouble.FULL, NOW)
    again = await _keep(failures, error=big + "!")
    assert again.trouble is StorageTrouble.FULL and again.outage is None


async def test_a_handler_that_hit_the_disk_is_kept_when_the_database_has_room(store: Store, settings: Settings) -> None:
    failures = FailedUpdates(store, settings)
    kept = await _keep(failures, cause=OSError(errno.ENOSPC, "No space left on device"))
    assert kept.stored and kept.trouble is StorageTrouble.FULL and kept.outage is not None


async def test_the_probe_ends_the_outage_only_when_writing_works(store: Store, settings: Settings) -> None:
    failures = FailedUpdates(store, settings)
    assert await failures.check_storage() is None  # no outage: no probe at all
    await make_full(store)
    outage = (await _keep(failures, error="y" * 8000)).outage
    assert outage is not None
    assert await failures.check_storage() is None
    assert failures.alarm.outage == outage
    await make_roomy(store)
    assert await failures.check_storage() == outage
    assert failures.alarm.recovered() is None  # over: nothing left to end
    assert await store.failed_updates.open() == []  # the probe leaves nothing behind
    assert not any((settings.data_dir / "photos").iterdir())


async def test_failed_updates_are_pruned_after_the_retention(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", failed_updates_keep_days=90)
    failures = FailedUpdates(store, settings)
    for days_ago in (200, 91, 89, 1):
        failure_id = (await _keep(failures, error=f"error {days_ago}")).failure_id
        created = NOW - timedelta(days=days_ago)
        await store.execute(
            "UPDATE failed_updates SET created_at = ? WHERE id = ?",
            (created.strftime("%Y-%m-%dT%H:%M:%SZ"), failure_id),
        )
    assert await failures.prune(NOW) == 2
    assert sorted(f.error for f in await store.failed_updates.open()) == ["error 1", "error 89"]
    assert await failures.prune(NOW) == 0
    # A batch per transaction, until none is left.
    assert await store.failed_updates.prune(NOW, batch=1) == 2
    assert await store.failed_updates.open() == []


def test_the_retention_is_a_setting_with_a_default(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).failed_updates_keep_days == 90
    assert Settings(data_dir=tmp_path, failed_updates_keep_days="30").failed_updates_keep_days == 30  # type: ignore[arg-type]
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text(encoding="utf-8")
    assert "\nFAILED_UPDATES_KEEP_DAYS=90\n" in example
