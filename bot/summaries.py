"""The weekly summary of an area and a chief's private weekly digest: figures and text, no Telegram.

Every figure comes from `bot.tallies.TallyService` (the same numbers as `riverbot stats`); this module only
picks them for one area and one ISO week (Monday–Sunday, local dates), compares with the week before, and
writes the text from the locales (values HTML-escaped by `Locales.t`). A text longer than Telegram allows is
split on line boundaries (`split_messages`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.charts import CategoryBar, ChartText, RateBar, Tile, Tone, pick_rows, render_chart
from bot.config import PERIODS, Language, Settings
from bot.heap import collector_paused
from bot.i18n import Locales
from bot.rankings import MARKED, Ranking, Town, rank_towns
from bot.reachability import reason_of, waiting_label
from bot.tallies import (
    MIN_RANKED,
    NO_RATE,
    PatrolTally,
    ProblemTally,
    Progress,
    Rate,
    TallyService,
    day_start,
    percent,
)
from storage import Store
from storage.assistants import WalkedCount
from storage.records import AreaRecord
from storage.summaries import OverdueProblem
from storage.tallies import VolunteerCount

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
OVERDUE_LISTED = 5
BEHIND_LISTED = 30
VOLUNTEERS_LISTED = 10
ASSIGNED_LISTED = 10
_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class Week:
    """An ISO week: Monday `first` to Sunday `last`, local dates."""

    year: int
    number: int

    @property
    def first(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def last(self) -> date:
        return self.first + timedelta(days=6)

    @property
    def code(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def previous(self) -> Week:
        return week_of(self.first - timedelta(days=7))

    def __str__(self) -> str:
        return self.code


def week_of(day: date) -> Week:
    year, number, _ = day.isocalendar()
    return Week(year, number)


def parse_week(text: str) -> Week | None:
    """ "2026-W47" (or "2026W47"); None when it is not an ISO week that exists."""
    match = _WEEK_RE.match(text.strip())
    if match is None:
        return None
    try:
        week = Week(int(match[1]), int(match[2]))
        week.first  # noqa: B018 - raises ValueError for week 53 of a 52-week year
    except ValueError:
        return None
    return week


def last_week(today: date) -> Week:
    """The Monday–Sunday before the week holding `today`: what the weekly summary reports on."""
    return week_of(today - timedelta(days=7))


def change_points(now: Rate, before: Rate) -> float | None:
    """The change in percentage points, None when either week required nothing."""
    a, b = now.value, before.value
    if a is None or b is None:
        return None
    return round(float(a - b) * 100, 1)


def format_points(points: float | None) -> str:
    if points is None:
        return NO_RATE
    return f"{points:+.1f}" if points else "±0.0"


@dataclass(frozen=True, slots=True)
class ReachProgress:
    """Where a reach's running period stood when the week ended: "this month 0/1, 8 days left". The patrol rate
    counts a period only once it ends, so a monthly reach has no rate in most weeks; this is what it shows then."""

    reach_id: int
    code: str
    name_zh: str
    name_en: str
    kind: str  # week, xun, month, quarter
    done: int  # Σ min(valid patrols so far, required) over the reach's chiefs on this kind of period
    required: int
    days_left: int  # after the week's last day

    @property
    def met(self) -> bool:
        return self.done >= self.required

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


def reach_progress(items: list[Progress]) -> tuple[ReachProgress, ...]:
    """One line per reach and kind of period (two chiefs on one monthly reach make one line), in reach order."""
    sums: dict[tuple[int, str], list[int]] = {}
    first: dict[tuple[int, str], Progress] = {}
    for item in items:
        key = (item.reach_id, item.period.kind)
        first.setdefault(key, item)
        figures = sums.setdefault(key, [0, 0])
        figures[0] += min(item.done, item.required)
        figures[1] += item.required
    rows = []
    for key, p in first.items():
        done, required = sums[key]
        names = (p.reach_code, p.reach_name_zh, p.reach_name_en)
        rows.append(ReachProgress(p.reach_id, *names, key[1], done, required, p.days_left))
    return tuple(sorted(rows, key=lambda r: (r.code, PERIODS.index(r.kind))))


def weeks_ago(week: Week, today: date) -> int:
    """0 for the week holding `today`, 1 for last week (what the weekly run reports), and so on."""
    return (week_of(today).first - week.first).days // 7


@dataclass(frozen=True, slots=True)
class AreaSummary:
    area: AreaRecord
    week: Week
    patrols: PatrolTally
    previous: Rate  # the week before's patrol rate, for the change
    problems: ProblemTally
    overdue: list[OverdueProblem]  # the oldest first, at most OVERDUE_LISTED
    overdue_total: int
    volunteers: list[VolunteerCount]
    # Problems open now that wait for a chief who has not joined or cannot be reached (`bot.reachability`).
    waiting: int = 0
    # Periods that began but did not end by the week's last day, per reach (`reach_progress`).
    running: tuple[ReachProgress, ...] = ()
    # How many weeks before the reader's the reported week is: 1, "last week", for the weekly run.
    ago: int = 1
    # Patrols walked by assistants for chiefs in the week (named in the summary), and whether they counted.
    assisted: tuple[WalkedCount, ...] = ()
    assisted_counted: bool = True

    @property
    def change(self) -> float | None:
        return change_points(self.patrols.overall, self.previous)


@dataclass(frozen=True, slots=True)
class ChiefDigest:
    person_id: int
    name: str
    week: Week
    rate: Rate  # last week's
    progress: list[Progress]  # this period, per assignment
    assigned: list[OverdueProblem]  # open problems assigned to them (deadline date.max: none)
    ranking: Ranking | None = None  # the towns' ranking, for county and city chiefs (`bot.rankings`)
    assisted: tuple[WalkedCount, ...] = ()  # the week's patrols walked for them by assistants
    assisted_counted: bool = True


def _thanked(volunteers: list[VolunteerCount]) -> list[VolunteerCount]:
    """The volunteers a summary thanks: those who did something, the most valid work first."""
    active = [v for v in volunteers if v.patrols or v.reports]
    active.sort(key=lambda v: (-(v.valid_patrols + v.reports), v.name, v.person_id))
    return active


class SummaryService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._tallies = TallyService(store, settings)

    def _today(self, today: date | None) -> date:
        return today if today is not None else datetime.now(self._settings.tz).date()

    async def area_summary(self, area: AreaRecord, week: Week, today: date | None = None) -> AreaSummary:
        first, last = week.first, week.last
        patrols = await self._tallies.patrol_rate(first, last, area_id=area.id)
        before = week.previous()
        previous = await self._tallies.patrol_rate(before.first, before.last, area_id=area.id)
        problems = await self._tallies.problems(first, last, area_id=area.id)
        overdue, total = await self._store.summaries.overdue(area.id, last, limit=OVERDUE_LISTED)
        volunteers = _thanked(await self._tallies.volunteers(first, last, area_id=area.id))
        waiting = (await self.waiting_by_area()).get(area.id, 0)
        running = reach_progress(await self._tallies.running(last, area_id=area.id))
        tz = self._settings.tz
        assisted = await self._store.assistants.walked(
            start=day_start(first, tz), end=day_start(last + timedelta(days=1), tz), area_id=area.id
        )
        return AreaSummary(
            area,
            week,
            patrols,
            previous.overall,
            problems,
            overdue,
            total,
            volunteers,
            waiting,
            running=running,
            ago=weeks_ago(week, self._today(today)),
            assisted=tuple(assisted),
            assisted_counted=self._settings.assistant_patrols_count,
        )

    async def waiting_by_area(self) -> dict[int, int]:
        """How many problems open now wait for a chief who cannot act on them, by area."""
        counts: dict[int, int] = {}
        for area_id, contact, count in await self._store.summaries.assignee_contacts():
            if reason_of(contact) is not None:
                counts[area_id] = counts.get(area_id, 0) + count
        return counts

    async def week_summaries(self, week: Week, today: date | None = None) -> dict[int, AreaSummary]:
        """Every area's summary of `week` (by area id), the same as `area_summary` for each, but with the patrol
        and problem figures from one query each instead of one per area: the weekly job composes them all.
        The collector is paused meanwhile (bot/heap.py): a province's figures are a million lasting objects."""
        with collector_paused():
            return await self._week_summaries(week, today)

    async def _week_summaries(self, week: Week, today: date | None) -> dict[int, AreaSummary]:
        first, last = week.first, week.last
        before = week.previous()
        tz = self._settings.tz
        # The reads do not depend on each other: asked at once, a database server works on one while this process
        # turns another's rows into figures (SQLite's reader thread, likewise, while this one converts).
        async with asyncio.TaskGroup() as group:
            patrols_task = group.create_task(self._tallies.patrol_rates_by_area(first, last))
            previous_task = group.create_task(self._tallies.overall_rates_by_area(before.first, before.last))
            problems_task = group.create_task(self._tallies.problems_by_area(first, last))
            overdue_task = group.create_task(self._store.summaries.overdue_by_area(last, limit=OVERDUE_LISTED))
            volunteers_task = group.create_task(self._tallies.volunteers_by_area(first, last))
            waiting_task = group.create_task(self.waiting_by_area())
            progress_task = group.create_task(self._tallies.running(last))
            walked_task = group.create_task(
                self._store.assistants.walked(start=day_start(first, tz), end=day_start(last + timedelta(days=1), tz))
            )
            areas_task = group.create_task(self._store.areas.all())
        patrols, previous, problems = patrols_task.result(), previous_task.result(), problems_task.result()
        overdue, volunteers, waiting = overdue_task.result(), volunteers_task.result(), waiting_task.result()
        progress, walked, areas = progress_task.result(), walked_task.result(), areas_task.result()
        running: dict[int, list[Progress]] = {}
        for item in progress:
            running.setdefault(item.area_id, []).append(item)
        ago = weeks_ago(week, self._today(today))
        assisted: dict[int, list[WalkedCount]] = {}
        for one in walked:
            assisted.setdefault(one.area_id, []).append(one)
        result = {}
        for area in areas:
            listed, total = overdue.get(area.id, ([], 0))
            result[area.id] = AreaSummary(
                area,
                week,
                patrols[area.id],
                previous[area.id],
                problems[area.id],
                listed,
                total,
                _thanked(volunteers.get(area.id, [])),
                waiting.get(area.id, 0),
                running=reach_progress(running.get(area.id, [])),
                ago=ago,
                assisted=tuple(assisted.get(area.id, [])),
                assisted_counted=self._settings.assistant_patrols_count,
            )
        return result

    async def chief_digest(
        self, person_id: int, name: str, week: Week, today: date, ranking: Ranking | None = None
    ) -> ChiefDigest:
        rate = await self._tallies.patrol_rate(week.first, week.last, person_id=person_id)
        progress = await self._tallies.progress(today, person_id=person_id)
        assigned = await self._store.summaries.assigned_open(person_id, limit=ASSIGNED_LISTED)
        tz = self._settings.tz
        walked = await self._store.assistants.walked(
            start=day_start(week.first, tz), end=day_start(week.last + timedelta(days=1), tz), chief_id=person_id
        )
        return ChiefDigest(
            person_id,
            name,
            week,
            rate.overall,
            progress,
            assigned,
            ranking,
            assisted=tuple(walked),
            assisted_counted=self._settings.assistant_patrols_count,
        )

    async def town_ranking(self, week: Week) -> Ranking:
        """Every area ranked by its patrol rate over `week`, then by problems overdue and open at its end."""
        rates = await self._tallies.overall_rates_by_area(week.first, week.last)
        problems = await self._tallies.problems_by_area(week.first, week.last)
        towns = []
        for area in await self._store.areas.all():
            figures = problems[area.id].overall
            rate = rates.get(area.id, Rate())
            towns.append(Town(area.id, area.code, area.name_zh, area.name_en, rate, figures.overdue, figures.open))
        return rank_towns(towns)


