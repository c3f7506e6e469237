"""Two workers on one database, through the stand-in (issue 17): what a person or a group did through one is what
the other goes on from.

Each worker is a riverbot of its own polling the stand-in, with a bot token of its own (the stand-in, like
Telegram, lets one poller take a token's updates), and both on one database, shared. A person's private chat and a
group have the same ids for both bots, so what the workers keep by chat is theirs in common, as it is for workers
behind one webhook; each test has a person's updates go now to one worker, now to the other.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox import FakeUser
from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import bound_group, chief, current, run_weekly, seed, start_patrol

UID = 300_000_001


@pytest.fixture
async def workers(bot_factory: BotFactory) -> tuple[Harness, Harness]:
    a = await bot_factory(shared=True, summary_time="mon 00:00")
    database = a.settings.database_url if a.settings.on_postgres else f"sqlite:///{a.settings.database_path}"
    b = await bot_factory(shared=True, summary_time="mon 00:00", database_url=database)
    # One bot's update ids never repeat, and the inbox they share keeps one update per id: the second token's
    # ids are kept clear of the first's.
    b.sandbox.state.last_pushed_id = b.sandbox.state.consumed_upto = 10**9
    return a, b


def person(workers: tuple[Harness, Harness], name: str, user_id: int = UID) -> tuple[FakeUser, FakeUser]:
    """One person, as each worker's stand-in knows them (the same Telegram id)."""
    a, b = workers
    return tuple(w.sandbox.user(first_name=name, language_code="zh-hans", user_id=user_id) for w in (a, b))  # type: ignore[return-value]


async def met(user: FakeUser) -> None:
    """The person talks to this worker (twice: the first message of all records them, the next finds them), so
    that it has read them, and what they are doing, as of now."""
    for _ in range(2):
        await user.send("/help")
        assert "/help" in (await user.next_message()).text


async def settled(*workers: Harness) -> None:
    for worker in workers:
        await worker.sandbox.wait_consumed()


async def test_a_language_chosen_through_one_worker_is_spoken_by_the_other(workers: tuple[Harness, Harness]) -> None:
    a, b = workers
    on_a, on_b = person(workers, "李四")
    await met(on_b)  # the other worker has read them (and, alone, would keep them as they were)
    await on_a.send("/language")
    choice = await on_a.next_message()
    await on_a.press(choice, text="English")
    await settled(a)
    assert current(a, choice).text.startswith("Language set to English")
    await on_b.send("/help")
    assert "What you can do" in (await on_b.next_message()).text
    await settled(a, b)
    assert a.errors() == [] and b.errors() == []


async def test_an_album_split_across_workers_adds_every_photo_to_the_patrol_and_is_answered_once(
    workers: tuple[Harness, Harness],
) -> None:
    a, b = workers
    ids = await seed(a.store)
    on_a, on_b = person(workers, "孙")
    person_id = await chief(a, on_a, "孙七", [ids["DBH-01"]])
    await met(on_b)  # the other worker has read them before the patrol starts
    await start_patrol(a, on_a, int(time.time()) - 600)
    await on_a.send_photo(make_jpeg(64, 48, seed=1), media_group_id="album-1")
    await settled(a)
    await on_b.send_photo(make_jpeg(64, 48, seed=2), media_group_id="album-1")
    await settled(a, b)
    answers = [m.text for m in (*on_a.messages(), *on_b.messages()) if m.text and "已记录照片" in m.text]
    assert len(answers) == 1, answers
    patrol = await a.store.patrols.open_for(person_id)
    assert patrol is not None and len(await a.store.patrols.photos(patrol.id)) == 2
    assert a.errors() == [] and b.errors() == []


async def test_a_groups_summary_cooldown_holds_on_both_workers(workers: tuple[Harness, Harness]) -> None:
    a, b = workers
    group_id, _ = await bound_group(a)
    first_a, _ = person(workers, "路人", UID)
    _, second_b = person(workers, "过客", UID + 1)
    b.sandbox.group(title="城东片区河长群", members=[second_b], chat_id=group_id)
    a.sandbox.state.chats[group_id].members[first_a.id] = first_a.record
    await first_a.send("/summary", chat=group_id)
    assert (await first_a.next_message(chat=group_id)).text.startswith("📋 城东片区（CD）河长制工作周报")
    await settled(a)
    await second_b.send("/summary", chat=group_id)
    assert (await second_b.next_message(chat=group_id)).text == "本群的周报刚刚发送过，请 10 分钟后再试。"
    await settled(a, b)
    assert len(b.sandbox.state.sent_in_chat(group_id)) == 1  # the wait, and no summary
    assert a.errors() == [] and b.errors() == []


async def test_the_weekly_summary_goes_out_once_when_both_workers_run_the_job(workers: tuple[Harness, Harness]) -> None:
    a, b = workers
    group_id, _ = await bound_group(a)
    b.sandbox.group(title="城东片区河长群", chat_id=group_id)
    await asyncio.gather(run_weekly(a), run_weekly(b))
    sent = [len(w.sandbox.state.sent_in_chat(group_id)) for w in (a, b)]
    assert sorted(sent) == [0, 3], sent  # the text, the chart and the map, from one of them
    assert a.errors() == [] and b.errors() == []
