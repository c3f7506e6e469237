"""/assistants: a chief's assistants; their one-time links; the office's view from a /people card.

A chief sees their assistants with a remove button each, and "add" gives a one-time link (`/start a-<code>`)
to forward; the person who opens it confirms and becomes the assistant. The office does the same from a
chief's /people card. The rules are `bot.assistants`; patrols walked for a chief are `handlers.patrol`'s.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.assistants import Assistant, link_code
from bot.config import Language
from bot.invites import deep_link
from bot.patrols import Summary
from bot.people import Person
from handlers.access import Actor, command, refuse
from handlers.callbacks import (
    AssistantAccept,
    AssistantDecline,
    AssistantLink,
    AssistantRemove,
    OfficeAssistantLink,
    OfficeAssistantRemove,
    OfficeAssistants,
    PersonCard,
    pressed,
)
from handlers.common import Context, services
from handlers.scope import refuse_out_of_scope
from handlers.sending import refused
from handlers.ui import buttons, show

logger = logging.getLogger(__name__)


def _list_text(context: Context, lang: Language, rows: list[Assistant], header: str) -> str:
    svc = services(context)
    tz = svc.settings.tz
    lines = [header]
    for row in rows:
        lines.append(
            svc.locales.t(lang, "assistants.line", name=row.assistant_name, since=row.since.astimezone(tz).date())
        )
    if not rows:
        lines.append(svc.locales.t(lang, "assistants.none"))
    return "\n".join(lines)


async def _chief_view(context: Context, actor: Actor) -> tuple[str, InlineKeyboardMarkup]:
    """The chief's assistants, a remove button each, and "add"."""
    svc = services(context)
    lang = actor.language
    rows = await svc.assistants.of_chief(actor.known.id)
    text = _list_text(context, lang, rows, svc.locales.t(lang, "assistants.header"))
    text += "\n\n" + svc.locales.t(lang, "assistants.hint")
    markup = buttons(
        *[
            [
                (
                    svc.locales.plain(lang, "assistants.remove_button", name=r.assistant_name),
                    AssistantRemove(assistant=r.assistant_id).pack(),
                )
            ]
            for r in rows
        ],
        [(svc.locales.plain(lang, "assistants.add_button"), AssistantLink().pack())],
    )
    return text, markup


@command("assistants")
async def assistants_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/assistants: the chief's assistants, to remove one or get a link that names a new one."""
    if not actor.known.is_chief:
        await refuse(update, context, actor.language, "assistants.not_chief")
        return
    text, markup = await _chief_view(context, actor)
    await message.reply_text(text, reply_markup=markup)


@pressed(AssistantRemove, action="assistants")
async def removed_by_chief(update: Update, context: Context, actor: Actor, data: AssistantRemove) -> None:
    """The chief removes an assistant (one removed already is answered, and the list shown again)."""
    await _remove(update, context, actor, actor.known.id, data.assistant, office=False)


@pressed(AssistantLink, action="assistants")
async def link_for_chief(update: Update, context: Context, actor: Actor, data: AssistantLink) -> None:
    """A one-time link for the chief to forward to their assistant-to-be."""
    if not actor.known.is_chief:
        await refuse(update, context, actor.language, "assistants.not_chief")
        return
    svc = services(context)
    lang = actor.language
    code = await svc.assistants.new_link(actor.known.id)
    link = deep_link(context.bot.username, code)
    await show(update, context, svc.locales.t(lang, "assistants.link", days=svc.settings.invite_days, link=link))


async def _remove(
    update: Update, context: Context, actor: Actor, chief_id: int, assistant_id: int, *, office: bool
) -> None:
    svc = services(context)
    lang = actor.language
    before = await svc.people.by_id(assistant_id)
    chief = await svc.people.by_id(chief_id)
    if before is None or chief is None or not await svc.assistants.remove(chief_id, assistant_id, by=actor.known.id):
        await refuse(update, context, lang, "assistants.already_removed")
        return
    note = svc.locales.t(lang, "assistants.removed", name=before.name, chief=chief.name)
    if office:
        text, markup = await _office_view(context, lang, chief_id, chief.name)
    else:
        text, markup = await _chief_view(context, actor)
    await show(update, context, note + "\n\n" + text, markup)


async def open_link(update: Update, context: Context, actor: Actor, payload: str) -> bool:
    """`/start a-<code>`: who asks the person to assist them, and a button to agree. False: not such a link."""
    code = link_code(payload)
    if code is None:
        return False
    svc = services(context)
    lang = actor.language
    person = actor.known
    if not person.roles or not person.active:
        await refuse(update, context, lang, "assistants.link_member_first")
        return True
    check = await svc.assistants.check_link(code, person.id)
    if check.status != "ok":
        await refuse(update, context, lang, f"assistants.link_{check.status}", chief=check.chief_name)
        return True
    markup = buttons(
        [(svc.locales.plain(lang, "assistants.link_confirm"), AssistantAccept(code=code).pack())],
        [(svc.locales.plain(lang, "assistants.link_decline"), AssistantDecline(code=code).pack())],
    )
    await show(update, context, svc.locales.t(lang, "assistants.link_card", chief=check.chief_name), markup)
    return True


