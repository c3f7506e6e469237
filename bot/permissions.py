"""Who may do what, where: the one function every handler asks before acting.

Keeping every rule in one table makes the rules reviewable at a glance, and lets one test walk every command
for every kind of person in every kind of chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.people import Person


class Role(StrEnum):
    """The kinds of people the rules tell apart; a person with several roles counts as each of them."""

    STRANGER = "stranger"  # opened the bot, registered as nothing
    PENDING = "pending"  # asked to join as a volunteer, waiting for an admin
    VOLUNTEER = "volunteer"
    CHIEF = "chief"
    ADMIN = "admin"


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP_BOUND = "group_bound"  # a group linked to an area (it gets that area's weekly summary)
    GROUP_UNBOUND = "group_unbound"


GROUPS = frozenset({ChatKind.GROUP_BOUND, ChatKind.GROUP_UNBOUND})
PRIVATE = frozenset({ChatKind.PRIVATE})
ANYWHERE = PRIVATE | GROUPS
EVERYONE = frozenset(Role)
MEMBERS = frozenset({Role.VOLUNTEER, Role.CHIEF, Role.ADMIN})
STAFF = frozenset({Role.CHIEF, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Rule:
    who: frozenset[Role]
    where: frozenset[ChatKind]
    # In groups, also let the group's own Telegram admins do it (e.g. choose the group's language).
    group_admins: bool = False
    # In the groups of `where`, anyone may do it, whatever `who` says (e.g. read the group's own area summary).
    anyone_in_groups: bool = False


# Actions are command names; a button belongs to the command that showed it and is checked as that command.
RULES: dict[str, Rule] = {
    "start": Rule(EVERYONE, PRIVATE),
    "help": Rule(EVERYONE, ANYWHERE),
    "language": Rule(EVERYONE, PRIVATE | GROUPS, group_admins=True),
    "register": Rule(EVERYONE, PRIVATE),
    "cancel": Rule(EVERYONE, PRIVATE),
    "patrol": Rule(MEMBERS, PRIVATE),
    "mypatrols": Rule(MEMBERS, PRIVATE),
    # A chief names their assistants; an admin who is no chief is pointed to /people.
    "assistants": Rule(STAFF, PRIVATE),
    "report": Rule(MEMBERS, PRIVATE),
    "myreports": Rule(MEMBERS, PRIVATE),
    # One problem: who may see it and act on it depends on the problem too (bot.problems.ProblemService).
    "problem": Rule(MEMBERS, PRIVATE),
    "problems": Rule(STAFF, PRIVATE),
    "todo": Rule(STAFF, PRIVATE),
    "reaches": Rule(STAFF, PRIVATE),
    "invite": Rule(ADMINS, PRIVATE),
    "people": Rule(ADMINS, PRIVATE),
    "assign": Rule(ADMINS, PRIVATE),
    "unassign": Rule(ADMINS, PRIVATE),
    "pending": Rule(ADMINS, PRIVATE),
    "export": Rule(ADMINS, PRIVATE),
    "assessment": Rule(ADMINS, PRIVATE),
    # Everyone in a bound group reads that area's summary; in private, admins any area, chiefs their own areas
    # (which areas: handlers.summaries).
    "summary": Rule(STAFF, PRIVATE | {ChatKind.GROUP_BOUND}, anyone_in_groups=True),
    "bind": Rule(ADMINS, GROUPS),
    "unbind": Rule(ADMINS, GROUPS),
}

# In a group, only these get any answer from the bot; everything else is met with silence (groups are for
# people, not for the bot's chatter).
GROUP_AUDIBLE = frozenset(name for name, rule in RULES.items() if rule.where & GROUPS)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Locale key of the refusal to show; None with allowed=False means: say nothing (wrong kind of chat).
    reason: str | None = None


ALLOW = Decision(True)


def roles_of(person: Person | None) -> frozenset[Role]:
    if person is None:
        return frozenset({Role.STRANGER})
    roles: set[Role] = set()
    if person.is_admin:
        roles.add(Role.ADMIN)
    if person.is_chief:
        roles.add(Role.CHIEF)
    if person.is_volunteer:
        roles.add(Role.VOLUNTEER)
    if not roles:
        roles.add(Role.PENDING if person.pending else Role.STRANGER)
    return frozenset(roles)


def decide(person: Person | None, action: str, chat: ChatKind, *, group_admin: bool = False) -> Decision:
    """May `person` do `action` in this kind of chat? `group_admin`: they administer this Telegram group."""
    rule = RULES.get(action)
    if rule is None:
        raise KeyError(f"no permission rule for {action!r}")
    if chat not in rule.where:
        return Decision(False, "perm.group_only" if chat is ChatKind.PRIVATE else None)
    if person is not None and not person.active:
        return Decision(False, "perm.deactivated")
    if chat in GROUPS and rule.anyone_in_groups:
        return ALLOW
    roles = roles_of(person)
    if roles & rule.who:
        if chat in GROUPS and rule.group_admins and rule.who == EVERYONE:
            # Everyone may ask in private; in a group it changes the group, so its admins (or ours) decide.
            if group_admin or Role.ADMIN in roles:
                return ALLOW
            return Decision(False, "perm.group_admins_only")
        return ALLOW
    if rule.who <= ADMINS:
        return Decision(False, "perm.admins_only")
    if Role.PENDING in roles:
        return Decision(False, "perm.pending")
    if rule.who <= STAFF:
        return Decision(False, "perm.staff_only")
    return Decision(False, "perm.register_first")


def available(person: Person | None, chat: ChatKind) -> list[str]:
    """The actions this person may take here, in table order: what /help and the command menu show."""
    return [name for name in RULES if decide(person, name, chat, group_admin=False).allowed]
