"""Patrols in private chat: /patrol, the reach, the live track, photos and notes, finish, /mypatrols.

An open patrol is the state (in the store): while it is open, locations, photos and text go to it. The reply
keyboard carries Finish and Report because a typed message has Telegram's own date, and a button press does
not: after an outage the finish must still be when the person pressed it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardMarkup, KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import units
from bot.config import Language
from bot.failures import one_record
from bot.i18n import Locales
from bot.mapviews import share
from bot.patrols import CHOOSE, AutoEnd, Fix, Patrol, Recorded, Recording, Reminder, Summary, still_sharing
from bot.people import Person
from bot.permissions import ChatKind
from bot.routing import LOCATIONS, MEDIA, PHOTOS, Input
from bot.validity import blocking, reason_params
from handlers.access import Actor, command, guard, refuse
from handlers.assistants import tell_chief
from handlers.callbacks import (
    PatrolArea,
    PatrolAreas,
    PatrolCancel,
    PatrolFinish,
    PatrolFor,
    PatrolGo,
    PatrolMine,
    PatrolProblem,
    PatrolReach,
    PatrolSwitch,
    pressed,
)
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.fieldwork import (
    far_note,
    labels,
    main_menu,
    nearby_label,
    patrol_keyboard,
    sent_at,
    writing_report,
)
from handlers.media import download_photo, first_of_album
from handlers.report import begin
from handlers.sending import refused, tell_office_missed
from handlers.todo import todo_command
from handlers.ui import buttons, paged, show
from storage.records import DialogRecord

logger = logging.getLogger(__name__)

CAPTION_LIMIT = 1024  # Telegram's longest photo caption


# -- starting ----------------------------------------------------------------------------------------------


@command("patrol")
async def patrol_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/patrol: start one (choose the reach), or see the one that is open."""
    await offer_reaches(update, context, actor, started_at=sent_at(message))


