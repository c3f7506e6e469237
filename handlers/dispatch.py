"""Dispatch on a problem card: the assignee asks for more time and the office grants or refuses it; the office
transfers a problem to another chief or a department's contact, or presses it. The rules are bot.dispatch's;
this module asks for the reason, date or note, and tells each person concerned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from telegram import InlineKeyboardMarkup, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler

from bot.config import Language
from bot.dialogs import Dialog
from bot.dispatch import EXTENSION_DAYS, Dispatched, extension_choices, parse_day
from bot.people import Person
from bot.problems import ProblemRecord
from bot.services import Services
from handlers.access import Actor, guard, refuse
from handlers.callbacks import (
    DispatchCancel,
    DispatchExtend,
    DispatchExtendDays,
    DispatchGrant,
    DispatchPress,
    DispatchPressNow,
    DispatchRefuse,
    DispatchRefuseNow,
    DispatchTransfer,
    DispatchTransferDo,
    DispatchTransferTo,
    pressed,
)
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.fieldwork import category_name, writing_report
from handlers.problems import _tell, details_button
from handlers.scope import refuse_out_of_scope
from handlers.sending import refused
from handlers.ui import buttons, paged, show

logger = logging.getLogger(__name__)

FLOW = "dispatch_note"  # the reason, date or note a dispatch step waits for
NOTE_MAX = 1000


def _t(svc: Services, lang: Language, key: str, **params: object) -> str:
    return svc.locales.t(lang, key, **params)


def _p(svc: Services, lang: Language, key: str, **params: object) -> str:
    return svc.locales.plain(lang, key, **params)


def _cancel_row(svc: Services, lang: Language) -> list[tuple[str, str]]:
    return [(_p(svc, lang, "common.cancel"), DispatchCancel().pack())]


async def _cannot(update: Update, context: Context, actor: Actor, problem: ProblemRecord | None, number: int) -> None:
    svc = services(context)
    status = _p(svc, actor.language, f"problem.status.{problem.status}") if problem else "?"
    await refuse(update, context, actor.language, "dispatch.cannot", number=number, status=status)


async def _say(
    update: Update, context: Context, person: Person, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Answer on the pressed message, or in the chat when the answer follows typed text."""
    if update.callback_query is not None:
        await show(update, context, text, markup)
    elif person.telegram_id is not None:
        await context.bot.send_message(person.telegram_id, text, reply_markup=markup)


async def _send(
    context: Context,
    person_id: int,
    text_of: Callable[[Language], str],
    markup_of: Callable[[Language], InlineKeyboardMarkup] | None = None,
) -> bool:
    """Send one person a message in their language (`text_of(lang)`, `markup_of(lang)`); whether it reached them."""
    svc = services(context)
    person = await svc.problems.recipient(person_id)
    if person is None or person.telegram_id is None:
        return False
    lang = person.language
    try:
        await context.bot.send_message(
            person.telegram_id,
            text_of(lang),
            reply_markup=markup_of(lang) if markup_of else None,
        )
    except Forbidden as exc:
        await refused(context, person.telegram_id, exc)
        return False
    except TelegramError:
        logger.warning("Could not send a dispatch notice to person %s", person_id, exc_info=True)
        return False
    return True


# -- extension: the assignee asks ---------------------------------------------------------------------------


@pressed(DispatchExtend, action="problem")
async def extend_pressed(update: Update, context: Context, actor: Actor, data: DispatchExtend) -> None:
    """Ask for more time: the reason first."""
    svc = services(context)
    problem = await svc.problems.get(data.problem)
    if problem is None or not svc.dispatch.may_ask_extension(problem, actor.known):
        await _cannot(update, context, actor, problem, data.problem)
        return
    if await svc.dispatch.open_extension(problem.id) is not None:
        await refuse(update, context, actor.language, "dispatch.already_open", number=problem.id)
        return
    if await writing_report(update, context, actor):
        return
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    await svc.dialogs.set(telegram_id, FLOW, "ext_reason", {"problem": problem.id})
    lang = actor.language
    await context.bot.send_message(
        telegram_id,
        _t(svc, lang, "dispatch.ask_reason", number=problem.id),
        reply_markup=buttons(_cancel_row(svc, lang)),
    )


