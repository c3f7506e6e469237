"""/invite: the office registers a chief (level, area, reaches) or an admin, and gets their invite link.

The steps: role → typed name → level (chiefs) → area → reaches → done. Only the name is typed, so only it
needs the dialog router; the rest are buttons checked against the dialog's step, so a button from an older
/invite can't change a newer one.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import invites
from bot.config import LEVELS, Language
from bot.dialogs import Dialog
from bot.joining import clean_name
from bot.names import is_reserved
from bot.office import INVITE, INVITE_ROLES, toggled
from handlers.access import Actor, command, guard, refuse
from handlers.callbacks import (
    NewInviteArea,
    NewInviteAreaPage,
    NewInviteCancel,
    NewInviteCounty,
    NewInviteDone,
    NewInviteLevel,
    NewInviteReach,
    NewInviteReachPage,
    NewInviteRole,
    NewInviteScopeArea,
    NewInviteScopeDone,
    pressed,
)
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.office.common import area_buttons, level_name, no_registry, p, reach_label, t
from handlers.scope import refuse_out_of_scope
from handlers.ui import buttons, paged, show
from storage.records import AreaRecord


@command("invite")
async def invite_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/invite: ask whom to invite, a chief or an admin."""
    lang = actor.language
    await services(context).office.begin_invite(_presser(update))
    await show(
        update,
        context,
        t(context, lang, "invite_new.ask_role"),
        buttons(
            [(p(context, lang, f"role.{role}"), NewInviteRole(role=role).pack()) for role in INVITE_ROLES],
            [(p(context, lang, "common.cancel"), NewInviteCancel().pack())],
        ),
    )


async def _invite_dialog(update: Update, context: Context, actor: Actor, step: str) -> Dialog | None:
    """The admin's open /invite dialog at `step`, or an alert that this button is from an older one."""
    dialog = await services(context).dialogs.at(actor.known.telegram_id or 0, INVITE, step)
    if dialog is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
    return dialog


def _presser(update: Update) -> int:
    """Whose /invite dialog a press moves on."""
    assert update.effective_user is not None
    return update.effective_user.id


def _area_page(number: int) -> str:
    return NewInviteAreaPage(page=number).pack()


def _opens_area(area_id: int) -> str:
    return NewInviteArea(area=area_id, page=0).pack()


@pressed(NewInviteCancel, action="invite")
async def invite_cancelled(update: Update, context: Context, actor: Actor, data: NewInviteCancel) -> None:
    """Drop the /invite under way, at whatever step."""
    await services(context).dialogs.clear(_presser(update), INVITE)
    await show(update, context, t(context, actor.language, "dialog.cancelled"))


@pressed(NewInviteRole, action="invite")
async def role_chosen(update: Update, context: Context, actor: Actor, data: NewInviteRole) -> None:
    """A chief or an admin: then ask for their name (typed)."""
    if await _invite_dialog(update, context, actor, "role") is None:
        return
    lang = actor.language
    await services(context).dialogs.set(_presser(update), INVITE, "name", {"role": data.role})
    await show(update, context, t(context, lang, "invite_new.ask_name", role=p(context, lang, f"role.{data.role}")))


@pressed(NewInviteLevel, action="invite")
async def level_chosen(update: Update, context: Context, actor: Actor, data: NewInviteLevel) -> None:
    """The chief's level: then offer the areas."""
    dialog = await _invite_dialog(update, context, actor, "level")
    if dialog is None:
        return
    svc = services(context)
    lang = actor.language
    areas = await area_buttons(context, lang, _opens_area, actor.known.areas)
    if not areas:
        await svc.dialogs.clear(_presser(update), INVITE)
        await no_registry(update, context, lang)
        return
    await svc.dialogs.set(_presser(update), INVITE, "area", {**dialog.data, "level": data.level})
    await show(update, context, t(context, lang, "invite_new.ask_area"), paged(areas, page=0, page_data=_area_page))


@pressed(NewInviteAreaPage, action="invite")
async def area_page_turned(update: Update, context: Context, actor: Actor, data: NewInviteAreaPage) -> None:
    """Another page of the areas."""
    if await _invite_dialog(update, context, actor, "area") is None:
        return
    lang = actor.language
    areas = await area_buttons(context, lang, _opens_area, actor.known.areas)
    markup = paged(areas, page=data.page, page_data=_area_page)
    await show(update, context, t(context, lang, "invite_new.ask_area"), markup)


@pressed(NewInviteArea, action="invite")
async def area_chosen(update: Update, context: Context, actor: Actor, data: NewInviteArea) -> None:
    """The chief's area: then offer its reaches, none chosen yet."""
    svc = services(context)
    dialog = await _invite_dialog(update, context, actor, "area")
    area = await svc.office.area(data.area)
    if dialog is None or area is None:
        return
    if not actor.known.covers(area.id):
        await refuse_out_of_scope(update, context, actor.known, "area")
        return
    chosen = {**dialog.data, "area_id": area.id, "reaches": []}
    await svc.dialogs.set(_presser(update), INVITE, "reaches", chosen)
    await _show_reach_choice(update, context, actor.language, area, data=chosen, page=0)


