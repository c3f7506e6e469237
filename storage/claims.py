"""Who handles what when several worker processes share one PostgreSQL database: one chat's updates are handled
by one worker at a time, and the scheduled jobs by one worker, the leader.

Both are PostgreSQL session advisory locks, held on a connection of the worker's own (not a pooled one, which
would hand the lock to whoever borrows the connection next). A lock lives exactly as long as its session: a worker
that dies, however it dies, drops its chats and its leadership the moment the server sees its connection close,
and another worker takes them over; nothing has to expire first, as a lease in a table would. The other side of
that: a worker whose session is gone no longer holds anything, so it must stop at once (`SessionLost`).

The same connection LISTENs on the inbox's channel (storage/inbox.py sends a NOTIFY with each kept update's
chat), so a worker hears of new updates as they are committed.

On SQLite (one process, one machine) the same interface is kept in memory: `LocalClaims`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from storage.engine import PostgresEngine
from storage.inbox import CHANNEL, worker_channel

if TYPE_CHECKING:
    from storage.store import Store

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The chats' locks are the two-key form, pg_try_advisory_lock(space, chat): a space of their own, so they can
# never meet the one-key locks (the write lock, the migration lock, the leader's), whatever a chat's id. "rbtc".
CHAT_LOCK_SPACE = 0x72627463
# The leader's lock, one key, beside storage.engine.WRITE_LOCK_KEY ("riverbot") and the migration lock: "riverldr".
LEADER_LOCK_KEY = 0x72697665726C6472
# A session that does not answer this simple query within this long is taken for lost.
CHECK_TIMEOUT_S = 30.0
# Chats let go and chats tried, in one round trip: the positions (1…) of the keys that were not held, and of the
# keys now taken. The lets-go come first in the select list, so they are evaluated first; were it the other way
# round, a chat let go and taken again in one batch would still end up held once, by the new turn.
_CHATS_SQL = (
    "SELECT ARRAY(SELECT r.o FROM unnest($2::int[]) WITH ORDINALITY AS r(k, o)"
    " WHERE NOT pg_advisory_unlock($1::int, r.k) ORDER BY r.o),"
    " ARRAY(SELECT t.o FROM unnest($3::int[]) WITH ORDINALITY AS t(k, o)"
    " WHERE pg_try_advisory_lock($1::int, t.k) ORDER BY t.o)"
)


class SessionLost(Exception):
    """The worker's own database session ended (the server restarted, the network broke): whatever it held, other
    workers may hold now."""


def chat_key(chat_id: int) -> int:
    """A chat id (up to 64 bits: groups are -100…) hashed into the 32-bit second key of the chat's lock
    (Fibonacci hashing: nearby ids land far apart). Two chats that share a key are handled one after the other,
    never together: harmless, and rare."""
    mixed = ((chat_id & 0xFFFFFFFFFFFFFFFF) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    folded = mixed >> 32
    return folded - (1 << 32) if folded >= 1 << 31 else folded


def home_slot(chat_id: int, count: int) -> int:
    """The chat's home worker among `count` (1…count): the one the front announces its updates to."""
    return chat_key(chat_id) % max(count, 1) + 1


