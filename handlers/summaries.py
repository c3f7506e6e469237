"""Weekly area summaries: /summary on demand, and the job that delivers each bound group its area's
summary — and each chief a private digest — exactly once per week.

Delivery records (storage.summaries) make it exactly once: a (area, week, chat) or (chief, week) that is sent,
given up or skipped is never sent again, so the job may run any number of times (hourly, and at start) and a
restart past SUMMARY_TIME sends the missed week once. A summary in several messages records each one sent, so
a retry resumes after the last. A failed send is retried later (RETRY_DELAYS); after MAX_ATTEMPTS the admins
are told, once. 429s seldom reach here: PTB's rate limiter waits and retries them; one that outlasts its retries
is a failed send like any other, retried from the next piece. The weekly run delivers AREAS_IN_FLIGHT areas at
once, so that it is bound by Telegram's rate limit rather than by the round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.chats import GONE
from bot.config import Language, Settings
from bot.services import Services
from bot.summaries import (
    AreaSummary,
    SummaryService,
    Week,
    chart_caption,
    chart_jpeg,
    digest_text,
    last_week,
    split_messages,
    summary_text,
    week_of,
)
from handlers.access import guard, refuse
from handlers.common import Context, services
from handlers.ui import alert, button, buttons, show
from storage.records import AreaRecord, PersonRecord
from storage.summaries import AREA, CHIEF

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds to wait before the 2nd, 3rd, … attempt; after MAX_ATTEMPTS failures the admins are told.
RETRY_DELAYS: tuple[int, ...] = (60, 300, 900, 3600)
MAX_ATTEMPTS = 5
_LOCK = "summaries_lock"
# Areas delivered at once by the weekly run. One area's pieces go out one after another (text, then chart, in
# order), so one area at a time is bound by the round trip (0.15 s from the mainland; a chart upload twice that):
# 3 to 7 messages a second, against Telegram's 30. Keeping the rate limiter busy at 30 a second takes
# 30 × 0.3 s ≈ 9 sends in flight; 12 leaves room for slower uploads and for composing a chart (a thread each).
# More would only queue inside the rate limiter, and would take connections from the pool (16, bot.app) that
# people's updates need while the run goes on.
AREAS_IN_FLIGHT = 12
WEEKS_BACK = (0, 1, 2)  # this week, last week, two weeks ago


def _now() -> datetime:
    return datetime.now(UTC)


def due_week(settings: Settings, now: datetime) -> Week | None:
    """The week whose summary is due at `now`: last week, once this week's SUMMARY_TIME has passed; else None."""
    local = now.astimezone(settings.tz)
    monday = local.date() - timedelta(days=local.weekday())
    at = datetime.combine(monday + timedelta(days=settings.summary_time.weekday), settings.summary_time.at, settings.tz)
    return last_week(local.date()) if local >= at else None


async def _send_pieces(
    bot: Bot,
    chat_id: int,
    *,
    texts: list[str],
    chart: bytes | None,
    caption: str,
    done: list[int],
    record: _Recorder,
) -> list[int]:
    """Send what is not sent yet (`done`: message ids of the pieces already sent), recording each one."""
    ids = list(done)
    pieces: list[str | None] = [*texts, None] if chart is not None else list(texts)
    for index, piece in enumerate(pieces):
        if index < len(ids):
            continue
        if piece is None:
            assert chart is not None
            message = await bot.send_photo(chat_id, chart, caption=caption)
        else:
            message = await bot.send_message(chat_id, piece)
        ids.append(message.message_id)
        await record(ids)
    return ids


class _Recorder:
    def __init__(self, svc: Services, kind: str, area_id: int, week: str, target: int) -> None:
        self.svc, self.kind, self.area_id, self.week, self.target = svc, kind, area_id, week, target

    async def __call__(self, ids: list[int]) -> None:
        await self.svc.store.summaries.progress(self.kind, self.area_id, self.week, self.target, ids, now=_now())


async def _compose(
    svc: Services, area: AreaRecord, week: Week, lang: Language, summary: AreaSummary | None = None
) -> tuple[list[str], bytes, str]:
    if summary is None:
        summary = await SummaryService(svc.store, svc.settings).area_summary(area, week)
    texts = split_messages(summary_text(summary, svc.locales, lang))
    chart = await asyncio.to_thread(chart_jpeg, summary, svc.locales, lang)
    return texts, chart, chart_caption(summary, svc.locales, lang)


