"""/people: search the people the office knows, open one's card, deactivate or reactivate them."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import Language
from bot.office import PEOPLE_PAGE, SEARCH_SHOWN, PersonCard, StatusChange, may_change_status
from bot.people import ADMIN, CHIEF, VOLUNTEER, Person
from handlers.access import guard, refuse
from handlers.common import Context, services
from handlers.office.common import level_name, p, t
from handlers.ui import button, buttons, int_part, paged, show


def _roles_text(context: Context, lang: Language, person: Person) -> str:
    parts = []
    for role in (ADMIN, CHIEF, VOLUNTEER):
        if role in person.roles:
            parts.append(
                level_name(context, lang, person.chief_level) if role == CHIEF else p(context, lang, f"role.{role}")
            )
    if not parts:
        parts.append(p(context, lang, "role.pending" if person.pending else "role.stranger"))
    return p(context, lang, "common.list_sep").join(parts)


async def people_command(update: Update, context: Context) -> None:
    """/people [text]: everyone, a page at a time, or those whose name, phone or username holds the text."""
    actor = await guard(update, context, "people")
    if actor is None:
        return
    query_text = " ".join(context.args or []).strip()
    await _people_page(update, context, actor.language, query_text, 0)


async def _people_page(update: Update, context: Context, lang: Language, text: str, page: int) -> None:
    found = await services(context).office.people_page(text, page)
    if found.total == 0:
        await show(update, context, t(context, lang, "people.none", query=text))
        return
    choices = [
        (
            ("" if person.active else "⛔ ") + f"{person.name} · {_roles_text(context, lang, person)}",
            f"pp:p:{person.id}",
        )
        for person in found.people
    ]
    if found.query:
        header = t(context, lang, "people.found", query=text, count=found.total)
        if found.total > SEARCH_SHOWN:
            header += "\n" + t(context, lang, "people.refine", shown=SEARCH_SHOWN)
        markup = paged(choices, page=0, page_data="pp:pg:", page_size=SEARCH_SHOWN)
    else:
        header = t(context, lang, "people.all", count=found.total)
        nav: list[tuple[str, str]] = []
        if found.page > 0:
            nav.append(("◀", f"pp:pg:{found.page - 1}"))
        nav.append((f"{found.page + 1}/{found.pages}", f"pp:pg:{found.page}"))
        if found.page < found.pages - 1:
            nav.append(("▶", f"pp:pg:{found.page + 1}"))
        extra = [nav] if found.pages > 1 else []
        markup = paged(choices, page=0, page_data="pp:pg:", extra=extra, page_size=PEOPLE_PAGE)
    await show(update, context, header, markup)


def _person_card(context: Context, lang: Language, card: PersonCard) -> tuple[str, InlineKeyboardMarkup]:
    person = card.person
    none = p(context, lang, "common.none")
    text = t(
        context,
        lang,
        "people.card",
        name=person.name,
        roles=_roles_text(context, lang, person),
        area=card.area.name(lang) if card.area else none,
        phone=person.phone or none,
        username=f"@{person.username}" if person.username else none,
        status=p(context, lang, f"people.status_{card.status}"),
        reaches=p(context, lang, "common.list_sep").join(held.name(lang) for held in card.reaches) or none,
    )
    toggle = (
        (p(context, lang, "people.deactivate"), f"pp:off:{person.id}")
        if person.active
        else (p(context, lang, "people.reactivate"), f"pp:on:{person.id}")
    )
    return text, buttons([toggle], [(p(context, lang, "common.back"), "pp:pg:0")])


def _changed(context: Context, lang: Language, change: StatusChange, note: str) -> tuple[str, InlineKeyboardMarkup]:
    """The card after a (de)activation, under a line saying what happened."""
    text, markup = _person_card(context, lang, change.card)
    return t(context, lang, note, name=change.card.person.name, count=change.ended) + "\n\n" + text, markup


@button
async def people_button(update: Update, context: Context) -> None:
    """/people's buttons: a page, a person's card, deactivate (asked first, then confirmed), reactivate."""
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
    card = await svc.office.person_card(number)
    if card is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    person = card.person
    if action == "p":
        await show(update, context, *_person_card(context, lang, card))
        return
    if action in ("off", "on", "off!") and not may_change_status(actor.known, person):
        await refuse(update, context, lang, "people.not_yourself")
        return
    if action == "off":
        await show(
            update,
            context,
            t(context, lang, "people.confirm_deactivate", name=person.name, count=len(card.reaches)),
            buttons(
                [(p(context, lang, "people.deactivate_yes"), f"pp:off!:{person.id}")],
                [(p(context, lang, "common.cancel"), f"pp:p:{person.id}")],
            ),
        )
        return
    if action == "off!":
        change = await svc.office.deactivate(person.id, by=actor.known)
        assert change is not None
        note = "people.deactivated" if change.changed else "people.already_inactive"
        await show(update, context, *_changed(context, lang, change, note))
        return
    if action == "on":
        change = await svc.office.reactivate(person.id, by=actor.known)
        assert change is not None
        note = "people.reactivated" if change.changed else "people.already_active"
        await show(update, context, *_changed(context, lang, change, note))
        return
    await refuse(update, context, lang, "fallback.outdated_button")


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("people", people_command, new_message))
    app.add_handler(CallbackQueryHandler(people_button, pattern=r"^pp:"))
