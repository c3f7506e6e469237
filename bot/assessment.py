"""The assessment report (kaohe tongbao) the office sends upward every month, quarter and half-year.

Per area and per chief: required and valid patrols, the patrol rate, problems found (by chiefs, by volunteers),
due and closed on time, the rectification rate, overdue with days, and cases pressed (events `pressed`); ranked
as a red and black list; and the problems by category, the "four disorders" first. As XLSX or PDF, print-ready
(A4 landscape, header rows on every page, names next to codes).

Every figure comes from `bot.tallies` (the patrol rate and the problem figures of `riverbot stats`, with their
definitions), and the ranking from `bot.rankings` (the rule of the weekly digest): nothing is counted a second
way, so the report and `riverbot stats` for the same range agree (tested). The per-chief and by-reporter figures
are the same problem figures cut finer (`TallyService.problem_groups(split=...)`), so they add up.

A chief's problems are those assigned to them now; the problems they found are those they reported. Reporters
count as chiefs when they hold the chief role, else as volunteers when they hold that one.

`areas` (the office's scope; None: the whole county) keeps the areas inside it and the chiefs with a reach
there; the totals are then the sums over those areas.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from bot.cells import escape_formula
from bot.config import CATEGORIES, LEVELS, Settings
from bot.i18n import Locales
from bot.pdf import Column, Document, PdfError
from bot.rankings import MARKED, Mark, Town, rank_towns
from bot.tallies import MIN_RANKED, ProblemFigures, Rate, TallyService, day_start, percent, scoped_chiefs
from storage import Store
from storage.assistants import walked_counts
from storage.records import AreaRecord
from storage.tallies import ProblemGroup

Format = Literal["xlsx", "pdf"]
FORMATS: tuple[Format, ...] = ("xlsx", "pdf")
FOUR_DISORDERS = CATEGORIES[:4]  # occupation, extraction, dumping, building: counted first, as the county does
# The bot's buttons: each names a period relative to today.
PRESETS = ("last_month", "this_month", "last_quarter", "this_quarter", "last_half", "this_half", "last_year")


class AssessmentError(Exception):
    """Input the report cannot be made from; `key` (under `assessment.error.`) and `params` say why to a person."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# -- periods -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """A calendar month, quarter, half-year or year; `last` is cut at today for one still running."""

    kind: Literal["month", "quarter", "half", "year"]
    year: int
    number: int  # the month, quarter or half (1, 2); 0 for a year
    first: date
    last: date

    @property
    def text(self) -> str:
        """As typed: 2026-11, 2026-Q4, 2026-H1, 2026."""
        if self.kind == "month":
            return f"{self.year}-{self.number:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        if self.kind == "half":
            return f"{self.year}-H{self.number}"
        return str(self.year)

    def label(self, locales: Locales, lang: str) -> str:
        key = f"half{self.number}" if self.kind == "half" else self.kind
        return locales.plain(lang, f"assessment.period.{key}", year=self.year, number=self.number)


_PERIOD = re.compile(r"(\d{4})(?:-(?:(\d{1,2})|[Qq]([1-4])|[Hh]([12])))?")


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def parse_period(text: str, today: date) -> ReportPeriod | None:
    """2026-11, 2026-Q4, 2026-H1 or 2026; None when it is none of them, or begins after today. A period still
    running ends today: figures for days to come would count deadlines not yet reached as missed."""
    found = _PERIOD.fullmatch(text.strip())
    if found is None:
        return None
    year = int(found[1])
    if not 2000 <= year <= 2100:
        return None
    period: ReportPeriod
    if found[2] is not None:
        month = int(found[2])
        if not 1 <= month <= 12:
            return None
        period = ReportPeriod("month", year, month, date(year, month, 1), _month_end(year, month))
    elif found[3] is not None:
        quarter = int(found[3])
        start = 3 * quarter - 2
        period = ReportPeriod("quarter", year, quarter, date(year, start, 1), _month_end(year, start + 2))
    elif found[4] is not None:
        half = int(found[4])
        start = 6 * half - 5
        period = ReportPeriod("half", year, half, date(year, start, 1), _month_end(year, start + 5))
    else:
        period = ReportPeriod("year", year, 0, date(year, 1, 1), date(year, 12, 31))
    if period.first > today:
        return None
    if period.last > today:
        period = ReportPeriod(period.kind, period.year, period.number, period.first, today)
    return period


def preset(name: str, today: date) -> ReportPeriod:
    """A button's period (`PRESETS`) as of today."""
    year, month = today.year, today.month
    quarter, half = (month - 1) // 3 + 1, (month - 1) // 6 + 1
    texts = {
        "this_month": f"{year}-{month:02d}",
        "last_month": f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}",
        "this_quarter": f"{year}-Q{quarter}",
        "last_quarter": f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}",
        "this_half": f"{year}-H{half}",
        "last_half": f"{year - 1}-H2" if half == 1 else f"{year}-H1",
        "last_year": str(year - 1),
    }
    found = parse_period(texts[name], today)
    assert found is not None
    return found


