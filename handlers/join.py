"""Joining the bot: `/start <code>` for invited chiefs and admins, `/register` for volunteers, `/pending`."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import Language
from bot.joining import clean_name, clean_phone
from bot.names import is_reserved
from bot.people import Person
from bot.permissions import ChatKind, decide_in_area
from handlers.access import Actor, command, guard, refresh_menu, refuse
from handlers.callbacks import InviteAnswer, PendingDecision, RegisterArea, RegisterAreaPage, RegisterStart, pressed
from handlers.common import Context, display_name, services
from handlers.dialogs import flow
from handlers.fieldwork import main_menu
from handlers.problems import hand_over
from handlers.report import resume_kept
from handlers.scope import refuse_out_of_scope
from handlers.sending import refused
from handlers.ui import buttons, paged, show
from storage.records import DialogRecord, InviteRecord, RegistrationRecord

logger = logging.getLogger(__name__)

REGISTER = "register"
PENDING_SHOWN = 10


# -- invites ----------------------------------------------------------------------------------------------


async def open_invite(update: Update, context: Context, actor: Actor, code: str) -> None:
    """`/start <code>`: show who the office registered, and let the person confirm it is them."""
    svc = services(context)
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    lang = actor.language
    check = await svc.joining.check_invite(code, user.id)
    if check.status != "ok":
        await message.reply_text(svc.locales.t(lang, f"invite.{check.status}"))
        return
    assert check.invite is not None
    confirm = svc.locales.plain(lang, "invite.confirm", name=check.invite.person_name)
    await message.reply_text(
        await invite_card(context, lang, check.invite),
        reply_markup=buttons(
            [(confirm, InviteAnswer(answer="ok", code=check.invite.code).pack())],
            [(svc.locales.plain(lang, "invite.not_me"), InviteAnswer(answer="no", code=check.invite.code).pack())],
        ),
    )


async def invite_card(context: Context, lang: Language, invite: InviteRecord) -> str:
    """Who the office registered: name, role, home area and reaches, then the question whether it is them."""
    svc = services(context)
    card = await svc.joining.invite_card(invite)
    assert card is not None
    role = svc.locales.plain(lang, f"level.{card.level}") if card.level else None
    role = role or svc.locales.plain(lang, f"role.{invite.role}")
    lines = [svc.locales.t(lang, "invite.card", name=invite.person_name, role=role)]
    if card.area is not None:
        lines.append(svc.locales.t(lang, "invite.card_area", area=card.area.name(lang)))
    if card.reaches:
        joined = svc.locales.plain(lang, "common.list_sep").join(held.name(lang) for held in card.reaches)
        lines.append(svc.locales.t(lang, "invite.card_reaches", reaches=joined))
    lines.append(svc.locales.t(lang, "invite.card_confirm"))
    return "\n".join(lines)


@pressed(InviteAnswer, action="start")
async def invite_answer(update: Update, context: Context, actor: Actor, data: InviteAnswer) -> None:
    """The invited person confirms (or denies) it is them; a double tap or a second person is told plainly."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    lang = actor.language
    code = data.code
    if data.answer == "no":
        await show(update, context, svc.locales.t(lang, "invite.declined"))
        return
    check = await svc.joining.accept_invite(code, query.from_user.id)
    if check.status not in ("ok", "used_by_you"):
        await show(update, context, svc.locales.t(lang, f"invite.{check.status}"))
        return
    person = await svc.people.find(query.from_user.id)
    assert person is not None
    key = "invite.welcome_admin" if person.is_admin and not person.is_chief else "invite.welcome_chief"
    await show(update, context, svc.locales.t(person.language, key, name=person.name))
    if check.status == "ok":
        await context.bot.send_message(
            query.from_user.id,
            svc.locales.t(person.language, "menu.ready"),
            reply_markup=main_menu(svc.locales, person.language, chief=person.is_chief),
        )
    if check.status == "ok":
        await refresh_menu(context, person)
        logger.info("Invite %s used by %s (person %s)", code[:4] + "…", query.from_user.id, person.id)
        assert check.invite is not None
        await tell_inviter(context, check.invite.created_by, person)
        await hand_over(context, person)
        await resume_kept(context, Actor(person, person.language, actor.chat))  # a photo sent before the invite


