"""Request parameters: Telegram accepts query strings, form bodies, multipart and JSON alike.

In form and multipart bodies every value is a string (python-telegram-bot JSON-encodes nested
objects such as ``reply_markup``), so values are normalised once here by field name and the
method implementations read typed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

#: Fields whose value is a JSON object/array.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "media",
        "commands",
        "scope",
        "allowed_updates",
        "reply_parameters",
        "link_preview_options",
        "reaction",
        "message_ids",
        "menu_button",
        "results",
        "rights",
    }
)
INT_FIELDS = frozenset(
    {
        "message_id",
        "user_id",
        "offset",
        "limit",
        "reply_to_message_id",
        "message_thread_id",
        "live_period",
        "heading",
        "proximity_alert_radius",
        "cache_time",
        "from_chat_id",
        "max_connections",
        "until_date",
    }
)
FLOAT_FIELDS = frozenset({"latitude", "longitude", "horizontal_accuracy", "timeout"})
BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "is_big",
        "is_anonymous",
    }
)


@dataclass
class Upload:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return f"Upload(name={self.name!r}, filename={self.filename!r}, size={len(self.data)})"


def _normalise(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if name in JSON_FIELDS:
            return json.loads(value)
        if name in INT_FIELDS or name == "chat_id":
            return int(value)
        if name in FLOAT_FIELDS:
            return float(value)
        if name in BOOL_FIELDS:
            return value.lower() in ("true", "1")
    except ValueError:
        return value  # left as is; the typed accessor reports it as a Bad Request
    return value


class Params:
    """Typed, Telegram-style access to request parameters (400 errors on bad input)."""

    def __init__(self, values: dict[str, Any], uploads: dict[str, Upload] | None = None) -> None:
        self.uploads = uploads or {}
        self.values = {k: _normalise(k, v) for k, v in values.items()}

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None

    def get_str(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def req_str(self, name: str) -> str:
        value = self.get_str(name, required=True)
        assert value is not None
        return value

    def get_int(self, name: str, *, required: bool = False) -> int | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise bad_request(f"invalid {name} specified")
        return int(value)

    def req_int(self, name: str) -> int:
        value = self.get_int(name, required=True)
        assert value is not None
        return value

    def get_float(self, name: str, *, required: bool = False) -> float | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"invalid {name} specified")
        return float(value)

    def req_float(self, name: str) -> float:
        value = self.get_float(name, required=True)
        assert value is not None
        return value

    def get_bool(self, name: str) -> bool:
        return bool(self.values.get(name))

    def get_json(self, name: str) -> Any:
        """A JSON field, already decoded; a string that failed to decode is a Bad Request."""
        value = self.values.get(name)
        if isinstance(value, str):
            if name == "reply_markup":
                raise bad_request("can't parse reply keyboard markup JSON object")
            raise bad_request(f"can't parse {name} JSON object")
        return value

    def chat_id(self) -> int | str:
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise bad_request("chat not found")
        return value

    def input_file(self, value: Any) -> Upload | str | None:
        """Resolve an InputFile value: an uploaded part, ``attach://<part>``, or a file_id/URL string."""
        if isinstance(value, Upload) or value is None:
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            upload = self.uploads.get(value[len("attach://") :])
            if upload is None:
                raise bad_request(f"wrong file identifier/HTTP URL specified: part {value[9:]} not found")
            return upload
        if isinstance(value, str):
            return value
        raise bad_request("wrong file identifier/HTTP URL specified")
