"""Flood control: off unless asked for; then the overall, per-group and per-private-chat windows answer 429 the
way Telegram does, with the whole seconds until the window frees, and count what they refused."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sandbox import BotApiServer, FloodControl, FloodLimits
from tests.sandbox.conftest import World, jpeg

GROUP = -1001234567890
PRIVATE = 424242


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def control(limits: FloodLimits) -> tuple[FloodControl, Clock]:
    clock = Clock()
    return FloodControl(limits, clock=clock), clock


def test_off_by_default_everything_passes() -> None:
    flood = FloodControl()
    assert all(flood.check("t", "sendMessage", GROUP, group=True) is None for _ in range(1000))
    assert flood.answered == 0


def test_the_overall_limit_frees_as_the_window_slides() -> None:
    flood, clock = control(FloodLimits(overall=3, overall_period=1.0, group=100, private=100))
    for chat in (GROUP, GROUP - 1, PRIVATE):
        assert flood.check("t", "sendMessage", chat, group=chat < 0) is None
        clock.now += 0.25
    # three sent at 0, 0.25, 0.5; at 0.75 the oldest leaves the window at 1.0: wait 0.25 s, answered as 1 s
    assert flood.check("t", "sendPhoto", GROUP - 2, group=True) == 1
    clock.now = 1001.0
    assert flood.check("t", "sendPhoto", GROUP - 2, group=True) is None
    assert [(r.limit, r.retry_after, r.method) for r in flood.refused] == [("overall", 1, "sendPhoto")]
    # another bot has its own window
    assert flood.check("other", "sendMessage", GROUP, group=True) is None


def test_a_group_may_take_twenty_a_minute_and_is_told_the_seconds_left() -> None:
    flood, clock = control(FloodLimits())  # Telegram's: 30/s, 20/min a group, 1/s a private chat
    for _ in range(20):
        assert flood.check("t", "sendMessage", GROUP, group=True) is None
        clock.now += 1.0
    assert flood.check("t", "sendMessage", GROUP, group=True) == 40  # the first leaves at 60 s; it is 20 s now
    clock.now += 39.5
    assert flood.check("t", "sendMessage", GROUP, group=True) == 1  # half a second left: rounded up
    assert flood.check("t", "sendMessage", GROUP - 1, group=True) is None  # other groups are not held up
    clock.now += 0.5
    assert flood.check("t", "sendMessage", GROUP, group=True) is None
    assert [r.limit for r in flood.refused] == ["group", "group"]


def test_a_private_chat_takes_one_a_second() -> None:
    flood, clock = control(FloodLimits())
    assert flood.check("t", "sendMessage", PRIVATE, group=False) is None
    assert flood.check("t", "sendMessage", PRIVATE, group=False) == 1
    assert flood.check("t", "sendMessage", PRIVATE + 1, group=False) is None
    clock.now += 1.0
    assert flood.check("t", "sendMessage", PRIVATE, group=False) is None
    assert flood.refused[0].limit == "private"


def test_an_album_counts_each_item_and_other_methods_nothing() -> None:
    flood, _ = control(FloodLimits(overall=100, group=5, group_period=60.0))
    assert flood.check("t", "sendMediaGroup", GROUP, group=True, count=4) is None
    assert flood.check("t", "sendMediaGroup", GROUP, group=True, count=2) == 60
    assert flood.check("t", "sendMessage", GROUP, group=True) is None  # the fifth
    for method in ("getUpdates", "getFile", "answerCallbackQuery", "editMessageText", "sendChatAction", "getMe"):
        assert flood.check("t", method, GROUP, group=True) is None
    assert flood.answered == 1


def test_limits_must_allow_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FloodLimits(group=0)
    with pytest.raises(ValueError, match="positive"):
        FloodLimits(overall_period=0)


async def test_over_http_a_429_is_telegrams_and_polling_is_spared(world: World) -> None:
    alice = world.sb.user("Alice")
    group = world.sb.group(title="河长群", members=[alice])
    world.server.flood.enable(FloodLimits(overall=100, group=2, group_period=30.0, private=1, private_period=30.0))
    await world.ok("sendMessage", chat_id=group.id, text="1")
    await world.ok("sendMessage", chat_id=str(group.id), text="2")  # form-style string ids count for the same chat
    response = await world.call("sendMessage", chat_id=group.id, text="3")
    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 30",
        "parameters": {"retry_after": 30},
    }
    upload = await world.http.post(
        f"{world.api}/sendPhoto", data={"chat_id": str(group.id)}, files={"photo": ("p.jpg", jpeg(), "image/jpeg")}
    )
    assert upload.status_code == 429  # a photo is a message like any other
    await world.ok("sendMessage", chat_id=alice.id, text="hi")
    assert (await world.call("sendMessage", chat_id=alice.id, text="again")).status_code == 429
    # neither polling, nor callback answers, nor file lookups, nor chat actions are limited
    for _ in range(5):
        await world.ok("getUpdates", timeout=0)
        await world.ok("sendChatAction", chat_id=group.id, action="typing")
    assert (await world.call("answerCallbackQuery", callback_query_id="nope")).status_code != 429
    assert (await world.call("getFile", file_id="nope")).status_code != 429
    assert world.server.flood.answered == 3
    assert [c.status for c in world.sb.calls if c.status == 429] == [429, 429, 429]
    assert [m.text for m in world.sb.state.sent_in_chat(group.id)] == ["1", "2"]


async def test_injected_faults_come_first_and_are_not_counted_as_flood(world: World) -> None:
    world.server.flood.enable(FloodLimits(private=1, private_period=30.0))
    alice = world.sb.user("Alice")
    world.server.faults.inject("429", method="sendMessage", retry_after=2)
    assert (await world.call("sendMessage", chat_id=alice.id, text="x")).status_code == 429
    await world.ok("sendMessage", chat_id=alice.id, text="x")  # the fault took no room in the window
    assert world.server.flood.answered == 0 and world.server.faults.fired == [("429", "sendMessage")]


async def test_off_by_default_over_http() -> None:
    async with BotApiServer() as server:
        token = server.add_bot()
        sb = server.sandbox(token)
        group = sb.group()
        bot_api = f"{server.url}/bot{token}"
        async with httpx.AsyncClient() as http:
            answers = await asyncio.gather(
                *(http.post(f"{bot_api}/sendMessage", json={"chat_id": group.id, "text": str(i)}) for i in range(60))
            )
        assert {a.status_code for a in answers} == {200}
        assert server.flood.answered == 0 and server.flood.limits is None


async def test_a_429_storm_can_hit_one_chat_only(world: World) -> None:
    alice, bob = world.sb.user("Alice"), world.sb.user("Bob")
    world.server.faults.inject("429", count=2, method="sendMessage", chat_id=bob.id, retry_after=5)
    await world.ok("sendMessage", chat_id=alice.id, text="x")
    assert (await world.call("sendMessage", chat_id=str(bob.id), text="x")).json()["parameters"] == {"retry_after": 5}
    assert (await world.call("sendMessage", chat_id=bob.id, text="x")).status_code == 429
    await world.ok("sendMessage", chat_id=bob.id, text="x")
    assert world.server.faults.fired == [("429", "sendMessage")] * 2


async def test_latency_delays_calls_but_not_polling(world: World) -> None:
    alice = world.sb.user("Alice")
    world.server.latency = 0.2
    started = time.monotonic()
    await world.ok("getUpdates", timeout=0)
    assert time.monotonic() - started < 0.15
    await world.ok("sendMessage", chat_id=alice.id, text="x")
    assert time.monotonic() - started >= 0.2