# -- text -----------------------------------------------------------------------------------------------------


def _name(language: Language, zh: str, en: str) -> str:
    return zh if language == "zh" else en


def week_dates(week: Week, locales: Locales, language: Language) -> str:
    """How a reader names a week ("16 Nov – 22 Nov 2026", with its number), rather than "2026-W47"."""
    first, last = week.first, week.last
    key = "summary.chart.subtitle" if first.year == last.year else "summary.chart.subtitle_years"
    # Month abbreviations come from strftime, which is English in the C locale the bot runs in.
    return locales.plain(language, key, number=week.number, first=first, last=last)


def which_week(summary: AreaSummary, locales: Locales, language: Language) -> str:
    """The reported week as the reader says it: "last week" for the weekly run, "this week" or "that week" for
    one asked for with /summary."""
    name = {0: "this", 1: "last"}.get(summary.ago, "that")
    return locales.plain(language, f"summary.which.{name}")


def running_lines(summary: AreaSummary, locales: Locales, language: Language) -> list[str]:
    """The periods still running when the week ended, one line per reach, those behind first; and the footnote
    that tells them from the rate. Nothing when no period was left running."""
    if not summary.running:
        return []

    def t(key: str, **params: object) -> str:
        return locales.t(language, f"summary.running.{key}", **params)

    rows = sorted(summary.running, key=lambda r: (r.met, r.code, PERIODS.index(r.kind)))
    lines = ["", t("header", day=locales.plain(language, "summary.running.as_of", day=summary.week.last))]
    for row in rows[:BEHIND_LISTED]:
        lines.append(
            t(
                "line_met" if row.met else "line",
                reach=row.name(language),
                period=locales.plain(language, f"summary.period.{row.kind}"),
                done=row.done,
                required=row.required,
                days=row.days_left,
            )
        )
    if len(rows) > BEHIND_LISTED:
        lines.append(locales.t(language, "summary.more", count=len(rows) - BEHIND_LISTED))
    return lines


