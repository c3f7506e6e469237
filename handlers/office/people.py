"""/people: search the people the office knows, open one's card, deactivate or reactivate them; list those invited
who have not joined yet and show (or renew) their invite link for the office to forward."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import invites
from bot.config import Language
from bot.office import PEOPLE_PAGE, SEARCH_SHOWN, StatusChange, status_refusal
from bot.office import PersonCard as Card
from bot.people import ADMIN, CHIEF, VOLUNTEER, Person
from handlers.access import Actor, command, refuse
from handlers.callbacks import (
    InviteLinkRenewed,
    InviteLinkShown,
    OfficeAssistants,
    PeoplePage,
    PeopleWaiting,
    PersonCard,
    PersonDeactivate,
    PersonDeactivateConfirmed,
    PersonReactivate,
    PersonScope,
    PersonScopeArea,
    PersonScopeCounty,
    pressed,
)
from handlers.common import Context, services
from handlers.office.common import level_name, p, t
from handlers.scope import refuse_out_of_scope
from handlers.ui import buttons, paged, show


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


@command("people")
async def people_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/people [text]: everyone, a page at a time, or those whose name, phone or username holds the text."""
    query_text = " ".join(context.args or []).strip()
    await _people_page(update, context, actor, query_text, 0)


def _page(number: int) -> str:
    return PeoplePage(page=number).pack()


async def _people_page(update: Update, context: Context, actor: Actor, text: str, page: int) -> None:
    lang = actor.language
    # A town's office sees the people of its own areas.
    found = await services(context).office.people_page(text, page, areas=actor.known.areas)
    if found.total == 0:
        await show(update, context, t(context, lang, "people.none", query=text))
        return
    choices = [
        (
            ("" if person.active else "⛔ ") + f"{person.name} · {_roles_text(context, lang, person)}",
            PersonCard(person=person.id).pack(),
        )
        for person in found.people
    ]
    if found.query:
        header = t(context, lang, "people.found", query=text, count=found.total)
        if found.total > SEARCH_SHOWN:
            header += "\n" + t(context, lang, "people.refine", shown=SEARCH_SHOWN)
        markup = paged(choices, page=0, page_data=_page, page_size=SEARCH_SHOWN)
    else:
        header = t(context, lang, "people.all", count=found.total)
        nav: list[tuple[str, str]] = []
        if found.page > 0:
            nav.append(("◀", _page(found.page - 1)))
        nav.append((f"{found.page + 1}/{found.pages}", _page(found.page)))
        if found.page < found.pages - 1:
            nav.append(("▶", _page(found.page + 1)))
        extra = [nav] if found.pages > 1 else []
        waiting = (await services(context).office.waiting_page(0, areas=actor.known.areas)).total
        if waiting:
            extra.append([(p(context, lang, "registry16.people.waiting_button", count=waiting), _waiting(0))])
        markup = paged(choices, page=0, page_data=_page, extra=extra, page_size=PEOPLE_PAGE)
    await show(update, context, header, markup)


def _person_card(
    context: Context, lang: Language, card: Card, viewer: Person | None = None, *, assistants: int | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The card, and its buttons: (de)activate, a chief's assistants (given how many), back; a county admin
    (`viewer`) also gets a button to set an admin's office scope."""
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
        (p(context, lang, "people.deactivate"), PersonDeactivate(person=person.id).pack())
        if person.active
        else (p(context, lang, "people.reactivate"), PersonReactivate(person=person.id).pack())
    )
    rows = [[toggle]]
    if assistants is not None:
        rows.append(
            [(p(context, lang, "assistants.office_button", count=assistants), OfficeAssistants(chief=person.id).pack())]
        )
    if person.is_admin:
        names = p(context, lang, "common.list_sep").join(a.name(lang) for a in card.scope)
        text += "\n" + t(context, lang, "scope.card", areas=names or p(context, lang, "scope.county"))
        if viewer is not None and viewer.is_county_admin:
            rows.append([(p(context, lang, "scope.button"), PersonScope(person=person.id, page=0).pack())])
    return text, buttons(*rows, [(p(context, lang, "common.back"), _page(0))])


def _changed(
    context: Context, lang: Language, change: StatusChange, note: str, viewer: Person
) -> tuple[str, InlineKeyboardMarkup]:
    """The card after a (de)activation, under a line saying what happened."""
    text, markup = _person_card(context, lang, change.card, viewer)
    return t(context, lang, note, name=change.card.person.name, count=change.ended) + "\n\n" + text, markup


@pressed(PeoplePage, action="people")
async def page_shown(update: Update, context: Context, actor: Actor, data: PeoplePage) -> None:
    """A page of everyone (also the way back from a card)."""
    await _people_page(update, context, actor, "", data.page)


