"""What patrols and reports share: the everyday reply keyboards, who may send what, the reaches near a point."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from telegram import KeyboardButton, Message, ReplyKeyboardMarkup, Update

from bot import units
from bot.config import Language
from bot.i18n import Locales
from bot.patrols import FAR_AWAY_M, NearbyReach
from handlers.access import Actor, refuse
from handlers.common import Context, services


def sent_at(message: Message) -> datetime:
    """Telegram's clock: when the person sent it (or moved their live location), not when it arrived."""
    return (message.edit_date or message.date).astimezone(UTC)


def labels(locales: Locales, key: str) -> set[str]:
    """A reply-keyboard button arrives as its text, in whichever language the person had when it was made."""
    return {locales.plain("zh", key), locales.plain("en", key)}


def main_menu(locales: Locales, lang: Language, *, chief: bool = False) -> ReplyKeyboardMarkup:
    """One tap to the everyday things: the keyboard members keep under the message box. Everyone who patrols
    may report a problem they meet; a chief also gets their to-do list (problems and patrols due)."""
    second = [KeyboardButton(locales.plain(lang, "menu.report"))]
    if chief:
        second.append(KeyboardButton(locales.plain(lang, "menu.todo")))
    return ReplyKeyboardMarkup(
        [
            [KeyboardButton(locales.plain(lang, "menu.patrol")), KeyboardButton(locales.plain(lang, "menu.mypatrols"))],
            second,
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def patrol_keyboard(locales: Locales, lang: Language) -> ReplyKeyboardMarkup:
    """While patrolling: share a location, report a problem, finish."""
    return ReplyKeyboardMarkup(
        [
            [KeyboardButton(locales.plain(lang, "patrol.location_button"), request_location=True)],
            [
                KeyboardButton(locales.plain(lang, "patrol.problem_button")),
                KeyboardButton(locales.plain(lang, "patrol.finish_button")),
            ],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


async def resting_keyboard(context: Context, actor: Actor) -> ReplyKeyboardMarkup:
    """The location keyboard replaced the patrol's (or the main menu): once the location is in, put it back."""
    svc = services(context)
    if await svc.patrols.open_patrol(actor.known.id) is not None:
        return patrol_keyboard(svc.locales, actor.language)
    return main_menu(svc.locales, actor.language, chief=actor.known.is_chief)


def nearby_label(locales: Locales, lang: Language, near: NearbyReach) -> str:
    """A reach and how far it is ("Dingbao River · 120 m"), or that it has no line on the map."""
    if near.distance_m is None:
        distance = locales.plain(lang, "patrol.no_geometry")
    else:
        distance = units.distance(locales, lang, near.distance_m)
    return f"{near.reach.name(lang)} · {distance}"


def far_note(locales: Locales, lang: Language, nearby: Sequence[NearbyReach]) -> str:
    """A line to add when even the nearest reach is far (a wrong GPS fix, most likely); else nothing."""
    nearest = nearby[0].distance_m if nearby else None
    if nearest is None or nearest <= FAR_AWAY_M:
        return ""
    return "\n" + locales.t(lang, "patrol.far_everywhere", distance=units.distance(locales, lang, nearest))


def category_name(locales: Locales, lang: Language, category: str) -> str:
    """A problem category in the reader's words (luan zhan, dumping, …)."""
    return locales.plain(lang, f"category.{category}")


async def writing_report(update: Update, context: Context, actor: Actor) -> bool:
    """Whether a problem report is being written: then a button that would open another dialog (a patrol, a
    rectification) says so instead, since a person has one dialog and the draft (its photos too) would be lost."""
    telegram_id = actor.known.telegram_id
    if telegram_id is None or await services(context).reports.current(telegram_id) is None:
        return False
    await refuse(update, context, actor.language, "steps.report_open")
    return True
