"""A local fake of the Telegram Bot API plus a driver for end-to-end bot tests.

Typical use::

    async with BotApiServer() as server:
        token = server.add_bot()
        sb = server.sandbox(token)
        alice = sb.user("Alice")
        ...  # run the bot with base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot"
        await alice.send("/start")
        reply = await alice.next_message()

A bot that sets a webhook (setWebhook) gets its updates pushed to it instead, as from Telegram: with the secret
token, one at a time, again until it answers 2xx (``sandbox/webhook.py``); getUpdates answers 409 meanwhile.

The server runs on aiohttp, which comes with the `sandbox` extra (``pip install 'riverbot[sandbox]'``): it is
loaded when first asked for, so that without it ``python -m sandbox`` can say so instead of failing on import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .driver import BotProbe, FakeGroup, FakeUser, Sandbox
from .errors import ApiError
from .faults import Fault, FaultInjector
from .flood import TELEGRAM_LIMITS, FloodControl, FloodLimits, Refusal
from .state import SentMessage

if TYPE_CHECKING:
    from .server import ApiCall, BotApiServer

#: what to install when aiohttp is missing
INSTALL_HINT = "pip install 'riverbot[sandbox]'"


def __getattr__(name: str) -> Any:
    """`BotApiServer` and `ApiCall`, imported on first use (they need aiohttp)."""
    if name in ("ApiCall", "BotApiServer"):
        return getattr(importlib.import_module(".server", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "INSTALL_HINT",
    "TELEGRAM_LIMITS",
    "ApiCall",
    "ApiError",
    "BotApiServer",
    "BotProbe",
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
