"""Hostile pictures and times through the stand-in (issue 13): an impossible EXIF date, a one-colour PNG that
decodes to gigabytes, a live location dated in the future. None of them may break anyone's work, and the jobs
that loop over everyone's records skip one bad record, log it and go on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import ImageFile

import sandbox.driver
from bot.albums import ALBUM_SECONDS
from handlers.patrol import end_idle_patrols
from handlers.problems import chase_deadlines
from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.factories import make_flat_png, make_jpeg
from tests.support import (
    LAT,
    STEP,
    WEST,
    chief,
    report,
    run_job,
    seed,
    start_patrol,
    started_admin,
    tap,
    volunteer,
)

IMPOSSIBLE = [("0001:01:01 00:00:00", "+08:00"), ("9999:12:31 23:59:59", "-12:00")]
# What an old bot kept before arrival checked the time: the store holds it as ISO text.
POISON = "0001-01-01T00:00:00+08:00"


async def started(user: FakeUser) -> None:
    await user.send("/start")
    await user.next_message()
    await user.next_message()


async def until(user: FakeUser, text: str, limit: int = 6) -> SentMessage:
    """The next message containing `text`, passing over photos and venues sent before it."""
    seen = []
    for _ in range(limit):
        message = await user.next_message()
        if text in message.text:
            return message
        seen.append(message.text or message.kind)
    raise AssertionError(f"no message with {text!r} among {seen}")


# -- finding 2: impossible EXIF dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "offset"), IMPOSSIBLE)
async def test_a_photo_with_an_impossible_exif_date_leaves_the_patrol_finishable(
    bot: Harness, raw: str, offset: str
) -> None:
    ids = await seed(bot.store)
    zheng = bot.sandbox.user(first_name="郑", language_code="zh-hans")
    person_id = await chief(bot, zheng, "郑十", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, zheng, t0)
    forged = make_jpeg(800, 600, seed=7, exif_time=raw, exif_offset=offset)
    await zheng.send_document(forged, file_name="IMG_0001.jpg")
    assert "已记录照片" in (await zheng.next_message()).text
    # Kept without a capture time: nothing trustworthy to keep.
    assert await bot.store.fetchval("SELECT taken_at FROM photos") is None
    await zheng.send("/patrol")
    assert "您有一次巡河尚未结束" in (await zheng.next_message()).text
    await zheng.send("✅ 结束巡河")
    card = await until(zheng, "巡河记录")
    assert "照片：1 张" in card.text
    patrol = (await bot.store.patrols.recent_for_person(person_id))[0]
    assert patrol.ended_at is not None
    assert bot.errors() == []


async def test_a_report_with_an_impossible_exif_date_reaches_its_assignee(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await xiao.send("/report")
    await xiao.next_message()
    forged = make_jpeg(1600, 1200, seed=9, exif_time="0001:01:01 00:00:00", exif_offset="+08:00")
    await xiao.send_document(forged, file_name="IMG_0009.jpg")
    added = await xiao.next_message()
    await tap(bot, xiao, added, text="➡️ 照片已发完，下一步")
    await xiao.next_message()  # share your location (keyboard)
    await xiao.send_location(LAT + 0.0005, WEST + 0.003)
    await xiao.next_message()
    reaches = await xiao.next_message()
    category = await tap(bot, xiao, reaches, data=reaches.buttons[0][0][1])
    described = await tap(bot, xiao, category, text="乱堆")
    confirm = await tap(bot, xiao, described, text="跳过")
    assert "编号 #1" in (await tap(bot, xiao, confirm, text="📤 提交")).text
    # The assignee is told, with the stamped photo; /problem opens it.
    assert "新问题交办" in (await until(wang, "新问题交办")).text
    await wang.send("/problem 1")
    assert "问题 #1" in (await until(wang, "问题 #1 · 乱堆")).text
    assert bot.errors() == []


async def test_an_impossible_capture_time_in_the_store_does_not_stop_the_auto_finish_job(bot: Harness) -> None:
    ids = await seed(bot.store)
    people: list[tuple[FakeUser, int]] = []
    for first, name in (("甲", "甲一"), ("乙", "乙二")):
        user = bot.sandbox.user(first_name=first, language_code="zh-hans")
        people.append((user, await chief(bot, user, name, [ids["DBH-01"]])))
    t0 = int(time.time()) - 2 * 3600  # started two hours ago, never a live location: both idle now
    for user, _ in people:
        await start_patrol(bot, user, t0)
    poisoned = people[0][0]
    await poisoned.send_document(make_jpeg(800, 600, seed=3), file_name="IMG_3.jpg", date=t0 + 60)
    assert "已记录照片" in (await poisoned.next_message()).text
    # Poisoned in the store directly (as a bot before the arrival check kept it), on the first patrol of the list.
    await bot.store.execute("UPDATE photos SET taken_at = ?", (POISON,))

    await run_job(bot, end_idle_patrols)
    for user, person_id in people:
        assert "本次巡河已自动结束" in (await user.next_message()).text
        patrol = (await bot.store.patrols.recent_for_person(person_id))[0]
        assert patrol.end_reason == "idle"
    assert bot.errors() == []


async def test_the_auto_finish_job_skips_one_bad_patrol_and_ends_the_others(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await seed(bot.store)
    people: list[tuple[FakeUser, int]] = []
    for first, name in (("甲", "甲一"), ("乙", "乙二"), ("丙", "丙三")):
        user = bot.sandbox.user(first_name=first, language_code="zh-hans")
        people.append((user, await chief(bot, user, name, [ids["DBH-01"]])))
    t0 = int(time.time()) - 2 * 3600
    for user, _ in people:
        await start_patrol(bot, user, t0)
    bad = (await bot.store.patrols.recent_for_person(people[1][1]))[0].id
    service = bot.services.patrols
    judge = service.judge

    async def broken(patrol, ended_at):  # type: ignore[no-untyped-def]
        """Whatever one record holds that nothing foresaw."""
        if patrol.id == bad:
            raise RuntimeError("a record nobody foresaw")
        return await judge(patrol, ended_at)

    monkeypatch.setattr(service, "judge", broken)
    await run_job(bot, end_idle_patrols)
    for index in (0, 2):
        user, person_id = people[index]
        assert "本次巡河已自动结束" in (await user.next_message()).text
        assert (await bot.store.patrols.recent_for_person(person_id))[0].end_reason == "idle"
    await people[1][0].expect_silence()
    assert (await bot.store.patrols.recent_for_person(people[1][1]))[0].ended_at is None  # tried again next minute
    skipped = [r for r in bot.errors() if f"patrol {bad}" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].exc_info is not None
    caplog.clear()  # the error was provoked


async def overdue_problems(bot: Harness) -> tuple[FakeUser, FakeUser]:
    """Two problems reported on 丁堡河, both five days overdue: the admins hear of each in full."""
    ids = await seed(bot.store)
    admin = await started_admin(bot, "en")
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    for number, category in enumerate(("乱堆", "漂浮垃圾"), start=1):
        assert f"编号 #{number}" in (await report(bot, xiao, category=category, photo_seed=number)).text
        await until(wang, "新问题交办")
    late = (datetime.now(bot.settings.tz).date() - timedelta(days=5)).isoformat()
    await bot.store.execute("UPDATE problems SET deadline = ?", (late,))
    return admin, wang


async def test_an_impossible_capture_time_in_the_store_does_not_stop_the_deadline_job(bot: Harness) -> None:
    admin, wang = await overdue_problems(bot)
    # Problem #1's photo, poisoned in the store directly: its stamped copy used to raise OverflowError.
    await bot.store.execute(
        "UPDATE photos SET taken_at = ? WHERE id = (SELECT photo_id FROM problem_photos WHERE problem_id = 1)",
        (POISON,),
    )
    await run_job(bot, chase_deadlines)
    assert "Problem #1" in (await until(admin, "overdue")).text
    assert "Problem #2" in (await until(admin, "overdue")).text
    assert "问题 #1" in (await until(wang, "提醒函")).text
    assert "问题 #2" in (await until(wang, "提醒函")).text
    # And /problem shows it to the reporter's office.
    await admin.send("/problem 1")
    assert "#1" in (await until(admin, "Assignee")).text
    assert bot.errors() == []


async def test_the_deadline_job_skips_one_bad_problem_and_chases_the_others(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    admin, wang = await overdue_problems(bot)
    problems = bot.services.problems
    escalate = problems.escalate

    async def broken(problem, days):  # type: ignore[no-untyped-def]
        """Whatever one record holds that nothing foresaw."""
        if problem.id == 1:
            raise RuntimeError("a record nobody foresaw")
        return await escalate(problem, days)

    monkeypatch.setattr(problems, "escalate", broken)
    await run_job(bot, chase_deadlines)
    assert "问题 #1" in (await until(wang, "提醒函")).text  # #1's own letter went out before its escalation failed
    assert "问题 #2" in (await until(wang, "提醒函")).text
    # #1's escalation was recorded as sent before its event failed: it goes out too, never lost.
    assert "Problem #1" in (await until(admin, "overdue")).text
    assert "Problem #2" in (await until(admin, "overdue")).text
    assert [e.action for e in await bot.store.problems.events(1)][-1] == "assign"
    assert [e.action for e in await bot.store.problems.events(2)][-1] == "escalate"
    skipped = [r for r in bot.errors() if "problem 1" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].exc_info is not None
    caplog.clear()


# -- finding 3: a PNG that decodes to gigabytes --------------------------------------------------------------------


async def test_a_huge_one_colour_png_sent_as_a_file_is_refused_clearly_and_nothing_is_kept(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recording(self: ImageFile.ImageFile) -> Any:
        if self.tile:
            decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording)
    # The stand-in would decode it whole for the file's thumbnail, as Telegram's servers may: not this process's
    # memory to spend in a test, and not the bot's decode that is measured.
    monkeypatch.setattr(sandbox.driver, "make_thumbnail", lambda data: None)
    ids = await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await chief(bot, zhao, "赵六", [ids["DBH-01"]])
    await start_patrol(bot, zhao, int(time.time()) - 600)
    await bot.sandbox.wait_consumed()
    decoded.clear()  # the live-location guide picture the stand-in took in: not the file under test
    await zhao.send_document(make_flat_png(9400, 9400), file_name="river.png", mime_type="image/png")
    answer = (await zhao.next_message()).text
    assert answer == "PNG 格式的图片不能超过 12 百万像素，这张无法处理。请直接以照片方式发送，或转为 JPEG 后重发。"
    assert await bot.store.fetchval("SELECT count(*) FROM photos") == 0
    assert await bot.store.fetchval("SELECT count(*) FROM patrol_photos") == 0
    assert not [path for path in (bot.settings.data_dir / "photos").rglob("*") if path.is_file()]
    # Refused from its header: not one of its 88 million pixels was decoded.
    assert decoded == []
    # In English, a report's photo the same way.
    en = bot.sandbox.user(first_name="Zhou", language_code="en")
    await volunteer(bot, en, "Zhou")
    await en.send("/report")
    await en.next_message()
    await en.send_document(make_flat_png(9400, 9400), file_name="river.png", mime_type="image/png")
    assert (await en.next_message()).text == (
        "PNG images can be at most 12 megapixels; this one cannot be processed."
        " Please send it as a photo, or as a JPEG."
    )
    assert await bot.store.fetchval("SELECT count(*) FROM photos") == 0
    assert decoded == []
    assert bot.errors() == []


# -- finding 16: Telegram times from the future, and albums without end ----------------------------------------------


async def test_a_live_edit_dated_in_the_future_does_not_switch_off_the_idle_auto_finish(bot: Harness) -> None:
    ids = await seed(bot.store)
    li = bot.sandbox.user(first_name="李", language_code="zh-hans")
    person_id = await chief(bot, li, "李四", [ids["DBH-01"]])
    t0 = int(time.time()) - 2 * 3600
    await start_patrol(bot, li, t0)
    live = await li.send_location(LAT, WEST, live_period=0x7FFFFFFF, date=t0 + 60)  # shared until stopped
    await li.next_message()
    for minute in range(1, 31):
        await li.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 60 + minute * 60)
    # One edit claims to come from next year (a broken or forged client): it arrives now, and counts as now.
    arrived = datetime.now(UTC)
    await li.edit_live_location(live, LAT, WEST + 31 * STEP, edit_date=int(time.time()) + 365 * 24 * 3600)
    await li.edit_live_location(live, LAT, WEST + 31 * STEP, stop=True)
    assert "实时位置已停止共享" in (await li.next_message()).text
    patrol = (await bot.store.patrols.recent_for_person(person_id))[0]
    assert patrol.last_activity_at <= datetime.now(UTC)
    # Quiet for PATROL_IDLE_MINUTES after that: the auto-finish ends it, at its last sign of life.
    later = datetime.now(UTC) + timedelta(minutes=bot.settings.patrol_idle_minutes, seconds=5)
    ended = await bot.services.patrols.end_due(later)
    assert [e.summary.patrol.id for e in ended] == [patrol.id]
    finished = (await bot.store.patrols.recent_for_person(person_id))[0]
    assert finished.end_reason == "idle" and finished.ended_at is not None
    assert arrived - timedelta(seconds=5) <= finished.ended_at <= datetime.now(UTC)
    assert bot.errors() == []


async def test_albums_remembered_per_chat_are_bounded(bot: Harness) -> None:
    """Each album is answered once; what was answered is a mark that the minute's heartbeat forgets once expired."""
    ids = await seed(bot.store)
    sun = bot.sandbox.user(first_name="孙", language_code="zh-hans")
    await chief(bot, sun, "孙七", [ids["DBH-01"]])
    await start_patrol(bot, sun, int(time.time()) - 600)
    for seed_ in range(5):
        await sun.send_album([make_jpeg(64, 48, seed=100 + 2 * seed_), make_jpeg(64, 48, seed=101 + 2 * seed_)])
        assert "已记录照片" in (await sun.next_message()).text  # each album answered once
    await bot.sandbox.wait_consumed()
    assert sum("已记录照片" in (m.text or "") for m in sun.messages()) == 5  # not one per photo
    albums = "SELECT COUNT(*) FROM marks WHERE key LIKE 'album:%'"
    assert await bot.store.fetchval(albums) == 5
    await bot.services.inbox.beat(datetime.now(UTC) + timedelta(seconds=ALBUM_SECONDS + 1))
    assert await bot.store.fetchval(albums) == 0
    assert bot.errors() == []
