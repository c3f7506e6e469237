"""Dispatch beyond assign → rectify → verify: extensions (asked by the assignee, decided by the office),
transfers to another chief or a department's contact, and pressing a case.

Each step is one transaction, a conditional update and its event in the problem's append-only log (kinds in
DISPATCH_EVENTS), so two clerks acting at once cannot both win and every step is in the audit trail. Services
return decisions (who is told what); handlers turn them into messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from bot.config import Settings
from bot.joining import clean_phone
from bot.people import ADMIN, CHIEF, Person, may_hand_to, office_of, person_from
from bot.problems import ProblemService
from storage import Store
from storage.dispatch import DepartmentRecord, ExtensionRecord
from storage.problems import ProblemRecord

__all__ = [
    "DISPATCH_EVENTS",
    "EXTENSION_DAYS",
    "DepartmentLine",
    "DepartmentRecord",
    "DispatchService",
    "Dispatched",
    "ExtensionRecord",
    "Registered",
    "add_department",
    "extension_choices",
    "find_contact",
    "list_departments",
    "office_for",
    "parse_day",
    "remove_department",
]

DISPATCH_EVENTS = ("extension_asked", "extension_granted", "extension_refused", "transferred", "pressed")
EXTENSION_DAYS = (3, 7, 15)  # the quick choices past the current deadline
Outcome = Literal[
    "ok", "not_allowed", "not_later", "already_open", "stale", "inactive_target", "same_assignee", "out_of_scope"
]

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SHORT = re.compile(r"(\d{1,2})[-/.](\d{1,2})")


def parse_day(text: str, today: date) -> date | None:
    """A date as typed: 2026-12-20, or 12-20 (12/20): the next such day from today on. None: not a date."""
    text = text.strip()
    if not text.isascii():
        return None
    try:
        if match := _ISO.fullmatch(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _SHORT.fullmatch(text):
            day = date(today.year, int(match[1]), int(match[2]))
            return day if day >= today else date(today.year + 1, day.month, day.day)
    except ValueError:
        return None
    return None


async def office_for(store: Store, settings: Settings, problem: ProblemRecord) -> tuple[int, ...]:
    """The office that answers for this problem's area (`bot.people.office_of`: the town's own office, else the
    county): extension requests, presses and transfers go to whoever this returns."""
    admins = [person_from(settings, record) for record in await store.people.with_role(ADMIN)]
    return tuple(p.id for p in office_of(admins, problem.area_id))


def in_office_scope(person: Person, problem: ProblemRecord) -> bool:
    """An active admin whose office covers the problem's area (a county admin covers every area)."""
    return person.active and person.is_admin and (person.areas is None or problem.area_id in person.areas)


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What a dispatch step did, and who should hear of it (people ids)."""

    outcome: Outcome
    problem: ProblemRecord | None = None
    extension: ExtensionRecord | None = None
    tell_office: tuple[int, ...] = ()
    tell_assignee: int | None = None
    tell_previous: int | None = None
    tell_reporters: tuple[int, ...] = ()
    tell_superiors: tuple[int, ...] = ()
    department: DepartmentRecord | None = None


class DispatchService:
    def __init__(self, store: Store, settings: Settings, problems: ProblemService) -> None:
        self._store = store
        self._settings = settings
        self._problems = problems

    # -- who may --------------------------------------------------------------------------------------------

    @staticmethod
    def may_ask_extension(problem: ProblemRecord, person: Person) -> bool:
        """Only the assignee, while it is theirs to rectify (assigned, or sent back), and it has a deadline."""
        return (
            person.active
            and problem.status == "assigned"
            and problem.assignee_id == person.id
            and problem.deadline is not None
        )

    @staticmethod
    def may_dispatch(problem: ProblemRecord, person: Person) -> bool:
        """The office that covers the problem's area decides extensions, transfers and presses."""
        return in_office_scope(person, problem) and problem.is_open

    @staticmethod
    def may_transfer(problem: ProblemRecord, person: Person) -> bool:
        """Only what someone holds is transferred (an unassigned one is assigned); a rectified problem waits for
        verification, not for another rectifier."""
        return DispatchService.may_dispatch(problem, person) and problem.status == "assigned"

    @staticmethod
    def may_press(problem: ProblemRecord, person: Person) -> bool:
        return DispatchService.may_dispatch(problem, person) and problem.status == "assigned"

    # -- extension ------------------------------------------------------------------------------------------

    async def open_extension(self, problem_id: int) -> ExtensionRecord | None:
        return await self._store.dispatch.open_extension(problem_id)

    async def extension(self, request_id: int) -> ExtensionRecord | None:
        return await self._store.dispatch.extension(request_id)

    async def department(self, department_id: int) -> DepartmentRecord | None:
        return await self._store.dispatch.department(department_id)

    async def office(self, problem: ProblemRecord) -> tuple[int, ...]:
        """`office_for` the problem: whom to tell when nobody able to act has it."""
        return await office_for(self._store, self._settings, problem)

    async def ask_extension(self, problem_id: int, actor: Person, reason: str, new_deadline: date) -> Dispatched:
        async with self._store.atomic():
            problem = await self._store.problems.by_id(problem_id)
            if problem is None or not self.may_ask_extension(problem, actor):
                return Dispatched("not_allowed", problem)
            assert problem.deadline is not None
            if new_deadline <= problem.deadline:
                return Dispatched("not_later", problem)
            if await self._store.dispatch.open_extension(problem.id) is not None:
                return Dispatched("already_open", problem)
            request_id = await self._store.dispatch.ask_extension(
                problem.id, asked_by=actor.id, reason=reason, old_deadline=problem.deadline, new_deadline=new_deadline
            )
            if request_id is None:
                return Dispatched("already_open", problem)
            await self._store.problems.add_event(
                problem.id,
                actor_id=actor.id,
                action="extension_asked",
                from_status=problem.status,
                to_status=problem.status,
                note=reason,
                data={"request": request_id, "old": problem.deadline.isoformat(), "new": new_deadline.isoformat()},
            )
            extension = await self._store.dispatch.extension(request_id)
            office = await office_for(self._store, self._settings, problem)
        return Dispatched("ok", problem, extension, tell_office=tuple(p for p in office if p != actor.id))

    async def decide_extension(self, request_id: int, actor: Person, *, grant: bool, note: str | None) -> Dispatched:
        """Grant (the deadline moves) or refuse a request still open; a second decision is stale."""
        async with self._store.atomic():
            extension = await self._store.dispatch.extension(request_id)
            if extension is None:
                return Dispatched("stale")
            problem = await self._store.problems.by_id(extension.problem_id)
            assert problem is not None
            if not in_office_scope(actor, problem):  # the decision of the office that covers the area
                return Dispatched("not_allowed", problem, extension)
            if extension.status != "open":
                return Dispatched("stale", problem, extension)
            if not self._still_asked(extension, problem):
                await self._store.dispatch.withdraw_open(problem.id)  # it lapsed: let the next one be asked
                return Dispatched("stale", problem, extension)
            decided = await self._store.dispatch.decide_extension(
                extension.id, status="granted" if grant else "refused", decided_by=actor.id
            )
            if not decided:
                return Dispatched("stale", problem, extension)
            if grant:
                moved = await self._store.problems.transition(
                    problem.id, expect=(problem.status,), status=problem.status, deadline=extension.new_deadline
                )
                if not moved:
                    return Dispatched("stale", problem, extension)
                old = problem.deadline.isoformat() if problem.deadline else None
                new = extension.new_deadline.isoformat()
                # "deadline", as every event that sets one: the tallies read the deadline in force from the log.
                data = {"request": extension.id, "old": old, "new": new, "deadline": new}
            else:
                data = {"request": extension.id, "asked": extension.new_deadline.isoformat()}
            await self._store.problems.add_event(
                problem.id,
                actor_id=actor.id,
                action="extension_granted" if grant else "extension_refused",
                from_status=problem.status,
                to_status=problem.status,
                note=note,
                data=data,
            )
            changed = await self._store.problems.by_id(problem.id)
            extension = await self._store.dispatch.extension(extension.id)
            reporters = await self._audience(problem) if grant else ()
        assert changed is not None and extension is not None
        return Dispatched(
            "ok",
            changed,
            extension,
            tell_assignee=extension.asked_by if extension.asked_by != actor.id else None,
            tell_reporters=tuple(p for p in reporters if p not in (actor.id, extension.asked_by)),
        )

    @staticmethod
    def _still_asked(extension: ExtensionRecord, problem: ProblemRecord) -> bool:
        """A request answers the problem as it was asked about: still open, with its asker, at the deadline they
        asked to move (closed, transferred or reopened since with a new deadline: it has lapsed)."""
        return (
            problem.is_open and problem.assignee_id == extension.asked_by and problem.deadline == extension.old_deadline
        )

    # -- transfer -------------------------------------------------------------------------------------------

    async def departments(self) -> list[DepartmentRecord]:
        return await self._store.dispatch.departments()

    async def transfer_targets(
        self, problem: ProblemRecord, scope: frozenset[int] | None = None
    ) -> list[tuple[Person, bool]]:
        """The chiefs a problem can be transferred to (as for assigning, within a town office's `scope`), the
        current assignee left out."""
        choices = await self._problems.assignee_choices(problem, scope)
        return [(p, held) for p, held in choices if p.id != problem.assignee_id]

    async def transfer(
        self,
        problem_id: int,
        actor: Person,
        *,
        person_id: int | None = None,
        department_id: int | None = None,
        keep_deadline: bool,
        note: str | None,
    ) -> Dispatched:
        """Hand the problem to another chief, or to a department's contact, who rectifies it as its assignee."""
        async with self._store.atomic():
            problem = await self._store.problems.by_id(problem_id)
            if problem is None or not self.may_transfer(problem, actor):
                return Dispatched("not_allowed", problem)
            department = None
            if department_id is not None:
                department = await self._store.dispatch.department(department_id)
                if department is None:
                    return Dispatched("stale", problem)
                person_id = department.person_id
            assert person_id is not None
            target = await self._store.people.by_id(person_id)
            if target is None or not target.active or (department is None and CHIEF not in target.roles):
                return Dispatched("inactive_target", problem, department=department)
            if target.id == problem.assignee_id:
                return Dispatched("same_assignee", problem, department=department)
            if department is None and not await may_hand_to(self._store, actor, problem.reach_id, target.id):
                return Dispatched("out_of_scope", problem)
            today = self._problems.today()
            fresh = self._problems.deadline_for(problem.category, today)
            deadline = problem.deadline if keep_deadline and problem.deadline is not None else fresh
            ok = await self._store.problems.transition(
                problem.id, expect=(problem.status,), status="assigned", assignee_id=target.id, deadline=deadline
            )
            if not ok:
                return Dispatched("not_allowed", problem)
            await self._store.dispatch.withdraw_open(problem.id)
            data: dict[str, object] = {
                "from": problem.assignee_id,
                "to": target.id,
                "assignee": target.id,
                "deadline": deadline.isoformat(),
                "kept": keep_deadline,
            }
            if department is not None:
                data |= {"department": department.id, "department_name": department.name}
            await self._store.problems.add_event(
                problem.id,
                actor_id=actor.id,
                action="transferred",
                from_status=problem.status,
                to_status="assigned",
                note=note,
                data=data,
            )
            changed = await self._store.problems.by_id(problem.id)
            reporters = await self._audience(problem)
        assert changed is not None
        previous = problem.assignee_id
        return Dispatched(
            "ok",
            changed,
            tell_assignee=target.id if target.id != actor.id else None,
            tell_previous=previous if previous not in (None, actor.id, target.id) else None,
            tell_reporters=tuple(p for p in reporters if p not in (actor.id, target.id)),
            department=department,
        )

    # -- pressing a case ----------------------------------------------------------------------------------------------

    async def press(self, problem_id: int, actor: Person, note: str | None) -> Dispatched:
        """Press the case: the assignee and the chiefs above them on the reach are told, and it is counted."""
        async with self._store.atomic():
            problem = await self._store.problems.by_id(problem_id)
            if problem is None or not self.may_press(problem, actor):
                return Dispatched("not_allowed", problem)
            superiors = tuple(sorted(await self._problems.higher_chiefs(problem)))
            await self._store.problems.add_event(
                problem.id,
                actor_id=actor.id,
                action="pressed",
                from_status=problem.status,
                to_status=problem.status,
                note=note,
                data={"assignee": problem.assignee_id, "superiors": list(superiors)},
            )
        return Dispatched(
            "ok",
            problem,
            tell_assignee=problem.assignee_id if problem.assignee_id != actor.id else None,
            tell_superiors=tuple(p for p in superiors if p != actor.id),
        )

    async def pressed_count(self, problem_id: int) -> int:
        return await self._store.dispatch.count_events(problem_id, "pressed")

    async def _audience(self, problem: ProblemRecord) -> tuple[int, ...]:
        return (problem.reporter_id, *await self._store.problems.followers(problem.id))


