"""Half-finished private dialogs (a registration, an invite being made): the next message goes to them.

The dialog itself lives in the store (through `bot.dialogs.Dialogs`), so a restart in the middle loses nothing:
the person just carries on. This router runs before every other handler; when the sender has no open dialog it lets the
message through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import Application, ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from handlers.access import guard
from handlers.common import Context, services
from handlers.fieldwork import resting_keyboard
from storage.records import DialogRecord

Step = Callable[[Update, Context, DialogRecord], Awaitable[None]]
_FLOWS: dict[str, Step] = {}

# The router's handler group: before the features (0), so an open dialog gets the text first.
DIALOG_GROUP = -1


def flow(name: str) -> Callable[[Step], Step]:
    """Register the function that takes a flow's typed input (text, a shared contact or location)."""

    def register(step: Step) -> Step:
        _FLOWS[name] = step
        return step

    return register


async def route(update: Update, context: Context) -> None:
    """Hand typed input to the sender's open dialog, and stop there; without one, let it through."""
    user = update.effective_user
    if user is None:
        return
    dialogs = services(context).dialogs
    dialog = await dialogs.get(user.id)
    if dialog is None:
        return
    step = _FLOWS.get(dialog.flow)
    if step is None:  # a flow from an older version: forget it rather than trap the person in it
        await dialogs.clear(user.id)
        return
    await step(update, context, dialog)
    raise ApplicationHandlerStop


async def cancel(update: Update, context: Context) -> None:
    """Drop whatever the person was in the middle of, and the keyboard that came with it."""
    actor = await guard(update, context, "cancel")
    message = update.effective_message
    if actor is None or message is None or update.effective_user is None:
        return
    svc = services(context)
    dropped = await svc.dialogs.clear(update.effective_user.id)
    key = "dialog.cancelled" if dropped else "dialog.nothing_to_cancel"
    markup: ReplyKeyboardMarkup | ReplyKeyboardRemove = ReplyKeyboardRemove()
    if actor.person is not None and actor.person.roles:
        # Members get their usual keyboard back (the patrol's, while one is open), not an empty one.
        markup = await resting_keyboard(context, actor)
    await message.reply_text(svc.locales.t(actor.language, key), reply_markup=markup)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    typed = private & (
        (filters.TEXT & ~filters.COMMAND) | filters.CONTACT | filters.LOCATION | filters.PHOTO | filters.Document.ALL
    )
    app.add_handler(MessageHandler(typed, route), group=DIALOG_GROUP)
    app.add_handler(CommandHandler("cancel", cancel, private))
