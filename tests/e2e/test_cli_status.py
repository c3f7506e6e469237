"""`riverbot status`: the figures a monitor reads, and an exit code that says whether the bot is alive."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.status import record_heartbeat
from handlers.health import heartbeat
from tests.conftest import Harness
from tests.support import run_job, started_admin

RIVERBOT = [sys.executable, "-m", "bot"]


async def _status(data_dir: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS"}}
    env.update({"DATA_DIR": str(data_dir), "DEFAULT_LANGUAGE": "en", "PYTHONUNBUFFERED": "1", **settings})
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT, "status", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_data_dir_no_bot_ever_ran_on_is_reported_stale(tmp_path: Path) -> None:
    code, out, _ = await _status(tmp_path / "data", "--json")
    report = json.loads(out)
    assert code == 1 and report["healthy"] is False
    # Not running is what's wrong; a backup is not due yet on a database made just now.
    assert report["problems"] == ["not_running"]
    assert report["heartbeat_at"] is None and report["inbox_waiting"] == 0


async def test_a_running_bot_is_healthy_and_a_silent_one_is_not(bot: Harness) -> None:
    # The test beats the heart itself: the minutely job would otherwise overwrite the stale heartbeat written
    # below whenever a slow machine lets a minute pass between writing it and reading the status.
    assert bot.app.job_queue is not None
    for job in bot.app.job_queue.get_jobs_by_name("heartbeat"):
        job.enabled = False
    admin = await started_admin(bot, "en")
    await admin.send("/help")
    await admin.next_message()
    await run_job(bot, heartbeat)
    data_dir = bot.settings.data_dir
    code, out, err = await _status(data_dir, "--json", BACKUP_ENABLED="false")
    report = json.loads(out)
    assert code == 0 and report["healthy"] is True and report["problems"] == [], err
    assert report["last_update_id"] is not None and report["last_handled_at"] is not None
    assert report["inbox_waiting"] == 0 and report["database_bytes"] > 0 and report["free_bytes"] > 0

    # In words, for a person at the terminal.
    code, out, _ = await _status(data_dir, BACKUP_ENABLED="false")
    assert code == 0 and "Bot heartbeat:" in out and "Healthy." in out

    # The heartbeat stops (the bot hangs or died): stale after STATUS_HEARTBEAT_MAX_S.
    await record_heartbeat(bot.store, datetime.now(UTC) - timedelta(minutes=10))
    code, out, err = await _status(data_dir, "--json", BACKUP_ENABLED="false", STATUS_HEARTBEAT_MAX_S="300")
    assert code == 1 and json.loads(out)["problems"] == ["not_running"]
    code, out, err = await _status(data_dir, BACKUP_ENABLED="false")
    assert code == 1 and "no heartbeat within STATUS_HEARTBEAT_MAX_S" in err and "Needs attention" in out


async def test_a_new_install_is_healthy_before_its_first_backup_is_due(bot: Harness) -> None:
    """The Docker HEALTHCHECK runs `riverbot status` from the first minute: a bot installed today, running and
    keeping up, has no backup yet because none was due (BACKUP_TIME comes tonight), and is not stale for it."""
    await run_job(bot, heartbeat)
    data_dir = bot.settings.data_dir
    code, out, err = await _status(data_dir, "--json", BACKUP_ENABLED="true", STATUS_BACKUP_MAX_HOURS="36")
    assert code == 0 and json.loads(out)["problems"] == [], out + err

    # Installed two days ago and still no backup: one was due, the monitor must say so.
    installed = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await bot.store.execute("UPDATE schema_version SET applied_at = ?", (installed,))
    code, out, err = await _status(data_dir, "--json", BACKUP_ENABLED="true", STATUS_BACKUP_MAX_HOURS="36")
    assert code == 1 and json.loads(out)["problems"] == ["backup"], out + err
