"""Invites: one-time codes that bind a Telegram account to a person the office registered, and their renewal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.config import Settings
from storage import Store
from storage.records import AreaRecord, InviteRecord, PersonRecord

BOT_USERNAME_KEY = "bot_username"
InviteRole = Literal["admin", "chief"]


def deep_link(bot_username: str, code: str) -> str:
    """Opening it in Telegram starts the bot with `/start <code>`."""
    return f"https://t.me/{bot_username}?start={code}"


async def issue(
    store: Store, settings: Settings, person_id: int, role: InviteRole, *, created_by: int | None = None
) -> str:
    """A fresh code for the person, valid for INVITE_DAYS."""
    expires_at = datetime.now(UTC) + timedelta(days=settings.invite_days)
    return await store.invites.create(person_id, role, expires_at=expires_at, created_by=created_by)


async def ensure_pending(
    store: Store, settings: Settings, person_id: int, role: InviteRole, *, created_by: int | None = None
) -> tuple[str, bool]:
    """The person's valid unused invite, or a new one; returns (code, whether it is new)."""
    existing = await store.invites.pending_for_person(person_id, now=datetime.now(UTC))
    if existing is not None:
        return existing.code, False
    return await issue(store, settings, person_id, role, created_by=created_by), True


def renewal_candidates(unused: Iterable[InviteRecord], unjoined_chiefs: Iterable[int]) -> dict[int, InviteRole]:
    """Who should hold a valid invite: everyone with an unused one (newest first decides the role) who has not
    joined, and every registered chief who has not joined even if the office never invited them."""
    candidates: dict[int, InviteRole] = {}
    for old in unused:
        if old.person_telegram_id is None:
            candidates.setdefault(old.person_id, "admin" if old.role == "admin" else "chief")
    for person_id in unjoined_chiefs:
        candidates.setdefault(person_id, "chief")
    return candidates


async def renew(store: Store, settings: Settings) -> int:
    """Give everyone who has not joined and holds no valid invite a fresh one; returns how many were issued."""
    unused = await store.invites.pending(now=datetime.now(UTC), include_expired=True)
    chiefs = [c.id for c in await store.people.chiefs() if c.telegram_id is None]
    renewed = 0
    for person_id, role in renewal_candidates(unused, chiefs).items():
        _, new = await ensure_pending(store, settings, person_id, role)
        renewed += new
    return renewed


@dataclass(frozen=True, slots=True)
class Outstanding:
    """A valid invite still waiting to be used, with what the office needs to hand it over."""

    invite: InviteRecord
    # The chief level it brings (None: an admin invite, or a chief registered without one).
    level: str | None
    area: AreaRecord | None
    phone: str | None = None


async def outstanding(store: Store) -> list[Outstanding]:
    """One valid invite per person who has not joined (the newest); people who joined another way need none."""
    areas = {a.id: a for a in await store.areas.all()}
    found: list[Outstanding] = []
    shown: set[int] = set()
    for invite in await store.invites.pending(now=datetime.now(UTC)):
        if invite.person_telegram_id is not None or invite.person_id in shown:
            continue
        shown.add(invite.person_id)
        person = await store.people.by_id(invite.person_id)
        level = person.roles.get("chief") if person is not None and invite.role == "chief" else None
        area = areas.get(person.home_area_id) if person and person.home_area_id is not None else None
        found.append(Outstanding(invite, level, area, person.phone if person is not None else None))
    return found


@dataclass(frozen=True, slots=True)
class Waiting:
    """Someone the office invited who has not joined: their newest unused invite, valid or expired."""

    person: PersonRecord
    invite: InviteRecord
    area: AreaRecord | None

    @property
    def level(self) -> str | None:
        """The chief level the invite brings (None for an admin invite)."""
        return self.person.roles.get("chief") if self.invite.role == "chief" else None

    def expired(self, now: datetime) -> bool:
        return self.invite.expires_at <= now


def _in_scope(person: PersonRecord, areas: frozenset[int] | None, role: str) -> bool:
    """An office scoped to `areas` sees the invites of people whose home area is one of them (None: the whole
    county); an admin invite only when the scope it gives lies within `areas`: forwarding a county or a wider
    office's link would give its holder more than the office has itself."""
    if areas is None:
        return True
    if role == "admin":
        return bool(person.scope) and set(person.scope) <= areas
    return person.home_area_id in areas


async def not_joined(store: Store, areas: frozenset[int] | None = None) -> list[Waiting]:
    """Everyone active with an invite not yet accepted (expired ones too: the office renews those), by name;
    within `areas` when the office is scoped."""
    known = {a.id: a for a in await store.areas.all()}
    found: list[Waiting] = []
    seen: set[int] = set()
    for invite in await store.invites.pending(now=datetime.now(UTC), include_expired=True):
        if invite.person_id in seen:
            continue  # newest first per person
        seen.add(invite.person_id)
        person = await store.people.by_id(invite.person_id)
        if person is None or not _in_scope(person, areas, invite.role):
            continue
        area = known.get(person.home_area_id) if person.home_area_id is not None else None
        found.append(Waiting(person, invite, area))
    return found


LinkState = Literal["valid", "expired", "renewed", "joined", "gone"]


@dataclass(frozen=True, slots=True)
class InviteLink:
    """What the office gets when it asks for someone's link again.

    valid/renewed: `waiting` holds the invite to forward; expired: the old one, to offer a renewal; joined: the
    person has accepted an invite since (a stale or forged button); gone: no such person, deactivated, or no invite.
    """

    state: LinkState
    name: str
    waiting: Waiting | None = None


async def invite_link(
    store: Store,
    settings: Settings,
    invite_id: int,
    *,
    renew: bool,
    by: int | None = None,
    areas: frozenset[int] | None = None,
) -> InviteLink:
    """The valid invite of the person `invite_id` was made for; with `renew` and none valid, a fresh one (old
    codes are dead: expired or revoked).

    Buttons name an invite, not a person: when the person joins, the row the office registered may be merged into
    their Telegram account's (`People.adopt`), but the invite follows them, so a stale button still finds who it
    was for and says they joined. A second renew press finds the fresh invite valid and shows it.
    """
    asked = await store.invites.by_id(invite_id)
    if asked is None:
        return InviteLink("gone", "")
    person_id = asked.person_id
    person = await store.people.by_id(person_id)
    if person is None or not person.active or not _in_scope(person, areas, asked.role):
        return InviteLink("gone", "")
    if person.telegram_id is not None:
        return InviteLink("joined", person.name)
    area = await store.areas.by_id(person.home_area_id) if person.home_area_id is not None else None
    now = datetime.now(UTC)
    valid = await store.invites.pending_for_person(person_id, now=now)
    if valid is not None:
        if not _in_scope(person, areas, valid.role):
            return InviteLink("gone", person.name)
        return InviteLink("valid", person.name, Waiting(person, valid, area))
    unused = [i for i in await store.invites.pending(now=now, include_expired=True) if i.person_id == person_id]
    if not unused or not _in_scope(person, areas, unused[0].role):
        return InviteLink("gone", person.name)
    if not renew:
        return InviteLink("expired", person.name, Waiting(person, unused[0], area))
    role: InviteRole = "admin" if unused[0].role == "admin" else "chief"
    async with store.atomic():
        await store.invites.revoke_for_person(person_id)
        code = await issue(store, settings, person_id, role, created_by=by)
    fresh = await store.invites.by_code(code)
    assert fresh is not None
    return InviteLink("renewed", person.name, Waiting(person, fresh, area))
