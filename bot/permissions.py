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
    # It acts on something of one area (a problem, a person, a reach, an area's figures): an admin with an office
    # scope may do it only inside the scope (`decide_in_area`).
    area_bound: bool = False


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
    "problem": Rule(MEMBERS, PRIVATE, area_bound=True),
    "problems": Rule(STAFF, PRIVATE, area_bound=True),
    "todo": Rule(STAFF, PRIVATE),
    "reaches": Rule(STAFF, PRIVATE, area_bound=True),
    "invite": Rule(ADMINS, PRIVATE, area_bound=True),
    "people": Rule(ADMINS, PRIVATE, area_bound=True),
    "assign": Rule(ADMINS, PRIVATE, area_bound=True),
    "unassign": Rule(ADMINS, PRIVATE, area_bound=True),
    "pending": Rule(ADMINS, PRIVATE, area_bound=True),
    "export": Rule(ADMINS, PRIVATE, area_bound=True),
    "assessment": Rule(ADMINS, PRIVATE, area_bound=True),
    # Everyone in a bound group reads that area's summary; in private, admins any area, chiefs their own areas
    # (which areas: handlers.summaries).
    "summary": Rule(STAFF, PRIVATE | {ChatKind.GROUP_BOUND}, anyone_in_groups=True, area_bound=True),
    "bind": Rule(ADMINS, GROUPS, area_bound=True),
    "unbind": Rule(ADMINS, GROUPS, area_bound=True),
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


def decide_in_area(person: Person | None, action: str, area_id: int | None) -> Decision:
    """May `person` do the area-bound `action` on something of `area_id`, as far as the office scope tells? A
    county admin anywhere; a town's office only inside its scope (never on something of no area). Others are not
    bound by a scope: their own rules decide (a chief's reaches, a reporter's problem: bot.problems)."""
    rule = RULES.get(action)
    if rule is None:
        raise KeyError(f"no permission rule for {action!r}")
    if not rule.area_bound or person is None or not person.is_admin or person.covers(area_id):
        return ALLOW
    return Decision(False, "scope.out_of_scope")


def acts_as_admin(person: Person, area_id: int | None) -> bool:
    """Whether the person's admin powers reach something of this area (an admin whose scope holds it)."""
    return person.is_admin and person.covers(area_id)


def available(person: Person | None, chat: ChatKind) -> list[str]:
    """The actions this person may take here, in table order: what /help and the command menu show."""
    return [name for name in RULES if decide(person, name, chat, group_admin=False).allowed]
