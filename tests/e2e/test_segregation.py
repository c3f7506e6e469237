"""Segregation of duties: whoever rectified a problem does not verify it; the office does."""

from __future__ import annotations

from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import chief, close_problem, report, seed, started_admin, tap


async def until(user: FakeUser, text: str, limit: int = 6) -> SentMessage:
    """The next message containing `text`, passing over photos and venues sent before it."""
    for _ in range(limit):
        message = await user.next_message()
        if text in (message.text or ""):
            return message
    raise AssertionError(f"no message with {text!r}")


async def test_a_chief_cannot_sign_off_a_problem_he_reported_and_rectified_himself(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    # He reports on his own reach: the problem is routed to him, and he "rectifies" it.
    await report(bot, wang)
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.assignee_id == wang_id and problem.reporter_id == wang_id
    card = await until(wang, "新问题交办")
    await tap(bot, wang, card, text="✅ 整改完成")
    await until(wang, "请发送整改后的照片")
    await wang.send_photo(make_jpeg(1200, 900, seed=8))
    added = await wang.next_message()
    done = await tap(bot, wang, added, text="📤 提交整改")
    assert "等待核查" in done.text
    # His card offers no sign-off; the office is asked to verify.
    await wang.send("/problem 1")
    card = await until(wang, "办理过程")
    assert "✅ 核查通过，销号" not in card.button_texts and "↩️ 退回重改" not in card.button_texts
    verify = await until(admin, "已整改，请核查")
    assert "✅ 核查通过，销号" in verify.button_texts
    # A sign-off pressed anyway (an old message, a modified client) is refused, and told why.
    for data in ("pb:close:1", "pb:rej:1"):
        answer = await bot.sandbox.answer(await wang.press_raw(wang.id, card.message_id, data))
        assert answer["show_alert"] and "是您本人整改的，不能由您本人核查销号" in str(answer["text"])
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "rectified"
    assert [e.action for e in await bot.store.problems.events(1)][-1] == "rectify"
    # The office signs it off.
    closed = await close_problem(bot, admin, verify)
    assert "问题 #1 已销号" in closed.text
    assert bot.errors() == []


async def test_a_higher_level_chief_of_the_reach_verifies_what_its_village_chief_rectified(bot: Harness) -> None:
    ids = await seed(bot.store)
    await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    li = bot.sandbox.user(first_name="李四", language_code="zh-hans")
    li_id = await chief(bot, li, "李四", [ids["DBH-01"]], level="county")
    zhou = bot.sandbox.user(first_name="周七", language_code="zh-hans")
    await chief(bot, zhou, "周七", [ids["DBH-01"]], level="village")
    for user in (li, zhou):
        await user.send("/start")
        await user.next_message()
        await user.next_message()
    await report(bot, wang)
    card = await until(wang, "新问题交办")
    await tap(bot, wang, card, text="✅ 整改完成")
    await until(wang, "请发送整改后的照片")
    await wang.send_photo(make_jpeg(1200, 900, seed=9))
    added = await wang.next_message()
    await tap(bot, wang, added, text="📤 提交整改")
    # The county chief of the reach is asked to verify, with the buttons; the other village chief is not.
    verify = await until(li, "已整改，请核查")
    assert "✅ 核查通过，销号" in verify.button_texts
    await zhou.expect_silence()
    await zhou.send("/problem 1")
    peer = await until(zhou, "办理过程")
    assert "✅ 核查通过，销号" not in peer.button_texts
    closed = await close_problem(bot, li, verify)
    assert "问题 #1 已销号" in closed.text
    assert [(e.action, e.actor_id) for e in await bot.store.problems.events(1)][-1] == ("close", li_id)
    assert bot.errors() == []
