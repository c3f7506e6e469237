"""Group chats, played through the stand-in: an office admin binds an area's group with /bind, unbinds it with
/unbind; everyone else gets a short no; the binding follows the group through an upgrade and leaves with the bot."""

from __future__ import annotations

import logging

import pytest

from sandbox import FakeGroup
from tests.conftest import ADMIN_ID, BOT_USERNAME, Harness
from tests.support import current, started_admin

REFUSAL_ZH = "仅河长办管理员可以进行此操作。"
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}


async def two_areas(bot: Harness) -> tuple[int, int]:
    chengdong, _ = await bot.store.areas.upsert("CD", "城东街道", "Chengdong Subdistrict")
    qutang, _ = await bot.store.areas.upsert("QT", "曲塘镇", "Qutang Town")
    return chengdong, qutang


async def bound_area_code(bot: Harness, group: FakeGroup | int) -> str | None:
    binding = await bot.store.bindings.for_chat(group if isinstance(group, int) else group.id)
    return None if binding is None else binding.area_code


async def nothing_more(bot: Harness, chat: FakeGroup) -> None:
    """The bot has handled everything and said nothing in the chat that the test has not read.

    (expect_silence() alone only sees what comes after it is called.)
    """
    await bot.sandbox.wait_consumed()
    unread = bot.sandbox.state.sent_in_chat(chat.id)[bot.sandbox.read_upto.get(chat.id, 0) :]
    assert [m.text for m in unread] == []


async def test_an_office_admin_binds_the_group_to_an_area_with_a_button(bot: Harness) -> None:
    admin = await started_admin(bot)
    _, qutang = await two_areas(bot)
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin])
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    assert "请选择本群对应的片区" in offer.text
    assert offer.button_texts == ["城东街道（CD）", "曲塘镇（QT）", "取消"]

    await admin.press(offer, text="曲塘镇（QT）")
    await bot.sandbox.wait_consumed()
    confirmation = current(bot, offer)
    bound = "本群已绑定到片区：曲塘镇（QT），该片区的每周巡河周报将发送到本群。\n首份周报将于 "
    assert confirmation.text.startswith(bound)
    assert confirmation.buttons == []
    binding = await bot.store.bindings.for_chat(group.id)
    person = await bot.store.people.by_telegram_id(ADMIN_ID)
    assert binding is not None and person is not None
    assert (binding.area_id, binding.bound_by) == (qutang, person.id)
    assert bot.sandbox.answers[-1]["show_alert"] is False  # the spinner stopped, no alert
    await nothing_more(bot, group)
    assert bot.errors() == []


async def test_an_english_group_is_bound_and_unbound_in_english(bot: Harness) -> None:
    admin = await started_admin(bot, "en")
    await two_areas(bot)
    group = bot.sandbox.group(title="Chengdong river chiefs", members=[admin], admins=[admin])
    await admin.send("/language", chat=group)
    await admin.press(await admin.next_message(chat=group), text="English")
    await bot.sandbox.wait_consumed()
    assert await bot.services.chats.language(group.id) == "en"

    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    assert offer.text.startswith("Choose the area this group works for")
    assert offer.button_texts == ["Chengdong Subdistrict (CD)", "Qutang Town (QT)", "Cancel"]
    await admin.press(offer, text="Chengdong Subdistrict (CD)")
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).text.startswith("This group is now linked to the area Chengdong Subdistrict (CD)")
    assert await bound_area_code(bot, group) == "CD"

    await admin.send("/unbind", chat=group)
    answer = await admin.next_message(chat=group)
    assert answer.text.startswith("This group is no longer linked to Chengdong Subdistrict (CD)")
    assert await bound_area_code(bot, group) is None
    await admin.send("/unbind", chat=group)
    assert (await admin.next_message(chat=group)).text.startswith("This group is not linked to any area.")
    assert bot.errors() == []


async def test_the_group_language_not_the_admins_decides(bot: Harness) -> None:
    admin = await started_admin(bot, "en")  # reads English in private
    await two_areas(bot)
    group = bot.sandbox.group(title="城东片区工作群", members=[admin])  # a group that reads Chinese
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    assert offer.button_texts[0] == "城东街道（CD）"


