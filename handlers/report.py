"""Reporting a problem in private chat: photos → location → reach → category → (same problem?) → note → send.

The steps and what each input does are `bot.drafts` (a state machine); `bot.reports` keeps the draft in the
person's dialog, so a restart or an hour's pause loses nothing, and /cancel drops it. This module turns
messages and buttons into inputs and renders what comes back. A report starts from /report, the menu, a
patrol's "Report a problem", or simply a photo sent when nothing else is open (handlers/router.py decides).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

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
from bot.i18n import Locales
from bot.problems import MAX_PHOTOS, DraftPhoto
from bot.reports import Duplicate
from handlers.access import Actor, command, guard, refuse
from handlers.callbacks import (
    C,
    ReportArea,
    ReportAreas,
    ReportCancel,
    ReportCategory,
    ReportCategoryPage,
    ReportFixed,
    ReportFixedSend,
    ReportNew,
    ReportPhotosDone,
    ReportReach,
    ReportReachPage,
    ReportSame,
    ReportSend,
    ReportSkip,
    ReportStart,
    ReportUseExif,
    pressed,
)
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.fieldwork import category_name, far_note, labels, nearby_label, resting_keyboard, sent_at
from handlers.maps import send_problem_map
from handlers.media import Fetched, album_answer, download_photo, first_of_album, note_album
from handlers.problems import announce_new
from handlers.ui import ButtonHandler, buttons, paged, show
from storage.records import DialogRecord

REPORT = drafts.FLOW
AREA_PAGE = 50  # reaches of an area a page, when none of the nearest is the one


def _t(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.t(lang, key, **params)


def _p(context: Context, lang: Language, key: str, **params: object) -> str:
    return services(context).locales.plain(lang, key, **params)


# -- starting ---------------------------------------------------------------------------------------------


@command("report")
async def report_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/report: begin a problem report."""
    await begin(update, context, actor, started_at=sent_at(message))


async def begin(
    update: Update, context: Context, actor: Actor, *, started_at: datetime, patrol_id: int | None = None
) -> None:
    """Open a draft (linked to the open patrol, if any) and ask for photos."""
    svc = services(context)
    person = actor.known
    assert person.telegram_id is not None
    await svc.reports.begin(person.telegram_id, person.id, started_at=started_at, patrol_id=patrol_id)
    await ask_photos(context, actor)


async def ask_photos(context: Context, actor: Actor) -> None:
    """The draft's first question: its photos."""
    assert actor.known.telegram_id is not None
    await context.bot.send_message(
        actor.known.telegram_id,
        _t(context, actor.language, "report.ask_photos", max=MAX_PHOTOS),
        reply_markup=buttons([(_p(context, actor.language, "common.cancel"), ReportCancel().pack())]),
    )


async def resume_kept(context: Context, actor: Actor) -> None:
    """A stranger's kept report (bot.citizens) becomes the new member's draft and goes on where it stood: at the
    location with photos kept, at the photos with only a QR code's reach. Nothing kept: nothing happens."""
    svc = services(context)
    person = actor.known
    assert person.telegram_id is not None
    state = await svc.citizens.resume(person.telegram_id, person.id, started_at=datetime.now(UTC))
    if state is None:
        return
    if state.step is Step.LOCATION:
        await _ask_location(context, actor, state)
    else:
        await ask_photos(context, actor)


async def photo_without_dialog(update: Update, context: Context) -> None:
    """A photo sent by someone who reports, when nothing is waiting for one, starts a report (the router's pick).

    The photo is downloaded before the draft is opened: one that fails (a Telegram 502, a broken file) leaves
    nothing open behind the error, and a draft that is somehow open already is added to, never started afresh.
    """
    actor = await guard(update, context, "report")
    message = update.effective_message
    if actor is None or message is None:
        return
    person = actor.known
    assert person.telegram_id is not None
    reports = services(context).reports
    state = await reports.current(person.telegram_id)
    if state is not None:
        await _add_photo(context, actor, state, message)
        return
    fetched = await download_photo(context, message, person_id=person.id, lang=actor.language)
    if fetched is None:
        return
    await begin(update, context, actor, started_at=sent_at(message))
    state = await reports.current(person.telegram_id)
    if state is not None:
        await _add_photo(context, actor, state, message, fetched)


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
    if state.step is Step.AFTER_PHOTO:
        await _after_photo_input(context, actor, state, message)
        return
    if message.photo or message.document is not None:
        await _add_photo(context, actor, state, message)
        return
    if message.location is not None:
        location = message.location
        await _go(update, context, actor, drafts.share_location(state, location.latitude, location.longitude))
        return
    text = message.text or ""
    if text.strip() in _keyboard_labels(svc.locales):
        text = ""  # a reply keyboard's button, not a description: told what this step takes
    here = await svc.reports.on_patrol(state)
    await _go(update, context, actor, drafts.describe(state, text, track=here.point, track_reach=here.reach_id))


