"""Where a private message goes (bot.routing), as a table: the behaviour of the three handler groups it replaced
(patrol evidence, dialogs, menu/report photo/fallback), row by row."""

from __future__ import annotations

import itertools
from typing import TypedDict

import pytest

from bot.routing import (
    Destination,
    DialogState,
    Input,
    needs_dialog,
    needs_patrol,
    needs_person,
    needs_report,
    route,
)

I = Input  # noqa: E741
D = Destination
NONE, OPEN, STALE = DialogState.NONE, DialogState.OPEN, DialogState.STALE


class Who(TypedDict):
    may_patrol: bool
    may_report: bool


MEMBER = Who(may_patrol=True, may_report=True)
STRANGER = Who(may_patrol=False, may_report=False)
BOOLS = (True, False)

# (input, who, patrol open, dialog, destination)
ROWS: list[tuple[Input, Who, bool, DialogState, Destination]] = [
    # -- a member on patrol, no dialog: the patrol takes its evidence and its keyboard
    (I.LIVE_EDIT, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.LIVE_STOP, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.LIVE_START, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.LOCATION, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.PHOTO, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.IMAGE_DOCUMENT, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.DOCUMENT, MEMBER, True, NONE, D.PATROL_EVIDENCE),  # a PDF: told it is not an image
    (I.TEXT, MEMBER, True, NONE, D.PATROL_EVIDENCE),  # a note
    (I.FINISH, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.PROBLEM, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.MENU_PATROL, MEMBER, True, NONE, D.PATROL_EVIDENCE),  # shows the open patrol
    (I.MENU_MYPATROLS, MEMBER, True, NONE, D.PATROL_EVIDENCE),  # a note, as it always was
    (I.SLASHED, MEMBER, True, NONE, D.STRAY),  # "/中文" is no note
    (I.CONTACT, MEMBER, True, NONE, D.STRAY),
    (I.VOICE, MEMBER, True, NONE, D.PATROL_EVIDENCE),  # kept as evidence
    (I.AUDIO, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.VIDEO, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.VIDEO_NOTE, MEMBER, True, NONE, D.PATROL_EVIDENCE),
    (I.STICKER, MEMBER, True, NONE, D.STRAY),
    (I.EDIT, MEMBER, True, NONE, D.IGNORE),  # an edited note or caption
    (I.SERVICE, MEMBER, True, NONE, D.IGNORE),
    # -- a member on patrol with a dialog open (a problem being reported): typed input is the dialog's,
    #    a live location stays the track
    (I.LIVE_EDIT, MEMBER, True, OPEN, D.PATROL_EVIDENCE),
    (I.LIVE_STOP, MEMBER, True, OPEN, D.PATROL_EVIDENCE),
    (I.LIVE_START, MEMBER, True, OPEN, D.PATROL_EVIDENCE),
    (I.LOCATION, MEMBER, True, OPEN, D.DIALOG),  # the problem's location
    (I.PHOTO, MEMBER, True, OPEN, D.DIALOG),
    (I.IMAGE_DOCUMENT, MEMBER, True, OPEN, D.DIALOG),
    (I.DOCUMENT, MEMBER, True, OPEN, D.DIALOG),
    (I.TEXT, MEMBER, True, OPEN, D.DIALOG),
    (I.SLASHED, MEMBER, True, OPEN, D.DIALOG),
    (I.FINISH, MEMBER, True, OPEN, D.PATROL_EVIDENCE),  # finishes; a report draft is kept
    (I.PROBLEM, MEMBER, True, OPEN, D.DIALOG),
    (I.MENU_PATROL, MEMBER, True, OPEN, D.DIALOG),
    (I.CONTACT, MEMBER, True, OPEN, D.DIALOG),
    (I.VOICE, MEMBER, True, OPEN, D.PATROL_EVIDENCE),  # no flow takes a voice message: the patrol keeps it
    (I.VIDEO, MEMBER, True, OPEN, D.PATROL_EVIDENCE),
    (I.EDIT, MEMBER, True, OPEN, D.IGNORE),
    # -- a member on patrol with a stale dialog (an older version's flow): the patrol defers to it, no dialog
    #    takes it, so it falls to the menu and the short answers (and the router drops the dialog)
    (I.TEXT, MEMBER, True, STALE, D.STRAY),
    (I.LOCATION, MEMBER, True, STALE, D.STRAY),
    (I.PHOTO, MEMBER, True, STALE, D.REPORT_PHOTO),
    (I.MENU_PATROL, MEMBER, True, STALE, D.MENU),
    (I.LIVE_START, MEMBER, True, STALE, D.PATROL_EVIDENCE),
    (I.LIVE_EDIT, MEMBER, True, STALE, D.PATROL_EVIDENCE),
    # -- a member with no patrol open, no dialog
    (I.LOCATION, MEMBER, False, NONE, D.PATROL_EVIDENCE),  # told how to start a patrol
    (I.LIVE_START, MEMBER, False, NONE, D.PATROL_EVIDENCE),  # likewise
    (I.LIVE_EDIT, MEMBER, False, NONE, D.PATROL_EVIDENCE),  # outlived its patrol: dropped in silence there
    (I.LIVE_STOP, MEMBER, False, NONE, D.PATROL_EVIDENCE),
    (I.PHOTO, MEMBER, False, NONE, D.REPORT_PHOTO),
    (I.IMAGE_DOCUMENT, MEMBER, False, NONE, D.REPORT_PHOTO),
    (I.DOCUMENT, MEMBER, False, NONE, D.STRAY),
    (I.MENU_PATROL, MEMBER, False, NONE, D.MENU),
    (I.MENU_MYPATROLS, MEMBER, False, NONE, D.MENU),
    (I.FINISH, MEMBER, False, NONE, D.STRAY),  # an old patrol keyboard
    (I.PROBLEM, MEMBER, False, NONE, D.STRAY),
    (I.TEXT, MEMBER, False, NONE, D.STRAY),
    (I.SLASHED, MEMBER, False, NONE, D.STRAY),
    (I.CONTACT, MEMBER, False, NONE, D.STRAY),
    (I.VIDEO_NOTE, MEMBER, False, NONE, D.STRAY),
    (I.AUDIO, MEMBER, False, NONE, D.STRAY),
    (I.OTHER, MEMBER, False, NONE, D.STRAY),
    (I.EDIT, MEMBER, False, NONE, D.IGNORE),
    (I.SERVICE, MEMBER, False, NONE, D.IGNORE),
    # -- a member with no patrol open, a dialog open (a report draft, choosing a reach, an invite, a note)
    (I.LOCATION, MEMBER, False, OPEN, D.DIALOG),  # e.g. "nearest to me" while choosing a reach
    (I.LIVE_START, MEMBER, False, OPEN, D.DIALOG),
    (I.LIVE_EDIT, MEMBER, False, OPEN, D.PATROL_EVIDENCE),
    (I.PHOTO, MEMBER, False, OPEN, D.DIALOG),
    (I.DOCUMENT, MEMBER, False, OPEN, D.DIALOG),
    (I.TEXT, MEMBER, False, OPEN, D.DIALOG),
    (I.MENU_PATROL, MEMBER, False, OPEN, D.DIALOG),  # the reach choice shows itself again
    (I.MENU_MYPATROLS, MEMBER, False, OPEN, D.DIALOG),
    (I.CONTACT, MEMBER, False, OPEN, D.DIALOG),
    (I.STICKER, MEMBER, False, OPEN, D.STRAY),
    (I.EDIT, MEMBER, False, OPEN, D.IGNORE),
    # -- someone who may not patrol or report (a stranger, someone pending, a deactivated member)
    (I.LOCATION, STRANGER, False, NONE, D.STRAY),
    (I.LIVE_START, STRANGER, False, NONE, D.STRAY),
    (I.LIVE_EDIT, STRANGER, False, NONE, D.IGNORE),
    (I.LIVE_STOP, STRANGER, False, NONE, D.IGNORE),
    (I.PHOTO, STRANGER, False, NONE, D.STRAY),
    (I.IMAGE_DOCUMENT, STRANGER, False, NONE, D.STRAY),
    (I.DOCUMENT, STRANGER, False, NONE, D.STRAY),
    (I.TEXT, STRANGER, False, NONE, D.STRAY),
    (I.MENU_PATROL, STRANGER, False, NONE, D.MENU),  # /patrol's own refusal
    (I.FINISH, STRANGER, False, NONE, D.STRAY),
    (I.VOICE, STRANGER, False, NONE, D.STRAY),
    (I.EDIT, STRANGER, False, NONE, D.IGNORE),
    (I.SERVICE, STRANGER, False, NONE, D.IGNORE),
    # -- a stranger registering as a volunteer: the registration takes typed input, a contact, a location
    (I.TEXT, STRANGER, False, OPEN, D.DIALOG),
    (I.CONTACT, STRANGER, False, OPEN, D.DIALOG),
    (I.LOCATION, STRANGER, False, OPEN, D.DIALOG),
    (I.PHOTO, STRANGER, False, OPEN, D.DIALOG),
    (I.SLASHED, STRANGER, False, OPEN, D.DIALOG),
    (I.LIVE_EDIT, STRANGER, False, OPEN, D.IGNORE),
    (I.VOICE, STRANGER, False, OPEN, D.STRAY),
    (I.TEXT, STRANGER, False, STALE, D.STRAY),
]


