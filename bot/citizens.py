"""Citizens: a stranger's photo kept until they join, one tap to join as a volunteer, and the public signs' QR
codes that start a report on their reach.

A stranger who sends a photo has found something worth reporting; brushing them off loses the photo and the
person. So the photo is kept (storage's kept_reports: it is evidence, and a dialog is dropped by /cancel or an
upgrade), they are offered to join as a volunteer in one tap, and that tap turns what was kept into their
report draft, past the photos, at the location step. A QR code on a reach's public sign opens the bot with
that reach (`start_payload`), so the report skips the reach question.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Literal

from bot import drafts
from bot.drafts import State
from bot.joining import Joining, clean_name
from bot.names import is_reserved
from bot.people import Person
from bot.problems import MAX_PHOTOS, DraftPhoto
from bot.reports import ReportService
from storage import Store
from storage.records import ReachRecord

# A /start payload may hold only these characters, and at most 64 of them (Telegram's deep-link rules).
START_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
START_MAX = 64
PLAIN = "r-"  # then the reach's code as it is
ENCODED = "rb"  # then the code's UTF-8 in base64url without padding, for a code outside the alphabet

Joined = Literal["approved", "pending", "already"]


def start_payload(reach_code: str) -> str:
    """The /start payload of a reach's QR code. It holds the reach's code, not its row id: a sign stays on the bank
    for years, and a rebuilt database renumbers rows but keeps the registry's codes."""
    plain = PLAIN + reach_code
    if START_ALPHABET.fullmatch(reach_code) and len(plain) <= START_MAX:
        return plain
    return ENCODED + base64.urlsafe_b64encode(reach_code.encode()).decode().rstrip("=")


def payload_reach(payload: str) -> str | None:
    """The reach code a /start payload names, or None when it is no reach's (an invite code, say)."""
    if not START_ALPHABET.fullmatch(payload):
        return None
    if payload.startswith(PLAIN):
        return payload[len(PLAIN) :] or None
    if payload.startswith(ENCODED) and len(payload) > len(ENCODED):
        body = payload[len(ENCODED) :]
        try:
            code = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return code if code and start_payload(code) == payload else None
    return None


def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


def _stored(photo: DraftPhoto) -> list[object]:
    return [photo.photo_id, photo.file_id, photo.as_document, list(photo.gps) if photo.gps else None]


def _photo(stored: list[object]) -> DraftPhoto:
    gps = stored[3]
    where = (float(gps[0]), float(gps[1])) if isinstance(gps, list) else None
    return DraftPhoto(int(str(stored[0])), str(stored[1]), bool(stored[2]), where)


class Citizens:
    def __init__(self, store: Store, joining: Joining, reports: ReportService) -> None:
        self._store = store
        self._joining = joining
        self._reports = reports

    async def keep_photo(self, telegram_id: int, photo: DraftPhoto) -> int | None:
        """Keep a stranger's photo; how many are kept, or None when MAX_PHOTOS are kept already."""
        return await self._store.kept_reports.add_photo(telegram_id, _stored(photo), limit=MAX_PHOTOS)

    async def keep_reach(self, telegram_id: int, reach_id: int) -> None:
        await self._store.kept_reports.set_reach(telegram_id, reach_id)

    async def has_kept(self, telegram_id: int) -> bool:
        return await self._store.kept_reports.get(telegram_id) is not None

    async def room_for_photo(self, telegram_id: int) -> bool:
        """Whether another photo would be kept: asked before downloading one, so a stranger cannot fill the disk."""
        kept = await self._store.kept_reports.get(telegram_id)
        return kept is None or len(kept.photos) < MAX_PHOTOS

    async def reach(self, reach_id: int) -> ReachRecord | None:
        return await self._store.reaches.by_id(reach_id)

    async def reach_by_code(self, code: str) -> ReachRecord | None:
        return await self._store.reaches.by_code(code)

    async def is_invite(self, code: str) -> bool:
        """Whether a /start payload that reads as a reach's is an invite's code after all (they are random)."""
        return await self._store.invites.by_code(code) is not None

    async def join(self, person: Person, telegram_name: str) -> Joined:
        """Join as a volunteer in one tap: the Telegram name (they can change it with the office), the home area
        of the reach their QR code named if any, no phone. VOLUNTEER_APPROVAL decides as for /register."""
        kept = await self._store.kept_reports.get(person.telegram_id) if person.telegram_id is not None else None
        reach = await self._store.reaches.by_id(kept.reach_id) if kept and kept.reach_id else None
        name = clean_name(telegram_name) or ""
        if not name or is_reserved(name):
            name = str(person.telegram_id)
        return await self._joining.register_volunteer(
            person.id, name=name, home_area_id=reach.area_id if reach else person.home_area_id, phone=None
        )

    async def resume(self, telegram_id: int, person_id: int, *, started_at: datetime) -> State | None:
        """What was kept becomes the person's report draft (and is forgotten): with photos it is at the location
        step; with only a reach, at the photos. None when nothing was kept (a second tap, an old button)."""
        kept = await self._store.kept_reports.take(telegram_id)
        if kept is None:
            return None
        photos = tuple(_photo(p) for p in kept.photos)
        state = await self._reports.begin(
            telegram_id, person_id, started_at=started_at, reach_id=kept.reach_id, photos=photos
        )
        if photos:
            transition = await self._reports.apply(telegram_id, drafts.photos_done(state))
            assert transition.step is not None
            state = State(transition.step, transition.draft)
        return state
