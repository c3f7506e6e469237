"""Evidence copies: a photo with a band across the bottom that says what it shows, where and when.

Photos passed on — to the chief who must rectify a problem, into the office's exports — carry the problem's
number, category and reach, the coordinates, and when the photo was taken and reported, so that a copy
forwarded out of context still says what it is evidence of. The band is drawn on a new, smaller image
(at most `max_side` pixels on its longer side, upright by EXIF); the original bytes are never touched and
stay what the store keeps.

Decoding uses JPEG draft mode, like `bot.photos`: a 12-megapixel photo is decoded at 1/2 scale straight from
the compressed data when 1600 pixels will do. Pure and CPU-bound: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import math
import warnings
from datetime import datetime, tzinfo
from typing import Literal

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from bot import fonts
from bot.config import Language
from bot.i18n import Locales
from bot.photos import UPRIGHT, PhotoError, decode_slot, refuse_undecodable

MAX_SIDE = 1600
QUALITY = 85
# The text's size as a share of the picture's shorter side; the band grows with it.
TEXT_SHARE = 0.03
MIN_TEXT_PX = 12
# How much of the photo shows through the band: 0 black, 1 untouched.
BAND_SHOW_THROUGH = 0.4
TEXT_COLOUR = (255, 255, 255)
SEPARATOR = " · "
# The band's share of the photo's height at most: the bottom of a photo is often where the rubbish is.
MAX_BAND_SHARE = 0.10
# The smallest text drawn at all; below the band's limit on a tiny picture the text shrinks to it, not the rule.
TINY_TEXT_PX = 6

Kind = Literal["before", "after"]
# Where an after-photo's place came from: its own EXIF GPS, or the sender's track near the time it arrived.
PlaceSource = Literal["exif", "track"]


def stamp(original: bytes, lines: list[str], *, max_side: int = MAX_SIDE, quality: int = QUALITY) -> bytes:
    """A JPEG copy of `original`, upright and at most `max_side` on its longer side, with `lines` in a band.

    Raises `PhotoError` when `original` can't be decoded (it is meant for photos `bot.photos.analyze`
    accepted). Without lines, the copy has no band.
    """
    image = _decode(original, max_side)
    lines = [line for line in (" ".join(line.split()) for line in lines) if line]
    if lines:
        _draw_band(image, lines)
    out = io.BytesIO()
    # No EXIF: the copy is already upright, and what matters of the metadata is written on it.
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def format_coordinates(lat: float, lon: float) -> str:
    """Like "32.50123 N, 120.41234 E": five decimals are about a metre."""
    return f"{abs(lat):.5f} {'S' if lat < 0 else 'N'}, {abs(lon):.5f} {'W' if lon < 0 else 'E'}"


def evidence_lines(
    locales: Locales,
    lang: Language,
    *,
    number: int,
    category: str,
    reach: str,
    gps: tuple[float, float] | None,
    taken_at: datetime | None,
    reported_at: datetime,
    tz: tzinfo | None = None,
    kind: Kind = "before",
    place_source: PlaceSource | None = None,
    place_at: datetime | None = None,
) -> list[str]:
    """The band's three lines: problem, category and reach; coordinates; when taken and reported.

    `category` and `reach` are already in `lang`. Aware times are shown in `tz` (the office's time zone); a
    naive EXIF time is the camera's own clock and is shown as it is.

    An after-photo (`kind` "after") is evidence of its own: labelled rectified, with its own place (`gps` from
    `place_source`, None when unknown) and time (`taken_at`, a capture time judged trustworthy, else None;
    `reported_at`, when it reached the bot), each saying where it came from, so that a copy never passes the
    problem's coordinates or report time off as the after-photo's.
    """
    parts = [locales.plain(lang, "stamp.problem", number=number), category, reach]
    if kind == "after":
        parts.insert(0, locales.plain(lang, "stamp.rectified"))
    first = SEPARATOR.join(part for part in parts if part)
    if kind == "after":
        return [first, _after_place(locales, lang, gps=gps, source=place_source, at=place_at, tz=tz),
                _after_time(locales, lang, taken_at, reported_at, tz)]
    where = format_coordinates(*gps) if gps is not None else locales.plain(lang, "stamp.no_location")
    when = [locales.plain(lang, "stamp.reported", time=_minute(reported_at, tz))]
    if taken_at is not None:
        when.insert(0, locales.plain(lang, "stamp.taken", time=_minute(taken_at, tz)))
    return [first, where, SEPARATOR.join(when)]


def _after_place(
    locales: Locales,
    lang: Language,
    *,
    gps: tuple[float, float] | None,
    source: PlaceSource | None,
    at: datetime | None,
    tz: tzinfo | None,
) -> str:
    if gps is None or source is None:
        return locales.plain(lang, "stamp.place_unknown")
    place = format_coordinates(*gps)
    if source == "track":
        return locales.plain(lang, "stamp.place_track", place=place, time=_clock(at, tz) if at else "?")
    return locales.plain(lang, "stamp.place_exif", place=place)


def _after_time(
    locales: Locales, lang: Language, taken_at: datetime | None, received_at: datetime, tz: tzinfo | None
) -> str:
    received = _minute(received_at, tz)
    if taken_at is None:
        return locales.plain(lang, "stamp.received_only", time=received)
    return SEPARATOR.join(
        (
            locales.plain(lang, "stamp.taken_exif", time=_minute(taken_at, tz)),
            locales.plain(lang, "stamp.received", time=received),
        )
    )


def _clock(moment: datetime, tz: tzinfo | None) -> str:
    return _minute(moment, tz)[-5:]


def _minute(moment: datetime, tz: tzinfo | None) -> str:
    if moment.tzinfo is not None and tz is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M")


def _decode(data: bytes, max_side: int) -> Image.Image:
    """Upright RGB, at most `max_side` on the longer side; JPEG decoded at the smallest scale that suffices."""
    if max_side < 1:
        raise ValueError("max_side must be positive")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
        with opened:
            refuse_undecodable(opened)  # kept before the limit: refused here too, not decoded on every view
            width, height = opened.size
            longer = max(width, height)
            if opened.format in ("JPEG", "MPO") and longer > max_side:
                # Draft mode picks the largest 1/2, 1/4, 1/8 reduction that still covers the size asked for;
                # asking in the photo's own proportions lets it reduce by the longer side.
                scale = max_side / longer
                opened.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            with decode_slot(opened):  # the EXIF too: reading a PNG's may decode its pixels
                turn = _upright_turn(opened)
                opened.load()
                image = opened.convert("RGB")  # a new image (a copy when already RGB), free of the file
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PhotoError("photo.not_image") from None
    except (OSError, SyntaxError, ValueError):
        raise PhotoError("photo.corrupt") from None
    if turn is not None:
        image = image.transpose(turn)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def _upright_turn(image: Image.Image) -> Image.Transpose | None:
    """The turn that shows the picture upright, by its EXIF orientation.

    Not `ImageOps.exif_transpose`: it also rewrites the EXIF block, and raises TypeError on a damaged one that
    still reads (and that `bot.photos.analyze` accepts). A block that can't be read at all: as stored.
    """
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:
        return None
    return UPRIGHT.get(orientation) if isinstance(orientation, int) else None


def _draw_band(image: Image.Image, lines: list[str]) -> None:
    """White text on a darkened, see-through band at the bottom, never taller than MAX_BAND_SHARE of the photo.

    The lines may share a row (joined by SEPARATOR) where the photo is wide enough: of the ways to group them
    into rows, the one that lets the text be largest is drawn, so that fewer, longer rows on a landscape photo
    keep the text legible at phone width inside the thin band. Text shrinks to fit rather than covering more.
    """
    width, height = image.size
    limit = max(1, math.floor(height * MAX_BAND_SHARE))
    cap = max(MIN_TEXT_PX, round(min(width, height) * TEXT_SHARE))
    size, rows = max(
        ((_largest(rows, width, limit, cap), -len(rows), rows) for rows in _groupings(lines)),
        key=lambda choice: choice[:2],
    )[0::2]
    font = fonts.load(size)
    margin = _margin(size)
    available = max(1, width - 2 * margin)
    rows = [_fit(font, row, available) for row in rows]
    line_height = _line_height(font, size)
    gap = _gap(size)
    band = min(limit, _band_height(font, size, len(rows)))
    top = height - band
    region = image.crop((0, top, width, height))
    image.paste(Image.blend(Image.new("RGB", region.size), region, BAND_SHOW_THROUGH), (0, top))
    # The text is drawn on the band alone, so that nothing spills above it on a picture too small for the text.
    text = Image.new("RGB", (width, band))
    text.paste(image.crop((0, top, width, height)))
    draw = ImageDraw.Draw(text)
    y = margin
    for row in rows:
        draw.text((margin, y), row, fill=TEXT_COLOUR, font=font)
        y += line_height + gap
    image.paste(text, (0, top))


def _groupings(lines: list[str]) -> list[list[str]]:
    """Every way to put the lines, in order, into rows (consecutive lines joined): 4 for 3 lines."""
    if len(lines) <= 1:
        return [lines]
    found = []
    for rest in _groupings(lines[1:]):
        found.append([lines[0], *rest])
        found.append([SEPARATOR.join((lines[0], rest[0])), *rest[1:]])
    return found


def _largest(rows: list[str], width: int, limit: int, cap: int) -> int:
    """The largest text size, at most `cap`, at which `rows` fit the photo's width and the band's height limit;
    never below TINY_TEXT_PX (and below MIN_TEXT_PX only where the height limit demands it)."""
    size = cap
    while size > TINY_TEXT_PX:
        font = fonts.load(size)
        too_tall = _band_height(font, size, len(rows)) > limit
        widest = max(_text_width(font, row) for row in rows)
        too_wide = widest > width - 2 * _margin(size) and size > MIN_TEXT_PX
        if not too_tall and not too_wide:
            break
        shrink = [size - 1]
        if too_tall:
            shrink.append(math.floor(size * limit / _band_height(font, size, len(rows))))
        if too_wide:
            shrink.append(max(MIN_TEXT_PX, math.floor(size * (width - 2 * _margin(size)) / widest)))
        size = max(TINY_TEXT_PX, min(shrink))
    return size


def _margin(size: int) -> int:
    return max(2, round(size * 0.4))


def _gap(size: int) -> int:
    return round(size * 0.2)


def _line_height(font: fonts.Font, size: int) -> int:
    ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (size, size // 4)
    return int(ascent + descent)


def _band_height(font: fonts.Font, size: int, count: int) -> int:
    return 2 * _margin(size) + count * _line_height(font, size) + (count - 1) * _gap(size)


def _text_width(font: fonts.Font, text: str) -> float:
    left, _, right, _ = font.getbbox(text)
    return float(right - left)


def _fit(font: fonts.Font, text: str, available: int) -> str:
    """`text`, cut short with an ellipsis when even the smallest text is wider than the picture."""
    if _text_width(font, text) <= available:
        return text
    while text and _text_width(font, text + "…") > available:
        text = text[:-1]
    return text.rstrip() + "…"