@pytest.mark.parametrize(("kind", "who", "patrol_open", "dialog", "expected"), ROWS)
def test_route(
    kind: Input, who: dict[str, bool], patrol_open: bool, dialog: DialogState, expected: Destination
) -> None:
    assert route(kind, patrol_open=patrol_open, dialog=dialog, **who) is expected


def test_may_report_decides_a_photo_with_nothing_open() -> None:
    patroller_only = Who(may_patrol=True, may_report=False)
    assert route(I.PHOTO, **patroller_only) is D.STRAY
    assert route(I.PHOTO, may_patrol=False, may_report=True) is D.REPORT_PHOTO


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (I.TEXT, D.IGNORE),
        (I.STICKER, D.IGNORE),
        (I.DOCUMENT, D.IGNORE),
        (I.PHOTO, D.REPORT_PHOTO),
        (I.MENU_PATROL, D.MENU),
    ],
)
def test_via_bot_is_silenced_only_where_the_short_answer_would_be(kind: Input, expected: Destination) -> None:
    assert route(kind, via_bot=True, **MEMBER) is expected
    assert route(I.TEXT, via_bot=True, patrol_open=True, **MEMBER) is D.PATROL_EVIDENCE  # a note all the same


def test_facts_not_needed_do_not_change_the_route() -> None:
    """The router reads a fact only when a `needs_…` says so: the others must not matter."""
    for kind, may_patrol, may_report, patrol_open, dialog, via_bot in itertools.product(
        Input, BOOLS, BOOLS, BOOLS, DialogState, BOOLS
    ):
        who = Who(may_patrol=may_patrol, may_report=may_report)
        flipped = Who(may_patrol=may_patrol, may_report=not may_report)
        here = route(kind, patrol_open=patrol_open, dialog=dialog, via_bot=via_bot, **who)
        if not needs_patrol(kind, may_patrol=may_patrol):
            # Not read: the router passes "no patrol"; had one been open, the route would be the same.
            assert route(kind, patrol_open=not patrol_open, dialog=dialog, via_bot=via_bot, **who) is here
        if not needs_dialog(kind, may_patrol=may_patrol, patrol_open=patrol_open):
            assert {route(kind, patrol_open=patrol_open, dialog=d, via_bot=via_bot, **who) for d in DialogState} == {
                here
            }
        if not needs_report(kind):
            assert route(kind, patrol_open=patrol_open, dialog=dialog, via_bot=via_bot, **flipped) is here
        if not needs_person(kind):
            others = [
                route(kind, may_patrol=p, may_report=r, dialog=dialog, via_bot=via_bot)
                for p, r in itertools.product((True, False), repeat=2)
            ]
            assert set(others) == {route(kind, dialog=dialog, via_bot=via_bot)}, kind


def test_a_live_edit_reads_no_dialog() -> None:
    """The hot path: a live edit costs the person and their open patrol, nothing more."""
    for patrol_open in (True, False):
        for may_patrol in (True, False):
            assert not needs_dialog(I.LIVE_EDIT, may_patrol=may_patrol, patrol_open=patrol_open)
    assert needs_person(I.LIVE_EDIT)
    assert needs_patrol(I.LIVE_EDIT, may_patrol=True)
    assert not needs_patrol(I.LIVE_EDIT, may_patrol=False)


def test_a_strangers_photo_is_kept_with_an_offer_but_not_a_pending_or_deactivated_persons() -> None:
    assert route(I.PHOTO, stranger=True, **STRANGER) is D.STRANGER_PHOTO
    assert route(I.IMAGE_DOCUMENT, stranger=True, **STRANGER) is D.STRANGER_PHOTO
    assert route(I.PHOTO, stranger=False, **STRANGER) is D.STRAY  # pending, deactivated
    assert route(I.PHOTO, stranger=True, dialog=OPEN, **STRANGER) is D.DIALOG  # registering: the flow takes it
    assert route(I.TEXT, stranger=True, **STRANGER) is D.STRAY
