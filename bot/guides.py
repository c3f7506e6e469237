"""The picture guide to sharing a live location: four steps, drawn for Android and for iPhone side by side.

A patrol's track is the live location, and Telegram's menus for it are four taps deep; told in words only,
a village chief who has never opened them gets lost. So the first time a person is asked for it they are
sent this picture (`PatrolService.live_guide` remembers who has had it). It is drawn with Pillow from the
locale's words, in the CJK font the charts use, once per language and process (`guide_png` caches it): the
words on the mock screens are Telegram's own labels in that language, so the person finds them on their phone.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw

from bot import fonts
from bot.config import Language
from bot.i18n import Locales

WIDTH = 1080
COLUMN = 510
GAP = 20
TOP = 170
# Each step's height: its words, then its mock screens.

Colour = tuple[int, int, int]
BACKGROUND: Colour = (244, 246, 249)
INK: Colour = (33, 37, 41)
MUTED: Colour = (110, 117, 125)
WHITE: Colour = (255, 255, 255)
BLUE: Colour = (51, 144, 236)  # Telegram's accent
GREEN: Colour = (76, 175, 80)
ORANGE: Colour = (255, 152, 0)
MARK: Colour = (229, 57, 53)  # what to tap
LINE: Colour = (222, 226, 230)


@dataclass(frozen=True, slots=True)
class GuideWords:
    """The words of the picture, from the locale's [taps.guide] table."""

    title: str
    subtitle: str
    android: str
    ios: str
    steps: tuple[str, str, str, str]
    message: str
    gallery: str
    file: str
    location: str
    live: str
    send_current: str
    durations: tuple[str, str, str]

    @classmethod
    def of(cls, locales: Locales, lang: Language) -> GuideWords:
        def word(key: str) -> str:
            return locales.plain(lang, f"taps.guide.{key}")

        return cls(
            title=word("title"),
            subtitle=word("subtitle"),
            android=word("android"),
            ios=word("ios"),
            steps=(word("step_attach"), word("step_location"), word("step_live"), word("step_duration")),
            message=word("message"),
            gallery=word("gallery"),
            file=word("file"),
            location=word("location"),
            live=word("live"),
            send_current=word("send_current"),
            durations=(word("for_15"), word("for_1h"), word("for_8h")),
        )


_cache: dict[GuideWords, bytes] = {}
_lock = threading.Lock()


def guide_png(words: GuideWords) -> bytes:
    """The guide for these words as PNG, drawn once per process (CPU-bound: call it in a thread)."""
    with _lock:
        found = _cache.get(words)
    if found is None:
        found = draw(words)
        with _lock:
            _cache[words] = found
    return found


