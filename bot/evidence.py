"""What a problem photo is evidence of: which side of the rectification it shows, when and where it was taken.

A before-photo is the report's: the problem's place and report time. An after-photo is evidence of its own and
must not borrow them: its time is the camera's (EXIF DateTimeOriginal) when that is plausible for a photo taken
after the report and before it reached the bot, else the time it arrived; its place is its own EXIF GPS, else
the sender's patrol track near the time it arrived, else unknown. Each says where it came from, on the stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.stamp import Kind, PlaceSource

# A track point this close to an after-photo's arrival says where the sender stood when they sent it.
TRACK_BEFORE = timedelta(minutes=15)
TRACK_AFTER = timedelta(minutes=2)
# Camera clocks drift and phones change zones: a capture time this far outside its window is still believed.
CLOCK_SLACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Sighting:
    """One photo's evidence: what the band says of it."""

    kind: Kind
    taken_at: datetime | None  # a capture time judged trustworthy
    received_at: datetime  # before-photos: the report's time; after-photos: when the photo arrived
    gps: tuple[float, float] | None
    place_source: PlaceSource | None = None  # after-photos: where `gps` came from; None with gps None
    place_at: datetime | None = None  # the track point's time, when the place came from the track


def trusted_taken_at(
    taken_at: datetime | None, *, not_before: datetime, not_after: datetime, tz: tzinfo
) -> datetime | None:
    """`taken_at` if an after-photo could have been taken then: after the problem was reported and before the
    photo arrived (with CLOCK_SLACK either side). A naive time is the camera's clock, read in the office's
    zone. Otherwise None: the arrival time stands in, and the stamp says so."""
    if taken_at is None:
        return None
    moment = taken_at if taken_at.tzinfo is not None else taken_at.replace(tzinfo=tz)
    if not not_before - CLOCK_SLACK <= moment <= not_after + CLOCK_SLACK:
        return None
    return taken_at
