"""Retention (RETENTION_YEARS): track points and original photos are kept N years, then pruned; what the rest
of the product reads from them stays.

Why this is safe for the figures: a finished patrol's distance, duration, point count, photo count and verdict
are stored on the patrol when it ends, and every tally, summary, card and export reads those (only an open or
unjudged patrol is judged from its points, and those are never pruned). Only a map reads the points, so a
simplified track (Douglas–Peucker, at most MAX_TRACK_POINTS points, detail below TOLERANCE_M dropped) is kept
on the patrol in their place. A photo keeps its row (hash, size, dimensions, EXIF time and place, perceptual
hash): duplicate and reuse detection and the evidence lists still work; only the file is removed, and whatever
would show it says so instead.

The window is whole local days: on 2026-03-05 in Asia/Shanghai, three years keep everything from 2023-03-05
00:00 (+08:00) on. A patrol is inside it when it ended inside it; a photo while it is younger than that, or
backs a patrol inside it, or a problem that is open or was closed (signed off) or dismissed inside it. A
stranger's kept report (bot.citizens) last added to before the window is forgotten: it backs no problem.

The work goes in short transactions (a few thousand points, or a hundred photos, each), so the bot keeps
answering while a first run clears years of history, and a second run at once (the CLI beside the job) only
finds what the first left.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.failures import one_record
from storage import Store
from storage.retention import DuePatrol, Lonlat, PatrolTrack, PrunedPatrol

logger = logging.getLogger(__name__)

# A simplified track: detail smaller than this many metres goes, and at most this many points stay. Fifty points
# on a walk of a few kilometres is a point every 50–100 m: the route on a map, at a hundredth of the rows.
TOLERANCE_M = 5.0
MAX_TRACK_POINTS = 50
# Work per transaction: the bot's own writes wait at most for one of these. `python -m benchmarks retention`:
# 200,000 points and 2,000 photos in 7–11 s on a busy 2-core machine; writes meanwhile waited 0.4 s at most.
POINTS_PER_TRANSACTION = 1000
PHOTOS_PER_TRANSACTION = 50
PATROLS_PER_READ = 500

EARTH_RADIUS_M = 6_371_008.8


class Phase(StrEnum):
    PATROLS = "patrols"
    PHOTOS = "photos"


# (phase, done so far, total): called after each transaction of a run that was asked for progress.
Progress = Callable[[Phase, int, int], None]


@dataclass(slots=True)
class Pruned:
    """What a run removed, or (dry run) would remove."""

    cutoff: datetime | None  # the first moment kept; None: retention is off
    dry_run: bool = False
    patrols: int = 0  # patrols whose track points went
    points: int = 0
    photos: int = 0  # photos whose original file went
    photo_bytes: int = 0
    missing_files: int = 0  # originals that were already gone from disk (their rows are marked all the same)
    kept_reports: int = 0  # strangers' kept reports nobody came back to (bot.citizens); their photos age as any


def years_back(day: date, years: int) -> date:
    """The same calendar day `years` years earlier; 29 February becomes the 28th (keeping a day more, not less)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def cutoff(now: datetime, years: int, tz: ZoneInfo) -> datetime | None:
    """The first moment kept, aware: local midnight (in `tz`) of today's local date `years` years back. None
    when `years` is 0 (keep everything)."""
    if years <= 0:
        return None
    today = now.astimezone(tz).date()
    return datetime.combine(years_back(today, years), time(0), tz)


def simplify(
    points: Sequence[Lonlat], *, tolerance_m: float = TOLERANCE_M, max_points: int = MAX_TRACK_POINTS
) -> list[Lonlat]:
    """Douglas–Peucker on (lon, lat) points, most significant split first: the first and last points always
    stay, then the point farthest from the kept line, and so on while it is farther than `tolerance_m` and fewer
    than `max_points` are kept. Distances are to the segment, not its line, so the turn of an out-and-back walk
    is kept. Metres come from a local equirectangular projection, far finer than a phone's GPS over a walk."""
    if len(points) <= 2:
        return list(points)
    lat0 = math.radians(points[0][1])
    kx = math.radians(1) * EARTH_RADIUS_M * math.cos(lat0)
    ky = math.radians(1) * EARTH_RADIUS_M
    xy = [(lon * kx, lat * ky) for lon, lat in points]
    keep = {0, len(points) - 1}
    splits: list[tuple[float, int, int, int]] = []  # (-distance, first, last, farthest)

    def consider(first: int, last: int) -> None:
        if last - first < 2:
            return
        far, at = _farthest(xy, first, last)
        if far > tolerance_m:
            heapq.heappush(splits, (-far, first, last, at))

    consider(0, len(points) - 1)
    while splits and len(keep) < max(2, max_points):
        _, first, last, at = heapq.heappop(splits)
        keep.add(at)
        consider(first, at)
        consider(at, last)
    return [points[i] for i in sorted(keep)]


def _farthest(xy: Sequence[tuple[float, float]], first: int, last: int) -> tuple[float, int]:
    """The point strictly between `first` and `last` farthest from the segment joining them: (metres, index)."""
    ax, ay = xy[first]
    bx, by = xy[last]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    best, at = -1.0, first + 1
    for i in range(first + 1, last):
        px, py = xy[i]
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
        ex, ey = px - (ax + t * dx), py - (ay + t * dy)
        d2 = ex * ex + ey * ey
        if d2 > best:
            best, at = d2, i
    return math.sqrt(best), at


