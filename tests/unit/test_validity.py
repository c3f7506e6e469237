"""A patrol's validity verdict, every rule on both sides of its edge.

Distances by hand: with the module's mean earth radius 6371008.8 m, one degree of latitude is
6371008.8 × π / 180 = 111195.08 m at any longitude, so d metres due north is d / 111195.08 degrees. Tracks walk
north along the meridian 120.05° E; the reach runs along the parallel 30° N from 120.0° E to 120.1° E, so a point
due north of its middle is exactly its offset from the line.

Times: the patrol starts at 08:00 in Shanghai (UTC+8, no daylight saving) on 2024-05-10, which is 00:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.validity import SPEED_CHECK_MIN_HOP_M, PhotoEvidence, Sample, Verdict, blocking, judge, reason_params

# 6371008.8 m × π / 180 = 111195.0802 m; rounded to the centimetre, so distances built with it are off by at most
# 2e-9 of themselves (1e-6 m in 500 m), which the tolerances below allow.
M_PER_DEG = 111_195.08
LON = 120.05
REACH = [[(30.0, 120.0), (30.0, 120.1)]]
START = datetime(2024, 5, 10, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai


def settings(**overrides: Any) -> Settings:
    """The documented defaults, pinned so that an environment variable can't move an edge."""
    values: dict[str, Any] = {
        "patrol_min_minutes": 10,
        "patrol_min_distance_m": 500,
        "patrol_max_distance_from_reach_m": 1000,
        "patrol_max_speed_kmh": 120,
        "patrol_photo_max_age_minutes": 60,
        "timezone": "Asia/Shanghai",
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


DEFAULTS = settings()


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def north(metres: float, offset_m: float = 0.0) -> tuple[float, float]:
    """A point `metres` north of the reach line (30° N) on the meridian 120.05° E."""
    return (30.0 + (metres + offset_m) / M_PER_DEG, LON)


def walk(metres: float, *, from_m: float = 0.0, minutes: float = 15, hops: int = 10) -> list[Sample]:
    """`hops` equal steps north from `from_m` metres off the reach, spread over `minutes`.

    1000 m in 10 hops over 15 minutes is 100 m per 90 s = 4 km/h: a walk.
    """
    return [Sample(north(metres * i / hops, from_m), at(minutes * 60 * i / hops)) for i in range(hops + 1)]


def verdict(
    *,
    duration_s: float = 20 * 60,
    samples: list[Sample] | None = None,
    reach: list[list[tuple[float, float]]] | None = None,
    photos: list[PhotoEvidence] | None = None,
    config: Settings = DEFAULTS,
) -> Verdict:
    return judge(
        config,
        started_at=START,
        ended_at=at(duration_s),
        samples=walk(1000) if samples is None else samples,
        reach_lines=REACH if reach is None else reach,
        photos=photos or [],
    )


def codes(v: Verdict) -> list[str]:
    return [r["code"] for r in v.reasons]


def test_defaults_are_the_documented_ones() -> None:
    plain = load_settings(env_file=None)
    assert (
        plain.patrol_min_minutes,
        plain.patrol_min_distance_m,
        plain.patrol_max_distance_from_reach_m,
        plain.patrol_max_speed_kmh,
        plain.patrol_photo_max_age_minutes,
    ) == (10, 500, 1000, 120, 60)


def test_a_good_patrol_is_valid_with_no_reasons() -> None:
    # 20 minutes, 1000 m walked from the reach line northwards at 4 km/h, a photo sent as a file with its time.
    v = verdict(photos=[PhotoEvidence(reused=False, as_document=True, taken_at=at(60))])
    assert v == Verdict(True, pytest.approx(1000.0, abs=1e-3), 1200, [])  # type: ignore[arg-type]
    assert v.valid
    assert v.reasons == []


def test_exactly_ten_minutes_is_enough() -> None:
    v = verdict(duration_s=600)
    assert v.valid, v.reasons
    assert v.duration_s == 600


def test_nine_minutes_fifty_nine_seconds_is_too_short() -> None:
    v = verdict(duration_s=599)
    assert not v.valid
    # 599 / 60 = 9.983 minutes. Rounded it would read "10 min, less than 10 min"; shown as 9 instead.
    assert v.reasons == [{"code": "too_short", "minutes": 9, "min": 10}]
    assert reason_params({"code": "too_short", "minutes": 9.9, "min": 10.0}) == {"minutes": 9, "min": 10}
    assert isinstance(reason_params({"code": "far_from_reach", "meters": 1001, "max": 1000.0})["max"], int)
    assert v.duration_s == 599
    # Fractions of a second don't round up into a valid patrol: 599.9 s counts 599.
    assert codes(verdict(duration_s=599.9)) == ["too_short"]


def test_shown_numbers_never_contradict_their_limit() -> None:
    # Away from the limit they are rounded as usual, to whole minutes: 451 s = 7.517 min → 8; 449 s → 7.
    assert verdict(duration_s=451).reasons[0]["minutes"] == 8
    assert verdict(duration_s=449).reasons[0]["minutes"] == 7
    # 499.6 m walked: "500 m, less than 500 m" would contradict itself; 499.
    v = verdict(samples=[Sample(north(0), at(0)), Sample(north(499.6), at(600))])
    assert v.reasons == [{"code": "too_little_distance", "meters": 499, "min": 500}]
    # 499.4 m: plain rounding, 499.
    v = verdict(samples=[Sample(north(0), at(0)), Sample(north(499.4), at(600))])
    assert v.reasons == [{"code": "too_little_distance", "meters": 499, "min": 500}]
    # Nearest point 1000.4 m from the reach: not "1000 m, should be within 1000 m"; 1001.
    assert verdict(samples=walk(1000, from_m=1000.4)).reasons == [
        {"code": "far_from_reach", "meters": 1001, "max": 1000}
    ]
    # 2000.4 m: plain rounding, 2000.
    assert verdict(samples=walk(1000, from_m=2000.4)).reasons == [
        {"code": "far_from_reach", "meters": 2000, "max": 1000}
    ]
    # 1001 m in 30 s = 120.12 km/h: not "120 km/h, faster than 120 km/h"; 121.
    v = verdict(samples=[*walk(1000, minutes=10), Sample(north(2001), at(630))], duration_s=900)
    assert v.reasons == [{"code": "too_fast", "kmh": 121, "max": 120}]


def test_an_end_before_the_start_is_zero_long() -> None:
    v = verdict(duration_s=-30)
    assert v.duration_s == 0
    assert v.reasons[0] == {"code": "too_short", "minutes": 0.0, "min": 10}


def test_five_hundred_metres_is_enough() -> None:
    # Two points 500 / 111195.08 degrees apart on a meridian, ten minutes apart: 500 m.
    v = verdict(samples=[Sample(north(0), at(0)), Sample(north(500), at(600))])
    assert v.valid, v.reasons
    assert v.distance_m == pytest.approx(500.0, abs=1e-4)


def test_four_hundred_ninety_nine_metres_is_too_little() -> None:
    v = verdict(samples=[Sample(north(0), at(0)), Sample(north(499), at(600))])
    assert v.reasons == [{"code": "too_little_distance", "meters": 499, "min": 500}]


def test_distance_is_along_the_track_not_start_to_finish() -> None:
    # 300 m out and 300 m back along the meridian: 600 m walked, though it ends where it began.
    samples = [Sample(north(0), at(0)), Sample(north(300), at(300)), Sample(north(0), at(600))]
    v = verdict(samples=samples)
    assert v.valid, v.reasons
    assert v.distance_m == pytest.approx(600.0, abs=1e-4)


def test_samples_are_taken_in_time_order() -> None:
    # Received out of order (a late edit), the same three points in time order are 300 m out and back: 600 m.
    samples = [Sample(north(0), at(0)), Sample(north(0), at(600)), Sample(north(300), at(300))]
    assert verdict(samples=samples).distance_m == pytest.approx(600.0, abs=1e-4)


def test_nearest_point_999_metres_from_the_reach_is_near_enough() -> None:
    # The track starts 999 m north of the reach's middle and walks 1000 m further north: its nearest point is
    # the first, 999 m from the line (the line's nearest point is straight south).
    v = verdict(samples=walk(1000, from_m=999))
    assert v.valid, v.reasons


def test_nearest_point_1001_metres_from_the_reach_is_too_far() -> None:
    v = verdict(samples=walk(1000, from_m=1001))
    assert v.reasons == [{"code": "far_from_reach", "meters": 1001, "max": 1000}]


def test_a_single_point_near_the_reach_is_enough_for_that_rule() -> None:
    # One point 200 m south of the reach (south counts as well as north), then an hour later a walk 5 km north of
    # it: 5200 m in the first hour is 5.2 km/h, and only the first point is within 1000 m.
    south = Sample((30.0 - 200 / M_PER_DEG, LON), at(0))
    later = [Sample(s.point, s.at + timedelta(hours=1)) for s in walk(1000, from_m=5000)]
    v = verdict(samples=[south, *later], duration_s=2 * 3600)
    assert v.valid, v.reasons


def test_no_points_with_a_geometry_is_no_location() -> None:
    v = verdict(samples=[])
    assert v.reasons == [
        {"code": "too_little_distance", "meters": 0, "min": 500},
        {"code": "no_location"},
    ]
    assert v.distance_m == 0.0


def test_a_reach_without_geometry_has_no_distance_to_reach_rule() -> None:
    # 50 km from where the line would be, yet nothing to measure against: valid.
    assert verdict(samples=walk(1000, from_m=50_000), reach=[]).valid
    # And without points it is not "no location" (only too little distance).
    assert codes(verdict(samples=[], reach=[])) == ["too_little_distance"]


def test_a_jump_faster_than_120_kmh_is_refused() -> None:
    # A walk, then 1 km north in 20 s: 1000 / 20 × 3.6 = 180 km/h.
    samples = [*walk(1000, minutes=10), Sample(north(2000), at(620))]
    v = verdict(samples=samples, duration_s=900)
    assert v.reasons == [{"code": "too_fast", "kmh": 180, "max": 120}]


def test_just_under_and_over_the_speed_limit() -> None:
    # 1000 m in 31 s = 1000 / 31 × 3.6 = 116.1 km/h: allowed. In 29 s: 124.1 km/h, refused. (Exactly 30 s, 120 km/h,
    # is not tested: the rule is "faster than", but 1000 m on the sphere comes out a few ULPs either side.)
    base = walk(1000, minutes=10)
    assert verdict(samples=[*base, Sample(north(2000), at(631))], duration_s=900).valid
    v = verdict(samples=[*base, Sample(north(2000), at(629))], duration_s=900)
    assert v.reasons == [{"code": "too_fast", "kmh": 124, "max": 120}]


def test_gps_jitter_is_not_a_car() -> None:
    # Standing still, the phone reports 60 m north and back within a second each: 60 / 1 × 3.6 = 216 km/h,
    # but hops under 100 m are not judged for speed. Then the walk.
    assert SPEED_CHECK_MIN_HOP_M == 100
    jitter = [Sample(north(0), at(0)), Sample(north(60), at(1)), Sample(north(0), at(2))]
    later = [Sample(s.point, s.at + timedelta(seconds=3)) for s in walk(1000)[1:]]
    v = verdict(samples=[*jitter, *later])
    assert v.valid, v.reasons
    # The jitter still adds to the distance walked: 60 + 60 + 1000 m.
    assert v.distance_m == pytest.approx(1120.0, abs=1e-4)


def test_two_fixes_in_the_same_second_count_over_one_second() -> None:
    # 150 m in "0 s" (Telegram's dates are whole seconds) counts as 150 m/s = 540 km/h, not infinity.
    samples = [*walk(1000, minutes=10), Sample(north(1150), at(600))]
    v = verdict(samples=samples, duration_s=900)
    assert v.reasons == [{"code": "too_fast", "kmh": 540, "max": 120}]


def test_a_reused_photo() -> None:
    photos = [
        PhotoEvidence(reused=True, as_document=False, taken_at=None),
        PhotoEvidence(reused=False, as_document=False, taken_at=None),
    ]
    assert verdict(photos=photos).reasons == [
        {"code": "photo_reused", "count": 1},
        {"code": "photo_time_unknown", "count": 2, "note": True},
    ]


# Photos sent as files: the EXIF time may be at most 60 minutes before the 08:00 (Shanghai) start, i.e. 07:00.


def document(taken_at: datetime | None) -> PhotoEvidence:
    return PhotoEvidence(reused=False, as_document=True, taken_at=taken_at)


def test_a_file_taken_61_minutes_before_the_start_is_too_old() -> None:
    taken = START - timedelta(minutes=61)  # 23:59 UTC the day before = 06:59 in Shanghai
    v = verdict(photos=[document(taken)])
    assert v.reasons == [{"code": "photo_too_old", "count": 1, "taken_at": "2024-05-10 06:59"}]


def test_a_file_taken_59_minutes_before_the_start_is_fine() -> None:
    assert verdict(photos=[document(START - timedelta(minutes=59))]).valid
    # Exactly 60 minutes before is still allowed ("not earlier than one hour before").
    assert verdict(photos=[document(START - timedelta(minutes=60))]).valid


def test_a_compressed_photo_is_never_judged_by_its_time() -> None:
    # Telegram strips EXIF from compressed photos, so they have no time; and even with one, only files are judged.
    untimed = [{"code": "photo_time_unknown", "count": 1, "note": True}]
    v = verdict(photos=[PhotoEvidence(reused=False, as_document=False, taken_at=None)])
    assert v.valid and v.reasons == untimed
    long_ago = START - timedelta(days=30)
    v = verdict(photos=[PhotoEvidence(reused=False, as_document=False, taken_at=long_ago)])
    assert v.valid and v.reasons == untimed
    # A file without EXIF time can't be judged either.
    v = verdict(photos=[document(None)])
    assert v.valid and v.reasons == untimed


def test_photos_without_a_trustworthy_capture_time_are_marked_so() -> None:
    # Their age was not checked: the card says so of each, without refusing the patrol for it.
    photos = [
        PhotoEvidence(reused=False, as_document=False, taken_at=None),
        document(None),
        document(at(60)),
    ]
    v = verdict(photos=photos)
    assert v.valid
    assert v.reasons == [{"code": "photo_time_unknown", "count": 2, "note": True}]
    assert not any(blocking(r) for r in v.reasons)


def test_two_static_map_points_11_minutes_and_560_m_apart_make_no_valid_patrol() -> None:
    # Two locations picked on the map, no live location, no photo: every other rule passes.
    samples = [
        Sample(north(0), at(0), live=False),
        Sample(north(560), at(11 * 60), live=False),
    ]
    v = verdict(duration_s=11 * 60, samples=samples)
    assert not v.valid
    assert v.reasons == [{"code": "manual_locations"}]


def test_manual_locations_count_where_the_county_allows_them_and_are_still_marked() -> None:
    samples = [Sample(north(0), at(0), live=False), Sample(north(560), at(11 * 60), live=False)]
    v = verdict(duration_s=11 * 60, samples=samples, config=settings(patrol_allow_manual_locations=True))
    assert v.valid
    assert v.reasons == [{"code": "manual_locations_allowed", "note": True}]


def test_a_live_track_with_a_single_location_among_it_is_a_live_track() -> None:
    samples = [*walk(1000), Sample(north(500), at(300), live=False)]
    assert verdict(samples=samples).valid


def test_naive_exif_time_is_read_in_shanghai() -> None:
    # Naive 08:00 in Shanghai is 00:00 UTC, the start itself: fine. Naive 07:00 is 60 minutes before: fine.
    assert verdict(photos=[document(datetime(2024, 5, 10, 8, 0))]).valid
    assert verdict(photos=[document(datetime(2024, 5, 10, 7, 0))]).valid
    # Naive 06:59 is 22:59 UTC the day before, 61 minutes before the start: too old. Read as UTC it would have
    # been 6 h 59 min after the start, and passed.
    v = verdict(photos=[document(datetime(2024, 5, 10, 6, 59))])
    assert v.reasons == [{"code": "photo_too_old", "count": 1, "taken_at": "2024-05-10 06:59"}]
    # With TIMEZONE=UTC the same naive 06:59 is after the 00:00 UTC start.
    assert verdict(photos=[document(datetime(2024, 5, 10, 6, 59))], config=settings(timezone="UTC")).valid


def test_an_aware_exif_time_is_taken_as_is() -> None:
    # 06:59+08:00 and 22:59 UTC are the same moment, 61 minutes before the start, shown in Shanghai time.
    plus8 = timezone(timedelta(hours=8))
    for taken in (datetime(2024, 5, 10, 6, 59, tzinfo=plus8), datetime(2024, 5, 9, 22, 59, tzinfo=UTC)):
        assert verdict(photos=[document(taken)]).reasons == [
            {"code": "photo_too_old", "count": 1, "taken_at": "2024-05-10 06:59"}
        ]


def test_several_old_files_name_the_oldest() -> None:
    photos = [
        document(datetime(2024, 5, 10, 6, 30)),
        document(datetime(2024, 5, 9, 18, 5)),
        document(datetime(2024, 5, 10, 7, 30)),  # within the hour: not counted
    ]
    assert verdict(photos=photos).reasons == [{"code": "photo_too_old", "count": 2, "taken_at": "2024-05-09 18:05"}]


def test_everything_wrong_at_once() -> None:
    # 5 minutes; starts 2000 m north of the reach and jumps 300 m further north in 5 s (300 / 5 × 3.6 =
    # 216 km/h), so 300 m walked; two reused photos; one file from 07:15 the day before.
    samples = [Sample(north(2000), at(0)), Sample(north(2300), at(5))]
    photos = [
        PhotoEvidence(reused=True, as_document=False, taken_at=None),
        PhotoEvidence(reused=True, as_document=True, taken_at=datetime(2024, 5, 10, 7, 30)),
        document(datetime(2024, 5, 9, 7, 15)),
    ]
    v = verdict(duration_s=300, samples=samples, photos=photos)
    assert not v.valid
    assert v.duration_s == 300
    assert v.distance_m == pytest.approx(300.0, abs=1e-4)
    assert v.reasons == [
        {"code": "too_short", "minutes": 5.0, "min": 10},
        {"code": "too_little_distance", "meters": 300, "min": 500},
        {"code": "far_from_reach", "meters": 2000, "max": 1000},
        {"code": "too_fast", "kmh": 216, "max": 120},
        {"code": "photo_reused", "count": 2},
        {"code": "photo_too_old", "count": 1, "taken_at": "2024-05-09 07:15"},
        {"code": "photo_time_unknown", "count": 1, "note": True},
    ]


def test_the_rules_follow_the_settings() -> None:
    # Anhui's county: 5 minutes and 300 m. The 5-minute, 300-metre patrol above passes both there.
    anhui = settings(patrol_min_minutes=5, patrol_min_distance_m=300)
    samples = [Sample(north(0), at(0)), Sample(north(300), at(300))]
    assert verdict(duration_s=300, samples=samples, config=anhui).valid
    assert codes(verdict(duration_s=300, samples=samples)) == ["too_short", "too_little_distance"]


def test_a_car_reporting_every_two_seconds_is_caught_over_a_minute() -> None:
    """150 km/h is 41.7 m/s: 83 m every 2 s, never a 100 m hop; over 60 s it is 2.5 km, i.e. 150 km/h."""
    from datetime import UTC, datetime, timedelta

    from bot.config import load_settings
    from bot.validity import Sample, judge

    settings = load_settings(env_file=None)
    start = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    step = 83.33 / 111_195.08  # degrees of latitude per 2 s at 150 km/h
    samples = [Sample((30.0 + i * step, 120.0), start + timedelta(seconds=2 * i)) for i in range(400)]
    verdict = judge(
        settings, started_at=start, ended_at=start + timedelta(seconds=800), samples=samples, reach_lines=[], photos=[]
    )
    too_fast = [r for r in verdict.reasons if r["code"] == "too_fast"]
    assert too_fast and 145 <= too_fast[0]["kmh"] <= 155


def test_a_phone_lying_still_does_not_walk() -> None:
    """Fixes scattered up to 15 m around one spot every 5 s for 12 minutes: a naive sum would be about 1.5 km."""
    import random
    from datetime import UTC, datetime, timedelta

    from bot.config import load_settings
    from bot.validity import Sample, judge

    settings = load_settings(env_file=None)
    rng = random.Random(7)
    start = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    metre = 1 / 111_195.08
    samples = [
        Sample(
            (30.0 + rng.uniform(-7, 7) * metre, 120.0 + rng.uniform(-7, 7) * metre * 1.155),
            start + timedelta(seconds=5 * i),
        )
        for i in range(144)
    ]
    verdict = judge(
        settings, started_at=start, ended_at=start + timedelta(minutes=12), samples=samples, reach_lines=[], photos=[]
    )
    assert verdict.distance_m < 100
    assert any(r["code"] == "too_little_distance" for r in verdict.reasons)
