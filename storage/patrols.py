"""Repositories for patrols, their track points, photos and notes."""

from __future__ import annotations

import asyncio
import contextvars
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.store import from_db_time, to_db_time, utc_now

if TYPE_CHECKING:
    from storage.store import Store


def _signed(value: int) -> int:
    """SQLite integers are signed 64-bit: store an unsigned 64-bit hash as its two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    id: int
    sha256: str
    path: str
    format: str
    width: int
    height: int
    taken_at: str | None
    gps: tuple[float, float] | None
    phash: int


@dataclass(frozen=True, slots=True)
class NewPhoto:
    sha256: str
    path: str
    format: str
    size_bytes: int
    width: int
    height: int
    taken_at: str | None
    gps: tuple[float, float] | None
    phash: int
    bands: tuple[int, int, int, int]
    person_id: int | None


def _photo(row: sqlite3.Row) -> PhotoRecord:
    gps = (row["gps_lat"], row["gps_lon"]) if row["gps_lat"] is not None else None
    return PhotoRecord(
        id=row["id"],
        sha256=row["sha256"],
        path=row["path"],
        format=row["format"],
        width=row["width"],
        height=row["height"],
        taken_at=row["taken_at"],
        gps=gps,
        phash=_unsigned(row["phash"]),
    )


class Photos:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def by_sha(self, sha256: str) -> PhotoRecord | None:
        row = await self._store.fetchone("SELECT * FROM photos WHERE sha256 = ?", (sha256,))
        return None if row is None else _photo(row)

    async def by_id(self, photo_id: int) -> PhotoRecord | None:
        row = await self._store.fetchone("SELECT * FROM photos WHERE id = ?", (photo_id,))
        return None if row is None else _photo(row)

    async def add(self, photo: NewPhoto) -> int:
        """The photo's id; the same bytes sent twice are one photo."""
        async with self._store.atomic() as conn:
            await conn.execute(
                "INSERT INTO photos (sha256, path, format, size_bytes, width, height, taken_at, gps_lat, gps_lon,"
                " phash, band0, band1, band2, band3, person_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                (
                    photo.sha256,
                    photo.path,
                    photo.format,
                    photo.size_bytes,
                    photo.width,
                    photo.height,
                    photo.taken_at,
                    photo.gps[0] if photo.gps else None,
                    photo.gps[1] if photo.gps else None,
                    _signed(photo.phash),
                    *photo.bands,
                    photo.person_id,
                    utc_now(),
                ),
            )
            photo_id = await self._store.fetchval("SELECT id FROM photos WHERE sha256 = ?", (photo.sha256,))
        return int(photo_id)

    async def candidates(self, bands: tuple[int, int, int, int]) -> list[tuple[int, int]]:
        """(id, phash) of photos sharing a quarter of the hash: the only ones that can be near-duplicates."""
        rows = await self._store.fetchall(
            "SELECT id, phash FROM photos WHERE band0 = ? UNION SELECT id, phash FROM photos WHERE band1 = ?"
            " UNION SELECT id, phash FROM photos WHERE band2 = ? UNION SELECT id, phash FROM photos WHERE band3 = ?",
            bands,
        )
        return [(int(r[0]), _unsigned(int(r[1]))) for r in rows]


@dataclass(frozen=True, slots=True)
class PatrolRecord:
    id: int
    person_id: int
    reach_id: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    last_activity_at: datetime
    live_message_id: int | None
    live_until: datetime | None
    live_stopped_at: datetime | None
    distance_m: float | None
    duration_s: int | None
    point_count: int | None
    photo_count: int | None
    problem_count: int
    valid: bool | None
    reasons: list[dict[str, Any]]

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def _patrol(row: sqlite3.Row) -> PatrolRecord:
    return PatrolRecord(
        id=row["id"],
        person_id=row["person_id"],
        reach_id=row["reach_id"],
        status=row["status"],
        started_at=from_db_time(row["started_at"]),  # type: ignore[arg-type]
        ended_at=from_db_time(row["ended_at"]),
        end_reason=row["end_reason"],
        last_activity_at=from_db_time(row["last_activity_at"]),  # type: ignore[arg-type]
        live_message_id=row["live_message_id"],
        live_until=from_db_time(row["live_until"]),
        live_stopped_at=from_db_time(row["live_stopped_at"]),
        distance_m=row["distance_m"],
        duration_s=row["duration_s"],
        point_count=row["point_count"],
        photo_count=row["photo_count"],
        problem_count=row["problem_count"],
        valid=None if row["valid"] is None else bool(row["valid"]),
        reasons=json.loads(row["reasons"] or "[]"),
    )


@dataclass(frozen=True, slots=True)
class TrackPoint:
    at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    source: str


@dataclass(frozen=True, slots=True)
class PatrolPhoto:
    photo_id: int
    file_id: str
    as_document: bool
    sent_at: datetime
    sha256: str
    phash: int
    taken_at: str | None


