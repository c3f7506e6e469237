"""The inbox's SQL: updates kept whole from the moment they are fetched until they are handled."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time, utc_now

if TYPE_CHECKING:
    from storage.store import Store

# SQLite's limit on bound parameters is 32766 since 3.32; a getUpdates answer holds at most 100 updates.
_CHUNK = 500


@dataclass(frozen=True)
class Waiting:
    """An update fetched but not handled yet (a crash or a stop came first)."""

    update_id: int
    payload: str
    attempts: int


@dataclass(frozen=True)
class InboxFigures:
    waiting: int
    oldest_waiting_at: datetime | None
    last_handled_at: datetime | None
    last_update_id: int | None


class Inbox:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def take(self, updates: Sequence[tuple[int, str]]) -> set[int]:
        """Keep the updates not seen before, in one transaction; returns the ids that were new.

        An id already in the inbox is a second delivery (Telegram sends again what was not confirmed), or one
        being handled from before a restart: either way it is not handled again.
        """
        if not updates:
            return set()
        ids = [u for u, _ in updates]
        now = utc_now()
        async with self._store.atomic() as conn:
            seen: set[int] = set()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = await conn.fetchall(f"SELECT update_id FROM inbox WHERE update_id IN ({marks})", chunk)
                seen.update(int(r[0]) for r in rows)
            fresh = [(u, now, payload) for u, payload in updates if u not in seen]
            if fresh:
                await conn.executemany(
                    "INSERT INTO inbox (update_id, received_at, payload) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", fresh
                )
        return {u for u, _, _ in fresh}

    async def mark_done(self, update_ids: Iterable[int]) -> None:
        """Handled: the payload is dropped, the id kept for a while to recognise a second delivery."""
        now = utc_now()
        rows = [(now, u) for u in update_ids]
        if rows:
            await self._store.executemany(
                "UPDATE inbox SET done_at = ?, payload = NULL WHERE update_id = ? AND done_at IS NULL", rows
            )

    async def begin_leftovers(self) -> list[Waiting]:
        """Updates fetched and not handled, oldest first, each counted as one more attempt to handle it."""
        async with self._store.atomic() as conn:
            await conn.execute("UPDATE inbox SET attempts = attempts + 1 WHERE done_at IS NULL")
            rows = await conn.fetchall(
                "SELECT update_id, payload, attempts FROM inbox WHERE done_at IS NULL ORDER BY update_id"
            )
        return [Waiting(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def prune(self, done_before: datetime) -> int:
        """Forget handled updates done before the cut-off; returns how many."""
        return await self._store.execute(
            "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (to_db_time(done_before),)
        )

    async def figures(self) -> InboxFigures:
        row = await self._store.fetchone(
            "SELECT (SELECT count(*) FROM inbox WHERE done_at IS NULL),"
            " (SELECT min(received_at) FROM inbox WHERE done_at IS NULL),"
            " (SELECT max(done_at) FROM inbox WHERE done_at IS NOT NULL),"
            " (SELECT max(update_id) FROM inbox)"
        )
        assert row is not None
        return InboxFigures(
            waiting=int(row[0]),
            oldest_waiting_at=from_db_time(row[1]),
            last_handled_at=from_db_time(row[2]),
            last_update_id=None if row[3] is None else int(row[3]),
        )