async def tell_inviter(context: Context, inviter_id: int | None, joined: Person) -> None:
    """The admin who made the invite hears that it worked: one less person to chase."""
    svc = services(context)
    inviter = await svc.people.by_id(inviter_id) if inviter_id is not None else None
    if inviter is None or inviter.telegram_id is None or inviter.telegram_id == joined.telegram_id:
        return
    lang = inviter.language
    role = svc.locales.plain(lang, f"level.{joined.chief_level}") if joined.chief_level else None
    role = role or svc.locales.plain(lang, "role.admin" if joined.is_admin else "role.chief")
    try:
        await context.bot.send_message(
            inviter.telegram_id, svc.locales.t(lang, "invite.joined", name=joined.name, role=role)
        )
    except Forbidden as exc:
        await refused(context, inviter.telegram_id, exc)
    except TelegramError:
        logger.warning("Could not tell inviter %s that %s joined", inviter.telegram_id, joined.id, exc_info=True)


# -- volunteer registration --------------------------------------------------------------------------------


@command("register")
async def register_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/register: ask to join as a volunteer."""
    await begin_registration(update, context, actor)


@pressed(RegisterStart, action="register")
async def register_button(update: Update, context: Context, actor: Actor, data: RegisterStart) -> None:
    """The "join as a volunteer" button under the greeting: the same as /register."""
    await begin_registration(update, context, actor)


async def begin_registration(update: Update, context: Context, actor: Actor) -> None:
    """Name first (their Telegram name is one tap away), then home area, then an optional phone."""
    svc = services(context)
    person = actor.known
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    lang = actor.language
    if person.roles:
        await context.bot.send_message(chat.id, svc.locales.t(lang, "register.already_member"))
        return
    if person.pending:
        await context.bot.send_message(chat.id, svc.locales.t(lang, "perm.pending"))
        return
    await svc.dialogs.set(user.id, REGISTER, "name", {})
    suggestion = ReplyKeyboardMarkup(
        [[display_name(user)[:40]]], resize_keyboard=True, one_time_keyboard=True, input_field_placeholder=None
    )
    await context.bot.send_message(chat.id, svc.locales.t(lang, "register.ask_name"), reply_markup=suggestion)


@flow(REGISTER)
async def registration_input(update: Update, context: Context, dialog: DialogRecord) -> None:
    """What the volunteer typed or shared at their registration step: a name, or a phone (or skipping it)."""
    actor = await guard(update, context, "register")
    message = update.effective_message
    if actor is None or message is None:
        return
    svc = services(context)
    lang = actor.language
    if dialog.step == "name":
        if message.text is None:
            await message.reply_text(svc.locales.t(lang, "register.ask_name"))
            return
        name = clean_name(message.text)
        if name is None:
            await message.reply_text(svc.locales.t(lang, "register.bad_name"))
            return
        if is_reserved(name):
            await message.reply_text(svc.locales.t(lang, "register.reserved_name", name=name))
            return
        data = {**dialog.data, "name": name}
        areas = await svc.office.areas()
        if not areas:
            await ask_phone(update, context, lang, data)
            return
        await svc.dialogs.set(dialog.telegram_id, REGISTER, "area", data)
        noted = svc.locales.t(lang, "register.name_noted", name=name)
        await message.reply_text(noted, reply_markup=ReplyKeyboardRemove())
        keyboard = await area_keyboard(context, lang, 0)
        await message.reply_text(svc.locales.t(lang, "register.ask_area"), reply_markup=keyboard)
    elif dialog.step == "area":
        await message.reply_text(
            svc.locales.t(lang, "register.use_area_buttons"), reply_markup=await area_keyboard(context, lang, 0)
        )
    elif dialog.step == "phone":
        phone: str | None = None
        if message.contact is not None:
            if message.from_user is None or message.contact.user_id != message.from_user.id:
                await message.reply_text(svc.locales.t(lang, "register.not_own_contact"))
                return
            phone = clean_phone(message.contact.phone_number)
        elif message.text is None or message.text.strip() not in skip_labels(context):
            await message.reply_text(svc.locales.t(lang, "register.phone_use_button"))
            return
        await finish_registration(update, context, actor, dialog, phone)


def skip_labels(context: Context) -> set[str]:
    locales = services(context).locales
    return {locales.plain("zh", "register.skip_phone"), locales.plain("en", "register.skip_phone")}


async def area_keyboard(context: Context, lang: Language, page: int) -> InlineKeyboardMarkup:
    areas = await services(context).office.areas()
    return paged(
        [(area.name(lang), RegisterArea(area=area.id).pack()) for area in areas],
        page=page,
        page_data=lambda number: RegisterAreaPage(page=number).pack(),
        columns=2,
    )


async def ask_phone(update: Update, context: Context, lang: Language, data: dict[str, object]) -> None:
    svc = services(context)
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    await svc.dialogs.set(user.id, REGISTER, "phone", data)
    keyboard = ReplyKeyboardMarkup(
        [
            [KeyboardButton(svc.locales.plain(lang, "register.share_phone"), request_contact=True)],
            [KeyboardButton(svc.locales.plain(lang, "register.skip_phone"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await context.bot.send_message(chat.id, svc.locales.t(lang, "register.ask_phone"), reply_markup=keyboard)


async def _area_step(update: Update, context: Context, actor: Actor) -> DialogRecord | None:
    """The presser's registration at its area step; None (answered) for a button from an older one."""
    assert update.effective_user is not None
    dialog = await services(context).dialogs.at(update.effective_user.id, REGISTER, "area")
    if dialog is None:
        await refuse(update, context, actor.language, "fallback.outdated_button")
    return dialog


