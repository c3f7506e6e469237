"""The one entry for private input: every private message and edit that is not a command comes here.

It tells what the message is, gathers the facts `bot.routing.route` needs (only those: a live edit costs the
sender and their open patrol, both cached by the services), and hands the message to the feature that takes
it. The features keep their own functions: the patrol's in handlers/patrol.py, the dialogs' flows (`@flow`)
in their modules, the report's photo in handlers/report.py, the short answers in handlers/fallback.py.
"""

from __future__ import annotations

import functools

from telegram import Bot, Message, Update
from telegram.ext import Application, MessageHandler, filters

from bot.i18n import Locales
from bot.patrols import Sharing
from bot.permissions import ChatKind, decide
from bot.routing import (
    PHOTOS,
    Destination,
    DialogState,
    Input,
    needs_dialog,
    needs_patrol,
    needs_person,
    needs_report,
    route,
)
from bot.services import Services
from handlers.citizens import stranger_photo
from handlers.common import Context, services
from handlers.dialogs import knows, take
from handlers.fallback import stray_message
from handlers.fieldwork import labels
from handlers.live import LiveEdit
from handlers.patrol import evidence, location_answer
from handlers.patrol import menu_text as patrol_menu_text
from handlers.report import photo_without_dialog, report_command
from handlers.todo import todo_command

# The reply keyboards' buttons, which arrive as their text (in either language: the person may have switched).
_LABEL_KEYS = {
    "menu.patrol": Input.MENU_PATROL,
    "menu.mypatrols": Input.MENU_MYPATROLS,
    "menu.report": Input.MENU_REPORT,
    "menu.todo": Input.MENU_TODO,
    "patrol.finish_button": Input.FINISH,
    "patrol.problem_button": Input.PROBLEM,
}


@functools.cache
def _labels() -> dict[str, Input]:
    locales = Locales.load()
    return {label: kind for key, kind in _LABEL_KEYS.items() for label in labels(locales, key)}


def classify(update: Update, message: Message) -> Input:
    """What the message is, checked in the order the old handler filters saw it (location, photo, file, text)."""
    location = message.location
    if update.edited_message is not None:
        if location is None:
            return Input.EDIT
        return Input.LIVE_EDIT if location.live_period is not None else Input.LIVE_STOP
    if location is not None:  # a venue carries its location too
        return Input.LIVE_START if location.live_period is not None else Input.LOCATION
    if message.photo:
        return Input.PHOTO
    document = message.document  # a GIF (animation) comes with its document as well
    if document is not None:
        image = document.mime_type is not None and document.mime_type.startswith("image/")
        return Input.IMAGE_DOCUMENT if image else Input.DOCUMENT
    text = message.text
    if text:
        if text.startswith("/"):
            return Input.SLASHED  # a real command never gets here (the handler's filter)
        # Telegram trims what is sent, so a button's text arrives exactly as its label.
        return _labels().get(text.strip(), Input.TEXT)
    if message.contact is not None:
        return Input.CONTACT
    if bool(filters.StatusUpdate.ALL.check_update(update)):
        return Input.SERVICE
    if message.voice is not None:
        return Input.VOICE
    if message.video_note is not None:
        return Input.VIDEO_NOTE
    if message.video is not None:
        return Input.VIDEO
    if message.audio is not None:
        return Input.AUDIO
    if message.sticker is not None:
        return Input.STICKER
    return Input.OTHER


async def menu_text(update: Update, context: Context, kind: Input) -> None:
    """The router's MENU: the main menu's buttons arrive as their text, and do what their commands do."""
    if kind is Input.MENU_REPORT:
        await report_command(update, context)
    elif kind is Input.MENU_TODO:
        await todo_command(update, context)
    else:
        await patrol_menu_text(update, context, kind)


async def private_input(update: Update, context: Context) -> None:
    """Any private message or edit but a command: what it is, whose it is, and which feature takes it."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    kind = classify(update, message)
    svc = services(context)
    person = await svc.people.find(user.id) if needs_person(kind) else None
    may_patrol = person is not None and decide(person, "patrol", ChatKind.PRIVATE).allowed
    may_report = person is not None and needs_report(kind) and decide(person, "report", ChatKind.PRIVATE).allowed
    open_patrol = (
        await svc.patrols.open_patrol(person.id)
        if person is not None and needs_patrol(kind, may_patrol=may_patrol)
        else None
    )
    dialog = None
    state = DialogState.NONE
    if needs_dialog(kind, may_patrol=may_patrol, patrol_open=open_patrol is not None):
        dialog = await svc.dialogs.get(user.id)
        if dialog is not None:
            state = DialogState.OPEN if knows(dialog.flow) else DialogState.STALE
            if state is DialogState.STALE:  # a flow from an older version: forget it rather than trap them in it
                await svc.dialogs.clear(user.id)
    destination = route(
        kind,
        may_patrol=may_patrol,
        may_report=may_report,
        patrol_open=open_patrol is not None,
        dialog=state,
        via_bot=message.via_bot is not None,
        stranger=kind in PHOTOS and (person is None or not (person.roles or person.pending or not person.active)),
    )
    if destination is Destination.PATROL_EVIDENCE:
        assert person is not None
        await evidence(update, context, person, open_patrol, kind)
    elif destination is Destination.DIALOG:
        assert dialog is not None
        await take(update, context, dialog)
    elif destination is Destination.MENU:
        await menu_text(update, context, kind)
    elif destination is Destination.REPORT_PHOTO:
        await photo_without_dialog(update, context)
    elif destination is Destination.STRANGER_PHOTO:
        await stranger_photo(update, context)
    elif destination is Destination.STRAY:
        await stray_message(update, context)


async def live_edit(svc: Services, bot: Bot, edit: LiveEdit) -> None:
    """A live edit read from the JSON (handlers/live.py), routed as `private_input` routes `Input.LIVE_EDIT`: the
    track of the sender's open patrol if they may patrol, else nothing. Neither is answered (`location_answer`
    says so), but what it says is sent all the same, should that ever change."""
    person = await svc.people.find(edit.user_id)
    may_patrol = person is not None and decide(person, "patrol", ChatKind.PRIVATE).allowed
    open_patrol = await svc.patrols.open_patrol(person.id) if person is not None and may_patrol else None
    if route(Input.LIVE_EDIT, may_patrol=may_patrol, patrol_open=open_patrol is not None) is not (
        Destination.PATROL_EVIDENCE
    ):
        return
    assert person is not None
    recording = await svc.patrols.record_location(open_patrol, Sharing.LIVE_EDIT, edit.fix)
    answer = location_answer(svc.locales, person.language, recording, idle_minutes=svc.settings.patrol_idle_minutes)
    if answer is not None:
        await bot.send_message(edit.chat_id, answer)


def register(app: Application) -> None:  # type: ignore[type-arg]
    """First in group 0: no other handler looks at a private message that is not a command, so the router takes
    each at once; commands pass its filter by and reach their CommandHandlers (or the fallback's unknown one)."""
    private = filters.ChatType.PRIVATE & (filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE)
    app.add_handler(MessageHandler(private & ~filters.COMMAND, private_input))
