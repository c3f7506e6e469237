"""Distances on the ground: along a walked track, and from a point to a river's line.

Rivers in one county span a few tens of kilometres, where treating the earth as flat around each point errs by
far less than a phone's GPS does; great-circle distance is used between track points, and a local
equirectangular projection for point-to-segment distances.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

EARTH_RADIUS_M = 6_371_008.8

Point = tuple[float, float]  # (latitude, longitude), degrees WGS84


def haversine_m(a: Point, b: Point) -> float:
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def track_length_m(points: Sequence[Point]) -> float:
    return sum(haversine_m(points[i - 1], points[i]) for i in range(1, len(points)))


def lines_of(geometry: dict[str, Any] | str | None) -> list[list[Point]]:
    """A GeoJSON LineString / MultiLineString ([lon, lat]) as lists of (lat, lon) points."""
    if geometry is None:
        return []
    if isinstance(geometry, str):
        geometry = json.loads(geometry)
    assert isinstance(geometry, dict)
    coordinates = geometry.get("coordinates") or []
    lines = [coordinates] if geometry.get("type") == "LineString" else coordinates
    return [[(float(p[1]), float(p[0])) for p in line] for line in lines if len(line) >= 2]


def _segment_distance_m(p: Point, a: Point, b: Point) -> float:
    # Project onto a plane tangent at p: x east, y north, metres.
    k = math.cos(math.radians(p[0]))
    scale = math.radians(1) * EARTH_RADIUS_M
    ax, ay = (a[1] - p[1]) * k * scale, (a[0] - p[0]) * scale
    bx, by = (b[1] - p[1]) * k * scale, (b[0] - p[0]) * scale
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


def distance_to_lines_m(p: Point, lines: Iterable[Sequence[Point]]) -> float:
    """Shortest distance from `p` to any segment of the lines; infinity when there are none."""
    best = math.inf
    for line in lines:
        for i in range(1, len(line)):
            best = min(best, _segment_distance_m(p, line[i - 1], line[i]))
    return best


@dataclass(frozen=True, slots=True)
class BoundingBox:
    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float

    def distance_m(self, p: Point) -> float:
        """A lower bound of the distance from `p` to anything inside the box (0 inside it)."""
        lat = min(max(p[0], self.min_lat), self.max_lat)
        lon = min(max(p[1], self.min_lon), self.max_lon)
        return haversine_m(p, (lat, lon))

    def holds_the_world(self) -> bool:
        return self.min_lat <= -90 and self.max_lat >= 90 and self.min_lon <= -180 and self.max_lon >= 180

    def flat_distance_m(self, p: Point) -> float:
        """The distance from `p` to the box as `distance_to_lines_m` measures it (on the plane tangent at `p`).

        Any line inside the box is at least this far from `p` in that same measure; the figure is shaved by a
        billionth so that rounding in the segment's projection can never put a line nearer than its box, and a
        search that skips reaches by it keeps exactly the ones a full comparison would."""
        lat = min(max(p[0], self.min_lat), self.max_lat)
        lon = min(max(p[1], self.min_lon), self.max_lon)
        k = math.cos(math.radians(p[0]))
        scale = math.radians(1) * EARTH_RADIUS_M
        return math.hypot((lon - p[1]) * k * scale, (lat - p[0]) * scale) * (1 - 1e-9)


def window_around(p: Point, radius_m: float) -> BoundingBox:
    """A box holding every point within `radius_m` of `p` as `distance_to_lines_m` measures (a little more,
    against rounding): a box that does not meet it is farther than `radius_m` by `BoundingBox.flat_distance_m`."""
    scale = math.radians(1) * EARTH_RADIUS_M
    k = math.cos(math.radians(p[0]))
    reach = radius_m * (1 + 1e-6) + 1e-6
    dlat = reach / scale
    dlon = reach / (k * scale) if k > 1e-9 else math.inf
    return BoundingBox(p[0] - dlat, p[1] - dlon, p[0] + dlat, p[1] + dlon)


def max_speed_kmh(points: Sequence[tuple[Point, float]]) -> tuple[float, int | None]:
    """The fastest hop between consecutive (point, unix time) samples, in km/h, and the index it ends at.

    Two samples in the same second (Telegram's dates are whole seconds) count over one second.
    """
    fastest, where = 0.0, None
    for i in range(1, len(points)):
        (a, ta), (b, tb) = points[i - 1], points[i]
        seconds = max(1.0, tb - ta)
        speed = haversine_m(a, b) / seconds * 3.6
        if speed > fastest:
            fastest, where = speed, i
    return fastest, where


def coverage(
    reach_lines: Sequence[Sequence[Point]], track: Sequence[Point], *, step_m: float = 20.0, near_m: float = 50.0
) -> float | None:
    """The share of the reach's length walked: the line sampled every `step_m`, a sample counting when the track
    passes within `near_m` of it. None when the reach has no line.

    Distances are taken on a plane tangent at the reach's middle (a reach is a few kilometres long), and the
    track's segments are kept in a grid of cells `near_m` wide, so each sample looks only at the segments in
    its own and the neighbouring cells: a 500-point track over a 3 km reach takes a few milliseconds.
    """
    points = [p for line in reach_lines for p in line]
    if not points:
        return None
    lat0 = sum(p[0] for p in points) / len(points)
    lon0 = sum(p[1] for p in points) / len(points)
    k = math.cos(math.radians(lat0))
    metre = math.radians(1) * EARTH_RADIUS_M

    def plane(p: Point) -> tuple[float, float]:
        return (p[1] - lon0) * k * metre, (p[0] - lat0) * metre

    samples: list[tuple[float, float]] = []
    for line in reach_lines:
        flat = [plane(p) for p in line]
        at = 0.0  # the next sample's distance from the start of the current segment
        for (ax, ay), (bx, by) in itertools.pairwise(flat):
            length = math.hypot(bx - ax, by - ay)
            while at <= length:
                t = at / length if length else 0.0
                samples.append((ax + t * (bx - ax), ay + t * (by - ay)))
                at += step_m
            at -= length
        if at < step_m - 1e-9 and len(flat) >= 2:
            samples.append(flat[-1])  # the line's far end, when the last sample fell short of it
    if not samples:
        return None
    if not track:
        return 0.0
    walked = [plane(p) for p in track]
    segments = list(itertools.pairwise(walked)) if len(walked) > 1 else [(walked[0], walked[0])]
    cells: dict[tuple[int, int], list[tuple[tuple[float, float], tuple[float, float]]]] = {}
    for a, b in segments:
        for cx in range(math.floor(min(a[0], b[0]) / near_m), math.floor(max(a[0], b[0]) / near_m) + 1):
            for cy in range(math.floor(min(a[1], b[1]) / near_m), math.floor(max(a[1], b[1]) / near_m) + 1):
                cells.setdefault((cx, cy), []).append((a, b))
    near2 = near_m * near_m
    covered = 0
    for sx, sy in samples:
        cx, cy = math.floor(sx / near_m), math.floor(sy / near_m)
        found = False
        for nx in (cx - 1, cx, cx + 1):
            for ny in (cy - 1, cy, cy + 1):
                for (ax, ay), (bx, by) in cells.get((nx, ny), ()):
                    dx, dy = bx - ax, by - ay
                    length2 = dx * dx + dy * dy
                    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((sx - ax) * dx + (sy - ay) * dy) / length2))
                    ex, ey = ax + t * dx - sx, ay + t * dy - sy
                    if ex * ex + ey * ey <= near2:
                        found = True
                        break
                if found:
                    break
            if found:
                break
        covered += found
    return covered / len(samples)