@pressed(AssistantAccept, action="start")
async def link_accepted(update: Update, context: Context, actor: Actor, data: AssistantAccept) -> None:
    """The person agrees to assist the chief; the chief hears of it (a spent or stale link is answered)."""
    svc = services(context)
    lang = actor.language
    person = actor.known
    if not person.roles or not person.active:
        await refuse(update, context, lang, "assistants.link_member_first")
        return
    check = await svc.assistants.accept_link(data.code, person.id)
    if check.status != "ok":
        await refuse(update, context, lang, f"assistants.link_{check.status}", chief=check.chief_name)
        return
    await show(update, context, svc.locales.t(lang, "assistants.accepted", chief=check.chief_name))
    chief = await svc.people.by_id(check.chief_id)
    if chief is not None:
        await _tell(context, chief, svc.locales.t(chief.language, "assistants.chief_added", name=person.name))


@pressed(AssistantDecline, action="start")
async def link_declined(update: Update, context: Context, actor: Actor, data: AssistantDecline) -> None:
    """The person declines the chief's link: nothing changes, and the link stays unused."""
    await show(update, context, services(context).locales.t(actor.language, "assistants.declined"))


# -- the office, from a chief's /people card ---------------------------------------------------------------


async def _office_view(
    context: Context, lang: Language, chief_id: int, chief_name: str
) -> tuple[str, InlineKeyboardMarkup]:
    svc = services(context)
    rows = await svc.assistants.of_chief(chief_id)
    text = _list_text(context, lang, rows, svc.locales.t(lang, "assistants.office_header", chief=chief_name))
    remove = [
        [
            (
                svc.locales.plain(lang, "assistants.remove_button", name=r.assistant_name),
                OfficeAssistantRemove(chief=chief_id, assistant=r.assistant_id).pack(),
            )
        ]
        for r in rows
    ]
    markup = buttons(
        *remove,
        [(svc.locales.plain(lang, "assistants.add_button"), OfficeAssistantLink(chief=chief_id).pack())],
        [(svc.locales.plain(lang, "common.back"), PersonCard(person=chief_id).pack())],
    )
    return text, markup


async def _office_chief(update: Update, context: Context, actor: Actor, chief_id: int) -> Person | None:
    """The chief of an office button; None (answered) when they are gone, no chief now, or outside the office's
    scope (a forged button of a town office for another town's chief)."""
    svc = services(context)
    chief = await svc.people.by_id(chief_id)
    if chief is None or not chief.is_chief:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return None
    if not await svc.office.may_see(actor.known, chief.id):
        await refuse_out_of_scope(update, context, actor.known, "person")
        return None
    return chief


@pressed(OfficeAssistants, action="people")
async def office_list(update: Update, context: Context, actor: Actor, data: OfficeAssistants) -> None:
    """A chief's assistants, from their /people card."""
    chief = await _office_chief(update, context, actor, data.chief)
    if chief is not None:
        await show(update, context, *await _office_view(context, actor.language, chief.id, chief.name))


@pressed(OfficeAssistantRemove, action="people")
async def office_removed(update: Update, context: Context, actor: Actor, data: OfficeAssistantRemove) -> None:
    """The office removes a chief's assistant (one removed already is answered)."""
    chief = await _office_chief(update, context, actor, data.chief)
    if chief is not None:
        await _remove(update, context, actor, chief.id, data.assistant, office=True)


@pressed(OfficeAssistantLink, action="people")
async def office_link(update: Update, context: Context, actor: Actor, data: OfficeAssistantLink) -> None:
    """A one-time link naming an assistant for the chief, for the office to forward."""
    chief = await _office_chief(update, context, actor, data.chief)
    if chief is None:
        return
    svc = services(context)
    lang = actor.language
    code = await svc.assistants.new_link(chief.id)
    link = deep_link(context.bot.username, code)
    text = svc.locales.t(lang, "assistants.office_link", chief=chief.name, days=svc.settings.invite_days, link=link)
    back = buttons([(svc.locales.plain(lang, "common.back"), OfficeAssistants(chief=chief.id).pack())])
    await show(update, context, text, back)


# -- telling the chief -------------------------------------------------------------------------------------


async def _tell(context: Context, person: Person, text: str) -> None:
    if person.telegram_id is None:
        return
    try:
        await context.bot.send_message(person.telegram_id, text)
    except Forbidden as exc:
        await refused(context, person.telegram_id, exc)
    except TelegramError:
        logger.warning("Could not tell person %s about their assistant", person.id, exc_info=True)


async def tell_chief(context: Context, chief: Person, summary: Summary) -> None:
    """The chief hears, once at its end, of a patrol an assistant walked for them."""
    svc = services(context)
    lang = chief.language
    patrol = summary.patrol
    tz = svc.settings.tz
    if not summary.verdict.valid:
        verdict = svc.locales.plain(lang, "assistants.told_invalid")
    elif svc.settings.assistant_patrols_count:
        verdict = svc.locales.plain(lang, "assistants.told_valid")
    else:
        verdict = svc.locales.plain(lang, "assistants.told_valid_not_counted")
    text = svc.locales.t(
        lang,
        "assistants.chief_told",
        assistant=summary.assistant_name or "?",
        reach=summary.reach.name(lang) if summary.reach else "?",
        start=patrol.started_at.astimezone(tz).strftime("%m-%d %H:%M"),
        end=patrol.ended_at.astimezone(tz).strftime("%H:%M") if patrol.ended_at else "",
        minutes=summary.verdict.duration_s // 60,
        verdict=verdict,
    )
    await _tell(context, chief, text)


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("assistants", assistants_command, new_message))
    for callback, codec in (
        (removed_by_chief, AssistantRemove),
        (link_for_chief, AssistantLink),
        (link_accepted, AssistantAccept),
        (link_declined, AssistantDecline),
        (office_list, OfficeAssistants),
        (office_removed, OfficeAssistantRemove),
        (office_link, OfficeAssistantLink),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
