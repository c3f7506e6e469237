"""What every handler needs: the services, the person and their language.

How to answer a press and edit the pressed message lives in handlers/ui.py.
"""

from __future__ import annotations

from typing import cast

from telegram import Chat, Update, User

from bot.config import Language
from bot.names import clean_display_name
from bot.people import Person
from bot.services import Services
from handlers.ui import Context

__all__ = [
    "Context",
    "display_name",
    "is_group",
    "is_group_admin",
    "language_of",
    "private_person",
    "services",
]


def services(context: Context) -> Services:
    return cast(Services, context.application.bot_data["services"])


def display_name(user: User) -> str:
    """The Telegram name without bidi or zero-width characters (bot.names); the username or id if none is left."""
    return clean_display_name(user.full_name) or user.username or str(user.id)


async def private_person(update: Update, context: Context) -> Person:
    """The sender of a private update, recorded as met (they opened the bot, so they can be messaged)."""
    user = update.effective_user
    assert user is not None
    return await services(context).people.met_in_private(
        user.id, name=display_name(user), username=user.username, language_code=user.language_code
    )


async def language_of(update: Update, context: Context) -> Language:
    """The language to answer this update in: the group's in groups, the person's otherwise."""
    svc = services(context)
    chat = update.effective_chat
    if chat is not None and chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        return await svc.chats.language(chat.id)
    user = update.effective_user
    if user is None:
        return svc.settings.default_language
    person = await svc.people.find(user.id)
    if person is not None:
        return person.language
    return svc.people.language_for(None, user.language_code)


def is_group(chat: Chat | None) -> bool:
    return chat is not None and chat.type in (Chat.GROUP, Chat.SUPERGROUP)


async def is_group_admin(update: Update, context: Context) -> bool:
    """Whether the sender administers this group; an anonymous admin posts as the group itself."""
    chat = update.effective_chat
    if chat is None:
        return False
    query = update.callback_query
    if query is not None:
        # A button press always names who pressed it, even on an anonymous admin's or an inaccessible message.
        user: User | None = query.from_user
    else:
        message = update.effective_message
        if message is None:
            return False
        if message.sender_chat is not None:
            return message.sender_chat.id == chat.id
        user = update.effective_user
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in ("creator", "administrator")
