"""The daily backup job: `bot.backups` makes and prunes the copies; this module tells the office when it fails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram.error import Forbidden, TelegramError

from handlers.common import Context, services

logger = logging.getLogger(__name__)


async def daily_backup(context: Context) -> None:
    """Daily at BACKUP_TIME: back up the store and photos, keep BACKUP_KEEP; a failure is told to the admins once."""
    svc = services(context)
    outcome = await svc.backups.daily(datetime.now(UTC))
    if not outcome.tell_admins:
        return
    folder = str(svc.settings.backups_path)
    for chat_id in await svc.people.admin_chat_ids():
        admin = await svc.people.find(chat_id)
        text = svc.locales.t(
            admin.language if admin else None, "backup.failed_notice", path=folder, error=outcome.error
        )
        try:
            await context.bot.send_message(chat_id, text)
        except Forbidden:
            await svc.people.set_blocked(chat_id, True)
        except TelegramError:
            logger.warning("Could not tell admin %s that the backup failed", chat_id, exc_info=True)
