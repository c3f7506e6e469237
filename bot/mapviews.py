"""The maps people get: a finished patrol's track, a new problem's place, an area's week.

Each view gathers what it shows from the store (the registry's reach lines, the track, problems), puts it in
the reader's words from locales/ (table `map`), and hands a `bot.maps.Scene` to the renderer. The scene
builders are plain functions, so the benchmark and the tests draw the same pictures without a store.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Literal

from bot import maps, units
from bot.config import Language, Settings
from bot.geo import lines_of
from bot.i18n import Locales
from bot.maps import Basemap, LatLon, LegendItem, Mark, Scene, Stroke
from bot.patrols import PatrolService, Summary
from storage import Store
from storage.problems import ProblemRecord

# A problem's map shows this much ground around it at most (metres each way), so the pin is not a dot on a
# 20 km river; nearby open problems are those inside the same box.
PROBLEM_SURROUNDINGS_M = 1200.0
PROBLEM_AT_LEAST_M = 400.0  # and at least this much, so the river around the pin shows
NEARBY_LISTED = 60
AREA_PINS = 300  # open problems drawn on an area map at most (the overdue first)

ReachStatus = Literal["met", "short", "running", "none"]
STATUS_COLOURS: dict[str, maps.Colour] = {
    "met": maps.MET,
    "short": maps.SHORT,
    "running": maps.RUNNING,
    "none": maps.NOT_REQUIRED,
}


def share(value: float) -> str:
    """A coverage as people read it: whole per cent, never 100% short of complete, never 0% once begun."""
    shown = math.floor(value * 100) if value < 1 else 100
    if shown == 0 and value > 0:
        shown = 1
    return f"{shown}%"


def _distance(locales: Locales, lang: Language) -> Callable[[float], str]:
    def shown(metres: float) -> str:
        if metres < 1000:
            return locales.plain(lang, "units.m", value=round(metres))
        return locales.plain(lang, "units.km", value=f"{metres / 1000:g}")

    return shown


# -- scenes ---------------------------------------------------------------------------------------------------


def patrol_scene(
    locales: Locales,
    lang: Language,
    *,
    reach: str,
    reach_lines: Sequence[Sequence[LatLon]],
    track: Sequence[tuple[LatLon, datetime]],
    photos: Sequence[LatLon],
    problems: Sequence[LatLon],
    started_at: datetime,
    ended_at: datetime | None,
    distance_m: float,
    coverage: float | None,
    tz: tzinfo,
) -> Scene:
    """A finished patrol: the reach's line, the track over it, start and end with their times, photos, problems."""

    def p(key: str, **params: object) -> str:
        return locales.plain(lang, f"map.{key}", **params)

    start = started_at.astimezone(tz)
    end = ended_at.astimezone(tz) if ended_at else None
    strokes = [Stroke(line, maps.WATER, 14, maps.WATER_HALO) for line in reach_lines]
    points = [point for point, _ in track]
    if points:
        strokes.append(Stroke(points, maps.TRACK, 10))
    marks = [Mark(point, maps.PHOTO, 9) for point in photos]
    marks += [Mark(point, maps.PROBLEM, 16) for point in problems]
    if points:
        marks.append(Mark(points[0], maps.START, 14, track[0][1].astimezone(tz).strftime("%H:%M")))
        if len(points) > 1:
            marks.append(Mark(points[-1], maps.END, 14, track[-1][1].astimezone(tz).strftime("%H:%M")))
    legend = [LegendItem(maps.WATER, p("legend.reach"), "line"), LegendItem(maps.TRACK, p("legend.track"), "line")]
    legend += [LegendItem(maps.START, p("legend.start")), LegendItem(maps.END, p("legend.end"))]
    if photos:
        legend.append(LegendItem(maps.PHOTO, p("legend.photo"), "dot"))
    if problems:
        legend.append(LegendItem(maps.PROBLEM, p("legend.problem_found")))
    return Scene(
        title=p("patrol_title", reach=reach),
        subtitle=p(
            "patrol_subtitle",
            date=start.strftime("%Y-%m-%d"),
            start=start.strftime("%H:%M"),
            end=end.strftime("%H:%M") if end else "…",
            distance=units.distance(locales, lang, distance_m),
        ),
        strokes=strokes,
        marks=marks,
        legend=legend,
        distance=_distance(locales, lang),
        north=p("north"),
        badge=p("coverage_badge", percent=share(coverage)) if coverage is not None else "",
        empty=p("nothing"),
    )


