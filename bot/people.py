"""People as the bot sees them: who they are, which language they read, what they may do.

`Person` is the one type handlers and decisions take: its roles already include the bootstrap-admin rule
(`ADMIN_IDS`), which lives here and nowhere else. `storage.records.PersonRecord` stays the store's row type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.config import Language, Settings, normalize_language
from bot.names import telegram_name
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
    username: str | None = None
    # Blocked the bot: nothing can be pushed to them until they write again.
    blocked: bool = False
    # Opened the bot in private: before that, Telegram lets the bot write nothing to them.
    started: bool = False
    # Since when they are blocked, and what Telegram's 403 said (bot.reachability reads both).
    blocked_since: datetime | None = None
    blocked_reason: str | None = None
    # An admin's office scope: the areas they see and act in; None: the whole county (bootstrap admins always).
    areas: frozenset[int] | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_chief(self) -> bool:
        return CHIEF in self.roles

    @property
    def is_volunteer(self) -> bool:
        return VOLUNTEER in self.roles

    @property
    def is_county_admin(self) -> bool:
        """An admin for the whole county (not a town's office): may widen scopes and hears system notices."""
        return self.is_admin and self.areas is None

    def covers(self, area_id: int | None) -> bool:
        """Whether this admin's scope holds the area (a county admin's holds every area, and "no area")."""
        return self.areas is None or (area_id is not None and area_id in self.areas)

    @property
    def reachable(self) -> bool:
        """The bot can push to them in private: known to Telegram, started the bot, and not blocked it since."""
        return self.telegram_id is not None and self.started and not self.blocked


def is_bootstrap_admin(settings: Settings, telegram_id: int | None) -> bool:
    """ADMIN_IDS are admins whatever the store says: the office needs a way in before anyone is registered."""
    return telegram_id is not None and telegram_id in settings.admin_ids


def language_for(settings: Settings, chosen: str | None, language_code: str | None) -> Language:
    """Their own choice first, then Telegram's app language, then the configured default."""
    if chosen in ("zh", "en"):
        return chosen  # type: ignore[return-value]
    return normalize_language(language_code) or settings.default_language


def person_from(settings: Settings, record: PersonRecord) -> Person:
    """The domain person for a stored row, with the bootstrap-admin role merged in."""
    roles = set(record.roles)
    bootstrap = is_bootstrap_admin(settings, record.telegram_id)
    if bootstrap:
        roles.add(ADMIN)
    return Person(
        id=record.id,
        telegram_id=record.telegram_id,
        name=record.name,
        language=language_for(settings, record.language, record.language_code),
        roles=frozenset(roles),
        chief_level=record.roles.get(CHIEF),
        active=record.active,
        phone=record.phone,
        home_area_id=record.home_area_id,
        pending=record.pending,
        username=record.username,
        blocked=record.blocked_at is not None,
        started=record.started_at is not None,
        blocked_since=record.blocked_at,
        blocked_reason=record.blocked_reason,
        areas=None if bootstrap or not record.scope else frozenset(record.scope),
    )


def office_of(admins: Iterable[Person], area_id: int | None) -> list[Person]:
    """Who in the office hears about something in `area_id` (a problem, a volunteer, a group): the reachable
    admins whose scope holds the area (the town's own office); when the area has none, the county admins. The one
    rule, so escalations, unassigned problems and every other area notice agree on it."""
    admins = [a for a in admins if a.is_admin and a.active]
    local = [a for a in admins if a.areas is not None and area_id is not None and area_id in a.areas and a.reachable]
    return local or [a for a in admins if a.areas is None]


class PeopleService:
    """Identifies the person behind an update, keeping the store in step with Telegram's profile."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        # The Person last made for each telegram id, with the record it came from: the store hands out the same
        # record object until the row changes, so a live edit (every few seconds per patroller) reuses it.
        self._made: dict[int, tuple[PersonRecord, Person]] = {}

    def language_for(self, chosen: str | None, language_code: str | None) -> Language:
        """Their own choice first, then Telegram's app language, then the configured default."""
        return language_for(self._settings, chosen, language_code)

    def is_bootstrap_admin(self, telegram_id: int | None) -> bool:
        return is_bootstrap_admin(self._settings, telegram_id)

    def _person(self, record: PersonRecord) -> Person:
        return person_from(self._settings, record)

    async def find(self, telegram_id: int) -> Person | None:
        record = await self._store.people.by_telegram_id(telegram_id)
        if record is None:
            return None
        made = self._made.get(telegram_id)
        if made is not None and made[0] is record:
            return made[1]
        person = self._person(record)
        if len(self._made) > 50_000:
            self._made.clear()
        self._made[telegram_id] = (record, person)
        return person

    async def by_id(self, person_id: int) -> Person | None:
        record = await self._store.people.by_id(person_id)
        return None if record is None else self._person(record)

    async def with_role(self, role: str) -> list[Person]:
        """Active people holding `role` in the store, by name."""
        return [self._person(r) for r in await self._store.people.with_role(role)]

    async def may_hand_to(self, actor: Person, reach_id: int, person_id: int) -> bool:
        """Whether a (town) office may give a problem or a reach of `reach_id` to this person."""
        return await may_hand_to(self._store, actor, reach_id, person_id)

    async def chiefs(self) -> list[Person]:
        """Active chiefs, by id."""
        return [self._person(r) for r in await self._store.people.chiefs()]

    async def search(self, text: str, *, limit: int, offset: int = 0) -> tuple[list[Person], int]:
        """People whose name, phone or username contains `text` (all when empty), and how many match in all."""
        found, total = await self._store.people.search(text, limit=limit, offset=offset)
        return [self._person(r) for r in found], total

    async def met_in_private(
        self, telegram_id: int, *, name: str, username: str | None, language_code: str | None
    ) -> Person:
        """The person wrote to the bot in private: they exist, can be messaged, and bootstrap admins get the role.

        Writes only when something changed, because this runs for every private message.
        """
        # Only a first contact stores the Telegram name (a registered or invited name is never overwritten).
        name = telegram_name(name, trusted=self.is_bootstrap_admin(telegram_id)) or name
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
        if self.is_bootstrap_admin(telegram_id) and ADMIN not in record.roles:
            await self._store.people.grant_role(record.id, ADMIN)
            record = await self._store.people.by_telegram_id(telegram_id) or record
        return self._person(record)

    async def met_in_group(self, telegram_id: int, *, name: str, username: str | None) -> Person | None:
        """The person behind a group update; a bootstrap admin not seen before is recorded as one."""
        person = await self.find(telegram_id)
        if person is None and self.is_bootstrap_admin(telegram_id):
            # A bootstrap admin who has not opened the bot in private yet is an admin all the same.
            person = await self.bootstrap_admin(telegram_id, name=name, username=username)
        return person

    async def bootstrap_admin(self, telegram_id: int, *, name: str, username: str | None) -> Person:
        """An ADMIN_IDS person first seen in a group: recorded (not as started: we can't message them yet)."""
        name = telegram_name(name, trusted=True) or name
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
        """Where to tell the county office about the system's trouble (errors, backups): reachable county admins
        (a town's office hears only of its own areas: `office_chat_ids`)."""
        return [
            telegram_id
            for telegram_id, scoped in await self._store.people.reachable_admins()
            if not scoped or self.is_bootstrap_admin(telegram_id)
        ]

    async def office(self, area_id: int | None) -> list[Person]:
        """The admins who hear about something in this area (`office_of`), reachable or not (a caller that tells
        them marks who cannot be reached)."""
        return office_of(await self.with_role(ADMIN), area_id)

    async def office_chat_ids(self, area_id: int | None) -> list[int]:
        """Telegram ids of the reachable admins who hear about something in this area (`office_of`)."""
        return [p.telegram_id for p in await self.office(area_id) if p.reachable and p.telegram_id is not None]


async def chiefs_within(store: Store, scope: frozenset[int] | None, reach_id: int) -> set[int] | None:
    """The people a town's office (`scope`) may hand a problem or a reach of `reach_id` to: those of its own
    areas, and whoever answers for the reach now. None: anyone (the county office)."""
    if scope is None:
        return None
    holders = {a.person_id for a in await store.assignments.active_for_reach(reach_id)}
    return holders | await store.people.ids_in_areas(tuple(sorted(scope)))


async def may_hand_to(store: Store, actor: Person, reach_id: int, person_id: int) -> bool:
    """Whether `actor` may hand something of `reach_id` to this person, as far as the office scope tells."""
    within = await chiefs_within(store, actor.areas, reach_id)
    return within is None or person_id in within
