"""The weekly run under Telegram's flood control: dozens of area groups each get their summary exactly once though
the stand-in answers 429s, and a group whose 429 storm outlasts the rate limiter's retries gets the rest of its
summary on the next run, nothing twice."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from benchmarks.delivery import BoundArea, bound_areas, check_group
from bot import delivery as summaries
from bot.app import MAX_RETRIES_AFTER_429
from bot.summaries import last_week
from sandbox import FloodLimits
from storage.summaries import AREA
from tests.conftest import BotFactory, Harness
from tests.support import run_weekly

AREAS = 48
# Telegram's limits scaled so that a run of ~100 messages meets them however fast the machine is. Overall, 40 a
# second, and the bot's limiter is set half as fast again: Telegram does not publish its limits exactly, and a bot
# that sends a little faster than Telegram allows must still lose nothing. But a slow machine never reaches 40 a
# second, so the group limit is the one met for sure: one message per group every two seconds, while the bot (its
# group pacing off, as in every test) sends each group's chart right after its text. Every group's chart is refused
# once, unless the machine takes over two seconds from one message of a group to the next.
SCALED = FloodLimits(overall=40, overall_period=1.0, group=1, group_period=2.0)
BOT_RATE = SCALED.overall * 1.5
PTB_RETRIES = MAX_RETRIES_AFTER_429  # bot.app's AIORateLimiter(max_retries=...)


async def delivered(bot: Harness, areas: list[BoundArea]) -> list[str]:
    """What is wrong with any group's summary or its record (empty: every group got it once, in order)."""
    week = last_week(datetime.now(bot.settings.tz).date())
    problems = []
    for area in areas:
        record = await bot.store.summaries.get(AREA, area.area_id, week.code, area.chat_id)
        if record is None or record.status != "sent":
            problems.append(f"{area.code}: record {record}")
        problem = check_group(
            bot.sandbox.state.sent_in_chat(area.chat_id), area.code, record.message_ids if record else None
        )
        if problem:
            problems.append(problem)
    return problems


async def test_every_group_gets_its_summary_once_though_telegram_answers_429s(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 00:00", rate_limit_per_second=BOT_RATE)
    areas = await bound_areas(bot.store, bot.sandbox, AREAS, today=datetime.now(bot.settings.tz).date())
    bot.server.flood.enable(SCALED)
    bot.server.faults.inject("429", count=2, method="sendMessage", retry_after=1)
    bot.server.faults.inject("429", count=2, method="sendPhoto", retry_after=1)
    await run_weekly(bot)
    assert await delivered(bot, areas) == []
    assert bot.server.flood.answered > 0, "the run never met the flood limit: this test proves nothing"
    assert bot.server.faults.fired == [("429", "sendMessage")] * 2 + [("429", "sendPhoto")] * 2
    assert not bot.errors()
    await run_weekly(bot)  # the job again: nothing more to send
    assert sum(len(bot.sandbox.state.sent_in_chat(a.chat_id)) for a in areas) == 2 * AREAS


async def test_a_429_storm_past_the_retries_leaves_the_rest_for_the_next_run(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "RETRY_DELAYS", (0,))
    bot = await bot_factory(summary_time="mon 00:00")
    areas = await bound_areas(bot.store, bot.sandbox, 6, today=datetime.now(bot.settings.tz).date())
    stormy = areas[2]
    # The chart to one group is refused once more than the rate limiter retries: the text is already there.
    bot.server.faults.inject("429", count=PTB_RETRIES + 1, method="sendPhoto", chat_id=stormy.chat_id)
    await run_weekly(bot)
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(AREA, stormy.area_id, week.code, stormy.chat_id)
    text = bot.sandbox.state.sent_in_chat(stormy.chat_id)
    assert [m.kind for m in text] == ["text"]
    assert record is not None and record.status == "pending" and record.message_ids == [text[0].message_id]
    assert record.last_error is not None and "RetryAfter" in record.last_error
    assert await delivered(bot, [a for a in areas if a != stormy]) == []
    # PTB's limiter logs the 429 it gives up on; nothing else went wrong
    assert [r.name for r in bot.errors()] == ["telegram.ext.AIORateLimiter"]
    assert all(r.levelno == logging.ERROR for r in bot.errors())

    await run_weekly(bot)
    assert await delivered(bot, areas) == []  # the stormy group: its text once, then its chart
    record = await bot.store.summaries.get(AREA, stormy.area_id, week.code, stormy.chat_id)
    assert record is not None and record.attempts == 2
    assert bot.server.faults.fired == [("429", "sendPhoto")] * (PTB_RETRIES + 1)