async def _reach_step(update: Update, context: Context, actor: Actor) -> tuple[AreaRecord, dict[str, Any]] | None:
    """The area and the choice so far of an /invite at its reaches step; None (answered) for an older button."""
    dialog = await _invite_dialog(update, context, actor, "reaches")
    if dialog is None:
        return None
    area = await services(context).office.area(int(dialog.data["area_id"]))
    if area is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return None
    return area, dict(dialog.data)


async def _reach_choice_changed(
    update: Update, context: Context, actor: Actor, area: AreaRecord, chosen: dict[str, Any]
) -> None:
    await services(context).dialogs.set(_presser(update), INVITE, "reaches", chosen)
    await _show_reach_choice(update, context, actor.language, area, data=chosen, page=int(chosen.get("page", 0)))


@pressed(NewInviteReach, action="invite")
async def reach_toggled(update: Update, context: Context, actor: Actor, data: NewInviteReach) -> None:
    """Add the reach to the chief's choice, or take it out.

    Only a reach of the area offered (or one chosen before): a forged button cannot put any reach, or one that
    does not exist, into the invite.
    """
    step = await _reach_step(update, context, actor)
    if step is not None:
        area, chosen = step
        reaches = list(chosen.get("reaches", []))
        offered = {r.id for r in await services(context).office.reaches_in(area.id)}
        if data.reach not in offered and data.reach not in reaches:
            await refuse(update, context, actor.language, "fallback.outdated_button")
            return
        chosen["reaches"] = toggled(reaches, data.reach)
        await _reach_choice_changed(update, context, actor, area, chosen)


@pressed(NewInviteReachPage, action="invite")
async def reach_page_turned(update: Update, context: Context, actor: Actor, data: NewInviteReachPage) -> None:
    """Another page of the area's reaches (remembered, so a toggle stays on it)."""
    step = await _reach_step(update, context, actor)
    if step is not None:
        area, chosen = step
        await _reach_choice_changed(update, context, actor, area, {**chosen, "page": data.page})


@pressed(NewInviteDone, action="invite")
async def reaches_done(update: Update, context: Context, actor: Actor, data: NewInviteDone) -> None:
    """The reaches are chosen: make the invite."""
    step = await _reach_step(update, context, actor)
    if step is not None:
        await _create_invite(update, context, actor, step[1])


async def _show_reach_choice(
    update: Update, context: Context, lang: Language, area: AreaRecord, *, data: dict[str, Any], page: int
) -> None:
    reaches = await services(context).office.reaches_in(area.id)
    chosen = set(data.get("reaches", []))
    choices = [
        (("✅ " if r.id in chosen else "▫️ ") + reach_label(lang, r), NewInviteReach(reach=r.id).pack()) for r in reaches
    ]
    markup = paged(
        choices,
        page=page,
        page_data=lambda number: NewInviteReachPage(page=number).pack(),
        extra=[
            [(p(context, lang, "invite_new.done", count=len(chosen)), NewInviteDone().pack())],
            [(p(context, lang, "common.cancel"), NewInviteCancel().pack())],
        ],
    )
    await show(update, context, t(context, lang, "invite_new.ask_reaches", area=area.name(lang)), markup)


@flow(INVITE)
async def invite_input(update: Update, context: Context, dialog: Dialog) -> None:
    """The name typed for /invite (any other typing mid-way is pointed at the buttons)."""
    actor = await guard(update, context, "invite")
    message = update.effective_message
    if actor is None or message is None:
        # No longer an admin (or deactivated) mid-way: drop the dialog rather than trap them in it.
        await services(context).dialogs.clear(dialog.telegram_id, INVITE)
        return
    lang = actor.language
    if dialog.step != "name":
        await message.reply_text(t(context, lang, "invite_new.use_buttons"))
        return
    name = clean_name(message.text or "")
    if name is None:
        await message.reply_text(t(context, lang, "register.bad_name"))
        return
    if is_reserved(name):
        await message.reply_text(t(context, lang, "register.reserved_name", name=name))
        return
    data = {**dialog.data, "name": name}
    if data.get("role") == "admin":
        # Which areas the new admin's office covers (a county admin may also give the whole county; with no
        # areas registered yet, there is nothing else to give).
        data["scope"] = []
        if actor.known.is_county_admin and not await services(context).office.areas():
            await _create_invite(update, context, actor, {**data, "county": True})
            return
        await services(context).dialogs.set(dialog.telegram_id, INVITE, "scope", data)
        text, markup = await _scope_choice(context, actor, data, page=0)
        await message.reply_text(text, reply_markup=markup)
        return
    await services(context).dialogs.set(dialog.telegram_id, INVITE, "level", data)
    await message.reply_text(
        t(context, lang, "invite_new.ask_level", name=name),
        reply_markup=buttons(
            [(level_name(context, lang, level), NewInviteLevel(level=level).pack()) for level in LEVELS[:2]],
            [(level_name(context, lang, level), NewInviteLevel(level=level).pack()) for level in LEVELS[2:]],
            [(p(context, lang, "common.cancel"), NewInviteCancel().pack())],
        ),
    )


