"""Patrols (xunhe): start on a reach, gather a track, photos and notes, finish with a verdict.

Times come from Telegram (a message's `date`, a live location's `edit_date`), never from when the bot got the
update: after an outage updates arrive late, and a patrol walked from 08:00 to 08:40 must count 40 minutes.
All state is in the store, so a restart mid-patrol loses nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot import photos as photo_module
from bot.config import Settings
from bot.geo import BoundingBox, Point, distance_to_lines_m, lines_of
from bot.periods import Period, period_of, rule_for
from bot.validity import PhotoEvidence, Sample, Verdict, judge
from storage import Store
from storage.patrols import Finish, NewPhoto, PatrolRecord
from storage.records import AssignmentRecord, ReachRecord

# A location this far from every reach is probably a wrong GPS fix (or a test): it is kept, and questioned.
FAR_AWAY_M = 50_000.0


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    photo_id: int
    info: photo_module.PhotoInfo
    new: bool  # first time these bytes were seen


@dataclass(frozen=True, slots=True)
class Summary:
    patrol: PatrolRecord
    reach: ReachRecord | None
    verdict: Verdict
    photo_count: int
    point_count: int
    notes: int
    problems: int


@dataclass(frozen=True, slots=True)
class NearbyReach:
    reach: ReachRecord
    distance_m: float | None  # None: no geometry, listed because it is in the person's area


@dataclass(frozen=True, slots=True)
class Progress:
    """One assignment's current required period: done 0 of 1 this xun, 3 days left."""

    assignment: AssignmentRecord
    reach: ReachRecord | None
    period: Period
    required: int
    done: int
    days_left: int

    @property
    def short(self) -> bool:
        return self.done < self.required


