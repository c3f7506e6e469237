"""Demo data: a synthetic, realistic history for screenshots, benchmarks and a sandbox (`riverbot demo-data`).

Small scale builds on the sample county (examples/registry: its areas and reaches, or the store's own registry
when it has one); city scale is of the order of Guangzhou's published totals (about 20,000 chiefs, 2,000,000
patrols and 150,000 problems over four years), with 165 areas and 16,000 reaches made up around 23.1 N 113.3 E;
a quarter of the reaches changed chief half-way. Province scale is six such cities of Guangdong (Guangzhou and five
more, each with its own districts and counties, 165 areas and 16,000 reaches): six times city scale in every
figure, for the PostgreSQL benchmark (`python -m benchmarks scale`).

The same seed gives the same history for the same `today`. Every chief has a diligence: the share of required
periods in which they patrol enough, so that area rates spread between about 45 and 100 %. About one patrol in
ten fails a rule and carries its reasons, as the bot would record them. Some valid patrols report a problem,
which then goes through the lifecycle (report → assign with a deadline → rectify → close; some are rejected once,
dismissed, or left open past their deadline) as far as the time until now allows. Track points are kept only for
the last three weeks' patrols, as a real store would after pruning.

Volunteers (a handful per area at small scale, about 3,000 at city scale) registered through the bot over the
years, each with a home area and one to three usual reaches there. Most patrol rarely (a few times a year, many
stop after a while), some every month or so, and one in each area and a few more go out nearly every week on
their usual day. They have no assignments; they patrol their home area's reaches (now and then a neighbouring
area's), their patrols are valid or not like chiefs', and they report problems two to three times as often per
patrol as chiefs do; those go to the reach's chief of the day and through the same lifecycle. Volunteers draw from
a random generator of their own, so adding them left the chiefs' history as it was for a given seed.

Rows are plain tuples handed to storage/demo.py in big batches: no per-row objects, so city scale stays fast. The
store may be SQLite or PostgreSQL: storage/demo.py loads each its own way.
"""

from __future__ import annotations

import json
import math
import random
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from bot.config import CATEGORIES, Settings, masked_url
from bot.geo import haversine_m, lines_of
from bot.periods import period_of
from bot.registry_import import read_files, run_import
from storage import Store
from storage import demo as bulk

Scale = Literal["small", "city", "province"]
SCALES: tuple[Scale, ...] = ("small", "city", "province")
# phase ("registry", "people", "patrols", "finishing"), done, total
Progress = Callable[[str, int, int], None]

# The sample county: package data of `examples` (examples/registry/ in a checkout, inside the wheel when installed).
# Wheels install unpacked, so the resource is a plain directory.
SAMPLE_REGISTRY = Path(str(resources.files("examples") / "registry"))
TRACK_DAYS = 21
CITY_CENTER = (23.13, 113.30)
# Volunteers per area (inclusive range), by scale.
VOLUNTEERS_PER_AREA: dict[Scale, tuple[int, int]] = {"small": (4, 7), "city": (10, 26), "province": (10, 26)}
AREAS_PER_CITY = 165
REACHES_PER_CITY = 16_000

_EPOCH = date(1970, 1, 1).toordinal()
_DAY = 86_400


class DemoError(Exception):
    """The store is not fresh, or the base registry cannot be read: a localized key and its parameters."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(slots=True)
class DemoReport:
    scale: Scale
    first: date
    last: date
    areas: int = 0
    reaches: int = 0
    chiefs: int = 0
    admins: int = 0
    volunteers: int = 0
    assignments: int = 0
    patrols: int = 0
    invalid: int = 0
    points: int = 0
    volunteer_patrols: int = 0
    problems: int = 0
    volunteer_reports: int = 0
    events: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# -- names -------------------------------------------------------------------------------------------------

# Chinese names, places and report texts: data kept with the locales (every Chinese word lives there).
_CONTENT: dict[str, Any] = tomllib.loads(
    resources.files("locales").joinpath("demo_content.toml").read_text(encoding="utf-8")
)
_SURNAMES: str = _CONTENT["surnames"]
_GIVEN: str = _CONTENT["given"]
# Syllables for place names, with their pinyin for the English names.
_SYLLABLES: list[tuple[str, str]] = [(zh, en) for zh, en in _CONTENT["syllables"]]
_DISTRICTS: list[tuple[str, str, str]] = [(code, zh, en) for code, zh, en in _CONTENT["districts"]]
_DESCRIPTIONS: dict[str, list[str]] = _CONTENT["descriptions"]
_NAMES: dict[str, str] = _CONTENT["names"]
_NOTES: dict[str, str] = _CONTENT["notes"]


@dataclass(frozen=True, slots=True)
class _City:
    """A city of made-up areas: `code` and `name` prefix its areas' codes and names (empty at city scale, where
    they read as they always did); areas' centres are drawn from the box `lat`, `lon` (offsets from `centre`)."""

    code: str
    name: str
    name_en: str
    centre: tuple[float, float]
    lat: tuple[float, float]
    lon: tuple[float, float]
    districts: tuple[tuple[str, str, str], ...]  # code, full Chinese name, pinyin


