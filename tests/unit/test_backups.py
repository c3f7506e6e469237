"""Backups: how they are named, which are kept, what a manifest proves, and the backup before a migration."""

from __future__ import annotations

import sqlite3
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
from storage.migrate import bundled_migrations

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


# -- a real store ----------------------------------------------------------------------------------------------


async def _with_photo(store: Store, data_dir: Path, name: str = "ab/" + "ab" * 32 + ".jpg") -> None:
    path = data_dir / "photos" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jpeg bytes " + name.encode())
    person_id = await store.people.create(name="张三")
    await store.people.grant_role(person_id, "chief", level="village")


def _backup(settings: Settings, store: Store, folder: Path, at: datetime = AT) -> Path:
    return make_backup(store.path, settings.data_dir, folder, kind="manual", now=at, zone=settings.tz).path


async def test_a_backup_holds_the_database_and_photos_and_a_manifest_that_checks_them(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    await _with_photo(store, settings.data_dir)
    folder = tmp_path / "backups"
    first = _backup(settings, store, folder)
    manifest = verify(first)
    assert manifest.kind == "manual" and manifest.schema_version == store.schema_version
    assert manifest.counts["people"] == 1 and manifest.photo_files == 1
    # The next backup links the photo it already has instead of copying it again.
    await _with_photo(store, settings.data_dir, "cd/" + "cd" * 32 + ".jpg")
    second = make_backup(store.path, settings.data_dir, folder, kind="daily", now=AT, zone=settings.tz)
    assert second.path.name == "2026-12-02_03-30-05-2"
    assert (second.photos_copied, second.photos_linked) == (1, 1)
    name = "ab/" + "ab" * 32 + ".jpg"
    assert (first / "photos" / name).stat().st_ino == (second.path / "photos" / name).stat().st_ino
    assert prune(folder, 1) == [first] and not first.exists() and (second.path / "photos" / name).is_file()


def test_a_backup_that_fails_leaves_no_folder_behind(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    with pytest.raises(FileNotFoundError):
        make_backup(tmp_path / "missing.sqlite3", tmp_path, folder, kind="daily", now=AT, zone=SHANGHAI)
    assert list(folder.iterdir()) == [] and not (tmp_path / "missing.sqlite3").exists()


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
    unfinished = tmp_path / "2026-12-02_03-30-00"
    unfinished.mkdir()
    (unfinished / "riverbot.sqlite3").write_bytes((good / "riverbot.sqlite3").read_bytes())
    assert refusal(unfinished) == "backup.error.unfinished"
    (unfinished / MANIFEST).write_text('{"format": 99}')
    assert refusal(unfinished) == "backup.error.not_a_backup"
    # One byte changed in the copy: its SHA-256 no longer matches the manifest.
    (unfinished / MANIFEST).write_text((good / MANIFEST).read_text())
    data = bytearray((good / "riverbot.sqlite3").read_bytes())
    data[5000] ^= 0xFF
    (unfinished / "riverbot.sqlite3").write_bytes(bytes(data))
    assert refusal(unfinished) == "backup.error.corrupt"
    # A photo file missing.
    for photo in (good / "photos").rglob("*.jpg"):
        photo.unlink()
    assert refusal(good) == "backup.error.corrupt"


async def test_a_backup_newer_than_the_code_is_refused(settings: Settings, store: Store, tmp_path: Path) -> None:
    good = _backup(settings, store, tmp_path / "backups")
    with pytest.raises(BackupError) as refused:
        verify(good, migrations=bundled_migrations()[:-1])
    assert refused.value.key == "backup.error.newer_schema"
    assert refused.value.params["version"] == store.schema_version


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


# -- the backup before a migration -------------------------------------------------------------------------------

# Today's schema, and one migration more (the next release's, as far as this test knows).
NOW = len(bundled_migrations())
NEXT = Migration(NOW + 1, "for_the_test", "CREATE TABLE backup_test (id INTEGER PRIMARY KEY);")


async def test_a_database_is_backed_up_before_it_is_migrated(settings: Settings) -> None:
    async with await Store.open(settings.database) as current:
        await _with_photo(current, settings.data_dir)
    async with await open_store(settings, migrations=[*bundled_migrations(), NEXT]) as upgraded:
        assert upgraded.schema_version == NOW + 1
        info = await last_backup(upgraded)
    assert info is not None and info.kind == "before_migration"
    assert info.path.parent == settings.data_dir / "backups" and info.path.name.endswith(f"_before-v{NOW + 1}")
    manifest = read_manifest(info.path)
    assert (manifest.schema_version, manifest.target_version) == (NOW, NOW + 1)
    assert manifest.counts["people"] == 1 and "backup_test" not in manifest.counts
    # Opened again, nothing is pending: no second backup.
    async with await open_store(settings, migrations=[*bundled_migrations(), NEXT]):
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
        await open_store(settings, migrations=[*bundled_migrations(), NEXT])
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
