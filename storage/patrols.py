"""Repositories for patrols, their track points, photos and notes."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from storage.dbtime import from_db_time, to_db_time, utc_now

if TYPE_CHECKING:
    from storage.store import Store

logger = logging.getLogger(__name__)

# Live-location points written behind (see Patrols.add_point): at most this many wait for a commit before
# their senders wait too, and a batch that fails is tried this many times before its points are given up.
MAX_BEHIND = 2000
WRITE_ATTEMPTS = 5

# One queued track point: (row for patrol_points, its time, the future of a caller who waits for the commit
# or None, attempts so far).
_Queued = tuple[tuple[Any, ...], datetime, asyncio.Future[None] | None, int]

# A patrol's last activity only moves forward (updates can arrive out of order). A CASE rather than SQLite's
# two-argument max(), which PostgreSQL spells GREATEST: one statement for both engines.
_TOUCH = (
    "UPDATE patrols SET last_activity_at = CASE WHEN last_activity_at >= :at THEN last_activity_at ELSE :at END,"
    " updated_at = :now WHERE id = :id"
)


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
    pruned: bool = False  # the original file was removed (RETENTION_YEARS); the row stays as the record


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
        pruned=row["pruned_at"] is not None,
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

    async def seen_again(self, photo_id: int) -> bool:
        """These bytes came in again: for retention the photo is as young as today. False when its original was
        pruned (then the caller keeps the new copy and calls `restored`)."""
        return (
            await self._store.execute(
                "UPDATE photos SET received_at = ? WHERE id = ? AND pruned_at IS NULL", (utc_now(), photo_id)
            )
            > 0
        )

    async def restored(self, photo_id: int, path: str) -> None:
        """The original of a pruned photo is on disk again (the same bytes were sent again)."""
        await self._store.execute(
            "UPDATE photos SET path = ?, pruned_at = NULL, received_at = ? WHERE id = ?", (path, utc_now(), photo_id)
        )

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
    coverage: float | None = None  # the share of the reach's line walked, kept at the finish
    # The assistant who walked it for `person_id`, the chief it counts for; None: the chief walked it.
    walked_by: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def walker(self) -> int:
        """Who walked it: the one whose open patrol it is, whose chat its track and evidence come from."""
        return self.person_id if self.walked_by is None else self.walked_by


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
        coverage=row["coverage"] if "coverage" in row.keys() else None,  # noqa: SIM118 (a Row iterates values)
        walked_by=row["walked_by"] if "walked_by" in row.keys() else None,  # noqa: SIM118
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
class PatrolMedia:
    """A voice note, audio, video or video note sent during a patrol: Telegram's file id, to send it on."""

    kind: str  # voice, audio, video, video_note
    file_id: str
    file_unique_id: str
    duration_s: int | None
    sent_at: datetime
    caption: str | None


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
    coverage: float | None = None


