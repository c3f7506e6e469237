"""Reporting a problem in private chat: photos → location → reach → category → (same problem?) → note → send.

The steps and what each input does are `bot.drafts` (a state machine); `bot.reports` keeps the draft in the
person's dialog, so a restart or an hour's pause loses nothing, and /cancel drops it. This module turns
messages and buttons into inputs and renders what comes back. A report starts from /report, the menu, a
patrol's "Report a problem", or simply a photo sent when nothing else is open (handlers/router.py decides).
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import InlineKeyboardMarkup, KeyboardButton, Message, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    filters,
)

from bot import drafts
from bot.config import CATEGORIES, Language
from bot.drafts import Next, Refusal, State, Step, Transition
from bot.problems import MAX_PHOTOS, DraftPhoto
from bot.reports import Duplicate
from handlers.access import Actor, guard, refuse
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.fieldwork import category_name, far_note, nearby_label, resting_keyboard, sent_at
from handlers.media import download_photo
from handlers.problems import announce_new
from handlers.ui import button, buttons, paged, show
from storage.records import DialogRecord

REPORT = drafts.FLOW


def _t(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.t(lang, key, **params)


def _p(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.plain(lang, key, **params)


# -- starting ---------------------------------------------------------------------------------------------


async def report_command(update: Update, context: Context) -> None:
    """/report: begin a problem report."""
    actor = await guard(update, context, "report")
    message = update.effective_message
    if actor is None or message is None:
        return
    await begin(update, context, actor, started_at=sent_at(message))


async def begin(
    update: Update, context: Context, actor: Actor, *, started_at: datetime, patrol_id: int | None = None
) -> None:
    """Open a draft (linked to the open patrol, if any) and ask for photos."""
    svc = services(context)
    person = actor.known
    assert person.telegram_id is not None
    await svc.reports.begin(person.telegram_id, person.id, started_at=started_at, patrol_id=patrol_id)
    await context.bot.send_message(
        person.telegram_id,
        _t(context, actor.language, "report.ask_photos", max=MAX_PHOTOS),
        reply_markup=buttons([(_p(context, actor.language, "common.cancel"), "rp:x")]),
    )


async def photo_without_dialog(update: Update, context: Context) -> None:
    """A photo sent by someone who reports, when nothing is waiting for one, starts a report (the router's pick)."""
    actor = await guard(update, context, "report")
    message = update.effective_message
    if actor is None or message is None:
        return
    await begin(update, context, actor, started_at=sent_at(message))
    assert actor.known.telegram_id is not None
    state = await services(context).reports.current(actor.known.telegram_id)
    if state is not None:
        await _add_photo(context, actor, state, message)


# -- typed input ------------------------------------------------------------------------------------------


@flow(REPORT)
async def report_input(update: Update, context: Context, dialog: DialogRecord) -> None:
    """What the person sends while writing a report: photos, the location, the description."""
    svc = services(context)
    actor = await guard(update, context, "report")
    message = update.effective_message
    state = drafts.load(dialog.flow, dialog.step, dialog.data)
    if actor is None or message is None or state is None:
        await svc.reports.drop(dialog.telegram_id)
        return
    if message.photo or message.document is not None:
        await _add_photo(context, actor, state, message)
        return
    if message.location is not None:
        location = message.location
        await _go(update, context, actor, drafts.share_location(state, location.latitude, location.longitude))
        return
    await _go(update, context, actor, drafts.describe(state, message.text or ""))


async def _add_photo(context: Context, actor: Actor, state: State, message: Message) -> None:
    """A photo for the draft: downloaded and kept, then added; the photos of an album share one answer."""
    svc = services(context)
    lang = actor.language
    person = actor.known
    assert person.telegram_id is not None
    album_key = f"report_album:{message.media_group_id}" if message.media_group_id else None
    # Refused before the download when it cannot be added anyway (the photos are settled, or there are enough).
    refusal = drafts.photo_refusal(state)
    if refusal is Refusal.PHOTOS_DONE:
        await message.reply_text(_t(context, lang, "report.photos_done_already"))
        return
    if refusal is Refusal.TOO_MANY_PHOTOS:
        if album_key is None or context.chat_data is None or not context.chat_data.get(album_key + ":full"):
            if album_key is not None and context.chat_data is not None:
                context.chat_data[album_key + ":full"] = True
            await message.reply_text(_t(context, lang, "report.too_many_photos", max=MAX_PHOTOS))
        return
    fetched = await download_photo(context, message, person_id=person.id, lang=lang)
    if fetched is None:
        return
    photo = DraftPhoto(fetched.stored.photo_id, fetched.file_id, fetched.as_document, fetched.stored.info.gps)
    transition = await svc.reports.add_photo(person.telegram_id, photo)
    if transition is None:
        return
    if transition.refused is not None:
        await message.reply_text(_t(context, lang, f"report.{transition.refused}", max=MAX_PHOTOS))
        return
    draft = transition.draft
    lines = [_t(context, lang, "report.photo_added", count=len(draft.photos), max=MAX_PHOTOS)]
    if not photo.as_document and draft.exif_location is None and len(draft.photos) == 1:
        lines.append(_t(context, lang, "report.compressed_no_location"))
    markup = buttons(
        [(_p(context, lang, "report.photos_done"), "rp:next")], [(_p(context, lang, "common.cancel"), "rp:x")]
    )
    albums: dict[str, int] = context.chat_data.setdefault("report_albums", {}) if context.chat_data is not None else {}
    shown = albums.get(message.media_group_id) if message.media_group_id else None
    if shown is not None:
        # The rest of an album updates the one answer instead of adding one per photo.
        try:
            await context.bot.edit_message_text(
                "\n".join(lines), chat_id=message.chat.id, message_id=shown, reply_markup=markup
            )
            return
        except BadRequest:
            pass
    sent = await message.reply_text("\n".join(lines), reply_markup=markup)
    if message.media_group_id:
        if len(albums) > 20:
            albums.clear()
        albums[message.media_group_id] = sent.message_id


# -- the steps --------------------------------------------------------------------------------------------


async def _go(update: Update, context: Context, actor: Actor, transition: Transition) -> None:
    """Keep the transition's draft and ask for what comes next; a refused input gets what this step wants."""
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    transition = await svc.reports.apply(person.telegram_id, transition)
    if transition.refused is not None:
        await _refused(update, context, lang, transition)
        return
    state = State(transition.step, transition.draft) if transition.step is not None else None
    if transition.next is Next.ASK_LOCATION and state is not None:
        await show(update, context, _t(context, lang, "report.photos_noted", count=len(transition.draft.photos)))
        await _ask_location(context, actor, state)
    elif transition.next is Next.ASK_REACH and state is not None:
        noted = _t(context, lang, "report.location_noted")
        if update.callback_query is not None:  # the photo's location, chosen with a button
            await show(update, context, _t(context, lang, "report.exif_used"))
            await context.bot.send_message(
                person.telegram_id, noted, reply_markup=await resting_keyboard(context, actor)
            )
        elif update.effective_message is not None:
            await update.effective_message.reply_text(noted, reply_markup=await resting_keyboard(context, actor))
        await _ask_reach(context, actor, state)
    elif transition.next is Next.ASK_DESCRIPTION:
        await show(
            update,
            context,
            _t(context, lang, "report.ask_description"),
            buttons([(_p(context, lang, "report.skip_description"), "rp:skip")]),
        )
    elif transition.next is Next.ASK_CONFIRM and state is not None:
        await _ask_confirm(update, context, actor, state)


async def _refused(update: Update, context: Context, lang: Language, transition: Transition) -> None:
    """A button that no longer fits the step is outdated; typed input is told what this step takes."""
    reason = transition.refused
    if reason is Refusal.WRONG_STEP:
        if update.callback_query is not None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        assert transition.step is not None
        key = f"report.use_step_{transition.step.value}"
    else:
        key = f"report.{reason}"
    await refuse(update, context, lang, key, max=MAX_PHOTOS)


async def _ask_location(context: Context, actor: Actor, state: State) -> None:
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(_p(context, lang, "report.share_location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    exif = state.draft.exif_location
    if exif is not None:
        await context.bot.send_message(
            person.telegram_id,
            _t(context, lang, "report.ask_location_exif", lat=f"{exif[0]:.5f}", lon=f"{exif[1]:.5f}"),
            reply_markup=buttons([(_p(context, lang, "report.use_exif"), "rp:exif")]),
        )
        await context.bot.send_message(person.telegram_id, _t(context, lang, "report.or_share"), reply_markup=keyboard)
        return
    await context.bot.send_message(person.telegram_id, _t(context, lang, "report.ask_location"), reply_markup=keyboard)


async def _ask_reach(context: Context, actor: Actor, state: State) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    nearby = await svc.reports.nearest_reaches(state, home_area_id=person.home_area_id)
    if not nearby:
        await svc.reports.drop(person.telegram_id)
        await context.bot.send_message(person.telegram_id, _t(context, lang, "registry.empty"))
        return
    rows: list[list[tuple[str, str]]] = []
    for index, near in enumerate(nearby):
        mark = "✅ " if index == 0 else ""
        rows.append([(f"{mark}{nearby_label(svc.locales, lang, near)}", f"rp:r:{near.reach.id}")])
    rows.append([(_p(context, lang, "patrol.by_area"), "rp:areas")])
    rows.append([(_p(context, lang, "common.cancel"), "rp:x")])
    text = _t(context, lang, "report.ask_reach", reach=nearby[0].reach.name(lang)) + far_note(svc.locales, lang, nearby)
    await context.bot.send_message(person.telegram_id, text, reply_markup=buttons(*rows))


def category_keyboard(context: Context, lang: Language) -> InlineKeyboardMarkup:
    locales = services(context).locales
    choices = [(category_name(locales, lang, c), f"rp:c:{c}") for c in CATEGORIES]
    return paged(
        choices,
        page=0,
        page_data="rp:cp:",
        columns=2,
        page_size=len(choices),
        extra=[[(locales.plain(lang, "common.cancel"), "rp:x")]],
    )


async def _ask_confirm(update: Update, context: Context, actor: Actor, state: State) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None and state.draft.category is not None
    confirmation = await svc.reports.confirmation(state)
    draft = confirmation.draft
    text = _t(
        context,
        lang,
        "report.confirm",
        photos=len(draft.photos),
        reach=confirmation.reach.name(lang) if confirmation.reach else "?",
        category=category_name(svc.locales, lang, state.draft.category),
        lat=f"{draft.lat:.5f}",
        lon=f"{draft.lon:.5f}",
        description=draft.description or _p(context, lang, "common.none"),
    )
    markup = buttons([(_p(context, lang, "report.send"), "rp:send")], [(_p(context, lang, "common.cancel"), "rp:x")])
    if update.callback_query is not None:
        await show(update, context, text, markup)
    else:
        await context.bot.send_message(person.telegram_id, text, reply_markup=markup)


# -- buttons ----------------------------------------------------------------------------------------------


@button
async def report_button(update: Update, context: Context) -> None:
    """The report's inline buttons (rp:…): next, the photo's location, reach, category, same problem, send, cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None
    actor = await guard(update, context, "report")
    if actor is None:
        return
    svc = services(context)
    lang = actor.language
    person = actor.known
    assert person.telegram_id is not None
    parts = query.data.split(":")
    action = parts[1]
    number = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    if action == "start":
        await begin(update, context, actor, started_at=datetime.now(UTC))
        return
    state = await svc.reports.current(person.telegram_id)
    if state is None:
        await refuse(update, context, lang, "report.no_draft")
        return
    if action == "x":
        await svc.reports.apply(person.telegram_id, drafts.cancel(state))
        await show(update, context, _t(context, lang, "report.cancelled"))
        if state.step is Step.LOCATION:  # the location keyboard is still up: put the usual one back
            await context.bot.send_message(
                person.telegram_id, _t(context, lang, "menu.back"), reply_markup=await resting_keyboard(context, actor)
            )
        return
    if action == "next":
        await _go(update, context, actor, drafts.photos_done(state))
        return
    if action == "exif":
        await _go(update, context, actor, drafts.use_exif(state))
        return
    if action == "areas" and state.step is Step.REACH:
        areas = await svc.patrols.areas()
        await show(
            update,
            context,
            _t(context, lang, "reaches.choose_area"),
            buttons(*[[(a.name(lang), f"rp:a:{a.id}")] for a in areas]),
        )
        return
    if action == "a" and state.step is Step.REACH and number is not None:
        reaches = await svc.patrols.reaches_in(number)
        await show(
            update,
            context,
            _t(context, lang, "report.choose_reach"),
            paged([(r.name(lang), f"rp:r:{r.id}") for r in reaches], page=0, page_data="rp:rp:", page_size=50),
        )
        return
    if action == "r" and state.step is Step.REACH and number is not None:
        reach = await svc.patrols.reach(number)
        if reach is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        await svc.reports.apply(person.telegram_id, drafts.choose_reach(state, reach.id))
        await show(
            update,
            context,
            _t(context, lang, "report.ask_category", reach=reach.name(lang)),
            category_keyboard(context, lang),
        )
        return
    if action == "c" and len(parts) > 2:
        transition, duplicate = await svc.reports.choose_category(person.telegram_id, state, parts[2])
        if duplicate is not None and transition.next is Next.OFFER_DUPLICATE:
            category = category_name(svc.locales, lang, parts[2])
            await show(update, context, _t(context, lang, "report.category_noted", category=category))
            await _offer_duplicate(context, lang, person.telegram_id, duplicate)
            return
        await _go(update, context, actor, transition)
        return
    if action == "same" and state.step is Step.DUPLICATE and number is not None:
        joined = await svc.reports.join(person.telegram_id, person.id, state, number)
        if joined is None:
            await show(update, context, _t(context, lang, "report.duplicate_gone"))
            return
        await show(update, context, _t(context, lang, "report.joined", number=joined.id))
        return
    if action == "new":
        await _go(update, context, actor, drafts.answer_duplicate(state, same=False))
        return
    if action == "skip":
        await _go(update, context, actor, drafts.describe(state, None))
        return
    if action == "send" and state.step is Step.CONFIRM:
        await _submit(update, context, actor, state)
        return
    await refuse(update, context, lang, "fallback.outdated_button")


async def _offer_duplicate(context: Context, lang: Language, chat_id: int, duplicate: Duplicate) -> None:
    """Show the open problem the report may be, with "the same" and "a new one"."""
    svc = services(context)
    problem = duplicate.problem
    caption = _t(
        context,
        lang,
        "report.maybe_same",
        number=problem.id,
        category=category_name(svc.locales, lang, problem.category),
        reach=duplicate.reach.name(lang) if duplicate.reach else "?",
        distance=round(duplicate.distance_m),
        when=problem.reported_at.astimezone(svc.settings.tz).strftime("%Y-%m-%d"),
    )
    markup = buttons(
        [(_p(context, lang, "report.same_yes", number=problem.id), f"rp:same:{problem.id}")],
        [(_p(context, lang, "report.same_no"), "rp:new")],
    )
    if duplicate.photo_file_id is not None:
        await context.bot.send_photo(chat_id, duplicate.photo_file_id, caption=caption, reply_markup=markup)
    else:
        await context.bot.send_message(chat_id, caption, reply_markup=markup)


async def _submit(update: Update, context: Context, actor: Actor, state: State) -> None:
    """File the problem, thank the reporter, and tell whoever it concerns."""
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    problem = await svc.reports.submit(person.telegram_id, person.id, state)
    assert problem is not None  # the step was checked by the caller
    key = "report.filed_volunteer" if person.is_volunteer and not person.is_chief else "report.filed"
    await show(update, context, _t(context, lang, key, number=problem.id))
    await announce_new(context, problem)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("report", report_command, private))
    app.add_handler(CallbackQueryHandler(report_button, pattern=r"^rp:"))
