"""Dispatch through the stand-in: an extension granted and one refused, transfers to a chief (deadline kept)
and to a department's contact (deadline reset), 督办 (the assignee and the chief above told), and the
confirmation before 销号 (with a note, cancelled, two admins at once). Forged presses are refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import chief, close_problem, report, run_job, seed, started_admin, tap, volunteer


async def started(user: FakeUser) -> None:
    await user.send("/start")
    await user.next_message()
    await user.next_message()


async def until(user: FakeUser, text: str, limit: int = 8) -> SentMessage:
    """The next message containing `text`, passing over photos, maps and venues sent before it."""
    seen = []
    for _ in range(limit):
        message = await user.next_message()
        if text in (message.text or ""):
            return message
        seen.append(message.text or message.kind)
    raise AssertionError(f"no message with {text!r} among {seen}")


async def alert(bot: Harness, user: FakeUser, message: SentMessage, data: str) -> str:
    answer = await bot.sandbox.answer(await user.press_raw(user.id, message.message_id, data))
    assert answer["show_alert"], answer
    return str(answer["text"])


def today(bot: Harness) -> date:
    return datetime.now(bot.settings.tz).date()


@dataclass
class Story:
    ids: dict[str, int]
    admin: FakeUser
    wang: FakeUser
    wang_id: int
    li: FakeUser
    li_id: int
    xiao: FakeUser
    xiao_id: int
    card: SentMessage


async def story(bot: Harness, *, lang: str = "zh-hans") -> Story:
    """A village chief 王五 (with a county chief 李四 above him on the reach), a volunteer's report routed to
    王五; returns the people and 王五's card."""
    ids = await seed(bot.store)
    admin = await started_admin(bot, lang)
    wang = bot.sandbox.user(first_name="王五", language_code=lang)
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    li = bot.sandbox.user(first_name="李四", language_code=lang)
    li_id = await chief(bot, li, "李四", [ids["DBH-01"]], level="county")
    xiao = bot.sandbox.user(first_name="小李", language_code=lang)
    xiao_id = await volunteer(bot, xiao, "李小义")
    for user in (wang, li):
        await started(user)
    await report(bot, xiao, zh=lang != "en", category="乱堆" if lang != "en" else "illegal dumping")
    card = await until(wang, "新问题交办" if lang != "en" else "New problem for you")
    return Story(ids, admin, wang, wang_id, li, li_id, xiao, xiao_id, card)


async def events(bot: Harness, number: int = 1) -> list[str]:
    return [e.action for e in await bot.store.problems.events(number)]


# -- extension ----------------------------------------------------------------------------------------------


