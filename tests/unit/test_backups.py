"""Backups: how they are named, which are kept, what a manifest proves, and the backup before a migration."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.backups import (
    MANIFEST,
    BackupError,
    Backups,
    Found,
    Manifest,
    backup_name,
    backups_in,
    last_backup,
    make_backup,
    open_store,
    prune,
    read_manifest,
    restore_backup,
    to_prune,
    verify,
)
from bot.config import Settings, load_settings
from bot.running import DataDirLock
from storage import Migration, MigrationError, Store
from storage import backup as backup_module
from storage.backup import PostgresToolMissing
from storage.engine import DatabaseRefused
from storage.migrate import bundled_migrations
from tests.conftest import POSTGRES_SERVER, TEST_ENGINE, _on_database
from tests.postgres import needs_postgres, scratch_database

ON_POSTGRES = TEST_ENGINE == "postgresql"
# The migrations of the engine the suite runs on (the same numbers on both).
MIGRATIONS = bundled_migrations("postgresql" if ON_POSTGRES else "sqlite")

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 1, 19, 30, 5, tzinfo=UTC)  # 2026-12-02 03:30:05 in Shanghai


def test_a_backup_is_named_by_its_local_time_and_says_when_it_precedes_a_migration() -> None:
    assert backup_name(AT, SHANGHAI) == "2026-12-02_03-30-05"
    assert backup_name(AT, SHANGHAI, target_version=8) == "2026-12-02_03-30-05_before-v8"
    assert backup_name(AT, ZoneInfo("Asia/Urumqi")) == "2026-12-02_01-30-05"


def _found(name: str, *, finished: bool = True) -> Found:
    return Found(Path(name), finished, "_before-v" in name)


@pytest.mark.parametrize(
    ("names", "keep", "pruned"),
    [
        # The newest `keep` daily and manual backups stay.
        (["2026-11-28_03-30-00", "2026-11-29_03-30-00", "2026-11-30_03-30-00"], 2, ["2026-11-28_03-30-00"]),
        (["2026-11-29_03-30-00", "2026-11-30_03-30-00"], 7, []),
        # Two in one second: "-2" is the later one, and "-10" sorts after "-9".
        (
            ["2026-11-30_03-30-00", "2026-11-30_03-30-00-2", "2026-11-30_03-30-00-10", "2026-11-30_03-30-00-9"],
            2,
            ["2026-11-30_03-30-00", "2026-11-30_03-30-00-2"],
        ),
        # A backup before a migration is never pruned, nor counted among the kept.
        (["2026-11-01_09-00-00_before-v8", "2026-11-29_03-30-00", "2026-11-30_03-30-00"], 1, ["2026-11-29_03-30-00"]),
    ],
)
def test_pruning_keeps_the_newest(names: list[str], keep: int, pruned: list[str]) -> None:
    assert [p.name for p in to_prune([_found(n) for n in names], keep)] == pruned


def test_a_half_written_backup_is_pruned_once_a_newer_one_finished() -> None:
    found = [
        _found("2026-11-28_03-30-00", finished=False),  # a crash's leftover
        _found("2026-11-29_03-30-00"),
        _found("2026-11-30_03-30-00", finished=False),  # maybe being written right now
    ]
    assert [p.name for p in to_prune(found, 7)] == ["2026-11-28_03-30-00"]


def test_backups_in_lists_backup_folders_only(tmp_path: Path) -> None:
    for name in ("2026-11-30_03-30-00", "2026-11-29_03-30-00_before-v8", "notes", "2026-11-30"):
        (tmp_path / name).mkdir()
    (tmp_path / "2026-11-30_03-30-00" / MANIFEST).write_text("{}")
    (tmp_path / "2026-12-01_03-30-00").write_text("a file, not a backup")
    assert backups_in(tmp_path) == [
        Found(tmp_path / "2026-11-29_03-30-00_before-v8", False, True),
        Found(tmp_path / "2026-11-30_03-30-00", True, False),
    ]


def test_a_manifest_reads_back_what_was_written_and_refuses_anything_else() -> None:
    manifest = Manifest(
        kind="daily",
        created_at=AT,
        riverbot="0.1.0",
        schema_version=7,
        target_version=None,
        database_sha256="ab" * 32,
        database_bytes=4096,
        counts={"people": 3, "patrols": 10},
        photo_files=2,
        photo_bytes=300,
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    for text in ("[]", "{}", '{"format": 1, "kind": "daily"}', '{"format": 2}', "not json"):
        with pytest.raises(ValueError):
            Manifest.from_json(text)
    # A manifest written before PostgreSQL names no engine: it is SQLite's. One of an unknown engine is refused.
    data = json.loads(manifest.to_json())
    assert data["engine"] == "sqlite" and manifest.database_file == "riverbot.sqlite3"
    del data["engine"]
    assert Manifest.from_json(json.dumps(data)) == manifest
    on_postgres = replace(manifest, engine="postgresql")
    assert Manifest.from_json(on_postgres.to_json()) == on_postgres and on_postgres.database_file == "riverbot.pgdump"
    with pytest.raises(ValueError):
        Manifest.from_json(json.dumps({**data, "engine": "oracle"}))


# -- a real store ----------------------------------------------------------------------------------------------


async def _with_photo(store: Store, data_dir: Path, name: str = "ab/" + "ab" * 32 + ".jpg") -> None:
    path = data_dir / "photos" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jpeg bytes " + name.encode())
    person_id = await store.people.create(name="张三")
    await store.people.grant_role(person_id, "chief", level="village")


def _backup(settings: Settings, store: Store, folder: Path, at: datetime = AT) -> Path:
    return make_backup(store, settings.data_dir, folder, kind="manual", now=at, zone=settings.tz).path


async def test_a_backup_holds_the_database_and_photos_and_a_manifest_that_checks_them(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    await _with_photo(store, settings.data_dir)
    folder = tmp_path / "backups"
    first = _backup(settings, store, folder)
    manifest = verify(first)
    assert manifest.kind == "manual" and manifest.schema_version == store.schema_version
    assert manifest.engine == store.dialect and (first / manifest.database_file).is_file()
    assert manifest.counts["people"] == 1 and manifest.photo_files == 1
    # The next backup links the photo it already has instead of copying it again.
    await _with_photo(store, settings.data_dir, "cd/" + "cd" * 32 + ".jpg")
    second = make_backup(settings.database, settings.data_dir, folder, kind="daily", now=AT, zone=settings.tz)
    assert second.path.name == "2026-12-02_03-30-05-2"
    assert (second.photos_copied, second.photos_linked) == (1, 1)
    name = "ab/" + "ab" * 32 + ".jpg"
    assert (first / "photos" / name).stat().st_ino == (second.path / "photos" / name).stat().st_ino
    assert prune(folder, 1) == [first] and not first.exists() and (second.path / "photos" / name).is_file()


@pytest.mark.sqlite_only("a database file that is not there")
def test_a_backup_that_fails_leaves_no_folder_behind(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    with pytest.raises(FileNotFoundError):
        make_backup(tmp_path / "missing.sqlite3", tmp_path, folder, kind="daily", now=AT, zone=SHANGHAI)
    assert list(folder.iterdir()) == [] and not (tmp_path / "missing.sqlite3").exists()


@needs_postgres
def test_a_dump_that_fails_leaves_no_folder_behind(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    missing = _on_database(POSTGRES_SERVER, "riverbot_no_such_database")
    with pytest.raises(DatabaseRefused, match="does not exist"):
        make_backup(missing, tmp_path, folder, kind="daily", now=AT, zone=SHANGHAI)
    assert list(folder.iterdir()) == []


def test_without_pg_dump_a_postgresql_backup_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(backup_module, "PG_BIN_DIRS", tmp_path / "none")
    folder = tmp_path / "backups"
    with pytest.raises(PostgresToolMissing) as missing:
        make_backup(
            "postgresql://riverbot@/riverbot?host=/nowhere", tmp_path, folder, kind="daily", now=AT, zone=SHANGHAI
        )
    assert missing.value.tool == "pg_dump" and list(folder.iterdir()) == []


async def test_a_damaged_or_foreign_backup_is_refused_with_its_reason(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    await _with_photo(store, settings.data_dir)
    good = _backup(settings, store, tmp_path / "backups")

    def refusal(path: Path) -> str:
        with pytest.raises(BackupError) as refused:
            verify(path)
        return refused.value.key

    assert refusal(tmp_path / "nowhere") == "backup.error.missing"
    assert refusal(settings.data_dir) == "backup.error.not_a_backup"
    name = read_manifest(good).database_file
    unfinished = tmp_path / "2026-12-02_03-30-00"
    unfinished.mkdir()
    (unfinished / name).write_bytes((good / name).read_bytes())
    assert refusal(unfinished) == "backup.error.unfinished"
    (unfinished / MANIFEST).write_text('{"format": 99}')
    assert refusal(unfinished) == "backup.error.not_a_backup"
    # One byte changed in the copy: its SHA-256 no longer matches the manifest.
    (unfinished / MANIFEST).write_text((good / MANIFEST).read_text())
    data = bytearray((good / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (unfinished / name).write_bytes(bytes(data))
    assert refusal(unfinished) == "backup.error.corrupt"
    # Cut short, with a manifest that matches it: the archive itself is unreadable (pg_restore --list, or
    # SQLite's integrity check).
    manifest = read_manifest(good)
    cut = bytes((good / name).read_bytes()[: len(data) // 2])
    (unfinished / name).write_bytes(cut)
    (unfinished / MANIFEST).write_text(replace(manifest, database_sha256=hashlib.sha256(cut).hexdigest()).to_json())
    assert refusal(unfinished) == "backup.error.corrupt"
    # The database of the other engine's backup is not this one's.
    other = "riverbot.sqlite3" if name == "riverbot.pgdump" else "riverbot.pgdump"
    (unfinished / name).rename(unfinished / other)
    assert refusal(unfinished) == "backup.error.not_a_backup"
    # A photo file missing.
    for photo in (good / "photos").rglob("*.jpg"):
        photo.unlink()
    assert refusal(good) == "backup.error.corrupt"


async def test_a_backup_newer_than_the_code_is_refused(settings: Settings, store: Store, tmp_path: Path) -> None:
    good = _backup(settings, store, tmp_path / "backups")
    with pytest.raises(BackupError) as refused:
        verify(good, migrations=MIGRATIONS[:-1])
    assert refused.value.key == "backup.error.newer_schema"
    assert refused.value.params["version"] == store.schema_version


@pytest.mark.sqlite_only("the database file is moved aside and opened again by its path")
async def test_restore_keeps_the_current_database_aside_and_refuses_while_the_data_is_held(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    await _with_photo(store, settings.data_dir)
    backup = _backup(settings, store, tmp_path / "backups")
    target = tmp_path / "target"
    async with await Store.open(target / "riverbot.sqlite3") as other:
        await other.people.create(name="李四")
    with DataDirLock.acquire(target):
        with pytest.raises(BackupError) as refused:
            restore_backup(backup, target, now=AT, zone=SHANGHAI)
        assert refused.value.key == "backup.error.bot_running"
    restored = restore_backup(backup, target, now=AT, zone=SHANGHAI)
    assert restored.kept_aside == target / "before-restore-2026-12-02_03-30-05"
    assert (restored.photos_copied, restored.photos_present) == (1, 0)
    kept = sqlite3.connect(restored.kept_aside / "riverbot.sqlite3")
    assert kept.execute("SELECT name FROM people").fetchall() == [("李四",)]
    kept.close()
    async with await Store.open(target / "riverbot.sqlite3") as back:
        assert await back.fetchval("SELECT group_concat(name) FROM people") == "张三"


async def _people(store: Store) -> list[str]:
    return [str(r[0]) for r in await store.fetchall("SELECT name FROM people ORDER BY id")]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's restore, into the database DATABASE_URL names")
async def test_a_postgresql_restore_keeps_the_current_contents_as_a_backup_and_is_all_or_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    url = str(settings.database_url)
    async with await Store.open(url) as store:
        await _with_photo(store, settings.data_dir)
        backup = _backup(settings, store, tmp_path / "backups")
        await store.people.create(name="李四")
        # A table of a newer schema is gone after the restore too: the database is the backup's, whole.
        await store.execute("CREATE TABLE from_a_later_version (id BIGINT)")
        with pytest.raises(BackupError) as refused:  # the store's own connections: a bot is running on it
            await asyncio.to_thread(restore_backup, backup, settings.data_dir, now=AT, zone=SHANGHAI, database_url=url)
        assert refused.value.key == "backup.error.database_busy" and int(str(refused.value.params["count"])) >= 1
    with DataDirLock.acquire(settings.data_dir):
        with pytest.raises(BackupError) as refused:
            restore_backup(backup, settings.data_dir, now=AT, zone=SHANGHAI, database_url=url)
        assert refused.value.key == "backup.error.bot_running"
    with pytest.raises(BackupError) as refused:  # a SQLite data directory cannot take it
        restore_backup(backup, tmp_path / "sqlite", now=AT, zone=SHANGHAI)
    assert refused.value.key == "backup.error.other_engine"

    phases: set[str] = set()
    restored = restore_backup(
        backup, settings.data_dir, now=AT, zone=SHANGHAI, database_url=url,
        progress=lambda phase, done, total: phases.add(phase),
    )  # fmt: skip
    assert phases >= {"keep", "load"}
    assert restored.kept_aside == settings.data_dir / "before-restore-2026-12-02_03-30-05"
    assert read_manifest(restored.kept_aside).counts["people"] == 2
    async with await Store.open(url) as back:
        assert await _people(back) == ["张三"]
        assert "from_a_later_version" not in await back.table_names()
        # Numbering goes on after the restored rows.
        assert await back.people.create(name="王五") > 1

    # A manifest that does not match the archive: the restore is rolled back whole, the kept copy is removed.
    lying = tmp_path / "lying"
    shutil.copytree(backup, lying)
    manifest = read_manifest(lying)
    (lying / MANIFEST).write_text(replace(manifest, counts={**manifest.counts, "people": 5}).to_json())
    with pytest.raises(BackupError) as refused:
        restore_backup(lying, settings.data_dir, now=AT, zone=SHANGHAI, database_url=url)
    assert refused.value.key == "backup.error.load_failed" and "people: 1 rows instead of 5" in str(refused.value)
    assert len(list(settings.data_dir.glob("before-restore-*"))) == 1
    async with await Store.open(url) as unchanged:
        assert await _people(unchanged) == ["张三", "王五"]

    # The contents kept aside restore in turn: the way back from a wrong restore.
    restore_backup(restored.kept_aside, settings.data_dir, now=AT, zone=SHANGHAI, database_url=url)
    async with await Store.open(url) as again:
        assert await _people(again) == ["张三", "李四"]


@needs_postgres
async def test_a_postgresql_restore_into_an_empty_database_keeps_nothing_aside(
    settings: Settings, tmp_path: Path
) -> None:
    async with scratch_database() as source, scratch_database() as empty:
        async with await Store.open(source) as store:
            await store.people.create(name="张三")
            made = make_backup(store, settings.data_dir, tmp_path / "backups", kind="manual", now=AT, zone=SHANGHAI)
        restored = restore_backup(made.path, tmp_path / "data", now=AT, zone=SHANGHAI, database_url=empty)
        assert restored.kept_aside is None
        async with await Store.open(empty) as back:
            assert await _people(back) == ["张三"] and back.schema_version == made.manifest.schema_version


# -- the backup before a migration -------------------------------------------------------------------------------

# Today's schema, and one migration more (the next release's, as far as this test knows).
NOW = max(m.version for m in MIGRATIONS)
NEXT = Migration(NOW + 1, "for_the_test", "CREATE TABLE backup_test (id INTEGER PRIMARY KEY);")


async def test_a_database_is_backed_up_before_it_is_migrated(settings: Settings) -> None:
    async with await Store.open(settings.database) as current:
        await _with_photo(current, settings.data_dir)
    async with await open_store(settings, migrations=[*MIGRATIONS, NEXT]) as upgraded:
        assert upgraded.schema_version == NOW + 1
        info = await last_backup(upgraded)
    assert info is not None and info.kind == "before_migration"
    assert info.path.parent == settings.data_dir / "backups" and info.path.name.endswith(f"_before-v{NOW + 1}")
    manifest = read_manifest(info.path)
    assert (manifest.schema_version, manifest.target_version) == (NOW, NOW + 1)
    assert manifest.engine == ("postgresql" if ON_POSTGRES else "sqlite")
    assert manifest.counts["people"] == 1 and "backup_test" not in manifest.counts
    # Opened again, nothing is pending: no second backup.
    async with await open_store(settings, migrations=[*MIGRATIONS, NEXT]):
        pass
    assert len(backups_in(settings.backups_path)) == 1


async def test_a_new_database_is_not_backed_up(settings: Settings) -> None:
    async with await open_store(settings) as store:
        assert await last_backup(store) is None
    assert not settings.backups_path.exists()


async def test_a_failed_backup_stops_the_migration(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    settings = load_settings(env_file=None, data_dir=tmp_path / "data", backup_dir=str(blocker / "backups"))
    await (await Store.open(settings.database)).close()
    with pytest.raises(MigrationError, match=f"backup before migrating to version {NOW + 1}"):
        await open_store(settings, migrations=[*MIGRATIONS, NEXT])
    async with await Store.open(settings.database) as still:
        assert still.schema_version == NOW


# -- the daily job's rules ---------------------------------------------------------------------------------------


async def test_the_daily_backup_keeps_the_newest_and_tells_a_failure_once(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data", backup_keep=2)
    async with await Store.open(settings.database) as store:
        backups = Backups(store, settings)
        for hour in (1, 2, 3):
            outcome = await backups.daily(AT.replace(hour=hour))
            assert outcome.made is not None and not outcome.tell_admins
        assert [f.path.name for f in backups_in(settings.backups_path)] == [
            "2026-12-01_10-30-05",
            "2026-12-01_11-30-05",
        ]
        info = await last_backup(store)
        assert info is not None and info.path.name == "2026-12-01_11-30-05" and info.kind == "daily"
        broken = load_settings(env_file=None, data_dir=settings.data_dir, backup_dir=str(tmp_path / "file"))
        (tmp_path / "file").write_text("not a folder")
        failing = Backups(store, broken)
        first, second = await failing.daily(AT), await failing.daily(AT)
        assert first.tell_admins and first.error and not second.tell_admins and second.error
        assert (await backups.daily(AT.replace(hour=4))).made is not None
        assert (await failing.daily(AT)).tell_admins  # failing again after a success: told again


async def test_a_disabled_daily_backup_does_nothing(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data", backup_enabled="false")
    async with await Store.open(settings.database) as store:
        outcome = await Backups(store, settings).daily(AT)
    assert outcome.made is None and not outcome.tell_admins and not settings.backups_path.exists()
