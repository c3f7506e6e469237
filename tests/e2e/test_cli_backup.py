"""Backups as the office uses them: `riverbot backup` and `riverbot restore` as real processes next to a running
bot, the daily job through the job queue, and the backup before a migration."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.app import build_application, startup, stop
from bot.backups import MANIFEST, backups_in, last_backup, read_manifest
from bot.config import ConfigError, load_settings
from bot.demo import generate
from bot.problems import Draft, DraftPhoto
from bot.running import DataDirLock, held
from handlers.backups import daily_backup
from storage import Migration, Store, backup
from storage.backup import MAIN_TABLES
from storage.migrate import bundled_migrations
from storage.reading import BlockingReader
from tests.conftest import TEST_ENGINE, BotFactory, Cli, Harness
from tests.factories import make_jpeg
from tests.postgres import scratch_database, with_password
from tests.support import World, run_job, started_admin

ON_POSTGRES = TEST_ENGINE == "postgresql"

RIVERBOT = [sys.executable, "-m", "bot"]


async def _run(cwd: Path, data_dir: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    """`riverbot …` as a separate process on `data_dir`, in English unless told otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS"}}
    env.update({"DATA_DIR": str(data_dir), "DEFAULT_LANGUAGE": "en", "PYTHONUNBUFFERED": "1", **settings})
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()  # a hung riverbot must fail the test, not outlive it
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _stats(cwd: Path, data_dir: Path, **settings: str) -> object:
    # Tomorrow in UTC is today or later in every time zone east of it (Asia/Shanghai's date runs ahead of UTC's
    # for eight hours a day), so the range holds everything written until now.
    today = datetime.now(UTC).date() + timedelta(days=1)
    first = (today - timedelta(days=800)).isoformat()
    code, out, err = await _run(
        cwd, data_dir, "stats", "--from", first, "--to", today.isoformat(), "--format", "json", **settings
    )
    assert code == 0, err
    return json.loads(out)


async def _counts(store: Store) -> dict[str, int]:
    return {name: int(await store.fetchval(f"SELECT COUNT(*) FROM {name}")) for name in MAIN_TABLES}


async def _patrol_with_points(bot: Harness, person_id: int, reach_id: int, at: datetime, photo_seed: int) -> None:
    """A chief's short patrol with a photo and a problem reported on it, written through the services as the
    handlers write them."""
    svc = bot.services
    patrol, _ = await svc.patrols.start(person_id, reach_id, at)
    for i in range(5):
        await svc.patrols.add_point(
            patrol, (32.5, 120.40 + i * 0.0003), at + timedelta(minutes=i), accuracy_m=5.0, live=True
        )
    stored = await svc.patrols.store_photo(make_jpeg(64, 48, seed=photo_seed), person_id=person_id)
    await svc.patrols.add_photo(
        patrol, stored, file_id=f"photo-{photo_seed}", as_document=False, at=at + timedelta(minutes=5), caption=None
    )
    draft = Draft(
        photos=[DraftPhoto(stored.photo_id, f"photo-{photo_seed}", False, None)],
        lat=32.5,
        lon=120.401,
        location_source="shared",
        reach_id=reach_id,
        category="garbage",
        patrol_id=patrol.id,
    )
    await svc.problems.submit(person_id, draft, at=at + timedelta(minutes=6))
    await svc.patrols.finish(patrol.id, at=at + timedelta(minutes=20), reason="finished")