# -- what the report holds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problems:
    """One row's problem figures: the tallies' own, plus who found them, the longest overdue and pressed cases."""

    figures: ProblemFigures = field(default_factory=ProblemFigures)
    found_by_chiefs: int = 0
    found_by_volunteers: int = 0
    overdue_days_max: int = 0
    pressed: int = 0


@dataclass(frozen=True, slots=True)
class AreaRow:
    area_id: int
    code: str
    name: str
    rate: Rate
    problems: Problems
    rank: int | None = None
    mark: Mark = ""


@dataclass(frozen=True, slots=True)
class ChiefRow:
    person_id: int
    name: str
    levels: tuple[str, ...]
    areas: tuple[tuple[str, str], ...]  # (code, name)
    reaches: tuple[tuple[str, str], ...]
    rate: Rate
    found: int  # problems this chief reported in the period
    problems: Problems  # problems assigned to this chief
    rank: int | None = None
    mark: Mark = ""
    # Assistants who walked valid patrols for this chief in the period: (name, patrols), by name.
    assisted: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class OverdueRow:
    """A problem still open at the end of the period past its deadline (the tallies' overdue), with its days."""

    number: int
    area: tuple[str, str]
    reach: tuple[str, str]
    category: str
    assignee: str
    deadline: date
    days: int
    pressed: int


@dataclass(frozen=True, slots=True)
class Assessment:
    period: ReportPeriod
    office: str
    scope: AreaRecord | None  # --area, else None (every area in `areas`)
    level: str | None
    generated: date
    rate: Rate
    problems: Problems
    areas: list[AreaRow]
    chiefs: list[ChiefRow]
    categories: dict[str, ProblemFigures] = field(default_factory=dict)
    overdue: list[OverdueRow] = field(default_factory=list)
    # ASSISTANT_PATROLS_COUNT: whether assistants' patrols count toward the rate (the report says which).
    assistants_count: bool = True


def _sum_groups(groups: Sequence[ProblemGroup]) -> tuple[ProblemFigures, int]:
    figures = ProblemFigures()
    longest = 0
    for g in groups:
        figures += ProblemFigures(g.new, g.closed, g.dismissed, g.open, g.overdue, g.due, g.closed_on_time)
        longest = max(longest, g.overdue_days_max)
    return figures, longest


