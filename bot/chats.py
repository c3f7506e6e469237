"""Group chats the bot is in, and the language each one reads."""

from __future__ import annotations

from bot.config import Language, Settings
from storage import Store

# The bot's own status in a chat, as Telegram's ChatMember.status reports it.
REACHABLE = frozenset({"member", "administrator", "creator", "restricted"})


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

    async def set_language(self, chat_id: int, *, type: str, title: str | None, language: Language) -> None:
        async with self._store.atomic():
            await self._store.chats.upsert(chat_id, type=type, title=title)
            await self._store.chats.set_language(chat_id, language)

    async def migrated(self, old_id: int, new_id: int, *, title: str | None) -> None:
        await self._store.chats.migrate(old_id, new_id, title=title)
