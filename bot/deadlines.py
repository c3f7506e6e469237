"""Deadlines: who hears about a problem whose deadline is near or past, and when the office is told.

Daily: a problem due within a day reminds its assignee; an overdue one gets them a reminder letter each day;
one overdue ESCALATE_AFTER_DAYS or more goes to the admins of its area's office, once per deadline (a reopened
problem has a new one), and ESCALATE_COUNTY_DAYS after a town's office was told, to the county's admins too.
A rectified problem waits for its verifiers, so it is not escalated ("still not rectified" would be untrue).
What was sent is recorded before it is sent (storage's reminders_sent), so a restart or a second run the same
day sends nothing twice. `Deadlines.chase` returns the notices; the job renders and sends them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from bot.config import Settings
from bot.failures import one_record
from bot.people import ADMIN, Person, office_of, person_from
from bot.problems import ProblemService
from storage import Store
from storage.problems import ProblemRecord

logger = logging.getLogger(__name__)

NoticeKind = Literal["reminder", "overdue", "escalation"]


@dataclass(frozen=True, slots=True)
class Due:
    """What one problem's deadline calls for today."""

    assignee: Literal["reminder", "overdue"] | None  # what its assignee hears, if anything
    escalate: bool  # whether the admins are told
    days_overdue: int


@dataclass(frozen=True, slots=True)
class Notice:
    """Tell `person_id` about `problem`: a reminder (due soon), an overdue letter, or an escalation."""

    person_id: int
    problem: ProblemRecord
    kind: NoticeKind
    days_overdue: int


NOTHING = Due(None, False, 0)


def due(problem: ProblemRecord, today: date, *, escalate_after_days: int) -> Due:
    """The policy for one problem on `today` (local date), before any dedupe."""
    if not problem.is_open or problem.deadline is None or problem.deadline > today + timedelta(days=1):
        return NOTHING
    overdue = problem.overdue_days(today)
    assignee: Literal["reminder", "overdue"] | None = None
    if problem.assignee_id is not None and problem.status == "assigned":
        assignee = "overdue" if overdue else "reminder"
    escalate = overdue >= escalate_after_days and overdue > 0 and problem.status != "rectified"
    return Due(assignee, escalate, overdue)


class Deadlines:
    def __init__(self, store: Store, settings: Settings, problems: ProblemService) -> None:
        self._store = store
        self._settings = settings
        self._problems = problems

    async def chase(self, today: date) -> list[Notice]:
        """Today's notices, each recorded as sent (one per person, problem and day; escalations once per
        deadline), and an `escalate` event on a problem the first time its office is told of it."""
        admins = [person_from(self._settings, r) for r in await self._store.people.with_role(ADMIN)]
        notices: list[Notice] = []
        for problem in await self._store.problems.open_with_deadline_before(today + timedelta(days=1)):
            with one_record(logger, "the deadline of problem %s", problem.id):
                await self._chase_one(problem, today, admins, notices)
            await asyncio.sleep(0)  # a city's worth of problems: let people's updates through meanwhile
        return notices

    async def _chase_one(
        self, problem: ProblemRecord, today: date, admins: list[Person], notices: list[Notice]
    ) -> None:
        """One problem's notices today, recorded as sent, added to `notices` as each is recorded: one recorded and
        then not sent would never be sent (a failure later in this problem still lets those out)."""
        wanted = due(problem, today, escalate_after_days=self._settings.escalate_after_days)
        if wanted.assignee is not None:
            assert problem.assignee_id is not None
            if await self._store.patrols.reminded(problem.assignee_id, f"problem:{problem.id}", today.isoformat()):
                notices.append(Notice(problem.assignee_id, problem, wanted.assignee, wanted.days_overdue))
        if wanted.escalate:
            # The problem's own town office first; the county when the town has none (`office_of`).
            office = office_of(admins, problem.area_id)
            if await self._escalate(problem, office, "escalate", wanted.days_overdue, notices):
                await self._problems.escalate(problem, wanted.days_overdue)
            # Then the county, ESCALATE_COUNTY_DAYS after a town's office was told and did not get it done.
            told_on = await self._town_told_on(problem) if any(a.areas is not None for a in office) else None
            if told_on is not None and (today - told_on).days >= self._settings.escalate_county_days:
                county = [a for a in admins if a.areas is None]
                if await self._escalate(problem, county, "escalate_county", wanted.days_overdue, notices):
                    await self._problems.escalate(problem, wanted.days_overdue, county=True)

    async def _escalate(
        self, problem: ProblemRecord, admins: list[Person], kind: str, days: int, notices: list[Notice]
    ) -> bool:
        """Tell these admins, each once per deadline; whether it is the first time (the event to record)."""
        first = True
        deadline = problem.deadline.isoformat() if problem.deadline else "once"
        for admin in admins:
            if await self._store.patrols.reminded(admin.id, f"{kind}:{problem.id}", deadline):
                notices.append(Notice(admin.id, problem, "escalation", days))
            else:
                first = False
        return first and bool(admins)

    async def _town_told_on(self, problem: ProblemRecord) -> date | None:
        """The day the problem's office was first told of its current deadline (its `escalate` event), if it was."""
        if problem.deadline is None:
            return None
        for event in await self._store.problems.events(problem.id):
            data = event.data
            if event.action != "escalate" or data.get("county") or "days_overdue" not in data:
                continue
            if data.get("deadline", problem.deadline.isoformat()) == problem.deadline.isoformat():
                return problem.deadline + timedelta(days=int(data["days_overdue"]))
        return None
