"""First flows, played by people through the Bot API stand-in: greeting, language, help, fallbacks."""

from __future__ import annotations

from tests.conftest import ADMIN_ID, BotFactory, Harness
from tests.factories import make_jpeg


async def test_chinese_user_is_greeted_in_chinese_and_offered_english(bot: Harness) -> None:
    zhang = bot.sandbox.user(first_name="张", last_name="三", language_code="zh-hans")
    await zhang.send("/start")
    greeting = await zhang.next_message()
    assert "您好，张 三" in greeting.text
    assert "河长制工作助手" in greeting.text
    choice = await zhang.next_message()
    assert choice.button_texts == ["中文", "English"]
    person = await bot.store.people.by_telegram_id(zhang.id)
    assert person is not None and person.started_at is not None and person.language is None


async def test_english_user_is_greeted_in_english(bot: Harness) -> None:
    mary = bot.sandbox.user(first_name="Mary", language_code="en-GB")
    await mary.send("/start")
    assert "Hello, Mary!" in (await mary.next_message()).text


async def test_user_without_language_code_gets_the_default_language(bot_factory: BotFactory) -> None:
    harness = await bot_factory(default_language="en")
    anon = harness.sandbox.user(first_name="Anon", language_code=None)
    await anon.send("/start")
    assert "Hello, Anon!" in (await anon.next_message()).text


async def test_choosing_english_switches_every_later_answer(bot: Harness) -> None:
    li = bot.sandbox.user(first_name="李四", language_code="zh-hans")
    await li.send("/start")
    await li.next_message()
    choice = await li.next_message()
    await li.press(choice, text="English")
    await bot.sandbox.wait_consumed()
    confirmation = li.messages()[-1]
    assert confirmation.message_id == choice.message_id
    assert confirmation.text.startswith("Language set to English")
    assert confirmation.buttons == []  # the buttons are gone, so they can't be pressed twice
    assert bot.sandbox.answers[-1]["callback_query_id"]
    await li.send("/help")
    assert "What you can do" in (await li.next_message()).text
    person = await bot.store.people.by_telegram_id(li.id)
    assert person is not None and person.language == "en"


async def test_language_button_pressed_twice_is_harmless(bot: Harness) -> None:
    li = bot.sandbox.user(first_name="李四", language_code="zh-hans")
    await li.send("/language")
    choice = await li.next_message()
    await li.press(choice, text="English")
    await li.press_raw(choice.chat_id, choice.message_id, "lang:en")
    await bot.sandbox.wait_consumed()
    await li.expect_silence()
    assert len(bot.sandbox.answers) == 2
    assert bot.errors() == []


async def test_help_lists_what_a_person_can_do(bot: Harness) -> None:
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await wang.send("/help")
    text = (await wang.next_message()).text
    for command in ("/start", "/help", "/language"):
        assert command in text
    assert "河长办" not in text


async def test_bootstrap_admin_is_admin_from_the_first_start(bot: Harness) -> None:
    admin = bot.sandbox.user(first_name="河长办", language_code="zh-hans", user_id=ADMIN_ID)
    await admin.send("/start")
    await admin.next_message()
    await admin.next_message()
    person = await bot.store.people.by_telegram_id(ADMIN_ID)
    assert person is not None and "admin" in person.roles
    await admin.send("/help")
    assert "管理员" in (await admin.next_message()).text


async def test_command_menu_is_published_in_both_languages(bot: Harness) -> None:
    zh = bot.sandbox.commands(scope_type="all_private_chats", language_code="zh")
    en = bot.sandbox.commands(scope_type="all_private_chats", language_code="en")
    default = bot.sandbox.commands(scope_type="all_private_chats", language_code=None)
    assert [c["command"] for c in zh] == ["start", "help", "register", "language", "cancel"]
    assert zh[1]["description"] == "查看可用功能"
    assert en[1]["description"] == "What I can do"
    assert default == zh  # DEFAULT_LANGUAGE is zh
    group = bot.sandbox.commands(scope_type="all_group_chats", language_code="en")
    assert [c["command"] for c in group] == ["help", "bind", "unbind", "language"]


async def test_unknown_command_in_private_gets_a_pointer_to_help(bot: Harness) -> None:
    zhao = bot.sandbox.user(first_name="赵六", language_code="zh-hans")
    await zhao.send("/patrl")
    answer = await zhao.next_message()
    assert "/patrl" in answer.text and "/help" in answer.text