def _date_buttons(svc: Services, lang: Language, problem: ProblemRecord) -> InlineKeyboardMarkup:
    assert problem.deadline is not None
    row = [
        (
            _p(svc, lang, "dispatch.plus_days", days=days, deadline=day.strftime("%m-%d")),
            DispatchExtendDays(problem=problem.id, days=days).pack(),  # type: ignore[arg-type]
        )
        for days, day in extension_choices(problem.deadline)
    ]
    return buttons(row, _cancel_row(svc, lang))


async def _ask(update: Update, context: Context, actor: Actor, number: int, *, reason: str, day: date) -> None:
    svc = services(context)
    lang = actor.language
    person = actor.known
    asked = await svc.dispatch.ask_extension(number, person, reason, day)
    problem = asked.problem
    if asked.outcome == "not_later" and problem is not None and problem.deadline is not None:
        text = _t(svc, lang, "dispatch.not_later", deadline=problem.deadline.isoformat())
        await _say(update, context, person, text, _date_buttons(svc, lang, problem))
        return
    assert person.telegram_id is not None
    await svc.dialogs.clear(person.telegram_id, FLOW)
    if asked.outcome == "already_open":
        await _say(update, context, person, _t(svc, lang, "dispatch.already_open", number=number), None)
        return
    if asked.outcome != "ok" or problem is None or asked.extension is None:
        status = _p(svc, lang, f"problem.status.{problem.status}") if problem else "?"
        await _say(update, context, person, _t(svc, lang, "dispatch.cannot", number=number, status=status), None)
        return
    request = asked.extension
    await _say(update, context, person, _t(svc, lang, "dispatch.asked", number=number, deadline=day.isoformat()), None)
    for office_id in asked.tell_office:

        def office_text(lang: Language) -> str:
            return _t(
                svc,
                lang,
                "dispatch.to_office",
                name=person.name,
                number=number,
                category=category_name(svc.locales, lang, problem.category),
                old=request.old_deadline.isoformat(),
                new=request.new_deadline.isoformat(),
                reason=request.reason,
            )

        def office_markup(lang: Language) -> InlineKeyboardMarkup:
            return buttons(
                [
                    (_p(svc, lang, "dispatch.grant"), DispatchGrant(request=request.id).pack()),
                    (_p(svc, lang, "dispatch.refuse"), DispatchRefuse(request=request.id).pack()),
                ],
                details_button(svc, lang, problem),
            )

        await _send(context, office_id, office_text, office_markup)


@pressed(DispatchExtendDays, action="problem")
async def extend_days(update: Update, context: Context, actor: Actor, data: DispatchExtendDays) -> None:
    """A quick new deadline, for the reason given."""
    svc = services(context)
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    dialog = await svc.dialogs.at(telegram_id, FLOW, "ext_date")
    if dialog is None or int(dialog.data.get("problem", 0)) != data.problem:
        await refuse(update, context, actor.language, "fallback.outdated_button")
        return
    problem = await svc.problems.get(data.problem)
    if problem is None or problem.deadline is None or data.days not in EXTENSION_DAYS:
        await _cannot(update, context, actor, problem, data.problem)
        return
    day = dict(extension_choices(problem.deadline))[data.days]
    await _ask(update, context, actor, problem.id, reason=str(dialog.data.get("reason", "")), day=day)


# -- extension: the office decides ----------------------------------------------------------------------------


