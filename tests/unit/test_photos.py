"""Photos as evidence: measured (EXIF time and GPS, size as shown, perceptual hash, thumbnail), refused clearly
when they can't be evidence, and kept once by content hash."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import struct
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageDraw, ImageFile

from bot import photos as photo_module
from bot.config import load_settings
from bot.i18n import Locales
from bot.photos import (
    MAX_FILE_BYTES,
    SAME_PICTURE_BITS,
    THUMB_SIZE,
    PhotoError,
    PhotoInfo,
    analyze,
    hash_bands,
    hash_distance,
    store_original,
    store_original_files,
)
from bot.stamp import evidence_lines, stamp
from bot.validity import PhotoEvidence, judge
from tests.factories import make_flat_png, make_jpeg

TAKEN = datetime(2024, 5, 10, 7, 30, 15)
WHERE = (30.123456, 120.654321)


@pytest.fixture(scope="module")
def phone_photo() -> bytes:
    """A 12-megapixel phone photo with EXIF time and GPS."""
    return make_jpeg(4000, 3000, seed=3, taken_at=TAKEN, gps=WHERE)


def refused(data: bytes, **kwargs: int) -> PhotoError:
    with pytest.raises(PhotoError) as caught:
        analyze(data, **kwargs)
    return caught.value


def recompress(data: bytes, longest: int, quality: int) -> bytes:
    """What Telegram does to a photo sent as a photo: scaled to `longest` px, re-encoded, EXIF dropped."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A 1 × 1 PNG whose header (IHDR) claims `width` × `height`, with the header's CRC made right again.

    Layout: 8-byte signature, then the IHDR chunk: length (4), b"IHDR" (4), width (4), height (4), five one-byte
    fields, CRC-32 of type + data (4). So width is bytes 16–19, height 20–23, the CRC 29–32 over bytes 12–28.
    """
    data = bytearray(png(1, 1))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# -- measuring --------------------------------------------------------------------------------------------------


def test_a_phone_photo_is_measured(phone_photo: bytes) -> None:
    info = analyze(phone_photo)
    assert info.format == "JPEG"
    assert info.extension == "jpg"
    assert (info.width, info.height) == (4000, 3000)
    assert info.size_bytes == len(phone_photo)
    assert info.sha256 == hashlib.sha256(phone_photo).hexdigest()
    # No offset in the EXIF: the camera's local time, naive.
    assert info.taken_at == TAKEN
    assert info.gps is not None
    assert info.gps == pytest.approx(WHERE, abs=1e-5)
    assert 0 <= info.phash < 2**64


def test_the_thumbnail_is_a_small_valid_jpeg(phone_photo: bytes) -> None:
    thumb = analyze(phone_photo).thumbnail
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "JPEG"
        # 4000 × 3000 fitted into 320 × 320: 320 × 240.
        assert image.size == (320, 240)
        assert max(image.size) <= THUMB_SIZE
        image.load()  # decodes completely


def test_large_jpegs_are_decoded_in_draft_mode(phone_photo: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # What gets decoded has been cut down by the DCT scale: the largest of 1/2, 1/4, 1/8 that still leaves both
    # sides at least 320 px is 1/8 (4000 / 8 = 500, 3000 / 8 = 375; there is no 1/16), so only 500 × 375 pixels
    # are ever decoded, not 12 million.
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        result = real_load(self)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    info = analyze(phone_photo)
    assert decoded
    assert set(decoded) == {(500, 375)}
    assert (info.width, info.height) == (4000, 3000)  # the size reported is the photo's own


def sideways_jpeg(orientation: int) -> bytes:
    """640 × 480 as stored, with a red block in the stored top-left corner, and EXIF Orientation set."""
    image = Image.new("RGB", (640, 480), (200, 200, 200))
    ImageDraw.Draw(image).rectangle((0, 0, 160, 120), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def test_exif_orientation_6_swaps_width_and_height() -> None:
    # Orientation 6: the camera was held upright, the sensor stored it lying down; shown turned 90° clockwise.
    info = analyze(sideways_jpeg(6))
    assert (info.width, info.height) == (480, 640)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        # 480 × 640 fitted into 320 × 320: 240 × 320, portrait.
        assert thumb.size == (240, 320)
        # Turned clockwise, the stored top-left corner is now the top-right one.
        rgb = thumb.convert("RGB")
        top_right = rgb.getpixel((230, 10))
        top_left = rgb.getpixel((10, 10))
        assert isinstance(top_right, tuple)
        assert isinstance(top_left, tuple)
        assert top_right[0] > 200 and top_right[1] < 60
        assert top_left[1] > 150
    # Orientation 1 (upright) and 3 (upside down) keep the stored shape.
    assert (analyze(sideways_jpeg(1)).width, analyze(sideways_jpeg(3)).width) == (640, 640)


def test_a_large_sideways_photo_is_drafted_then_turned() -> None:
    # 4000 × 3000 stored, Orientation 6: shown 3000 × 4000; the thumbnail (drafted to 500 × 375, turned to
    # 375 × 500, fitted into 320 × 320) is 240 × 320.
    image = Image.open(io.BytesIO(make_jpeg(4000, 3000, seed=5)))
    exif = image.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    info = analyze(out.getvalue())
    assert (info.width, info.height) == (3000, 4000)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (240, 320)


def test_a_broken_exif_block_in_a_sideways_photo_still_counts() -> None:
    # Found by flipping bytes in EXIF blocks: here the GPS latitude-reference tag (0x0001, ASCII "N") has become
    # GPSSpeed (0x000D), which should be a RATIONAL. It still reads, but can't be written back, and
    # ImageOps.exif_transpose — which rewrites the block after turning — raised TypeError ("bad operand type for
    # abs(): 'str'") out of analyze: neither a photo nor a PhotoError.
    image = Image.new("RGB", (640, 480), (200, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (30.0, 7.0, 12.5), "E", (120.0, 1.0, 2.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    # Pillow writes big-endian ("MM"): tag 0x0001, type 2 (ASCII), count 2, value "N\0" padded to 4 bytes.
    entry = b"\x00\x01\x00\x02\x00\x00\x00\x02N\x00"
    assert out.getvalue().count(entry) == 1
    data = out.getvalue().replace(entry, b"\x00\x0d" + entry[2:])
    info = analyze(data)
    assert (info.width, info.height) == (480, 640)  # the orientation still read, and applied
    assert info.gps == pytest.approx((30.12013889, 120.01722222), abs=1e-5)  # 30°7'12.5" N (no ref: north)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (240, 320)


def test_exif_time_with_its_offset_is_aware() -> None:
    def with_time(tags: dict[int, str], *, in_exif_ifd: bool = True) -> bytes:
        exif = Image.Exif()
        target = exif.get_ifd(0x8769) if in_exif_ifd else exif
        for tag, value in tags.items():
            target[tag] = value
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (0, 90, 160)).save(out, "JPEG", exif=exif.tobytes())
        return out.getvalue()

    # DateTimeOriginal (0x9003) with OffsetTimeOriginal (0x9011).
    east = analyze(with_time({0x9003: "2024:05:10 07:30:15", 0x9011: "+08:00"})).taken_at
    assert east == datetime(2024, 5, 10, 7, 30, 15, tzinfo=timezone(timedelta(hours=8)))
    assert east is not None
    assert east.astimezone(UTC) == datetime(2024, 5, 9, 23, 30, 15, tzinfo=UTC)
    west = analyze(with_time({0x9003: "2024:05:10 07:30:15", 0x9011: "-03:30"})).taken_at
    assert west == datetime(2024, 5, 10, 7, 30, 15, tzinfo=timezone(-timedelta(hours=3, minutes=30)))
    # Only the plain DateTime (0x0132, in the main IFD): used, naive.
    assert analyze(with_time({0x0132: "2024:05:10 06:00:00"}, in_exif_ifd=False)).taken_at == datetime(
        2024, 5, 10, 6, 0
    )
    # A malformed time is no time, and the photo still counts.
    assert analyze(with_time({0x9003: "yesterday"})).taken_at is None


def test_gps_in_the_southern_and_western_hemispheres() -> None:
    info = analyze(make_jpeg(64, 48, gps=(-33.8688, -151.2093)))
    assert info.gps == pytest.approx((-33.8688, -151.2093), abs=1e-5)
    # (0, 0) is what a phone without a fix writes: no position.
    assert analyze(make_jpeg(64, 48, gps=(0.0, 0.0))).gps is None
    # No EXIF at all.
    plain = analyze(make_jpeg(64, 48))
    assert (plain.taken_at, plain.gps) == (None, None)


def test_png_is_accepted() -> None:
    info = analyze(png(300, 200))
    assert (info.format, info.extension, info.width, info.height) == ("PNG", "png", 300, 200)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (300, 200)  # smaller than 320 already: not enlarged


# -- the same picture -------------------------------------------------------------------------------------------


def test_the_same_picture_recompressed_hashes_alike(phone_photo: bytes) -> None:
    original = analyze(phone_photo).phash
    # As Telegram sends a photo on: 1280 px on the longer side, quality 60.
    sent = analyze(recompress(phone_photo, 1280, 60))
    assert (sent.width, sent.height) == (1280, 960)
    assert sent.taken_at is None  # recompressing dropped the EXIF
    assert hash_distance(original, sent.phash) <= SAME_PICTURE_BITS
    # Smaller still, and worse.
    assert hash_distance(original, analyze(recompress(phone_photo, 320, 40)).phash) <= SAME_PICTURE_BITS


def test_different_pictures_hash_apart(phone_photo: bytes) -> None:
    hashes = {seed: analyze(make_jpeg(640, 480, seed=seed)).phash for seed in range(8)}
    for (a, hash_a), (b, hash_b) in itertools.combinations(hashes.items(), 2):
        assert hash_distance(hash_a, hash_b) > SAME_PICTURE_BITS, (a, b)
    # The phone photo (seed 3) against another 12-megapixel scene.
    other = analyze(make_jpeg(4000, 3000, seed=4, taken_at=TAKEN, gps=WHERE)).phash
    assert hash_distance(analyze(phone_photo).phash, other) > SAME_PICTURE_BITS


def test_hash_distance_counts_differing_bits() -> None:
    assert hash_distance(0, 0) == 0
    assert hash_distance(0b1011, 0b0001) == 2
    assert hash_distance(0, 2**64 - 1) == 64


def test_hash_bands_are_the_four_16_bit_quarters() -> None:
    assert hash_bands(0x0123_4567_89AB_CDEF) == (0x0123, 0x4567, 0x89AB, 0xCDEF)


def test_hashes_within_three_bits_share_a_band() -> None:
    # Three flipped bits touch at most three of the four quarters, so one is left equal (pigeonhole). Every choice
    # of three quarters to flip one bit in, at every position in each, from a few base hashes.
    bases = [0, 2**64 - 1, 0x0123_4567_89AB_CDEF, 0xF0F0_0F0F_AAAA_5555]
    for base in bases:
        for skip in range(4):  # the quarter left alone
            for bit in range(16):
                flipped = base
                for quarter in range(4):
                    if quarter != skip:
                        flipped ^= 1 << (quarter * 16 + (bit + 5 * quarter) % 16)
                assert hash_distance(base, flipped) == 3
                shared = [x == y for x, y in zip(hash_bands(base), hash_bands(flipped), strict=True)]
                assert shared.count(True) == 1
    # Two bits in the same quarter leave three shared.
    assert sum(x == y for x, y in zip(hash_bands(0), hash_bands(0b11), strict=True)) == 3
    # The limit: one bit in each of the four quarters (4 bits apart) shares none.
    four = (1 << 0) | (1 << 16) | (1 << 32) | (1 << 48)
    assert not any(x == y for x, y in zip(hash_bands(0), hash_bands(four), strict=True))


# -- refusing ---------------------------------------------------------------------------------------------------


def test_a_text_file_is_not_an_image() -> None:
    error = refused("巡河记录：今天河道干净。\n".encode() * 20)
    assert error.key == "photo.not_image"


def test_a_truncated_jpeg_is_corrupt(phone_photo: bytes) -> None:
    # Cut in the middle of the picture data: the header reads, the decode fails — even in draft mode.
    assert refused(phone_photo[: len(phone_photo) // 2]).key == "photo.corrupt"
    small = make_jpeg(640, 480)
    assert refused(small[: len(small) // 2]).key == "photo.corrupt"
    # Even just the end-of-image marker missing.
    assert refused(small[:-2]).key == "photo.corrupt"


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # 30000 × 30000 = 900 megapixels, past twice Pillow's limit of 89,478,485: an error in Image.open. The file
    # holds one pixel of data, so a decode would have failed as corrupt instead: the answer comes from the header.
    error = refused(png_claiming(30_000, 30_000))
    assert error.key == "photo.too_many_pixels"
    assert error.params == {"megapixels": 89}
    # 10000 × 10000 = 100 megapixels: past the limit but under twice it, where Pillow only warns.
    assert refused(png_claiming(10_000, 10_000)).key == "photo.too_many_pixels"
    # Under a limit of our own: 2000 × 2000 = 4 MP > 1 MP.
    error = refused(png_claiming(2000, 2000), max_pixels=1_000_000)
    assert (error.key, error.params) == ("photo.too_many_pixels", {"megapixels": 1})


def test_a_file_over_20_mb_is_refused_before_reading() -> None:
    error = refused(b"\xff\xd8\xff" + bytes(21 * 1024 * 1024))
    assert error.key == "photo.too_large_file"
    assert error.params == {"mb": 20}
    assert MAX_FILE_BYTES == 20 * 1024 * 1024


def test_a_gif_is_unsupported() -> None:
    out = io.BytesIO()
    Image.new("P", (32, 32)).save(out, "GIF")
    error = refused(out.getvalue())
    assert (error.key, error.params) == ("photo.unsupported_format", {"format": "GIF"})


# -- keeping ----------------------------------------------------------------------------------------------------


def test_store_original_writes_once_by_content_hash(tmp_path: Path, phone_photo: bytes) -> None:
    info = analyze(phone_photo)
    path = store_original(tmp_path, info, phone_photo)
    assert path == tmp_path / "photos" / info.sha256[:2] / f"{info.sha256}.jpg"
    assert path.read_bytes() == phone_photo
    thumb = path.with_name(f"{info.sha256}.thumb.jpg")
    assert thumb.read_bytes() == info.thumbnail
    # Backdate both files; a second store must leave them alone (a rewrite, even of the same bytes, would move
    # the modification time and the inode — the temporary file is renamed over the target).
    old = 1_000_000_000
    for target in (path, thumb):
        os.utime(target, (old, old))
    before = {target: (target.stat().st_mtime, target.stat().st_ino) for target in (path, thumb)}
    assert store_original(tmp_path, info, phone_photo) == path
    assert {target: (target.stat().st_mtime, target.stat().st_ino) for target in (path, thumb)} == before
    # Nothing else was left behind (no temporary files).
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, thumb.name])


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_write_the_disk_refuses_leaves_nothing_behind(
    tmp_path: Path, phone_photo: bytes, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    info = analyze(phone_photo)
    written: list[int] = []

    def refuse(handle: BinaryIO, content: bytes) -> None:
        """The original fits; the thumbnail after it does not (half of it is written first)."""
        if written:
            handle.write(content[: len(content) // 2])
            raise OSError(code, os.strerror(code))
        written.append(handle.write(content))

    monkeypatch.setattr(photo_module, "_write", refuse)
    with pytest.raises(OSError) as caught:
        store_original_files(tmp_path, info, phone_photo)
    assert caught.value.errno == code
    # Neither the temporary file nor the original written before it is left: the call kept nothing.
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    path, created = store_original_files(tmp_path, info, phone_photo)
    assert created == [path, path.with_name(f"{info.sha256}.thumb.jpg")]
    assert store_original_files(tmp_path, info, phone_photo) == (path, [])  # already kept: nothing created


def test_two_threads_storing_the_same_photo_at_once(
    tmp_path: Path, phone_photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two chats send the same picture at the same moment: both analyses run in threads, both find no stored copy,
    # both write. Each fsync waits for the other thread to reach its own, so the two writes overlap for certain.
    info = analyze(phone_photo)
    both = threading.Barrier(2, timeout=5)
    real_fsync: Callable[[int], None] = os.fsync

    def fsync_together(fd: int) -> None:
        real_fsync(fd)
        both.wait()

    monkeypatch.setattr(os, "fsync", fsync_together)  # bot.photos calls it as os.fsync
    results: list[Path] = []
    errors: list[BaseException] = []

    def store() -> None:
        try:
            results.append(store_original(tmp_path, info, phone_photo))
        except BaseException as exc:
            errors.append(exc)
            both.abort()

    threads = [threading.Thread(target=store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 2
    assert results[0] == results[1]
    assert results[0].read_bytes() == phone_photo
    assert results[0].with_name(f"{info.sha256}.thumb.jpg").read_bytes() == info.thumbnail
    assert sorted(p.name for p in results[0].parent.iterdir()) == [f"{info.sha256}.jpg", f"{info.sha256}.thumb.jpg"]


def test_photo_info_extension_per_format() -> None:
    base = analyze(make_jpeg(16, 16))
    for fmt, extension in (("JPEG", "jpg"), ("MPO", "jpg"), ("PNG", "png"), ("WEBP", "webp")):
        info = PhotoInfo(
            sha256=base.sha256,
            size_bytes=base.size_bytes,
            format=fmt,
            width=16,
            height=16,
            taken_at=None,
            gps=None,
            phash=0,
            thumbnail=b"",
        )
        assert info.extension == extension


# -- impossible capture times (issue 13, finding 2) --------------------------------------------------------------

EXIF_TIMES = ["0001:01:01 00:00:00", "0001:01:01 07:59:59", "1969:12:31 23:59:59", "2026:12:02 09:30:00"]
EXIF_TIMES += ["2099:12:31 23:59:59", "9999:12:31 23:59:59"]
EXIF_OFFSETS = [None, "-12:00", "-03:30", "+00:00", "+08:00", "+14:00"]
LOCALES = Locales.load()


@pytest.mark.parametrize(("raw", "offset"), list(itertools.product(EXIF_TIMES, EXIF_OFFSETS)))
def test_an_impossible_exif_date_is_no_capture_time_and_breaks_nothing(raw: str, offset: str | None) -> None:
    taken_at = analyze(make_jpeg(64, 48, exif_time=raw, exif_offset=offset)).taken_at
    if raw.startswith(("0001", "9999", "1969")):
        assert taken_at is None  # no trustworthy capture time, and the photo still counts
    else:
        assert taken_at is not None and str(taken_at.year) == raw[:4]
    # Whatever was kept converts wherever a time is shown or judged (the 8 combinations of the issue raised
    # OverflowError here: year 1 east of UTC, year 9999 west of it).
    settings = load_settings(env_file=None, timezone="Asia/Shanghai")
    started = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    photo = PhotoEvidence(reused=False, as_document=True, taken_at=taken_at)
    judge(settings, started_at=started, ended_at=started, samples=[], reach_lines=[], photos=[photo])
    for tz in (ZoneInfo("Asia/Shanghai"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Etc/GMT+12")):
        lines = evidence_lines(
            LOCALES, "zh", number=1, category="", reach="", gps=None, taken_at=taken_at, reported_at=started, tz=tz
        )
        assert len(lines) == 3
    # What the store keeps (ISO text) reads back as what was kept, or as no time.
    stored = taken_at.isoformat() if taken_at else None
    assert photo_module.read_taken_at(stored) == taken_at


@pytest.mark.parametrize(
    "stored", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00", "not a time", ""]
)
def test_an_impossible_capture_time_already_stored_reads_as_none(stored: str) -> None:
    # Kept before arrival was checked: read back as no time rather than raising later, wherever it is shown.
    assert photo_module.read_taken_at(stored) is None


# -- pictures that decode to gigabytes (issue 13, finding 3) -----------------------------------------------------


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every decode Pillow is asked for, as (format, width, height): what `load()` fills is what memory holds."""
    seen: list[tuple[str, int, int]] = []
    load = ImageFile.ImageFile.load

    def recording(self: ImageFile.ImageFile) -> Any:
        if self.tile:  # not decoded yet: this call decodes it
            seen.append((str(self.format), *self.size))
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording)
    return seen


