"""Plain records the store hands to the domain: no SQL rows leak past `storage/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: int
    telegram_id: int | None
    name: str
    username: str | None
    language: str | None
    language_code: str | None
    phone: str | None
    active: bool
    started_at: datetime | None
    blocked_at: datetime | None
    # role → level (the level is set for chiefs only)
    roles: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatRecord:
    id: int
    type: str
    title: str | None
    language: str | None
    bot_status: str
    migrated_to: int | None


@dataclass(frozen=True, slots=True)
class FailedUpdateRecord:
    id: int
    update_id: int | None
    chat_id: int | None
    user_id: int | None
    payload: str
    error: str
    created_at: datetime
