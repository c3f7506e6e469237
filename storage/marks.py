"""Marks' SQL: small keyed facts with an expiry, shared by every worker on the database.

What decides behaviour across updates (a group's /summary cooldown, an album already answered, which worker runs
the weekly delivery) cannot live in one process's memory once several processes take updates: each would keep
its own, and a chat's next update may well go to another worker. A mark is one row, and `take` is one statement
(an upsert whose update only happens when the old mark has expired), so the first taker wins on either engine:
SQLite (3.24+) and PostgreSQL read `INSERT … ON CONFLICT … DO UPDATE … WHERE` alike.

Times are the application's clock, like every other time in the store, to the second: a mark may end up to a
second before its `ttl` is over, which matters to none of its uses (a minute or more each).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time
from storage.engine import PostgresEngine

if TYPE_CHECKING:
    from storage.store import Store

logger = logging.getLogger(__name__)

# Leases on PostgreSQL are two-key advisory locks in a space of their own (beside the chats' in storage/claims.py,
# and never meeting the one-key locks): "rbls".
LEASE_LOCK_SPACE = 0x72626C73


def lease_key(key: str) -> int:
    """A lease's name as the 32-bit signed second key of its lock (CRC-32: the same in every process)."""
    value = zlib.crc32(key.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True, slots=True)
class Mark:
    key: str
    value: str
    expires_at: datetime | None  # None: until dropped


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now


def _expiry(now: datetime, ttl: float | None) -> str | None:
    """When a mark set at `now` for `ttl` seconds ends, in the store's whole seconds."""
    return None if ttl is None else to_db_time(now + timedelta(seconds=ttl))


class Marks:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def take(self, key: str, ttl: float | None, value: str = "", *, now: datetime | None = None) -> bool:
        """Set the mark unless an unexpired one is there: True for the first taker only, until it expires (after
        `ttl` seconds; None: never, until dropped)."""
        moment = _now(now)
        changed = await self._store.execute(
            "INSERT INTO marks (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            " WHERE marks.expires_at <= ?",
            (key, value, _expiry(moment, ttl), to_db_time(moment)),
        )
        return changed > 0

    async def get(self, key: str, *, now: datetime | None = None) -> Mark | None:
        """The mark, unless it has expired."""
        row = await self._store.fetchone(
            "SELECT value, expires_at FROM marks WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, to_db_time(_now(now))),
        )
        return None if row is None else Mark(key, str(row[0]), from_db_time(row[1]))

    async def put(self, key: str, value: str, ttl: float | None, *, now: datetime | None = None) -> None:
        """Set the mark, whatever was there."""
        await self._store.execute(
            "INSERT INTO marks (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (key, value, _expiry(_now(now), ttl)),
        )

    async def renew(self, key: str, value: str, ttl: float | None, *, now: datetime | None = None) -> bool:
        """Move the expiry of a mark this taker (`value`) still holds; False when it has lapsed or was taken by
        another meanwhile."""
        moment = _now(now)
        changed = await self._store.execute(
            "UPDATE marks SET expires_at = ? WHERE key = ? AND value = ? AND (expires_at IS NULL OR expires_at > ?)",
            (_expiry(moment, ttl), key, value, to_db_time(moment)),
        )
        return changed > 0

    async def drop(self, key: str, value: str | None = None) -> bool:
        """Remove the mark (with `value`: only if it still holds that value, so a lapsed holder cannot drop the
        mark a later taker holds)."""
        if value is None:
            changed = await self._store.execute("DELETE FROM marks WHERE key = ?", (key,))
        else:
            changed = await self._store.execute("DELETE FROM marks WHERE key = ? AND value = ?", (key, value))
        return changed > 0

    async def prune(self, now: datetime) -> int:
        """Forget expired marks; how many."""
        return await self._store.execute("DELETE FROM marks WHERE expires_at <= ?", (to_db_time(now),))

    @contextlib.asynccontextmanager
    async def lease(self, key: str, ttl: float) -> AsyncIterator[bool]:
        """Hold `key` while the block runs, and drop it at its end; yields False (and runs the block without it)
        when another holds it.

        On PostgreSQL a session advisory lock: a holder that dies (a killed worker, or the one `riverbot run`
        killed and started again) drops it at once, so the next run goes ahead rather than skip the work until
        `ttl` is over (the weekly delivery's job comes round hourly: an hour late). On SQLite (several stores on
        one file, in tests) a mark renewed every third of `ttl`: a holder that dies keeps it at most `ttl`
        seconds more."""
        engine = self._store.engine
        if isinstance(engine, PostgresEngine):
            async with engine.session_lock(LEASE_LOCK_SPACE, lease_key(key)) as mine:
                yield mine
            return
        token = secrets.token_hex(8)
        if not await self.take(key, ttl, token):
            yield False
            return

        async def renewing() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                try:
                    if not await self.renew(key, token, ttl):
                        logger.warning("the lease %s lapsed while held", key)
                        return
                except Exception:  # the store failing for a moment: the next renewal may still be in time
                    logger.warning("could not renew the lease %s", key, exc_info=True)

        # A fresh context: the renewals must not run inside a caller's transaction.
        renewer = asyncio.get_running_loop().create_task(renewing(), context=contextvars.Context())
        try:
            yield True
        finally:
            renewer.cancel()  # a renewal it interrupts is rolled back; the drop below ends the lease anyway
            try:
                await asyncio.shield(self.drop(key, token))
            except Exception:  # it lapses on its own after `ttl`
                logger.warning("could not drop the lease %s", key, exc_info=True)