class AssessmentService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._tallies = TallyService(store, settings)

    async def build(
        self,
        period: ReportPeriod,
        *,
        office: str,
        language: str,
        area_code: str | None = None,
        level: str | None = None,
        areas: frozenset[int] | None = None,
        today: date | None = None,
    ) -> Assessment:
        """The report's figures. Raises `AssessmentError` for an unknown area code or level."""
        if level is not None and level not in LEVELS:
            raise AssessmentError("bad_level", level=level)
        scope: AreaRecord | None = None
        if area_code is not None:
            scope = await self._store.areas.by_code(area_code.strip())
            if scope is None or (areas is not None and scope.id not in areas):
                raise AssessmentError("unknown_area", code=area_code)
        area_id = None if scope is None else scope.id
        first, last = period.first, period.last
        patrols = await self._tallies.patrol_rate(first, last, area_id=area_id)
        problems = await self._tallies.problems(first, last, area_id=area_id)
        by_reporter = await self._tallies.problem_groups(first, last, area_id=area_id, split="reporter")
        by_reporter_id = await self._tallies.problem_groups(first, last, area_id=area_id, split="reporter_id")
        by_assignee = await self._tallies.problem_groups(first, last, area_id=area_id, split="assignee")
        pressed = await self._tallies.pressed(first, last, area_id=area_id)
        tz = self._settings.tz
        assisted: dict[int, list[tuple[str, int]]] = {}
        for walked in await walked_counts(
            self._store, start=day_start(first, tz), end=day_start(last + timedelta(days=1), tz), area_id=area_id
        ):
            if areas is None or walked.area_id in areas:
                assisted.setdefault(walked.chief_id, []).append((walked.assistant_name, walked.valid))

        def inside(area: int) -> bool:
            return areas is None or area in areas

        records = {a.id: a for a in await self._store.areas.all()}
        names = {a.code: a.name(language) for a in records.values()}

        area_rows = []
        for rate_row, problem_row in zip(patrols.areas, problems.areas, strict=True):
            if not inside(rate_row.area_id):
                continue
            mine = [g for g in by_reporter if g.area_id == rate_row.area_id]
            _, longest = _sum_groups([g for g in by_assignee if g.area_id == rate_row.area_id])
            area_rows.append(
                AreaRow(
                    rate_row.area_id,
                    rate_row.code,
                    rate_row.name(language),
                    rate_row.rate,
                    Problems(
                        problem_row.figures,
                        sum(g.new for g in mine if g.split == "chief"),
                        sum(g.new for g in mine if g.split == "volunteer"),
                        longest,
                        sum(n for a, _, _, n in pressed if a == rate_row.area_id),
                    ),
                )
            )
        reach_names = {r.code: r.name(language) for r in patrols.reaches}
        chief_rows = []
        # A town's office sees a chief through their assignments in its areas only (rate, reaches, areas).
        for chief in scoped_chiefs(patrols, areas):
            if level is not None and level not in chief.levels:
                continue
            key = str(chief.person_id)
            assigned = [g for g in by_assignee if g.split == key and inside(g.area_id)]
            figures, longest = _sum_groups(assigned)
            chief_rows.append(
                ChiefRow(
                    chief.person_id,
                    chief.name,
                    chief.levels,
                    tuple((code, names.get(code, "")) for code in chief.area_codes),
                    tuple((code, reach_names.get(code, "")) for code in chief.reach_codes),
                    chief.rate,
                    sum(g.new for g in by_reporter_id if g.split == key and inside(g.area_id)),
                    Problems(
                        figures,
                        overdue_days_max=longest,
                        pressed=sum(n for a, who, _, n in pressed if who == key and inside(a)),
                    ),
                    assisted=_merged(assisted.get(chief.person_id, [])),
                )
            )
        if areas is None:
            rate, overall = patrols.overall, problems.overall
            categories = dict(problems.categories)
        else:
            rate = sum((row.rate for row in area_rows), Rate())
            overall = sum((row.problems.figures for row in area_rows), ProblemFigures())
            categories = {c: ProblemFigures() for c in CATEGORIES}
            for g in by_reporter:
                if inside(g.area_id):
                    categories[g.category] += _sum_groups([g])[0]
        totals = Problems(
            overall,
            sum(r.problems.found_by_chiefs for r in area_rows),
            sum(r.problems.found_by_volunteers for r in area_rows),
            max((r.problems.overdue_days_max for r in area_rows), default=0),
            sum(r.problems.pressed for r in area_rows),
        )
        pressed_by_problem: dict[int, int] = {}
        for _, _, problem, n in pressed:  # a row per chief pressed: a transferred problem has several
            pressed_by_problem[problem] = pressed_by_problem.get(problem, 0) + n
        overdue = await self._overdue(
            await self._tallies.problem_groups(first, last, area_id=area_id, split="problem"),
            records=records,
            inside=inside,
            pressed=pressed_by_problem,
            last=last,
            language=language,
        )
        return Assessment(
            period=period,
            office=office,
            scope=scope,
            level=level,
            generated=today or datetime.now(self._settings.tz).date(),
            rate=rate,
            problems=totals,
            areas=_rank_areas(area_rows),
            chiefs=_rank_chiefs(chief_rows),
            categories=categories,
            overdue=overdue,
            assistants_count=self._settings.assistant_patrols_count,
        )

    async def _overdue(
        self,
        groups: list[ProblemGroup],
        *,
        records: dict[int, AreaRecord],
        inside: Callable[[int], bool],
        pressed: dict[int, int],
        last: date,
        language: str,
    ) -> list[OverdueRow]:
        """The overdue problems one by one (the tallies' figures cut per problem), the longest overdue first."""
        rows = []
        for g in groups:
            if not g.overdue or not inside(g.area_id):
                continue
            problem = await self._store.problems.by_id(int(g.split))
            if problem is None:
                continue
            reach = await self._store.reaches.by_id(problem.reach_id)
            assignee = None if problem.assignee_id is None else await self._store.people.by_id(problem.assignee_id)
            area = records.get(g.area_id)
            rows.append(
                OverdueRow(
                    number=problem.id,
                    area=("", "") if area is None else (area.code, area.name(language)),
                    reach=("", "") if reach is None else (reach.code, reach.name(language)),
                    category=g.category,
                    assignee="" if assignee is None else assignee.name,
                    deadline=last - timedelta(days=g.overdue_days),
                    days=g.overdue_days,
                    pressed=pressed.get(problem.id, 0),
                )
            )
        rows.sort(key=lambda r: (-r.days, r.number))
        return rows


