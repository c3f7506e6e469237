"""A live-location edit read straight from the Bot API's JSON, without the Update PTB would build for it.

Why: on a patrol day most of what the bot receives is live-location edits (one every few seconds from every
chief on a river), and every one is answered by nothing: it is a track point or it is dropped. Building PTB's
Update, Message, Chat, User and Location objects for it costs more than the rest of its handling put together
(measured: `python -m benchmarks live`). So the intake reads the few fields a point needs from the JSON and
queues a `LiveEdit`; `handlers.router.live_edit` routes it as it would route the Update.

Only the exact shape is read here; anything else (a stopped live location, a group's, an unexpected field) is
left to PTB. A `LiveEdit` keeps its JSON, so whatever goes wrong while handling it is handled again as an Update,
through the error handler like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import Bot, Update

from bot.patrols import Fix

JSON = dict[str, Any]

# What a private live-location edit holds (Bot API 7+); one more field (a caption, a reply) sends it PTB's way.
_MESSAGE_FIELDS = frozenset({"message_id", "from", "chat", "date", "edit_date", "location"})
_LOCATION_FIELDS = frozenset(
    {"latitude", "longitude", "live_period", "horizontal_accuracy", "heading", "proximity_alert_radius"}
)


@dataclass(frozen=True, slots=True)
class LiveEdit:
    """A private chat's live location moved: who, where, when, and the update it came in."""

    update_id: int
    chat_id: int
    user_id: int
    fix: Fix
    raw: JSON

    def as_update(self, bot: Bot) -> Update:
        """The Update PTB would have made of it: for when it must be handled the ordinary way after all."""
        update = Update.de_json(self.raw, bot)
        assert update is not None
        return update


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_live_edit(raw: JSON) -> LiveEdit | None:
    """The live edit in this update, or None when it is not exactly one (then PTB reads it)."""
    message = raw.get("edited_message")
    if len(raw) != 2 or not isinstance(message, dict) or not message.keys() <= _MESSAGE_FIELDS:
        return None
    chat, sender, location = message.get("chat"), message.get("from"), message.get("location")
    if not isinstance(chat, dict) or chat.get("type") != "private" or not isinstance(sender, dict):
        return None
    if not isinstance(location, dict) or not location.keys() <= _LOCATION_FIELDS:
        return None
    update_id, chat_id, user_id = _int(raw.get("update_id")), _int(chat.get("id")), _int(sender.get("id"))
    message_id, edited = _int(message.get("message_id")), _int(message.get("edit_date"))
    period = _int(location.get("live_period"))
    latitude, longitude = _number(location.get("latitude")), _number(location.get("longitude"))
    accuracy = location.get("horizontal_accuracy")
    if accuracy is not None and (accuracy := _number(accuracy)) is None:
        return None
    if (
        update_id is None
        or chat_id is None
        or user_id is None
        or message_id is None
        or edited is None
        or period is None  # no live_period: sharing stopped, which is answered
        or latitude is None
        or longitude is None
    ):
        return None
    fix = Fix((latitude, longitude), datetime.fromtimestamp(edited, UTC), accuracy, message_id, period)
    return LiveEdit(update_id, chat_id, user_id, fix, raw)
