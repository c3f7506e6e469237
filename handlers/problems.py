"""Following a problem to the end: notices with photos and a map location, /problem N with its timeline and the
actions this person may take, /problems (overdue first), /myreports, and the daily deadline job."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from telegram import InlineKeyboardMarkup, InputMediaPhoto, Message, ReplyParameters, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import CATEGORIES, Language
from bot.deadlines import Notice
from bot.dialogs import Dialog
from bot.events import event_text
from bot.failures import one_record
from bot.people import Person
from bot.permissions import decide_in_area
from bot.photos import PhotoError
from bot.problems import MAX_PHOTOS, NOTE_FLOW, Action, Card, DraftPhoto, Listed, ProblemPhoto, ProblemRecord
from bot.reachability import Reason, waiting_label, why_unreachable
from bot.services import Services
from bot.stamp import evidence_lines, stamp
from bot.todo import rectify_action
from handlers.access import Actor, command, guard, refuse
from handlers.callbacks import (
    ID,
    CloseConfirm,
    DispatchExtend,
    DispatchPress,
    DispatchTransfer,
    MyReportsPage,
    NoteCancel,
    NoteSend,
    ProblemAction,
    ProblemAssigneePage,
    ProblemAssignTo,
    ProblemButton,
    ProblemFilterArea,
    ProblemFilterCategory,
    ProblemList,
    ProblemListPage,
    ProblemView,
    pressed,
)
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.fieldwork import category_name, writing_report
from handlers.maps import send_problem_map
from handlers.media import fetch_photo
from handlers.scope import refuse_out_of_scope
from handlers.sending import problem_buttons, problem_lines, refused, tell_office_missed, who
from handlers.todo import action_rows
from handlers.ui import buttons, paged, show

logger = logging.getLogger(__name__)

NOTE = NOTE_FLOW
PAGE = 8
MY_PAGE = 20  # /myreports


def _t(svc: Services, lang: Language, key: str, **params: object) -> str:
    return svc.locales.t(lang, key, **params)


def _p(svc: Services, lang: Language, key: str, **params: object) -> str:
    return svc.locales.plain(lang, key, **params)


MESSAGE_LIMIT = 4096  # Telegram's limit for a message's text, in UTF-16 code units after parsing
HISTORY_MESSAGES = 3  # messages of history after a card at most; earlier events are left to /export
# Kept free in the first history message for its title and the "earlier events" line.
HISTORY_HEADROOM = 300
_TAG = re.compile(r"<[^>]*>")


def _units(text: str) -> int:
    """The length Telegram counts: UTF-16 code units of the text once its HTML is parsed (tags and entities)."""
    return len(html.unescape(_TAG.sub("", text)).encode("utf-16-le")) // 2


def problem_messages(svc: Services, lang: Language, card: Card, *, intro: str | None, timeline: bool) -> list[str]:
    """The card's text first (it carries the buttons), then the history when it does not fit with the card.

    A problem's log only grows (every send-back, reminder and transfer adds a line, a note up to 1,000
    characters), so one message cannot hold it for good: the card alone stays within Telegram's limit and
    reachable; the history follows in at most HISTORY_MESSAGES messages, newest events kept, and says how many
    earlier ones are left to /export."""
    head = "\n".join(_card_lines(svc, lang, card))
    if intro:
        head = intro + "\n\n" + head
    if not timeline:
        return [head]
    title = _t(svc, lang, "problem.timeline")
    events = _timeline_lines(svc, lang, card)
    whole = "\n".join([head, "", title, *events])
    if _units(whole) <= MESSAGE_LIMIT:
        return [whole]
    pages: list[list[str]] = [[]]  # newest page first while filling
    size = 0
    kept = len(events)
    while kept > 0:
        line = events[kept - 1]
        cost = _units(line) + 1
        if pages[-1] and size + cost > MESSAGE_LIMIT - HISTORY_HEADROOM:
            if len(pages) == HISTORY_MESSAGES:
                break
            pages.append([])
            size = 0
        pages[-1].insert(0, line)
        size += cost
        kept -= 1
    pages.reverse()
    first = [title]
    if kept:
        first.append(_t(svc, lang, "problem.timeline_earlier", count=kept))
    pages[0] = first + pages[0]
    return [head, *("\n".join(page) for page in pages if page)]


def _card_lines(svc: Services, lang: Language, card: Card) -> list[str]:
    problem, reach, area, assignee, reporter = card.problem, card.reach, card.area, card.assignee, card.reporter
    tz = svc.settings.tz
    today = datetime.now(tz).date()
    overdue = problem.overdue_days(today)
    none = _p(svc, lang, "common.none")
    waiting = why_unreachable(assignee) if assignee is not None and problem.status == "assigned" else None
    lines = [
        _t(
            svc,
            lang,
            "problem.card",
            number=problem.id,
            category=category_name(svc.locales, lang, problem.category),
            status=status_label(svc, lang, problem, waiting),
            reach=reach.name(lang) if reach else "?",
            area=area.name(lang) if area else "?",
            lat=f"{problem.lat:.5f}",
            lon=f"{problem.lon:.5f}",
            reporter=reporter.name if reporter else "?",
            reported=problem.reported_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            assignee=assignee.name if assignee else none,
            deadline=problem.deadline.isoformat() if problem.deadline else none,
            description=problem.description or none,
        )
    ]
    if overdue:
        lines.append(_t(svc, lang, "problem.overdue", days=overdue))
    if card.pressed:
        lines.append(_t(svc, lang, "dispatch.pressed_count", count=card.pressed))
    if card.extension_asked is not None and problem.is_open:
        lines.append(_t(svc, lang, "dispatch.open_extension", deadline=card.extension_asked.isoformat()))
    pruned = sum(1 for photo in card.photos if photo.pruned)
    if pruned:
        lines.append(_t(svc, lang, "problem.retention.photos_pruned", count=pruned))
    return lines


def _timeline_lines(svc: Services, lang: Language, card: Card) -> list[str]:
    tz = svc.settings.tz
    lines = []
    for entry in card.timeline:
        event = entry.event
        who = event.actor_name or _p(svc, lang, "problem.system")
        line = _t(
            svc,
            lang,
            "problem.event_line",
            when=event.at.astimezone(tz).strftime("%m-%d %H:%M"),
            who=who,
            what=event_text(svc.locales, lang, event.action, event.data, entry.target.name if entry.target else None),
        )
        if event.note:
            line += _t(svc, lang, "problem.event_note", note=event.note)
        lines.append(line)
    return lines


def status_label(svc: Services, lang: Language, problem: ProblemRecord, waiting: Reason | None) -> str:
    """The status as lists and cards show it: an assigned problem whose chief cannot act waits, and says so."""
    if waiting is not None:
        return _p(svc, lang, f"reachability.waiting.{waiting_label(waiting)}")
    return _p(svc, lang, f"problem.status.{problem.status}")


# The lifecycle buttons of a card, in the order drawn, with the word each one's data carries.
BUTTON_ACTIONS: dict[ProblemButton, Action] = {
    "rect": "rectify",
    "close": "close",
    "rej": "reject",
    "as": "assign",
    "dis": "dismiss",
    "reopen": "reopen",
}


def action_buttons(
    svc: Services, lang: Language, problem: ProblemRecord, actions: set[Action]
) -> list[list[tuple[str, str]]]:
    return [
        [(_p(svc, lang, f"problem.do.{action}"), ProblemAction(action=word, problem=problem.id).pack())]
        for word, action in BUTTON_ACTIONS.items()
        if action in actions
    ]


def dispatch_buttons(
    svc: Services, lang: Language, problem: ProblemRecord, viewer: Person
) -> list[list[tuple[str, str]]]:
    """The dispatch buttons this person may press on the card: ask for more time; transfer; press."""
    rules = svc.dispatch
    rows = []
    if rules.may_ask_extension(problem, viewer):
        rows.append([(_p(svc, lang, "dispatch.ask_extension"), DispatchExtend(problem=problem.id).pack())])
    office = []
    if rules.may_transfer(problem, viewer):
        office.append((_p(svc, lang, "dispatch.transfer"), DispatchTransfer(problem=problem.id).pack()))
    if rules.may_press(problem, viewer):
        office.append((_p(svc, lang, "dispatch.press"), DispatchPress(problem=problem.id).pack()))
    return [*rows, office] if office else rows


def details_button(svc: Services, lang: Language, problem: ProblemRecord) -> list[tuple[str, str]]:
    """The row that opens the card with its timeline."""
    return [(_p(svc, lang, "problem.details"), ProblemView(problem=problem.id).pack())]


async def send_problem(
    context: Context,
    chat_id: int,
    viewer: Person,
    problem: ProblemRecord,
    *,
    intro: str | None = None,
    timeline: bool = False,
) -> None:
    """Photos (an album) the chat has not had yet, the map location, then the card with what this person may
    do. Photos sent before are not sent again: the location and the card reply to them (`send_photos`)."""
    svc = services(context)
    lang = viewer.language
    card = await svc.problems.card(problem, timeline=timeline)
    anchor = await send_photos(context, chat_id, lang, card)
    title = _p(
        svc,
        lang,
        "problem.venue_title",
        number=problem.id,
        category=category_name(svc.locales, lang, problem.category),
    )
    address = card.reach.name(lang) if card.reach else ""

    async def venue(anchor: int | None) -> None:
        await context.bot.send_venue(
            chat_id,
            latitude=problem.lat,
            longitude=problem.lon,
            title=title,
            address=address,
            reply_parameters=_replying(anchor),
        )

    try:
        await venue(anchor)
    except BadRequest as exc:
        if anchor is None or not _reply_missing(exc):
            raise
        # The chat no longer has the photos (deleted): they go again, and are remembered anew.
        await svc.problems.forget_photos_sent(chat_id, problem.id)
        anchor = await send_photos(context, chat_id, lang, card)
        await venue(anchor)
    texts = problem_messages(svc, lang, card, intro=intro, timeline=timeline)
    actions = await svc.problems.permitted(problem, viewer)
    rows = action_buttons(svc, lang, problem, actions) + dispatch_buttons(svc, lang, problem, viewer)
    if not timeline:
        rows.append(details_button(svc, lang, problem))
    markup = buttons(*rows) if rows else None
    reply = _replying(anchor, loose=True)
    await context.bot.send_message(chat_id, texts[0], reply_markup=markup, reply_parameters=reply)
    for history in texts[1:]:
        await context.bot.send_message(chat_id, history)


def _replying(message_id: int | None, *, loose: bool = False) -> ReplyParameters | None:
    """A reply to `message_id`; `loose`: sent anyway, as a plain message, if that message is gone."""
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=loose or None)


def _reply_missing(exc: BadRequest) -> bool:
    return "replied not found" in exc.message.lower()


async def send_photos(context: Context, chat_id: int, lang: Language, card: Card) -> int | None:
    """Send the chat the problem's photos it has not been sent yet, each captioned before or after; returns the
    message later messages reply to (the first of those just sent, else the newest sent before), None when the
    problem has no photo to show.

    Each chat is sent a photo once (remembered in the store): one 70 KB photo used to go out five times for one
    problem. New photos (after-photos, a same-problem report's) reply to the ones sent before; when those are
    gone from the chat (Telegram cannot find them), every photo is sent again and remembered anew."""
    svc = services(context)
    problem = card.problem
    shown = [photo for photo in card.photos[: 2 * MAX_PHOTOS] if not photo.pruned]
    if not shown:
        return None
    sent = await svc.problems.photos_sent(chat_id, problem.id)
    earlier = [sent[p.photo_id] for p in shown if p.photo_id in sent]
    fresh = [p for p in shown if p.photo_id not in sent]
    if not fresh:
        return max(earlier)
    reach = card.reach.name(lang) if card.reach else ""
    copies = await evidence_copies(svc, lang, problem, fresh, reach)
    if not copies:
        return max(earlier) if earlier else None
    captions = photo_captions(svc, lang, [copy.kind for copy in copies])
    reply = _replying(max(earlier) if earlier else None)
    try:
        if len(copies) == 1:
            message = await context.bot.send_photo(chat_id, copies[0].data, caption=captions[0], reply_parameters=reply)
            messages = [message]
        else:
            media = [InputMediaPhoto(c.data, caption=caption) for c, caption in zip(copies, captions, strict=True)]
            messages = list(await context.bot.send_media_group(chat_id, media, reply_parameters=reply))
    except BadRequest as exc:
        if reply is None or not _reply_missing(exc):
            logger.warning("Could not send the photos of problem %s to %s", problem.id, chat_id, exc_info=True)
            return max(earlier) if earlier else None
        await svc.problems.forget_photos_sent(chat_id, problem.id)
        return await send_photos(context, chat_id, lang, card)
    except TelegramError:
        logger.warning("Could not send the photos of problem %s to %s", problem.id, chat_id, exc_info=True)
        return max(earlier) if earlier else None
    await svc.problems.remember_photos_sent(
        chat_id, problem.id, {c.photo_id: m.message_id for c, m in zip(copies, messages, strict=False)}
    )
    return messages[0].message_id


def photo_captions(svc: Services, lang: Language, kinds: list[str]) -> list[str]:
    """Each photo's caption: before or after the rectification, numbered within its side when there are more."""
    counts = {kind: kinds.count(kind) for kind in set(kinds)}
    seen: dict[str, int] = {}
    captions = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        label = _p(svc, lang, f"evidence.{'after' if kind == 'after' else 'before'}")
        if counts[kind] > 1:
            label = _p(svc, lang, "evidence.numbered", label=label, number=seen[kind], count=counts[kind])
        captions.append(label)
    return captions


@dataclass(frozen=True, slots=True)
class EvidenceCopy:
    """A stamped copy of one photo, and what its band says (kept for tests and logs: the text is pixels)."""

    photo_id: int
    kind: str
    lines: list[str]
    data: bytes


async def evidence_copies(
    svc: Services, lang: Language, problem: ProblemRecord, photos: list[ProblemPhoto], reach: str
) -> list[EvidenceCopy]:
    """Copies with a stamped band (number, kind, reach, place, times); the originals on disk stay untouched.
    After-photos carry their own time and place (`bot.evidence`), never the problem's."""
    photos = [photo for photo in photos if not photo.pruned]  # past RETENTION_YEARS: the card says so instead
    copies = []
    for photo, seen in zip(photos, await svc.problems.sightings(problem, photos), strict=True):
        lines = evidence_lines(
            svc.locales,
            lang,
            number=problem.id,
            category=category_name(svc.locales, lang, problem.category),
            reach=reach,
            gps=seen.gps,
            taken_at=seen.taken_at,
            reported_at=seen.received_at,
            tz=svc.settings.tz,
            kind=seen.kind,
            place_source=seen.place_source,
            place_at=seen.place_at,
        )
        try:
            original = await asyncio.to_thread((svc.settings.data_dir / photo.path).read_bytes)
            data = await asyncio.to_thread(stamp, original, lines)
        except (OSError, PhotoError):
            logger.warning("Photo %s of problem %s is missing or unreadable", photo.photo_id, problem.id, exc_info=True)
            continue
        copies.append(EvidenceCopy(photo.photo_id, seen.kind, lines, data))
    return copies


async def _tell(
    context: Context,
    person_id: int,
    key: str,
    problem: ProblemRecord,
    *,
    full: bool = False,
    first: bool = False,
    rectify: bool = False,
    map_if_unseen: bool = False,
    mapped: set[int] | None = None,
    **params: object,
) -> bool:
    """Tell one person about a change in their language; whether it reached them. One the bot cannot write to
    is skipped; a 403 marks them unreachable (handlers.sending.refused); a missing chat is logged, not fatal.
    `rectify`: the message carries the rectify button, as the person's to-do does (a deadline's reminder).
    The problem's map goes with `first`, and with `map_if_unseen` when this chat was sent none of its photos yet
    (an assignee the office chose later hears of it here first); chats sent the map are added to `mapped`."""
    svc = services(context)
    person = await svc.problems.recipient(person_id)
    if person is None or person.telegram_id is None:
        return False
    lang = person.language
    intro = _t(svc, lang, key, number=problem.id, category=category_name(svc.locales, lang, problem.category), **params)
    try:
        if first or (map_if_unseen and not await svc.problems.photos_sent(person.telegram_id, problem.id)):
            # The first time this person hears of it: where it is, on a map.
            await send_problem_map(context, person.telegram_id, lang, problem)
            if mapped is not None:
                mapped.add(person.telegram_id)
        if full:
            await send_problem(context, person.telegram_id, person, problem, intro=intro)
        else:
            # A short notice refers to the photos this person was sent, if any (sent anyway if they are gone).
            rows = action_rows([rectify_action(svc.locales, lang, problem.id)]) if rectify else []
            sent = await svc.problems.photos_sent(person.telegram_id, problem.id)
            await context.bot.send_message(
                person.telegram_id,
                intro,
                reply_markup=buttons(*rows, details_button(svc, lang, problem)),
                reply_parameters=_replying(max(sent.values()) if sent else None, loose=True),
            )
    except Forbidden as exc:
        await refused(context, person.telegram_id, exc)
        return False
    except TelegramError:
        logger.warning("Could not tell %s about problem %s", person.telegram_id, problem.id, exc_info=True)
        return False
    return True


async def announce_new(context: Context, problem: ProblemRecord, *, mapped: set[int] | None = None) -> bool:
    """A new problem goes to its assignee with photos, map location and buttons. When nobody can act on it (no
    chief on the reach, or theirs cannot be reached) the office hears at once, with why. Returns whether
    someone able to act has it: only then is the reporter told it is being handled. The chats sent the map are
    added to `mapped` (the reporter's own confirmation then goes without a second one)."""
    svc = services(context)
    routed = await svc.reachability.routed(problem)
    if routed.tell_assignee is not None:
        told = await _tell(
            context, routed.tell_assignee.id, "problem.new_assigned", problem, full=True, first=True, mapped=mapped
        )
        if told:
            return True
        # Telegram refused it (403): the chief is marked unreachable by now, and the office hears of this problem.
        routed = await svc.reachability.routed(problem)
    # The problem's own town office first; the county when the town has none.
    for admin in await svc.people.office(problem.area_id):
        if routed.waiting_for is not None:
            await _tell(
                context,
                admin.id,
                "reachability.new_problem",
                problem,
                full=True,
                first=True,
                mapped=mapped,
                person=who(context, admin.language, routed.waiting_for),
            )
        else:
            await _tell(context, admin.id, "problem.new_unassigned", problem, full=True, first=True, mapped=mapped)
    return False


async def hand_over(context: Context, person: Person) -> None:
    """A chief who has just joined gets every problem that waited for them, each with its deadline, in one
    message with a button each; the reporters hear that someone has it now."""
    svc = services(context)
    handover = await svc.reachability.handover(person.id)
    if handover is None or person.telegram_id is None:
        return
    lang = person.language
    lines = [_t(svc, lang, "reachability.handover", count=len(handover.problems))]
    lines += problem_lines(context, lang, handover.problems)
    try:
        await context.bot.send_message(
            person.telegram_id, "\n".join(lines), reply_markup=problem_buttons(context, lang, handover.problems)
        )
    except Forbidden as exc:
        await refused(context, person.telegram_id, exc)
        return
    except TelegramError:
        logger.warning("Could not hand %s the problems waiting for them", person.id, exc_info=True)
        return
    for item in handover.problems:
        for reporter in handover.tell_reporters.get(item.problem.id, ()):
            await _tell(context, reporter, "problem.tell.assign", item.problem)


# -- views ------------------------------------------------------------------------------------------------


@command("problem")
async def problem_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/problem N: the problem's card with its timeline, if this person may see it."""
    svc = services(context)
    text = (context.args or [""])[0].lstrip("#")
    if not (text.isascii() and text.isdigit()):  # "²" and "١" are digits to str.isdigit, not to int()
        await message.reply_text(_t(svc, actor.language, "problem.usage"))
        return
    number = ID.parse(text)  # an id as a button would carry it: a bigger number names no problem
    if number is None:
        await refuse(update, context, actor.language, "problem.not_found", number=text)
        return
    await _view(update, context, actor, number)


async def _view(update: Update, context: Context, actor: Actor, number: int) -> None:
    svc = services(context)
    person = actor.known
    problem = await svc.problems.get(number)
    assert person.telegram_id is not None
    if problem is None:
        await refuse(update, context, actor.language, "problem.not_found", number=number)
        return
    if not await svc.problems.may_view(problem, person):
        if not decide_in_area(person, "problem", problem.area_id).allowed:
            await refuse_out_of_scope(update, context, person, "problem", number=number)
        else:
            await refuse(update, context, actor.language, "problem.not_found", number=number)
        return
    await send_problem(context, person.telegram_id, person, problem, timeline=True)


@command("problems")
async def problems_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/problems: the open problems this person sees, a page at a time."""
    await _list(update, context, actor, page=0, area_id=0, category="", overdue_only=False)


async def _list(
    update: Update, context: Context, actor: Actor, *, page: int, area_id: int, category: str, overdue_only: bool
) -> None:
    svc = services(context)
    lang = actor.language
    today = datetime.now(svc.settings.tz).date()
    found, total = await svc.problems.page(actor.known, area_id=area_id, category=category, page=page, page_size=PAGE)
    if overdue_only:
        found = [item for item in found if item.problem.overdue_days(today)]
    choices = []
    for item in found:
        problem = item.problem
        overdue = problem.overdue_days(today)
        flag = status_label(svc, lang, problem, item.waiting)
        if overdue:
            late = _p(svc, lang, "problems.overdue_flag", days=overdue)
            flag = late if item.waiting is None else f"{late} {flag}"
        choices.append(
            (
                _line(svc, lang, item.problem, flag, item.reach.name(lang) if item.reach else "?"),
                ProblemView(problem=problem.id).pack(),
            )
        )
    nav = _nav(page, total, PAGE, lambda number: ProblemList(page=number, area=area_id, category=category).pack())
    filters_row = [
        (_p(svc, lang, "problems.by_area"), ProblemFilterArea(category=category).pack()),
        (_p(svc, lang, "problems.by_category"), ProblemFilterCategory(area=area_id).pack()),
    ]
    extra = [r for r in (nav, filters_row) if r]
    if area_id or category:
        extra.append([(_p(svc, lang, "problems.clear_filters"), ProblemList(page=0, area=0, category="").pack())])
    header = _t(svc, lang, "problems.header" if total else "problems.none", count=total)
    await show(update, context, header, paged(choices, page=0, page_data=_list_page, extra=extra, page_size=PAGE))


def _list_page(number: int) -> str:
    return ProblemListPage(page=number).pack()


def _nav(page: int, total: int, page_size: int, at: Callable[[int], str]) -> list[tuple[str, str]]:
    """◀ n/N ▶ for a list the store hands out a page at a time (nothing when it fits one page)."""
    pages = max(1, -(-total // page_size))
    nav: list[tuple[str, str]] = []
    if page > 0:
        nav.append(("◀", at(page - 1)))
    if pages > 1:
        nav.append((f"{page + 1}/{pages}", at(page)))
    if page < pages - 1:
        nav.append(("▶", at(page + 1)))
    return nav


def _line(svc: Services, lang: Language, problem: ProblemRecord, flag: str, reach: str) -> str:
    return f"#{problem.id} {flag} · {category_name(svc.locales, lang, problem.category)} · {reach}"


@command("myreports")
async def myreports_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/myreports: the problems this person reported or follows, newest first, a page at a time."""
    svc = services(context)
    found, total = await svc.problems.reported_by(actor.known.id, page=0, page_size=MY_PAGE)
    if not total:
        await message.reply_text(_t(svc, actor.language, "myreports.none"))
        return
    text, markup = _my_reports(svc, actor.language, found, total, page=0)
    await message.reply_text(text, reply_markup=markup)


@pressed(MyReportsPage, action="myreports")
async def myreports_page(update: Update, context: Context, actor: Actor, data: MyReportsPage) -> None:
    """A page of /myreports: ◀ ▶, or its page number (the same page again); past the end, the last page."""
    svc = services(context)
    person_id = actor.known.id
    found, total = await svc.problems.reported_by(person_id, page=data.page, page_size=MY_PAGE)
    page = min(data.page, max(0, (total - 1) // MY_PAGE))
    if page != data.page:
        found, total = await svc.problems.reported_by(person_id, page=page, page_size=MY_PAGE)
    if not total:
        await show(update, context, _t(svc, actor.language, "myreports.none"))
        return
    text, markup = _my_reports(svc, actor.language, found, total, page=page)
    await show(update, context, text, markup)


def _my_reports(
    svc: Services, lang: Language, found: list[Listed], total: int, *, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The header and buttons of one page of /myreports: each problem with its status, then ◀ n/N ▶."""
    rows = []
    for item in found:
        status = status_label(svc, lang, item.problem, item.waiting)
        label = _line(svc, lang, item.problem, status, item.reach.name(lang) if item.reach else "?")
        rows.append([(label, ProblemView(problem=item.problem.id).pack())])
    nav = _nav(page, total, MY_PAGE, lambda number: MyReportsPage(page=number).pack())
    return _t(svc, lang, "myreports.header", count=total), buttons(*rows, *([nav] if nav else []))


@pressed(ProblemList, action="problems")
async def list_shown(update: Update, context: Context, actor: Actor, data: ProblemList) -> None:
    """A page of /problems as filtered: ◀ ▶, a filter chosen, or the filters cleared."""
    await _list(update, context, actor, page=data.page, area_id=data.area, category=data.category, overdue_only=False)


@pressed(ProblemListPage, action="problems")
async def list_page_number(update: Update, context: Context, actor: Actor, data: ProblemListPage) -> None:
    """The page number of a /problems list that fits one page (and /myreports' ◀ ▶ on older messages)."""


@pressed(ProblemFilterArea, action="problems")
async def area_filter(update: Update, context: Context, actor: Actor, data: ProblemFilterArea) -> None:
    """Offer the areas to filter /problems by, keeping the category filter."""
    svc = services(context)
    lang = actor.language
    # A town's office filters among its own areas.
    within = actor.known.areas if actor.known.is_admin else None
    areas = [a for a in await svc.problems.areas() if within is None or a.id in within]
    rows = [[(a.name(lang), ProblemList(page=0, area=a.id, category=data.category).pack())] for a in areas]
    await show(update, context, _t(svc, lang, "reaches.choose_area"), buttons(*rows))


@pressed(ProblemFilterCategory, action="problems")
async def category_filter(update: Update, context: Context, actor: Actor, data: ProblemFilterCategory) -> None:
    """Offer the categories to filter /problems by, keeping the area filter."""
    svc = services(context)
    lang = actor.language
    rows = [
        [(category_name(svc.locales, lang, c), ProblemList(page=0, area=data.area, category=c).pack())]
        for c in CATEGORIES
    ]
    await show(update, context, _t(svc, lang, "problems.choose_category"), buttons(*rows))


# -- actions ----------------------------------------------------------------------------------------------


async def _no_such_problem(update: Update, context: Context, actor: Actor, texts: Mapping[str, str]) -> None:
    """A number no problem can have (forged data): not found, as /problem N says it."""
    await refuse(update, context, actor.language, "problem.not_found", number=texts["problem"])


@pressed(ProblemView, action="problem", forged=_no_such_problem)
async def problem_viewed(update: Update, context: Context, actor: Actor, data: ProblemView) -> None:
    """Send the problem's card with its timeline, as /problem N does."""
    await _view(update, context, actor, data.problem)


async def _actionable(
    update: Update, context: Context, actor: Actor, number: int, action: Action
) -> ProblemRecord | None:
    """The problem, when the presser may take `action` on it now; otherwise None, the refusal answered."""
    svc = services(context)
    problem = await svc.problems.get(number)
    if problem is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return None
    if action not in await svc.problems.permitted(problem, actor.known):
        if not decide_in_area(actor.known, "problem", problem.area_id).allowed:
            await refuse_out_of_scope(update, context, actor.known, "problem", number=problem.id)
            return None
        if action in ("close", "reject") and svc.problems.own_rectification(problem, actor.known):
            await refuse(update, context, actor.language, "problem.own_rectification", number=problem.id)
            return None
        status = _p(svc, actor.language, f"problem.status.{problem.status}")
        await refuse(update, context, actor.language, "problem.cannot", status=status)
        return None
    return problem


@pressed(ProblemAction, action="problem")
async def action_pressed(update: Update, context: Context, actor: Actor, data: ProblemAction) -> None:
    """A lifecycle button: close at once, choose an assignee, or ask for after-photos or a reason first."""
    action = BUTTON_ACTIONS[data.action]
    problem = await _actionable(update, context, actor, data.problem, action)
    if problem is None:
        return
    svc = services(context)
    lang = actor.language
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    if action == "assign":
        await _choose_assignee(update, context, lang, problem, actor.known.areas)
        return
    if await writing_report(update, context, actor):  # a note would replace the draft
        return
    if action == "close":  # closing is confirmed first, with an optional note typed for the record
        await svc.problems.put_note(telegram_id, "close", {"problem": problem.id})
        await context.bot.send_message(
            telegram_id,
            _t(svc, lang, "dispatch.confirm_close", number=problem.id),
            reply_markup=_close_buttons(svc, lang, problem.id),
        )
        return
    if action == "rectify":
        await svc.problems.put_note(telegram_id, "rectify", {"problem": problem.id, "photos": [], "note": None})
        ask = _t(svc, lang, "problem.ask_after_photos", number=problem.id, max=MAX_PHOTOS)
    else:  # reject, dismiss, reopen: a reason first
        await svc.problems.put_note(telegram_id, action, {"problem": problem.id})
        ask = _t(svc, lang, f"problem.ask_reason_{action}", number=problem.id)
    await context.bot.send_message(telegram_id, ask, reply_markup=_note_buttons(svc, lang))


async def _assignee_forged(update: Update, context: Context, actor: Actor, texts: Mapping[str, str]) -> None:
    """A forged assignee: one who may not assign the problem hears that first, as from any assign button."""
    number = ID.parse(texts["problem"])
    if number is not None and await _actionable(update, context, actor, number, "assign") is None:
        return
    await refuse(update, context, actor.language, "fallback.outdated_button")


@pressed(ProblemAssignTo, action="problem", forged=_assignee_forged)
async def assignee_chosen(update: Update, context: Context, actor: Actor, data: ProblemAssignTo) -> None:
    """Assign the problem to the chief chosen from the list."""
    if await _actionable(update, context, actor, data.problem, "assign") is not None:
        await _apply(update, context, actor.known, data.problem, "assign", assignee_id=data.person)


@pressed(ProblemAssigneePage, action="problem")
async def assignee_page_number(update: Update, context: Context, actor: Actor, data: ProblemAssigneePage) -> None:
    """The page number of the assignee list (which fits one page): nothing to do."""


async def _choose_assignee(
    update: Update, context: Context, lang: Language, problem: ProblemRecord, scope: frozenset[int] | None
) -> None:
    svc = services(context)
    choices = [
        (
            ("⭐ " if holder else "") + f"{p.name} · {_p(svc, lang, f'level.{p.chief_level}')}",
            ProblemAssignTo(problem=problem.id, person=p.id).pack(),
        )
        for p, holder in await svc.problems.assignee_choices(problem, scope)
    ]
    await show(
        update,
        context,
        _t(svc, lang, "problem.choose_assignee", number=problem.id),
        paged(choices, page=0, page_data=lambda number: ProblemAssigneePage(page=number).pack(), page_size=90),
    )


async def _apply(
    update: Update,
    context: Context,
    actor: Person,
    problem_id: int,
    action: Action,
    *,
    note: str | None = None,
    assignee_id: int | None = None,
    photos: list[DraftPhoto] | None = None,
) -> None:
    svc = services(context)
    lang = actor.language
    change = await svc.problems.act(problem_id, actor, action, note=note, assignee_id=assignee_id, photos=photos)
    if change.outcome == "out_of_scope":  # a forged chief from beyond a town office's areas
        await refuse_out_of_scope(update, context, actor, "person")
        return
    if change.outcome != "ok":
        status = change.problem.status if change.problem else "closed"
        key = {
            "not_allowed": "problem.cannot",
            "own_rectification": "problem.own_rectification",
            "too_late": "problem.cannot",
            "inactive_assignee": "problem.inactive_assignee",
            "not_a_chief": "problem.inactive_assignee",
            "same_assignee": "problem.same_assignee",
        }[change.outcome]
        if update.callback_query is not None:
            await refuse(
                update, context, lang, key, status=_p(svc, lang, f"problem.status.{status}"), number=problem_id
            )
        elif actor.telegram_id is not None:
            await context.bot.send_message(
                actor.telegram_id,
                _t(svc, lang, key, status=_p(svc, lang, f"problem.status.{status}"), number=problem_id),
            )
        return
    problem = change.problem
    assert problem is not None
    done = _t(svc, lang, f"problem.done.{action}", number=problem.id)
    if update.callback_query is not None:
        await show(update, context, done)
    elif actor.telegram_id is not None:
        await context.bot.send_message(actor.telegram_id, done)
    reporter_key = f"problem.tell.{action}"
    for person_id in change.tell_reporters:
        person = await svc.people.by_id(person_id)
        thanks = person is not None and person.is_volunteer and action == "close"
        await _tell(
            context, person_id, "problem.tell.close_volunteer" if thanks else reporter_key, problem, note=note or ""
        )
    if change.tell_assignee is not None:
        await _tell(
            context,
            change.tell_assignee,
            f"problem.to_assignee.{action}",
            problem,
            full=action in ("assign", "reopen", "reject"),
            map_if_unseen=action in ("assign", "reopen", "reject"),
            note=note or "",
        )
    for person_id in change.tell_verifiers:
        await _tell(context, person_id, "problem.to_verifier", problem, full=True, note=note or "")
    if change.tell_admins:
        for admin in await svc.people.office(problem.area_id):
            if admin.id != actor.id:
                await _tell(context, admin.id, "problem.reopened_unassigned", problem, full=True, note=note or "")
    if change.tell_previous is not None:
        assignee = await svc.people.by_id(problem.assignee_id) if problem.assignee_id else None
        await _tell(
            context,
            change.tell_previous,
            "problem.to_assignee.reassigned",
            problem,
            name=assignee.name if assignee else "?",
        )


@flow(NOTE)
async def note_input(update: Update, context: Context, dialog: Dialog) -> None:
    """After-photos and a note for a rectification; or the reason for a reject, dismissal or reopening."""
    actor = await guard(update, context, "problem")
    message = update.effective_message
    svc = services(context)
    if actor is None or message is None:
        await svc.problems.end_note(dialog.telegram_id)
        return
    lang = actor.language
    person = actor.known
    problem_id = int(dialog.data.get("problem", 0))
    if dialog.step == "rectify":
        if message.photo or message.document is not None:
            photos = list(dialog.data.get("photos", []))
            if len(photos) >= MAX_PHOTOS:
                await message.reply_text(_t(svc, lang, "report.too_many_photos", max=MAX_PHOTOS))
                return
            fetched = await fetch_photo(context, person.id, lang, message)
            if fetched is None:
                return
            # The message id too: the assignee has this photo in the chat already, and is not sent it back.
            photos.append([fetched.photo_id, fetched.file_id, fetched.as_document, None, message.message_id])
            await svc.problems.put_note(dialog.telegram_id, "rectify", {**dialog.data, "photos": photos})
            await message.reply_text(
                _t(svc, lang, "problem.after_photo_added", count=len(photos), max=MAX_PHOTOS),
                reply_markup=_note_buttons(svc, lang, send=True),
            )
            return
        if message.text:
            await svc.problems.put_note(dialog.telegram_id, "rectify", {**dialog.data, "note": message.text[:1000]})
            await message.reply_text(
                _t(svc, lang, "problem.rectify_note_noted"),
                reply_markup=_note_buttons(svc, lang, send=True),
            )
            return
        await message.reply_text(_t(svc, lang, "problem.ask_after_photos", number=problem_id, max=MAX_PHOTOS))
        return
    if not message.text and dialog.step == "close":
        await message.reply_text(
            _t(svc, lang, "dispatch.confirm_close", number=problem_id),
            reply_markup=_close_buttons(svc, lang, problem_id),
        )
        return
    if not message.text:
        await message.reply_text(_t(svc, lang, f"problem.ask_reason_{dialog.step}", number=problem_id))
        return
    await svc.problems.end_note(dialog.telegram_id)
    await _apply(update, context, person, problem_id, dialog.step, note=message.text[:1000])  # type: ignore[arg-type]


def _close_buttons(svc: Services, lang: Language, number: int) -> InlineKeyboardMarkup:
    return buttons(
        [(_p(svc, lang, "dispatch.confirm"), CloseConfirm(problem=number).pack())],
        [(_p(svc, lang, "common.cancel"), NoteCancel().pack())],
    )


@pressed(CloseConfirm, action="problem")
async def close_confirmed(update: Update, context: Context, actor: Actor, data: CloseConfirm) -> None:
    """Closing confirmed without a note. Closed meanwhile by someone else, or forged: said so, nothing changes."""
    svc = services(context)
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    dialog = await svc.problems.note(telegram_id)
    if dialog is not None and dialog.step == "close" and int(dialog.data.get("problem", 0)) == data.problem:
        await svc.problems.end_note(telegram_id)
    problem = await svc.problems.get(data.problem)
    if problem is not None and problem.status == "closed" and await svc.problems.may_view(problem, actor.known):
        await refuse(update, context, actor.language, "dispatch.already_closed", number=problem.id)
        return
    if await _actionable(update, context, actor, data.problem, "close") is not None:
        await _apply(update, context, actor.known, data.problem, "close")


def _note_buttons(svc: Services, lang: Language, *, send: bool = False) -> InlineKeyboardMarkup:
    """Cancel; and, once there is an after-photo or a note, send the rectification."""
    cancel = [(_p(svc, lang, "common.cancel"), NoteCancel().pack())]
    if send:
        return buttons([(_p(svc, lang, "problem.send_rectified"), NoteSend().pack())], cancel)
    return buttons(cancel)


async def _open_note(update: Update, context: Context, actor: Actor) -> Dialog | None:
    """The presser's note dialog; None (answered as outdated) when it ended meanwhile."""
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    dialog = await services(context).problems.note(telegram_id)
    if dialog is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
    return dialog


@pressed(NoteCancel, action="problem")
async def note_cancelled(update: Update, context: Context, actor: Actor, data: NoteCancel) -> None:
    """Drop the after-photos or the reason being written; the problem stays as it was."""
    dialog = await _open_note(update, context, actor)
    if dialog is not None:
        svc = services(context)
        await svc.problems.end_note(dialog.telegram_id)
        await show(update, context, _t(svc, actor.language, "dialog.cancelled"))


@pressed(NoteSend, action="problem")
async def rectification_sent(update: Update, context: Context, actor: Actor, data: NoteSend) -> None:
    """Send the rectification with its after-photos (and note, if any)."""
    dialog = await _open_note(update, context, actor)
    if dialog is None:
        return
    svc = services(context)
    if dialog.step != "rectify":
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    photos = [DraftPhoto(int(p[0]), str(p[1]), bool(p[2]), None) for p in dialog.data.get("photos", [])]
    if not photos:
        await refuse(update, context, actor.language, "problem.need_after_photo")
        return
    await svc.problems.end_note(dialog.telegram_id)
    number = int(dialog.data["problem"])
    own = {int(p[0]): int(p[4]) for p in dialog.data.get("photos", []) if len(p) > 4 and p[4]}
    if own:
        await svc.problems.remember_photos_sent(dialog.telegram_id, number, own)
    await _apply(update, context, actor.known, number, "rectify", note=dialog.data.get("note"), photos=photos)


# -- deadlines --------------------------------------------------------------------------------------------


NOTICE_KEYS = {"reminder": "problem.due_soon", "overdue": "problem.overdue_letter", "escalation": "problem.escalated"}


async def chase_deadlines(context: Context) -> None:
    """Daily: send the deadline notices `bot.deadlines` decides on (reminders, overdue letters, escalations)."""
    svc = services(context)
    today = datetime.now(svc.settings.tz).date()
    notices = await svc.deadlines.chase(today)
    for notice in notices:
        with one_record(logger, "the deadline notice of problem %s to person %s", notice.problem.id, notice.person_id):
            await _notify(context, notice)
    # Whom the reminders and letters could not reach: the office hears of each once, not every day.
    assignees = [n.person_id for n in notices if n.kind != "escalation"]
    await tell_office_missed(context, "deadlines", await svc.reachability.missed_ids(assignees))


async def _notify(context: Context, notice: Notice) -> None:
    problem = notice.problem
    key = NOTICE_KEYS[notice.kind]
    if notice.kind == "escalation":
        await _tell(context, notice.person_id, key, problem, full=True, days=notice.days_overdue)
        return
    deadline = problem.deadline.isoformat() if problem.deadline else ""
    await _tell(context, notice.person_id, key, problem, rectify=True, days=notice.days_overdue, deadline=deadline)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("problem", problem_command, private))
    app.add_handler(CommandHandler("problems", problems_command, private))
    app.add_handler(CommandHandler("myreports", myreports_command, private))
    for callback, codec in (
        (problem_viewed, ProblemView),
        (action_pressed, ProblemAction),
        (assignee_chosen, ProblemAssignTo),
        (assignee_page_number, ProblemAssigneePage),
        (list_shown, ProblemList),
        (list_page_number, ProblemListPage),
        (myreports_page, MyReportsPage),
        (area_filter, ProblemFilterArea),
        (category_filter, ProblemFilterCategory),
        (note_cancelled, NoteCancel),
        (rectification_sent, NoteSend),
        (close_confirmed, CloseConfirm),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
