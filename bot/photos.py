"""Photos as evidence: checked, measured and kept, without decoding 12 megapixels when 400 × 300 will do.

A phone photo is 12 MP or more; a full decode costs most of the time. JPEG can decode at 1/2, 1/4 or 1/8
scale straight from the compressed data (Pillow's draft mode), which is all a thumbnail and a perceptual hash
need, and still reads every byte — a truncated or corrupt file fails just the same. Draft mode must be chosen
before anything loads the pixels, so it comes before the picture is turned upright.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

# The Bot API lets bots download files up to 20 MB.
MAX_FILE_BYTES = 20 * 1024 * 1024
# Formats phones and cameras produce that Pillow reads; MPO is the JPEG variant some phones write.
FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
THUMB_SIZE = 320
# PNG and WebP have no reduced decode (draft mode is JPEG's): every pixel is decoded, at 3-4 bytes, and held
# again while converted (WebP a third time, in libwebp's own buffer). A one-colour 9400 x 9400 PNG is 363 KB of
# file and took 1.4 GB at peak. Phones write photos as JPEG (or HEIC, which Telegram turns into JPEG); a PNG or
# WebP is a screenshot or an export, a few megapixels. Beyond these it is refused from its header, with an
# answer that says to send it as a photo or as JPEG. At the limits one decode peaks at about 155 MB (a 12 MP RGBA
# PNG) and 185 MB (an 8 MP RGBA WebP) for the whole process: `python -m benchmarks photo`.
MAX_LOSSLESS_PIXELS: dict[str, int] = {"PNG": 12_000_000, "WEBP": 8_000_000}
# A decode of more pixels than this is heavy (tens of MB and more): at most HEAVY_DECODES run at once, in the
# whole process, so that many chats sending big pictures together add up to a bounded amount of memory. A phone
# JPEG in draft mode stays far below it; a PNG near the cap waits for a slot.
HEAVY_PIXELS = 4_000_000
HEAVY_DECODES = 2
_heavy_slots = threading.BoundedSemaphore(HEAVY_DECODES)
# The side the hash is computed from: draft mode decodes to at least this, then it is shrunk to 9 × 8.
HASH_SOURCE = 64
# Photos whose 64-bit difference hashes differ in at most this many bits are the same picture, re-encoded.
SAME_PICTURE_BITS = 6

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# EXIF Orientation → the turn that shows the picture upright (as ImageOps.exif_transpose does).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _DATETIME = 0x9003, 0x9011, 0x0132
# Capture times outside these years are no capture time: no digital camera wrote EXIF before 1970 (a reset clock
# says 1970 or 1980 at the earliest), and year 1 or 9999 with an offset cannot even be converted to UTC or the
# office's zone (OverflowError in every place that shows or judges it). Inside them any zone conversion works.
EARLIEST_TAKEN_YEAR, LATEST_TAKEN_YEAR = 1970, 2099


class PhotoError(Exception):
    """The file can't be evidence; `key` picks the localized explanation (locales: photo.*)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    sha256: str
    size_bytes: int
    format: str
    width: int  # as shown, after EXIF orientation
    height: int
    # When the camera took it: aware when the EXIF names its offset, else naive local camera time.
    taken_at: datetime | None
    gps: tuple[float, float] | None  # (lat, lon)
    phash: int  # 64-bit difference hash
    thumbnail: bytes  # JPEG, at most THUMB_SIZE on its longer side

    @property
    def extension(self) -> str:
        return {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp"}[self.format]


def refuse_undecodable(image: Image.Image) -> None:
    """Raise `PhotoError` for a PNG or WebP whose full decode would cost too much memory (see MAX_LOSSLESS_PIXELS);
    read from the header, before anything is decoded."""
    width, height = image.size
    limit = MAX_LOSSLESS_PIXELS.get(str(image.format))
    if limit is not None and width * height > limit:
        raise PhotoError("photo.too_many_pixels_lossless", format=image.format, megapixels=limit // 1_000_000)


@contextlib.contextmanager
def decode_slot(image: Image.Image) -> Iterator[None]:
    """Hold one of the HEAVY_DECODES slots while `image` (its size as it will be decoded) is heavy to decode."""
    width, height = image.size
    if width * height <= HEAVY_PIXELS:
        yield
        return
    with _heavy_slots:
        yield


def analyze(data: bytes, *, max_pixels: int | None = None) -> PhotoInfo:
    """Check that `data` is a photo and measure it. CPU-bound: run it in a thread."""
    if len(data) > MAX_FILE_BYTES:
        raise PhotoError("photo.too_large_file", mb=MAX_FILE_BYTES // (1024 * 1024))
    limit = max_pixels or Image.MAX_IMAGE_PIXELS or 89_478_485
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; anything past the limit is refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        if isinstance(exc, Image.DecompressionBombWarning | Image.DecompressionBombError):
            raise PhotoError("photo.too_many_pixels", megapixels=limit // 1_000_000) from None
        raise PhotoError("photo.not_image") from None
    except OSError:
        raise PhotoError("photo.corrupt") from None
    with image:
        if image.format not in FORMATS:
            raise PhotoError("photo.unsupported_format", format=image.format or "?")
        width, height = image.size
        if width * height > limit:
            raise PhotoError("photo.too_many_pixels", megapixels=limit // 1_000_000)
        if width < 1 or height < 1:
            raise PhotoError("photo.corrupt")
        refuse_undecodable(image)
        try:
            if image.format in ("JPEG", "MPO"):
                # Decode at the smallest DCT scale that still gives a full-size thumbnail; chosen before anything
                # loads the pixels.
                image.draft("RGB", (THUMB_SIZE, THUMB_SIZE))
        except (OSError, SyntaxError, ValueError):
            raise PhotoError("photo.corrupt") from None
        # The slot covers reading the EXIF too (a PNG's may follow its pixels, and Pillow decodes them to reach it)
        # and the thumbnail and hash, as long as the decoded pixels are held.
        with decode_slot(image):
            try:
                exif = image.getexif()
                taken_at = _taken_at(exif)
                gps = _gps(exif)
                orientation = exif.get(0x0112)
            except Exception:  # a broken EXIF block is common and harmless: the picture still counts
                taken_at, gps, orientation = None, None, None
            turn = UPRIGHT.get(orientation) if isinstance(orientation, int) else None
            try:
                image.load()
                # Every step makes a new image only where it must (a mode to convert, a turn to make): at 16 MP a
                # needless copy is 50 MB more. Turned here rather than by ImageOps.exif_transpose, which also
                # rewrites the EXIF block and raises TypeError on a broken one that could still be read.
                rgb = image if image.mode == "RGB" else image.convert("RGB")
                if turn is not None:
                    rgb = rgb.transpose(turn)
                thumb = rgb.resize(thumbnail_size(*rgb.size), Image.Resampling.BILINEAR, reducing_gap=2.0)
                phash = difference_hash(rgb)
            except (OSError, SyntaxError, ValueError):
                raise PhotoError("photo.corrupt") from None
            del rgb
    sideways = turn is not None and orientation in (5, 6, 7, 8)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    shown_w, shown_h = (height, width) if sideways else (width, height)
    return PhotoInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        format=str(image.format),
        width=shown_w,
        height=shown_h,
        taken_at=taken_at,
        gps=gps,
        phash=phash,
        thumbnail=out.getvalue(),
    )


def thumbnail_size(width: int, height: int, side: int = THUMB_SIZE) -> tuple[int, int]:
    """The size `Image.thumbnail((side, side))` gives, to resize to it at once instead of shrinking a copy of
    the whole picture in place (the same pixels: thumbnail is this size, then this resize)."""
    if side >= width and side >= height:
        return width, height
    aspect = width / height

    def round_aspect(number: float, key: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if aspect <= 1:
        return round_aspect(side * aspect, key=lambda n: abs(aspect - n / side)), side
    return side, round_aspect(side / aspect, key=lambda n: 0 if n == 0 else abs(aspect - side / n))


def difference_hash(image: Image.Image) -> int:
    """64 bits: is each pixel of a 9 × 8 greyscale version brighter than its right neighbour.

    It survives re-compression and resizing (Telegram recompresses every photo) but not a different scene.
    """
    small = image.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    pixels = small.tobytes()  # mode L: one byte per pixel, row by row
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (1 if left > right else 0)
    return bits


def hash_distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def hash_bands(phash: int) -> tuple[int, int, int, int]:
    """The hash's four 16-bit quarters: two hashes within 3 bits share at least one, so the store can index
    them and find near-duplicates without comparing against every photo ever taken."""
    return ((phash >> 48) & 0xFFFF, (phash >> 32) & 0xFFFF, (phash >> 16) & 0xFFFF, phash & 0xFFFF)


def plausible_taken_at(moment: datetime | None) -> datetime | None:
    """`moment` if a camera could have written it, else None: "no trustworthy capture time"."""
    if moment is None or not EARLIEST_TAKEN_YEAR <= moment.year <= LATEST_TAKEN_YEAR:
        return None
    return moment


def read_taken_at(stored: str | None) -> datetime | None:
    """A capture time as the store keeps it (ISO text); None when absent, unreadable or impossible.

    Photos kept before arrival checked the time may hold year 1 or 9999: read as no time, not raised later."""
    if not stored:
        return None
    try:
        return plausible_taken_at(datetime.fromisoformat(stored))
    except ValueError:
        return None


def _taken_at(exif: Image.Exif) -> datetime | None:
    return plausible_taken_at(_exif_time(exif))


def _exif_time(exif: Image.Exif) -> datetime | None:
    ifd = exif.get_ifd(_EXIF_IFD)
    raw = ifd.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = ifd.get(_OFFSET_ORIGINAL)
    if isinstance(offset, str) and len(offset.strip("\x00 ")) == 6:
        text = offset.strip("\x00 ")
        try:
            sign = -1 if text[0] == "-" else 1
            hours, minutes = int(text[1:3]), int(text[4:6])
            return moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
        except ValueError:
            return moment
    return moment


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    gps = exif.get_ifd(_GPS_IFD)
    if not gps or 2 not in gps or 4 not in gps:
        return None

    def degrees(value: object) -> float:
        d, m, s = (float(v) for v in value)  # type: ignore[attr-defined]
        return d + m / 60 + s / 3600

    lat, lon = degrees(gps[2]), degrees(gps[4])
    if str(gps.get(1, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(3, "E")).upper().startswith("W"):
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return round(lat, 7), round(lon, 7)


def store_original(data_dir: Path, info: PhotoInfo, data: bytes) -> Path:
    """Keep the original bytes by content hash (written once, atomically) and the thumbnail beside it."""
    return store_original_files(data_dir, info, data)[0]


def store_original_files(data_dir: Path, info: PhotoInfo, data: bytes) -> tuple[Path, list[Path]]:
    """`store_original`, also naming the files this call created: when the photo's row then cannot be stored
    (a full disk), the caller removes them, as nothing else refers to them."""
    folder = data_dir / "photos" / info.sha256[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{info.sha256}.{info.extension}"
    created: list[Path] = []
    try:
        for target, content in ((path, data), (folder / f"{info.sha256}.thumb.jpg", info.thumbnail)):
            if target.exists():
                continue
            write_file(target, content)
            created.append(target)
    except BaseException:
        remove_files(created)
        raise
    return path, created


def write_file(target: Path, content: bytes) -> None:
    """Write `content` to `target` whole or not at all: through a temporary file, removed again when the write
    fails (a full disk or a read-only DATA_DIR must not leave a trail of empty files behind)."""
    # Unique per thread too: two chats sending the same picture at once store it from two threads of one
    # process, and a shared temporary file would be truncated under the other's writes, then renamed away.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with temporary.open("wb") as handle:
            _write(handle, content)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write(handle: BinaryIO, content: bytes) -> None:
    # The seam where a full disk shows (ENOSPC); tests put a failing writer here.
    handle.write(content)


def remove_files(paths: Iterable[Path]) -> None:
    """Remove files this process created, ignoring any already gone (or that cannot be removed either)."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
