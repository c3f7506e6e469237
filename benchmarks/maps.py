"""Maps against the weekly chart: what drawing a map costs next to the picture the bot already draws each week.

In one process, side by side, round after round (the order alternating, so the machine's noise falls on all
alike), the median time of:

* the weekly chart of a town of 20 reaches (`bot.summaries.chart_jpeg`), the baseline;
* a finished patrol's map: a 500-point track over a 3 km reach, 6 photos and 2 problems
  (`bot.mapviews.patrol_scene` and `bot.maps.render`, as `MapService.patrol_map` draws it, without tiles);
* an area's map: 50 reaches and 200 problem pins, 50 of them overdue (`bot.mapviews.area_scene`).

Each includes building the scene from its data (as read from the store; the chart's summary likewise), fitting
the view and encoding the JPEG, and runs on the calling thread (the bot runs it in a worker thread).
Target (issue 15): each map ≤ 2 × the chart.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import maps
from bot.config import CATEGORIES
from bot.i18n import Locales
from bot.mapviews import AreaReach, area_scene, patrol_scene, reach_status
from bot.summaries import AreaSummary, chart_jpeg, last_week
from bot.tallies import PatrolTally, ProblemFigures, ProblemTally, Rate, ReachRate
from storage.records import AreaRecord
from storage.summaries import OverdueProblem

TARGET_RATIO = 2.0
TZ = ZoneInfo("Asia/Shanghai")
LAT, LON = 32.5, 120.4


def chart_summary() -> AreaSummary:
    """A town's week: 20 reaches, some short of their requirement, problems in several categories."""
    rng = random.Random(7)
    week = last_week(date(2026, 12, 2))
    reaches = []
    for number in range(20):
        required = rng.choice((0, 1, 1, 2))
        done = rng.randint(0, required) if required else 0
        name_zh, name_en = f"第{number + 1}号河段", f"Reach {number + 1}"
        reaches.append(ReachRate(number + 1, f"R{number:02d}", name_zh, name_en, "T1", Rate(done, required)))
    overall = Rate(sum(r.rate.done for r in reaches), sum(r.rate.required for r in reaches))
    categories = {name: ProblemFigures(new=rng.randint(0, 4), closed=rng.randint(0, 3)) for name in CATEGORIES}
    figures = ProblemFigures(new=12, closed=8, open=9, overdue=3)
    overdue = [
        OverdueProblem(i + 1, "garbage", "第1号河段", "Reach 1", "王五", week.last - timedelta(days=3 + i))
        for i in range(3)
    ]
    return AreaSummary(
        AreaRecord(1, "T1", "李堡镇", "Libao"),
        week,
        PatrolTally(week.first, week.last, overall, [], reaches, [], []),
        Rate(5, 12),
        ProblemTally(week.first, week.last, figures, [], categories, None),
        overdue,
        3,
        [],
    )


def reach_line(rng: random.Random, start: maps.LatLon, length_m: float, vertices: int) -> list[maps.LatLon]:
    """A meandering line of `vertices` points, `length_m` long."""
    step = length_m / (vertices - 1) / 111_194.9
    heading = rng.uniform(0, 2 * math.pi)
    points = [start]
    for _ in range(vertices - 1):
        heading += rng.uniform(-0.4, 0.4)
        lat, lon = points[-1]
        points.append((lat + step * math.sin(heading), lon + step * math.cos(heading) / math.cos(math.radians(lat))))
    return points


def patrol_data() -> dict[str, object]:
    """What `MapService.patrol_scene` reads from the store: the reach's line, the track, photos, problems."""
    rng = random.Random(11)
    line = reach_line(rng, (LAT, LON), 3000, 30)
    started = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    # 500 points along the first two thirds of the line, a few metres off it, one every 6 seconds.
    track = []
    for i in range(500):
        at = i / 499 * (len(line) - 1) * 0.66
        j = min(int(at), len(line) - 2)
        t = at - j
        lat = line[j][0] + t * (line[j + 1][0] - line[j][0]) + rng.uniform(-4e-5, 4e-5)
        lon = line[j][1] + t * (line[j + 1][1] - line[j][1]) + rng.uniform(-4e-5, 4e-5)
        track.append(((lat, lon), started + timedelta(seconds=6 * i)))
    return {
        "reach_lines": [line],
        "track": track,
        "photos": [track[i][0] for i in range(40, 500, 80)],
        "problems": [track[150][0], track[380][0]],
        "started_at": started,
        "ended_at": started + timedelta(minutes=50),
    }


def patrol_picture(locales: Locales, data: dict[str, object]) -> bytes:
    scene = patrol_scene(
        locales, "zh", reach="丁堡河（城东段）", distance_m=2000.0, coverage=0.66, tz=TZ, **data  # type: ignore[arg-type]
    )
    return maps.render(scene, maps.viewport(scene))


def area_data() -> dict[str, object]:
    """What `MapService.area_scene` reads: 50 reaches with their status, 200 open problems (50 overdue)."""
    rng = random.Random(13)
    reaches = []
    for _ in range(50):
        start = (LAT + rng.uniform(0, 0.15), LON + rng.uniform(0, 0.2))
        done, required = rng.choice(((1, 1), (0, 1), (0, 0), (2, 2), (1, 2)))
        reaches.append(AreaReach([reach_line(rng, start, rng.uniform(1500, 5000), 25)], reach_status(done, required)))
    pins = [((LAT + rng.uniform(0, 0.15), LON + rng.uniform(0, 0.2)), i < 50) for i in range(200)]
    return {"reaches": reaches, "pins": pins}


def area_picture(locales: Locales, data: dict[str, object]) -> bytes:
    scene = area_scene(locales, "zh", area="李堡镇", period="11月23日—11月29日", **data)  # type: ignore[arg-type]
    return maps.render(scene, maps.viewport(scene))


def measure(rounds: int) -> dict[str, float]:
    locales = Locales.load()
    summary, patrol, area = chart_summary(), patrol_data(), area_data()
    runs: dict[str, Callable[[], bytes]] = {
        "chart": lambda: chart_jpeg(summary, locales, "zh"),
        "patrol": lambda: patrol_picture(locales, patrol),
        "area": lambda: area_picture(locales, area),
    }
    for run in runs.values():  # warm up: fonts found, glyphs cached
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for index in range(rounds):
        for name in order if index % 2 == 0 else reversed(order):
            started = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


async def main(argv: Sequence[str]) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks maps", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args(list(argv))
    medians = measure(args.rounds)
    chart = medians["chart"]
    print(f"maps ({args.rounds} rounds, medians, one process)")
    print(f"  weekly chart (20 reaches)             {chart:7.1f} ms")
    passed = True
    for name, label in (("patrol", "patrol map (500-point track)"), ("area", "area map (50 reaches, 200 pins)")):
        ratio = medians[name] / chart
        ok = ratio <= TARGET_RATIO
        passed = passed and ok
        print(
            f"  {label:<37} {medians[name]:7.1f} ms  = {ratio:.2f} × the chart"
            f"  (target ≤ {TARGET_RATIO:g} ×)  {'PASS' if ok else 'FAIL'}"
        )
    return passed


if __name__ == "__main__":
    import asyncio
    import sys

    raise SystemExit(0 if asyncio.run(main(sys.argv[1:])) else 1)