def extension_choices(deadline: date) -> list[tuple[int, date]]:
    """The quick choices: the current deadline plus each of EXTENSION_DAYS."""
    return [(days, deadline + timedelta(days=days)) for days in EXTENSION_DAYS]


# -- the department registry (riverbot department) ---------------------------------------------------------

Registered = Literal["ok", "no_person", "ambiguous", "name_taken", "bad_name"]


@dataclass(frozen=True, slots=True)
class DepartmentLine:
    department: DepartmentRecord
    contact: str
    phone: str | None
    active: bool


async def find_contact(store: Store, text: str) -> tuple[Registered, int | None]:
    """The person `text` names: by phone (as the registry stores it), else by exact name, if only one has it."""
    phone = clean_phone(text) if any(ch.isdigit() for ch in text) else None
    if phone is not None:
        found = await store.people.by_phone(phone)
        return ("ok", found.id) if found is not None else ("no_person", None)
    matches, _ = await store.people.search(text.strip(), limit=50)
    exact = [p for p in matches if p.name == text.strip() and p.active]
    if len(exact) > 1:
        return "ambiguous", None
    return ("ok", exact[0].id) if exact else ("no_person", None)


async def add_department(store: Store, name: str, contact: str) -> Registered:
    """Register a department and its contact, who must be a person in the bot: the problem is pushed to them."""
    name = name.strip()
    if not name or len(name) > 100:
        return "bad_name"
    found, person_id = await find_contact(store, contact)
    if person_id is None:
        return found
    return "ok" if await store.dispatch.add_department(name, person_id) is not None else "name_taken"


async def list_departments(store: Store) -> list[DepartmentLine]:
    lines = []
    for department in await store.dispatch.departments():
        person = await store.people.by_id(department.person_id)
        lines.append(
            DepartmentLine(
                department,
                person.name if person else "?",
                person.phone if person else None,
                bool(person and person.active),
            )
        )
    return lines


async def remove_department(store: Store, name: str) -> bool:
    """Forget a department; the problems it was given keep their story (events name it)."""
    return await store.dispatch.remove_department(name.strip())
