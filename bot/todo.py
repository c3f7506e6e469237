"""A chief's to-do: what waits for them today, in the order it should be done, each with the one action it needs.

Two kinds of item: a problem assigned to them and not yet rectified (its deadline: overdue first, by how many
days), and a reach of theirs whose current period still lacks patrols (the same progress /mypatrols, the
reminders and the digests read). /todo, the menu's button, the weekly digest and the overdue letter all show
the same items with the same buttons, so a chief meets one list wherever they look. No Telegram here: an item
says which action it takes (`Action`), and handlers turn that into a button.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from bot.config import Language, Settings
from bot.i18n import Locales
from bot.patrols import PatrolService
from bot.tallies import Progress
from storage import Store
from storage.problems import ProblemRecord
from storage.summaries import OverdueProblem

ActionKind = Literal["rectify", "patrol"]
# Buttons a digest or letter carries at most: more would bury the text; /todo lists the rest.
BUTTONS_IN_DIGEST = 6


@dataclass(frozen=True, slots=True)
class Action:
    """The one thing an item asks for: rectify problem N, or start a patrol on reach N."""

    kind: ActionKind
    target: int
    label: str


@dataclass(frozen=True, slots=True)
class DueProblem:
    problem: ProblemRecord
    reach_name_zh: str
    reach_name_en: str

    def reach_name(self, language: str) -> str:
        return self.reach_name_zh if language == "zh" else self.reach_name_en


@dataclass(frozen=True, slots=True)
class Todo:
    problems: list[DueProblem]  # the earliest deadline first, so the overdue come first; no deadline last
    patrols: list[Progress]  # short this period, the fewest days left first

    def __len__(self) -> int:
        return len(self.problems) + len(self.patrols)


class TodoService:
    def __init__(self, store: Store, settings: Settings, patrols: PatrolService) -> None:
        self._store = store
        self._settings = settings
        self._patrols = patrols

    async def of(self, person_id: int, today: date) -> Todo:
        """What waits for `person_id` on `today` (local date)."""
        names: dict[int, tuple[str, str]] = {}
        problems = []
        for problem in await self._store.problems.assigned_to(person_id):
            if problem.reach_id not in names:
                reach = await self._store.reaches.by_id(problem.reach_id)
                names[problem.reach_id] = (reach.name_zh, reach.name_en) if reach else ("?", "?")
            problems.append(DueProblem(problem, *names[problem.reach_id]))
        progress = await self._patrols.progress(person_id, today)
        short = sorted((p for p in progress if p.short), key=lambda p: (p.days_left, p.reach_code))
        return Todo(problems, short)


def _days(locales: Locales, lang: Language, days: int) -> str:
    return locales.plain(lang, "todo.days", days=days)


def problem_line(locales: Locales, lang: Language, item: DueProblem, category: str, today: date) -> str:
    """`#12 dumping · Dingbao River: 3 days overdue (deadline 2026-11-29)`."""
    problem = item.problem
    params: dict[str, object] = {"number": problem.id, "category": category, "reach": item.reach_name(lang)}
    deadline = problem.deadline
    if deadline is None:
        return locales.t(lang, "todo.problem_no_deadline", **params)
    params["deadline"] = deadline.isoformat()
    if deadline < today:
        return locales.t(lang, "todo.problem_overdue", days=_days(locales, lang, (today - deadline).days), **params)
    if deadline == today:
        return locales.t(lang, "todo.problem_today", **params)
    return locales.t(lang, "todo.problem_due", days=_days(locales, lang, (deadline - today).days), **params)


def patrol_line(locales: Locales, lang: Language, progress: Progress) -> str:
    """`Dingbao River: this month 0/1, 8 days left`."""
    return locales.t(
        lang,
        "todo.patrol",
        reach=progress.reach_name(lang),
        period=locales.plain(lang, f"period.this_{progress.period.kind}"),
        done=progress.done,
        required=progress.required,
        days=_days(locales, lang, progress.days_left),
    )


def rectify_action(locales: Locales, lang: Language, problem_id: int) -> Action:
    return Action("rectify", problem_id, locales.plain(lang, "todo.rectify", number=problem_id))


def patrol_action(locales: Locales, lang: Language, progress: Progress) -> Action:
    return Action("patrol", progress.reach_id, locales.plain(lang, "reminder.start", reach=progress.reach_name(lang)))


def item_actions(locales: Locales, lang: Language, todo: Todo) -> list[Action]:
    """Every item's action, in list order: problems first, then patrols."""
    return [rectify_action(locales, lang, item.problem.id) for item in todo.problems] + [
        patrol_action(locales, lang, progress) for progress in todo.patrols
    ]


def digest_actions(
    locales: Locales, lang: Language, assigned: list[OverdueProblem], progress: list[Progress]
) -> list[Action]:
    """The buttons of a chief's weekly digest: its open problems and short patrols, as /todo would show them,
    at most BUTTONS_IN_DIGEST (the digest says how many there are; /todo lists them all)."""
    actions = [rectify_action(locales, lang, problem.id) for problem in assigned]
    short = sorted((p for p in progress if p.short), key=lambda p: (p.days_left, p.reach_code))
    actions += [patrol_action(locales, lang, p) for p in short]
    return actions[:BUTTONS_IN_DIGEST]
