"""Weekly delivery, exactly once: each bound group its area's summary, each chief a private digest.

Delivery records (storage.summaries) make it exactly once: a (area, week, chat) or (chief, week) that is sent,
given up or skipped is never sent again, so the job may run any number of times (hourly, and at start) and a
restart past SUMMARY_TIME sends the missed week once. A summary in several messages records each one sent, so
a retry resumes after the last. A failed send is retried later (RETRY_DELAYS); after MAX_ATTEMPTS the admins
are told, once. 429s seldom reach here: PTB's rate limiter waits and retries them; one that outlasts its retries
is a failed send like any other, retried from the next piece. The weekly run delivers AREAS_IN_FLIGHT areas at
once, so that it is bound by Telegram's rate limit rather than by the round trip.

The engine sends through a `Sender` (the weekly job, /summary and `riverbot summary --send` each hand it one
that wraps PTB's Bot: handlers.sending), so nothing here knows Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol, TypeVar

from bot.chats import GONE, ChatService
from bot.config import Language, Settings
from bot.i18n import Locales
from bot.mapviews import MapService
from bot.people import PeopleService, Person
from bot.rankings import RANKING_LEVELS, Ranking
from bot.summaries import (
    AreaSummary,
    ChiefDigest,
    SummaryService,
    Week,
    chart_caption,
    chart_jpeg,
    digest_text,
    last_week,
    running_done,
    split_messages,
    summary_text,
    week_dates,
)
from bot.todo import Action, digest_actions
from storage import Store
from storage.records import AreaRecord
from storage.summaries import AREA, CHIEF, OverdueProblem

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds to wait before the 2nd, 3rd, … attempt; after MAX_ATTEMPTS failures the admins are told.
RETRY_DELAYS: tuple[int, ...] = (60, 300, 900, 3600)
MAX_ATTEMPTS = 5
# Areas delivered at once by the weekly run. One area's pieces go out one after another (text, then chart, in
# order), so one area at a time is bound by the round trip (0.15 s from the mainland; a chart upload twice that):
# 3 to 7 messages a second, against Telegram's 30. Keeping the rate limiter busy at 30 a second takes
# 30 × 0.3 s ≈ 9 sends in flight; 12 leaves room for slower uploads and for composing a chart (a thread each).
# More would only queue inside the rate limiter, and would take connections from the pool (16, bot.app) that
# people's updates need while the run goes on.
AREAS_IN_FLIGHT = 12
# /summary in a group: one summary per group per this many seconds. A summary is several messages with a chart,
# and a group may take about 20 messages a minute: 40 members asking at once would hold the group for minutes.
GROUP_SUMMARY_COOLDOWN = 600
# Who runs the weekly delivery when several workers share the store: held while it runs. On PostgreSQL a worker
# that dies mid-run (or `riverbot run` killed and started again) lets go at once; on SQLite's shared mode (tests)
# the lease is renewed every third of this, and a holder that dies lets go within this many seconds.
WEEKLY_LEASE = "delivery:weekly"
WEEKLY_LEASE_SECONDS = 300

Failure = Literal["flood", "forbidden", "other"]


class Sender(Protocol):
    """What delivery needs of a bot: send, get the message id back, and say which errors are failed sends."""

    async def send_message(self, chat_id: int, text: str, *, actions: Sequence[Action] = ()) -> int:
        """Send `text`, with a button for each of `actions` (a chief's to-do items: `bot.todo`)."""
        ...

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str) -> int: ...

    def failure(self, error: Exception) -> Failure | None:
        """The kind of failed send `error` is (flood 429, forbidden 403, other); None when it is no failed send
        at all (a bug, the store failing), which delivery lets through."""
        ...


@dataclass(frozen=True, slots=True)
class GroupAsk:
    """The answer to /summary in a group: send it, or tell the asker to wait (once per cooldown), or say nothing."""

    send: bool
    tell_wait_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Composed:
    """An area's summary as it is sent: the texts, in order, then the chart with its caption, then the area's
    map with its own (None when nothing in the area is mapped, or drawing it failed).

    The map is a photo of its own after the chart rather than an album with it: each piece is one send with one
    message id, so a retry resumes after the last piece sent, as for the texts, and an album's caption would
    show under one picture only."""

    texts: list[str]
    chart: bytes
    caption: str
    map: bytes | None = None
    map_caption: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


