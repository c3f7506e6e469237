"""The one way a photo (or an image sent as a file) comes in: checked, downloaded from Telegram, and kept.

Patrol evidence, a problem report and a chief's "after" photo all take photos the same way, and a person
hears the same words when one is not an image, too large for the Bot API, or unreadable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from telegram import Message
from telegram.error import BadRequest

from bot import photos as photo_module
from bot.config import Language
from bot.patrols import StoredPhoto
from bot.problems import DraftPhoto
from handlers.common import Context, services

LIMIT_MB = photo_module.MAX_FILE_BYTES // (1024 * 1024)


class LocalFileMissing(RuntimeError):
    """A `--local` Bot API server named a file on its disk that this machine does not see: the operator's to fix."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"TELEGRAM_API_LOCAL is on, but the Bot API server's file {path} is not on this machine: the bot must "
            "see the server's --dir at the same absolute path (the same disk, or the same volume mounted at the "
            "same path)"
        )


async def file_bytes(context: Context, file_id: str) -> bytes:
    """A file's bytes. A `--local` Bot API server (TELEGRAM_API_LOCAL) answers getFile with a path on its own disk
    and serves no downloads, so the file is read from that path; otherwise it is downloaded."""
    telegram_file = await context.bot.get_file(file_id)
    path = telegram_file.file_path or ""
    # PTB puts its download URL in front of a path it cannot find here; a local server's own path is what is left.
    prefix = f"{context.bot.base_file_url}/"
    raw = path.removeprefix(prefix)
    if services(context).settings.telegram_api_local and Path(raw).is_absolute():
        try:
            return await asyncio.to_thread(Path(raw).read_bytes)
        except FileNotFoundError:
            raise LocalFileMissing(raw) from None
    return bytes(await telegram_file.download_as_bytearray())


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
        data = await file_bytes(context, file_id)
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


async def first_of_album(context: Context, message: Message, kind: str) -> bool:
    """Whether the message is not in an album, or is the first of its album to be answered under `kind` (the rest
    are not answered again). Kept by bot.albums, so whichever worker takes the next photo knows."""
    if message.media_group_id is None:
        return True
    return await services(context).albums.first(message.chat.id, kind, message.media_group_id)


async def album_answer(context: Context, message: Message, kind: str) -> str | None:
    """What was noted (`note_album`) for the message's album under `kind`; None: nothing yet, or no album."""
    if message.media_group_id is None:
        return None
    return await services(context).albums.answer(message.chat.id, kind, message.media_group_id)


async def note_album(context: Context, message: Message, kind: str, value: str = "") -> None:
    """Note `value` for the message's album under `kind` (nothing when it is no album)."""
    if message.media_group_id is not None:
        await services(context).albums.note(message.chat.id, kind, message.media_group_id, value)