def assisted_lines(summary: AreaSummary, locales: Locales, language: Language) -> list[str]:
    """Who patrolled for whom: a chief's figures that include an assistant's patrols name the assistant."""
    if not summary.assisted:
        return []
    lines = ["", locales.t(language, "assistants.summary_header")]
    for walked in summary.assisted:
        lines.append(
            locales.t(
                language,
                "assistants.summary_line",
                assistant=walked.assistant_name,
                chief=walked.chief_name,
                count=walked.patrols,
                valid=walked.valid,
            )
        )
    if not summary.assisted_counted:
        lines.append(locales.t(language, "assistants.summary_not_counted"))
    return lines


def summary_text(summary: AreaSummary, locales: Locales, language: Language) -> str:
    """The whole summary as HTML (split it with `split_messages`)."""

    def t(key: str, **params: object) -> str:
        return locales.t(language, f"summary.{key}", **params)

    which = which_week(summary, locales, language)

    s, p, q = summary, summary.patrols, summary.problems.overall
    lines = [
        t(
            "title",
            area=s.area.name(language),
            code=s.area.code,
            period=week_dates(s.week, locales, language),
        ),
        "",
        t(
            "rate",
            rate=percent(p.overall),
            done=p.overall.done,
            required=p.overall.required,
            change=format_points(s.change),
        ),
        t(
            "problems",
            new=q.new,
            closed=q.closed,
            overdue=q.overdue,
            rectification=percent(q.rectification),
            on_time=q.closed_on_time,
            due=q.due,
        ),
    ]
    behind = p.behind
    lines += ["", t("behind_header", count=len(behind))]
    if not behind:
        lines.append(t("behind_none", week=which) if p.overall.required else t("no_requirement", week=which))
    reach_names = {r.code: _name(language, r.name_zh, r.name_en) for r in p.reaches}
    for chief in behind[:BEHIND_LISTED]:
        reaches = "、".join(reach_names.get(code, code) for code in chief.reach_codes)
        lines.append(
            t("behind_line", name=chief.name, reaches=reaches, done=chief.rate.done, required=chief.rate.required)
        )
    if len(behind) > BEHIND_LISTED:
        lines.append(t("more", count=len(behind) - BEHIND_LISTED))
    lines += running_lines(s, locales, language)
    lines += assisted_lines(s, locales, language)
    lines += ["", t("overdue_header", count=s.overdue_total)]
    if not s.overdue:
        lines.append(t("overdue_none"))
    for problem in s.overdue:
        lines.append(
            t(
                "overdue_line",
                number=problem.id,
                category=locales.plain(language, f"category.{problem.category}"),
                reach=_name(language, problem.reach_name_zh, problem.reach_name_en),
                assignee=_assignee(problem, locales, language),
                days=(s.week.last - problem.deadline).days,
            )
        )
    if s.overdue_total > len(s.overdue):
        lines.append(t("more", count=s.overdue_total - len(s.overdue)))
    if s.waiting:
        lines.append(locales.t(language, "reachability.summary_waiting", count=s.waiting))
    if s.volunteers:
        lines += ["", t("thanks_header")]
        for volunteer in s.volunteers[:VOLUNTEERS_LISTED]:
            lines.append(
                t("thanks_line", name=volunteer.name, patrols=volunteer.valid_patrols, reports=volunteer.reports)
            )
        if len(s.volunteers) > VOLUNTEERS_LISTED:
            lines.append(t("more", count=len(s.volunteers) - VOLUNTEERS_LISTED))
    if s.running:
        lines += ["", t("running.footnote", week=which)]
    return "\n".join(lines)


