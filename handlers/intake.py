"""Polling through the inbox: an update is confirmed to Telegram only after the inbox has it.

PTB's Updater confirms a batch (the next getUpdates offset) as soon as it is in the in-memory update queue, so
a crash loses every update still queued. This loop asks the Bot API for updates, keeps each batch in the
inbox (bot/inbox.py) in one transaction, and only then queues it and moves the offset on. After a restart the
updates kept but not handled are queued first, in order. The rest is PTB's: the Application's update queue,
the per-chat processor, the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.inbox import InboxService
from handlers.live import read_live_edit

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

# Bot.get_updates turns the answer into Update objects at once; the inbox needs the JSON as Telegram sent it,
# which `do_api_request` returns. PTB warns that a method of its own exists for the endpoint: we know.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.get_updates'", category=PTBUserWarning)

# Updates taken in and not yet handled beyond which no more are fetched (each costs a task and its memory).
MAX_IN_HAND = 2000
BACKLOG_WAIT_S = 0.05
# Added to the long-polling timeout: how long a getUpdates answer may take beyond it (PTB's default read timeout).
READ_SLACK_S = 5.0
# Waits after a failed getUpdates or a batch the inbox could not keep: growing, but never past this.
MAX_BACKOFF_S = 30.0
# ... and while the inbox refuses batches (a full disk): fetching again is cheap, and recovery shows sooner.
REFUSED_BACKOFF_S = 5.0


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def read_update(app: Application, inbox: InboxService, raw: JSON) -> object | None:  # type: ignore[type-arg]
    """What the Application handles for a kept update: a `LiveEdit` read straight from the JSON (most of a patrol
    day's updates: no PTB objects built), else PTB's Update; None for one this PTB cannot read, which is kept as a
    failed update (and done) so the rest go on."""
    live = read_live_edit(raw)
    if live is not None:
        return live
    try:
        return Update.de_json(raw, app.bot)
    except Exception:
        logger.exception("unreadable update %s", raw.get("update_id"))
        await inbox.unreadable(raw, traceback.format_exc())
        return None


class Intake:
    """The bot's getUpdates loop, with the inbox between Telegram and the update queue."""

    def __init__(
        self,
        app: Application,  # type: ignore[type-arg]
        inbox: InboxService,
        *,
        poll_timeout: int,
        allowed_updates: Sequence[str],
        refused: Callable[[list[JSON], BaseException], Awaitable[None]] | None = None,
        backlog: Callable[[], int] | None = None,
        proxy: str = "",
        handle_here: bool = True,
    ) -> None:
        self._app = app
        #: False in front of webhook workers (bot/workers.py): updates are only kept, and the workers handle them
        self._handle_here = handle_here
        #: " through the proxy …" in the lines that say getUpdates failed: the proxy is the usual suspect
        self._through = f" through the proxy {proxy}" if proxy else ""
        self._inbox = inbox
        self._poll_timeout = poll_timeout
        self._allowed = list(allowed_updates)
        self._offset = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._refused = refused
        self._backlog = backlog
        self._fetching = False
        self.running = False
        #: a batch the inbox refused (a full disk): the person is not told "received" and Telegram keeps it
        self.refusing = False
        #: the last update of the last batch refused (and everyone told who was to be)
        self.refused_upto = 0

    async def start(self) -> None:
        """Queue what a crash or a stop left unhandled, then poll. A webhook left set would make getUpdates fail."""
        await self._app.bot.delete_webhook(drop_pending_updates=False)
        await self.queue_leftovers()
        self._stopping.clear()
        self.running = True
        self._task = asyncio.create_task(self._poll(), name="riverbot:intake")

    async def stop(self) -> None:
        """Stop polling; a batch being kept is kept and queued first. Then confirm what the inbox has."""
        if not self.running:
            return
        self.running = False
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            if self._fetching:
                task.cancel()  # a long poll: nothing of it is kept yet, so Telegram sends it again
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:  # everything below the offset is in the inbox: Telegram need not send it again
            await self._get_updates(wait_s=0, limit=1)
        except TelegramError as exc:
            logger.info("could not confirm the last updates on stop (%s); they come again and are ignored", exc)

    async def queue_leftovers(self) -> None:
        """Queue what a crash or a stop left kept and unhandled, first and in order (webhook mode too)."""
        if not self._handle_here:
            return  # the workers find them in the inbox
        leftovers = await self._inbox.leftovers()
        if leftovers.updates:
            logger.warning("handling %d updates left from before the restart first", len(leftovers.updates))
        for raw in leftovers.updates:
            await self._queue(raw)

    @property
    def full(self) -> bool:
        """So many updates in hand that no more are taken in now: Telegram keeps the rest meanwhile."""
        return self._backlog is not None and self._backlog() >= MAX_IN_HAND

    async def take_in(self, batch: list[JSON]) -> bool:
        """Keep a batch in the inbox, then queue what is new in it; False when the inbox refused it (nothing may be
        confirmed to Telegram then: it sends the batch again). getUpdates and the webhook both come here."""
        try:
            fresh = await self._inbox.take(batch)
        except Exception as exc:
            if not self.refusing:
                logger.exception("the inbox could not keep %d updates; Telegram keeps them meanwhile", len(batch))
            self.refusing = True
            if self._refused is not None:
                try:
                    await self._refused(batch, exc)
                except Exception:
                    logger.exception("could not tell anyone that the inbox refused updates")
            self.refused_upto = max(self.refused_upto, int(batch[-1]["update_id"]))
            return False
        if self.refusing:
            logger.warning("the inbox keeps updates again")
        self.refusing = False
        if self._handle_here:
            for raw in fresh:
                await self._queue(raw)
        return True

    async def _queue(self, raw: JSON) -> None:
        update = await read_update(self._app, self._inbox, raw)
        if update is not None:
            self._app.update_queue.put_nowait(update)

    async def _get_updates(self, *, wait_s: int, limit: int = 100) -> list[JSON]:
        result = await self._app.bot.do_api_request(
            "get_updates",
            api_kwargs={
                "offset": self._offset,
                "timeout": wait_s,
                "limit": limit,
                "allowed_updates": self._allowed,
            },
            read_timeout=READ_SLACK_S + wait_s,
        )
        return list(result) if isinstance(result, list) else []

    async def _poll(self) -> None:
        delay = 0.0
        while not self._stopping.is_set():
            if delay and await self._stopped_within(delay):
                return
            # A flood (one person's 1,000 messages): past this many updates in hand, Telegram holds the rest, so
            # memory stays bounded and every update is still kept there until fetched.
            while self.full:
                if await self._stopped_within(BACKLOG_WAIT_S):
                    return
            self._fetching = True
            try:
                batch = await self._get_updates(wait_s=self._poll_timeout)
            except RetryAfter as exc:
                delay = 0.5 + _seconds(exc.retry_after)
                continue
            except TimedOut:
                delay = 0.0
                continue
            except InvalidToken:
                logger.critical("the Bot API rejected the token: polling stops")
                raise
            except TelegramError as exc:
                delay = min(max(delay * 1.5, 1.0), MAX_BACKOFF_S)
                logger.error("getUpdates%s failed (%s); trying again in %.0f s", self._through, exc, delay)
                continue
            except Exception:  # anything else must not end polling for good: the bot would hear nothing more
                delay = min(max(delay * 1.5, 1.0), MAX_BACKOFF_S)
                logger.exception("getUpdates answered something unexpected; trying again in %.0f s", delay)
                continue
            finally:
                self._fetching = False
            if not batch:
                delay = 0.0
                continue
            if not await self.take_in(batch):
                # Not kept, so not confirmed: Telegram holds the batch and sends it again.
                delay = min(max(delay * 1.5, 1.0), REFUSED_BACKOFF_S)
                continue
            delay = 0.0
            self._offset = int(batch[-1]["update_id"]) + 1

    def wake(self) -> None:
        """Fetch again now instead of after the back-off (storage is writable again)."""
        self._woken.set()

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait out a back-off; True when the bot is stopping. `wake` cuts it short."""
        if self._woken.is_set():
            self._woken.clear()
            return self._stopping.is_set()
        waits = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._woken.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        self._woken.clear()
        return self._stopping.is_set()
