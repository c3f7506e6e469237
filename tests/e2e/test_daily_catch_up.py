"""A daily job runs once a day whoever runs it: a bot that was down at the job's time makes the day up once, and
never does the day twice (bot/schedule.py, handlers/jobs.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.backups import backups_in
from handlers.jobs import CATCH_UP_NAME
from tests.conftest import BotFactory, Harness
from tests.support import Job, run_job


def _scheduled(bot: Harness, name: str) -> Job:
    """The callback the job queue runs under `name`, as scheduled (wrapped), not the feature module's."""
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(name)
    callback: Job = job.callback
    return callback


def _today(bot: Harness) -> str:
    return datetime.now(UTC).astimezone(bot.settings.tz).date().isoformat()


async def test_a_backup_missed_while_the_bot_was_down_is_made_once(bot_factory: BotFactory) -> None:
    # The backup's time (midnight) has passed today, and the store says the backup last ran yesterday: the bot was
    # down when it was due.
    bot = await bot_factory(backup_time="00:00")
    yesterday = (datetime.now(UTC).astimezone(bot.settings.tz).date() - timedelta(days=1)).isoformat()
    await bot.store.meta.set("jobs.daily.daily_backup", yesterday)
    assert backups_in(bot.settings.backups_path) == []

    await run_job(bot, _scheduled(bot, CATCH_UP_NAME))
    (made,) = backups_in(bot.settings.backups_path)
    assert made.finished and not made.before_migration
    assert await bot.store.meta.get("jobs.daily.daily_backup") == _today(bot)

    # The next hourly look, and the job's own time coming round again today: the day is done.
    await run_job(bot, _scheduled(bot, CATCH_UP_NAME))
    await run_job(bot, _scheduled(bot, "daily_backup"))
    assert backups_in(bot.settings.backups_path) == [made]


async def test_a_new_store_has_no_missed_day(bot_factory: BotFactory) -> None:
    bot = await bot_factory(backup_time="00:00", patrol_reminder_time="00:00", retention_time="00:00")
    await run_job(bot, _scheduled(bot, CATCH_UP_NAME))
    assert backups_in(bot.settings.backups_path) == []
    # Counting starts today: tomorrow's restart after the time would make tomorrow up.
    for name in ("daily_backup", "patrol_reminders", "problem_deadlines", "retention"):
        assert await bot.store.meta.get(f"jobs.daily.{name}") == _today(bot)


async def test_the_scheduled_run_records_its_day(bot_factory: BotFactory) -> None:
    bot = await bot_factory()
    await run_job(bot, _scheduled(bot, "daily_backup"))
    assert len(backups_in(bot.settings.backups_path)) == 1
    assert await bot.store.meta.get("jobs.daily.daily_backup") == _today(bot)
    # A second start of the schedule the same day (a restart, a new webhook leader) does not back up again.
    await run_job(bot, _scheduled(bot, "daily_backup"))
    assert len(backups_in(bot.settings.backups_path)) == 1


async def test_a_job_not_yet_due_today_is_left_to_its_time(bot_factory: BotFactory) -> None:
    bot = await bot_factory(backup_time="23:59:59")
    yesterday = (datetime.now(UTC).astimezone(bot.settings.tz).date() - timedelta(days=1)).isoformat()
    await bot.store.meta.set("jobs.daily.daily_backup", yesterday)
    local = datetime.now(UTC).astimezone(bot.settings.tz)
    await run_job(bot, _scheduled(bot, CATCH_UP_NAME))
    if local.time().replace(microsecond=0).isoformat() < "23:59:59":
        assert backups_in(bot.settings.backups_path) == []
        assert await bot.store.meta.get("jobs.daily.daily_backup") == yesterday
