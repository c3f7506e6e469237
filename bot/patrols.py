"""Patrols (xunhe): start on a reach, gather a track, photos and notes, finish with a verdict.

Times come from Telegram (a message's `date`, a live location's `edit_date`), never from when the bot got the
update: after an outage updates arrive late, and a patrol walked from 08:00 to 08:40 must count 40 minutes.
All state is in the store, so a restart mid-patrol loses nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from bot import photos as photo_module
from bot.config import Language, Settings
from bot.dialogs import Dialogs
from bot.failures import one_record
from bot.geo import BoundingBox, Point, coverage, distance_to_lines_m, lines_of, window_around
from bot.guides import GuideWords, guide_png
from bot.i18n import Locales
from bot.people import CHIEF, Person, person_from
from bot.periods import reminder_due
from bot.reachability import why_unreachable
from bot.tallies import Progress, TallyService
from bot.validity import PhotoEvidence, Sample, Verdict, judge, walked_m
from storage import Store
from storage.patrols import Finish, NewPhoto, PatrolMedia, PatrolRecord
from storage.records import AreaRecord, ReachRecord

CHOOSE = "patrol"  # the dialog's flow while a reach is being chosen
logger = logging.getLogger(__name__)

Patrol = PatrolRecord  # a patrol as handlers see it (they import no storage module)

# A location this far from every reach is probably a wrong GPS fix (or a test): it is kept, and questioned.
FAR_AWAY_M = 50_000.0
# The nearest-reach search looks this far around the point first, then four times as far each round: a reach is
# seldom more than a kilometre from the next, so one or two rounds mostly do.
NEAREST_FIRST_RADIUS_M = 1_000.0
NEAREST_GEOMETRY_RADIUS_M = 16_000.0  # windows up to this wide read their lines with their boxes
NEAREST_BATCH = 32  # lines measured between two looks at the best so far
# The main menu starts a patrol at once on the reach clearly nearest where the person was last seen
# (`PatrolService.quick_reach`): the next one must be this many times as far, and this much farther.
CLEAR_RATIO = 3.0
CLEAR_GAP_M = 500.0
LAST_SEEN_FOR = timedelta(days=90)
LIVE_GUIDE = "live_location"  # the picture guide's name among the guides sent (`bot.guides`)


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
    media: int = 0  # voice notes, audio and videos kept as evidence
    # The share of the reach's line walked (bot.geo.coverage); None while open or without a line.
    coverage: float | None = None
    # Walked by an assistant for the chief it counts for: their names; None: the chief walked it.
    assistant_name: str | None = None
    chief_name: str | None = None
    counted: bool = True  # False: walked by an assistant, and ASSISTANT_PATROLS_COUNT is off


@dataclass(frozen=True, slots=True)
class NearbyReach:
    reach: ReachRecord
    distance_m: float | None  # None: no geometry, listed because it is in the person's area


class Sharing(StrEnum):
    """The shapes a location takes in Telegram."""

    SINGLE = "single"  # sent once
    LIVE_START = "live_start"  # the message that starts a live location
    LIVE_EDIT = "live_edit"  # the live location moved: an edit of that message
    LIVE_STOP = "live_stop"  # an edit without live_period: the person stopped sharing, or its time ran out


def dialog_first(kind: Sharing, *, patrol_open: bool) -> bool:
    """Whether a dialog open at the same time (a problem being reported, an admin's invite) takes this location
    rather than the patrol: a live location is always the track, a new one with no patrol open never is."""
    if kind in (Sharing.LIVE_EDIT, Sharing.LIVE_STOP):
        return False
    return kind is Sharing.SINGLE or not patrol_open


def still_sharing(patrol: PatrolRecord) -> bool:
    """Whether a finished patrol's live location was still running when it ended: Telegram keeps sending it (and
    the phone keeps its GPS on) until the person stops it or its period runs out, so the card asks them to stop.
    A live location that stopped, or whose period ended before the patrol did, needs nothing."""
    if patrol.is_open or patrol.live_message_id is None or patrol.live_stopped_at is not None:
        return False
    ended = patrol.ended_at or patrol.last_activity_at
    return patrol.live_until is None or patrol.live_until > ended


class Recorded(StrEnum):
    """What a location did to the person's patrol."""

    POINT_ADDED = "point_added"  # a single location: a point, answered
    LIVE_STARTED = "live_started"  # a live location begins: a point, its message and end noted, answered
    TRACKED = "tracked"  # a live edit: a point, silently (the track)
    LIVE_STOPPED = "live_stopped"  # sharing stopped: its last position is a point; the patrol may go idle now
    AFTER_FINISH = "after_finish"  # an edit with no patrol open: the live location outlived its patrol; ignored
    NO_PATROL = "no_patrol"  # a new location with no patrol open: not kept (tell them how to start one)


