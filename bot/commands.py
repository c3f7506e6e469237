"""The bot's commands: who may use each, and where.

One list feeds both the command menu Telegram shows (setMyCommands, per language) and `/help`, so the two can
never disagree. Descriptions live in the locales under `commands.<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.people import ADMIN, CHIEF, VOLUNTEER, Person

Audience = Literal["everyone", "admin", "chief", "volunteer", "member"]
Where = Literal["private", "group"]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    audience: Audience = "everyone"
    where: frozenset[Where] = frozenset({"private"})

    def allowed_for(self, person: Person | None) -> bool:
        if self.audience == "everyone":
            return True
        if person is None or not person.active:
            return False
        if self.audience == "member":  # anyone registered in a role
            return bool(person.roles)
        role = {"admin": ADMIN, "chief": CHIEF, "volunteer": VOLUNTEER}[self.audience]
        return role in person.roles or person.is_admin


COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("help", where=frozenset({"private", "group"})),
    Command("language", where=frozenset({"private", "group"})),
)


def commands_for(person: Person | None, where: Where) -> list[Command]:
    """What this person can use here, in menu order."""
    return [c for c in COMMANDS if where in c.where and c.allowed_for(person)]


def menu_commands(where: Where) -> list[Command]:
    """The public menu: commands for everyone (role menus are set per chat when roles exist)."""
    return [c for c in COMMANDS if where in c.where and c.audience == "everyone"]
