"""Resources under pressure: a full disk, a long command-line job, a slow Bot API, a flood from one person."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import pytest
from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from bot import photos as photo_module
from bot.failures import ALIKE_KEPT
from handlers.errors import check_storage
from sandbox import FakeUser
from tests.conftest import BotFactory, Harness, ReadOnly
from tests.factories import make_jpeg
from tests.support import chief, run_job, seed, start_patrol, started_admin

REPO = Path(__file__).resolve().parents[2]
NOT_SAVED = "您刚才发送的内容未能保存。请稍后重新发送"
SAVED = "已经保存，不会丢失"
WAITING = "存储恢复后将按顺序自动处理，无需重新发送"
STORAGE = re.compile("存储故障|存储已恢复")

# -- a full disk, for real where it can be -------------------------------------------------------------------


async def replies(user: FakeUser, count: int) -> list[str]:
    """The bot's next `count` answers to `user`, past what the hourly summaries job may send meanwhile at any
    moment (a chief's weekly digest; the office's note on chiefs it cannot reach)."""
    texts: list[str] = []
    while len(texts) < count:
        text = (await user.next_message()).text
        if "巡河周报" not in text:
            texts.append(text)
    return texts


async def admin_notices(admin: FakeUser, count: int) -> list[str]:
    """The admin's next `count` storage notices, past the office's other notes the hourly jobs may send."""
    texts: list[str] = []
    while len(texts) < count:
        text = (await admin.next_message()).text
        if STORAGE.search(text):
            texts.append(text)
    return texts


def storage_notices(user: FakeUser) -> int:
    return sum(bool(STORAGE.search(m.text)) for m in user.messages())


async def refused_all(bot: Harness) -> None:
    """Wait until the bot has fetched, and refused to confirm, every update pushed so far."""
    intake = bot.app.bot_data["intake"]
    last = bot.sandbox.state.last_pushed_id
    await bot.sandbox.wait_until(lambda: intake.refused_upto >= last, timeout=30)


def leftovers(data_dir: Path) -> list[Path]:
    """Files under photos/: originals, thumbnails, and temporary files that should not be there."""
    folder = data_dir / "photos"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_a_read_only_database_is_never_called_saved_and_the_admins_hear_once_per_outage(
    bot: Harness, database_read_only: ReadOnly
) -> None:
    """The inbox cannot keep what arrives, so nothing is confirmed to Telegram: the person hears once that it waits
    (not that it was saved), the admins once per outage, and when storage is back it is all handled, in order,
    without anyone sending it again."""
    admin = await started_admin(bot)
    ids = await seed(bot.store)
    chen = bot.sandbox.user(first_name="陈", language_code="zh-hans")
    await chief(bot, chen, "陈河长", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, chen, t0)
    await database_read_only(bot.store, True)

    await chen.send_photo(make_jpeg(800, 600, seed=20), date=t0 + 60)
    (waiting,) = await replies(chen, 1)
    assert WAITING in waiting and SAVED not in waiting
    (notice,) = await admin_notices(admin, 1)
    assert "存储故障" in notice and "数据目录变为只读" in notice and "不再重复提醒" in notice
    for i in range(1, 3):  # more photos and notes, as in the field: nothing more is said meanwhile
        await chen.send_photo(make_jpeg(800, 600, seed=20 + i), date=t0 + 60 + i)
    for i in range(3):
        await chen.send(f"第 {i + 1} 处：河面有漂浮物", date=t0 + 120 + i)
    await refused_all(bot)
    assert bot.sandbox.state.pending  # not confirmed: Telegram keeps them
    assert sum(WAITING in m.text for m in chen.messages()) == 1
    assert storage_notices(admin) == 1  # one notice for the whole outage
    assert leftovers(bot.settings.data_dir) == []  # nothing half-written

    # The job finds the database still read-only: nothing is said.
    await run_job(bot, check_storage, settle=False)
    assert storage_notices(admin) == 1

    await database_read_only(bot.store, False)
    await run_job(bot, check_storage)
    (recovered,) = await admin_notices(admin, 1)
    assert "存储已恢复" in recovered
    # The bot carries on by itself: what waited is handled now, in the order it was sent.
    answers = await replies(chen, 6)
    assert [f"本次巡河第 {n} 张" in a for n, a in enumerate(answers[:3], start=1)] == [True] * 3
    assert all("已记录照片" in a for a in answers[:3]) and all("已记录备注" in a for a in answers[3:])
    await bot.sandbox.wait_consumed()
    person = await bot.store.people.by_telegram_id(chen.id)
    assert person is not None
    patrol = await bot.store.patrols.open_for(person.id)
    assert patrol is not None
    assert len(await bot.store.patrols.photos(patrol.id)) == 3
    assert len(leftovers(bot.settings.data_dir)) == 6  # three originals and their thumbnails

    # A new outage is told again, once, and handled once it ends.
    await database_read_only(bot.store, True)
    await chen.send("又一条备注", date=t0 + 400)
    assert WAITING in (await replies(chen, 1))[0]
    assert "存储故障" in (await admin_notices(admin, 1))[0]
    await chen.send("再一条备注", date=t0 + 401)
    await refused_all(bot)
    assert storage_notices(admin) == 3
    await database_read_only(bot.store, False)
    await run_job(bot, check_storage)
    assert "存储已恢复" in (await admin_notices(admin, 1))[0]
    assert all("已记录备注" in a for a in await replies(chen, 2))


async def test_a_photo_the_disk_cannot_take_leaves_no_temporary_file(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await started_admin(bot, "en")
    ids = await seed(bot.store)
    chen = bot.sandbox.user(first_name="Chen", language_code="en")
    await chief(bot, chen, "Chen", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, chen, t0, reach_text="🏞 Dingbao River (east)")

    def disk_full(handle: BinaryIO, content: bytes) -> None:
        """Half the photo fits, then the disk is full (as root, too: chmod would not stop root)."""
        handle.write(content[: len(content) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(photo_module, "_write", disk_full)
    for i in range(3):
        await chen.send_photo(make_jpeg(800, 600, seed=30 + i), date=t0 + 60 + i)
        answer = (await chen.next_message()).text
        assert "what you just sent was not saved" in answer and "not lost" not in answer
    assert "The disk is full" in (await admin.next_message()).text
    await bot.sandbox.wait_consumed()
    assert len(admin.messages()) == 3
    assert leftovers(bot.settings.data_dir) == []
    # The database had room: the updates are kept for the office all the same.
    assert len(await bot.store.failed_updates.open()) == 3

    monkeypatch.undo()
    await run_job(bot, check_storage)
    assert "Storage recovered" in (await admin.next_message()).text
    await chen.send_photo(make_jpeg(800, 600, seed=30), date=t0 + 300)
    assert "Photo recorded" in (await chen.next_message()).text
    assert len(leftovers(bot.settings.data_dir)) == 2


# -- one person's flood --------------------------------------------------------------------------------------


async def _boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    raise RuntimeError("the river overflowed")


async def test_one_persons_repeated_failure_is_kept_only_so_often(bot_factory: BotFactory) -> None:
    bot = await bot_factory(extra_handlers=[(CommandHandler("boom", _boom), -1)])
    chen = bot.sandbox.user(first_name="陈", language_code="zh-hans")
    for _ in range(ALIKE_KEPT + 3):
        await chen.send("/boom")
    await bot.sandbox.wait_consumed(timeout=30)
    answers = [m.text for m in chen.messages() if "抱歉" in m.text]  # the fallback says "no such command" too
    assert len(answers) == ALIKE_KEPT + 3
    assert sum(SAVED in a for a in answers) == ALIKE_KEPT
    assert sum("这条内容未能保存" in a for a in answers) == 3
    assert len(await bot.store.failed_updates.open(limit=100)) == ALIKE_KEPT


async def test_a_flood_from_one_person_does_not_starve_another_chat(bot: Harness) -> None:
    ids = await seed(bot.store)
    flood = bot.sandbox.user(first_name="刷屏", language_code="zh-hans")
    await chief(bot, flood, "刷屏者", [ids["DBH-01"]])
    picture = make_jpeg(320, 240, seed=5)
    for i in range(1000):
        await flood.send(f"第 {i} 条")
    for _ in range(50):
        await flood.send_photo(picture)
    bystander = bot.sandbox.user(first_name="李", language_code="zh-hans")
    await bystander.send("/help")
    assert "/language" in (await bystander.next_message(timeout=10)).text
    # Answered while the flood is still being worked off: the flooding chat holds one slot, not all of them.
    assert len(flood.messages()) < 1050
    await bot.sandbox.wait_consumed(timeout=120)
    answers = [m.text for m in flood.messages()]
    assert sum("我没能理解这条消息" in a for a in answers) == 1000
    # The photos start a report: asked for, five taken, the other 45 told they were one too many.
    assert sum("照片" in a for a in answers) == 51
    assert bot.errors() == []


# -- a slow Bot API ------------------------------------------------------------------------------------------


async def test_a_send_stalled_eight_seconds_arrives_without_an_apology(bot: Harness) -> None:
    bot.server.faults.inject("slow", count=1, method="sendMessage", delay=8.0)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/help")
    await bot.sandbox.wait_consumed(timeout=20)
    assert [("/language" in m.text) for m in zhang.messages()] == [True]
    assert bot.errors() == []


async def test_eight_429s_in_a_row_are_waited_out(bot: Harness) -> None:
    bot.server.faults.inject("429", count=8, method="sendMessage", retry_after=1, chat_id=None)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/help")
    await bot.sandbox.wait_consumed(timeout=30)
    assert [("/language" in m.text) for m in zhang.messages()] == [True]
    assert [kind for kind, _ in bot.server.faults.fired] == ["429"] * 8
    assert bot.errors() == []


# -- a long command-line job while the bot runs --------------------------------------------------------------


def _big_registry(folder: Path, reaches: int) -> list[Path]:
    """One area, `reaches` reaches and a village chief for each: a registry that takes seconds to write."""
    folder.mkdir()
    areas = folder / "areas.csv"
    areas.write_text("code,name_zh,name_en\nQT,曲塘镇,Qutang Town\n", encoding="utf-8")
    rows = ["code,name_zh,name_en,area_code,level,length_km,tags"]
    rows += [f"R{i:05d},第{i}号河,River {i},QT,village,1.5," for i in range(reaches)]
    reach_file = folder / "reaches.csv"
    reach_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    chiefs = ["name,phone,level,area_code,reach_codes,telegram_id"]
    chiefs += [f"河长{i},139{i:08d},village,QT,R{i:05d}," for i in range(reaches)]
    chief_file = folder / "chiefs.csv"
    chief_file.write_text("\n".join(chiefs) + "\n", encoding="utf-8")
    return [areas, reach_file, chief_file]


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a state of the store the test cannot be told about (another process writes it)."""
    deadline = time.monotonic() + 60
    while not await condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.02)