async def _card(update: Update, context: Context, actor: Actor, person_id: int, *, to_change: bool) -> Card | None:
    """The person's card; None (answered) when they are gone, or `to_change` them is not this admin's to do."""
    office = services(context).office
    card = await office.person_card(person_id)
    if card is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return None
    if not await office.may_see(actor.known, person_id):
        await refuse_out_of_scope(update, context, actor.known, "person")
        return None
    refusal = status_refusal(actor.known, card.person, card.reaches) if to_change else None
    if refusal == "people.not_yourself":
        await refuse(update, context, actor.language, refusal)
        return None
    if refusal is not None:
        await refuse_out_of_scope(update, context, actor.known, refusal.removeprefix("scope."), name=card.person.name)
        return None
    return card


@pressed(PersonCard, action="people")
async def card_shown(update: Update, context: Context, actor: Actor, data: PersonCard) -> None:
    """One person's card, with deactivate or reactivate."""
    card = await _card(update, context, actor, data.person, to_change=False)
    if card is not None:
        helpers = None
        if CHIEF in card.person.roles:
            helpers = len(await services(context).assistants.of_chief(card.person.id))
        await show(update, context, *_person_card(context, actor.language, card, actor.known, assistants=helpers))


@pressed(PersonDeactivate, action="people")
async def deactivation_asked(update: Update, context: Context, actor: Actor, data: PersonDeactivate) -> None:
    """Ask before deactivating: it ends the person's reach assignments."""
    card = await _card(update, context, actor, data.person, to_change=True)
    if card is None:
        return
    lang = actor.language
    person = card.person
    await show(
        update,
        context,
        t(context, lang, "people.confirm_deactivate", name=person.name, count=len(card.reaches)),
        buttons(
            [(p(context, lang, "people.deactivate_yes"), PersonDeactivateConfirmed(person=person.id).pack())],
            [(p(context, lang, "common.cancel"), PersonCard(person=person.id).pack())],
        ),
    )


@pressed(PersonDeactivateConfirmed, action="people")
async def deactivated(update: Update, context: Context, actor: Actor, data: PersonDeactivateConfirmed) -> None:
    """Deactivate the person (a second press hears they already are)."""
    await _set_active(update, context, actor, data.person, active=False)


@pressed(PersonReactivate, action="people")
async def reactivated(update: Update, context: Context, actor: Actor, data: PersonReactivate) -> None:
    """Reactivate the person (a second press hears they already are)."""
    await _set_active(update, context, actor, data.person, active=True)


# What the card says after a (de)activation: (it changed, it already was so), by the state asked for.
_NOTES = {
    False: ("people.deactivated", "people.already_inactive"),
    True: ("people.reactivated", "people.already_active"),
}


async def _set_active(update: Update, context: Context, actor: Actor, person_id: int, *, active: bool) -> None:
    card = await _card(update, context, actor, person_id, to_change=True)
    if card is None:
        return
    office = services(context).office
    change = await (office.reactivate if active else office.deactivate)(card.person.id, by=actor.known)
    assert change is not None
    changed, already = _NOTES[active]
    note = changed if change.changed else already
    await show(update, context, *_changed(context, actor.language, change, note, actor.known))


# -- office scope ---------------------------------------------------------------------------------------------


async def _scope_screen(update: Update, context: Context, actor: Actor, person_id: int, page: int) -> None:
    """The chooser: the admin's scope in words, a button per area (✅ in it), and «whole county»."""
    lang = actor.language
    view = await services(context).office.scope_view(person_id)
    if view is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    person = view.person
    chosen = person.areas or frozenset()
    names = p(context, lang, "common.list_sep").join(a.name(lang) for a in view.areas if a.id in chosen)
    choices = [
        (
            ("✅ " if area.id in chosen else "▫️ ") + f"{area.name(lang)} ({area.code})",
            PersonScopeArea(person=person.id, area=area.id, page=page).pack(),
        )
        for area in view.areas
    ]
    extra = [
        [(p(context, lang, "scope.county_button"), PersonScopeCounty(person=person.id).pack())],
        [(p(context, lang, "common.back"), PersonCard(person=person.id).pack())],
    ]
    text = t(context, lang, "scope.chooser", name=person.name, areas=names or p(context, lang, "scope.county"))
    markup = paged(choices, page=page, page_data=lambda n: PersonScope(person=person.id, page=n).pack(), extra=extra)
    await show(update, context, text, markup)


async def _scope_allowed(update: Update, context: Context, actor: Actor, person_id: int) -> bool:
    """Only a county admin changes scopes, and only an admin's (not ADMIN_IDS'); otherwise answered, False."""
    refusal = await services(context).office.scope_refusal(actor.known, person_id)
    if refusal is None:
        return True
    key = "fallback.outdated_button" if refusal == "gone" else f"scope.{refusal}"
    await refuse(update, context, actor.language, key)
    return False


@pressed(PersonScope, action="people")
async def scope_shown(update: Update, context: Context, actor: Actor, data: PersonScope) -> None:
    """A page of the scope chooser."""
    if await _scope_allowed(update, context, actor, data.person):
        await _scope_screen(update, context, actor, data.person, data.page)