def _assignee(problem: OverdueProblem, locales: Locales, language: Language) -> str:
    """The assignee's name, and when they cannot act on it, that it waits for them."""
    if problem.assignee is None:
        return locales.plain(language, "common.none")
    reason = reason_of(problem.assignee_contact) if problem.assignee_contact is not None else None
    if reason is None:
        return problem.assignee
    state = locales.plain(language, f"reachability.waiting.{waiting_label(reason)}")
    return locales.plain(language, "reachability.assignee", name=problem.assignee, state=state)


def chart_caption(summary: AreaSummary, locales: Locales, language: Language) -> str:
    text = locales.t(
        language,
        "summary.caption",
        area=summary.area.name(language),
        period=week_dates(summary.week, locales, language),
        rate=percent(summary.patrols.overall),
    )
    return text[:CAPTION_LIMIT]


def digest_text(digest: ChiefDigest, locales: Locales, language: Language) -> str:
    def t(key: str, **params: object) -> str:
        return locales.t(language, f"summary.digest.{key}", **params)

    lines = [
        t("title", name=digest.name, period=week_dates(digest.week, locales, language)),
        t("rate", rate=percent(digest.rate), done=digest.rate.done, required=digest.rate.required),
    ]
    for walked in digest.assisted:  # a rate that includes an assistant's patrols names them
        lines.append(
            locales.t(
                language,
                "assistants.digest_line",
                assistant=walked.assistant_name,
                count=walked.patrols,
                valid=walked.valid,
            )
            + ("" if digest.assisted_counted else locales.t(language, "assistants.summary_not_counted"))
        )
    lines += ["", t("progress_header")]
    if not digest.progress:
        lines.append(t("progress_none"))
    for item in digest.progress:
        lines.append(
            t(
                "progress_line",
                reach=_name(language, item.reach_name_zh, item.reach_name_en),
                period=locales.plain(language, f"summary.period.{item.period.kind}"),
                done=item.done,
                required=item.required,
                days=item.days_left,
            )
        )
    lines += ["", t("assigned_header", count=len(digest.assigned))]
    if not digest.assigned:
        lines.append(t("assigned_none"))
    for problem in digest.assigned:
        lines.append(
            t(
                "assigned_line",
                number=problem.id,
                category=locales.plain(language, f"category.{problem.category}"),
                reach=_name(language, problem.reach_name_zh, problem.reach_name_en),
                deadline=NO_RATE if problem.deadline == date.max else problem.deadline.isoformat(),
            )
        )
    if digest.ranking is not None and not digest.ranking.empty:
        lines += ranking_lines(digest.ranking, locales, language)
    return "\n".join(lines)


