"""The inbox's rules: keep before confirming, ignore a second delivery, leftovers first, a poisonous update set
aside, handled marks batched, old entries forgotten."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.failures import FailedUpdates
from bot.inbox import KEEP_HANDLED, MAX_ATTEMPTS, InboxService
from storage import Store
from storage.registry import ReachValues


def _update(update_id: int, text: str = "你好") -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_764_000_000,
            "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "张"},
            "text": text,
        },
    }


def _inbox(store: Store, settings: Settings) -> InboxService:
    return InboxService(store, FailedUpdates(store, settings))


async def test_a_batch_is_kept_whole_and_a_second_delivery_is_ignored(store: Store, settings: Settings) -> None:
    inbox = _inbox(store, settings)
    first = [_update(1), _update(2, "河面有漂浮物")]
    assert await inbox.take(first) == first
    assert await inbox.take([_update(2, "河面有漂浮物"), _update(3)]) == [_update(3)]
    figures = await inbox.figures()
    assert figures.waiting == 3 and figures.last_update_id == 3 and figures.last_handled_at is None


async def test_handled_updates_are_marked_and_not_handled_again(store: Store, settings: Settings) -> None:
    inbox = _inbox(store, settings)
    await inbox.take([_update(1), _update(2), _update(3)])
    inbox.handled(1)
    inbox.handled(3)
    assert await inbox.settle()
    leftovers = await inbox.leftovers()
    assert [u["update_id"] for u in leftovers.updates] == [2]  # only the one not handled, whole
    assert leftovers.updates[0] == _update(2)
    assert await store.fetchval("SELECT payload FROM inbox WHERE update_id = 1") is None  # handled: payload dropped
    assert await inbox.take([_update(1)]) == []  # still recognised


async def test_an_update_that_kills_the_bot_every_time_is_set_aside(store: Store, settings: Settings) -> None:
    inbox = _inbox(store, settings)
    await inbox.take([_update(7), _update(8)])
    for _ in range(MAX_ATTEMPTS):  # each restart tries again; the process dies before it is handled
        assert [u["update_id"] for u in (await inbox.leftovers()).updates] == [7, 8]
    given_up = await inbox.leftovers()
    assert given_up.updates == [] and given_up.given_up == [7, 8]
    failures = await store.failed_updates.open()
    assert sorted(f.update_id or 0 for f in failures) == [7, 8]
    assert all(f.chat_id == 42 and "killed" in f.error for f in failures)
    assert (await inbox.leftovers()).given_up == []


async def test_handled_entries_are_forgotten_after_the_window(store: Store, settings: Settings) -> None:
    inbox = _inbox(store, settings)
    await inbox.take([_update(1), _update(2)])
    inbox.handled(1)
    await inbox.settle()
    now = datetime.now(UTC)
    assert await inbox.prune(now) == 0
    assert await inbox.prune(now + KEEP_HANDLED + timedelta(minutes=1)) == 1
    assert await store.fetchval("SELECT count(*) FROM inbox") == 1  # the unhandled one is never pruned


async def test_a_track_point_stored_twice_is_kept_once(store: Store) -> None:
    area_id, _ = await store.areas.upsert("A", "片区", "Area")
    reach_id, _ = await store.reaches.upsert(ReachValues("A-1", "河", "River", area_id, "town", 1.0, (), None, None))
    person_id = await store.people.create(name="张三", telegram_id=5)
    patrol, _ = await store.patrols.start(person_id, reach_id, datetime(2026, 12, 1, 8, tzinfo=UTC))
    at = datetime(2026, 12, 1, 8, 5, tzinfo=UTC)
    for _ in range(2):  # the same live edit handled again after a crash
        await store.patrols.add_point(patrol.id, at=at, lat=31.0, lon=121.0, accuracy_m=None, source="live")
    assert await store.patrols.point_count(patrol.id) == 1


async def test_an_update_counts_as_handled_only_after_the_points_queued_before_it_are_written(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mark is written only after a caught_up() that began once its update was reported handled: an update
    reported while the points are being written (its point may not be) waits for the next batch."""
    inbox = _inbox(store, settings)
    await inbox.take([_update(1), _update(2)])
    reported: list[int] = []
    covered: list[set[int]] = []  # per caught_up() call: the updates reported handled when it began
    marked: list[list[int]] = []
    real_caught_up, real_mark_done = store.patrols.caught_up, store.inbox.mark_done

    def report(update_id: int) -> None:
        reported.append(update_id)
        inbox.handled(update_id)

    async def caught_up() -> None:
        covered.append(set(reported))
        if 2 not in reported:
            report(2)  # another update handled meanwhile, its point queued after this call began
        await real_caught_up()

    async def mark_done(update_ids: Iterable[int]) -> None:
        marked.append(list(update_ids))
        await real_mark_done(marked[-1])

    monkeypatch.setattr(store.patrols, "caught_up", caught_up)
    monkeypatch.setattr(store.inbox, "mark_done", mark_done)
    report(1)
    assert await inbox.settle()
    assert sorted(u for batch in marked for u in batch) == [1, 2]
    assert all(set(batch) <= seen for batch, seen in zip(marked, covered, strict=True))