class PatrolService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._geometry_cache: dict[int, tuple[str | None, list[list[Point]]]] = {}

    # -- choosing a reach -----------------------------------------------------------------------------

    def reach_lines(self, reach: ReachRecord) -> list[list[Point]]:
        cached = self._geometry_cache.get(reach.id)
        if cached is None or cached[0] != reach.geometry:
            cached = (reach.geometry, lines_of(reach.geometry))
            self._geometry_cache[reach.id] = cached
        return cached[1]

    async def nearest_reaches(self, point: Point, *, home_area_id: int | None, limit: int = 6) -> list[NearbyReach]:
        """Reaches by distance to their line; reaches without geometry follow, from the person's area."""
        reaches = await self._store.reaches.all()
        mapped: list[NearbyReach] = []
        unmapped: list[NearbyReach] = []
        for reach in reaches:
            if reach.bbox is None:
                if reach.area_id == home_area_id:
                    unmapped.append(NearbyReach(reach, None))
                continue
            box = BoundingBox(*reach.bbox)
            # The box is a cheap lower bound: skip the line when even the box is farther than the best so far.
            if len(mapped) >= limit and box.distance_m(point) > mapped[-1].distance_m:  # type: ignore[operator]
                continue
            distance = distance_to_lines_m(point, self.reach_lines(reach))
            mapped.append(NearbyReach(reach, distance))
            mapped.sort(key=lambda n: n.distance_m or 0.0)
            del mapped[limit:]
        return (mapped + unmapped)[:limit]

    async def distance_to_reach(self, reach: ReachRecord, point: Point) -> float | None:
        lines = self.reach_lines(reach)
        return distance_to_lines_m(point, lines) if lines else None

    # -- the patrol itself ----------------------------------------------------------------------------

    async def start(self, person_id: int, reach_id: int, at: datetime) -> tuple[PatrolRecord, bool]:
        return await self._store.patrols.start(person_id, reach_id, at)

    async def open_patrol(self, person_id: int) -> PatrolRecord | None:
        return await self._store.patrols.open_for(person_id)

    async def add_point(
        self, patrol: PatrolRecord, point: Point, at: datetime, *, accuracy_m: float | None, live: bool
    ) -> None:
        await self._store.patrols.add_point(
            patrol.id, at=at, lat=point[0], lon=point[1], accuracy_m=accuracy_m, source="live" if live else "single"
        )

    async def live_started(self, patrol: PatrolRecord, message_id: int, at: datetime, period_s: int | None) -> None:
        until = at + timedelta(seconds=period_s) if period_s and period_s < 0x7FFFFFFF else None
        await self._store.patrols.set_live(patrol.id, message_id=message_id, until=until)

    async def live_stopped(self, patrol: PatrolRecord, at: datetime) -> None:
        await self._store.patrols.live_stopped(patrol.id, at)

    async def store_photo(self, data: bytes, *, person_id: int | None) -> StoredPhoto:
        """Check, measure and keep a photo; raises `PhotoError` for anything that is not one."""
        info = await asyncio.to_thread(photo_module.analyze, data)
        existing = await self._store.photos.by_sha(info.sha256)
        if existing is not None:
            return StoredPhoto(existing.id, info, new=False)
        path = await asyncio.to_thread(photo_module.store_original, self._settings.data_dir, info, data)
        photo_id = await self._store.photos.add(
            NewPhoto(
                sha256=info.sha256,
                path=str(path.relative_to(self._settings.data_dir)),
                format=info.format,
                size_bytes=info.size_bytes,
                width=info.width,
                height=info.height,
                taken_at=info.taken_at.isoformat() if info.taken_at else None,
                gps=info.gps,
                phash=info.phash,
                bands=photo_module.hash_bands(info.phash),
                person_id=person_id,
            )
        )
        return StoredPhoto(photo_id, info, new=True)

    async def add_photo(
        self,
        patrol: PatrolRecord,
        stored: StoredPhoto,
        *,
        file_id: str,
        as_document: bool,
        at: datetime,
        caption: str | None,
    ) -> None:
        await self._store.patrols.add_photo(
            patrol.id, photo_id=stored.photo_id, file_id=file_id, as_document=as_document, sent_at=at, caption=caption
        )

    async def add_note(self, patrol: PatrolRecord, text: str, at: datetime, *, problem: bool = False) -> None:
        await self._store.patrols.add_note(patrol.id, at=at, text=text, kind="problem" if problem else "note")

    async def finish(self, patrol_id: int, *, at: datetime, reason: str) -> tuple[Summary, bool] | None:
        """End the patrol and judge it; (summary, whether this call ended it). None: no such patrol."""
        await self._store.patrols.drain()
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is None:
            return None
        if not patrol.is_open:
            return await self.summary(patrol), False
        ended_at = max(at, patrol.started_at)
        verdict = await self.judge(patrol, ended_at)
        points = await self._store.patrols.points(patrol.id)
        photos = await self._store.patrols.photos(patrol.id)
        ended = await self._store.patrols.finish(
            patrol.id,
            Finish(
                ended_at=ended_at,
                end_reason=reason,
                distance_m=verdict.distance_m,
                duration_s=verdict.duration_s,
                point_count=len(points),
                photo_count=len(photos),
                valid=verdict.valid,
                reasons=verdict.reasons,
            ),
        )
        finished = await self._store.patrols.by_id(patrol.id)
        assert finished is not None
        return await self.summary(finished), ended

    async def judge(self, patrol: PatrolRecord, ended_at: datetime) -> Verdict:
        reach = await self._store.reaches.by_id(patrol.reach_id)
        points = await self._store.patrols.points(patrol.id)
        # Points from before the start or after the end (a late live edit) are not part of the walk.
        samples = [Sample((p.lat, p.lon), p.at) for p in points if patrol.started_at <= p.at <= ended_at]
        evidence = []
        for photo in await self._store.patrols.photos(patrol.id):
            evidence.append(
                PhotoEvidence(
                    reused=await self._reused(patrol, photo.photo_id, photo.phash, photo.sent_at),
                    as_document=photo.as_document,
                    taken_at=datetime.fromisoformat(photo.taken_at) if photo.taken_at else None,
                )
            )
        return judge(
            self._settings,
            started_at=patrol.started_at,
            ended_at=ended_at,
            samples=samples,
            reach_lines=self.reach_lines(reach) if reach else [],
            photos=evidence,
        )

    async def _reused(self, patrol: PatrolRecord, photo_id: int, phash: int, sent_at: datetime) -> bool:
        """The same picture (by perceptual hash) was evidence of an earlier patrol."""
        near = [
            candidate_id
            for candidate_id, candidate_hash in await self._store.photos.candidates(photo_module.hash_bands(phash))
            if photo_module.hash_distance(candidate_hash, phash) <= photo_module.SAME_PICTURE_BITS
        ]
        return await self._store.patrols.photo_used_before(near or [photo_id], patrol_id=patrol.id, before=sent_at)

    async def summary(self, patrol: PatrolRecord) -> Summary:
        reach = await self._store.reaches.by_id(patrol.reach_id)
        notes = await self._store.patrols.notes(patrol.id)
        if patrol.is_open or patrol.valid is None:
            verdict = await self.judge(patrol, patrol.ended_at or patrol.last_activity_at)
        else:
            verdict = Verdict(patrol.valid, patrol.distance_m or 0.0, patrol.duration_s or 0, list(patrol.reasons))
        return Summary(
            patrol=patrol,
            reach=reach,
            verdict=verdict,
            photo_count=patrol.photo_count
            if patrol.photo_count is not None
            else len(await self._store.patrols.photos(patrol.id)),
            point_count=patrol.point_count
            if patrol.point_count is not None
            else await self._store.patrols.point_count(patrol.id),
            notes=sum(1 for _, _, kind in notes if kind == "note"),
            problems=sum(1 for _, _, kind in notes if kind == "problem"),
        )

    async def due_to_end(self, now: datetime) -> list[tuple[PatrolRecord, str, datetime]]:
        """Open patrols that end on their own now: (patrol, reason, when it ended).

        `max_hours` ends it PATROL_MAX_HOURS after the start; `idle` ends it at its last sign of life, once the
        live location has stopped (or lapsed) and PATROL_IDLE_MINUTES have passed in silence.
        """
        idle = timedelta(minutes=self._settings.patrol_idle_minutes)
        longest = timedelta(hours=self._settings.patrol_max_hours)
        due: list[tuple[PatrolRecord, str, datetime]] = []
        for patrol in await self._store.patrols.open_patrols():
            if now - patrol.started_at >= longest:
                due.append((patrol, "max_hours", patrol.started_at + longest))
                continue
            live_over = patrol.live_stopped_at is not None or (
                patrol.live_until is not None and patrol.live_until <= now
            )
            never_live = patrol.live_message_id is None
            if (live_over or never_live) and now - patrol.last_activity_at >= idle:
                due.append((patrol, "idle", patrol.last_activity_at))
        return due

    # -- requirements -----------------------------------------------------------------------------------

    async def progress(self, person_id: int, today: date) -> list[Progress]:
        """Each active assignment's current period: required, done (valid patrols), days left."""
        tz = self._settings.tz
        result: list[Progress] = []
        for assignment in await self._store.assignments.active_for_person(person_id):
            rule = rule_for(self._settings, assignment.level, assignment.patrol_count, assignment.patrol_period)
            period = period_of(rule.period, today)
            start = datetime.combine(period.start, datetime.min.time(), tz).astimezone(UTC)
            end = datetime.combine(period.end + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
            done = await self._store.patrols.valid_count(person_id, assignment.reach_id, start, end)
            reach = await self._store.reaches.by_id(assignment.reach_id)
            result.append(Progress(assignment, reach, period, rule.count, done, period.days_left(today)))
        return result
