"""Whether a patrol counts toward the patrol rate, and every reason it does not.

River-chief apps refuse fake patrols: too short, too little walked, nowhere near the river, a car-speed jump,
a photo that was used before or taken long before. A patrol that fails is kept and shown with its reasons,
never dropped: the office may still want to see it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.geo import Point, distance_to_lines_m, haversine_m

# GPS jitter moves a phone tens of metres between two fixes a second apart; only hops longer than this are
# judged for speed, so jitter is not mistaken for a car.
SPEED_CHECK_MIN_HOP_M = 100.0
SPEED_CHECK_MIN_SPAN_S = 60.0
# Moves shorter than this from the last counted point are GPS noise, not walking.
JITTER_M = 20.0


@dataclass(frozen=True, slots=True)
class Sample:
    point: Point
    at: datetime
    # From a live location (Telegram's own GPS feed), or a single location, which can be any point picked on
    # the map: only a live track shows that someone walked the river.
    live: bool = True


@dataclass(frozen=True, slots=True)
class PhotoEvidence:
    reused: bool
    as_document: bool
    taken_at: datetime | None  # aware, or naive camera-local time


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    distance_m: float
    duration_s: int
    # [{"code": "too_short", "minutes": 7.5, "min": 10}, …]: codes pick the localized reason (patrol.reason.*).
    # One marked {"note": True} is shown but does not stop the patrol from counting (see `blocking`).
    reasons: list[dict[str, Any]] = field(default_factory=list)


def blocking(reason: dict[str, Any]) -> bool:
    """Whether a reason keeps the patrol from counting; a note (a photo without a trustworthy time, manual
    locations where the county allows them) only informs whoever reads the card. Notes live among the reasons
    so the stored verdict (one JSON list) keeps them without a new column."""
    return not reason.get("note")


def judge(
    settings: Settings,
    *,
    started_at: datetime,
    ended_at: datetime,
    samples: Sequence[Sample],
    reach_lines: Sequence[Sequence[Point]],
    photos: Sequence[PhotoEvidence],
) -> Verdict:
    samples = sorted(samples, key=lambda s: s.at)
    points = [s.point for s in samples]
    duration_s = max(0, int((ended_at - started_at).total_seconds()))
    distance_m = walked_m(points)
    reasons: list[dict[str, Any]] = []

    minutes = duration_s / 60
    if minutes < settings.patrol_min_minutes:
        shown = _shown(minutes, settings.patrol_min_minutes, over=False)
        reasons.append({"code": "too_short", "minutes": shown, "min": _whole(settings.patrol_min_minutes)})
    if distance_m < settings.patrol_min_distance_m:
        reasons.append(
            {
                "code": "too_little_distance",
                "meters": _shown(distance_m, settings.patrol_min_distance_m, over=False),
                "min": _whole(settings.patrol_min_distance_m),
            }
        )
    if reach_lines:
        if not points:
            reasons.append({"code": "no_location"})
        else:
            nearest = min(distance_to_lines_m(p, reach_lines) for p in points)
            if nearest > settings.patrol_max_distance_from_reach_m:
                reasons.append(
                    {
                        "code": "far_from_reach",
                        "meters": _shown(nearest, settings.patrol_max_distance_from_reach_m, over=True),
                        "max": _whole(settings.patrol_max_distance_from_reach_m),
                    }
                )
    fastest = _fastest_hop_kmh(samples)
    if fastest > settings.patrol_max_speed_kmh:
        kmh = _shown(fastest, settings.patrol_max_speed_kmh, over=True)
        reasons.append({"code": "too_fast", "kmh": kmh, "max": settings.patrol_max_speed_kmh})
    if points and not any(s.live for s in samples):
        # Two points hand-picked on the map, minutes and hundreds of metres apart, pass every rule above; without
        # a live location nothing shows the river was walked.
        if settings.patrol_allow_manual_locations:
            reasons.append({"code": "manual_locations_allowed", "note": True})
        else:
            reasons.append({"code": "manual_locations"})
    reused = sum(1 for p in photos if p.reused)
    if reused:
        reasons.append({"code": "photo_reused", "count": reused})
    earliest = started_at - timedelta(minutes=settings.patrol_photo_max_age_minutes)
    old = [p for p in photos if p.as_document and p.taken_at is not None and _aware(p.taken_at, settings.tz) < earliest]
    if old:
        taken = min(_aware(p.taken_at, settings.tz) for p in old if p.taken_at is not None)
        reasons.append(
            {
                "code": "photo_too_old",
                "count": len(old),
                "taken_at": taken.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
            }
        )
    # A compressed photo has lost its EXIF, and a file may carry none: its age cannot be checked, so say so.
    untimed = sum(1 for p in photos if not p.as_document or p.taken_at is None)
    if untimed:
        reasons.append({"code": "photo_time_unknown", "count": untimed, "note": True})
    return Verdict(not any(blocking(r) for r in reasons), distance_m, duration_s, reasons)


def _whole(value: float) -> int | float:
    """10.0 as 10: a setting read as a float reads as the whole number it is."""
    return int(value) if float(value).is_integer() else value


def reason_params(reason: dict[str, Any]) -> dict[str, Any]:
    """A stored reason's figures for its text. Patrols judged before minutes were whole kept tenths ("4.0 min,
    less than 10.0 min"): shown whole, rounded down, so the figure never reaches the limit it fell short of."""
    params = {k: v for k, v in reason.items() if k not in ("code", "note")}
    if reason.get("code") == "too_short" and isinstance(params.get("minutes"), float):
        params["minutes"] = math.floor(params["minutes"])
    for limit in ("min", "max"):
        if isinstance(params.get(limit), float):
            params[limit] = _whole(params[limit])
    return params