async def _failed(
    svc: Services, kind: str, area_id: int, week: Week, target: int, *, bot: Bot, error: Exception, label: str
) -> None:
    now = _now()
    existing = await svc.store.summaries.get(kind, area_id, week.code, target)
    attempts = (existing.attempts if existing else 0) + 1
    delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)] if attempts < MAX_ATTEMPTS else None
    record = await svc.store.summaries.failed(
        kind,
        area_id,
        week.code,
        target,
        error=f"{type(error).__name__}: {error}",
        next_attempt_at=None if delay is None else now + timedelta(seconds=delay),
        now=now,
    )
    logger.warning("summary %s %s %s to %s: attempt %d failed: %s", kind, area_id, week, target, attempts, error)
    if (
        record.status == "failed"
        and kind == AREA
        and await svc.store.summaries.mark_reported(kind, area_id, week.code, target, now=now)
    ):
        area = await svc.store.areas.by_id(area_id)
        for admin_chat in await svc.people.admin_chat_ids():
            admin = await svc.people.find(admin_chat)
            lang = admin.language if admin else svc.settings.default_language
            shown = area.name(lang) if area is not None else label
            try:
                await bot.send_message(
                    admin_chat,
                    svc.locales.t(
                        lang,
                        "summary.failed_admin",
                        area=shown,
                        code=area.code if area is not None else label,
                        week=week.code,
                        chat=target,
                        attempts=record.attempts,
                        error=record.last_error or "",
                    ),
                )
            except TelegramError:
                logger.warning("could not tell admin %s that a summary failed", admin_chat, exc_info=True)


def _may_try(status: str | None, next_attempt_at: datetime | None, now: datetime) -> bool:
    if status is None:
        return True
    if status != "pending":
        return False  # sent, given up, or skipped: never again
    return next_attempt_at is None or next_attempt_at <= now


async def deliver_week(context: Context, week: Week) -> None:
    """Every bound group its area's summary of `week`, every chief their digest: each at most once."""
    svc = services(context)
    lock: asyncio.Lock = context.application.bot_data.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        areas = await svc.store.areas.all()
        waiting = [area for area in areas if await _has_waiting(svc, area, week)]
        # Many areas at once (the weekly run): their figures from one query each, not one per area.
        composed = await SummaryService(svc.store, svc.settings).week_summaries(week) if len(waiting) > 2 else {}

        async def one_area(area: AreaRecord) -> None:
            try:
                await deliver_area(context.bot, svc, area, week, summary=composed.get(area.id))
            except Exception:  # one area's trouble must not cost every later area its summary
                logger.exception("summary of area %s for %s failed", area.code, week)

        await _in_flight(waiting, one_area)
        await _deliver_digests(context.bot, svc, week)


async def _in_flight(items: list[T], deliver: Callable[[T], Awaitable[None]]) -> None:
    """`deliver` each item, AREAS_IN_FLIGHT at a time. `deliver` must not raise: gather would not cancel the
    other workers, which would go on sending after the caller has let go of the lock."""
    queue = iter(items)  # shared by the workers: each item is taken by exactly one

    async def worker() -> None:
        for item in queue:
            await deliver(item)

    await asyncio.gather(*(worker() for _ in range(min(AREAS_IN_FLIGHT, len(items)))))


async def _has_waiting(svc: Services, area: AreaRecord, week: Week) -> bool:
    """Whether a bound group of the area still waits for (or is due to retry) this week's summary."""
    now = _now()
    for binding in await svc.store.bindings.for_area(area.id):
        existing = await svc.store.summaries.get(AREA, area.id, week.code, binding.chat_id)
        if _may_try(existing.status if existing else None, existing.next_attempt_at if existing else None, now):
            return True
    return False


async def deliver_area(
    bot: Bot, svc: Services, area: AreaRecord, week: Week, *, summary: AreaSummary | None = None
) -> tuple[list[int], list[int]]:
    """The area's summary of `week` to each of its bound groups not yet delivered (or due for a retry), recording
    each delivery as the job does; returns (chats sent to now, chats whose send failed). Also `riverbot summary
    --send`."""
    sent: list[int] = []
    failed: list[int] = []
    bindings = await svc.store.bindings.for_area(area.id)
    composed: dict[Language, tuple[list[str], bytes, str]] = {}
    for binding in bindings:
        chat_id = binding.chat_id
        existing = await svc.store.summaries.get(AREA, area.id, week.code, chat_id)
        now = _now()
        if not _may_try(existing.status if existing else None, existing.next_attempt_at if existing else None, now):
            continue
        chat = await svc.store.chats.get(chat_id)
        if chat is not None and chat.bot_status in GONE:
            await svc.store.summaries.skipped(AREA, area.id, week.code, chat_id, reason="bot not in chat", now=now)
            continue
        lang = await svc.chats.language(chat_id)
        try:
            if lang not in composed:
                composed[lang] = await _compose(svc, area, week, lang, summary)
            texts, chart, caption = composed[lang]
            ids = await _send_pieces(
                bot,
                chat_id,
                texts=texts,
                chart=chart,
                caption=caption,
                done=existing.message_ids if existing else [],
                record=_Recorder(svc, AREA, area.id, week.code, chat_id),
            )
        except TelegramError as exc:
            await _failed(svc, AREA, area.id, week, chat_id, bot=bot, error=exc, label=area.code)
            failed.append(chat_id)
            continue
        await svc.store.summaries.sent(AREA, area.id, week.code, chat_id, ids, now=_now())
        sent.append(chat_id)
        logger.info("summary of %s for %s sent to chat %s", area.code, week, chat_id)
    return sent, failed


