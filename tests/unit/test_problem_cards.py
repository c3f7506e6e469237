"""A problem's card and history within Telegram's limits, whatever the length of its log."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from bot.config import Language, load_settings
from bot.i18n import Locales
from bot.problems import Card, ProblemRecord, TimelineEntry
from bot.services import Services
from handlers.problems import HISTORY_MESSAGES, MESSAGE_LIMIT, problem_messages
from storage.problems import ProblemEvent

AT = datetime(2026, 11, 1, tzinfo=UTC)


def units(html_text: str) -> int:
    """What Telegram counts: UTF-16 units of the text once its HTML is parsed."""
    return len(html.unescape(re.sub(r"<[^>]*>", "", html_text)).encode("utf-16-le")) // 2


def card(notes: int, note: str) -> Card:
    problem = ProblemRecord(
        id=7,
        reporter_id=1,
        patrol_id=None,
        reach_id=1,
        area_id=1,
        category="dumping",
        description="x" * 1000,
        lat=32.5,
        lon=120.4,
        location_source="shared",
        status="rectified",
        assignee_id=None,
        deadline=None,
        reported_at=AT,
        closed_at=None,
        updated_at=AT,
    )
    events = [
        TimelineEntry(
            ProblemEvent(
                n, 7, AT + timedelta(minutes=n), None, "🌊" * 30, "reject", "rectified", "assigned", f"#{n} {note}"
            ),
            None,
        )
        for n in range(1, notes + 1)
    ]
    return Card(problem, None, None, None, None, [], events)


@pytest.fixture
def svc(tmp_path: Path) -> Services:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data")
    return cast(Services, SimpleNamespace(locales=Locales.load(), settings=settings))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_long_history_follows_the_card_within_the_limits_newest_kept(svc: Services, lang: Language) -> None:
    # Notes of astral characters (two UTF-16 units each) and HTML to escape, 200 of them.
    texts = problem_messages(svc, lang, card(200, "🚧<&>" * 250), intro="📌 " * 100, timeline=True)
    assert 2 <= len(texts) <= 1 + HISTORY_MESSAGES
    assert all(units(t) <= MESSAGE_LIMIT for t in texts)
    assert "#200 " in texts[-1] and "#1 " not in "".join(texts[1:])
    assert "/export" in texts[1]


def test_a_short_history_stays_in_the_card(svc: Services) -> None:
    texts = problem_messages(svc, "zh", card(3, "已清运"), intro=None, timeline=True)
    assert len(texts) == 1 and "#3 已清运" in texts[0] and "/export" not in texts[0]