def problem_scene(
    locales: Locales,
    lang: Language,
    *,
    number: int,
    category: str,
    reach: str,
    reach_lines: Sequence[Sequence[LatLon]],
    point: LatLon,
    others: Sequence[LatLon],
) -> Scene:
    """A new problem: its pin on the reach, the other open problems nearby as smaller pins."""

    def p(key: str, **params: object) -> str:
        return locales.plain(lang, f"map.{key}", **params)

    box = surroundings(point)
    strokes = [Stroke(line, maps.WATER, 14, maps.WATER_HALO) for line in reach_lines]
    marks = [Mark(other, maps.OTHER_PROBLEM, 10) for other in others]
    marks.append(Mark(point, maps.PROBLEM, 20))
    near = surroundings(point, PROBLEM_AT_LEAST_M)
    shown = [q for line in reach_lines for q in line if inside(box, q)] + [point, *others]
    shown += [(near[0], near[1]), (near[2], near[3])]
    legend = [LegendItem(maps.WATER, p("legend.reach"), "line"), LegendItem(maps.PROBLEM, p("legend.this_problem"))]
    if others:
        legend.append(LegendItem(maps.OTHER_PROBLEM, p("legend.other_open"), "dot"))
    return Scene(
        title=p("problem_title", number=number, category=category),
        subtitle=reach,
        strokes=strokes,
        marks=marks,
        legend=legend,
        distance=_distance(locales, lang),
        north=p("north"),
        focus=maps.bounds(shown),
        height=maps.HEIGHT,  # square: the ground around a pin has no shape of its own
    )


@dataclass(frozen=True, slots=True)
class AreaReach:
    lines: Sequence[Sequence[LatLon]]
    status: ReachStatus


def area_scene(
    locales: Locales,
    lang: Language,
    *,
    area: str,
    period: str,
    reaches: Sequence[AreaReach],
    pins: Sequence[tuple[LatLon, bool]],
) -> Scene:
    """An area's week: each reach coloured by its patrol status, open problems as pins (overdue ones dark red)."""

    def p(key: str, **params: object) -> str:
        return locales.plain(lang, f"map.{key}", **params)

    order = {"none": 0, "met": 1, "running": 2, "short": 3}  # shortfalls drawn last, on top
    strokes = [
        Stroke(line, STATUS_COLOURS[reach.status], 10, maps.WHITE)
        for reach in sorted(reaches, key=lambda r: order[r.status])
        for line in reach.lines
    ]
    marks = [Mark(point, maps.OPEN_PIN, 10) for point, overdue in pins if not overdue]
    marks += [Mark(point, maps.OVERDUE_PIN, 13) for point, overdue in pins if overdue]
    # Only the states drawn: a "nothing required" entry on a map where every reach has a requirement misleads.
    drawn = {reach.status for reach in reaches}
    legend = [
        LegendItem(STATUS_COLOURS[status], p(f"legend.{status}"), "line")
        for status in ("met", "short", "running", "none")
        if status in drawn
    ]
    legend += [
        LegendItem(maps.OPEN_PIN, p("legend.open"), "dot"),
        LegendItem(maps.OVERDUE_PIN, p("legend.overdue")),
    ]
    return Scene(
        title=p("area_title", area=area),
        subtitle=period,
        strokes=strokes,
        marks=marks,
        legend=legend,
        distance=_distance(locales, lang),
        north=p("north"),
        empty=p("nothing"),
    )


def surroundings(point: LatLon, metres: float = PROBLEM_SURROUNDINGS_M) -> maps.Box:
    dlat = metres / 111_194.9
    dlon = dlat / max(0.01, math.cos(math.radians(point[0])))
    return point[0] - dlat, point[1] - dlon, point[0] + dlat, point[1] + dlon


def inside(box: maps.Box, point: LatLon) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def placed(moments: Sequence[datetime], track: Sequence[tuple[LatLon, datetime]]) -> list[LatLon]:
    """Where the track was at each moment (its point nearest in time): a photo has no place of its own."""
    if not track:
        return []
    times = [at.timestamp() for _, at in track]
    found = []
    for moment in moments:
        t = moment.timestamp()
        i = bisect.bisect_left(times, t)
        best = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t))
        found.append(track[best][0])
    return found


def reach_status(done: int, required: int, running: bool | None = None) -> ReachStatus:
    """A reach's colour: by the periods that ended in the week; where none ended, by its running period
    (`running` says whether that one is already done), as the summary's text and chart do."""
    if required:
        return "met" if done >= required else "short"
    if running is None:
        return "none"
    return "met" if running else "running"