_GUANGZHOU_DISTRICTS = tuple((code, _NAMES["district"].format(district=zh), en) for code, zh, en in _DISTRICTS)
_CITY = _City("", "", "", CITY_CENTER, (-0.45, 0.5), (-0.35, 0.55), _GUANGZHOU_DISTRICTS)
_PROVINCE = (
    _City("GZ", _NAMES["guangzhou"], "Guangzhou", CITY_CENTER, _CITY.lat, _CITY.lon, _GUANGZHOU_DISTRICTS),
    *(
        _City(
            c["code"],
            c["name"],
            c["en"],
            (float(c["centre"][0]), float(c["centre"][1])),
            (-0.25, 0.25),
            (-0.25, 0.25),
            tuple((code, zh, en) for code, zh, en in c["districts"]),
        )
        for c in _CONTENT["cities"]
    ),
)
_CATEGORY_WEIGHTS = (8, 3, 12, 7, 8, 30, 10, 5, 7, 10)  # in CATEGORIES order
_LEVEL_WEIGHTS = {"city": 6, "county": 24, "town": 42, "village": 28}
_INVALID_KINDS = ("too_short", "too_little_distance", "far_from_reach", "photo_reused", "too_fast")
_INVALID_WEIGHTS = (40, 25, 15, 10, 10)
_PHONE_PREFIXES = ("38", "39", "50", "58", "86", "87", "37", "35")


def _person_name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.75 else "")
    return rng.choice(_SURNAMES) + given


