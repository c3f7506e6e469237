"""The nearest-reach search at city scale (issue 15): the R*Tree against the scan, side by side.

`python -m benchmarks nearest [--points N] [--seed S]`

The city-scale registry of `riverbot demo-data --scale city` (165 areas, 16,000 reaches around Guangzhou; its
registry only, not the history, which this search never reads) in a temporary data directory. For N points
(most inside the city, a few far outside it, each with a home area at random), `PatrolService.nearest_reaches`
(the R*Tree) and `nearest_reaches_scan` (every reach read) are timed in the same process, in rounds of ten
points (the index on each, then the scan on each), each on its own
service warmed by one untimed call, as in a running bot whose geometry cache is warm. Every answer must be the
same. Target: the index's median ≥ 30× faster than the scan's.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.config import load_settings
from bot.demo import CITY_CENTER, city_registry
from bot.geo import Point
from bot.patrols import NearbyReach, PatrolService
from storage import Store

TARGET_RATIO = 30.0
LIMIT = 6  # as patrol start and reports ask


def _points(rng: random.Random, count: int) -> list[Point]:
    lat, lon = CITY_CENTER
    points = [(lat + rng.uniform(-0.5, 0.55), lon + rng.uniform(-0.4, 0.6)) for _ in range(count)]
    points[: max(1, count // 20)] = [(rng.uniform(18, 50), rng.uniform(75, 130)) for _ in range(max(1, count // 20))]
    return points


def _shown(found: list[NearbyReach]) -> list[tuple[int, float | None]]:
    return [(n.reach.id, n.distance_m) for n in found]


async def main(argv: Sequence[str]) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks nearest")
    parser.add_argument("--points", type=int, default=30, help="points searched around (default 30)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="riverbot-nearest-") as folder:
        settings = load_settings(env_file=None, data_dir=Path(folder))
        async with await Store.open(settings.database) as store:
            started = time.perf_counter()
            reaches = await city_registry(store)
            built = time.perf_counter() - started
            print(f"nearest: {reaches:,} reaches at city scale (registry built in {built:.1f} s)")
            areas = [a.id for a in await store.areas.all()]
            indexed, scanned = PatrolService(store, settings), PatrolService(store, settings)
            for service in (indexed, scanned):  # warm the geometry caches, as in a running bot
                await service.nearest_reaches(CITY_CENTER, home_area_id=None, limit=LIMIT)
                await service.nearest_reaches_scan(CITY_CENTER, home_area_id=None, limit=LIMIT)
            index_s: list[float] = []
            scan_s: list[float] = []
            differ = 0
            queries = [(point, rng.choice([None, *areas])) for point in _points(rng, args.points)]
            # In rounds of ten points: the index on each, then the scan on each. The scan leaves 16,000 records for
            # the collector, so the collector runs before each round; neither pays for the other's garbage.
            for start in range(0, len(queries), 10):
                chunk = queries[start : start + 10]
                answers: list[list[NearbyReach]] = []
                gc.collect()
                for point, home in chunk:
                    t0 = time.perf_counter()
                    answers.append(await indexed.nearest_reaches(point, home_area_id=home, limit=LIMIT))
                    index_s.append(time.perf_counter() - t0)
                gc.collect()
                for (point, home), by_index in zip(chunk, answers, strict=True):
                    t0 = time.perf_counter()
                    by_scan = await scanned.nearest_reaches_scan(point, home_area_id=home, limit=LIMIT)
                    scan_s.append(time.perf_counter() - t0)
                    differ += _shown(by_index) != _shown(by_scan)
    index_ms, scan_ms = statistics.median(index_s) * 1000, statistics.median(scan_s) * 1000
    ratio = scan_ms / index_ms
    print(f"  scan:    median {scan_ms:.1f} ms, slowest {max(scan_s) * 1000:.1f} ms over {len(scan_s)} points")
    print(f"  R*Tree:  median {index_ms:.2f} ms, slowest {max(index_s) * 1000:.2f} ms")
    print(f"  answers: {len(scan_s) - differ} of {len(scan_s)} identical ({'PASS' if not differ else 'FAIL'})")
    ok = ratio >= TARGET_RATIO and not differ
    print(f"  R*Tree is {ratio:.0f}× faster than the scan ({'PASS' if ratio >= TARGET_RATIO else 'FAIL'}: "
          f"≥ {TARGET_RATIO:g}×)")
    return ok
