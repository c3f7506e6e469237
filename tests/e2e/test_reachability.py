"""No problem without someone able to act, through the stand-in: a problem for a chief who has not joined or
blocked the bot waits visibly, the office hears at once, the reporter is not told it is being handled, and
the chief who joins is handed it; jobs count whom they could not reach and tell the office once."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from openpyxl import load_workbook

from bot.summaries import summary_text
from handlers.patrol import remind_chiefs
from handlers.problems import chase_deadlines
from sandbox import FakeUser, SentMessage
from storage.problems import NewProblem
from storage.registry import ReachValues
from tests.conftest import BotFactory, Harness
from tests.support import (
    chief,
    make_chief_invite,
    report,
    run_job,
    run_weekly,
    seed,
    started_admin,
    tap,
    volunteer,
)


async def _seed_with_jhh(bot: Harness) -> dict[str, int]:
    """`seed` and the Jianghai river, the second reach `make_chief_invite` gives its chief."""
    ids = await seed(bot.store)
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    ids["JHH-01"], _ = await bot.store.reaches.upsert(
        ReachValues("JHH-01", "江海河（城东段）", "Jianghai River (east)", area.id, "town", 3.5, (), None, None)
    )
    return ids


async def _card(user: FakeUser, marker: str) -> SentMessage:
    """The card of a problem sent with its photo and map location: the message after them that says `marker`."""
    for _ in range(4):
        message = await user.next_message()
        if marker in message.text:
            return message
    raise AssertionError(f"no message with {marker!r}")


async def _problems_list(bot: Harness, admin: FakeUser) -> list[str]:
    await admin.send("/problems")
    listing = await admin.next_message()
    return listing.button_texts


async def test_a_report_for_a_chief_who_has_not_joined_waits_until_he_joins_by_invite(bot: Harness) -> None:
    await _seed_with_jhh(bot)
    admin = await started_admin(bot)
    code = await make_chief_invite(bot, admin)  # 王五, town chief of 丁堡河 and 江海河, registered, not joined
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")

    # The reporter is thanked, and told the office is arranging who handles it: nobody has it yet.
    filed = await report(bot, xiao)
    assert "问题已提交，编号 #1" in filed.text and "河长办正在安排责任人办理" in filed.text
    assert "转交责任河长" not in filed.text

    # The office hears at once: the problem with its photo and place, its reach, and why nobody has it.
    card = await _card(admin, "新问题无人接收")
    assert "#1 乱堆" in card.text and "丁堡河（城东段）" in card.text
    assert "责任河长王五（尚未加入）" in card.text
    assert "待河长加入" in card.text  # the card's status, not 整改中
    assert "👤 指派/改派" in card.button_texts
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "assigned" and problem.deadline is not None
    deadline = problem.deadline.isoformat()

    # /problems and the export show it waiting for the chief, not as being rectified.
    listed = await _problems_list(bot, admin)
    assert listed[0] == "#1 待河长加入 · 乱堆 · 丁堡河（城东段）"
    await admin.send("/export")
    formats = await admin.next_message()
    ranges = await tap(bot, admin, formats, text="Excel（xlsx）")
    await tap(bot, admin, ranges, text="今年")
    document = await admin.next_message(timeout=15)
    assert document.document is not None
    sheet = load_workbook(io.BytesIO(document.document))["问题"]
    header = [c.value for c in sheet[1]]
    row = dict(zip(header, (c.value for c in sheet[2]), strict=True))
    assert row["状态"] == "待河长加入" and row["责任人"] == "王五"
    await bot.sandbox.wait_consumed()

    # 王五 joins through his invite, and is handed the problem with its deadline.
    wang = bot.sandbox.user(first_name="Wang", language_code="zh-hans")
    await wang.send(f"/start {code}")
    invite = await wang.next_message()
    welcome = await tap(bot, wang, invite, text="✅ 是我，王五")
    assert "您已以河长身份加入" in welcome.text
    await wang.next_message()  # the menu
    handed = await wang.next_message()
    assert "您有 1 个待整改问题" in handed.text and "是在您加入前交办的" in handed.text
    assert f"#1 乱堆 · 丁堡河（城东段） · 期限 {deadline}" in handed.text
    assert handed.button_texts == ["查看 #1"]
    await tap(bot, wang, handed, text="查看 #1")
    card = await _card(wang, "问题 #1")
    assert "✅ 整改完成" in card.button_texts and "整改中" in card.text

    # The office hears he joined; the reporter now hears someone has it.
    assert "王五 已通过您的邀请加入" in (await admin.next_message()).text
    assert "已交由责任人整改" in (await xiao.next_message()).text
    assert (await _problems_list(bot, admin))[0] == "#1 整改中 · 乱堆 · 丁堡河（城东段）"
    events = [e.action for e in await bot.store.problems.events(1)]
    assert events == ["report", "assign", "handover"]
    assert bot.errors() == []


async def test_a_chief_who_blocked_the_bot_is_marked_once_and_reachable_when_he_writes_again(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await wang.send("/start")
    await wang.next_message()
    await wang.next_message()
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await volunteer(bot, amy, "Amy Wu")
    # Telegram answers 403 for his chat from now on (he blocked the bot while it was down: no update came).
    wang.record.blocked = True

    filed = await report(bot, amy, zh=False, category="illegal dumping")
    assert "Problem reported as #1" in filed.text and "arranging who will handle it" in filed.text
    assert "You will hear how it goes" not in filed.text
    record = await bot.store.people.by_id(wang_id)
    assert record is not None and record.blocked_at is not None and record.blocked_reason == "blocked"

    # The office hears once that he cannot be reached, with what waits for him, and gets the problem itself.
    told = await admin.next_message()
    assert "消息无法送达" in told.text and "王五（已屏蔽机器人）" in told.text and "1 个待整改问题" in told.text
    assert "#1 乱堆 · 丁堡河（城东段）" in told.text and told.button_texts == ["查看 #1"]
    card = await _card(admin, "新问题无人接收")
    assert "#1" in card.text and "王五（已屏蔽机器人）" in card.text and "河长无法联系" in card.text

    # A second problem: not sent to him again (he is marked), the office gets it, and no second notice about him.
    amy_second = await report(bot, amy, zh=False, category="illegal building", photo_seed=2, lon=120.42)
    assert "arranging who will handle it" in amy_second.text
    card = await _card(admin, "新问题无人接收")
    assert "#2" in card.text
    await admin.expect_silence()
    assert set((await _problems_list(bot, admin))[:2]) == {
        "#1 河长无法联系 · 乱堆 · 丁堡河（城东段）",
        "#2 河长无法联系 · 乱建 · 丁堡河（城东段）",
    }

    # He writes again: reachable from then on, and the next problem goes to him.
    wang.record.blocked = False
    await wang.send("/help")
    await wang.next_message()
    record = await bot.store.people.by_id(wang_id)
    assert record is not None and record.blocked_at is None and record.blocked_reason is None
    assert all("整改中" in line for line in (await _problems_list(bot, admin))[:2])
    third = await report(bot, amy, zh=False, category="illegal extraction", photo_seed=3, lon=120.425)
    assert "Problem reported as #3" in third.text and "arranging" not in third.text
    assert "#3" in (await _card(wang, "新问题交办")).text
    assert bot.errors() == []


async def test_jobs_count_whom_they_cannot_reach_and_tell_the_office_once(bot_factory: BotFactory) -> None:
    # Thirty days ahead covers any period's end, whatever day the test runs; the summary is due at once.
    bot = await bot_factory(patrol_reminder_days=30, summary_time="mon 00:00")
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    month_ago = datetime.now(bot.settings.tz).date() - timedelta(days=30)
    # 王五 is registered, not joined; 赵六 joined and blocked the bot; 钱七 can be reached.
    wang = await bot.store.people.create(name="王五", home_area_id=area.id)
    await bot.store.people.grant_role(wang, "chief", level="village")
    await bot.store.assignments.assign(wang, ids["LGH-01"], level="village", starts_on=month_ago)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await chief(bot, zhao, "赵六", [ids["LGH-01"]], level="village")
    await zhao.send("/start")
    await zhao.next_message()
    await zhao.next_message()
    await zhao.block_bot()
    await bot.sandbox.wait_consumed()
    qian = bot.sandbox.user(first_name="钱", language_code="zh-hans")
    await chief(bot, qian, "钱七", [ids["DBH-01"]], level="village")
    await qian.send("/start")
    await qian.next_message()
    await qian.next_message()

    await run_job(bot, remind_chiefs)
    assert "本期巡河次数还不够" in (await qian.next_message()).text
    told = await admin.next_message()
    assert "巡河提醒有 2 人无法送达" in told.text and "以下 2 人为新发现" in told.text
    assert "王五（尚未加入）" in told.text and "赵六（已屏蔽机器人）" in told.text
    await run_job(bot, remind_chiefs)  # the next run: the same people, nothing new to tell
    await admin.expect_silence()

    # A problem due today for 王五: the reminder cannot reach him, and the office already knows.
    today = datetime.now(bot.settings.tz).date()
    await _assigned_problem(bot, ids["LGH-01"], wang, today)
    await run_job(bot, chase_deadlines)
    await admin.expect_silence()

    # The weekly digests miss the same two and a newcomer the office has not heard of: told of him alone, once.
    sun = await bot.store.people.create(name="孙八", home_area_id=area.id)
    await bot.store.people.grant_role(sun, "chief", level="village")
    await bot.store.assignments.assign(sun, ids["DBH-01"], level="village", starts_on=month_ago)
    await run_weekly(bot)
    told = await admin.next_message()
    assert "每周工作简报有 3 人无法送达" in told.text and "以下 1 人为新发现" in told.text
    assert "孙八（尚未加入）" in told.text and "王五" not in told.text
    await run_weekly(bot)
    await admin.expect_silence()

    # The area's summary (the group's) names the waiting problem as waiting.
    week = bot.services.delivery.due_week()
    assert week is not None
    summary = await bot.services.summaries.area_summary(area, week)
    assert summary.waiting == 1 and "另有 1 个问题的责任河长尚未加入或无法联系" in summary_text(
        summary, bot.services.locales, "zh"
    )
    assert bot.errors() == []


async def _assigned_problem(bot: Harness, reach_id: int, assignee: int, deadline: date) -> int:
    """A problem on the reach assigned to `assignee`, due `deadline`, written straight into the store."""
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    new = NewProblem(assignee, None, reach_id, area.id, "garbage", None, 32.5, 120.41, "shared")
    number = await bot.store.problems.insert(new, reported_at=datetime.now(bot.settings.tz))
    assert await bot.store.problems.transition(
        number, expect=("reported",), status="assigned", assignee_id=assignee, deadline=deadline
    )
    return number
