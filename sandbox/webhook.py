"""Webhook delivery, as Telegram does it: while a bot has a webhook set, its updates are POSTed to the URL (with
the secret token in X-Telegram-Bot-Api-Secret-Token) instead of being served to getUpdates (which answers 409).

An update counts as delivered only on a 2xx answer; on anything else (or no answer) it is sent again after a
pause, and nothing after it goes first: one update at a time, in order (Telegram keeps order per chat; one at a
time is the strict case of that).

Telegram itself pushes up to `max_connections` updates at once (setWebhook; 40 when not given). The stand-in does
that only when told to (`BotApiServer.webhook_connections` > 1, as a benchmark of several webhook workers needs):
then up to that many at once (and no more than the webhook's max_connections), never two of one chat, and none
of a chat while an earlier one of that chat waits to be taken; an update that failed holds back its chat only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from .state import BotState, json_copy

log = logging.getLogger(__name__)
JSON = dict[str, Any]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# How long the stand-in waits for the bot's answer to one push.
PUSH_TIMEOUT_S = 30.0
# Telegram's max_connections when setWebhook does not give one.
DEFAULT_MAX_CONNECTIONS = 40


def chat_of(update: JSON) -> object:
    """The chat an update belongs to (its message's chat, else its sender), for keeping one chat's order."""
    for value in update.values():
        if isinstance(value, dict):
            message = value.get("message") if "chat" not in value else value
            chat = message.get("chat") if isinstance(message, dict) else None
            if isinstance(chat, dict) and "id" in chat:
                return chat["id"]
            sender = value.get("from") or value.get("user")
            if isinstance(sender, dict) and "id" in sender:
                return ("user", sender["id"])
    return ("update", update.get("update_id"))


@dataclass
class Push:
    """One attempt to deliver an update to the webhook: its answer's status, or 0 when none came."""

    update_id: int
    status: int
    at: float


class WebhookPusher:
    """Delivers one bot's updates to its webhook until the webhook is deleted or the server stops."""

    def __init__(self, state: BotState, retry_s: float, connections: int = 1) -> None:
        self.state = state
        self.retry_s = retry_s
        self.connections = connections
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
        connections = min(self.connections, int(state.webhook.get("max_connections") or DEFAULT_MAX_CONNECTIONS))
        if connections > 1:
            await self._run_at_once(connections)
            return
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
            self._failed(status)  # a test waiting for the failed push sees it now
            await asyncio.sleep(self.retry_s)

    def _failed(self, status: int) -> None:
        state = self.state
        state.webhook["last_error_date"] = state.now()
        state.webhook["last_error_message"] = f"Wrong response from the webhook: {status}" if status else (
            "Connection refused"
        )
        state.activity.fire()

    async def _run_at_once(self, connections: int) -> None:
        """Up to `connections` pushes at once, one chat's updates one at a time and in order."""
        state = self.state
        loop = asyncio.get_running_loop()
        running: dict[asyncio.Future[Any], JSON] = {}
        busy: set[object] = set()  # chats with an update on its way
        resting: set[object] = set()  # chats whose update just failed, until its pause is over
        try:
            while state.webhook.get("url") and not state.closed:
                state.take(0)  # drops what the bot did not ask for
                held = busy | resting  # and, as the queue is read, every chat with an earlier update waiting
                for update in state.pending:
                    if len(running) >= connections:
                        break
                    chat = chat_of(update)
                    if chat in held:
                        continue
                    held.add(chat)
                    busy.add(chat)
                    running[loop.create_task(self._push(json_copy(update)))] = update
                signal = asyncio.ensure_future(state.updates_signal.next_fire().wait())
                done, _ = await asyncio.wait({*running, signal}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                signal.cancel()
                for task in done:
                    if task is signal:
                        continue
                    update = running.pop(task)
                    status = int(task.result())
                    chat = chat_of(update)
                    busy.discard(chat)
                    state.pushes.append(Push(int(update["update_id"]), status, time.time()))
                    if 200 <= status < 300:
                        state.delivered(int(update["update_id"]))
                    else:
                        self._failed(status)
                        resting.add(chat)
                        loop.call_later(self.retry_s, self._rested, resting, chat)
        finally:
            for task in running:
                task.cancel()

    def _rested(self, resting: set[object], chat: object) -> None:
        resting.discard(chat)
        self.state.updates_signal.fire()

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