def _keyboard_labels(locales: Locales) -> frozenset[str]:
    """The reply keyboards' buttons (the main menu's, the patrol's), which arrive as text in either language."""
    keys = [key for key in locales.catalogs["zh"] if key.startswith("menu.")]
    keys += ["patrol.problem_button", "patrol.finish_button"]
    return frozenset(label for key in keys for label in labels(locales, key))


async def _add_photo(
    context: Context, actor: Actor, state: State, message: Message, fetched: Fetched | None = None
) -> None:
    """A photo for the draft: downloaded and kept (unless `fetched` already), then added; the photos of an album
    share one answer."""
    svc = services(context)
    lang = actor.language
    person = actor.known
    assert person.telegram_id is not None
    # Refused before the download when it cannot be added anyway (the photos are settled, or there are enough).
    refusal = drafts.photo_refusal(state)
    if refusal is Refusal.PHOTOS_DONE:
        await message.reply_text(_t(context, lang, "report.photos_done_already"))
        return
    if refusal is Refusal.TOO_MANY_PHOTOS:
        if await first_of_album(context, message, "report_albums_full"):
            await message.reply_text(_t(context, lang, "report.too_many_photos", max=MAX_PHOTOS))
        return
    if fetched is None:
        fetched = await download_photo(context, message, person_id=person.id, lang=lang)
    if fetched is None:
        return
    photo = DraftPhoto(
        fetched.stored.photo_id, fetched.file_id, fetched.as_document, fetched.stored.info.gps, message.message_id
    )
    transition = await svc.reports.add_photo(person.telegram_id, photo, at=sent_at(message))
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
        [(_p(context, lang, "report.photos_done"), ReportPhotosDone().pack())],
        [(_p(context, lang, "common.cancel"), ReportCancel().pack())],
    )
    shown = await album_answer(context, message, "report_albums")
    if shown is not None and shown.isdigit():
        # The rest of an album updates the one answer instead of adding one per photo.
        try:
            await context.bot.edit_message_text(
                "\n".join(lines), chat_id=message.chat.id, message_id=int(shown), reply_markup=markup
            )
            return
        except BadRequest:
            pass
    sent = await message.reply_text("\n".join(lines), reply_markup=markup)
    await note_album(context, message, "report_albums", str(sent.message_id))


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
    elif transition.next is Next.ASK_REACH and state is not None and state.draft.location_source == "patrol":
        # On a patrol: the track's point is the location, no keyboard to put away.
        photos = _t(context, lang, "report.photos_noted", count=len(transition.draft.photos))
        await show(update, context, photos + "\n" + _t(context, lang, "taps.location_from_track"))
        await _ask_reach(context, actor, state)
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
    elif transition.next is Next.ASK_CATEGORY and state is not None:  # the reach was known (a QR code)
        await _category_after_location(update, context, actor, state)
    elif transition.next is Next.ASK_DESCRIPTION:
        await show(
            update,
            context,
            _t(context, lang, "report.ask_description"),
            buttons([(_p(context, lang, "report.skip_description"), ReportSkip().pack())]),
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
        if transition.step is Step.PHOTOS and transition.draft.photos:  # not "send photos first": they came
            await refuse(update, context, lang, "steps.photos_in", count=len(transition.draft.photos))
            return
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
            reply_markup=buttons([(_p(context, lang, "report.use_exif"), ReportUseExif().pack())]),
        )
        await context.bot.send_message(person.telegram_id, _t(context, lang, "report.or_share"), reply_markup=keyboard)
        return
    await context.bot.send_message(person.telegram_id, _t(context, lang, "report.ask_location"), reply_markup=keyboard)


async def ask_location(context: Context, actor: Actor, state: State) -> None:
    """Where the problem is: the photo's own location to take, or the location keyboard."""
    await _ask_location(context, actor, state)