async def test_an_extension_asked_with_a_reason_and_a_date_is_granted_and_the_deadline_moves(bot: Harness) -> None:
    s = await story(bot)
    admin, wang, li, xiao = s.admin, s.wang, s.li, s.xiao
    card = s.card
    assert "⏳ 申请延期" in card.button_texts
    # Due today: a reminder would go out; after the extension it does not.
    await bot.store.problems.transition(1, expect=("assigned",), status="assigned", deadline=today(bot))
    due = today(bot)

    await tap(bot, wang, card, text="⏳ 申请延期")
    assert "请输入申请延期的理由" in (await wang.next_message()).text
    await wang.send_photo(make_jpeg(800, 600, seed=9))
    assert "请以文字输入" in (await wang.next_message()).text
    await wang.send("连日降雨，清运车辆无法进场")
    ask = await wang.next_message()
    assert f"现整改期限 {due.isoformat()}" in ask.text and len(ask.buttons[0]) == 3
    await wang.send("下周")
    assert "日期格式不对" in (await wang.next_message()).text
    await wang.send(due.isoformat())
    refused = await wang.next_message()
    assert f"新的期限须晚于现整改期限（{due.isoformat()}）" in refused.text
    new = due + timedelta(days=7)
    asked = await tap(bot, wang, refused, data="dx:d:1:7")
    assert f"问题 #1 延期至 {new.isoformat()} 的申请已报河长办审批" in asked.text

    request = await until(admin, "申请问题 #1（乱堆）延期")
    assert "王五" in request.text and "连日降雨，清运车辆无法进场" in request.text
    assert f"{due.isoformat()} → {new.isoformat()}" in request.text
    assert request.button_texts[:2] == ["✅ 同意", "❌ 不同意"]
    # Nobody but the office decides: a volunteer's or a chief's forged press is refused, nothing changes.
    grant = request.buttons[0][0][1]
    assert grant is not None
    xiao_answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, 1, grant))
    assert xiao_answer["show_alert"]
    assert "不由您办理" in await alert(bot, li, request, grant)
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.deadline == due

    done = await tap(bot, admin, request, text="✅ 同意")
    assert f"已同意问题 #1 延期，新整改期限 {new.isoformat()}" in done.text
    assert f"延期申请已同意，新整改期限 {new.isoformat()}" in (await until(wang, "延期申请已同意")).text
    assert f"已批准延期整改，新期限 {new.isoformat()}" in (await until(xiao, "已批准延期")).text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.deadline == new
    assert (await events(bot))[-2:] == ["extension_asked", "extension_granted"]
    # A second press on the decided request is stale.
    assert "已审批过或已失效" in await alert(bot, admin, request, grant)
    # The deadline job follows the new deadline: nothing is due today any more.
    from handlers.problems import chase_deadlines  # noqa: PLC0415

    await run_job(bot, chase_deadlines)
    await wang.expect_silence()
    # The timeline tells it.
    await wang.send("/problem 1")
    timeline = await until(wang, "办理过程")
    assert f"王五：申请延期（至 {new.isoformat()}）（连日降雨，清运车辆无法进场）" in timeline.text
    assert f"河长办 管理员：同意延期（{due.isoformat()} → {new.isoformat()}）" in timeline.text
    assert bot.errors() == []


async def test_an_extension_refused_with_a_reason_leaves_the_deadline(bot: Harness) -> None:
    s = await story(bot, lang="en")
    admin, wang, xiao = s.admin, s.wang, s.xiao
    card = s.card
    before = await bot.store.problems.by_id(1)
    assert before is not None and before.deadline is not None
    await tap(bot, wang, card, text="⏳ Ask for more time")
    await wang.next_message()
    await wang.send("The digger is away")
    await wang.next_message()
    asked_for = before.deadline + timedelta(days=20)
    await wang.send(
        asked_for.strftime("%m-%d").lstrip("0") if asked_for.year == today(bot).year else asked_for.isoformat()
    )
    assert "has been sent to the office" in (await wang.next_message()).text
    # A second request while this one waits is refused.
    assert "already has an extension request" in await alert(bot, wang, card, "dx:ext:1")
    await wang.send("/problem 1")
    waiting = await until(wang, "Timeline")
    assert f"An extension to {asked_for.isoformat()} is waiting for the office's decision." in waiting.text

    request = await until(admin, "asks to extend problem #1")
    await tap(bot, admin, request, text="❌ Refuse")
    assert "type the reason for refusing" in (await admin.next_message()).text
    await admin.send("Two weeks are enough for a heap")
    assert "The extension of problem #1 is refused." in (await admin.next_message()).text
    told = await until(wang, "is refused")
    assert f"it is still due {before.deadline.isoformat()}" in told.text and "Two weeks are enough" in told.text
    await xiao.expect_silence()
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.deadline == before.deadline
    last = (await bot.store.problems.events(1))[-1]
    assert (last.action, last.note) == ("extension_refused", "Two weeks are enough for a heap")
    refuse_data = request.buttons[0][1][1]
    assert refuse_data is not None
    assert "This request has been decided already" in await alert(bot, admin, request, refuse_data)
    assert bot.errors() == []


# -- transfer -----------------------------------------------------------------------------------------------


