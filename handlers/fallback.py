"""What nobody else handled: a short, helpful answer in private, silence in groups.

Registered last, so that every command handler gets its chance first. A stray private message is answered by
`stray_message` when the router (bot.routing) finds nobody waiting for it.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from handlers.callbacks import answer_outdated
from handlers.common import Context, private_person, services
from handlers.media import first_of_album


async def unknown_command(update: Update, context: Context) -> None:
    """Name the command the person tried, so a typo is obvious."""
    message = update.effective_message
    assert message is not None and message.text is not None
    person = await private_person(update, context)
    command = message.text.split()[0][:64]
    await message.reply_text(services(context).locales.t(person.language, "fallback.unknown_command", command=command))


async def stray_message(update: Update, context: Context) -> None:
    """A message no flow is waiting for (the router's STRAY): say so and point at /help."""
    message = update.effective_message
    assert message is not None
    if not await first_of_album(context, message, "answered_albums"):
        return  # an album arrives as one message per photo: answer the album once, not once per photo
    person = await private_person(update, context)
    key = "fallback.stray_text" if message.text is not None else "fallback.stray_media"
    await message.reply_text(services(context).locales.t(person.language, key))


def register(app: Application) -> None:  # type: ignore[type-arg]
    private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    # After every CommandHandler (within a group the first match wins): the commands none of them took.
    app.add_handler(MessageHandler(private_message & filters.COMMAND, unknown_command))
    # A button from an old message, a previous version or a restart: answered, or the client spins forever.
    app.add_handler(CallbackQueryHandler(answer_outdated))
