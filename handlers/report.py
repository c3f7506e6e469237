"""Reporting a problem in private chat: photos → location → reach → category → (same problem?) → note → send.

The draft is the person's dialog in the store: a restart or an hour's pause loses nothing, /cancel drops it.
A report starts from /report, the menu, a patrol's "Report a problem", or simply a photo sent when nothing
else is open.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import InlineKeyboardMarkup, KeyboardButton, Message, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import photos as photo_module
from bot.config import CATEGORIES, Language
from bot.i18n import Locales
from bot.patrols import FAR_AWAY_M
from bot.permissions import ChatKind, decide
from bot.problems import MAX_PHOTOS, Draft, DraftPhoto
from handlers.access import Actor, guard, refuse
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.ui import button, buttons, paged, show
from storage.records import DialogRecord

REPORT = "report"


def _t(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.t(lang, key, **params)


def _p(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.plain(lang, key, **params)


def category_name(locales: Locales, lang: Language, category: str) -> str:
    return locales.plain(lang, f"category.{category}")


def _when(message: Message) -> datetime:
    return (message.edit_date or message.date).astimezone(UTC)


async def _save(context: Context, telegram_id: int, step: str, draft: Draft) -> None:
    await services(context).store.dialogs.put(telegram_id, REPORT, step, draft.to_json())


# -- starting ---------------------------------------------------------------------------------------------


async def report_command(update: Update, context: Context) -> None:
    actor = await guard(update, context, "report")
    message = update.effective_message
    if actor is None or message is None:
        return
    await begin(update, context, actor, started_at=_when(message))


async def begin(
    update: Update, context: Context, actor: Actor, *, started_at: datetime, patrol_id: int | None = None
) -> None:
    """Open a draft (linked to the open patrol, if any) and ask for photos."""
    svc = services(context)
    person = actor.known
    assert person.telegram_id is not None
    if patrol_id is None:
        patrol = await svc.patrols.open_patrol(person.id)
        patrol_id = patrol.id if patrol else None
    draft = Draft(patrol_id=patrol_id, started_at=started_at.isoformat())
    await _save(context, person.telegram_id, "photos", draft)
    await context.bot.send_message(
        person.telegram_id,
        _t(context, actor.language, "report.ask_photos", max=MAX_PHOTOS),
        reply_markup=buttons([(_p(context, actor.language, "common.cancel"), "rp:x")]),
    )


async def photo_without_dialog(update: Update, context: Context) -> None:
    """A photo sent when nothing is waiting for one starts a report with it."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    svc = services(context)
    person = await svc.people.find(user.id)
    if person is None or not decide(person, "report", ChatKind.PRIVATE).allowed:
        # Not someone who reports: the usual short answer (one per album), as for any stray message.
        from handlers.fallback import stray_message

        await stray_message(update, context)
        return
    actor = await guard(update, context, "report")
    if actor is None:
        raise ApplicationHandlerStop
    await begin(update, context, actor, started_at=_when(message))
    dialog = await svc.store.dialogs.get(user.id)
    if dialog is not None:
        await report_input(update, context, dialog)
    raise ApplicationHandlerStop


# -- typed input ------------------------------------------------------------------------------------------


@flow(REPORT)
async def report_input(update: Update, context: Context, dialog: DialogRecord) -> None:
    actor = await guard(update, context, "report")
    message = update.effective_message
    if actor is None or message is None:
        await services(context).store.dialogs.clear(dialog.telegram_id, REPORT)
        return
    lang = actor.language
    draft = Draft.from_json(dialog.data)
    step = dialog.step
    if message.photo or message.document is not None:
        if step != "photos":
            await message.reply_text(_t(context, lang, "report.photos_done_already"))
            return
        await _add_photo(update, context, actor, draft, message)
        return
    if message.location is not None:
        if step != "location":
            await message.reply_text(_t(context, lang, f"report.use_step_{step}"))
            return
        draft.lat, draft.lon, draft.location_source = message.location.latitude, message.location.longitude, "shared"
        await message.reply_text(
            _t(context, lang, "report.location_noted"), reply_markup=await resting_keyboard(context, actor)
        )
        await ask_reach(update, context, actor, draft)
        return
    text = (message.text or "").strip()
    if step == "description" and text:
        draft.description = text[:1000]
        await ask_confirm(update, context, actor, draft)
        return
    await message.reply_text(_t(context, lang, f"report.use_step_{step}"))