async def test_transfer_to_another_chief_keeping_the_deadline(bot: Harness) -> None:
    s = await story(bot)
    admin, wang, xiao = s.admin, s.wang, s.xiao
    ids = s.ids
    zhou = bot.sandbox.user(first_name="周七", language_code="zh-hans")
    zhou_id = await chief(bot, zhou, "周七", [ids["DBH-01"]], level="village")
    await started(zhou)
    before = await bot.store.problems.by_id(1)
    assert before is not None and before.deadline is not None
    # Not the assignee's to transfer.
    card = s.card
    assert "🔀 转办" not in card.button_texts
    assert "不由您办理" in await alert(bot, wang, card, f"dx:td:1:c:{zhou_id}:1")

    await admin.send("/problem 1")
    office = await until(admin, "办理过程")
    targets = await tap(bot, admin, office, text="🔀 转办")
    assert "转办给哪位河长或哪个部门" in targets.text
    asked = await tap(bot, admin, targets, data=f"dx:tt:1:c:{zhou_id}")
    assert "问题 #1 → 周七" in asked.text and f"保留原期限（{before.deadline.isoformat()}）" in asked.text
    await admin.send("该处属周七负责的岸段")
    noted = await admin.next_message()
    assert "转办说明已记下" in noted.text
    done = await tap(bot, admin, noted, text="保留原期限")
    assert f"问题 #1 已转办给 周七，整改期限 {before.deadline.isoformat()}" in done.text

    assert "已转办给 周七，您无需再整改" in (await until(wang, "已转办给 周七")).text
    new_card = await until(zhou, "已转办给您")
    assert "该处属周七负责的岸段" in new_card.text and "✅ 整改完成" in new_card.button_texts
    assert "已转交其他河长整改" in (await until(xiao, "已转交")).text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and (problem.assignee_id, problem.deadline) == (zhou_id, before.deadline)
    event = (await bot.store.problems.events(1))[-1]
    assert event.action == "transferred" and event.note == "该处属周七负责的岸段"
    assert event.data["from"] == s.wang_id and event.data["to"] == zhou_id and event.data["kept"] is True
    # 王五's old card no longer lets him rectify it.
    answer = await bot.sandbox.answer(await wang.press_raw(wang.id, card.message_id, "pb:rect:1"))
    assert answer["show_alert"]
    await admin.send("/problem 1")
    timeline = await until(admin, "办理过程")
    assert f"转办 → 周七（期限 {before.deadline.isoformat()}）（保留原期限）（该处属周七负责的岸段）" in timeline.text
    assert bot.errors() == []


async def test_transfer_to_a_department_contact_resetting_the_deadline(bot: Harness) -> None:
    s = await story(bot)
    admin, wang, xiao = s.admin, s.wang, s.xiao
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    zhang_id = await volunteer(bot, zhang, "张三")
    await started(zhang)
    department = await bot.store.dispatch.add_department("城管局", zhang_id)
    assert department is not None
    await bot.store.problems.transition(1, expect=("assigned",), status="assigned", deadline=today(bot))

    await admin.send("/problem 1")
    office = await until(admin, "办理过程")
    targets = await tap(bot, admin, office, text="🔀 转办")
    assert "🏢 城管局 · 张三" in targets.button_texts
    asked = await tap(bot, admin, targets, text="🏢 城管局 · 张三")
    fresh = today(bot) + timedelta(days=bot.settings.problem_deadline_days)
    assert f"重新计算期限（{fresh.isoformat()}）" in asked.text
    done = await tap(bot, admin, asked, text="重新计算期限")
    assert f"已转办给 城管局 · 张三，整改期限 {fresh.isoformat()}" in done.text
    assert "已交由相关部门（城管局）整改" in (await until(xiao, "相关部门")).text
    await until(wang, "已转办给 城管局 · 张三")
    card = await until(zhang, "已转办给您")
    assert f"整改期限 {fresh.isoformat()}" in card.text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and (problem.assignee_id, problem.deadline) == (zhang_id, fresh)
    event = (await bot.store.problems.events(1))[-1]
    assert event.data["department_name"] == "城管局" and event.data["kept"] is False

    # The contact rectifies as an assignee does.
    await tap(bot, zhang, card, text="✅ 整改完成")
    await until(zhang, "请发送整改后的照片")
    await zhang.send_photo(make_jpeg(1200, 900, seed=5))
    added = await zhang.next_message()
    rectified = await tap(bot, zhang, added, text="📤 提交整改")
    assert "等待核查" in rectified.text
    # Pressed while nobody above them holds the reach: the office is told so.
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "rectified"
    assert bot.errors() == []


