"""Time as the database stores it: UTC, ISO 8601, whole seconds.

A module of its own so that the repositories can use it without importing storage.store, which imports them.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now as stored: UTC, ISO 8601, whole seconds."""
    return to_db_time(datetime.now(UTC))


def to_db_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: store only aware times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db_time(value: str | None) -> datetime | None:
    """A stored time back as an aware datetime. Every row read converts a few: the form `to_db_time` writes is
    read with `fromisoformat` (a tenth of strptime's cost, which was a twentieth of a worker's CPU on the
    live-location path); anything else goes to strptime, which refuses what it always refused."""
    if value is None:
        return None
    if len(value) == 20 and value[19] == "Z" and value[10] == "T" and value[:19].isascii():
        try:
            return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)
        except ValueError:
            pass  # strptime says why
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
