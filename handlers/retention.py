"""The daily retention job: track points and photo originals past RETENTION_YEARS are pruned (bot/retention.py).

It tells nobody: what it removes is what the office chose to keep no longer, and each run is logged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from handlers.common import Context, services

logger = logging.getLogger(__name__)


async def prune_old_records(context: Context) -> None:
    """Daily: prune track points and photo originals older than RETENTION_YEARS (nothing when it is 0)."""
    svc = services(context)
    if not svc.retention.enabled:
        return
    pruned = await svc.retention.prune(datetime.now(UTC))
    if pruned.patrols or pruned.photos:
        logger.info(
            "Retention (%d years, before %s): track points of %d patrols (%d points) and %d photo originals"
            " (%d bytes) pruned",
            svc.settings.retention_years,
            pruned.cutoff.isoformat() if pruned.cutoff else "-",
            pruned.patrols,
            pruned.points,
            pruned.photos,
            pruned.photo_bytes,
        )
