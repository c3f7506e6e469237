"""Every command × every kind of person × every kind of chat, against a table written out by hand.

The table is the specification: it is not derived from `bot.permissions.RULES`, so a changed rule must be
changed here too, on purpose.
"""

from __future__ import annotations

import pytest

from bot.commands import COMMANDS
from bot.people import Person
from bot.permissions import RULES, ChatKind, acts_as_admin, decide, decide_in_area

ROLES = ("stranger", "pending", "volunteer", "chief", "admin")
CHATS = (ChatKind.PRIVATE, ChatKind.GROUP_BOUND, ChatKind.GROUP_UNBOUND)

# ok = allowed; - = silence (no business in this kind of chat); anything else = the refusal's locale key
# (perm.<key>). Columns: private, group bound, group unbound; rows per role in ROLES order.
OK, SILENT = "ok", "-"
TABLE: dict[str, dict[str, tuple[str, str, str]]] = {
    "start": dict.fromkeys(ROLES, (OK, SILENT, SILENT)),
    "help": dict.fromkeys(ROLES, (OK, OK, OK)),
    "register": dict.fromkeys(ROLES, (OK, SILENT, SILENT)),
    "cancel": dict.fromkeys(ROLES, (OK, SILENT, SILENT)),
    "language": {
        "stranger": (OK, "group_admins_only", "group_admins_only"),
        "pending": (OK, "group_admins_only", "group_admins_only"),
        "volunteer": (OK, "group_admins_only", "group_admins_only"),
        "chief": (OK, "group_admins_only", "group_admins_only"),
        "admin": (OK, OK, OK),
    },
    **{
        command: {
            "stranger": ("register_first", SILENT, SILENT),
            "pending": ("pending", SILENT, SILENT),
            "volunteer": (OK, SILENT, SILENT),
            "chief": (OK, SILENT, SILENT),
            "admin": (OK, SILENT, SILENT),
        }
        for command in ("patrol", "mypatrols", "report", "myreports", "problem")
    },
    "problems": {
        "stranger": ("staff_only", SILENT, SILENT),
        "pending": ("pending", SILENT, SILENT),
        "volunteer": ("staff_only", SILENT, SILENT),
        "chief": (OK, SILENT, SILENT),
        "admin": (OK, SILENT, SILENT),
    },
    "assistants": {
        "stranger": ("staff_only", SILENT, SILENT),
        "pending": ("pending", SILENT, SILENT),
        "volunteer": ("staff_only", SILENT, SILENT),
        "chief": (OK, SILENT, SILENT),
        "admin": (OK, SILENT, SILENT),
    },
    "todo": {
        "stranger": ("staff_only", SILENT, SILENT),
        "pending": ("pending", SILENT, SILENT),
        "volunteer": ("staff_only", SILENT, SILENT),
        "chief": (OK, SILENT, SILENT),
        "admin": (OK, SILENT, SILENT),
    },
    "reaches": {
        "stranger": ("staff_only", SILENT, SILENT),
        "pending": ("pending", SILENT, SILENT),
        "volunteer": ("staff_only", SILENT, SILENT),
        "chief": (OK, SILENT, SILENT),
        "admin": (OK, SILENT, SILENT),
    },
    **{
        command: {
            "stranger": ("admins_only", SILENT, SILENT),
            "pending": ("admins_only", SILENT, SILENT),
            "volunteer": ("admins_only", SILENT, SILENT),
            "chief": ("admins_only", SILENT, SILENT),
            "admin": (OK, SILENT, SILENT),
        }
        for command in ("invite", "people", "pending", "assign", "unassign", "export", "assessment")
    },
    "summary": {
        "stranger": ("staff_only", OK, SILENT),
        "pending": ("pending", OK, SILENT),
        "volunteer": ("staff_only", OK, SILENT),
        "chief": (OK, OK, SILENT),
        "admin": (OK, OK, SILENT),
    },
    **{
        command: {
            "stranger": ("group_only", "admins_only", "admins_only"),
            "pending": ("group_only", "admins_only", "admins_only"),
            "volunteer": ("group_only", "admins_only", "admins_only"),
            "chief": ("group_only", "admins_only", "admins_only"),
            "admin": ("group_only", OK, OK),
        }
        for command in ("bind", "unbind")
    },
}


def person(role: str, *, active: bool = True) -> Person | None:
    if role == "stranger":
        return Person(1, 1, "x", "zh", frozenset(), None, active)
    if role == "pending":
        return Person(1, 1, "x", "zh", frozenset(), None, active, pending=True)
    return Person(1, 1, "x", "zh", frozenset({role}), "town" if role == "chief" else None, active)