async def _add_photo(update: Update, context: Context, actor: Actor, draft: Draft, message: Message) -> None:
    svc = services(context)
    lang = actor.language
    person = actor.known
    assert person.telegram_id is not None
    album_key = f"report_album:{message.media_group_id}" if message.media_group_id else None
    if len(draft.photos) >= MAX_PHOTOS:
        if album_key is None or context.chat_data is None or not context.chat_data.get(album_key + ":full"):
            if album_key is not None and context.chat_data is not None:
                context.chat_data[album_key + ":full"] = True
            await message.reply_text(_t(context, lang, "report.too_many_photos", max=MAX_PHOTOS))
        return
    fetched = await fetch_photo(context, person.id, lang, message)
    if fetched is None:
        return
    # Re-read: the photos of an album arrive one by one and each adds to the same draft.
    dialog = await svc.store.dialogs.get(person.telegram_id)
    if dialog is None or dialog.flow != REPORT:
        return
    draft = Draft.from_json(dialog.data)
    if len(draft.photos) >= MAX_PHOTOS:
        await message.reply_text(_t(context, lang, "report.too_many_photos", max=MAX_PHOTOS))
        return
    draft.photos.append(fetched)
    await _save(context, person.telegram_id, "photos", draft)
    lines = [_t(context, lang, "report.photo_added", count=len(draft.photos), max=MAX_PHOTOS)]
    if not fetched.as_document and draft.exif_location is None and len(draft.photos) == 1:
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


async def fetch_photo(context: Context, person_id: int, lang: Language, message: Message) -> DraftPhoto | None:
    """Download, check and keep the photo (or image file) of a message; answers what is wrong with it."""
    svc = services(context)
    document = message.document
    if document is not None:
        if document.mime_type is not None and not document.mime_type.startswith("image/"):
            await message.reply_text(_t(context, lang, "photo.not_image"))
            return None
        file_id, size = document.file_id, document.file_size or 0
    else:
        file_id, size = message.photo[-1].file_id, message.photo[-1].file_size or 0
    limit_mb = photo_module.MAX_FILE_BYTES // (1024 * 1024)
    if size > photo_module.MAX_FILE_BYTES:
        await message.reply_text(_t(context, lang, "photo.too_large_file", mb=limit_mb))
        return None
    try:
        data = bytes(await (await context.bot.get_file(file_id)).download_as_bytearray())
    except BadRequest as exc:
        if "too big" not in exc.message.lower():
            raise
        await message.reply_text(_t(context, lang, "photo.too_large_file", mb=limit_mb))
        return None
    try:
        stored = await svc.patrols.store_photo(data, person_id=person_id)
    except photo_module.PhotoError as exc:
        await message.reply_text(_t(context, lang, exc.key, **exc.params))
        return None
    return DraftPhoto(stored.photo_id, file_id, document is not None, stored.info.gps)


# -- the steps --------------------------------------------------------------------------------------------


async def resting_keyboard(context: Context, actor: Actor) -> ReplyKeyboardMarkup:
    """The location keyboard replaced the patrol's (or the main menu): once the location is in, put it back."""
    from handlers.patrol import main_menu, patrol_keyboard

    svc = services(context)
    if await svc.patrols.open_patrol(actor.known.id) is not None:
        return patrol_keyboard(svc.locales, actor.language)
    return main_menu(svc.locales, actor.language)