def test_a_huge_one_colour_png_is_refused_before_a_pixel_is_decoded(decoded: list[tuple[str, int, int]]) -> None:
    huge = make_flat_png(9400, 9400)  # 88 MP, under Pillow's limit; 265 MB decoded, 1.4 GB at peak before
    assert len(huge) < 400_000
    error = refused(huge)
    assert (error.key, error.params) == ("photo.too_many_pixels_lossless", {"format": "PNG", "megapixels": 12})
    # An evidence copy of such a file kept before this limit: refused too, not decoded on every view.
    with pytest.raises(PhotoError):
        stamp(huge, ["#1"])
    assert decoded == []


def test_no_decode_asks_pillow_for_more_than_the_cap(decoded: list[tuple[str, int, int]]) -> None:
    at_cap = make_flat_png(4000, 3000)  # exactly the PNG cap, 12 MP (a phone photo exported as PNG): accepted
    assert analyze(at_cap).format == "PNG"
    stamp(at_cap, ["#1"])
    assert refused(make_flat_png(4001, 3000)).key == "photo.too_many_pixels_lossless"
    webp = io.BytesIO()
    Image.new("RGB", (4000, 2000), (10, 120, 200)).save(webp, "WEBP")  # exactly WebP's cap, 8 MP
    assert analyze(webp.getvalue()).format == "WEBP"
    webp = io.BytesIO()
    Image.new("RGB", (4001, 2000), (10, 120, 200)).save(webp, "WEBP")
    error = refused(webp.getvalue())
    assert (error.key, error.params) == ("photo.too_many_pixels_lossless", {"format": "WEBP", "megapixels": 8})
    # A big JPEG is decoded reduced (draft mode), whatever its size.
    analyze(make_jpeg(4000, 3000))
    stamp(make_jpeg(4000, 3000), ["#1"])
    assert decoded, "the decodes were seen"
    for kind, width, height in decoded:
        limit = photo_module.MAX_LOSSLESS_PIXELS.get(kind, 3_000_000)
        assert width * height <= limit, (kind, width, height)


@pytest.mark.parametrize(
    "size", [(4000, 3000), (3000, 4000), (320, 320), (321, 320), (300, 200), (1000, 1), (1, 1000), (641, 479)]
)
def test_the_thumbnail_size_is_the_one_pillow_gives(size: tuple[int, int]) -> None:
    # The thumbnail is resized to this at once, not shrunk in place from a copy of the whole picture.
    picture = Image.new("L", size)
    picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
    assert photo_module.thumbnail_size(*size) == picture.size


def test_heavy_decodes_wait_for_a_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each slot is one heavy decode (hundreds of MB at the cap); more at once would add up past the machine.
    monkeypatch.setattr(photo_module, "HEAVY_PIXELS", 100 * 100)
    running, most = 0, 0
    lock = threading.Lock()
    load = ImageFile.ImageFile.load

    def slow(self: ImageFile.ImageFile) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            threading.Event().wait(0.1)
            return load(self)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow)
    pictures = [png(400 + i, 300) for i in range(8)]
    threads = [threading.Thread(target=analyze, args=(picture,)) for picture in pictures]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == photo_module.HEAVY_DECODES == 2
