"""The bot's own membership: blocked in private, added to or removed from groups, groups migrated."""

from __future__ import annotations

from telegram import Chat, ChatMember, Update
from telegram.ext import Application, ChatMemberHandler, MessageHandler, filters

from handlers.common import Context, services


async def my_chat_member(update: Update, context: Context) -> None:
    """Remember where the bot can still post: a blocked person or a lost group gets no pushes."""
    change = update.my_chat_member
    assert change is not None
    svc = services(context)
    chat = change.chat
    status = change.new_chat_member.status
    if chat.type == Chat.PRIVATE:
        await svc.people.set_blocked(chat.id, status in (ChatMember.BANNED, ChatMember.LEFT))
        return
    if chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        # Removed from a group, the bot also drops its binding (ChatService logs it): a summary has nowhere to go.
        await svc.chats.bot_status_changed(chat.id, type=chat.type, title=chat.title, bot_status=status)


async def migrated(update: Update, context: Context) -> None:
    """A group became a supergroup: Telegram gives it a new id, and everything bound to it must follow."""
    message = update.effective_message
    assert message is not None
    if message.migrate_to_chat_id is not None:
        old_id, new_id = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old_id, new_id = message.migrate_from_chat_id, message.chat.id
    else:
        return
    await services(context).chats.migrated(old_id, new_id, title=message.chat.title)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(ChatMemberHandler(my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migrated))
