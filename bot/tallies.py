"""Tallies: the patrol rate, problem figures with the rectification rate, volunteer activity.

These are the numbers chiefs and the office are assessed on, so every one is defined here exactly, and the unit
tests hold each definition at its edges. All dates are local dates in `TIMEZONE`, ranges include both ends.

**Patrol rate** of a set of assignments over [first, last]: Σ min(valid patrols in the period, required count)
÷ Σ required count, over every required period that *ends* inside [first, last] and on whose *last day* the
assignment is active (starts_on ≤ last day, and ends_on empty or ≥ last day). Whoever holds the reach when a
period closes answers for it, and that person's valid finished patrols on that reach started anywhere inside the
period count (period edges are local midnights; a patrol at 23:50 on a Sunday in Shanghai, 15:50 UTC, is that
Sunday's). The rule is the assignment's own, else PATROL_RULES for its level. Extra patrols in a period do not
make up for another period: each period counts at most its required number. Adjacent ranges thus count each
period exactly once, and their done and required add up to the whole range's. With no required period the rate
is None, shown "—": never 0 % or 100 %. A chief's rate sums their assignments, a reach's the assignments on it,
an area's the assignments on its reaches.

**Problems** over [first, last] (the instants from `first` 00:00 to the end of `last`, local):

- new: reported in the range, whatever became of them since (dismissed ones too);
- closed (signed off): closed in the range and still closed now (a problem reopened afterwards was not put right);
  dismissed: dismissed in the range;
- open: reported by the end of the range and, at that moment, neither closed nor dismissed — read from the
  event log, so a problem closed in time and reopened later still counts as it stood;
- overdue: open at the end of the range with a deadline (the one in force then) before `last`;
- due: not dismissed, with a deadline (as it stands now) in [first, last]; closed on time: of those, the
  ones closed now whose closing came before their deadline day ended (closing on the deadline day counts).
  **Rectification rate** = closed on time ÷ due; like the patrol rate it is additive over adjacent ranges, and
  None when nothing fell due. A problem closed late is never counted on time; a reopened problem is due again by
  its fresh deadline;
- median days to close: of the problems closed in the range, the median of (closed − reported), in days.

**Volunteers**: people with the volunteer role, their finished patrols (and how many were valid) started in the
range, and the problems they reported in it.

**Ranking**: small samples are not ranked (a council with one fast-fixed report must not top the table): a group
with fewer than `MIN_RANKED` required periods (patrol rate) or due problems (rectification rate) gets no rank.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from bot.cells import escape_formula
from bot.config import CATEGORIES, PERIODS, Settings
from bot.heap import collector_paused
from bot.i18n import Locales
from bot.periods import Period, period_of, periods_ending_in
from storage import Store
from storage.records import AreaRecord
from storage.tallies import AssignmentCount, ProblemGroup, VolunteerCount, Window

# Fewer required periods (or due problems) than this and a group is shown, but not ranked.
MIN_RANKED = 5
NO_RATE = "—"


@dataclass(frozen=True, slots=True)
class Rate:
    """done ÷ required, over `periods` required periods (or due problems)."""

    done: int = 0
    required: int = 0
    periods: int = 0

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.done + other.done, self.required + other.required, self.periods + other.periods)

    @property
    def value(self) -> Fraction | None:
        return None if self.required == 0 else Fraction(self.done, self.required)

    @property
    def short(self) -> int:
        """Patrols (or problems) missing from the requirement."""
        return self.required - self.done

    @property
    def behind(self) -> bool:
        return self.done < self.required

    @property
    def ranked(self) -> bool:
        return self.required > 0 and self.periods >= MIN_RANKED


def percent(rate: Rate) -> str:
    """The rate as "76.9%", or "—" with nothing required. Never "100.0%" short of complete, never "0.0%" once
    anything is done: rounding must not turn 1,999 of 2,000 into a full mark."""
    value = rate.value
    if value is None:
        return NO_RATE
    shown = round(float(value) * 100, 1)
    if shown >= 100 and rate.done < rate.required:
        shown = 99.9
    elif shown <= 0 < rate.done:
        shown = 0.1
    return f"{shown:.1f}%"


def ranks(rates: Sequence[Rate]) -> list[int | None]:
    """Competition ranks (1, 1, 3, …) by rate, best first; None for small samples, which are not ranked."""
    result: list[int | None] = [None] * len(rates)
    ranked = {i: Fraction(r.done, r.required) for i, r in enumerate(rates) if r.ranked}
    order = sorted(ranked, key=ranked.__getitem__, reverse=True)
    previous: Fraction | None = None
    rank = 0
    for position, index in enumerate(order, start=1):
        value = ranked[index]
        if value != previous:
            rank, previous = position, value
        result[index] = rank
    return result


# -- periods as instants -----------------------------------------------------------------------------------


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant (UTC) a local day begins."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def _window(period: Period, active_on: date, tz: ZoneInfo) -> Window:
    return Window(period.kind, active_on, day_start(period.start, tz), day_start(period.end + timedelta(days=1), tz))


def required_windows(first: date, last: date, tz: ZoneInfo) -> list[Window]:
    """Every period of every kind that ends in [first, last]; an assignment must be active on its last day."""
    return [_window(p, p.end, tz) for kind in PERIODS for p in periods_ending_in(kind, first, last)]


def current_windows(today: date, tz: ZoneInfo) -> list[Window]:
    """The period of each kind that holds `today`; an assignment must be active today."""
    return [_window(period_of(kind, today), today, tz) for kind in PERIODS]


def running_windows(day: date, tz: ZoneInfo) -> list[Window]:
    """The period of each kind that holds `day` and runs on past it, counted up to the end of `day`: where a
    period stood when a week ended. An assignment must be active on `day`."""
    windows = []
    for kind in PERIODS:
        period = period_of(kind, day)
        if period.end > day:
            windows.append(Window(kind, day, day_start(period.start, tz), day_start(day + timedelta(days=1), tz)))
    return windows


def _rules(settings: Settings) -> dict[str, tuple[int, str]]:
    return {level: (rule.count, rule.period) for level, rule in settings.patrol_rules.items()}


# -- what the tallies return -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaRate:
    area_id: int
    code: str
    name_zh: str
    name_en: str
    rate: Rate
    rank: int | None = None

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class ReachRate:
    reach_id: int
    code: str
    name_zh: str
    name_en: str
    area_code: str
    rate: Rate

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class ChiefRate:
    person_id: int
    name: str
    levels: tuple[str, ...]
    area_codes: tuple[str, ...]
    reach_codes: tuple[str, ...]
    rate: Rate


@dataclass(frozen=True, slots=True)
class PatrolTally:
    first: date
    last: date
    overall: Rate
    areas: list[AreaRate]
    reaches: list[ReachRate]
    chiefs: list[ChiefRate]
    assignments: list[AssignmentCount]

    @property
    def behind(self) -> list[ChiefRate]:
        """Chiefs who did fewer patrols than required, the furthest behind first."""
        return sorted((c for c in self.chiefs if c.rate.behind), key=lambda c: (-c.rate.short, c.name, c.person_id))


@dataclass(frozen=True, slots=True)
class ProblemFigures:
    new: int = 0
    closed: int = 0
    dismissed: int = 0
    open: int = 0
    overdue: int = 0
    due: int = 0
    closed_on_time: int = 0

    def __add__(self, other: ProblemFigures) -> ProblemFigures:
        return ProblemFigures(
            self.new + other.new,
            self.closed + other.closed,
            self.dismissed + other.dismissed,
            self.open + other.open,
            self.overdue + other.overdue,
            self.due + other.due,
            self.closed_on_time + other.closed_on_time,
        )

    @property
    def rectification(self) -> Rate:
        """Rectification rate: closed on time ÷ due (each due problem is one sample for ranking)."""
        return Rate(self.closed_on_time, self.due, self.due)

    @property
    def empty(self) -> bool:
        return self == ProblemFigures()


@dataclass(frozen=True, slots=True)
class AreaProblems:
    area_id: int
    code: str
    name_zh: str
    name_en: str
    figures: ProblemFigures
    rank: int | None = None  # by rectification rate

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class ProblemTally:
    first: date
    last: date
    overall: ProblemFigures
    areas: list[AreaProblems]
    categories: dict[str, ProblemFigures]  # in CATEGORIES order, every category
    median_days_to_close: float | None


@dataclass(frozen=True, slots=True)
class Progress:
    """One active assignment's current period: done 0 of 1 this xun, 3 days left."""

    assignment_id: int
    person_id: int
    person_name: str
    reach_id: int
    reach_code: str
    reach_name_zh: str
    reach_name_en: str
    period: Period
    required: int
    done: int  # valid patrols so far, not capped
    days_left: int
    area_id: int = 0

    @property
    def short(self) -> bool:
        return self.done < self.required

    def reach_name(self, language: str) -> str:
        return self.reach_name_zh if language == "zh" else self.reach_name_en


