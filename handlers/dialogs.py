"""Half-finished private dialogs (a registration, an invite being made): the next message goes to them.

The dialog itself lives in the store (through `bot.dialogs.Dialogs`), so a restart in the middle loses nothing:
the person just carries on. Each flow registers the function that takes its typed input with `@flow`; the
router (handlers/router.py, by `bot.routing`) decides when a message is the dialog's and calls `take`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import Application, CommandHandler, filters

from handlers.access import guard
from handlers.common import Context, services
from handlers.fieldwork import resting_keyboard
from storage.records import DialogRecord

Step = Callable[[Update, Context, DialogRecord], Awaitable[None]]
_FLOWS: dict[str, Step] = {}


def flow(name: str) -> Callable[[Step], Step]:
    """Register the function that takes a flow's typed input (text, a shared contact or location)."""

    def register(step: Step) -> Step:
        _FLOWS[name] = step
        return step

    return register


def knows(name: str) -> bool:
    """Whether a flow of that name is registered (a dialog of an older version's flow is not)."""
    return name in _FLOWS


async def take(update: Update, context: Context, dialog: DialogRecord) -> None:
    """Hand typed input to the sender's open dialog (the router found it open, of a known flow)."""
    await _FLOWS[dialog.flow](update, context, dialog)


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
    app.add_handler(CommandHandler("cancel", cancel, private))