def outcome(role: str, command: str, chat: ChatKind, *, active: bool = True, group_admin: bool = False) -> str:
    decision = decide(person(role, active=active), command, chat, group_admin=group_admin)
    if decision.allowed:
        return OK
    return SILENT if decision.reason is None else decision.reason.removeprefix("perm.")


def test_the_table_covers_every_command() -> None:
    assert set(TABLE) == set(COMMANDS) == set(RULES)


@pytest.mark.parametrize("command", sorted(TABLE))
@pytest.mark.parametrize("role", ROLES)
def test_command_role_chat(command: str, role: str) -> None:
    got = tuple(outcome(role, command, chat) for chat in CHATS)
    assert got == TABLE[command][role]


def test_a_person_never_met_is_a_stranger() -> None:
    assert decide(None, "reaches", ChatKind.PRIVATE).reason == "perm.staff_only"
    assert decide(None, "help", ChatKind.GROUP_BOUND).allowed
    assert decide(None, "bind", ChatKind.GROUP_BOUND).reason == "perm.admins_only"


@pytest.mark.parametrize("role", ROLES)
def test_deactivated_people_are_told_so_wherever_the_command_belongs(role: str) -> None:
    for command in TABLE:
        for chat in CHATS:
            expected = TABLE[command][role][CHATS.index(chat)]
            got = outcome(role, command, chat, active=False)
            if expected in (SILENT, "group_only"):
                assert got == expected, (command, chat)
            else:
                assert got == "deactivated", (command, chat)


def test_group_admins_may_set_their_group_language_but_not_bind_it() -> None:
    for chat in (ChatKind.GROUP_BOUND, ChatKind.GROUP_UNBOUND):
        assert outcome("stranger", "language", chat, group_admin=True) == OK
        assert outcome("chief", "bind", chat, group_admin=True) == "admins_only"


def test_a_person_with_several_roles_gets_the_union() -> None:
    both = Person(1, 1, "x", "zh", frozenset({"chief", "volunteer"}), "village", True)
    assert decide(both, "reaches", ChatKind.PRIVATE).allowed
    assert not decide(both, "invite", ChatKind.PRIVATE).allowed


# -- office scope --------------------------------------------------------------------------------------------

TOWN_A, TOWN_B = 1, 2
# The actions on something of one area: a town's office (an admin scoped to some areas) does them only there.
AREA_BOUND = {
    *("problem", "problems", "reaches", "invite", "people"),
    *("assign", "unassign", "pending", "export", "summary"),
    *("assessment", "bind", "unbind"),
}
# Who × (something in town A, something in town B, something of no area) for an area-bound action.
SCOPE_TABLE: dict[str, tuple[str, str, str]] = {
    "county_admin": (OK, OK, OK),
    "town_admin_of_a": (OK, "out_of_scope", "out_of_scope"),
    "admin_of_a_and_b": (OK, OK, "out_of_scope"),
    # Not bound by a scope: their own rules decide (their reaches, their reports: bot.problems).
    "chief": (OK, OK, OK),
    "volunteer": (OK, OK, OK),
}


def scoped(kind: str) -> Person:
    areas = {
        "county_admin": None,
        "town_admin_of_a": frozenset({TOWN_A}),
        "admin_of_a_and_b": frozenset({TOWN_A, TOWN_B}),
    }
    if kind in areas:
        return Person(1, 1, "x", "zh", frozenset({"admin"}), None, True, areas=areas[kind])
    return Person(1, 1, "x", "zh", frozenset({kind}), "town" if kind == "chief" else None, True)


def in_area(kind: str, action: str, area_id: int | None) -> str:
    decision = decide_in_area(scoped(kind), action, area_id)
    return OK if decision.allowed else str(decision.reason).removeprefix("scope.")


def test_the_area_bound_actions_are_these() -> None:
    assert {name for name, rule in RULES.items() if rule.area_bound} == AREA_BOUND


@pytest.mark.parametrize("action", sorted(AREA_BOUND))
@pytest.mark.parametrize("kind", sorted(SCOPE_TABLE))
def test_area_bound_action_by_scope(action: str, kind: str) -> None:
    assert tuple(in_area(kind, action, area) for area in (TOWN_A, TOWN_B, None)) == SCOPE_TABLE[kind]


@pytest.mark.parametrize("action", sorted(set(RULES) - AREA_BOUND))
def test_other_actions_ignore_the_scope(action: str) -> None:
    assert in_area("town_admin_of_a", action, TOWN_B) == OK


def test_a_scoped_admin_is_still_an_admin_for_the_command_table() -> None:
    town = scoped("town_admin_of_a")
    assert decide(town, "people", ChatKind.PRIVATE).allowed
    assert acts_as_admin(town, TOWN_A) and not acts_as_admin(town, TOWN_B)
    assert acts_as_admin(scoped("county_admin"), TOWN_B)
    assert not acts_as_admin(scoped("chief"), TOWN_A)