async def _deliver_digests(bot: Bot, svc: Services, week: Week) -> None:
    """Each started chief their digest, AREAS_IN_FLIGHT at once: a city has some 20,000 chiefs, and one after
    another at a round trip each would take most of an hour where the rate limit allows about eleven minutes."""
    today = _now().astimezone(svc.settings.tz).date()
    summaries = SummaryService(svc.store, svc.settings)
    chiefs = [
        chief
        for chief in await svc.store.people.chiefs()
        if chief.telegram_id is not None and chief.active and chief.blocked_at is None and chief.started_at is not None
    ]

    async def one_chief(chief: PersonRecord) -> None:
        try:
            await _deliver_digest(bot, svc, summaries, chief, week=week, today=today)
        except Exception:  # e.g. the store failing to record it: the other chiefs still get theirs; retried next run
            logger.exception("digest for chief %s for %s failed", chief.id, week)

    await _in_flight(chiefs, one_chief)


async def _deliver_digest(
    bot: Bot, svc: Services, summaries: SummaryService, chief: PersonRecord, *, week: Week, today: date
) -> None:
    assert chief.telegram_id is not None
    existing = await svc.store.summaries.get(CHIEF, 0, week.code, chief.id)
    now = _now()
    if not _may_try(existing.status if existing else None, existing.next_attempt_at if existing else None, now):
        return
    lang = svc.people.language_for(chief.language, chief.language_code)
    try:
        digest = await summaries.chief_digest(chief.id, chief.name, week, today)
        if not digest.progress and not digest.assigned and not digest.rate.required:
            await svc.store.summaries.skipped(CHIEF, 0, week.code, chief.id, reason="nothing to report", now=now)
            return
        ids = await _send_pieces(
            bot,
            chief.telegram_id,
            texts=split_messages(digest_text(digest, svc.locales, lang)),
            chart=None,
            caption="",
            done=existing.message_ids if existing else [],
            record=_Recorder(svc, CHIEF, 0, week.code, chief.id),
        )
    except TelegramError as exc:
        await _failed(svc, CHIEF, 0, week, chief.id, bot=bot, error=exc, label=chief.name)
        return
    except Exception:  # one chief's trouble must not cost the others their digest; retried next run
        logger.exception("digest for chief %s for %s failed", chief.id, week)
        return
    await svc.store.summaries.sent(CHIEF, 0, week.code, chief.id, ids, now=_now())


async def weekly_summaries(context: Context) -> None:
    """The job (hourly, and soon after start): deliver the due week's summaries that are not delivered yet."""
    svc = services(context)
    week = due_week(svc.settings, _now())
    if week is not None:
        await deliver_week(context, week)


# -- /summary ---------------------------------------------------------------------------------------------------


async def _areas_for(svc: Services, person_id: int, admin: bool) -> list[AreaRecord]:
    areas = await svc.store.areas.all()
    if admin:
        return areas
    held = {
        reach.area_id
        for a in await svc.store.assignments.active_for_person(person_id)
        if (reach := await svc.store.reaches.by_id(a.reach_id)) is not None
    }
    return [a for a in areas if a.id in held]


async def _send_summary(context: Context, chat_id: int, area: AreaRecord, week: Week, lang: Language) -> None:
    svc = services(context)
    texts, chart, caption = await _compose(svc, area, week, lang)
    for text in texts:
        await context.bot.send_message(chat_id, text)
    await context.bot.send_photo(chat_id, chart, caption=caption)


def _today(svc: Services) -> date:
    return _now().astimezone(svc.settings.tz).date()


async def summary_command(update: Update, context: Context) -> None:
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
        await _send_summary(context, chat.id, area, last_week(_today(svc)), actor.language)
        return
    person = actor.known
    areas = await _areas_for(svc, person.id, person.is_admin)
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
    allowed = {a.id: a for a in await _areas_for(svc, person.id, person.is_admin)}
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
    await _send_summary(context, chat.id, area, week, lang)


def register(app: Application) -> None:  # type: ignore[type-arg]
    anywhere = filters.UpdateType.MESSAGE & (filters.ChatType.PRIVATE | filters.ChatType.GROUPS)
    app.add_handler(CommandHandler("summary", summary_command, anywhere))
    app.add_handler(CallbackQueryHandler(summary_button, pattern=r"^sm:"))
    jobs = app.job_queue
    if jobs is not None:
        # Hourly, and a few seconds after start: a bot that was down at SUMMARY_TIME catches up once.
        jobs.run_repeating(weekly_summaries, interval=3600, first=30, name="weekly_summaries")
