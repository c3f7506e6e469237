"""Distances on the ground, checked against answers worked out by hand.

On a sphere of radius R = 6371008.8 m (the mean earth radius the module uses) one degree of any great circle —
a meridian, or the equator — is R·π/180 = 6371008.8 × 0.0174532925 = 111195.08 m. So d metres due north is
d / 111195.08 degrees of latitude at any longitude, and d metres due east at latitude φ is
d / (111195.08 · cos φ) degrees of longitude.
"""

from __future__ import annotations

import json
import math

import pytest

from bot.geo import (
    EARTH_RADIUS_M,
    BoundingBox,
    distance_to_lines_m,
    haversine_m,
    lines_of,
    max_speed_kmh,
    track_length_m,
)

M_PER_DEG = 111_195.08  # 6371008.8 m × π / 180, rounded to the centimetre
COS30 = math.sqrt(3) / 2  # cos 30°


def north(metres: float) -> float:
    return metres / M_PER_DEG


def east_at_30(metres: float) -> float:
    return metres / (M_PER_DEG * COS30)


def test_the_radius_is_the_mean_earth_radius() -> None:
    assert EARTH_RADIUS_M == 6_371_008.8
    assert EARTH_RADIUS_M * math.pi / 180 == pytest.approx(M_PER_DEG, abs=0.005)


