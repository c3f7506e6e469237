"""Lists longer than a page: ◀ ▶ show the page pressed (/reaches, /assign, /unassign, /myreports)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.state import SentMessage
from storage import Store
from storage.problems import NewProblem
from storage.registry import ReachValues
from tests.conftest import ADMIN_ID, Harness
from tests.support import started_admin, tap

AREAS = 14  # the area lists show 12 a page
PER_REACH = 10  # an unassign list shows 8 a page
REACHES = 22  # a chief's own reaches show 20 a page
REPORTS = 23  # /myreports shows 20 a page


async def many_areas(store: Store) -> int:
    """AREAS areas, A01..A14, each with one reach; returns the first area's id."""
    first = 0
    for number in range(1, AREAS + 1):
        code = f"{number:02}"
        area_id, _ = await store.areas.upsert(f"A{code}", f"片区{code}", f"Area {code}")
        first = first or area_id
        await store.reaches.upsert(
            ReachValues(f"R{code}", f"河{code}", f"River {code}", area_id, "village", None, (), None, None)
        )
    return first


def labels(message: SentMessage) -> list[str]:
    return [text for row in message.buttons for text, _ in row]


@pytest.mark.parametrize("command", ["/reaches", "/assign", "/unassign"])
async def test_the_area_lists_turn_to_the_page_pressed(bot: Harness, command: str) -> None:
    await many_areas(bot.store)
    admin = await started_admin(bot)
    await admin.send(command)
    first = await admin.next_message()
    assert "片区01 · A01" in labels(first) and "片区13 · A13" not in labels(first)
    second = await tap(bot, admin, first, "▶")
    assert "片区13 · A13" in labels(second) and "片区14 · A14" in labels(second)
    assert "片区01 · A01" not in labels(second) and "2/2" in labels(second)
    back = await tap(bot, admin, second, "◀")
    assert "片区01 · A01" in labels(back) and "1/2" in labels(back)
    assert bot.errors() == []


async def chief(store: Store, name: str) -> int:
    person = await store.people.create(name=name)
    await store.people.grant_role(person, "chief", level="village")
    return person


async def test_a_reach_with_many_chiefs_turns_its_unassign_page(bot: Harness) -> None:
    area, _ = await bot.store.areas.upsert("CD", "城东片区", "Chengdong")
    reach, _ = await bot.store.reaches.upsert(
        ReachValues("LGH-01", "立公河", "Ligong River", area, "village", None, (), None, None)
    )
    today = datetime.now(bot.settings.tz).date()
    for number in range(1, PER_REACH + 1):
        # Started on different days, so the list has one order: the oldest first.
        person = await chief(bot.store, f"河长{number:02}")
        await bot.store.assignments.assign(person, reach, level="village", starts_on=today - timedelta(days=number))
    admin = await started_admin(bot)
    await admin.send("/unassign")
    reaches = await tap(bot, admin, await admin.next_message(), "城东片区 · CD")
    first = await tap(bot, admin, reaches, "立公河 · LGH-01 · 👤10")
    shown = [label.split(" · ")[0] for label in labels(first) if label.startswith("河长")]
    assert len(shown) == 8
    second = await tap(bot, admin, first, "▶")
    rest = [label.split(" · ")[0] for label in labels(second) if label.startswith("河长")]
    assert len(rest) == PER_REACH - 8 and not set(rest) & set(shown)
    assert "2/2" in labels(second)
    assert bot.errors() == []


async def test_a_chief_with_many_reaches_turns_the_page_of_their_own(bot: Harness) -> None:
    area, _ = await bot.store.areas.upsert("CD", "城东片区", "Chengdong")
    admin = await started_admin(bot)
    me = await bot.store.people.by_telegram_id(ADMIN_ID)
    assert me is not None
    await bot.store.people.grant_role(me.id, "chief", level="town")
    today = datetime.now(bot.settings.tz).date()
    for number in range(1, REACHES + 1):
        reach, _ = await bot.store.reaches.upsert(
            ReachValues(f"R{number:02}", f"河{number:02}", f"River {number:02}", area, "town", None, (), None, None)
        )
        await bot.store.assignments.assign(me.id, reach, level="town", starts_on=today)
    await admin.send("/reaches")
    mine = await tap(bot, admin, await admin.next_message(), "我负责的河段")
    assert "河01 · R01" in labels(mine) and "河21 · R21" not in labels(mine)
    second = await tap(bot, admin, mine, "▶")
    assert labels(second)[:2] == ["河21 · R21", "河22 · R22"]
    assert "河01 · R01" not in labels(second) and "2/2" in labels(second)
    assert bot.errors() == []


async def test_myreports_turns_its_pages(bot: Harness) -> None:
    area, _ = await bot.store.areas.upsert("CD", "城东片区", "Chengdong")
    reach, _ = await bot.store.reaches.upsert(
        ReachValues("LGH-01", "立公河", "Ligong River", area, "village", None, (), None, None)
    )
    admin = await started_admin(bot)
    me = await bot.store.people.by_telegram_id(ADMIN_ID)
    assert me is not None
    at = datetime(2026, 11, 1, tzinfo=UTC)
    for number in range(REPORTS):
        problem = NewProblem(me.id, None, reach, area, "garbage", None, 32.5, 120.45, "shared")
        await bot.store.problems.insert(problem, reported_at=at + timedelta(hours=number))

    await admin.send("/myreports")
    first = await admin.next_message()
    assert first.text == f"您上报或关注的问题（{REPORTS} 个）："
    numbers = [label.split(" ")[0] for label in labels(first) if label.startswith("#")]
    assert numbers == [f"#{n}" for n in range(REPORTS, REPORTS - 20, -1)]  # the newest first
    second = await tap(bot, admin, first, "▶")
    numbers = [label.split(" ")[0] for label in labels(second) if label.startswith("#")]
    assert numbers == ["#3", "#2", "#1"]
    assert "2/2" in labels(second)
    back = await tap(bot, admin, second, "◀")
    assert f"#{REPORTS}" in [label.split(" ")[0] for label in labels(back)]
    assert bot.errors() == []
