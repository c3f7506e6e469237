"""The cooldown behind a group's /summary: one summary per group per period, each asker told once, kept as marks
in the store (so a restart, or another worker, keeps it too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.delivery import GROUP_SUMMARY_COOLDOWN, GroupAsk
from bot.services import Services
from storage import Store

T0 = datetime(2024, 5, 6, 8, 0, 0, tzinfo=UTC)
TOLD = GroupAsk(send=False, tell_wait_minutes=GROUP_SUMMARY_COOLDOWN // 60)


async def test_a_group_gets_one_summary_per_cooldown_and_each_asker_one_answer(
    settings: Settings, store: Store
) -> None:
    delivery = Services.create(settings, store).delivery
    assert await delivery.ask_in_group(-100, 1, now=T0) == GroupAsk(send=True)
    assert await delivery.ask_in_group(-100, 1, now=T0) == TOLD
    assert await delivery.ask_in_group(-100, 1, now=T0) == GroupAsk(send=False)
    assert await delivery.ask_in_group(-100, 2, now=T0) == TOLD
    assert await delivery.ask_in_group(-200, 1, now=T0) == GroupAsk(send=True)


async def test_the_wait_told_is_what_is_left_and_a_refused_ask_does_not_push_the_next_go_back(
    settings: Settings, store: Store
) -> None:
    delivery = Services.create(settings, store).delivery
    assert await delivery.ask_in_group(-100, 1, now=T0) == GroupAsk(send=True)
    assert await delivery.ask_in_group(-100, 2, now=T0 + timedelta(seconds=61)) == GroupAsk(
        send=False, tell_wait_minutes=9
    )
    for minute in range(2, 10):
        assert await delivery.ask_in_group(-100, 2, now=T0 + timedelta(minutes=minute)) == GroupAsk(send=False)
    assert await delivery.ask_in_group(-100, 3, now=T0 + timedelta(seconds=599)) == GroupAsk(
        send=False, tell_wait_minutes=1
    )
    assert await delivery.ask_in_group(-100, 2, now=T0 + timedelta(seconds=GROUP_SUMMARY_COOLDOWN)) == GroupAsk(
        send=True
    )


async def test_the_cooldown_outlives_a_restart(settings: Settings) -> None:
    """It used to be kept in memory: a restart let one more summary through."""
    async with await Store.open(settings.database) as store:
        assert await Services.create(settings, store).delivery.ask_in_group(-100, 1, now=T0) == GroupAsk(send=True)
    async with await Store.open(settings.database) as store:
        later = T0 + timedelta(minutes=1)
        assert await Services.create(settings, store).delivery.ask_in_group(-100, 2, now=later) == GroupAsk(
            send=False, tell_wait_minutes=9
        )
