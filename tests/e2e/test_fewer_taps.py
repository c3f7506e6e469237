"""Fewer taps in the field, through the stand-in: a patrol from the menu in two taps, the live-location guide
sent once, the finish card's reminder to stop sharing, the live figures of a running patrol, voice and video
kept as evidence, and a problem found on a patrol that takes the track's point and counts its photos."""

from __future__ import annotations

import io
import json
import time

from PIL import Image

from handlers.patrol import remind_chiefs
from sandbox import FakeUser, SentMessage
from storage.registry import ReachValues
from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import LAT, STEP, WEST, chief, run_job, seed, start_patrol, tap


class Taps:
    """The bot taps a person makes: reply-keyboard buttons sent and inline buttons pressed. Each is checked to be
    on the keyboard the person sees, so a tap cannot be a typed shortcut in disguise."""

    def __init__(self, bot: Harness, user: FakeUser) -> None:
        self.bot = bot
        self.user = user
        self.count = 0

    def keyboard(self) -> list[str]:
        """The reply keyboard on screen: the latest one sent (a removal clears it)."""
        for message in reversed(self.user.messages()):
            markup = message.reply_markup or {}
            if "keyboard" in markup:
                return [label for row in message.keyboard for label in row]
            if markup.get("remove_keyboard"):
                return []
        return []

    async def button(self, label: str, *, date: int | None = None) -> None:
        assert label in self.keyboard(), f"{label!r} is not on the keyboard {self.keyboard()}"
        self.count += 1
        await self.user.send(label, date=date)

    async def press(self, message: SentMessage, text: str) -> SentMessage:
        self.count += 1
        return await tap(self.bot, self.user, message, text=text)


async def _started(bot: Harness, user: FakeUser) -> None:
    """/start: the main menu is on the keyboard."""
    await user.send("/start")
    await user.next_message()
    await user.next_message()


async def _walk(user: FakeUser, t0: int, minutes: int) -> None:
    """Telegram's share (not a bot tap): a live location, then an edit a minute along the river."""
    live = await user.send_location(LAT, WEST, live_period=3600, date=t0 + 30)
    assert "已收到实时位置" in (await user.next_message()).text
    for minute in range(1, minutes + 1):
        await user.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 30 + minute * 60)


# -- 1. from the menu to recorded in two taps -----------------------------------------------------------------