@dataclass(frozen=True, slots=True)
class Stats:
    first: date
    last: date
    area: AreaRecord | None
    patrols: PatrolTally
    problems: ProblemTally
    volunteers: list[VolunteerCount] = field(default_factory=list)


class TallyService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    async def _areas(self, area_id: int | None) -> list[AreaRecord]:
        if area_id is None:
            return await self._store.areas.all()
        area = await self._store.areas.by_id(area_id)
        return [] if area is None else [area]

    async def patrol_rate(
        self, first: date, last: date, *, area_id: int | None = None, person_id: int | None = None
    ) -> PatrolTally:
        """The patrol rate over [first, last] overall, per area (every area, or the one asked for), per reach and
        per chief (those with an assignment active on some day of the range)."""
        counts = await self._counts(first, last, area_id=area_id, person_id=person_id)
        return self._patrol_tally(first, last, counts, await self._areas(area_id), person_id=person_id)

    async def _counts(
        self, first: date, last: date, *, area_id: int | None, person_id: int | None
    ) -> list[AssignmentCount]:
        if first > last:
            raise ValueError(f"range ends before it begins: {first} > {last}")
        return await self._store.tallies.assignment_counts(
            required_windows(first, last, self._settings.tz),
            _rules(self._settings),
            assisted=self._settings.assistant_patrols_count,
            active_from=first,
            active_to=last,
            area_id=area_id,
            person_id=person_id,
        )

    async def patrol_rates_by_area(self, first: date, last: date) -> dict[int, PatrolTally]:
        """`patrol_rate(first, last, area_id=…)` for every area at once, from one query (the weekly job)."""
        counts = await self._counts(first, last, area_id=None, person_id=None)
        by_area: dict[int, list[AssignmentCount]] = {}
        for count in counts:
            by_area.setdefault(count.area_id, []).append(count)
        return {
            area.id: self._patrol_tally(first, last, by_area.get(area.id, []), [area], person_id=None)
            for area in await self._store.areas.all()
        }

    async def overall_rates_by_area(self, first: date, last: date) -> dict[int, Rate]:
        """Each area's overall patrol rate over [first, last] (every area; zeros where nothing was required):
        `patrol_rates_by_area` without the per-reach and per-chief rows, for the week before's comparison."""
        if first > last:
            raise ValueError(f"range ends before it begins: {first} > {last}")
        sums = await self._store.tallies.area_sums(
            required_windows(first, last, self._settings.tz),
            _rules(self._settings),
            assisted=self._settings.assistant_patrols_count,
            active_from=first,
            active_to=last,
        )
        return {area.id: Rate(*sums.get(area.id, (0, 0, 0))) for area in await self._store.areas.all()}

    def _patrol_tally(
        self,
        first: date,
        last: date,
        counts: list[AssignmentCount],
        area_records: list[AreaRecord],
        *,
        person_id: int | None,
    ) -> PatrolTally:
        # Sums as [done, required, periods]: tens of thousands of assignments, so no object per addition.
        by_area: dict[int, list[int]] = {}
        by_reach: dict[int, tuple[AssignmentCount, list[int]]] = {}
        by_chief: dict[int, tuple[list[AssignmentCount], list[int]]] = {}
        total = [0, 0, 0]
        for count in counts:
            targets = (
                total,
                by_area.setdefault(count.area_id, [0, 0, 0]),
                by_reach.setdefault(count.reach_id, (count, [0, 0, 0]))[1],
                by_chief.setdefault(count.person_id, ([], [0, 0, 0]))[1],
            )
            for figures in targets:
                figures[0] += count.done
                figures[1] += count.required
                figures[2] += count.periods
            by_chief[count.person_id][0].append(count)
        overall = Rate(*total)
        areas = [
            AreaRate(a.id, a.code, a.name_zh, a.name_en, Rate(*by_area.get(a.id, (0, 0, 0))))
            for a in area_records
            if person_id is None or a.id in by_area
        ]
        areas = [
            AreaRate(a.area_id, a.code, a.name_zh, a.name_en, a.rate, rank)
            for a, rank in zip(areas, ranks([a.rate for a in areas]), strict=True)
        ]
        reaches = [
            ReachRate(c.reach_id, c.reach_code, c.reach_name_zh, c.reach_name_en, c.area_code, Rate(*sums))
            for c, sums in sorted(by_reach.values(), key=lambda pair: (pair[0].area_code, pair[0].reach_code))
        ]
        chiefs = _chief_rates(by_chief)
        return PatrolTally(first, last, overall, areas, reaches, chiefs, counts)

    async def problems(self, first: date, last: date, *, area_id: int | None = None) -> ProblemTally:
        """Problem figures over [first, last] as the module docstring defines them."""
        groups, start, end = await self._groups(first, last, area_id=area_id)
        median = await self._store.tallies.median_days_to_close(start=start, end=end, area_id=area_id)
        return self._problem_tally(first, last, groups, await self._areas(area_id), median)

    async def problem_groups(
        self, first: date, last: date, *, area_id: int | None = None, split: str | None = None
    ) -> list[ProblemGroup]:
        """The raw problem figures per (area, category), cut further by `split` (`storage.tallies.SPLITS`): the
        assessment report's per-chief and by-reporter figures, which add up to `problems()` exactly."""
        return (await self._groups(first, last, area_id=area_id, split=split))[0]

    async def pressed(self, first: date, last: date, *, area_id: int | None = None) -> list[tuple[int, str, int, int]]:
        """Cases the office pressed in [first, last]: (area id, assignee id or "", problem id, count)."""
        tz = self._settings.tz
        return await self._store.tallies.pressed_counts(
            start=day_start(first, tz), end=day_start(last + timedelta(days=1), tz), area_id=area_id
        )

    async def _groups(
        self, first: date, last: date, *, area_id: int | None, split: str | None = None
    ) -> tuple[list[ProblemGroup], datetime, datetime]:
        """The problem groups over [first, last], and the range as instants."""
        if first > last:
            raise ValueError(f"range ends before it begins: {first} > {last}")
        tz = self._settings.tz
        start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        groups = await self._store.tallies.problem_groups(
            start=start,
            end=end,
            first=first,
            last=last,
            day_ends=[(day, day_start(day + timedelta(days=1), tz)) for day in days],
            area_id=area_id,
            split=split,
        )
        return groups, start, end

    async def problems_by_area(self, first: date, last: date) -> dict[int, ProblemTally]:
        """`problems(first, last, area_id=…)` for every area, the figures from one query (the weekly job)."""
        groups, start, end = await self._groups(first, last, area_id=None)
        by_area: dict[int, list[ProblemGroup]] = {}
        for group in groups:
            by_area.setdefault(group.area_id, []).append(group)
        medians = await self._store.tallies.median_days_to_close_by_area(start=start, end=end)
        return {
            area.id: self._problem_tally(first, last, by_area.get(area.id, []), [area], medians.get(area.id))
            for area in await self._store.areas.all()
        }

    def _problem_tally(
        self,
        first: date,
        last: date,
        groups: list[ProblemGroup],
        area_records: list[AreaRecord],
        median: float | None,
    ) -> ProblemTally:
        overall = ProblemFigures()
        by_area: dict[int, ProblemFigures] = {}
        by_category = {category: ProblemFigures() for category in CATEGORIES}
        for group in groups:
            figures = _figures(group)
            overall += figures
            by_area[group.area_id] = by_area.get(group.area_id, ProblemFigures()) + figures
            by_category[group.category] = by_category.get(group.category, ProblemFigures()) + figures
        rows = [
            AreaProblems(a.id, a.code, a.name_zh, a.name_en, by_area.get(a.id, ProblemFigures())) for a in area_records
        ]
        rows = [
            AreaProblems(r.area_id, r.code, r.name_zh, r.name_en, r.figures, rank)
            for r, rank in zip(rows, ranks([r.figures.rectification for r in rows]), strict=True)
        ]
        return ProblemTally(first, last, overall, rows, by_category, median)

    async def volunteers(self, first: date, last: date, *, area_id: int | None = None) -> list[VolunteerCount]:
        tz = self._settings.tz
        return await self._store.tallies.volunteers(
            start=day_start(first, tz), end=day_start(last + timedelta(days=1), tz), area_id=area_id
        )

    async def volunteers_by_area(self, first: date, last: date) -> dict[int, list[VolunteerCount]]:
        """`volunteers(first, last, area_id=…)` for every area with any, from one query."""
        tz = self._settings.tz
        return await self._store.tallies.volunteers_by_area(
            start=day_start(first, tz), end=day_start(last + timedelta(days=1), tz)
        )

    async def progress(
        self, today: date, *, area_id: int | None = None, person_id: int | None = None
    ) -> list[Progress]:
        """Each assignment active today: its current period, the patrols required and done so far, days left.
        The one place current progress is counted: /mypatrols, the reminders and the digests all read it."""
        counts = await self._store.tallies.assignment_counts(
            current_windows(today, self._settings.tz),
            _rules(self._settings),
            assisted=self._settings.assistant_patrols_count,
            active_from=today,
            active_to=today,
            area_id=area_id,
            person_id=person_id,
        )
        result = []
        for c in counts:
            if c.periods == 0:
                continue
            period = period_of(c.kind, today)
            result.append(_progress(c, period, period.days_left(today)))
        return result

    async def running(self, day: date, *, area_id: int | None = None) -> list[Progress]:
        """Each assignment active on `day` whose period runs on past it: the patrols done from the period's start
        to the end of `day`, and the days left after it. The weekly summary reads it for the periods its week
        saw begin but not end (a monthly reach in most weeks), which the patrol rate cannot count yet."""
        counts = await self._store.tallies.assignment_counts(
            running_windows(day, self._settings.tz),
            _rules(self._settings),
            assisted=self._settings.assistant_patrols_count,
            active_from=day,
            active_to=day,
            area_id=area_id,
            person_id=None,
            windowed_only=True,
        )
        periods = {kind: period_of(kind, day) for kind in PERIODS}
        result = []
        for c in counts:
            if c.periods == 0:
                continue
            period = periods[c.kind]
            result.append(_progress(c, period, period.days_left(day + timedelta(days=1)), area_id=c.area_id))
        return result

    async def stats(self, first: date, last: date, *, area_id: int | None = None) -> Stats:
        """Every figure over [first, last]; the collector paused meanwhile (bot/heap.py): a province's year is
        hundreds of thousands of lasting rows. The three parts are asked at once: a database server works on one
        while this process turns another's rows into figures."""
        with collector_paused():
            area = None if area_id is None else await self._store.areas.by_id(area_id)
            patrols, problems, volunteers = await asyncio.gather(
                self.patrol_rate(first, last, area_id=area_id),
                self.problems(first, last, area_id=area_id),
                self.volunteers(first, last, area_id=area_id),
            )
            return Stats(first=first, last=last, area=area, patrols=patrols, problems=problems, volunteers=volunteers)


