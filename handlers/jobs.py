"""Every job the bot runs on its own, with its name and when, in one list.

Why one list: what runs unasked, and when, is then read in one place instead of in four modules' register().
The callbacks stay in their feature modules; this module only says when they run. Names are stable: code and
tests look jobs up by name (`job_queue.get_jobs_by_name`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import time

from telegram.ext import Application

from bot.config import Settings
from handlers.backups import daily_backup
from handlers.errors import check_storage, prune_failures
from handlers.health import heartbeat
from handlers.patrol import end_idle_patrols, remind_chiefs
from handlers.problems import chase_deadlines
from handlers.retention import prune_old_records
from handlers.summaries import weekly_summaries
from handlers.ui import Context

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


def _reporting(job: Job, ran: Callable[[str], Awaitable[None]]) -> JobCallback:
    async def run(context: Context) -> None:
        await job.callback(context)
        await ran(job.name)

    return run


def schedule(app: Application, *, ran: Callable[[str], Awaitable[None]] | None = None) -> None:  # type: ignore[type-arg]
    """Put every job of `JOBS` on the Application's JobQueue (none without one: PTB's job-queue extra missing).
    `ran(name)` is awaited after each run that ends without an error (a webhook leader records it)."""
    queue = app.job_queue
    if queue is None:
        return
    settings: Settings = app.bot_data["settings"]
    for job in JOBS:
        callback = job.callback if ran is None else _reporting(job, ran)
        if isinstance(job.when, Every):
            queue.run_repeating(callback, interval=job.when.seconds, first=job.when.first, name=job.name)
        else:
            queue.run_daily(callback, time=job.when.at(settings), name=job.name)
