"""Where a private message goes: the one decision table for everything a person sends the bot in private.

Every private message and edit that is not a command comes through `route` (commands have their own handlers,
and handlers.fallback answers the ones nobody knows), in this order of precedence:

1. an open patrol takes the person's locations, photos, files, notes, voice and video and its keyboard's
   buttons — except that an open dialog (a problem being reported, an invite being made) gets a single
   location and typed input first, while a live location always stays the patrol's track
   (`bot.patrols.dialog_first`), and Finish always finishes (`PATROL_FIRST`);
2. an open dialog takes typed input: text, a photo or file, a location, a contact; each flow answers what
   does not fit its step itself, so the step never changes where a message goes;
3. the main menu's buttons (they arrive as their text), a photo that starts a report, and a short answer for
   anything else; edits, service messages and whatever an inline bot posted for the person are left alone.

A dialog of a flow this version does not know (from an older one) is "stale": the router drops it when it
meets it, and it counts as open for step 1 only (as it always has: the patrol defers to it, the dialogs don't
take it). The facts are read lazily (`needs_person`, `needs_report`, `needs_patrol`, `needs_dialog`), so a
live edit costs the person and their open patrol and nothing else.
"""

from __future__ import annotations

from enum import StrEnum

from bot.patrols import Sharing, dialog_first


class Input(StrEnum):
    """What a private message is, as far as routing cares (handlers.router tells them apart)."""

    TEXT = "text"  # typed text, none of the below
    SLASHED = "slashed"  # text starting with "/" that Telegram did not mark as a command ("/" then Chinese, "/ x")
    MENU_PATROL = "menu_patrol"  # the main menu's "patrol" button (its text, in either language)
    MENU_MYPATROLS = "menu_mypatrols"  # the main menu's "my patrols" button
    MENU_REPORT = "menu_report"  # the main menu's "report a problem" button
    MENU_TODO = "menu_todo"  # the main menu's "my to-do" button (chiefs)
    FINISH = "finish"  # the patrol keyboard's "finish" button
    PROBLEM = "problem"  # the patrol keyboard's "report a problem" button
    PHOTO = "photo"
    IMAGE_DOCUMENT = "image_document"  # a file whose MIME type is image/…
    DOCUMENT = "document"  # any other file (a GIF arrives as one too), or one without a MIME type
    LOCATION = "location"  # a location sent once (a venue too)
    LIVE_START = "live_start"  # the message that starts a live location
    LIVE_EDIT = "live_edit"  # the live location moved (an edit)
    LIVE_STOP = "live_stop"  # an edit without live_period: sharing stopped or ran out
    CONTACT = "contact"
    VOICE = "voice"
    VIDEO_NOTE = "video_note"
    VIDEO = "video"
    AUDIO = "audio"
    STICKER = "sticker"
    OTHER = "other"  # a poll, a dice, a game, …
    SERVICE = "service"  # a service message (pinned, auto-delete timer, …): not the person talking
    EDIT = "edit"  # an edit of anything but a live location


class DialogState(StrEnum):
    NONE = "none"
    OPEN = "open"  # a flow this version knows: registration, invite, report draft, reach choice, problem note
    STALE = "stale"  # a flow from an older version: dropped when met


class Destination(StrEnum):
    PATROL_EVIDENCE = "patrol_evidence"  # handlers.patrol.evidence: the track, a photo, a note, the keyboard
    DIALOG = "dialog"  # the open dialog's flow (handlers.dialogs)
    MENU = "menu"  # handlers.router.menu_text: /patrol, /mypatrols, /report or /todo from the main menu
    REPORT_PHOTO = "report_photo"  # handlers.report.photo_without_dialog: a photo starts a report
    STRANGER_PHOTO = "stranger_photo"  # handlers.citizens.stranger_photo: kept, and an offer to join
    STRAY = "stray"  # handlers.fallback.stray_message: nobody is waiting for it; point at /help
    IGNORE = "ignore"  # nothing to do, nothing to say


