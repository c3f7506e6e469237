"""Every job the bot runs on its own, with its name and when, in one list.

Why one list: what runs unasked, and when, is then read in one place instead of in four modules' register().
The callbacks stay in their feature modules; this module only says when they run. Names are stable: code and
tests look jobs up by name (`job_queue.get_jobs_by_name`).

A daily job runs once a day, whoever runs it: `bot.schedule.DailyRuns` keeps the day it last ran, and the hourly
`daily_catch_up` runs one whose time passed while the bot was down or a webhook leader was handing over.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, time

from telegram.ext import Application

from bot.config import Settings
from handlers.backups import daily_backup
from handlers.common import services
from handlers.errors import check_storage, prune_failures
from handlers.health import heartbeat
from handlers.patrol import end_idle_patrols, remind_chiefs
from handlers.problems import chase_deadlines
from handlers.retention import prune_old_records
from handlers.summaries import weekly_summaries
from handlers.ui import Context

logger = logging.getLogger(__name__)

JobCallback = Callable[[Context], Coroutine[object, object, None]]


@dataclass(frozen=True)
class Every:
    """Repeating: every `seconds`, the first run `first` seconds after start."""

    seconds: int
    first: int


@dataclass(frozen=True)
class Daily:
    """Once a day, at the time of day held by the setting `setting` (a `datetime.time`), in the configured zone."""

    setting: str

    def at(self, settings: Settings) -> time:
        """The time of day, in the configured time zone."""
        value = getattr(settings, self.setting)
        assert isinstance(value, time), f"{self.setting} is not a time of day"
        return value.replace(tzinfo=settings.tz)


@dataclass(frozen=True)
class Job:
    """A job: the name it is looked up by, what it runs, and when."""

    name: str
    callback: JobCallback
    when: Every | Daily


JOBS: tuple[Job, ...] = (
    # Patrols whose live location stopped and went quiet, or that ran too long, end on their own.
    Job("end_idle_patrols", end_idle_patrols, Every(seconds=60, first=5)),
    # Chiefs still short of their period's patrols, PATROL_REMINDER_DAYS before it ends.
    Job("patrol_reminders", remind_chiefs, Daily("patrol_reminder_time")),
    # Problems' deadline reminders, overdue letters and escalations: at the same time as the patrol reminders.
    Job("problem_deadlines", chase_deadlines, Daily("patrol_reminder_time")),
    # Hourly, and soon after start: a bot that was down at SUMMARY_TIME catches up once.
    Job("weekly_summaries", weekly_summaries, Every(seconds=3600, first=30)),
    # During a storage outage (full disk, read-only DATA_DIR): try writing again; the admins hear when it works.
    # A heartbeat for `riverbot status`, and handled updates past the inbox's dedupe window forgotten.
    Job("heartbeat", heartbeat, Every(seconds=60, first=1)),
    Job("storage_check", check_storage, Every(seconds=30, first=30)),
    # Failed updates older than FAILED_UPDATES_KEEP_DAYS are forgotten.
    Job("prune_failures", prune_failures, Every(seconds=24 * 3600, first=600)),
    # The database and photos copied to BACKUP_DIR, the oldest beyond BACKUP_KEEP deleted (BACKUP_ENABLED).
    Job("daily_backup", daily_backup, Daily("backup_time")),
    # Track points and photo originals past RETENTION_YEARS, at night (nothing when it is 0).
    Job("retention", prune_old_records, Daily("retention_time")),
)


# The hourly look for a daily job whose time today passed without a run (its name is looked up like the others').
CATCH_UP_NAME = "daily_catch_up"
CATCH_UP = Every(seconds=3600, first=45)


def _reporting(job: Job, ran: Callable[[str], Awaitable[None]] | None) -> JobCallback:
    if ran is None:
        return job.callback

    @functools.wraps(job.callback)
    async def run(context: Context) -> None:
        await job.callback(context)
        await ran(job.name)

    return run


def _once_a_day(job: Job, callback: JobCallback) -> JobCallback:
    """The daily job, unless it already ran today (or is running now); the day recorded after it ends well."""

    @functools.wraps(callback)
    async def run(context: Context) -> None:
        runs = services(context).daily_runs
        now = datetime.now(UTC)
        lock = runs.lock(job.name)
        if lock.locked():
            return
        async with lock:
            if await runs.ran_today(job.name, now):
                return
            await callback(context)
            await runs.record(job.name, now)

    return run


def _catch_up(daily: list[tuple[Job, JobCallback]]) -> JobCallback:
    async def catch_up(context: Context) -> None:
        """Hourly: each daily job whose time today passed with no run today (the bot was down then), once."""
        svc = services(context)
        for job, run in daily:
            assert isinstance(job.when, Daily)
            at = job.when.at(svc.settings)
            if await svc.daily_runs.missed(job.name, at, datetime.now(UTC)):
                logger.warning("The daily job %s did not run at %s today: running it now", job.name, at)
                try:
                    await run(context)
                except Exception:  # one job's failure must not keep the others from catching up
                    logger.exception("Catching up the daily job %s failed", job.name)

    return catch_up


def schedule(app: Application, *, ran: Callable[[str], Awaitable[None]] | None = None) -> None:  # type: ignore[type-arg]
    """Put every job of `JOBS` on the Application's JobQueue (none without one: PTB's job-queue extra missing),
    and the hourly catch-up of the daily ones. `ran(name)` is awaited after each run that ends without an error
    (a webhook leader records it)."""
    queue = app.job_queue
    if queue is None:
        return
    settings: Settings = app.bot_data["settings"]
    daily: list[tuple[Job, JobCallback]] = []
    for job in JOBS:
        callback = _reporting(job, ran)
        if isinstance(job.when, Every):
            queue.run_repeating(callback, interval=job.when.seconds, first=job.when.first, name=job.name)
        else:
            callback = _once_a_day(job, callback)
            daily.append((job, callback))
            queue.run_daily(callback, time=job.when.at(settings), name=job.name)
    queue.run_repeating(_catch_up(daily), interval=CATCH_UP.seconds, first=CATCH_UP.first, name=CATCH_UP_NAME)
