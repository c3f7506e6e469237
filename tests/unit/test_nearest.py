"""The nearest-reach search through the R*Tree gives the scan's answers, and the index follows the registry."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest

from bot.config import Settings
from bot.demo import SAMPLE_REGISTRY
from bot.geo import BoundingBox, Point, distance_to_lines_m, lines_of, window_around
from bot.patrols import NearbyReach, PatrolService
from bot.registry_import import read_files, run_import
from storage import Store
from storage.engine import PostgresEngine, numbered
from storage.migrate import bundled_migrations
from storage.registry import ReachValues, boxes_in_sql
from tests.postgres import needs_postgres, scratch_database


@pytest.fixture
async def county(store: Store, settings: Settings) -> Store:
    batch = read_files([SAMPLE_REGISTRY / "areas.csv", SAMPLE_REGISTRY / "reaches.geojson"])
    report = await run_import(store, settings, batch, today=date(2026, 12, 2))
    assert report.written
    return store


def shown(found: list[NearbyReach]) -> list[tuple[str, float | None]]:
    return [(n.reach.code, n.distance_m) for n in found]


async def same_answers(service: PatrolService, point: Point, home: int | None, limit: int) -> None:
    indexed = await service.nearest_reaches(point, home_area_id=home, limit=limit)
    scanned = await service.nearest_reaches_scan(point, home_area_id=home, limit=limit)
    assert shown(indexed) == shown(scanned), (point, home, limit)


async def add_reach(store: Store, code: str, area_id: int, line: list[Point] | None) -> None:
    geometry, bbox = "", None
    if line is not None:
        geometry = json.dumps({"type": "LineString", "coordinates": [[lon, lat] for lat, lon in line]})
        lats, lons = [p[0] for p in line], [p[1] for p in line]
        bbox = (min(lats), min(lons), max(lats), max(lons))
    values = ReachValues(code, code, code, area_id, "village", None, (), geometry, bbox)
    await store.reaches.upsert(values)


async def test_random_points_over_the_county_get_the_scans_answers(county: Store, settings: Settings) -> None:
    service = PatrolService(county, settings)
    reaches = await county.reaches.all()
    areas = [a.id for a in await county.areas.all()]
    boxes = [r.bbox for r in reaches if r.bbox is not None]
    south, west = min(b[0] for b in boxes), min(b[1] for b in boxes)
    north, east = max(b[2] for b in boxes), max(b[3] for b in boxes)
    rng = random.Random(15)
    for _ in range(400):
        # Over the county and a margin around it, where some points are far from every reach.
        point = (rng.uniform(south - 0.2, north + 0.2), rng.uniform(west - 0.2, east + 0.2))
        await same_answers(service, point, rng.choice([None, *areas]), rng.choice([1, 2, 3, 6, 10]))


async def test_edge_cases_get_the_scans_answers(county: Store, settings: Settings) -> None:
    service = PatrolService(county, settings)
    reaches = await county.reaches.all()
    areas = [a.id for a in await county.areas.all()]
    assert any(r.bbox is None for r in reaches)  # 东风沟 and 幸福沟 have no geometry
    points: list[Point] = [
        (51.5072, -0.1276),  # London
        (0.0, 0.0),
        (-33.87, 151.2),
        (89.99, 120.5),  # near the pole, where a degree of longitude is nothing
        (-89.99, -60.0),
        (32.55, -59.5),  # the county's latitude, the other side of the world
    ]
    for reach in reaches:
        for line in lines_of(reach.geometry):
            points.append(line[0])  # exactly on a vertex
            a, b = line[len(line) // 2 - 1], line[len(line) // 2]
            points.append(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))  # on a segment
    for point in points:
        for limit in (1, 6, len(reaches) + 5):
            for home in (None, areas[0], areas[-1]):
                await same_answers(service, point, home, limit)


async def test_ties_are_broken_by_code_as_the_scan_does(county: Store, settings: Settings) -> None:
    area = (await county.areas.all())[0].id
    line = [(32.70, 120.80), (32.70, 120.81)]
    for code in ("TIE-C", "TIE-A", "TIE-B", "TIE-D"):
        await add_reach(county, code, area, line)
    await add_reach(county, "TIE-0", area, [(32.71, 120.80), (32.71, 120.81)])
    service = PatrolService(county, settings)
    # Four reaches on one line, 333 m away, the fifth 778 m: the first three by code, whatever order they came in.
    found = await service.nearest_reaches((32.703, 120.805), home_area_id=None, limit=3)
    assert [n.reach.code for n in found] == ["TIE-A", "TIE-B", "TIE-C"]
    for point in [(32.703, 120.805), (32.705, 120.805), (32.70, 120.805), (32.69, 120.805), (32.72, 120.79)]:
        for limit in (1, 2, 3, 4, 5):
            await same_answers(service, point, None, limit)


async def test_the_index_follows_edits_of_the_registry(county: Store, settings: Settings) -> None:
    service = PatrolService(county, settings)
    area = (await county.areas.all())[0].id
    far = (33.50, 121.50)
    await add_reach(county, "MOVED-01", area, [(far[0], far[1] - 0.001), (far[0], far[1] + 0.001)])
    assert [n.reach.code for n in await service.nearest_reaches(far, home_area_id=None, limit=1)] == ["MOVED-01"]
    # Redrawn elsewhere: found at its new place, not at the old.
    await add_reach(county, "MOVED-01", area, [(34.0, 122.0), (34.0, 122.01)])
    assert [n.reach.code for n in await service.nearest_reaches((34.0, 122.005), home_area_id=None, limit=1)] == [
        "MOVED-01"
    ]
    assert (await service.nearest_reaches(far, home_area_id=None, limit=1))[0].distance_m > 50_000  # type: ignore[operator]
    # Its geometry cleared: no longer in the index, listed with its area's unmapped reaches instead.
    await add_reach(county, "MOVED-01", area, None)
    assert await county.fetchval("SELECT COUNT(*) FROM reach_boxes b JOIN reaches r USING (id) "
                                 "WHERE r.code = 'MOVED-01'") == 0
    for point in [far, (34.0, 122.005)]:
        await same_answers(service, point, area, 40)
    assert await county.fetchval("SELECT COUNT(*) FROM reach_boxes") == await county.fetchval(
        "SELECT COUNT(*) FROM reaches WHERE min_lat IS NOT NULL"
    )


async def test_the_migration_indexes_the_reaches_already_there(settings: Settings) -> None:
    db_path = settings.database_path
    before = [m for m in bundled_migrations() if m.version < 11]
    async with await Store.open(db_path, migrations=before) as store:
        assert "reach_boxes" not in await store.table_names()
        batch = read_files([SAMPLE_REGISTRY / "areas.csv", SAMPLE_REGISTRY / "reaches.geojson"])
        await run_import(store, settings, batch, today=date(2026, 12, 2))
    async with await Store.open(db_path) as store:
        boxes = await store.fetchall("SELECT id, min_lat, max_lat, min_lon, max_lon FROM reach_boxes ORDER BY id")
        reaches = [r for r in await store.reaches.all() if r.bbox is not None]
        assert len(boxes) == len(reaches) == 30
        for box, reach in zip(boxes, sorted(reaches, key=lambda r: r.id), strict=True):
            assert reach.bbox is not None and box["id"] == reach.id
            # 32-bit floats, rounded outwards: the index's box holds the reach's own.
            assert box["min_lat"] <= reach.bbox[0] and box["min_lon"] <= reach.bbox[1]
            assert box["max_lat"] >= reach.bbox[2] and box["max_lon"] >= reach.bbox[3]
        service = PatrolService(store, settings)
        await same_answers(service, (32.55, 120.49), None, 6)


def test_the_box_bound_never_exceeds_the_lines_distance_and_the_window_holds_it() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        lat, lon = rng.uniform(-60, 60), rng.uniform(-170, 170)
        line = [(lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05)) for _ in range(rng.randint(2, 6))]
        box = BoundingBox(min(p[0] for p in line), min(p[1] for p in line), max(p[0] for p in line),
                          max(p[1] for p in line))
        point = (lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.3, 0.3))
        if rng.random() < 0.2:
            point = line[rng.randrange(len(line))]  # on a vertex: both are 0
        bound = box.flat_distance_m(point)
        assert bound <= distance_to_lines_m(point, [line])
        window = window_around(point, bound)
        assert window.min_lat <= box.max_lat and box.min_lat <= window.max_lat
        assert window.min_lon <= box.max_lon and box.min_lon <= window.max_lon


async def fill_boxes(store: Store, boxes: list[tuple[float, float, float, float]]) -> dict[int, str]:
    """Reaches with these boxes (min_lat, min_lon, max_lat, max_lon), every corner on a 0.001° grid; id → code."""
    now = "2026-12-03T00:00:00Z"
    area = await store.insert(
        "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES ('A', 'a', 'a', ?, ?)", (now, now)
    )
    await store.executemany(
        "INSERT INTO reaches (code, name_zh, name_en, area_id, level, min_lat, min_lon, max_lat, max_lon,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, 'village', ?, ?, ?, ?, ?, ?)",
        [(f"R{i:04d}", "r", "r", area, *box, now, now) for i, box in enumerate(boxes)],
    )
    return {int(r[0]): str(r[1]) for r in await store.fetchall("SELECT id, code FROM reaches")}


@needs_postgres
async def test_both_engines_find_the_same_boxes_in_a_window(tmp_path: Path) -> None:
    """SQLite's R*Tree and PostgreSQL's GiST index answer boxes_in alike, edges touching included, and exactly the
    reaches whose own box meets the window."""
    rng = random.Random(17)

    def grid(low: float, high: float) -> float:
        return round(rng.uniform(low, high), 3)

    boxes = []
    for _ in range(1500):
        lat, lon = grid(31.0, 32.0), grid(120.0, 121.0)
        boxes.append((lat, lon, round(lat + grid(0, 0.05), 3), round(lon + grid(0, 0.05), 3)))
    windows: list[tuple[float, ...]] = []
    for i in range(300):
        lat, lon, size = grid(30.9, 32.0), grid(119.9, 121.0), grid(0.001, 0.2)
        # Half on the grid (edges that touch the boxes' exactly), half halfway between: never a hair's breadth
        # apart, where SQLite's boxes, rounded outwards to 32-bit floats, would meet and the exact ones not.
        shift = 0.0005 if i % 2 else 0.0
        windows.append(tuple(round(v + shift, 4) for v in (lat, lon, lat + size, lon + size)))
    windows.append((0.0, 0.0, 1.0, 1.0))  # nothing there

    async def answers(store: Store) -> list[list[str]]:
        codes = await fill_boxes(store, boxes)
        found = []
        for window in windows:
            for geometry in (False, True):
                rows = await store.reaches.boxes_in(*window, geometry=geometry)
                found.append(sorted(codes[r[0]] for r in rows))
        return found

    async with await Store.open(tmp_path / "riverbot.sqlite3") as lite:
        on_sqlite = await answers(lite)
    async with scratch_database() as url, await Store.open(url) as pg:
        on_postgres = await answers(pg)
    assert on_postgres == on_sqlite
    meets = [
        sorted(
            f"R{i:04d}"
            for i, (s, w, n, e) in enumerate(boxes)
            if n >= window[0] and s <= window[2] and e >= window[1] and w <= window[3]
        )
        for window in windows
        for _ in (False, True)
    ]
    assert on_postgres == meets
    assert sum(map(len, meets)) > 1000 and sum(not m for m in meets) > 10  # full windows and empty ones


@needs_postgres
async def test_the_postgresql_window_query_goes_through_the_box_index() -> None:
    async with scratch_database() as url, await Store.open(url) as store:
        engine = store.engine
        assert isinstance(engine, PostgresEngine)
        for geometry in (False, True):
            sql, _ = numbered(boxes_in_sql("postgresql", geometry=geometry))
            async with engine.pool.acquire() as raw, raw.transaction():
                await raw.execute("SET LOCAL enable_seqscan = off")  # an empty table: the plan it would take
                plan = "\n".join(r[0] for r in await raw.fetch(f"EXPLAIN {sql}", 31.0, 120.0, 31.1, 120.1))
            assert "reach_boxes_box" in plan, plan
