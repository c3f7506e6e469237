"""/assessment for admins: the assessment report of a period, as XLSX or PDF, sent as a document.

The period comes from a button (last month, last quarter, this half-year…, each resolved to its calendar period
when the buttons are drawn, so an old message still means what it said) or typed after the command
(`/assessment 2026-Q4`). The figures and the file come from `bot.assessment`, within the admin's office scope (a
town's office gets its own areas).
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.assessment import FORMATS, AssessmentError, ReportPeriod, file_name
from handlers.access import Actor, command, refuse
from handlers.callbacks import AssessmentFile, AssessmentPeriod, pressed
from handlers.common import Context, services
from handlers.ui import answer, buttons, show

logger = logging.getLogger(__name__)


@command("assessment")
async def assessment_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/assessment: the periods as buttons; /assessment 2026-Q4: straight to the formats."""
    svc = services(context)
    lang = actor.language
    typed = " ".join(context.args or []).strip()
    if typed:
        period = svc.assessments.period(typed)
        if period is None:
            await refuse(update, context, lang, "assessment.error.bad_period", value=typed)
            return
        await _formats(update, context, actor, period)
        return
    rows = [
        [
            (
                f"{svc.locales.plain(lang, f'assessment.preset.{name}')} · {period.label(svc.locales, lang)}",
                AssessmentPeriod(period=period.text).pack(),
            )
        ]
        for name, period in svc.assessments.presets()
    ]
    await show(update, context, svc.locales.t(lang, "assessment.bot.choose_period"), buttons(*rows))


async def _formats(update: Update, context: Context, actor: Actor, period: ReportPeriod) -> None:
    svc = services(context)
    lang = actor.language
    markup = buttons(
        [
            (svc.locales.plain(lang, f"assessment.format.{fmt}"), AssessmentFile(period=period.text, fmt=fmt).pack())
            for fmt in FORMATS
        ]
    )
    text = svc.locales.t(
        lang,
        "assessment.bot.choose_format",
        period=period.label(svc.locales, lang),
        first=period.first.isoformat(),
        last=period.last.isoformat(),
    )
    await show(update, context, text, markup)


@pressed(AssessmentPeriod, action="assessment")
async def period_chosen(update: Update, context: Context, actor: Actor, data: AssessmentPeriod) -> None:
    """Offer the formats for the chosen period."""
    period = services(context).assessments.period(data.period)
    if period is None:  # a forged button: no such period
        await refuse(update, context, actor.language, "assessment.error.bad_period", value=data.period)
        return
    await _formats(update, context, actor, period)


@pressed(AssessmentFile, action="assessment")
async def format_chosen(update: Update, context: Context, actor: Actor, data: AssessmentFile) -> None:
    """Make the report and send it as a document."""
    svc, lang = services(context), actor.language
    period = svc.assessments.period(data.period)
    if period is None:
        await refuse(update, context, lang, "assessment.error.bad_period", value=data.period)
        return
    label = period.label(svc.locales, lang)
    if update.callback_query is not None:
        # Answered now, not after the report: the spinner stops while the file is drawn.
        with contextlib.suppress(TelegramError):
            await answer(update.callback_query)
    working = svc.locales.plain(lang, f"assessment.format.{data.fmt}")
    await show(update, context, svc.locales.t(lang, "assessment.bot.working", period=label, format=working))
    try:
        _, content = await svc.assessments.file(language=lang, period=period, fmt=data.fmt, areas=actor.known.areas)
    except AssessmentError as exc:
        await show(update, context, svc.locales.t(lang, f"assessment.error.{exc.key}", **exc.params))
        return
    except Exception:
        logger.exception("assessment report %s %s failed", period.text, data.fmt)
        await show(update, context, svc.locales.t(lang, "assessment.bot.failed"))
        return
    chat = update.effective_chat
    assert chat is not None
    caption = svc.locales.plain(
        lang, "assessment.bot.caption", period=label, first=period.first.isoformat(), last=period.last.isoformat()
    )
    await context.bot.send_document(
        chat.id,
        content,
        filename=file_name(period, data.fmt),
        caption=caption,
        read_timeout=120,
        write_timeout=120,
    )
    await show(update, context, svc.locales.t(lang, "assessment.bot.done", period=label))


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("assessment", assessment_command, private))
    app.add_handler(CallbackQueryHandler(period_chosen, pattern=AssessmentPeriod.pattern))
    # Not blocking: a county's report takes a few seconds, and the admin's chat stays answered meanwhile.
    app.add_handler(CallbackQueryHandler(format_chosen, pattern=AssessmentFile.pattern, block=False))