def _rank_areas(rows: list[AreaRow]) -> list[AreaRow]:
    """Ranked by the weekly digest's rule (`bot.rankings`), best first; the unranked after them, by code."""
    towns = [
        Town(r.area_id, r.code, r.name, r.name, r.rate, r.problems.figures.overdue, r.problems.figures.open)
        for r in rows
    ]
    ranking = rank_towns(towns)
    by_id = {r.area_id: r for r in rows}
    out = [_with(by_id[x.town.area_id], x.rank, x.mark) for x in ranking.ranked]
    return out + [by_id[t.area_id] for t in ranking.unranked]


def _rank_chiefs(rows: list[ChiefRow]) -> list[ChiefRow]:
    towns = [
        Town(
            r.person_id,
            f"{r.name}\x00{r.person_id:010d}",
            r.name,
            r.name,
            r.rate,
            r.problems.figures.overdue,
            r.problems.figures.open,
        )
        for r in rows
    ]
    ranking = rank_towns(towns)
    by_id = {r.person_id: r for r in rows}
    out = [_with_chief(by_id[x.town.area_id], x.rank, x.mark) for x in ranking.ranked]
    return out + [by_id[t.area_id] for t in ranking.unranked]


def _with(row: AreaRow, rank: int, mark: Mark) -> AreaRow:
    return AreaRow(row.area_id, row.code, row.name, row.rate, row.problems, rank, mark)


def _with_chief(row: ChiefRow, rank: int, mark: Mark) -> ChiefRow:
    return ChiefRow(
        row.person_id, row.name, row.levels, row.areas, row.reaches, row.rate, row.found, row.problems, rank, mark,
        row.assisted,
    )  # fmt: skip


