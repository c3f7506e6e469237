"""The office's commands in private chat: /invite, /people, /reaches, /assign, /unassign.

Every step is a button whose data carries what the step needs (area, reach, person ids), so a restart between
taps loses nothing; only /invite, which asks for a typed name, keeps a dialog in the store. Every button checks
permission again: an admin removed a minute ago can't finish what they started.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import invites
from bot.config import LEVELS, Language
from bot.joining import clean_name
from handlers.access import Actor, guard, refuse
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.ui import button, buttons, int_part, paged, show
from storage.records import AreaRecord, DialogRecord, PersonRecord, ReachRecord

INVITE = "invite"
SEARCH_SHOWN = 20


def _t(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.t(lang, key, **params)


def _p(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.plain(lang, key, **params)


def _level(context: Context, lang: Language, level: str | None) -> str:
    return _p(context, lang, f"level.{level}") if level in LEVELS else _p(context, lang, "common.none")


def _reach_label(lang: Language, reach: ReachRecord) -> str:
    return f"{reach.name(lang)} · {reach.code}"


async def _area_buttons(context: Context, lang: Language, prefix: str) -> list[tuple[str, str]]:
    areas = await services(context).store.areas.all()
    return [(f"{a.name(lang)} · {a.code}", f"{prefix}{a.id}:0") for a in areas]


async def _no_registry(update: Update, context: Context, lang: Language) -> None:
    await show(update, context, _t(context, lang, "registry.empty"))


# -- /invite ---------------------------------------------------------------------------------------------


async def invite_command(update: Update, context: Context) -> None:
    actor = await guard(update, context, "invite")
    if actor is None or update.effective_user is None:
        return
    lang = actor.language
    await services(context).store.dialogs.put(update.effective_user.id, INVITE, "role", {})
    await show(
        update,
        context,
        _t(context, lang, "invite_new.ask_role"),
        buttons(
            [(_p(context, lang, "role.chief"), "ni:role:chief"), (_p(context, lang, "role.admin"), "ni:role:admin")],
            [(_p(context, lang, "common.cancel"), "ni:x")],
        ),
    )


async def _invite_dialog(update: Update, context: Context, actor: Actor, step: str) -> DialogRecord | None:
    """The admin's open /invite dialog at `step`, or an alert that this button is from an older one."""
    dialog = await services(context).store.dialogs.get(actor.known.telegram_id or 0)
    if dialog is None or dialog.flow != INVITE or dialog.step != step:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return None
    return dialog


@button
async def invite_button(update: Update, context: Context) -> None:
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
        await svc.store.dialogs.clear(user_id, INVITE)
        await show(update, context, _t(context, lang, "dialog.cancelled"))
        return
    if action == "role":
        dialog = await _invite_dialog(update, context, actor, "role")
        if dialog is None or parts[2] not in ("chief", "admin"):
            return
        await svc.store.dialogs.put(user_id, INVITE, "name", {"role": parts[2]})
        await show(
            update, context, _t(context, lang, "invite_new.ask_name", role=_p(context, lang, f"role.{parts[2]}"))
        )
        return
    if action == "lvl":
        dialog = await _invite_dialog(update, context, actor, "level")
        if dialog is None or parts[2] not in LEVELS:
            return
        areas = await _area_buttons(context, lang, "ni:area:")
        if not areas:
            await svc.store.dialogs.clear(user_id, INVITE)
            await _no_registry(update, context, lang)
            return
        await svc.store.dialogs.put(user_id, INVITE, "area", {**dialog.data, "level": parts[2]})
        await show(update, context, _t(context, lang, "invite_new.ask_area"), paged(areas, page=0, page_data="ni:apg:"))
        return
    if action == "apg":
        dialog = await _invite_dialog(update, context, actor, "area")
        if dialog is None:
            return
        areas = await _area_buttons(context, lang, "ni:area:")
        page = int_part(query.data, 2) or 0
        await show(
            update, context, _t(context, lang, "invite_new.ask_area"), paged(areas, page=page, page_data="ni:apg:")
        )
        return
    if action == "area":
        dialog = await _invite_dialog(update, context, actor, "area")
        area_id = int_part(query.data, 2)
        area = await svc.store.areas.by_id(area_id) if area_id is not None else None
        if dialog is None or area is None:
            return
        data = {**dialog.data, "area_id": area.id, "reaches": []}
        await svc.store.dialogs.put(user_id, INVITE, "reaches", data)
        await _show_reach_choice(update, context, lang, area, data=data, page=0)
        return
    if action in ("r", "rpg", "done"):
        dialog = await _invite_dialog(update, context, actor, "reaches")
        if dialog is None:
            return
        area = await svc.store.areas.by_id(int(dialog.data["area_id"]))
        if area is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        data = dict(dialog.data)
        page = int(data.get("page", 0))
        if action == "r":
            reach_id = int_part(query.data, 2)
            chosen: list[int] = list(data.get("reaches", []))
            if reach_id is not None:
                if reach_id in chosen:
                    chosen.remove(reach_id)
                else:
                    chosen.append(reach_id)
            data["reaches"] = chosen
        elif action == "rpg":
            page = int_part(query.data, 2) or 0
            data["page"] = page
        if action != "done":
            await svc.store.dialogs.put(user_id, INVITE, "reaches", data)
            await _show_reach_choice(update, context, lang, area, data=data, page=page)
            return
        await _create_invite(update, context, actor, data)
        return
    await refuse(update, context, lang, "fallback.outdated_button")


