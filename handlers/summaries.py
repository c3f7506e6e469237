"""Weekly area summaries: /summary on demand, and the job that delivers each bound group its area's summary —
and each chief a private digest — exactly once per week. The delivery engine is `bot.delivery`; this module
hands it the bot as a `Sender` (handlers.sending)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from telegram import Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.permissions import ChatKind
from bot.services import Services
from bot.summaries import Week, last_week, week_dates, week_of
from handlers.access import Actor, command, refuse
from handlers.callbacks import SummaryArea, SummaryWeek, WeeksBack, pressed
from handlers.common import Context, services
from handlers.sending import BotSender, sender, tell_office_missed
from handlers.ui import alert, buttons, show
from storage.records import AreaRecord

logger = logging.getLogger(__name__)

WEEKS_BACK: tuple[WeeksBack, ...] = (0, 1, 2)  # this week, last week, two weeks ago


def _now() -> datetime:
    return datetime.now(UTC)


async def deliver_week(context: Context, week: Week) -> None:
    """Every bound group its area's summary of `week`, every chief their digest: each at most once. A 403 marks
    the chief unreachable; the chiefs the digests cannot reach are counted, and the office hears of each once."""
    svc = services(context)
    await svc.delivery.deliver_week(sender(context), week)
    missed = await svc.reachability.missed(await svc.reachability.unreachable_chiefs())
    await tell_office_missed(context, "digests", missed)


async def weekly_summaries(context: Context) -> None:
    """The job (hourly, and soon after start): deliver the due week's summaries that are not delivered yet."""
    week = services(context).delivery.due_week(_now())
    if week is not None:
        await deliver_week(context, week)


# -- /summary ---------------------------------------------------------------------------------------------------


def _today(svc: Services) -> date:
    return _now().astimezone(svc.settings.tz).date()


@command("summary")
async def summary_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/summary: in a bound group, its area's last week; in private, choose one of the person's areas."""
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    if chat.type != "private":
        area = await svc.chats.bound_area(chat.id)
        if area is None:
            return
        asked = await svc.delivery.ask_in_group(chat.id, update.effective_user.id if update.effective_user else 0)
        if asked.tell_wait_minutes is not None:
            await message.reply_text(
                svc.locales.t(actor.language, "summary.cooldown", minutes=asked.tell_wait_minutes)
            )
        if asked.send:
            await svc.delivery.send_summary(
                BotSender(context.bot), chat.id, area, last_week(_today(svc)), actor.language
            )
        return
    person = actor.known
    areas = await svc.delivery.areas_for(person.id, admin=person.is_admin, within=person.areas)
    if not areas:
        await refuse(update, context, actor.language, "summary.no_areas")
        return
    choices = [
        (
            f"{a.name(actor.language)}（{a.code}）"
            if actor.language == "zh"
            else f"{a.name(actor.language)} ({a.code})",
            SummaryArea(area=a.id).pack(),
        )
        for a in areas
    ]
    await show(
        update,
        context,
        svc.locales.t(actor.language, "summary.choose_area"),
        buttons(*[[c] for c in choices[:50]]),
    )


async def _own_area(update: Update, context: Context, actor: Actor, area_id: int) -> AreaRecord | None:
    """The pressed area if it is one of the presser's; None (answered) if not, or no longer.

    The area and week buttons are drawn only in private (a group's /summary is its own area's, at once), so one
    pressed in a group is forged: it must not post some other area's summary there, nor needs a known presser.
    """
    svc = services(context)
    if actor.chat is not ChatKind.PRIVATE:
        await alert(update, svc.locales.plain(actor.language, "fallback.outdated_button"))
        return None
    person = actor.known
    mine = await svc.delivery.areas_for(person.id, admin=person.is_admin, within=person.areas)
    area = next((a for a in mine if a.id == area_id), None)
    if area is None:
        await alert(update, svc.locales.plain(actor.language, "summary.not_yours"))
    return area


@pressed(SummaryArea, action="summary")
async def area_chosen(update: Update, context: Context, actor: Actor, data: SummaryArea) -> None:
    """Offer the weeks to choose from for the chosen area."""
    area = await _own_area(update, context, actor, data.area)
    if area is not None:
        locales, lang = services(context).locales, actor.language
        choices = [
            (locales.plain(lang, f"summary.weeks_back.{n}"), SummaryWeek(area=area.id, weeks_back=n).pack())
            for n in WEEKS_BACK
        ]
        await show(update, context, locales.t(lang, "summary.choose_week", area=area.name(lang)), buttons(choices))


@pressed(SummaryWeek, action="summary")
async def week_chosen(update: Update, context: Context, actor: Actor, data: SummaryWeek) -> None:
    """Send the chosen week's summary of the area here."""
    svc = services(context)
    week = week_of(_today(svc) - timedelta(days=7 * data.weeks_back))
    area = await _own_area(update, context, actor, data.area)
    chat = update.effective_chat
    if area is None or chat is None:
        return
    lang = actor.language
    coming = svc.locales.t(lang, "summary.coming", area=area.name(lang), week=week_dates(week, svc.locales, lang))
    await show(update, context, coming)
    await svc.delivery.send_summary(BotSender(context.bot), chat.id, area, week, lang)


def register(app: Application) -> None:  # type: ignore[type-arg]
    anywhere = filters.UpdateType.MESSAGE & (filters.ChatType.PRIVATE | filters.ChatType.GROUPS)
    app.add_handler(CommandHandler("summary", summary_command, anywhere))
    app.add_handler(CallbackQueryHandler(area_chosen, pattern=SummaryArea.pattern))
    app.add_handler(CallbackQueryHandler(week_chosen, pattern=SummaryWeek.pattern))