async def _category_after_location(update: Update, context: Context, actor: Actor, state: State) -> None:
    """The location is in and the reach known already (a public sign's QR code, or a patrol's track point on its
    own reach): straight to the category."""
    svc = services(context)
    lang = actor.language
    person = actor.known
    assert person.telegram_id is not None and state.draft.reach_id is not None
    noted = _t(context, lang, "report.location_noted")
    if state.draft.location_source == "patrol":  # on a patrol: no location was asked, no keyboard to put away
        photos = _t(context, lang, "report.photos_noted", count=len(state.draft.photos))
        await show(update, context, photos + "\n" + _t(context, lang, "taps.location_from_track"))
    elif update.callback_query is not None:
        await show(update, context, _t(context, lang, "report.exif_used"))
        await context.bot.send_message(person.telegram_id, noted, reply_markup=await resting_keyboard(context, actor))
    elif update.effective_message is not None:
        await update.effective_message.reply_text(noted, reply_markup=await resting_keyboard(context, actor))
    reach = await svc.patrols.reach(state.draft.reach_id)
    await context.bot.send_message(
        person.telegram_id,
        _t(context, lang, "report.ask_category", reach=reach.name(lang) if reach else "?"),
        reply_markup=category_keyboard(context, lang),
    )


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
        rows.append([(f"{mark}{nearby_label(svc.locales, lang, near)}", ReportReach(reach=near.reach.id).pack())])
    rows.append([(_p(context, lang, "patrol.by_area"), ReportAreas().pack())])
    rows.append([(_p(context, lang, "common.cancel"), ReportCancel().pack())])
    text = _t(context, lang, "report.ask_reach", reach=nearby[0].reach.name(lang)) + far_note(svc.locales, lang, nearby)
    await context.bot.send_message(person.telegram_id, text, reply_markup=buttons(*rows))


