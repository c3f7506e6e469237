"""The one way a photo (or an image sent as a file) comes in: checked, downloaded from Telegram, and kept.

Patrol evidence, a problem report and a chief's "after" photo all take photos the same way, and a person
hears the same words when one is not an image, too large for the Bot API, or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message
from telegram.error import BadRequest

from bot import photos as photo_module
from bot.config import Language
from bot.patrols import StoredPhoto
from bot.problems import DraftPhoto
from handlers.common import Context, services

LIMIT_MB = photo_module.MAX_FILE_BYTES // (1024 * 1024)


@dataclass(frozen=True, slots=True)
class Fetched:
    stored: StoredPhoto
    file_id: str
    as_document: bool  # sent as a file: the original bytes, with EXIF (a photo is recompressed, without)


async def download_photo(context: Context, message: Message, *, person_id: int, lang: Language) -> Fetched | None:
    """Download, check and keep the photo (or image file) of a message; None after answering what is wrong."""
    svc = services(context)
    document = message.document
    if document is not None:
        if document.mime_type is not None and not document.mime_type.startswith("image/"):
            await message.reply_text(svc.locales.t(lang, "photo.not_image"))
            return None
        file_id, size = document.file_id, document.file_size or 0
    else:
        file_id, size = message.photo[-1].file_id, message.photo[-1].file_size or 0
    if size > photo_module.MAX_FILE_BYTES:
        await message.reply_text(svc.locales.t(lang, "photo.too_large_file", mb=LIMIT_MB))
        return None
    try:
        data = bytes(await (await context.bot.get_file(file_id)).download_as_bytearray())
    except BadRequest as exc:
        # The Bot API serves files up to 20 MB; a size the message did not state shows up only here.
        if "too big" not in exc.message.lower():
            raise
        await message.reply_text(svc.locales.t(lang, "photo.too_large_file", mb=LIMIT_MB))
        return None
    try:
        stored = await svc.patrols.store_photo(data, person_id=person_id)
    except photo_module.PhotoError as exc:
        await message.reply_text(svc.locales.t(lang, exc.key, **exc.params))
        return None
    return Fetched(stored, file_id, document is not None)


async def fetch_photo(context: Context, person_id: int, lang: Language, message: Message) -> DraftPhoto | None:
    """A message's photo for a problem (a report, a chief's "after" photo); None after answering what is wrong."""
    fetched = await download_photo(context, message, person_id=person_id, lang=lang)
    if fetched is None:
        return None
    return DraftPhoto(fetched.stored.photo_id, fetched.file_id, fetched.as_document, fetched.stored.info.gps)