async def test_the_bot_answers_and_stores_while_a_registry_import_runs(bot: Harness, tmp_path: Path) -> None:
    admin = await started_admin(bot)
    ids = await seed(bot.store)
    chen = bot.sandbox.user(first_name="陈", language_code="zh-hans")
    await chief(bot, chen, "陈河长", [ids["DBH-01"]])
    files = _big_registry(tmp_path / "registry", 1500)
    env = {**os.environ, "DATA_DIR": str(bot.settings.data_dir), "DEFAULT_LANGUAGE": "en", "PYTHONPATH": str(REPO)}
    env.pop("BOT_TOKEN", None)
    importing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "registry", "import", *map(str, files),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def import_started() -> bool:
            return bool(await bot.store.fetchval("SELECT count(*) FROM reaches WHERE code LIKE 'R%'"))

        await _until(import_started, "the import's first rows")
        # Minutes ago, not more: a patrol quiet for PATROL_IDLE_MINUTES is ended by the every-minute job, which
        # would then answer the notes below if it ran in the middle of them (as it did on a loaded machine).
        t0 = int(time.time()) - 120
        await start_patrol(bot, chen, t0)  # a write the bot makes
        for i in range(5):
            bystander = bot.sandbox.user(first_name=f"路人{i}", language_code="zh-hans")
            await bystander.send("/help")
            assert "/language" in (await bystander.next_message(timeout=5)).text
            await chen.send(f"备注 {i}", date=t0 + 60 + i)
            assert "已记录备注" in (await chen.next_message(timeout=5)).text
        chiefs_now = await bot.store.fetchval("SELECT count(*) FROM people WHERE name LIKE '河长%'")
        running = importing.returncode is None
        assert running and chiefs_now < 1500  # all this while the import ran
    finally:
        out, err = await importing.communicate()
    assert importing.returncode == 0, err.decode()
    assert "Reaches: 1500 new" in out.decode()
    assert await bot.store.fetchval("SELECT count(*) FROM assignments") == 1501
    await bot.sandbox.wait_consumed()
    assert all("database is locked" not in m.text for m in admin.messages())
    assert bot.errors() == []
