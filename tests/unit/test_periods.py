"""Calendar periods: weeks Mon–Sun, 旬 (1–10, 11–20, 21–end), months and quarters, and when to remind.

Weekdays by hand: 2024-05-01 was a Wednesday, so 2024-05-06 and 2024-05-13 are Mondays and 2024-05-12 a
Sunday. 2024 and 2028 are leap years (divisible by 4, not by 100); 2023 is not.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.periods import Period, local_date, period_of, periods_ending_in, reminder_due

SHANGHAI = ZoneInfo("Asia/Shanghai")
KINDS = ("week", "xun", "month", "quarter")


def test_week_runs_monday_to_sunday() -> None:
    sunday = date(2024, 5, 12)
    assert period_of("week", sunday) == Period("week", date(2024, 5, 6), sunday)
    assert period_of("week", date(2024, 5, 6)) == Period("week", date(2024, 5, 6), sunday)
    monday = date(2024, 5, 13)
    assert period_of("week", monday) == Period("week", monday, date(2024, 5, 19))
    assert period_of("week", sunday).next() == period_of("week", monday)
    # Across the year: 2024-12-30 is a Monday (May 13 + 231 days = 33 weeks), so its week ends 2025-01-05.
    assert period_of("week", date(2025, 1, 1)) == Period("week", date(2024, 12, 30), date(2025, 1, 5))


def test_a_patrol_late_on_sunday_in_shanghai_belongs_to_that_week() -> None:
    # 15:50 UTC on Sunday 2024-05-12 is 23:50 in Shanghai (UTC+8): still Sunday. 16:10 UTC is 00:10 Monday.
    late_sunday = datetime(2024, 5, 12, 15, 50, tzinfo=UTC)
    assert local_date(late_sunday, SHANGHAI) == date(2024, 5, 12)
    assert period_of("week", local_date(late_sunday, SHANGHAI)).end == date(2024, 5, 12)
    early_monday = datetime(2024, 5, 12, 16, 10, tzinfo=UTC)
    assert local_date(early_monday, SHANGHAI) == date(2024, 5, 13)
    assert period_of("week", local_date(early_monday, SHANGHAI)).start == date(2024, 5, 13)


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2024, 5, 1), date(2024, 5, 1), date(2024, 5, 10)),
        (date(2024, 5, 10), date(2024, 5, 1), date(2024, 5, 10)),
        (date(2024, 5, 11), date(2024, 5, 11), date(2024, 5, 20)),
        (date(2024, 5, 20), date(2024, 5, 11), date(2024, 5, 20)),
        (date(2024, 5, 21), date(2024, 5, 21), date(2024, 5, 31)),  # 31-day month: the last 旬 has 11 days
        (date(2024, 5, 31), date(2024, 5, 21), date(2024, 5, 31)),
        (date(2024, 4, 30), date(2024, 4, 21), date(2024, 4, 30)),  # 30 days
        (date(2023, 2, 21), date(2023, 2, 21), date(2023, 2, 28)),  # 28 days: 8 days
        (date(2023, 2, 28), date(2023, 2, 21), date(2023, 2, 28)),
        (date(2028, 2, 29), date(2028, 2, 21), date(2028, 2, 29)),  # 29 days (leap year): 9 days
        (date(2028, 2, 28), date(2028, 2, 21), date(2028, 2, 29)),
    ],
)
def test_xun_boundaries(day: date, start: date, end: date) -> None:
    assert period_of("xun", day) == Period("xun", start, end)


def test_xun_next_crosses_month_and_year() -> None:
    assert period_of("xun", date(2024, 5, 10)).next() == Period("xun", date(2024, 5, 11), date(2024, 5, 20))
    assert period_of("xun", date(2024, 5, 20)).next() == Period("xun", date(2024, 5, 21), date(2024, 5, 31))
    assert period_of("xun", date(2023, 2, 25)).next() == Period("xun", date(2023, 3, 1), date(2023, 3, 10))
    assert period_of("xun", date(2028, 2, 29)).next() == Period("xun", date(2028, 3, 1), date(2028, 3, 10))
    assert period_of("xun", date(2024, 12, 31)).next() == Period("xun", date(2025, 1, 1), date(2025, 1, 10))


@pytest.mark.parametrize(
    ("day", "end"),
    [
        (date(2023, 2, 1), date(2023, 2, 28)),
        (date(2028, 2, 15), date(2028, 2, 29)),
        (date(2024, 4, 30), date(2024, 4, 30)),
        (date(2024, 5, 1), date(2024, 5, 31)),
        (date(2024, 12, 31), date(2024, 12, 31)),
    ],
)
def test_month(day: date, end: date) -> None:
    assert period_of("month", day) == Period("month", day.replace(day=1), end)


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2024, 1, 1), date(2024, 1, 1), date(2024, 3, 31)),
        (date(2024, 3, 31), date(2024, 1, 1), date(2024, 3, 31)),
        (date(2024, 4, 1), date(2024, 4, 1), date(2024, 6, 30)),
        (date(2024, 6, 30), date(2024, 4, 1), date(2024, 6, 30)),
        (date(2024, 7, 1), date(2024, 7, 1), date(2024, 9, 30)),
        (date(2024, 9, 30), date(2024, 7, 1), date(2024, 9, 30)),
        (date(2024, 10, 1), date(2024, 10, 1), date(2024, 12, 31)),
        (date(2024, 12, 31), date(2024, 10, 1), date(2024, 12, 31)),
    ],
)
def test_quarter_boundaries(day: date, start: date, end: date) -> None:
    assert period_of("quarter", day) == Period("quarter", start, end)


def test_next_rolls_over_the_year() -> None:
    q4 = period_of("quarter", date(2024, 11, 15))
    assert q4.next() == Period("quarter", date(2025, 1, 1), date(2025, 3, 31))
    assert q4.next().next() == Period("quarter", date(2025, 4, 1), date(2025, 6, 30))
    assert period_of("month", date(2024, 12, 5)).next() == Period("month", date(2025, 1, 1), date(2025, 1, 31))


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        period_of("fortnight", date(2024, 5, 1))


def test_contains_and_days_left() -> None:
    last_xun = period_of("xun", date(2024, 5, 25))  # 21–31 May
    assert last_xun.contains(date(2024, 5, 21))
    assert last_xun.contains(date(2024, 5, 31))
    assert not last_xun.contains(date(2024, 5, 20))
    assert not last_xun.contains(date(2024, 6, 1))
    # Both the day itself and the last day count: 31 − 31 + 1 = 1, 31 − 29 + 1 = 3, 31 − 21 + 1 = 11.
    assert last_xun.days_left(date(2024, 5, 31)) == 1
    assert last_xun.days_left(date(2024, 5, 29)) == 3
    assert last_xun.days_left(date(2024, 5, 21)) == 11
    # A leap February's last 旬: 29 − 27 + 1 = 3.
    assert period_of("xun", date(2028, 2, 27)).days_left(date(2028, 2, 27)) == 3


def test_periods_ending_in_counts_both_ends() -> None:
    # May 2024 holds three 旬, ending on the 10th, 20th and 31st.
    assert [p.end for p in periods_ending_in("xun", date(2024, 5, 1), date(2024, 5, 31))] == [
        date(2024, 5, 10),
        date(2024, 5, 20),
        date(2024, 5, 31),
    ]
    # A range that starts on one period's last day and ends on another's holds both.
    assert periods_ending_in("xun", date(2024, 5, 10), date(2024, 5, 20)) == [
        Period("xun", date(2024, 5, 1), date(2024, 5, 10)),
        Period("xun", date(2024, 5, 11), date(2024, 5, 20)),
    ]
    # One day past the first end and one short of the next: none.
    assert periods_ending_in("xun", date(2024, 5, 11), date(2024, 5, 19)) == []
    # A period that began before the range but ends inside it counts.
    assert periods_ending_in("quarter", date(2024, 3, 31), date(2024, 3, 31)) == [
        Period("quarter", date(2024, 1, 1), date(2024, 3, 31))
    ]
    # The year 2024 ends 12 months, 4 quarters, 36 旬 and 52 weeks (2024-01-01 was a Monday, so the 52nd week
    # ends Sunday 2024-12-29 and the 53rd, 12-30 to 2025-01-05, ends in 2025).
    counts = {kind: len(periods_ending_in(kind, date(2024, 1, 1), date(2024, 12, 31))) for kind in KINDS}
    assert counts == {"week": 52, "xun": 36, "month": 12, "quarter": 4}
    # An empty range (last before first) has none.
    assert periods_ending_in("month", date(2024, 5, 31), date(2024, 5, 30)) == []


def test_consecutive_ranges_count_each_period_exactly_once() -> None:
    # Split 2024 (plus the first week of 2025) at every day: the two halves together are the whole, with no period
    # counted twice or lost, whatever the split — as a daily job covering [last run + 1, today] needs.
    first, last = date(2024, 1, 1), date(2025, 1, 7)
    for kind in KINDS:
        whole = periods_ending_in(kind, first, last)
        assert len(set(whole)) == len(whole)
        split = first
        while split < last:
            halves = periods_ending_in(kind, first, split) + periods_ending_in(kind, split + timedelta(days=1), last)
            assert halves == whole, (kind, split)
            split += timedelta(days=1)
    # Day by day, every 旬 of the year is found once: 36 of them, plus none in 2025-01-01..07.
    found = [
        p
        for offset in range(372)
        for p in periods_ending_in("xun", first + timedelta(days=offset), first + timedelta(days=offset))
    ]
    assert len(found) == 36 == len(set(found))


@pytest.mark.parametrize(
    ("kind", "end"),
    [
        ("xun", date(2024, 5, 10)),
        ("xun", date(2024, 5, 20)),
        ("xun", date(2023, 2, 28)),
        ("xun", date(2028, 2, 29)),
        ("month", date(2024, 4, 30)),
        ("month", date(2024, 5, 31)),
        ("month", date(2028, 2, 29)),
        ("quarter", date(2024, 3, 31)),
        ("quarter", date(2024, 6, 30)),
        ("quarter", date(2024, 9, 30)),
        ("quarter", date(2024, 12, 31)),
        ("week", date(2024, 5, 12)),
    ],
)
def test_reminder_fires_the_last_three_days(kind: str, end: date) -> None:
    # days_before = 2: on end − 2, end − 1 and end itself; not on end − 3; not once the period is over.
    period = period_of(kind, end)
    assert period.end == end
    day = timedelta(days=1)
    assert not reminder_due(period, end - 3 * day, 2)
    assert reminder_due(period, end - 2 * day, 2)
    assert reminder_due(period, end - day, 2)
    assert reminder_due(period, end, 2)
    assert not reminder_due(period, end + day, 2)
    # As the daily job asks it — of the period today is in — the day after the end belongs to the next period,
    # which is not due yet (every period is at least 7 days long).
    assert [d for d in range(-5, 3) if reminder_due(period_of(kind, end + d * day), end + d * day, 2)] == [-2, -1, 0]


def test_reminder_days_before_one_and_seven() -> None:
    period = period_of("month", date(2024, 2, 10))  # February 2024: 29 days
    assert [d for d in range(20, 30) if reminder_due(period, date(2024, 2, d), 1)] == [28, 29]
    assert [d for d in range(20, 30) if reminder_due(period, date(2024, 2, d), 7)] == list(range(22, 30))
