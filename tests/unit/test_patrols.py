"""What a location means for a patrol, the reminder's dedupe key, and the one progress, as tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.config import Settings
from bot.patrols import (
    FUTURE_SKEW,
    Fix,
    PatrolService,
    Recorded,
    Sharing,
    dialog_first,
    not_ahead,
    plan_location,
    reminder_key,
)
from bot.periods import period_of
from bot.tallies import Progress
from storage import Store
from storage.patrols import Finish, PatrolRecord
from storage.registry import ReachValues

START = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
LAST = START + timedelta(minutes=20)  # the patrol's last sign of life


def _patrol(last_activity_at: datetime = LAST) -> PatrolRecord:
    return PatrolRecord(
        id=1, person_id=1, reach_id=1, status="open", started_at=START, ended_at=None, end_reason=None,
        last_activity_at=last_activity_at, live_message_id=None, live_until=None, live_stopped_at=None,
        distance_m=None, duration_s=None, point_count=None, photo_count=None, problem_count=0, valid=None, reasons=[],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "patrol_open", "dialog_first_"),
    [
        (Sharing.SINGLE, True, True),  # a report's location step, during a patrol
        (Sharing.SINGLE, False, True),
        (Sharing.LIVE_START, True, False),  # a live location is the track, whatever else is open
        (Sharing.LIVE_START, False, True),
        (Sharing.LIVE_EDIT, True, False),
        (Sharing.LIVE_EDIT, False, False),
        (Sharing.LIVE_STOP, True, False),
        (Sharing.LIVE_STOP, False, False),
    ],
)
def test_which_locations_an_open_dialog_takes_first(kind: Sharing, patrol_open: bool, dialog_first_: bool) -> None:
    assert dialog_first(kind, patrol_open=patrol_open) is dialog_first_


ON_TIME = LAST + timedelta(minutes=1)
LATE = LAST - timedelta(minutes=5)  # after an outage, or a slow phone: older than the latest point
BEFORE_START = START - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("kind", "has_patrol", "at", "expected"),
    [
        (Sharing.SINGLE, True, ON_TIME, (Recorded.POINT_ADDED, "single", False)),
        (Sharing.LIVE_START, True, ON_TIME, (Recorded.LIVE_STARTED, "live", False)),
        (Sharing.LIVE_EDIT, True, ON_TIME, (Recorded.TRACKED, "live", False)),
        (Sharing.LIVE_STOP, True, ON_TIME, (Recorded.LIVE_STOPPED, "live", False)),
        # Late points are kept: the track is ordered by Telegram's time, the verdict counts start to end.
        (Sharing.LIVE_EDIT, True, LATE, (Recorded.TRACKED, "live", True)),
        (Sharing.SINGLE, True, LATE, (Recorded.POINT_ADDED, "single", True)),
        (Sharing.LIVE_EDIT, True, BEFORE_START, (Recorded.TRACKED, "live", True)),
        # After the patrol finished (none open): the live location runs on, its edits are dropped silently.
        (Sharing.LIVE_EDIT, False, ON_TIME, (Recorded.AFTER_FINISH, None, False)),
        (Sharing.LIVE_STOP, False, ON_TIME, (Recorded.AFTER_FINISH, None, False)),
        # A new location with no patrol: nothing kept, the person hears how to start one.
        (Sharing.SINGLE, False, ON_TIME, (Recorded.NO_PATROL, None, False)),
        (Sharing.LIVE_START, False, ON_TIME, (Recorded.NO_PATROL, None, False)),
    ],
)
def test_what_a_location_means_for_the_patrol(
    kind: Sharing, has_patrol: bool, at: datetime, expected: tuple[Recorded, str | None, bool]
) -> None:
    plan = plan_location(kind, _patrol() if has_patrol else None, at)
    assert (plan.outcome, plan.source, plan.late) == expected


def _progress(kind: str, start: str, reach: str = "DBH-01") -> Progress:
    period = period_of(kind, date.fromisoformat(start))
    return Progress(1, 1, "王五", 1, reach, "丁堡河", "Dingbao", period, 1, 0, 3)


def test_a_reminder_is_keyed_by_the_periods_it_is_about() -> None:
    week = _progress("week", "2025-03-10")
    xun = _progress("xun", "2025-03-11", reach="LGH-01")
    assert reminder_key([week]) == "week:2025-03-10"
    # Order and repeats do not matter: two reaches short in the same week are one period.
    assert reminder_key([xun, week, _progress("week", "2025-03-12", reach="LGH-01")]) == (
        "week:2025-03-10,xun:2025-03-11"
    )
    assert reminder_key([_progress("week", "2025-03-17")]) != reminder_key([week])  # next week: remind again


# -- against a store ----------------------------------------------------------------------------------------




async def _chief(store: Store, name: str, telegram_id: int | None, reaches: list[int], started: bool = True) -> int:
    person_id = await store.people.create(name=name, telegram_id=telegram_id)
    await store.people.grant_role(person_id, "chief", level="village")
    if started and telegram_id is not None:
        await store.people.record_contact(telegram_id, name=name, username=None, language_code="zh", started=True)
    for reach_id in reaches:
        await store.assignments.assign(person_id, reach_id, level="village", starts_on=date(2025, 3, 1))
    return person_id


async def _reaches(store: Store) -> list[int]:
    area_id, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    ids = []
    for code in ("ZZ-09", "AA-01"):  # assigned in this order, listed by code
        reach_id, _ = await store.reaches.upsert(
            ReachValues(code, f"{code}河", f"{code} River", area_id, "village", None, (), None, None)
        )
        ids.append(reach_id)
    return ids


async def test_progress_is_the_one_sql_progress_by_reach_code(store: Store, settings: Settings) -> None:
    reaches = await _reaches(store)
    chief = await _chief(store, "王五", 42, reaches)
    patrol, _ = await store.patrols.start(chief, reaches[1], datetime(2025, 3, 11, 1, 0, tzinfo=UTC))
    await store.patrols.finish(patrol.id, Finish(patrol.started_at, "finished", 900.0, 1800, 20, 1, True, []))
    today = date(2025, 3, 12)
    progress = await PatrolService(store, settings).progress(chief, today)
    # Village reaches: once a week (PATROL_RULES); the week of March 10 has 5 days left on the 12th.
    assert [(p.reach_code, p.done, p.required, p.short, p.days_left) for p in progress] == [
        ("AA-01", 1, 1, False, 5),
        ("ZZ-09", 0, 1, True, 5),
    ]
    assert progress[0].reach_name("zh") == "AA-01河" and progress[0].reach_name("en") == "AA-01 River"


async def test_reminders_are_claimed_once_for_chiefs_who_can_be_reached(store: Store, settings: Settings) -> None:
    reaches = await _reaches(store)
    reachable = await _chief(store, "王五", 42, reaches)
    await _chief(store, "没开过机器人", 43, reaches, started=False)  # never opened the bot: cannot be messaged
    await _chief(store, "无账号", None, reaches)
    service = PatrolService(store, settings)
    # The last day of the week of March 10: every period kind that ends within the reminder days is due.
    last_day = date(2025, 3, 16)
    [reminder] = await service.claim_reminders(last_day)
    assert reminder.chief.id == reachable
    assert [p.reach_code for p in reminder.short] == ["AA-01", "ZZ-09"]
    assert await service.claim_reminders(last_day) == []  # the same day again (a restart): nothing new


async def test_recording_a_live_track_then_its_stop_and_an_edit_after_the_finish(
    store: Store, settings: Settings
) -> None:
    reaches = await _reaches(store)
    chief = await _chief(store, "王五", 42, reaches)
    service = PatrolService(store, settings)
    patrol, _ = await service.start(chief, reaches[0], START)
    first = await service.record_location(patrol, Sharing.LIVE_START, Fix((32.5, 120.4), START, 5.0, 900, 3600))
    # The reach has no line on the map: nothing to be far from.
    assert (first.outcome, first.far_m, first.reach is not None) == (Recorded.LIVE_STARTED, None, True)
    moved = Fix((32.5, 120.401), START + timedelta(minutes=1), 5.0, 900)
    assert (await service.record_location(patrol, Sharing.LIVE_EDIT, moved)).outcome is Recorded.TRACKED
    stopped = Fix((32.5, 120.402), START + timedelta(minutes=2), 5.0, 900)
    assert (await service.record_location(patrol, Sharing.LIVE_STOP, stopped)).outcome is Recorded.LIVE_STOPPED
    record = await store.patrols.by_id(patrol.id)
    assert record is not None and record.live_message_id == 900 and record.live_stopped_at == stopped.at
    assert record.live_until == START + timedelta(hours=1)
    assert await store.patrols.point_count(patrol.id) == 3
    await service.finish(patrol.id, at=START + timedelta(minutes=3), reason="finished")
    after = Fix((32.5, 120.403), START + timedelta(minutes=4), 5.0, 900)
    assert (await service.record_location(None, Sharing.LIVE_EDIT, after)).outcome is Recorded.AFTER_FINISH
    assert await store.patrols.point_count(patrol.id) == 3


def test_a_telegram_time_from_the_future_is_taken_as_now() -> None:
    # Issue 13, finding 16: a live edit dated next year kept the patrol "active" until then.
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert not_ahead(now + timedelta(days=365), now) == now
    assert not_ahead(now + FUTURE_SKEW + timedelta(seconds=1), now) == now
    # Telegram's clock a little ahead of the server's, or any time past: as Telegram dated it.
    assert not_ahead(now + FUTURE_SKEW, now) == now + FUTURE_SKEW
    assert not_ahead(now - timedelta(hours=3), now) == now - timedelta(hours=3)


async def test_the_menu_starts_only_on_a_reach_that_is_clearly_the_one(store: Store, settings: Settings) -> None:
    """`quick_reach`: the only reach; else the one clearly nearest the last known point (within the allowed
    distance, the next 3 times as far and 500 m farther, all mapped); else None (the list)."""
    service = PatrolService(store, settings)
    area, _ = await store.areas.upsert("CD", "CD", "CD")

    async def reach(code: str, lat: float | None) -> int:
        line = None if lat is None else f'{{"type":"LineString","coordinates":[[120.40,{lat}],[120.43,{lat}]]}}'
        box = None if lat is None else (lat, 120.40, lat, 120.43)
        reach_id, _ = await store.reaches.upsert(ReachValues(code, code, code, area, "village", 2.8, (), line, box))
        return reach_id

    async def seen_at(person_id: int, reach_id: int, lat: float, when: datetime) -> None:
        patrol, _ = await store.patrols.start(person_id, reach_id, when)
        await store.patrols.add_point(patrol.id, at=when, lat=lat, lon=120.41, accuracy_m=None, source="single")
        await store.patrols.finish(
            patrol.id, Finish(when, "finished", 0.0, 0, 1, 0, valid=False, reasons=[])
        )

    now = datetime.now(UTC)
    a, near, far, unmapped = (await reach("A", 32.5), await reach("B", 32.503), await reach("C", 32.55),
                              await reach("D", None))  # fmt: skip
    cases = [
        ([a], None, a),  # the only reach, wherever they are
        ([a, far], None, None),  # not seen yet: the list
        ([a, far], (32.5, now), a),  # 5.5 km apart: clearly A
        ([a, far], (32.52, now), None),  # 2.2 km from A: too far from both
        ([a, near], (32.5, now), None),  # the next is only 334 m away: not clear
        ([a, unmapped], (32.5, now), None),  # D could be anywhere
        ([a, far], (32.5, now - timedelta(days=100)), None),  # seen too long ago
    ]
    for n, (mine, seen, expected) in enumerate(cases):
        person = await store.people.create(name=f"P{n}", telegram_id=1000 + n)
        for reach_id in mine:
            await store.assignments.assign(person, reach_id, level="village", starts_on=date(2020, 1, 1))
        if seen is not None:
            await seen_at(person, mine[0], seen[0], seen[1])
        found = await service.quick_reach(person, None, now)
        assert (found.id if found else None) == expected, (n, mine, seen)
