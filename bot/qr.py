"""The QR codes of the public signs (gongshipai): one per reach, each a deep link that starts a report on that reach.

Every reach has a sign on its bank naming the reach and its chiefs; a code on it lets a passer-by report what
they see there without knowing which reach it is. The code holds `https://t.me/<bot>?start=r-<code>`
(`bot.citizens.start_payload`: the reach's code, which outlives a rebuilt database), opened as `/start r-<code>`.
segno encodes; Pillow lays out cards of code and caption (the reach's name and code, in the CJK font), as one PNG
sheet or an A4 PDF, a page per six.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import segno
from PIL import Image, ImageDraw

from bot import fonts
from bot.citizens import deep_link, start_payload

# An A4 page at 150 dpi, and the cards on it: two across, three down.
PAGE = (1240, 1754)
COLUMNS = 2
ROWS = 3
CARD = (PAGE[0] // COLUMNS, PAGE[1] // ROWS)
MODULE_PX = 10  # a module of the code: a 33-module code is 330 px, about 5.6 cm printed at 150 dpi
QUIET_MODULES = 4  # the white border the standard asks for
INK = (0, 0, 0)
GREY = (90, 90, 90)
WHITE = (255, 255, 255)


@dataclass(frozen=True, slots=True)
class SignCode:
    """What one card shows: the reach's name and code, and the link its QR code holds."""

    reach_id: int
    code: str
    name: str
    link: str


def sign_codes(bot_username: str, reaches: Sequence[tuple[int, str, str]]) -> list[SignCode]:
    """(reach id, reach code, name in the sheet's language) → the cards, in the order given."""
    return [SignCode(rid, code, name, deep_link(bot_username, start_payload(code))) for rid, code, name in reaches]


def _code_image(link: str) -> Image.Image:
    """The QR code alone, black on white, medium error correction (a sign weathers)."""
    qr = segno.make(link, error="m", micro=False)
    buffer = BytesIO()
    qr.save(buffer, kind="png", scale=MODULE_PX, border=QUIET_MODULES)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> fonts.Font:
    """The font at `size`, smaller until `text` fits `width` (a long reach name)."""
    while True:
        font = fonts.load(size)
        if draw.textlength(text, font=font) <= width or size <= 14:
            return font
        size -= 2


def card(sign: SignCode, hint: str) -> Image.Image:
    """One card: the code, the reach's name under it, then its code and the line saying what scanning does."""
    image = Image.new("RGB", CARD, WHITE)
    draw = ImageDraw.Draw(image)
    code = _code_image(sign.link)
    side = min(code.width, CARD[0] - 40, CARD[1] - 170)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    image.paste(code, ((CARD[0] - side) // 2, 16))
    y = 16 + side + 8
    for text, size, colour in ((sign.name, 34, INK), (sign.code, 24, GREY), (hint, 20, GREY)):
        font = _fit(draw, text, size, CARD[0] - 40)
        width = draw.textlength(text, font=font)
        draw.text(((CARD[0] - width) / 2, y), text, font=font, fill=colour)
        y += size + 14
    draw.rectangle((0, 0, CARD[0] - 1, CARD[1] - 1), outline=(200, 200, 200))
    return image


def pages(signs: Sequence[SignCode], hint: str) -> list[Image.Image]:
    """A4 pages of COLUMNS × ROWS cards."""
    per_page = COLUMNS * ROWS
    result = []
    for first in range(0, len(signs), per_page):
        page = Image.new("RGB", PAGE, WHITE)
        for index, sign in enumerate(signs[first : first + per_page]):
            row, column = divmod(index, COLUMNS)
            page.paste(card(sign, hint), (column * CARD[0], row * CARD[1]))
        result.append(page)
    return result


def sheet(signs: Sequence[SignCode], hint: str) -> Image.Image:
    """All the cards on one image, COLUMNS across (the PNG form: to paste into a sign's artwork)."""
    rows = max(1, -(-len(signs) // COLUMNS))
    image = Image.new("RGB", (CARD[0] * COLUMNS, CARD[1] * rows), WHITE)
    for index, sign in enumerate(signs):
        row, column = divmod(index, COLUMNS)
        image.paste(card(sign, hint), (column * CARD[0], row * CARD[1]))
    return image


def write(path: Path, signs: Sequence[SignCode], hint: str, *, pdf: bool) -> None:
    """The PDF (A4 pages, 150 dpi) or the PNG sheet at `path`."""
    if pdf:
        first, *rest = pages(signs, hint)
        first.save(path, format="PDF", save_all=True, append_images=rest, resolution=150.0)
    else:
        sheet(signs, hint).save(path, format="PNG", optimize=True)
