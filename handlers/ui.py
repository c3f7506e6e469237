"""Inline keyboards the flows share: pages of choices with ◀ ▶, and the one toolkit for a pressed button.

`button` answers a press after its handler ran, `answer` / `alert` answer it early, `show` puts the new text on
the pressed message. This module imports no other handler module, so every one of them may import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

Context = ContextTypes.DEFAULT_TYPE

PAGE_SIZE = 8
CAPTION_LIMIT = 1024

# Whether the button press being handled (this task's) has been answered already: Telegram accepts one answer.
_answered: contextvars.ContextVar[bool] = contextvars.ContextVar("riverbot_answered", default=False)

ButtonHandler = Callable[[Update, Context], Coroutine[Any, Any, None]]


def button(handler: ButtonHandler) -> ButtonHandler:
    """Answer the press after the handler has updated the message, unless it answered (an alert) itself.

    Answering last means the client's spinner stops when the new text is there, and a test (or a person)
    who waits for the answer sees the result.
    """

    @functools.wraps(handler)
    async def wrapped(update: Update, context: Context) -> None:
        token = _answered.set(False)
        try:
            await handler(update, context)
            if not _answered.get() and update.callback_query is not None:
                # A press from long ago can no longer be answered: the edit above is what matters.
                with contextlib.suppress(TelegramError):
                    await answer(update.callback_query)
        finally:
            _answered.reset(token)

    return wrapped


def is_stale_query(error: BadRequest) -> bool:
    """Telegram forgets a callback query after about 15 seconds, and across a restart of the bot."""
    message = error.message.lower()
    return "query is too old" in message or "query id is invalid" in message


async def answer(query: CallbackQuery, text: str | None = None, show_alert: bool = False) -> bool:
    """Answer a button press now; False when Telegram no longer knows the query (nobody is waiting for it).

    Telegram accepts one answer per press, so `button` will not answer it again.
    """
    _answered.set(True)
    try:
        await query.answer(text, show_alert=show_alert)
    except BadRequest as exc:
        if not is_stale_query(exc):
            raise
        return False
    return True


async def alert(update: Update, text: str) -> None:
    """Answer the press with an alert (shown once, nothing added to the chat)."""
    query = update.callback_query
    if query is None:
        return
    with contextlib.suppress(TelegramError):
        await answer(query, text[:200], show_alert=True)


def paged(
    choices: Sequence[tuple[str, str]],
    *,
    page: int,
    page_data: Callable[[int], str],
    extra: Sequence[Sequence[tuple[str, str]]] = (),
    columns: int = 1,
    page_size: int = PAGE_SIZE,
) -> InlineKeyboardMarkup:
    """`choices` as (label, callback data), one page of them, ◀ ▶ to move, then `extra`.

    `page_data` makes a page's callback data: a page codec's packer, such as `lambda n: Page(page=n).pack()`.
    """
    pages = max(1, -(-len(choices) // page_size))
    page = min(max(page, 0), pages - 1)
    shown = choices[page * page_size : (page + 1) * page_size]
    rows = [
        [InlineKeyboardButton(label, callback_data=data) for label, data in shown[i : i + columns]]
        for i in range(0, len(shown), columns)
    ]
    if pages > 1:
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton("◀", callback_data=page_data(page - 1)))
        nav.append(InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=page_data(page)))
        if page < pages - 1:
            nav.append(InlineKeyboardButton("▶", callback_data=page_data(page + 1)))
        rows.append(nav)
    rows += [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in extra]
    return InlineKeyboardMarkup(rows)


def buttons(*rows: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """Rows of (label, callback data) buttons."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in rows])


async def show(update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Put `text` (and buttons) on the pressed message, or send it when this is a command, not a button.

    Without `markup` the pressed message loses its buttons: what a finished choice should look like.

    A double tap asks Telegram to make a change already made ("message is not modified"): that is fine.
    A message too old to edit gets a new one instead.
    """
    query = update.callback_query
    if query is not None and query.message is not None and query.message.is_accessible:
        pressed = query.message
        try:
            if isinstance(pressed, Message) and pressed.text is None and len(text) <= CAPTION_LIMIT:
                # A photo's buttons: its caption is what can change.
                await query.edit_message_caption(text, reply_markup=markup)
            elif isinstance(pressed, Message) and pressed.text is None:
                await query.edit_message_reply_markup(None)
                raise BadRequest("message can't be edited")
            else:
                await query.edit_message_text(text, reply_markup=markup)
            return
        except BadRequest as exc:
            reason = exc.message.lower()
            if "not modified" in reason:
                return
            if "not found" not in reason and "can't be edited" not in reason:
                raise
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, text, reply_markup=markup)