def _figures(group: ProblemGroup) -> ProblemFigures:
    return ProblemFigures(
        group.new, group.closed, group.dismissed, group.open, group.overdue, group.due, group.closed_on_time
    )


def parse_day(text: str) -> date | None:
    """A local date written YYYY-MM-DD; None when it is not one (2025-3-1, 20250301 and 2025-02-30 are not)."""
    text = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# -- output for the command line (`riverbot stats`) ---------------------------------------------------------


def display_width(text: str) -> int:
    """Columns a terminal gives the text: East Asian wide and full-width characters take two."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def aligned(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """A plain-text table: columns two spaces apart, padded by display width, numbers to the right."""
    table = [list(row) for row in rows]
    return list(_aligned(header, lambda: table, right))


def _aligned(
    header: Sequence[str], rows: Callable[[], Iterable[Sequence[str]]], right: Sequence[bool]
) -> Iterator[str]:
    """`aligned`, a line at a time, in two passes over `rows()`: the first finds the columns' widths, the second
    makes the lines. A province's stats have 200,000 rows, which are never all held as cells (or lines) at once;
    each cell's display width is kept from the first pass, in an array of ints."""
    columns = len(header)
    cells_width = array("I")
    widths = [display_width(cell) for cell in header]
    for row in rows():
        for i, cell in enumerate(row):
            width = display_width(cell)
            cells_width.append(width)
            widths[i] = max(widths[i], width)

    def line(row: Sequence[str], own: Sequence[int]) -> str:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - own[i])
            cells.append(pad + cell if right[i] else cell + pad)
        return "  ".join(cells).rstrip()

    yield line(header, [display_width(cell) for cell in header])
    at = 0
    for row in rows():
        yield line(row, cells_width[at : at + columns])
        at += columns


