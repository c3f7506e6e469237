"""No problem without someone able to act: who the bot cannot write to, why, and what the office hears of it.

A person cannot be reached when they are deactivated, have not joined (the registry knows them, Telegram does
not: no account linked, or they never opened the bot), or Telegram refused the last message to them (403:
they blocked the bot, or their account is gone). A 403 marks them so until they write to the bot again
(`PeopleService.met_in_private` clears it).

What follows from that:
- a problem routed to such a chief waits for them; the office is told at once, with the problem and why;
  /problems, the summaries and the exports show it as waiting, not as being rectified;
- when they join, they are handed every problem that waited for them (`handover`);
- jobs that write to people (digests, patrol and deadline reminders) count whom they could not reach, and the
  office hears of each person once per episode (`missed`): an episode is the reason and the moment it began,
  so a chief who unblocks and blocks again is news, and the same chief tomorrow is not.

Nothing here sends: each method returns whom to tell (as `bot.problems.Change` does), the handlers send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from bot.config import Settings
from bot.people import Person, person_from
from storage import Store
from storage.problems import ProblemRecord
from storage.records import Contact, ReachRecord

__all__ = [
    "Handover",
    "Missed",
    "Reachability",
    "Reason",
    "Refusal",
    "Refused",
    "Routed",
    "Unreached",
    "Waiting",
    "contact_of",
    "episode",
    "reason_of",
    "refusal",
    "waiting_label",
    "why_unreachable",
]

# Why the bot cannot write to a person.
Reason = Literal["not_joined", "inactive", "blocked", "deactivated"]
# What a 403 for a private chat says: blocked the bot, the account is gone, or they never opened the bot.
Refusal = Literal["blocked", "deactivated", "not_started"]
# How a list shows a problem whose assignee cannot act: waiting for them to join, or they cannot be reached.
WaitingLabel = Literal["not_joined", "unreachable"]


def refusal(description: str) -> Refusal | None:
    """What Telegram's 403 means for the person the message was for; None when it is about a group instead.

    Telegram's texts: "Forbidden: bot was blocked by the user", "Forbidden: user is deactivated",
    "Forbidden: bot can't initiate conversation with a user"; for groups "bot was kicked from the group chat",
    "bot is not a member of the supergroup chat". Any other 403 to a person still means the message did not
    arrive, and is taken as a block.
    """
    text = description.lower()
    if "group" in text or "channel" in text:
        return None
    if "deactivated" in text:
        return "deactivated"
    if "initiate" in text:
        return "not_started"
    return "blocked"


def reason_of(contact: Contact) -> Reason | None:
    """Why the bot cannot write to someone (deactivated first, then not joined, then refused); None: it can."""
    if not contact.active:
        return "inactive"
    if not contact.joined:
        return "not_joined"
    if contact.blocked:
        if contact.blocked_reason == "deactivated":
            return "deactivated"
        if contact.blocked_reason == "not_started":
            return "not_joined"
        return "blocked"
    return None


def contact_of(person: Person) -> Contact:
    return Contact(
        active=person.active,
        joined=person.telegram_id is not None and person.started,
        blocked=person.blocked,
        blocked_reason=person.blocked_reason,
    )


def why_unreachable(person: Person) -> Reason | None:
    return reason_of(contact_of(person))


def waiting_label(reason: Reason) -> WaitingLabel:
    """"Waiting for the chief to join" while they have not; "chief unreachable" for the rest."""
    return "not_joined" if reason == "not_joined" else "unreachable"


def episode(person: Person, reason: Reason) -> str:
    """Names one stretch of being unreachable: the office hears of each once. A refusal begins at its moment,
    so the next block after they came back is a new one; not joined and deactivated last until they change."""
    since = person.blocked_since.isoformat() if reason in ("blocked", "deactivated") and person.blocked_since else ""
    return f"{reason}:{since}"


@dataclass(frozen=True, slots=True)
class Unreached:
    """A person the bot cannot write to, and why."""

    person: Person
    reason: Reason


@dataclass(frozen=True, slots=True)
class Waiting:
    """A problem whose assignee cannot act on it, as the office is told of it."""

    problem: ProblemRecord
    reach: ReachRecord | None


@dataclass(frozen=True, slots=True)
class Routed:
    """Who hears of a new problem: its assignee when they can act on it; otherwise the office (`tell_admins`),
    with the assignee who cannot be reached and why (`waiting_for`; None: the reach has no chief at all)."""

    problem: ProblemRecord
    reach: ReachRecord | None
    tell_assignee: Person | None = None
    tell_admins: bool = False
    waiting_for: Unreached | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """What a 403 changed: the person is unreachable now; the office hears of it (with what waits for them)
    when `tell_office`, which is once per episode and only when something waits."""

    unreached: Unreached
    tell_office: bool
    waiting: list[Waiting] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Missed:
    """Whom a job could not reach, and those of them the office hears of now (the first time this episode)."""

    unreached: list[Unreached]
    tell_office: list[Unreached]


@dataclass(frozen=True, slots=True)
class Handover:
    """A chief who can be reached now, the problems that waited for them (each with its deadline), and for each
    problem the reporters and followers to tell that someone has it."""

    person: Person
    problems: list[Waiting]
    tell_reporters: dict[int, tuple[int, ...]] = field(default_factory=dict)


class Reachability:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def _person(self, person_id: int | None) -> Person | None:
        record = await self._store.people.by_id(person_id) if person_id is not None else None
        return None if record is None else person_from(self._settings, record)

    async def unreached(self, person_id: int | None) -> Unreached | None:
        """The person, with why, when the bot cannot write to them; None when it can (or there is nobody)."""
        person = await self._person(person_id)
        reason = None if person is None else why_unreachable(person)
        return None if person is None or reason is None else Unreached(person, reason)

    async def routed(self, problem: ProblemRecord) -> Routed:
        """Who hears of a problem just filed (or routed again): the assignee if they can act, else the office."""
        reach = await self._store.reaches.by_id(problem.reach_id)
        if problem.assignee_id is None or problem.status != "assigned":
            return Routed(problem, reach, tell_admins=True)
        person = await self._person(problem.assignee_id)
        if person is None:
            return Routed(problem, reach, tell_admins=True)
        reason = why_unreachable(person)
        if reason is None:
            return Routed(problem, reach, tell_assignee=person)
        return Routed(problem, reach, tell_admins=True, waiting_for=Unreached(person, reason))

    async def waiting_for(self, person_id: int) -> list[Waiting]:
        """The problems waiting for this person to rectify them, the earliest deadline first."""
        return [
            Waiting(p, await self._store.reaches.by_id(p.reach_id))
            for p in await self._store.problems.assigned_to(person_id)
        ]

    async def refused(self, telegram_id: int, description: str, *, notify: bool = True) -> Refused | None:
        """Telegram answered 403 to a message for this chat: the person is unreachable until they write again.

        None when the chat is no person's (a group) or the 403 is about a group. With `notify` off (the 403 came
        while telling the office itself) nothing is claimed, so the office is not told through that path."""
        why = refusal(description)
        if why is None:
            return None
        record = await self._store.people.by_telegram_id(telegram_id)
        if record is None:
            return None
        await self._store.people.refused(telegram_id, why)
        person = await self._person(record.id)
        assert person is not None
        reason = why_unreachable(person) or "blocked"
        unreached = Unreached(person, reason)
        waiting = await self.waiting_for(person.id) if person.is_chief else []
        tell = notify and bool(waiting) and await self._claim(unreached)
        return Refused(unreached, tell, waiting)

    async def _claim(self, unreached: Unreached) -> bool:
        return await self._store.people.claim_unreachable_notice(
            unreached.person.id, episode(unreached.person, unreached.reason)
        )

    async def missed(self, people: Iterable[Person]) -> Missed:
        """Of the people a job meant to write to, those it cannot reach; the ones the office has not heard of
        in this episode are claimed now, so a daily job tells it of each once, not every day."""
        unreached = []
        for person in {p.id: p for p in people}.values():
            reason = why_unreachable(person)
            if reason is not None:
                unreached.append(Unreached(person, reason))
        told = await self._store.people.unreachable_told([u.person.id for u in unreached])
        news = []
        for item in unreached:
            if told.get(item.person.id) != episode(item.person, item.reason) and await self._claim(item):
                news.append(item)
        return Missed(unreached, news)

    async def missed_ids(self, person_ids: Iterable[int]) -> Missed:
        """`missed` for people known by id (deadline notices name their assignee by id)."""
        people = [p for p in [await self._person(i) for i in dict.fromkeys(person_ids)] if p is not None]
        return await self.missed(people)

    async def unreachable_chiefs(self) -> list[Person]:
        """Active chiefs answering for a reach whom the bot cannot write to: the weekly digests miss them."""
        chiefs = [person_from(self._settings, r) for r in await self._store.people.chiefs_holding_reaches()]
        return [p for p in chiefs if why_unreachable(p) is not None]

    async def handover(self, person_id: int) -> Handover | None:
        """The chief can be reached now (they joined): every problem that waited for them is theirs to see,
        each recorded as handed over. None when they still cannot be reached or nothing waits."""
        person = await self._person(person_id)
        if person is None or why_unreachable(person) is not None:
            return None
        waiting = await self.waiting_for(person.id)
        if not waiting:
            return None
        tell: dict[int, tuple[int, ...]] = {}
        async with self._store.atomic():
            for item in waiting:
                problem = item.problem
                await self._store.problems.add_event(
                    problem.id,
                    actor_id=None,
                    action="handover",
                    from_status=problem.status,
                    to_status=problem.status,
                    data={"assignee": person.id},
                )
                audience = (problem.reporter_id, *await self._store.problems.followers(problem.id))
                tell[problem.id] = tuple(p for p in dict.fromkeys(audience) if p != person.id)
        return Handover(person, waiting, tell)
