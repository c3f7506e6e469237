"""/invite: the office registers a chief (level, area, reaches) or an admin, and gets their invite link.

The steps: role → typed name → level (chiefs) → area → reaches → done. Only the name is typed, so only it
needs the dialog router; the rest are buttons checked against the dialog's step, so a button from an older
/invite can't change a newer one.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import invites
from bot.config import LEVELS, Language
from bot.dialogs import Dialog
from bot.joining import clean_name
from bot.office import INVITE, INVITE_ROLES, toggled
from handlers.access import Actor, guard, refuse
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.office.common import area_buttons, level_name, no_registry, p, reach_label, t
from handlers.ui import button, buttons, int_part, paged, show
from storage.records import AreaRecord


async def invite_command(update: Update, context: Context) -> None:
    """/invite: ask whom to invite, a chief or an admin."""
    actor = await guard(update, context, "invite")
    if actor is None or update.effective_user is None:
        return
    lang = actor.language
    await services(context).office.begin_invite(update.effective_user.id)
    await show(
        update,
        context,
        t(context, lang, "invite_new.ask_role"),
        buttons(
            [(p(context, lang, "role.chief"), "ni:role:chief"), (p(context, lang, "role.admin"), "ni:role:admin")],
            [(p(context, lang, "common.cancel"), "ni:x")],
        ),
    )


async def _invite_dialog(update: Update, context: Context, actor: Actor, step: str) -> Dialog | None:
    """The admin's open /invite dialog at `step`, or an alert that this button is from an older one."""
    dialog = await services(context).dialogs.at(actor.known.telegram_id or 0, INVITE, step)
    if dialog is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
    return dialog


@button
async def invite_button(update: Update, context: Context) -> None:
    """A step of /invite by button: role, level, area (and its pages), reaches (and their pages), done, cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None
    actor = await guard(update, context, "invite")
    if actor is None:
        return
    svc = services(context)
    lang = actor.language
    user_id = query.from_user.id
    parts = query.data.split(":")
    action = parts[1]
    if action == "x":
        await svc.dialogs.clear(user_id, INVITE)
        await show(update, context, t(context, lang, "dialog.cancelled"))
        return
    if action == "role":
        dialog = await _invite_dialog(update, context, actor, "role")
        if dialog is None or parts[2] not in INVITE_ROLES:
            return
        await svc.dialogs.set(user_id, INVITE, "name", {"role": parts[2]})
        await show(update, context, t(context, lang, "invite_new.ask_name", role=p(context, lang, f"role.{parts[2]}")))
        return
    if action == "lvl":
        dialog = await _invite_dialog(update, context, actor, "level")
        if dialog is None or parts[2] not in LEVELS:
            return
        areas = await area_buttons(context, lang, "ni:area:")
        if not areas:
            await svc.dialogs.clear(user_id, INVITE)
            await no_registry(update, context, lang)
            return
        await svc.dialogs.set(user_id, INVITE, "area", {**dialog.data, "level": parts[2]})
        await show(update, context, t(context, lang, "invite_new.ask_area"), paged(areas, page=0, page_data="ni:apg:"))
        return
    if action == "apg":
        dialog = await _invite_dialog(update, context, actor, "area")
        if dialog is None:
            return
        areas = await area_buttons(context, lang, "ni:area:")
        page = int_part(query.data, 2) or 0
        await show(
            update, context, t(context, lang, "invite_new.ask_area"), paged(areas, page=page, page_data="ni:apg:")
        )
        return
    if action == "area":
        dialog = await _invite_dialog(update, context, actor, "area")
        area_id = int_part(query.data, 2)
        area = await svc.office.area(area_id) if area_id is not None else None
        if dialog is None or area is None:
            return
        data = {**dialog.data, "area_id": area.id, "reaches": []}
        await svc.dialogs.set(user_id, INVITE, "reaches", data)
        await _show_reach_choice(update, context, lang, area, data=data, page=0)
        return
    if action in ("r", "rpg", "done"):
        dialog = await _invite_dialog(update, context, actor, "reaches")
        if dialog is None:
            return
        area = await svc.office.area(int(dialog.data["area_id"]))
        if area is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        data = dict(dialog.data)
        page = int(data.get("page", 0))
        if action == "r":
            reach_id = int_part(query.data, 2)
            chosen: list[int] = list(data.get("reaches", []))
            data["reaches"] = chosen if reach_id is None else toggled(chosen, reach_id)
        elif action == "rpg":
            page = int_part(query.data, 2) or 0
            data["page"] = page
        if action != "done":
            await svc.dialogs.set(user_id, INVITE, "reaches", data)
            await _show_reach_choice(update, context, lang, area, data=data, page=page)
            return
        await _create_invite(update, context, actor, data)
        return
    await refuse(update, context, lang, "fallback.outdated_button")


async def _show_reach_choice(
    update: Update, context: Context, lang: Language, area: AreaRecord, *, data: dict[str, Any], page: int
) -> None:
    reaches = await services(context).office.reaches_in(area.id)
    chosen = set(data.get("reaches", []))
    choices = [(("✅ " if r.id in chosen else "▫️ ") + reach_label(lang, r), f"ni:r:{r.id}") for r in reaches]
    markup = paged(
        choices,
        page=page,
        page_data="ni:rpg:",
        extra=[
            [(p(context, lang, "invite_new.done", count=len(chosen)), "ni:done")],
            [(p(context, lang, "common.cancel"), "ni:x")],
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
    data = {**dialog.data, "name": name}
    if data.get("role") == "admin":
        await _create_invite(update, context, actor, data)
        return
    await services(context).dialogs.set(dialog.telegram_id, INVITE, "level", data)
    await message.reply_text(
        t(context, lang, "invite_new.ask_level", name=name),
        reply_markup=buttons(
            [(level_name(context, lang, level), f"ni:lvl:{level}") for level in LEVELS[:2]],
            [(level_name(context, lang, level), f"ni:lvl:{level}") for level in LEVELS[2:]],
            [(p(context, lang, "common.cancel"), "ni:x")],
        ),
    )


async def _create_invite(update: Update, context: Context, actor: Actor, data: dict[str, Any]) -> None:
    svc = services(context)
    lang = actor.language
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
    await show(update, context, text)


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("invite", invite_command, new_message))
    app.add_handler(CallbackQueryHandler(invite_button, pattern=r"^ni:"))
