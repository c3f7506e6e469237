"""Who the bot cannot write to, and what follows: what a 403 means, problems that wait for their chief, the
office told once per person and episode, and the handover when the chief joins."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.people import Person
from bot.problems import Draft, ProblemRecord, ProblemService
from bot.reachability import (
    Reachability,
    Reason,
    episode,
    reason_of,
    refusal,
    waiting_label,
    why_unreachable,
)
from storage import Store
from storage.migrate import bundled_migrations
from storage.records import Contact
from storage.registry import ReachValues

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("description", "meaning"),
    [
        ("Forbidden: bot was blocked by the user", "blocked"),
        ("Forbidden: user is deactivated", "deactivated"),
        ("Forbidden: bot can't initiate conversation with a user", "not_started"),
        ("Forbidden: bot was kicked from the group chat", None),  # a group's, no person's
        ("Forbidden: bot is not a member of the supergroup chat", None),
        ("Forbidden: bot was kicked from the channel chat", None),
        ("Forbidden: something Telegram has not said before", "blocked"),  # still: it did not arrive
    ],
)
def test_what_a_403_means(description: str, meaning: str | None) -> None:
    assert refusal(description) == meaning


@pytest.mark.parametrize(
    ("contact", "reason"),
    [
        (Contact(active=True, joined=True, blocked=False), None),
        (Contact(active=True, joined=False, blocked=False), "not_joined"),
        (Contact(active=False, joined=True, blocked=False), "inactive"),  # deactivated first
        (Contact(active=False, joined=False, blocked=True), "inactive"),
        (Contact(active=True, joined=False, blocked=True, blocked_reason="blocked"), "not_joined"),
        (Contact(active=True, joined=True, blocked=True), "blocked"),  # seen through my_chat_member
        (Contact(active=True, joined=True, blocked=True, blocked_reason="blocked"), "blocked"),
        (Contact(active=True, joined=True, blocked=True, blocked_reason="deactivated"), "deactivated"),
        (Contact(active=True, joined=True, blocked=True, blocked_reason="not_started"), "not_joined"),
    ],
)
def test_why_the_bot_cannot_write_to_someone(contact: Contact, reason: Reason | None) -> None:
    assert reason_of(contact) == reason


@pytest.mark.parametrize(
    ("reason", "label"),
    [("not_joined", "not_joined"), ("inactive", "unreachable"), ("blocked", "unreachable"),
     ("deactivated", "unreachable")],
)  # fmt: skip
def test_a_waiting_problem_is_labelled_by_why(reason: Reason, label: str) -> None:
    assert waiting_label(reason) == label


def _person(**values: object) -> Person:
    base: dict[str, object] = {
        "id": 7, "telegram_id": 70, "name": "王五", "language": "zh", "roles": frozenset({"chief"}),
        "chief_level": "village", "active": True, "started": True,
    }  # fmt: skip
    base.update(values)
    return Person(**base)  # type: ignore[arg-type]


def test_an_episode_begins_with_the_refusal_and_not_joined_lasts_until_they_join() -> None:
    first = _person(blocked=True, blocked_since=datetime(2026, 12, 1, tzinfo=UTC))
    again = _person(blocked=True, blocked_since=datetime(2026, 12, 5, tzinfo=UTC))
    assert episode(first, "blocked") != episode(again, "blocked")  # came back, then blocked again: news
    assert episode(first, "blocked") == episode(first, "blocked")
    assert episode(_person(telegram_id=None), "not_joined") == "not_joined:"
    assert why_unreachable(first) == "blocked" and why_unreachable(_person()) is None
    assert why_unreachable(_person(telegram_id=70, started=False)) == "not_joined"


# -- with a store ----------------------------------------------------------------------------------------------


async def _reach(store: Store) -> int:
    area, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    reach, _ = await store.reaches.upsert(
        ReachValues("LGH-01", "立公河", "Ligong River", area, "village", None, (), None, None)
    )
    return reach


async def _chief(store: Store, name: str, reach: int, *, telegram_id: int | None, started: bool = True) -> int:
    person = await store.people.create(name=name, telegram_id=telegram_id)
    await store.people.grant_role(person, "chief", level="village")
    if telegram_id is not None and started:
        await store.execute("UPDATE people SET started_at = '2026-11-01T00:00:00Z' WHERE id = ?", (person,))
    await store.assignments.assign(person, reach, level="village", starts_on=date(2026, 11, 1))
    return person


async def _report(store: Store, settings: Settings, reach: int) -> int:
    known = await store.people.by_telegram_id(500)
    reporter = known.id if known is not None else await store.people.create(name="小李", telegram_id=500)
    draft = Draft(lat=32.5, lon=120.4, reach_id=reach, category="dumping", location_source="shared")
    problem = await ProblemService(store, settings).submit(reporter, draft, at=NOW)
    return problem.id


async def test_a_problem_for_a_chief_who_has_not_joined_waits_and_goes_to_the_office(
    store: Store, settings: Settings
) -> None:
    reach = await _reach(store)
    wang = await _chief(store, "王五", reach, telegram_id=None)
    number = await _report(store, settings, reach)
    service = Reachability(store, settings)
    problem = await store.problems.by_id(number)
    assert problem is not None and problem.status == "assigned" and problem.assignee_id == wang
    routed = await service.routed(problem)
    assert routed.tell_assignee is None and routed.tell_admins
    assert routed.waiting_for is not None and routed.waiting_for.reason == "not_joined"
    assert routed.reach is not None and routed.reach.id == reach
    # The problem list marks it as waiting, not as being rectified.
    admin = _person(id=99, roles=frozenset({"admin"}))
    [listed], _ = await ProblemService(store, settings).page(admin, area_id=0, category="", page=0, page_size=8)
    assert listed.waiting == "not_joined"


async def test_routing_prefers_the_chief_who_can_be_reached_at_the_same_level(store: Store, settings: Settings) -> None:
    reach = await _reach(store)
    await _chief(store, "甲（未加入）", reach, telegram_id=None)
    reachable = await _chief(store, "乙", reach, telegram_id=71)
    assert await ProblemService(store, settings).responsible(reach) == reachable
    routed = await Reachability(store, settings).routed(await _problem(store, settings, reach))
    assert routed.tell_assignee is not None and routed.tell_assignee.id == reachable and not routed.tell_admins


async def _problem(store: Store, settings: Settings, reach: int) -> ProblemRecord:
    problem = await store.problems.by_id(await _report(store, settings, reach))
    assert problem is not None
    return problem


async def test_a_403_marks_the_chief_and_the_office_hears_once_what_waits(store: Store, settings: Settings) -> None:
    reach = await _reach(store)
    wang = await _chief(store, "王五", reach, telegram_id=70)
    number = await _report(store, settings, reach)
    service = Reachability(store, settings)
    assert await service.refused(-100123, "Forbidden: bot was kicked from the group chat") is None
    assert await service.refused(12345, "Forbidden: bot was blocked by the user") is None  # nobody we know

    first = await service.refused(70, "Forbidden: user is deactivated")
    assert first is not None and first.tell_office and first.unreached.reason == "deactivated"
    assert [w.problem.id for w in first.waiting] == [number]
    record = await store.people.by_id(wang)
    assert record is not None and record.blocked_at is not None and record.blocked_reason == "deactivated"
    again = await service.refused(70, "Forbidden: user is deactivated")
    assert again is not None and not again.tell_office  # the same episode: told already

    # They write again (any private update): reachable, and a later block is a new episode.
    await store.people.record_contact(70, name="王五", username=None, language_code=None, started=True)
    record = await store.people.by_id(wang)
    assert record is not None and record.blocked_at is None and record.blocked_reason is None
    assert (await service.routed(await _get(store, number))).tell_assignee is not None
    await store.execute("UPDATE people SET blocked_at = NULL WHERE id = ?", (wang,))
    later = await service.refused(70, "Forbidden: bot was blocked by the user")
    assert later is not None and later.unreached.reason == "blocked"


async def _get(store: Store, number: int) -> ProblemRecord:
    problem = await store.problems.by_id(number)
    assert problem is not None
    return problem


async def test_a_403_for_someone_with_nothing_waiting_tells_the_office_nothing(
    store: Store, settings: Settings
) -> None:
    reach = await _reach(store)
    await _chief(store, "王五", reach, telegram_id=70)
    refused = await Reachability(store, settings).refused(70, "Forbidden: bot was blocked by the user")
    assert refused is not None and not refused.tell_office and refused.waiting == []


async def test_jobs_tell_the_office_of_each_person_once_per_episode(store: Store, settings: Settings) -> None:
    reach = await _reach(store)
    wang = await _chief(store, "王五", reach, telegram_id=None)
    zhao = await _chief(store, "赵六", reach, telegram_id=72)
    await _chief(store, "钱七", reach, telegram_id=73)  # reachable: not counted
    service = Reachability(store, settings)
    chiefs = await service.unreachable_chiefs()
    assert [p.id for p in chiefs] == [wang]
    first = await service.missed_ids([wang, zhao, wang])
    assert [u.person.id for u in first.unreached] == [wang]
    assert [u.person.id for u in first.tell_office] == [wang]
    second = await service.missed_ids([wang, zhao])  # the next day: still unreachable, already told
    assert [u.person.id for u in second.unreached] == [wang] and second.tell_office == []
    # 赵六 blocks the bot: news once; 王五 still not.
    await store.people.refused(72, "blocked")
    third = await service.missed_ids([wang, zhao])
    assert [u.person.id for u in third.tell_office] == [zhao]
    assert (await service.missed_ids([wang, zhao])).tell_office == []


async def test_the_chief_who_joins_is_handed_what_waited_once(store: Store, settings: Settings) -> None:
    reach = await _reach(store)
    wang = await _chief(store, "王五", reach, telegram_id=None)
    first = await _report(store, settings, reach)
    second = await _report(store, settings, reach)
    service = Reachability(store, settings)
    assert await service.handover(wang) is None  # not joined yet
    await store.execute("UPDATE people SET telegram_id = 70, started_at = '2026-12-02T03:00:00Z' WHERE id = ?", (wang,))
    handover = await service.handover(wang)
    assert handover is not None and [w.problem.id for w in handover.problems] == [first, second]
    assert all(w.problem.deadline is not None for w in handover.problems)
    reporter = (await _get(store, first)).reporter_id
    assert handover.tell_reporters == {first: (reporter,), second: (reporter,)}
    assert [e.action for e in await store.problems.events(first)] == ["report", "assign", "handover"]


async def test_migration_from_the_previous_version_keeps_blocked_people_blocked(tmp_path: Path) -> None:
    """0010 adds the refusal's reason and the office's memory; a block recorded before it stays a block."""
    path = tmp_path / "riverbot.sqlite3"
    async with await Store.open(path, migrations=bundled_migrations()[:9]) as store:
        await store.execute(
            "INSERT INTO people (telegram_id, name, started_at, blocked_at, created_at, updated_at)"
            " VALUES (70, '王五', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z',"
            " '2026-01-01T00:00:00Z')"
        )
    async with await Store.open(path) as store:
        record = await store.people.by_telegram_id(70)
        assert record is not None and record.blocked_at is not None and record.blocked_reason is None
        assert "unreachable_told" in await store.table_names()
        assert await store.people.claim_unreachable_notice(record.id, "blocked:x")
        assert not await store.people.claim_unreachable_notice(record.id, "blocked:x")
        assert await store.people.unreachable_told([record.id]) == {record.id: "blocked:x"}