@pytest.mark.parametrize("supergroup", [False, True], ids=["basic group", "supergroup"])
async def test_bind_addressed_to_the_bot_by_name_works_in_any_group(bot: Harness, supergroup: bool) -> None:
    admin = await started_admin(bot)
    await two_areas(bot)
    group = bot.sandbox.group(title="城东片区工作群", supergroup=supergroup, members=[admin])
    await admin.send("/bind@other_bot", chat=group)
    await nothing_more(bot, group)
    await admin.send(f"/bind@{BOT_USERNAME}", chat=group)
    offer = await admin.next_message(chat=group)
    await admin.press(offer, text="城东街道（CD）")
    await bot.sandbox.wait_consumed()
    assert await bound_area_code(bot, group) == "CD"
    await admin.send(f"/unbind@{BOT_USERNAME}", chat=group)
    assert "解除绑定" in (await admin.next_message(chat=group)).text
    assert await bound_area_code(bot, group) is None


async def test_people_who_are_not_office_admins_get_a_short_no(bot: Harness) -> None:
    await started_admin(bot)
    await two_areas(bot)
    stranger = bot.sandbox.user(first_name="路人", language_code="zh-hans")
    chief = bot.sandbox.user(first_name="孙河长", language_code="zh-hans")
    await chief.send("/start")
    await chief.next_message()
    await chief.next_message()
    record = await bot.store.people.by_telegram_id(chief.id)
    assert record is not None
    await bot.store.people.grant_role(record.id, "chief", level="village")
    # The chief owns the Telegram group: that makes them its admin, not the office's.
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[stranger], admins=[chief])
    for person in (stranger, chief):
        for command in ("/bind", "/unbind"):
            await person.send(command, chat=group)
            assert (await person.next_message(chat=group)).text == REFUSAL_ZH
    bot.sandbox.push_raw(
        {
            "message": {
                "message_id": 9001,
                "from": ANONYMOUS_ADMIN,
                "sender_chat": {"id": group.id, "title": group.title, "type": "supergroup"},
                "chat": {"id": group.id, "title": group.title, "type": "supergroup"},
                "date": 1732867200,
                "text": "/bind",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            }
        }
    )
    # Posting as the group hides who it is; the bot can't tell an office admin, says no, and says why.
    assert "关闭“匿名发言”" in (await chief.next_message(chat=group)).text
    await nothing_more(bot, group)
    assert await bound_area_code(bot, group) is None
    assert bot.errors() == []


async def test_an_admin_in_the_config_who_never_opened_the_bot_is_an_admin_in_groups_too(bot: Harness) -> None:
    admin = bot.sandbox.user(first_name="河长办", language_code="zh-hans", user_id=ADMIN_ID, started=False)
    await two_areas(bot)
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin])
    await admin.send("/bind", chat=group)
    assert (await admin.next_message(chat=group)).text.startswith("请选择本群对应的片区")
    record = await bot.store.people.by_telegram_id(ADMIN_ID)
    assert record is not None and "admin" in record.roles and record.started_at is None


async def test_only_an_office_admin_may_press_the_area_buttons(bot: Harness) -> None:
    admin = await started_admin(bot)
    await two_areas(bot)
    member = bot.sandbox.user(first_name="周", language_code="en")
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin, member], admins=[member])
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    for label in ("曲塘镇（QT）", "取消"):
        query = await member.press(offer, text=label)
        answer = await bot.sandbox.answer(query)
        assert answer["show_alert"] is True and answer["text"] == REFUSAL_ZH  # the group's language
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).button_texts == offer.button_texts
    assert await bound_area_code(bot, group) is None


async def test_a_bound_group_says_where_it_belongs_and_can_be_moved(bot: Harness) -> None:
    admin = await started_admin(bot)
    chengdong, _ = await two_areas(bot)
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin])
    await bot.store.chats.upsert(group.id, type="supergroup", title=group.title)
    await bot.store.bindings.bind(group.id, chengdong, bound_by=None)

    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    assert offer.text.startswith("本群已绑定到片区：城东街道（CD）。") and "/unbind" in offer.text
    assert offer.button_texts == ["✅ 城东街道（CD）（当前）", "曲塘镇（QT）", "取消"]
    await admin.press(offer, text="取消")
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).text == "已取消，本群的片区绑定保持不变。"
    assert await bound_area_code(bot, group) == "CD"

    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    await admin.press(offer, text="✅ 城东街道（CD）（当前）")  # choosing what is already chosen: fine
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).text.startswith("本群已绑定到片区：城东街道（CD）")

    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    await admin.press(offer, text="曲塘镇（QT）")
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).text.startswith("本群已绑定到片区：曲塘镇（QT）")
    assert await bound_area_code(bot, group) == "QT"
    assert bot.errors() == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh", "片区名录还是空的"), ("en", "There are no areas in the registry yet")],
)
async def test_without_areas_the_admin_is_told_to_import_the_registry(
    bot: Harness, language: str, expected: str
) -> None:
    admin = await started_admin(bot)
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin])
    await bot.services.chats.set_language(group.id, type="supergroup", title=group.title, language=language)  # type: ignore[arg-type]
    await admin.send("/bind", chat=group)
    answer = await admin.next_message(chat=group)
    assert answer.text.startswith(expected)
    assert "riverbot registry import" in answer.text
    assert answer.buttons == []


