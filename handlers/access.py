"""The gate every command and button passes: who is asking, where, and may they (`bot.permissions.decide`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Chat, Message, Update
from telegram.error import TelegramError

from bot.commands import commands_for
from bot.config import Language
from bot.people import Person
from bot.permissions import ChatKind, decide
from handlers.common import Context, display_name, is_group_admin, private_person, services
from handlers.ui import alert


@dataclass(frozen=True, slots=True)
class Actor:
    """The person behind an update that was let through, and the language to answer in."""

    person: Person | None
    language: Language
    chat: ChatKind

    @property
    def known(self) -> Person:
        """The person, for actions only registered people can reach (the rules guarantee one)."""
        assert self.person is not None
        return self.person


async def chat_kind(update: Update, context: Context) -> ChatKind | None:
    """Private, a bound group or an unbound one: what the permission table tells apart."""
    chat = update.effective_chat
    if chat is None:
        return None
    if chat.type == Chat.PRIVATE:
        return ChatKind.PRIVATE
    if chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        bound = await services(context).chats.is_bound(chat.id)
        return ChatKind.GROUP_BOUND if bound else ChatKind.GROUP_UNBOUND
    return None


async def guard(
    update: Update, context: Context, action: str, *, wording: Mapping[str, str] | None = None
) -> Actor | None:
    """Let the update through as `action`, or answer with the reason it may not (None: refused, answered).

    In a group, a refusal is one short line, and actions that have no business there get silence. `wording`
    replaces a refusal's general text with the command's own (perm.group_admins_only -> "only this group's
    admins may set its language").
    """
    svc = services(context)
    kind = await chat_kind(update, context)
    if kind is None:
        return None
    user = update.effective_user
    person: Person | None
    if kind is ChatKind.PRIVATE:
        person = await private_person(update, context)
        language = person.language
    else:
        assert update.effective_chat is not None
        person = (
            await svc.people.met_in_group(user.id, name=display_name(user), username=user.username)
            if user is not None
            else None
        )
        language = await svc.chats.language(update.effective_chat.id)
    group_admin = False
    if kind is not ChatKind.PRIVATE:
        decision = decide(person, action, kind, group_admin=False)
        if not decision.allowed and decision.reason == "perm.group_admins_only":
            group_admin = await is_group_admin(update, context)
    decision = decide(person, action, kind, group_admin=group_admin)
    if decision.allowed:
        return Actor(person, language, kind)
    if decision.reason is not None:
        message = update.effective_message
        anonymous = (
            update.callback_query is None
            and message is not None
            and message.sender_chat is not None
            and message.sender_chat.id == message.chat.id
        )
        # An anonymous admin posts as the group: we can't tell who they are, and should say so.
        reason = "perm.anonymous" if anonymous else decision.reason
        await refuse(update, context, language, (wording or {}).get(reason, reason))
    return None


CommandCallback = Callable[[Update, Context], Coroutine[Any, Any, None]]
ActorCommand = Callable[[Update, Context, Actor, Message], Coroutine[Any, Any, None]]


def command(action: str) -> Callable[[ActorCommand], CommandCallback]:
    """Turn `handler(update, context, actor, message)` into a command callback allowed as `action`.

    `guard` answers a refusal; the handler gets the person let through and the command's message to reply to.
    """

    def decorate(handler: ActorCommand) -> CommandCallback:
        @functools.wraps(handler)
        async def wrapped(update: Update, context: Context) -> None:
            actor = await guard(update, context, action)
            message = update.effective_message
            if actor is not None and message is not None:
                await handler(update, context, actor, message)

        return wrapped

    return decorate


async def refuse(update: Update, context: Context, language: Language, key: str, **params: object) -> None:
    """Say no: an alert for a button (so the chat stays clean), a reply for a message."""
    svc = services(context)
    if update.callback_query is not None:
        await alert(update, svc.locales.plain(language, key, **params))
        return
    message = update.effective_message
    if message is not None:
        await message.reply_text(svc.locales.t(language, key, **params))


async def refresh_menu(context: Context, person: Person) -> None:
    """Give a person with roles their own command menu in their private chat (the public one lists fewer)."""
    if person.telegram_id is None:
        return
    svc = services(context)
    names = commands_for(person, "private")
    commands = [BotCommand(c, svc.locales.plain(person.language, f"commands.{c}")) for c in names]
    with contextlib.suppress(TelegramError):  # a menu is a convenience: never fail a join over it
        await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(person.telegram_id))
