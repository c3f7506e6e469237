"""The bot's minute: a heartbeat for `riverbot status`, and the inbox's old entries and expired marks forgotten."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.common import Context, services


async def heartbeat(context: Context) -> None:
    """Write the heartbeat `riverbot status` checks; forget old handled updates and expired marks."""
    await services(context).inbox.beat(datetime.now(UTC))
