"""A live edit read from the JSON (handlers/live.py) is exactly what the router would make of PTB's Update."""

from __future__ import annotations

import copy
import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update

from bot.routing import Input
from handlers.fieldwork import sent_at
from handlers.live import read_live_edit
from handlers.router import classify

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "telegram-updates"
PAYLOADS = sorted(CORPUS.glob("*.json")) + sorted(CORPUS.glob("current/*.json"))
LIVE_EDIT = CORPUS / "current" / "edited_message_live_location.json"
BOT = Bot("123:abc")


def _live() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(LIVE_EDIT.read_text(encoding="utf-8"))
    return raw


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
def test_read_only_what_the_router_takes_for_a_live_edit_and_read_it_the_same(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    live = read_live_edit(raw)
    update = Update.de_json(raw, BOT)
    message = update.effective_message
    is_private_live_edit = (
        message is not None
        and update.edited_message is not None
        and message.chat.type == "private"
        and classify(update, message) is Input.LIVE_EDIT
    )
    assert (live is not None) == is_private_live_edit
    if live is None:
        return
    assert message is not None and message.location is not None
    assert message.from_user is not None
    assert (live.update_id, live.chat_id, live.user_id) == (update.update_id, message.chat.id, message.from_user.id)
    period = message.location.live_period
    assert live.fix.point == (message.location.latitude, message.location.longitude)
    assert live.fix.at == sent_at(message)
    assert live.fix.accuracy_m == message.location.horizontal_accuracy
    assert live.fix.message_id == message.message_id
    assert live.fix.live_period_s == (int(period.total_seconds()) if isinstance(period, timedelta) else period)
    assert live.as_update(BOT).to_dict() == update.to_dict()


def test_the_corpus_live_edit_is_read() -> None:
    live = read_live_edit(_live())
    assert live is not None
    assert live.fix.point == (32.5518, 120.4041) and live.fix.live_period_s == 3600
    assert live.fix.at.tzinfo is UTC and int(live.fix.at.timestamp()) == 1732867260


def _changed(path: tuple[str, ...], value: object) -> dict[str, Any]:
    raw = _live()
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = copy.deepcopy(value)
    return raw


_DROP = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("edited_message", "location", "live_period"), _DROP),  # sharing stopped: answered, so PTB's way
        (("edited_message", "chat", "type"), "supergroup"),  # a group's live location
        (("edited_message", "edit_date"), _DROP),
        (("edited_message", "reply_to_message"), {"message_id": 1}),  # a field a live edit does not have
        (("edited_message", "location", "latitude"), True),
        (("edited_message", "location", "longitude"), "120.4"),
        (("edited_message", "location", "horizontal_accuracy"), "12"),
        (("edited_message", "location", "venue"), {}),
        (("edited_message", "from"), _DROP),
        (("edited_message", "chat"), _DROP),
        (("edited_message", "message_id"), 1.5),
        (("update_id",), "1"),
        (("message",), {"message_id": 1}),  # two updates in one: not Telegram's shape
    ],
)
def test_anything_but_the_exact_shape_is_left_to_ptb(path: tuple[str, ...], value: object) -> None:
    assert read_live_edit(_changed(path, value)) is None


def test_a_live_edit_with_its_accuracy_and_an_integer_position() -> None:
    raw = _changed(("edited_message", "location", "horizontal_accuracy"), 12)
    raw["edited_message"]["location"]["latitude"] = 32
    live = read_live_edit(raw)
    assert live is not None and live.fix.accuracy_m == 12.0 and live.fix.point == (32.0, 120.4041)