async def _decide(
    update: Update, context: Context, actor: Actor, request_id: int, *, grant: bool, note: str | None
) -> None:
    svc = services(context)
    lang = actor.language
    person = actor.known
    decided = await svc.dispatch.decide_extension(request_id, person, grant=grant, note=note)
    if decided.outcome == "not_allowed":
        await _cannot(update, context, actor, decided.problem, decided.problem.id if decided.problem else request_id)
        return
    if decided.outcome != "ok":
        await refuse(update, context, lang, "dispatch.stale")
        return
    problem = decided.problem
    assert problem is not None and decided.extension is not None
    deadline = problem.deadline.isoformat() if problem.deadline else ""
    done = "dispatch.granted" if grant else "dispatch.refused"
    await _say(update, context, person, _t(svc, lang, done, number=problem.id, deadline=deadline), None)
    if decided.tell_assignee is not None:
        key = "dispatch.to_assignee_granted" if grant else "dispatch.to_assignee_refused"
        await _tell(context, decided.tell_assignee, key, problem, deadline=deadline, note=note or "")
    for reporter in decided.tell_reporters:
        await _tell(context, reporter, "dispatch.to_reporter_granted", problem, deadline=deadline)


@pressed(DispatchGrant, action="problem")
async def grant_pressed(update: Update, context: Context, actor: Actor, data: DispatchGrant) -> None:
    """Grant the extension: the deadline moves, the assignee and the reporter are told."""
    await _decide(update, context, actor, data.request, grant=True, note=None)


@pressed(DispatchRefuse, action="problem")
async def refuse_pressed(update: Update, context: Context, actor: Actor, data: DispatchRefuse) -> None:
    """Refuse: a reason may be typed, or refused without one."""
    svc = services(context)
    request = await svc.dispatch.extension(data.request)
    problem = await svc.problems.get(request.problem_id) if request else None
    if request is None or problem is None:
        await refuse(update, context, actor.language, "dispatch.stale")
        return
    if not svc.dispatch.may_dispatch(problem, actor.known) and problem.is_open:
        await _cannot(update, context, actor, problem, problem.id)
        return
    if request.status != "open" or not problem.is_open:
        await refuse(update, context, actor.language, "dispatch.stale")
        return
    if await writing_report(update, context, actor):
        return
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    lang = actor.language
    await svc.dialogs.set(telegram_id, FLOW, "refuse", {"request": request.id})
    markup = buttons(
        [(_p(svc, lang, "dispatch.refuse_now"), DispatchRefuseNow(request=request.id).pack())], _cancel_row(svc, lang)
    )
    await context.bot.send_message(
        telegram_id, _t(svc, lang, "dispatch.ask_refuse_reason", number=problem.id), reply_markup=markup
    )


@pressed(DispatchRefuseNow, action="problem")
async def refuse_now(update: Update, context: Context, actor: Actor, data: DispatchRefuseNow) -> None:
    """Refuse the extension without a reason."""
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    await services(context).dialogs.clear(telegram_id, FLOW)
    await _decide(update, context, actor, data.request, grant=False, note=None)


# -- transfer ---------------------------------------------------------------------------------------------


@pressed(DispatchTransfer, action="problem")
async def transfer_pressed(update: Update, context: Context, actor: Actor, data: DispatchTransfer) -> None:
    """Choose whom to transfer it to: the departments' contacts first, then the chiefs."""
    svc = services(context)
    lang = actor.language
    problem = await svc.problems.get(data.problem)
    if problem is None or not svc.dispatch.may_transfer(problem, actor.known):
        await _cannot(update, context, actor, problem, data.problem)
        return
    choices = []
    for department in await svc.dispatch.departments():
        contact = await svc.people.by_id(department.person_id)
        if contact is None or not contact.active or contact.id == problem.assignee_id:
            continue
        label = _p(svc, lang, "dispatch.department_label", department=department.name, name=contact.name)
        choices.append((label, DispatchTransferTo(problem=problem.id, kind="d", target=department.id).pack()))
    for chief, holder in await svc.dispatch.transfer_targets(problem, actor.known.areas):
        label = ("⭐ " if holder else "") + f"{chief.name} · {_p(svc, lang, f'level.{chief.chief_level}')}"
        choices.append((label, DispatchTransferTo(problem=problem.id, kind="c", target=chief.id).pack()))
    await show(
        update,
        context,
        _t(svc, lang, "dispatch.choose_target", number=problem.id),
        paged(choices, page=0, page_data=lambda _: DispatchTransfer(problem=problem.id).pack(), page_size=90),
    )


