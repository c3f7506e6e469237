"""Image handling with Pillow: what Telegram does to photos (re-encode, resize, strip metadata)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

#: Max side of the PhotoSize variants generated for a compressed photo (Telegram's s/m/y sizes).
PHOTO_SIDES = (90, 320, 1280)
THUMBNAIL_SIDE = 320


class NotAnImage(ValueError):
    """The bytes are not something Pillow can decode."""


def _open(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        # Telegram sends a decompression bomb on as a plain file, without a thumbnail.
        raise NotAnImage(str(exc)) from exc
    return img


def _encode_jpeg(img: Image.Image, max_side: int) -> tuple[bytes, int, int]:
    scaled = img.copy()
    scaled.thumbnail((max_side, max_side))  # only ever shrinks, keeps aspect ratio
    buf = io.BytesIO()
    # No ``exif=`` argument: the metadata (GPS, camera, time) is dropped exactly like Telegram does.
    scaled.save(buf, format="JPEG", quality=85)
    return buf.getvalue(), scaled.width, scaled.height


def compress_photo(data: bytes, sides: tuple[int, ...] = PHOTO_SIDES) -> list[tuple[bytes, int, int]]:
    """Re-encode an image into Telegram-like PhotoSize variants, smallest first, never upscaled.

    Orientation from EXIF is applied first (Telegram shows photos upright), then all metadata is lost.
    """
    img = ImageOps.exif_transpose(_open(data)).convert("RGB")
    variants: list[tuple[bytes, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for side in sides:
        encoded, width, height = _encode_jpeg(img, side)
        if (width, height) not in seen:
            seen.add((width, height))
            variants.append((encoded, width, height))
    return variants


def make_thumbnail(data: bytes) -> tuple[bytes, int, int] | None:
    """Thumbnail Telegram attaches to an image sent as a document; ``None`` if it isn't an image."""
    try:
        img = ImageOps.exif_transpose(_open(data)).convert("RGB")
    except NotAnImage:
        return None
    return _encode_jpeg(img, THUMBNAIL_SIDE)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Pixel size of an image, or ``None`` when Pillow can't read it."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.width, img.height
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None