RANKING_LISTED = 10  # from each end, when there are more than twice as many ranked towns


def ranking_lines(ranking: Ranking, locales: Locales, language: Language) -> list[str]:
    """The red and black lists: the towns in rank order (the middle left out of a long list), the towns not
    ranked, and the rule, stated so that a chief can check it."""

    def t(key: str, **params: object) -> str:
        return locales.t(language, f"summary.ranking.{key}", **params)

    lines = ["", t("header")]
    rows = ranking.ranked
    shown = rows if len(rows) <= 2 * RANKING_LISTED else [*rows[:RANKING_LISTED], None, *rows[-RANKING_LISTED:]]
    for row in shown:
        if row is None:
            lines.append(t("gap", count=len(rows) - 2 * RANKING_LISTED))
            continue
        town = row.town
        lines.append(
            t(
                "line",
                rank=row.rank,
                area=town.name(language),
                rate=percent(town.rate),
                done=town.rate.done,
                required=town.rate.required,
                overdue=town.overdue,
                open=town.open,
                mark=locales.plain(language, f"summary.ranking.mark_{row.mark}") if row.mark else "",
            )
        )
    if ranking.unranked:
        separator = locales.plain(language, "summary.ranking.separator")
        names = separator.join(town.name(language) for town in ranking.unranked)
        lines.append(t("unranked", min=MIN_RANKED, areas=names))
    lines.append(t("rule", min=MIN_RANKED, marked=MARKED, twice=2 * MARKED))
    return lines