class Patrols:
    """Patrols and their evidence. Track points are written in batches: a busy hour brings hundreds a second,
    and one commit (one fsync) per batch instead of per point is what keeps up. Points from a live location
    are written behind (the caller does not wait for the commit); any other point's caller waits until it is
    committed. See `add_point`.

    A person's open patrol (or that they have none) is cached: every live-location edit, and every private
    message, asks for it. Every write here keeps the cache right: a track point (queued or committed) moves the
    cached `last_activity_at` on, anything else drops the entry; writes by another process are seen within
    `CACHE_SECONDS`.

    A shared store (several workers: `Store.shared`) neither caches open patrols nor writes behind: the next
    update may go to another worker, which must find the patrol opened here and every point stored, and a worker
    killed after answering must not take queued points with it. Points still go in batches, of whatever this
    worker's concurrent updates bring at once.
    """

    CACHE_SECONDS = 30.0

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None
        # Points queued so far, and how many of them are settled (committed, or given up), in queue order;
        # `_progress` is resolved (and dropped) whenever the settled count moves.
        self._queued = 0
        self._settled = 0
        self._progress: asyncio.Future[None] | None = None
        # patrol id -> (latest time among its points not settled yet, how many of them)
        self._unsettled: dict[int, tuple[datetime, int]] = {}
        # person id -> (when read, their open patrol or None); patrol id -> person id for the cached patrols
        self._open: dict[int, tuple[float, PatrolRecord | None]] = {}
        self._owner: dict[int, int] = {}
        # Bumped by every write: a read that overlapped one may have seen the old row, and is not cached.
        self._generation = 0
        self._settling: set[asyncio.Task[None]] = set()

    def _forget(self, *, person_id: int | None = None, patrol_id: int | None = None) -> None:
        """Before and after a write: drop what it may change (without a person or patrol: everything), and
        don't cache reads that overlap it."""
        self._generation += 1
        if patrol_id is not None:
            person_id = self._owner.get(patrol_id, person_id)
            if person_id is not None:
                self._drop(person_id)
        elif person_id is not None:
            self._drop(person_id)
        else:
            self._open.clear()
            self._owner.clear()

    def _written(self, *, person_id: int | None = None, patrol_id: int | None = None) -> None:
        """After a write. Inside a caller's transaction, others see it only at that COMMIT: a read in between
        may cache the old row, so the entry is dropped again once the transaction is over."""
        if patrol_id is not None:
            person_id = self._owner.get(patrol_id, person_id)
        self._forget(person_id=person_id, patrol_id=patrol_id)
        if self._store.in_transaction():
            task = asyncio.get_running_loop().create_task(
                self._settle(person_id, patrol_id), context=contextvars.Context()
            )
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _settle(self, person_id: int | None, patrol_id: int | None) -> None:
        async with self._store.atomic():  # the writer lock is free again once the caller's transaction is over
            pass
        self._forget(person_id=person_id, patrol_id=patrol_id)

    def _drop(self, person_id: int) -> None:
        entry = self._open.pop(person_id, None)
        if entry is not None and entry[1] is not None:
            self._owner.pop(entry[1].id, None)

    def _advance(self, latest: dict[int, datetime]) -> None:
        """Points were committed: the cached patrols' last activity is now at least their latest point."""
        self._generation += 1
        for patrol_id, at in latest.items():
            person_id = self._owner.get(patrol_id)
            entry = self._open.get(person_id) if person_id is not None else None
            patrol = entry[1] if entry is not None else None
            if patrol is not None and patrol.id == patrol_id and at > patrol.last_activity_at:
                self._open[person_id] = (entry[0], replace(patrol, last_activity_at=at))  # type: ignore[index]

    async def open_for(self, person_id: int) -> PatrolRecord | None:
        # Inside a transaction, read through it (its own writes count) and cache nothing: it may roll back.
        uncached = self._store.shared or self._store.in_transaction()
        cached = None if uncached else self._open.get(person_id)
        if cached is not None and time.monotonic() - cached[0] < self.CACHE_SECONDS:
            if cached[1] is None or not self._unsettled:
                return cached[1]
            hit = self._with_queued(cached[1])
            if hit is not cached[1]:
                self._open[person_id] = (cached[0], hit)
            return hit
        generation = self._generation
        # The patrol the person walks: their own, or one for a chief they assist (index patrols_open).
        row = await self._store.fetchone(
            "SELECT * FROM patrols WHERE COALESCE(walked_by, person_id) = ? AND status = 'open'", (person_id,)
        )
        patrol = None if row is None else self._with_queued(_patrol(row))
        if not uncached and generation == self._generation:
            if len(self._open) > 50_000:
                self._open.clear()
                self._owner.clear()
            self._drop(person_id)
            self._open[person_id] = (time.monotonic(), patrol)
            if patrol is not None:
                self._owner[patrol.id] = person_id
        return patrol

    def _with_queued(self, patrol: PatrolRecord) -> PatrolRecord:
        """The patrol as it is once its queued points are written: they are its latest activity."""
        queued = self._unsettled.get(patrol.id)
        if queued is not None and queued[0] > patrol.last_activity_at:
            return replace(patrol, last_activity_at=queued[0])
        return patrol

    async def by_id(self, patrol_id: int) -> PatrolRecord | None:
        await self.caught_up()
        row = await self._store.fetchone("SELECT * FROM patrols WHERE id = ?", (patrol_id,))
        return None if row is None else _patrol(row)

    async def start(
        self, person_id: int, reach_id: int, started_at: datetime, *, for_chief: int | None = None
    ) -> tuple[PatrolRecord, bool]:
        """Open a patrol, or return the one already open (two taps, two devices): (patrol, whether new).

        `person_id` walks it; with `for_chief` it is that chief's patrol, walked by `person_id` (an assistant)."""
        owner, walked_by = (person_id, None) if for_chief is None else (for_chief, person_id)
        now = utc_now()
        self._forget(person_id=person_id)
        async with self._store.atomic() as conn:
            existing = await self.open_for(person_id)
            if existing is not None:
                return existing, False
            patrol_id = await conn.insert(
                "INSERT INTO patrols (person_id, walked_by, reach_id, started_at, last_activity_at, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (owner, walked_by, reach_id, to_db_time(started_at), to_db_time(started_at), now, now),
            )
            patrol = await self.by_id(patrol_id)
        self._written(person_id=person_id)
        assert patrol is not None
        return patrol, True

    async def discard_empty(self, patrol_id: int, person_id: int) -> bool:
        """Delete the person's open patrol if it holds nothing yet (no point, photo, note, media or problem), in
        one transaction: a quick start on the wrong reach then counts nowhere. False when it holds something."""
        await self.caught_up()  # a live point queued behind counts
        self._forget(person_id=person_id, patrol_id=patrol_id)
        async with self._store.atomic() as conn:
            deleted = await conn.execute(
                "DELETE FROM patrols WHERE id = ? AND COALESCE(walked_by, person_id) = ? AND status = 'open'"
                " AND NOT EXISTS (SELECT 1 FROM patrol_points WHERE patrol_id = patrols.id)"
                " AND NOT EXISTS (SELECT 1 FROM patrol_photos WHERE patrol_id = patrols.id)"
                " AND NOT EXISTS (SELECT 1 FROM patrol_notes WHERE patrol_id = patrols.id)"
                " AND NOT EXISTS (SELECT 1 FROM patrol_media WHERE patrol_id = patrols.id)"
                " AND NOT EXISTS (SELECT 1 FROM problems WHERE patrol_id = patrols.id)",
                (patrol_id, person_id),
            )
        self._written(person_id=person_id, patrol_id=patrol_id)
        return deleted == 1

    async def add_point(
        self, patrol_id: int, *, at: datetime, lat: float, lon: float, accuracy_m: float | None, source: str
    ) -> None:
        """Queue one track point for the next batch.

        A live-location point (`source="live"`) is written behind: the call returns at once, since nobody is
        answered about an edit, and a handler waiting for the commit holds its chat and one of the few update
        slots, which keeps batches small (measured: 0.65 → 0.85 of bare PTB, benchmarks/live_locations.py). It
        is committed with the next batch. Reads here see it: `open_for` counts it in `last_activity_at`;
        `by_id`, `open_patrols`, `recent_for_person`, `points`, `point_count` and `drain` (finish, shutdown) first
        wait for every point queued before them. If its batch fails, it is tried again, and given up (logged
        with its data) only after WRITE_ATTEMPTS. When MAX_BEHIND points are waiting already (a slow disk), or
        the store is shared with other workers, live points wait for their commit too. Any other point returns
        once committed, or raises what kept it from being committed (and its update goes to the error handler,
        as before).
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] | None = None
        if source != "live" or self._store.shared or len(self._pending) >= MAX_BEHIND:
            waiter = loop.create_future()
        self._pending.append(((patrol_id, to_db_time(at), lat, lon, accuracy_m, source), at, waiter, 0))
        self._queued += 1
        latest, count = self._unsettled.get(patrol_id, (at, 0))
        self._unsettled[patrol_id] = (max(latest, at), count + 1)
        self._start_flusher()
        if waiter is not None:
            await waiter

    def _start_flusher(self) -> None:
        if self._pending and (self._flusher is None or self._flusher.done()):
            # A fresh context: the flusher must not inherit a caller's transaction.
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), context=contextvars.Context())

    async def _flush(self) -> None:
        delay = 0.0
        while self._pending:
            if delay:
                await asyncio.sleep(delay)
            batch, self._pending = self._pending, []
            latest: dict[int, datetime] = {}
            for row, at, _, _ in batch:
                if row[0] not in latest or at > latest[row[0]]:
                    latest[row[0]] = at
            try:
                # Shared: beside other processes' batches (the webhook workers), never beside another write. What
                # two batches can have in common is a patrol: the touches come first and lock each patrol's row, in
                # id order (no deadlock), so one patrol's points and its last activity go in one batch at a time;
                # the points themselves are kept once by their unique key.
                now = utc_now()
                async with self._store.atomic(shared=True) as conn:
                    await conn.executemany(
                        _TOUCH,
                        [
                            {"at": to_db_time(latest[patrol_id]), "now": now, "id": patrol_id}
                            for patrol_id in sorted(latest)
                        ],
                    )
                    await conn.executemany(
                        "INSERT INTO patrol_points (patrol_id, at, lat, lon, accuracy_m, source)"
                        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        [row for row, _, _, _ in batch],
                    )
            except BaseException as exc:
                self._forget()  # whatever a failed (or cancelled) batch left behind: read the patrols afresh
                retry, settled = self._failed(batch, exc)
                self._pending[:0] = retry  # before anything newer: points stay in the order they came
                self._progressed(settled)
                delay = min(max(delay * 2, 0.1), 5.0) if retry else 0.0
                if not isinstance(exc, Exception):
                    raise
            else:
                delay = 0.0
                self._advance(latest)
                for _, _, waiter, _ in batch:
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                self._progressed(batch)

    def _failed(self, batch: list[_Queued], exc: BaseException) -> tuple[list[_Queued], list[_Queued]]:
        """A batch failed: its waiting callers get the error; points written behind are returned to try again,
        or, after WRITE_ATTEMPTS (or when the flusher itself is cancelled), logged with their data.
        Returns (to try again, settled)."""
        retry: list[_Queued] = []
        settled: list[_Queued] = []
        for queued in batch:
            row, at, waiter, attempts = queued
            if waiter is None and isinstance(exc, Exception) and attempts + 1 < WRITE_ATTEMPTS:
                retry.append((row, at, None, attempts + 1))
                continue
            settled.append(queued)
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
        lost = [row for row, _, waiter, _ in settled if waiter is None]
        if retry:
            logger.warning("Writing %d track points failed (%r); trying again", len(batch), exc)
        if lost:
            logger.error("%d track points could not be stored (%r): %r", len(lost), exc, lost)
        return retry, settled

    def _progressed(self, settled: list[_Queued]) -> None:
        """These points are committed, or given up: wake whoever waits for the queue to get this far."""
        self._settled += len(settled)
        for row, _, _, _ in settled:
            latest, count = self._unsettled[row[0]]
            if count > 1:
                self._unsettled[row[0]] = (latest, count - 1)
            else:
                del self._unsettled[row[0]]
        if self._progress is not None:
            if not self._progress.done():
                self._progress.set_result(None)
            self._progress = None

    async def caught_up(self) -> None:
        """Wait until every point queued so far is committed (or given up). Inside a transaction this returns
        at once: the flusher needs the writer, which that transaction holds."""
        target = self._queued
        while self._settled < target and not self._store.in_transaction():
            self._start_flusher()  # after a cancelled flusher, points may wait with none to write them
            if self._flusher is None or self._flusher.done():
                return
            if self._progress is None:
                self._progress = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._progress)

    async def drain(self) -> None:
        """Wait for points still being written (before a finish is judged, and at shutdown)."""
        await self.caught_up()
        if self._settling and not self._store.in_transaction():  # they wait for the caller's transaction
            await asyncio.gather(*self._settling, return_exceptions=True)

    async def touch(self, patrol_id: int, at: datetime) -> None:
        self._forget(patrol_id=patrol_id)
        await self._store.execute(
            _TOUCH,
            {"at": to_db_time(at), "now": utc_now(), "id": patrol_id},
        )
        self._written(patrol_id=patrol_id)

    async def set_live(self, patrol_id: int, *, message_id: int, until: datetime | None) -> None:
        self._forget(patrol_id=patrol_id)
        await self._store.execute(
            "UPDATE patrols SET live_message_id = ?, live_until = ?, live_stopped_at = NULL, updated_at = ?"
            " WHERE id = ?",
            (message_id, to_db_time(until) if until else None, utc_now(), patrol_id),
        )
        self._written(patrol_id=patrol_id)

    async def live_stopped(self, patrol_id: int, at: datetime) -> None:
        self._forget(patrol_id=patrol_id)
        await self._store.execute(
            "UPDATE patrols SET live_stopped_at = ?, updated_at = ? WHERE id = ? AND live_stopped_at IS NULL",
            (to_db_time(at), utc_now(), patrol_id),
        )
        self._written(patrol_id=patrol_id)

    async def points(self, patrol_id: int) -> list[TrackPoint]:
        await self.caught_up()
        rows = await self._store.fetchall(
            "SELECT at, lat, lon, accuracy_m, source FROM patrol_points WHERE patrol_id = ? ORDER BY at, id",
            (patrol_id,),
        )
        return [
            TrackPoint(from_db_time(r[0]), r[1], r[2], r[3], r[4])  # type: ignore[arg-type]
            for r in rows
        ]

    async def latest_point(self, patrol_id: int) -> TrackPoint | None:
        """The track's latest point by Telegram's time (points still queued included)."""
        await self.caught_up()
        row = await self._store.fetchone(
            "SELECT at, lat, lon, accuracy_m, source FROM patrol_points WHERE patrol_id = ?"
            " ORDER BY at DESC, id DESC LIMIT 1",
            (patrol_id,),
        )
        return None if row is None else TrackPoint(from_db_time(row[0]), row[1], row[2], row[3], row[4])  # type: ignore[arg-type]
    async def point_near(
        self, person_id: int, at: datetime, *, before: timedelta, after: timedelta
    ) -> TrackPoint | None:
        """The person's track point nearest `at`, of any of their patrols, from `before` it to `after` it: where
        they stood when a photo of theirs arrived (an after-photo without GPS of its own)."""
        await self.caught_up()
        row = await self._store.fetchone(
            "SELECT pp.at, pp.lat, pp.lon, pp.accuracy_m, pp.source FROM patrol_points pp"
            " JOIN patrols pa ON pa.id = pp.patrol_id WHERE COALESCE(pa.walked_by, pa.person_id) = ?"
            " AND pp.at BETWEEN ? AND ?"
            " ORDER BY abs(julianday(pp.at) - julianday(?)), pp.id DESC LIMIT 1",
            (person_id, to_db_time(at - before), to_db_time(at + after), to_db_time(at)),
        )
        if row is None:
            return None
        return TrackPoint(from_db_time(row[0]), row[1], row[2], row[3], row[4])  # type: ignore[arg-type]

    async def point_count(self, patrol_id: int) -> int:
        await self.caught_up()
        return int(await self._store.fetchval("SELECT count(*) FROM patrol_points WHERE patrol_id = ?", (patrol_id,)))

    async def add_photo(
        self, patrol_id: int, *, photo_id: int, file_id: str, as_document: bool, sent_at: datetime, caption: str | None
    ) -> None:
        self._forget(patrol_id=patrol_id)
        async with self._store.atomic() as conn:
            # The same message handled again (after a crash) adds nothing: same patrol, photo and time.
            await conn.execute(
                "INSERT INTO patrol_photos (patrol_id, photo_id, file_id, as_document, sent_at, caption)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM patrol_photos"
                " WHERE patrol_id = ? AND photo_id = ? AND sent_at = ?)",
                (
                    patrol_id,
                    photo_id,
                    file_id,
                    1 if as_document else 0,
                    to_db_time(sent_at),
                    caption,
                    patrol_id,
                    photo_id,
                    to_db_time(sent_at),
                ),
            )
            await conn.execute(
                _TOUCH,
                {"at": to_db_time(sent_at), "now": utc_now(), "id": patrol_id},
            )
        self._written(patrol_id=patrol_id)

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

    async def add_media(self, patrol_id: int, media: PatrolMedia) -> int:
        """Keep a voice note or video as evidence; how many the patrol has now (the same message again adds none)."""
        self._forget(patrol_id=patrol_id)
        async with self._store.atomic() as conn:
            await conn.execute(
                "INSERT INTO patrol_media (patrol_id, kind, file_id, file_unique_id, duration_s, sent_at, caption)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    patrol_id,
                    media.kind,
                    media.file_id,
                    media.file_unique_id,
                    media.duration_s,
                    to_db_time(media.sent_at),
                    media.caption,
                ),
            )
            await conn.execute(
                _TOUCH,
                {"at": to_db_time(media.sent_at), "now": utc_now(), "id": patrol_id},
            )
            count = await conn.fetchval("SELECT count(*) FROM patrol_media WHERE patrol_id = ?", (patrol_id,))
        self._written(patrol_id=patrol_id)
        return int(count or 0)

    async def media(self, patrol_id: int) -> list[PatrolMedia]:
        rows = await self._store.fetchall(
            "SELECT kind, file_id, file_unique_id, duration_s, sent_at, caption FROM patrol_media"
            " WHERE patrol_id = ? ORDER BY sent_at, id",
            (patrol_id,),
        )
        return [PatrolMedia(r[0], r[1], r[2], r[3], from_db_time(r[4]), r[5]) for r in rows]  # type: ignore[arg-type]

    async def media_count(self, patrol_id: int) -> int:
        return int(await self._store.fetchval("SELECT count(*) FROM patrol_media WHERE patrol_id = ?", (patrol_id,)))

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
        self._forget(patrol_id=patrol_id)
        async with self._store.atomic() as conn:
            # The same message handled again (after a crash) adds nothing: same patrol, time and text.
            added = (
                await conn.execute(
                    "INSERT INTO patrol_notes (patrol_id, at, text, kind) SELECT ?, ?, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM patrol_notes WHERE patrol_id = ? AND at = ? AND text = ?)",
                    (patrol_id, to_db_time(at), text, kind, patrol_id, to_db_time(at), text),
                )
                > 0
            )
            if kind == "problem" and added:
                await conn.execute("UPDATE patrols SET problem_count = problem_count + 1 WHERE id = ?", (patrol_id,))
            await conn.execute(
                _TOUCH,
                {"at": to_db_time(at), "now": utc_now(), "id": patrol_id},
            )
        self._written(patrol_id=patrol_id)

    async def notes(self, patrol_id: int) -> list[tuple[datetime, str, str]]:
        rows = await self._store.fetchall(
            "SELECT at, text, kind FROM patrol_notes WHERE patrol_id = ? ORDER BY id", (patrol_id,)
        )
        return [(from_db_time(r[0]), r[1], r[2]) for r in rows]  # type: ignore[misc]

    async def finish(self, patrol_id: int, result: Finish) -> bool:
        """Close the patrol with its figures; False when it was closed already (a second Finish)."""
        self._forget(patrol_id=patrol_id)
        try:
            return await self._finish(patrol_id, result)
        finally:
            self._written(patrol_id=patrol_id)

    async def _finish(self, patrol_id: int, result: Finish) -> bool:
        async with self._store.atomic():
            if result.coverage is not None:  # apart: a reach without a line has none to write
                await self._store.execute(
                    "UPDATE patrols SET coverage = ? WHERE id = ? AND status = 'open'", (result.coverage, patrol_id)
                )
            changed = await self._store.execute(
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
        return changed > 0

    async def open_patrols(self) -> list[PatrolRecord]:
        await self.caught_up()  # their last activity includes every point received
        rows = await self._store.fetchall("SELECT * FROM patrols WHERE status = 'open' ORDER BY id")
        return [_patrol(r) for r in rows]

    async def recent_for_person(self, person_id: int, limit: int = 10, *, walked: bool = False) -> list[PatrolRecord]:
        """The person's latest patrols: theirs (walked by them or by an assistant for them) and those they walked
        for a chief they assist; with `walked`, only those they walked themselves."""
        await self.caught_up()
        if walked:
            sql = "SELECT * FROM patrols WHERE COALESCE(walked_by, person_id) = ?"
            params: tuple[int, ...] = (person_id,)
        else:
            sql = "SELECT * FROM patrols WHERE person_id = ? UNION ALL SELECT * FROM patrols WHERE walked_by = ?"
            params = (person_id, person_id)
        rows = await self._store.fetchall(
            f"SELECT * FROM ({sql}) AS mine ORDER BY started_at DESC, id DESC LIMIT ?", (*params, limit)
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

    async def guide_sent(self, person_id: int, guide: str) -> bool:
        """Whether the person has been sent this guide."""
        found = await self._store.fetchval(
            "SELECT 1 FROM guides_sent WHERE person_id = ? AND guide = ?", (person_id, guide)
        )
        return found is not None

    async def claim_guide(self, person_id: int, guide: str) -> bool:
        """Record that the person is sent a guide; False when they were sent it before (it is sent once)."""
        return (
            await self._store.execute(
                "INSERT INTO guides_sent (person_id, guide, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (person_id, guide, utc_now()),
            )
            > 0
        )

    async def reminded(self, person_id: int, kind: str, day: str) -> bool:
        """Record a reminder for the day; False when it was already sent (a restart, a second job run)."""
        return (
            await self._store.execute(
                "INSERT INTO reminders_sent (person_id, kind, day, sent_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (person_id, kind, day, utc_now()),
            )
            > 0
        )
