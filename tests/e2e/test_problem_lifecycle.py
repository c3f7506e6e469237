"""The closed loop past the happy path, through the stand-in in both languages: send back, dismiss, reopen,
reassign, the deadline job, the lists, patrol-linked reports, who may see what, and a restart mid-report.

Each test checks what people see and what the store holds: statuses and the event log in order."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from bot.app import stop as stop_app
from handlers.problems import chase_deadlines
from sandbox import FakeUser, SentMessage
from storage.registry import ReachValues
from storage.store import to_db_time
from tests.conftest import ADMIN_ID, Harness
from tests.factories import make_jpeg
from tests.support import (
    LAT,
    WEST,
    chief,
    close_problem,
    is_problem_map,
    report,
    restart,
    run_job,
    seed,
    start_patrol,
    started_admin,
    tap,
    volunteer,
)


async def started(user: FakeUser) -> None:
    """A person the office registered presses Start: the welcome and the menu."""
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


async def notice(user: FakeUser, text: str, *, again: bool = False) -> SentMessage:
    """A full problem notice: the map (a new problem's), the photos (one message, or one album), the map
    location, then the card.

    `again`: the person has the photos already (sent before, or their own report's): the location and the card
    reply to them instead."""
    first = await user.next_message()
    if is_problem_map(first):
        first = await user.next_message()
    if again:
        venue = first
    else:
        assert first.photo is not None, first.describe()
        venue = await user.next_message()
    if again:
        replied = venue.raw.get("reply_to_message") or {}
        assert replied.get("photo"), venue.describe()
    assert venue.raw.get("venue") is not None or venue.location is not None, venue.describe()
    card = await user.next_message()
    assert text in card.text, card.text
    return card


async def rectify(bot: Harness, user: FakeUser, card: SentMessage, *, zh: bool, note: str, seed: int) -> None:
    """The assignee's "Rectified": a note, an after-photo, submit."""
    await tap(bot, user, card, text="✅ 整改完成" if zh else "✅ Rectified")
    ask = await user.next_message()
    assert ("请发送整改后的照片" if zh else "send photos after the rectification") in ask.text
    await user.send(note)
    await user.next_message()
    await user.send_photo(make_jpeg(1200, 900, seed=seed))
    added = await user.next_message()
    done = await tap(bot, user, added, text="📤 提交整改" if zh else "📤 Submit rectification")
    assert ("等待核查" if zh else "submitted for verification") in done.text


async def person_id(bot: Harness, user: FakeUser) -> int:
    record = await bot.store.people.by_telegram_id(user.id)
    assert record is not None
    return record.id


async def actions(bot: Harness, number: int) -> list[tuple[str, int | None, str | None]]:
    return [(e.action, e.actor_id, e.note) for e in await bot.store.problems.events(number)]


async def alert(bot: Harness, user: FakeUser, message: SentMessage, text: str) -> str:
    """Press a button expecting a refusal: returns the alert's text."""
    answer = await bot.sandbox.answer(await user.press(message, text=text))
    assert answer["show_alert"], answer
    return str(answer["text"])


def today(bot: Harness) -> datetime:
    return datetime.now(bot.settings.tz)


async def run_deadline_job(bot: Harness) -> None:
    """Run the daily deadline job now, through the job queue, and wait until it is done (sends included)."""
    await run_job(bot, chase_deadlines)


# -- 1. send back with a reason, then rectified again and closed -------------------------------------------


async def test_sent_back_with_a_reason_then_rectified_again_and_closed(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    xiao_id = await volunteer(bot, xiao, "李小义")
    admin_id = await person_id(bot, admin)

    await report(bot, xiao)
    card = await notice(wang, "新问题交办")
    await rectify(bot, wang, card, zh=True, note="已清运", seed=2)
    assert "已整改完成，待核查" in (await xiao.next_message()).text
    verify = await notice(admin, "已整改，请核查")
    assert "↩️ 退回重改" in verify.button_texts and "✅ 核查通过，销号" in verify.button_texts

    await tap(bot, admin, verify, text="↩️ 退回重改")
    assert "请输入退回原因" in (await admin.next_message()).text
    reason = "岸坡上仍有建筑垃圾未清运"
    await admin.send(reason)
    assert "已退回问题 #1，责任人将重新整改" in (await admin.next_message()).text
    told = await xiao.next_message()
    assert "整改未通过核查，已退回重改" in told.text and reason in told.text
    again = await notice(wang, f"整改被退回：{reason}", again=True)
    assert "请重新整改" in again.text and "✅ 整改完成" in again.button_texts
    assert "问题 #1 · 乱堆 · 整改中" in again.text

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "assigned" and problem.assignee_id == wang_id
    assert await actions(bot, 1) == [
        ("report", xiao_id, None),
        ("assign", None, None),
        ("rectify", wang_id, "已清运"),
        ("reject", admin_id, reason),
    ]
    reject = (await bot.store.problems.events(1))[-1]
    assert (reject.from_status, reject.to_status) == ("rectified", "assigned")

    # The assignee rectifies again from the returned notice; this time it is closed.
    await rectify(bot, wang, again, zh=True, note="建筑垃圾已全部清运，岸坡已平整", seed=3)
    assert "已整改完成，待核查" in (await xiao.next_message()).text
    verify = await notice(admin, "已整改，请核查")
    closed = await close_problem(bot, admin, verify)
    assert "问题 #1 已销号" in closed.text
    assert "已整改到位并销号" in (await xiao.next_message()).text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "closed" and problem.closed_at is not None
    assert [a for a, _, _ in await actions(bot, 1)] == ["report", "assign", "rectify", "reject", "rectify", "close"]
    assert [p.kind for p in await bot.store.problems.photos(1)] == ["before", "after", "after"]
    # The send-back shows in the timeline with its reason.
    await wang.send("/problem 1")
    timeline = await until(wang, "办理过程")
    assert f"河长办 管理员：退回重改（{reason}）" in timeline.text
    assert bot.errors() == []


# -- 2. dismissed with a reason (English) ------------------------------------------------------------------


async def test_an_admin_dismisses_with_a_reason_in_english(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot, "en")
    zhou = bot.sandbox.user(first_name="Zhou", language_code="en")
    await chief(bot, zhou, "Zhou Qiang", [ids["DBH-01"]], level="village")
    await started(zhou)
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    amy_id = await volunteer(bot, amy, "Amy Wu")
    admin_id = await person_id(bot, admin)

    filed = await report(bot, amy, zh=False, category="illegal dumping")
    assert "Problem reported as #1" in filed.text
    old_card = await notice(zhou, "New problem for you")

    await admin.send("/problem 1")
    card = await notice(admin, "Timeline")
    assert card.button_texts == ["👤 Assign / reassign", "🚫 Dismiss", "🔀 Transfer", "📣 Press (urge)"]
    await tap(bot, admin, card, text="🚫 Dismiss")
    assert "Problem #1: why is it dismissed" in (await admin.next_message()).text
    reason = "Outside river management: the heap is on a private building site"
    await admin.send(reason)
    assert "Problem #1 dismissed." in (await admin.next_message()).text
    told = await amy.next_message()
    assert told.text == f"The problem you reported, #1 (illegal dumping), was dismissed: {reason}"
    assert "was dismissed; no rectification is needed" in (await zhou.next_message()).text

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "dismissed" and problem.closed_at is not None
    assert [(a, actor) for a, actor, _ in await actions(bot, 1)] == [
        ("report", amy_id),
        ("assign", None),
        ("dismiss", admin_id),
    ]
    dismissed = (await bot.store.problems.events(1))[-1]
    assert (dismissed.from_status, dismissed.to_status, dismissed.note) == ("assigned", "dismissed", reason)

    # Buttons on the old notices can no longer be used, whoever presses them.
    refused = await alert(bot, zhou, old_card, "✅ Rectified")
    assert refused.startswith("This can no longer be done: the problem is now “dismissed”")
    assert "This can no longer be done" in await alert(bot, admin, card, "🚫 Dismiss")
    await zhou.expect_silence()
    assert [a for a, _, _ in await actions(bot, 1)] == ["report", "assign", "dismiss"]
    # The reporter's view: the reason in the timeline, nothing left to press.
    await amy.send("/problem 1")
    view = await until(amy, "Timeline")
    assert f"河长办 管理员: dismissed ({reason})" in view.text
    assert view.buttons == []
    assert bot.errors() == []


# -- 3. reopened by the reporter ---------------------------------------------------------------------------


async def test_the_reporter_reopens_within_the_window_and_only_then(bot: Harness) -> None:
    ids = await seed(bot.store)
    await started_admin(bot)
    li = bot.sandbox.user(first_name="Li", language_code="en")
    li_id = await chief(bot, li, "Li Ming", [ids["DBH-01"]], level="village")
    await started(li)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    xiao_id = await volunteer(bot, xiao, "李小义")
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await volunteer(bot, zhao, "赵六")
    await report(bot, xiao)
    await notice(li, "New problem for you")
    li_record = await bot.services.people.by_id(li_id)
    admin_record = await bot.services.people.find(ADMIN_ID)
    assert li_record is not None and admin_record is not None

    async def rectified_and_closed() -> None:
        assert (await bot.services.problems.act(1, li_record, "rectify", note="已清理")).outcome == "ok"
        assert (await bot.services.problems.act(1, admin_record, "close")).outcome == "ok"

    await rectified_and_closed()
    # An old deadline, to see the reopening set a fresh one.
    await bot.store.execute(
        "UPDATE problems SET deadline = ? WHERE id = 1", ((today(bot) - timedelta(days=20)).date().isoformat(),)
    )

    # Someone who did not report it may not reopen it (nor see it).
    answer = await bot.sandbox.answer(await zhao.press_raw(zhao.id, 1, "pb:reopen:1"))
    assert answer["show_alert"] and "此操作已无法进行" in answer["text"]
    await zhao.send("/problem 1")
    assert (await zhao.next_message()).text == "没有找到问题 #1，或您无权查看。"
    assert await bot.store.dialogs.get(zhao.id) is None

    await xiao.send("/problem 1")
    card = await notice(xiao, "办理过程", again=True)  # the reporter's own photo is in the chat
    assert card.button_texts == ["🔁 问题仍在，重新打开"]
    await tap(bot, xiao, card, text="🔁 问题仍在，重新打开")
    assert "请说明问题仍未解决的情况" in (await xiao.next_message()).text
    reason = "垃圾又堆回来了，还有异味"
    await xiao.send(reason)
    assert "已重新打开问题 #1" in (await xiao.next_message()).text
    fresh = (today(bot).date() + timedelta(days=7)).isoformat()
    heard = await notice(li, f"is reported as not fixed and has been reopened: {reason}", again=True)
    assert f"Deadline: {fresh}" in heard.text and heard.button_texts[0] == "✅ Rectified"

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "assigned" and problem.assignee_id == li_id
    assert problem.closed_at is None and problem.deadline is not None and problem.deadline.isoformat() == fresh
    events = await bot.store.problems.events(1)
    assert [e.action for e in events] == ["report", "assign", "rectify", "close", "reopen"]
    reopen = events[-1]
    assert (reopen.actor_id, reopen.note, reopen.from_status, reopen.to_status) == (
        xiao_id,
        reason,
        "closed",
        "assigned",
    )
    assert reopen.data == {"deadline": fresh}

    # The same button again: refused, nothing logged.
    refused = await alert(bot, xiao, card, "🔁 问题仍在，重新打开")
    assert refused.startswith("此操作已无法进行：问题当前状态为“整改中”")
    assert len(await bot.store.problems.events(1)) == 5

    # Closed again, 31 days ago: too late to reopen; 29 days ago: still possible.
    await rectified_and_closed()
    long_ago = to_db_time(datetime.now(UTC) - timedelta(days=bot.settings.problem_reopen_days + 1))
    await bot.store.execute("UPDATE problems SET closed_at = ? WHERE id = 1", (long_ago,))
    await xiao.send("/problem 1")
    late = await until(xiao, "办理过程")
    assert late.buttons == []
    answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, card.message_id, "pb:reopen:1"))
    assert answer["show_alert"] and "此操作已无法进行：问题当前状态为“已销号”" in answer["text"]
    recent = to_db_time(datetime.now(UTC) - timedelta(days=bot.settings.problem_reopen_days - 1))
    await bot.store.execute("UPDATE problems SET closed_at = ? WHERE id = 1", (recent,))
    await xiao.send("/problem 1")
    assert (await until(xiao, "办理过程")).button_texts == ["🔁 问题仍在，重新打开"]
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "closed"
    assert bot.errors() == []


async def test_reopened_after_its_chief_left_goes_to_the_reachs_chief_now_or_to_the_admins(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    li = bot.sandbox.user(first_name="Li", language_code="en")
    li_id = await chief(bot, li, "Li Ming", [ids["DBH-01"]], level="village")
    await started(li)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    admin_record = await bot.services.people.find(ADMIN_ID)
    li_record = await bot.services.people.by_id(li_id)
    assert admin_record is not None and li_record is not None
    for number in (1, 2):
        await report(bot, xiao, photo_seed=number)
        await notice(li, "New problem for you")
        assert (await bot.services.problems.act(number, li_record, "rectify", note="done")).outcome == "ok"
        assert (await bot.services.problems.act(number, admin_record, "close")).outcome == "ok"
    # Li leaves: deactivated by the office.
    await bot.store.people.set_active(li_id, False, by=admin_record.id)
    xiao_record = await bot.services.people.find(xiao.id)
    assert xiao_record is not None

    # Nobody holds the reach now: the problem waits for the admins, who hear of it.
    await admin.expect_silence()
    await xiao.send("/problem 1")
    card = await notice(xiao, "办理过程", again=True)  # the reporter's own photo is in the chat
    await tap(bot, xiao, card, text="🔁 问题仍在，重新打开")
    await xiao.next_message()
    await xiao.send("又堆上了")
    assert "已重新打开问题 #1" in (await xiao.next_message()).text
    told = await notice(admin, "问题重新打开，待指派")
    assert "原责任人已不在岗：又堆上了" in told.text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and (problem.status, problem.assignee_id) == ("reported", None)
    assert (await bot.store.problems.events(1))[-1].data["previous"] == li_id

    # A new chief holds the reach: the next reopened one goes to them.
    wang = bot.sandbox.user(first_name="王", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    assert (await bot.services.problems.act(2, xiao_record, "reopen", note="还有")).outcome == "ok"
    problem = await bot.store.problems.by_id(2)
    assert problem is not None and (problem.status, problem.assignee_id) == ("assigned", wang_id)
    assert (await bot.store.problems.events(2))[-1].data == {
        "deadline": problem.deadline.isoformat() if problem.deadline else None,
        "assignee": wang_id,
        "previous": li_id,
    }


# -- 4. reassigned to another chief ------------------------------------------------------------------------


async def test_an_admin_reassigns_to_another_chief(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    li = bot.sandbox.user(first_name="Li", language_code="en")
    li_id = await chief(bot, li, "Li Ming", [ids["LGH-01"]], level="town")
    await started(li)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    admin_id = await person_id(bot, admin)
    await report(bot, xiao)
    wang_card = await notice(wang, "新问题交办")
    deadline = (await bot.store.problems.by_id(1)).deadline  # type: ignore[union-attr]
    assert deadline is not None

    await admin.send("/problem 1")
    card = await notice(admin, "办理过程")
    choose = await tap(bot, admin, card, text="👤 指派/改派")
    assert "问题 #1：请选择责任人" in choose.text
    assert choose.button_texts[:2] == ["⭐ 王五 · 村级河长", "Li Ming · 镇级河长"]
    assigned = await tap(bot, admin, choose, text="Li Ming · 镇级河长")
    assert assigned.text == "已指派问题 #1。"

    # The new assignee gets everything: the map, the photo, the place on the map, the card with its button.
    assert is_problem_map(await li.next_message())
    photo = await li.next_message()
    assert photo.photo is not None
    venue = await li.next_message()
    assert venue.location is not None and abs(venue.location["latitude"] - (LAT + 0.0005)) < 1e-6
    assert venue.raw["venue"]["title"] == "Problem #1 · illegal dumping"
    new_card = await li.next_message()
    assert "📌 Problem #1 (illegal dumping) is now yours to rectify by its deadline." in new_card.text
    assert "Assignee: Li Ming" in new_card.text and f"Deadline: {deadline.isoformat()}" in new_card.text
    assert "✅ Rectified" in new_card.button_texts
    assert "已交由责任人整改" in (await xiao.next_message()).text

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "assigned" and problem.assignee_id == li_id
    events = await bot.store.problems.events(1)
    assert [e.action for e in events] == ["report", "assign", "reassign"]
    assert events[-1].actor_id == admin_id and (events[-1].from_status, events[-1].to_status) == (
        "assigned",
        "assigned",
    )
    assert events[-1].data == {"assignee": li_id, "deadline": deadline.isoformat(), "previous": wang_id}

    # The former assignee hears that it is no longer his; his old button no longer works.
    away = await wang.next_message()
    assert away.text == "问题 #1（乱堆）已改派 Li Ming 负责整改，您无需再办理。" and away.button_texts == ["查看详情"]
    assert "此操作已无法进行" in await alert(bot, wang, wang_card, "✅ 整改完成")
    # The same person twice is refused.
    answer = await bot.sandbox.answer(await admin.press_raw(admin.id, choose.message_id, f"pb:asp:1:{li_id}"))
    assert answer["show_alert"] and answer["text"] == "该问题已由此人负责。"
    assert len(await bot.store.problems.events(1)) == 3
    # The timeline tells who has it now.
    await admin.send("/problem 1")
    timeline = await until(admin, "办理过程")
    assert f"河长办 管理员：改派 → Li Ming（期限 {deadline.isoformat()}）" in timeline.text
    assert bot.errors() == []


# -- 5. the daily deadline job -----------------------------------------------------------------------------


async def test_the_deadline_job_reminds_warns_and_escalates_once(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot, "en")
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    xiao_id = await volunteer(bot, xiao, "李小义")
    for number, category in enumerate(("乱堆", "漂浮垃圾", "乱建", "非法捕捞"), start=1):
        assert f"编号 #{number}" in (await report(bot, xiao, category=category, photo_seed=number)).text
        await notice(wang, "新问题交办")
    wang_record, xiao_record = await bot.services.people.by_id(wang_id), await bot.services.people.by_id(xiao_id)
    admin_record = await bot.services.people.find(ADMIN_ID)
    assert wang_record is not None and xiao_record is not None and admin_record is not None
    # 4 was rectified in time and waits for verification: neither the assignee's nor the admins' business now.
    assert (await bot.services.problems.act(4, wang_record, "rectify", note="已劝离")).outcome == "ok"
    day = today(bot).date()
    assert bot.settings.escalate_after_days == 3
    due = {
        1: day - timedelta(days=4),
        2: day + timedelta(days=1),
        3: day - timedelta(days=1),
        4: day - timedelta(days=5),
    }
    for number, deadline in due.items():
        await bot.store.execute("UPDATE problems SET deadline = ? WHERE id = ?", (deadline.isoformat(), number))

    await run_deadline_job(bot)
    # The assignee: a reminder letter for each overdue problem, most overdue first, then the one due tomorrow.
    letter = await wang.next_message()
    assert "📨 提醒函：问题 #1（乱堆）已超过整改期限 4 天" in letter.text
    assert letter.button_texts == ["🛠 整改 #1", "查看详情"]
    assert "📨 提醒函：问题 #3（乱建）已超过整改期限 1 天" in (await wang.next_message()).text
    soon = await wang.next_message()
    assert soon.text == f"⏳ 提醒：问题 #2（漂浮垃圾）的整改期限为 {due[2].isoformat()}，请抓紧办理。"
    # The admins: the problem overdue by three days or more, in full.
    card = await notice(admin, "🚨 Problem #1 (illegal dumping) is 4 days overdue and still not rectified")
    assert "⏰ Overdue by 4 days" in card.text and "Assignee: 王五" in card.text
    assert card.button_texts == ["👤 Assign / reassign", "🚫 Dismiss", "🔀 Transfer", "📣 Press (urge)", "Details"]
    await admin.expect_silence()

    events = await bot.store.problems.events(1)
    assert [e.action for e in events] == ["report", "assign", "escalate"]
    overdue_since = (day - timedelta(days=4)).isoformat()
    assert events[-1].actor_id is None and events[-1].data == {"days_overdue": 4, "deadline": overdue_since}
    assert [e.action for e in await bot.store.problems.events(3)] == ["report", "assign"]
    assert [e.action for e in await bot.store.problems.events(2)] == ["report", "assign"]
    assert [e.action for e in await bot.store.problems.events(4)] == ["report", "assign", "rectify"]

    # The same day again: nothing more to anyone, nothing more in the log.
    await run_deadline_job(bot)
    await wang.expect_silence()
    await admin.expect_silence()
    assert [e.action for e in await bot.store.problems.events(1)] == ["report", "assign", "escalate"]
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "assigned"

    # Closed, reopened by the reporter, and overdue again against its new deadline: escalated again.
    assert (await bot.services.problems.act(1, wang_record, "rectify")).outcome == "ok"
    assert (await bot.services.problems.act(1, admin_record, "close")).outcome == "ok"
    assert (await bot.services.problems.act(1, xiao_record, "reopen", note="又堆上了")).outcome == "ok"
    late = (day - timedelta(days=3)).isoformat()
    await bot.store.execute("UPDATE problems SET deadline = ? WHERE id = 1", (late,))
    await run_deadline_job(bot)
    await notice(admin, "🚨 Problem #1 (illegal dumping) is 3 days overdue", again=True)
    await wang.expect_silence()  # his reminder letter for #1 went out today already
    events = await bot.store.problems.events(1)
    assert [e.action for e in events] == ["report", "assign", "escalate", "rectify", "close", "reopen", "escalate"]
    assert events[-1].data == {"days_overdue": 3, "deadline": late}
    assert bot.errors() == []


# -- 6. /problems and /myreports ---------------------------------------------------------------------------


SOUTH = LAT - 0.05  # 通吕运河（城南段）runs east–west along 32.45 N, about 5.5 km south of 丁堡河.


async def second_area(bot: Harness) -> int:
    cn, _ = await bot.store.areas.upsert("CN", "城南片区", "Chengnan")
    line = {"type": "LineString", "coordinates": [[WEST, SOUTH], [120.43, SOUTH]]}
    reach_id, _ = await bot.store.reaches.upsert(
        ReachValues(
            "TLH-01",
            "通吕运河（城南段）",
            "Tonglü Canal (south)",
            cn,
            "town",
            2.8,
            (),
            json.dumps(line),
            (SOUTH, WEST, SOUTH, 120.43),
        )
    )
    return reach_id


async def test_lists_overdue_first_with_filters_scoped_to_each_person(bot: Harness) -> None:
    ids = await seed(bot.store)
    south = await second_area(bot)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    li = bot.sandbox.user(first_name="Li", language_code="en")
    li_id = await chief(bot, li, "Li Ming", [south], level="village")
    await started(li)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    yi = bot.sandbox.user(first_name="乙", language_code="zh-hans")
    await volunteer(bot, yi, "乙")
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await volunteer(bot, amy, "Amy Wu")

    await report(bot, xiao)  # 1: dumping on 丁堡河
    await report(bot, xiao, category="漂浮垃圾", photo_seed=2)  # 2: floating garbage on 丁堡河, made overdue
    await report(bot, amy, zh=False, category="illegal dumping", photo_seed=3, lat=SOUTH + 0.0005)  # 3: 通吕运河
    offer = await report(bot, yi, photo_seed=4, lon=WEST + 0.0032)  # the same as 1
    assert "问题类别" in offer.text
    await tap(bot, yi, await yi.next_message(), text="是，同一个问题（#1）")
    for _ in range(2):
        await notice(wang, "新问题交办")
    await notice(li, "New problem for you")
    problem3 = await bot.store.problems.by_id(3)
    assert problem3 is not None and problem3.reach_id == south and problem3.assignee_id == li_id
    overdue = (today(bot).date() - timedelta(days=2)).isoformat()
    await bot.store.execute("UPDATE problems SET deadline = ? WHERE id = 2", (overdue,))

    await admin.send("/problems")
    listing = await until(admin, "问题清单")
    assert "问题清单（共 3 个，逾期的排在前面）" in listing.text
    all_three = [
        "#2 ⏰逾期2天 · 漂浮垃圾 · 丁堡河（城东段）",
        "#3 整改中 · 乱堆 · 通吕运河（城南段）",
        "#1 整改中 · 乱堆 · 丁堡河（城东段）",
    ]
    assert listing.button_texts[:3] == all_three
    assert "清除筛选" not in listing.button_texts
    # By area: only 城南片区's problem.
    areas = await tap(bot, admin, listing, text="按片区")
    assert areas.text == "请选择片区：" and areas.button_texts == ["城东片区", "城南片区"]
    south_only = await tap(bot, admin, areas, text="城南片区")
    assert "共 1 个" in south_only.text and south_only.button_texts[0] == all_three[1]
    assert "清除筛选" in south_only.button_texts
    # And by kind on top of it: nothing floating in 城南片区.
    kinds = await tap(bot, admin, south_only, text="按类别")
    assert kinds.text == "请选择问题类别：" and "漂浮垃圾" in kinds.button_texts
    nothing = await tap(bot, admin, kinds, text="漂浮垃圾")
    assert nothing.text == "没有符合条件的未办结问题。" and not any(t.startswith("#") for t in nothing.button_texts)
    cleared = await tap(bot, admin, nothing, text="清除筛选")
    assert "共 3 个" in cleared.text and cleared.button_texts[:3] == all_three
    # By kind alone: both dumping problems, in both areas.
    kinds = await tap(bot, admin, cleared, text="按类别")
    dumping = await tap(bot, admin, kinds, text="乱堆")
    assert "共 2 个" in dumping.text and [t for t in dumping.button_texts if t.startswith("#")] == all_three[1:]
    # Forged list buttons with numbers too big for anything: an alert, no error.
    huge = "9" * 21
    for data in (f"pl:{huge}:0:", f"pl:0:{huge}:", f"pb:asp:1:{huge}"):
        answer = await bot.sandbox.answer(await admin.press_raw(admin.id, dumping.message_id, data))
        assert answer["show_alert"] and answer["text"] == "这个按钮已失效，请重新操作。", data
    # A problem's line opens it.
    await tap(bot, admin, dumping, text=all_three[1])
    assert "问题 #3" in (await until(admin, "办理过程")).text

    # A chief sees his reaches' problems; another chief hers, and what is assigned to her anywhere.
    await wang.send("/problems")
    mine = await wang.next_message()
    assert "共 2 个" in mine.text and [t for t in mine.button_texts if t.startswith("#")] == [
        all_three[0],
        all_three[2],
    ]
    await li.send("/problems")
    hers = await li.next_message()
    assert hers.text == "Open problems (1), overdue first:"
    assert [t for t in hers.button_texts if t.startswith("#")] == [
        "#3 being rectified · illegal dumping · Tonglü Canal (south)"
    ]
    admin_record = await bot.services.people.find(ADMIN_ID)
    assert admin_record is not None
    moved = await bot.services.problems.act(1, admin_record, "assign", assignee_id=li_id)
    assert moved.outcome == "ok"
    await li.send("/problems")
    hers = await until(li, "Open problems")
    assert [t for t in hers.button_texts if t.startswith("#")] == [
        "#3 being rectified · illegal dumping · Tonglü Canal (south)",
        "#1 being rectified · illegal dumping · Dingbao River (east)",
    ]
    # A volunteer may not list problems.
    await xiao.send("/problems")
    assert (await xiao.next_message()).text == "仅河长和河长办管理员可以进行此操作。"

    # /myreports: what each person reported, or follows, with its status.
    await xiao.send("/myreports")
    own = await xiao.next_message()
    assert own.text == "您上报或关注的问题（2 个）："
    assert own.button_texts == ["#2 整改中 · 漂浮垃圾 · 丁堡河（城东段）", "#1 整改中 · 乱堆 · 丁堡河（城东段）"]
    await yi.send("/myreports")
    followed = await yi.next_message()
    assert followed.text == "您上报或关注的问题（1 个）：" and followed.button_texts == [
        "#1 整改中 · 乱堆 · 丁堡河（城东段）"
    ]
    await tap(bot, yi, followed, text="#1 整改中 · 乱堆 · 丁堡河（城东段）")
    view = await until(yi, "办理过程")
    assert "乙：补充反映（同一问题）" in view.text and view.buttons == []
    dismissed = await bot.services.problems.act(3, admin_record, "dismiss", note="重复")
    assert dismissed.outcome == "ok"
    await amy.send("/myreports")
    assert (await amy.next_message()).button_texts == ["#3 dismissed · illegal dumping · Tonglü Canal (south)"]
    await wang.send("/myreports")
    assert "您还没有上报过问题" in (await wang.next_message()).text
    assert bot.errors() == []


# -- 7. reported during a patrol ---------------------------------------------------------------------------


async def test_a_problem_found_on_patrol_is_linked_and_counted(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await start_patrol(bot, wang, int(time.time()) - 20 * 60)
    patrol = await bot.services.patrols.open_patrol(wang_id)
    assert patrol is not None

    await wang.send("⚠️ 发现问题")
    assert "请发送问题现场照片" in (await wang.next_message()).text
    await wang.send_photo(make_jpeg(1600, 1200, seed=7))
    added = await wang.next_message()
    assert "已收到第 1 张照片" in added.text  # the report takes the photo, not the patrol
    await tap(bot, wang, added, text="➡️ 照片已发完，下一步")
    await wang.next_message()
    await wang.send_location(LAT + 0.0005, WEST + 0.003)
    noted = await wang.next_message()  # the patrol's keyboard is back in place of the location button
    assert noted.text == "已收到位置。" and noted.keyboard == [["📍 发送当前位置"], ["⚠️ 发现问题", "✅ 结束巡河"]]
    reaches = await wang.next_message()
    kinds = await tap(bot, wang, reaches, data=reaches.buttons[0][0][1])
    described = await tap(bot, wang, kinds, text="排污口")
    await wang.send("雨水管有污水直排")
    confirm = await wang.next_message()
    filed = await tap(bot, wang, confirm, text="📤 提交")
    assert "问题已提交，编号 #1" in filed.text and described
    await notice(wang, "新问题交办", again=True)  # he is the reach's chief: his to rectify; his photo is there

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.patrol_id == patrol.id and problem.reporter_id == wang_id
    assert problem.category == "outfall" and problem.description == "雨水管有污水直排"
    await wang.send("✅ 结束巡河")
    card = await until(wang, "巡河记录")
    assert "发现问题 1 处" in card.text
    assert bot.errors() == []


# -- 8. /problem N ------------------------------------------------------------------------------------------


async def test_problem_command_refuses_the_unauthorized_and_explains_its_usage(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    other = bot.sandbox.user(first_name="周", language_code="zh-hans")
    await chief(bot, other, "周河长", [ids["LGH-01"]], level="village")
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    stranger = bot.sandbox.user(first_name="Tom", language_code="en")
    await volunteer(bot, stranger, "Tom")
    await report(bot, xiao)

    for user, text in (
        (other, "没有找到问题 #1，或您无权查看。"),  # a chief of another reach
        (stranger, "Problem #1 was not found, or you may not see it."),  # another volunteer
    ):
        await user.send("/problem 1")
        assert (await user.next_message()).text == text
        await user.expect_silence()  # no photo, no map: nothing of it shown
    await xiao.send("/problem 2")
    assert (await xiao.next_message()).text == "没有找到问题 #2，或您无权查看。"
    for junk in ("/problem", "/problem abc", "/problem #", "/problem -1", "/problem ²", "/problem 1e3"):
        await xiao.send(junk)
        assert (await xiao.next_message()).text == "请发送“/problem 编号”，例如 /problem 12。", junk
    await stranger.send("/problem x")
    assert (await stranger.next_message()).text == "Send “/problem number”, e.g. /problem 12."
    await xiao.send("/problem 99999999999999999999999")
    assert "#99999999999999999999999" in (await xiao.next_message()).text
    # Forged buttons with numbers no problem (nor SQLite) can have: refused like any stale button.
    huge = "9" * 23
    for data, text in (
        (f"pb:v:{huge}", f"没有找到问题 #{huge}，或您无权查看。"),
        (f"pb:close:{huge}", "这个按钮已失效，请重新操作。"),
        (f"pb:asp:1:{huge}", "此操作已无法进行：问题当前状态为“整改中”，可能已由他人处理。"),  # not an admin
    ):
        answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, 1, data))
        assert answer["show_alert"] and answer["text"] == text, data
    # The reporter and the chief of the reach both see it: "#1" works too.
    for user in (xiao, wang):
        await user.send("/problem #1")
        assert "问题 #1" in (await until(user, "办理过程")).text
    assert bot.errors() == []


# -- 9. a restart in the middle of a report ----------------------------------------------------------------


async def test_a_report_survives_a_restart(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    amy_id = await volunteer(bot, amy, "Amy Wu")
    await amy.send("/report")
    await amy.next_message()
    sent = make_jpeg(1600, 1200, seed=11)
    await amy.send_photo(sent)
    added = await amy.next_message()
    assert "Photo 1 received" in added.text
    await bot.sandbox.wait_consumed()

    restarted = await restart(bot)
    try:
        await tap(bot, amy, added, text="➡️ Done with photos: next")
        await amy.next_message()
        await amy.send_location(LAT + 0.0005, WEST + 0.003)
        noted = await amy.next_message()  # the main menu is back in place of the location button
        assert noted.text == "Location received."
        assert noted.keyboard == [["🚶 Patrol", "📋 My patrols"], ["📝 Report a problem"]]
        reaches = await amy.next_message()
        kinds = await tap(bot, amy, reaches, data=reaches.buttons[0][0][1])
        described = await tap(bot, amy, kinds, text="floating garbage")
        confirm = await tap(bot, amy, described, text="Skip")
        assert "Photos: 1" in confirm.text
        filed = await tap(bot, amy, confirm, text="📤 Send")
        assert "Problem reported as #1" in filed.text
        card = await notice(wang, "新问题交办")
        assert "漂浮垃圾" in card.text
    finally:
        await stop_app(restarted)

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.reporter_id == amy_id and problem.status == "assigned"
    assert problem.category == "garbage" and problem.reach_id == ids["DBH-01"]
    assert len(await bot.store.problems.photos(1)) == 1
    assert [e.action for e in await bot.store.problems.events(1)] == ["report", "assign"]
    assert await bot.store.dialogs.get(amy.id) is None
    assert bot.errors() == []
