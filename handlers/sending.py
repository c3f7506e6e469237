"""Sending to people: PTB's Bot as the `bot.delivery.Sender` the weekly delivery sends through, with Telegram's
errors sorted; and the one place a 403 from a person is handled (`refused`).

A 403 on a message for a person means it did not arrive, and will not until they write to the bot again: they
are marked unreachable (the rule is `bot.reachability`), and the office hears, once, of the problems waiting
for them. Every push to a person catches `Forbidden` and calls `refused`; the delivery's `BotSender` does it
through its `on_refused` hook. Answers to a person's own update need not: they have just written.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import Forbidden, RetryAfter, TelegramError

from bot.config import Language
from bot.delivery import Failure
from bot.reachability import Missed, Unreached, Waiting
from bot.todo import Action
from handlers.callbacks import ProblemView
from handlers.common import Context, services
from handlers.todo import action_rows
from handlers.ui import buttons

logger = logging.getLogger(__name__)

# Told a 403's chat id and Telegram's text.
OnRefused = Callable[[int, str], Awaitable[None]]
# Problems named in one notice to the office, each with its button; the count says how many there are in all.
LISTED = 10


class BotSender:
    """Sends with the bot's defaults (HTML, its rate limiter); the ids let a retry resume after the last piece.

    `on_refused` hears of every 403, before the error goes on to the delivery engine as a failed send."""

    def __init__(self, bot: Bot, on_refused: OnRefused | None = None) -> None:
        self._bot = bot
        self._on_refused = on_refused

    async def send_message(self, chat_id: int, text: str, *, actions: Sequence[Action] = ()) -> int:
        markup = buttons(*action_rows(actions)) if actions else None
        try:
            return (await self._bot.send_message(chat_id, text, reply_markup=markup)).message_id
        except Forbidden as exc:
            await self._refused(chat_id, exc)
            raise

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str) -> int:
        try:
            return (await self._bot.send_photo(chat_id, photo, caption=caption)).message_id
        except Forbidden as exc:
            await self._refused(chat_id, exc)
            raise

    async def _refused(self, chat_id: int, error: Forbidden) -> None:
        if self._on_refused is not None:
            await self._on_refused(chat_id, error.message)

    def failure(self, error: Exception) -> Failure | None:
        if isinstance(error, RetryAfter):
            return "flood"
        if isinstance(error, Forbidden):
            return "forbidden"
        if isinstance(error, TelegramError):
            return "other"
        return None


def sender(context: Context) -> BotSender:
    """The bot as a delivery `Sender` whose 403s for people mark them unreachable, as every other push does."""

    async def on_refused(chat_id: int, text: str) -> None:
        await refused(context, chat_id, text)

    return BotSender(context.bot, on_refused=on_refused)


async def refused(context: Context, chat_id: int, error: Forbidden | str, *, notify: bool = True) -> None:
    """Telegram answered 403 to a message for this chat: if it is a person's, they are unreachable from now on,
    and the office hears (once) of the problems waiting for them. `notify` off: this 403 came while telling the
    office itself, which must not go round again."""
    svc = services(context)
    text = error.message if isinstance(error, Forbidden) else error
    result = await svc.reachability.refused(chat_id, text, notify=notify)
    if result is None:
        return
    logger.info("Person %s cannot be reached: %s (%s)", result.unreached.person.id, result.unreached.reason, text)
    if result.tell_office:
        await tell_office_waiting(context, result.unreached, result.waiting)


def who(context: Context, lang: Language, unreached: Unreached) -> str:
    """The person and why the bot cannot write to them, as the office reads it (e.g. "Wang Wu (not joined yet)")."""
    locales = services(context).locales
    reason = locales.plain(lang, f"reachability.reason.{unreached.reason}")
    return locales.plain(lang, "reachability.person", name=unreached.person.name, reason=reason)


def problem_lines(context: Context, lang: Language, waiting: Sequence[Waiting]) -> list[str]:
    """One line per problem, with its reach and deadline."""
    locales = services(context).locales
    lines = []
    for item in waiting[:LISTED]:
        problem = item.problem
        lines.append(
            locales.t(
                lang,
                "reachability.problem_line",
                number=problem.id,
                category=locales.plain(lang, f"category.{problem.category}"),
                reach=item.reach.name(lang) if item.reach else "?",
                deadline=problem.deadline.isoformat() if problem.deadline else locales.plain(lang, "common.none"),
            )
        )
    if len(waiting) > LISTED:
        lines.append(locales.t(lang, "reachability.more", count=len(waiting) - LISTED))
    return lines


def problem_buttons(context: Context, lang: Language, waiting: Sequence[Waiting]) -> InlineKeyboardMarkup:
    """A button per listed problem: its card, where the office assigns or reassigns it."""
    locales = services(context).locales
    rows = [
        [(locales.plain(lang, "reachability.open", number=w.problem.id), ProblemView(problem=w.problem.id).pack())]
        for w in waiting[:LISTED]
    ]
    return buttons(*rows)


Compose = Callable[[Language], tuple[str, InlineKeyboardMarkup | None]]
_T = TypeVar("_T")


async def tell_offices(
    context: Context,
    items: Sequence[_T],
    area_of: Callable[[_T], int | None],
    compose: Callable[[Sequence[_T]], Compose],
) -> None:
    """Each item to its area's office (`bot.people.office_of`: the town's own, or the county for an area without
    one), one message per admin with the items that are theirs."""
    for chat_id, mine in (await _by_office(context, items, area_of)).items():
        await _tell_admin(context, chat_id, compose(mine))


async def _by_office(context: Context, items: Sequence[_T], area_of: Callable[[_T], int | None]) -> dict[int, list[_T]]:
    """The items each office admin (chat id) hears of: those of the areas their office answers for."""
    people = services(context).people
    offices: dict[int | None, list[int]] = {}
    theirs: dict[int, list[_T]] = {}
    for item in items:
        area_id = area_of(item)
        if area_id not in offices:
            offices[area_id] = await people.office_chat_ids(area_id)
        for chat_id in offices[area_id]:
            theirs.setdefault(chat_id, []).append(item)
    return theirs


async def _tell_admin(context: Context, chat_id: int, compose: Compose) -> None:
    svc = services(context)
    admin = await svc.people.find(chat_id)
    lang = admin.language if admin else svc.settings.default_language
    text, markup = compose(lang)
    try:
        await context.bot.send_message(chat_id, text, reply_markup=markup)
    except Forbidden as exc:
        await refused(context, chat_id, exc, notify=False)
    except TelegramError:
        logger.warning("Could not tell admin %s", chat_id, exc_info=True)


async def tell_office_waiting(context: Context, unreached: Unreached, waiting: Sequence[Waiting]) -> None:
    """A person with problems to rectify cannot be reached: the office hears who, why, and what waits."""
    locales = services(context).locales

    def composer(waiting: Sequence[Waiting]) -> Compose:
        def compose(lang: Language) -> tuple[str, InlineKeyboardMarkup | None]:
            head = locales.t(lang, "reachability.refused", person=who(context, lang, unreached), count=len(waiting))
            lines = [head, *problem_lines(context, lang, waiting)]
            return "\n".join(lines), problem_buttons(context, lang, waiting)

        return compose

    # Each area's office hears of the problems of its own areas that wait.
    await tell_offices(context, waiting, lambda w: w.problem.area_id, composer)


async def tell_office_missed(context: Context, job: str, missed: Missed) -> None:
    """A job could not reach some people: the office hears of those it has not heard of yet, with the count."""
    if not missed.tell_office:
        return
    locales = services(context).locales

    def composer(told: Sequence[Unreached], count: int) -> Compose:
        def compose(lang: Language) -> tuple[str, InlineKeyboardMarkup | None]:
            lines = [
                locales.t(
                    lang,
                    "reachability.missed",
                    job=locales.plain(lang, f"reachability.job.{job}"),
                    count=count,
                    new=len(told),
                )
            ]
            shown = told[: LISTED * 3]
            lines += [locales.t(lang, "reachability.missed_line", person=who(context, lang, u)) for u in shown]
            if len(told) > len(shown):
                lines.append(locales.t(lang, "reachability.more", count=len(told) - len(shown)))
            return "\n".join(lines), None

        return compose

    # Each person to the office of their home area (a town's office hears of its own people, and counts them).
    def home(unreached: Unreached) -> int | None:
        return unreached.person.home_area_id

    counts = {chat_id: len(mine) for chat_id, mine in (await _by_office(context, missed.unreached, home)).items()}
    for chat_id, told in (await _by_office(context, missed.tell_office, home)).items():
        await _tell_admin(context, chat_id, composer(told, max(counts.get(chat_id, 0), len(told))))
