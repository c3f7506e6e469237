"""Dispatch rules against a store: extensions (one open request, later dates only, decided once), transfers
(to a chief or a department's contact, deadline kept or reset), 督办 and its superiors, and the migration."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.assessment import AssessmentService, ReportPeriod
from bot.config import Settings, load_settings
from bot.dispatch import DispatchService, office_for, parse_day
from bot.exports import PROBLEM_COLUMNS, export
from bot.i18n import Locales
from bot.people import PeopleService, Person
from bot.problems import ProblemService
from bot.tallies import TallyService
from storage import Store
from storage.migrate import bundled_migrations
from storage.problems import NewProblem
from storage.registry import ReachValues

BOOTSTRAP_TELEGRAM_ID = 900


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data", admin_ids=frozenset({BOOTSTRAP_TELEGRAM_ID}))


async def known(store: Store, settings: Settings, person_id: int) -> Person:
    found = await PeopleService(store, settings).by_id(person_id)
    assert found is not None
    return found


async def setup(store: Store) -> dict[str, int]:
    """A village chief holding a reach with a county chief above, a reporter, an admin, a problem assigned."""
    area_id, _ = await store.areas.upsert("A1", "曲塘镇", "Qutang")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("R1", "R1河", "R1 River", area_id, "village", None, (), None, None)
    )
    ids = {"reach": reach_id, "area": area_id}
    for name, level in (("village", "village"), ("county", "county"), ("other", "village")):
        ids[name] = await store.people.create(name=name)
        await store.people.grant_role(ids[name], "chief", level=level)
    for name, level in (("village", "village"), ("county", "county")):
        await store.assignments.assign(ids[name], reach_id, level=level, starts_on=date(2026, 1, 1))
    ids["reporter"] = await store.people.create(name="reporter")
    ids["admin"] = await store.people.create(name="admin")
    await store.people.grant_role(ids["admin"], "admin")
    ids["clerk"] = await store.people.create(name="clerk")  # a department's contact: no chief
    new = NewProblem(ids["reporter"], None, reach_id, area_id, "garbage", None, 32.5, 120.45, "shared")
    ids["problem"] = await store.problems.insert(new, reported_at=datetime(2026, 11, 1, tzinfo=UTC))
    await store.problems.transition(
        ids["problem"], expect=("reported",), status="assigned", assignee_id=ids["village"], deadline=date(2026, 12, 10)
    )
    return ids


def services(store: Store, settings: Settings) -> DispatchService:
    return DispatchService(store, settings, ProblemService(store, settings))


def test_parse_day() -> None:
    today = date(2026, 12, 2)
    assert parse_day("2026-12-20", today) == date(2026, 12, 20)
    assert parse_day("12-20", today) == date(2026, 12, 20)
    assert parse_day("1/5", today) == date(2027, 1, 5)  # already past this year: next year's
    assert parse_day("2026-02-30", today) is None
    assert parse_day("next week", today) is None
    assert parse_day("１２-２０", today) is None  # full-width digits are not read as a date


async def test_extension_one_open_request_later_dates_only_decided_once(store: Store, settings: Settings) -> None:
    ids = await setup(store)
    service = services(store, settings)
    village, other = await known(store, settings, ids["village"]), await known(store, settings, ids["other"])
    admin = await known(store, settings, ids["admin"])
    number = ids["problem"]
    assert (await service.ask_extension(number, other, "why", date(2026, 12, 20))).outcome == "not_allowed"
    assert (await service.ask_extension(number, village, "rain", date(2026, 12, 10))).outcome == "not_later"
    asked = await service.ask_extension(number, village, "rain", date(2026, 12, 20))
    assert asked.outcome == "ok" and asked.extension is not None and asked.tell_office == (ids["admin"],)
    assert (await service.ask_extension(number, village, "again", date(2026, 12, 25))).outcome == "already_open"
    request = asked.extension.id
    assert (await service.decide_extension(request, village, grant=True, note=None)).outcome == "not_allowed"
    granted = await service.decide_extension(request, admin, grant=True, note=None)
    assert granted.outcome == "ok" and granted.problem is not None
    assert granted.problem.deadline == date(2026, 12, 20)
    assert granted.tell_assignee == ids["village"] and granted.tell_reporters == (ids["reporter"],)
    assert (await service.decide_extension(request, admin, grant=False, note="no")).outcome == "stale"
    events = [(e.action, e.data) for e in await store.problems.events(number)]
    assert events[-2:] == [
        ("extension_asked", {"request": request, "old": "2026-12-10", "new": "2026-12-20"}),
        (
            "extension_granted",
            {"request": request, "old": "2026-12-10", "new": "2026-12-20", "deadline": "2026-12-20"},
        ),
    ]
    # A refused request leaves the deadline; the next one may be asked.
    again = await service.ask_extension(number, village, "more rain", date(2026, 12, 30))
    assert again.extension is not None
    # A request about a deadline that has moved since (reopened, reset) has lapsed.
    await store.problems.transition(number, expect=("assigned",), status="assigned", deadline=date(2026, 12, 22))
    assert (await service.decide_extension(again.extension.id, admin, grant=True, note=None)).outcome == "stale"
    await store.problems.transition(number, expect=("assigned",), status="assigned", deadline=date(2026, 12, 20))
    assert (await service.decide_extension(again.extension.id, admin, grant=False, note="x")).outcome == "stale"
    again = await service.ask_extension(number, village, "more rain", date(2026, 12, 30))
    assert again.extension is not None
    refused = await service.decide_extension(again.extension.id, admin, grant=False, note="enough")
    assert refused.outcome == "ok" and refused.problem is not None and refused.problem.deadline == date(2026, 12, 20)
    assert refused.tell_reporters == ()
    last = (await store.problems.events(number))[-1]
    assert (last.action, last.note) == ("extension_refused", "enough")


async def test_transfer_to_a_chief_keeps_or_resets_and_withdraws_an_open_request(
    store: Store, settings: Settings
) -> None:
    ids = await setup(store)
    service = services(store, settings)
    village, admin = await known(store, settings, ids["village"]), await known(store, settings, ids["admin"])
    number = ids["problem"]
    asked = await service.ask_extension(number, village, "rain", date(2026, 12, 20))
    assert asked.extension is not None
    assert (
        await service.transfer(number, village, person_id=ids["other"], keep_deadline=True, note=None)
    ).outcome == "not_allowed"
    assert (
        await service.transfer(number, admin, person_id=ids["village"], keep_deadline=True, note=None)
    ).outcome == "same_assignee"
    assert (
        await service.transfer(number, admin, person_id=ids["clerk"], keep_deadline=True, note=None)
    ).outcome == "inactive_target"  # not a chief, and not a department's contact
    kept = await service.transfer(number, admin, person_id=ids["other"], keep_deadline=True, note="his stretch")
    assert kept.outcome == "ok" and kept.problem is not None
    assert (kept.problem.assignee_id, kept.problem.deadline) == (ids["other"], date(2026, 12, 10))
    assert (kept.tell_assignee, kept.tell_previous, kept.tell_reporters) == (
        ids["other"],
        ids["village"],
        (ids["reporter"],),
    )
    # The old assignee's request lapsed with the problem.
    assert (await service.decide_extension(asked.extension.id, admin, grant=True, note=None)).outcome == "stale"
    # To a department's contact, the deadline reset.
    department = await store.dispatch.add_department("城管局", ids["clerk"])
    assert department is not None
    assert await store.dispatch.add_department("城管局", ids["clerk"]) is None
    reset = await service.transfer(number, admin, department_id=department, keep_deadline=False, note=None)
    assert reset.outcome == "ok" and reset.problem is not None
    today = datetime.now(settings.tz).date()
    assert reset.problem.assignee_id == ids["clerk"]
    assert reset.problem.deadline == today + timedelta(days=settings.problem_deadline_days)
    event = (await store.problems.events(number))[-1]
    assert event.action == "transferred"
    assert event.data["department_name"] == "城管局" and event.data["kept"] is False
    assert event.data["from"] == ids["other"] and event.data["to"] == ids["clerk"]
    # The contact rectifies as an assignee does.
    clerk = await known(store, settings, ids["clerk"])
    assert "rectify" in ProblemService(store, settings).allowed(reset.problem, clerk)


async def test_press_tells_the_assignee_and_the_chiefs_above(store: Store, settings: Settings) -> None:
    ids = await setup(store)
    service = services(store, settings)
    admin, village = await known(store, settings, ids["admin"]), await known(store, settings, ids["village"])
    number = ids["problem"]
    assert (await service.press(number, village, None)).outcome == "not_allowed"
    pressed = await service.press(number, admin, "hurry")
    assert pressed.outcome == "ok" and pressed.tell_assignee == ids["village"]
    assert pressed.tell_superiors == (ids["county"],)
    await service.press(number, admin, None)
    assert await service.pressed_count(number) == 2
    assert await office_for(store, settings, pressed.problem) == (ids["admin"],)  # type: ignore[arg-type]


async def test_dispatch_tables_from_empty_and_from_the_previous_version(tmp_path: Path) -> None:
    migrations = bundled_migrations()
    at = next(m.version for m in migrations if m.name.endswith("dispatch_extensions"))
    older = tmp_path / "older.db"
    await (await Store.open(older, migrations=migrations[: at - 1])).close()
    for path in (tmp_path / "empty.db", older):
        async with await Store.open(path) as store:
            assert {"problem_extensions", "departments"} <= set(await store.table_names())
            ids = await setup(store)
            assert await store.dispatch.add_department("水务局", ids["clerk"]) is not None
            assert [d.name for d in await store.dispatch.departments()] == ["水务局"]


async def test_a_granted_extension_is_not_overdue_in_stats_assessment_or_export(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """The tallies read the deadline in force from the event log: a grant moves it there too, and an old
    database whose grants kept only old/new is read the same, so stats, the report and the export agree."""
    ids = await setup(store)
    service = services(store, settings)
    problems = ProblemService(store, settings)
    village, admin = await known(store, settings, ids["village"]), await known(store, settings, ids["admin"])
    today = problems.today()
    numbers = []
    for _ in range(2):
        new = NewProblem(ids["reporter"], None, ids["reach"], ids["area"], "garbage", None, 32.5, 120.45, "shared")
        number = await store.problems.insert(new, reported_at=datetime.now(UTC))
        assert (await problems.act(number, admin, "assign", assignee_id=ids["village"])).outcome == "ok"
        numbers.append(number)
    problem = await store.problems.by_id(numbers[0])
    assert problem is not None and problem.deadline is not None
    old, later = problem.deadline, problem.deadline + timedelta(days=10)
    # One granted now; the other as an older version stored it: the grant's event without "deadline".
    asked = await service.ask_extension(numbers[0], village, "rain", later)
    assert asked.extension is not None
    assert (await service.decide_extension(asked.extension.id, admin, grant=True, note=None)).outcome == "ok"
    assert (await store.problems.events(numbers[0]))[-1].data["deadline"] == later.isoformat()
    await store.problems.transition(numbers[1], expect=("assigned",), status="assigned", deadline=later)
    await store.problems.add_event(
        numbers[1],
        actor_id=ids["admin"],
        action="extension_granted",
        from_status="assigned",
        to_status="assigned",
        note=None,
        data={"request": 0, "old": old.isoformat(), "new": later.isoformat()},
    )
    last = old + timedelta(days=3)  # past the old deadline, before the new one
    tallies = TallyService(store, settings)
    by_problem = {int(g.split): g.overdue for g in await tallies.problem_groups(today, last, split="problem")}
    assert [by_problem[n] for n in numbers] == [0, 0]
    setup_overdue = int(last > date(2026, 12, 10))  # setup's own problem, due then, has no grant
    assert (await tallies.problems(today, last)).overall.overdue == setup_overdue
    period = ReportPeriod("month", last.year, last.month, today, last)
    report = await AssessmentService(store, settings).build(period, office="X", language="en", today=last)
    assert [row.number for row in report.overdue] == [ids["problem"]] * setup_overdue
    out = tmp_path / "x"
    await export(store, settings, Locales.load(), language="en", fmt="csv", first=today, last=last, out=out, today=last)
    text = (out / "problems.csv").read_text(encoding="utf-8-sig")
    rows = {int(r[0]): r for r in list(csv.reader(io.StringIO(text)))[1:]}
    column = PROBLEM_COLUMNS.index("overdue_days")
    assert [rows[n][column] for n in numbers] == ["0", "0"]


async def test_a_request_lapses_with_a_reassign_close_dismiss_or_reopen(store: Store, settings: Settings) -> None:
    """A request the problem has left behind is withdrawn, not left open: it would block every later request
    (one open per problem) and the card would still say one waits."""
    ids = await setup(store)
    service = services(store, settings)
    problems = ProblemService(store, settings)
    village, other = await known(store, settings, ids["village"]), await known(store, settings, ids["other"])
    admin = await known(store, settings, ids["admin"])
    number = ids["problem"]
    asked = await service.ask_extension(number, village, "rain", date(2026, 12, 20))
    assert asked.extension is not None
    assert (await problems.act(number, admin, "assign", assignee_id=ids["other"])).outcome == "ok"
    assert (await store.dispatch.extension(asked.extension.id)).status == "withdrawn"  # type: ignore[union-attr]
    problem = await store.problems.by_id(number)
    assert problem is not None and (await problems.card(problem, timeline=False)).extension_asked is None
    again = await service.ask_extension(number, other, "his turn", date(2026, 12, 25))
    assert again.outcome == "ok" and again.extension is not None
    # Sent for verification, then closed: the request lapses with it; reopened, the next one may be asked.
    assert (await problems.act(number, other, "rectify")).outcome == "ok"
    assert (await problems.act(number, admin, "close")).outcome == "ok"
    assert await service.open_extension(number) is None
    reporter = await known(store, settings, ids["reporter"])
    assert (await problems.act(number, reporter, "reopen")).outcome == "ok"
    third = await service.ask_extension(number, other, "after reopening", date(2027, 6, 1))
    assert third.extension is not None
    assert (await problems.act(number, admin, "dismiss")).outcome == "ok"
    assert await service.open_extension(number) is None


async def test_a_decision_on_a_lapsed_request_withdraws_it(store: Store, settings: Settings) -> None:
    ids = await setup(store)
    service = services(store, settings)
    village, admin = await known(store, settings, ids["village"]), await known(store, settings, ids["admin"])
    number = ids["problem"]
    asked = await service.ask_extension(number, village, "rain", date(2026, 12, 20))
    assert asked.extension is not None
    # The deadline moved by some other way (an older version's reopen, the database edited by hand).
    await store.problems.transition(number, expect=("assigned",), status="assigned", deadline=date(2026, 12, 12))
    assert (await service.decide_extension(asked.extension.id, admin, grant=True, note=None)).outcome == "stale"
    assert await service.open_extension(number) is None
    assert (await service.ask_extension(number, village, "again", date(2026, 12, 22))).outcome == "ok"


async def test_presses_count_against_whom_they_pressed_after_a_transfer(store: Store, settings: Settings) -> None:
    """督办 before a transfer pressed the chief who had the problem then: it stays his, the new assignee's
    count starts at the transfer; the problem's own count is both."""
    ids = await setup(store)
    service = services(store, settings)
    admin = await known(store, settings, ids["admin"])
    number = ids["problem"]
    await service.press(number, admin, "hurry")
    await service.press(number, admin, None)
    assert (
        await service.transfer(number, admin, person_id=ids["county"], keep_deadline=True, note=None)
    ).outcome == "ok"
    await service.press(number, admin, "still")
    today = ProblemService(store, settings).today()
    last = today + timedelta(days=40)  # the deadline, 2026-12-10, is past by then: the problem is overdue
    rows = await TallyService(store, settings).pressed(today, last)
    assert sorted((who, problem, n) for _, who, problem, n in rows) == sorted(
        [(str(ids["county"]), number, 1), (str(ids["village"]), number, 2)]
    )
    period = ReportPeriod("month", last.year, last.month, today, last)
    report = await AssessmentService(store, settings).build(period, office="X", language="en", today=last)
    chiefs = {c.person_id: c.problems.pressed for c in report.chiefs}
    assert (chiefs[ids["village"]], chiefs[ids["county"]]) == (2, 1)
    assert [(o.number, o.pressed) for o in report.overdue] == [(number, 3)]
    assert sum(a.problems.pressed for a in report.areas) == 3