def _simplified(tracks: Sequence[PatrolTrack]) -> list[PrunedPatrol]:
    return [PrunedPatrol(t.patrol_id, simplify(t.points), t.last_point_id) for t in tracks]


def _transactions(due: Sequence[DuePatrol]) -> Iterator[list[DuePatrol]]:
    """Groups of patrols of at most POINTS_PER_TRANSACTION points (one patrol, however long, at least)."""
    group: list[DuePatrol] = []
    points = 0
    for patrol in due:
        if group and points + patrol.point_count > POINTS_PER_TRANSACTION:
            yield group
            group, points = [], 0
        group.append(patrol)
        points += patrol.point_count
    if group:
        yield group


def _remove_originals(data_dir: Path, paths: Sequence[str]) -> list[bool]:
    """Delete these originals (paths relative to DATA_DIR); for each, whether a file was there. Only files
    under DATA_DIR/photos are touched, whatever a row says."""
    root = (data_dir / "photos").resolve()
    removed = []
    for relative in paths:
        target = (data_dir / relative).resolve()
        if not target.is_relative_to(root):
            logger.warning("Not removing %s: outside %s", target, root)
            removed.append(False)
            continue
        try:
            target.unlink()
        except FileNotFoundError:
            removed.append(False)
        else:
            removed.append(True)
    return removed


class RetentionService:
    """Pruning by RETENTION_YEARS: `plan` counts, `prune` removes. Both take `years` to override the setting
    (`riverbot prune --dry-run --years N` previews another window)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @property
    def enabled(self) -> bool:
        return self._settings.retention_years > 0

    def cutoff(self, now: datetime, years: int | None = None) -> datetime | None:
        """The first moment kept, in the configured time zone's days."""
        return cutoff(now, self._settings.retention_years if years is None else years, self._settings.tz)

    async def plan(self, now: datetime, *, years: int | None = None) -> Pruned:
        """What `prune` would remove now; nothing is changed."""
        cut = self.cutoff(now, years)
        result = Pruned(cut, dry_run=True)
        if cut is None:
            return result
        repo = self._store.retention
        result.patrols, result.points = await repo.count_due_patrols(cut)
        result.photos, result.photo_bytes = await repo.count_due_photos(cut)
        result.kept_reports = await self._store.kept_reports.count_before(cut)
        return result

    async def prune(self, now: datetime, *, years: int | None = None, progress: Progress | None = None) -> Pruned:
        """Remove the track points and photo originals past the window, a short transaction at a time."""
        cut = self.cutoff(now, years)
        result = Pruned(cut)
        if cut is None:
            return result
        totals = await self.plan(now, years=years) if progress is not None else None
        # A stranger's kept photos wait for them to join as long as any photo is kept, and go the same way.
        result.kept_reports = await self._store.kept_reports.prune_before(cut)
        await self._prune_patrols(cut, now, result, progress, totals.patrols if totals else 0)
        await self._prune_photos(cut, now, result, progress, totals.photos if totals else 0)
        return result

    async def _prune_patrols(
        self, cut: datetime, now: datetime, result: Pruned, progress: Progress | None, total: int
    ) -> None:
        repo = self._store.retention
        after = ("", 0)
        while due := await repo.due_patrols(cut, after=after, limit=PATROLS_PER_READ):
            after = (due[-1].ended_at, due[-1].id)
            for group in _transactions(due):
                # One track that cannot be pruned (damaged points) keeps its points till the next run; the
                # others are pruned all the same.
                with one_record(logger, "pruning the tracks of patrols %s", [p.id for p in group]):
                    tracks = await repo.tracks([p.id for p in group])
                    # The simplification is pure CPU (milliseconds for a long walk): off the event loop all the same.
                    pruned = await asyncio.to_thread(_simplified, tracks)
                    patrols, points = await repo.prune_patrols(pruned, cut, now)
                    result.patrols += patrols
                    result.points += points
                if progress is not None:
                    progress(Phase.PATROLS, result.patrols, max(total, result.patrols))

    async def _prune_photos(
        self, cut: datetime, now: datetime, result: Pruned, progress: Progress | None, total: int
    ) -> None:
        repo = self._store.retention
        after = ("", 0)
        while due := await repo.due_photos(cut, after=after, limit=PHOTOS_PER_TRANSACTION):
            after = (due[-1].created_at, due[-1].id)
            # The files go inside the transaction that marks their rows: the same bytes sent again meanwhile wait
            # for it, find the row pruned, and write the file anew (PatrolService.store_photo), so no file is
            # removed under a row that says it is there.
            async with self._store.atomic():
                marked = await repo.mark_photos_pruned([p.id for p in due], cut, now)
                removed = await asyncio.to_thread(_remove_originals, self._settings.data_dir, [p.path for p in marked])
            for photo, was_there in zip(marked, removed, strict=True):
                result.photos += 1
                if was_there:
                    result.photo_bytes += photo.size_bytes
                else:
                    result.missing_files += 1
            if progress is not None:
                progress(Phase.PHOTOS, result.photos, max(total, result.photos))