@pressed(PersonScopeArea, action="people")
async def scope_area_toggled(update: Update, context: Context, actor: Actor, data: PersonScopeArea) -> None:
    """An area in or out of the admin's scope; the chooser shows the scope after it."""
    outcome = await services(context).office.toggle_scope_area(actor.known, data.person, data.area)
    if outcome != "ok":
        key = "fallback.outdated_button" if outcome == "gone" else f"scope.{outcome}"
        await refuse(update, context, actor.language, key)
        return
    await _scope_screen(update, context, actor, data.person, data.page)


@pressed(PersonScopeCounty, action="people")
async def scope_county_set(update: Update, context: Context, actor: Actor, data: PersonScopeCounty) -> None:
    """The admin's scope becomes the whole county."""
    outcome = await services(context).office.set_scope(actor.known, data.person, None)
    if outcome != "ok":
        key = "fallback.outdated_button" if outcome == "gone" else f"scope.{outcome}"
        await refuse(update, context, actor.language, key)
        return
    await _scope_screen(update, context, actor, data.person, 0)


def _waiting(number: int) -> str:
    return PeopleWaiting(page=number).pack()


@pressed(PeopleWaiting, action="people")
async def waiting_shown(update: Update, context: Context, actor: Actor, data: PeopleWaiting) -> None:
    """A page of those invited who have not joined: a tap shows one's link again."""
    lang = actor.language
    found = await services(context).office.waiting_page(data.page, areas=actor.known.areas)
    if found.total == 0:
        await show(update, context, t(context, lang, "registry16.people.waiting_none"))
        return
    choices = [
        (
            ("⌛ " if waiting.expired(found.now) else "")
            + f"{waiting.person.name} · {_invited_as(context, lang, waiting)}",
            InviteLinkShown(invite=waiting.invite.id).pack(),
        )
        for waiting in found.waiting
    ]
    nav: list[tuple[str, str]] = []
    if found.page > 0:
        nav.append(("◀", _waiting(found.page - 1)))
    nav.append((f"{found.page + 1}/{found.pages}", _waiting(found.page)))
    if found.page < found.pages - 1:
        nav.append(("▶", _waiting(found.page + 1)))
    extra = [nav] if found.pages > 1 else []
    extra.append([(p(context, lang, "common.back"), _page(0))])
    markup = paged(choices, page=0, page_data=_waiting, extra=extra, page_size=PEOPLE_PAGE)
    await show(update, context, t(context, lang, "registry16.people.waiting", count=found.total), markup)


def _invited_as(context: Context, lang: Language, waiting: invites.Waiting) -> str:
    if waiting.invite.role == "chief":
        return level_name(context, lang, waiting.level)
    return p(context, lang, "role.admin")


@pressed(InviteLinkShown, action="people")
async def link_shown(update: Update, context: Context, actor: Actor, data: InviteLinkShown) -> None:
    """The person's invite link again; an expired one is said so, with a button to renew it."""
    await _link(update, context, actor, data.invite, renew=False)


@pressed(InviteLinkRenewed, action="people")
async def link_renewed(update: Update, context: Context, actor: Actor, data: InviteLinkRenewed) -> None:
    """A fresh invite for an expired one (a second press shows the fresh one, issuing nothing)."""
    await _link(update, context, actor, data.invite, renew=True)


async def _link(update: Update, context: Context, actor: Actor, invite_id: int, *, renew: bool) -> None:
    lang = actor.language
    svc = services(context)
    found = await svc.office.invite_link(invite_id, renew=renew, by=actor.known, areas=actor.known.areas)
    if found.state == "joined":
        await refuse(update, context, lang, "registry16.people.already_joined", name=found.name)
        return
    if found.waiting is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    waiting = found.waiting
    none = p(context, lang, "common.none")
    details = t(
        context,
        lang,
        "registry16.people.who",
        name=waiting.person.name,
        role=_invited_as(context, lang, waiting),
        area=waiting.area.name(lang) if waiting.area else none,
        phone=waiting.person.phone or none,
    )
    when = waiting.invite.expires_at.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M")
    back = [(p(context, lang, "registry16.people.back"), _waiting(0))]
    if found.state == "expired":
        text = details + "\n" + t(context, lang, "registry16.people.expired", expired=when)
        renew_button = [
            (p(context, lang, "registry16.people.renew"), InviteLinkRenewed(invite=waiting.invite.id).pack())
        ]
        await show(update, context, text, buttons(renew_button, back))
        return
    link = invites.deep_link(context.bot.username, waiting.invite.code)
    text = details + "\n" + t(context, lang, "registry16.people.link", link=link, expires=when)
    if found.state == "renewed":
        text = t(context, lang, "registry16.people.renewed") + "\n\n" + text
    await show(update, context, text, buttons(back))


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("people", people_command, new_message))
    for callback, codec in (
        (page_shown, PeoplePage),
        (card_shown, PersonCard),
        (deactivation_asked, PersonDeactivate),
        (deactivated, PersonDeactivateConfirmed),
        (reactivated, PersonReactivate),
        (waiting_shown, PeopleWaiting),
        (link_shown, InviteLinkShown),
        (link_renewed, InviteLinkRenewed),
        (scope_shown, PersonScope),
        (scope_area_toggled, PersonScopeArea),
        (scope_county_set, PersonScopeCounty),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