async def test_a_typed_note_stays_with_its_transfer_when_a_department_and_a_chief_share_an_id(
    bot: Harness,
) -> None:
    """Department ids and people ids are counted apart: the note typed for the department's transfer is not put
    on the chief's whose keep-button was left open on an older message."""
    s = await story(bot)
    admin = s.admin
    zhou = bot.sandbox.user(first_name="周七", language_code="zh-hans")
    zhou_id = await chief(bot, zhou, "周七", [s.ids["DBH-01"]], level="village")
    await started(zhou)
    zhang_id = await volunteer(bot, bot.sandbox.user(first_name="张三", language_code="zh-hans"), "张三")
    await bot.store.execute(
        "INSERT INTO departments (id, name, person_id, added_at) VALUES (?, '城管局', ?, '2026-01-01T00:00:00Z')",
        (zhou_id, zhang_id),
    )
    await admin.send("/problem 1")
    first = await until(admin, "办理过程")
    targets = await tap(bot, admin, first, text="🔀 转办")
    to_chief = await tap(bot, admin, targets, data=f"dx:tt:1:c:{zhou_id}")
    assert "问题 #1 → 周七" in to_chief.text
    await admin.send("/problem 1")
    second = await until(admin, "办理过程")
    targets = await tap(bot, admin, second, text="🔀 转办")
    to_department = await tap(bot, admin, targets, data=f"dx:tt:1:d:{zhou_id}")
    assert "城管局 · 张三" in to_department.text
    await admin.send("交城管局处理")
    assert "转办说明已记下" in (await admin.next_message()).text
    done = await tap(bot, admin, to_chief, text="保留原期限")  # the older message: the chief's transfer
    assert "已转办给 周七" in done.text
    event = (await bot.store.problems.events(1))[-1]
    assert event.action == "transferred" and event.data["to"] == zhou_id and "department" not in event.data
    assert event.note is None
    assert bot.errors() == []


async def test_a_transfer_to_a_chief_the_bot_cannot_reach_is_told_to_the_office(bot: Harness) -> None:
    s = await story(bot)
    admin, xiao = s.admin, s.xiao
    # 赵六 holds the reach but has never opened the bot; 钱八 has left.
    zhao_id = await bot.store.people.create(name="赵六")
    await bot.store.people.grant_role(zhao_id, "chief", level="village")
    gone = bot.sandbox.user(first_name="钱八", language_code="zh-hans")
    gone_id = await chief(bot, gone, "钱八", [s.ids["DBH-01"]], level="village")
    await bot.store.people.set_active(gone_id, False, by=None)
    await admin.send("/problem 1")
    office = await until(admin, "办理过程")
    # A forged target who has left is refused, named.
    assert "钱八 无法承办问题 #1" in await alert(bot, admin, office, f"dx:td:1:c:{gone_id}:1")
    targets = await tap(bot, admin, office, text="🔀 转办")
    asked = await tap(bot, admin, targets, data=f"dx:tt:1:c:{zhao_id}")
    done = await tap(bot, admin, asked, text="保留原期限")
    assert "问题 #1 已转办给 赵六" in done.text
    told = await until(admin, "机器人无法联系到此人")
    assert "问题 #1（乱堆）已转办给 赵六" in told.text
    await until(xiao, "已转交其他河长整改")
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.assignee_id == zhao_id
    assert bot.errors() == []


# -- 督办 ---------------------------------------------------------------------------------------------------