# -- the service ----------------------------------------------------------------------------------------------


class MapService:
    """Draws the maps from the store; `tiles` (optional) puts a basemap under them."""

    def __init__(
        self, store: Store, settings: Settings, locales: Locales, patrols: PatrolService, tiles: Basemap | None = None
    ) -> None:
        self._store = store
        self._settings = settings
        self._locales = locales
        self._patrols = patrols
        self.tiles = tiles

    async def patrol_map(self, summary: Summary, lang: Language) -> bytes | None:
        """The finished patrol's map; None when there is nothing to draw (no reach line and no track)."""
        scene = await self.patrol_scene(summary, lang)
        return None if scene is None else (await maps.draw(scene, self.tiles)).jpeg

    async def patrol_scene(self, summary: Summary, lang: Language) -> Scene | None:
        """What `patrol_map` draws (tests project their points with `maps.viewport` of it)."""
        patrol = summary.patrol
        reach = summary.reach
        lines = self._patrols.reach_lines(reach) if reach is not None else []
        end = patrol.ended_at or patrol.last_activity_at
        points = await self._store.patrols.points(patrol.id)
        track = [((p.lat, p.lon), p.at) for p in points if patrol.started_at <= p.at <= end]
        if not lines and not track:
            return None
        photos = placed([photo.sent_at for photo in await self._store.patrols.photos(patrol.id)], track)
        problems = [(q.lat, q.lon) for q in await self._store.problems.for_patrol(patrol.id)]
        return patrol_scene(
            self._locales,
            lang,
            reach=reach.name(lang) if reach is not None else "?",
            reach_lines=lines,
            track=track,
            photos=photos,
            problems=problems,
            started_at=patrol.started_at,
            ended_at=patrol.ended_at,
            distance_m=summary.verdict.distance_m,
            coverage=summary.coverage,
            tz=self._settings.tz,
        )

    async def problem_map(self, problem: ProblemRecord, lang: Language) -> bytes:
        """A new problem's map: its pin on its reach, the other open problems nearby."""
        return (await maps.draw(await self.problem_scene(problem, lang), self.tiles)).jpeg

    async def problem_scene(self, problem: ProblemRecord, lang: Language) -> Scene:
        reach = await self._store.reaches.by_id(problem.reach_id)
        lines = self._patrols.reach_lines(reach) if reach is not None else []
        point = (problem.lat, problem.lon)
        box = surroundings(point)
        nearby = await self._store.problems.open_in_box(*box, limit=NEARBY_LISTED + 1)
        others = [(q.lat, q.lon) for q in nearby if q.id != problem.id][:NEARBY_LISTED]
        return problem_scene(
            self._locales,
            lang,
            number=problem.id,
            category=self._locales.plain(lang, f"category.{problem.category}"),
            reach=reach.name(lang) if reach is not None else "",
            reach_lines=lines,
            point=point,
            others=others,
        )

    async def area_map(
        self,
        area_id: int,
        *,
        area: str,
        period: str,
        rates: dict[int, tuple[int, int]],
        running: Mapping[int, bool] | None = None,
        lang: Language,
        today: date,
    ) -> bytes | None:
        """An area's map: `rates` are (done, required) by reach id, `running` whether each reach's running period
        is done already (reaches with one); None when nothing in the area is mapped. The pins are the problems
        open `today`, whatever the period: the legend says so."""
        scene = await self.area_scene(
            area_id, area=area, period=period, rates=rates, running=running, lang=lang, today=today
        )
        return None if scene is None else (await maps.draw(scene, self.tiles)).jpeg

    async def area_scene(
        self,
        area_id: int,
        *,
        area: str,
        period: str,
        rates: dict[int, tuple[int, int]],
        running: Mapping[int, bool] | None = None,
        lang: Language,
        today: date,
    ) -> Scene | None:
        running = running or {}
        reaches = [
            AreaReach(lines_of(reach.geometry), reach_status(*rates.get(reach.id, (0, 0)), running.get(reach.id)))
            for reach in await self._store.reaches.in_area(area_id)
            if reach.geometry
        ]
        problems = await self._store.problems.open_in_area(area_id, limit=AREA_PINS)
        pins = [((q.lat, q.lon), q.deadline is not None and q.deadline < today) for q in problems]
        if not reaches and not pins:
            return None
        return area_scene(self._locales, lang, area=area, period=period, reaches=reaches, pins=pins)