def _merged(walked: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """One entry per assistant (a chief's reaches may lie in several areas), by name; none without a valid one."""
    total: dict[str, int] = {}
    for name, count in walked:
        total[name] = total.get(name, 0) + count
    return tuple(sorted((name, count) for name, count in total.items() if count))


# -- rendering ---------------------------------------------------------------------------------------------


AREA_COLUMNS = (
    "rank",
    "mark",
    "area_code",
    "area",
    "required",
    "valid",
    "rate",
    "found",
    "found_chiefs",
    "found_volunteers",
    "due",
    "on_time",
    "rectification",
    "overdue",
    "overdue_days",
    "pressed",
)
CHIEF_COLUMNS = (
    "rank",
    "mark",
    "chief",
    "level",
    "areas",
    "reaches",
    "required",
    "valid",
    "rate",
    "found",
    "due",
    "on_time",
    "rectification",
    "overdue",
    "overdue_days",
    "pressed",
    "assisted",
)
CATEGORY_COLUMNS = ("category", "found", "rectified", "open")
OVERDUE_COLUMNS = ("number", "area", "reach", "category", "assignee", "deadline", "days", "pressed")
# Relative widths in the PDF (and, times 4, the XLSX columns' widths in characters).
WIDTHS = {
    "rank": 1.2,
    "mark": 2.2,
    "area_code": 1.6,
    "area": 3.0,
    "chief": 2.2,
    "level": 1.3,
    "areas": 3.0,
    "reaches": 4.5,
    "category": 3.0,
    "reach": 4.0,
    "assignee": 2.2,
    "deadline": 2.2,
    "assisted": 3.0,
}
TEXT_COLUMNS = frozenset(
    {"mark", "area_code", "area", "chief", "level", "areas", "reaches", "category", "reach", "assignee", "deadline",
     "assisted"}
)  # fmt: skip


class AssessmentReport:
    """An `Assessment` in the reader's language, as rows, XLSX or PDF."""

    def __init__(self, report: Assessment, locales: Locales, language: str) -> None:
        self.report = report
        self._locales = locales
        self.language = language

    def say(self, key: str, **params: object) -> str:
        return self._locales.plain(self.language, f"assessment.{key}", **params)

    def title(self) -> str:
        return self.say(
            "title", office=self.report.office, period=self.report.period.label(self._locales, self.language)
        )

    def subtitle(self) -> list[str]:
        r = self.report
        scope = self.say("scope_all") if r.scope is None else f"{r.scope.code} {r.scope.name(self.language)}"
        lines = [
            self.say("range", first=r.period.first.isoformat(), last=r.period.last.isoformat(), scope=scope),
        ]
        if r.level is not None:
            lines.append(self.say("level_only", level=self._level(r.level)))
        lines.append(self.say("issued", office=r.office, date=r.generated.isoformat()))
        return lines

    def rules(self) -> list[str]:
        return [
            self.say("rule_patrol"),
            self.say("rule_rectification"),
            self.say("rule_found"),
            self.say("rule_assisted" if self.report.assistants_count else "rule_assisted_not_counted"),
            self.say("rule_ranking", min=MIN_RANKED, marked=MARKED),
        ]

    def summary(self) -> str:
        r = self.report
        f = r.problems.figures
        return self.say(
            "summary",
            valid=r.rate.done,
            required=r.rate.required,
            rate=percent(r.rate),
            found=f.new,
            chiefs=r.problems.found_by_chiefs,
            volunteers=r.problems.found_by_volunteers,
            due=f.due,
            on_time=f.closed_on_time,
            rectification=percent(f.rectification),
            overdue=f.overdue,
            pressed=r.problems.pressed,
        )

    def _level(self, level: str) -> str:
        return self._locales.plain(self.language, f"stats.level.{level}")

    def _mark(self, mark: Mark, rank: int | None) -> str:
        if rank is None:
            return self.say("unranked")
        return self.say(f"mark.{mark}") if mark else ""

    def headings(self, columns: Sequence[str]) -> list[str]:
        return [self.say(f"col.{c}") for c in columns]

    @staticmethod
    def _problem_cells(p: Problems) -> dict[str, object]:
        f = p.figures
        return {
            "due": f.due,
            "on_time": f.closed_on_time,
            "rectification": percent(f.rectification),
            "overdue": f.overdue,
            "overdue_days": p.overdue_days_max if f.overdue else "",
            "pressed": p.pressed,
        }

    def area_rows(self) -> list[list[object]]:
        rows = []
        for a in self.report.areas:
            cells: dict[str, object] = {
                "rank": "" if a.rank is None else a.rank,
                "mark": self._mark(a.mark, a.rank),
                "area_code": a.code,
                "area": a.name,
                "required": a.rate.required,
                "valid": a.rate.done,
                "rate": percent(a.rate),
                "found": a.problems.figures.new,
                "found_chiefs": a.problems.found_by_chiefs,
                "found_volunteers": a.problems.found_by_volunteers,
                **self._problem_cells(a.problems),
            }
            rows.append([cells[c] for c in AREA_COLUMNS])
        r = self.report
        total: dict[str, object] = {
            "rank": "",
            "mark": "",
            "area_code": "",
            "area": self.say("total"),
            "required": r.rate.required,
            "valid": r.rate.done,
            "rate": percent(r.rate),
            "found": r.problems.figures.new,
            "found_chiefs": r.problems.found_by_chiefs,
            "found_volunteers": r.problems.found_by_volunteers,
            **self._problem_cells(r.problems),
        }
        rows.append([total[c] for c in AREA_COLUMNS])
        return rows

    def chief_rows(self) -> list[list[object]]:
        rows = []
        for c in self.report.chiefs:
            cells: dict[str, object] = {
                "rank": "" if c.rank is None else c.rank,
                "mark": self._mark(c.mark, c.rank),
                "chief": c.name,
                "level": "/".join(self._level(level) for level in c.levels),
                "areas": self.say("joiner").join(f"{code} {name}".strip() for code, name in c.areas),
                "reaches": self.say("joiner").join(f"{code} {name}".strip() for code, name in c.reaches),
                "assisted": self.say("joiner").join(
                    self.say("assisted_one", name=name, count=count) for name, count in c.assisted
                ),
                "required": c.rate.required,
                "valid": c.rate.done,
                "rate": percent(c.rate),
                "found": c.found,
                **self._problem_cells(c.problems),
            }
            rows.append([cells[k] for k in CHIEF_COLUMNS])
        return rows

    def category_rows(self) -> list[list[object]]:
        rows: list[list[object]] = []

        def row(name: str, f: ProblemFigures) -> list[object]:
            return [name, f.new, f.closed, f.open]

        cats = self.report.categories
        four = ProblemFigures()
        for c in FOUR_DISORDERS:
            four += cats.get(c, ProblemFigures())
            rows.append(row(self._locales.plain(self.language, f"category.{c}"), cats.get(c, ProblemFigures())))
        rows.append(row(self.say("four_disorders"), four))
        for c in CATEGORIES[4:]:
            rows.append(row(self._locales.plain(self.language, f"category.{c}"), cats.get(c, ProblemFigures())))
        rows.append(row(self.say("total"), sum(cats.values(), ProblemFigures())))
        return rows

    def overdue_rows(self) -> list[list[object]]:
        return [
            [
                o.number,
                f"{o.area[0]} {o.area[1]}".strip(),
                f"{o.reach[0]} {o.reach[1]}".strip(),
                self._locales.plain(self.language, f"category.{o.category}"),
                o.assignee,
                o.deadline.isoformat(),
                o.days,
                o.pressed,
            ]
            for o in self.report.overdue
        ]

    def red_black(self) -> list[str]:
        """The red and black lists in words: areas, then chiefs."""
        lines = []
        for what, rows in (("areas", self.report.areas), ("chiefs", self.report.chiefs)):
            for mark in ("top", "bottom"):
                names = [r.name for r in rows if r.mark == mark]
                lines.append(
                    self.say(f"list.{what}.{mark}", names=self.say("joiner").join(names) if names else self.say("none"))
                )
        return lines

    # -- XLSX

    def xlsx(self) -> bytes:
        book = Workbook()
        overview = book.active
        assert overview is not None
        overview.title = self.say("sheet.overview")[:31]
        overview.append([self.title()])
        overview["A1"].font = Font(size=14, bold=True)
        for line in self.subtitle():
            overview.append([line])
        overview.append([])
        overview.append([self.summary()])
        overview.append([])
        for line in [*self.red_black(), "", *self.rules()]:
            overview.append([line])
        overview.column_dimensions["A"].width = 120
        for row in overview.iter_rows():
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        _print_setup(overview, header_row=None)

        tables = (
            ("sheet.areas", AREA_COLUMNS, self.area_rows()),
            ("sheet.chiefs", CHIEF_COLUMNS, self.chief_rows()),
            ("sheet.categories", CATEGORY_COLUMNS, self.category_rows()),
            ("sheet.overdue", OVERDUE_COLUMNS, self.overdue_rows()),
        )
        for sheet_key, columns, rows in tables:
            sheet = book.create_sheet(self.say(sheet_key)[:31])
            sheet.append([f"{self.title()}  {self.subtitle()[0]}"])
            sheet["A1"].font = Font(bold=True)
            sheet.append(self.headings(columns))
            for cells in rows:
                sheet.append([escape_formula(v) if isinstance(v, str) else v for v in cells])
            fill = PatternFill("solid", fgColor="DDE2E6")
            for cell in sheet[2]:
                cell.font = Font(bold=True)
                cell.fill = fill
                cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
            for index, column in enumerate(columns, start=1):
                sheet.column_dimensions[get_column_letter(index)].width = 4 * WIDTHS.get(column, 2.2) + 2
                if column in TEXT_COLUMNS:
                    for row in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                        row[0].alignment = Alignment(wrap_text=True, vertical="top")
            last = get_column_letter(len(columns))
            sheet.auto_filter.ref = f"A2:{last}{max(2, sheet.max_row)}"
            sheet.freeze_panes = "A3"
            _print_setup(sheet, header_row=2)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    # -- PDF

    def pdf(self) -> bytes:
        doc = Document(
            self._locales, self.language, orientation="landscape", title=self.title(), author=self.report.office
        )
        doc.title(self.title(), *self.subtitle())
        doc.paragraph(self.summary())
        for line in self.red_black():
            doc.paragraph(line)
        doc.heading(self.say("heading.areas"))
        doc.table(_columns(self, AREA_COLUMNS), self.area_rows())
        doc.heading(self.say("heading.chiefs"))
        if self.report.chiefs:
            doc.table(_columns(self, CHIEF_COLUMNS), self.chief_rows())
        else:
            doc.paragraph(self.say("none"))
        doc.heading(self.say("heading.categories"))
        doc.table(_columns(self, CATEGORY_COLUMNS), self.category_rows(), size=9.5)
        doc.heading(self.say("heading.overdue"))
        if self.report.overdue:
            doc.table(_columns(self, OVERDUE_COLUMNS), self.overdue_rows())
        else:
            doc.paragraph(self.say("none"))
        doc.heading(self.say("heading.rules"))
        for line in self.rules():
            doc.paragraph(line, size=9)
        return doc.to_bytes()

    def render(self, fmt: Format) -> bytes:
        return self.pdf() if fmt == "pdf" else self.xlsx()


def _columns(report: AssessmentReport, columns: Sequence[str]) -> list[Column]:
    return [
        Column(heading, WIDTHS.get(c, 1.3), "left" if c in TEXT_COLUMNS else "right")
        for c, heading in zip(columns, report.headings(columns), strict=True)
    ]


def _print_setup(sheet: Worksheet, *, header_row: int | None) -> None:
    """A4 landscape, fit to one page wide, the header row on every printed page, page numbers at the foot."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    if header_row is not None:
        sheet.print_title_rows = f"{header_row}:{header_row}"
    footer = sheet.oddFooter
    if footer is not None:
        footer.center.text = "&P / &N"


def office_name(settings: Settings, locales: Locales, language: str) -> str:
    """`OFFICE_NAME`, else the generic name in the report's language."""
    return settings.office_name.strip() or locales.plain(language, "assessment.office_default")


async def assessment_file(
    store: Store,
    settings: Settings,
    locales: Locales,
    *,
    language: str,
    period: ReportPeriod,
    fmt: Format,
    area_code: str | None = None,
    level: str | None = None,
    areas: frozenset[int] | None = None,
) -> tuple[Assessment, bytes]:
    """The report and its file. The file is drawn in a worker thread (a county's PDF takes a second or two).
    Raises `AssessmentError` for an unknown area or level, or a PDF without a Chinese font."""
    office = office_name(settings, locales, language)
    if areas is not None:
        # A town's office reports as itself, not as the county (OFFICE_NAME is the county's).
        names = [a.name(language) for a in await store.areas.all() if a.id in areas]
        joined = locales.plain(language, "assessment.joiner").join(names)
        office = locales.plain(language, "assessment.office_of", areas=joined)
    report = await AssessmentService(store, settings).build(
        period,
        office=office,
        language=language,
        area_code=area_code,
        level=level,
        areas=areas,
    )
    try:
        data = await asyncio.to_thread(AssessmentReport(report, locales, language).render, fmt)
    except PdfError as exc:
        raise AssessmentError(exc.key) from None
    return report, data


class Assessments:
    """The bot's side of the report (/assessment): periods as of today, and the file."""

    def __init__(self, store: Store, settings: Settings, locales: Locales) -> None:
        self._store = store
        self._settings = settings
        self._locales = locales

    def today(self) -> date:
        return datetime.now(self._settings.tz).date()

    def period(self, text: str) -> ReportPeriod | None:
        return parse_period(text, self.today())

    def presets(self) -> list[tuple[str, ReportPeriod]]:
        today = self.today()
        return [(name, preset(name, today)) for name in PRESETS]

    async def file(
        self, *, language: str, period: ReportPeriod, fmt: Format, areas: frozenset[int] | None = None
    ) -> tuple[Assessment, bytes]:
        return await assessment_file(
            self._store, self._settings, self._locales, language=language, period=period, fmt=fmt, areas=areas
        )


def file_name(period: ReportPeriod, fmt: Format) -> str:
    return f"riverbot-assessment-{period.text}.{fmt}"