@dataclass(frozen=True, slots=True)
class LocationPlan:
    outcome: Recorded
    source: str | None  # how the point is stored ("live", "single"); None: no point
    late: bool = False  # older than the patrol's last sign of life


def plan_location(kind: Sharing, patrol: PatrolRecord | None, at: datetime) -> LocationPlan:
    """What a location means for the patrol open now (None: none is).

    A late point (older than the patrol's latest, as after an outage, or from before it started) is kept all
    the same: the track is ordered by Telegram's time, and the verdict counts only the points between the start
    and the end. A point arriving after the patrol finished finds no patrol open: an edit is dropped silently,
    a new location gets a pointer to /patrol. Edits of an earlier live location go to the patrol open now.
    """
    if patrol is None:
        if kind in (Sharing.LIVE_EDIT, Sharing.LIVE_STOP):
            return LocationPlan(Recorded.AFTER_FINISH, None)
        return LocationPlan(Recorded.NO_PATROL, None)
    return _PLANS[kind, at < patrol.last_activity_at]


_RECORDED = {
    Sharing.SINGLE: Recorded.POINT_ADDED,
    Sharing.LIVE_START: Recorded.LIVE_STARTED,
    Sharing.LIVE_EDIT: Recorded.TRACKED,
    Sharing.LIVE_STOP: Recorded.LIVE_STOPPED,
}
# Every plan with a patrol open, made once: planning a live edit (the hot path) allocates nothing.
_PLANS = {
    (kind, late): LocationPlan(outcome, "single" if kind is Sharing.SINGLE else "live", late)
    for kind, outcome in _RECORDED.items()
    for late in (False, True)
}


# Telegram dates every message and edit, and a patrol runs on Telegram's clock (updates handled late, after an
# outage, keep their own times). The server's clock may lag it a little; a time further ahead than this is no
# clock's but a broken or forged client's (a live edit dated next year kept the patrol "active" until then, so
# the idle auto-finish never came). Such a time is taken as now: the update did arrive now.
FUTURE_SKEW = timedelta(minutes=2)


def not_ahead(at: datetime, now: datetime | None = None) -> datetime:
    """`at`, or `now` (the server's clock) when `at` is more than FUTURE_SKEW ahead of it."""
    now = now or datetime.now(UTC)
    return now if at - now > FUTURE_SKEW else at


@dataclass(frozen=True, slots=True)
class Fix:
    """A location as Telegram gave it."""

    point: Point
    at: datetime  # Telegram's: the message's date, or the live location's edit_date
    accuracy_m: float | None
    message_id: int
    live_period_s: int | None = None  # a live location's period (0x7FFFFFFF: until stopped)


@dataclass(frozen=True, slots=True)
class Recording:
    """What recording a location did, and what to answer with."""

    outcome: Recorded
    late: bool = False
    reach: ReachRecord | None = None
    far_m: float | None = None  # an answered point this far from its reach, beyond the allowed distance


_TRACKED = Recording(Recorded.TRACKED)
_TRACKED_LATE = Recording(Recorded.TRACKED, late=True)


