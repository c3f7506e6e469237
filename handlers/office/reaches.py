"""/reaches: the registry by area, a chief's own reaches, and one reach's file."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from datetime import datetime
from pathlib import Path

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import Language
from bot.dossier import DossierError, default_range, file_name
from bot.exports import TELEGRAM_UPLOAD_LIMIT
from bot.permissions import decide_in_area
from handlers.access import Actor, command
from handlers.callbacks import ReachCard, ReachDossier, ReachesArea, ReachesMine, ReachesTop, pressed
from handlers.common import Context, services
from handlers.office.common import area_buttons, level_name, no_registry, p, reach_label, reach_level_name, t
from handlers.scope import refuse_out_of_scope
from handlers.ui import alert, answer, buttons, paged, show
from storage.records import ReachRecord

logger = logging.getLogger(__name__)


@command("reaches")
async def reaches_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/reaches: choose an area (or, for a chief, their own reaches)."""
    await _reaches_top(update, context, actor, page=0)


async def _reaches_top(update: Update, context: Context, actor: Actor, *, page: int) -> None:
    """The areas, a page of 12 at a time; a chief also gets the way to their own reaches."""
    lang = actor.language
    # A town's office: its own areas (its chiefs' own reaches stay under "mine").
    within = actor.known.areas if actor.known.is_admin else None
    areas = await area_buttons(context, lang, lambda area: ReachesArea(area=area, page=0).pack(), within)
    if not areas:
        await no_registry(update, context, lang)
        return
    extra: list[list[tuple[str, str]]] = []
    if await services(context).office.my_reaches(actor.known):
        extra.append([(p(context, lang, "reaches.mine"), ReachesMine(page=0).pack())])
    await show(
        update,
        context,
        t(context, lang, "reaches.choose_area"),
        paged(areas, page=page, page_data=_top_page, extra=extra, columns=2, page_size=12),
    )


def _top_page(number: int) -> str:
    return ReachesTop(page=number).pack()


def _back(context: Context, lang: Language) -> list[list[tuple[str, str]]]:
    return [[(p(context, lang, "common.back"), _top_page(0))]]


@pressed(ReachesTop, action="reaches")
async def top_shown(update: Update, context: Context, actor: Actor, data: ReachesTop) -> None:
    """The page of areas pressed (◀ ▶), or back to the first."""
    await _reaches_top(update, context, actor, page=data.page)


@pressed(ReachesMine, action="reaches")
async def mine_shown(update: Update, context: Context, actor: Actor, data: ReachesMine) -> None:
    """The reaches the presser answers for, the page pressed (20 a page)."""
    lang = actor.language
    held = await services(context).office.held_reaches(actor.known.id)
    choices = [(reach_label(lang, h.reach), ReachCard(reach=h.reach.id).pack()) for h in held if h.reach is not None]
    await show(
        update,
        context,
        t(context, lang, "reaches.mine_header"),
        paged(
            choices,
            page=data.page,
            page_data=lambda number: ReachesMine(page=number).pack(),
            extra=_back(context, lang),
            page_size=20,
        ),
    )


@pressed(ReachesArea, action="reaches")
async def area_shown(update: Update, context: Context, actor: Actor, data: ReachesArea) -> None:
    """An area's reaches with their levels, a page at a time (a vanished area: back to the areas)."""
    svc = services(context)
    lang = actor.language
    area = await svc.office.area(data.area)
    if area is None:
        await _reaches_top(update, context, actor, page=0)
        return
    if not decide_in_area(actor.known, "reaches", area.id).allowed:
        await refuse_out_of_scope(update, context, actor.known, "area")
        return
    reaches = await svc.office.reaches_in(area.id)
    choices = [
        (f"{reach_label(lang, r)} · {reach_level_name(context, lang, r.level)}", ReachCard(reach=r.id).pack())
        for r in reaches
    ]
    header = t(context, lang, "reaches.in_area", area=area.name(lang), count=len(reaches))
    markup = paged(
        choices,
        page=data.page,
        page_data=lambda number: ReachesArea(area=area.id, page=number).pack(),
        extra=_back(context, lang),
    )
    await show(update, context, header, markup)


@pressed(ReachCard, action="reaches")
async def card_shown(update: Update, context: Context, actor: Actor, data: ReachCard) -> None:
    """A reach's file (a vanished reach: back to the areas)."""
    lang = actor.language
    office = services(context).office
    reach = await office.reach(data.reach)
    if reach is None:
        await _reaches_top(update, context, actor, page=0)
        return
    held = {h.reach.id for h in await office.my_reaches(actor.known) if h.reach is not None}
    if reach.id not in held and not decide_in_area(actor.known, "reaches", reach.area_id).allowed:
        await refuse_out_of_scope(update, context, actor.known, "area")
        return
    rows = []
    if await services(context).dossiers.may_have(actor.known, reach.id):
        rows.append([(p(context, lang, "dossier.button"), ReachDossier(reach=reach.id).pack())])
    rows.append([(p(context, lang, "common.back"), ReachesArea(area=reach.area_id, page=0).pack())])
    await show(update, context, await reach_card(context, lang, reach), buttons(*rows))