@pressed(RegisterAreaPage, action="register")
async def area_page_turned(update: Update, context: Context, actor: Actor, data: RegisterAreaPage) -> None:
    """Another page of the areas to choose a home area from."""
    if await _area_step(update, context, actor) is None:
        return
    lang = actor.language
    keyboard = await area_keyboard(context, lang, data.page)
    await show(update, context, services(context).locales.t(lang, "register.ask_area"), keyboard)


@pressed(RegisterArea, action="register")
async def area_chosen(update: Update, context: Context, actor: Actor, data: RegisterArea) -> None:
    """The volunteer picks their home area: then the phone."""
    dialog = await _area_step(update, context, actor)
    if dialog is None:
        return
    svc = services(context)
    lang = actor.language
    area = await svc.office.area(data.area)
    if area is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    await show(update, context, svc.locales.t(lang, "register.area_noted", area=area.name(lang)))
    await ask_phone(update, context, lang, {**dialog.data, "area_id": area.id})


async def finish_registration(
    update: Update, context: Context, actor: Actor, dialog: DialogRecord, phone: str | None
) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    message = update.effective_message
    assert message is not None
    notes: list[str] = []
    if phone is not None and await svc.joining.phone_taken(phone, person.id):
        phone = None
        notes.append(svc.locales.t(lang, "register.phone_taken"))
    area_id = dialog.data.get("area_id")
    outcome = await svc.joining.register_volunteer(
        person.id,
        name=str(dialog.data["name"]),
        home_area_id=int(area_id) if isinstance(area_id, int) else None,
        phone=phone,
    )
    await svc.dialogs.clear(dialog.telegram_id, REGISTER)
    key = {"approved": "register.welcome", "pending": "register.pending", "already": "register.already_member"}
    text = "\n".join([svc.locales.t(lang, key[outcome], name=str(dialog.data["name"])), *notes])
    after = main_menu(svc.locales, lang) if outcome == "approved" else ReplyKeyboardRemove()
    await message.reply_text(text, reply_markup=after)
    refreshed = await svc.people.find(dialog.telegram_id)
    if outcome == "approved" and refreshed is not None:
        await refresh_menu(context, refreshed)
        await resume_kept(context, Actor(refreshed, lang, ChatKind.PRIVATE))
    if outcome == "pending":
        registration = await svc.joining.waiting_for(person.id)
        if registration is not None:
            await tell_admins(context, registration)


# -- approval ----------------------------------------------------------------------------------------------


async def registration_card(
    context: Context, lang: Language, registration: RegistrationRecord
) -> tuple[str, InlineKeyboardMarkup]:
    svc = services(context)
    area = await svc.office.area(registration.home_area_id) if registration.home_area_id else None
    text = svc.locales.t(
        lang,
        "pending.card",
        name=registration.name,
        area=area.name(lang) if area else svc.locales.plain(lang, "common.none"),
        phone=registration.phone or svc.locales.plain(lang, "common.none"),
        when=registration.created_at.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M"),
    )
    markup = buttons(
        [
            (
                svc.locales.plain(lang, "pending.approve"),
                PendingDecision(answer="ok", registration=registration.id).pack(),
            ),
            (
                svc.locales.plain(lang, "pending.reject"),
                PendingDecision(answer="no", registration=registration.id).pack(),
            ),
        ]
    )
    return text, markup