async def test_the_office_presses_a_case_and_the_assignee_and_the_chief_above_are_told(bot: Harness) -> None:
    s = await story(bot)
    admin, wang, li, xiao = s.admin, s.wang, s.li, s.xiao
    card = s.card
    # A chief cannot press; a volunteer neither.
    assert "不由您办理" in await alert(bot, li, card, "dx:prx:1")
    answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, 1, "dx:prx:1"))
    assert answer["show_alert"]

    await admin.send("/problem 1")
    office = await until(admin, "办理过程")
    await tap(bot, admin, office, text="📣 督办")
    assert "可输入督办意见" in (await admin.next_message()).text
    await admin.send("请于本周五前清运完毕")
    assert "已督办问题 #1，已通知：王五、李四" in (await admin.next_message()).text
    pressed = await until(wang, "河长办督办问题 #1")
    assert "请于本周五前清运完毕" in pressed.text and "🛠 整改 #1" in pressed.button_texts
    assert "河长办督办 王五 负责的问题 #1" in (await until(li, "河长办督办")).text

    await tap(bot, admin, office, text="📣 督办")
    ask = await admin.next_message()
    await tap(bot, admin, ask, text="📣 直接督办")
    await until(wang, "河长办督办问题 #1")
    assert (await events(bot)).count("pressed") == 2
    await admin.send("/problem 1")
    card_now = await until(admin, "办理过程")
    assert "已督办 2 次" in card_now.text and "河长办 管理员：督办（请于本周五前清运完毕）" in card_now.text
    assert bot.errors() == []


async def test_a_press_with_no_chief_above_says_so_to_the_office(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao)
    await until(wang, "新问题交办")
    await admin.send("/problem 1")
    office = await until(admin, "办理过程")
    await tap(bot, admin, office, text="📣 督办")
    ask = await admin.next_message()
    done = await tap(bot, admin, ask, text="📣 直接督办")
    assert "没有更高一级的河长，未通知其他人" in done.text
    assert bot.errors() == []


# -- the confirmation before 销号 ------------------------------------------------------------------------------


async def rectified(bot: Harness) -> tuple[FakeUser, SentMessage, FakeUser]:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao)
    card = await until(wang, "新问题交办")
    await tap(bot, wang, card, text="✅ 整改完成")
    await until(wang, "请发送整改后的照片")
    await wang.send_photo(make_jpeg(1200, 900, seed=4))
    added = await wang.next_message()
    await tap(bot, wang, added, text="📤 提交整改")
    return admin, await until(admin, "已整改，请核查"), xiao


async def test_closing_asks_to_confirm_and_keeps_the_typed_note(bot: Harness) -> None:
    admin, verify, xiao = await rectified(bot)
    # A volunteer's forged confirmation is refused.
    answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, 1, "dx:cf:1"))
    assert answer["show_alert"]
    # Cancelled: nothing changes.
    await tap(bot, admin, verify, text="✅ 核查通过，销号")
    ask = await admin.next_message()
    assert "确认销号问题 #1？" in ask.text and ask.button_texts == ["✅ 确认销号", "取消"]
    await tap(bot, admin, ask, text="取消")
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "rectified"
    # Confirmed with a note typed.
    done = await close_problem(bot, admin, verify, note="现场复核，垃圾已清运干净")
    assert "问题 #1 已销号" in done.text
    last = (await bot.store.problems.events(1))[-1]
    assert (last.action, last.note) == ("close", "现场复核，垃圾已清运干净")
    # The old confirmation, pressed again: already closed.
    assert "已由他人销号" in await alert(bot, admin, ask, "dx:cf:1")
    assert bot.errors() == []


async def test_two_admins_confirm_at_once_and_one_wins(bot: Harness) -> None:
    admin, verify, _ = await rectified(bot)
    other = bot.sandbox.user(first_name="赵六", language_code="zh-hans")
    other_id = await bot.store.people.create(name="赵六", telegram_id=other.id)
    await bot.store.people.grant_role(other_id, "admin")
    await started(other)
    await other.send("/problem 1")
    other_card = await until(other, "办理过程")
    await tap(bot, admin, verify, text="✅ 核查通过，销号")
    first = await admin.next_message()
    await tap(bot, other, other_card, text="✅ 核查通过，销号")
    second = await other.next_message()
    done = await tap(bot, other, second, text="✅ 确认销号")
    assert "问题 #1 已销号" in done.text
    assert "已由他人销号" in await alert(bot, admin, first, "dx:cf:1")
    assert (await events(bot)).count("close") == 1
    assert bot.errors() == []
