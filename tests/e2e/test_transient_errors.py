"""One transient error (a Telegram 502 while a photo downloads) ends the handling of that update, nothing more:
the draft, the patrol and the person's next message are as if the failed message had never been sent."""

from __future__ import annotations

import time

from telegram import Update
from telegram.error import NetworkError
from telegram.ext import ContextTypes, MessageHandler, filters

from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import chief, seed, start_patrol, volunteer

STRAY = "我没能理解这条消息"


async def test_a_502_on_a_drafts_fifth_photo_keeps_its_four_photos(bot: Harness) -> None:
    await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await volunteer(bot, zhao, "赵六")
    await zhao.send("/report")
    await zhao.next_message()
    for n in range(4):
        await zhao.send_photo(make_jpeg(640, 480, seed=20 + n))
        assert f"已收到第 {n + 1} 张照片" in (await zhao.next_message()).text
    bot.server.faults.inject("5xx", count=1, method="getFile", status=502)
    await zhao.send_photo(make_jpeg(640, 480, seed=30))
    assert "不会丢失" in (await zhao.next_message()).text
    await zhao.expect_silence()  # no "I didn't understand", no new draft's "photo 1 received"
    assert bot.server.faults.fired == [("5xx", "getFile")]
    dialog = await bot.store.dialogs.get(zhao.id)
    assert dialog is not None and len(dialog.data["photos"]) == 4
    # Sent again, the photo is the draft's fifth.
    await zhao.send_photo(make_jpeg(640, 480, seed=30))
    assert "已收到第 5 张照片" in (await zhao.next_message()).text


async def test_a_patrol_photo_that_failed_opens_no_problem_draft(bot: Harness) -> None:
    ids = await seed(bot.store)
    zheng = bot.sandbox.user(first_name="郑", language_code="zh-hans")
    await chief(bot, zheng, "郑十", [ids["DBH-01"]])
    await start_patrol(bot, zheng, int(time.time()) - 60)
    bot.server.faults.inject("5xx", count=1, method="getFile", status=502)
    await zheng.send_photo(make_jpeg(800, 600, seed=5))
    assert "不会丢失" in (await zheng.next_message()).text
    await zheng.expect_silence()
    assert await bot.store.dialogs.get(zheng.id) is None
    # The chief's note goes to the patrol, not to a report asking for its photo first.
    await zheng.send("河面有少量漂浮物")
    note = (await zheng.next_message()).text
    assert "请先发送问题照片" not in note and STRAY not in note
    assert await bot.store.dialogs.get(zheng.id) is None


async def test_an_error_in_a_private_chat_is_not_followed_by_i_did_not_understand(bot: Harness) -> None:
    await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await volunteer(bot, zhao, "赵六")
    bot.server.faults.inject("5xx", count=1, method="getFile", status=502)
    await zhao.send_photo(make_jpeg(640, 480, seed=7))  # a photo with nothing open starts a report...
    assert "不会丢失" in (await zhao.next_message()).text
    await zhao.expect_silence()
    assert all(STRAY not in m.text for m in zhao.messages())
    assert await bot.store.dialogs.get(zhao.id) is None  # ...once it is downloaded: this one left nothing open
    await zhao.send_photo(make_jpeg(640, 480, seed=7))
    assert "请发送问题现场照片" in (await zhao.next_message()).text
    assert "已收到第 1 张照片" in (await zhao.next_message()).text
    # An error in the reply to a stray text: the apology alone.
    bot.server.faults.inject("5xx", count=1, method="sendMessage", status=502)
    await zhao.send("你好")
    assert "不会丢失" in (await zhao.next_message()).text
    await zhao.expect_silence()
    assert all(STRAY not in m.text for m in zhao.messages())


async def _bad_gateway(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    raise NetworkError("Bad Gateway")


async def test_once_an_update_has_failed_no_later_handler_group_takes_it(bot_factory: BotFactory) -> None:
    # A handler in an earlier group (a check, a feature added later) fails on a photo: the router in the next
    # group must not start a report with it, nor answer "I didn't understand".
    bot = await bot_factory(extra_handlers=[(MessageHandler(filters.PHOTO | filters.TEXT, _bad_gateway), -1)])
    await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await volunteer(bot, zhao, "赵六")
    await zhao.send_photo(make_jpeg(640, 480, seed=7))
    assert "不会丢失" in (await zhao.next_message()).text
    await zhao.expect_silence()
    assert await bot.store.dialogs.get(zhao.id) is None
    await zhao.send("你好")
    assert "不会丢失" in (await zhao.next_message()).text
    await zhao.expect_silence()
    assert all(STRAY not in m.text for m in zhao.messages())
