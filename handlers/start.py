"""/start, /help and /language: the first things a person meets."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.commands import commands_for, is_for_everyone, menu_commands
from bot.config import LANGUAGES, Language
from bot.i18n import Markup
from handlers.access import Actor, command, guard, refresh_menu
from handlers.assistants import open_link
from handlers.callbacks import LanguageChoice, parsed
from handlers.citizens import open_reach
from handlers.common import Context, display_name, is_group, services
from handlers.fieldwork import main_menu
from handlers.join import open_invite, stranger_markup
from handlers.ui import buttons, show


def language_keyboard(context: Context) -> InlineKeyboardMarkup:
    locales = services(context).locales
    return buttons([(locales.plain(lang, "language.name"), LanguageChoice(language=lang).pack()) for lang in LANGUAGES])


@command("start")
async def start(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """Greet the person in their language and offer the other one; `/start <code>` opens an invite or a report."""
    user = update.effective_user
    assert user is not None
    person = actor.known
    if context.args:
        # A public sign's QR code names a reach ("r12"), a chief's assistant link is "a-<code>"; anything else
        # is an invite's code.
        if await open_link(update, context, actor, context.args[0]):
            return
        if not await open_reach(update, context, actor, context.args[0]):
            await open_invite(update, context, actor, context.args[0])
        return
    locales = services(context).locales
    menu = main_menu(locales, person.language, chief=person.is_chief) if person.roles else None
    markup = stranger_markup(context, person) or menu
    # The office registered chiefs, staff and volunteers under their real names; Telegram's is often a nickname.
    name = person.name if person.roles and person.name else display_name(user)
    await message.reply_text(locales.t(person.language, "start.greeting", name=name), reply_markup=markup)
    await message.reply_text(locales.t(person.language, "language.prompt"), reply_markup=language_keyboard(context))
    if person.roles:
        await refresh_menu(context, person)


@command("help")
async def help_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """List what this person can do here, from the same list that feeds the command menu."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)

    def line(lang: Language, command: str) -> str:
        description = svc.locales.plain(lang, f"commands.{command}")
        return svc.locales.t(lang, "help.line", command=command, description=description)

    if is_group(chat):
        lang = actor.language
        link = Markup(f'<a href="https://t.me/{context.bot.username}">@{context.bot.username}</a>')
        lines = [svc.locales.t(lang, "help.group", link=link)]
        lines += [line(lang, c) for c in menu_commands("group")]
        await message.reply_text("\n".join(lines))
        return
    person = actor.known
    lang = person.language
    mine = commands_for(person, "private")
    everyday = [c for c in mine if is_for_everyone(c)]
    special = [c for c in mine if not is_for_everyone(c)]
    lines = [svc.locales.t(lang, "help.header"), "", svc.locales.t(lang, "help.section_everyone")]
    lines += [line(lang, c) for c in everyday]
    if special:
        lines += ["", svc.locales.t(lang, "help.section_admin")]
        lines += [line(lang, c) for c in special]
    if person.is_admin:
        lines += ["", svc.locales.t(lang, "help.admin_note")]
    await message.reply_text("\n".join(lines))


# Only the group's admins set a group's language: said in the words of /language, not the general refusal.
LANGUAGE_WORDING = {"perm.group_admins_only": "language.group_admins_only"}


async def language_command(update: Update, context: Context) -> None:
    """Offer the language choice; in a group only its admins may change the group's language."""
    actor = await guard(update, context, "language", wording=LANGUAGE_WORDING)
    message = update.effective_message
    if actor is None or message is None:
        return
    svc = services(context)
    await message.reply_text(
        svc.locales.t(actor.language, "language.prompt"), reply_markup=language_keyboard(context)
    )


@parsed(LanguageChoice)
async def language_chosen(update: Update, context: Context, data: LanguageChoice) -> None:
    """Store the choice and confirm in the chosen language, replacing the buttons so they can't be pressed twice."""
    chat = update.effective_chat
    svc = services(context)
    choice = data.language
    if await guard(update, context, "language", wording=LANGUAGE_WORDING) is None:
        return
    if is_group(chat):
        assert chat is not None
        await svc.chats.set_language(chat.id, type=chat.type, title=chat.title, language=choice)
        text = svc.locales.t(choice, "language.group_changed")
    else:
        assert update.effective_user is not None
        await svc.people.set_language(update.effective_user.id, choice)
        text = svc.locales.t(choice, "language.changed")
    # The edit is what the person sees; `parsed` answers after it (a stale query can't have an answer).
    await show(update, context, text)


def register(app: Application) -> None:  # type: ignore[type-arg]
    # Only new messages: editing an old "/help" is not asking again.
    new_message = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("start", start, filters.ChatType.PRIVATE & new_message))
    app.add_handler(CommandHandler("help", help_command, new_message))
    app.add_handler(CommandHandler("language", language_command, new_message))
    app.add_handler(CallbackQueryHandler(language_chosen, pattern=LanguageChoice.pattern))