def _keep_buttons(svc: Services, lang: Language, data: DispatchTransferTo) -> InlineKeyboardMarkup:
    def do(keep: int) -> str:
        return DispatchTransferDo(problem=data.problem, kind=data.kind, target=data.target, keep=keep).pack()  # type: ignore[arg-type]

    return buttons(
        [(_p(svc, lang, "dispatch.keep_deadline"), do(1)), (_p(svc, lang, "dispatch.reset_deadline"), do(0))],
        _cancel_row(svc, lang),
    )


async def _target_name(svc: Services, kind: str, target: int) -> str | None:
    if kind == "d":
        department = await svc.dispatch.department(target)
        contact = await svc.people.by_id(department.person_id) if department else None
        return f"{department.name} · {contact.name}" if department and contact else None
    person = await svc.people.by_id(target)
    return person.name if person else None


@pressed(DispatchTransferTo, action="problem")
async def transfer_target(update: Update, context: Context, actor: Actor, data: DispatchTransferTo) -> None:
    """The target chosen: a note may be typed; then keep or reset the deadline."""
    svc = services(context)
    lang = actor.language
    problem = await svc.problems.get(data.problem)
    if problem is None or not svc.dispatch.may_transfer(problem, actor.known):
        await _cannot(update, context, actor, problem, data.problem)
        return
    name = await _target_name(svc, data.kind, data.target)
    if name is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if data.kind != "d" and not await svc.people.may_hand_to(actor.known, problem.reach_id, data.target):
        await refuse_out_of_scope(update, context, actor.known, "person")
        return
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    if await writing_report(update, context, actor):
        return
    step = {"problem": problem.id, "kind": data.kind, "target": data.target}
    await svc.dialogs.set(telegram_id, FLOW, "transfer", step)
    fresh = svc.problems.deadline_for(problem.category, svc.problems.today()).isoformat()
    deadline = problem.deadline.isoformat() if problem.deadline else fresh
    text = _t(svc, lang, "dispatch.ask_transfer_note", number=problem.id, name=name, deadline=deadline, fresh=fresh)
    await show(update, context, text, _keep_buttons(svc, lang, data))


@pressed(DispatchTransferDo, action="problem")
async def transfer_done(update: Update, context: Context, actor: Actor, data: DispatchTransferDo) -> None:
    """Transfer now, with the note typed (if any), keeping or resetting the deadline."""
    svc = services(context)
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    note = None
    dialog = await svc.dialogs.at(telegram_id, FLOW, "transfer")
    # The note typed for this very transfer: a department's id may equal a chief's, so the kind is compared too.
    chosen = {"problem": data.problem, "kind": data.kind, "target": data.target}
    if dialog is not None and all(dialog.data.get(key) == value for key, value in chosen.items()):
        note = dialog.data.get("note")
        await svc.dialogs.clear(telegram_id, FLOW)
    target = {"department_id": data.target} if data.kind == "d" else {"person_id": data.target}
    moved = await svc.dispatch.transfer(data.problem, actor.known, keep_deadline=bool(data.keep), note=note, **target)
    name = await _target_name(svc, data.kind, data.target)
    await _transferred(update, context, actor, data.problem, moved=moved, note=note, target=name)


