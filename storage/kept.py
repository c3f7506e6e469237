"""The kept reports' SQL: a stranger's photos (and a QR code's reach) waiting for them to join."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.dbtime import from_db_time, to_db_time, utc_now

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True, slots=True)
class KeptReport:
    telegram_id: int
    reach_id: int | None
    photos: list[list[Any]]  # the draft's stored form of each photo (bot.problems.Draft.to_json)
    created_at: datetime
    updated_at: datetime


class KeptReports:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, telegram_id: int) -> KeptReport | None:
        row = await self._store.fetchone("SELECT * FROM kept_reports WHERE telegram_id = ?", (telegram_id,))
        if row is None:
            return None
        created, updated = from_db_time(row["created_at"]), from_db_time(row["updated_at"])
        assert created is not None and updated is not None
        return KeptReport(row["telegram_id"], row["reach_id"], json.loads(row["photos"]), created, updated)

    async def add_photo(self, telegram_id: int, photo: list[Any], *, limit: int) -> int | None:
        """Keep one more photo (the same photo twice counts once); how many are kept now, or None when `limit`
        were kept already."""
        async with self._store.atomic():
            kept = await self.get(telegram_id)
            photos = kept.photos if kept else []
            if any(p[0] == photo[0] for p in photos):
                return len(photos)
            if len(photos) >= limit:
                return None
            photos = [*photos, photo]
            await self._save(telegram_id, kept.reach_id if kept else None, photos)
            return len(photos)

    async def set_reach(self, telegram_id: int, reach_id: int) -> None:
        """The reach a QR code named: the report, once they join, starts on it."""
        kept = await self.get(telegram_id)
        await self._save(telegram_id, reach_id, kept.photos if kept else [])

    async def _save(self, telegram_id: int, reach_id: int | None, photos: list[list[Any]]) -> None:
        now = utc_now()
        await self._store.execute(
            "INSERT INTO kept_reports (telegram_id, reach_id, photos, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
            " reach_id = excluded.reach_id, photos = excluded.photos, updated_at = excluded.updated_at",
            (telegram_id, reach_id, json.dumps(photos), now, now),
        )

    async def take(self, telegram_id: int) -> KeptReport | None:
        """The kept report, deleted as it is read (it becomes a draft): a double tap finds nothing."""
        async with self._store.atomic():
            kept = await self.get(telegram_id)
            if kept is not None:
                await self._store.execute("DELETE FROM kept_reports WHERE telegram_id = ?", (telegram_id,))
            return kept

    async def count_before(self, cut: datetime) -> int:
        return int(
            await self._store.fetchval("SELECT count(*) FROM kept_reports WHERE updated_at < ?", (to_db_time(cut),))
        )

    async def prune_before(self, cut: datetime) -> int:
        """Forget the kept reports nobody came back to before `cut` (their photos age out as any photo does)."""
        return await self._store.execute("DELETE FROM kept_reports WHERE updated_at < ?", (to_db_time(cut),))