async def test_many_areas_come_in_pages(bot: Harness) -> None:
    admin = await started_admin(bot)
    for n in range(1, 12):
        await bot.store.areas.upsert(f"A{n:02}", f"第{n}片区", f"Area {n}")
    group = bot.sandbox.group(title="河长办工作群", members=[admin])
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    assert offer.button_texts == [f"第{n}片区（A{n:02}）" for n in range(1, 9)] + ["1/2", "▶", "取消"]
    await admin.press(offer, text="▶")
    await bot.sandbox.wait_consumed()
    second = current(bot, offer)
    assert second.button_texts == [f"第{n}片区（A{n:02}）" for n in range(9, 12)] + ["◀", "2/2", "取消"]
    await admin.press(second, text="2/2")  # the page number re-shows the page: nothing changes, nothing breaks
    await admin.press_raw(group.id, offer.message_id, "bind:p:7")  # beyond the last page: the last page
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).button_texts == second.button_texts
    await admin.press(current(bot, offer), text="第11片区（A11）")
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).text.startswith("本群已绑定到片区：第11片区（A11）")
    assert await bound_area_code(bot, group) == "A11"
    assert bot.errors() == []


async def test_pressing_twice_or_on_an_outdated_offer_does_no_harm(bot: Harness) -> None:
    admin = await started_admin(bot)
    chengdong, qutang = await two_areas(bot)
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin])
    await admin.send("/bind", chat=group)
    first = await admin.next_message(chat=group)
    await admin.send("/bind", chat=group)
    second = await admin.next_message(chat=group)

    await admin.press(second, text="城东街道（CD）")
    await admin.press_raw(group.id, second.message_id, f"bind:a:{chengdong}:0")  # a double tap
    await bot.sandbox.wait_consumed()
    assert current(bot, second).text.startswith("本群已绑定到片区：城东街道（CD）")
    assert len(admin.messages(group)) == 2  # the double tap sent nothing new

    # The first offer was made while the group was unbound; since then it was bound: the old button must not
    # silently overrule that.
    await admin.press(first, text="曲塘镇（QT）")
    await bot.sandbox.wait_consumed()
    assert current(bot, first).text.startswith("本群的绑定刚刚已有变动，现绑定到片区：城东街道（CD）")
    assert await bound_area_code(bot, group) == "CD"

    await admin.send("/bind", chat=group)
    third = await admin.next_message(chat=group)
    await admin.send("/unbind", chat=group)
    await admin.next_message(chat=group)
    await admin.press(third, text="曲塘镇（QT）")
    await bot.sandbox.wait_consumed()
    assert current(bot, third).text.startswith("本群的绑定刚刚已被解除")
    assert await bound_area_code(bot, group) is None

    # Forged or outdated data: an area that does not exist, and data this version does not know.
    query = await admin.press_raw(group.id, third.message_id, f"bind:a:{qutang + 100}:0")
    assert (await bot.sandbox.answer(query))["text"] == "该片区已不在片区名录中，请重新发送 /bind 选择。"
    query = await admin.press_raw(group.id, third.message_id, "bind:a:QT")
    assert (await bot.sandbox.answer(query))["text"] == "这个按钮已失效，请重新操作。"
    await nothing_more(bot, group)
    assert await bound_area_code(bot, group) is None
    assert bot.errors() == []


