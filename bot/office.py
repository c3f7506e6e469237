"""The office's commands in private chat, as rules: /invite, /people, /reaches, /assign, /unassign.

Each read returns what the screen shows as plain data (which people, which reaches, who holds what); the
handlers only render it. Changes go through `bot.joining.Joining` and `Roster`, which keep them atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from bot import invites
from bot.config import Settings
from bot.dialogs import Dialogs
from bot.invites import InviteRole
from bot.joining import HeldReach, Joining, Roster
from bot.people import CHIEF, Person, chiefs_within, is_bootstrap_admin, person_from
from storage import Store
from storage.records import AreaRecord, AssignmentRecord, ReachRecord

INVITE = "invite"
INVITE_ROLES: tuple[InviteRole, ...] = ("chief", "admin")
# /people lists this many a page; a search shows the first SEARCH_SHOWN matches on one page.
PEOPLE_PAGE = 8
SEARCH_SHOWN = 20
SEARCH_MAX = 40

Status = Literal["inactive", "invited", "blocked", "active"]


def status_of(person: Person) -> Status:
    """How the office sees a person's account: deactivated first, then never joined, then blocked the bot."""
    if not person.active:
        return "inactive"
    if person.telegram_id is None:
        return "invited"
    if person.blocked:
        return "blocked"
    return "active"


def status_refusal(actor: Person, target: Person, reaches: Sequence[HeldReach] = ()) -> str | None:
    """Why `actor` may not (de)activate `target` (a locale key), or None. Not themselves: locking yourself out
    needs a second admin. A town's office changes no one whose reach goes beyond its areas: deactivating ends all
    of a person's assignments countywide, so not an admin of a wider (or the county's) scope, nor a chief who
    answers for any reach (`reaches`, held now) outside its areas."""
    if actor.id == target.id:
        return "people.not_yourself"
    scope = actor.areas
    if scope is None:
        return None
    if target.is_admin and (target.areas is None or not target.areas <= scope):
        return "scope.change_admin"
    if any(held.reach is None or held.reach.area_id not in scope for held in reaches):
        return "scope.change_reaches"
    return None


def toggled(chosen: list[int], reach_id: int) -> list[int]:
    """A reach tapped in the /invite choice: in if it was out, out if it was in (order of taps kept)."""
    return [r for r in chosen if r != reach_id] if reach_id in chosen else [*chosen, reach_id]


def chiefs_for(reach: ReachRecord, chiefs: list[Person]) -> list[Person]:
    """Chiefs to offer for a reach: those of the reach's own area first (the likely choice), then by name."""
    return sorted(chiefs, key=lambda p: (p.home_area_id != reach.area_id, p.name))


@dataclass(frozen=True, slots=True)
class PeoplePage:
    people: list[Person]
    # How many match in all (more than shown when searching).
    total: int
    page: int
    pages: int
    query: str


@dataclass(frozen=True, slots=True)
class WaitingPage:
    """A page of /people's "not joined yet" list."""

    waiting: list[invites.Waiting]
    total: int
    page: int
    pages: int
    now: datetime


@dataclass(frozen=True, slots=True)
class PersonCard:
    person: Person
    status: Status
    area: AreaRecord | None
    reaches: list[HeldReach]
    # An admin's office scope (empty: the whole county).
    scope: list[AreaRecord] = field(default_factory=list)


ScopeOutcome = Literal["ok", "county_only", "not_admin", "bootstrap", "last_area", "gone"]


