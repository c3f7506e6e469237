"""Hostile pictures and times through the stand-in (issue 13): an impossible EXIF date, a one-colour PNG that
decodes to gigabytes, a live location dated in the future. None of them may break anyone's work, and the jobs
that loop over everyone's records skip one bad record, log it and go on."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from handlers.patrol import end_idle_patrols
from handlers.problems import chase_deadlines
from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import chief, report, run_job, seed, start_patrol, started_admin, volunteer

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
