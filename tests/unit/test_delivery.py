"""The delivery engine against a stand-in sender: exactly once, resumed after the last piece sent, a failed send
retried later and given up after MAX_ATTEMPTS, and an error that is no failed send let through."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import delivery
from bot.config import load_settings
from bot.delivery import Failure, may_try, retry_delay
from bot.services import Services
from bot.summaries import Week
from bot.todo import Action
from storage import Store
from storage.registry import ReachValues
from storage.summaries import AREA

WEEK = Week(2026, 47)
GROUP = -100123


class SendFailed(Exception):
    """What a stand-in Telegram answers when told to fail."""


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.fail_at: set[int] = set()  # the n-th send (0-based, over the sender's life) fails
        self.crash = False
        self._count = 0

    def _next(self, chat_id: int, what: str) -> int:
        index = self._count
        self._count += 1
        if self.crash:
            raise RuntimeError("a bug")
        if index in self.fail_at:
            raise SendFailed("Bad Gateway")
        self.sent.append((chat_id, what))
        return 1000 + index

    async def send_message(self, chat_id: int, text: str, *, actions: Sequence[Action] = ()) -> int:
        return self._next(chat_id, "text")

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str) -> int:
        assert photo.startswith(b"\xff\xd8")  # a JPEG
        return self._next(chat_id, "photo")

    def failure(self, error: Exception) -> Failure | None:
        return "other" if isinstance(error, SendFailed) else None


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Services]:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data")
    async with await Store.open(settings.database) as store:
        area_id, _ = await store.areas.upsert("A1", "曲塘镇", "Qutang")
        await store.chats.upsert(GROUP, type="supergroup", title="Qutang", bot_status="member")
        await store.bindings.bind(GROUP, area_id, bound_by=None)
        yield Services.create(settings, store)


@pytest.mark.parametrize(
    ("status", "next_at", "expected"),
    [
        (None, None, True),
        ("pending", None, True),
        ("pending", -1, True),
        ("pending", 1, False),
        ("sent", None, False),
        ("failed", None, False),
        ("skipped", None, False),
    ],
)
def test_may_try(status: str | None, next_at: int | None, expected: bool) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    at = None if next_at is None else now + timedelta(seconds=next_at)
    assert may_try(status, at, now) is expected


def test_retry_delays_then_give_up() -> None:
    delays = [retry_delay(n) for n in range(1, delivery.MAX_ATTEMPTS + 1)]
    assert delays == [*delivery.RETRY_DELAYS, None][: delivery.MAX_ATTEMPTS]


async def test_sent_once(svc: Services) -> None:
    area = await svc.delivery.area_by_code("A1")
    assert area is not None
    sender = FakeSender()
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([GROUP], [])
    assert [what for _, what in sender.sent] == ["text", "photo"]
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([], [])
    record = await svc.store.summaries.get(AREA, area.id, WEEK.code, GROUP)
    assert record is not None and record.status == "sent" and record.message_ids == [1000, 1001]


async def test_failed_piece_is_retried_from_where_it_stopped(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_DELAYS", (0,))
    area = await svc.delivery.area_by_code("A1")
    assert area is not None
    sender = FakeSender()
    sender.fail_at = {1}  # the chart
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([], [GROUP])
    record = await svc.store.summaries.get(AREA, area.id, WEEK.code, GROUP)
    assert record is not None and record.status == "pending" and record.message_ids == [1000]
    assert record.last_error == "SendFailed: Bad Gateway"
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([GROUP], [])
    assert [what for _, what in sender.sent] == ["text", "photo"]  # the text not sent again


async def test_given_up_after_max_attempts(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "RETRY_DELAYS", (0,))
    area = await svc.delivery.area_by_code("A1")
    assert area is not None
    sender = FakeSender()
    sender.fail_at = set(range(100))
    for _ in range(delivery.MAX_ATTEMPTS):
        await svc.delivery.deliver_area(sender, area, WEEK)
    record = await svc.store.summaries.get(AREA, area.id, WEEK.code, GROUP)
    assert record is not None and record.status == "failed" and record.attempts == delivery.MAX_ATTEMPTS
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([], [])


async def test_an_error_that_is_no_failed_send_is_let_through(svc: Services) -> None:
    area = await svc.delivery.area_by_code("A1")
    assert area is not None
    sender = FakeSender()
    sender.crash = True
    with pytest.raises(RuntimeError):
        await svc.delivery.deliver_area(sender, area, WEEK)


async def test_one_area_failing_costs_the_others_nothing(svc: Services) -> None:
    second, _ = await svc.store.areas.upsert("A2", "二区", "Second")
    await svc.store.chats.upsert(GROUP - 1, type="supergroup", title="Second", bot_status="member")
    await svc.store.bindings.bind(GROUP - 1, second, bound_by=None)
    sender = FakeSender()
    sender.fail_at = {0}  # whichever area goes first fails its first piece
    await svc.delivery.deliver_week(sender, WEEK)
    statuses = sorted(
        r.status for r in (await svc.store.summaries.for_week(WEEK.code)) if r.kind == AREA
    )
    assert statuses == ["pending", "sent"]


async def _mapped(svc: Services) -> None:
    """A reach with a line in area A1: the summary gains the area's map."""
    area = await svc.store.areas.by_code("A1")
    assert area is not None
    line = {"type": "LineString", "coordinates": [[120.40, 32.5], [120.43, 32.5]]}
    await svc.store.reaches.upsert(
        ReachValues(
            "R1", "丁堡河", "Dingbao River", area.id, "village", 2.8, (), json.dumps(line), (32.5, 120.40, 32.5, 120.43)
        )
    )


async def test_the_area_map_is_the_last_piece_and_resumed_alone(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_DELAYS", (0,))
    await _mapped(svc)
    area = await svc.delivery.area_by_code("A1")
    assert area is not None
    sender = FakeSender()
    sender.fail_at = {2}  # the map
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([], [GROUP])
    record = await svc.store.summaries.get(AREA, area.id, WEEK.code, GROUP)
    assert record is not None and record.status == "pending" and record.message_ids == [1000, 1001]
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([GROUP], [])
    assert [what for _, what in sender.sent] == ["text", "photo", "photo"]  # text and chart not sent again
    record = await svc.store.summaries.get(AREA, area.id, WEEK.code, GROUP)
    assert record is not None and record.status == "sent" and record.message_ids == [1000, 1001, 1003]


async def test_a_map_that_cannot_be_drawn_leaves_the_summary_whole(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _mapped(svc)

    async def broken(*args: object, **kwargs: object) -> bytes | None:
        raise OSError("no font")

    monkeypatch.setattr(svc.maps, "area_map", broken)
    area = await svc.delivery.area_by_code("A1")
    assert area is not None
    sender = FakeSender()
    assert await svc.delivery.deliver_area(sender, area, WEEK) == ([GROUP], [])
    assert [what for _, what in sender.sent] == ["text", "photo"]