class Claims(ABC):
    """A worker's hold on chats and on the leadership, and its ear on the inbox."""

    @abstractmethod
    async def try_chat(self, chat_id: int) -> bool:
        """Take the chat if no other worker has it; True when taken (hold it until `release_chat`)."""

    @abstractmethod
    async def release_chat(self, chat_id: int) -> None: ...

    @abstractmethod
    async def try_leader(self) -> bool:
        """Become the leader if there is none; True when this worker is the leader (now, or already)."""

    @abstractmethod
    async def listen(self, heard: Callable[[int], None], slot: int | None = None) -> None:
        """Call `heard(chat_id)` for every update kept from now on (after its commit): every chat's, or with a
        `slot`, those of the chats whose home it is (and every announcement)."""

    @abstractmethod
    async def announce(self, chat_id: int) -> None:
        """Tell every listening worker (this one too) that the chat has updates waiting."""

    @abstractmethod
    async def check(self) -> None:
        """Raise SessionLost unless the session (and so every lock held) is still there."""

    @property
    @abstractmethod
    def lost(self) -> bool: ...

    @abstractmethod
    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, as soon as the session is known to be gone."""

    @abstractmethod
    async def close(self) -> None:
        """End the session: every lock held is released."""


class PostgresClaims(Claims):
    """Session advisory locks and LISTEN on one dedicated connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        # One query at a time on a connection (asyncpg refuses a second one meanwhile).
        self._using = asyncio.Lock()
        self._lost = False
        self._closing = False
        self._lost_callbacks: list[Callable[[], None]] = []
        self._leader = False
        # Chats to let go and to try, asked for while the connection was busy: sent together (`_send_chats`).
        self._to_release: list[tuple[int, asyncio.Future[bool]]] = []
        self._to_try: list[tuple[int, asyncio.Future[bool]]] = []
        self._sender: asyncio.Task[None] | None = None
        conn.add_termination_listener(self._terminated)

    @classmethod
    async def connect(cls, url: str) -> PostgresClaims:
        conn = await asyncpg.connect(url, server_settings={"application_name": "riverbot worker"})
        return cls(conn)

    @property
    def lost(self) -> bool:
        return self._lost

    def on_lost(self, callback: Callable[[], None]) -> None:
        self._lost_callbacks.append(callback)
        if self._lost:
            callback()

    def _terminated(self, _: object) -> None:
        if not self._closing:
            self._mark_lost()

    def _mark_lost(self) -> None:
        if self._lost:
            return
        self._lost = True
        logger.critical("the worker's database session is gone: its chats and leadership are free for others")
        for callback in self._lost_callbacks:
            callback()

    async def _run(self, query: Callable[[], Awaitable[T]], within_s: float | None = None) -> T:
        if self._lost:
            raise SessionLost
        async with self._using:
            try:
                return await asyncio.wait_for(query(), within_s)
            except Exception as exc:
                # These few fixed queries fail only when the session does (a closed socket, the server ending
                # the session, asyncpg's state after that, no answer): whatever it was, the locks are not sure.
                self._mark_lost()
                raise SessionLost from exc

    async def try_chat(self, chat_id: int) -> bool:
        return await self._chat(self._to_try, chat_id)

    async def release_chat(self, chat_id: int) -> None:
        if not await self._chat(self._to_release, chat_id):
            logger.warning("chat %s was released but not held", chat_id)

    async def _chat(self, queue: list[tuple[int, asyncio.Future[bool]]], chat_id: int) -> bool:
        """Queue a chat's claim or release for the next round trip, which carries every one asked for meanwhile:
        a worker with many short turns (a live edit each) asks for two a turn, and one at a time on one connection
        they were a fifth of its round trips."""
        if self._lost:
            raise SessionLost
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.append((chat_key(chat_id), answer))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_chats(), name="riverbot:claims:chats")
        return await answer

    async def _send_chats(self) -> None:
        while self._to_release or self._to_try:
            releases, self._to_release = self._to_release, []
            tries, self._to_try = self._to_try, []
            let_go, wanted = [k for k, _ in releases], [k for k, _ in tries]
            try:
                ask = functools.partial(self._conn.fetchrow, _CHATS_SQL, CHAT_LOCK_SPACE, let_go, wanted)
                row = await self._run(ask)
                assert row is not None
            except BaseException as exc:
                lost = exc if isinstance(exc, SessionLost) else SessionLost()
                for _, answer in (*releases, *tries, *self._to_release, *self._to_try):
                    if not answer.done():
                        answer.set_exception(lost)
                self._to_release, self._to_try = [], []
                if not isinstance(exc, Exception):
                    raise  # cancelled: the connection is being closed
                return
            not_held, taken = set(row[0]), set(row[1])
            for position, (_, answer) in enumerate(releases, start=1):
                if not answer.done():
                    answer.set_result(position not in not_held)
            for position, (_, answer) in enumerate(tries, start=1):
                if not answer.done():
                    answer.set_result(position in taken)

    async def try_leader(self) -> bool:
        if not self._leader:
            self._leader = bool(
                await self._run(lambda: self._conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", LEADER_LOCK_KEY))
            )
        return self._leader

    async def listen(self, heard: Callable[[int], None], slot: int | None = None) -> None:
        def notified(_: object, __: int, ___: str, payload: object) -> None:
            try:
                chat_id = int(str(payload))
            except ValueError:
                logger.warning("an inbox notice without a chat: %r", payload)
                return
            heard(chat_id)

        await self._run(lambda: self._conn.add_listener(CHANNEL, notified))
        if slot is not None:
            await self._run(lambda: self._conn.add_listener(worker_channel(slot), notified))

    async def announce(self, chat_id: int) -> None:
        await self._run(lambda: self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(chat_id)))

    async def check(self) -> None:
        if self._conn.is_closed():
            self._mark_lost()
        await self._run(lambda: self._conn.fetchval("SELECT 1"), within_s=CHECK_TIMEOUT_S)

    async def close(self) -> None:
        self._closing = True
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, SessionLost):
                await self._sender
        if not self._conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10), self._using:
                    await self._conn.close()
        self._conn.terminate()  # whatever a cancelled query left behind


class LocalClaims(Claims):
    """One process (SQLite): the chats it handles are a set, it is always the leader, and the inbox tells it in
    memory what it keeps."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._held: set[int] = set()
        self._listeners: list[Callable[[set[int]], None]] = []

    @property
    def lost(self) -> bool:
        return False

    def on_lost(self, callback: Callable[[], None]) -> None:
        pass  # a process's memory is not lost while it runs

    async def try_chat(self, chat_id: int) -> bool:
        if chat_id in self._held:
            return False
        self._held.add(chat_id)
        return True

    async def release_chat(self, chat_id: int) -> None:
        self._held.discard(chat_id)

    async def try_leader(self) -> bool:
        return True

    async def listen(self, heard: Callable[[int], None], slot: int | None = None) -> None:
        def taken(chats: set[int]) -> None:
            for chat_id in sorted(chats):
                heard(chat_id)

        self._store.inbox.listeners.append(taken)
        self._listeners.append(taken)

    async def announce(self, chat_id: int) -> None:
        for listener in list(self._listeners):
            listener({chat_id})

    async def check(self) -> None:
        pass

    async def close(self) -> None:
        self._held.clear()
        for listener in self._listeners:
            self._store.inbox.listeners.remove(listener)
        self._listeners.clear()


async def open_claims(store: Store) -> Claims:
    """The claims of a worker on this store: a session of its own on PostgreSQL, memory on SQLite."""
    if isinstance(store.engine, PostgresEngine):
        return await PostgresClaims.connect(store.engine.url)
    return LocalClaims(store)
