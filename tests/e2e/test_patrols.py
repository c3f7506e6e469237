"""Patrols through the stand-in: start, live track, evidence, finish, auto-finish, restart, reminders, bad input."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import stop as stop_app
from handlers.patrol import end_idle_patrols, remind_chiefs
from storage.patrols import PatrolRecord
from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import LAT, STEP, WEST, chief, restart, run_job, seed, start_patrol, tap


async def test_a_live_patrol_counts_by_telegrams_clock(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    person_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    t0 = int(time.time()) - 3 * 3600  # walked three hours ago; the updates arrive only now
    await start_patrol(bot, wang, t0)
    live = await wang.send_location(LAT, WEST, live_period=3600, date=t0 + 60)
    assert "已收到实时位置" in (await wang.next_message()).text
    for minute in range(1, 41):
        await wang.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 60 + minute * 60)
    await wang.send_photo(make_jpeg(1600, 1200, seed=1), date=t0 + 20 * 60)
    photo_reply = await wang.next_message()
    assert "已记录照片（本次巡河第 1 张）" in photo_reply.text and "以“文件”方式发送" in photo_reply.text
    await wang.send("河面有少量漂浮物，已告知保洁员", date=t0 + 25 * 60)
    assert "已记录备注" in (await wang.next_message()).text
    await wang.send("✅ 结束巡河", date=t0 + 42 * 60)
    card = await wang.next_message()
    assert "巡河记录：丁堡河（城东段）" in card.text
    assert "（42 分钟）" in card.text and "41 个位置点" in card.text and "照片：1 张" in card.text
    assert "1.1 公里" in card.text  # 40 steps of 28.1 m
    assert "有效巡河，计入巡河率" in card.text and "未发现问题" in card.text
    assert "辛苦了" in (await wang.next_message()).text

    patrols = await bot.store.patrols.recent_for_person(person_id)
    assert len(patrols) == 1 and patrols[0].valid and patrols[0].duration_s == 42 * 60
    assert await bot.store.patrols.point_count(patrols[0].id) == 41
    # The edits keep coming after the finish (the live location runs on): stored nowhere, answered never.
    await wang.edit_live_location(live, LAT, WEST + 41 * STEP, edit_date=t0 + 43 * 60)
    await wang.expect_silence()
    assert await bot.store.patrols.point_count(patrols[0].id) == 41
    await wang.send("/mypatrols")
    mine = await wang.next_message()
    assert "丁堡河（城东段）：本旬已巡" in mine.text and "✅" in mine.text
    assert bot.errors() == []


async def test_too_short_and_off_the_river_is_kept_with_its_reasons_in_english(bot: Harness) -> None:
    ids = await seed(bot.store)
    mary = bot.sandbox.user(first_name="Mary", language_code="en")
    await chief(bot, mary, "Mary Li", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, mary, t0, reach_text="🏞 Dingbao River (east)")
    # 2 km north of the river: 2000 / 111194.9 ≈ 0.018 degrees of latitude.
    await mary.send_location(LAT + 0.018, WEST, date=t0 + 60)
    reply = await mary.next_message()
    assert "Location recorded" in reply.text and "about 2.0 km from Dingbao River (east)" in reply.text
    await mary.send("✅ Finish patrol", date=t0 + 5 * 60)
    card = await mary.next_message()
    assert "does not count toward the patrol rate" in card.text
    assert "it lasted 5 min, less than 10 min" in card.text
    assert "the track is 0 m, less than 500 m" in card.text
    assert "nearest 2002 m; it should be within 1000 m" in card.text


async def test_a_second_patrol_command_shows_the_open_one(bot: Harness) -> None:
    ids = await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await chief(bot, zhao, "赵六", [ids["DBH-01"]])
    await start_patrol(bot, zhao, int(time.time()) - 60)
    await zhao.send("/patrol")
    again = await zhao.next_message()
    assert "您有一次巡河尚未结束" in again.text and "巡河记录：丁堡河（城东段）" in again.text
    assert "✅ 结束巡河" in again.button_texts
    await zhao.next_message()
    assert len(await bot.store.patrols.open_patrols()) == 1


async def test_finish_twice_and_after_a_restart(bot: Harness) -> None:
    ids = await seed(bot.store)
    sun = bot.sandbox.user(first_name="孙", language_code="zh-hans")
    await chief(bot, sun, "孙七", [ids["DBH-01"]])
    t0 = int(time.time()) - 600
    await sun.send("/patrol", date=t0)
    choice = await sun.next_message()
    await sun.next_message()
    started = await tap(bot, sun, choice, text="🏞 丁堡河（城东段）")
    finish_data = next(d for t, d in started.buttons[1] if d)
    await sun.next_message()

    restarted = await restart(bot)
    try:
        card = await tap(bot, sun, started, data=finish_data)
        assert "巡河记录：丁堡河（城东段）" in card.text
        answer = await bot.sandbox.answer(await sun.press_raw(started.chat_id, started.message_id, finish_data))
        assert answer["show_alert"] and "这次巡河已经结束" in answer["text"]
        assert [p.status for p in await bot.store.patrols.recent_for_person(1)] in ([], ["finished"])
    finally:
        await stop_app(restarted)


async def test_restart_mid_patrol_loses_no_point(bot: Harness) -> None:
    ids = await seed(bot.store)
    qian = bot.sandbox.user(first_name="钱", language_code="zh-hans")
    person_id = await chief(bot, qian, "钱八", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, qian, t0)
    live = await qian.send_location(LAT, WEST, live_period=3600, date=t0 + 30)
    await qian.next_message()
    for minute in range(1, 11):
        await qian.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 30 + minute * 60)
    await bot.sandbox.wait_consumed()
    restarted = await restart(bot)
    try:
        for minute in range(11, 21):
            await qian.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 30 + minute * 60)
        await qian.send("✅ 结束巡河", date=t0 + 22 * 60)
        card = await qian.next_message()
        assert "21 个位置点" in card.text and "有效巡河" in card.text
    finally:
        await stop_app(restarted)
    patrol = (await bot.store.patrols.recent_for_person(person_id))[0]
    assert patrol.point_count == 21


async def test_stopped_live_location_then_silence_ends_the_patrol(bot: Harness) -> None:
    ids = await seed(bot.store)
    li = bot.sandbox.user(first_name="李", language_code="zh-hans")
    person_id = await chief(bot, li, "李四", [ids["DBH-01"]])
    t0 = int(time.time()) - 2 * 3600
    await start_patrol(bot, li, t0)
    live = await li.send_location(LAT, WEST, live_period=3600, date=t0 + 60)
    await li.next_message()
    for minute in range(1, 31):
        await li.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 60 + minute * 60)
    await li.edit_live_location(live, LAT, WEST + 30 * STEP, edit_date=t0 + 32 * 60, stop=True)
    assert "实时位置已停止共享" in (await li.next_message()).text
    assert bot.app.job_queue is not None
    bot.app.job_queue.run_once(end_idle_patrols, 0)
    ended = await li.next_message()
    # It ends at the last sign of life: the stop itself, whose position is the track's last point.
    assert "本次巡河已自动结束" in ended.text and "（32 分钟）" in ended.text and "32 个位置点" in ended.text
    patrol = (await bot.store.patrols.recent_for_person(person_id))[0]
    assert patrol.end_reason == "idle" and patrol.ended_at == datetime.fromtimestamp(t0 + 32 * 60, UTC)


async def test_a_patrol_running_too_long_ends_at_the_limit(bot_factory: BotFactory) -> None:
    bot = await bot_factory(patrol_max_hours=2)
    ids = await seed(bot.store)
    zhou = bot.sandbox.user(first_name="周", language_code="en")
    person_id = await chief(bot, zhou, "Zhou", [ids["DBH-01"]])
    t0 = int(time.time()) - 3 * 3600
    await start_patrol(bot, zhou, t0, reach_text="🏞 Dingbao River (east)")
    assert bot.app.job_queue is not None
    bot.app.job_queue.run_once(end_idle_patrols, 0)
    assert "has run for more than 2 hours" in (await zhou.next_message()).text
    patrol = (await bot.store.patrols.recent_for_person(person_id))[0]
    assert patrol.end_reason == "max_hours" and patrol.duration_s == 2 * 3600


async def test_nearest_reaches_by_location(bot: Harness) -> None:
    ids = await seed(bot.store)
    wu = bot.sandbox.user(first_name="吴", language_code="zh-hans")
    await chief(bot, wu, "吴九", [ids["LGH-01"]])
    await wu.send("/patrol")
    await wu.next_message()
    await wu.next_message()
    # 300 m south of the river: 300 / 111194.9 ≈ 0.0027 degrees.
    await wu.send_location(LAT - 0.0027, 120.41)
    assert "已收到您的位置" in (await wu.next_message()).text
    nearest = await wu.next_message()
    assert nearest.button_texts[0] == "丁堡河（城东段） · 300 米"
    assert nearest.button_texts[1] == "立公河 · 未登记走向"  # same area, no geometry: listed after
    started = await tap(bot, wu, nearest, text="丁堡河（城东段） · 300 米")
    assert "巡河已开始：丁堡河（城东段）" in started.text


async def test_bad_input_during_and_outside_a_patrol(bot: Harness) -> None:
    ids = await seed(bot.store)
    zheng = bot.sandbox.user(first_name="郑", language_code="zh-hans")
    await chief(bot, zheng, "郑十", [ids["DBH-01"]])
    # A location with no patrol open: answered; a stranger's /patrol: told to register.
    await zheng.send_location(LAT, WEST)
    assert "您当前没有进行中的巡河" in (await zheng.next_message()).text
    stranger = bot.sandbox.user(first_name="路人", language_code="zh-hans")
    await stranger.send("/patrol")
    assert "请先注册" in (await stranger.next_message()).text

    await start_patrol(bot, zheng, int(time.time()) - 60)
    await zheng.send_document(b"%PDF-1.4 not a photo", file_name="report.pdf", mime_type="application/pdf")
    assert "这不是图片文件" in (await zheng.next_message()).text
    corrupt = make_jpeg(800, 600, seed=2)
    await zheng.send_document(corrupt[: len(corrupt) // 2], file_name="IMG_1.jpg")
    assert "图片已损坏" in (await zheng.next_message()).text
    # 1000 km away (about 9 degrees of latitude north).
    await zheng.send_location(LAT + 9, WEST)
    assert "该位置距丁堡河（城东段）约 1000" in (await zheng.next_message()).text
    # A live location shared in a group by the patrolling chief: told where it belongs.
    group = bot.sandbox.group(title="城东河长群", members=[zheng])
    await zheng.send_location(LAT, WEST, live_period=3600, chat=group)
    assert "私聊中共享实时位置" in (await zheng.next_message(chat=group)).text
    # A photo as a file, taken a day before the patrol: kept, and the patrol will say why it doesn't count.
    old = make_jpeg(800, 600, seed=3, taken_at=datetime.now(bot.settings.tz).replace(tzinfo=None) - timedelta(days=1))
    await zheng.send_document(old, file_name="IMG_2.jpg")
    assert "已记录照片" in (await zheng.next_message()).text
    await zheng.send("✅ 结束巡河")
    card = await zheng.next_message()
    assert "有 1 张照片拍摄于巡河开始前较早时间" in card.text
    assert bot.errors() == []


async def test_a_photo_seen_before_makes_the_patrol_invalid(bot: Harness) -> None:
    ids = await seed(bot.store)
    feng = bot.sandbox.user(first_name="冯", language_code="zh-hans")
    await chief(bot, feng, "冯一", [ids["DBH-01"]])
    picture = make_jpeg(1600, 1200, seed=9)
    for round_ in range(2):
        t0 = int(time.time()) - 7200 + round_ * 3600
        await start_patrol(bot, feng, t0)
        await feng.send_photo(picture, date=t0 + 60)
        await feng.next_message()
        await feng.send("✅ 结束巡河", date=t0 + 15 * 60)
        card = await feng.next_message()
        await feng.next_message()
        if round_ == 0:
            assert "照片与以往巡河中的照片相同" not in card.text
        else:
            assert "有 1 张照片与以往巡河中的照片相同" in card.text


async def test_reminder_before_the_period_ends_and_its_button(bot_factory: BotFactory) -> None:
    # Thirty days ahead covers any period's end, whatever day the test runs.
    bot = await bot_factory(patrol_reminder_days=30)
    ids = await seed(bot.store)
    he = bot.sandbox.user(first_name="何", language_code="zh-hans")
    await chief(bot, he, "何二", [ids["DBH-01"]], level="village")
    await he.send("/start")
    await he.next_message()
    await he.next_message()
    await run_job(bot, remind_chiefs)
    reminder = await he.next_message()
    assert "以下河段本期巡河次数还不够" in reminder.text and "丁堡河（城东段）：本周已巡 0/1" in reminder.text
    await run_job(bot, remind_chiefs)  # the same day again: not sent twice
    await he.expect_silence()
    started = await tap(bot, he, reminder, text="🚶 巡 丁堡河（城东段）")
    assert "巡河已开始：丁堡河（城东段）" in started.text


async def test_a_live_edit_that_fails_on_the_short_way_is_handled_the_ordinary_way(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live edits skip PTB's Update (handlers/live.py). One whose handling fails is handled again as an Update:
    a passing failure costs nothing; a lasting one reaches the error handler, which keeps the update."""
    ids = await seed(bot.store)
    zhou = bot.sandbox.user(first_name="周", language_code="zh-hans")
    person_id = await chief(bot, zhou, "周九", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, zhou, t0)
    live = await zhou.send_location(LAT, WEST, live_period=3600, date=t0 + 30)
    await zhou.next_message()
    open_patrol = bot.services.patrols.open_patrol
    calls = 0

    async def locked_once(person: int) -> PatrolRecord | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("database is locked")
        return await open_patrol(person)

    monkeypatch.setattr(bot.services.patrols, "open_patrol", locked_once)
    await zhou.edit_live_location(live, LAT, WEST + STEP, edit_date=t0 + 90)
    await bot.sandbox.wait_consumed()
    assert calls == 2 and bot.errors() == []
    patrol = await bot.store.patrols.open_for(person_id)
    assert patrol is not None and await bot.store.patrols.point_count(patrol.id) == 2

    async def broken(person: int) -> PatrolRecord | None:
        raise RuntimeError("the river overflowed")

    monkeypatch.setattr(bot.services.patrols, "open_patrol", broken)
    await zhou.edit_live_location(live, LAT, WEST + 2 * STEP, edit_date=t0 + 150)
    assert "处理您的消息时出现了问题。您发送的内容已经保存" in (await zhou.next_message()).text
    failures = await bot.store.failed_updates.open()
    assert [json.loads(f.payload)["edited_message"]["edit_date"] for f in failures] == [t0 + 150]
    assert failures[0].user_id == zhou.id and "the river overflowed" in failures[0].error
    await bot.sandbox.wait_consumed()
    assert await bot.services.inbox.settle()
    assert (await bot.store.inbox.figures()).waiting == 0  # handled (as a failure), not left for a restart
