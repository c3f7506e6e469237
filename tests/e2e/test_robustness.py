"""When things go wrong: handler errors, Telegram faults, concurrency, the bot's own membership."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from telegram import Update
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.people import Person
from tests.conftest import ADMIN_ID, BotFactory, Harness
from tests.support import started_admin

SECOND_ADMIN_ID = ADMIN_ID + 1


async def _boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    raise RuntimeError("the river overflowed")


async def test_an_error_is_kept_apologized_for_and_reported_to_admins(bot_factory: BotFactory) -> None:
    bot = await bot_factory(extra_handlers=[(CommandHandler("boom", _boom), -1)])
    admin = await started_admin(bot, "zh-hans")
    chief = bot.sandbox.user(first_name="陈河长", language_code="zh-hans")
    await chief.send("/boom 丁堡河 有垃圾")
    apology = await chief.next_message()
    assert "已经保存，不会丢失" in apology.text
    notice = await admin.next_message()
    assert "RuntimeError: the river overflowed" in notice.text
    failures = await bot.store.failed_updates.open()
    assert len(failures) == 1
    assert json.loads(failures[0].payload)["message"]["text"] == "/boom 丁堡河 有垃圾"
    assert failures[0].user_id == chief.id and "RuntimeError" in failures[0].error
    assert any("the river overflowed" in (r.exc_text or r.getMessage()) for r in bot.errors())


async def test_the_same_error_does_not_flood_admins(bot_factory: BotFactory) -> None:
    bot = await bot_factory(extra_handlers=[(CommandHandler("boom", _boom), -1)])
    admin = await started_admin(bot, "en")
    chief = bot.sandbox.user(first_name="陈河长", language_code="zh-hans")
    for _ in range(3):
        await chief.send("/boom")
        await chief.next_message()
    await bot.sandbox.wait_consumed()
    assert len(admin.messages()) == 3  # greeting, language choice, one notice
    assert len(await bot.store.failed_updates.open()) == 3


async def test_error_in_a_group_command_is_answered_in_the_group(bot_factory: BotFactory) -> None:
    bot = await bot_factory(extra_handlers=[(CommandHandler("boom", _boom), -1)])
    chief = bot.sandbox.user(first_name="陈河长", language_code="zh-hans")
    group = bot.sandbox.group(title="城东片区", members=[chief])
    await chief.send("/boom", chat=group)
    assert "不会丢失" in (await chief.next_message(chat=group)).text


async def test_telegram_429_is_waited_out_and_the_answer_arrives(bot: Harness) -> None:
    bot.server.faults.inject("429", count=1, method="sendMessage", retry_after=1)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/help")
    assert "/language" in (await zhang.next_message(timeout=6)).text
    assert bot.errors() == []


async def test_telegram_5xx_keeps_the_update_and_the_person_is_told(bot: Harness) -> None:
    bot.server.faults.inject("5xx", count=1, method="sendMessage", status=502)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/help")
    assert "不会丢失" in (await zhang.next_message()).text
    failures = await bot.store.failed_updates.open()
    assert [json.loads(f.payload)["message"]["text"] for f in failures] == ["/help"]


async def test_slow_telegram_does_not_lose_answers(bot: Harness) -> None:
    bot.server.faults.inject("slow", count=2, method="sendMessage", delay=0.5)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/start")
    await zhang.next_message(timeout=5)
    await zhang.next_message(timeout=5)
    assert bot.errors() == []


async def test_chats_run_concurrently_and_each_chat_in_order(bot_factory: BotFactory) -> None:
    order: list[str] = []
    slow_started, slow_may_end = asyncio.Event(), asyncio.Event()

    async def slow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A handler busy until the test lets it go."""
        assert update.effective_message is not None
        order.append("slow-start")
        slow_started.set()
        await slow_may_end.wait()
        order.append("slow-end")
        await update.effective_message.reply_text("slow done")
        raise ApplicationHandlerStop

    async def mark(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None
        order.append(f"help-{update.effective_user.first_name}")

    bot = await bot_factory(extra_handlers=[(CommandHandler("slow", slow), -2), (CommandHandler("help", mark), -1)])
    a = bot.sandbox.user(first_name="A", language_code="en")
    b = bot.sandbox.user(first_name="B", language_code="en")
    await a.send("/slow")
    await a.send("/help")
    await asyncio.wait_for(slow_started.wait(), 3)
    await b.send("/help")
    assert "What you can do" in (await b.next_message(timeout=3)).text
    assert order[:2] == ["slow-start", "help-B"]  # B did not wait for A's slow command
    slow_may_end.set()
    assert (await a.next_message(timeout=3)).text == "slow done"
    assert "What you can do" in (await a.next_message(timeout=3)).text
    assert order.index("help-A") > order.index("slow-end")  # A's own updates kept their order


async def test_blocking_and_unblocking_the_bot_is_remembered(bot: Harness) -> None:
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/start")
    await zhang.next_message()
    await zhang.block_bot()
    await bot.sandbox.wait_consumed()
    person = await bot.store.people.by_telegram_id(zhang.id)
    assert person is not None and person.blocked_at is not None
    await zhang.unblock_bot()
    await zhang.send("/start")
    await zhang.next_message()
    person = await bot.store.people.by_telegram_id(zhang.id)
    assert person is not None and person.blocked_at is None


async def test_group_membership_and_migration_follow_the_chat(bot: Harness) -> None:
    chief = bot.sandbox.user(first_name="孙河长", language_code="zh-hans")
    group = bot.sandbox.group(title="城东片区", supergroup=False, members=[chief], admins=[chief])
    await group.add_bot(by=chief)
    await bot.sandbox.wait_consumed()
    old_id = group.id
    record = await bot.store.chats.get(old_id)
    assert record is not None and record.bot_status in ("member", "administrator")
    await chief.send("/language", chat=group)
    choice = await chief.next_message(chat=group)
    await chief.press(choice, text="English")
    await bot.sandbox.wait_consumed()
    await group.migrate_to_supergroup()
    await bot.sandbox.wait_consumed()
    assert group.id != old_id
    assert await bot.services.chats.language(group.id) == "en"
    old = await bot.store.chats.get(old_id)
    assert old is not None and old.migrated_to == group.id
    await group.remove_bot(by=chief)
    await bot.sandbox.wait_consumed()
    record = await bot.store.chats.get(group.id)
    assert record is not None and record.bot_status in ("left", "kicked")


# What Telegram says to an answerCallbackQuery for a query it has forgotten (older than ~15 s, or from before
# a restart of the bot).
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


async def test_outdated_button_whose_query_is_too_old_is_not_an_error(bot: Harness) -> None:
    bot.server.faults.inject("400", method="answerCallbackQuery", description=QUERY_TOO_OLD)
    qian = bot.sandbox.user(first_name="钱七", language_code="zh-hans")
    await qian.press_raw(qian.id, 99999, "no-such-action:1")
    await bot.sandbox.wait_consumed()
    await qian.expect_silence()
    assert bot.server.faults.fired == [("400", "answerCallbackQuery")]
    assert bot.errors() == []
    assert await bot.store.failed_updates.open() == []


async def test_language_choice_after_a_restart_still_takes_effect(bot: Harness) -> None:
    li = bot.sandbox.user(first_name="李四", language_code="zh-hans")
    await li.send("/language")
    choice = await li.next_message()
    bot.server.faults.inject("400", method="answerCallbackQuery", description=QUERY_TOO_OLD)
    await li.press(choice, text="English")
    await bot.sandbox.wait_consumed()
    assert li.messages()[-1].text.startswith("Language set to English")
    assert li.messages()[-1].buttons == []
    assert bot.server.faults.fired == [("400", "answerCallbackQuery")]
    assert bot.errors() == []


async def test_error_on_a_button_whose_query_is_too_old_is_told_in_the_chat(bot_factory: BotFactory) -> None:
    bot = await bot_factory(extra_handlers=[(CallbackQueryHandler(_boom), -1)])
    bot.server.faults.inject("400", method="answerCallbackQuery", description=QUERY_TOO_OLD)
    li = bot.sandbox.user(first_name="李四", language_code="zh-hans")
    await li.send("/language")
    choice = await li.next_message()
    await li.press(choice, text="English")
    assert "不会丢失" in (await li.next_message()).text
    assert bot.server.faults.fired == [("400", "answerCallbackQuery")]
    assert len(await bot.store.failed_updates.open()) == 1


async def test_group_admin_pressing_a_button_on_an_inaccessible_message(bot: Harness) -> None:
    """Telegram sends an InaccessibleMessage for old messages: the presser is still known, and may be an admin."""
    chief = bot.sandbox.user(first_name="孙河长", language_code="zh-hans")
    group = bot.sandbox.group(title="城东片区", members=[chief], admins=[chief])
    await chief.press_raw(group, 99999, "lang:en")
    assert "now reads English" in (await chief.next_message(chat=group)).text
    assert await bot.services.chats.language(group.id) == "en"
    assert bot.errors() == []


async def test_a_button_on_an_anonymous_admins_message_does_not_make_the_presser_an_admin(bot: Harness) -> None:
    """The message a button sits on may come from an anonymous admin (inline mode); the press is still a person's."""
    chief = bot.sandbox.user(first_name="孙河长", language_code="zh-hans")
    member = bot.sandbox.user(first_name="周", language_code="zh-hans")
    group = bot.sandbox.group(title="城东片区", members=[chief, member], admins=[chief])
    bot.sandbox.push_raw(
        {
            "message": {
                "message_id": 1,
                "from": {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"},
                "sender_chat": {"id": group.id, "title": "城东片区", "type": "supergroup"},
                "chat": {"id": group.id, "title": "城东片区", "type": "supergroup"},
                "date": 1732867200,
                "text": "English / 中文",
                "via_bot": bot.sandbox.bot_user,
                "reply_markup": {"inline_keyboard": [[{"text": "English", "callback_data": "lang:en"}]]},
            }
        }
    )
    await member.press_raw(group, 1, "lang:en")
    await bot.sandbox.wait_consumed()
    assert bot.sandbox.answers[-1]["show_alert"] is True
    assert await bot.services.chats.language(group.id) == "zh"


async def test_one_admin_who_cannot_be_told_does_not_silence_the_others(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await bot_factory(
        admin_ids=frozenset({ADMIN_ID, SECOND_ADMIN_ID}), extra_handlers=[(CommandHandler("boom", _boom), -1)]
    )
    first = await started_admin(bot, "zh-hans")
    second = bot.sandbox.user(first_name="副主任", language_code="en", user_id=SECOND_ADMIN_ID)
    await second.send("/start")
    await second.next_message()
    await second.next_message()
    find = bot.services.people.find

    async def find_failing_for_the_first(telegram_id: int) -> Person | None:
        if telegram_id == first.id:
            raise sqlite3.OperationalError("database is locked")
        return await find(telegram_id)

    monkeypatch.setattr(bot.services.people, "find", find_failing_for_the_first)
    chief = bot.sandbox.user(first_name="陈河长", language_code="zh-hans")
    await chief.send("/boom")
    await chief.next_message()
    assert "RuntimeError: the river overflowed" in (await second.next_message()).text
    assert len(first.messages()) == 2  # greeting and language choice only


async def test_remembered_error_notices_are_capped(bot: Harness) -> None:
    notices: dict[str, float] = bot.app.bot_data.setdefault("error_notices", {})
    notices.update({f"KeyError: {i}": 0.0 for i in range(1001)})
    bot.app.add_handler(CommandHandler("boom", _boom), -1)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/boom")
    await zhang.next_message()
    await bot.sandbox.wait_consumed()  # the admins are notified after the apology
    assert list(notices) == ["RuntimeError: the river overflowed"]


async def test_the_driver_waits_for_a_task_a_handler_left_running(bot_factory: BotFactory) -> None:
    """wait_consumed() covers what a `block=False` handler still does after the update itself is done."""
    started, release = asyncio.Event(), asyncio.Event()

    async def background(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answers once the test lets it, long after its update has gone through the other handlers."""
        assert update.effective_message is not None
        started.set()
        await release.wait()
        await update.effective_message.reply_text("done in the background")

    bot = await bot_factory(extra_handlers=[(CommandHandler("later", background, block=False), -1)])
    a = bot.sandbox.user(first_name="A", language_code="en")
    await a.send("/later")
    await asyncio.wait_for(started.wait(), 5)
    assert not bot.app.work.idle
    release.set()
    await bot.sandbox.wait_consumed()
    assert "done in the background" in [m.text for m in a.messages()]
    assert bot.app.work.idle


async def test_polling_outlives_a_bot_api_that_fails_getupdates(bot: Harness) -> None:
    """502s and a 429 on getUpdates: the intake backs off and polls again, and goes on answering."""
    admin = await started_admin(bot, "en")
    bot.server.faults.inject("5xx", count=2, method="getUpdates", status=502)
    bot.server.faults.inject("429", count=1, method="getUpdates", retry_after=1)
    await bot.sandbox.wait_until(lambda: len(bot.server.faults.fired) == 3, timeout=30)
    assert bot.server.faults.fired == [("5xx", "getUpdates")] * 2 + [("429", "getUpdates")]
    await admin.send("/help")
    assert "/help" in (await admin.next_message(timeout=30)).text