def category_keyboard(context: Context, lang: Language) -> InlineKeyboardMarkup:
    locales = services(context).locales
    choices = [(category_name(locales, lang, c), ReportCategory(category=c).pack()) for c in CATEGORIES]
    return paged(
        choices,
        page=0,
        page_data=lambda n: ReportCategoryPage(page=n).pack(),
        columns=2,
        page_size=len(choices),
        extra=[[(locales.plain(lang, "common.cancel"), ReportCancel().pack())]],
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
    rows = [[(_p(context, lang, "report.send"), ReportSend().pack())]]
    if svc.problems.may_fix_on_spot(person):
        rows.append([(_p(context, lang, "fixed.button"), ReportFixed().pack())])
    markup = buttons(*rows, [(_p(context, lang, "common.cancel"), ReportCancel().pack())])
    if update.callback_query is not None:
        await show(update, context, text, markup)
    else:
        await context.bot.send_message(person.telegram_id, text, reply_markup=markup)


# -- buttons ----------------------------------------------------------------------------------------------


DraftPressHandler = Callable[[Update, Context, Actor, C, State], Coroutine[Any, Any, None]]


def drafted(codec: type[C], *, step: Step | None = None) -> Callable[[DraftPressHandler[C]], ButtonHandler]:
    """`pressed(codec, action="report")` for a button of the draft: `handler(update, context, actor, data, state)`.

    Without a draft the press is told there is none; with `step`, a press from any other step (an older
    message of the same draft) is outdated. Other buttons leave the step check to `bot.drafts`.
    """

    def decorate(handler: DraftPressHandler[C]) -> ButtonHandler:
        @functools.wraps(handler)
        async def with_draft(update: Update, context: Context, actor: Actor, data: C) -> None:
            assert actor.known.telegram_id is not None
            state = await services(context).reports.current(actor.known.telegram_id)
            if state is None:
                await refuse(update, context, actor.language, "report.no_draft")
            elif step is not None and state.step is not step:
                await refuse(update, context, actor.language, "fallback.outdated_button")
            else:
                await handler(update, context, actor, data, state)

        return pressed(codec, action="report")(with_draft)

    return decorate


@pressed(ReportStart, action="report")
async def start_pressed(update: Update, context: Context, actor: Actor, data: ReportStart) -> None:
    """The "Report a problem" of messages from an earlier version: a new draft, dated now."""
    await begin(update, context, actor, started_at=datetime.now(UTC))


@drafted(ReportCancel)
async def cancel_pressed(update: Update, context: Context, actor: Actor, data: ReportCancel, state: State) -> None:
    """Cancel at any step; from the location step the usual keyboard comes back in place of the location one."""
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    await services(context).reports.apply(person.telegram_id, drafts.cancel(state))
    await show(update, context, _t(context, lang, "report.cancelled"))
    if state.step is Step.LOCATION:
        await context.bot.send_message(
            person.telegram_id, _t(context, lang, "menu.back"), reply_markup=await resting_keyboard(context, actor)
        )


@drafted(ReportPhotosDone)
async def photos_done(update: Update, context: Context, actor: Actor, data: ReportPhotosDone, state: State) -> None:
    """The photos are all there ("Next"): on to the location."""
    here = await services(context).reports.on_patrol(state)
    await _go(update, context, actor, drafts.photos_done(state, track=here.point, track_reach=here.reach_id))


@drafted(ReportUseExif)
async def exif_used(update: Update, context: Context, actor: Actor, data: ReportUseExif, state: State) -> None:
    """The location the photo sent as a file carries, instead of sharing one."""
    await _go(update, context, actor, drafts.use_exif(state))


@drafted(ReportAreas, step=Step.REACH)
async def areas_shown(update: Update, context: Context, actor: Actor, data: ReportAreas, state: State) -> None:
    """None of the nearest reaches: choose an area, then a reach in it."""
    lang = actor.language
    areas = await services(context).patrols.areas()
    await show(
        update,
        context,
        _t(context, lang, "reaches.choose_area"),
        buttons(*[[(a.name(lang), ReportArea(area=a.id).pack())] for a in areas]),
    )


@drafted(ReportArea, step=Step.REACH)
async def area_shown(update: Update, context: Context, actor: Actor, data: ReportArea, state: State) -> None:
    """An area's reaches to choose from; the draft keeps the area, for its page buttons.

    A vanished or forged area is outdated, and nothing is kept.
    """
    svc = services(context)
    assert actor.known.telegram_id is not None
    if await svc.patrols.area(data.area) is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    await svc.reports.apply(actor.known.telegram_id, drafts.list_area(state, data.area))
    await _area_page(update, context, actor, data.area, page=0)


@drafted(ReportReachPage, step=Step.REACH)
async def reach_paged(update: Update, context: Context, actor: Actor, data: ReportReachPage, state: State) -> None:
    """A page button of an area's reaches: that page of the area the draft keeps (none kept: outdated)."""
    area_id = drafts.listed_area(state)
    if area_id is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    await _area_page(update, context, actor, area_id, page=data.page)


async def _area_page(update: Update, context: Context, actor: Actor, area_id: int, *, page: int) -> None:
    """A page of an area's reaches, AREA_PAGE a page, on the pressed message."""
    lang = actor.language
    reaches = await services(context).patrols.reaches_in(area_id)
    choices = [(r.name(lang), ReportReach(reach=r.id).pack()) for r in reaches]
    await show(
        update,
        context,
        _t(context, lang, "report.choose_reach"),
        paged(
            choices,
            page=page,
            page_data=lambda n: ReportReachPage(page=n).pack(),
            page_size=AREA_PAGE,
            # Back to the areas, as the patrol's list has: and an area without reaches still has a button.
            extra=[[(_p(context, lang, "common.back"), ReportAreas().pack())]],
        ),
    )


@drafted(ReportReach, step=Step.REACH)
async def reach_chosen(update: Update, context: Context, actor: Actor, data: ReportReach, state: State) -> None:
    """The reach the problem is on (a vanished reach: outdated); then the category."""
    svc = services(context)
    lang = actor.language
    assert actor.known.telegram_id is not None
    reach = await svc.patrols.reach(data.reach)
    if reach is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    await svc.reports.apply(actor.known.telegram_id, drafts.choose_reach(state, reach.id))
    await show(
        update,
        context,
        _t(context, lang, "report.ask_category", reach=reach.name(lang)),
        category_keyboard(context, lang),
    )


@drafted(ReportCategory)
async def category_chosen(update: Update, context: Context, actor: Actor, data: ReportCategory, state: State) -> None:
    """The kind of problem; a like one open nearby is offered as maybe the same."""
    svc = services(context)
    lang = actor.language
    assert actor.known.telegram_id is not None
    transition, duplicate = await svc.reports.choose_category(
        actor.known.telegram_id, actor.known, state, data.category
    )
    if duplicate is not None and transition.next is Next.OFFER_DUPLICATE:
        category = category_name(svc.locales, lang, data.category)
        await show(update, context, _t(context, lang, "report.category_noted", category=category))
        await _offer_duplicate(context, lang, actor.known.telegram_id, duplicate)
        return
    await _go(update, context, actor, transition)


@drafted(ReportSame, step=Step.DUPLICATE)
async def same_pressed(update: Update, context: Context, actor: Actor, data: ReportSame, state: State) -> None:
    """It is the problem offered: the report joins it (closed meanwhile: say so); the draft is over.

    Any other problem (a forged button) is outdated, and the draft stays as it was.
    """
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    transition, joined = await services(context).reports.join(person.telegram_id, person.id, state, data.problem)
    if transition.refused is not None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if joined is None:
        await show(update, context, _t(context, lang, "report.duplicate_gone"))
        return
    await show(update, context, _t(context, lang, "report.joined", number=joined.id))


@drafted(ReportNew)
async def new_pressed(update: Update, context: Context, actor: Actor, data: ReportNew, state: State) -> None:
    """It is not the problem offered: on to the description."""
    await _go(update, context, actor, drafts.answer_duplicate(state, same=False))


@drafted(ReportSkip)
async def skip_pressed(update: Update, context: Context, actor: Actor, data: ReportSkip, state: State) -> None:
    """No description: on to the confirmation."""
    await _go(update, context, actor, drafts.describe(state, None))


@drafted(ReportSend, step=Step.CONFIRM)
async def send_pressed(update: Update, context: Context, actor: Actor, data: ReportSend, state: State) -> None:
    """Send: file the problem."""
    await _submit(update, context, actor, state)


@drafted(ReportCategoryPage)
async def category_paged(
    update: Update, context: Context, actor: Actor, data: ReportCategoryPage, state: State
) -> None:
    """A page button of the categories: never drawn, as they fit one page, so there is no other to show."""
    await refuse(update, context, actor.language, "fallback.outdated_button")


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
        [(_p(context, lang, "report.same_yes", number=problem.id), ReportSame(problem=problem.id).pack())],
        [(_p(context, lang, "report.same_no"), ReportNew().pack())],
    )
    if duplicate.photo_file_id is not None:
        await context.bot.send_photo(chat_id, duplicate.photo_file_id, caption=caption, reply_markup=markup)
    else:
        await context.bot.send_message(chat_id, caption, reply_markup=markup)