@dataclass(frozen=True, slots=True)
class Finish:
    ended_at: datetime
    end_reason: str
    distance_m: float
    duration_s: int
    point_count: int
    photo_count: int
    valid: bool
    reasons: list[dict[str, Any]]


class Patrols:
    """Patrols and their evidence. Track points are written in batches: a busy hour brings hundreds a second,
    and one commit (one fsync) per batch instead of per point is what keeps up. Each caller still waits until
    its own point is committed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open_for(self, person_id: int) -> PatrolRecord | None:
        row = await self._store.fetchone("SELECT * FROM patrols WHERE person_id = ? AND status = 'open'", (person_id,))
        return None if row is None else _patrol(row)

    async def by_id(self, patrol_id: int) -> PatrolRecord | None:
        row = await self._store.fetchone("SELECT * FROM patrols WHERE id = ?", (patrol_id,))
        return None if row is None else _patrol(row)

    async def start(self, person_id: int, reach_id: int, started_at: datetime) -> tuple[PatrolRecord, bool]:
        """Open a patrol, or return the one already open (two taps, two devices): (patrol, whether new)."""
        now = utc_now()
        async with self._store.atomic() as conn:
            existing = await self.open_for(person_id)
            if existing is not None:
                return existing, False
            async with conn.execute(
                "INSERT INTO patrols (person_id, reach_id, started_at, last_activity_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (person_id, reach_id, to_db_time(started_at), to_db_time(started_at), now, now),
            ) as cursor:
                patrol_id = cursor.lastrowid
            patrol = await self.by_id(int(patrol_id or 0))
        assert patrol is not None
        return patrol, True

    async def add_point(
        self, patrol_id: int, *, at: datetime, lat: float, lon: float, accuracy_m: float | None, source: str
    ) -> None:
        """Store one track point; returns once it is committed (batched with whoever else is writing)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((patrol_id, to_db_time(at), lat, lon, accuracy_m, source), future))
        if self._flusher is None or self._flusher.done():
            # A fresh context: the flusher must not inherit a caller's transaction.
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), context=contextvars.Context())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            rows = [row for row, _ in batch]
            try:
                async with self._store.atomic() as conn:
                    await conn.executemany(
                        "INSERT INTO patrol_points (patrol_id, at, lat, lon, accuracy_m, source)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    latest: dict[int, str] = {}
                    for row in rows:
                        latest[row[0]] = max(latest.get(row[0], row[1]), row[1])
                    await conn.executemany(
                        "UPDATE patrols SET last_activity_at = max(last_activity_at, ?), updated_at = ? WHERE id = ?",
                        [(at, utc_now(), patrol_id) for patrol_id, at in latest.items()],
                    )
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def drain(self) -> None:
        """Wait for points still being written (at shutdown)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def touch(self, patrol_id: int, at: datetime) -> None:
        await self._store.execute(
            "UPDATE patrols SET last_activity_at = max(last_activity_at, ?), updated_at = ? WHERE id = ?",
            (to_db_time(at), utc_now(), patrol_id),
        )

    async def set_live(self, patrol_id: int, *, message_id: int, until: datetime | None) -> None:
        await self._store.execute(
            "UPDATE patrols SET live_message_id = ?, live_until = ?, live_stopped_at = NULL, updated_at = ?"
            " WHERE id = ?",
            (message_id, to_db_time(until) if until else None, utc_now(), patrol_id),
        )

    async def live_stopped(self, patrol_id: int, at: datetime) -> None:
        await self._store.execute(
            "UPDATE patrols SET live_stopped_at = ?, updated_at = ? WHERE id = ? AND live_stopped_at IS NULL",
            (to_db_time(at), utc_now(), patrol_id),
        )

    async def points(self, patrol_id: int) -> list[TrackPoint]:
        rows = await self._store.fetchall(
            "SELECT at, lat, lon, accuracy_m, source FROM patrol_points WHERE patrol_id = ? ORDER BY at, id",
            (patrol_id,),
        )
        return [
            TrackPoint(from_db_time(r[0]), r[1], r[2], r[3], r[4])  # type: ignore[arg-type]
            for r in rows
        ]

    async def point_count(self, patrol_id: int) -> int:
        return int(await self._store.fetchval("SELECT count(*) FROM patrol_points WHERE patrol_id = ?", (patrol_id,)))

    async def add_photo(
        self, patrol_id: int, *, photo_id: int, file_id: str, as_document: bool, sent_at: datetime, caption: str | None
    ) -> None:
        async with self._store.atomic() as conn:
            await conn.execute(
                "INSERT INTO patrol_photos (patrol_id, photo_id, file_id, as_document, sent_at, caption)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (patrol_id, photo_id, file_id, 1 if as_document else 0, to_db_time(sent_at), caption),
            )
            await conn.execute(
                "UPDATE patrols SET last_activity_at = max(last_activity_at, ?), updated_at = ? WHERE id = ?",
                (to_db_time(sent_at), utc_now(), patrol_id),
            )

    async def photos(self, patrol_id: int) -> list[PatrolPhoto]:
        rows = await self._store.fetchall(
            "SELECT pp.photo_id, pp.file_id, pp.as_document, pp.sent_at, p.sha256, p.phash, p.taken_at"
            " FROM patrol_photos pp JOIN photos p ON p.id = pp.photo_id WHERE pp.patrol_id = ? ORDER BY pp.id",
            (patrol_id,),
        )
        return [
            PatrolPhoto(r[0], r[1], bool(r[2]), from_db_time(r[3]), r[4], _unsigned(r[5]), r[6])  # type: ignore[arg-type]
            for r in rows
        ]

    async def photo_used_before(self, photo_ids: Sequence[int], *, patrol_id: int, before: datetime) -> bool:
        """Whether any of these photos is evidence of another patrol sent before `before`."""
        if not photo_ids:
            return False
        marks = ",".join("?" * len(photo_ids))
        found = await self._store.fetchval(
            f"SELECT 1 FROM patrol_photos WHERE photo_id IN ({marks}) AND patrol_id != ? AND sent_at <= ? LIMIT 1",
            (*photo_ids, patrol_id, to_db_time(before)),
        )
        return found is not None

    async def add_note(self, patrol_id: int, *, at: datetime, text: str, kind: str = "note") -> None:
        async with self._store.atomic() as conn:
            await conn.execute(
                "INSERT INTO patrol_notes (patrol_id, at, text, kind) VALUES (?, ?, ?, ?)",
                (patrol_id, to_db_time(at), text, kind),
            )
            if kind == "problem":
                await conn.execute("UPDATE patrols SET problem_count = problem_count + 1 WHERE id = ?", (patrol_id,))
            await conn.execute(
                "UPDATE patrols SET last_activity_at = max(last_activity_at, ?), updated_at = ? WHERE id = ?",
                (to_db_time(at), utc_now(), patrol_id),
            )

    async def notes(self, patrol_id: int) -> list[tuple[datetime, str, str]]:
        rows = await self._store.fetchall(
            "SELECT at, text, kind FROM patrol_notes WHERE patrol_id = ? ORDER BY id", (patrol_id,)
        )
        return [(from_db_time(r[0]), r[1], r[2]) for r in rows]  # type: ignore[misc]

    async def finish(self, patrol_id: int, result: Finish) -> bool:
        """Close the patrol with its figures; False when it was closed already (a second Finish)."""
        return (
            await self._store.execute(
                "UPDATE patrols SET status = 'finished', ended_at = ?, end_reason = ?, distance_m = ?,"
                " duration_s = ?, point_count = ?, photo_count = ?, valid = ?, reasons = ?, updated_at = ?"
                " WHERE id = ? AND status = 'open'",
                (
                    to_db_time(result.ended_at),
                    result.end_reason,
                    result.distance_m,
                    result.duration_s,
                    result.point_count,
                    result.photo_count,
                    1 if result.valid else 0,
                    json.dumps(result.reasons, ensure_ascii=False),
                    utc_now(),
                    patrol_id,
                ),
            )
            > 0
        )

    async def open_patrols(self) -> list[PatrolRecord]:
        rows = await self._store.fetchall("SELECT * FROM patrols WHERE status = 'open' ORDER BY id")
        return [_patrol(r) for r in rows]

    async def recent_for_person(self, person_id: int, limit: int = 10) -> list[PatrolRecord]:
        rows = await self._store.fetchall(
            "SELECT * FROM patrols WHERE person_id = ? ORDER BY started_at DESC, id DESC LIMIT ?", (person_id, limit)
        )
        return [_patrol(r) for r in rows]

    async def valid_count(self, person_id: int, reach_id: int, start: datetime, end: datetime) -> int:
        """Valid finished patrols by the person on the reach that started in [start, end)."""
        return int(
            await self._store.fetchval(
                "SELECT count(*) FROM patrols WHERE person_id = ? AND reach_id = ? AND status = 'finished'"
                " AND valid = 1 AND started_at >= ? AND started_at < ?",
                (person_id, reach_id, to_db_time(start), to_db_time(end)),
            )
        )

    async def last_for_reach(self, reach_id: int) -> PatrolRecord | None:
        row = await self._store.fetchone(
            "SELECT * FROM patrols WHERE reach_id = ? AND status = 'finished' ORDER BY ended_at DESC LIMIT 1",
            (reach_id,),
        )
        return None if row is None else _patrol(row)

    async def reminded(self, person_id: int, kind: str, day: str) -> bool:
        """Record a reminder for the day; False when it was already sent (a restart, a second job run)."""
        return (
            await self._store.execute(
                "INSERT INTO reminders_sent (person_id, kind, day, sent_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (person_id, kind, day, utc_now()),
            )
            > 0
        )
