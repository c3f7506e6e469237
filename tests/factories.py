"""Real image bytes for tests: a river-ish JPEG, optionally with EXIF time and GPS like a phone camera writes."""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from datetime import datetime

from PIL import Image, ImageDraw


def _rational(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = round((minutes_float - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def make_jpeg(
    width: int = 640,
    height: int = 480,
    *,
    seed: int = 0,
    taken_at: datetime | None = None,
    gps: tuple[float, float] | None = None,
    quality: int = 85,
    exif_time: str | None = None,
    exif_offset: str | None = None,
) -> bytes:
    """A JPEG with a distinct picture per `seed` (so perceptual hashes differ) and optional EXIF.

    `exif_time` and `exif_offset` write DateTimeOriginal and OffsetTimeOriginal as given ("0001:01:01 00:00:00",
    "+08:00"): a datetime cannot hold every string a camera (or a forger) writes.
    """
    image = Image.new("RGB", (width, height), (40 + seed * 37 % 180, 110, 160))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        y = (seed * 53 + i * height // 6) % height
        draw.rectangle((0, y, width, y + height // 14), fill=((seed * 71 + i * 40) % 255, 150, 90))
    draw.ellipse((width // 4, height // 4, width // 2 + seed % 50, height // 2), fill=(230, 220, 200))
    # Shapes placed by the seed, so that two seeds are two different scenes to a perceptual hash.
    rng = random.Random(seed)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 8, width // 2), rng.randrange(height // 8, height // 2)
        shade = rng.randrange(256)
        draw.rectangle((x, y, x + w, y + h), fill=(shade, 255 - shade, rng.randrange(256)))
    exif = Image.Exif()
    if taken_at is not None:
        exif_ifd = exif.get_ifd(0x8769)
        exif_ifd[0x9003] = taken_at.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    if exif_time is not None:
        exif.get_ifd(0x8769)[0x9003] = exif_time
    if exif_offset is not None:
        exif.get_ifd(0x8769)[0x9011] = exif_offset  # OffsetTimeOriginal
    if gps is not None:
        lat, lon = gps
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "N" if lat >= 0 else "S"
        gps_ifd[2] = _rational(abs(lat))
        gps_ifd[3] = "E" if lon >= 0 else "W"
        gps_ifd[4] = _rational(abs(lon))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


@functools.cache
def make_flat_png(width: int, height: int, colour: tuple[int, int, int] = (20, 110, 160)) -> bytes:
    """A valid one-colour RGB PNG, written row by row: a 9400 × 9400 one is about 370 KB of file and 265 MB of
    pixels, and building it never holds those pixels (Image.new would)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(colour) * width  # filter type 0, then the pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, deflate, no filter, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
