"""A local fake of the Telegram Bot API plus a driver for end-to-end bot tests.

Typical use::

    async with BotApiServer() as server:
        token = server.add_bot()
        sb = server.sandbox(token)
        alice = sb.user("Alice")
        ...  # run the bot with base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot"
        await alice.send("/start")
        reply = await alice.next_message()
"""

from .driver import FakeGroup, FakeUser, Sandbox
from .errors import ApiError
from .faults import Fault, FaultInjector
from .flood import TELEGRAM_LIMITS, FloodControl, FloodLimits, Refusal
from .server import ApiCall, BotApiServer
from .state import SentMessage

__all__ = [
    "TELEGRAM_LIMITS",
    "ApiCall",
    "ApiError",
    "BotApiServer",
    "FakeGroup",
    "FakeUser",
    "Fault",
    "FaultInjector",
    "FloodControl",
    "FloodLimits",
    "Refusal",
    "Sandbox",
    "SentMessage",
]
