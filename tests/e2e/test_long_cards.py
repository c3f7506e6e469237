"""A problem with a long history still opens: its card and buttons stay within Telegram's limits, the history
follows in its own messages, and past a bound the earliest events are left to /export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.problems import HISTORY_MESSAGES
from sandbox import FakeUser, SentMessage
from storage.problems import NewProblem
from tests.conftest import Harness
from tests.support import LAT, WEST, seed, started_admin

LIMIT = 4096


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def problem_with_history(bot: Harness, notes: int) -> int:
    """A rectified problem whose log holds `notes` send-backs, each with a long reason."""
    ids = await seed(bot.store)
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    reporter = await bot.store.people.create(name="李小义", home_area_id=area.id)
    new = NewProblem(reporter, None, ids["DBH-01"], area.id, "dumping", "岸边堆放建筑垃圾", LAT, WEST, "shared")
    start = datetime.now(UTC) - timedelta(days=30)
    number = await bot.store.problems.insert(new, reported_at=start)
    await bot.store.problems.add_event(
        number, actor_id=reporter, action="report", from_status=None, to_status="reported", at=start
    )
    for n in range(notes):
        reason = f"第 {n + 1} 次退回：" + "岸坡上仍有建筑垃圾未清运，" * 20
        await bot.store.problems.add_event(
            number,
            actor_id=None,
            action="reject",
            from_status="rectified",
            to_status="assigned",
            note=reason,
            at=start + timedelta(minutes=n + 1),
        )
    await bot.store.problems.transition(number, expect=("reported",), status="rectified")
    return number


async def read_card(bot: Harness, user: FakeUser) -> list[SentMessage]:
    """Every text message the bot sent after the card's venue, once it has handled everything."""
    await bot.sandbox.wait_consumed()
    sent = user.messages()
    venue = max(i for i, m in enumerate(sent) if m.raw.get("venue") is not None)
    return sent[venue + 1 :]


async def test_a_problem_with_a_long_history_can_still_be_opened_and_acted_on(bot: Harness) -> None:
    admin = await started_admin(bot)
    number = await problem_with_history(bot, notes=20)  # about 6,000 characters of history
    await admin.send(f"/problem {number}")
    sent = await read_card(bot, admin)
    card = sent[0]
    assert f"问题 #{number}" in card.text and "✅ 核查通过，销号" in card.button_texts
    history = sent[1:]
    assert history and "办理过程" in history[0].text
    assert all(units(m.text) <= LIMIT for m in sent)
    assert "第 1 次退回" in history[0].text and "第 20 次退回" in history[-1].text
    assert not any("/export" in m.text for m in sent)
    assert bot.errors() == []


async def test_beyond_the_bound_the_earliest_events_are_left_to_export(bot: Harness) -> None:
    admin = await started_admin(bot)
    number = await problem_with_history(bot, notes=60)
    await admin.send(f"/problem {number}")
    sent = await read_card(bot, admin)
    assert "✅ 核查通过，销号" in sent[0].button_texts
    history = sent[1:]
    assert 1 <= len(history) <= HISTORY_MESSAGES
    assert all(units(m.text) <= LIMIT for m in sent)
    assert "/export" in history[0].text and "第 1 次退回" not in "".join(m.text for m in history)
    assert "第 60 次退回" in history[-1].text
    assert bot.errors() == []
