"""Who may do what to a problem, decided on the domain Person: a bootstrap admin (in ADMIN_IDS, the role not yet
granted in the store) is an admin to every rule, with no flag passed beside the person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.people import PeopleService, Person, person_from
from bot.problems import Action, ProblemService
from storage import Store
from storage.problems import NewProblem, ProblemRecord
from storage.records import PersonRecord
from storage.registry import ReachValues

BOOTSTRAP_TELEGRAM_ID = 900
REPORTER, ASSIGNEE, OUTSIDER = 2, 7, 50
REOPEN_DAYS = 7


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        env_file=None,
        data_dir=tmp_path / "data",
        admin_ids=frozenset({BOOTSTRAP_TELEGRAM_ID}),
        problem_reopen_days=REOPEN_DAYS,
    )


def person(
    settings: Settings, person_id: int, telegram_id: int | None, roles: dict[str, str | None], *, active: bool = True
) -> Person:
    record = PersonRecord(
        id=person_id,
        telegram_id=telegram_id,
        name="张三",
        username=None,
        language=None,
        language_code=None,
        phone=None,
        active=active,
        started_at=None,
        blocked_at=None,
        roles=roles,
    )
    return person_from(settings, record)


def problem(status: str, *, closed_days_ago: int | None = None) -> ProblemRecord:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    closed = datetime.now(UTC) - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    return ProblemRecord(
        id=1,
        reporter_id=REPORTER,
        patrol_id=None,
        reach_id=3,
        area_id=4,
        category="garbage",
        description=None,
        lat=32.5,
        lon=120.45,
        location_source="shared",
        status=status,
        assignee_id=None if status == "reported" else ASSIGNEE,
        deadline=None,
        reported_at=at,
        closed_at=closed,
        updated_at=at,
    )


# Who: (person id, telegram id, roles in the store, active). The bootstrap admin holds no role in the store.
WHO: dict[str, tuple[int, int | None, dict[str, str | None], bool]] = {
    "bootstrap admin": (OUTSIDER, BOOTSTRAP_TELEGRAM_ID, {}, True),
    "bootstrap admin, deactivated": (OUTSIDER, BOOTSTRAP_TELEGRAM_ID, {}, False),
    "stored admin": (OUTSIDER, 901, {"admin": None}, True),
    "same person, not in ADMIN_IDS": (OUTSIDER, 901, {}, True),
    "assignee chief": (ASSIGNEE, 902, {"chief": "village"}, True),
    "reporter chief": (REPORTER, 903, {"chief": "town"}, True),
    "reporter volunteer": (REPORTER, 903, {"volunteer": None}, True),
    "bootstrap admin who reported it": (REPORTER, BOOTSTRAP_TELEGRAM_ID, {}, True),
    "admin and chief who rectified it": (ASSIGNEE, BOOTSTRAP_TELEGRAM_ID, {"chief": "town"}, True),
}

ALLOWED: list[tuple[str, ProblemRecord, set[Action]]] = [
    ("bootstrap admin", problem("reported"), {"assign", "dismiss"}),
    ("bootstrap admin", problem("assigned"), {"assign", "dismiss"}),
    ("bootstrap admin", problem("rectified"), {"assign", "dismiss", "close", "reject"}),
    ("bootstrap admin", problem("closed", closed_days_ago=1), set()),
    ("bootstrap admin", problem("dismissed", closed_days_ago=1), set()),
    ("bootstrap admin, deactivated", problem("rectified"), set()),
    ("stored admin", problem("rectified"), {"assign", "dismiss", "close", "reject"}),
    ("same person, not in ADMIN_IDS", problem("assigned"), set()),
    ("same person, not in ADMIN_IDS", problem("rectified"), set()),
    ("assignee chief", problem("assigned"), {"rectify"}),
    ("assignee chief", problem("rectified"), set()),
    ("reporter chief", problem("rectified"), {"close", "reject"}),
    ("reporter volunteer", problem("rectified"), set()),
    ("reporter volunteer", problem("closed", closed_days_ago=1), {"reopen"}),
    ("reporter volunteer", problem("closed", closed_days_ago=REOPEN_DAYS + 1), set()),
    ("bootstrap admin who reported it", problem("rectified"), {"assign", "dismiss", "close", "reject"}),
    ("bootstrap admin who reported it", problem("closed", closed_days_ago=1), {"reopen"}),
    # Segregation of duties: whoever rectified it (its assignee while it is rectified) does not verify it.
    ("reporter chief", replace(problem("rectified"), assignee_id=REPORTER), set()),
    ("reporter chief", replace(problem("assigned"), assignee_id=REPORTER), {"rectify"}),
    ("admin and chief who rectified it", problem("rectified"), {"assign", "dismiss"}),
]


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


@pytest.mark.parametrize(("who", "record", "expected"), ALLOWED)
async def test_allowed(
    store: Store, settings: Settings, who: str, record: ProblemRecord, expected: set[Action]
) -> None:
    person_id, telegram_id, roles, active = WHO[who]
    actor = person(settings, person_id, telegram_id, roles, active=active)
    assert ProblemService(store, settings).allowed(record, actor) == expected, (who, record.status)


# -- against a store: viewing and acting -----------------------------------------------------------------------


async def reported_problem(store: Store, reporter: int) -> int:
    area_id, _ = await store.areas.upsert("A1", "曲塘镇", "Qutang")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("R1", "R1河", "R1 River", area_id, "village", None, (), None, None)
    )
    new = NewProblem(reporter, None, reach_id, area_id, "garbage", None, 32.5, 120.45, "shared")
    return await store.problems.insert(new, reported_at=datetime(2026, 11, 1, tzinfo=UTC))


async def known(store: Store, settings: Settings, person_id: int) -> Person:
    found = await PeopleService(store, settings).by_id(person_id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("who", "telegram_id", "sees"),
    [
        ("bootstrap admin, no role in the store", BOOTSTRAP_TELEGRAM_ID, True),
        ("nobody in particular", 901, False),
    ],
)
async def test_may_view(store: Store, settings: Settings, who: str, telegram_id: int, sees: bool) -> None:
    reporter = await store.people.create(name="报告人")
    number = await reported_problem(store, reporter)
    viewer = await store.people.create(name="某人", telegram_id=telegram_id)
    service = ProblemService(store, settings)
    record = await service.get(number)
    assert record is not None
    assert await service.may_view(record, await known(store, settings, viewer)) is sees, who
    assert await service.may_view(record, await known(store, settings, reporter)), "the reporter sees their own"


@pytest.mark.parametrize(
    ("who", "telegram_id", "outcome"),
    [
        ("bootstrap admin, no role in the store", BOOTSTRAP_TELEGRAM_ID, "ok"),
        ("nobody in particular", 901, "not_allowed"),
    ],
)
async def test_act_assign_and_dismiss(
    store: Store, settings: Settings, who: str, telegram_id: int, outcome: str
) -> None:
    reporter = await store.people.create(name="报告人")
    chief = await store.people.create(name="王五")
    await store.people.grant_role(chief, "chief", level="village")
    actor_id = await store.people.create(name="某人", telegram_id=telegram_id)
    service = ProblemService(store, settings)
    actor = await known(store, settings, actor_id)

    assigned = await service.act(await reported_problem(store, reporter), actor, "assign", assignee_id=chief)
    assert assigned.outcome == outcome, who
    dismissed = await service.act(await reported_problem(store, reporter), actor, "dismiss", note="重复")
    assert dismissed.outcome == outcome, who
    if outcome == "ok":
        assert assigned.problem is not None and assigned.problem.assignee_id == chief
        assert dismissed.problem is not None and dismissed.problem.status == "dismissed"


async def test_who_rectified_is_refused_and_higher_level_chiefs_of_the_reach_may_verify(
    store: Store, settings: Settings
) -> None:
    """Segregation of duties against a store: the village chief who reported and rectified it cannot close it;
    the county chief of the same reach can, a village chief beside him cannot."""
    village = await store.people.create(name="王五")
    await store.people.grant_role(village, "chief", level="village")
    number = await reported_problem(store, village)
    problem = await store.problems.by_id(number)
    assert problem is not None
    county = await store.people.create(name="李四")
    await store.people.grant_role(county, "chief", level="county")
    peer = await store.people.create(name="周七")
    await store.people.grant_role(peer, "chief", level="village")
    start = datetime(2026, 1, 1).date()
    for person_id, level in ((village, "village"), (county, "county"), (peer, "village")):
        await store.assignments.assign(person_id, problem.reach_id, level=level, starts_on=start)
    await store.problems.transition(number, expect=("reported",), status="rectified", assignee_id=village)
    service = ProblemService(store, settings)
    rectified = await service.get(number)
    assert rectified is not None
    assert await service.higher_chiefs(rectified) == {county}
    assert "close" not in await service.permitted(rectified, await known(store, settings, village))
    assert "close" not in await service.permitted(rectified, await known(store, settings, peer))
    assert {"close", "reject"} <= await service.permitted(rectified, await known(store, settings, county))
    refused = await service.act(number, await known(store, settings, village), "close")
    assert refused.outcome == "own_rectification"
    closed = await service.act(number, await known(store, settings, county), "close")
    assert closed.outcome == "ok" and closed.problem is not None and closed.problem.status == "closed"
