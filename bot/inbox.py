"""At-least-once intake: an update is kept in the inbox before Telegram is told it arrived, and marked handled
only after its handling (and the track point it queued) is stored.

Why: Telegram forgets an update once the bot confirms it (the next getUpdates offset). PTB confirms a batch as
soon as it is queued in memory, so a crash lost every update still queued. Now a crash loses nothing: what was
kept and not handled is handled after the restart, first and in order. The price is that an update being
handled at the moment of a crash is handled again, so handling must be idempotent (track points are unique,
a photo is kept once, a finished patrol stays finished), and an answer that was on its way may come twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.failures import FailedUpdates
from bot.status import record_heartbeat
from storage import Store
from storage.inbox import InboxFigures, Kept

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

# Telegram keeps an unconfirmed update for 24 hours, so a second delivery of one comes within that.
KEEP_HANDLED = timedelta(hours=48)
# Handling begun this many times, each ended by the process dying, is given up (kept as a failed update, for
# `riverbot failures`) so one poisonous update cannot keep the bot from starting.
MAX_ATTEMPTS = 3
# How long a stop waits for the last marks when the store refuses them (a full disk).
SETTLE_S = 10.0
GIVEN_UP_ERROR = "handling did not finish in {n} runs: the bot stopped (crashed or was killed) every time"


@dataclass(frozen=True)
class Leftovers:
    """What a restart finds in the inbox: updates to handle first, and ones given up."""

    updates: list[JSON]
    given_up: list[int]


def encode(update: JSON) -> str:
    return json.dumps(update, ensure_ascii=False, separators=(",", ":"))


def _ids(update: JSON) -> tuple[int | None, int | None]:
    """(chat id, user id) of a raw update, for the failed-updates list."""
    for value in update.values():
        if isinstance(value, dict):
            chat = value.get("chat") or (value.get("message") or {}).get("chat") or {}
            sender = value.get("from") or {}
            return chat.get("id"), sender.get("id")
    return None, None


def chat_of(update: JSON) -> int:
    """The key of the per-chat order for a raw update: its chat, else its sender (an inline query has no chat),
    else 0 (a poll's state): the same key bot/app.py's PerChatUpdateProcessor takes from the Update."""
    chat_id, user_id = _ids(update)
    for key in (chat_id, user_id):
        if isinstance(key, int) and not isinstance(key, bool):
            return key
    return 0


class InboxService:
    def __init__(self, store: Store, failures: FailedUpdates) -> None:
        self._store = store
        self._failures = failures
        self._handled: list[int] = []
        self._flusher: asyncio.Task[None] | None = None
        # Reported handled and not yet marked so in the store, and a future resolved whenever marks are stored:
        # what `marked` waits on.
        self._unmarked: set[int] = set()
        self._progress: asyncio.Future[None] | None = None

    async def take(self, updates: Sequence[JSON]) -> list[JSON]:
        """Keep a fetched batch (one transaction); returns the updates to handle: those not seen before.

        Raises what kept them from being stored (a full disk): then nothing may be confirmed to Telegram.
        """
        fresh = await self._store.inbox.take([Kept(int(u["update_id"]), chat_of(u), encode(u)) for u in updates])
        return [u for u in updates if int(u["update_id"]) in fresh]

    async def leftovers(self, chat_id: int | None = None, *, limit: int | None = None) -> Leftovers:
        """Updates kept and not handled when the bot last stopped, oldest first. With `chat_id`: the first `limit`
        of that chat's waiting updates, a worker's turn at the chat (bot/workers.py); each turn counts as an
        attempt to handle them, as each restart does."""
        waiting = await self._store.inbox.begin_leftovers(chat_id, limit=limit)
        updates: list[JSON] = []
        given_up: list[int] = []
        for row in waiting:
            if row.attempts > MAX_ATTEMPTS:
                given_up.append(row.update_id)
                chat_id, user_id = _ids(json.loads(row.payload))
                await self._failures.keep(
                    update_id=row.update_id,
                    chat_id=chat_id,
                    user_id=user_id,
                    payload=row.payload,
                    error=GIVEN_UP_ERROR.format(n=MAX_ATTEMPTS),
                    at=datetime.now(UTC),
                )
            else:
                updates.append(json.loads(row.payload))
        if given_up:
            await self._store.inbox.mark_done(given_up)
            logger.error("gave up on updates %s: %s", given_up, GIVEN_UP_ERROR.format(n=MAX_ATTEMPTS))
        return Leftovers(updates, given_up)

    async def unreadable(self, update: JSON, error: str) -> None:
        """An update that cannot be read: kept as a failed update (for `riverbot failures`), and done."""
        chat_id, user_id = _ids(update)
        await self._failures.keep(
            update_id=int(update["update_id"]),
            chat_id=chat_id,
            user_id=user_id,
            payload=encode(update),
            error=error,
            at=datetime.now(UTC),
        )
        self.handled(int(update["update_id"]))

    def handled(self, update_id: int) -> None:
        """The update's handlers have all run (or failed, and the failure is kept): mark it soon, in a batch."""
        self._handled.append(update_id)
        self._unmarked.add(update_id)
        self._start_flusher()

    async def marked(self, update_ids: Iterable[int]) -> None:
        """Wait until those of these updates that were reported handled are marked so in the store (a worker
        lets go of a chat only then: whoever takes it next must not handle them again)."""
        waiting = set(update_ids) & self._unmarked
        while waiting:
            if not self._handled and (self._flusher is None or self._flusher.done()):
                return  # their batch was dropped with a cancelled flusher: handled again, idempotently
            if self._progress is None:
                self._progress = asyncio.get_running_loop().create_future()
            self._start_flusher()
            await asyncio.shield(self._progress)
            waiting &= self._unmarked

    def _marks_moved(self) -> None:
        """Marks were stored, or the flusher stopped: whoever waits in `marked` looks again."""
        if self._progress is not None:
            if not self._progress.done():
                self._progress.set_result(None)
            self._progress = None

    async def not_begun(self, update_ids: Sequence[int]) -> None:
        """Updates of a worker's turn that it did not begin (it stopped, or one before them failed): not counted
        as an attempt, so one poisonous update does not take the innocent ones after it down with it."""
        await self._store.inbox.not_begun(update_ids)

    async def waiting_chats(self, limit: int) -> list[int]:
        """Chats with updates waiting, the longest-waiting first."""
        return await self._store.inbox.waiting_chats(limit)

    async def has_waiting(self, chat_id: int) -> bool:
        return await self._store.inbox.has_waiting(chat_id)

    async def fill_in_chats(self) -> int:
        """Give their chat to waiting updates kept before the inbox recorded it (migration 0019), so that the
        workers find them; returns how many."""
        rows = await self._store.inbox.without_chat()
        await self._store.inbox.set_chats((row.update_id, chat_of(json.loads(row.payload))) for row in rows)
        return len(rows)

    def _start_flusher(self) -> asyncio.Task[None]:
        if self._flusher is None or self._flusher.done():
            # A fresh context: the flusher must not inherit a handler's transaction.
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), context=contextvars.Context())
        return self._flusher

    async def _flush(self) -> None:
        try:
            await self._flush_batches()
        finally:
            self._marks_moved()

    async def _flush_batches(self) -> None:
        delay = 0.0
        while self._handled:
            if delay:
                await asyncio.sleep(delay)
            # A live edit's point is written behind: it must be stored before its update counts as handled. The
            # batch is taken first: every point of its updates was queued by then, so caught_up() covers them all
            # (an update reported handled while it waits has a point that may not be written yet: next batch).
            batch, self._handled = self._handled, []
            await self._store.patrols.caught_up()
            try:
                await self._store.inbox.mark_done(batch)
            except Exception:
                # Not marked: after a crash they would be handled again (idempotently). Keep trying.
                logger.exception("could not mark %d updates handled; trying again", len(batch))
                self._handled[:0] = batch
                delay = min(max(delay * 2, 0.1), 5.0)
            else:
                delay = 0.0
                self._unmarked.difference_update(batch)
                self._marks_moved()

    async def settle(self, within_s: float = SETTLE_S) -> bool:
        """Wait until every update reported handled is marked so (before the store closes); False if the store
        would not take the marks in time (those updates are handled again, idempotently, after the restart)."""
        try:
            async with asyncio.timeout(within_s):
                while self._handled or (self._flusher is not None and not self._flusher.done()):
                    await asyncio.shield(self._start_flusher())
        except TimeoutError:
            if self._flusher is not None:
                self._flusher.cancel()
            logger.error("%d handled updates not marked at shutdown: they are handled again", len(self._handled))
            return False
        return True

    async def beat(self, now: datetime) -> None:
        """The running bot's minute: the heartbeat `riverbot status` checks, handled updates past the window
        forgotten, and expired marks (cooldowns, albums answered: storage.marks) with them."""
        await record_heartbeat(self._store, now)
        await self.prune(now)
        await self._store.marks.prune(now)

    async def prune(self, now: datetime) -> int:
        return await self._store.inbox.prune(now - KEEP_HANDLED)

    async def figures(self) -> InboxFigures:
        return await self._store.inbox.figures()
