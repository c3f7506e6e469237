"""Plain records the store hands to the domain: no SQL rows leak past `storage/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


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
    home_area_id: int | None = None
    # A volunteer request of theirs waits for an admin.
    pending: bool = False
    # What Telegram's last 403 said ('blocked', 'deactivated'); None with blocked_at: blocked (my_chat_member).
    blocked_reason: str | None = None
    # An admin's office scope: area ids, ascending; empty: the whole county (admin_scopes).
    scope: tuple[int, ...] = ()


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


@dataclass(frozen=True, slots=True)
class AreaRecord:
    id: int
    code: str
    name_zh: str
    name_en: str

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class ReachRecord:
    id: int
    code: str
    name_zh: str
    name_en: str
    area_id: int
    area_code: str
    level: str
    length_km: float | None
    tags: tuple[str, ...]
    # GeoJSON geometry as stored (text), and its bounding box (min_lat, min_lon, max_lat, max_lon).
    geometry: str | None
    bbox: tuple[float, float, float, float] | None

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    id: int
    person_id: int
    person_name: str
    reach_id: int
    reach_code: str
    level: str
    starts_on: date
    ends_on: date | None
    patrol_count: int | None
    patrol_period: str | None


@dataclass(frozen=True, slots=True)
class InviteRecord:
    id: int
    code: str
    person_id: int
    person_name: str
    person_telegram_id: int | None
    role: str
    created_by: int | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: int | None


@dataclass(frozen=True, slots=True)
class BindingRecord:
    chat_id: int
    area_id: int
    area_code: str
    bound_by: int | None
    bound_at: datetime


@dataclass(frozen=True, slots=True)
class RegistrationRecord:
    id: int
    person_id: int
    telegram_id: int | None
    name: str
    home_area_id: int | None
    phone: str | None
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DialogRecord:
    telegram_id: int
    flow: str
    step: str
    data: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    """Whether the bot can write to someone, as the store knows it; `bot.reachability` judges it."""

    active: bool
    # Has a Telegram account and opened the bot (before that Telegram lets the bot write nothing to them).
    joined: bool
    blocked: bool
    blocked_reason: str | None = None