@pressed(ReachDossier, action="reaches")
async def dossier_pressed(update: Update, context: Context, actor: Actor, data: ReachDossier) -> None:
    """One river, one file: the reach's last 12 months as a PDF, for the office and the reach's own chiefs.

    A forged button for another chief's reach is refused. Drawing takes seconds: the chat is told first."""
    svc = services(context)
    lang = actor.language
    reach = await svc.office.reach(data.reach)
    if reach is None:
        await _reaches_top(update, context, actor, page=0)
        return
    if not await svc.dossiers.may_have(actor.known, reach.id):
        await alert(update, p(context, lang, "dossier.not_yours"))
        return
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await answer(update.callback_query)  # now: the spinner stops while the file is drawn
    chat = update.effective_chat
    assert chat is not None
    first, last = default_range(datetime.now(svc.settings.tz).date())
    dates = {"first": first.isoformat(), "last": last.isoformat()}
    await context.bot.send_message(chat.id, t(context, lang, "dossier.preparing", reach=reach.name(lang), **dates))
    with contextlib.suppress(TelegramError):
        await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    with tempfile.TemporaryDirectory(prefix="riverbot-dossier-") as folder:
        path = Path(folder) / file_name(reach.code, first, last)
        try:
            result = await svc.dossiers.write([reach.id], first, last, path, language=lang)  # may_have() decided
        except DossierError as exc:  # no Chinese font on the server: the office is told how to get one
            await context.bot.send_message(chat.id, t(context, lang, exc.key, **exc.params))
            return
        except Exception:
            logger.exception("dossier of reach %s failed", reach.code)
            await context.bot.send_message(chat.id, t(context, lang, "dossier.failed"))
            return
        if result.size > TELEGRAM_UPLOAD_LIMIT:
            size = f"{result.size / 1024 / 1024:.1f}"
            await context.bot.send_message(chat.id, t(context, lang, "dossier.too_big", size=size))
            return
        caption = p(context, lang, "dossier.caption", reach=reach.name(lang), code=reach.code, **dates)
        with path.open("rb") as document:
            await context.bot.send_document(
                chat.id, document, filename=path.name, caption=caption, read_timeout=120, write_timeout=120
            )


async def reach_card(context: Context, lang: Language, reach: ReachRecord) -> str:
    """One river, one file: who answers for it, its level, tags and shape."""
    svc = services(context)
    file = await svc.office.reach_file(reach)
    none = p(context, lang, "common.none")
    chief_lines = [
        t(
            context,
            lang,
            "reaches.chief_line",
            name=a.person_name,
            level=level_name(context, lang, a.level),
            since=a.starts_on.isoformat(),
        )
        for a in file.chiefs
    ]
    tags = [p(context, lang, f"tags.{tag}") if svc.locales.has(f"tags.{tag}") else tag for tag in reach.tags]
    last_line = []
    last = file.last_patrol
    if last is not None:
        last_line.append(
            t(
                context,
                lang,
                "reaches.last_patrol",
                when=last.ended_at.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M"),
                name=last.walker or "?",
                verdict=p(context, lang, "reaches.patrol_valid" if last.valid else "reaches.patrol_invalid"),
            )
        )
        if last.assistant is not None:
            last_line[-1] += t(context, lang, "assistants.walked_suffix", assistant=last.assistant)
    return "\n".join(
        [
            t(
                context,
                lang,
                "reaches.card",
                name=reach.name(lang),
                other_name=reach.name("en" if lang == "zh" else "zh"),
                code=reach.code,
                area=file.area.name(lang) if file.area else none,
                level=reach_level_name(context, lang, reach.level),
                length=f"{reach.length_km:g}" if reach.length_km is not None else none,
                tags=p(context, lang, "common.list_sep").join(tags) or none,
                geometry=p(context, lang, "reaches.has_geometry" if reach.geometry else "reaches.no_geometry"),
            ),
            *last_line,
            t(context, lang, "reaches.chiefs_header"),
            *(chief_lines or [t(context, lang, "reaches.no_chief")]),
        ]
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("reaches", reaches_command, new_message))
    for callback, codec in (
        (top_shown, ReachesTop),
        (mine_shown, ReachesMine),
        (area_shown, ReachesArea),
        (card_shown, ReachCard),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
    # Not blocking: a busy reach's year takes seconds to draw, and the chat stays answered meanwhile.
    app.add_handler(CallbackQueryHandler(dossier_pressed, pattern=ReachDossier.pattern, block=False))