def _days(value: float | None) -> str:
    return NO_RATE if value is None else f"{value:.1f}"


def _rank(rank: int | None) -> str:
    return NO_RATE if rank is None else str(rank)


def _ratio(rate: Rate) -> float | None:
    value = rate.value
    return None if value is None else round(float(value), 4)


def _short_list(codes: Sequence[str], limit: int = 3) -> str:
    return ",".join(codes) if len(codes) <= limit else ",".join(codes[:limit]) + ",…"


class StatsReport:
    """`riverbot stats` as a table, JSON or CSV, in the office's language."""

    def __init__(self, stats: Stats, locales: Locales, language: str) -> None:
        self.stats = stats
        self._locales = locales
        self.language = language

    def say(self, key: str, **params: object) -> str:
        return self._locales.plain(self.language, f"stats.{key}", **params)

    def _level(self, level: str) -> str:
        return self.say(f"level.{level}")

    def _scope(self) -> str:
        area = self.stats.area
        return self.say("all_areas") if area is None else f"{area.code} {area.name(self.language)}"

    # -- table

    def table(self) -> str:
        """The whole table as one string (ending in a newline); `table_chunks` writes it out without holding it."""
        return "".join(self.table_chunks())

    def table_chunks(self, lines: int = 5000) -> Iterator[str]:
        """The table a few thousand lines at a time, each chunk ending in a newline: `riverbot stats` writes a
        province's 200,000 lines out as they come."""
        batch: list[str] = []
        for line in self._table_lines():
            batch.append(line)
            if len(batch) == lines:
                yield "\n".join(batch) + "\n"
                batch = []
        if batch:
            yield "\n".join(batch) + "\n"

    def _table_lines(self) -> Iterator[str]:
        s, p, q = self.stats, self.stats.patrols, self.stats.problems
        say, language = self.say, self.language

        def area_rates() -> Iterator[list[str]]:
            for a in p.areas:
                yield [a.code, a.name(language), str(a.rate.done), str(a.rate.required), percent(a.rate), _rank(a.rank)]

        def reach_rates() -> Iterator[list[str]]:
            for r in p.reaches:
                yield [r.code, r.name(language), r.area_code, str(r.rate.done), str(r.rate.required), percent(r.rate)]

        def chief_rates() -> Iterator[list[str]]:
            for c in p.chiefs:
                yield [
                    c.name,
                    "/".join(self._level(level) for level in c.levels),
                    ",".join(c.area_codes),
                    _short_list(c.reach_codes),
                    str(c.rate.done),
                    str(c.rate.required),
                    percent(c.rate),
                    str(c.rate.short) if c.rate.behind else "",
                ]

        def problem_cells(f: ProblemFigures) -> list[str]:
            return [
                str(f.new),
                str(f.closed),
                str(f.open),
                str(f.overdue),
                str(f.due),
                str(f.closed_on_time),
                percent(f.rectification),
            ]

        def area_problems() -> Iterator[list[str]]:
            for a in q.areas:
                yield [a.code, a.name(language), *problem_cells(a.figures), _rank(a.rank)]

        categories = [(c, f) for c, f in q.categories.items() if not f.empty]

        def category_problems() -> Iterator[list[str]]:
            for c, f in categories:
                yield [self._locales.plain(language, f"category.{c}"), *problem_cells(f)]

        def volunteers() -> Iterator[list[str]]:
            for v in s.volunteers:
                yield [v.name, str(v.patrols), str(v.valid_patrols), str(v.reports)]

        yield say("title", first=s.first.isoformat(), last=s.last.isoformat(), scope=self._scope())
        yield ""
        yield say("patrol_overall", done=p.overall.done, required=p.overall.required, rate=percent(p.overall))
        yield ""
        yield say("by_area")
        columns = ["col.area", "col.name", "col.done", "col.required", "col.rate", "col.rank"]
        yield from _aligned([say(c) for c in columns], area_rates, [False, False, True, True, True, True])
        yield say("not_ranked", min=MIN_RANKED)
        yield ""
        yield say("by_reach")
        if p.reaches:
            columns = ["col.reach", "col.name", "col.area", "col.done", "col.required", "col.rate"]
            yield from _aligned([say(c) for c in columns], reach_rates, [False, False, False, True, True, True])
        else:
            yield say("none")
        yield ""
        yield say("by_chief")
        if p.chiefs:
            columns = [
                "col.chief",
                "col.level",
                "col.area",
                "col.reaches",
                "col.done",
                "col.required",
                "col.rate",
                "col.short",
            ]
            yield from _aligned([say(c) for c in columns], chief_rates, [False] * 4 + [True] * 4)
            yield say("behind_count", count=len(p.behind))
        else:
            yield say("none")
        o = q.overall
        yield ""
        yield say("problems_overall", new=o.new, closed=o.closed, dismissed=o.dismissed, open=o.open, overdue=o.overdue)
        yield say("rectification_overall", done=o.closed_on_time, due=o.due, rate=percent(o.rectification))
        yield say("median", days=_days(q.median_days_to_close))
        problem_header = [
            say(c) for c in ("col.new", "col.closed", "col.open", "col.overdue", "col.due", "col.on_time")
        ] + [say("col.rectification")]
        yield ""
        yield say("problems_by_area")
        header = [say("col.area"), say("col.name"), *problem_header, say("col.rank")]
        yield from _aligned(header, area_problems, [False, False, *[True] * 8])
        yield ""
        yield say("problems_by_category")
        if categories:
            yield from _aligned([say("col.category"), *problem_header], category_problems, [False, *[True] * 7])
        else:
            yield say("none")
        yield ""
        yield say("by_volunteer")
        if s.volunteers:
            columns = ["col.volunteer", "col.patrols", "col.valid_patrols", "col.reports"]
            yield from _aligned([say(c) for c in columns], volunteers, [False, True, True, True])
        else:
            yield say("none")

    # -- JSON

    def as_json(self) -> str:
        s, p, q = self.stats, self.stats.patrols, self.stats.problems

        def rate(r: Rate) -> dict[str, Any]:
            return {"done": r.done, "required": r.required, "periods": r.periods, "rate": _ratio(r)}

        def figures(f: ProblemFigures) -> dict[str, Any]:
            return {
                "new": f.new,
                "closed": f.closed,
                "dismissed": f.dismissed,
                "open": f.open,
                "overdue": f.overdue,
                "due": f.due,
                "closed_on_time": f.closed_on_time,
                "rectification_rate": _ratio(f.rectification),
            }

        data = {
            "from": s.first.isoformat(),
            "to": s.last.isoformat(),
            "area": None if s.area is None else s.area.code,
            "min_ranked": MIN_RANKED,
            "patrol_rate": rate(p.overall),
            "areas": [{"code": a.code, "name": a.name(self.language), **rate(a.rate), "rank": a.rank} for a in p.areas],
            "reaches": [
                {"code": r.code, "name": r.name(self.language), "area": r.area_code, **rate(r.rate)} for r in p.reaches
            ],
            "chiefs": [
                {
                    "id": c.person_id,
                    "name": c.name,
                    "levels": list(c.levels),
                    "areas": list(c.area_codes),
                    "reaches": list(c.reach_codes),
                    **rate(c.rate),
                    "short": c.rate.short,
                }
                for c in p.chiefs
            ],
            "problems": {
                **figures(q.overall),
                "median_days_to_close": None if q.median_days_to_close is None else round(q.median_days_to_close, 2),
                "areas": [
                    {"code": a.code, "name": a.name(self.language), **figures(a.figures), "rank": a.rank}
                    for a in q.areas
                ],
                "categories": [{"category": c, **figures(f)} for c, f in q.categories.items()],
            },
            "volunteers": [
                {
                    "id": v.person_id,
                    "name": v.name,
                    "patrols": v.patrols,
                    "valid_patrols": v.valid_patrols,
                    "reports": v.reports,
                }
                for v in s.volunteers
            ],
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    # -- CSV

    CSV_COLUMNS = (
        "scope",
        "code",
        "name",
        "area",
        "level",
        "done",
        "required",
        "rate",
        "rank",
        "new",
        "closed",
        "dismissed",
        "open",
        "overdue",
        "due",
        "on_time",
        "rectification",
        "rectification_rank",
        "median_days",
        "patrols",
        "valid_patrols",
        "reports",
    )

    def as_csv(self) -> bytes:
        """One table, one header, a `scope` column telling what each row is (overall, area, reach, chief,
        category, volunteer), so Excel can filter it; UTF-8 with a BOM, which Excel on Chinese Windows needs."""
        s, p, q = self.stats, self.stats.patrols, self.stats.problems
        problem_by_area = {a.area_id: a for a in q.areas}
        rows: list[dict[str, str]] = []

        def patrol(r: Rate) -> dict[str, str]:
            return {"done": str(r.done), "required": str(r.required), "rate": percent(r)}

        def problems(f: ProblemFigures) -> dict[str, str]:
            return {
                "new": str(f.new),
                "closed": str(f.closed),
                "dismissed": str(f.dismissed),
                "open": str(f.open),
                "overdue": str(f.overdue),
                "due": str(f.due),
                "on_time": str(f.closed_on_time),
                "rectification": percent(f.rectification),
            }

        rows.append(
            {
                "scope": self.say("scope.overall"),
                "code": "" if s.area is None else s.area.code,
                "name": self._scope(),
                **patrol(p.overall),
                **problems(q.overall),
                "median_days": _days(q.median_days_to_close),
            }
        )
        for a in p.areas:
            row = {
                "scope": self.say("scope.area"),
                "code": a.code,
                "name": a.name(self.language),
                **patrol(a.rate),
                "rank": _rank(a.rank),
            }
            found = problem_by_area.get(a.area_id)
            if found is not None:
                row |= problems(found.figures) | {"rectification_rank": _rank(found.rank)}
            rows.append(row)
        rows += [
            {
                "scope": self.say("scope.reach"),
                "code": r.code,
                "name": r.name(self.language),
                "area": r.area_code,
                **patrol(r.rate),
            }
            for r in p.reaches
        ]
        rows += [
            {
                "scope": self.say("scope.chief"),
                "code": str(c.person_id),
                "name": c.name,
                "area": ",".join(c.area_codes),
                "level": "/".join(self._level(level) for level in c.levels),
                **patrol(c.rate),
            }
            for c in p.chiefs
        ]
        rows += [
            {
                "scope": self.say("scope.category"),
                "code": c,
                "name": self._locales.plain(self.language, f"category.{c}"),
                **problems(f),
            }
            for c, f in q.categories.items()
        ]
        rows += [
            {
                "scope": self.say("scope.volunteer"),
                "code": str(v.person_id),
                "name": v.name,
                "patrols": str(v.patrols),
                "valid_patrols": str(v.valid_patrols),
                "reports": str(v.reports),
            }
            for v in s.volunteers
        ]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([self.say(f"col.{c}") for c in self.CSV_COLUMNS])
        for row in rows:
            writer.writerow([escape_formula(row.get(c, "")) for c in self.CSV_COLUMNS])
        return ("\ufeff" + out.getvalue()).encode("utf-8")


def _progress(count: AssignmentCount, period: Period, days_left: int, *, area_id: int = 0) -> Progress:
    """An assignment's figures over its period as /mypatrols and the summaries show them."""
    return Progress(
        assignment_id=count.assignment_id,
        person_id=count.person_id,
        person_name=count.person_name,
        reach_id=count.reach_id,
        reach_code=count.reach_code,
        reach_name_zh=count.reach_name_zh,
        reach_name_en=count.reach_name_en,
        period=period,
        required=count.count,
        done=count.patrols,
        days_left=days_left,
        area_id=area_id,
    )


def _chief_rates(by_chief: dict[int, tuple[list[AssignmentCount], list[int]]]) -> list[ChiefRate]:
    """Each chief's rate from their assignments' rows and sums ([done, required, periods]), by area then name."""
    # A province has 100,000 chiefs, most of them at one level in one area: equal tuples kept once.
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}

    def one(codes: tuple[str, ...]) -> tuple[str, ...]:
        return shared.setdefault(codes, codes)

    chiefs = [
        ChiefRate(
            person_id=person,
            name=held[0].person_name,
            levels=one(tuple(dict.fromkeys(c.level for c in held))),
            area_codes=one(tuple(sorted({c.area_code for c in held}))),
            reach_codes=tuple(sorted({c.reach_code for c in held})),
            rate=Rate(*sums),
        )
        for person, (held, sums) in by_chief.items()
    ]
    chiefs.sort(key=lambda c: (c.area_codes, c.name, c.person_id))
    return chiefs


def scoped_chiefs(tally: PatrolTally, areas: frozenset[int] | None) -> list[ChiefRate]:
    """The tally's chiefs as a town's office (`areas`) reports them: rebuilt from their assignments in those
    areas only, so a chief who also answers for a reach elsewhere shows neither that reach nor its patrols
    (None: the county, the tally's own rows)."""
    if areas is None:
        return tally.chiefs
    by_chief: dict[int, tuple[list[AssignmentCount], list[int]]] = {}
    for count in tally.assignments:
        if count.area_id in areas:
            held, sums = by_chief.setdefault(count.person_id, ([], [0, 0, 0]))
            held.append(count)
            sums[0] += count.done
            sums[1] += count.required
            sums[2] += count.periods
    return _chief_rates(by_chief)