async def _transferred(
    update: Update,
    context: Context,
    actor: Actor,
    number: int,
    *,
    moved: Dispatched,
    note: str | None,
    target: str | None,
) -> None:
    svc = services(context)
    lang = actor.language
    if moved.outcome == "out_of_scope":
        await refuse_out_of_scope(update, context, actor.known, "person")
        return
    if moved.outcome in ("inactive_target", "same_assignee", "stale"):
        await refuse(update, context, lang, "dispatch.not_target", name=target or "?", number=number)
        return
    if moved.outcome != "ok" or moved.problem is None:
        await _cannot(update, context, actor, moved.problem, number)
        return
    problem = moved.problem
    assert problem.assignee_id is not None
    assignee = await svc.people.by_id(problem.assignee_id)
    name = assignee.name if assignee else "?"
    if moved.department is not None:
        name = f"{moved.department.name} · {name}"
    deadline = problem.deadline.isoformat() if problem.deadline else ""
    await show(update, context, _t(svc, lang, "dispatch.transferred", number=problem.id, name=name, deadline=deadline))
    if moved.tell_previous is not None:
        await _tell(context, moved.tell_previous, "dispatch.to_previous", problem, name=name)
    if moved.tell_assignee is not None:
        told = await _tell(
            context,
            moved.tell_assignee,
            "dispatch.to_new_assignee",
            problem,
            full=True,
            map_if_unseen=True,
            deadline=deadline,
            note=note or "",
        )
        if not told:  # nobody able to act has it: the office hears at once, as for a new problem
            for office_id in await svc.dispatch.office(problem):
                await _tell(context, office_id, "dispatch.unreached", problem, name=name)
    key = "dispatch.to_reporter_department" if moved.department else "dispatch.to_reporter_transferred"
    department = moved.department.name if moved.department else ""
    for reporter in moved.tell_reporters:
        await _tell(context, reporter, key, problem, department=department)


# -- pressing a case -------------------------------------------------------------------------------------


@pressed(DispatchPress, action="problem")
async def press_pressed(update: Update, context: Context, actor: Actor, data: DispatchPress) -> None:
    """Press the case: a note may be typed, or pressed without one."""
    svc = services(context)
    lang = actor.language
    problem = await svc.problems.get(data.problem)
    if problem is None or not svc.dispatch.may_press(problem, actor.known):
        await _cannot(update, context, actor, problem, data.problem)
        return
    if await writing_report(update, context, actor):
        return
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    await svc.dialogs.set(telegram_id, FLOW, "press", {"problem": problem.id})
    markup = buttons(
        [(_p(svc, lang, "dispatch.press_now"), DispatchPressNow(problem=problem.id).pack())], _cancel_row(svc, lang)
    )
    await context.bot.send_message(
        telegram_id, _t(svc, lang, "dispatch.ask_press_note", number=problem.id), reply_markup=markup
    )


async def _press(update: Update, context: Context, actor: Actor, number: int, note: str | None) -> None:
    svc = services(context)
    lang = actor.language
    person = actor.known
    done = await svc.dispatch.press(number, person, note)
    if done.outcome != "ok" or done.problem is None:
        if update.callback_query is not None:
            await _cannot(update, context, actor, done.problem, number)
        else:
            status = _p(svc, lang, f"problem.status.{done.problem.status}") if done.problem else "?"
            await _say(update, context, person, _t(svc, lang, "dispatch.cannot", number=number, status=status), None)
        return
    problem = done.problem
    deadline = problem.deadline.isoformat() if problem.deadline else ""
    assignee = await svc.people.by_id(problem.assignee_id) if problem.assignee_id else None
    name = assignee.name if assignee else "?"
    told = []
    if done.tell_assignee is not None:
        await _tell(
            context,
            done.tell_assignee,
            "dispatch.to_assignee_pressed",
            problem,
            rectify=True,
            deadline=deadline,
            note=note or "",
        )
        told.append(name)
    for superior in done.tell_superiors:
        await _tell(
            context, superior, "dispatch.to_superior_pressed", problem, name=name, deadline=deadline, note=note or ""
        )
        chief = await svc.people.by_id(superior)
        told.append(chief.name if chief else "?")
    if done.tell_superiors:
        text = _t(
            svc, lang, "dispatch.pressed", number=problem.id, names=_p(svc, lang, "dispatch.names_joiner").join(told)
        )
    else:
        text = _t(svc, lang, "dispatch.pressed_no_superior", number=problem.id)
    await _say(update, context, person, text, None)


