"""The cooldown behind a group's /summary: one go per key per period, and a bounded memory."""

from __future__ import annotations

from bot.config import Settings
from bot.cooldown import Cooldown
from bot.delivery import GROUP_SUMMARY_COOLDOWN, GroupAsk
from bot.services import Services
from storage import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_go_per_period_and_the_wait_left() -> None:
    clock = Clock()
    cooldown = Cooldown(600, clock=clock)
    assert cooldown.take("group") == 0
    clock.now += 60
    assert cooldown.take("group") == 540
    assert cooldown.take("other group") == 0
    clock.now += 540
    assert cooldown.take("group") == 0


def test_a_refused_ask_does_not_push_the_next_go_back() -> None:
    clock = Clock()
    cooldown = Cooldown(600, clock=clock)
    cooldown.take("group")
    for _ in range(9):
        clock.now += 60
        assert cooldown.take("group") > 0
    clock.now += 60
    assert cooldown.take("group") == 0


def test_memory_is_capped_oldest_first() -> None:
    clock = Clock()
    cooldown = Cooldown(600, cap=3, clock=clock)
    for key in ("a", "b", "c", "d"):
        assert cooldown.take(key) == 0
    assert cooldown.take("a") == 0  # forgotten: the cap, not the period, let it go
    assert cooldown.take("d") > 0


def test_a_group_gets_one_summary_per_cooldown_and_each_asker_one_answer(settings: Settings, store: Store) -> None:
    delivery = Services.create(settings, store).delivery
    assert delivery.ask_in_group(-100, 1) == GroupAsk(send=True)
    assert delivery.ask_in_group(-100, 1) == GroupAsk(send=False, tell_wait_minutes=GROUP_SUMMARY_COOLDOWN // 60)
    assert delivery.ask_in_group(-100, 1) == GroupAsk(send=False)
    assert delivery.ask_in_group(-100, 2) == GroupAsk(send=False, tell_wait_minutes=GROUP_SUMMARY_COOLDOWN // 60)
    assert delivery.ask_in_group(-200, 1) == GroupAsk(send=True)
