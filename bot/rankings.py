"""The towns' ranking (the red and black lists) that county and city chiefs get with their weekly digest: a pure
rule, no store.

A ranking is only fair if its rule is stated and holds at the edges, so the rule lives here and the digest states
it in words (`summary.ranking.rule`):

- towns are ordered by patrol rate, best first; at an equal rate, fewer overdue problems first, then fewer open
  ones; towns equal on all three share a rank (competition ranking: 1, 2, 2, 2, 5);
- a town with fewer than `MIN_RANKED` required patrols in the week is listed apart, not ranked: one patrol done
  of one required must not top the table;
- the top `MARKED` are marked for the red list and the bottom `MARKED` for the black list, or half the ranked
  towns each when there are fewer than twice that; a group of tied towns is marked only when the whole group
  falls inside the cut, so two towns with the same figures never get different marks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from bot.tallies import MIN_RANKED, Rate

MARKED = 3
# The chief levels whose digest carries the ranking: they answer for every town, not for a reach or two.
RANKING_LEVELS = ("city", "county")

Mark = Literal["top", "bottom", ""]


@dataclass(frozen=True, slots=True)
class Town:
    """One area's figures for the week: its patrol rate, and its problems overdue and open at the week's end."""

    area_id: int
    code: str
    name_zh: str
    name_en: str
    rate: Rate
    overdue: int
    open: int

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class Ranked:
    town: Town
    rank: int
    mark: Mark


@dataclass(frozen=True, slots=True)
class Ranking:
    ranked: list[Ranked]  # best first
    unranked: list[Town]  # too few required patrols, by code

    @property
    def empty(self) -> bool:
        return not self.ranked and not self.unranked


def _key(town: Town) -> tuple[Fraction, int, int]:
    """Smaller is better: the rate negated, then overdue, then open problems."""
    return (-Fraction(town.rate.done, town.rate.required), town.overdue, town.open)


def rank_towns(towns: Sequence[Town], *, min_required: int = MIN_RANKED, marked: int = MARKED) -> Ranking:
    """The towns ranked by the rule in the module docstring."""
    eligible = sorted((t for t in towns if t.rate.required >= min_required), key=lambda t: (_key(t), t.code))
    unranked = sorted((t for t in towns if t.rate.required < min_required), key=lambda t: t.code)
    # Tied groups in order: each is (first position, last position), positions counted from 1.
    spans: list[tuple[int, int]] = []
    for position, town in enumerate(eligible, start=1):
        if spans and _key(eligible[spans[-1][0] - 1]) == _key(town):
            spans[-1] = (spans[-1][0], position)
        else:
            spans.append((position, position))
    count = len(eligible)
    cut = min(marked, count // 2)
    ranked = []
    for first, last in spans:
        mark: Mark = ""
        if cut and last <= cut:
            mark = "top"
        elif cut and first > count - cut:
            mark = "bottom"
        ranked += [Ranked(town, first, mark) for town in eligible[first - 1 : last]]
    return Ranking(ranked, unranked)
