"""The error handler: log it, keep the update, tell the person, tell the office.

An error must never cost a river chief the report they just sent: the whole update is stored in
`failed_updates` before anyone is told anything, so it can be looked at and replayed. When it cannot be stored
(a full disk, a read-only DATA_DIR), the person is told so and asked to send it again, never told "saved".
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from telegram import Chat, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext

from bot.failures import Kept, Outage, free_megabytes, storage_trouble
from bot.i18n import Markup
from handlers.common import Context, language_of, services
from handlers.ui import answer

if TYPE_CHECKING:
    from bot.services import Services

logger = logging.getLogger(__name__)

# The same error repeating (a bug hit by every chief at once) must not flood the admins.
ADMIN_NOTICE_INTERVAL_SECONDS = 60.0
MAX_NOTICES = 1000
_NOTICES_KEY = "error_notices"


async def on_error(update: object, context: Context) -> None:
    """Report the error (`_report`), then stop: an update whose handling failed is handled no further.

    PTB otherwise goes on to the next handler group, where a later handler takes the half-handled update for
    a fresh one: a report draft reset by the failed photo, "I didn't understand" after the apology."""
    try:
        await _report(update, context)
    except Exception:
        logger.exception("The error handler failed")
    if isinstance(update, Update):
        raise ApplicationHandlerStop


async def _report(update: object, context: Context) -> None:
    """Log the update and traceback, store the update, tell the person what became of it, notify the admins."""
    error = context.error
    trace = "".join(traceback.format_exception(error)) if error is not None else "unknown error"
    payload = json.dumps(update.to_dict(), ensure_ascii=False) if isinstance(update, Update) else repr(update)
    logger.error("Handling update %s failed:\n%s", payload, trace)
    svc = services(context)
    if not isinstance(update, Update):
        trouble = storage_trouble(error)
        if trouble is not None:
            await _storage_outage(context, svc.failures.alarm.failed(trouble, datetime.now(UTC)), error)
            return
        await _notify_admins(context, "errors.admin_notice_no_update", error=_summary(error))
        return

    chat, user = update.effective_chat, update.effective_user
    kept = Kept(None)
    try:
        kept = await svc.failures.keep(
            update_id=update.update_id,
            chat_id=chat.id if chat else None,
            user_id=user.id if user else None,
            payload=payload,
            error=trace,
            cause=error,
            at=datetime.now(UTC),
        )
    except Exception:  # the store itself may be what failed; logging above already kept the update
        logger.exception("Could not store the failed update %s", update.update_id)

    try:
        lang = await language_of(update, context)
    except Exception:
        lang = svc.settings.default_language
    # Only what was stored is called saved: a full disk or an unstored update asks the person to send it again.
    key = "errors.storage_user" if kept.trouble else "errors.user" if kept.stored else "errors.user_not_kept"
    text = svc.locales.t(lang, key)
    query = update.callback_query
    answered = False
    if query is not None:
        try:
            answered = await answer(query, svc.locales.plain(lang, key)[:200], show_alert=True)
        except TelegramError:
            logger.warning("Could not answer callback query %s about the error", query.id, exc_info=True)
    # A button whose query can't be answered any more (too old, after a restart) is told in its chat instead.
    if not answered and chat is not None and (query is not None or chat.type == Chat.PRIVATE or _is_command(update)):
        try:
            await context.bot.send_message(chat.id, text)
        except TelegramError:
            logger.warning("Could not tell chat %s about the error", chat.id, exc_info=True)

    if kept.trouble is not None:
        await _storage_outage(context, kept.outage, error)  # once per outage, not per message
    elif kept.stored:
        await _notify_admins(
            context,
            "errors.admin_notice",
            failure_id=kept.failure_id,
            update_id=update.update_id,
            error=_summary(error),
        )
    else:
        await _notify_admins(context, "errors.admin_notice_not_kept", update_id=update.update_id, error=_summary(error))


async def check_storage(context: Context) -> None:
    """During a storage outage, try writing again; once it works, tell the admins the outage is over."""
    svc = services(context)
    ended = await svc.failures.check_storage()
    if ended is None:
        return
    intake = context.application.bot_data.get("intake")
    if intake is not None:
        intake.wake()  # the updates Telegram kept meanwhile: fetch them now
    logger.warning("Storage is writable again (outage since %s: %s)", ended.since.isoformat(), ended.reason)
    since = ended.since.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M")
    await _tell_admins(context, "errors.storage_recovered", since=since)


async def inbox_refused(app: Application, batch: list[dict[str, Any]], error: BaseException) -> None:  # type: ignore[type-arg]
    """The inbox could not keep a fetched batch, so Telegram keeps it and it is fetched again later. On a full or
    read-only disk: the admins hear once per outage, and each person once that what they sent waits, unsaved yet,
    and is handled by itself when storage is back (no need to send it again)."""
    svc: Services = app.bot_data["services"]
    trouble = storage_trouble(error)
    if trouble is None:
        return
    context: Context = CallbackContext(app)
    await _storage_outage(context, svc.failures.alarm.failed(trouble, datetime.now(UTC)), error)
    outage = svc.failures.alarm.outage
    told: set[int] = app.bot_data.setdefault("told_waiting", set())
    if app.bot_data.get("told_waiting_outage") is not outage:
        told.clear()
        app.bot_data["told_waiting_outage"] = outage
    for raw in batch:
        message = next((v for v in raw.values() if isinstance(v, dict) and "chat" in v), None)
        if message is None or message.get("chat", {}).get("type") != "private":
            continue
        chat_id = int(message["chat"]["id"])
        if chat_id in told:
            continue
        told.add(chat_id)
        lang = svc.people.language_for(None, (message.get("from") or {}).get("language_code"))
        try:
            await app.bot.send_message(chat_id, svc.locales.t(lang, "errors.storage_waiting"))
        except TelegramError:
            logger.exception("could not tell chat %s that its messages wait for storage", chat_id)


async def prune_failures(context: Context) -> None:
    """Forget failed updates older than FAILED_UPDATES_KEEP_DAYS."""
    removed = await services(context).failures.prune(datetime.now(UTC))
    if removed:
        logger.info("Pruned %d failed updates past their retention", removed)


async def _storage_outage(context: Context, outage: Outage | None, error: BaseException | None) -> None:
    """Tell the admins that nothing can be stored, when this failure started the outage (else they know)."""
    if outage is None:
        return
    svc = services(context)
    logger.critical("Storage outage (%s): nothing can be stored in %s", outage.reason, svc.settings.data_dir)
    free = free_megabytes(svc.settings.data_dir)
    await _tell_admins(
        context,
        "errors.storage_outage",
        reason=Translated(f"errors.storage_{outage.reason.value}"),
        data_dir=str(svc.settings.data_dir),
        free="?" if free is None else free,
        error=_summary(error),
    )


def _is_command(update: Update) -> bool:
    message = update.effective_message
    return bool(message and message.text and message.text.startswith("/"))


def _summary(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return f"{type(error).__name__}: {error}"[:1500]


async def _notify_admins(context: Context, key: str, **params: object) -> None:
    notices: dict[str, float] = context.application.bot_data.setdefault(_NOTICES_KEY, {})
    signature = str(params.get("error", ""))[:200]
    now = time.monotonic()
    if now - notices.get(signature, -ADMIN_NOTICE_INTERVAL_SECONDS) < ADMIN_NOTICE_INTERVAL_SECONDS:
        return
    if len(notices) > MAX_NOTICES:
        # Errors carrying ids or texts differ every time: without a cap this would grow for the bot's lifetime.
        notices.clear()
    notices[signature] = now
    # The memory above spares the store a write per repeat in this process; the store's mark is what other
    # workers see.
    if not await services(context).failures.first_notice(signature, ADMIN_NOTICE_INTERVAL_SECONDS):
        return
    await _tell_admins(context, key, **params)


@dataclass(frozen=True, slots=True)
class Translated:
    """A parameter that is itself a message key, rendered in each admin's language."""

    key: str


async def _tell_admins(context: Context, key: str, **params: object) -> None:
    svc = services(context)
    try:
        admin_ids = await svc.people.admin_chat_ids()
    except Exception:
        logger.exception("Could not look up admins to notify")
        return
    # Each admin on their own: one who can't be told (blocked the bot, a store error) must not silence the rest.
    for chat_id in admin_ids:
        try:
            admin = await svc.people.find(chat_id)
            lang = admin.language if admin else None
            shown = {
                name: Markup(svc.locales.t(lang, value.key)) if isinstance(value, Translated) else value
                for name, value in params.items()
            }
            await context.bot.send_message(chat_id, svc.locales.t(lang, key, **shown))
        except Forbidden:
            try:
                await svc.people.set_blocked(chat_id, True)
            except Exception:
                logger.exception("Could not record that admin %s blocked the bot", chat_id)
        except Exception:
            logger.warning("Could not notify admin %s", chat_id, exc_info=True)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_error_handler(on_error)
