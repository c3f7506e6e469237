"""Group chats the bot is in: the language each one reads, and the area each one is bound to.

A bound group gets its area's weekly summary. A group serves one area; an area may have several groups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Language, Settings
from storage import Store
from storage.records import AreaRecord

logger = logging.getLogger(__name__)

# The bot's own status in a chat, as Telegram's ChatMember.status reports it.
REACHABLE = frozenset({"member", "administrator", "creator", "restricted"})
# The bot is out of the chat: nothing can be posted there, so nothing may stay bound to it.
GONE = frozenset({"left", "kicked"})


class BindResult(StrEnum):
    BOUND = "bound"
    # Already bound to that area: a double tap, or the same choice made twice.
    UNCHANGED = "unchanged"
    # The binding changed since the buttons were shown (another admin, /unbind, an older message): nothing done.
    CONFLICT = "conflict"
    # The area is not in the registry (any more).
    NO_AREA = "no_area"


@dataclass(frozen=True, slots=True)
class BindOutcome:
    result: BindResult
    # The area the chat is bound to after the attempt; None: unbound.
    area: AreaRecord | None


class ChatService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def language(self, chat_id: int) -> Language:
        chat = await self._store.chats.get(chat_id)
        if chat is not None and chat.language in ("zh", "en"):
            return chat.language  # type: ignore[return-value]
        return self._settings.default_language

    async def seen(self, chat_id: int, *, type: str, title: str | None, bot_status: str | None = None) -> None:
        await self._store.chats.upsert(chat_id, type=type, title=title, bot_status=bot_status)

    async def bot_status_changed(
        self, chat_id: int, *, type: str, title: str | None, bot_status: str
    ) -> AreaRecord | None:
        """Record the bot's new status in a group; out of it, the group loses its binding (returned, if any).

        Added back later, the group starts unbound: whoever re-adds the bot may not be the office, and the
        group may have changed hands, so an admin binds it again with /bind.
        """
        async with self._store.atomic():
            await self._store.chats.upsert(chat_id, type=type, title=title, bot_status=bot_status)
            if bot_status not in GONE:
                return None
            area = await self.bound_area(chat_id)
            if area is not None:
                await self._store.bindings.unbind(chat_id)
        if area is not None:
            logger.info("bot %s from chat %s (%s): unbound it from area %s", bot_status, chat_id, title, area.code)
        return area

    async def set_language(self, chat_id: int, *, type: str, title: str | None, language: Language) -> None:
        async with self._store.atomic():
            await self._store.chats.upsert(chat_id, type=type, title=title)
            await self._store.chats.set_language(chat_id, language)

    async def migrated(self, old_id: int, new_id: int, *, title: str | None) -> None:
        """A group became a supergroup: its language and binding move to the new id (both service messages
        announce it, so this runs twice, and the second time finds nothing left to move)."""
        await self._store.chats.migrate(old_id, new_id, title=title)

    async def areas(self, scope: frozenset[int] | None = None) -> list[AreaRecord]:
        """The areas a group can be bound to, by code: an office's own (`scope`), or all (None: the county)."""
        return [a for a in await self._store.areas.all() if scope is None or a.id in scope]

    async def is_bound(self, chat_id: int) -> bool:
        """Whether the group is linked to an area (it then gets that area's weekly summary)."""
        return await self._store.bindings.for_chat(chat_id) is not None

    async def bound_area(self, chat_id: int) -> AreaRecord | None:
        binding = await self._store.bindings.for_chat(chat_id)
        return None if binding is None else await self._store.areas.by_id(binding.area_id)

    async def bind(
        self,
        chat_id: int,
        area_id: int,
        *,
        type: str,
        title: str | None,
        expected: int | None,
        by: int | None,
    ) -> BindOutcome:
        """Bind the chat to the area, if it is still bound as it was when the choice was offered (`expected`,
        an area id or None for unbound): a stale button must not undo a newer decision."""
        async with self._store.atomic():
            current = await self.bound_area(chat_id)
            current_id = None if current is None else current.id
            if current_id == area_id:
                return BindOutcome(BindResult.UNCHANGED, current)
            if current_id != expected:
                return BindOutcome(BindResult.CONFLICT, current)
            area = await self._store.areas.by_id(area_id)
            if area is None:
                return BindOutcome(BindResult.NO_AREA, current)
            # The binding refers to the chat's row, which a group that never changed anything has not got yet.
            await self._store.chats.upsert(chat_id, type=type, title=title)
            await self._store.bindings.bind(chat_id, area_id, bound_by=by)
        logger.info(
            "chat %s (%s) bound to area %s by person %s (was %s)",
            chat_id,
            title,
            area.code,
            by,
            current.code if current else "unbound",
        )
        return BindOutcome(BindResult.BOUND, area)

    async def unbind(self, chat_id: int, *, by: int | None) -> AreaRecord | None:
        """Unbind the chat; returns the area it was bound to (None: it was not bound)."""
        async with self._store.atomic():
            area = await self.bound_area(chat_id)
            if area is not None:
                await self._store.bindings.unbind(chat_id)
        if area is not None:
            logger.info("chat %s unbound from area %s by person %s", chat_id, area.code, by)
        return area