LOCATIONS: dict[Input, Sharing] = {
    Input.LOCATION: Sharing.SINGLE,
    Input.LIVE_START: Sharing.LIVE_START,
    Input.LIVE_EDIT: Sharing.LIVE_EDIT,
    Input.LIVE_STOP: Sharing.LIVE_STOP,
}
MENU = frozenset({Input.MENU_PATROL, Input.MENU_MYPATROLS, Input.MENU_REPORT, Input.MENU_TODO})
LABELS = MENU | {Input.FINISH, Input.PROBLEM}
PHOTOS = frozenset({Input.PHOTO, Input.IMAGE_DOCUMENT})
# What an open patrol takes when no dialog is open (locations aside): "my patrols" typed during one is a note.
GATHERED = PHOTOS | LABELS | {Input.DOCUMENT, Input.TEXT}
# What an open dialog takes (a new message, not an edit).
TYPED = GATHERED | {Input.SLASHED, Input.CONTACT, Input.LOCATION, Input.LIVE_START}
# Voice, audio and video: an open patrol keeps them as evidence (no dialog takes them); else the short answer.
MEDIA = frozenset({Input.VOICE, Input.AUDIO, Input.VIDEO, Input.VIDEO_NOTE})
# What an open patrol takes even with a dialog open: its own Finish button (a report half written must not
# hold the patrol open: the draft is kept), and the media no dialog takes.
PATROL_FIRST = MEDIA | {Input.FINISH}


def needs_person(kind: Input) -> bool:
    """Whether routing `kind` depends on who sends it (may they patrol, report): a live edit does."""
    return kind in LOCATIONS or kind in GATHERED or kind in MEDIA


def needs_report(kind: Input) -> bool:
    """Whether routing `kind` depends on the sender's right to report (a photo with nothing open starts one)."""
    return kind in PHOTOS


def needs_patrol(kind: Input, *, may_patrol: bool) -> bool:
    """Whether routing `kind` depends on an open patrol (only a patrolling person's input can)."""
    return may_patrol and (kind in LOCATIONS or kind in GATHERED or kind in MEDIA)


def needs_dialog(kind: Input, *, may_patrol: bool, patrol_open: bool) -> bool:
    """Whether routing `kind` depends on an open dialog: not for a live location the patrol takes anyway."""
    if kind not in TYPED or (may_patrol and patrol_open and kind in PATROL_FIRST):
        return False
    sharing = LOCATIONS.get(kind)
    return not (may_patrol and sharing is not None and not dialog_first(sharing, patrol_open=patrol_open))


def route(
    kind: Input,
    *,
    may_patrol: bool = False,
    may_report: bool = False,
    patrol_open: bool = False,
    dialog: DialogState = DialogState.NONE,
    via_bot: bool = False,
    stranger: bool = False,
) -> Destination:
    """Where a private message goes; the facts a `needs_…` says are not needed may be left at their default."""
    if kind is Input.EDIT or kind is Input.SERVICE:
        return Destination.IGNORE
    # 1. The open patrol (a person who may patrol; with none open, a new location is told how to start one).
    in_dialog = dialog is not DialogState.NONE
    if may_patrol:
        sharing = LOCATIONS.get(kind)
        if sharing is not None:
            if not (in_dialog and dialog_first(sharing, patrol_open=patrol_open)):
                return Destination.PATROL_EVIDENCE
        elif patrol_open and (kind in PATROL_FIRST or (not in_dialog and kind in GATHERED)):
            return Destination.PATROL_EVIDENCE
    if kind is Input.LIVE_EDIT or kind is Input.LIVE_STOP:
        return Destination.IGNORE  # someone else's live location, or one from before they could patrol
    # 2. The open dialog.
    if dialog is DialogState.OPEN and kind in TYPED:
        return Destination.DIALOG
    # 3. Everything else.
    if kind in MENU:
        return Destination.MENU
    if kind in PHOTOS:
        if may_report:
            return Destination.REPORT_PHOTO
        # Someone who is nobody yet (not waiting for approval either) found something: keep it, offer to join.
        return Destination.STRANGER_PHOTO if stranger else Destination.STRAY
    return Destination.IGNORE if via_bot else Destination.STRAY
