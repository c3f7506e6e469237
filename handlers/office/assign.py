"""/assign and /unassign: who answers for a reach. Both go area → reach → chief (or assignment)."""

from __future__ import annotations

from typing import Literal

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import Language
from handlers.access import guard, refuse
from handlers.common import Context, services
from handlers.office.common import area_buttons, level_name, no_registry, p, reach_label, t
from handlers.ui import button, buttons, int_part, paged, show

# The callback-data prefix of each command: "as" for /assign, "ua" for /unassign.
Prefix = Literal["as", "ua"]


async def assign_command(update: Update, context: Context) -> None:
    """/assign: choose an area, a reach, then the chief who will answer for it."""
    actor = await guard(update, context, "assign")
    if actor is None:
        return
    await _choose_area(update, context, actor.language, "as")


async def unassign_command(update: Update, context: Context) -> None:
    """/unassign: choose an area, a reach, then the assignment to end."""
    actor = await guard(update, context, "unassign")
    if actor is None:
        return
    await _choose_area(update, context, actor.language, "ua")


async def _choose_area(update: Update, context: Context, lang: Language, prefix: Prefix) -> None:
    areas = await area_buttons(context, lang, f"{prefix}:a:")
    if not areas:
        await no_registry(update, context, lang)
        return
    key = "assign.choose_area" if prefix == "as" else "unassign.choose_area"
    await show(
        update,
        context,
        t(context, lang, key),
        paged(areas, page=0, page_data=f"{prefix}:top:", columns=2, page_size=12),
    )


async def _choose_reach(
    update: Update, context: Context, lang: Language, prefix: Prefix, *, area_id: int, page: int
) -> None:
    svc = services(context)
    area = await svc.office.area(area_id)
    if area is None:
        await _choose_area(update, context, lang, prefix)
        return
    choices = [
        (f"{reach_label(lang, c.reach)} · 👤{c.held_by}", f"{prefix}:r:{c.reach.id}:0")
        for c in await svc.office.reach_choices(area.id)
    ]
    key = "assign.choose_reach" if prefix == "as" else "unassign.choose_reach"
    back = [[(p(context, lang, "common.back"), f"{prefix}:top:0")]]
    await show(
        update,
        context,
        t(context, lang, key, area=area.name(lang)),
        paged(choices, page=page, page_data=f"{prefix}:a:{area.id}:", extra=back),
    )


@button
async def assign_button(update: Update, context: Context) -> None:
    """/assign's buttons: back to the areas, an area's reaches, a reach's chiefs, the chosen chief."""
    query = update.callback_query
    assert query is not None and query.data is not None
    actor = await guard(update, context, "assign")
    if actor is None:
        return
    svc = services(context)
    lang = actor.language
    parts = query.data.split(":")
    action = parts[1]
    first, second = int_part(query.data, 2), int_part(query.data, 3)
    if first is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if action == "top":
        await _choose_area(update, context, lang, "as")
    elif action == "a":
        await _choose_reach(update, context, lang, "as", area_id=first, page=second or 0)
    elif action == "r":
        reach = await svc.office.reach(first)
        if reach is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        choices = [
            (
                ("✅ " if c.holds else "") + f"{c.person.name} · {level_name(context, lang, c.person.chief_level)}",
                f"as:p:{reach.id}:{c.person.id}",
            )
            for c in await svc.office.chief_choices(reach)
        ]
        if not choices:
            await show(update, context, t(context, lang, "assign.no_chiefs"))
            return
        back = [[(p(context, lang, "common.back"), f"as:a:{reach.area_id}:0")]]
        await show(
            update,
            context,
            t(context, lang, "assign.choose_chief", reach=reach.name(lang)),
            paged(choices, page=second or 0, page_data=f"as:r:{reach.id}:", extra=back),
        )
    elif action == "p":
        reach = await svc.office.reach(first)
        person = await svc.people.by_id(second) if second is not None else None
        if reach is None or person is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        result = await svc.roster.assign(person.id, reach.id)
        if result is None:
            await refuse(update, context, lang, "assign.not_a_chief", name=person.name)
            return
        _, new = result
        key = "assign.done" if new else "assign.already"
        level = level_name(context, lang, person.chief_level)
        text = t(context, lang, key, name=person.name, reach=reach.name(lang), level=level)
        await show(update, context, text, buttons([(p(context, lang, "assign.another"), f"as:a:{reach.area_id}:0")]))
    else:
        await refuse(update, context, lang, "fallback.outdated_button")


@button
async def unassign_button(update: Update, context: Context) -> None:
    """/unassign's buttons: back to the areas, an area's reaches, a reach's chiefs, the assignment to end."""
    query = update.callback_query
    assert query is not None and query.data is not None
    actor = await guard(update, context, "unassign")
    if actor is None:
        return
    svc = services(context)
    lang = actor.language
    action = query.data.split(":")[1]
    first, second = int_part(query.data, 2), int_part(query.data, 3)
    if first is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if action == "top":
        await _choose_area(update, context, lang, "ua")
    elif action == "a":
        await _choose_reach(update, context, lang, "ua", area_id=first, page=second or 0)
    elif action == "r":
        reach = await svc.office.reach(first)
        if reach is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        held = await svc.office.holders(reach.id)
        back = [[(p(context, lang, "common.back"), f"ua:a:{reach.area_id}:0")]]
        if not held:
            await show(update, context, t(context, lang, "unassign.none", reach=reach.name(lang)), buttons(*back))
            return
        choices = [
            (f"{a.person_name} · {level_name(context, lang, a.level)} · {a.starts_on.isoformat()}", f"ua:e:{a.id}")
            for a in held
        ]
        await show(
            update,
            context,
            t(context, lang, "unassign.choose", reach=reach.name(lang)),
            paged(choices, page=0, page_data=f"ua:r:{reach.id}:", extra=back),
        )
    elif action == "e":
        assignment = await svc.office.assignment(first)
        if assignment is None:
            await refuse(update, context, lang, "unassign.already")
            return
        ended = await svc.roster.unassign(assignment.id)
        if not ended:
            await refuse(update, context, lang, "unassign.already")
            return
        reach = await svc.office.reach(assignment.reach_id)
        text = t(
            context,
            lang,
            "unassign.done",
            name=assignment.person_name,
            reach=reach.name(lang) if reach else assignment.reach_code,
        )
        again = (p(context, lang, "common.back"), f"ua:r:{assignment.reach_id}:0")
        await show(update, context, text, buttons([again]))
    else:
        await refuse(update, context, lang, "fallback.outdated_button")


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("assign", assign_command, new_message))
    app.add_handler(CommandHandler("unassign", unassign_command, new_message))
    app.add_handler(CallbackQueryHandler(assign_button, pattern=r"^as:"))
    app.add_handler(CallbackQueryHandler(unassign_button, pattern=r"^ua:"))