@pressed(DispatchPressNow, action="problem")
async def press_now(update: Update, context: Context, actor: Actor, data: DispatchPressNow) -> None:
    """Press the case without a note."""
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    await services(context).dialogs.clear(telegram_id, FLOW)
    await _press(update, context, actor, data.problem, None)


@pressed(DispatchCancel, action="problem")
async def cancelled(update: Update, context: Context, actor: Actor, data: DispatchCancel) -> None:
    """Back out of the reason, date or note being written; nothing changes."""
    telegram_id = actor.known.telegram_id
    assert telegram_id is not None
    svc = services(context)
    await svc.dialogs.clear(telegram_id, FLOW)
    await show(update, context, _t(svc, actor.language, "dispatch.cancelled"))


# -- what is typed ----------------------------------------------------------------------------------------


@flow(FLOW)
async def typed(update: Update, context: Context, dialog: Dialog) -> None:
    """The reason or date of an extension, a refusal's reason, a transfer's or a press's note."""
    actor = await guard(update, context, "problem")
    message = update.effective_message
    svc = services(context)
    if actor is None or message is None:
        await svc.dialogs.clear(dialog.telegram_id, FLOW)
        return
    lang = actor.language
    text = (message.text or "").strip()[:NOTE_MAX]
    number = int(dialog.data.get("problem", 0))
    if not text:  # a photo, a sticker: what is waited for is typed
        await message.reply_text(_t(svc, lang, "dispatch.text_only"), reply_markup=buttons(_cancel_row(svc, lang)))
        return
    if dialog.step == "ext_reason":
        problem = await svc.problems.get(number)
        if problem is None or not svc.dispatch.may_ask_extension(problem, actor.known):
            await svc.dialogs.clear(dialog.telegram_id, FLOW)
            await _cannot(update, context, actor, problem, number)
            return
        await svc.dialogs.set(dialog.telegram_id, FLOW, "ext_date", {"problem": number, "reason": text})
        assert problem.deadline is not None
        await message.reply_text(
            _t(svc, lang, "dispatch.ask_date", number=number, deadline=problem.deadline.isoformat()),
            reply_markup=_date_buttons(svc, lang, problem),
        )
    elif dialog.step == "ext_date":
        day = parse_day(text, svc.problems.today())
        if day is None:
            problem = await svc.problems.get(number)
            markup = _date_buttons(svc, lang, problem) if problem and problem.deadline else None
            await message.reply_text(_t(svc, lang, "dispatch.bad_date"), reply_markup=markup)
            return
        await _ask(update, context, actor, number, reason=str(dialog.data.get("reason", "")), day=day)
    elif dialog.step == "refuse":
        await svc.dialogs.clear(dialog.telegram_id, FLOW)
        await _decide(update, context, actor, int(dialog.data.get("request", 0)), grant=False, note=text)
    elif dialog.step == "transfer":
        await svc.dialogs.set(dialog.telegram_id, FLOW, "transfer", {**dialog.data, "note": text})
        data = DispatchTransferTo(problem=number, kind=dialog.data["kind"], target=int(dialog.data["target"]))
        await message.reply_text(_t(svc, lang, "dispatch.note_noted"), reply_markup=_keep_buttons(svc, lang, data))
    else:  # press
        await svc.dialogs.clear(dialog.telegram_id, FLOW)
        await _press(update, context, actor, number, text)


def register(app: Application) -> None:  # type: ignore[type-arg]
    for callback, codec in (
        (extend_pressed, DispatchExtend),
        (extend_days, DispatchExtendDays),
        (grant_pressed, DispatchGrant),
        (refuse_pressed, DispatchRefuse),
        (refuse_now, DispatchRefuseNow),
        (transfer_pressed, DispatchTransfer),
        (transfer_target, DispatchTransferTo),
        (transfer_done, DispatchTransferDo),
        (press_pressed, DispatchPress),
        (press_now, DispatchPressNow),
        (cancelled, DispatchCancel),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
