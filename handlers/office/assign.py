"""/assign and /unassign: who answers for a reach. Both go area → reach → chief (or assignment)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from telegram import Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from handlers.access import Actor, command, refuse
from handlers.callbacks import (
    AssignArea,
    AssignChief,
    AssignReach,
    AssignTop,
    UnassignArea,
    UnassignEnd,
    UnassignReach,
    UnassignTop,
    pressed,
)
from handlers.common import Context, services
from handlers.office.common import area_buttons, level_name, no_registry, p, reach_label, t
from handlers.scope import refuse_out_of_scope
from handlers.ui import buttons, paged, show
from storage.records import ReachRecord


@dataclass(frozen=True)
class _Way:
    """What /assign and /unassign draw differently on their common way from an area to a reach."""

    texts: str  # the locale section: "assign" or "unassign"
    top: Callable[[int], str]  # a page of the areas
    area: Callable[[int, int], str]  # an area's reaches: area id, page
    reach: Callable[[int, int], str]  # what a reach opens: reach id, page


ASSIGN = _Way(
    "assign",
    top=lambda page: AssignTop(page=page).pack(),
    area=lambda area, page: AssignArea(area=area, page=page).pack(),
    reach=lambda reach, page: AssignReach(reach=reach, page=page).pack(),
)
UNASSIGN = _Way(
    "unassign",
    top=lambda page: UnassignTop(page=page).pack(),
    area=lambda area, page: UnassignArea(area=area, page=page).pack(),
    reach=lambda reach, page: UnassignReach(reach=reach, page=page).pack(),
)


@command("assign")
async def assign_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/assign: choose an area, a reach, then the chief who will answer for it."""
    await _choose_area(update, context, actor, ASSIGN, page=0)


