"""The deadline policy as a table, and the daily chase: each notice once, escalation once per deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.deadlines import Deadlines, Due, Notice, due
from bot.problems import ProblemService
from storage import Store
from storage.problems import NewProblem, ProblemRecord
from storage.registry import ReachValues

TODAY = date(2026, 11, 20)
ESCALATE = 3


def problem(status: str = "assigned", deadline: date | None = TODAY, assignee: int | None = 7) -> ProblemRecord:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return ProblemRecord(
        id=1,
        reporter_id=2,
        patrol_id=None,
        reach_id=3,
        area_id=4,
        category="garbage",
        description=None,
        lat=32.5,
        lon=120.45,
        location_source="shared",
        status=status,
        assignee_id=assignee,
        deadline=deadline,
        reported_at=at,
        closed_at=None,
        updated_at=at,
    )


def day(offset: int) -> date:
    return date.fromordinal(TODAY.toordinal() + offset)


@pytest.mark.parametrize(
    ("case", "record", "expected"),
    [
        ("due in two days: nothing yet", problem(deadline=day(2)), Due(None, False, 0)),
        ("due tomorrow: a reminder", problem(deadline=day(1)), Due("reminder", False, 0)),
        ("due today: a reminder", problem(deadline=TODAY), Due("reminder", False, 0)),
        ("overdue 1 day: a letter", problem(deadline=day(-1)), Due("overdue", False, 1)),
        ("overdue 2 days: a letter", problem(deadline=day(-2)), Due("overdue", False, 2)),
        ("overdue ESCALATE days: escalated", problem(deadline=day(-ESCALATE)), Due("overdue", True, ESCALATE)),
        ("overdue longer: still escalated", problem(deadline=day(-10)), Due("overdue", True, 10)),
        ("nobody has it: the admins", problem(deadline=day(-5), assignee=None, status="reported"), Due(None, True, 5)),
        ("rectified: waits for verifiers", problem(deadline=day(-5), status="rectified"), Due(None, False, 5)),
        ("closed: nothing", problem(deadline=day(-5), status="closed"), Due(None, False, 0)),
        ("dismissed: nothing", problem(deadline=day(-5), status="dismissed"), Due(None, False, 0)),
        ("no deadline: nothing", problem(deadline=None), Due(None, False, 0)),
    ],
)
def test_policy(case: str, record: ProblemRecord, expected: Due) -> None:
    assert due(record, TODAY, escalate_after_days=ESCALATE) == expected, case


def test_escalate_after_zero_days_still_needs_a_day_overdue() -> None:
    assert due(problem(deadline=TODAY), TODAY, escalate_after_days=0) == Due("reminder", False, 0)


# -- the chase, against a store ------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data", escalate_after_days=ESCALATE)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


async def open_problem(store: Store, *, deadline: date, assignee: int, status: str = "assigned") -> int:
    area_id, _ = await store.areas.upsert("A1", "曲塘镇", "Qutang")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("R1", "R1河", "R1 River", area_id, "village", None, (), None, None)
    )
    new = NewProblem(assignee, None, reach_id, area_id, "garbage", None, 32.5, 120.45, "shared")
    problem_id = await store.problems.insert(new, reported_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert await store.problems.transition(
        problem_id, expect=("reported",), status="assigned", assignee_id=assignee, deadline=deadline
    )
    if status == "rectified":
        assert await store.problems.transition(problem_id, expect=("assigned",), status="rectified")
    return problem_id


async def test_chase_tells_each_once_and_escalates_once_per_deadline(store: Store, settings: Settings) -> None:
    chief = await store.people.create(name="王五")
    await store.people.grant_role(chief, "chief", level="village")
    admins = [await store.people.create(name=name) for name in ("甲", "乙")]
    for admin in admins:
        await store.people.grant_role(admin, "admin")
    soon = await open_problem(store, deadline=day(1), assignee=chief)
    late = await open_problem(store, deadline=day(-ESCALATE), assignee=chief)
    deadlines = Deadlines(store, settings, ProblemService(store, settings))

    notices = await deadlines.chase(TODAY)
    assert sorted((n.problem.id, n.person_id, n.kind) for n in notices) == sorted(
        [
            (soon, chief, "reminder"),
            (late, chief, "overdue"),
            (late, admins[0], "escalation"),
            (late, admins[1], "escalation"),
        ]
    )
    assert [e.action for e in await store.problems.events(late)].count("escalate") == 1

    assert await deadlines.chase(TODAY) == []  # a second run the same day: already reminded
    again = await deadlines.chase(day(1))  # the next day: letters again, the escalation not
    assert sorted((n.problem.id, n.kind) for n in again) == [(soon, "reminder"), (late, "overdue")]
    assert [e.action for e in await store.problems.events(late)].count("escalate") == 1


async def test_no_admins_no_escalation_event(store: Store, settings: Settings) -> None:
    chief = await store.people.create(name="王五")
    await store.people.grant_role(chief, "chief", level="village")
    late = await open_problem(store, deadline=day(-ESCALATE), assignee=chief)
    notices = await Deadlines(store, settings, ProblemService(store, settings)).chase(TODAY)
    assert [(n.person_id, n.kind) for n in notices] == [(chief, "overdue")]
    assert "escalate" not in [e.action for e in await store.problems.events(late)]


async def test_the_county_hears_when_the_town_office_has_not_got_it_done(store: Store, settings: Settings) -> None:
    """To the area's office first; ESCALATE_COUNTY_DAYS after it was told, once per deadline, to the county."""
    chief = await store.people.create(name="王五")
    await store.people.grant_role(chief, "chief", level="village")
    late = await open_problem(store, deadline=day(-ESCALATE), assignee=chief)
    problem = await store.problems.by_id(late)
    assert problem is not None
    town = (await store.people.record_contact(9000, name="甲", username=None, language_code=None, started=True)).id
    county = (await store.people.record_contact(9001, name="乙", username=None, language_code=None, started=True)).id
    for admin in (town, county):
        await store.people.grant_role(admin, "admin")
    await store.people.set_scope(town, (problem.area_id,))
    deadlines = Deadlines(store, settings, ProblemService(store, settings))

    def escalations(notices: list[Notice]) -> list[int]:
        return [n.person_id for n in notices if n.kind == "escalation"]

    assert escalations(await deadlines.chase(TODAY)) == [town]
    for offset in range(1, settings.escalate_county_days):
        assert escalations(await deadlines.chase(day(offset))) == []
    told = await deadlines.chase(day(settings.escalate_county_days))
    assert escalations(told) == [county]
    assert [n.days_overdue for n in told if n.kind == "escalation"] == [ESCALATE + settings.escalate_county_days]
    # Once per deadline: not again the same day (a restart), nor the next.
    assert await deadlines.chase(day(settings.escalate_county_days)) == []
    assert escalations(await deadlines.chase(day(settings.escalate_county_days + 1))) == []
    steps = [e.data.get("county", False) for e in await store.problems.events(late) if e.action == "escalate"]
    assert steps == [False, True]


async def test_an_area_without_its_own_office_is_the_countys_from_the_start(store: Store, settings: Settings) -> None:
    chief = await store.people.create(name="王五")
    await store.people.grant_role(chief, "chief", level="village")
    await open_problem(store, deadline=day(-ESCALATE), assignee=chief)
    county = await store.people.create(name="乙", telegram_id=9001)
    await store.people.grant_role(county, "admin")
    deadlines = Deadlines(store, settings, ProblemService(store, settings))
    assert [n.person_id for n in await deadlines.chase(TODAY) if n.kind == "escalation"] == [county]
    for offset in range(1, 6):  # no second step: the county already has it
        assert [n for n in await deadlines.chase(day(offset)) if n.kind == "escalation"] == []