def _shown(value: float, limit: float, *, over: bool) -> int:
    """Rounded for the reason's text, but never onto the passing side of the limit: 9 min 59 s rounded is
    "10.0 min, less than 10 min", a 1000.4 m gap "1000 m, should be within 1000 m"."""
    shown = round(value)
    return max(shown, math.floor(limit) + 1) if over else min(shown, math.ceil(limit) - 1)


def _aware(moment: datetime, tz: ZoneInfo) -> datetime:
    """EXIF without an offset is the camera's local time: read it in the bot's time zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def walked_m(points: Sequence[Point]) -> float:
    """Track length counting only moves of JITTER_M or more from the last counted point.

    A phone lying still reports fixes scattered tens of metres around it; summed naively, ten minutes of that
    "walks" a kilometre. Moves below the jitter radius are not counted until they add up to a real move.
    """
    if not points:
        return 0.0
    total, anchor = 0.0, points[0]
    for point in points[1:]:
        step = haversine_m(anchor, point)
        if step >= JITTER_M:
            total += step
            anchor = point
    return total


def _fastest_hop_kmh(samples: Sequence[Sample]) -> float:
    """The fastest move: over single hops of 100 m or more, and over spans of a minute or more.

    Short hops are GPS jitter (60 m in a second is not a car); but a car whose phone reports every two seconds
    never makes a 100 m hop, so spans of at least a minute, where jitter is small against the distance, are
    judged too.
    """
    fastest = 0.0
    j = 0
    for i in range(1, len(samples)):
        a, b = samples[i - 1], samples[i]
        meters = haversine_m(a.point, b.point)
        if meters >= SPEED_CHECK_MIN_HOP_M:
            seconds = max(1.0, (b.at - a.at).total_seconds())
            fastest = max(fastest, meters / seconds * 3.6)
        # The latest start j at least SPEED_CHECK_MIN_SPAN_S before this point.
        while j + 1 < i and (b.at - samples[j + 1].at).total_seconds() >= SPEED_CHECK_MIN_SPAN_S:
            j += 1
        span = (b.at - samples[j].at).total_seconds()
        if span >= SPEED_CHECK_MIN_SPAN_S:
            fastest = max(fastest, haversine_m(samples[j].point, b.point) / span * 3.6)
    return fastest
