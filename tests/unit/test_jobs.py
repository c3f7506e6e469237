"""The jobs the bot runs on its own: one list (handlers/jobs.py), scheduled with these names and at these times."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import build_application
from bot.config import load_settings
from handlers.backups import daily_backup
from handlers.errors import check_storage, prune_failures
from handlers.health import heartbeat
from handlers.jobs import CATCH_UP, CATCH_UP_NAME, JOBS, Daily, Every, Job
from handlers.patrol import end_idle_patrols, remind_chiefs
from handlers.problems import chase_deadlines
from handlers.retention import prune_old_records
from handlers.summaries import weekly_summaries

TOKEN = "123456:" + "A" * 35


def test_the_list_names_each_job_its_callback_and_when() -> None:
    # Names are looked up (job_queue.get_jobs_by_name): they stay as they are.
    assert list(JOBS) == [
        Job("end_idle_patrols", end_idle_patrols, Every(seconds=60, first=5)),
        Job("patrol_reminders", remind_chiefs, Daily("patrol_reminder_time")),
        Job("problem_deadlines", chase_deadlines, Daily("patrol_reminder_time")),
        Job("weekly_summaries", weekly_summaries, Every(seconds=3600, first=30)),
        Job("heartbeat", heartbeat, Every(seconds=60, first=1)),
        Job("storage_check", check_storage, Every(seconds=30, first=30)),
        Job("prune_failures", prune_failures, Every(seconds=24 * 3600, first=600)),
        Job("daily_backup", daily_backup, Daily("backup_time")),
        Job("retention", prune_old_records, Daily("retention_time")),
    ]


def test_a_daily_time_comes_from_the_settings_in_the_configured_zone() -> None:
    settings = load_settings(env_file=None, timezone="Asia/Urumqi", patrol_reminder_time="07:45")
    assert Daily("patrol_reminder_time").at(settings) == time(7, 45, tzinfo=ZoneInfo("Asia/Urumqi"))


def test_the_application_schedules_exactly_the_list() -> None:
    settings = load_settings(
        env_file=None,
        bot_token=TOKEN,
        timezone="Asia/Urumqi",
        patrol_reminder_time="07:45",
        backup_time="07:45",
        retention_time="07:45",
    )
    before = datetime.now(settings.tz)
    app = build_application(settings)  # never started: nothing runs
    assert app.job_queue is not None
    scheduled = {job.name: job for job in app.job_queue.jobs()}
    # The list, then the hourly look for a daily job that missed its time today (tests/e2e/test_daily_catch_up.py).
    assert list(scheduled) == [job.name for job in JOBS] + [CATCH_UP_NAME]
    for job in [*JOBS, Job(CATCH_UP_NAME, scheduled[CATCH_UP_NAME].callback, CATCH_UP)]:
        found = scheduled[job.name]
        # A daily job runs wrapped: once a day, its day recorded (bot/schedule.py).
        assert (found.callback is job.callback) == isinstance(job.when, Every)
        trigger = found.job.trigger
        if isinstance(job.when, Every):
            assert isinstance(trigger, IntervalTrigger)
            assert trigger.interval == timedelta(seconds=job.when.seconds)
            # The first run is `first` seconds after scheduling (build_application, just after `before`).
            first = trigger.start_date - before
            assert timedelta(seconds=job.when.first) <= first < timedelta(seconds=job.when.first + 60)
        else:
            assert isinstance(trigger, CronTrigger)
            fields = {field.name: str(field) for field in trigger.fields}
            assert (fields["hour"], fields["minute"], fields["second"]) == ("7", "45", "0")
            assert fields["day_of_week"] == "*" or fields["day_of_week"].count(",") == 6  # every day
            assert trigger.timezone == ZoneInfo("Asia/Urumqi")
