"""The towns' ranking (红黑榜) for county and city chiefs: ties, small samples, marks, nothing to rank."""

from __future__ import annotations

from bot.i18n import Locales
from bot.rankings import Town, rank_towns
from bot.summaries import RANKING_LISTED, ranking_lines
from bot.tallies import MIN_RANKED, Rate


def town(code: str, done: int, required: int = 10, *, overdue: int = 0, open: int = 0) -> Town:
    return Town(len(code), code, f"{code}镇", code, Rate(done, required, required), overdue, open)


def table(towns: list[Town]) -> list[tuple[str, int, str]]:
    return [(row.town.code, row.rank, row.mark) for row in rank_towns(towns).ranked]


def test_nothing_to_rank() -> None:
    ranking = rank_towns([])
    assert ranking.ranked == [] and ranking.unranked == []


def test_by_rate_then_overdue_then_open_problems() -> None:
    rows = table(
        [
            town("A", 5),
            town("B", 9, overdue=2),
            town("C", 9, overdue=1, open=5),
            town("D", 9, overdue=1, open=3),
            town("E", 10),
            town("F", 2),
        ]
    )
    assert [code for code, _, _ in rows] == ["E", "D", "C", "B", "A", "F"]
    assert [rank for _, rank, _ in rows] == [1, 2, 3, 4, 5, 6]
    # Six ranked towns: the top three and the bottom three are marked.
    assert [mark for _, _, mark in rows] == ["top", "top", "top", "bottom", "bottom", "bottom"]


def test_equal_figures_share_a_rank_and_a_tie_across_the_cut_is_not_marked() -> None:
    rows = table([town("A", 10), town("B", 8), town("C", 8), town("D", 8), town("E", 3)])
    assert [(code, rank) for code, rank, _ in rows] == [("A", 1), ("B", 2), ("C", 2), ("D", 2), ("E", 5)]
    # Five towns: two marked each side; the three tied second straddle both cuts, so none of them is marked.
    assert [mark for _, _, mark in rows] == ["top", "", "", "", "bottom"]


def test_all_equal_marks_nobody() -> None:
    assert [mark for _, _, mark in table([town("A", 7), town("B", 7), town("C", 7)])] == ["", "", ""]


def test_small_samples_are_listed_apart_not_ranked() -> None:
    few = town("S", 1, MIN_RANKED - 1)
    none = town("N", 0, 0)
    ranking = rank_towns([town("A", 9), few, town("B", 3), none])
    assert [row.town.code for row in ranking.ranked] == ["A", "B"]
    assert [row.mark for row in ranking.ranked] == ["top", "bottom"]
    assert [t.code for t in ranking.unranked] == ["N", "S"]


def test_one_ranked_town_is_not_marked() -> None:
    ranking = rank_towns([town("A", 9)])
    assert [(row.rank, row.mark) for row in ranking.ranked] == [(1, "")]


def test_the_digest_states_the_rule_and_cuts_the_middle_of_a_long_list() -> None:
    locales = Locales.load()
    towns = [town(f"T{i:02d}", 10 - i % 10) for i in range(2 * RANKING_LISTED + 5)] + [town("S", 1, 2)]
    lines = ranking_lines(rank_towns(towns), locales, "en")
    assert lines[1] == "<b>Areas ranked by last week's patrol rate (top and bottom lists)</b>"
    assert lines[2].startswith("1. T00: 100.0% (10/10), 0 overdue, 0 open ▲ top")
    assert "… 5 areas in the middle left out" in lines
    assert lines[-3].endswith("▼ bottom")
    assert lines[-2] == "Fewer than 5 patrols required, not ranked: S"
    assert lines[-1].startswith("How they are ranked: by patrol rate, highest first;")
    assert len(lines) == 2 + 2 * RANKING_LISTED + 1 + 2
    zh = ranking_lines(rank_towns([town("A", 9), town("B", 3)]), locales, "zh")
    assert zh[2:4] == [
        "1. A镇：90.0%（9/10），逾期 0 个，未销号 0 个 🔴 红榜",
        "2. B镇：30.0%（3/10），逾期 0 个，未销号 0 个 ⚫ 黑榜",
    ]