@command("patrol")
async def menu_patrol(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """The main menu's patrol button: start at once on the reach it clearly is, else as /patrol.

    Which reach is clear is `PatrolService.quick_reach` (their only one, or the one clearly nearest where they
    were last seen); the patrol starts at the button's time, as one chosen from the list starts at /patrol's.
    """
    svc = services(context)
    person = actor.known
    assert person.telegram_id is not None
    # An assistant chooses whose patrol it is (their own, or for a chief they assist): no quick start.
    if await svc.patrols.open_patrol(person.id) is None and not await svc.assistants.chiefs_of(person.id):
        reach = await svc.patrols.quick_reach(person.id, person.home_area_id, datetime.now(UTC))
        if reach is not None:
            await svc.patrols.begin_choice(person.telegram_id, sent_at(message))
            await _start_on(update, context, actor, reach.id, quick=True)
            return
    await offer_reaches(update, context, actor, started_at=sent_at(message))


async def offer_reaches(update: Update, context: Context, actor: Actor, *, started_at: datetime) -> None:
    """The open patrol if there is one; else the person's own reaches, and 'nearest to me' by location."""
    svc = services(context)
    person = actor.known
    lang = actor.language
    chat = update.effective_chat
    assert chat is not None and person.telegram_id is not None
    open_patrol = await svc.patrols.open_patrol(person.id)
    if open_patrol is not None:
        summary = await svc.patrols.summary(open_patrol)
        await context.bot.send_message(
            chat.id,
            svc.locales.t(lang, "patrol.already_open")
            + "\n\n"
            + patrol_card(svc.locales, lang, summary, svc.settings.tz),
            reply_markup=patrol_buttons(svc.locales, lang, open_patrol.id),
        )
        await context.bot.send_message(
            chat.id, svc.locales.t(lang, "patrol.how_live"), reply_markup=patrol_keyboard(svc.locales, lang)
        )
        return
    await svc.patrols.begin_choice(person.telegram_id, started_at)
    text, markup = await _reach_choice(context, actor, page=0)
    await context.bot.send_message(chat.id, text, reply_markup=markup)
    location = ReplyKeyboardMarkup(
        [[KeyboardButton(svc.locales.plain(lang, "patrol.nearest_button"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await context.bot.send_message(chat.id, svc.locales.t(lang, "patrol.nearest_hint"), reply_markup=location)


async def _reach_choice(context: Context, actor: Actor, *, page: int) -> tuple[str, InlineKeyboardMarkup]:
    """The choice's text and buttons at `page` of the person's own reaches, 10 a page."""
    svc = services(context)
    lang = actor.language
    mine = await svc.patrols.my_reaches(actor.known.id)
    choices = [(f"🏞 {reach.name(lang)}", PatrolReach(reach=reach.id).pack()) for reach in mine]
    # An assistant also patrols the reaches of the chiefs they assist, for them.
    for assisted in await svc.assistants.assisted_reaches(actor.known.id):
        label = svc.locales.plain(
            lang, "assistants.choose_label", reach=assisted.reach.name(lang), chief=assisted.chief_name
        )
        choices.append((label, PatrolFor(reach=assisted.reach.id, chief=assisted.chief_id).pack()))
    extra = [
        [(svc.locales.plain(lang, "patrol.by_area"), PatrolAreas(page=0).pack())],
        [(svc.locales.plain(lang, "common.cancel"), PatrolCancel().pack())],
    ]
    text = svc.locales.t(lang, "patrol.choose_mine" if choices else "patrol.choose_nearest")
    return text, paged(choices, page=page, page_data=lambda n: PatrolMine(page=n).pack(), extra=extra, page_size=10)


@flow(CHOOSE)
async def choosing_input(update: Update, context: Context, dialog: DialogRecord) -> None:
    """While choosing a reach, a shared location lists the nearest ones; text gets a pointer to the buttons."""
    actor = await guard(update, context, "patrol")
    message = update.effective_message
    if actor is None or message is None:
        await services(context).patrols.drop_choice(dialog.telegram_id)
        return
    svc = services(context)
    lang = actor.language
    if message.location is None:
        if message.text is not None and message.text.strip() in labels(svc.locales, "menu.patrol"):
            await offer_reaches(update, context, actor, started_at=sent_at(message))
            return
        await message.reply_text(svc.locales.t(lang, "patrol.choose_use_buttons"))
        return
    point = (message.location.latitude, message.location.longitude)
    nearby = await svc.patrols.nearest_reaches(point, home_area_id=actor.known.home_area_id)
    if not nearby:
        await message.reply_text(svc.locales.t(lang, "registry.empty"), reply_markup=ReplyKeyboardRemove())
        return
    choices = [(nearby_label(svc.locales, lang, near), PatrolReach(reach=near.reach.id).pack()) for near in nearby]
    text = svc.locales.t(lang, "patrol.nearest_found") + far_note(svc.locales, lang, nearby)
    await message.reply_text(svc.locales.t(lang, "patrol.location_noted"), reply_markup=ReplyKeyboardRemove())
    cancel = [(svc.locales.plain(lang, "common.cancel"), PatrolCancel().pack())]
    await message.reply_text(text, reply_markup=buttons(*[[c] for c in choices], cancel))


@pressed(PatrolCancel, action="patrol")
async def choice_cancelled(update: Update, context: Context, actor: Actor, data: PatrolCancel) -> None:
    """Cancel choosing a reach: the choice is dropped and the main menu comes back."""
    svc = services(context)
    lang = actor.language
    assert actor.known.telegram_id is not None
    await svc.patrols.drop_choice(actor.known.telegram_id)
    await show(update, context, svc.locales.t(lang, "dialog.cancelled"))
    menu = main_menu(svc.locales, lang, chief=actor.known.is_chief)
    await context.bot.send_message(actor.known.telegram_id, svc.locales.t(lang, "menu.back"), reply_markup=menu)


@pressed(PatrolGo, action="patrol")
async def reminder_started(update: Update, context: Context, actor: Actor, data: PatrolGo) -> None:
    """From a patrol reminder: start on that reach now (a button has no date of its own).

    A reach that is gone (or forged) begins nothing: no choice is left behind for a later reach button to date
    itself by.
    """
    svc = services(context)
    assert actor.known.telegram_id is not None
    if await svc.patrols.reach(data.reach) is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    if await writing_report(update, context, actor):
        return
    await svc.patrols.begin_choice(actor.known.telegram_id, datetime.now(UTC))
    await _start_on(update, context, actor, data.reach)


@pressed(PatrolAreas, action="patrol")
async def areas_shown(update: Update, context: Context, actor: Actor, data: PatrolAreas) -> None:
    """The areas, a page at a time, to patrol a reach that is not one's own."""
    svc = services(context)
    lang = actor.language
    choices = [(a.name(lang), PatrolArea(area=a.id, page=0).pack()) for a in await svc.patrols.areas()]
    await show(
        update,
        context,
        svc.locales.t(lang, "reaches.choose_area"),
        paged(choices, page=data.page, page_data=lambda n: PatrolAreas(page=n).pack(), columns=2, page_size=12),
    )


@pressed(PatrolArea, action="patrol")
async def area_shown(update: Update, context: Context, actor: Actor, data: PatrolArea) -> None:
    """An area's reaches to choose from, a page at a time (a vanished area: outdated)."""
    svc = services(context)
    area = await svc.patrols.area(data.area)
    if area is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    lang = actor.language
    choices = [(r.name(lang), PatrolReach(reach=r.id).pack()) for r in await svc.patrols.reaches_in(area.id)]
    back = [[(svc.locales.plain(lang, "common.back"), PatrolAreas(page=0).pack())]]
    await show(
        update,
        context,
        svc.locales.t(lang, "patrol.choose_in_area", area=area.name(lang)),
        paged(choices, page=data.page, page_data=lambda n: PatrolArea(area=area.id, page=n).pack(), extra=back),
    )


@pressed(PatrolReach, action="patrol")
async def reach_chosen(update: Update, context: Context, actor: Actor, data: PatrolReach) -> None:
    """Start on the reach chosen."""
    await _start_on(update, context, actor, data.reach)


@pressed(PatrolFor, action="patrol")
async def reach_chosen_for(update: Update, context: Context, actor: Actor, data: PatrolFor) -> None:
    """An assistant starts on a reach of the chief they assist, for that chief (not theirs any more: refused)."""
    if not await services(context).assistants.may_walk_for(actor.known.id, data.chief, data.reach):
        await refuse(update, context, actor.language, "assistants.no_longer")
        return
    await _start_on(update, context, actor, data.reach, for_chief=data.chief)


@pressed(PatrolFinish, action="patrol")
async def finish_pressed(update: Update, context: Context, actor: Actor, data: PatrolFinish) -> None:
    """Finish under the patrol card: now, as a button has no date of its own."""
    await finish_patrol(update, context, actor.known, actor.language, patrol_id=data.patrol, at=datetime.now(UTC))


@pressed(PatrolProblem, action="patrol")
async def problem_pressed(update: Update, context: Context, actor: Actor, data: PatrolProblem) -> None:
    """The patrol card's "Report a problem": a report linked to the open patrol.

    Only from the open patrol's own card: another patrol's card, or a forged one, is outdated.
    """
    patrol = await services(context).patrols.open_patrol(actor.known.id)
    if patrol is not None and patrol.id != data.patrol:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    await begin_problem_note(update, context, actor)


@pressed(PatrolMine, action="patrol")
async def mine_paged(update: Update, context: Context, actor: Actor, data: PatrolMine) -> None:
    """A page button of one's own reaches: that page, on the pressed message (an open patrol: shown instead).

    Only the view turns: the choice keeps the time it began, and a reach pressed without one starts now.
    """
    if await services(context).patrols.open_patrol(actor.known.id) is not None:
        await offer_reaches(update, context, actor, started_at=datetime.now(UTC))
        return
    text, markup = await _reach_choice(context, actor, page=data.page)
    await show(update, context, text, markup)


async def _start_on(
    update: Update, context: Context, actor: Actor, reach_id: int, *, quick: bool = False, for_chief: int | None = None
) -> None:
    """Start on the reach chosen, at the time the choice began (when /patrol was sent).

    A `quick` start (the menu picked the reach) carries a button to choose another: "last seen" may be the wrong one.
    With `for_chief`, an assistant starts it for that chief: it is the chief's patrol, walked by them.
    """
    svc = services(context)
    lang = actor.language
    person = actor.known
    assert person.telegram_id is not None
    reach = await svc.patrols.reach(reach_id)
    chosen_at = await svc.patrols.choice_started_at(person.telegram_id)
    if reach is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if chosen_at is None:
        # A reach button from an earlier choice: an open patrol is shown, nothing new is started.
        open_patrol = await svc.patrols.open_patrol(person.id)
        if open_patrol is not None:
            await refuse(update, context, lang, "patrol.already_open_short")
            return
        chosen_at = datetime.now(UTC)
    patrol, new = await svc.patrols.start(person.id, reach.id, chosen_at, for_chief=for_chief)
    await svc.patrols.drop_choice(person.telegram_id)
    if not new:
        await refuse(update, context, lang, "patrol.already_open_short")
        return
    started = patrol.started_at.astimezone(svc.settings.tz).strftime("%H:%M")
    if for_chief is None:
        text = svc.locales.t(lang, "patrol.started", reach=reach.name(lang), time=started)
    else:
        chief = await svc.people.by_id(for_chief)
        name = chief.name if chief else "?"
        text = svc.locales.t(lang, "assistants.started_for", reach=reach.name(lang), time=started, chief=name)
    await show(update, context, text, patrol_buttons(svc.locales, lang, patrol.id, switch=quick))
    await ask_live(context, person, lang)


async def ask_live(context: Context, person: Person, lang: Language) -> None:
    """Ask for the live location, with the patrol keyboard; the first time, on the picture guide to it."""
    svc = services(context)
    assert person.telegram_id is not None
    how = svc.locales.t(lang, "patrol.how_live")
    keyboard = patrol_keyboard(svc.locales, lang)
    guide = await svc.patrols.live_guide(person.id, svc.locales, lang)
    if guide is None:
        await context.bot.send_message(person.telegram_id, how, reply_markup=keyboard)
        return
    await context.bot.send_photo(person.telegram_id, guide, caption=how, reply_markup=keyboard)
    await svc.patrols.live_guide_sent(person.id)


def patrol_buttons(locales: Locales, lang: Language, patrol_id: int, *, switch: bool = False) -> InlineKeyboardMarkup:
    """Under the patrol card: report a problem, finish; after a quick start, choose another reach."""
    rows = [
        [(locales.plain(lang, "patrol.problem_button"), PatrolProblem(patrol=patrol_id).pack())],
        [(locales.plain(lang, "patrol.finish_button"), PatrolFinish(patrol=patrol_id).pack())],
    ]
    if switch:
        rows.append([(locales.plain(lang, "steps.switch_button"), PatrolSwitch(patrol=patrol_id).pack())])
    return buttons(*rows)


@pressed(PatrolSwitch, action="patrol")
async def switch_pressed(update: Update, context: Context, actor: Actor, data: PatrolSwitch) -> None:
    """Not this reach after all: the quick-started patrol is dropped while it holds nothing, and the list shown.

    As /patrol shows it. Once a point or a photo is in, the patrol is under way: finish it instead."""
    svc = services(context)
    if not await svc.patrols.drop_if_empty(actor.known.id, data.patrol):
        still_open = await svc.patrols.open_patrol(actor.known.id)
        key = "steps.switch_under_way" if still_open and still_open.id == data.patrol else "fallback.outdated_button"
        await refuse(update, context, actor.language, key)
        return
    await show(update, context, svc.locales.t(actor.language, "steps.switched"))
    await offer_reaches(update, context, actor, started_at=datetime.now(UTC))


# -- while open -----------------------------------------------------------------------------------------


async def evidence(update: Update, context: Context, person: Person, patrol: Patrol | None, kind: Input) -> None:
    """The router's PATROL_EVIDENCE: a patrolling person's location, photo, note or patrol keyboard button."""
    message = update.effective_message
    assert message is not None
    svc = services(context)
    lang = person.language
    at = sent_at(message)
    sharing = LOCATIONS.get(kind)
    if sharing is not None:  # with no patrol open too: a new one is told how to start one, an edit is dropped
        location = message.location
        assert location is not None
        period = location.live_period
        fix = Fix(
            (location.latitude, location.longitude),
            at,
            location.horizontal_accuracy,
            message.message_id,
            int(period.total_seconds()) if isinstance(period, timedelta) else period,
        )
        recording = await svc.patrols.record_location(patrol, sharing, fix)
        answer = location_answer(svc.locales, lang, recording, idle_minutes=svc.settings.patrol_idle_minutes)
        if answer is not None:
            await message.reply_text(answer)
        return
    assert patrol is not None
    if kind in PHOTOS or kind is Input.DOCUMENT:
        await _add_photo(context, person, lang, patrol_id=patrol.id, message=message, at=at)
    elif kind in MEDIA:
        await _add_media(context, lang, patrol_id=patrol.id, message=message, at=at)
    elif kind is Input.FINISH:
        await finish_patrol(update, context, person, lang, patrol_id=patrol.id, at=at)
    elif kind is Input.PROBLEM or kind is Input.MENU_REPORT:
        await begin_problem_note(update, context, Actor(person, lang, ChatKind.PRIVATE))
    elif kind is Input.MENU_TODO:
        await todo_command(update, context)
    elif kind is Input.MENU_PATROL:
        await offer_reaches(update, context, Actor(person, lang, ChatKind.PRIVATE), started_at=at)
    elif message.text is not None:  # typed text, and "my patrols" too: a note
        await svc.patrols.add_note(patrol, message.text[:2000], at)
        await message.reply_text(svc.locales.t(lang, "patrol.note_added"))


def location_answer(locales: Locales, lang: Language, recording: Recording, *, idle_minutes: int) -> str | None:
    """Live edits are the track, recorded silently, and so is what comes after the patrol; the rest is answered."""
    outcome = recording.outcome
    if outcome is Recorded.NO_PATROL:
        return locales.t(lang, "patrol.location_without_patrol")
    if outcome is Recorded.LIVE_STOPPED:
        return locales.t(lang, "patrol.live_stopped", minutes=idle_minutes)
    if outcome in (Recorded.POINT_ADDED, Recorded.LIVE_STARTED):
        reply = locales.t(lang, "patrol.live_started" if outcome is Recorded.LIVE_STARTED else "patrol.point_added")
        if recording.far_m is not None:
            reply += "\n" + locales.t(
                lang,
                "patrol.far_from_reach",
                distance=units.distance(locales, lang, recording.far_m),
                reach=recording.reach.name(lang) if recording.reach else "",
            )
        return reply
    return None


async def _add_photo(
    context: Context, person: Person, lang: Language, *, patrol_id: int, message: Message, at: datetime
) -> None:
    """A photo as patrol evidence; an album gets one answer."""
    svc = services(context)
    fetched = await download_photo(context, message, person_id=person.id, lang=lang)
    if fetched is None:
        return
    count = await svc.patrols.add_photo_to(
        patrol_id,
        fetched.stored,
        file_id=fetched.file_id,
        as_document=fetched.as_document,
        at=at,
        caption=message.caption,
    )
    if count is None:
        return
    lines = [svc.locales.t(lang, "patrol.photo_added", count=count)]
    if not fetched.as_document and count == 1:
        lines.append(svc.locales.t(lang, "patrol.compressed_hint"))
    if not await first_of_album(context, message, "patrol_albums"):
        return  # an album: one answer for the album, not one per photo
    await message.reply_text("\n".join(lines))


_MEDIA_ICONS = {"voice": "🎙", "audio": "🎵", "video": "🎬", "video_note": "📹"}


async def _add_media(context: Context, lang: Language, *, patrol_id: int, message: Message, at: datetime) -> None:
    """A voice note, audio, video or video note as patrol evidence, kept by its file id and answered briefly."""
    svc = services(context)
    for kind in _MEDIA_ICONS:
        media = getattr(message, kind)
        if media is not None:
            break
    else:
        return
    duration = media.duration
    count = await svc.patrols.add_media_to(
        patrol_id,
        kind,
        file_id=media.file_id,
        file_unique_id=media.file_unique_id,
        duration_s=int(duration.total_seconds()) if isinstance(duration, timedelta) else duration,
        at=at,
        caption=message.caption,
    )
    if count is None:
        return
    what = svc.locales.plain(lang, f"taps.kind_{kind}")
    await message.reply_text(svc.locales.t(lang, "taps.media_added", icon=_MEDIA_ICONS[kind], what=what, count=count))


async def begin_problem_note(update: Update, context: Context, actor: Actor) -> None:
    """"Report a problem" during a patrol: a problem report linked to the patrol."""
    svc = services(context)
    patrol = await svc.patrols.open_patrol(actor.known.id)
    if patrol is None:
        await refuse(update, context, actor.language, "patrol.none_open")
        return
    await begin(update, context, actor, started_at=datetime.now(UTC), patrol_id=patrol.id)


async def live_in_group(update: Update, context: Context) -> None:
    """A patrolling chief sharing their live location in a group by mistake: tell them where it belongs, once."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.location is None or message.location.live_period is None:
        return
    svc = services(context)
    person = await svc.people.find(user.id)
    if person is None or await svc.patrols.open_patrol(person.id) is None:
        return
    lang = await svc.chats.language(message.chat.id)
    link = f"https://t.me/{context.bot.username}"
    await message.reply_text(svc.locales.t(lang, "patrol.live_in_group", link=link))


# -- finishing ------------------------------------------------------------------------------------------


async def finish_patrol(
    update: Update, context: Context, person: Person, lang: Language, *, patrol_id: int, at: datetime
) -> None:
    """Finish (the button or the keyboard's text): the card with the verdict, or that it was finished already."""
    svc = services(context)
    result = await svc.patrols.finish_own(person.id, patrol_id, at=at)
    if result is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    summary, ended = result
    card = patrol_card(svc.locales, lang, summary, svc.settings.tz)
    chat_id = person.telegram_id
    assert chat_id is not None
    if not ended:
        if update.callback_query is not None:
            await refuse(update, context, lang, "patrol.already_finished")
            return
        await context.bot.send_message(
            chat_id,
            svc.locales.t(lang, "patrol.already_finished") + "\n\n" + card,
            reply_markup=main_menu(svc.locales, lang, chief=person.is_chief),
        )
        return
    picture = await patrol_map(context, summary, lang)
    if update.callback_query is not None:
        await show(update, context, card)
        if picture is not None:  # the pressed card stays where it is; the map follows it
            await context.bot.send_photo(chat_id, picture, caption=map_caption(svc.locales, lang, summary))
    else:
        await send_card(context, chat_id, card, picture, map_caption(svc.locales, lang, summary))
    await context.bot.send_message(
        chat_id, svc.locales.t(lang, "patrol.thanks"), reply_markup=main_menu(svc.locales, lang, chief=person.is_chief)
    )
    if await svc.reports.current(chat_id) is not None:
        # A report begun on the patrol and not sent yet: kept, so what was found is not lost with the patrol.
        await context.bot.send_message(chat_id, svc.locales.t(lang, "taps.draft_kept"))
    chief = await svc.patrols.chief_to_tell(summary)
    if chief is not None:
        await tell_chief(context, chief, summary)


async def patrol_map(context: Context, summary: Summary, lang: Language) -> bytes | None:
    """The finished patrol's map, or None (nothing to draw, or drawing failed: the card goes out without it)."""
    try:
        return await services(context).maps.patrol_map(summary, lang)
    except Exception:
        logger.warning("Could not draw the map of patrol %s", summary.patrol.id, exc_info=True)
        return None


def map_caption(locales: Locales, lang: Language, summary: Summary) -> str:
    """The map's short caption, when the card itself goes separately."""
    reach = summary.reach.name(lang) if summary.reach else "?"
    if summary.coverage is None:
        return locales.t(lang, "map.patrol_caption_plain", reach=reach)
    return locales.t(lang, "map.patrol_caption", reach=reach, percent=share(summary.coverage))


async def send_card(
    context: Context, chat_id: int, card: str, picture: bytes | None, caption: str, **options: object
) -> None:
    """The card as the map's caption; a card too long for a caption follows the map (with a short caption)."""
    if picture is None:
        await context.bot.send_message(chat_id, card, **options)  # type: ignore[arg-type]
    elif len(card) <= CAPTION_LIMIT:
        await context.bot.send_photo(chat_id, picture, caption=card, **options)  # type: ignore[arg-type]
    else:
        await context.bot.send_photo(chat_id, picture, caption=caption)
        await context.bot.send_message(chat_id, card, **options)  # type: ignore[arg-type]


def patrol_card(locales: Locales, lang: Language, summary: Summary, tz: object) -> str:
    """The patrol at a glance: where, when, how long, how far, evidence, outcome, and the verdict with reasons."""
    patrol = summary.patrol
    verdict = summary.verdict
    start = patrol.started_at.astimezone(tz)  # type: ignore[arg-type]
    end = patrol.ended_at.astimezone(tz) if patrol.ended_at else None  # type: ignore[arg-type]
    lines = [
        locales.t(
            lang,
            "patrol.card",
            reach=summary.reach.name(lang) if summary.reach else "?",
            start=start.strftime("%Y-%m-%d %H:%M"),
            end=end.strftime("%H:%M") if end else locales.plain(lang, "patrol.ongoing"),
            minutes=verdict.duration_s // 60,
            distance=units.distance(locales, lang, verdict.distance_m),
            points=summary.point_count,
            photos=summary.photo_count,
            outcome=locales.plain(
                lang, "patrol.outcome_problems" if summary.problems else "patrol.outcome_none", count=summary.problems
            ),
        )
    ]
    if summary.assistant_name is not None:
        lines.append(
            locales.t(lang, "assistants.walked_line", assistant=summary.assistant_name, chief=summary.chief_name)
        )
        if not summary.counted:
            lines.append(locales.t(lang, "assistants.not_counted"))
    if summary.media:
        lines.append(locales.t(lang, "taps.media_line", count=summary.media))
    if summary.coverage is not None:
        lines.append(locales.t(lang, "map.coverage_line", percent=share(summary.coverage)))
    if patrol.end_reason in ("idle", "max_hours"):
        lines.append(locales.t(lang, f"patrol.ended_{patrol.end_reason}"))
    if not patrol.is_open:
        if verdict.valid:
            lines.append(locales.t(lang, "patrol.valid"))
        else:
            lines.append(locales.t(lang, "patrol.invalid"))
        notes = [r for r in verdict.reasons if not blocking(r)]
        for reason in [r for r in verdict.reasons if blocking(r)] + notes:
            params = reason_params(reason)
            mark = "ℹ️ " if reason in notes else "· "
            lines.append(mark + locales.t(lang, f"patrol.reason.{reason['code']}", **params))
    if still_sharing(patrol):
        lines.append(locales.t(lang, "taps.stop_sharing"))
    return "\n".join(lines)


# -- /mypatrols -----------------------------------------------------------------------------------------


@command("mypatrols")
async def mypatrols_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/mypatrols: this period's progress on each reach, and the latest patrols, with the main menu under them."""
    svc = services(context)
    lang = actor.language
    tz = svc.settings.tz
    lines: list[str] = []
    today = datetime.now(tz).date()
    for progress in await svc.patrols.progress(actor.known.id, today):
        lines.append(
            svc.locales.t(
                lang,
                "mypatrols.progress",
                reach=progress.reach_name(lang),
                period=svc.locales.plain(lang, f"period.this_{progress.period.kind}"),
                done=progress.done,
                required=progress.required,
                days=progress.days_left,
                mark="✅" if not progress.short else "⏳",
            )
        )
    if lines:
        lines.insert(0, svc.locales.t(lang, "mypatrols.progress_header"))
        lines.append("")
    recent = await svc.patrols.recent(actor.known.id, 10)
    walked = await svc.assistants.walker_names([patrol.id for patrol, _ in recent])
    if recent:
        lines.append(svc.locales.t(lang, "mypatrols.recent_header"))
        for patrol, reach in recent:
            mark = "🚶" if patrol.is_open else "✅" if patrol.valid else "❌"
            seconds, metres = await svc.patrols.so_far(patrol, datetime.now(UTC))
            lines.append(
                svc.locales.t(
                    lang,
                    "mypatrols.line",
                    mark=mark,
                    when=patrol.started_at.astimezone(tz).strftime("%m-%d %H:%M"),
                    reach=reach.name(lang) if reach else "?",
                    minutes=seconds // 60,
                    distance=units.distance(svc.locales, lang, metres),
                )
            )
            if patrol.id in walked:  # the chief reads who walked it; the assistant, for whom
                assistant, chief = walked[patrol.id]
                if patrol.walked_by == actor.known.id:
                    lines[-1] += svc.locales.t(lang, "assistants.for_suffix", chief=chief)
                else:
                    lines[-1] += svc.locales.t(lang, "assistants.walked_suffix", assistant=assistant)
    if not lines:
        lines.append(svc.locales.t(lang, "mypatrols.none"))
    await message.reply_text("\n".join(lines), reply_markup=main_menu(svc.locales, lang, chief=actor.known.is_chief))


async def menu_text(update: Update, context: Context, kind: Input) -> None:
    """The router's MENU: the main menu's buttons arrive as their text, and do what their commands do."""
    if kind is Input.MENU_PATROL:
        await menu_patrol(update, context)
    elif kind is Input.MENU_MYPATROLS:
        await mypatrols_command(update, context)


# -- jobs -------------------------------------------------------------------------------------------------


async def end_idle_patrols(context: Context) -> None:
    """Every minute: patrols whose live location stopped and went quiet, or that ran too long, end on their own."""
    svc = services(context)
    for ended in await svc.patrols.end_due(datetime.now(UTC)):
        with one_record(logger, "telling of patrol %s's end", ended.summary.patrol.id):
            await _tell_ended(context, ended)


async def _tell_ended(context: Context, ended: AutoEnd) -> None:
    """The person whose patrol ended on its own hears why, with its card."""
    svc = services(context)
    person = ended.person
    if person is None or person.telegram_id is None:
        return
    lang = person.language
    text = svc.locales.t(
        lang,
        f"patrol.auto_{ended.reason}",
        minutes=svc.settings.patrol_idle_minutes,
        hours=f"{svc.settings.patrol_max_hours:g}",
    )
    text += "\n\n" + patrol_card(svc.locales, lang, ended.summary, svc.settings.tz)
    picture = await patrol_map(context, ended.summary, lang)
    try:
        await send_card(
            context,
            person.telegram_id,
            text,
            picture,
            map_caption(svc.locales, lang, ended.summary),
            reply_markup=main_menu(svc.locales, lang, chief=person.is_chief),
        )
    except Forbidden as exc:
        await refused(context, person.telegram_id, exc)
    except TelegramError:
        logger.warning(
            "Could not tell %s their patrol %s ended", person.telegram_id, ended.summary.patrol.id, exc_info=True
        )
    if ended.chief is not None:
        await tell_chief(context, ended.chief, ended.summary)


async def remind_chiefs(context: Context) -> None:
    """Daily: chiefs whose current period still lacks patrols, PATROL_REMINDER_DAYS before it ends."""
    svc = services(context)
    today = datetime.now(svc.settings.tz).date()
    reminders = await svc.patrols.reminders(today)
    for reminder in reminders.due:
        with one_record(logger, "the patrol reminder of person %s", reminder.chief.id):
            await _remind(context, reminder)
    # Chiefs as short whom the bot cannot write to: the office hears of each once, not every day.
    await tell_office_missed(context, "patrol_reminders", await svc.reachability.missed(reminders.unreachable))


async def _remind(context: Context, reminder: Reminder) -> None:
    """One chief hears which reaches still lack patrols this period, with a button to start each."""
    svc = services(context)
    chief = reminder.chief
    assert chief.telegram_id is not None
    lang = chief.language
    lines = [svc.locales.t(lang, "reminder.header", name=chief.name)]
    rows = []
    for progress in reminder.short:
        reach_name = progress.reach_name(lang)
        lines.append(
            svc.locales.t(
                lang,
                "reminder.line",
                reach=reach_name,
                period=svc.locales.plain(lang, f"period.this_{progress.period.kind}"),
                done=progress.done,
                required=progress.required,
                days=progress.days_left,
            )
        )
        start = svc.locales.plain(lang, "reminder.start", reach=reach_name)
        rows.append([(start, PatrolGo(reach=progress.reach_id).pack())])
    try:
        await context.bot.send_message(chief.telegram_id, "\n".join(lines), reply_markup=buttons(*rows))
    except Forbidden as exc:
        await refused(context, chief.telegram_id, exc)
    except TelegramError:
        logger.warning("Could not remind chief %s", chief.telegram_id, exc_info=True)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    new_message = private & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("patrol", patrol_command, new_message))
    app.add_handler(CommandHandler("mypatrols", mypatrols_command, new_message))
    for callback, codec in (
        (choice_cancelled, PatrolCancel),
        (reminder_started, PatrolGo),
        (areas_shown, PatrolAreas),
        (area_shown, PatrolArea),
        (reach_chosen, PatrolReach),
        (reach_chosen_for, PatrolFor),
        (finish_pressed, PatrolFinish),
        (problem_pressed, PatrolProblem),
        (mine_paged, PatrolMine),
        (switch_pressed, PatrolSwitch),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
    # Private messages (locations, photos, notes, the keyboards' buttons) come through handlers/router.py.
    groups = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE & filters.LOCATION
    app.add_handler(MessageHandler(groups, live_in_group))
