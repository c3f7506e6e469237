"""/export for admins: choose a format and a period, and the file arrives as a document.

The period is a preset (last week, last month, this year) or typed: "Other dates…" opens a dialog that takes
two days, one day or a month (`bot.exports.parse_range`); a range it cannot take is explained and the question
stays open until a good one or /cancel.

The rows are written in a worker thread (`bot.exports.export`), so the bot keeps answering meanwhile; a
"being generated" message says it is under way and is edited when the file is sent (or too big to send: Telegram
takes at most 50 MB from a bot).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from datetime import date, datetime
from pathlib import Path

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.dialogs import Dialog
from bot.exports import (
    EXPORT_FLOW,
    FORMATS,
    RANGES,
    TELEGRAM_UPLOAD_LIMIT,
    Format,
    RangeRefused,
    file_name,
    parse_range,
    range_of,
)
from handlers.access import Actor, command, guard
from handlers.callbacks import ExportCustom, ExportFormat, ExportRange, pressed
from handlers.common import Context, services
from handlers.dialogs import flow
from handlers.ui import answer, buttons, show

logger = logging.getLogger(__name__)


@command("export")
async def export_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/export: choose a format."""
    svc = services(context)
    lang = actor.language
    markup = buttons(*[[(svc.locales.plain(lang, f"export.format.{f}"), ExportFormat(fmt=f).pack())] for f in FORMATS])
    await show(update, context, svc.locales.t(lang, "export.choose_format"), markup)


@pressed(ExportFormat, action="export")
async def format_chosen(update: Update, context: Context, actor: Actor, data: ExportFormat) -> None:
    """Offer the periods to export in the chosen format."""
    svc = services(context)
    lang = actor.language
    markup = buttons(
        [(svc.locales.plain(lang, f"export.range.{r}"), ExportRange(fmt=data.fmt, period=r).pack()) for r in RANGES],
        [(svc.locales.plain(lang, "exports16.range_custom"), ExportCustom(fmt=data.fmt).pack())],
    )
    text = svc.locales.t(lang, "export.choose_range", format=svc.locales.plain(lang, f"export.format.{data.fmt}"))
    await show(update, context, text, markup)


@pressed(ExportCustom, action="export")
async def custom_chosen(update: Update, context: Context, actor: Actor, data: ExportCustom) -> None:
    """Ask for the period as typed text; the dialog keeps the format until it comes."""
    svc, lang = services(context), actor.language
    assert update.effective_user is not None
    await svc.dialogs.set(update.effective_user.id, EXPORT_FLOW, "range", {"fmt": data.fmt})
    text = svc.locales.t(lang, "exports16.ask_range", format=svc.locales.plain(lang, f"export.format.{data.fmt}"))
    await show(update, context, text)


@flow(EXPORT_FLOW)
async def range_typed(update: Update, context: Context, dialog: Dialog) -> None:
    """The typed period: explained and asked again when it is not one /export takes, else exported."""
    svc = services(context)
    actor = await guard(update, context, "export")
    message = update.effective_message
    if actor is None or message is None:
        await svc.dialogs.clear(dialog.telegram_id, EXPORT_FLOW)
        return
    typed = str(dialog.data.get("fmt"))
    if typed not in FORMATS:  # a dialog from another version: start again
        await svc.dialogs.clear(dialog.telegram_id, EXPORT_FLOW)
        await message.reply_text(svc.locales.t(actor.language, "fallback.outdated_button"))
        return
    try:
        first, last = parse_range(message.text or "")
    except RangeRefused as refused:
        await message.reply_text(svc.locales.t(actor.language, f"exports16.range_error.{refused.reason}"))
        return
    await svc.dialogs.clear(dialog.telegram_id, EXPORT_FLOW)
    await _deliver(update, context, actor, FORMATS[FORMATS.index(typed)], first=first, last=last)


@pressed(ExportRange, action="export")
async def range_chosen(update: Update, context: Context, actor: Actor, data: ExportRange) -> None:
    """Write the export of the chosen period in a worker thread and send it as a document."""
    svc = services(context)
    first, last = range_of(data.period, datetime.now(svc.settings.tz).date())
    if update.callback_query is not None:
        # Answered now, not after the export: the spinner stops while the file is written.
        with contextlib.suppress(TelegramError):
            await answer(update.callback_query)
    await _deliver(update, context, actor, data.fmt, first=first, last=last)


async def _deliver(update: Update, context: Context, actor: Actor, fmt: Format, *, first: date, last: date) -> None:
    """Say it is under way, write the export in a worker thread, send it as a document, and say what it held."""
    svc, lang = services(context), actor.language
    params = {
        "format": svc.locales.plain(lang, f"export.format.{fmt}"),
        "first": first.isoformat(),
        "last": last.isoformat(),
    }
    await show(update, context, svc.locales.t(lang, "export.working", **params))
    chat = update.effective_chat
    assert chat is not None
    with tempfile.TemporaryDirectory(prefix="riverbot-export-") as folder:
        path = Path(folder) / file_name(fmt, first, last)
        try:
            # A town's office exports its own areas.
            result = await svc.exports.export(
                language=lang, fmt=fmt, first=first, last=last, out=path, areas=actor.known.areas
            )
        except Exception:
            logger.exception("export %s %s..%s failed", fmt, first, last)
            await show(update, context, svc.locales.t(lang, "export.failed"))
            return
        size = result.size
        if size > TELEGRAM_UPLOAD_LIMIT:
            await show(update, context, svc.locales.t(lang, "export.too_big", size=f"{size / 1024 / 1024:.1f}"))
            return
        with path.open("rb") as document:
            await context.bot.send_document(
                chat.id,
                document,
                filename=path.name,
                caption=svc.locales.plain(lang, "export.caption", first=params["first"], last=params["last"]),
                read_timeout=120,
                write_timeout=120,
            )
    done = svc.locales.t(
        lang, "export.done", patrols=result.patrols, problems=result.problems, rate=result.rate_rows, **params
    )
    await show(update, context, done)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("export", export_command, private))
    app.add_handler(CallbackQueryHandler(format_chosen, pattern=ExportFormat.pattern))
    app.add_handler(CallbackQueryHandler(custom_chosen, pattern=ExportCustom.pattern))
    # Not blocking: a year of a city takes a while, and the admin's chat stays answered meanwhile.
    app.add_handler(CallbackQueryHandler(range_chosen, pattern=ExportRange.pattern, block=False))