@pytest.mark.sqlite_only("SQLite's online backup API, step by step; tested on PostgreSQL with pg_dump below")
async def test_a_busy_store_backed_up_and_restored_is_the_store_as_the_backup_began(
    bot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between every few pages the backup copies, a chief finishes another patrol (points, a photo, a problem): the
    restored store is exactly the store of the moment the backup began, by the figures of `riverbot stats` and by
    the manifest's counts, while the live one has moved on."""
    await generate(bot.store, bot.settings, scale="small", seed=1, years=1)
    person_id, reach_id = await bot.store.fetchone("SELECT person_id, reach_id FROM assignments LIMIT 1") or (0, 0)
    stats_before = await _stats(tmp_path, bot.settings.data_dir)
    counts_before = await _counts(bot.store)

    monkeypatch.setattr(backup, "PAGES_PER_STEP", 16)  # many steps, each followed by a write
    loop = asyncio.get_running_loop()
    stepped: asyncio.Queue[int] = asyncio.Queue()
    wrote = threading.Event()
    steps: list[int] = []

    def progress(phase: str, done: int, total: int) -> None:
        """In the backup's thread, between two steps: wait until the bot has written once more."""
        if phase != "database" or done >= total:
            return
        steps.append(done)
        wrote.clear()
        loop.call_soon_threadsafe(stepped.put_nowait, done)
        assert wrote.wait(30)

    async def writer() -> None:
        at = datetime.now(UTC) - timedelta(hours=6)
        n = 0
        while True:
            await stepped.get()
            n += 1
            await _patrol_with_points(bot, int(person_id), int(reach_id), at + timedelta(minutes=30 * n), n)
            wrote.set()

    writing = asyncio.create_task(writer())
    try:
        made = await bot.services.backups.make("manual", datetime.now(UTC), progress=progress)
    finally:
        writing.cancel()
    assert len(steps) >= 10 and steps == sorted(steps)  # it went in steps, and never started over
    assert made.manifest.counts == counts_before
    counts_after = await _counts(bot.store)
    assert counts_after["patrols"] >= counts_before["patrols"] + 10
    assert counts_after["problems"] >= counts_before["problems"] + 10

    fresh = tmp_path / "restored"
    code, out, err = await _run(tmp_path, fresh, "restore", str(made.path))
    assert code == 0, err
    assert "Database restored from" in out and "integrity checks" in out
    assert "There was no database in the data directory before" in out
    assert await _stats(tmp_path, fresh) == stats_before
    assert await _stats(tmp_path, bot.settings.data_dir) != stats_before
    async with await Store.open(fresh / "riverbot.sqlite3") as restored:
        assert await _counts(restored) == counts_before == read_manifest(made.path).counts
    assert sorted(p.name for p in (fresh / "photos").rglob("*.jpg")) == sorted(
        p.name for p in (made.path / "photos").rglob("*.jpg")
    )


async def _one_more_person(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        at = "2026-12-02T00:00:00Z"
        await conn.execute("INSERT INTO people (name, created_at, updated_at) VALUES ('王五', $1, $1)", at)
    finally:
        await conn.close()


@pytest.mark.skipif(not ON_POSTGRES, reason="pg_dump of the database DATABASE_URL names")
async def test_a_busy_postgresql_database_dumped_and_restored_is_the_database_as_the_dump_began(
    bot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While pg_dump works through the tables, a chief finishes patrol after patrol (points, a photo, a problem):
    the restored database is exactly the one of the moment the dump began, by `riverbot stats` and by the
    manifest's counts, while the live one has moved on. Restored with `riverbot restore` into an empty database."""
    world = World(bot.store)
    area = await world.area("QT")
    reach_id = await world.reach("QT-01", area)
    person_id = await world.person("张三")
    await world.assign(person_id, reach_id, "2024-01-01")
    at = datetime.now(UTC) - timedelta(days=3)
    for n in range(3):
        await _patrol_with_points(bot, person_id, reach_id, at + timedelta(hours=n), 100 + n)
    stats_before = await _stats(tmp_path, bot.settings.data_dir)
    counts_before = await _counts(bot.store)

    loop = asyncio.get_running_loop()
    stepped: asyncio.Queue[int] = asyncio.Queue()
    wrote = threading.Event()
    steps: list[int] = []

    def progress(phase: str, done: int, total: int) -> None:
        """In the backup's thread, as pg_dump reaches a table's rows: wait until the bot has written once more."""
        assert phase in ("dump", "photos")
        if phase != "dump":
            return
        steps.append(done)
        wrote.clear()
        loop.call_soon_threadsafe(stepped.put_nowait, done)
        assert wrote.wait(30)

    async def writer() -> None:
        n = 0
        while True:
            await stepped.get()
            n += 1
            await _patrol_with_points(bot, person_id, reach_id, at + timedelta(hours=3, minutes=30 * n), n)
            wrote.set()

    # One more person, committed between the moment the manifest's counts are read and pg_dump's start: the dump
    # must be of the counted moment (pg_dump --snapshot), not of its own.
    counted = backup.postgres_facts

    def counted_then_one_more(reader: BlockingReader) -> backup.DatabaseFacts:
        found = counted(reader)
        asyncio.run(_one_more_person(str(bot.settings.database_url)))
        return found

    monkeypatch.setattr(backup, "postgres_facts", counted_then_one_more)
    writing = asyncio.create_task(writer())
    try:
        made = await bot.services.backups.make("manual", datetime.now(UTC), progress=progress)
    finally:
        writing.cancel()
    assert len(steps) >= 10 and steps == sorted(steps)
    assert made.manifest.engine == "postgresql" and (made.path / "riverbot.pgdump").is_file()
    assert made.manifest.counts == counts_before
    counts_after = await _counts(bot.store)
    assert counts_after["patrols"] >= counts_before["patrols"] + 10
    assert counts_after["problems"] >= counts_before["problems"] + 10

    fresh = tmp_path / "restored"
    async with scratch_database() as empty:
        code, out, err = await _run(tmp_path, fresh, "restore", str(made.path), DATABASE_URL=empty)
        assert code == 0, err
        assert "Database restored from" in out and "held no riverbot data before" in out
        assert await _stats(tmp_path, fresh, DATABASE_URL=empty) == stats_before
        assert await _stats(tmp_path, bot.settings.data_dir) != stats_before
        async with await Store.open(empty) as restored:
            assert await _counts(restored) == counts_before == read_manifest(made.path).counts
    assert sorted(p.name for p in (fresh / "photos").rglob("*.jpg")) == sorted(
        p.name for p in (made.path / "photos").rglob("*.jpg")
    )


async def test_riverbot_backup_runs_beside_the_bot_and_restore_waits_for_it_to_stop(
    bot: Harness, tmp_path: Path
) -> None:
    """The operator backs up with the bot running, then tries to restore over the running bot's data: refused,
    with what to do; once the bot stops, nothing holds the data any more."""
    admin = await started_admin(bot)
    await admin.send("/help")
    await admin.next_message()
    data_dir = bot.settings.data_dir
    code, out, err = await _run(tmp_path, data_dir, "backup")
    assert code == 0, err
    assert "Backup written to" in out and str(data_dir / "backups") in out
    made = backups_in(data_dir / "backups")[-1].path
    assert (made / MANIFEST).is_file()
    info = await last_backup(bot.store)
    assert info is not None and info.path == made and info.kind == "manual"

    code, out, err = await _run(tmp_path, data_dir, "restore", made.name)  # a name in BACKUP_DIR will do
    assert code == 1 and "The bot is running on the data directory" in err and str(os.getpid()) in err
    assert "Traceback" not in err
    assert held(data_dir) == str(os.getpid())

    code, out, err = await _run(tmp_path, data_dir, "restore", made.name, DEFAULT_LANGUAGE="zh")
    assert code == 1 and "机器人正在使用数据目录" in err and "请先停止机器人" in err

    await stop(bot.app)  # as `riverbot run` stops on SIGTERM
    assert held(data_dir) is None


def test_restore_explains_what_is_wrong_with_from(cli: Cli, tmp_path: Path) -> None:
    """Missing, not a backup, half-written, damaged, newer than this riverbot: one clear line each, nothing
    changed."""
    code, _out, err = cli("backup")
    assert code == 0, err
    made = backups_in(tmp_path / "data" / "backups")[-1].path
    name = read_manifest(made).database_file  # riverbot.sqlite3, or riverbot.pgdump on PostgreSQL

    code, _, err = cli("restore", tmp_path / "nowhere")
    assert code == 1 and "does not exist" in err
    code, _, err = cli("restore", tmp_path / "data")
    assert code == 1 and "is not a riverbot backup" in err
    half = tmp_path / "2026-12-02_03-30-00"
    half.mkdir()
    (half / name).write_bytes((made / name).read_bytes())
    code, _, err = cli("restore", half)
    assert code == 1 and "unfinished backup" in err

    manifest = json.loads((made / MANIFEST).read_text())
    manifest["schema_version"] = 99
    (half / MANIFEST).write_text(json.dumps(manifest))
    code, _, err = cli("restore", half)
    assert code == 1 and "schema version 99, newer than this riverbot" in err

    data = bytearray((made / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (made / name).write_bytes(bytes(data))
    code, _, err = cli("restore", made, DEFAULT_LANGUAGE="zh")
    assert code == 1 and "已损坏" in err and "当前数据未做任何改动" in err
    assert not list((tmp_path / "data").glob("before-restore-*"))


@pytest.mark.sqlite_only("a SQLite database of an old version (6): PostgreSQL's series starts at its baseline")
def test_migrate_backs_up_a_database_before_upgrading_it(cli: Cli, tmp_path: Path) -> None:
    """An older database (version 6 here) is copied to BACKUP_DIR before the upgrade changes it."""

    async def older() -> None:
        async with await Store.open(tmp_path / "data" / "riverbot.sqlite3", migrations=bundled_migrations()[:6]) as s:
            await s.people.create(name="王五")

    asyncio.run(older())
    latest = len(bundled_migrations())
    code, out, err = cli("migrate")
    assert code == 0, err
    assert f"upgraded to version {latest}" in out and "was backed up to" in out
    (found,) = backups_in(tmp_path / "data" / "backups")
    assert found.before_migration and found.path.name.endswith(f"_before-v{latest}")
    assert read_manifest(found.path).schema_version == 6
    copy = sqlite3.connect(found.path / "riverbot.sqlite3")
    assert copy.execute("SELECT MAX(version) FROM schema_version").fetchone() == (6,)
    copy.close()
    code, out, _ = cli("migrate")
    assert code == 0 and "up to date" in out and "backed up" not in out


@pytest.mark.skipif(not ON_POSTGRES, reason="pg_dump of the database DATABASE_URL names")
def test_migrate_dumps_a_postgresql_database_before_upgrading_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next release's migration is pending: without pg_dump nothing is upgraded, and the operator is told
    what to install; with it, `riverbot migrate` dumps the database first, names it without its password, and
    does not dump again once nothing is pending."""
    bundled = bundled_migrations("postgresql")
    latest = max(m.version for m in bundled) + 1
    following = Migration(latest, "for_the_test", "CREATE TABLE backup_test (id BIGINT PRIMARY KEY);")
    monkeypatch.setattr("storage.store.bundled_migrations", lambda dialect="sqlite": [*bundled, following])
    with monkeypatch.context() as without_tools:
        without_tools.setenv("PATH", str(tmp_path / "empty"))
        without_tools.setattr(backup, "PG_BIN_DIRS", tmp_path / "none")
        code, out, err = cli("migrate")
        assert code == 2 and "pg_dump was not found" in err and "apt install postgresql-client" in err, err
        assert "Traceback" not in err and err.strip().count("\n") == 0
        code, _, err = cli("migrate", DEFAULT_LANGUAGE="zh")
        assert code == 2 and "找不到 pg_dump" in err
    assert backups_in(tmp_path / "data" / "backups") == []
    # With a password in the URL (the test cluster trusts its socket, so any will do), which nothing may show.
    url = with_password(os.environ["DATABASE_URL"])
    parts = urlsplit(url)
    code, out, err = cli("migrate", DATABASE_URL=url)
    assert code == 0, err
    assert f"upgraded to version {latest}" in out and "was backed up to" in out
    assert f"{parts.username}:****@" in out and f":{parts.password}@" not in out + err
    (found,) = backups_in(tmp_path / "data" / "backups")
    assert found.before_migration and found.path.name.endswith(f"_before-v{latest}")
    manifest = read_manifest(found.path)
    assert (manifest.engine, manifest.schema_version, manifest.target_version) == ("postgresql", latest - 1, latest)
    assert (found.path / "riverbot.pgdump").is_file()
    code, out, _ = cli("migrate")
    assert code == 0 and "up to date" in out and "backed up" not in out


async def test_the_daily_job_backs_up_and_keeps_backup_keep(bot_factory: BotFactory) -> None:
    bot = await bot_factory(backup_keep=2)
    for _ in range(3):
        await run_job(bot, daily_backup)
    found = backups_in(bot.settings.backups_path)
    assert len(found) == 2 and all(f.finished for f in found)
    info = await last_backup(bot.store)
    assert info is not None and info.path == found[-1].path and info.kind == "daily"


async def test_a_failing_daily_backup_tells_the_admins_once(bot_factory: BotFactory, tmp_path: Path) -> None:
    blocker = tmp_path / "not a folder"
    blocker.write_text("x")
    bot = await bot_factory(backup_dir=str(blocker / "backups"))
    admin = await started_admin(bot)
    await run_job(bot, daily_backup)
    notice = await admin.next_message()
    assert "每日备份失败" in notice.text and str(blocker / "backups") in notice.text
    told = len(admin.messages())
    await run_job(bot, daily_backup)
    assert len(admin.messages()) == told  # not every day: once, until backups work again
    assert any("daily backup" in r.getMessage() for r in bot.errors())


async def test_a_second_bot_on_the_same_data_refuses_to_start(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, bot_token="123456:" + "A" * 35, data_dir=tmp_path / "data")
    with DataDirLock.acquire(settings.data_dir), pytest.raises(ConfigError) as refused:
        await startup(build_application(settings))
    assert refused.value.key == "backup.data_dir_busy"
    assert not settings.database_path.exists()  # refused before the store was opened