async def _submit(update: Update, context: Context, actor: Actor, state: State) -> None:
    """File the problem, tell whoever can act on it, and thank the reporter: told it is being handled only when
    someone has it; otherwise that the office is arranging who handles it (it was told at once)."""
    svc = services(context)
    person = actor.known
    lang = actor.language
    assert person.telegram_id is not None
    problem = await svc.reports.submit(person.telegram_id, person.id, state)
    assert problem is not None  # the step was checked by the caller
    await _own_photos(context, person.telegram_id, problem.id, state.draft.photos)
    mapped: set[int] = set()
    handled = await announce_new(context, problem, mapped=mapped)
    volunteer = person.is_volunteer and not person.is_chief
    key = ("report." if handled else "reachability.") + ("filed_volunteer" if volunteer else "filed")
    await show(update, context, _t(context, lang, key, number=problem.id))
    if person.telegram_id not in mapped:  # a chief on their own reach, an admin told as the office: had it
        await send_problem_map(context, person.telegram_id, lang, problem)


async def _own_photos(context: Context, chat_id: int, problem_id: int, photos: list[DraftPhoto]) -> None:
    """The reporter's chat has the photos they sent: remembered as sent there, so the notices and /problem refer
    to their own messages instead of sending the photos back to them."""
    own = {p.photo_id: p.message_id for p in photos if p.message_id is not None}
    if own:
        await services(context).problems.remember_photos_sent(chat_id, problem_id, own)


# -- fixed on the spot -----------------------------------------------------------------------------------