async def test_a_patrol_from_the_menu_to_recorded_takes_two_bot_taps(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await _started(bot, wang)
    taps = Taps(bot, wang)
    t0 = int(time.time()) - 30 * 60
    await taps.button("🚶 巡河", date=t0)
    started = await wang.next_message()
    assert "巡河已开始：丁堡河（城东段）" in started.text
    how = await wang.next_message()
    assert "共享实时位置" in how.text and how.photo is not None  # the first time: the picture guide
    await _walk(wang, t0, 20)
    await taps.button("✅ 结束巡河", date=t0 + 21 * 60)
    card = await wang.next_message()
    assert "巡河记录：丁堡河（城东段）" in card.text and "有效巡河" in card.text
    assert taps.count <= 2, f"{taps.count} bot taps"
    assert bot.errors() == []


async def test_a_patrol_from_a_reminder_to_recorded_takes_two_bot_taps(bot_factory: BotFactory) -> None:
    bot = await bot_factory(patrol_reminder_days=30)  # thirty days ahead covers any period's end
    ids = await seed(bot.store)
    he = bot.sandbox.user(first_name="何", language_code="zh-hans")
    await chief(bot, he, "何二", [ids["DBH-01"], ids["LGH-01"]], level="village")
    await _started(bot, he)
    await run_job(bot, remind_chiefs)
    reminder = await he.next_message()
    taps = Taps(bot, he)
    started = await taps.press(reminder, "🚶 巡 丁堡河（城东段）")
    assert "巡河已开始：丁堡河（城东段）" in started.text
    how = await he.next_message()
    assert how.photo is not None and "共享实时位置" in how.text
    t0 = int(time.time()) - 30 * 60
    await _walk(he, t0, 20)
    await taps.button("✅ 结束巡河")
    assert "巡河记录：丁堡河（城东段）" in (await he.next_message()).text
    assert taps.count == 2


async def test_the_clearly_nearest_reach_by_the_last_location_starts_at_once(bot: Harness) -> None:
    ids = await seed(bot.store)
    cd = await bot.store.areas.by_code("CD")
    assert cd is not None
    # A second mapped reach about 5.5 km north of 丁堡河.
    north = {"type": "LineString", "coordinates": [[WEST, LAT + 0.05], [120.43, LAT + 0.05]]}
    jhh, _ = await bot.store.reaches.upsert(
        ReachValues("JHH-01", "江海河", "Jianghai River", cd.id, "village", 2.8, (), json.dumps(north),
                    (LAT + 0.05, WEST, LAT + 0.05, 120.43))
    )
    li = bot.sandbox.user(first_name="李", language_code="zh-hans")
    await chief(bot, li, "李四", [ids["DBH-01"], jhh], level="village")
    await _started(bot, li)
    # No location known yet: the list, as before.
    await li.send("🚶 巡河")
    choice = await li.next_message()
    assert "请选择要巡查的河段" in choice.text and "🏞 江海河" in choice.button_texts
    await li.next_message()
    started = await tap(bot, li, choice, text="🏞 丁堡河（城东段）")
    assert "巡河已开始：丁堡河（城东段）" in started.text
    await li.next_message()
    t0 = int(time.time()) - 3600
    await _walk(li, t0, 12)
    await li.send("✅ 结束巡河", date=t0 + 13 * 60)
    await li.next_message()
    await li.next_message()
    # Last seen on 丁堡河, 5 km from the other: the menu's button starts there at once.
    taps = Taps(bot, li)
    await taps.button("🚶 巡河")
    again = await li.next_message()
    assert "巡河已开始：丁堡河（城东段）" in again.text and taps.count == 1
    how = await li.next_message()
    assert "共享实时位置" in how.text and how.photo is None  # the guide came with the first patrol

    # About to walk the other reach: one more tap drops the patrol just started and offers the list.
    assert "🔄 换个河段" in again.button_texts, again.describe()
    await tap(bot, li, again, text="🔄 换个河段")
    choice = await li.next_message()
    assert "请选择要巡查的河段" in choice.text, choice.describe()
    await li.next_message()  # or send your location
    rows = [tuple(row) for row in await bot.store.fetchall("SELECT reach_id, status FROM patrols ORDER BY id")]
    assert rows == [(ids["DBH-01"], "finished")], rows  # the dropped one counts nowhere
    started = await tap(bot, li, choice, text="🏞 江海河")
    assert "巡河已开始：江海河" in started.text and "🔄 换个河段" not in started.button_texts
    await li.next_message()
    # Once a point is in, the patrol is under way: the button says so and drops nothing.
    await li.send("✅ 结束巡河")
    await bot.sandbox.wait_consumed()
    await li.send("🚶 巡河")
    await bot.sandbox.wait_consumed()
    quick = next(m for m in reversed(li.messages()) if "巡河已开始" in m.text)
    await li.send_location(LAT, WEST + STEP)
    await bot.sandbox.wait_consumed()
    answer = await bot.sandbox.answer(await li.press(quick, text="🔄 换个河段"))
    assert answer.get("show_alert") and "巡河已在进行" in answer["text"], answer
    assert len(await bot.store.fetchall("SELECT id FROM patrols WHERE status = 'open'")) == 1
    assert bot.errors() == []


# -- 2. the picture guide ----------------------------------------------------------------------------------


async def test_the_live_location_guide_is_a_picture_sent_once_per_person_in_their_language(bot: Harness) -> None:
    ids = await seed(bot.store)
    pictures: dict[str, bytes] = {}
    for name, code, reach in (("王五", "zh-hans", "🏞 丁堡河（城东段）"), ("Mary", "en", "🏞 Dingbao River (east)")):
        user = bot.sandbox.user(first_name=name, language_code=code)
        await chief(bot, user, name, [ids["DBH-01"]])
        for round_ in range(2):
            t0 = int(time.time()) - 7200 + round_ * 1800
            await user.send("/patrol", date=t0)
            choice = await user.next_message()
            await user.next_message()
            await tap(bot, user, choice, text=reach)
            how = await user.next_message()
            assert "📎" in how.text and ("共享实时位置" in how.text or "Share My Live Location" in how.text)
            assert ("✅ 结束巡河" if code != "en" else "✅ Finish patrol") in [b for r in how.keyboard for b in r]
            if round_ == 0:
                assert how.photo is not None
                pictures[code] = how.photo
            else:
                assert how.photo is None, "the guide is sent once"
            await user.send("✅ 结束巡河" if code != "en" else "✅ Finish patrol", date=t0 + 60)
            await user.next_message()
            await user.next_message()
    assert pictures["zh-hans"] != pictures["en"]
    for data in pictures.values():
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.width >= 600 and image.height >= 400


# -- 3. the finish card says to stop sharing -------------------------------------------------------------


async def test_the_finish_card_says_to_stop_sharing_while_the_live_location_runs(bot: Harness) -> None:
    ids = await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await chief(bot, zhao, "赵六", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, zhao, t0)
    await _walk(zhao, t0, 12)
    await zhao.send("✅ 结束巡河", date=t0 + 13 * 60)
    card = await zhao.next_message()
    assert "请停止共享实时位置" in card.text
    await zhao.next_message()
    # A patrol without a live location running: nothing to stop.
    await start_patrol(bot, zhao, t0 + 20 * 60)
    await zhao.send("✅ 结束巡河", date=t0 + 25 * 60)
    assert "停止共享" not in (await zhao.next_message()).text


# -- 6. the live figures of a running patrol ---------------------------------------------------------------


async def test_mypatrols_shows_a_running_patrols_minutes_and_metres(bot: Harness) -> None:
    ids = await seed(bot.store)
    qian = bot.sandbox.user(first_name="钱", language_code="zh-hans")
    await chief(bot, qian, "钱八", [ids["DBH-01"]])
    t0 = int(time.time()) - 20 * 60
    await start_patrol(bot, qian, t0)
    await _walk(qian, t0, 14)
    await qian.send("/mypatrols")
    mine = await qian.next_message()
    line = next(row for row in mine.text.splitlines() if row.startswith("🚶"))
    assert "· 20 分钟 ·" in line and "394 米" in line, line


# -- 5. voice, audio and video kept as evidence ---------------------------------------------------------------


async def test_voice_audio_and_video_during_a_patrol_are_kept_as_evidence(bot: Harness) -> None:
    ids = await seed(bot.store)
    sun = bot.sandbox.user(first_name="孙", language_code="zh-hans")
    person_id = await chief(bot, sun, "孙七", [ids["DBH-01"]])
    # Outside a patrol: today's answer.
    await sun.send_media("voice")
    assert "当前没有需要这条内容的操作" in (await sun.next_message()).text
    t0 = int(time.time()) - 3600
    await start_patrol(bot, sun, t0)
    answers = []
    for minute, kind in enumerate(("voice", "audio", "video", "video_note"), start=1):
        await sun.send_media(kind, date=t0 + minute * 60)
        answers.append((await sun.next_message()).text)
    assert all("当前没有需要" not in a for a in answers), answers
    assert "语音" in answers[0] and "视频" in answers[2] and "本次巡河" in answers[0]
    patrol = await bot.store.patrols.open_for(person_id)
    assert patrol is not None
    media = await bot.store.patrols.media(patrol.id)
    assert [m.kind for m in media] == ["voice", "audio", "video", "video_note"]
    assert all(m.file_id for m in media)
    await sun.send("✅ 结束巡河", date=t0 + 11 * 60)
    card = await sun.next_message()
    assert "语音/视频：4 条" in card.text
    assert bot.errors() == []


# -- 7. the report's photo step takes a note, and Finish works -------------------------------------------


async def test_at_the_photo_step_a_note_moves_on_and_finish_ends_the_patrol(bot: Harness) -> None:
    ids = await seed(bot.store)
    zhou = bot.sandbox.user(first_name="周", language_code="zh-hans")
    person_id = await chief(bot, zhou, "周九", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, zhou, t0)
    await _walk(zhou, t0, 12)
    await zhou.send("⚠️ 发现问题", date=t0 + 13 * 60)
    assert "请发送问题现场照片" in (await zhou.next_message()).text
    await zhou.send_photo(make_jpeg(1200, 900, seed=21), date=t0 + 14 * 60)
    assert "已收到第 1 张照片" in (await zhou.next_message()).text
    await zhou.send("⚠️ 发现问题", date=t0 + 14 * 60)  # the keyboard's button again: no description
    again = (await zhou.next_message()).text
    assert "请先发送问题照片" not in again and "已收到 1 张照片" in again and "下一步" in again, again
    await zhou.send("岸边堆了一车建筑垃圾", date=t0 + 15 * 60)
    moved = await zhou.next_message()
    assert "请先发送问题照片" not in moved.text
    assert "已收录 1 张照片" in moved.text, moved.text
    categories = await zhou.next_message()
    assert "丁堡河（城东段）：请选择问题类别" in categories.text  # the track's point, on the patrol's reach
    state = await bot.services.reports.current(zhou.id)
    assert state is not None and state.draft.description == "岸边堆了一车建筑垃圾"

    # Finish in the middle of a report: the patrol ends, and the draft is kept (and said to be).
    await zhou.send("✅ 结束巡河", date=t0 + 16 * 60)
    seen = [await zhou.next_message() for _ in range(3)]
    texts = "\n".join(m.text for m in seen)
    assert "巡河记录：丁堡河（城东段）" in texts and "请先发送问题照片" not in texts
    assert "问题上报还未提交" in texts, texts
    assert await bot.store.patrols.open_for(person_id) is None
    assert await bot.services.reports.current(zhou.id) is not None
    # The kept draft goes on; the description typed with the photo is not asked again.
    confirm = await tap(bot, zhou, categories, text="乱堆")
    assert "说明：岸边堆了一车建筑垃圾" in confirm.text and f"位置：{LAT:.5f}" in confirm.text
    filed = await tap(bot, zhou, confirm, text="📤 提交")
    assert "问题已提交" in filed.text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.location_source == "shared"
    assert bot.errors() == []


# -- 4. a problem on a patrol takes the track's point, and its photos count --------------------------------


async def test_a_problem_on_a_patrol_takes_the_tracks_point_and_its_photos_count(bot: Harness) -> None:
    ids = await seed(bot.store)
    wu = bot.sandbox.user(first_name="吴", language_code="zh-hans")
    person_id = await chief(bot, wu, "吴九", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, wu, t0)
    await _walk(wu, t0, 12)
    await wu.send("⚠️ 发现问题", date=t0 + 13 * 60)
    await wu.next_message()
    await wu.send_photo(make_jpeg(1200, 900, seed=31), date=t0 + 14 * 60)
    added = await wu.next_message()
    photos_done = await tap(bot, wu, added, text="➡️ 照片已发完，下一步")
    assert "已收录 1 张照片" in photos_done.text
    category = await wu.next_message()
    # No location asked: the track's latest point, 12 steps along the river, is where the problem is; it lies on
    # the patrol's own reach, so that is the problem's reach too, and the category comes next.
    assert "丁堡河（城东段）：请选择问题类别" in category.text, category.text
    state = await bot.services.reports.current(wu.id)
    assert state is not None and state.draft.location_source == "patrol"
    assert state.draft.reach_id == ids["DBH-01"]
    assert state.draft.lat == LAT and abs((state.draft.lon or 0) - (WEST + 12 * STEP)) < 1e-9
    patrol = await bot.store.patrols.open_for(person_id)
    assert patrol is not None and len(await bot.store.patrols.photos(patrol.id)) == 1
    await wu.send("/cancel")
    await wu.next_message()
    await wu.send("✅ 结束巡河", date=t0 + 15 * 60)
    card = await wu.next_message()
    assert "照片：1 张" in card.text


async def test_a_problem_off_the_patrols_reach_asks_which_reach(bot: Harness) -> None:
    """The track's point is the location either way; only a point on the patrol's own reach decides the reach."""
    ids = await seed(bot.store)
    wu = bot.sandbox.user(first_name="吴", language_code="zh-hans")
    await chief(bot, wu, "吴九", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, wu, t0)
    live = await wu.send_location(LAT, WEST, live_period=3600, date=t0 + 30)
    await wu.next_message()
    # The chief walked 2 km north, away from the reach (PATROL_MAX_DISTANCE_FROM_REACH_M is less than that).
    await wu.edit_live_location(live, LAT + 0.018, WEST, edit_date=t0 + 10 * 60)
    await wu.send("⚠️ 发现问题", date=t0 + 11 * 60)
    await wu.next_message()
    await wu.send_photo(make_jpeg(1200, 900, seed=32), date=t0 + 12 * 60)
    added = await wu.next_message()
    await tap(bot, wu, added, text="➡️ 照片已发完，下一步")
    reach = await wu.next_message()
    assert "问题所在河段：最近的是" in reach.text, reach.text
    state = await bot.services.reports.current(wu.id)
    assert state is not None and state.draft.location_source == "patrol" and state.draft.reach_id is None
    assert state.draft.lat is not None and abs(state.draft.lat - (LAT + 0.018)) < 1e-9
    assert bot.errors() == []