async def test_stray_text_and_media_in_private_get_a_short_answer(bot: Harness) -> None:
    zhao = bot.sandbox.user(first_name="赵六", language_code="en")
    await zhao.send("hello?")
    assert "didn't understand" in (await zhao.next_message()).text
    await zhao.send_location(32.55, 120.40)
    assert "nothing is waiting" in (await zhao.next_message()).text


async def test_bot_is_silent_in_groups_except_for_its_commands(bot: Harness) -> None:
    zhao = bot.sandbox.user(first_name="赵六", language_code="zh-hans")
    group = bot.sandbox.group(title="曲塘镇河长群", members=[zhao])
    await zhao.send("大家好", chat=group)
    await zhao.send("/patrl", chat=group)
    await zhao.send_location(32.55, 120.40, chat=group)
    await zhao.expect_silence(chat=group)
    await zhao.send("/help", chat=group)
    answer = await zhao.next_message(chat=group)
    assert "私聊" in answer.text and "@riverbot_test_bot" in answer.text


async def test_outdated_button_is_answered_not_left_spinning(bot: Harness) -> None:
    qian = bot.sandbox.user(first_name="钱七", language_code="zh-hans")
    await qian.send("/start")
    await qian.next_message()
    await qian.press_raw(qian.id, 99999, "no-such-action:1")
    await bot.sandbox.wait_consumed()
    answer = bot.sandbox.answers[-1]
    assert answer["text"] == "这个按钮已失效，请重新操作。" and answer["show_alert"] is True
    await qian.expect_silence()


async def test_group_language_is_for_group_admins(bot: Harness) -> None:
    chief = bot.sandbox.user(first_name="孙河长", language_code="zh-hans")
    member = bot.sandbox.user(first_name="周", language_code="zh-hans")
    group = bot.sandbox.group(title="城东片区", members=[chief, member], admins=[chief])
    await member.send("/language", chat=group)
    assert "只有本群管理员" in (await member.next_message(chat=group)).text
    await chief.send("/language", chat=group)
    choice = await chief.next_message(chat=group)
    await member.press(choice, text="English")
    await bot.sandbox.wait_consumed()
    assert bot.sandbox.answers[-1]["show_alert"] is True
    assert await bot.services.chats.language(group.id) == "zh"
    await chief.press(choice, text="English")
    await bot.sandbox.wait_consumed()
    assert await bot.services.chats.language(group.id) == "en"
    await member.send("/help", chat=group)
    assert "private chat" in (await member.next_message(chat=group)).text


async def test_anonymous_group_admin_may_set_the_language(bot: Harness) -> None:
    chief = bot.sandbox.user(first_name="孙河长", language_code="zh-hans")
    group = bot.sandbox.group(title="城东片区", members=[chief], admins=[chief])
    bot.sandbox.push_raw(
        {
            "message": {
                "message_id": 1,
                "from": {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"},
                "sender_chat": {"id": group.id, "title": "城东片区", "type": "supergroup"},
                "chat": {"id": group.id, "title": "城东片区", "type": "supergroup"},
                "date": 1732867200,
                "text": "/language",
                "entities": [{"type": "bot_command", "offset": 0, "length": 9}],
            }
        }
    )
    choice = await chief.next_message(chat=group)
    assert choice.button_texts == ["中文", "English"]


async def test_an_album_gets_one_answer_not_one_per_photo(bot: Harness) -> None:
    zhou = bot.sandbox.user(first_name="周", language_code="zh-hans")
    await zhou.send_photo(make_jpeg(seed=1), media_group_id="album-1")
    await zhou.send_photo(make_jpeg(seed=2), media_group_id="album-1")
    await zhou.send_photo(make_jpeg(seed=3), media_group_id="album-1")
    # A stranger's album is kept whole, with one offer to join (tests/e2e/test_citizens.py).
    assert "照片已保存" in (await zhou.next_message()).text
    await zhou.expect_silence()
    kept = await bot.store.kept_reports.get(zhou.id)
    assert kept is not None and len(kept.photos) == 3


async def test_a_text_of_4096_characters_with_html_is_answered_safely(bot: Harness) -> None:
    zhou = bot.sandbox.user(first_name="<b>周</b> & co", language_code="zh-hans")
    await zhou.send("<i>" + "河" * 4093)
    assert "/help" in (await zhou.next_message()).text
    await zhou.send("/start")
    assert "您好，<b>周</b> & co！" in (await zhou.next_message()).text  # escaped, so shown as typed
    assert bot.errors() == []
