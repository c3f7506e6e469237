"""A font that draws Chinese, for evidence copies and charts.

Pillow draws with whatever font it is given, and a font without Chinese characters draws each one as an
empty box (tofu) — a reach's name would be lost from the picture without any error. So a font is only used
when it really draws Chinese: a few common characters must each come out as a real glyph, not the font's
"missing character" box.

Where the font comes from, in order:

1. `FONT_PATH` (settings). An operator who names a font wants that font: a missing file, something that is
   not a font, or a font without Chinese characters raises `ConfigError` (one clear line at start, from
   `configure()`), rather than quietly drawing boxes. An empty `FONT_PATH=` means not set.
2. Well-known files of the usual Chinese fonts on Linux, macOS and Windows (`CANDIDATES`).
3. fontconfig (`fc-match` / `fc-list` for Chinese), when it is installed.

With none of them, `cjk_font()` is None, a warning is logged once, and `load()` falls back to Pillow's
built-in font: Latin letters and digits (coordinates, times, numbers) still show, Chinese shows as boxes,
and nothing fails.

The result is worked out once per process and cached; `configure()` at start does it early so that the
warning or the error comes when the bot starts, not at the first photo.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.config import ConfigError

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Characters every Chinese font has; each must draw as its own glyph.
SAMPLE = "\u6cb3\u957f\u5236\u6c34"  # he zhang zhi shui: four common glyphs of the domain
# A code point no font draws (the last private-use one): what the font shows for a character it lacks.
MISSING = "\U0010fffd"
_PROBE_SIZE = 32

_WINDOWS_FONTS = Path(os.environ.get("WINDIR", "C:/Windows")) / "Fonts"
# Checked in this order; the first that draws Chinese wins. Sans-serif (heiti) faces first: they read best
# small and on a photo.
CANDIDATES: tuple[Path, ...] = (
    # Debian / Ubuntu
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/source-han-sans/SourceHanSansSC-Regular.otf"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    # Fedora, Arch, openSUSE
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/adobe-source-han-sans/SourceHanSansSC-Regular.otf"),
    Path("/usr/share/fonts/adobe-source-han-sans/SourceHanSans.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    # macOS
    Path("/System/Library/Fonts/PingFang.ttc"),
    Path("/System/Library/Fonts/STHeiti Medium.ttc"),
    Path("/System/Library/Fonts/STHeiti Light.ttc"),
    Path("/System/Library/Fonts/Hiragino Sans GB.ttc"),
    Path("/Library/Fonts/Arial Unicode.ttf"),
    # Windows
    _WINDOWS_FONTS / "msyh.ttc",
    _WINDOWS_FONTS / "msyh.ttf",
    _WINDOWS_FONTS / "simhei.ttf",
    _WINDOWS_FONTS / "simsun.ttc",
)

# Faces of a collection (.ttc) named for Simplified Chinese, e.g. "Noto Sans CJK SC", "PingFang SC".
_SIMPLIFIED = ("SC", "CN", "GB")


@dataclass(frozen=True, slots=True)
class FontFile:
    path: Path
    index: int = 0  # the face within a font collection (.ttc)
    name: str = ""

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        # Basic layout, not Raqm: Chinese, Latin and digits need no shaping, and Raqm made each text draw 2.5x
        # and each measurement 15x slower, which was most of drawing a summary chart.
        return ImageFont.truetype(str(self.path), size, index=self.index, layout_engine=ImageFont.Layout.BASIC)


class _State:
    """What this process was told and has found; one lock, since pictures are drawn in worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configured: Path | None = None
        self.found: dict[Path | None, FontFile | None] = {}
        self.warned = False


_state = _State()


def configure(font_path: Path | None) -> FontFile | None:
    """Take `FONT_PATH` (None: search the system) and find the font now; call it once at start.

    Raises `ConfigError` when `FONT_PATH` names no usable Chinese font; logs one warning when there is no
    `FONT_PATH` and no Chinese font on the system.
    """
    configured = None if _unset(font_path) else font_path
    found = _resolve(configured)  # raises before anything is remembered
    with _state.lock:
        _state.configured = configured
    return found


def cjk_font() -> FontFile | None:
    """The font for Chinese text (as configured, else found on the system), or None when there is none."""
    return _resolve(_state.configured)


def load(size: int) -> Font:
    """The Chinese font at `size` pixels, or Pillow's built-in font when there is none (Chinese shows as boxes).

    Kept per thread: Pillow's font objects are not meant to be shared between the threads that draw, and
    loading one for every picture was about a third of drawing a week's summary charts.
    """
    found = cjk_font()
    loaded: dict[tuple[FontFile | None, int], Font] | None = getattr(_loaded, "fonts", None)
    if loaded is None:
        loaded = _loaded.fonts = {}
    font = loaded.get((found, size))
    if font is None:
        font = ImageFont.load_default(size) if found is None else found.load(size)
        loaded[(found, size)] = font
    return font


_loaded = threading.local()


def reset() -> None:
    """Forget what was configured and found (for tests)."""
    with _state.lock:
        _state.configured = None
        _state.found.clear()
        _state.warned = False