async def ask_location(update: Update, context: Context, actor: Actor, draft: Draft) -> None:
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    await _save(context, person.telegram_id, "location", draft)
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(_p(context, lang, "report.share_location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    exif = draft.exif_location
    if exif is not None:
        await context.bot.send_message(
            person.telegram_id,
            _t(context, lang, "report.ask_location_exif", lat=f"{exif[0]:.5f}", lon=f"{exif[1]:.5f}"),
            reply_markup=buttons([(_p(context, lang, "report.use_exif"), "rp:exif")]),
        )
        await context.bot.send_message(person.telegram_id, _t(context, lang, "report.or_share"), reply_markup=keyboard)
        return
    await context.bot.send_message(person.telegram_id, _t(context, lang, "report.ask_location"), reply_markup=keyboard)


async def ask_reach(update: Update, context: Context, actor: Actor, draft: Draft) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None and draft.lat is not None and draft.lon is not None
    await _save(context, person.telegram_id, "reach", draft)
    nearby = await svc.patrols.nearest_reaches((draft.lat, draft.lon), home_area_id=person.home_area_id, limit=5)
    if not nearby:
        await svc.store.dialogs.clear(person.telegram_id, REPORT)
        await context.bot.send_message(person.telegram_id, _t(context, lang, "registry.empty"))
        return
    rows: list[list[tuple[str, str]]] = []
    for index, near in enumerate(nearby):
        distance = (
            _distance(svc.locales, lang, near.distance_m)
            if near.distance_m is not None
            else _p(context, lang, "patrol.no_geometry")
        )
        mark = "✅ " if index == 0 else ""
        rows.append([(f"{mark}{near.reach.name(lang)} · {distance}", f"rp:r:{near.reach.id}")])
    rows.append([(_p(context, lang, "patrol.by_area"), "rp:areas")])
    rows.append([(_p(context, lang, "common.cancel"), "rp:x")])
    text = _t(context, lang, "report.ask_reach", reach=nearby[0].reach.name(lang))
    if nearby[0].distance_m is not None and nearby[0].distance_m > FAR_AWAY_M:
        text += "\n" + _t(
            context, lang, "patrol.far_everywhere", distance=_distance(svc.locales, lang, nearby[0].distance_m)
        )
    await context.bot.send_message(person.telegram_id, text, reply_markup=buttons(*rows))


def _distance(locales: Locales, lang: Language, meters: float) -> str:
    if meters < 1000:
        return locales.plain(lang, "units.m", value=round(meters))
    return locales.plain(lang, "units.km", value=f"{meters / 1000:.1f}")


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


async def ask_description(update: Update, context: Context, actor: Actor, draft: Draft) -> None:
    person = actor.known
    assert person.telegram_id is not None
    await _save(context, person.telegram_id, "description", draft)
    await show(
        update,
        context,
        _t(context, actor.language, "report.ask_description"),
        buttons([(_p(context, actor.language, "report.skip_description"), "rp:skip")]),
    )


async def ask_confirm(update: Update, context: Context, actor: Actor, draft: Draft) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None and draft.reach_id is not None and draft.category is not None
    await _save(context, person.telegram_id, "confirm", draft)
    reach = await svc.store.reaches.by_id(draft.reach_id)
    text = _t(
        context,
        lang,
        "report.confirm",
        photos=len(draft.photos),
        reach=reach.name(lang) if reach else "?",
        category=category_name(svc.locales, lang, draft.category),
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
    if action == "start":
        await begin(update, context, actor, started_at=datetime.now(UTC))
        return
    dialog = await svc.store.dialogs.get(person.telegram_id)
    if dialog is None or dialog.flow != REPORT:
        await refuse(update, context, lang, "report.no_draft")
        return
    draft = Draft.from_json(dialog.data)
    step = dialog.step
    if action == "x":
        await svc.store.dialogs.clear(person.telegram_id, REPORT)
        await show(update, context, _t(context, lang, "report.cancelled"))
        if step == "location":  # the location keyboard is still up: put the usual one back
            await context.bot.send_message(
                person.telegram_id, _t(context, lang, "menu.back"), reply_markup=await resting_keyboard(context, actor)
            )
        return
    if action == "next" and step == "photos":
        if not draft.photos:
            await refuse(update, context, lang, "report.need_a_photo")
            return
        await show(update, context, _t(context, lang, "report.photos_noted", count=len(draft.photos)))
        await ask_location(update, context, actor, draft)
        return
    if action == "exif" and step == "location" and draft.exif_location is not None:
        draft.lat, draft.lon = draft.exif_location
        draft.location_source = "exif"
        await show(update, context, _t(context, lang, "report.exif_used"))
        await context.bot.send_message(
            person.telegram_id,
            _t(context, lang, "report.location_noted"),
            reply_markup=await resting_keyboard(context, actor),
        )
        await ask_reach(update, context, actor, draft)
        return
    if action == "areas" and step == "reach":
        areas = await svc.store.areas.all()
        await show(
            update,
            context,
            _t(context, lang, "reaches.choose_area"),
            buttons(*[[(a.name(lang), f"rp:a:{a.id}")] for a in areas]),
        )
        return
    if action == "a" and step == "reach" and len(parts) > 2 and parts[2].isdigit():
        reaches = await svc.store.reaches.in_area(int(parts[2]))
        await show(
            update,
            context,
            _t(context, lang, "report.choose_reach"),
            paged([(r.name(lang), f"rp:r:{r.id}") for r in reaches], page=0, page_data="rp:rp:", page_size=50),
        )
        return
    if action == "r" and step == "reach" and len(parts) > 2 and parts[2].isdigit():
        reach = await svc.store.reaches.by_id(int(parts[2]))
        if reach is None:
            await refuse(update, context, lang, "fallback.outdated_button")
            return
        draft.reach_id = reach.id
        await _save(context, person.telegram_id, "category", draft)
        await show(
            update,
            context,
            _t(context, lang, "report.ask_category", reach=reach.name(lang)),
            category_keyboard(context, lang),
        )
        return
    if action == "c" and step == "category" and len(parts) > 2 and parts[2] in CATEGORIES:
        draft.category = parts[2]
        assert draft.lat is not None and draft.lon is not None
        duplicates = await svc.problems.possible_duplicates(draft.category, draft.lat, draft.lon)
        if duplicates:
            problem, distance = duplicates[0]
            await _save(context, person.telegram_id, "duplicate", draft)
            await show(
                update,
                context,
                _t(context, lang, "report.category_noted", category=category_name(svc.locales, lang, draft.category)),
            )
            await _offer_duplicate(context, lang, person.telegram_id, problem.id, distance)
            return
        await ask_description(update, context, actor, draft)
        return
    if action == "same" and step == "duplicate" and len(parts) > 2 and parts[2].isdigit():
        record = await svc.store.people.by_id(person.id)
        assert record is not None
        joined = await svc.problems.join_existing(int(parts[2]), record, Draft.from_json(dialog.data))
        await svc.store.dialogs.clear(person.telegram_id, REPORT)
        if joined is None:
            await show(update, context, _t(context, lang, "report.duplicate_gone"))
            return
        await show(update, context, _t(context, lang, "report.joined", number=joined.id))
        return
    if action == "new" and step == "duplicate":
        draft.duplicate_checked = True
        await ask_description(update, context, actor, draft)
        return
    if action == "skip" and step == "description":
        draft.description = None
        await ask_confirm(update, context, actor, draft)
        return
    if action == "send" and step == "confirm":
        await _submit(update, context, actor, draft)
        return
    await refuse(update, context, lang, "fallback.outdated_button")


async def _offer_duplicate(context: Context, lang: Language, chat_id: int, problem_id: int, distance: float) -> None:
    svc = services(context)
    problem = await svc.store.problems.by_id(problem_id)
    if problem is None:
        return
    reach = await svc.store.reaches.by_id(problem.reach_id)
    caption = _t(
        context,
        lang,
        "report.maybe_same",
        number=problem.id,
        category=category_name(svc.locales, lang, problem.category),
        reach=reach.name(lang) if reach else "?",
        distance=round(distance),
        when=problem.reported_at.astimezone(svc.settings.tz).strftime("%Y-%m-%d"),
    )
    markup = buttons(
        [(_p(context, lang, "report.same_yes", number=problem.id), f"rp:same:{problem.id}")],
        [(_p(context, lang, "report.same_no"), "rp:new")],
    )
    photos = await svc.store.problems.photos(problem.id, "before")
    if photos:
        await context.bot.send_photo(chat_id, photos[0].file_id, caption=caption, reply_markup=markup)
    else:
        await context.bot.send_message(chat_id, caption, reply_markup=markup)


async def _submit(update: Update, context: Context, actor: Actor, draft: Draft) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    record = await svc.store.people.by_id(person.id)
    assert record is not None
    at = datetime.fromisoformat(draft.started_at) if draft.started_at else datetime.now(UTC)
    problem = await svc.problems.submit(record, draft, at=at)
    await svc.store.dialogs.clear(person.telegram_id, REPORT)
    key = "report.filed_volunteer" if person.is_volunteer and not person.is_chief else "report.filed"
    await show(update, context, _t(context, lang, key, number=problem.id))
    from handlers.problems import announce_new

    await announce_new(context, problem)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("report", report_command, private))
    app.add_handler(CallbackQueryHandler(report_button, pattern=r"^rp:"))
    app.add_handler(MessageHandler(private & (filters.PHOTO | filters.Document.IMAGE), photo_without_dialog))
