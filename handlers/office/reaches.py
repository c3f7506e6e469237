"""/reaches: the registry by area, a chief's own reaches, and one reach's file."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import Language
from handlers.access import Actor, guard, refuse
from handlers.common import Context, services
from handlers.office.common import area_buttons, level_name, no_registry, p, reach_label, t
from handlers.ui import button, buttons, int_part, paged, show
from storage.records import ReachRecord


async def reaches_command(update: Update, context: Context) -> None:
    """/reaches: choose an area (or, for a chief, their own reaches)."""
    actor = await guard(update, context, "reaches")
    if actor is None:
        return
    await _reaches_top(update, context, actor)


async def _reaches_top(update: Update, context: Context, actor: Actor) -> None:
    lang = actor.language
    areas = await area_buttons(context, lang, "rc:a:")
    if not areas:
        await no_registry(update, context, lang)
        return
    extra: list[list[tuple[str, str]]] = []
    if await services(context).office.my_reaches(actor.known):
        extra.append([(p(context, lang, "reaches.mine"), "rc:mine:0")])
    await show(
        update,
        context,
        t(context, lang, "reaches.choose_area"),
        paged(areas, page=0, page_data="rc:top:", extra=extra, columns=2, page_size=12),
    )


@button
async def reaches_button(update: Update, context: Context) -> None:
    """/reaches' buttons: back to the areas, my reaches, an area's reaches (paged), a reach's file."""
    query = update.callback_query
    assert query is not None and query.data is not None
    actor = await guard(update, context, "reaches")
    if actor is None:
        return
    svc = services(context)
    lang = actor.language
    parts = query.data.split(":")
    action = parts[1]
    number = int_part(query.data, 2)
    if number is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if action == "top":
        await _reaches_top(update, context, actor)
    elif action == "mine":
        held = await svc.office.held_reaches(actor.known.id)
        choices = [(reach_label(lang, h.reach), f"rc:r:{h.reach.id}") for h in held if h.reach is not None]
        back = [[(p(context, lang, "common.back"), "rc:top:0")]]
        await show(
            update,
            context,
            t(context, lang, "reaches.mine_header"),
            paged(choices, page=0, page_data="rc:mine:", extra=back, page_size=20),
        )
    elif action == "a":
        area = await svc.office.area(number)
        if area is None:
            await _reaches_top(update, context, actor)
            return
        page = int_part(query.data, 3) or 0
        reaches = await svc.office.reaches_in(area.id)
        choices = [(f"{reach_label(lang, r)} · {level_name(context, lang, r.level)}", f"rc:r:{r.id}") for r in reaches]
        back = [[(p(context, lang, "common.back"), "rc:top:0")]]
        header = t(context, lang, "reaches.in_area", area=area.name(lang), count=len(reaches))
        await show(update, context, header, paged(choices, page=page, page_data=f"rc:a:{area.id}:", extra=back))
    elif action == "r":
        reach = await svc.office.reach(number)
        if reach is None:
            await _reaches_top(update, context, actor)
            return
        await show(
            update,
            context,
            await reach_card(context, lang, reach),
            buttons([(p(context, lang, "common.back"), f"rc:a:{reach.area_id}:0")]),
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
                level=level_name(context, lang, reach.level),
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
    app.add_handler(CallbackQueryHandler(reaches_button, pattern=r"^rc:"))
