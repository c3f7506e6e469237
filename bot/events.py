"""A problem's event in words, the same on every surface: the card's timeline, the exports (the XLSX/CSV timeline
cell and the GeoJSON `events`) and the dossier's PDF.

An event's kind alone says little of the dispatch steps: "transferred" needs to whom and until when, an extension
its old and new deadline. Each surface used to word events on its own, and those that knew only the lifecycle's
kinds printed the dispatch codes raw; one function here keeps them from drifting apart again. Plain text: the card
escapes it for HTML as it does every value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.i18n import Locales

__all__ = ["assignee_of", "event_detail", "event_facts", "event_text", "event_words"]

# The kinds whose `assignee` is the person the problem went to (a press names whom it pressed, not a handover).
_HANDED = ("assign", "reassign", "transferred")


def assignee_of(data: Mapping[str, Any]) -> int | None:
    """The person an event handed the problem to (its `assignee`), if it names one as an id."""
    value = data.get("assignee")
    return int(value) if value is not None and str(value).lstrip("-").isdigit() else None


def event_words(locales: Locales, language: str, action: str) -> str:
    """The kind in words: the lifecycle's (`problem.event`), the dispatch kinds' (`dispatch.event`), else the kind
    itself (one a newer version wrote)."""
    for key in (f"problem.event.{action}", f"dispatch.event.{action}"):
        if locales.has(key):
            return locales.plain(language, key)
    return action


def event_detail(locales: Locales, language: str, action: str, data: Mapping[str, Any], name: str | None) -> str:
    """What the event changed, to follow its words: to whom and until when it was assigned or transferred (and to
    which department), the dates of an extension. `name`: the name of the event's assignee (`assignee_of`)."""

    def say(key: str, **params: object) -> str:
        return locales.plain(language, f"dispatch.detail.{key}", **params)

    whom = name or "?"
    deadline = data.get("deadline") or ""
    if action in ("assign", "reassign") and "assignee" in data:
        return say("assigned", name=whom, deadline=deadline)
    if action == "extension_asked":
        return say("asked", new=data.get("new", ""))
    if action == "extension_granted":
        return say("granted", old=data.get("old") or "", new=data.get("new", ""))
    if action == "extension_refused":
        return say("refused", asked=data.get("asked", ""))
    if action == "transferred":
        if data.get("department_name"):
            text = say("department", department=data["department_name"], name=whom, deadline=deadline)
        else:
            text = say("transferred", name=whom, deadline=deadline)
        return text + say("kept" if data.get("kept") else "reset")
    return ""


def event_text(locales: Locales, language: str, action: str, data: Mapping[str, Any], name: str | None) -> str:
    """The event's words and what it changed, as one line's middle ("transferred → Li Ming, due 2026-12-20")."""
    return event_words(locales, language, action) + event_detail(locales, language, action, data, name)


def event_facts(action: str, data: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    """What the event changed as fields (GeoJSON): the assignee's name and deadline of a handover, the department
    of a transfer, the dates of an extension: what `event_detail` says, for a program to read."""
    facts: dict[str, Any] = {}
    if action in _HANDED and "assignee" in data:
        facts |= {"assignee": name or "?", "deadline": data.get("deadline")}
    if action == "transferred":
        facts["kept_deadline"] = bool(data.get("kept"))
        if data.get("department_name"):
            facts["department"] = data["department_name"]
    if action in ("extension_asked", "extension_granted"):
        facts |= {"old_deadline": data.get("old"), "new_deadline": data.get("new")}
    if action == "extension_refused":
        facts["asked_deadline"] = data.get("asked")
    return facts