async def tell_admins(context: Context, registration: RegistrationRecord) -> None:
    """A volunteer waits: the office of their home area (the county's when it has none) gets the request with
    approve / reject buttons."""
    svc = services(context)
    for chat_id in await svc.people.office_chat_ids(registration.home_area_id):
        admin = await svc.people.find(chat_id)
        lang = admin.language if admin else svc.settings.default_language
        text, markup = await registration_card(context, lang, registration)
        try:
            await context.bot.send_message(
                chat_id, svc.locales.t(lang, "pending.new") + "\n" + text, reply_markup=markup
            )
        except Forbidden as exc:
            await refused(context, chat_id, exc, notify=False)
        except TelegramError:
            logger.warning("Could not tell admin %s about registration %s", chat_id, registration.id, exc_info=True)


@command("pending")
async def pending_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/pending: the volunteer requests waiting for an admin, each with approve / reject."""
    svc = services(context)
    lang = actor.language
    # A town's office decides on the volunteers of its own areas.
    waiting = [r for r in await svc.joining.waiting() if actor.known.covers(r.home_area_id)]
    if not waiting:
        await message.reply_text(svc.locales.t(lang, "pending.none"))
        return
    await message.reply_text(svc.locales.t(lang, "pending.header", count=len(waiting)))
    for registration in waiting[:PENDING_SHOWN]:
        text, markup = await registration_card(context, lang, registration)
        await message.reply_text(text, reply_markup=markup)
    if len(waiting) > PENDING_SHOWN:
        await message.reply_text(svc.locales.t(lang, "pending.more", count=len(waiting) - PENDING_SHOWN))


@pressed(PendingDecision, action="pending")
async def decision(update: Update, context: Context, actor: Actor, data: PendingDecision) -> None:
    """Approve or reject; the first admin's decision stands, a second one is told who was first."""
    svc = services(context)
    lang = actor.language
    approved = data.answer == "ok"
    existing = await svc.joining.registration(data.registration)
    if existing is None:
        await refuse(update, context, lang, "fallback.outdated_button")
        return
    if not decide_in_area(actor.known, "pending", existing.home_area_id).allowed:
        await refuse_out_of_scope(update, context, actor.known, "volunteer")
        return
    decided = await svc.joining.decide(existing.id, approved=approved, decided_by=actor.known.id)
    if decided is None:
        current = await svc.joining.registration(existing.id)
        status = current.status if current else "rejected"
        shown = svc.locales.plain(lang, f"pending.status_{status}")
        await refuse(update, context, lang, "pending.already_decided", status=shown)
        return
    outcome = "approved" if approved else "rejected"
    done = svc.locales.t(lang, f"pending.done_{outcome}", name=decided.name, admin=actor.known.name)
    await show(update, context, done)
    volunteer = await svc.people.find(decided.telegram_id) if decided.telegram_id is not None else None
    if volunteer is None or decided.telegram_id is None:
        return
    delivered = True
    try:
        await context.bot.send_message(
            decided.telegram_id,
            svc.locales.t(volunteer.language, f"register.{outcome}", name=decided.name),
            reply_markup=main_menu(svc.locales, volunteer.language) if approved else None,
        )
    except Forbidden as exc:
        await refused(context, decided.telegram_id, exc)
        delivered = False  # a kept report stays kept: the offer's button still takes them on to it
    if approved:
        await refresh_menu(context, volunteer)
        if delivered:  # a photo they sent as a stranger was kept: their report goes on now
            await resume_kept(context, Actor(volunteer, volunteer.language, ChatKind.PRIVATE))


def stranger_markup(context: Context, person: Person) -> InlineKeyboardMarkup | None:
    """A person who is nobody yet gets a one-tap way to join as a volunteer under the greeting."""
    if person.roles or person.pending or not person.active:
        return None
    return buttons([(services(context).locales.plain(person.language, "register.button"), RegisterStart().pack())])


def register(app: Application) -> None:  # type: ignore[type-arg]
    new_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("register", register_command, new_message))
    app.add_handler(CommandHandler("pending", pending_command, new_message))
    for callback, codec in (
        (invite_answer, InviteAnswer),
        (register_button, RegisterStart),
        (area_page_turned, RegisterAreaPage),
        (area_chosen, RegisterArea),
        (decision, PendingDecision),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=codec.pattern))
