"""What the office's command modules share: text helpers and the area choice they all start from."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update

from bot.config import LEVELS, Language
from handlers.common import Context, services
from handlers.ui import show
from storage.records import ReachRecord


def t(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.t(lang, key, **params)


def p(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.plain(lang, key, **params)


def level_name(context: Context, lang: Language, level: str | None) -> str:
    return p(context, lang, f"level.{level}") if level in LEVELS else p(context, lang, "common.none")


def reach_level_name(context: Context, lang: Language, level: str | None) -> str:
    """A reach's own grade ("town-level reach"): `level_name` is a chief's, and a river is nobody's chief."""
    return p(context, lang, f"reaches.level.{level}") if level in LEVELS else p(context, lang, "common.none")


def reach_label(lang: Language, reach: ReachRecord) -> str:
    return f"{reach.name(lang)} · {reach.code}"


async def area_buttons(
    context: Context, lang: Language, opens: Callable[[int], str], within: frozenset[int] | None = None
) -> list[tuple[str, str]]:
    """Every area (of `within`, a town office's scope) as a button whose data is `opens(area id)`: the first page
    of what choosing it opens."""
    areas = await services(context).office.areas(within)
    return [(f"{a.name(lang)} · {a.code}", opens(a.id)) for a in areas]


async def no_registry(update: Update, context: Context, lang: Language) -> None:
    await show(update, context, t(context, lang, "registry.empty"))