class _Pen:
    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.title = fonts.load(46)
        self.heading = fonts.load(38)
        self.step = fonts.load(30)
        self.ui = fonts.load(26)
        self.small = fonts.load(22)

    def text(self, xy: tuple[float, float], text: str, font: fonts.Font, fill: Colour = INK) -> None:
        self.draw.text(xy, text, fill=fill, font=font)

    def centred(self, x: float, y: float, text: str, font: fonts.Font, fill: Colour = INK) -> None:
        self.draw.text((x - self.draw.textlength(text, font=font) / 2, y), text, fill=fill, font=font)

    def fit(self, text: str, font: fonts.Font, width: float) -> list[str]:
        """`text` broken into lines no wider than `width` (by word where there are spaces, else by character)."""
        lines: list[str] = []
        line = ""
        tokens = text.split(" ") if " " in text else list(text)
        joiner = " " if " " in text else ""
        for token in tokens:
            candidate = f"{line}{joiner}{token}" if line else token
            if self.draw.textlength(candidate, font=font) <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = token
        if line:
            lines.append(line)
        return lines

    def mark(self, box: tuple[float, float, float, float]) -> None:
        """A red ring around what to tap."""
        left, top, right, bottom = box
        self.draw.rounded_rectangle((left - 6, top - 6, right + 6, bottom + 6), radius=14, outline=MARK, width=5)

    def badge(self, x: float, y: float, number: int) -> None:
        self.draw.ellipse((x, y, x + 46, y + 46), fill=MARK)
        self.centred(x + 23, y + 5, str(number), self.step, WHITE)

    def clip(self, x: float, y: float, size: int, colour: Colour) -> None:
        """A paperclip: two nested rounded loops, tilted."""
        layer = Image.new("RGBA", (size, size * 2), (0, 0, 0, 0))
        pen = ImageDraw.Draw(layer)
        w = max(3, size // 9)
        pen.rounded_rectangle((w, w, size - w, size * 2 - w), radius=size // 2, outline=colour, width=w)
        inner = size // 4
        pen.rounded_rectangle(
            (inner + w, size // 2, size - inner - w, size * 2 - inner), radius=size // 4, outline=colour, width=w
        )
        pen.rectangle((inner + w, size // 2, size - inner - w, size), fill=(0, 0, 0, 0))
        tilted = layer.rotate(-35, expand=True, resample=Image.Resampling.BICUBIC)
        scale = size / tilted.height * 1.2
        tilted = tilted.resize((max(1, round(tilted.width * scale)), max(1, round(tilted.height * scale))))
        self.image.paste(tilted, (round(x), round(y)), tilted)

    def pin(self, cx: float, cy: float, r: float, colour: Colour, *, live: bool = False) -> None:
        """A map pin (with radio waves for a live location)."""
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        self.draw.polygon([(cx - r * 0.7, cy + r * 0.5), (cx + r * 0.7, cy + r * 0.5), (cx, cy + r * 1.7)], fill=colour)
        self.draw.ellipse((cx - r * 0.4, cy - r * 0.4, cx + r * 0.4, cy + r * 0.4), fill=WHITE)
        if live:
            for k in (1.6, 2.2):
                self.draw.arc((cx - r * k, cy - r * k, cx + r * k, cy + r * k), 300, 60, fill=colour, width=3)
                self.draw.arc((cx - r * k, cy - r * k, cx + r * k, cy + r * k), 120, 240, fill=colour, width=3)


Panel = Callable[[_Pen, float, float, GuideWords], None]


def _input_bar(ios: bool) -> Panel:
    def panel(pen: _Pen, x: float, y: float, words: GuideWords) -> None:
        bar = (x + 20, y + 40, x + COLUMN - 20, y + 110)
        pen.draw.rounded_rectangle(bar, radius=35 if ios else 8, fill=WHITE, outline=LINE, width=2)
        clip_x = x + 40 if ios else x + COLUMN - 150
        text_x = x + 110 if ios else x + 50
        pen.text((text_x, y + 58), words.message, pen.ui, MUTED)
        pen.clip(clip_x, y + 44, 40, (84, 90, 98))
        pen.mark((clip_x - 4, y + 44, clip_x + 52, y + 106))
        mic_x = x + COLUMN - 70
        pen.draw.ellipse((mic_x, y + 52, mic_x + 44, y + 96), fill=BLUE)

    return panel


def _attachments(ios: bool) -> Panel:
    def panel(pen: _Pen, x: float, y: float, words: GuideWords) -> None:
        items = ((words.gallery, BLUE), (words.file, (0, 150, 136)), (words.location, GREEN))
        sheet = (x + 20, y + 20, x + COLUMN - 20, y + 150)
        pen.draw.rounded_rectangle(sheet, radius=22 if ios else 16, fill=WHITE, outline=LINE, width=2)
        step = (COLUMN - 40) / 3
        for i, (label, colour) in enumerate(items):
            cx = x + 20 + step * (i + 0.5)
            if ios:  # the tab bar at the bottom: small icons over labels
                pen.draw.rounded_rectangle((cx - 24, y + 40, cx + 24, y + 88), radius=12, fill=colour)
            else:  # the sheet's round icons
                pen.draw.ellipse((cx - 28, y + 36, cx + 28, y + 92), fill=colour)
            if label == words.location:
                pen.pin(cx, y + 58, 11, WHITE)
                width = pen.draw.textlength(label, font=pen.small)
                pen.mark((cx - max(34, width / 2 + 6), y + 34, cx + max(34, width / 2 + 6), y + 136))
            pen.centred(cx, y + 100, label, pen.small, INK)

    return panel


def _live_choice(ios: bool) -> Panel:
    def panel(pen: _Pen, x: float, y: float, words: GuideWords) -> None:
        box = (x + 20, y + 20, x + COLUMN - 20, y + 170)
        pen.draw.rounded_rectangle(box, radius=22 if ios else 10, fill=WHITE, outline=LINE, width=2)
        rows = ((words.send_current, False), (words.live, True))
        for i, (label, live) in enumerate(rows):
            top = y + 26 + i * 72
            pen.pin(x + 62, top + 24, 13, BLUE if not live else ORANGE, live=live)
            lines = pen.fit(label, pen.ui, COLUMN - 150)
            pen.text((x + 105, top + 18), lines[0] + ("…" if len(lines) > 1 else ""), pen.ui, BLUE if ios else INK)
            if live:
                pen.mark((x + 28, top + 2, x + COLUMN - 28, top + 64))
            elif ios:
                pen.draw.line((x + 40, top + 68, x + COLUMN - 40, top + 68), fill=LINE, width=2)

    return panel


def _durations(ios: bool) -> Panel:
    def panel(pen: _Pen, x: float, y: float, words: GuideWords) -> None:
        box = (x + 20, y + 10, x + COLUMN - 20, y + 180)
        pen.draw.rounded_rectangle(box, radius=22 if ios else 6, fill=WHITE, outline=LINE, width=2)
        for i, label in enumerate(words.durations):
            top = y + 18 + i * 54
            if ios:
                pen.centred(x + COLUMN / 2, top + 10, label, pen.ui, BLUE)
                if i < 2:
                    pen.draw.line((x + 30, top + 50, x + COLUMN - 30, top + 50), fill=LINE, width=2)
            else:
                chosen = i == 1
                pen.draw.ellipse((x + 50, top + 12, x + 78, top + 40), outline=BLUE, width=3)
                if chosen:
                    pen.draw.ellipse((x + 57, top + 19, x + 71, top + 33), fill=BLUE)
                pen.text((x + 96, top + 10), label, pen.ui)
        pen.mark((x + 30, y + 18 + 54 - 2, x + COLUMN - 30, y + 18 + 3 * 54 - 6))

    return panel


_PANELS: tuple[tuple[Panel, Panel], ...] = (
    (_input_bar(False), _input_bar(True)),
    (_attachments(False), _attachments(True)),
    (_live_choice(False), _live_choice(True)),
    (_durations(False), _durations(True)),
)


_HEIGHTS = (200, 240, 260, 250)


def draw(words: GuideWords) -> bytes:
    """The guide as PNG: the title, then for each step its words and a mock of the screen, Android on the left
    and iPhone on the right, with a red ring on what to tap."""
    height = TOP + 76 + sum(_HEIGHTS) + 10
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    pen = _Pen(image)
    pen.centred(WIDTH / 2, 30, words.title, pen.title)
    for n, line in enumerate(pen.fit(words.subtitle, pen.small, WIDTH - 80)[:2]):
        pen.centred(WIDTH / 2, 100 + n * 28, line, pen.small, MUTED)
    lefts = (GAP, GAP * 2 + COLUMN)
    for left, name in zip(lefts, (words.android, words.ios), strict=True):
        pen.draw.rounded_rectangle((left, TOP, left + COLUMN, TOP + 56), radius=12, fill=INK)
        pen.centred(left + COLUMN / 2, TOP + 6, name, pen.heading, WHITE)
    y = TOP + 76
    for number, (step, panels, step_height) in enumerate(zip(words.steps, _PANELS, _HEIGHTS, strict=True), start=1):
        pen.badge(GAP, y, number)
        pen.text((GAP + 60, y + 6), pen.fit(step, pen.step, WIDTH - 100)[0], pen.step)
        for left, panel in zip(lefts, panels, strict=True):
            panel(pen, left, y + 50, words)
        y += step_height
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
