"""Stored times read back (storage/dbtime.py): the fast path for the stored form must read exactly what strptime
reads, and refuse exactly what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.dbtime import from_db_time, to_db_time

FORMAT = "%Y-%m-%dT%H:%M:%SZ"

CASES = [
    "2026-01-01T00:00:00Z",
    "2024-02-29T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2023-02-29T00:00:00Z",  # no such day
    "2026-13-01T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:60:00Z",
    "2026-01-01T00:00:60Z",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00+00",
    "2026-01-01T00:00:00.5Z",
    "2026-01-01T00:00:0Z",  # strptime takes one digit
    "2026-01-01T00:00:00z",  # and a small z
    "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",  # and full-width digits
    "+026-01-01T00:00:00Z",
    "2026-01-01T00:00:00Z ",
    "",
]


def _strptime(value: str) -> datetime | type[ValueError]:
    try:
        return datetime.strptime(value, FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return ValueError


@pytest.mark.parametrize("value", CASES)
def test_reads_what_strptime_reads(value: str) -> None:
    expected = _strptime(value)
    if expected is ValueError:
        with pytest.raises(ValueError):
            from_db_time(value)
    else:
        assert from_db_time(value) == expected
        assert from_db_time(value).tzinfo is UTC  # type: ignore[union-attr]


def test_round_trip_and_none() -> None:
    moment = datetime(2026, 12, 3, 14, 5, 9, tzinfo=UTC)
    assert from_db_time(to_db_time(moment)) == moment
    assert from_db_time(None) is None