def test_one_degree_of_latitude_anywhere_and_of_longitude_on_the_equator() -> None:
    assert haversine_m((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111_195.08, abs=0.01)
    assert haversine_m((30.0, 120.0), (31.0, 120.0)) == pytest.approx(111_195.08, abs=0.01)
    assert haversine_m((0.0, 120.0), (0.0, 121.0)) == pytest.approx(111_195.08, abs=0.01)
    # Symmetric, and zero to itself.
    assert haversine_m((31.0, 120.0), (30.0, 120.0)) == haversine_m((30.0, 120.0), (31.0, 120.0))
    assert haversine_m((30.0, 120.0), (30.0, 120.0)) == 0.0


def test_one_degree_of_longitude_at_60_degrees_is_the_great_circle_not_the_parallel() -> None:
    # Along the parallel it is 111195.08 × cos 60° = 55597.54 m; the great circle is shorter:
    # 2R·asin(cos 60° · sin 0.5°) = 2 × 6371008.8 × asin(0.5 × 0.0087265355) = 2 × 6371008.8 × 0.0043632816
    # = 55597.01 m.
    assert haversine_m((60.0, 0.0), (60.0, 1.0)) == pytest.approx(55_597.01, abs=0.01)


def test_track_length_sums_the_hops() -> None:
    # 100 m north, then 200 m north, then 300 m back south: 600 m walked.
    start = (30.0, 120.05)
    track = [
        start,
        (30.0 + north(100), 120.05),
        (30.0 + north(300), 120.05),
        start,
    ]
    assert track_length_m(track) == pytest.approx(600.0, abs=1e-3)
    assert track_length_m([start]) == 0.0
    assert track_length_m([]) == 0.0


# A reach along the parallel 30° N, from 120.0° E to 120.1° E (0.1 × 111195.08 × cos 30° = 9629.8 m long).
REACH = [(30.0, 120.0), (30.0, 120.1)]


def test_distance_to_a_segment_when_the_foot_falls_inside_it() -> None:
    # 300 m due north of its middle: the perpendicular foot is on the segment, 300 m away.
    assert distance_to_lines_m((30.0 + north(300), 120.05), [REACH]) == pytest.approx(300.0, abs=1e-3)
    # On the line itself.
    assert distance_to_lines_m((30.0, 120.07), [REACH]) == pytest.approx(0.0, abs=1e-6)


def test_distance_to_a_segment_beyond_its_endpoint_is_to_the_endpoint() -> None:
    # 400 m due east of the east end, on the same parallel: the foot would be past the end, so it is the
    # distance to the end, 400 m (not 0, as it would be to the infinite line).
    assert distance_to_lines_m((30.0, 120.1 + east_at_30(400)), [REACH]) == pytest.approx(400.0, abs=1e-3)
    # 300 m north and 400 m east of the end: 3-4-5, 500 m. The projection is tangent at the point (30.0027° N),
    # whose cosine is smaller by tan 30° × 0.0027° × π/180 = 2.7e-5, so the east leg measures 399.989 m and
    # the whole √(300² + 399.989²) = 499.991 m.
    corner = (30.0 + north(300), 120.1 + east_at_30(400))
    assert distance_to_lines_m(corner, [REACH]) == pytest.approx(499.991, abs=0.002)
    # West of the west end, likewise.
    assert distance_to_lines_m((30.0, 120.0 - east_at_30(250)), [REACH]) == pytest.approx(250.0, abs=1e-3)


def test_a_segment_of_zero_length_is_a_point() -> None:
    dot = [(30.0, 120.0), (30.0, 120.0)]
    assert distance_to_lines_m((30.0 + north(700), 120.0), [dot]) == pytest.approx(700.0, abs=1e-3)


def test_no_lines_is_infinitely_far() -> None:
    assert distance_to_lines_m((30.0, 120.0), []) == math.inf


def test_lines_of_linestring_and_multilinestring() -> None:
    # GeoJSON is [lon, lat]; the module works in (lat, lon).
    assert lines_of({"type": "LineString", "coordinates": [[120.0, 30.0], [120.1, 30.0]]}) == [REACH]
    multi = {
        "type": "MultiLineString",
        "coordinates": [
            [[120.0, 30.0], [120.1, 30.0]],
            [[121.0, 31.0], [121.0, 31.1]],  # a second branch, along the meridian 121° E
            [[122.0, 32.0]],  # a single point is no line: dropped
        ],
    }
    lines = lines_of(multi)
    assert lines == [REACH, [(31.0, 121.0), (31.1, 121.0)]]
    # The same as a JSON string, as the store keeps it.
    assert lines_of(json.dumps(multi)) == lines
    assert lines_of(None) == []
    # Near the second branch, the distance is to it: 200 m north of its north end (31.1° N).
    assert distance_to_lines_m((31.1 + north(200), 121.0), lines) == pytest.approx(200.0, abs=1e-3)
    # Near the first, to the first: 50 m south of its middle.
    assert distance_to_lines_m((30.0 - north(50), 120.05), lines) == pytest.approx(50.0, abs=1e-3)


BOX = BoundingBox(min_lat=30.0, min_lon=120.0, max_lat=30.05, max_lon=120.1)


def test_bounding_box_is_zero_inside_and_the_gap_outside() -> None:
    assert BOX.distance_m((30.02, 120.05)) == 0.0
    assert BOX.distance_m((30.0, 120.0)) == 0.0  # on its corner
    # 300 m north of the top edge: the clamped point is straight south, 300 m away.
    assert BOX.distance_m((30.05 + north(300), 120.05)) == pytest.approx(300.0, abs=1e-3)
    # 400 m east of the east edge on 30° N: the great circle to the clamped point, 400 m to the millimetre
    # (it is shorter than the parallel by 400 × (1 − cos …) ≈ 1e-9 m at this length).
    assert BOX.distance_m((30.0, 120.1 + east_at_30(400))) == pytest.approx(400.0, abs=1e-3)


def test_bounding_box_is_a_lower_bound() -> None:
    # Points all around the box, 0.5 km to 20 km out: the box's distance never exceeds the great-circle distance
    # to any point inside it (a 21 × 21 grid over the box).
    inside = [(30.0 + 0.05 * i / 20, 120.0 + 0.1 * j / 20) for i in range(21) for j in range(21)]
    around = [
        (30.0 + dlat, 120.0 + dlon)
        for dlat in (-0.2, -0.03, 0.0, 0.025, 0.06, 0.2)
        for dlon in (-0.2, -0.01, 0.0, 0.05, 0.11, 0.2)
    ]
    for p in around:
        assert BOX.distance_m(p) <= min(haversine_m(p, q) for q in inside) + 1e-6, p


def test_bounding_box_against_the_flat_segment_distance() -> None:
    # The line distance projects flat at the point, the box uses great circles, so the two differ slightly:
    # from (30.2, 120.2) to the river's vertex (30.05, 120.1) the east leg is taken at cos 30.2° instead of
    # about cos 30.125°, 0.1° × 111195.08 × (cos 30.125° − cos 30.2°) = 7.3 m shorter out of 9.6 km, which
    # shortens the 19.25 km diagonal by 9.6 / 19.25 × 7.3 = 3.6 m (0.02 %); 2.8 km out it is 0.12 m. So the
    # box is a lower bound of the line distance only up to that 0.02 % (nearest_reaches may misorder two reaches
    # 20 km away that are within metres of each other, which does not matter).
    river = [(30.0, 120.0), (30.03, 120.04), (30.05, 120.1)]
    far = (30.2, 120.2)
    assert haversine_m(far, (30.05, 120.1)) - distance_to_lines_m(far, [river]) == pytest.approx(3.6, abs=0.1)
    for dlat in (-0.2, -0.018, -0.005, 0.0, 0.025, 0.055, 0.068, 0.2):
        for dlon in (-0.2, -0.02, -0.004, 0.0, 0.05, 0.104, 0.12, 0.2):
            p = (30.0 + dlat, 120.0 + dlon)
            line = distance_to_lines_m(p, [river])
            assert BOX.distance_m(p) <= line * (1 + 2.5e-4), p


def test_max_speed_between_samples() -> None:
    # 1 km north in 20 s = 50 m/s = 180 km/h, ending at the second sample; then 100 m in 60 s = 6 km/h.
    a = (30.0, 120.0)
    b = (30.0 + north(1000), 120.0)
    c = (30.0 + north(1100), 120.0)
    fastest, where = max_speed_kmh([(a, 0.0), (b, 20.0), (c, 80.0)])
    assert fastest == pytest.approx(180.0, abs=1e-3)
    assert where == 1
    # Two samples in the same second count over one second: 100 m in "0 s" is 100 m/s = 360 km/h.
    assert max_speed_kmh([(b, 5.0), (c, 5.0)])[0] == pytest.approx(360.0, abs=1e-3)
    assert max_speed_kmh([(a, 0.0)]) == (0.0, None)