def due_week(settings: Settings, now: datetime) -> Week | None:
    """The week whose summary is due at `now`: last week, once this week's SUMMARY_TIME has passed; else None."""
    local = now.astimezone(settings.tz)
    monday = local.date() - timedelta(days=local.weekday())
    at = datetime.combine(monday + timedelta(days=settings.summary_time.weekday), settings.summary_time.at, settings.tz)
    return last_week(local.date()) if local >= at else None


def next_summary_at(settings: Settings, now: datetime) -> datetime:
    """When the weekly run next sends (local time): this week's SUMMARY_TIME if it is still ahead, else next
    week's. The run is hourly, so the summaries go out within the hour after it."""
    local = now.astimezone(settings.tz)
    monday = local.date() - timedelta(days=local.weekday())
    at = datetime.combine(monday + timedelta(days=settings.summary_time.weekday), settings.summary_time.at, settings.tz)
    return at if local < at else datetime.combine(at.date() + timedelta(days=7), at.timetz())


def may_try(status: str | None, next_attempt_at: datetime | None, now: datetime) -> bool:
    """Whether a delivery may be attempted now: never tried, or pending and its retry is due."""
    if status is None:
        return True
    if status != "pending":
        return False  # sent, given up, or skipped: never again
    return next_attempt_at is None or next_attempt_at <= now