@drafted(ReportFixed, step=Step.CONFIRM)
async def fixed_pressed(update: Update, context: Context, actor: Actor, data: ReportFixed, state: State) -> None:
    """"Fixed on the spot" at the confirmation: ask for the photos after the fix, if a chief pressed it.

    Chiefs only (`ProblemService.may_fix_on_spot`); anyone else (a forged button) is told to send it instead."""
    svc = services(context)
    lang = actor.language
    if not svc.problems.may_fix_on_spot(actor.known):
        await refuse(update, context, lang, "fixed.not_allowed")
        return
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    transition = await svc.reports.apply(telegram_id, drafts.fix_on_spot(state))
    if transition.refused is not None:
        await _refused(update, context, lang, transition)
        return
    await show(update, context, _t(context, lang, "fixed.ask_photo", max=MAX_PHOTOS), _fixed_buttons(context, lang))


def _fixed_buttons(context: Context, lang: Language, *, send: bool = False) -> InlineKeyboardMarkup:
    cancel = [(_p(context, lang, "common.cancel"), ReportCancel().pack())]
    if send:
        return buttons([(_p(context, lang, "fixed.send"), ReportFixedSend().pack())], cancel)
    return buttons(cancel)


async def _after_photo_input(context: Context, actor: Actor, state: State, message: Message) -> None:
    """At the after-photo step: a photo is kept as the after-photo; anything else is told what the step takes."""
    svc = services(context)
    lang = actor.language
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    if not (message.photo or message.document is not None):
        markup = _fixed_buttons(context, lang, send=bool(state.draft.fixed_photos))
        await message.reply_text(_t(context, lang, "fixed.use_step"), reply_markup=markup)
        return
    if len(state.draft.fixed_photos or []) >= MAX_PHOTOS:
        await message.reply_text(_t(context, lang, "fixed.too_many", max=MAX_PHOTOS))
        return
    fetched = await download_photo(context, message, person_id=actor.known.id, lang=lang)
    if fetched is None:
        return
    photo = DraftPhoto(
        fetched.stored.photo_id, fetched.file_id, fetched.as_document, fetched.stored.info.gps, message.message_id
    )
    # Loaded again: the photos of an album arrive together, and each must see the others'.
    current = await svc.reports.current(telegram_id)
    if current is None or current.step is not Step.AFTER_PHOTO:
        return
    transition = await svc.reports.add_fixed_photo(telegram_id, current, photo, at=sent_at(message))
    if transition.refused is Refusal.SAME_AS_BEFORE:
        await message.reply_text(_t(context, lang, "fixed.same_as_before"))
        return
    if transition.refused is not None:
        await message.reply_text(_t(context, lang, "fixed.too_many", max=MAX_PHOTOS))
        return
    count = len(transition.draft.fixed_photos or [])
    await message.reply_text(
        _t(context, lang, "fixed.photo_added", count=count, max=MAX_PHOTOS),
        reply_markup=_fixed_buttons(context, lang, send=True),
    )


@drafted(ReportFixedSend, step=Step.AFTER_PHOTO)
async def fixed_sent(update: Update, context: Context, actor: Actor, data: ReportFixedSend, state: State) -> None:
    """File the problem as fixed on the spot: found and closed at once, before and after photos kept."""
    svc = services(context)
    lang = actor.language
    if not svc.problems.may_fix_on_spot(actor.known):
        await refuse(update, context, lang, "fixed.not_allowed")
        return
    if not state.draft.fixed_photos:
        await refuse(update, context, lang, "fixed.need_photo")
        return
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    problem = await svc.reports.submit_fixed(telegram_id, actor.known, state)
    if problem is not None:
        await _own_photos(context, telegram_id, problem.id, [*state.draft.photos, *(state.draft.fixed_photos or [])])
    if problem is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    await show(update, context, _t(context, lang, "fixed.filed", number=problem.id))


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("report", report_command, private))
    for callback, codec in (
        (start_pressed, ReportStart),
        (cancel_pressed, ReportCancel),
        (photos_done, ReportPhotosDone),
        (exif_used, ReportUseExif),
        (areas_shown, ReportAreas),
        (area_shown, ReportArea),
        (reach_chosen, ReportReach),
        (reach_paged, ReportReachPage),
        (category_chosen, ReportCategory),
        (category_paged, ReportCategoryPage),
        (same_pressed, ReportSame),
        (new_pressed, ReportNew),
        (skip_pressed, ReportSkip),
        (send_pressed, ReportSend),
        (fixed_pressed, ReportFixed),
        (fixed_sent, ReportFixedSend),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
