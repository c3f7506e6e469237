"""Updates the bot failed to handle: kept whole, so none of them (a chief's report) is lost and each can be replayed."""

from __future__ import annotations

from storage import Store

# The tail of a traceback is where the cause is; the whole of a long one would only bloat the table.
ERROR_KEPT = 8000


class FailedUpdates:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def keep(
        self, *, update_id: int | None, chat_id: int | None, user_id: int | None, payload: str, error: str
    ) -> int:
        """Store the update and its traceback; returns the id the admins are told."""
        return await self._store.failed_updates.add(
            update_id=update_id, chat_id=chat_id, user_id=user_id, payload=payload, error=error[-ERROR_KEPT:]
        )