async def _show_reach_choice(
    update: Update, context: Context, lang: Language, area: AreaRecord, *, data: dict[str, Any], page: int
) -> None:
    reaches = await services(context).store.reaches.in_area(area.id)
    chosen = set(data.get("reaches", []))
    choices = [(("✅ " if r.id in chosen else "▫️ ") + _reach_label(lang, r), f"ni:r:{r.id}") for r in reaches]
    markup = paged(
        choices,
        page=page,
        page_data="ni:rpg:",
        extra=[
            [(_p(context, lang, "invite_new.done", count=len(chosen)), "ni:done")],
            [(_p(context, lang, "common.cancel"), "ni:x")],
        ],
    )
    await show(update, context, _t(context, lang, "invite_new.ask_reaches", area=area.name(lang)), markup)


@flow(INVITE)
async def invite_input(update: Update, context: Context, dialog: DialogRecord) -> None:
    actor = await guard(update, context, "invite")
    message = update.effective_message
    if actor is None or message is None:
        # No longer an admin (or deactivated) mid-way: drop the dialog rather than trap them in it.
        await services(context).store.dialogs.clear(dialog.telegram_id, INVITE)
        return
    lang = actor.language
    if dialog.step != "name":
        await message.reply_text(_t(context, lang, "invite_new.use_buttons"))
        return
    name = clean_name(message.text or "")
    if name is None:
        await message.reply_text(_t(context, lang, "register.bad_name"))
        return
    data = {**dialog.data, "name": name}
    if data.get("role") == "admin":
        await _create_invite(update, context, actor, data)
        return
    await services(context).store.dialogs.put(dialog.telegram_id, INVITE, "level", data)
    await message.reply_text(
        _t(context, lang, "invite_new.ask_level", name=name),
        reply_markup=buttons(
            [(_level(context, lang, level), f"ni:lvl:{level}") for level in LEVELS[:2]],
            [(_level(context, lang, level), f"ni:lvl:{level}") for level in LEVELS[2:]],
            [(_p(context, lang, "common.cancel"), "ni:x")],
        ),
    )


async def _create_invite(update: Update, context: Context, actor: Actor, data: dict[str, Any]) -> None:
    svc = services(context)
    lang = actor.language
    role: invites.InviteRole = "admin" if data.get("role") == "admin" else "chief"
    reach_ids = tuple(int(r) for r in data.get("reaches", []))
    code = await svc.joining.create_invite(
        created_by=actor.known.id,
        role=role,
        name=str(data["name"]),
        level=data.get("level"),
        area_id=data.get("area_id"),
        reach_ids=reach_ids,
    )
    await svc.store.dialogs.clear(actor.known.telegram_id or 0, INVITE)
    link = invites.deep_link(context.bot.username, code)
    names = []
    for reach_id in reach_ids:
        reach = await svc.store.reaches.by_id(reach_id)
        if reach is not None:
            names.append(reach.name(lang))
    role_text = _level(context, lang, data.get("level")) if role == "chief" else _p(context, lang, "role.admin")
    text = _t(
        context,
        lang,
        "invite_new.created",
        name=str(data["name"]),
        role=role_text,
        reaches=_p(context, lang, "common.list_sep").join(names) or _p(context, lang, "common.none"),
        days=svc.settings.invite_days,
        link=link,
    )
    await show(update, context, text)


