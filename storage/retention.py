"""The SQL of retention (`bot.retention`): which track points and photo originals are past the window, and pruning
them in short transactions.

Candidates are read through the reader connection (WAL: it never waits for the bot's writes), a batch at a time
by keyset on the partial indexes of migration 0008, so a daily run over a pruned history only looks at the
days that aged out since the last one. Each write re-checks its conditions, so a candidate that changed in
between (a photo sent again, a problem reopened) is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storage.dbtime import to_db_time
from storage.engine import id_set, ids_param

if TYPE_CHECKING:
    from storage.store import Store

Lonlat = tuple[float, float]

# A finished patrol whose verdict and figures are all stored: nothing reads its points any more but a map.
_PATROL_DUE = (
    "status = 'finished' AND points_pruned_at IS NULL AND ended_at < :cutoff AND valid IS NOT NULL"
    " AND distance_m IS NOT NULL AND duration_s IS NOT NULL AND point_count IS NOT NULL"
)

# A photo past the window that no patrol or problem still inside it (or still open) shows as evidence.
_PHOTO_DUE = (
    "p.pruned_at IS NULL AND p.created_at < :cutoff AND (p.received_at IS NULL OR p.received_at < :cutoff)"
    " AND NOT EXISTS (SELECT 1 FROM patrol_photos pp JOIN patrols pa ON pa.id = pp.patrol_id"
    "  WHERE pp.photo_id = p.id AND (pa.status = 'open' OR pa.ended_at >= :cutoff))"
    " AND NOT EXISTS (SELECT 1 FROM problem_photos qp JOIN problems q ON q.id = qp.problem_id"
    "  WHERE qp.photo_id = p.id AND (q.status NOT IN ('closed', 'dismissed') OR q.closed_at IS NULL"
    "   OR q.closed_at >= :cutoff))"
)


@dataclass(frozen=True, slots=True)
class DuePatrol:
    id: int
    ended_at: str  # as stored: the keyset goes on from here
    point_count: int


@dataclass(frozen=True, slots=True)
class PatrolTrack:
    """A patrol's stored points (lon, lat, in time order) and the highest point id read."""

    patrol_id: int
    points: list[Lonlat]
    last_point_id: int


@dataclass(frozen=True, slots=True)
class PrunedPatrol:
    """What to write for one patrol: its simplified track, and the points to delete (ids up to `last_point_id`)."""

    patrol_id: int
    track: Sequence[Lonlat]
    last_point_id: int


@dataclass(frozen=True, slots=True)
class DuePhoto:
    id: int
    created_at: str
    path: str  # relative to DATA_DIR
    size_bytes: int


def encode_track(track: Sequence[Lonlat]) -> str:
    """JSON [[lon, lat], …] to 6 decimals (about 0.1 m): GeoJSON's order, readable in any SQL client."""
    return json.dumps([[round(lon, 6), round(lat, 6)] for lon, lat in track], separators=(",", ":"))


def decode_track(text: str | None) -> list[Lonlat]:
    return [(float(p[0]), float(p[1])) for p in json.loads(text)] if text else []


