"""/bind and /unbind: link a group chat to an area, whose weekly summary then goes there.

Office admins do it in the group itself, in the group's language. Everyone else gets the short refusal of
`guard()`; the bot says nothing else in groups.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.chats import BindResult
from bot.config import Language
from bot.i18n import Locales
from bot.permissions import decide_in_area
from bot.summaries import week_dates
from handlers.access import Actor, command
from handlers.callbacks import BindArea, BindCancel, BindPage, pressed
from handlers.common import Context, services
from handlers.scope import refuse_out_of_scope
from handlers.ui import alert, paged, show
from storage.records import AreaRecord


def area_label(locales: Locales, lang: Language, area: AreaRecord) -> str:
    """An area as the group reads it: its name in the group's language, and its code."""
    return locales.plain(lang, "groups.area", name=area.name(lang), code=area.code)


def choice(
    locales: Locales, lang: Language, areas: list[AreaRecord], current: AreaRecord | None, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The message offering the areas: one button each (the current one marked), a page at a time, a way out."""
    seen = current.id if current is not None else 0
    choices: list[tuple[str, str]] = []
    for area in areas:
        label = area_label(locales, lang, area)
        if current is not None and area.id == current.id:
            label = locales.plain(lang, "groups.current_button", area=label)
        # `seen`: a press on an old offer cannot silently undo a newer decision.
        choices.append((label, BindArea(area=area.id, seen=seen).pack()))
    cancel = [[(locales.plain(lang, "groups.cancel_button"), BindCancel().pack())]]
    keyboard = paged(choices, page=page, page_data=lambda number: BindPage(page=number).pack(), extra=cancel)
    if current is None:
        return locales.t(lang, "groups.choose"), keyboard
    return locales.t(lang, "groups.already_bound", area=area_label(locales, lang, current)), keyboard


@command("bind")
async def bind_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """Offer the registry's areas as buttons (or say what the group is bound to, and offer to change it)."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    lang = actor.language
    current = await svc.chats.bound_area(chat.id)
    if current is not None and not decide_in_area(actor.known, "bind", current.id).allowed:
        # Rebinding another town's group would take it from that town's office.
        await refuse_out_of_scope(update, context, actor.known, "area", language=lang)
        return
    areas = await svc.chats.areas(actor.known.areas)
    if not areas:
        await message.reply_text(svc.locales.t(lang, "groups.no_areas"))
        return
    text, keyboard = choice(svc.locales, lang, areas, current, page=0)
    await message.reply_text(text, reply_markup=keyboard)


# The buttons belong to /bind: the one who presses must be allowed to bind, not only the one who asked.


@pressed(BindArea, action="bind")
async def area_chosen(update: Update, context: Context, actor: Actor, data: BindArea) -> None:
    """Bind the group to the pressed area and turn the buttons into the confirmation."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    lang = actor.language
    current = await svc.chats.bound_area(chat.id)
    for area_id in (data.area, None if current is None else current.id):
        if area_id is not None and not decide_in_area(actor.known, "bind", area_id).allowed:
            await refuse_out_of_scope(update, context, actor.known, "area", language=lang)
            return
    outcome = await svc.chats.bind(
        chat.id, data.area, type=chat.type, title=chat.title, expected=data.seen or None, by=actor.known.id
    )
    if outcome.result is BindResult.NO_AREA:
        await alert(update, svc.locales.plain(lang, "groups.area_gone"))
        return
    if outcome.result is BindResult.CONFLICT:
        if outcome.area is None:
            text = svc.locales.t(lang, "groups.unbound_meanwhile")
        else:
            text = svc.locales.t(lang, "groups.changed_meanwhile", area=area_label(svc.locales, lang, outcome.area))
    else:
        assert outcome.area is not None
        text = svc.locales.t(lang, "groups.bound", area=area_label(svc.locales, lang, outcome.area))
        if outcome.result in (BindResult.BOUND, BindResult.UNCHANGED):  # a double tap shows the same
            new = outcome.result is BindResult.BOUND
            at, week = await svc.delivery.first_summary(outcome.area, chat.id, new=new)
            weekday = svc.locales.plain(lang, f"groups.weekday.{at.weekday()}")
            when = svc.locales.plain(lang, "groups.when", at=at, weekday=weekday)
            week_text = week_dates(week, svc.locales, lang)
            text += "\n" + svc.locales.t(lang, "groups.first_summary", when=when, week=week_text)
    await show(update, context, text)


@pressed(BindPage, action="bind")
async def page_turned(update: Update, context: Context, actor: Actor, data: BindPage) -> None:
    """Show another page of areas, redrawn from the registry and the binding as they are now."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    areas = await svc.chats.areas(actor.known.areas)
    if areas:
        current = await svc.chats.bound_area(chat.id)
        # A double tap (or the page-number button) asks for the page already shown: show() lets that be.
        await show(update, context, *choice(svc.locales, actor.language, areas, current, page=data.page))


@pressed(BindCancel, action="bind")
async def choice_cancelled(update: Update, context: Context, actor: Actor, data: BindCancel) -> None:
    """Close the offer without changing anything."""
    await show(update, context, services(context).locales.t(actor.language, "groups.cancelled"))


@command("unbind")
async def unbind_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """Unlink the group from its area: no more weekly summaries here."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    bound = await svc.chats.bound_area(chat.id)
    if bound is not None and not decide_in_area(actor.known, "unbind", bound.id).allowed:
        await refuse_out_of_scope(update, context, actor.known, "area", language=actor.language)
        return
    area = await svc.chats.unbind(chat.id, by=actor.known.id)
    if area is None:
        await message.reply_text(svc.locales.t(actor.language, "groups.not_bound"))
        return
    label = area_label(svc.locales, actor.language, area)
    await message.reply_text(svc.locales.t(actor.language, "groups.unbound", area=label))


def register(app: Application) -> None:  # type: ignore[type-arg]
    # Any chat: in private, guard() explains that these work in a group. Only new messages, as everywhere.
    new_message = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("bind", bind_command, new_message))
    app.add_handler(CommandHandler("unbind", unbind_command, new_message))
    app.add_handler(CallbackQueryHandler(area_chosen, pattern=BindArea.pattern))
    app.add_handler(CallbackQueryHandler(page_turned, pattern=BindPage.pattern))
    app.add_handler(CallbackQueryHandler(choice_cancelled, pattern=BindCancel.pattern))
