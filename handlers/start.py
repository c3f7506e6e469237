"""/start, /help and /language: the first things a person meets."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.commands import commands_for
from bot.config import LANGUAGES, Language
from bot.i18n import Markup
from handlers.common import (
    Context,
    display_name,
    is_group,
    is_group_admin,
    language_of,
    private_person,
    replace_buttons_message,
    safe_answer,
    services,
)

LANGUAGE_CALLBACK = "lang:"


def language_keyboard(context: Context) -> InlineKeyboardMarkup:
    locales = services(context).locales
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(locales.plain(lang, "language.name"), callback_data=f"{LANGUAGE_CALLBACK}{lang}")
                for lang in LANGUAGES
            ]
        ]
    )


async def start(update: Update, context: Context) -> None:
    """Greet the person in their language and offer the other one."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    person = await private_person(update, context)
    locales = services(context).locales
    await message.reply_text(locales.t(person.language, "start.greeting", name=display_name(user)))
    await message.reply_text(locales.t(person.language, "language.prompt"), reply_markup=language_keyboard(context))


async def help_command(update: Update, context: Context) -> None:
    """List what this person can do here, from the same list that feeds the command menu."""
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    svc = services(context)
    if is_group(chat):
        lang = await language_of(update, context)
        link = Markup(f'<a href="https://t.me/{context.bot.username}">@{context.bot.username}</a>')
        lines = [svc.locales.t(lang, "help.group", link=link)]
        lines += [
            svc.locales.t(lang, "help.line", command=c.name, description=svc.locales.plain(lang, f"commands.{c.name}"))
            for c in commands_for(None, "group")
        ]
        await message.reply_text("\n".join(lines))
        return
    person = await private_person(update, context)
    lang = person.language
    everyone = [c for c in commands_for(person, "private") if c.audience == "everyone"]
    special = [c for c in commands_for(person, "private") if c.audience != "everyone"]
    lines = [svc.locales.t(lang, "help.header"), "", svc.locales.t(lang, "help.section_everyone")]
    lines += [
        svc.locales.t(lang, "help.line", command=c.name, description=svc.locales.plain(lang, f"commands.{c.name}"))
        for c in everyone
    ]
    if special:
        lines += ["", svc.locales.t(lang, "help.section_admin")]
        lines += [
            svc.locales.t(lang, "help.line", command=c.name, description=svc.locales.plain(lang, f"commands.{c.name}"))
            for c in special
        ]
    if person.is_admin:
        lines += ["", svc.locales.t(lang, "help.admin_note")]
    await message.reply_text("\n".join(lines))


async def language_command(update: Update, context: Context) -> None:
    """Offer the language choice; in a group only its admins may change the group's language."""
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    svc = services(context)
    if is_group(chat):
        lang = await svc.chats.language(chat.id)
        if not await is_group_admin(update, context):
            await message.reply_text(svc.locales.t(lang, "language.group_admins_only"))
            return
    else:
        lang = (await private_person(update, context)).language
    await message.reply_text(svc.locales.t(lang, "language.prompt"), reply_markup=language_keyboard(context))


async def language_chosen(update: Update, context: Context) -> None:
    """Store the choice and confirm in the chosen language, replacing the buttons so they can't be pressed twice."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and query.data is not None
    svc = services(context)
    choice: Language = "en" if query.data.endswith("en") else "zh"
    if is_group(chat):
        assert chat is not None
        if not await is_group_admin(update, context):
            lang = await svc.chats.language(chat.id)
            await safe_answer(query, svc.locales.plain(lang, "language.group_admins_only"), show_alert=True)
            return
        await svc.chats.set_language(chat.id, type=chat.type, title=chat.title, language=choice)
        text = svc.locales.t(choice, "language.group_changed")
    else:
        await private_person(update, context)
        assert update.effective_user is not None
        await svc.people.set_language(update.effective_user.id, choice)
        text = svc.locales.t(choice, "language.changed")
    # The edit first: it is what the person sees; the answer only stops the spinner, and a stale query can't have one.
    await replace_buttons_message(update, context, text)
    await safe_answer(query)


def register(app: Application) -> None:  # type: ignore[type-arg]
    # Only new messages: editing an old "/help" is not asking again.
    new_message = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("start", start, filters.ChatType.PRIVATE & new_message))
    app.add_handler(CommandHandler("help", help_command, new_message))
    app.add_handler(CommandHandler("language", language_command, new_message))
    app.add_handler(CallbackQueryHandler(language_chosen, pattern=rf"^{LANGUAGE_CALLBACK}(zh|en)$"))
