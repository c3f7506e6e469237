"""PTB's Bot as the `bot.delivery.Sender` the weekly delivery sends through, with Telegram's errors sorted."""

from __future__ import annotations

from telegram import Bot
from telegram.error import Forbidden, RetryAfter, TelegramError

from bot.delivery import Failure


class BotSender:
    """Sends with the bot's defaults (HTML, its rate limiter); the ids let a retry resume after the last piece."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_message(self, chat_id: int, text: str) -> int:
        return (await self._bot.send_message(chat_id, text)).message_id

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str) -> int:
        return (await self._bot.send_photo(chat_id, photo, caption=caption)).message_id

    def failure(self, error: Exception) -> Failure | None:
        if isinstance(error, RetryAfter):
            return "flood"
        if isinstance(error, Forbidden):
            return "forbidden"
        if isinstance(error, TelegramError):
            return "other"
        return None