class Retention:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- patrols ---------------------------------------------------------------------------------------------

    async def due_patrols(self, cutoff: datetime, *, after: tuple[str, int] = ("", 0), limit: int) -> list[DuePatrol]:
        """Patrols whose points may go, in (ended_at, id) order after `after`."""
        rows = await self._store.fetchall(
            f"SELECT id, ended_at, point_count FROM patrols WHERE {_PATROL_DUE}"
            " AND (ended_at, id) > (:ended, :id) ORDER BY ended_at, id LIMIT :limit",
            {"cutoff": to_db_time(cutoff), "ended": after[0], "id": after[1], "limit": limit},
        )
        return [DuePatrol(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def count_due_patrols(self, cutoff: datetime) -> tuple[int, int]:
        """(patrols, track points) that pruning at `cutoff` would touch."""
        params = {"cutoff": to_db_time(cutoff)}
        patrols = await self._store.fetchval(f"SELECT count(*) FROM patrols WHERE {_PATROL_DUE}", params)
        points = await self._store.fetchval(
            f"SELECT count(*) FROM patrol_points WHERE patrol_id IN (SELECT id FROM patrols WHERE {_PATROL_DUE})",
            params,
        )
        return int(patrols), int(points)

    async def tracks(self, patrol_ids: Sequence[int]) -> list[PatrolTrack]:
        """The stored points of these patrols, in time order (as exports draw them)."""
        if not patrol_ids:
            return []
        rows = await self._store.fetchall(
            f"SELECT patrol_id, id, lon, lat FROM patrol_points WHERE patrol_id IN {id_set(self._store.dialect)}"
            " ORDER BY patrol_id, at, id",
            (ids_param(self._store.dialect, patrol_ids),),
        )
        points: dict[int, list[Lonlat]] = {i: [] for i in patrol_ids}
        last: dict[int, int] = dict.fromkeys(patrol_ids, 0)
        for patrol_id, point_id, lon, lat in rows:
            points[patrol_id].append((lon, lat))
            last[patrol_id] = max(last[patrol_id], point_id)
        return [PatrolTrack(i, points[i], last[i]) for i in patrol_ids]

    async def prune_patrols(self, pruned: Sequence[PrunedPatrol], cutoff: datetime, now: datetime) -> tuple[int, int]:
        """In one transaction: keep each simplified track on its patrol and delete the points it replaces; a
        patrol that is no longer due (pruned by another run meanwhile) is skipped. (patrols, points) done."""
        patrols = points = 0
        async with self._store.atomic() as conn:
            for item in pruned:
                kept = await conn.execute(
                    f"UPDATE patrols SET track = :track, points_pruned_at = :now WHERE id = :id AND {_PATROL_DUE}",
                    {"track": encode_track(item.track), "now": to_db_time(now), "id": item.patrol_id,
                     "cutoff": to_db_time(cutoff)},
                )  # fmt: skip
                if not kept:
                    continue
                patrols += 1
                points += await conn.execute(
                    "DELETE FROM patrol_points WHERE patrol_id = ? AND id <= ?", (item.patrol_id, item.last_point_id)
                )
        return patrols, points

    async def track(self, patrol_id: int) -> list[Lonlat] | None:
        """The simplified track kept for a pruned patrol; None when its points were not pruned."""
        row = await self._store.fetchone("SELECT track, points_pruned_at FROM patrols WHERE id = ?", (patrol_id,))
        if row is None or row[1] is None:
            return None
        return decode_track(row[0])

    # -- photos ----------------------------------------------------------------------------------------------

    async def due_photos(self, cutoff: datetime, *, after: tuple[str, int] = ("", 0), limit: int) -> list[DuePhoto]:
        """Photos whose originals may go, in (created_at, id) order after `after`."""
        rows = await self._store.fetchall(
            f"SELECT p.id, p.created_at, p.path, p.size_bytes FROM photos p WHERE {_PHOTO_DUE}"
            " AND (p.created_at, p.id) > (:created, :id) ORDER BY p.created_at, p.id LIMIT :limit",
            {"cutoff": to_db_time(cutoff), "created": after[0], "id": after[1], "limit": limit},
        )
        return [DuePhoto(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    async def count_due_photos(self, cutoff: datetime) -> tuple[int, int]:
        """(photos, bytes of their originals) that pruning at `cutoff` would remove."""
        row = await self._store.fetchone(
            f"SELECT count(*), COALESCE(sum(p.size_bytes), 0) FROM photos p WHERE {_PHOTO_DUE}",
            {"cutoff": to_db_time(cutoff)},
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def mark_photos_pruned(self, photo_ids: Sequence[int], cutoff: datetime, now: datetime) -> list[DuePhoto]:
        """Mark these photos pruned where they are still due; the ones marked. Inside the caller's transaction,
        which removes their files before it commits (see `bot.retention`)."""
        if not photo_ids:
            return []
        async with self._store.atomic() as conn:
            rows = await conn.fetchall(
                f"UPDATE photos AS p SET pruned_at = :now WHERE p.id IN {id_set(conn.dialect, ':ids')}"
                f" AND {_PHOTO_DUE} RETURNING id, created_at, path, size_bytes",
                {"now": to_db_time(now), "ids": ids_param(conn.dialect, photo_ids), "cutoff": to_db_time(cutoff)},
            )
        return [DuePhoto(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