@dataclass(frozen=True, slots=True)
class ScopeView:
    """An admin's office scope as the chooser shows it: every area, the ones in the scope, and the outcome of the
    change just asked for ("ok" when it was done, or why not)."""

    person: Person
    areas: list[AreaRecord]
    outcome: ScopeOutcome = "ok"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A (de)activation: whether it changed anything, how many assignments ended, and the card after it."""

    changed: bool
    ended: int
    card: PersonCard


@dataclass(frozen=True, slots=True)
class LastPatrol:
    ended_at: datetime
    walker: str | None  # the chief it counts for
    valid: bool
    assistant: str | None = None  # who walked it for them, if not the chief


@dataclass(frozen=True, slots=True)
class ReachFile:
    """One river, one file: who answers for it and when it was last walked."""

    reach: ReachRecord
    area: AreaRecord | None
    chiefs: list[AssignmentRecord]
    last_patrol: LastPatrol | None


@dataclass(frozen=True, slots=True)
class ReachChoice:
    reach: ReachRecord
    # Chiefs answering for it now.
    held_by: int


@dataclass(frozen=True, slots=True)
class ChiefChoice:
    person: Person
    holds: bool


@dataclass(frozen=True, slots=True)
class CreatedInvite:
    code: str
    name: str
    role: InviteRole
    level: str | None
    reaches: list[ReachRecord] = field(default_factory=list)


class Office:
    def __init__(self, store: Store, settings: Settings, dialogs: Dialogs, joining: Joining, roster: Roster) -> None:
        self._store = store
        self._settings = settings
        self._dialogs = dialogs
        self._joining = joining
        self._roster = roster

    # -- the registry ------------------------------------------------------------------------------------

    async def areas(self, within: frozenset[int] | None = None) -> list[AreaRecord]:
        """Every area, by code; with `within` (a town office's scope), only those."""
        areas = await self._store.areas.all()
        return areas if within is None else [a for a in areas if a.id in within]

    async def area(self, area_id: int) -> AreaRecord | None:
        return await self._store.areas.by_id(area_id)

    async def reach(self, reach_id: int) -> ReachRecord | None:
        return await self._store.reaches.by_id(reach_id)

    async def reaches_in(self, area_id: int) -> list[ReachRecord]:
        return await self._store.reaches.in_area(area_id)

    async def held_reaches(self, person_id: int) -> list[HeldReach]:
        """The reaches a person answers for now."""
        return await self._joining.held_reaches(person_id)

    async def my_reaches(self, person: Person) -> list[HeldReach]:
        """What /reaches offers under "mine": a chief's own reaches; nothing for anyone else."""
        return await self.held_reaches(person.id) if person.is_chief else []

    # -- /invite -----------------------------------------------------------------------------------------

    async def begin_invite(self, telegram_id: int) -> None:
        await self._dialogs.set(telegram_id, INVITE, "role", {})

    @staticmethod
    def invite_refusal(by: Person, data: dict[str, Any]) -> Literal["county_only", "choose_area"] | None:
        """Why this /invite may not be made, or None. A town's office invites only inside its own areas: a chief
        of one of them, or an admin whose scope is some of them (never a county admin)."""
        if data.get("role") == "admin":
            scope = {int(a) for a in data.get("scope", [])}
            county = bool(data.get("county"))
            if by.areas is not None and (county or not scope <= by.areas):
                return "county_only"
            return None if scope or county else "choose_area"
        area_id = data.get("area_id")
        return None if by.covers(None if area_id is None else int(area_id)) else "county_only"

    async def create_invite(self, by: Person, data: dict[str, Any]) -> CreatedInvite:
        """Register the person the /invite dialog collected, issue their invite, and close the dialog (the caller
        checked `invite_refusal`)."""
        assert self.invite_refusal(by, data) is None
        role: InviteRole = "admin" if data.get("role") == "admin" else "chief"
        reach_ids = tuple(int(r) for r in data.get("reaches", []))
        level = data.get("level") if role == "chief" else None
        code = await self._joining.create_invite(
            created_by=by.id,
            role=role,
            name=str(data["name"]),
            level=level,
            area_id=data.get("area_id"),
            reach_ids=reach_ids,
            scope=tuple(int(a) for a in data.get("scope", [])) if role == "admin" else (),
        )
        await self._dialogs.clear(by.telegram_id or 0, INVITE)
        reaches = [r for r in [await self._store.reaches.by_id(i) for i in reach_ids] if r is not None]
        return CreatedInvite(code, str(data["name"]), role, data.get("level"), reaches)

    # -- /people -----------------------------------------------------------------------------------------

    async def people_page(self, query: str, page: int, *, areas: frozenset[int] | None = None) -> PeoplePage:
        """A search shows the first SEARCH_SHOWN matches; no search lists everyone, PEOPLE_PAGE at a time. With
        `areas` (a town's office), only the people of those areas."""
        query = query[:SEARCH_MAX]
        within = None if areas is None else tuple(sorted(areas))
        if query:
            found, total = await self._store.people.search(query, limit=SEARCH_SHOWN, offset=0, areas=within)
            page, pages = 0, 1
        else:
            found, total = await self._store.people.search(
                "", limit=PEOPLE_PAGE, offset=page * PEOPLE_PAGE, areas=within
            )
            pages = max(1, -(-total // PEOPLE_PAGE))
        people = [person_from(self._settings, r) for r in found]
        return PeoplePage(people, total, page, pages, query)

    async def waiting_page(self, page: int, areas: frozenset[int] | None = None) -> WaitingPage:
        """People invited who have not joined yet, PEOPLE_PAGE at a time (a page past the end shows the last);
        within `areas` for a scoped office (None: the whole county)."""
        everyone = await invites.not_joined(self._store, areas)
        pages = max(1, -(-len(everyone) // PEOPLE_PAGE))
        page = min(max(page, 0), pages - 1)
        shown = everyone[page * PEOPLE_PAGE : (page + 1) * PEOPLE_PAGE]
        return WaitingPage(shown, len(everyone), page, pages, datetime.now(UTC))

    async def invite_link(
        self, invite_id: int, *, renew: bool, by: Person, areas: frozenset[int] | None = None
    ) -> invites.InviteLink:
        """Someone's invite link again, renewed when asked and expired (see `invites.invite_link`); outside a
        scoped office's `areas` it is as if there were none."""
        return await invites.invite_link(self._store, self._settings, invite_id, renew=renew, by=by.id, areas=areas)

    async def person_card(self, person_id: int) -> PersonCard | None:
        record = await self._store.people.by_id(person_id)
        if record is None:
            return None
        person = person_from(self._settings, record)
        area = await self._store.areas.by_id(person.home_area_id) if person.home_area_id else None
        scope = [a for a in await self._store.areas.all() if a.id in person.areas] if person.areas else []
        return PersonCard(person, status_of(person), area, await self.held_reaches(person.id), scope)

    async def may_see(self, actor: Person, person_id: int) -> bool:
        """Whether this admin's scope holds the person (lives, answers for a reach, or is an office there)."""
        if actor.areas is None:
            return True
        return await self._store.people.in_areas(person_id, tuple(sorted(actor.areas)))

    # -- office scope ------------------------------------------------------------------------------------

    def _scope_refusal(self, actor: Person, target: Person | None) -> ScopeOutcome | None:
        """Why `actor` may not change `target`'s scope, or None: only a county admin changes scopes (a town's
        office cannot widen its own or anyone's), only an admin has one, and ADMIN_IDS are always the county."""
        if not actor.is_county_admin or not actor.active:
            return "county_only"
        if target is None:
            return "gone"
        if not target.is_admin:
            return "not_admin"
        if is_bootstrap_admin(self._settings, target.telegram_id):
            return "bootstrap"
        return None

    async def scope_view(self, person_id: int, outcome: ScopeOutcome = "ok") -> ScopeView | None:
        """The scope chooser for an admin; None: no such person."""
        record = await self._store.people.by_id(person_id)
        target = None if record is None else person_from(self._settings, record)
        if target is None:
            return None
        return ScopeView(target, await self._store.areas.all(), outcome)

    async def set_scope(self, actor: Person, person_id: int, areas: frozenset[int] | None) -> ScopeOutcome:
        """Give the admin this scope (None: the whole county), if `actor` may."""
        record = await self._store.people.by_id(person_id)
        target = None if record is None else person_from(self._settings, record)
        refusal = self._scope_refusal(actor, target)
        if refusal is not None:
            return refusal
        await self._store.people.set_scope(person_id, areas or ())
        return "ok"

    async def toggle_scope_area(self, actor: Person, person_id: int, area_id: int) -> ScopeOutcome:
        """Put the area in the admin's scope, or take it out; taking out the last one is refused (that would make
        them the whole county: a widening has its own button)."""
        record = await self._store.people.by_id(person_id)
        target = None if record is None else person_from(self._settings, record)
        refusal = self._scope_refusal(actor, target)
        if refusal is not None:
            return refusal
        if await self._store.areas.by_id(area_id) is None:
            return "gone"
        async with self._store.atomic():
            now = set(await self._store.people.scope(person_id))
            wanted = now ^ {area_id}
            if not wanted:
                return "last_area"
            await self._store.people.set_scope(person_id, wanted)
        return "ok"

    async def scope_refusal(self, actor: Person, person_id: int) -> ScopeOutcome | None:
        record = await self._store.people.by_id(person_id)
        return self._scope_refusal(actor, None if record is None else person_from(self._settings, record))

    async def deactivate(self, person_id: int, *, by: Person) -> StatusChange | None:
        """Stop the person using the bot (see `Roster.deactivate`); None: no such person."""
        ended = await self._roster.deactivate(person_id, by=by.id)
        card = await self.person_card(person_id)
        return None if card is None else StatusChange(ended is not None, ended or 0, card)

    async def reactivate(self, person_id: int, *, by: Person) -> StatusChange | None:
        changed = await self._roster.reactivate(person_id, by=by.id)
        card = await self.person_card(person_id)
        return None if card is None else StatusChange(changed, 0, card)

    # -- /reaches ----------------------------------------------------------------------------------------

    async def reach_file(self, reach: ReachRecord) -> ReachFile:
        area = await self._store.areas.by_id(reach.area_id)
        chiefs = await self._store.assignments.active_for_reach(reach.id)
        last = await self._store.patrols.last_for_reach(reach.id)
        last_patrol = None
        if last is not None and last.ended_at is not None:
            walker = await self._store.people.by_id(last.person_id)
            helper = await self._store.people.by_id(last.walked_by) if last.walked_by is not None else None
            last_patrol = LastPatrol(
                last.ended_at,
                walker.name if walker else None,
                bool(last.valid),
                None if last.walked_by is None else (helper.name if helper else "?"),
            )
        return ReachFile(reach, area, chiefs, last_patrol)

    # -- /assign and /unassign ---------------------------------------------------------------------------

    async def reach_choices(self, area_id: int) -> list[ReachChoice]:
        """The area's reaches, each with how many chiefs answer for it now."""
        choices = []
        for reach in await self._store.reaches.in_area(area_id):
            choices.append(ReachChoice(reach, len(await self._store.assignments.active_for_reach(reach.id))))
        return choices

    async def chief_choices(self, reach: ReachRecord, scope: frozenset[int] | None = None) -> list[ChiefChoice]:
        """Every active chief (a town's office, `scope`: its own areas' and the reach's), own area first, marked
        when they already answer for the reach."""
        within = await chiefs_within(self._store, scope, reach.id)
        records = await self._store.people.with_role(CHIEF)
        chiefs = [person_from(self._settings, r) for r in records if within is None or r.id in within]
        held = {a.person_id for a in await self._store.assignments.active_for_reach(reach.id)}
        return [ChiefChoice(p, p.id in held) for p in chiefs_for(reach, chiefs)]

    async def holders(self, reach_id: int) -> list[AssignmentRecord]:
        """Who answers for the reach now, as assignments (what /unassign ends)."""
        return await self._store.assignments.active_for_reach(reach_id)

    async def assignment(self, assignment_id: int) -> AssignmentRecord | None:
        return await self._store.assignments.by_id(assignment_id)