@command("unassign")
async def unassign_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/unassign: choose an area, a reach, then the assignment to end."""
    await _choose_area(update, context, actor, UNASSIGN, page=0)


async def _choose_area(update: Update, context: Context, actor: Actor, way: _Way, *, page: int) -> None:
    """The areas (a town's office: its own), a page of 12 at a time."""
    lang = actor.language
    areas = await area_buttons(context, lang, lambda area: way.area(area, 0), actor.known.areas)
    if not areas:
        await no_registry(update, context, lang)
        return
    await show(
        update,
        context,
        t(context, lang, f"{way.texts}.choose_area"),
        paged(areas, page=page, page_data=way.top, columns=2, page_size=12),
    )


async def _choose_reach(update: Update, context: Context, actor: Actor, way: _Way, *, area_id: int, page: int) -> None:
    svc = services(context)
    lang = actor.language
    area = await svc.office.area(area_id)
    if area is None:
        await _choose_area(update, context, actor, way, page=0)
        return
    if not actor.known.covers(area.id):
        await refuse_out_of_scope(update, context, actor.known, "area")
        return
    choices = [
        (f"{reach_label(lang, c.reach)} · 👤{c.held_by}", way.reach(c.reach.id, 0))
        for c in await svc.office.reach_choices(area.id)
    ]
    back = [[(p(context, lang, "common.back"), way.top(0))]]
    await show(
        update,
        context,
        t(context, lang, f"{way.texts}.choose_reach", area=area.name(lang)),
        paged(choices, page=page, page_data=lambda number: way.area(area.id, number), extra=back),
    )


async def _reach(update: Update, context: Context, actor: Actor, reach_id: int) -> ReachRecord | None:
    """The reach a button names; None (answered) when it is no longer in the registry."""
    reach = await services(context).office.reach(reach_id)
    if reach is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
    elif not actor.known.covers(reach.area_id):
        await refuse_out_of_scope(update, context, actor.known, "area")
        return None
    return reach


# -- the buttons on the way to a reach, alike for both --------------------------------------------------


async def _areas_shown(update: Update, context: Context, actor: Actor, data: AssignTop | UnassignTop) -> None:
    """The page of areas pressed (◀ ▶), or back to the first."""
    way = ASSIGN if isinstance(data, AssignTop) else UNASSIGN
    await _choose_area(update, context, actor, way, page=data.page)


async def _area_shown(update: Update, context: Context, actor: Actor, data: AssignArea | UnassignArea) -> None:
    """An area's reaches, each with how many chiefs answer for it."""
    way = ASSIGN if isinstance(data, AssignArea) else UNASSIGN
    await _choose_reach(update, context, actor, way, area_id=data.area, page=data.page)


assign_areas = pressed(AssignTop, action="assign")(_areas_shown)
unassign_areas = pressed(UnassignTop, action="unassign")(_areas_shown)
assign_area = pressed(AssignArea, action="assign")(_area_shown)
unassign_area = pressed(UnassignArea, action="unassign")(_area_shown)


# -- /assign's buttons ----------------------------------------------------------------------------------


@pressed(AssignReach, action="assign")
async def assign_reach(update: Update, context: Context, actor: Actor, data: AssignReach) -> None:
    """The chiefs who may answer for the reach, those who already do marked."""
    svc = services(context)
    lang = actor.language
    reach = await _reach(update, context, actor, data.reach)
    if reach is None:
        return
    choices = [
        (
            ("✅ " if c.holds else "") + f"{c.person.name} · {level_name(context, lang, c.person.chief_level)}",
            AssignChief(reach=reach.id, person=c.person.id).pack(),
        )
        for c in await svc.office.chief_choices(reach, actor.known.areas)
    ]
    if not choices:
        await show(update, context, t(context, lang, "assign.no_chiefs"))
        return
    back = [[(p(context, lang, "common.back"), ASSIGN.area(reach.area_id, 0))]]
    await show(
        update,
        context,
        t(context, lang, "assign.choose_chief", reach=reach.name(lang)),
        paged(choices, page=data.page, page_data=lambda number: ASSIGN.reach(reach.id, number), extra=back),
    )


@pressed(AssignChief, action="assign")
async def chief_assigned(update: Update, context: Context, actor: Actor, data: AssignChief) -> None:
    """Make the chosen chief answer for the reach (already so: said, not doubled)."""
    svc = services(context)
    lang = actor.language
    reach = await _reach(update, context, actor, data.reach)
    person = await svc.people.by_id(data.person)
    if reach is None:
        return
    if person is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if not await svc.people.may_hand_to(actor.known, reach.id, person.id):  # a forged chief from another town
        await refuse_out_of_scope(update, context, actor.known, "person")
        return
    result = await svc.roster.assign(person.id, reach.id)
    if result is None:
        await refuse(update, context, lang, "assign.not_a_chief", name=person.name)
        return
    _, new = result
    key = "assign.done" if new else "assign.already"
    level = level_name(context, lang, person.chief_level)
    text = t(context, lang, key, name=person.name, reach=reach.name(lang), level=level)
    await show(update, context, text, buttons([(p(context, lang, "assign.another"), ASSIGN.area(reach.area_id, 0))]))


# -- /unassign's buttons --------------------------------------------------------------------------------


@pressed(UnassignReach, action="unassign")
async def unassign_reach(update: Update, context: Context, actor: Actor, data: UnassignReach) -> None:
    """The reach's current assignments, one of which to end: the page pressed."""
    svc = services(context)
    lang = actor.language
    reach = await _reach(update, context, actor, data.reach)
    if reach is None:
        return
    held = await svc.office.holders(reach.id)
    back = [[(p(context, lang, "common.back"), UNASSIGN.area(reach.area_id, 0))]]
    if not held:
        await show(update, context, t(context, lang, "unassign.none", reach=reach.name(lang)), buttons(*back))
        return
    choices = [
        (
            f"{a.person_name} · {level_name(context, lang, a.level)} · {a.starts_on.isoformat()}",
            UnassignEnd(assignment=a.id).pack(),
        )
        for a in held
    ]
    await show(
        update,
        context,
        t(context, lang, "unassign.choose", reach=reach.name(lang)),
        paged(choices, page=data.page, page_data=lambda number: UNASSIGN.reach(reach.id, number), extra=back),
    )


@pressed(UnassignEnd, action="unassign")
async def assignment_ended(update: Update, context: Context, actor: Actor, data: UnassignEnd) -> None:
    """End the assignment from today (ended already: said so)."""
    svc = services(context)
    lang = actor.language
    assignment = await svc.office.assignment(data.assignment)
    held = None if assignment is None else await svc.office.reach(assignment.reach_id)
    if held is not None and not actor.known.covers(held.area_id):
        await refuse_out_of_scope(update, context, actor.known, "area")
        return
    if assignment is None or not await svc.roster.unassign(assignment.id):
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
    again = (p(context, lang, "common.back"), UNASSIGN.reach(assignment.reach_id, 0))
    await show(update, context, text, buttons([again]))


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("assign", assign_command, new_message))
    app.add_handler(CommandHandler("unassign", unassign_command, new_message))
    for callback, codec in (
        (assign_areas, AssignTop),
        (assign_area, AssignArea),
        (assign_reach, AssignReach),
        (chief_assigned, AssignChief),
        (unassign_areas, UnassignTop),
        (unassign_area, UnassignArea),
        (unassign_reach, UnassignReach),
        (assignment_ended, UnassignEnd),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
