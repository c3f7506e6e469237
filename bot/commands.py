"""The bot's commands, in menu order.

One list feeds the command menu Telegram shows (setMyCommands, per language and, for people with roles, per
chat) and `/help`, and who sees what comes from `bot.permissions`, so the menu, /help and what the handlers
allow can never disagree. Descriptions live in the locales under `commands.<name>`.
"""

from __future__ import annotations

from typing import Literal

from bot.people import Person
from bot.permissions import EVERYONE, RULES, ChatKind, decide

Where = Literal["private", "group"]

COMMANDS: tuple[str, ...] = (
    "start",
    "help",
    "register",
    "patrol",
    "report",
    "mypatrols",
    "assistants",
    "myreports",
    "todo",
    "problems",
    "problem",
    "reaches",
    "summary",
    "invite",
    "people",
    "pending",
    "assign",
    "unassign",
    "export",
    "assessment",
    "bind",
    "unbind",
    "language",
    "cancel",
)


def _kind(where: Where) -> ChatKind:
    return ChatKind.PRIVATE if where == "private" else ChatKind.GROUP_UNBOUND


def commands_for(person: Person | None, where: Where) -> list[str]:
    """What this person can use here, in menu order."""
    return [c for c in COMMANDS if decide(person, c, _kind(where), group_admin=True).allowed]


def is_for_everyone(command: str) -> bool:
    return RULES[command].who == EVERYONE


def menu_commands(where: Where) -> list[str]:
    """The public menu: what anyone may use (people with roles get their own menu, set per chat)."""
    if where == "group":
        return [c for c in COMMANDS if _kind(where) in RULES[c].where]
    return [c for c in COMMANDS if _kind(where) in RULES[c].where and is_for_everyone(c)]
