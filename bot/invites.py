"""Invites: one-time codes that bind a Telegram account to a person the office registered, and their renewal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.config import Settings
from storage import Store
from storage.records import AreaRecord, InviteRecord

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
        found.append(Outstanding(invite, level, area))
    return found
