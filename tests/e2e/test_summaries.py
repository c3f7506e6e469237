"""Weekly area summaries through the stand-in: delivered once per group and week (job twice, restart), retried
after 5xx, the admins told once when a group can't be reached; /summary in a bound group."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot import delivery as summaries
from bot.app import stop as stop_app
from bot.i18n import Locales
from bot.summaries import last_week, week_dates
from handlers.summaries import weekly_summaries
from storage.summaries import AREA
from tests.conftest import BotFactory, Harness
from tests.support import bound_group, restart, run_job, run_weekly, started_admin


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "RETRY_DELAYS", (0,))


def in_chat(bot: Harness, chat_id: int) -> list[str]:
    return [m.kind for m in bot.sandbox.state.sent_in_chat(chat_id)]


async def test_the_job_twice_and_a_restart_deliver_one_summary(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 00:00")
    group_id, area_id = await bound_group(bot)
    await run_weekly(bot)
    sent = bot.sandbox.state.sent_in_chat(group_id)
    assert len(sent) == 3, [m.text for m in sent]
    text, photo, shown = sent
    assert "城东片区（CD）河长制工作周报" in text.text and "巡河率" in text.text and "应巡 2" in text.text
    assert "未达标河长（1 人）" in text.text and "赵六：丁堡河（城东段）、立公河" in text.text
    assert photo.kind == "photo" and "巡河率" in photo.text
    assert shown.kind == "photo" and "各河段巡河情况；问题标注为当前状态" in shown.text  # the area's map
    await run_weekly(bot)
    assert len(bot.sandbox.state.sent_in_chat(group_id)) == 3

    restarted = await restart(bot)
    try:
        await run_job(bot, weekly_summaries, restarted)
        assert len(bot.sandbox.state.sent_in_chat(group_id)) == 3
    finally:
        await stop_app(restarted)
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(AREA, area_id, week.code, group_id)
    assert record is not None and record.status == "sent" and len(record.message_ids) == 3


async def test_5xx_twice_then_delivered_on_a_later_attempt(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 00:00")
    group_id, area_id = await bound_group(bot)
    bot.server.faults.inject("5xx", count=2, method="sendMessage")
    await run_weekly(bot)
    await run_weekly(bot)
    await run_weekly(bot)
    sent = bot.sandbox.state.sent_in_chat(group_id)
    assert [m.kind for m in sent].count("photo") == 2  # the chart and the area's map
    assert len(sent) == 3
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(AREA, area_id, week.code, group_id)
    assert record is not None and record.status == "sent" and record.attempts == 3


async def test_a_group_that_keeps_failing_is_reported_to_the_admins_once(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 00:00")
    admin = await started_admin(bot)
    group_id, area_id = await bound_group(bot)
    bot.server.faults.inject("5xx", count=summaries.MAX_ATTEMPTS, method="sendMessage", chat_id=group_id)
    for _ in range(summaries.MAX_ATTEMPTS):
        await run_weekly(bot)
    bot.server.faults.clear()
    # The group's chief never opened the bot: the office hears once that the digests cannot reach him.
    assert "每周工作简报有 1 人无法送达" in (await admin.next_message()).text
    told = await admin.next_message()
    week = last_week(datetime.now(bot.settings.tz).date())
    assert f"城东片区（CD）{week_dates(week, Locales.load(), 'zh')} 周报" in told.text and "5 次未能发送" in told.text
    assert "-W" not in told.text  # dates, not an ISO week code
    await run_weekly(bot)
    await run_weekly(bot)
    await admin.expect_silence()
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(AREA, area_id, week.code, group_id)
    assert record is not None and record.status == "failed" and record.attempts == summaries.MAX_ATTEMPTS
    assert bot.sandbox.state.sent_in_chat(group_id) == []