def split_messages(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The text in pieces of at most `limit` characters, cut at line ends (a line longer than the limit, which
    the summary never writes, is cut where it must be). Blank pieces are dropped."""
    pieces: list[str] = []
    current = ""
    for whole in text.split("\n"):
        line = whole
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = line if not current else f"{current}\n{line}"
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return [p for p in (piece.strip("\n") for piece in pieces) if p.strip()]


def chart_jpeg(summary: AreaSummary, locales: Locales, language: Language) -> bytes:
    """The chart for the summary as JPEG: the week's figures, the patrol rate per reach (shortfalls first) and
    problems by category (CPU-bound: use a thread)."""
    def p(key: str, **params: object) -> str:
        return locales.plain(language, f"summary.chart.{key}", **params)

    s, week, rate, q = summary, summary.week, summary.patrols.overall, summary.problems.overall
    last = week.last
    bars = chart_rows(summary, locales, language)
    rates, hidden = pick_rows(bars)
    more = ""
    if hidden:
        fine = all(r.done >= r.required for r in hidden)
        more = p("more_fine" if fine else "more", count=len(hidden))
    text = ChartText(
        title=p("title", area=s.area.name(language)),
        subtitle=p(
            "subtitle_which",
            which=_capitalised(which_week(s, locales, language)),
            dates=week_dates(week, locales, language),
        ),
        rate_heading=p("rate_heading"),
        problems_heading=p("problems_heading"),
        legend_met=p("met"),
        legend_short=p("short"),
        legend_none=p("not_required"),
        legend_new=p("new"),
        legend_closed=p("closed"),
        legend_overdue=p("overdue"),
        empty=p("empty"),
        more=more,
        footnote=p("footnote") + ("\n" + p("running_footnote") if any(bar.running for bar in bars) else ""),
        legend_running=p("running_legend"),
    )
    change = s.change
    rate_tone: Tone
    if not rate.required:
        rate_note, rate_tone = p("tile.rate_none", week=which_week(s, locales, language)), "muted"
    elif change is None:
        rate_note, rate_tone = p("tile.rate_no_before"), "muted"
    elif change == 0:
        rate_note, rate_tone = p("tile.rate_same"), "muted"
    else:
        key = "tile.rate_up" if change > 0 else "tile.rate_down"
        rate_note, rate_tone = p(key, points=f"{abs(change):.1f}"), "good" if change > 0 else "bad"
    oldest = (last - s.overdue[0].deadline).days if s.overdue else None
    tiles = [
        Tile(
            p("tile.rate"),
            percent(rate),
            rate_note,
            note_tone=rate_tone,
            aside=f"{rate.done}/{rate.required}" if rate.required else "",
        ),
        Tile(p("tile.new"), str(q.new), p("tile.open", count=q.open)),
        Tile(p("tile.closed"), str(q.closed), p("tile.rectification", rate=percent(q.rectification))),
        Tile(
            p("tile.overdue"),
            str(q.overdue),
            # The oldest is of problems open now: shown when that is the same set the count describes (the weekly
            # run), not for an earlier week since put right.
            p("tile.oldest", days=oldest) if oldest is not None and q.overdue == s.overdue_total else "",
            value_tone="bad" if q.overdue else "plain",
            note_tone="bad",
        ),
    ]
    categories = [
        CategoryBar(_capitalised(locales.plain(language, f"category.{name}")), f.new, f.closed, f.overdue)
        for name, f in s.problems.categories.items()
    ]
    return render_chart(text, tiles, rates, categories)


def chart_rows(summary: AreaSummary, locales: Locales, language: Language) -> list[RateBar]:
    """One bar per reach: its rate over the periods that ended in the week, or, where none ended, how far its
    running period had got ("this month · 8 days left"), never a bare "not required" while a period runs."""
    running: dict[int, ReachProgress] = {}
    for row in sorted(summary.running, key=lambda r: r.days_left):
        running.setdefault(row.reach_id, row)  # the period ending soonest, when a reach has two kinds
    bars = []
    for reach in summary.patrols.reaches:
        name = _name(language, reach.name_zh, reach.name_en)
        progress = running.get(reach.reach_id)
        if reach.rate.required or progress is None:
            bars.append(RateBar(name, reach.rate.done, reach.rate.required, percent(reach.rate)))
            continue
        period = locales.plain(language, f"summary.period.{progress.kind}")
        shown = locales.plain(
            language,
            "summary.chart.running_met" if progress.met else "summary.chart.running",
            period=period,
            days=progress.days_left,
        )
        bars.append(RateBar(name, progress.done, progress.required, shown, running=True))
    return bars


def running_done(summary: AreaSummary) -> dict[int, bool]:
    """Whether each reach's running periods were done by the week's end (reaches with one): the area map colours
    such a reach "met" or "in progress", as the chart does, instead of "not required"."""
    done: dict[int, bool] = {}
    for row in summary.running:
        done[row.reach_id] = done.get(row.reach_id, True) and row.met
    return done


def _capitalised(label: str) -> str:
    """A category as a chart row's heading: "illegal dumping" reads mid-sentence, "Illegal dumping" on its own."""
    return label[:1].upper() + label[1:]
