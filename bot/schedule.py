"""Which day each daily job last ran on, so that a day's run is neither lost nor doubled.

Why: a daily job (the backup, the patrol reminders, the deadline letters, retention) is scheduled at a time of day.
A bot that was down at that time (an upgrade, a crash, a webhook leader that died and handed over after it) would
skip the day: no backup, and an overdue problem nobody was told of. So the day each job last ran is kept in the
store, and an hourly check runs a job whose time today has passed and that has not run today, once. A store that
has never recorded a job (a new deployment) starts counting from today: there is no missed day to make up.

The day is the configured time zone's, as the schedule's.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

from bot.config import Settings
from storage import Store

_KEY = "jobs.daily.{name}"


class DailyRuns:
    """The day each daily job last ran on, and which jobs are due again."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        # The jobs running in this process now: the hourly check must not start one the schedule already started.
        self._running: dict[str, asyncio.Lock] = {}

    def today(self, now: datetime) -> date:
        return now.astimezone(self._settings.tz).date()

    async def last(self, name: str) -> date | None:
        """The day the job last ran on; None when this store never recorded it."""
        value = await self._store.meta.get(_KEY.format(name=name))
        return date.fromisoformat(value) if value else None

    async def record(self, name: str, now: datetime) -> None:
        await self._store.meta.set(_KEY.format(name=name), self.today(now).isoformat())

    async def ran_today(self, name: str, now: datetime) -> bool:
        last = await self.last(name)
        return last is not None and last >= self.today(now)

    async def missed(self, name: str, at: time, now: datetime) -> bool:
        """Has today's time for the job passed without a run today? The first look in a store that never recorded
        the job records today instead: a new deployment has no missed day."""
        local = now.astimezone(self._settings.tz)
        if local.time().replace(tzinfo=None) < at.replace(tzinfo=None):
            return False
        last = await self.last(name)
        if last is None:
            await self.record(name, now)
            return False
        return last < local.date()

    def lock(self, name: str) -> asyncio.Lock:
        """Held while the job runs in this process (jobs run on one process only: the bot, or the webhook leader)."""
        return self._running.setdefault(name, asyncio.Lock())
