"""The office's commands through the stand-in: /reaches, /assign, /unassign, /people, deactivation."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.permissions import RULES, ChatKind
from sandbox import FakeUser
from tests.conftest import Harness
from tests.support import make_chief_invite, seed_registry, started_admin, tap


async def joined_chief(bot: Harness, admin: FakeUser, name: str = "王五") -> FakeUser:
    code = await make_chief_invite(bot, admin, name)
    chief = bot.sandbox.user(first_name=name, language_code="zh-hans")
    await chief.send(f"/start {code}")
    await tap(bot, chief, await chief.next_message(), text=f"✅ 是我，{name}")
    assert (await chief.next_message()).keyboard == [["🚶 巡河", "📋 我的巡河"], ["📝 上报问题", "📌 我的待办"]]
    assert "已通过您的邀请加入" in (await admin.next_message()).text
    return chief


async def test_reaches_show_the_river_file(bot: Harness) -> None:
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    await joined_chief(bot, admin)
    await admin.send("/reaches")
    areas = await admin.next_message()
    reaches = await tap(bot, admin, areas, text="城东片区 · CD")
    assert "城东片区共有河段 3 条" in reaches.text
    card = await tap(bot, admin, reaches, text="丁堡河（城东段） · DBH-01 · 镇级河道")
    assert (
        "<b>丁堡河（城东段）</b>（Dingbao River (east)）" in card.raw.get("text", "") or "丁堡河（城东段）" in card.text
    )
    assert "编码：DBH-01" in card.text and "长度：3.5 公里" in card.text and "级别：镇级河道" in card.text
    assert "· 王五（镇级河长，" in card.text
    back = await tap(bot, admin, card, text="« 返回")
    lgh = await tap(bot, admin, back, text="立公河 · LGH-01 · 村级河道")
    assert "标签：黑臭水体" in lgh.text and "暂无，请用 /assign 指派" in lgh.text
    assert bot.errors() == []


async def test_chief_sees_their_own_reaches_first(bot: Harness) -> None:
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    chief = await joined_chief(bot, admin)
    await chief.send("/reaches")
    top = await chief.next_message()
    mine = await tap(bot, chief, top, text="我负责的河段")
    assert mine.button_texts[:2] == ["丁堡河（城东段） · DBH-01", "江海河（城东段） · JHH-01"]


async def test_assign_and_unassign_keep_history(bot: Harness) -> None:
    ids = await seed_registry(bot.store)
    admin = await started_admin(bot)
    chief = await joined_chief(bot, admin)
    person = await bot.store.people.by_telegram_id(chief.id)
    assert person is not None

    await admin.send("/assign")
    areas = await admin.next_message()
    reaches = await tap(bot, admin, areas, text="城东片区 · CD")
    chiefs = await tap(bot, admin, reaches, text="立公河 · LGH-01 · 👤0")
    done = await tap(bot, admin, chiefs, text="王五 · 镇级河长")
    assert "已指派 王五（镇级河长）负责 立公河" in done.text
    # The same chief again: told, not duplicated.
    await admin.press_raw(done.chat_id, done.message_id, f"as:p:{ids['LGH-01']}:{person.id}")
    await bot.sandbox.wait_consumed()
    assert "已在负责 立公河" in admin.messages()[-1].text
    held = await bot.store.assignments.active_for_reach(ids["LGH-01"])
    assert [a.person_name for a in held] == ["王五"]

    # Make the assignment older than today, so ending it keeps a row with an end date.
    await bot.store.execute(
        "UPDATE assignments SET starts_on = ? WHERE reach_id = ?",
        ((datetime.now(bot.settings.tz).date() - timedelta(days=10)).isoformat(), ids["LGH-01"]),
    )
    await admin.send("/unassign")
    areas = await admin.next_message()
    reaches = await tap(bot, admin, areas, text="城东片区 · CD")
    holders = await tap(bot, admin, reaches, text="立公河 · LGH-01 · 👤1")
    end_data = holders.buttons[0][0][1] or ""
    ended = await tap(bot, admin, holders, data=end_data)
    assert "已解除 王五 对 立公河 的责任" in ended.text
    assert await bot.store.assignments.active_for_reach(ids["LGH-01"]) == []
    history = [a for a in await bot.store.assignments.all() if a.reach_id == ids["LGH-01"]]
    yesterday = datetime.now(bot.settings.tz).date() - timedelta(days=1)
    assert [(a.person_name, a.ends_on) for a in history] == [("王五", yesterday)]
    # The old button pressed again after the change.
    answer = await bot.sandbox.answer(await admin.press_raw(holders.chat_id, holders.message_id, end_data))
    assert answer["show_alert"] and "该责任已解除" in answer["text"]
    assert bot.errors() == []


async def test_people_search_and_deactivate(bot: Harness) -> None:
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    chief = await joined_chief(bot, admin)
    await admin.send("/people 王")
    found = await admin.next_message()
    assert "“王”的查找结果共 1 人" in found.text
    card = await tap(bot, admin, found, text="王五 · 镇级河长")
    assert "负责河段：丁堡河（城东段）、江海河（城东段）" in card.text and "状态：在用" in card.text
    confirm = await tap(bot, admin, card, text="停用")
    assert "当前负责的 2 条河段责任自今日起解除" in confirm.text
    confirm_data = confirm.buttons[0][0][1] or ""
    done = await tap(bot, admin, confirm, text="确认停用")
    assert "已停用 王五，解除河段责任 2 条" in done.text and "状态：已停用" in done.text
    # Pressing the old confirmation again changes nothing.
    await admin.press_raw(confirm.chat_id, confirm.message_id, confirm_data)
    await bot.sandbox.wait_consumed()
    assert "王五 已处于停用状态" in admin.messages()[-1].text

    # The deactivated chief is told so, whatever they try.
    await chief.send("/reaches")
    assert "您的账号已被停用" in (await chief.next_message()).text
    await chief.send("/start")
    assert "您的账号已被停用" in (await chief.next_message()).text

    await admin.send("/people")
    listing = await admin.next_message()
    assert "全部人员共 2 人" in listing.text and "⛔ 王五 · 镇级河长" in listing.button_texts
    # An admin can't lock themselves out.
    me = await bot.store.people.by_telegram_id(admin.id)
    assert me is not None
    answer = await bot.sandbox.answer(await admin.press_raw(listing.chat_id, listing.message_id, f"pp:off:{me.id}"))
    assert "不能停用或恢复您自己的账号" in answer["text"]
    assert bot.errors() == []


async def test_commands_without_rights_are_refused_in_their_language(bot: Harness) -> None:
    stranger = bot.sandbox.user(first_name="Nobody", language_code="en")
    for command in ("/invite", "/people", "/assign", "/unassign", "/pending"):
        await stranger.send(command)
        assert "Only River Chief Office admins can do this." in (await stranger.next_message()).text
    await stranger.send("/reaches")
    assert "Only river chiefs and office admins can do this." in (await stranger.next_message()).text
    await stranger.send("/bind")
    assert "works in a group chat" in (await stranger.next_message()).text
    # Forged buttons of admin flows, pressed by a stranger.
    for data in ("ni:role:admin", "pp:off:1", "as:p:1:1", "ua:e:1", "pend:ok:1"):
        answer = await bot.sandbox.answer(await stranger.press_raw(stranger.id, 1, data))
        assert answer["show_alert"] and "Only River Chief Office admins" in answer["text"]
    assert bot.errors() == []


async def test_empty_registry_says_what_to_do(bot: Harness) -> None:
    admin = await started_admin(bot, "en")
    await admin.send("/assign")
    assert "riverbot registry import" in (await admin.next_message()).text
    await admin.send("/reaches")
    assert "riverbot registry import" in (await admin.next_message()).text


async def test_the_office_commands_read_english_for_an_english_admin(bot: Harness) -> None:
    ids = await seed_registry(bot.store)
    admin = await started_admin(bot, "en")
    chief_id = await bot.store.people.create(name="Zhou Jiu", phone="+8613900000009")
    await bot.store.people.grant_role(chief_id, "chief", level="village")
    await admin.send("/assign")
    areas = await admin.next_message()
    reaches = await tap(bot, admin, areas, text="Chengdong · CD")
    assert "Chengdong: choose the reach" in reaches.text
    chiefs = await tap(bot, admin, reaches, text="Ligong River · LGH-01 · 👤0")
    done = await tap(bot, admin, chiefs, text="Zhou Jiu · village-level chief")
    assert "Zhou Jiu (village-level chief) is responsible for Ligong River from today." in done.text
    await admin.send("/reaches")
    top = await admin.next_message()
    listing = await tap(bot, admin, top, text="Chengdong · CD")
    card = await tap(bot, admin, listing, text="Ligong River · LGH-01 · village-level reach")
    assert "Ligong River (立公河)" in card.text and "Tags: black-odorous water" in card.text
    assert "chief" not in card.text.split("Tags:")[0]  # the reach's level, not a chief's
    assert "· Zhou Jiu (village-level chief, since" in card.text
    await admin.send("/people zhou")
    found = await admin.next_message()
    person_card = await tap(bot, admin, found, text="Zhou Jiu · village-level chief")
    assert "Status: invited, not joined yet" in person_card.text and "Reaches: Ligong River" in person_card.text
    assert ids and bot.errors() == []


async def test_deactivated_people_are_told_so_even_for_help_and_language(bot: Harness) -> None:
    """Finding 14 of issue 13: /help, /language and the language buttons answered a deactivated person as if
    nothing had happened, though they are told they are deactivated whatever else they try."""
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    chief = await joined_chief(bot, admin)
    group = bot.sandbox.group(title="城东片区", members=[chief, admin], admins=[chief])
    await chief.send("/language")
    choice = await chief.next_message()
    await chief.send("/language", chat=group)
    group_choice = await chief.next_message(chat=group)
    person = await bot.store.people.by_telegram_id(chief.id)
    assert person is not None
    await bot.store.people.set_active(person.id, False, by=None)

    for text in ("/help", "/language"):
        await chief.send(text)
        assert "您的账号已被停用" in (await chief.next_message()).text, text
        await chief.send(text, chat=group)
        assert "您的账号已被停用" in (await chief.next_message(chat=group)).text, text
    await chief.press(choice, text="English")
    await bot.sandbox.wait_consumed()
    assert bot.sandbox.answers[-1]["show_alert"] is True and "已被停用" in bot.sandbox.answers[-1]["text"]
    await chief.press(group_choice, text="English")
    await bot.sandbox.wait_consumed()
    assert bot.sandbox.answers[-1]["show_alert"] is True and "已被停用" in bot.sandbox.answers[-1]["text"]
    after = await bot.store.people.by_telegram_id(chief.id)
    assert after is not None and after.language is None  # never chosen: still from Telegram's language_code
    assert await bot.services.chats.language(group.id) == "zh"
    # Every command of the permission table, in private: the same answer.
    for name in RULES:
        if ChatKind.PRIVATE in RULES[name].where:
            await chief.send(f"/{name}")
            assert "您的账号已被停用" in (await chief.next_message()).text, name
    assert bot.errors() == []