async def _scope_choice(
    context: Context, actor: Actor, data: dict[str, Any], *, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The areas the admin invite may cover (a town office: its own), ✅ the chosen; «whole county» for a
    county admin."""
    lang = actor.language
    chosen = {int(a) for a in data.get("scope", [])}
    areas = await services(context).office.areas(actor.known.areas)
    choices = [
        (
            ("✅ " if a.id in chosen else "▫️ ") + f"{a.name(lang)} ({a.code})",
            NewInviteScopeArea(area=a.id, page=page).pack(),
        )
        for a in areas
    ]
    extra = [[(p(context, lang, "invite_new.done", count=len(chosen)), NewInviteScopeDone().pack())]]
    if actor.known.is_county_admin:
        extra.append([(p(context, lang, "scope.county_button"), NewInviteCounty().pack())])
    extra.append([(p(context, lang, "common.cancel"), NewInviteCancel().pack())])
    markup = paged(choices, page=page, page_data=lambda n: NewInviteScopeArea(area=0, page=n).pack(), extra=extra)
    return t(context, lang, "scope.invite_ask", name=str(data.get("name", ""))), markup


@pressed(NewInviteScopeArea, action="invite")
async def scope_area_toggled(update: Update, context: Context, actor: Actor, data: NewInviteScopeArea) -> None:
    """An area in or out of the admin invite's scope (only an area the presser's own scope holds)."""
    dialog = await _invite_dialog(update, context, actor, "scope")
    if dialog is None:
        return
    chosen = dict(dialog.data)
    if data.area:
        if await services(context).office.area(data.area) is None:
            await refuse(update, context, actor.language, "fallback.outdated_button")
            return
        if not actor.known.covers(data.area):
            await refuse_out_of_scope(update, context, actor.known, "area")
            return
        chosen["scope"] = toggled([int(a) for a in chosen.get("scope", [])], data.area)
        await services(context).dialogs.set(_presser(update), INVITE, "scope", chosen)
    await show(update, context, *await _scope_choice(context, actor, chosen, page=data.page))


@pressed(NewInviteScopeDone, action="invite")
async def scope_done(update: Update, context: Context, actor: Actor, data: NewInviteScopeDone) -> None:
    """The admin invite covers the areas chosen: make it."""
    dialog = await _invite_dialog(update, context, actor, "scope")
    if dialog is not None:
        await _create_invite(update, context, actor, dict(dialog.data))


@pressed(NewInviteCounty, action="invite")
async def county_chosen(update: Update, context: Context, actor: Actor, data: NewInviteCounty) -> None:
    """The admin invite covers the whole county (refused to a town's office)."""
    dialog = await _invite_dialog(update, context, actor, "scope")
    if dialog is not None:
        await _create_invite(update, context, actor, {**dialog.data, "scope": [], "county": True})


async def _create_invite(update: Update, context: Context, actor: Actor, data: dict[str, Any]) -> None:
    svc = services(context)
    lang = actor.language
    refusal = svc.office.invite_refusal(actor.known, data)
    if refusal is not None:
        await refuse(update, context, lang, f"scope.{refusal}")
        return
    created = await svc.office.create_invite(actor.known, data)
    link = invites.deep_link(context.bot.username, created.code)
    names = [reach.name(lang) for reach in created.reaches]
    role_text = level_name(context, lang, created.level) if created.role == "chief" else p(context, lang, "role.admin")
    text = t(
        context,
        lang,
        "invite_new.created",
        name=created.name,
        role=role_text,
        reaches=p(context, lang, "common.list_sep").join(names) or p(context, lang, "common.none"),
        days=svc.settings.invite_days,
        link=link,
    )
    if created.role == "admin":
        scope = [a.name(lang) for a in await svc.office.areas() if a.id in {int(x) for x in data.get("scope", [])}]
        covered = p(context, lang, "common.list_sep").join(scope) or p(context, lang, "scope.county")
        text += "\n" + t(context, lang, "scope.card", areas=covered)
    await show(update, context, text)


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("invite", invite_command, new_message))
    for callback, codec in (
        (invite_cancelled, NewInviteCancel),
        (role_chosen, NewInviteRole),
        (level_chosen, NewInviteLevel),
        (area_page_turned, NewInviteAreaPage),
        (area_chosen, NewInviteArea),
        (reach_toggled, NewInviteReach),
        (reach_page_turned, NewInviteReachPage),
        (reaches_done, NewInviteDone),
        (scope_area_toggled, NewInviteScopeArea),
        (scope_done, NewInviteScopeDone),
        (county_chosen, NewInviteCounty),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
