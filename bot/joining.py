"""Joining: invites for chiefs and admins, registration for volunteers, and the office's decisions on both.

Each step that writes more than one row runs in one transaction: a double tap, two admins deciding at once or
a crash half-way leaves either all of a join or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from bot import invites
from bot.config import Settings
from bot.names import clean_display_name
from bot.people import ADMIN, CHIEF, VOLUNTEER, Person, person_from
from storage import Store
from storage.records import AreaRecord, AssignmentRecord, InviteRecord, ReachRecord, RegistrationRecord

InviteStatus = Literal["ok", "unknown", "used", "used_by_you", "expired", "deactivated", "taken"]
NAME_MAX = 40
PHONE_MAX = 20


def clean_name(text: str) -> str | None:
    """A person's name as typed: one line, 1–40 visible characters (bot.names cleans it); None when it can't be
    one. Whether it is reserved is asked separately (`is_reserved`), so the person is told why."""
    name = clean_display_name(text)
    if not name or len(name) > NAME_MAX or name.startswith("/"):
        return None
    return name


def clean_phone(text: str) -> str | None:
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if not 5 <= len(digits.lstrip("+")) <= 15:
        return None
    return digits if digits.startswith("+") else "+" + digits


def local_today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


@dataclass(frozen=True, slots=True)
class InviteCheck:
    status: InviteStatus
    invite: InviteRecord | None = None


@dataclass(frozen=True, slots=True)
class HeldReach:
    """An assignment and its reach (None: the reach left the registry; the code the assignment kept names it)."""

    assignment: AssignmentRecord
    reach: ReachRecord | None

    def name(self, language: str) -> str:
        return self.reach.name(language) if self.reach is not None else self.assignment.reach_code


@dataclass(frozen=True, slots=True)
class InviteCard:
    """What an invited person is shown before they confirm it is them: as the office registered them."""

    invite: InviteRecord
    person: Person
    area: AreaRecord | None
    reaches: list[HeldReach]

    @property
    def level(self) -> str | None:
        """The chief level the invite brings (None: an admin invite, or a chief invite without a level)."""
        return self.person.chief_level if self.invite.role == CHIEF else None


class Joining:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def check_invite(self, code: str, telegram_id: int) -> InviteCheck:
        """What opening this invite means for this Telegram account, before anything is written."""
        invite = await self._store.invites.by_code(code) if code else None
        if invite is None:
            return InviteCheck("unknown")
        if invite.used_at is not None:
            return InviteCheck("used_by_you" if invite.used_by == telegram_id else "used", invite)
        if invite.person_telegram_id is not None and invite.person_telegram_id != telegram_id:
            return InviteCheck("taken", invite)
        if invite.expires_at <= datetime.now(UTC):
            return InviteCheck("expired", invite)
        person = await self._store.people.by_id(invite.person_id)
        if person is None or not person.active:
            return InviteCheck("deactivated", invite)
        return InviteCheck("ok", invite)

    async def invite_card(self, invite: InviteRecord) -> InviteCard | None:
        record = await self._store.people.by_id(invite.person_id)
        if record is None:
            return None
        area = await self._store.areas.by_id(record.home_area_id) if record.home_area_id is not None else None
        return InviteCard(invite, person_from(self._settings, record), area, await self.held_reaches(record.id))

    async def held_reaches(self, person_id: int) -> list[HeldReach]:
        """The reaches a person answers for now."""
        held = []
        for assignment in await self._store.assignments.active_for_person(person_id):
            held.append(HeldReach(assignment, await self._store.reaches.by_id(assignment.reach_id)))
        return held

    async def accept_invite(self, code: str, telegram_id: int) -> InviteCheck:
        """Use the invite: the Telegram account becomes the registered person, with the invite's role."""
        async with self._store.atomic():
            check = await self.check_invite(code, telegram_id)
            if check.status != "ok":
                return check
            invite = check.invite
            assert invite is not None
            if not await self._store.invites.mark_used(invite.id, telegram_id, now=datetime.now(UTC)):
                return await self.check_invite(code, telegram_id)
            person_id = await self._store.people.adopt(invite.person_id, telegram_id)
            record = await self._store.people.by_id(person_id)
            assert record is not None
            if invite.role == ADMIN:
                await self._store.people.grant_role(person_id, ADMIN, granted_by=None)
            elif CHIEF not in record.roles:
                # A chief invite made without a level (should not happen): village is the most demanding.
                await self._store.people.grant_role(person_id, CHIEF, level="village")
            # Joining by invite supersedes a volunteer request still waiting.
            pending = await self._store.registrations.pending_for_person(person_id)
            if pending is not None:
                await self._store.registrations.decide(pending.id, approved=True, decided_by=None)
                await self._store.people.grant_role(person_id, VOLUNTEER)
        return InviteCheck("ok", await self._store.invites.by_code(code))

    async def create_invite(
        self,
        *,
        created_by: int,
        role: invites.InviteRole,
        name: str,
        level: str | None = None,
        area_id: int | None = None,
        reach_ids: tuple[int, ...] = (),
        scope: tuple[int, ...] = (),
    ) -> str:
        """Register the person as the office knows them (a chief with level and reaches; an admin with their
        office scope, which holds once they accept) and invite them."""
        async with self._store.atomic():
            person_id = await self._store.people.create(name=name, home_area_id=area_id)
            if role == ADMIN and scope:
                await self._store.people.set_scope(person_id, scope)
            if role == CHIEF:
                assert level is not None
                await self._store.people.grant_role(person_id, CHIEF, level=level, granted_by=created_by)
                today = local_today(self._settings)
                for reach_id in reach_ids:
                    await self._store.assignments.assign(person_id, reach_id, level=level, starts_on=today)
            return await invites.issue(self._store, self._settings, person_id, role, created_by=created_by)

    async def register_volunteer(
        self, person_id: int, *, name: str, home_area_id: int | None, phone: str | None
    ) -> Literal["approved", "pending", "already"]:
        """With VOLUNTEER_APPROVAL=auto they are volunteers at once; with admin, their request waits."""
        auto = self._settings.volunteer_approval == "auto"
        async with self._store.atomic():
            record = await self._store.people.by_id(person_id)
            assert record is not None
            if VOLUNTEER in record.roles or record.pending:
                return "already"
            await self._store.people.set_profile(person_id, name=name, phone=phone, home_area_id=home_area_id)
            await self._store.registrations.create(
                person_id, name=name, home_area_id=home_area_id, phone=phone, status="approved" if auto else "pending"
            )
            if auto:
                await self._store.people.grant_role(person_id, VOLUNTEER)
                return "approved"
            return "pending"

    async def decide(self, registration_id: int, *, approved: bool, decided_by: int) -> RegistrationRecord | None:
        """An admin's decision; None when it was already decided (by them, or another admin a moment earlier)."""
        async with self._store.atomic():
            if not await self._store.registrations.decide(registration_id, approved=approved, decided_by=decided_by):
                return None
            registration = await self._store.registrations.by_id(registration_id)
            assert registration is not None
            if approved:
                await self._store.people.grant_role(registration.person_id, VOLUNTEER, granted_by=decided_by)
            return registration

    async def waiting(self) -> list[RegistrationRecord]:
        """Volunteer requests waiting for an admin, oldest first."""
        return await self._store.registrations.pending()

    async def registration(self, registration_id: int) -> RegistrationRecord | None:
        return await self._store.registrations.by_id(registration_id)

    async def waiting_for(self, person_id: int) -> RegistrationRecord | None:
        """The person's own request, if it still waits."""
        return await self._store.registrations.pending_for_person(person_id)

    async def phone_taken(self, phone: str, person_id: int) -> bool:
        other = await self._store.people.by_phone(phone)
        return other is not None and other.id != person_id