def reminder_key(short: Iterable[Progress]) -> str:
    """One reminder per chief for the same set of unfinished periods: a restart or a second run the same day
    sends nothing new, and a new period (or another kind falling short) does."""
    return ",".join(sorted({f"{p.period.kind}:{p.period.start.isoformat()}" for p in short}))


@dataclass(frozen=True, slots=True)
class Reminder:
    """A chief to remind, and the periods they are short in (by reach code)."""

    chief: Person
    short: list[Progress]


@dataclass(frozen=True, slots=True)
class Reminders:
    """A day's patrol reminders: those claimed to send, and the chiefs as short whom the bot cannot reach."""

    due: list[Reminder]
    unreachable: list[Person]


@dataclass(frozen=True, slots=True)
class AutoEnd:
    """A patrol that ended on its own (`reason`: idle, max_hours), and its patrolling person."""

    summary: Summary
    reason: str
    person: Person | None
    chief: Person | None = None  # the chief an assistant walked it for, to tell


def _distance(nearby: NearbyReach) -> float:
    return math.inf if nearby.distance_m is None else nearby.distance_m


class PatrolService:
    def __init__(self, store: Store, settings: Settings, dialogs: Dialogs | None = None) -> None:
        self._store = store
        self._settings = settings
        self._dialogs = dialogs or Dialogs(store)
        self._geometry_cache: dict[int, tuple[str | None, list[list[Point]]]] = {}
        self._tallies = TallyService(store, settings)

    # -- choosing a reach -----------------------------------------------------------------------------

    def reach_lines(self, reach: ReachRecord) -> list[list[Point]]:
        return self._lines(reach.id, reach.geometry)

    def _lines(self, reach_id: int, geometry: str | None) -> list[list[Point]]:
        cached = self._geometry_cache.get(reach_id)
        if cached is None or cached[0] != geometry:
            cached = (geometry, lines_of(geometry))
            self._geometry_cache[reach_id] = cached
        return cached[1]

    async def nearest_reaches(self, point: Point, *, home_area_id: int | None, limit: int = 6) -> list[NearbyReach]:
        """Reaches by distance to their line (ties by code); reaches without geometry follow, from the person's area.

        Found through the R*Tree of the reaches' boxes (migration 0011): boxes meeting a window around the point,
        widened until the `limit` nearest are certain, so only the reaches nearby are read and measured. The
        answers are those of `nearest_reaches_scan`, which reads every reach and stays as the reference."""
        if limit <= 0:
            return []
        mapped = await self._nearest_mapped(point, limit)
        unmapped = await self._store.reaches.unmapped_in_area(home_area_id, limit - len(mapped))
        return mapped + [NearbyReach(reach, None) for reach in unmapped]

    async def _nearest_mapped(self, point: Point, limit: int) -> list[NearbyReach]:
        measured: dict[int, float] = {}  # reach id → distance to its line
        best: list[float] = []  # the `limit` smallest distances so far, negated: a max-heap

        def kth() -> float:
            return -best[0] if len(best) >= limit else math.inf

        radius = NEAREST_FIRST_RADIUS_M
        # Beyond the earth's girth the window holds every box; the bound on rounds is a guard, never reached.
        for _ in range(40):
            window = window_around(point, radius)
            # A small window's few lines come with their boxes; a wide one's (a point far from every reach) are read
            # only for the few to measure.
            small = radius <= NEAREST_GEOMETRY_RADIUS_M
            boxes = await self._store.reaches.boxes_in(
                window.min_lat, window.min_lon, window.max_lat, window.max_lon, geometry=small
            )
            # Nearest box first; a line is measured only while its box is no farther than the `limit`-th best
            # distance so far, so most lines in the window are never measured.
            bounds = sorted((BoundingBox(*box[1:5]).flat_distance_m(point), box[0], box[5]) for box in boxes)
            i = 0
            while i < len(bounds) and bounds[i][0] <= kth():
                batch: list[tuple[int, str | None]] = []
                while i < len(bounds) and bounds[i][0] <= kth() and len(batch) < NEAREST_BATCH:
                    if bounds[i][1] not in measured:
                        batch.append((bounds[i][1], bounds[i][2]))
                    i += 1
                if not small:
                    read = await self._store.reaches.geometries([reach_id for reach_id, _ in batch])
                    batch = [(reach_id, read.get(reach_id)) for reach_id, _ in batch]
                for reach_id, geometry in batch:
                    distance = distance_to_lines_m(point, self._lines(reach_id, geometry))
                    measured[reach_id] = distance
                    heapq.heappush(best, -distance)
                    if len(best) > limit:
                        heapq.heappop(best)
            # Every box outside the window is farther than `radius`, every unmeasured one inside it farther than
            # the `limit`-th best: once that is within the window, nothing unmeasured can come before it or tie.
            if kth() <= radius or window.holds_the_world():
                break
            # The answer lies within the `limit`-th best: one more window that wide settles it (when it is known).
            radius = kth() if kth() < math.inf else radius * 4
        # Only those shown (and any tied with the last) are read whole; ties go by code, as the scan has them.
        shown = [reach_id for reach_id, distance in measured.items() if distance <= kth()]
        reaches = await self._store.reaches.by_ids(shown)
        ranked = sorted((NearbyReach(r, measured[r.id]) for r in reaches), key=lambda n: (_distance(n), n.reach.code))
        return ranked[:limit]

    async def nearest_reaches_scan(
        self, point: Point, *, home_area_id: int | None, limit: int = 6
    ) -> list[NearbyReach]:
        """The reference for `nearest_reaches`: every reach read and, unless its box is already too far, measured."""
        reaches = await self._store.reaches.all()
        mapped: list[NearbyReach] = []
        unmapped: list[NearbyReach] = []
        for reach in reaches:
            if reach.bbox is None:
                if reach.area_id == home_area_id:
                    unmapped.append(NearbyReach(reach, None))
                continue
            box = BoundingBox(*reach.bbox)
            # The box is a cheap lower bound (in the lines' own measure): skip the line when even the box is
            # farther than the best so far.
            if len(mapped) >= limit and box.flat_distance_m(point) > mapped[-1].distance_m:  # type: ignore[operator]
                continue
            distance = distance_to_lines_m(point, self.reach_lines(reach))
            mapped.append(NearbyReach(reach, distance))
            mapped.sort(key=lambda n: n.distance_m or 0.0)
            del mapped[limit:]
        return (mapped + unmapped)[:limit]

    async def last_seen(self, person_id: int, now: datetime) -> Point | None:
        """Where the person was last known to be: the latest track point of their latest patrols, if it is at
        most LAST_SEEN_FOR old (an older one says little about where they stand today)."""
        for patrol in await self._store.patrols.recent_for_person(person_id, 3, walked=True):
            point = await self._store.patrols.latest_point(patrol.id)
            if point is not None:
                return (point.lat, point.lon) if now - point.at <= LAST_SEEN_FOR else None
        return None

    async def quick_reach(self, person_id: int, home_area_id: int | None, now: datetime) -> ReachRecord | None:
        """The reach the main menu's patrol button starts on at once, or None: offer the list as /patrol does.

        It is the person's only reach; or, among their reaches (all reaches, for someone without any), the one
        *clearly* nearest where they were last seen (`last_seen`): within PATROL_MAX_DISTANCE_FROM_REACH_M of
        its line, while every other candidate has a line and is at least CLEAR_RATIO times as far and CLEAR_GAP_M
        farther. A candidate with no line could be anywhere, so it leaves the choice to the person.
        """
        mine = await self.my_reaches(person_id)
        if len(mine) == 1:
            return mine[0]
        point = await self.last_seen(person_id, now)
        if point is None:
            return None
        if mine:
            candidates = [NearbyReach(r, await self.distance_to_reach(r, point)) for r in mine]
        else:
            candidates = await self.nearest_reaches(point, home_area_id=home_area_id, limit=2)
        if not candidates or any(c.distance_m is None for c in candidates):
            return None
        ranked = sorted(candidates, key=lambda c: c.distance_m or 0.0)
        nearest = ranked[0].distance_m or 0.0
        if nearest > self._settings.patrol_max_distance_from_reach_m:
            return None
        if len(ranked) > 1:
            second = ranked[1].distance_m or 0.0
            if second < nearest * CLEAR_RATIO or second < nearest + CLEAR_GAP_M:
                return None
        return ranked[0].reach

    async def distance_to_reach(self, reach: ReachRecord, point: Point) -> float | None:
        lines = self.reach_lines(reach)
        return distance_to_lines_m(point, lines) if lines else None

    # -- the registry, as a patrol (or a report) sees it ---------------------------------------------------

    async def areas(self) -> list[AreaRecord]:
        return await self._store.areas.all()

    async def area(self, area_id: int) -> AreaRecord | None:
        return await self._store.areas.by_id(area_id)

    async def reaches_in(self, area_id: int) -> list[ReachRecord]:
        return await self._store.reaches.in_area(area_id)

    async def reach(self, reach_id: int) -> ReachRecord | None:
        return await self._store.reaches.by_id(reach_id)

    async def my_reaches(self, person_id: int) -> list[ReachRecord]:
        """The reaches the person is assigned to now, by reach code."""
        reaches = []
        for assignment in await self._store.assignments.active_for_person(person_id):
            reach = await self._store.reaches.by_id(assignment.reach_id)
            if reach is not None:
                reaches.append(reach)
        return reaches

    # -- choosing the reach: a dialog, so the start is when /patrol was sent -------------------------------

    async def begin_choice(self, telegram_id: int, at: datetime) -> None:
        """The person is choosing a reach; the patrol will start at `at` (Telegram's time of /patrol)."""
        await self._dialogs.set(telegram_id, CHOOSE, "reach", {"at": not_ahead(at).isoformat()})

    async def choice_started_at(self, telegram_id: int) -> datetime | None:
        """When the choice the person is making began; None when they are not choosing a reach."""
        dialog = await self._dialogs.at(telegram_id, CHOOSE)
        if dialog is None:
            return None
        return datetime.fromisoformat(str(dialog.data.get("at")))

    async def drop_choice(self, telegram_id: int) -> None:
        await self._dialogs.clear(telegram_id, CHOOSE)

    # -- the patrol itself ----------------------------------------------------------------------------

    async def start(
        self, person_id: int, reach_id: int, at: datetime, *, for_chief: int | None = None
    ) -> tuple[PatrolRecord, bool]:
        """Open the person's patrol on the reach; with `for_chief`, the chief's, walked by the person (their
        assistant: the caller checked `AssistantService.may_walk_for`)."""
        return await self._store.patrols.start(person_id, reach_id, not_ahead(at), for_chief=for_chief)

    async def drop_if_empty(self, person_id: int, patrol_id: int) -> bool:
        """Undo a quick start on the wrong reach: the patrol goes, unless a point or evidence is in already."""
        return await self._store.patrols.discard_empty(patrol_id, person_id)

    async def open_patrol(self, person_id: int) -> PatrolRecord | None:
        return await self._store.patrols.open_for(person_id)

    async def add_point(
        self, patrol: PatrolRecord, point: Point, at: datetime, *, accuracy_m: float | None, live: bool
    ) -> None:
        await self._store.patrols.add_point(
            patrol.id,
            at=not_ahead(at),
            lat=point[0],
            lon=point[1],
            accuracy_m=accuracy_m,
            source="live" if live else "single",
        )

    async def record_location(self, patrol: PatrolRecord | None, kind: Sharing, fix: Fix) -> Recording:
        """Record a location for the patrol open now (see `plan_location`), and say what it did."""
        at = not_ahead(fix.at)
        if at is not fix.at:
            fix = replace(fix, at=at)
        plan = plan_location(kind, patrol, fix.at)
        if patrol is None or plan.source is None:
            return Recording(plan.outcome)
        await self._store.patrols.add_point(
            patrol.id, at=fix.at, lat=fix.point[0], lon=fix.point[1], accuracy_m=fix.accuracy_m, source=plan.source
        )
        if plan.outcome is Recorded.TRACKED:  # the hot path (every live edit): no new object per point
            return _TRACKED_LATE if plan.late else _TRACKED
        if plan.outcome is Recorded.LIVE_STOPPED:
            await self.live_stopped(patrol, fix.at)
            return Recording(plan.outcome, plan.late)
        reach = await self._store.reaches.by_id(patrol.reach_id)
        distance = await self.distance_to_reach(reach, fix.point) if reach is not None else None
        if plan.outcome is Recorded.LIVE_STARTED:
            await self.live_started(patrol, fix.message_id, fix.at, fix.live_period_s)
        far = distance if distance is not None and distance > self._settings.patrol_max_distance_from_reach_m else None
        return Recording(plan.outcome, plan.late, reach, far)

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
            if not await self._store.photos.seen_again(existing.id):
                # Its original was pruned (RETENTION_YEARS): these are the same bytes, so keep them again. In a
                # transaction, as pruning removes files inside its own: neither can undo the other.
                async with self._store.atomic():
                    path = await asyncio.to_thread(photo_module.store_original, self._settings.data_dir, info, data)
                    await self._store.photos.restored(existing.id, str(path.relative_to(self._settings.data_dir)))
            return StoredPhoto(existing.id, info, new=False)
        path, created = await asyncio.to_thread(photo_module.store_original_files, self._settings.data_dir, info, data)
        try:
            photo_id = await self._store.photos.add(self._new_photo(info, path, person_id))
        except BaseException:
            # Without its row nothing refers to the file (unless another chat stored the same picture meanwhile):
            # a full database must not leave orphans on the disk.
            if created and await self._store.photos.by_sha(info.sha256) is None:
                await asyncio.to_thread(photo_module.remove_files, created)
            raise
        return StoredPhoto(photo_id, info, new=True)

    def _new_photo(self, info: photo_module.PhotoInfo, path: Path, person_id: int | None) -> NewPhoto:
        return NewPhoto(
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
            patrol.id,
            photo_id=stored.photo_id,
            file_id=file_id,
            as_document=as_document,
            sent_at=not_ahead(at),
            caption=caption,
        )

    async def add_photo_to(
        self, patrol_id: int, stored: StoredPhoto, *, file_id: str, as_document: bool, at: datetime, caption: str | None
    ) -> int | None:
        """Add a kept photo to the patrol; how many it has now. None: it ended while the photo was downloading."""
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is None or not patrol.is_open:
            return None
        await self.add_photo(patrol, stored, file_id=file_id, as_document=as_document, at=at, caption=caption)
        return len(await self._store.patrols.photos(patrol.id))

    async def live_guide(self, person_id: int, locales: Locales, lang: Language) -> bytes | None:
        """The picture guide to sharing a live location (PNG, in `lang`) for a person who has not had it yet;
        None for one who has. Sent, it is marked with `live_guide_sent`: a send that fails leaves it due."""
        if await self._store.patrols.guide_sent(person_id, LIVE_GUIDE):
            return None
        return await asyncio.to_thread(guide_png, GuideWords.of(locales, lang))

    async def live_guide_sent(self, person_id: int) -> None:
        await self._store.patrols.claim_guide(person_id, LIVE_GUIDE)

    async def add_media_to(
        self,
        patrol_id: int,
        kind: str,
        *,
        file_id: str,
        file_unique_id: str,
        duration_s: int | None,
        at: datetime,
        caption: str | None,
    ) -> int | None:
        """Keep a voice note, audio or video as the patrol's evidence; how many it has now. None: it has ended.

        Only Telegram's file id is kept: it shows the person was there and can be sent on; the verdict does not
        weigh it (a recording has no trustworthy time or place of its own)."""
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is None or not patrol.is_open:
            return None
        media = PatrolMedia(kind, file_id, file_unique_id, duration_s, not_ahead(at), caption)
        return await self._store.patrols.add_media(patrol.id, media)

    async def add_note(self, patrol: PatrolRecord, text: str, at: datetime, *, problem: bool = False) -> None:
        await self._store.patrols.add_note(
            patrol.id, at=not_ahead(at), text=text, kind="problem" if problem else "note"
        )

    async def finish(self, patrol_id: int, *, at: datetime, reason: str) -> tuple[Summary, bool] | None:
        """End the patrol and judge it; (summary, whether this call ended it). None: no such patrol."""
        await self._store.patrols.drain()
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is None:
            return None
        if not patrol.is_open:
            return await self.summary(patrol), False
        ended_at = max(not_ahead(at), patrol.started_at)
        verdict = await self.judge(patrol, ended_at)
        points = await self._store.patrols.points(patrol.id)
        photos = await self._store.patrols.photos(patrol.id)
        reach = await self._store.reaches.by_id(patrol.reach_id)
        lines = self.reach_lines(reach) if reach is not None else []
        walked = [(p.lat, p.lon) for p in points if patrol.started_at <= p.at <= ended_at]
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
                coverage=coverage(lines, walked) if lines else None,
            ),
        )
        finished = await self._store.patrols.by_id(patrol.id)
        assert finished is not None
        return await self.summary(finished), ended

    async def finish_own(self, person_id: int, patrol_id: int, *, at: datetime) -> tuple[Summary, bool] | None:
        """The person's Finish: as `finish`; None when the patrol is not theirs (or gone)."""
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is None or patrol.walker != person_id:
            return None
        return await self.finish(patrol_id, at=at, reason="finished")

    async def judge(self, patrol: PatrolRecord, ended_at: datetime) -> Verdict:
        reach = await self._store.reaches.by_id(patrol.reach_id)
        points = await self._store.patrols.points(patrol.id)
        # Points from before the start or after the end (a late live edit) are not part of the walk.
        samples = [
            Sample((p.lat, p.lon), p.at, live=p.source == "live")
            for p in points
            if patrol.started_at <= p.at <= ended_at
        ]
        evidence = []
        for photo in await self._store.patrols.photos(patrol.id):
            evidence.append(
                PhotoEvidence(
                    reused=await self._reused(patrol, photo.photo_id, photo.phash, photo.sent_at),
                    as_document=photo.as_document,
                    taken_at=photo_module.read_taken_at(photo.taken_at),
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
        summary = Summary(
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
            media=await self._store.patrols.media_count(patrol.id),
            coverage=await self._coverage(patrol, reach),
        )
        if patrol.walked_by is None:
            return summary
        assistant = await self._store.people.by_id(patrol.walked_by)
        chief = await self._store.people.by_id(patrol.person_id)
        return replace(
            summary,
            assistant_name=assistant.name if assistant else "?",
            chief_name=chief.name if chief else "?",
            counted=self._settings.assistant_patrols_count,
        )

    async def so_far(self, patrol: PatrolRecord, now: datetime) -> tuple[int, float]:
        """A running patrol's seconds and metres until `now`, counted as its finish will count them (the track's
        points since the start, jitter left out); a finished patrol's own figures. Seconds run to the server's
        `now` rather than the last point: a walk with the live location still arriving is not "0 minutes"."""
        if not patrol.is_open:
            return patrol.duration_s or 0, patrol.distance_m or 0.0
        longest = patrol.started_at + timedelta(hours=self._settings.patrol_max_hours)
        end = max(patrol.last_activity_at, min(now, longest))
        track = await self._store.patrols.points(patrol.id)
        points = [(p.lat, p.lon) for p in track if patrol.started_at <= p.at <= end]
        return max(0, int((end - patrol.started_at).total_seconds())), walked_m(points)

    async def _coverage(self, patrol: PatrolRecord, reach: ReachRecord | None) -> float | None:
        """How much of the reach's length the finished patrol's track passed (None: open, or no line)."""
        if patrol.coverage is not None:  # kept at the finish: the track's points may be pruned since
            return patrol.coverage
        lines = self.reach_lines(reach) if reach is not None else []
        if patrol.is_open or patrol.ended_at is None or not lines:
            return None
        end = patrol.ended_at
        points = await self._store.patrols.points(patrol.id)
        if not points:  # finished before the coverage was kept, and its points pruned since: not known
            return None
        return coverage(lines, [(p.lat, p.lon) for p in points if patrol.started_at <= p.at <= end])

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

    async def end_due(self, now: datetime) -> list[AutoEnd]:
        """End the patrols due to end on their own (see `due_to_end`); the ones this call ended, with whom to tell."""
        ended = []
        for patrol, reason, ended_at in await self.due_to_end(now):
            with one_record(logger, "patrol %s", patrol.id):  # stays open, tried again next minute
                result = await self.finish(patrol.id, at=ended_at, reason=reason)
                if result is None or not result[1]:
                    continue
                record = await self._store.people.by_id(patrol.walker)
                person = None if record is None else person_from(self._settings, record)
                ended.append(AutoEnd(result[0], reason, person, await self.chief_to_tell(result[0])))
        return ended

    async def recent(self, person_id: int, limit: int = 10) -> list[tuple[PatrolRecord, ReachRecord | None]]:
        """The person's latest patrols, newest first, with their reaches: theirs (an assistant's for them too)
        and those they walked for a chief they assist."""
        return [
            (patrol, await self._store.reaches.by_id(patrol.reach_id))
            for patrol in await self._store.patrols.recent_for_person(person_id, limit)
        ]

    async def chief_to_tell(self, summary: Summary) -> Person | None:
        """The chief an assistant walked this patrol for: they hear of it once, at its end."""
        if summary.patrol.walked_by is None:
            return None
        record = await self._store.people.by_id(summary.patrol.person_id)
        return None if record is None else person_from(self._settings, record)

    # -- requirements -----------------------------------------------------------------------------------

    async def progress(self, person_id: int, today: date) -> list[Progress]:
        """Each active assignment's current period: required, done (valid patrols), days left; by reach code.
        The one SQL progress (`TallyService.progress`), which the digests read too."""
        return sorted(await self._tallies.progress(today, person_id=person_id), key=lambda p: p.reach_code)

    async def claim_reminders(self, today: date) -> list[Reminder]:
        """Chiefs whose current periods still lack patrols, PATROL_REMINDER_DAYS before those end, each recorded
        as reminded (so each is claimed once, whoever asks again): the job then tells them."""
        return (await self.reminders(today)).due

    async def reminders(self, today: date) -> Reminders:
        """`claim_reminders`, and the chiefs who are as short but whom the bot cannot write to: they are not
        claimed (once they can be reached, the next run reminds them), and the office counts them."""
        by_person: dict[int, list[Progress]] = defaultdict(list)
        for progress in await self._tallies.progress(today):
            by_person[progress.person_id].append(progress)
        days = self._settings.patrol_reminder_days
        due: list[Reminder] = []
        unreachable: list[Person] = []
        for record in await self._store.people.with_role(CHIEF):
            with one_record(logger, "the patrol reminder of person %s", record.id):
                chief = person_from(self._settings, record)
                mine = sorted(by_person.get(chief.id, []), key=lambda p: p.reach_code)
                short = [p for p in mine if p.short and reminder_due(p.period, today, days)]
                if not short:
                    continue
                if why_unreachable(chief) is not None:
                    unreachable.append(chief)
                elif await self._store.patrols.reminded(chief.id, "patrol", reminder_key(short)):
                    due.append(Reminder(chief, short))
        return Reminders(due, unreachable)
