"""Albums already answered: one answer per album in a chat, not one per photo.

An album comes as one message per photo, seconds apart. The first is answered; the rest are kept quietly, or
update that one answer. What a chat was answered for an album is a mark in the store, not the chat's memory in
this process: with several workers the album's next photo may be handled by another one. A chat's updates are
handled one at a time on every worker, so reading a mark and then setting it does not race with the album's next
photo.
"""

from __future__ import annotations

from storage import Store

# How long an album is remembered. Its photos arrive within seconds (a minute on a slow network); the marks are
# pruned once past this, so a chat that sends albums for years does not grow the store with every one.
ALBUM_SECONDS = 3600


def _key(chat_id: int, kind: str, media_group_id: str) -> str:
    return f"album:{chat_id}:{kind}:{media_group_id}"


class Albums:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def first(self, chat_id: int, kind: str, media_group_id: str) -> bool:
        """Whether this is the album's first message to be answered under `kind` (and it now is answered)."""
        return await self._store.marks.take(_key(chat_id, kind, media_group_id), ALBUM_SECONDS)

    async def answer(self, chat_id: int, kind: str, media_group_id: str) -> str | None:
        """What was noted for the album under `kind`; None: nothing yet."""
        mark = await self._store.marks.get(_key(chat_id, kind, media_group_id))
        return None if mark is None else mark.value

    async def note(self, chat_id: int, kind: str, media_group_id: str, value: str = "") -> None:
        """Note `value` (say, the id of the message that answered it) for the album under `kind`."""
        await self._store.marks.put(_key(chat_id, kind, media_group_id), value, ALBUM_SECONDS)
