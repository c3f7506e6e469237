"""Weekly area summaries: /summary on demand, and the job that delivers each bound group its area's summary —
and each chief a private digest — exactly once per week. The delivery engine is `bot.delivery`; this module
hands it the bot as a `Sender` (handlers.sending)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.services import Services
from bot.summaries import Week, last_week, week_of
from handlers.access import guard, refuse
from handlers.common import Context, services
from handlers.sending import BotSender
from handlers.ui import alert, button, buttons, show

logger = logging.getLogger(__name__)

WEEKS_BACK = (0, 1, 2)  # this week, last week, two weeks ago


def _now() -> datetime:
    return datetime.now(UTC)


async def deliver_week(context: Context, week: Week) -> None:
    """Every bound group its area's summary of `week`, every chief their digest: each at most once."""
    await services(context).delivery.deliver_week(BotSender(context.bot), week)


async def weekly_summaries(context: Context) -> None:
    """The job (hourly, and soon after start): deliver the due week's summaries that are not delivered yet."""
    week = services(context).delivery.due_week(_now())
    if week is not None:
        await deliver_week(context, week)


# -- /summary ---------------------------------------------------------------------------------------------------


def _today(svc: Services) -> date:
    return _now().astimezone(svc.settings.tz).date()


async def summary_command(update: Update, context: Context) -> None:
    """/summary: in a bound group, its area's last week; in private, choose one of the person's areas."""
    actor = await guard(update, context, "summary")
    if actor is None:
        return
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    if chat.type != "private":
        area = await svc.chats.bound_area(chat.id)
        if area is None:
            return
        await svc.delivery.send_summary(BotSender(context.bot), chat.id, area, last_week(_today(svc)), actor.language)
        return
    person = actor.known
    areas = await svc.delivery.areas_for(person.id, admin=person.is_admin)
    if not areas:
        await refuse(update, context, actor.language, "summary.no_areas")
        return
    choices = [
        (
            f"{a.name(actor.language)}（{a.code}）"
            if actor.language == "zh"
            else f"{a.name(actor.language)} ({a.code})",
            f"sm:a:{a.id}",
        )
        for a in areas
    ]
    await show(
        update,
        context,
        svc.locales.t(actor.language, "summary.choose_area"),
        buttons(*[[c] for c in choices[:50]]),
    )


@button
async def summary_button(update: Update, context: Context) -> None:
    """An area chosen: choose the week; a week chosen: send that summary here."""
    actor = await guard(update, context, "summary")
    if actor is None:
        return
    svc = services(context)
    query = update.callback_query
    assert query is not None
    parts = (query.data or "").split(":")
    lang = actor.language
    try:
        area_id = int(parts[2])
        back = int(parts[3]) if len(parts) > 3 else None
    except (IndexError, ValueError):
        await alert(update, svc.locales.plain(lang, "summary.outdated"))
        return
    person = actor.known
    allowed = {a.id: a for a in await svc.delivery.areas_for(person.id, admin=person.is_admin)}
    area = allowed.get(area_id)
    if area is None or (back is not None and back not in WEEKS_BACK):
        await alert(update, svc.locales.plain(lang, "summary.not_yours"))
        return
    if back is None:
        choices = [(svc.locales.plain(lang, f"summary.weeks_back.{n}"), f"sm:w:{area.id}:{n}") for n in WEEKS_BACK]
        await show(update, context, svc.locales.t(lang, "summary.choose_week", area=area.name(lang)), buttons(choices))
        return
    week = week_of(_today(svc) - timedelta(days=7 * back))
    await show(update, context, svc.locales.t(lang, "summary.coming", area=area.name(lang), week=week.code))
    chat = update.effective_chat
    assert chat is not None
    await svc.delivery.send_summary(BotSender(context.bot), chat.id, area, week, lang)


def register(app: Application) -> None:  # type: ignore[type-arg]
    anywhere = filters.UpdateType.MESSAGE & (filters.ChatType.PRIVATE | filters.ChatType.GROUPS)
    app.add_handler(CommandHandler("summary", summary_command, anywhere))
    app.add_handler(CallbackQueryHandler(summary_button, pattern=r"^sm:"))
    jobs = app.job_queue
    if jobs is not None:
        # Hourly, and a few seconds after start: a bot that was down at SUMMARY_TIME catches up once.
        jobs.run_repeating(weekly_summaries, interval=3600, first=30, name="weekly_summaries")
