"""A chief's to-do as text and actions (bot.todo), and the public signs' start payloads (bot.citizens)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot.citizens import deep_link, payload_reach, start_payload
from bot.i18n import Locales
from bot.periods import period_of
from bot.tallies import Progress
from bot.todo import BUTTONS_IN_DIGEST, DueProblem, digest_actions, patrol_line, problem_line
from storage.problems import ProblemRecord
from storage.summaries import OverdueProblem

LOCALES = Locales.load()
TODAY = date(2026, 12, 2)


def _problem(number: int, deadline: date | None) -> DueProblem:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    record = ProblemRecord(
        number, 1, None, 3, 1, "dumping", None, 32.5, 120.4, "shared", "assigned", 2, deadline, at, None, at
    )
    return DueProblem(record, "立公河", "Ligong River")


def _progress(reach_id: int, done: int, required: int, days_left: int) -> Progress:
    return Progress(1, 2, "王五", reach_id, f"R{reach_id}", f"河{reach_id}", f"River {reach_id}",
                    period_of("month", TODAY), required, done, days_left)  # fmt: skip


def test_problem_lines_say_overdue_due_today_days_left_or_no_deadline_in_both_languages() -> None:
    overdue = _problem(12, date(2026, 11, 29))
    assert problem_line(LOCALES, "zh", overdue, "乱堆", TODAY) == "🔴 #12 乱堆 · 立公河：已逾期 3 天（期限 2026-11-29）"
    assert "1 day overdue" in problem_line(LOCALES, "en", _problem(1, date(2026, 12, 1)), "dumping", TODAY)
    assert "3 days overdue" in problem_line(LOCALES, "en", overdue, "dumping", TODAY)
    assert "今天到期" in problem_line(LOCALES, "zh", _problem(2, TODAY), "乱堆", TODAY)
    assert "2 days left" in problem_line(LOCALES, "en", _problem(3, date(2026, 12, 4)), "dumping", TODAY)
    assert "未设期限" in problem_line(LOCALES, "zh", _problem(4, None), "乱堆", TODAY)


def test_patrol_lines_and_the_digests_buttons_are_capped_problems_first() -> None:
    assert patrol_line(LOCALES, "zh", _progress(5, 0, 1, 8)) == "🚶 河5：本月已巡 0/1，剩 8 天"
    assigned = [OverdueProblem(n, "dumping", "河", "River", None, TODAY) for n in range(1, 5)]
    short = [_progress(7, 0, 1, 20), _progress(8, 0, 1, 3), _progress(9, 1, 1, 3)]  # 9 is done
    actions = digest_actions(LOCALES, "en", assigned, short)
    assert len(actions) == BUTTONS_IN_DIGEST
    assert [(a.kind, a.target) for a in actions] == [
        ("rectify", 1), ("rectify", 2), ("rectify", 3), ("rectify", 4), ("patrol", 8), ("patrol", 7)
    ]  # fmt: skip
    assert actions[0].label == "🛠 Rectify #1" and actions[4].label == "🚶 Patrol River 8"


def test_a_signs_start_payload_holds_the_reachs_code_not_its_database_id() -> None:
    """Review finding: signs stay on the bank for years; a rebuilt database renumbers ids, never codes."""
    payload = start_payload("LGH-01")
    assert payload == "r-LGH-01"
    assert payload_reach(payload) == "LGH-01"
    for code in ("丁堡河-1", "a b", "X" * 63, "a.b"):
        payload = start_payload(code)
        assert payload.startswith("rb") and re.fullmatch(r"[A-Za-z0-9_-]+", payload), payload
        assert "=" not in payload and payload_reach(payload) == code
    assert start_payload("X" * 62) == "r-" + "X" * 62
    for other in ("", "r", "r-", "rb", "rb!!", "rb" + "_" * 5, "r12", "R-12", "abcDEF_123-xyz", "r" + "1" * 13):
        assert payload_reach(other) is None, other
    assert deep_link("riverbot_test_bot", "r-LGH-01") == "https://t.me/riverbot_test_bot?start=r-LGH-01"
