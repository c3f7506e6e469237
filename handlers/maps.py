"""Sending the maps drawn in bot.mapviews: a new problem's place, to whoever is first told of it.

A map that cannot be drawn or sent is logged and left out: the problem's card, its photos and its venue still
go, and they are what a person acts on.
"""

from __future__ import annotations

import logging

from telegram.error import Forbidden, TelegramError

from bot.config import Language
from bot.problems import ProblemRecord
from handlers.common import Context, services

logger = logging.getLogger(__name__)


async def send_problem_map(context: Context, chat_id: int, lang: Language, problem: ProblemRecord) -> None:
    """The problem's pin on its reach, with the other open problems nearby: once, when a person first hears of
    it (the assignee's or the office's notice, the reporter's confirmation), never on later steps."""
    svc = services(context)
    try:
        picture = await svc.maps.problem_map(problem, lang)
    except Exception:
        logger.warning("Could not draw the map of problem %s", problem.id, exc_info=True)
        return
    reach = await svc.patrols.reach(problem.reach_id)
    caption = svc.locales.t(lang, "map.problem_caption", number=problem.id, reach=reach.name(lang) if reach else "")
    try:
        await context.bot.send_photo(chat_id, picture, caption=caption)
    except Forbidden:
        raise  # the caller marks the person unreachable
    except TelegramError:
        logger.warning("Could not send the map of problem %s to %s", problem.id, chat_id, exc_info=True)