def draws_chinese(font: Font) -> bool:
    """Each character of `SAMPLE` draws as a visible glyph of its own, none of them the missing-glyph box."""
    missing = _render(font, MISSING)
    glyphs = set()
    for char in SAMPLE:
        glyph = _render(font, char)
        if glyph is None or glyph == missing:
            return False
        glyphs.add(glyph)
    return len(glyphs) == len(SAMPLE)


def check_font_file(path: Path, index: int | None = None) -> FontFile | None:
    """The face of `path` (the given one, else a Simplified Chinese one, else the first) if it draws Chinese."""
    faces = [index] if index is not None else _face_order(path)
    for face in faces:
        try:
            font = ImageFont.truetype(str(path), _PROBE_SIZE, index=face)
        except (OSError, ValueError):
            continue
        if draws_chinese(font):
            family, style = font.getname()
            return FontFile(path, face, f"{family or path.name} {style or ''}".strip())
    return None


def _unset(path: Path | None) -> bool:
    # pydantic turns `FONT_PATH=` into Path("."): an empty setting means "not set".
    return path is None or not str(path).strip() or path == Path()


def _resolve(configured: Path | None) -> FontFile | None:
    with _state.lock:
        if configured in _state.found:
            return _state.found[configured]
        found = _check_configured(configured) if configured is not None else _search()
        _state.found[configured] = found
        if found is None and not _state.warned:
            _state.warned = True
            log.warning(
                "No font that draws Chinese was found: Chinese text in pictures (evidence copies, charts) will "
                "show as boxes. Install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei) or set FONT_PATH."
            )
        elif found is not None:
            log.debug("Chinese text is drawn with %s (%s, face %d)", found.name, found.path, found.index)
        return found


def _check_configured(path: Path) -> FontFile:
    shown = str(path)
    if not path.exists():
        raise ConfigError("fonts.missing", path=shown)
    try:
        with path.open("rb") as handle:
            handle.read(4)
    except OSError as exc:  # a directory, no permission
        raise ConfigError("fonts.unreadable", path=shown, reason=exc.strerror or str(exc)) from None
    try:
        ImageFont.truetype(shown, _PROBE_SIZE)
    except (OSError, ValueError) as exc:
        raise ConfigError("fonts.unreadable", path=shown, reason=str(exc)) from None
    found = check_font_file(path)
    if found is None:
        raise ConfigError("fonts.no_cjk", path=shown)
    return found


def _search() -> FontFile | None:
    for candidate in CANDIDATES:
        if candidate.is_file():
            found = check_font_file(candidate)
            if found is not None:
                return found
    for path, index in _fontconfig():
        found = check_font_file(path, index)
        if found is not None:
            return found
    return None


def _fontconfig() -> list[tuple[Path, int]]:
    """Fonts fontconfig offers for Chinese: its best match first, then every font it lists for the language.

    `fc-match :lang=zh` alone is not enough: it answers with its closest font even when none has Chinese
    (DejaVu, say), which is why every answer is checked.
    """
    if shutil.which("fc-match") is None and shutil.which("fc-list") is None:
        return []
    found: list[tuple[Path, int]] = []
    commands = (
        ["fc-match", "-f", "%{file}|%{index}\\n", ":lang=zh-cn"],
        ["fc-match", "-f", "%{file}|%{index}\\n", ":lang=zh"],
        ["fc-list", "-f", "%{file}|%{index}\\n", ":lang=zh"],
    )
    for command in commands:
        if shutil.which(command[0]) is None:
            continue
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        lines = result.stdout.splitlines()
        for line in sorted(lines) if command[0] == "fc-list" else lines:
            file, _, index = line.strip().rpartition("|")
            if file and index.isdigit() and (Path(file), int(index)) not in found:
                found.append((Path(file), int(index)))
    return found


def _face_order(path: Path) -> list[int]:
    """Faces to try in a font file: Simplified Chinese Regular first, then Simplified Chinese, then by index."""
    names: list[tuple[int, str, str]] = []
    for index in range(32):  # a collection rarely has more than a dozen faces
        try:
            family, style = ImageFont.truetype(str(path), _PROBE_SIZE, index=index).getname()
        except (OSError, ValueError):
            break
        names.append((index, family or "", style or ""))
    if not names:
        return [0]

    def rank(entry: tuple[int, str, str]) -> tuple[int, int, int]:
        index, family, style = entry
        simplified = any(word in _SIMPLIFIED for word in family.split())
        return (0 if simplified else 1, 0 if style.lower() == "regular" else 1, index)

    return [index for index, _, _ in sorted(names, key=rank)]


def _render(font: Font, text: str) -> bytes | None:
    """`text` drawn white on black, cropped to its ink; None when nothing is drawn."""
    canvas = Image.new("L", (_PROBE_SIZE * 3, _PROBE_SIZE * 3))
    ImageDraw.Draw(canvas).text((_PROBE_SIZE, _PROBE_SIZE // 2), text, fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
        return None
    ink = canvas.crop(box)
    return f"{ink.size}".encode() + ink.tobytes()