async def test_bind_in_private_points_to_the_group(bot: Harness) -> None:
    admin = await started_admin(bot)
    await admin.send("/bind")
    assert "需在群聊中使用" in (await admin.next_message()).text
    query = await admin.press_raw(admin.id, 1, "bind:a:1:0")
    assert "需在群聊中使用" in (await bot.sandbox.answer(query))["text"]


async def test_the_bot_stays_quiet_in_groups_bound_or_not(bot: Harness) -> None:
    admin = await started_admin(bot)
    chengdong, _ = await two_areas(bot)
    member = bot.sandbox.user(first_name="周", language_code="zh-hans")
    bound = bot.sandbox.group(title="城东片区工作群", members=[admin, member], bot_admin=True)
    unbound = bot.sandbox.group(title="闲聊群", members=[admin, member], bot_admin=True)
    await bot.store.chats.upsert(bound.id, type="supergroup", title=bound.title)
    await bot.store.bindings.bind(bound.id, chengdong, bound_by=None)
    for group in (bound, unbound):
        for person in (admin, member):
            await person.send("今天巡河了吗？", chat=group)
            await person.send("/patrl", chat=group)
            await person.send("/start", chat=group)
            await person.send("城东片区 /bind 一下", chat=group)
            await person.send_location(32.55, 120.40, chat=group)
        await nothing_more(bot, group)
    assert bot.errors() == []


async def test_removing_the_bot_unbinds_the_group_and_adding_it_back_does_not_rebind(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    admin = await started_admin(bot)
    await two_areas(bot)
    owner = bot.sandbox.user(first_name="群主", language_code="zh-hans")
    group = bot.sandbox.group(title="曲塘镇河长工作群", members=[admin], owner=owner)
    await admin.send("/bind", chat=group)
    await admin.press(await admin.next_message(chat=group), text="曲塘镇（QT）")
    await bot.sandbox.wait_consumed()
    assert await bound_area_code(bot, group) == "QT"

    with caplog.at_level(logging.INFO, logger="bot.chats"):
        await group.remove_bot(by=owner)
        await bot.sandbox.wait_consumed()
    assert await bound_area_code(bot, group) is None
    chat = await bot.store.chats.get(group.id)
    assert chat is not None and chat.bot_status == "kicked"
    assert any("unbound it from area QT" in r.getMessage() for r in caplog.records)

    await group.add_bot(by=owner)
    await bot.sandbox.wait_consumed()
    assert await bound_area_code(bot, group) is None
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    assert offer.text.startswith("请选择本群对应的片区")  # unbound: asks afresh
    assert bot.errors() == []


async def test_the_binding_follows_the_group_when_it_becomes_a_supergroup(bot: Harness) -> None:
    admin = await started_admin(bot)
    await two_areas(bot)
    group = bot.sandbox.group(title="曲塘镇河长工作群", supergroup=False, members=[admin], admins=[admin])
    await admin.send("/language", chat=group)
    await admin.press(await admin.next_message(chat=group), text="English")
    await admin.send("/bind", chat=group)
    await admin.press(await admin.next_message(chat=group), text="Qutang Town (QT)")
    await bot.sandbox.wait_consumed()
    old_id = group.id
    assert await bound_area_code(bot, old_id) == "QT"

    new_id = await group.migrate_to_supergroup(by=admin)
    await bot.sandbox.wait_consumed()
    assert await bound_area_code(bot, new_id) == "QT"
    assert await bound_area_code(bot, old_id) is None
    old = await bot.store.chats.get(old_id)
    assert old is not None and old.migrated_to == new_id
    assert await bot.services.chats.language(new_id) == "en"

    await admin.send("/bind", chat=group)  # the group now lives under its new id
    offer = await admin.next_message(chat=group)
    assert offer.chat_id == new_id
    assert offer.text.startswith("This group is linked to the area Qutang Town (QT).")
    assert bot.errors() == []


async def test_a_migration_replayed_twice_keeps_the_binding(bot: Harness) -> None:
    _, qutang = await two_areas(bot)
    await bot.store.chats.upsert(-4001, type="group", title="曲塘镇河长工作群")
    await bot.store.bindings.bind(-4001, qutang, bound_by=None)
    for _ in range(2):  # both service messages announce it: migrate_to_chat_id, then migrate_from_chat_id
        await bot.services.chats.migrated(-4001, -1004001, title="曲塘镇河长工作群")
    assert await bound_area_code(bot, -1004001) == "QT"
    assert await bound_area_code(bot, -4001) is None
