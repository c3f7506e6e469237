"""`riverbot status`: is the bot alive and keeping up? For a person at the terminal, and for Docker, systemd or
Zabbix, which read the exit code (or the JSON).

The bot writes a heartbeat to the store every minute (handlers/health.py). Everything else is read from the
store and the disk, so the command works whether or not the bot runs, and says which.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.backups import last_backup
from bot.config import Settings
from storage import Store

HEARTBEAT_KEY = "heartbeat"


@dataclass(frozen=True)
class Status:
    """What `riverbot status` reports; `problems` names what is stale (empty: healthy)."""

    checked_at: datetime
    heartbeat_at: datetime | None
    last_handled_at: datetime | None
    last_update_id: int | None
    inbox_waiting: int
    oldest_waiting_at: datetime | None
    pending_deliveries: int
    failed_updates: int
    database_bytes: int
    photo_bytes: int
    free_bytes: int | None
    last_backup_at: datetime | None
    last_backup_path: str | None
    # When the database was created (its first migration): a backup is due only STATUS_BACKUP_MAX_HOURS later.
    installed_at: datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data["healthy"] = self.healthy
        return data


async def record_heartbeat(store: Store, now: datetime) -> None:
    await store.meta.set(HEARTBEAT_KEY, now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def judge(status: Status, settings: Settings) -> list[str]:
    """What is stale, by the thresholds in settings (keys of locales' status.problem.*)."""
    now = status.checked_at
    problems: list[str] = []
    if status.heartbeat_at is None or now - status.heartbeat_at > timedelta(seconds=settings.status_heartbeat_max_s):
        problems.append("not_running")
    if status.oldest_waiting_at is not None and now - status.oldest_waiting_at > timedelta(
        seconds=settings.status_backlog_max_s
    ):
        problems.append("backlog")
    backup_age = timedelta(hours=settings.status_backup_max_hours)
    # No backup yet is stale only once one was due: a new install's HEALTHCHECK must not fail until BACKUP_TIME.
    since = status.last_backup_at or status.installed_at
    if settings.backup_enabled and (since is None or now - since > backup_age):
        problems.append("backup")
    if status.free_bytes is not None and status.free_bytes < settings.status_min_free_mb * 1024 * 1024:
        problems.append("disk")
    return problems


async def read_status(store: Store, settings: Settings, now: datetime) -> Status:
    inbox = await store.inbox.figures()
    backup = await last_backup(store)
    pending = int(await store.fetchval("SELECT count(*) FROM summary_deliveries WHERE status = 'pending'"))
    failed = int(await store.fetchval("SELECT count(*) FROM failed_updates WHERE resolved_at IS NULL"))
    photo_bytes = int(await store.fetchval("SELECT COALESCE(sum(size_bytes), 0) FROM photos") or 0)
    installed = await store.fetchval("SELECT applied_at FROM schema_version ORDER BY version LIMIT 1")
    database_bytes = await store.size_bytes()
    try:
        free: int | None = shutil.disk_usage(settings.data_dir).free
    except OSError:
        free = None
    status = Status(
        checked_at=now,
        heartbeat_at=_parse(await store.meta.get(HEARTBEAT_KEY)),
        last_handled_at=inbox.last_handled_at,
        last_update_id=inbox.last_update_id,
        inbox_waiting=inbox.waiting,
        oldest_waiting_at=inbox.oldest_waiting_at,
        pending_deliveries=pending,
        failed_updates=failed,
        database_bytes=database_bytes,
        photo_bytes=photo_bytes,
        free_bytes=free,
        last_backup_at=backup.at if backup else None,
        last_backup_path=str(backup.path) if backup else None,
        installed_at=_parse(installed),
    )
    status.problems.extend(judge(status, settings))
    return status
