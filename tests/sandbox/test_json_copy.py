"""The stand-in's copy of JSON data (sandbox/state.py, json_copy): equal to deepcopy's, and sharing nothing
mutable with the original, so later edits never reach what the bot was given."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.state import json_copy

UPDATE: dict[str, Any] = {
    "update_id": 7,
    "edited_message": {
        "message_id": 5,
        "from": {"id": 1, "is_bot": False, "first_name": "A"},
        "chat": {"id": 1, "type": "private"},
        "location": {"latitude": 31.5, "longitude": 120.25, "live_period": 3600},
        "entities": [{"type": "bold", "offset": 0, "length": 2}],
        "caption": None,
    },
    "nested": [[1, 2.5, "x", True, None], {"k": [{}]}],
    "tuple": (1, [2]),
}


def test_equal_to_deepcopy_and_independent() -> None:
    copied = json_copy(UPDATE)
    assert copied == copy.deepcopy(UPDATE)
    copied["edited_message"]["location"]["latitude"] = 0.0
    copied["edited_message"]["entities"][0]["length"] = 9
    copied["nested"][1]["k"][0]["new"] = 1
    copied["tuple"][1].append(3)  # a tuple goes to deepcopy: its list is a copy too
    assert UPDATE["edited_message"]["location"]["latitude"] == 31.5
    assert UPDATE["edited_message"]["entities"][0]["length"] == 2
    assert UPDATE["nested"][1]["k"][0] == {}
    assert UPDATE["tuple"] == (1, [2])
