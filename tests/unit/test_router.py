"""What the router takes a private message to be (handlers.router.classify), from Telegram's own objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Animation, Chat, Contact, Document, Location, Message, PhotoSize, Sticker, Update, User, Venue

from bot.i18n import Locales
from bot.routing import Input
from handlers.router import classify

WHEN = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
CHAT = Chat(7, Chat.PRIVATE)
USER = User(7, "A", is_bot=False)
HERE = Location(121.0, 31.0)
LIVE = Location(121.0, 31.0, live_period=3600)
PDF = Document("f", "u", mime_type="application/pdf")
GIF = Animation("g", "v", 1, 1, 1, mime_type="video/mp4")
LOCALES = Locales.load()


def _message(**fields: Any) -> Message:
    return Message(1, WHEN, CHAT, from_user=USER, **fields)


def _new(**fields: Any) -> tuple[Update, Message]:
    message = _message(**fields)
    return Update(1, message=message), message


def _edited(**fields: Any) -> tuple[Update, Message]:
    message = _message(edit_date=WHEN, **fields)
    return Update(1, edited_message=message), message


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (_new(text="on the bank"), Input.TEXT),
        (_new(text="/中文"), Input.SLASHED),
        (_new(text=LOCALES.plain("zh", "menu.patrol")), Input.MENU_PATROL),
        (_new(text=LOCALES.plain("en", "menu.mypatrols")), Input.MENU_MYPATROLS),
        (_new(text=LOCALES.plain("zh", "menu.report")), Input.MENU_REPORT),
        (_new(text=LOCALES.plain("en", "menu.todo")), Input.MENU_TODO),
        (_new(text=LOCALES.plain("zh", "patrol.finish_button")), Input.FINISH),
        (_new(text=LOCALES.plain("en", "patrol.problem_button")), Input.PROBLEM),
        (_new(photo=(PhotoSize("p", "u", 1, 1),)), Input.PHOTO),
        (_new(document=Document("d", "u", mime_type="image/jpeg")), Input.IMAGE_DOCUMENT),
        (_new(document=PDF), Input.DOCUMENT),
        (_new(document=Document("d", "u")), Input.DOCUMENT),  # no MIME type: not an image to the filters
        (_new(animation=GIF, document=Document("g", "v", mime_type="video/mp4")), Input.DOCUMENT),
        (_new(location=HERE), Input.LOCATION),
        (_new(location=HERE, venue=Venue(HERE, "bridge", "road")), Input.LOCATION),
        (_new(location=LIVE), Input.LIVE_START),
        (_edited(location=LIVE), Input.LIVE_EDIT),
        (_edited(location=HERE), Input.LIVE_STOP),
        (_edited(text="a typo fixed"), Input.EDIT),
        (_new(contact=Contact("+86 1", "A", user_id=7)), Input.CONTACT),
        (_new(sticker=Sticker("s", "u", 1, 1, False, False, Sticker.REGULAR)), Input.STICKER),
        (_new(pinned_message=_message(text="x")), Input.SERVICE),
        (_new(), Input.OTHER),
    ],
)
def test_classify(update: tuple[Update, Message], expected: Input) -> None:
    assert classify(*update) is expected
