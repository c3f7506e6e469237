"""Evidence copies (bot/stamp.py) and the font that draws their Chinese (bot/fonts.py).

The tests that need a Chinese font are skipped, with the reason, on a machine without one; `.ci/run` installs
fonts-wqy-microhei so that they run in CI.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import statistics
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from bot import fonts
from bot.config import ConfigError, load_settings
from bot.i18n import Locales
from bot.photos import PhotoError
from bot.stamp import evidence_lines, format_coordinates, stamp
from tests.factories import make_jpeg

SYSTEM_FONT = fonts._search()
requires_cjk = pytest.mark.skipif(
    SYSTEM_FONT is None,
    reason="no CJK font found on this machine (install fonts-wqy-microhei, as .ci/run does)",
)
LINES = [
    "问题 #123 · 乱堆 · 丁堡河（城东段）",
    "32.50123 N, 120.41234 E",
    "拍摄 2026-11-29 08:31 · 上报 2026-11-29 09:02",
]


@pytest.fixture(autouse=True)
def fresh_fonts() -> Iterator[None]:
    fonts.reset()
    yield
    fonts.reset()


@pytest.fixture
def no_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without any Chinese font: no known file, nothing from fontconfig."""
    monkeypatch.setattr(fonts, "CANDIDATES", ())
    monkeypatch.setattr(fonts, "_fontconfig", list)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image.convert("RGB")


def plain_jpeg(width: int, height: int, colour: tuple[int, int, int] = (225, 230, 220), **exif: int) -> bytes:
    out = io.BytesIO()
    tags = Image.Exif()
    for tag, value in exif.items():
        tags[int(tag.removeprefix("tag_"), 16)] = value
    Image.new("RGB", (width, height), colour).save(out, "JPEG", quality=90, exif=tags.tobytes())
    return out.getvalue()


def grey_at(image: Image.Image, x: int, y: int) -> int:
    value = image.convert("L").getpixel((x, y))
    assert isinstance(value, float | int)
    return int(value)


def dark_rows(image: Image.Image) -> int:
    """How many rows at the bottom are mostly dark (the band, on a bright photo)."""
    grey = image.convert("L")
    rows = 0
    for y in range(grey.height - 1, -1, -1):
        if statistics.median(grey.crop((0, y, grey.width, y + 1)).tobytes()) >= 128:
            break
        rows += 1
    return rows


def band(image: Image.Image) -> Image.Image:
    return image.crop((0, image.height - dark_rows(image), image.width, image.height))


def latin_only_font(tmp_path: Path) -> Path:
    """Pillow's built-in font (Aileron) as a file: a real font, but without Chinese characters."""
    builtin = ImageFont.load_default(20)
    assert isinstance(builtin, ImageFont.FreeTypeFont) and builtin.font_bytes
    path = tmp_path / "latin.ttf"
    path.write_bytes(builtin.font_bytes)
    return path


# -- the copy ---------------------------------------------------------------------------------------------


def test_a_large_photo_becomes_a_jpeg_at_most_max_side_in_its_proportions() -> None:
    original = make_jpeg(3200, 2400, seed=1, taken_at=datetime(2026, 11, 29, 8, 31), gps=(32.50123, 120.41234))
    copy = decode(stamp(original, LINES))
    assert copy.size == (1600, 1200)
    assert decode(stamp(original, LINES, max_side=1000)).size == (1000, 750)


def test_a_small_photo_is_not_enlarged() -> None:
    assert decode(stamp(make_jpeg(640, 480), LINES)).size == (640, 480)


def test_the_copy_is_upright_by_exif() -> None:
    # Orientation 6: stored landscape, shown rotated a quarter turn, i.e. portrait.
    original = plain_jpeg(800, 600, tag_0112=6)
    copy = decode(stamp(original, LINES))
    assert copy.size == (600, 800)
    assert not decode(stamp(original, LINES)).getexif().get(0x0112)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_every_turn_matches_what_pillow_shows(orientation: int) -> None:
    # A dark quarter in the stored top left: after turning it must be where ImageOps.exif_transpose puts it.
    picture = Image.new("RGB", (800, 600), (225, 230, 220))
    picture.paste((20, 20, 20), (0, 0, 400, 300))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, exif=exif.tobytes())
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(out.getvalue())))
    copy = decode(stamp(out.getvalue(), []))
    assert copy.size == expected.size
    for x, y in ((50, 50), (copy.width - 50, 50), (50, copy.height - 50), (copy.width - 50, copy.height - 50)):
        assert abs(grey_at(copy, x, y) - grey_at(expected, x, y)) < 30


