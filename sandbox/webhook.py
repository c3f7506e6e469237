"""Webhook delivery, as Telegram does it: while a bot has a webhook set, its updates are POSTed to the URL (with
the secret token in X-Telegram-Bot-Api-Secret-Token) instead of being served to getUpdates (which answers 409).

An update counts as delivered only on a 2xx answer; on anything else (or no answer) it is sent again after a
pause, and nothing after it goes first: one update at a time, in order (Telegram keeps order per chat; one at a
time is the strict case of that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import aiohttp

from .state import BotState

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# How long the stand-in waits for the bot's answer to one push.
PUSH_TIMEOUT_S = 30.0


@dataclass
class Push:
    """One attempt to deliver an update to the webhook: its answer's status, or 0 when none came."""

    update_id: int
    status: int
    at: float


class WebhookPusher:
    """Delivers one bot's updates to its webhook until the webhook is deleted or the server stops."""

    def __init__(self, state: BotState, retry_s: float) -> None:
        self.state = state
        self.retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sandbox:webhook")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        state = self.state
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S))
        while state.webhook.get("url") and not state.closed:
            batch = state.take(1)
            if not batch:
                await state.updates_signal.wait(1.0)
                continue
            update = batch[0]
            status = await self._push(update)
            state.pushes.append(Push(int(update["update_id"]), status, time.time()))
            if 200 <= status < 300:
                state.confirm(int(update["update_id"]) + 1)
                continue
            state.webhook["last_error_date"] = state.now()
            state.webhook["last_error_message"] = f"Wrong response from the webhook: {status}" if status else (
                "Connection refused"
            )
            state.activity.fire()  # a test waiting for the failed push sees it now
            await asyncio.sleep(self.retry_s)

    async def _push(self, update: dict[str, object]) -> int:
        assert self._session is not None
        headers = {}
        secret = self.state.webhook.get("secret_token")
        if secret:
            headers[SECRET_HEADER] = str(secret)
        try:
            async with self._session.post(str(self.state.webhook["url"]), json=update, headers=headers) as answer:
                await answer.read()
                return answer.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("webhook push of %s failed: %s", update.get("update_id"), exc)
            return 0