def _place(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(_SYLLABLES, 2)
    return a[0] + b[0], a[1] + b[1].lower()


# -- time --------------------------------------------------------------------------------------------------


class _Clock:
    """UTC seconds since the epoch → stored text, with the day part cached: strftime per row is too slow."""

    def __init__(self, first: date, last: date, offset_s: int) -> None:
        self.offset_s = offset_s
        self._d0 = first.toordinal() - _EPOCH - 2
        count = last.toordinal() - first.toordinal() + 5
        self._days = [date.fromordinal(self._d0 + _EPOCH + i).isoformat() for i in range(count)]

    def local_seconds(self, day: int, seconds_of_day: int) -> int:
        """A local day's ordinal and a local time of day → UTC seconds."""
        return (day - _EPOCH) * _DAY + seconds_of_day - self.offset_s

    def text(self, t: int) -> str:
        d, r = divmod(t, _DAY)
        h, r = divmod(r, 3600)
        m, s = divmod(r, 60)
        return f"{self._days[d - self._d0]}T{h:02d}:{m:02d}:{s:02d}Z"

    def local_day(self, t: int) -> int:
        return (t + self.offset_s) // _DAY + _EPOCH


# -- the generator -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Reach:
    id: int
    area_id: int
    level: str
    line: list[tuple[float, float]]  # (lat, lon)
    length_m: float


@dataclass(slots=True)
class _Volunteer:
    id: int
    usual: list[_Reach]  # one to three reaches near home
    home: list[_Reach]  # every reach of the home area (shared)
    near: list[_Reach]  # the neighbouring areas' reaches (shared)
    weekly: bool
    rate: float  # weekly: the chance of going out in a given week; otherwise patrols a day
    weekday: int  # weekly: their usual day (0 = Monday)
    hour: int  # weekly: their usual hour
    joined: int  # the first day they may patrol (ordinal)
    until: int  # the last day they patrol (ordinal): many stop after a while


async def generate(
    store: Store,
    settings: Settings,
    *,
    scale: Scale,
    seed: int = 1,
    years: int = 4,
    now: datetime | None = None,
    progress: Progress | None = None,
    fraction: float = 1.0,
) -> DemoReport:
    """Fill a fresh store. Raises DemoError (nothing written) when it already holds patrols or problems.

    `fraction` scales a city's areas and reaches (city and province scale), for quick runs of the benchmarks."""
    started = time.monotonic()
    if await bulk.has_history(store):
        raise _not_empty(store, "cli.demo-data.not_fresh")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = now.astimezone(settings.tz).date()
    first = _months_back(today, 12 * years)
    offset = settings.tz.utcoffset(datetime(today.year, today.month, today.day))
    clock = _Clock(first, today, int(offset.total_seconds()) if offset else 0)
    report = DemoReport(scale, first, today)
    rng = random.Random(seed)
    say = progress or (lambda phase, done, total: None)

    writer = bulk.bulk_writer(store)
    stamp0 = clock.text(clock.local_seconds(first.toordinal(), 8 * 3600))
    if scale == "small":
        if not await bulk.has_registry(store):
            await _import_sample(store, settings, today)
        rows = await bulk.reaches(store)
        if not rows:
            raise DemoError("cli.demo-data.no_reaches")
    elif await bulk.has_registry(store):
        raise _not_empty(store, "cli.demo-data.has_registry")
    await writer.begin()
    try:
        if scale == "small":
            reaches = _reaches(rows)
        else:
            cities = (_CITY,) if scale == "city" else _PROVINCE
            reaches = await _registry(writer, rng, stamp0, report, cities, fraction=fraction)
        say("registry", 1, 1)
        await _history(
            store, settings, writer, rng, clock=clock, reaches=reaches, report=report, now=now, first=first,
            today=today, stamp0=stamp0, say=say, vrng=random.Random(f"{seed}:volunteers"),
            volunteers_per_area=VOLUNTEERS_PER_AREA[scale],
        )  # fmt: skip
        say("finishing", 0, 1)
        await writer.finish()
    except BaseException:
        await writer.abort()
        raise
    say("finishing", 1, 1)
    report.areas = int(await store.fetchval("SELECT count(*) FROM areas"))
    report.reaches = len(reaches)
    report.points = writer.written["patrol_points"]
    report.events = writer.written["problem_events"]
    report.seconds = time.monotonic() - started
    return report


async def city_registry(store: Store, *, seed: int = 1, now: datetime | None = None) -> int:
    """The city-scale registry alone (areas and reaches, as `generate` makes them for the same seed), for
    benchmarks that need the registry but none of the history; returns the reaches written."""
    if await bulk.has_registry(store):
        raise _not_empty(store, "cli.demo-data.has_registry")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    writer = bulk.bulk_writer(store)
    today = (now or datetime.now(UTC)).date()
    await writer.begin()
    try:
        reaches = await _registry(writer, random.Random(seed), stamp, DemoReport("city", today, today), (_CITY,))
        await writer.finish()
    except BaseException:
        await writer.abort()
        raise
    return len(reaches)


def _not_empty(store: Store, key: str) -> DemoError:
    """Demo data needs a fresh store: the SQLite file to move aside, or the PostgreSQL database (no password)."""
    if store.dialect == "postgresql":
        return DemoError(f"{key}_postgres", url=masked_url(str(store.engine.url)))  # type: ignore[attr-defined]
    return DemoError(key, path=str(store.path))


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _reaches(rows: list[tuple[Any, ...]]) -> list[_Reach]:
    """The registry's reaches, each with a line to walk. A reach without geometry (a ditch not yet surveyed) gets
    a short line of its length made up beside one of its area's mapped reaches (any mapped reach when its area
    has none), so that its tracks and problems lie in the county, where a map would look for them."""
    mapped: dict[int, list[list[tuple[float, float]]]] = {}
    for _, area_id, _, geometry, _ in rows:
        lines = lines_of(geometry) if geometry else []
        if lines:
            mapped.setdefault(int(area_id), []).append(max(lines, key=len))
    everywhere = [line for lines in mapped.values() for line in lines]
    reaches: list[_Reach] = []
    for reach_id, area_id, level, geometry, length_km in rows:
        lines = lines_of(geometry) if geometry else []
        if lines:
            line = max(lines, key=len)
        else:
            beside = mapped.get(int(area_id)) or everywhere
            length = float(length_km) * 1000 if length_km else 1000.0
            line = _beside(random.Random(f"unmapped:{reach_id}"), beside, length) if beside else _fallback_line()
        length_m = float(length_km) * 1000 if length_km else _length(line)
        reaches.append(_Reach(int(reach_id), int(area_id), str(level), line, length_m))
    return reaches


def _fallback_line() -> list[tuple[float, float]]:
    """A registry with no geometry at all has no place of its own: the city-scale centre stands in."""
    return [(CITY_CENTER[0], CITY_CENTER[1]), (CITY_CENTER[0] + 0.01, CITY_CENTER[1])]


def _beside(
    rng: random.Random, lines: list[list[tuple[float, float]]], length_m: float
) -> list[tuple[float, float]]:
    """A gently bending line of `length_m`, starting 300-800 m from a point on one of `lines`."""
    anchor = rng.choice(lines)
    lat, lon = _along(anchor, rng.uniform(0, len(anchor) - 1))
    metres = 1 / 111_320  # degrees of latitude in a metre
    away, bearing = rng.uniform(300, 800), rng.uniform(0, 2 * math.pi)
    lat += away * metres * math.sin(bearing)
    lon += away * metres * math.cos(bearing) / math.cos(math.radians(lat))
    heading = rng.uniform(0, 2 * math.pi)
    points = [(lat, lon)]
    for _ in range(4):
        heading += rng.uniform(-0.3, 0.3)
        step = length_m / 4 * metres
        lat += step * math.sin(heading)
        lon += step * math.cos(heading) / math.cos(math.radians(lat))
        points.append((lat, lon))
    return points


def _length(line: list[tuple[float, float]]) -> float:
    return sum(haversine_m(line[i - 1], line[i]) for i in range(1, len(line)))


async def _import_sample(store: Store, settings: Settings, today: date) -> None:
    batch = read_files([SAMPLE_REGISTRY / "areas.csv", SAMPLE_REGISTRY / "reaches.geojson"])
    if batch.file_errors or not batch.files:
        raise DemoError("cli.demo-data.no_sample", path=str(SAMPLE_REGISTRY))
    report = await run_import(store, settings, batch, today=today)
    if not report.written:
        raise DemoError("cli.demo-data.no_sample", path=str(SAMPLE_REGISTRY))


async def _registry(
    writer: bulk.BulkLoad,
    rng: random.Random,
    stamp: str,
    report: DemoReport,
    cities: tuple[_City, ...],
    *,
    fraction: float = 1.0,
) -> list[_Reach]:
    """Each city's 165 towns and subdistricts (areas) spread over its districts, 16,000 reaches among them (or
    `fraction` of both). At city scale, Guangzhou's eleven districts, fifteen areas each."""
    reaches: list[_Reach] = []
    area_id = 0
    size = (max(1, round(AREAS_PER_CITY * fraction)), max(1, round(REACHES_PER_CITY * fraction)))
    for city in cities:
        area_id = await _city_registry(writer, rng, stamp, city, area_id=area_id, reaches=reaches, size=size)
    report.areas = area_id
    return reaches


async def _city_registry(
    writer: bulk.BulkLoad,
    rng: random.Random,
    stamp: str,
    city: _City,
    *,
    area_id: int,
    reaches: list[_Reach],
    size: tuple[int, int],
) -> int:
    """One city's areas and reaches (`size`: how many of each), ids following `area_id` and `reaches`; returns
    the last area id."""
    levels = list(_LEVEL_WEIGHTS)
    level_weights = list(_LEVEL_WEIGHTS.values())
    area_rows: list[bulk.Row] = []
    towns: dict[int, str] = {}  # area id → its own name (place and kind), which some reaches' names begin with
    centers: list[tuple[int, str, float, float]] = []
    areas, reaches_total = size
    per_district, extra = divmod(areas, len(city.districts))
    in_city = f", {city.name_en}" if city.name_en else ""
    for d, (code, district_zh, district_en) in enumerate(city.districts):
        for k in range(1, per_district + (d < extra) + 1):
            area_id += 1
            zh, en = _place(rng)
            town = rng.random() < 0.55
            kind_zh = _NAMES["town"] if town else _NAMES["subdistrict"]
            area_code = f"{city.code}{code}{k:02d}"
            area_rows.append(
                (
                    area_id,
                    area_code,
                    _NAMES["area"].format(city=city.name, district=district_zh, place=zh, kind=kind_zh),
                    f"{en} {'Town' if town else 'Subdistrict'}, {district_en}{in_city}",
                    stamp,
                    stamp,
                )
            )
            towns[area_id] = zh + kind_zh
            lat = city.centre[0] + rng.uniform(*city.lat)
            lon = city.centre[1] + rng.uniform(*city.lon)
            centers.append((area_id, area_code, lat, lon))
    await writer.add("areas", area_rows)
    reach_rows: list[bulk.Row] = []
    first_id = len(reaches) + 1
    for i in range(reaches_total):
        area_id_i, area_code, lat0, lon0 = centers[i % len(centers)]
        number = i // len(centers) + 1
        level = rng.choices(levels, level_weights)[0]
        zh, en = _place(rng)
        kind = rng.random()
        if kind < 0.15:
            name_zh, name_en = _NAMES["numbered_river"].format(number=number), f"River No. {number}"
        elif kind < 0.6:
            name_zh, name_en = _NAMES["creek"].format(place=zh), f"{en} Creek"
        else:
            name_zh, name_en = _NAMES["river"].format(place=zh), f"{en} River"
        if level in ("town", "village") and rng.random() < 0.3:
            name_zh = f"{towns[area_id_i]}{name_zh}"
        line = _meander(rng, lat0 + rng.uniform(-0.04, 0.04), lon0 + rng.uniform(-0.04, 0.04))
        length_m = _length(line)
        lats = [p[0] for p in line]
        lons = [p[1] for p in line]
        geometry = json.dumps(
            {"type": "LineString", "coordinates": [[round(p[1], 6), round(p[0], 6)] for p in line]},
            separators=(",", ":"),
        )
        reach_id = first_id + i
        reach_rows.append(
            (
                reach_id,
                f"{area_code}-{number:03d}",
                name_zh,
                name_en,
                area_id_i,
                level,
                round(length_m / 1000, 2),
                "black_odorous" if rng.random() < 0.04 else "",
                geometry,
                min(lats),
                min(lons),
                max(lats),
                max(lons),
                stamp,
                stamp,
            )
        )
        reaches.append(_Reach(reach_id, area_id_i, level, line, length_m))
    await writer.add("reaches", reach_rows)
    await writer.flush()
    return area_id


def _meander(rng: random.Random, lat: float, lon: float) -> list[tuple[float, float]]:
    heading = rng.uniform(0, 2 * math.pi)
    points = [(lat, lon)]
    for _ in range(rng.randint(7, 15)):
        heading += rng.uniform(-0.45, 0.45)
        step = rng.uniform(0.0025, 0.006)
        lat += step * math.sin(heading)
        lon += step * math.cos(heading) / math.cos(math.radians(lat))
        points.append((lat, lon))
    return points


def _periods(kind: str, first: date, last: date) -> dict[int, list[tuple[int, int]]]:
    """Required periods from `first` to `last` as (first day, last day) ordinals, by the month index they start
    in (clipped to `first`)."""
    found: dict[int, list[tuple[int, int]]] = {}
    period = period_of(kind, first)
    while period.start <= last:
        start = max(period.start, first)
        found.setdefault(start.year * 12 + start.month - 1, []).append((start.toordinal(), period.end.toordinal()))
        period = period.next()
    return found


def _volunteers(
    rng: random.Random,
    settings: Settings,
    clock: _Clock,
    *,
    reaches: list[_Reach],
    admins: dict[int, int],
    first_ord: int,
    today_ord: int,
    person_id: int,
    registration_id: int,
    per_area: tuple[int, int],
    people: list[bulk.Row],
    roles: list[bulk.Row],
    registrations: list[bulk.Row],
) -> list[_Volunteer]:
    """Volunteers of every area, registered through the bot as it would have recorded it: the person, an approved
    registration (decided by the area's admin when VOLUNTEER_APPROVAL=admin) and the volunteer role. Rows are
    appended to `people`, `roles` and `registrations`; ids start at `person_id` and `registration_id`."""
    by_area: dict[int, list[_Reach]] = {}
    for reach in reaches:
        by_area.setdefault(reach.area_id, []).append(reach)
    centres = {
        area: (
            sum(r.line[len(r.line) // 2][0] for r in rs) / len(rs),
            sum(r.line[len(r.line) // 2][1] for r in rs) / len(rs),
        )
        for area, rs in by_area.items()
    }
    near: dict[int, list[_Reach]] = {}
    for area, (lat, lon) in centres.items():
        scale = math.cos(math.radians(lat)) ** 2
        closest = sorted(
            (b for b in centres if b != area),
            key=lambda b: (centres[b][0] - lat) ** 2 + (centres[b][1] - lon) ** 2 * scale,
        )
        near[area] = [r for b in closest[:2] for r in by_area[b]]
    auto = settings.volunteer_approval == "auto"
    found: list[_Volunteer] = []
    for area in sorted(by_area):
        home = by_area[area]
        for k in range(rng.randint(*per_area)):
            name = _person_name(rng)
            if k == 0:  # every area has one stalwart, there from the first months and still going
                weekly, occasional = True, False
                day = first_ord + rng.randint(0, 120)
                until = today_ord
            else:
                kind = rng.random()
                weekly, occasional = kind < 0.06, 0.06 <= kind < 0.3
                day = first_ord + rng.randint(0, 30) if rng.random() < 0.2 else rng.randint(first_ord, today_ord - 7)
                stops = 0.25 if weekly else 0.4 if occasional else 0.6
                until = rng.randint(min(day + 60, today_ord), today_ord) if rng.random() < stops else today_ord
            if weekly:
                rate = rng.uniform(0.65, 0.9)
            elif occasional:
                rate = 1 / rng.uniform(14, 45)
            else:
                rate = 1 / rng.uniform(60, 240)
            anchor = rng.choice(home)
            a_lat, a_lon = anchor.line[len(anchor.line) // 2]
            usual = sorted(
                home,
                key=lambda r: (r.line[len(r.line) // 2][0] - a_lat) ** 2 + (r.line[len(r.line) // 2][1] - a_lon) ** 2,
            )[: rng.randint(1, 3)]
            weekday = rng.choices(range(7), (1, 1, 1, 1, 1, 3, 4))[0]
            hour = rng.choice((7, 8, 9, 16, 17))
            registered = clock.local_seconds(day, rng.randint(8 * 3600, 22 * 3600))
            opened = clock.text(registered - rng.randint(60, 900))  # /start, then name, area and phone
            pid = person_id + len(found)
            phone = (
                f"+861{_PHONE_PREFIXES[pid % len(_PHONE_PREFIXES)]}{(pid * 5_237_111 + 3_000_017) % 100_000_000:08d}"
                if rng.random() < 0.65
                else None
            )  # shared as a Telegram contact, or skipped
            registered_text = clock.text(registered)
            people.append((pid, name, phone, area, 1, opened, registered_text))
            if auto:
                registrations.append(
                    (registration_id + len(found), pid, name, area, phone, "approved", None, None, registered_text)
                )
                roles.append((pid, "volunteer", None, registered_text, None))
                approved = registered
            else:
                approved = registered + rng.randint(1800, 2 * _DAY)
                decided = clock.text(approved)
                registrations.append(
                    (registration_id + len(found), pid, name, area, phone, "approved", admins[area], decided,
                     registered_text)
                )  # fmt: skip
                roles.append((pid, "volunteer", None, decided, admins[area]))
            joined = clock.local_day(approved) + 1
            found.append(
                _Volunteer(pid, usual, home, near[area], weekly, rate, weekday, hour, joined, max(until, joined))
            )
    return found


def _volunteer_patrols(
    rng: random.Random,
    settings: Settings,
    clock: _Clock,
    volunteer: _Volunteer,
    *,
    lo: int,
    hi: int,
    raw: list[tuple[int, int, int, int, int, int, str, int, int]],
) -> None:
    """A volunteer's patrols from day `lo` to `hi` (ordinals), appended to `raw` marked as a volunteer's: 1 on a
    weekly round, 2 otherwise."""
    kind = 1 if volunteer.weekly else 2
    outings: list[int] = []  # start, UTC seconds
    if volunteer.weekly:
        day = lo + (volunteer.weekday - (lo - 1) % 7) % 7  # ordinal 1 was a Monday
        while day <= hi:
            if rng.random() < volunteer.rate:
                on = day if rng.random() < 0.8 else min(hi, max(lo, day + rng.randint(-3, 3)))
                at = volunteer.hour * 3600 + rng.randint(-1800, 2700)
                outings.append(clock.local_seconds(on, at))
            day += 7
    else:
        # Poisson by inversion: a handful a month at most.
        expected = volunteer.rate * (hi - lo + 1)
        n, p, u = 0, math.exp(-expected), rng.random()
        total = p
        while u > total:
            n += 1
            p *= expected / n
            total += p
        for _ in range(n):
            on = rng.randint(lo, hi)
            if (on - 1) % 7 < 5 and rng.random() < 0.5:  # more often at the weekend
                on = rng.randint(lo, hi)
            if (on - 1) % 7 >= 5:
                at = rng.randint(7 * 3600, 17 * 3600 + 1800)
            elif rng.random() < 0.5:
                at = rng.randint(6 * 3600 + 1800, 8 * 3600 + 1800)
            else:
                at = rng.randint(17 * 3600, 19 * 3600 + 1800)
            outings.append(clock.local_seconds(on, at))
    for start_s in outings:
        pick = rng.random()
        if pick < 0.75:
            reach = rng.choice(volunteer.usual)
        elif pick < 0.9 or not volunteer.near:
            reach = rng.choice(volunteer.home)
        else:
            reach = rng.choice(volunteer.near)
        if rng.random() < 0.1:
            duration, distance, reasons = _invalid(rng, settings)
            valid = 0
        else:
            duration = rng.randint(20 * 60, 90 * 60)
            distance = int(duration * rng.uniform(0.6, 1.3))
            reasons, valid = "[]", 1
        photos = rng.randint(1, 3)
        raw.append((start_s, volunteer.id, reach.id, duration, distance, valid, reasons, photos, kind))


async def _history(
    store: Store,
    settings: Settings,
    writer: bulk.BulkLoad,
    rng: random.Random,
    *,
    clock: _Clock,
    reaches: list[_Reach],
    report: DemoReport,
    now: datetime,
    first: date,
    today: date,
    stamp0: str,
    say: Progress,
    vrng: random.Random,
    volunteers_per_area: tuple[int, int],
) -> None:
    rnd = rng.random
    randint = rng.randint
    uniform = rng.uniform
    first_ord, today_ord = first.toordinal(), today.toordinal()
    now_s = int(now.timestamp())
    track_from = clock.local_seconds(today_ord - TRACK_DAYS, 0)
    reach_by_id = {r.id: r for r in reaches}
    areas = sorted({r.area_id for r in reaches})

    # People: one chief per reach, a second one for about one reach in four (the first left half-way), and an
    # office admin for every ten areas.
    person_id = await writer.next_id("people")
    assignment_id = await writer.next_id("assignments")
    people: list[bulk.Row] = []
    roles: list[bulk.Row] = []
    assignment_rows: list[bulk.Row] = []
    registration_rows: list[bulk.Row] = []
    # (assignment id, person, reach id, rule index, first day, last day, diligence)
    assignments: list[tuple[int, int, int, int, int, int, float]] = []
    rules = {level: settings.patrol_rules[level] for level in settings.patrol_rules}
    rule_keys = sorted({(rule.count, rule.period) for rule in rules.values()})
    area_mood = {a: uniform(0.78, 1.04) for a in areas}
    admins: dict[int, int] = {}
    prefixes = _PHONE_PREFIXES

    def person(name: str, area_id: int) -> int:
        nonlocal person_id
        pid = person_id
        person_id += 1
        phone = f"1{prefixes[pid % len(prefixes)]}{(pid * 7_368_787 + 1_000_003) % 100_000_000:08d}"
        people.append((pid, name, phone, area_id, 1, stamp0, stamp0))
        return pid

    for index, area in enumerate(areas):
        if index % 10 == 0:
            admin = person(_person_name(rng), area)
            roles.append((admin, "admin", None, stamp0, None))
            report.admins += 1
        admins[area] = admin
    chief_spans: dict[int, list[tuple[int, int, int]]] = {}  # reach id → (first day, last day, chief)
    for reach in reaches:
        rule = rules[reach.level]
        key = rule_keys.index((rule.count, rule.period))
        spans = [(first_ord, today_ord)]
        if rnd() < 0.25:
            switch = randint(first_ord + 120, today_ord - 60)
            spans = [(first_ord, switch - 1), (switch, today_ord)]
        for start, end in spans:
            chief = person(_person_name(rng), reach.area_id)
            roles.append((chief, "chief", reach.level, stamp0, None))
            report.chiefs += 1
            ends_on = None if end == today_ord else date.fromordinal(end).isoformat()
            created = clock.text(clock.local_seconds(start, 8 * 3600))
            assignment_rows.append(
                (assignment_id, chief, reach.id, reach.level, date.fromordinal(start).isoformat(), ends_on,
                 created, created)
            )  # fmt: skip
            diligence = min(1.0, area_mood[reach.area_id] * uniform(0.55, 1.0))
            assignments.append((assignment_id, chief, reach.id, key, start, end, diligence))
            chief_spans.setdefault(reach.id, []).append((start, end, chief))
            assignment_id += 1
    volunteers = _volunteers(
        vrng, settings, clock, reaches=reaches, admins=admins, first_ord=first_ord, today_ord=today_ord,
        person_id=person_id, registration_id=await writer.next_id("registrations"), per_area=volunteers_per_area,
        people=people, roles=roles, registrations=registration_rows,
    )  # fmt: skip
    person_id += len(volunteers)
    report.volunteers = len(volunteers)
    await writer.add("people", people)
    await writer.add("person_roles", roles)
    await writer.add("registrations", registration_rows)
    await writer.add("assignments", assignment_rows)
    await writer.flush()
    report.assignments = len(assignments)
    say("people", 1, 1)
    chiefs_of_area: dict[int, list[int]] = {}
    for a in assignments:
        chiefs_of_area.setdefault(reach_by_id[a[2]].area_id, []).append(a[1])

    periods = [_periods(period, first, today) for _, period in rule_keys]
    counts = [count for count, _ in rule_keys]
    month0 = first.year * 12 + first.month - 1
    months = today.year * 12 + today.month - 1 - month0 + 1
    patrol_id = await writer.next_id("patrols")
    problem_id = await writer.next_id("problems")
    deadline_days = {c: settings.problem_deadline_overrides.get(c, settings.problem_deadline_days) for c in CATEGORIES}
    categories = list(CATEGORIES)
    statuses: dict[str, int] = {}
    # Reports per valid patrol: chiefs, volunteers on their weekly round (the same river, week after week), other
    # volunteers (out to look for problems, and readier to report them).
    problem_rates = (0.088, 0.16, 0.3)
    yesterday = today_ord - 1

    def chief_on(reach_id: int, day: int) -> int:
        """The reach's chief of the day, to whom a volunteer's report is routed."""
        spans = chief_spans[reach_id]
        for start, end, holder in spans:
            if start <= day <= end:
                return holder
        return spans[-1][2]

    for m in range(months):
        raw: list[tuple[int, int, int, int, int, int, str, int, int]] = []
        for _, chief, reach_id, key, a_start, a_end, diligence in assignments:
            for p_start, p_end in periods[key].get(month0 + m, ()):
                lo = max(p_start, a_start)
                hi = min(p_end, a_end, yesterday)
                if lo > hi:
                    continue
                need = counts[key]
                valid_n = need if rnd() < diligence else randint(0, need - 1)
                if rnd() < 0.07:
                    valid_n += 1
                invalid_n = 1 if rnd() < 0.12 else 0
                for n in range(valid_n + invalid_n):
                    valid = int(n < valid_n)
                    day = randint(lo, hi)
                    start_s = clock.local_seconds(day, randint(7 * 3600, 18 * 3600 + 1800))
                    if valid:
                        duration = randint(15 * 60, 100 * 60)
                        distance = int(duration * uniform(0.7, 1.5))
                        reasons = "[]"
                    else:
                        duration, distance, reasons = _invalid(rng, settings)
                    raw.append((start_s, chief, reach_id, duration, distance, valid, reasons, randint(1, 4), 0))
        y, mo = divmod(month0 + m, 12)
        month_first = date(y, mo + 1, 1).toordinal()
        month_last = date(y + (mo + 1) // 12, (mo + 1) % 12 + 1, 1).toordinal() - 1
        for volunteer in volunteers:
            lo = max(month_first, volunteer.joined)
            hi = min(month_last, volunteer.until, yesterday)
            if lo <= hi:
                _volunteer_patrols(vrng, settings, clock, volunteer, lo=lo, hi=hi, raw=raw)
        raw.sort()
        patrols: list[bulk.Row] = []
        points: list[bulk.Row] = []
        problems: list[bulk.Row] = []
        events: list[bulk.Row] = []
        followers: list[bulk.Row] = []
        for start_s, who, reach_id, duration, walked, ok, reasons, photos, by_volunteer in raw:
            g = vrng if by_volunteer else rng  # volunteers draw from their own generator
            valid = bool(ok)
            distance = walked
            end_s = start_s + duration
            if end_s >= now_s:
                continue
            reach = reach_by_id[reach_id]
            point_count = max(2, duration // 30)
            if start_s >= track_from:
                track = _track(g, reach, start_s, duration, reasons)
                point_count = len(track)
                distance = round(sum(haversine_m(track[i - 1][1:], track[i][1:]) for i in range(1, len(track))))
                for at, lat, lon in track:
                    points.append((patrol_id, clock.text(at), lat, lon, float(g.randint(5, 30))))
            reported = valid and g.random() < problem_rates[by_volunteer]
            end_reason = "finished" if g.random() < 0.93 else "idle"
            started_text, ended_text = clock.text(start_s), clock.text(end_s)
            patrols.append(
                (patrol_id, who, reach_id, started_text, ended_text, end_reason, ended_text, float(distance),
                 duration, point_count, photos, int(reported), int(valid), reasons, started_text, ended_text)
            )  # fmt: skip
            if not valid:
                report.invalid += 1
            if by_volunteer:
                report.volunteer_patrols += 1
            if reported:
                at = start_s + g.randint(60, max(61, duration - 60))
                category = g.choices(categories, _CATEGORY_WEIGHTS)[0]
                lat, lon = _near(g, reach)
                others = chiefs_of_area[reach.area_id]
                routed = chief_on(reach_id, clock.local_day(at)) if by_volunteer else None
                status = _lifecycle(
                    g, clock, problem_id=problem_id, reporter=who, admin=admins[reach.area_id], at=at,
                    now_s=now_s, days=deadline_days[category], events=events, others=others, chief=routed,
                )  # fmt: skip
                statuses[status[0]] = statuses.get(status[0], 0) + 1
                state, assignee, deadline, closed_at, updated = status
                problems.append(
                    (problem_id, who, patrol_id, reach_id, reach.area_id, category,
                     g.choice(_DESCRIPTIONS[category]), lat, lon, state, assignee, deadline, clock.text(at),
                     closed_at, updated)
                )  # fmt: skip
                if by_volunteer:
                    report.volunteer_reports += 1
                elif rnd() < 0.03 and len(others) > 1:
                    follower = rng.choice(others)
                    if follower != who:
                        since = clock.text(min(now_s - 1, at + randint(3600, 3 * _DAY)))
                        followers.append((problem_id, follower, since))
                problem_id += 1
            patrol_id += 1
            if len(points) >= 20_000:  # the last weeks' tracks: hand them over as they come, with their patrols
                await writer.add("patrols", patrols)
                await writer.add("patrol_points", points)
                report.patrols += len(patrols)
                patrols, points = [], []
        await writer.add("patrols", patrols)
        await writer.add("patrol_points", points)
        await writer.add("problems", problems)
        await writer.add("problem_events", events)
        await writer.add("problem_followers", followers)
        report.patrols += len(patrols)
        report.problems += len(problems)
        if m % 12 == 11:
            await writer.commit()
        say("patrols", m + 1, months)
    report.statuses = dict(sorted(statuses.items()))


def _invalid(rng: random.Random, settings: Settings) -> tuple[int, int, str]:
    """A failed patrol's duration, distance and reasons, as bot/validity.py writes them."""
    kind = rng.choices(_INVALID_KINDS, _INVALID_WEIGHTS)[0]
    min_minutes = settings.patrol_min_minutes
    min_distance = settings.patrol_min_distance_m
    reasons: list[dict[str, Any]] = []
    if kind == "too_short":
        duration = rng.randint(60, max(61, int(min_minutes * 60) - 30))
        distance = int(duration * rng.uniform(0.6, 1.3))
        reasons.append({"code": "too_short", "minutes": math.floor(duration / 6) / 10, "min": min_minutes})
    elif kind == "too_little_distance":
        duration = rng.randint(int(min_minutes * 60) + 60, int(min_minutes * 60) + 40 * 60)
        distance = rng.randint(20, max(21, int(min_distance) - 20))
    else:
        duration = rng.randint(20 * 60, 90 * 60)
        distance = int(duration * rng.uniform(0.8, 1.4))
    if distance < min_distance:
        reasons.append({"code": "too_little_distance", "meters": math.floor(distance), "min": min_distance})
    if kind == "far_from_reach":
        reasons.append(
            {
                "code": "far_from_reach",
                "meters": rng.randint(int(settings.patrol_max_distance_from_reach_m) + 200, 9000),
                "max": settings.patrol_max_distance_from_reach_m,
            }
        )
    elif kind == "photo_reused":
        reasons.append({"code": "photo_reused", "count": 1})
    elif kind == "too_fast":
        reasons.append(
            {
                "code": "too_fast",
                "kmh": rng.randint(int(settings.patrol_max_speed_kmh) + 10, 400),
                "max": settings.patrol_max_speed_kmh,
            }
        )
    return duration, distance, json.dumps(reasons, ensure_ascii=False)


def _along(line: list[tuple[float, float]], t: float) -> tuple[float, float]:
    i = min(int(t), len(line) - 2)
    f = t - i
    a, b = line[i], line[i + 1]
    return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f


def _near(rng: random.Random, reach: _Reach) -> tuple[float, float]:
    lat, lon = _along(reach.line, rng.uniform(0, len(reach.line) - 1))
    return round(lat + rng.uniform(-0.0003, 0.0003), 6), round(lon + rng.uniform(-0.0003, 0.0003), 6)


def _track(
    rng: random.Random, reach: _Reach, start_s: int, duration: int, reasons: str
) -> list[tuple[int, float, float]]:
    """A live-location track along the reach: a point every minute and a half, GPS jitter, walking along."""
    span = len(reach.line) - 1
    walked = min(span, span * max(0.05, duration / 3600 * 4000 / max(reach.length_m, 1.0)))
    if "too_little_distance" in reasons:
        walked = span * 0.02
    t0 = rng.uniform(0, span - walked)
    shift = 0.02 if "far_from_reach" in reasons else 0.0
    n = max(2, min(80, duration // 90 + 1))
    track = []
    for k in range(n):
        lat, lon = _along(reach.line, t0 + walked * k / (n - 1))
        track.append(
            (
                start_s + duration * k // (n - 1),
                round(lat + shift + rng.uniform(-0.00004, 0.00004), 6),
                round(lon + shift + rng.uniform(-0.00004, 0.00004), 6),
            )
        )
    return track


def _lifecycle(
    rng: random.Random,
    clock: _Clock,
    *,
    problem_id: int,
    reporter: int,
    admin: int,
    at: int,
    now_s: int,
    days: int,
    events: list[bulk.Row],
    others: list[int],
    chief: int | None = None,
) -> tuple[str, int | None, str | None, str | None, str]:
    """A problem's events, as far as now allows: (status, assignee, deadline, closed_at, updated_at).

    A chief's report goes to them (now and then to another chief of the area); a volunteer's to `chief`, the
    reach's chief of the day."""
    text = clock.text
    events.append((problem_id, text(at), reporter, "report", None, "reported", None, "{}"))
    status, assignee, deadline, closed_at, last = "reported", None, None, None, at

    def event(t: int, actor: int | None, action: str, to: str, *, note: str | None = None, data: str = "{}") -> bool:
        nonlocal status, last
        if t >= now_s:
            return False
        events.append((problem_id, text(t), actor, action, status, to, note, data))
        status, last = to, t
        return True

    responsible = chief
    if responsible is None:
        responsible = others[rng.randrange(len(others))] if rng.random() < 0.3 else reporter
    routed = rng.random() >= 0.05
    if not routed:  # no chief to route to: the office dismisses about half within days and assigns the rest
        if rng.random() < 0.5:
            if event(at + rng.randint(3600, 4 * _DAY), admin, "dismiss", "dismissed", note=_NOTES["dismiss_elsewhere"]):
                closed_at = text(last)
            return status, assignee, deadline, closed_at, text(last)
        at += rng.randint(3600, 45 * _DAY)  # working out whose it is can take weeks
    report_day = clock.local_day(at)
    deadline = date.fromordinal(report_day + days).isoformat()
    # As the bot writes them: routed at once by the bot (no actor), or assigned by an admin.
    assigned = {"assignee": responsible, "deadline": deadline} | ({"routed": True} if routed else {})
    if not event(at + rng.randint(2, 30), None if routed else admin, "assign", "assigned",
                 data=json.dumps(assigned)):  # fmt: skip
        return status, None, None, None, text(last)
    assignee = responsible
    if rng.random() < 0.04:
        if event(at + rng.randint(3600, 3 * _DAY), admin, "dismiss", "dismissed", note=_NOTES["dismiss_invalid"]):
            closed_at = text(last)
        return status, assignee, deadline, closed_at, text(last)
    deadline_end = clock.local_seconds(report_day + days + 1, 0)
    hard = rng.random() < 0.02  # a hard one (a building, a big outfall): months past its deadline
    late = hard or rng.random() < 0.15
    fix = (
        deadline_end + rng.randint(30 * _DAY, 300 * _DAY)
        if hard
        else deadline_end + rng.randint(3600, 20 * _DAY)
        if late
        else rng.randint(at + 4 * 3600, max(at + 4 * 3600, deadline_end - _DAY))
    )
    if not event(fix, assignee, "rectify", "rectified", data=json.dumps({"photos": rng.randint(1, 3)})):
        return status, assignee, deadline, closed_at, text(last)
    # The office checks the work on site: within days, now and then weeks.
    check = rng.randint(3 * _DAY, 40 * _DAY) if rng.random() < 0.04 else rng.randint(2 * 3600, 2 * _DAY)
    if rng.random() < 0.06:
        if not event(last + rng.randint(3600, 2 * _DAY), admin, "reject", "assigned", note=_NOTES["reject"]):
            return status, assignee, deadline, closed_at, text(last)
        if not event(last + rng.randint(_DAY, 5 * _DAY), assignee, "rectify", "rectified",
                     data=json.dumps({"photos": rng.randint(1, 3)})):  # fmt: skip
            return status, assignee, deadline, closed_at, text(last)
    if event(last + check, admin, "close", "closed"):
        closed_at = text(last)
    return status, assignee, deadline, closed_at, text(last)
