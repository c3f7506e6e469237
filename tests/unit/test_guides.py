"""The live-location picture guide: a real picture per language, drawn once, with the rings on what to tap."""

from __future__ import annotations

import io

from PIL import Image

from bot.guides import MARK, GuideWords, guide_png
from bot.i18n import Locales

LOCALES = Locales.load()


def test_each_language_gets_its_own_picture_drawn_once() -> None:
    pictures = {}
    for lang in ("zh", "en"):
        words = GuideWords.of(LOCALES, lang)
        pictures[lang] = guide_png(words)
        assert guide_png(words) is pictures[lang]  # cached, not drawn again
        with Image.open(io.BytesIO(pictures[lang])) as image:
            rgb = image.convert("RGB")
            assert image.format == "PNG" and rgb.width == 1080 and rgb.height > 1000
            # Legible at phone width: the rings on what to tap are there, in both columns.
            ringed = {x // 540 for x in range(0, rgb.width, 4) for y in range(0, rgb.height, 4)
                      if rgb.getpixel((x, y)) == MARK}  # fmt: skip
            assert ringed == {0, 1}
    assert pictures["zh"] != pictures["en"]
    assert "共享实时位置" in GuideWords.of(LOCALES, "zh").live
    assert GuideWords.of(LOCALES, "en").live == "Share My Live Location"
