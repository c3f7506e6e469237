"""Calendar periods patrols are required in: week (Mon–Sun), xun (1–10, 11–20, 21–end), month, quarter.

All in local dates: a patrol at 23:50 on a Sunday in Shanghai belongs to that Sunday's week, whatever UTC says.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import PatrolRule, Settings


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: date  # inclusive
    end: date  # inclusive

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def days_left(self, today: date) -> int:
        """Days from today to the last day, both counted: 1 on the last day itself."""
        return (self.end - today).days + 1

    def next(self) -> Period:
        return period_of(self.kind, self.end + timedelta(days=1))


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def period_of(kind: str, day: date) -> Period:
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=6))
    if kind == "xun":
        if day.day <= 10:
            return Period(kind, day.replace(day=1), day.replace(day=10))
        if day.day <= 20:
            return Period(kind, day.replace(day=11), day.replace(day=20))
        return Period(kind, day.replace(day=21), _month_end(day.year, day.month))
    if kind == "month":
        return Period(kind, day.replace(day=1), _month_end(day.year, day.month))
    if kind == "quarter":
        first_month = (day.month - 1) // 3 * 3 + 1
        return Period(kind, date(day.year, first_month, 1), _month_end(day.year, first_month + 2))
    raise ValueError(f"unknown period {kind!r}")


def periods_ending_in(kind: str, first: date, last: date) -> list[Period]:
    """Every period whose last day falls in [first, last], in order."""
    found: list[Period] = []
    period = period_of(kind, first)
    if period.end < first:  # cannot happen, but keeps the loop honest
        period = period.next()
    while period.end <= last:
        found.append(period)
        period = period.next()
    return found


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def rule_for(settings: Settings, level: str, count: int | None = None, period: str | None = None) -> PatrolRule:
    """An assignment's own rule when it has one, else its level's from PATROL_RULES."""
    if count is not None and period is not None:
        return PatrolRule(count, period)
    return settings.patrol_rules[level]


def reminder_due(period: Period, today: date, days_before: int) -> bool:
    """Remind from `days_before` days ahead of the period's last day, through that day: a bot that was down on
    the exact day still reminds the next morning."""
    return 0 <= (period.end - today).days <= days_before
