"""Invites: one-time codes that bind a Telegram account to a person the office registered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.config import Settings
from storage import Store

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