def test_a_damaged_exif_block_still_gives_an_upright_copy() -> None:
    # As in test_photos: the GPS latitude reference (ASCII) retagged as GPSSpeed (RATIONAL) still reads, but
    # can't be written back; ImageOps.exif_transpose raises TypeError on it.
    exif = Image.Exif()
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (30.0, 7.0, 12.5), "E", (120.0, 1.0, 2.0)
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 200, 200)).save(out, "JPEG", exif=exif.tobytes())
    entry = b"\x00\x01\x00\x02\x00\x00\x00\x02N\x00"
    assert out.getvalue().count(entry) == 1
    damaged = out.getvalue().replace(entry, b"\x00\x0d" + entry[2:])
    assert decode(stamp(damaged, LINES)).size == (480, 640)


def test_the_band_is_dark_at_the_bottom_and_the_rest_is_the_photo() -> None:
    original = plain_jpeg(1200, 900)
    copy = decode(stamp(original, LINES))
    without = decode(stamp(original, []))
    rows = dark_rows(copy)
    # Three lines of text: a band of about a sixth of the picture, never the whole of it.
    assert 0.08 * copy.height <= rows <= 0.3 * copy.height
    grey = copy.convert("L")
    assert statistics.median(grey.crop((0, copy.height - rows, copy.width, copy.height)).tobytes()) < 100
    # Above the band the picture is untouched (but for the JPEG blocks of 16 × 16 the band's edge crosses);
    # in it, it differs from a copy without lines.
    above = (0, 0, copy.width, (copy.height - rows) // 16 * 16)
    assert copy.crop(above).tobytes() == without.crop(above).tobytes()
    below = (0, copy.height - rows, copy.width, copy.height)
    assert copy.crop(below).tobytes() != without.crop(below).tobytes()
    assert dark_rows(without) == 0


def test_the_band_grows_with_the_picture() -> None:
    small, large = (decode(stamp(plain_jpeg(w, h), LINES)) for w, h in ((800, 600), (1600, 1200)))
    assert dark_rows(small) / small.height == pytest.approx(dark_rows(large) / large.height, abs=0.02)


def test_the_text_is_white() -> None:
    copy = decode(stamp(plain_jpeg(1200, 900), LINES))
    assert max(band(copy).convert("L").tobytes()) > 230


def test_the_original_bytes_are_unchanged() -> None:
    original = make_jpeg(1200, 900, seed=2, gps=(32.5, 120.4))
    before = hashlib.sha256(original).hexdigest()
    copy = stamp(original, LINES)
    assert hashlib.sha256(original).hexdigest() == before
    assert copy != original


def test_a_line_too_long_for_a_narrow_photo_is_shrunk_or_cut_not_overflowing() -> None:
    long_line = "问题 #123 · 乱堆 · " + "丁堡河李堡北段（城东段至曲塘镇交界处）" * 6
    copy = decode(stamp(plain_jpeg(300, 600), [long_line, "32.50123 N, 120.41234 E"]))
    assert copy.size == (300, 600)
    assert 0 < dark_rows(copy) < copy.height // 2


def test_not_a_photo_is_refused_with_the_photo_explanations() -> None:
    with pytest.raises(PhotoError) as not_image:
        stamp(b"%PDF-1.4 not a photo", LINES)
    assert not_image.value.key == "photo.not_image"
    truncated = make_jpeg(640, 480)[:3000]
    with pytest.raises(PhotoError) as corrupt:
        stamp(truncated, LINES)
    assert corrupt.value.key == "photo.corrupt"


def test_evidence_lines_in_both_languages() -> None:
    locales = Locales.load()
    shanghai = ZoneInfo("Asia/Shanghai")
    reported = datetime(2026, 11, 29, 1, 2, tzinfo=UTC)  # 09:02 in Shanghai
    zh = evidence_lines(
        locales,
        "zh",
        number=123,
        category="乱堆",
        reach="丁堡河（城东段）",
        gps=(32.501234, 120.412344),
        taken_at=datetime(2026, 11, 29, 8, 31),  # the camera's own clock: shown as it is
        reported_at=reported,
        tz=shanghai,
    )
    assert zh == LINES
    en = evidence_lines(
        locales,
        "en",
        number=7,
        category="dumping",
        reach="Dingbao River",
        gps=None,
        taken_at=None,
        reported_at=datetime(2026, 11, 29, 9, 2, tzinfo=timezone(timedelta(hours=8))),
        tz=shanghai,
    )
    assert en == ["Problem #7 · dumping · Dingbao River", "Location unknown", "Reported 2026-11-29 09:02"]


def test_coordinates_name_their_hemisphere() -> None:
    assert format_coordinates(32.501234, 120.412344) == "32.50123 N, 120.41234 E"
    assert format_coordinates(-33.8688, -70.1) == "33.86880 S, 70.10000 W"


# -- Chinese, with a real font ------------------------------------------------------------------------------


@requires_cjk
def test_a_chinese_font_is_found_on_this_machine_and_draws_chinese() -> None:
    found = fonts.cjk_font()
    assert found is not None and found == SYSTEM_FONT
    font = fonts.load(40)
    assert fonts.draws_chinese(font)
    # Three characters of a CJK font are each about an em wide: not tofu-thin, not missing.
    left, _, right, _ = font.getbbox("河长制")
    assert 2.4 * 40 <= right - left <= 3.3 * 40


@requires_cjk
def test_different_chinese_text_draws_different_band_pixels_not_boxes() -> None:
    original = plain_jpeg(1200, 900)
    rivers = {text: band(decode(stamp(original, [text]))).tobytes() for text in ("河长制", "丁堡河")}
    assert rivers["河长制"] != rivers["丁堡河"]
    # Characters no font has are drawn as the missing-glyph box: real Chinese must not look like that.
    boxes = band(decode(stamp(original, [fonts.MISSING * 3]))).tobytes()
    assert boxes not in rivers.values()


@requires_cjk
def test_font_path_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert SYSTEM_FONT is not None
    own = tmp_path / f"office-font{SYSTEM_FONT.path.suffix}"
    shutil.copyfile(SYSTEM_FONT.path, own)
    monkeypatch.setenv("FONT_PATH", str(own))
    settings = load_settings(env_file=None)
    assert settings.font_path == own
    found = fonts.configure(settings.font_path)
    assert found is not None and found.path == own
    assert fonts.cjk_font() == found
    assert fonts.draws_chinese(fonts.load(24))


@requires_cjk
def test_a_font_is_loaded_once_per_thread_and_size_and_again_for_another_font(tmp_path: Path) -> None:
    """Loading a face for every picture was a large part of drawing a week's charts; sharing one between the
    drawing threads is not safe in Pillow, and a font configured later must be the one drawn with."""
    assert fonts.load(24) is fonts.load(24)
    assert fonts.load(24) is not fonts.load(25)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(fonts.load, 24).result()
    assert other is not fonts.load(24) and isinstance(other, ImageFont.FreeTypeFont) and other.size == 24
    assert SYSTEM_FONT is not None
    own = tmp_path / f"office-font{SYSTEM_FONT.path.suffix}"
    shutil.copyfile(SYSTEM_FONT.path, own)
    before = fonts.load(24)
    fonts.configure(own)
    after = fonts.load(24)
    assert after is not before and isinstance(after, ImageFont.FreeTypeFont) and after.path == str(own)


@requires_cjk
def test_fontconfig_is_asked_when_no_known_file_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("fc-match") is None and shutil.which("fc-list") is None:
        pytest.skip("fontconfig (fc-match, fc-list) is not installed")
    monkeypatch.setattr(fonts, "CANDIDATES", ())
    found = fonts.cjk_font()
    assert found is not None
    assert fonts.draws_chinese(found.load(32))


def test_empty_font_path_means_search_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FONT_PATH", "")
    settings = load_settings(env_file=None)
    assert fonts.configure(settings.font_path) == SYSTEM_FONT


# -- a bad FONT_PATH: refused with one clear line ----------------------------------------------------------


def test_a_missing_font_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        fonts.configure(tmp_path / "no-such-font.ttc")
    assert error.value.key == "fonts.missing"
    assert error.value.params["path"] == str(tmp_path / "no-such-font.ttc")


@pytest.mark.parametrize("kind", ["text file", "directory"])
def test_a_font_path_that_is_not_a_font_is_a_config_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "font.ttf"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("not a font", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        fonts.configure(path)
    assert error.value.key == "fonts.unreadable"
    assert error.value.params["reason"]


def test_a_font_path_without_chinese_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        fonts.configure(latin_only_font(tmp_path))
    assert error.value.key == "fonts.no_cjk"


def test_a_refused_font_path_changes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        fonts.configure(tmp_path / "missing.ttf")
    assert fonts.cjk_font() == SYSTEM_FONT


def test_font_errors_are_explained_in_both_languages() -> None:
    locales = Locales.load()
    for key in ("fonts.missing", "fonts.unreadable", "fonts.no_cjk"):
        for lang in ("zh", "en"):
            text = locales.plain(lang, key, path="/fonts/x.ttc", reason="unknown file format")
            assert "FONT_PATH" in text and "/fonts/x.ttc" in text


def test_the_check_rejects_a_font_without_chinese(tmp_path: Path) -> None:
    assert fonts.check_font_file(latin_only_font(tmp_path)) is None
    assert not fonts.draws_chinese(ImageFont.load_default(32))


# -- no Chinese font at all: a warning, once, and a copy all the same ------------------------------------------


@pytest.mark.usefixtures("no_fonts")
def test_without_any_chinese_font_the_builtin_font_is_used_and_a_warning_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.fonts")
    assert fonts.configure(None) is None
    assert fonts.cjk_font() is None
    font = fonts.load(30)
    assert isinstance(font, ImageFont.FreeTypeFont) and font.getname()[0] == "Aileron"
    original = plain_jpeg(1200, 900)
    copy = decode(stamp(original, LINES))
    assert copy.size == (1200, 900) and dark_rows(copy) > 0
    stamp(original, ["河长制"])
    warnings = [r for r in caplog.records if r.name == "bot.fonts" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "FONT_PATH" in warnings[0].getMessage()


@pytest.mark.usefixtures("no_fonts")
def test_without_a_chinese_font_chinese_comes_out_as_identical_boxes() -> None:
    # What the checks above guard against: every character the same box, so two names look alike.
    original = plain_jpeg(1200, 900)
    assert band(decode(stamp(original, ["河长制"]))).tobytes() == band(decode(stamp(original, ["丁堡河"]))).tobytes()


# -- after-photos, and a band that hides little ------------------------------------------------------------


def test_an_after_photo_is_stamped_rectified_with_its_own_exif_place_and_time() -> None:
    locales = Locales.load()
    shanghai = ZoneInfo("Asia/Shanghai")
    lines = evidence_lines(
        locales,
        "zh",
        number=12,
        category="漂浮垃圾",
        reach="丁堡河",
        gps=(32.51, 120.42),
        taken_at=datetime(2026, 12, 2, 10, 3),
        reported_at=datetime(2026, 12, 2, 2, 10, tzinfo=UTC),
        tz=shanghai,
        kind="after",
        place_source="exif",
    )
    assert lines == [
        "整改后 · 问题 #12 · 漂浮垃圾 · 丁堡河",
        "32.51000 N, 120.42000 E（照片定位）",
        "拍摄 2026-12-02 10:03（照片记录） · 收到 2026-12-02 10:10",
    ]
    assert not any("上报" in line for line in lines)


def test_an_after_photo_without_exif_takes_the_track_and_the_arrival_time_and_says_so() -> None:
    locales = Locales.load()
    shanghai = ZoneInfo("Asia/Shanghai")
    lines = evidence_lines(
        locales,
        "en",
        number=12,
        category="floating garbage",
        reach="Dingbao River",
        gps=(32.5, 120.4),
        taken_at=None,
        reported_at=datetime(2026, 12, 2, 2, 10, tzinfo=UTC),
        tz=shanghai,
        kind="after",
        place_source="track",
        place_at=datetime(2026, 12, 2, 2, 8, tzinfo=UTC),
    )
    assert lines == [
        "Rectified · Problem #12 · floating garbage · Dingbao River",
        "32.50000 N, 120.40000 E (patrol track 10:08)",
        "Received 2026-12-02 10:10 (no trustworthy capture time)",
    ]


def test_an_after_photo_with_no_place_of_its_own_says_the_place_is_unknown() -> None:
    locales = Locales.load()
    for lang, unknown in (("zh", "拍摄地点不明"), ("en", "Place not recorded")):
        lines = evidence_lines(
            locales,
            lang,  # type: ignore[arg-type]
            number=3,
            category="",
            reach="",
            gps=None,
            taken_at=None,
            reported_at=datetime(2026, 12, 2, 2, 10, tzinfo=UTC),
            kind="after",
        )
        assert lines[1] == unknown


@pytest.mark.parametrize("size", [(1600, 1200), (1200, 1600), (1600, 400), (640, 480), (320, 240), (1280, 960)])
def test_the_band_is_at_most_a_tenth_of_the_height(size: tuple[int, int]) -> None:
    copy = decode(stamp(plain_jpeg(*size), LINES))
    rows = dark_rows(copy)
    assert 0 < rows <= 0.10 * copy.height + 1  # one row of JPEG blur at the band's edge


def stripes(width: int, height: int) -> Image.Image:
    """Vertical stripes of 24 pixels, dark and light: a scene whose pattern survives a darker band."""
    picture = Image.new("RGB", (width, height), (230, 230, 230))
    draw = ImageDraw.Draw(picture)
    for x in range(0, width, 48):
        draw.rectangle((x, 0, x + 23, height), fill=(30, 30, 30))
    return picture


def correlation(a: list[float], b: list[float]) -> float:
    return statistics.correlation(a, b)


def test_the_band_is_see_through_and_the_photo_above_it_is_untouched() -> None:
    out = io.BytesIO()
    stripes(1200, 900).save(out, "JPEG", quality=95)
    original = out.getvalue()
    copy = decode(stamp(original, LINES)).convert("L")
    plain = decode(stamp(original, [])).convert("L")
    # Rows above 90% of the height are exactly the copy without a band (but for the JPEG blocks of 16 x 16
    # the band's edge crosses).
    top = int(0.9 * copy.height) // 16 * 16
    assert copy.crop((0, 0, copy.width, top)).tobytes() == plain.crop((0, 0, copy.width, top)).tobytes()
    # Under the band the stripes still show: darker, but following the scene. A row in the band's margin
    # (below the text) is compared with the same row without a band.
    y = copy.height - 2
    under = [float(copy.getpixel((x, y))) for x in range(copy.width)]  # type: ignore[arg-type]
    scene = [float(plain.getpixel((x, y))) for x in range(copy.width)]  # type: ignore[arg-type]
    assert under != scene
    assert correlation(under, scene) > 0.9
    assert max(under) - min(under) > 50  # visible, not flattened to black
    assert statistics.mean(under) < statistics.mean(scene) - 40  # and darker, so the white text reads


def text_rows(image: Image.Image) -> list[int]:
    """The heights of the runs of rows with white text in them, in the band (the bottom 10%)."""
    grey = image.convert("L")
    runs, run = [], 0
    for y in range(int(grey.height * 0.9), grey.height):
        if max(grey.crop((0, y, grey.width, y + 1)).tobytes()) > 230:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    return [*runs, run] if run else runs


@requires_cjk
def test_a_landscape_photo_puts_two_lines_on_a_row_to_keep_the_text_large() -> None:
    # 1600 x 1200: three rows in 120 pixels would make 25-pixel text; two rows keep it at 35 (the old
    # band's 36 took 17% of the height).
    copy = decode(stamp(plain_jpeg(1600, 1200), LINES))
    rows = text_rows(copy)
    assert len(rows) == 2 and min(rows) >= 28, rows
    assert dark_rows(copy) <= 0.10 * copy.height + 1
