"""Quantities as people read them, in their language: the words for the units come from locales/."""

from __future__ import annotations

from bot.config import Language
from bot.i18n import Locales


def distance(locales: Locales, lang: Language, meters: float) -> str:
    """Metres under a kilometre ("800 m"), else kilometres to one decimal ("2.8 km"), in the reader's units."""
    if meters < 1000:
        return locales.plain(lang, "units.m", value=round(meters))
    return locales.plain(lang, "units.km", value=f"{meters / 1000:.1f}")
