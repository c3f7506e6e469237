"""People as the bot sees them: who they are, which language they read, what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Language, Settings, normalize_language
from storage import Store
from storage.records import PersonRecord

ADMIN = "admin"
CHIEF = "chief"
VOLUNTEER = "volunteer"


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    telegram_id: int | None
    name: str
    language: Language
    roles: frozenset[str]
    chief_level: str | None
    active: bool
    phone: str | None = None
    home_area_id: int | None = None
    # Asked to join as a volunteer; an admin has not decided yet.
    pending: bool = False

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_chief(self) -> bool:
        return CHIEF in self.roles

    @property
    def is_volunteer(self) -> bool:
        return VOLUNTEER in self.roles


class PeopleService:
    """Identifies the person behind an update, keeping the store in step with Telegram's profile."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    def language_for(self, chosen: str | None, language_code: str | None) -> Language:
        """Their own choice first, then Telegram's app language, then the configured default."""
        if chosen in ("zh", "en"):
            return chosen  # type: ignore[return-value]
        return normalize_language(language_code) or self._settings.default_language

    def _person(self, record: PersonRecord) -> Person:
        roles = set(record.roles)
        if record.telegram_id is not None and record.telegram_id in self._settings.admin_ids:
            roles.add(ADMIN)
        return Person(
            id=record.id,
            telegram_id=record.telegram_id,
            name=record.name,
            language=self.language_for(record.language, record.language_code),
            roles=frozenset(roles),
            chief_level=record.roles.get(CHIEF),
            active=record.active,
            phone=record.phone,
            home_area_id=record.home_area_id,
            pending=record.pending,
        )

    async def find(self, telegram_id: int) -> Person | None:
        record = await self._store.people.by_telegram_id(telegram_id)
        return None if record is None else self._person(record)

    async def met_in_private(
        self, telegram_id: int, *, name: str, username: str | None, language_code: str | None
    ) -> Person:
        """The person wrote to the bot in private: they exist, can be messaged, and bootstrap admins get the role.

        Writes only when something changed, because this runs for every private message.
        """
        record = await self._store.people.by_telegram_id(telegram_id)
        if (
            record is None
            or record.started_at is None
            or record.blocked_at is not None
            or record.username != username
            or (language_code is not None and record.language_code != language_code)
        ):
            record = await self._store.people.record_contact(
                telegram_id, name=name, username=username, language_code=language_code, started=True
            )
        if telegram_id in self._settings.admin_ids and ADMIN not in record.roles:
            await self._store.people.grant_role(record.id, ADMIN)
            record = await self._store.people.by_telegram_id(telegram_id) or record
        return self._person(record)

    async def bootstrap_admin(self, telegram_id: int, *, name: str, username: str | None) -> Person:
        """An ADMIN_IDS person first seen in a group: recorded (not as started: we can't message them yet)."""
        record = await self._store.people.record_contact(
            telegram_id, name=name, username=username, language_code=None, started=False
        )
        if ADMIN not in record.roles:
            await self._store.people.grant_role(record.id, ADMIN)
            record = await self._store.people.by_telegram_id(telegram_id) or record
        return self._person(record)

    async def set_language(self, telegram_id: int, language: Language) -> None:
        await self._store.people.set_language(telegram_id, language)

    async def set_blocked(self, telegram_id: int, blocked: bool) -> None:
        await self._store.people.set_blocked(telegram_id, blocked)

    async def admin_chat_ids(self) -> list[int]:
        """Where to tell the office about trouble: admins in the store, and bootstrap admins who started."""
        return await self._store.people.reachable_admins()
