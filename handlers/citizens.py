"""Citizens: a stranger's photo kept with a one-tap offer to join, and /start from a public sign's QR code.

The rules are `bot.citizens`; this module keeps the photo (downloaded and checked as any report photo), answers
with the offer, and on the tap joins them and hands the report on to handlers/report.py at the step it is at.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Message, Update
from telegram.ext import Application, CallbackQueryHandler

from bot.citizens import payload_reach
from bot.config import Language
from bot.problems import MAX_PHOTOS, DraftPhoto
from handlers.access import Actor, refresh_menu, refuse
from handlers.callbacks import JoinToReport, pressed
from handlers.common import Context, display_name, private_person, services
from handlers.fieldwork import main_menu
from handlers.join import tell_admins
from handlers.media import album_answer, download_photo, note_album
from handlers.report import ask_photos, resume_kept
from handlers.ui import buttons, show


async def stranger_photo(update: Update, context: Context) -> None:
    """A photo from someone who is nobody yet: kept (it is evidence), and answered with the one-tap offer."""
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    svc = services(context)
    person = await private_person(update, context)
    lang = person.language
    telegram_id = update.effective_user.id
    answered = await album_answer(context, message, "kept_albums") is not None
    count: int | None = None
    if await svc.citizens.room_for_photo(telegram_id):  # else not even downloaded: nothing to keep it for
        fetched = await download_photo(context, message, person_id=person.id, lang=lang)
        if fetched is None:
            return
        photo = DraftPhoto(fetched.stored.photo_id, fetched.file_id, fetched.as_document, fetched.stored.info.gps)
        count = await svc.citizens.keep_photo(telegram_id, photo)
    if answered:
        return  # the album's first photo was answered; the rest are kept quietly
    await note_album(context, message, "kept_albums")
    if count is None:
        await message.reply_text(svc.locales.t(lang, "citizens.too_many", max=MAX_PHOTOS))
        return
    await _offer(context, message, lang, svc.locales.t(lang, "citizens.kept", count=count))


async def _offer(context: Context, message: Message, lang: Language, text: str) -> None:
    svc = services(context)
    await message.reply_text(
        text + "\n" + svc.locales.t(lang, "citizens.offer"),
        reply_markup=buttons([(svc.locales.plain(lang, "citizens.join"), JoinToReport().pack())]),
    )


async def open_reach(update: Update, context: Context, actor: Actor, payload: str) -> bool:
    """`/start r-<code>` from a reach's QR code: a member starts a report on it; a stranger is offered to join
    first (the reach kept for them). False when the payload names no reach, so the caller tries an invite."""
    code = payload_reach(payload)
    if code is None:
        return False
    svc = services(context)
    message = update.effective_message
    assert message is not None
    person = actor.known
    lang = actor.language
    reach = await svc.citizens.reach_by_code(code)
    if reach is None:
        if await svc.citizens.is_invite(payload):
            return False
        await message.reply_text(svc.locales.t(lang, "citizens.unknown_reach"))
        return True
    reach_id = reach.id
    if person.pending or not person.active:
        await refuse(update, context, lang, "perm.pending" if person.pending else "perm.deactivated")
        return True
    if person.roles:
        await _report_on(update, context, actor, reach_id)
        return True
    assert person.telegram_id is not None
    await svc.citizens.keep_reach(person.telegram_id, reach_id)
    await _offer(context, message, lang, svc.locales.t(lang, "citizens.sign", reach=reach.name(lang)))
    return True


async def _report_on(update: Update, context: Context, actor: Actor, reach_id: int) -> None:
    """A member's report with its reach chosen already: the photos are asked for, the reach question skipped."""
    svc = services(context)
    person = actor.known
    assert person.telegram_id is not None
    reach = await svc.citizens.reach(reach_id)
    assert reach is not None
    await svc.reports.begin(person.telegram_id, person.id, started_at=datetime.now(UTC), reach_id=reach_id)
    lang = actor.language
    await context.bot.send_message(person.telegram_id, svc.locales.t(lang, "citizens.on_reach", reach=reach.name(lang)))
    await ask_photos(context, actor)


@pressed(JoinToReport, action="register")
async def join_pressed(update: Update, context: Context, actor: Actor, data: JoinToReport) -> None:
    """The one tap: join as a volunteer, then the report goes on where it stood.

    VOLUNTEER_APPROVAL decides as for /register. Nothing kept for them (an old or forged button): outdated."""
    svc = services(context)
    person = actor.known
    lang = actor.language
    user = update.effective_user
    assert user is not None and person.telegram_id is not None
    if not await svc.citizens.has_kept(person.telegram_id):
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if person.pending:
        await refuse(update, context, lang, "perm.pending")
        return
    if person.roles:  # a member already (by an invite since): joining again would rename them and add a role
        await resume_kept(context, actor)
        return
    outcome = await svc.citizens.join(person, display_name(user))
    joined = await svc.people.find(person.telegram_id)
    assert joined is not None
    if outcome == "pending":
        await show(update, context, svc.locales.t(lang, "citizens.pending", name=joined.name))
        registration = await svc.joining.waiting_for(joined.id)
        if registration is not None:
            await tell_admins(context, registration)
        return
    await show(update, context, svc.locales.t(lang, "citizens.joined", name=joined.name))
    await context.bot.send_message(
        person.telegram_id,
        svc.locales.t(lang, "menu.ready"),
        reply_markup=main_menu(svc.locales, lang, chief=joined.is_chief),
    )
    await refresh_menu(context, joined)
    await resume_kept(context, Actor(joined, lang, actor.chat))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CallbackQueryHandler(join_pressed, pattern=JoinToReport.pattern))