def retry_delay(attempts: int) -> int | None:
    """Seconds until the next attempt after `attempts` failures; None: give up (and tell the admins)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]


async def in_flight(items: list[T], deliver: Callable[[T], Awaitable[None]]) -> None:
    """`deliver` each item, AREAS_IN_FLIGHT at a time. `deliver` must not raise: gather would not cancel the
    other workers, which would go on sending after the caller has let go of the lock."""
    queue = iter(items)  # shared by the workers: each item is taken by exactly one

    async def worker() -> None:
        for item in queue:
            await deliver(item)

    await asyncio.gather(*(worker() for _ in range(min(AREAS_IN_FLIGHT, len(items)))))


class _Recorder:
    def __init__(self, store: Store, kind: str, area_id: int, week: str, target: int) -> None:
        self.store, self.kind, self.area_id, self.week, self.target = store, kind, area_id, week, target

    async def __call__(self, ids: list[int]) -> None:
        await self.store.summaries.progress(self.kind, self.area_id, self.week, self.target, ids, now=_now())


async def _send_pieces(
    sender: Sender,
    chat_id: int,
    *,
    texts: list[str],
    chart: bytes | None,
    caption: str,
    done: list[int],
    record: _Recorder,
    pictures: tuple[tuple[bytes, str], ...] = (),
    actions: Sequence[Action] = (),
) -> list[int]:
    """Send what is not sent yet (`done`: message ids of the pieces already sent), recording each one: the
    texts, the chart, then further `pictures` (the area's map), each with its caption. The last text piece
    carries the `actions`' buttons."""
    ids = list(done)
    pieces: list[str | tuple[bytes, str]] = list(texts)
    if chart is not None:
        pieces.append((chart, caption))
    pieces += pictures
    last_text = len(texts) - 1
    for index, piece in enumerate(pieces):
        if index < len(ids):
            continue
        if isinstance(piece, tuple):
            ids.append(await sender.send_photo(chat_id, piece[0], caption=piece[1]))
        elif index == last_text and actions:
            ids.append(await sender.send_message(chat_id, piece, actions=actions))
        else:
            ids.append(await sender.send_message(chat_id, piece))
        await record(ids)
    return ids


class Delivery:
    """The weekly run, one area's delivery (also `riverbot summary --send`), and /summary's unrecorded send."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        locales: Locales,
        people: PeopleService,
        chats: ChatService,
        summaries: SummaryService,
        maps: MapService | None = None,
    ) -> None:
        self._maps = maps
        self._store = store
        self._settings = settings
        self._locales = locales
        self._people = people
        self._chats = chats
        self._summaries = summaries
        # One weekly run at a time: the hourly job and a catch-up at start must not send the same week twice.
        # Across workers sharing the store, a lease in the store says the same (`deliver_week`).
        self._lock = asyncio.Lock()

    async def ask_in_group(self, chat_id: int, asker_id: int, *, now: datetime | None = None) -> GroupAsk:
        """/summary in a group: the first ask in a cooldown is sent; a later one is refused, briefly told once.

        The cooldowns are marks in the store, not this process's memory: the group's next /summary may be taken
        by another worker, and a restart no longer lets one more through."""
        now = now or _now()
        marks = self._store.marks
        group = f"summary:group:{chat_id}"
        if await marks.take(group, GROUP_SUMMARY_COOLDOWN, now=now):
            return GroupAsk(send=True)
        # Per (group, asker): one answer each, not a flood.
        if not await marks.take(f"summary:told:{chat_id}:{asker_id}", GROUP_SUMMARY_COOLDOWN, now=now):
            return GroupAsk(send=False)
        mark = await marks.get(group, now=now)
        wait = (mark.expires_at - now).total_seconds() if mark is not None and mark.expires_at is not None else 0
        return GroupAsk(send=False, tell_wait_minutes=max(1, math.ceil(wait / 60)))

    def _today(self) -> date:
        return _now().astimezone(self._settings.tz).date()

    def due_week(self, now: datetime | None = None) -> Week | None:
        return due_week(self._settings, now or _now())

    async def first_summary(self, area: AreaRecord, chat_id: int, *, new: bool = True) -> tuple[datetime, Week]:
        """A group was just bound to `area`: when its first summary comes, and of which week. The week already
        due is not sent to it: the group was not there for it, and a first report of a week nobody in it saw
        (often "—") reads as broken."""
        now = _now()
        week = due_week(self._settings, now)
        if new and week is not None and await self._store.summaries.get(AREA, area.id, week.code, chat_id) is None:
            await self._store.summaries.skipped(AREA, area.id, week.code, chat_id, reason="bound after due", now=now)
        at = next_summary_at(self._settings, now)
        return at, last_week(at.date())

    async def compose(
        self, area: AreaRecord, week: Week, lang: Language, summary: AreaSummary | None = None
    ) -> Composed:
        if summary is None:
            summary = await self._summaries.area_summary(area, week, self._today())
        texts = split_messages(summary_text(summary, self._locales, lang))
        chart = await asyncio.to_thread(chart_jpeg, summary, self._locales, lang)
        picture, caption = await self._area_map(summary, lang)
        return Composed(texts, chart, chart_caption(summary, self._locales, lang), picture, caption)

    async def _area_map(self, summary: AreaSummary, lang: Language) -> tuple[bytes | None, str]:
        """The area's map and its caption; (None, "") when nothing is mapped or it cannot be drawn (the summary
        goes out without it rather than not at all)."""
        if self._maps is None:
            return None, ""
        area = summary.area.name(lang)
        period = week_dates(summary.week, self._locales, lang)
        try:
            picture = await self._maps.area_map(
                summary.area.id,
                area=area,
                period=period,
                rates={r.reach_id: (r.rate.done, r.rate.required) for r in summary.patrols.reaches},
                running=running_done(summary),
                lang=lang,
                today=_now().astimezone(self._settings.tz).date(),
            )
        except Exception:
            logger.warning("Could not draw the map of area %s", summary.area.code, exc_info=True)
            return None, ""
        if picture is None:
            return None, ""
        return picture, self._locales.t(lang, "map.area_caption", area=area, period=period)

    async def send_summary(self, sender: Sender, chat_id: int, area: AreaRecord, week: Week, lang: Language) -> None:
        """/summary on demand: the texts and the chart, not recorded (the weekly delivery still goes out)."""
        composed = await self.compose(area, week, lang)
        for text in composed.texts:
            await sender.send_message(chat_id, text)
        await sender.send_photo(chat_id, composed.chart, caption=composed.caption)
        if composed.map is not None:
            await sender.send_photo(chat_id, composed.map, caption=composed.map_caption)

    async def deliver_week(self, sender: Sender, week: Week) -> None:
        """Every bound group its area's summary of `week`, every chief their digest: each at most once.

        With workers sharing the store, one runs it and the others skip (the leader runs jobs, but a leader that
        lost its lock may still be sending): records are checked before each send, not held, so two runs at once
        could send a summary twice."""
        async with self._lock:
            if not self._store.shared:
                await self._deliver_week(sender, week)
                return
            async with self._store.marks.lease(WEEKLY_LEASE, WEEKLY_LEASE_SECONDS) as mine:
                if not mine:
                    logger.info("the weekly delivery of %s runs on another worker", week)
                    return
                await self._deliver_week(sender, week)

    async def _deliver_week(self, sender: Sender, week: Week) -> None:
        areas = await self._store.areas.all()
        waiting = [area for area in areas if await self._has_waiting(area, week)]
        # Many areas at once (the weekly run): their figures from one query each, not one per area.
        composed = await self._summaries.week_summaries(week, self._today()) if len(waiting) > 2 else {}

        async def one_area(area: AreaRecord) -> None:
            try:
                await self.deliver_area(sender, area, week, summary=composed.get(area.id))
            except Exception:  # one area's trouble must not cost every later area its summary
                logger.exception("summary of area %s for %s failed", area.code, week)

        await in_flight(waiting, one_area)
        await self._deliver_digests(sender, week)

    async def _has_waiting(self, area: AreaRecord, week: Week) -> bool:
        """Whether a bound group of the area still waits for (or is due to retry) this week's summary."""
        now = _now()
        for binding in await self._store.bindings.for_area(area.id):
            existing = await self._store.summaries.get(AREA, area.id, week.code, binding.chat_id)
            if may_try(existing.status if existing else None, existing.next_attempt_at if existing else None, now):
                return True
        return False

    async def deliver_area(
        self, sender: Sender, area: AreaRecord, week: Week, *, summary: AreaSummary | None = None
    ) -> tuple[list[int], list[int]]:
        """The area's summary of `week` to each of its bound groups not yet delivered (or due for a retry),
        recording each delivery; returns (chats sent to now, chats whose send failed)."""
        sent: list[int] = []
        failed: list[int] = []
        bindings = await self._store.bindings.for_area(area.id)
        composed: dict[Language, Composed] = {}
        for binding in bindings:
            chat_id = binding.chat_id
            existing = await self._store.summaries.get(AREA, area.id, week.code, chat_id)
            now = _now()
            if not may_try(existing.status if existing else None, existing.next_attempt_at if existing else None, now):
                continue
            chat = await self._store.chats.get(chat_id)
            if chat is not None and chat.bot_status in GONE:
                await self._store.summaries.skipped(
                    AREA, area.id, week.code, chat_id, reason="bot not in chat", now=now
                )
                continue
            lang = await self._chats.language(chat_id)
            try:
                if lang not in composed:
                    composed[lang] = await self.compose(area, week, lang, summary)
                pieces = composed[lang]
                ids = await _send_pieces(
                    sender,
                    chat_id,
                    texts=pieces.texts,
                    chart=pieces.chart,
                    caption=pieces.caption,
                    done=existing.message_ids if existing else [],
                    record=_Recorder(self._store, AREA, area.id, week.code, chat_id),
                    pictures=((pieces.map, pieces.map_caption),) if pieces.map is not None else (),
                )
            except Exception as exc:
                if sender.failure(exc) is None:
                    raise
                await self._failed(sender, AREA, area.id, week, chat_id, error=exc, label=area.code)
                failed.append(chat_id)
                continue
            await self._store.summaries.sent(AREA, area.id, week.code, chat_id, ids, now=_now())
            sent.append(chat_id)
            logger.info("summary of %s for %s sent to chat %s", area.code, week, chat_id)
        return sent, failed

    async def _deliver_digests(self, sender: Sender, week: Week) -> None:
        """Each started chief their digest, AREAS_IN_FLIGHT at once: a city has some 20,000 chiefs, and one after
        another at a round trip each would take most of an hour where the rate limit allows about eleven
        minutes."""
        today = _now().astimezone(self._settings.tz).date()
        chiefs = [chief for chief in await self._people.chiefs() if chief.active and chief.reachable]
        ranking = None
        if any(chief.chief_level in RANKING_LEVELS for chief in chiefs):
            ranking = await self._summaries.town_ranking(week)  # once for all of them

        async def one_chief(chief: Person) -> None:
            ranked = ranking if chief.chief_level in RANKING_LEVELS else None
            try:
                await self._deliver_digest(sender, chief, week=week, today=today, ranking=ranked)
            except Exception:  # e.g. the store failing to record it: the other chiefs still get theirs; next run
                logger.exception("digest for chief %s for %s failed", chief.id, week)

        await in_flight(chiefs, one_chief)

    async def _deliver_digest(
        self, sender: Sender, chief: Person, *, week: Week, today: date, ranking: Ranking | None = None
    ) -> None:
        assert chief.telegram_id is not None
        existing = await self._store.summaries.get(CHIEF, 0, week.code, chief.id)
        now = _now()
        if not may_try(existing.status if existing else None, existing.next_attempt_at if existing else None, now):
            return
        lang = chief.language
        try:
            digest = await self._summaries.chief_digest(chief.id, chief.name, week, today, ranking)
            nothing_ranked = ranking is None or ranking.empty  # a Ranking is truthy even when empty
            if not digest.progress and not digest.assigned and not digest.rate.required and nothing_ranked:
                await self._store.summaries.skipped(CHIEF, 0, week.code, chief.id, reason="nothing to report", now=now)
                return
            ids = await _send_pieces(
                sender,
                chief.telegram_id,
                texts=split_messages(digest_text(digest, self._locales, lang)),
                chart=None,
                caption="",
                done=existing.message_ids if existing else [],
                record=_Recorder(self._store, CHIEF, 0, week.code, chief.id),
                actions=digest_actions(self._locales, lang, await self._waiting(chief, digest), digest.progress),
            )
        except Exception as exc:
            if sender.failure(exc) is not None:
                await self._failed(sender, CHIEF, 0, week, chief.id, error=exc, label=chief.name)
            else:  # one chief's trouble must not cost the others their digest; retried next run
                logger.exception("digest for chief %s for %s failed", chief.id, week)
            return
        await self._store.summaries.sent(CHIEF, 0, week.code, chief.id, ids, now=_now())

    async def _waiting(self, chief: Person, digest: ChiefDigest) -> list[OverdueProblem]:
        """The digest's problems that wait for the chief to rectify (not those rectified and waiting for the
        office): the ones its rectify buttons are for."""
        waiting = {problem.id for problem in await self._store.problems.assigned_to(chief.id)}
        return [problem for problem in digest.assigned if problem.id in waiting]

    async def _failed(
        self, sender: Sender, kind: str, area_id: int, week: Week, target: int, *, error: Exception, label: str
    ) -> None:
        now = _now()
        existing = await self._store.summaries.get(kind, area_id, week.code, target)
        attempts = (existing.attempts if existing else 0) + 1
        delay = retry_delay(attempts)
        record = await self._store.summaries.failed(
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
            and await self._store.summaries.mark_reported(kind, area_id, week.code, target, now=now)
        ):
            area = await self._store.areas.by_id(area_id)
            for admin_chat in await self._people.office_chat_ids(area_id):
                admin = await self._people.find(admin_chat)
                lang = admin.language if admin else self._settings.default_language
                shown = area.name(lang) if area is not None else label
                try:
                    await sender.send_message(
                        admin_chat,
                        self._locales.t(
                            lang,
                            "summary.failed_admin",
                            area=shown,
                            code=area.code if area is not None else label,
                            week=week_dates(week, self._locales, lang),
                            chat=target,
                            attempts=record.attempts,
                            error=record.last_error or "",
                        ),
                    )
                except Exception as exc:
                    if sender.failure(exc) is None:
                        raise
                    logger.warning("could not tell admin %s that a summary failed", admin_chat, exc_info=True)

    # -- /summary's choices ------------------------------------------------------------------------------------

    async def areas_for(
        self, person_id: int, *, admin: bool, within: frozenset[int] | None = None
    ) -> list[AreaRecord]:
        """The areas whose summary this person may ask for: an admin's scope (`within`; None: all), else the
        areas of their reaches."""
        areas = await self._store.areas.all()
        if admin:
            return areas if within is None else [a for a in areas if a.id in within]
        held = {
            reach.area_id
            for a in await self._store.assignments.active_for_person(person_id)
            if (reach := await self._store.reaches.by_id(a.reach_id)) is not None
        }
        return [a for a in areas if a.id in held]

    async def area_by_code(self, code: str) -> AreaRecord | None:
        return await self._store.areas.by_code(code)

    async def has_groups(self, area: AreaRecord) -> bool:
        return bool(await self._store.bindings.for_area(area.id))
