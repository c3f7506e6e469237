"""Chiefs' assistants (河长助理) through the stand-in: a chief names one by a link, the assistant patrols for the
chief, the office removes them; stale buttons; and `riverbot assistant` on the command line."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from handlers.patrol import end_idle_patrols
from sandbox.driver import FakeUser
from storage import Store
from tests.cli import cli_database
from tests.conftest import Cli, Harness
from tests.support import LAT, STEP, WEST, World, chief, seed, started_admin, tap, volunteer

REACH = "丁堡河（城东段）"


def link_payload(text: str) -> str:
    found = re.search(r"https://t\.me/riverbot_test_bot\?start=(a-[A-Za-z0-9_-]+)", text)
    assert found is not None, text
    return found.group(1)


async def _named(bot: Harness) -> tuple[FakeUser, FakeUser, int, int]:
    """王五 (a town chief of 丁堡河) names the volunteer 小周 his assistant through /assistants and its link."""
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    zhou = bot.sandbox.user(first_name="小周", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    zhou_id = await volunteer(bot, zhou, "小周")
    await wang.send("/assistants")
    listing = await wang.next_message()
    assert "我的河长助理" in listing.text and "您还没有河长助理" in listing.text
    linked = await tap(bot, wang, listing, text="➕ 添加助理")
    payload = link_payload(linked.text)
    assert "仅可使用一次" in linked.text

    await zhou.send(f"/start {payload}")
    card = await zhou.next_message()
    assert "河长 王五 邀请您担任其河长助理" in card.text
    accepted = await tap(bot, zhou, card, text="✅ 同意担任")
    assert "您已成为河长 王五 的助理" in accepted.text
    assert "小周 已成为您的河长助理" in (await wang.next_message()).text
    # The link is spent: opening it again (or by someone else) names nobody.
    await zhou.send(f"/start {payload}")
    assert "已被使用" in (await zhou.next_message()).text
    return wang, zhou, wang_id, zhou_id


async def test_a_chief_names_an_assistant_who_patrols_for_him(bot: Harness) -> None:
    wang, zhou, wang_id, zhou_id = await _named(bot)
    await wang.send("/assistants")
    assert "· 小周（自 " in (await wang.next_message()).text

    # 小周 patrols 丁堡河 for 王五: 42 minutes along the river.
    t0 = int(time.time()) - 3 * 3600
    await zhou.send("/patrol", date=t0)
    choice = await zhou.next_message()
    await zhou.next_message()  # the location keyboard
    started = await tap(bot, zhou, choice, text=f"🤝 {REACH} · 代 王五 巡河")
    assert "开始代 王五 巡查" in started.text
    await zhou.next_message()  # how to share a live location
    live = await zhou.send_location(LAT, WEST, live_period=3600, date=t0 + 60)
    await zhou.next_message()
    for minute in range(1, 41):
        await zhou.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 60 + minute * 60)
    await zhou.send("✅ 结束巡河", date=t0 + 42 * 60)
    card = await zhou.next_message()
    assert "由助理 小周 代巡（河长：王五）" in card.text and "有效巡河" in card.text
    assert "辛苦了" in (await zhou.next_message()).text
    told = await wang.next_message()
    assert f"您的河长助理 小周 已代您巡查 {REACH}" in told.text and "有效，计入您的巡河次数" in told.text

    (patrol,) = await bot.store.patrols.recent_for_person(wang_id)
    assert (patrol.person_id, patrol.walked_by, patrol.valid) == (wang_id, zhou_id, True)
    # The chief's progress counts it and his list names who walked; the assistant's list says for whom.
    await wang.send("/mypatrols")
    mine = await wang.next_message()
    assert "已巡 1/" in mine.text and "由助理 小周 代巡" in mine.text
    await zhou.send("/mypatrols")
    assert "代 王五 巡河" in (await zhou.next_message()).text
    assert bot.errors() == []


async def test_the_office_removes_an_assistant_and_stale_buttons_are_answered(bot: Harness) -> None:
    _, zhou, wang_id, zhou_id = await _named(bot)
    # 小周 has a reach choice with 王五's reach open when the office removes him.
    await zhou.send("/patrol")
    choice = await zhou.next_message()
    await zhou.next_message()

    admin = await started_admin(bot)
    await admin.send("/people")
    people = await admin.next_message()
    card = await tap(bot, admin, people, text="王五 · 镇级河长")
    assert "王五" in card.text
    helpers = await tap(bot, admin, card, text="👥 河长助理（1）")
    assert "王五 的河长助理" in helpers.text and "· 小周" in helpers.text
    removed = await tap(bot, admin, helpers, text="✖ 移除 小周")
    assert "小周 已不再担任 王五 的河长助理" in removed.text and "此前的代巡记录保留" in removed.text
    assert await bot.store.assistants.of_chief(wang_id) == []

    # The remove button pressed again (a stale keyboard) is answered, and changes nothing.
    query = await admin.press_raw(admin.id, helpers.message_id, f"ast:ox:{wang_id}:{zhou_id}")
    assert "已不是该河长的助理" in (await bot.sandbox.answer(query))["text"]
    # 小周's old "for 王五" button no longer starts a patrol, and a new choice no longer offers it.
    query = await zhou.press(choice, text=f"🤝 {REACH} · 代 王五 巡河")
    assert "您已不是该河长的助理" in (await bot.sandbox.answer(query))["text"]
    assert await bot.store.patrols.open_for(zhou_id) is None
    await zhou.send("/patrol")
    again = await zhou.next_message()
    assert "代 王五" not in str(again.inline_keyboard)
    assert bot.errors() == []


async def test_the_chief_removes_his_own_assistant_once(bot: Harness) -> None:
    wang, _, wang_id, zhou_id = await _named(bot)
    await wang.send("/assistants")
    listing = await wang.next_message()
    after = await tap(bot, wang, listing, text="✖ 移除 小周")
    assert "小周 已不再担任 王五 的河长助理" in after.text and "您还没有河长助理" in after.text
    query = await wang.press_raw(wang.id, listing.message_id, f"ast:x:{zhou_id}")
    assert (
        "已被移除" in (await bot.sandbox.answer(query))["text"] or "已不是" in (await bot.sandbox.answer(query))["text"]
    )
    # A volunteer may not; an office admin who is no chief is pointed to /people.
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await volunteer(bot, zhao, "赵志愿")
    await zhao.send("/assistants")
    assert "仅河长和河长办管理员" in (await zhao.next_message()).text
    admin = await started_admin(bot)
    await admin.send("/assistants")
    assert "只有河长本人可以设置河长助理" in (await admin.next_message()).text
    assert await bot.store.assistants.of_chief(wang_id) == []


def test_the_office_names_lists_and_ends_assistants_on_the_command_line(cli: Cli, tmp_path: Path) -> None:
    async def fill() -> tuple[int, int]:
        async with await Store.open(cli_database(tmp_path / "data")) as store:
            world = World(store)
            area = await world.area("QT")
            reach = await world.reach("XM", area)
            zhang = await world.person("张三")
            helper = await world.person("小周", role="volunteer", level=None)
            await store.execute("UPDATE people SET phone = '+8613800000001' WHERE id = ?", (helper,))
            await world.assign(zhang, reach, "2025-01-01")
            return zhang, helper

    (tmp_path / "data").mkdir()
    zhang, helper = asyncio.run(fill())
    code, out, err = cli(
        "assistant", "add", "--chief", f"#{zhang}", "--assistant", "13800000001", DEFAULT_LANGUAGE="zh"
    )
    assert code == 0 and "小周 已成为 张三 的河长助理" in out, err
    code, out, _ = cli("assistant", "list", DEFAULT_LANGUAGE="zh")
    assert code == 0 and "张三 ← 小周（自 " in out
    code, out, _ = cli("assistant", "remove", "--chief", f"#{zhang}", "--assistant", f"#{helper}")
    assert code == 0 and "小周 no longer assists 张三" in out
    code, _, err = cli("assistant", "remove", "--chief", f"#{zhang}", "--assistant", f"#{helper}")
    assert code == 1 and "小周 does not assist 张三" in err
    code, _, err = cli("assistant", "add", "--chief", "#999", "--assistant", f"#{helper}")
    assert code == 1 and 'No one in the bot matches "#999"' in err
    code, out, _ = cli("assistant", "list")
    assert code == 0 and "No assistants." in out


async def test_an_assistants_patrol_that_ends_on_its_own_is_told_to_both(bot: Harness) -> None:
    """The assistant's patrol for the chief runs past PATROL_MAX_HOURS: the assistant hears it ended, with the
    card naming who walked it, and the chief gets his one short message."""
    wang, zhou, wang_id, zhou_id = await _named(bot)
    t0 = int(time.time()) - 9 * 3600  # longer ago than PATROL_MAX_HOURS (8)
    await zhou.send("/patrol", date=t0)
    choice = await zhou.next_message()
    await zhou.next_message()
    await tap(bot, zhou, choice, text=f"🤝 {REACH} · 代 王五 巡河")
    await zhou.next_message()
    # Meanwhile the chief's own patrol starts: one open patrol per walker.
    await wang.send("/patrol")
    own_choice = await wang.next_message()
    await wang.next_message()
    assert "巡河已开始" in (await tap(bot, wang, own_choice, text=f"🏞 {REACH}")).text
    await wang.next_message()
    assert bot.app.job_queue is not None
    bot.app.job_queue.run_once(end_idle_patrols, 0)
    ended = await zhou.next_message()
    assert "已自动结束" in ended.text and "由助理 小周 代巡（河长：王五）" in ended.text
    told = await wang.next_message()
    assert f"您的河长助理 小周 已代您巡查 {REACH}" in told.text and "无效" in told.text
    own = await bot.store.patrols.open_for(wang_id)
    assert own is not None and own.walked_by is None  # the chief's own patrol runs on
    assert await bot.store.patrols.open_for(zhou_id) is None
    assert bot.errors() == []