class Roster:
    """The office's changes to who answers for what: assignments and deactivation."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def assign(self, person_id: int, reach_id: int) -> tuple[int, bool] | None:
        """Start an assignment today at the chief's level; None when the person is no active chief."""
        async with self._store.atomic():
            person = await self._store.people.by_id(person_id)
            if person is None or not person.active or CHIEF not in person.roles:
                return None
            level = person.roles[CHIEF] or "village"
            return await self._store.assignments.assign(
                person_id, reach_id, level=level, starts_on=local_today(self._settings)
            )

    async def unassign(self, assignment_id: int) -> bool:
        """The chief no longer answers for the reach from today: they answered through yesterday."""
        yesterday = local_today(self._settings) - timedelta(days=1)
        return await self._store.assignments.end(assignment_id, last_day=yesterday)

    async def deactivate(self, person_id: int, *, by: int) -> int | None:
        """Stop a person using the bot; their assignments end and their invites lapse. None: already inactive.

        Returns how many assignments ended. Their records (patrols, reports) stay: they are evidence.
        """
        yesterday = local_today(self._settings) - timedelta(days=1)
        async with self._store.atomic():
            if not await self._store.people.set_active(person_id, False, by=by):
                return None
            ended = 0
            for assignment in await self._store.assignments.active_for_person(person_id):
                ended += await self._store.assignments.end(assignment.id, last_day=yesterday)
            await self._store.invites.revoke_for_person(person_id)
            return ended

    async def reactivate(self, person_id: int, *, by: int) -> bool:
        return await self._store.people.set_active(person_id, True, by=by)
