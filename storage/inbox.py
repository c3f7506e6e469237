"""The inbox's SQL: updates kept whole from the moment they are fetched until they are handled."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time, utc_now
from storage.engine import id_set, ids_param

if TYPE_CHECKING:
    from storage.store import Store

# SQLite's limit on bound parameters is 32766 since 3.32; a getUpdates answer holds at most 100 updates.
_CHUNK = 500
# The channel a PostgreSQL inbox announces new updates on (the payload: their chat), for the webhook workers
# (bot/workers.py) that LISTEN on it. Sent inside the keeping transaction, so it is delivered at its COMMIT.
CHANNEL = "riverbot_inbox"


def worker_channel(slot: int) -> str:
    """The channel of one webhook worker (1…WORKERS): the front announces each chat's updates only to the chat's
    home worker (storage.claims.home_slot), not to every worker, each of which would otherwise decode every
    notice for a share of them (with 4 workers, four notices for each update one handles)."""
    return f"{CHANNEL}_{slot}"
_NO_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Kept:
    """An update to keep: its id, its chat (the per-chat order's key) and its JSON."""

    update_id: int
    chat_id: int
    payload: str


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
        # Called with the chats of updates just kept, after the commit: how workers in this process hear of them
        # where the database has no LISTEN (SQLite, the one-process case).
        self.listeners: list[Callable[[set[int]], None]] = []
        # The channel a chat's new updates are announced on (PostgreSQL): every worker's, unless the front knows
        # its workers' slots and names the chat's home worker's (`worker_channel`).
        self.channel_of: Callable[[int], str] = lambda _chat: CHANNEL

    async def take(self, updates: Sequence[Kept]) -> set[int]:
        """Keep the updates not seen before, in one transaction; returns the ids that were new.

        An id already in the inbox is a second delivery (Telegram sends again what was not confirmed), or one
        being handled from before a restart: either way it is not handled again.
        """
        if not updates:
            return set()
        if self._store.dialect == "postgresql" and not self._store.in_transaction():
            return await self._take_postgres(updates)
        ids = [u.update_id for u in updates]
        now = utc_now()
        # Not exclusive: new ids only, a conflict ignored; the webhook's answer waits on no other write.
        async with self._store.atomic(exclusive=False) as conn:
            seen: set[int] = set()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = await conn.fetchall(f"SELECT update_id FROM inbox WHERE update_id IN ({marks})", chunk)
                seen.update(int(r[0]) for r in rows)
            fresh = [(u.update_id, now, u.payload, u.chat_id) for u in updates if u.update_id not in seen]
            chats = {u.chat_id for u in updates if u.update_id not in seen}
            if fresh:
                await conn.executemany(
                    "INSERT INTO inbox (update_id, received_at, payload, chat_id) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (update_id) DO NOTHING",
                    fresh,
                )
            if conn.dialect == "postgresql":
                for chat in sorted(chats):
                    await conn.execute("SELECT pg_notify(?, ?)", (self.channel_of(chat), str(chat)))
        if chats:
            for listener in self.listeners:
                listener(chats)
        return {u for u, _, _, _ in fresh}

    async def _take_postgres(self, updates: Sequence[Kept]) -> set[int]:
        """`take` in one statement, its own transaction: the new rows are those the INSERT returns (a conflict
        returns nothing), and each one's chat is announced at the commit. The webhook front runs this for every
        update Telegram pushes: one round trip instead of five, on the path every update takes."""
        rows = await self._store.write_alone(
            "WITH given AS MATERIALIZED (SELECT * FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]),"
            " CAST(? AS BIGINT[]), CAST(? AS TEXT[])) AS u(update_id, payload, chat_id, channel)),"
            " fresh AS (INSERT INTO inbox (update_id, received_at, payload, chat_id)"
            " SELECT g.update_id, CAST(? AS TEXT), g.payload, g.chat_id FROM given g"
            " ON CONFLICT (update_id) DO NOTHING RETURNING update_id, chat_id)"
            " SELECT f.update_id, f.chat_id, pg_notify(g.channel, CAST(f.chat_id AS TEXT))"
            " FROM fresh f JOIN given g ON g.update_id = f.update_id",
            (
                [u.update_id for u in updates],
                [u.payload for u in updates],
                [u.chat_id for u in updates],
                [self.channel_of(u.chat_id) for u in updates],
                utc_now(),
            ),
        )
        chats = {int(r[1]) for r in rows}
        if chats:
            for listener in self.listeners:
                listener(chats)
        return {int(r[0]) for r in rows}

    async def mark_done(self, update_ids: Iterable[int]) -> None:
        """Handled: the payload is dropped, the id kept for a while to recognise a second delivery."""
        ids = list(update_ids)
        if ids:
            # One statement, beside other writers: rows of updates this process handled.
            dialect = self._store.dialect
            await self._store.write_alone(
                f"UPDATE inbox SET done_at = ?, payload = NULL WHERE update_id IN {id_set(dialect)}"
                " AND done_at IS NULL",
                (utc_now(), ids_param(dialect, ids)),
            )

    async def begin_leftovers(self, chat_id: int | None = None, *, limit: int | None = None) -> list[Waiting]:
        """Updates fetched and not handled, oldest first, each counted as one more attempt to handle it: all of
        them, or (a worker's turn at one chat) the first `limit` of one chat's."""
        params: tuple[int, ...]
        if chat_id is None:
            where, params = "done_at IS NULL", ()
        else:
            # The inner SELECT walks index inbox_waiting_by_chat.
            where = (
                "update_id IN (SELECT update_id FROM inbox WHERE chat_id = ? AND done_at IS NULL"
                " ORDER BY update_id LIMIT ?)"
            )
            params = (chat_id, _NO_LIMIT if limit is None else limit)
        if chat_id is not None and self._store.dialect == "sqlite" and not await self.has_waiting(chat_id):
            # A worker's last look at a chat, most often: no write for it, which would wait for SQLite's one
            # writer. On PostgreSQL the UPDATE beside the writers is the look: an UPDATE of no row writes nothing.
            return []
        # Beside other writers: the rows are the caller's alone (the restart's, or the chat's holder's).
        rows = await self._store.write_alone(
            f"UPDATE inbox SET attempts = attempts + 1 WHERE {where} RETURNING update_id, payload, attempts", params
        )
        return sorted((Waiting(int(r[0]), str(r[1]), int(r[2])) for r in rows), key=lambda w: w.update_id)

    async def not_begun(self, update_ids: Sequence[int]) -> None:
        """Taken with a turn (`begin_leftovers`) but not begun: the attempt they were charged is taken back."""
        if update_ids:
            marks = ",".join("?" * len(update_ids))
            await self._store.write_alone(
                f"UPDATE inbox SET attempts = attempts - 1 WHERE update_id IN ({marks})"
                " AND done_at IS NULL AND attempts > 0",
                list(update_ids),
            )

    async def waiting_chats(self, limit: int) -> list[int]:
        """Chats with updates waiting, the longest-waiting first (at most `limit`)."""
        rows = await self._store.fetchall(
            "SELECT chat_id FROM inbox WHERE done_at IS NULL AND chat_id IS NOT NULL"
            " GROUP BY chat_id ORDER BY min(update_id) LIMIT ?",
            (limit,),
        )
        return [int(r[0]) for r in rows]

    async def has_waiting(self, chat_id: int) -> bool:
        row = await self._store.fetchone(
            "SELECT 1 FROM inbox WHERE chat_id = ? AND done_at IS NULL LIMIT 1", (chat_id,)
        )
        return row is not None

    async def without_chat(self) -> list[Waiting]:
        """Waiting updates kept before the inbox had chats (migration 0019), for `set_chats`."""
        rows = await self._store.fetchall(
            "SELECT update_id, payload, attempts FROM inbox WHERE done_at IS NULL AND chat_id IS NULL"
            " ORDER BY update_id"
        )
        return [Waiting(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def set_chats(self, chats: Iterable[tuple[int, int]]) -> None:
        """(update id, chat id) for updates kept without their chat."""
        rows = [(chat_id, update_id) for update_id, chat_id in chats]
        if rows:
            await self._store.executemany("UPDATE inbox SET chat_id = ? WHERE update_id = ?", rows)

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
