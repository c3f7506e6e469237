"""Sample pictures for the chat page, made with Pillow instead of committed: a river bank as a phone camera takes
it, with EXIF time (the moment it is sent, as the stand-in's clock says) and GPS on a sample reach.

Each send is a new scene (the seed moves on), or the bot would rightly refuse a reused photo."""

from __future__ import annotations

import io
import itertools
import random
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw

# name -> (latitude, longitude) where it was "taken": beside a Chengdong reach of examples/registry, or nowhere.
SAMPLES: dict[str, tuple[float, float] | None] = {
    "bank_gps.jpg": (32.5298, 120.4057),
    "dumping_gps.jpg": (32.5310, 120.4300),
    "no_gps.jpg": None,
}
_seeds = itertools.count(random.SystemRandom().randrange(1, 1_000_000))


def _rational(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    return (float(degrees), float(minutes), round((minutes_float - minutes) * 60, 4))


def sample_bytes(folder: Path, name: str, taken_at: datetime | None = None) -> bytes:
    """A fresh JPEG for the sample `name`, with EXIF DateTimeOriginal (local time) and GPS when it has one."""
    seed = next(_seeds)
    rng = random.Random(seed)
    width, height = 1280, 960
    image = Image.new("RGB", (width, height), (70, 120 + seed % 60, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height // 2, width, height), fill=(40, 90 + seed % 80, 130))
    for _ in range(14):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 10, width // 3), rng.randrange(height // 10, height // 3)
        draw.rectangle((x, y, x + w, y + h), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = (taken_at or datetime.now().astimezone()).strftime("%Y:%m:%d %H:%M:%S")
    gps = SAMPLES.get(name)
    if gps is not None:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1], gps_ifd[2] = "N", _rational(gps[0])
        gps_ifd[3], gps_ifd[4] = "E", _rational(gps[1])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    data = out.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)  # the last one sent, to look at
    return data
