"""python-telegram-bot, unmodified, against the stand-in: objects parse and errors map to PTB's exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from sandbox import BotApiServer
from tests.sandbox.conftest import World, jpeg


@pytest.fixture
async def bot(world: World) -> AsyncIterator[Bot]:
    async with Bot(
        world.token, base_url=f"{world.server.url}/bot", base_file_url=f"{world.server.url}/file/bot"
    ) as running:
        yield running


async def test_objects_round_trip_through_ptb(world: World, bot: Bot) -> None:
    alice = world.sb.user("Alice")
    assert bot.username == "sandbox_test_bot"
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok")]])
    message = await bot.send_message(alice.id, "<b>河</b>长", parse_mode=ParseMode.HTML, reply_markup=keyboard)
    assert message.text == "河长" and message.entities[0].type == "bold"
    assert message.from_user is not None and message.from_user.id == bot.id
    assert message.reply_markup == keyboard
    reply_keyboard = ReplyKeyboardMarkup([[KeyboardButton("发送位置", request_location=True)]])
    await bot.send_message(alice.id, "位置？", reply_markup=reply_keyboard, reply_to_message_id=message.message_id)
    sent = alice.messages()[-1]
    assert sent.keyboard == [["发送位置"]] and sent.keyboard_buttons[0][0]["request_location"] is True
    assert sent.raw["reply_to_message"]["message_id"] == message.message_id
    edited = await bot.edit_message_text("新", chat_id=alice.id, message_id=message.message_id)
    assert not isinstance(edited, bool) and edited.edit_date is not None
    await bot.set_my_commands([BotCommand("help", "帮助")], scope=BotCommandScopeAllPrivateChats(), language_code="zh")
    assert world.sb.commands("all_private_chats", "zh") == [{"command": "help", "description": "帮助"}]
    assert await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="zh") == (
        BotCommand("help", "帮助"),
    )
    grp = world.sb.group("群", members=[alice], admins=[alice])
    chat = await bot.get_chat(grp.id)
    assert chat.title == "群"
    member = await bot.get_chat_member(grp.id, alice.id)
    assert member.status == "administrator"
    assert len(await bot.get_chat_administrators(grp.id)) == 1
    venue = await bot.send_venue(alice.id, 32.5, 120.4, "桥", "镇东")
    assert venue.venue is not None and venue.location is not None
    assert await bot.send_chat_action(alice.id, "typing")


async def test_files_upload_and_download_with_ptb(world: World, bot: Bot) -> None:
    alice = world.sb.user("Alice")
    photo = await bot.send_photo(alice.id, jpeg(1600, 1200), caption="<i>现场</i>", parse_mode="HTML")
    assert [p.width for p in photo.photo] == [90, 320, 1280] and photo.caption == "现场"
    file = await photo.photo[-1].get_file()
    data = await file.download_as_bytearray()
    assert bytes(data)[:2] == b"\xff\xd8" and len(data) == photo.photo[-1].file_size
    document = await bot.send_document(alice.id, b"col1,col2\n1,2\n", filename="report.csv")
    assert document.document is not None and document.document.file_name == "report.csv"
    doc_file = await document.document.get_file()
    assert bytes(await doc_file.download_as_bytearray()) == b"col1,col2\n1,2\n"
    album = await bot.send_media_group(
        alice.id, [InputMediaPhoto(jpeg(300, 200), caption="一"), InputMediaPhoto(photo.photo[-1].file_id)]
    )
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    user_photo = await alice.send_photo(jpeg(500, 500))
    user_file = await bot.get_file(user_photo["photo"][-1]["file_id"])
    assert len(await user_file.download_as_bytearray()) == user_photo["photo"][-1]["file_size"]


async def test_errors_map_to_ptb_exceptions(world: World, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns about RetryAfter.retry_after's future type unless opted in to timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    alice = world.sb.user("Alice")
    shy = world.sb.user("Shy", started=False)
    old = world.sb.group("小群", supergroup=False, members=[alice])
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(alice.id, "1 < 2", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(
            alice.id,
            "x",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]]),
        )
    with pytest.raises(Forbidden, match="bot can't initiate conversation"):
        await bot.send_message(shy.id, "hi")
    old_id = old.id
    new_id = await old.migrate_to_supergroup()
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(old_id, "x")
    assert migrated.value.new_chat_id == new_id
    world.server.faults.inject("429", method="sendMessage", retry_after=2)
    with pytest.raises(RetryAfter) as retry:
        await bot.send_message(alice.id, "x")
    assert retry.value.retry_after.total_seconds() == 2  # type: ignore[union-attr]
    world.server.faults.inject("5xx", method="sendMessage", status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(alice.id, "x")


async def test_unknown_token_is_invalid_token() -> None:
    async with BotApiServer() as server:
        bot = Bot("123456789:" + "B" * 35, base_url=f"{server.url}/bot")
        with pytest.raises(InvalidToken):
            await bot.initialize()
        await bot.shutdown()


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo text back with a button; photos are answered with their size."""
    message = update.effective_message
    assert message is not None
    if message.photo:
        await message.reply_text(f"photo {message.photo[-1].width}x{message.photo[-1].height}")
        return
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("again", callback_data=f"again:{message.text}")]])
    await message.reply_text(f"echo: {message.text}", reply_markup=keyboard)


async def _again(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the button and edit the message it sits on."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer("again!")
    await query.edit_message_text(query.data.removeprefix("again:") + " (pressed)")


async def test_application_echo_bot_end_to_end(world: World) -> None:
    app: Application = (  # type: ignore[type-arg]
        ApplicationBuilder()
        .token(world.token)
        .base_url(f"{world.server.url}/bot")
        .base_file_url(f"{world.server.url}/file/bot")
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT | filters.PHOTO, _echo))
    app.add_handler(CallbackQueryHandler(_again))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        alice = world.sb.user("张三")
        await alice.send("你好")
        reply = await alice.next_message(timeout=3)
        assert reply.text == "echo: 你好" and reply.button_texts == ["again"]
        query_id = await alice.press(reply, text="again")
        assert (await world.sb.answer(query_id, timeout=3))["text"] == "again!"
        await world.sb.wait_consumed(timeout=3)
        await world.sb.wait_until(lambda: bool(alice.messages()[-1].edits), timeout=3)
        assert alice.messages()[-1].text == "你好 (pressed)"
        await alice.send_photo(jpeg(800, 600))
        assert (await alice.next_message(timeout=3)).text == "photo 800x600"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    calls = [c.method for c in world.sb.calls]
    assert calls[:2] == ["getMe", "deleteWebhook"] and "answerCallbackQuery" in calls
    # 499: the long poll PTB cancelled while stopping (it then confirms the offset with a new call)
    assert [(c.method, c.status) for c in world.sb.calls if c.status != 200] in ([], [("getUpdates", 499)])