# -- /people ---------------------------------------------------------------------------------------------


def _roles_text(context: Context, lang: Language, person: PersonRecord) -> str:
    parts = []
    for role in ("admin", "chief", "volunteer"):
        if role in person.roles:
            parts.append(
                _level(context, lang, person.roles[role]) if role == "chief" else _p(context, lang, f"role.{role}")
            )
    if not parts:
        parts.append(_p(context, lang, "role.pending" if person.pending else "role.stranger"))
    return _p(context, lang, "common.list_sep").join(parts)


async def people_command(update: Update, context: Context) -> None:
    actor = await guard(update, context, "people")
    if actor is None:
        return
    query_text = " ".join(context.args or []).strip()
    await _people_page(update, context, actor.language, query_text, 0)


async def _people_page(update: Update, context: Context, lang: Language, text: str, page: int) -> None:
    svc = services(context)
    page_size = 8
    limit = SEARCH_SHOWN if text else page_size
    found, total = await svc.store.people.search(text[:40], limit=limit, offset=0 if text else page * page_size)
    if total == 0:
        await show(update, context, _t(context, lang, "people.none", query=text))
        return
    choices = [
        (("" if p.active else "⛔ ") + f"{p.name} · {_roles_text(context, lang, p)}", f"pp:p:{p.id}") for p in found
    ]
    if text:
        header = _t(context, lang, "people.found", query=text, count=total)
        if total > SEARCH_SHOWN:
            header += "\n" + _t(context, lang, "people.refine", shown=SEARCH_SHOWN)
        markup = paged(choices, page=0, page_data="pp:pg:", page_size=SEARCH_SHOWN)
    else:
        header = _t(context, lang, "people.all", count=total)
        pages = max(1, -(-total // page_size))
        nav: list[tuple[str, str]] = []
        if page > 0:
            nav.append(("◀", f"pp:pg:{page - 1}"))
        nav.append((f"{page + 1}/{pages}", f"pp:pg:{page}"))
        if page < pages - 1:
            nav.append(("▶", f"pp:pg:{page + 1}"))
        markup = paged(choices, page=0, page_data="pp:pg:", extra=[nav] if pages > 1 else [], page_size=page_size)
    await show(update, context, header, markup)


async def _person_card(context: Context, lang: Language, person: PersonRecord) -> tuple[str, InlineKeyboardMarkup]:
    svc = services(context)
    area = await svc.store.areas.by_id(person.home_area_id) if person.home_area_id else None
    assignments = await svc.store.assignments.active_for_person(person.id)
    reach_names = []
    for assignment in assignments:
        reach = await svc.store.reaches.by_id(assignment.reach_id)
        reach_names.append(reach.name(lang) if reach else assignment.reach_code)
    none = _p(context, lang, "common.none")
    if not person.active:
        status = _p(context, lang, "people.status_inactive")
    elif person.telegram_id is None:
        status = _p(context, lang, "people.status_invited")
    elif person.blocked_at is not None:
        status = _p(context, lang, "people.status_blocked")
    else:
        status = _p(context, lang, "people.status_active")
    text = _t(
        context,
        lang,
        "people.card",
        name=person.name,
        roles=_roles_text(context, lang, person),
        area=area.name(lang) if area else none,
        phone=person.phone or none,
        username=f"@{person.username}" if person.username else none,
        status=status,
        reaches=_p(context, lang, "common.list_sep").join(reach_names) or none,
    )
    toggle = (
        (_p(context, lang, "people.deactivate"), f"pp:off:{person.id}")
        if person.active
        else (_p(context, lang, "people.reactivate"), f"pp:on:{person.id}")
    )
    return text, buttons([toggle], [(_p(context, lang, "common.back"), "pp:pg:0")])


@button
async def people_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    actor = await guard(update, context, "people")
    if actor is None:
        return
    svc = services(context)
    lang = actor.language
    action = query.data.split(":")[1]
    number = int_part(query.data, 2)
    if number is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if action == "pg":
        await _people_page(update, context, lang, "", number)
        return
    person = await svc.store.people.by_id(number)
    if person is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if action == "p":
        text, markup = await _person_card(context, lang, person)
        await show(update, context, text, markup)
        return
    if action in ("off", "on", "off!") and person.id == actor.known.id:
        await refuse(update, context, lang, "people.not_yourself")
        return
    if action == "off":
        count = len(await svc.store.assignments.active_for_person(person.id))
        await show(
            update,
            context,
            _t(context, lang, "people.confirm_deactivate", name=person.name, count=count),
            buttons(
                [(_p(context, lang, "people.deactivate_yes"), f"pp:off!:{person.id}")],
                [(_p(context, lang, "common.cancel"), f"pp:p:{person.id}")],
            ),
        )
        return
    if action == "off!":
        ended = await svc.roster.deactivate(person.id, by=actor.known.id)
        refreshed = await svc.store.people.by_id(person.id)
        assert refreshed is not None
        text, markup = await _person_card(context, lang, refreshed)
        note = "people.already_inactive" if ended is None else "people.deactivated"
        await show(update, context, _t(context, lang, note, name=person.name, count=ended or 0) + "\n\n" + text, markup)
        return
    if action == "on":
        changed = await svc.roster.reactivate(person.id, by=actor.known.id)
        refreshed = await svc.store.people.by_id(person.id)
        assert refreshed is not None
        text, markup = await _person_card(context, lang, refreshed)
        note = "people.reactivated" if changed else "people.already_active"
        await show(update, context, _t(context, lang, note, name=person.name) + "\n\n" + text, markup)
        return
    await refuse(update, context, lang, "fallback.outdated_button")


# -- /reaches ------------------------------------------------------------------------------------------


async def reaches_command(update: Update, context: Context) -> None:
    actor = await guard(update, context, "reaches")
    if actor is None:
        return
    await _reaches_top(update, context, actor)


async def _reaches_top(update: Update, context: Context, actor: Actor) -> None:
    lang = actor.language
    areas = await _area_buttons(context, lang, "rc:a:")
    if not areas:
        await _no_registry(update, context, lang)
        return
    extra: list[list[tuple[str, str]]] = []
    if actor.known.is_chief and await services(context).store.assignments.active_for_person(actor.known.id):
        extra.append([(_p(context, lang, "reaches.mine"), "rc:mine:0")])
    await show(
        update,
        context,
        _t(context, lang, "reaches.choose_area"),
        paged(areas, page=0, page_data="rc:top:", extra=extra, columns=2, page_size=12),
    )


@button
async def reaches_button(update: Update, context: Context) -> None:
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
        assignments = await svc.store.assignments.active_for_person(actor.known.id)
        choices = []
        for assignment in assignments:
            reach = await svc.store.reaches.by_id(assignment.reach_id)
            if reach is not None:
                choices.append((_reach_label(lang, reach), f"rc:r:{reach.id}"))
        back = [[(_p(context, lang, "common.back"), "rc:top:0")]]
        await show(
            update,
            context,
            _t(context, lang, "reaches.mine_header"),
            paged(choices, page=0, page_data="rc:mine:", extra=back, page_size=20),
        )
    elif action == "a":
        area = await svc.store.areas.by_id(number)
        if area is None:
            await _reaches_top(update, context, actor)
            return
        page = int_part(query.data, 3) or 0
        reaches = await svc.store.reaches.in_area(area.id)
        choices = [(f"{_reach_label(lang, r)} · {_level(context, lang, r.level)}", f"rc:r:{r.id}") for r in reaches]
        back = [[(_p(context, lang, "common.back"), "rc:top:0")]]
        header = _t(context, lang, "reaches.in_area", area=area.name(lang), count=len(reaches))
        await show(update, context, header, paged(choices, page=page, page_data=f"rc:a:{area.id}:", extra=back))
    elif action == "r":
        reach = await svc.store.reaches.by_id(number)
        if reach is None:
            await _reaches_top(update, context, actor)
            return
        await show(
            update,
            context,
            await reach_card(context, lang, reach),
            buttons([(_p(context, lang, "common.back"), f"rc:a:{reach.area_id}:0")]),
        )


async def reach_card(context: Context, lang: Language, reach: ReachRecord) -> str:
    """One river, one file: who answers for it, its level, tags and shape."""
    svc = services(context)
    area = await svc.store.areas.by_id(reach.area_id)
    none = _p(context, lang, "common.none")
    chiefs = await svc.store.assignments.active_for_reach(reach.id)
    chief_lines = [
        _t(
            context,
            lang,
            "reaches.chief_line",
            name=a.person_name,
            level=_level(context, lang, a.level),
            since=a.starts_on.isoformat(),
        )
        for a in chiefs
    ]
    tags = [_p(context, lang, f"tags.{t}") if svc.locales.has(f"tags.{t}") else t for t in reach.tags]
    last = await svc.store.patrols.last_for_reach(reach.id)
    last_line = []
    if last is not None and last.ended_at is not None:
        walker = await svc.store.people.by_id(last.person_id)
        last_line.append(
            _t(
                context,
                lang,
                "reaches.last_patrol",
                when=last.ended_at.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M"),
                name=walker.name if walker else "?",
                verdict=_p(context, lang, "reaches.patrol_valid" if last.valid else "reaches.patrol_invalid"),
            )
        )
    return "\n".join(
        [
            _t(
                context,
                lang,
                "reaches.card",
                name=reach.name(lang),
                other_name=reach.name("en" if lang == "zh" else "zh"),
                code=reach.code,
                area=area.name(lang) if area else none,
                level=_level(context, lang, reach.level),
                length=f"{reach.length_km:g}" if reach.length_km is not None else none,
                tags=_p(context, lang, "common.list_sep").join(tags) or none,
                geometry=_p(context, lang, "reaches.has_geometry" if reach.geometry else "reaches.no_geometry"),
            ),
            *last_line,
            _t(context, lang, "reaches.chiefs_header"),
            *(chief_lines or [_t(context, lang, "reaches.no_chief")]),
        ]
    )


# -- /assign and /unassign -------------------------------------------------------------------------------


async def assign_command(update: Update, context: Context) -> None:
    actor = await guard(update, context, "assign")
    if actor is None:
        return
    await _choose_area(update, context, actor.language, "as")


async def unassign_command(update: Update, context: Context) -> None:
    actor = await guard(update, context, "unassign")
    if actor is None:
        return
    await _choose_area(update, context, actor.language, "ua")


async def _choose_area(update: Update, context: Context, lang: Language, prefix: str) -> None:
    areas = await _area_buttons(context, lang, f"{prefix}:a:")
    if not areas:
        await _no_registry(update, context, lang)
        return
    key = "assign.choose_area" if prefix == "as" else "unassign.choose_area"
    await show(
        update,
        context,
        _t(context, lang, key),
        paged(areas, page=0, page_data=f"{prefix}:top:", columns=2, page_size=12),
    )


async def _choose_reach(
    update: Update, context: Context, lang: Language, prefix: str, *, area_id: int, page: int
) -> None:
    svc = services(context)
    area = await svc.store.areas.by_id(area_id)
    if area is None:
        await _choose_area(update, context, lang, prefix)
        return
    reaches = await svc.store.reaches.in_area(area.id)
    choices = []
    for reach in reaches:
        count = len(await svc.store.assignments.active_for_reach(reach.id))
        choices.append((f"{_reach_label(lang, reach)} · 👤{count}", f"{prefix}:r:{reach.id}:0"))
    key = "assign.choose_reach" if prefix == "as" else "unassign.choose_reach"
    back = [[(_p(context, lang, "common.back"), f"{prefix}:top:0")]]
    await show(
        update,
        context,
        _t(context, lang, key, area=area.name(lang)),
        paged(choices, page=page, page_data=f"{prefix}:a:{area.id}:", extra=back),
    )


@button
async def assign_button(update: Update, context: Context) -> None:
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
        reach = await svc.store.reaches.by_id(first)
        if reach is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        chiefs = await svc.store.people.with_role("chief")
        held = {a.person_id for a in await svc.store.assignments.active_for_reach(reach.id)}
        # Chiefs of the reach's own area first: the likely choice.
        area_id = reach.area_id
        chiefs.sort(key=lambda p: (p.home_area_id != area_id, p.name))
        choices = [
            (
                ("✅ " if p.id in held else "") + f"{p.name} · {_level(context, lang, p.roles.get('chief'))}",
                f"as:p:{reach.id}:{p.id}",
            )
            for p in chiefs
        ]
        if not choices:
            await show(update, context, _t(context, lang, "assign.no_chiefs"))
            return
        back = [[(_p(context, lang, "common.back"), f"as:a:{reach.area_id}:0")]]
        await show(
            update,
            context,
            _t(context, lang, "assign.choose_chief", reach=reach.name(lang)),
            paged(choices, page=second or 0, page_data=f"as:r:{reach.id}:", extra=back),
        )
    elif action == "p":
        reach = await svc.store.reaches.by_id(first)
        person = await svc.store.people.by_id(second) if second is not None else None
        if reach is None or person is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        result = await svc.roster.assign(person.id, reach.id)
        if result is None:
            await refuse(update, context, lang, "assign.not_a_chief", name=person.name)
            return
        _, new = result
        key = "assign.done" if new else "assign.already"
        level = _level(context, lang, person.roles.get("chief"))
        text = _t(context, lang, key, name=person.name, reach=reach.name(lang), level=level)
        await show(update, context, text, buttons([(_p(context, lang, "assign.another"), f"as:a:{reach.area_id}:0")]))
    else:
        await refuse(update, context, lang, "fallback.outdated_button")


@button
async def unassign_button(update: Update, context: Context) -> None:
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
        reach = await svc.store.reaches.by_id(first)
        if reach is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        held = await svc.store.assignments.active_for_reach(reach.id)
        back = [[(_p(context, lang, "common.back"), f"ua:a:{reach.area_id}:0")]]
        if not held:
            await show(update, context, _t(context, lang, "unassign.none", reach=reach.name(lang)), buttons(*back))
            return
        choices = [
            (f"{a.person_name} · {_level(context, lang, a.level)} · {a.starts_on.isoformat()}", f"ua:e:{a.id}")
            for a in held
        ]
        await show(
            update,
            context,
            _t(context, lang, "unassign.choose", reach=reach.name(lang)),
            paged(choices, page=0, page_data=f"ua:r:{reach.id}:", extra=back),
        )
    elif action == "e":
        assignment = await svc.store.assignments.by_id(first)
        if assignment is None:
            await refuse(update, context, lang, "unassign.already")
            return
        ended = await svc.roster.unassign(assignment.id)
        if not ended:
            await refuse(update, context, lang, "unassign.already")
            return
        reach = await svc.store.reaches.by_id(assignment.reach_id)
        text = _t(
            context,
            lang,
            "unassign.done",
            name=assignment.person_name,
            reach=reach.name(lang) if reach else assignment.reach_code,
        )
        again = (_p(context, lang, "common.back"), f"ua:r:{assignment.reach_id}:0")
        await show(update, context, text, buttons([again]))
    else:
        await refuse(update, context, lang, "fallback.outdated_button")


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("invite", invite_command, new_message))
    app.add_handler(CommandHandler("people", people_command, new_message))
    app.add_handler(CommandHandler("reaches", reaches_command, new_message))
    app.add_handler(CommandHandler("assign", assign_command, new_message))
    app.add_handler(CommandHandler("unassign", unassign_command, new_message))
    app.add_handler(CallbackQueryHandler(invite_button, pattern=r"^ni:"))
    app.add_handler(CallbackQueryHandler(people_button, pattern=r"^pp:"))
    app.add_handler(CallbackQueryHandler(reaches_button, pattern=r"^rc:"))
    app.add_handler(CallbackQueryHandler(assign_button, pattern=r"^as:"))
    app.add_handler(CallbackQueryHandler(unassign_button, pattern=r"^ua:"))
