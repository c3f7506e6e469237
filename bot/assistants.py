"""Chiefs' assistants: a person who patrols on a chief's behalf.

A chief names them (a one-time link they forward, `/start a-<code>`), or the office does (/people, the CLI).
An assistant's patrol on one of the chief's reaches is stored as the chief's patrol (`person_id`) with
`walked_by` naming the assistant: every tally that joins patrols to assignments by person and reach counts it
for the chief with no rule of its own, ASSISTANT_PATROLS_COUNT decides whether it counts toward the rate, and
everything that shows a patrol names who walked it. Removing an assistant ends their row (`until`): their later
patrols can no longer be for the chief, and the past ones stay the chief's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.config import Settings
from bot.joining import clean_phone
from bot.people import CHIEF
from storage import Store
from storage.assistants import AssistantRecord
from storage.records import PersonRecord, ReachRecord

Assistant = AssistantRecord  # as handlers see it (they import no storage module)

LINK_PREFIX = "a-"  # `/start a-<code>`: a chief's link naming an assistant

Added = Literal["added", "already", "self", "not_chief", "unknown"]
LinkStatus = Literal["ok", "unknown", "used", "expired", "self", "already"]


def link_code(payload: str) -> str | None:
    """The code of a `/start` payload that is an assistant link; None for any other payload."""
    if not payload.startswith(LINK_PREFIX):
        return None
    code = payload[len(LINK_PREFIX) :]
    return code if 0 < len(code) <= 48 else None


@dataclass(frozen=True, slots=True)
class LinkCheck:
    status: LinkStatus
    chief_id: int = 0
    chief_name: str = ""


@dataclass(frozen=True, slots=True)
class AssistedReach:
    """A reach the person may patrol for a chief they assist."""

    reach: ReachRecord
    chief_id: int
    chief_name: str


class AssistantService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def of_chief(self, chief_id: int) -> list[AssistantRecord]:
        return await self._store.assistants.of_chief(chief_id)

    async def chiefs_of(self, person_id: int) -> list[AssistantRecord]:
        return await self._store.assistants.chiefs_of(person_id)

    async def all_active(self) -> list[AssistantRecord]:
        return await self._store.assistants.all_active()

    async def add(self, chief_id: int, assistant_id: int, *, by: int | None) -> Added:
        """Name `assistant_id` the chief's assistant (any active person in the bot, another chief too)."""
        if chief_id == assistant_id:
            return "self"
        chief = await self._store.people.by_id(chief_id)
        assistant = await self._store.people.by_id(assistant_id)
        if chief is None or assistant is None or not assistant.active:
            return "unknown"
        if CHIEF not in chief.roles or not chief.active:
            return "not_chief"
        _, new = await self._store.assistants.add(chief_id, assistant_id, by=by)
        return "added" if new else "already"

    async def remove(self, chief_id: int, assistant_id: int, *, by: int | None) -> bool:
        """False when they were not (or no longer) the chief's assistant: a stale button, a second tap."""
        return await self._store.assistants.remove(chief_id, assistant_id, by=by)

    async def new_link(self, chief_id: int) -> str:
        """A one-time link code (valid INVITE_DAYS) for the chief to forward to their assistant-to-be."""
        expires = datetime.now(UTC) + timedelta(days=self._settings.invite_days)
        return LINK_PREFIX + await self._store.assistants.create_link(chief_id, expires)

    async def check_link(self, code: str, person_id: int) -> LinkCheck:
        link = await self._store.assistants.link(code)
        if link is None:
            return LinkCheck("unknown")
        status: LinkStatus = "ok"
        if link.used_at is not None:
            status = "used"
        elif link.expires_at <= datetime.now(UTC):
            status = "expired"
        elif link.chief_id == person_id:
            status = "self"
        elif await self._store.assistants.active(link.chief_id, person_id) is not None:
            status = "already"
        return LinkCheck(status, link.chief_id, link.chief_name)

    async def accept_link(self, code: str, person_id: int) -> LinkCheck:
        """The person confirms: they become the chief's assistant and the link is spent, in one transaction."""
        async with self._store.atomic():
            check = await self.check_link(code, person_id)
            if check.status != "ok":
                return check
            if not await self._store.assistants.use_link(code, person_id, datetime.now(UTC)):
                return LinkCheck("used", check.chief_id, check.chief_name)
            added = await self.add(check.chief_id, person_id, by=person_id)
            if added not in ("added", "already"):
                return LinkCheck("unknown")
        return check

    async def assisted_reaches(self, person_id: int) -> list[AssistedReach]:
        """The reaches of the chiefs the person assists, by chief name then reach code (not their own)."""
        found: list[AssistedReach] = []
        for row in await self._store.assistants.chiefs_of(person_id):
            for assignment in await self._store.assignments.active_for_person(row.chief_id):
                reach = await self._store.reaches.by_id(assignment.reach_id)
                if reach is not None:
                    found.append(AssistedReach(reach, row.chief_id, row.chief_name))
        return found

    async def may_walk_for(self, person_id: int, chief_id: int, reach_id: int) -> bool:
        """Whether the person assists the chief now and the reach is the chief's now: a button drawn before a
        removal (or forged) starts nothing."""
        if await self._store.assistants.active(chief_id, person_id) is None:
            return False
        return any(a.reach_id == reach_id for a in await self._store.assignments.active_for_person(chief_id))

    async def find_person(self, text: str) -> PersonRecord | None:
        """A person as the command line names them: `#id`, or a phone number."""
        text = text.strip()
        if text.startswith("#"):
            return await self._store.people.by_id(int(text[1:])) if text[1:].isdigit() else None
        # As typed, as `clean_phone` writes it, and a Chinese mobile (11 digits from 1) with its country code.
        digits = "".join(ch for ch in text if ch.isdigit())
        candidates = [text, clean_phone(text)]
        if len(digits) == 11 and digits.startswith("1"):
            candidates.append("+86" + digits)
        for phone in dict.fromkeys(c for c in candidates if c):
            found = await self._store.people.by_phone(phone)
            if found is not None:
                return found
        return None

    async def walker_names(self, patrol_ids: list[int]) -> dict[int, tuple[str, str]]:
        """patrol id → (assistant, chief) names, for the patrols among these an assistant walked."""
        return await self._store.assistants.walker_names(patrol_ids)
