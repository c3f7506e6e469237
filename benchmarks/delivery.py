"""Weekly summaries to 500 area groups under Telegram's flood limits: riverbot's delivery against bare PTB.

`--areas` areas, each with two reaches and a chief, each bound to its own group. The stand-in applies Telegram's
documented limits (30 messages a second overall, 20 a minute in one group) and answers what goes over with 429,
and adds `--rtt` seconds to every call, the round trip from the mainland. riverbot runs with its own settings
(PTB's AIORateLimiter at 30/s and 20/min a group, 5 retries) and its weekly job's `deliver_week` is timed from
the call to its return: checking the records, composing every area's text and chart, sending, recording.
Then every group's messages are checked against its delivery record: all there, once, in order.

The baseline is a bare python-telegram-bot Application with the same AIORateLimiter settings sending the very
same texts and photos (taken from what riverbot sent) to the same chats, every chat at once with its pieces in
order — the way PTB's documentation has a bot push to many chats and lets the limiter pace it. It runs second,
as another bot on the same stand-in, so the two share no flood window.
Target (issue 6): every group gets its summary exactly once, none lost to a 429, near the floor set by 30/s.

What keeps both above the floor is mostly the 429s: AIORateLimiter is a leaky bucket that lets a full second's
worth through at once and then 30 a second, so early on it sends up to twice the limit within one second, and
every 429 holds its send back 1.1 s (for riverbot, one of its areas in flight with it). `--in-flight 1` shows
the one-area-at-a-time delivery this replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackContext, Defaults

from bot import delivery
from bot.app import build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from bot.config import load_settings
from bot.services import Services
from bot.summaries import Week, last_week
from handlers import summaries
from sandbox import TELEGRAM_LIMITS, BotApiServer, Sandbox, SentMessage
from storage import Store
from storage.registry import ReachValues
from storage.summaries import AREA

TELEGRAM_PER_SECOND = TELEGRAM_LIMITS.overall / TELEGRAM_LIMITS.overall_period
# The bot's limiter as bot.app builds it from the default settings: the baseline gets the same.
MAX_RETRIES = 5


@dataclass(frozen=True)
class BoundArea:
    area_id: int
    code: str
    chat_id: int


async def bound_areas(store: Store, sandbox: Sandbox, count: int, *, today: date) -> list[BoundArea]:
    """`count` areas, each with two reaches held by one chief (assigned a month ago, never patrolled: the summary
    names them as behind), each bound to a group of its own. Written straight through the storage repos, in one
    transaction, so that 500 areas take seconds, not the minutes /bind would."""
    starts_on = today - timedelta(days=30)
    areas: list[BoundArea] = []
    async with store.atomic():
        for i in range(count):
            code = f"A{i:03d}"
            area_id, _ = await store.areas.upsert(code, f"Area {i:03d}", f"Area {i:03d}")
            chief = await store.people.create(name=f"Chief {i:03d}", home_area_id=area_id)
            await store.people.grant_role(chief, "chief", level="village")
            for n, level in ((1, "town"), (2, "village")):
                reach, _ = await store.reaches.upsert(
                    ReachValues(
                        f"{code}-{n}", f"River {i:03d}-{n}", f"River {i:03d}-{n}", area_id, level, 2.0, (), None, None
                    )
                )
                await store.assignments.assign(chief, reach, level=level, starts_on=starts_on)
            group = sandbox.group(title=f"Area {i:03d} river chiefs")
            await store.chats.upsert(group.id, type="supergroup", title=group.title, bot_status="member")
            await store.bindings.bind(group.id, area_id, bound_by=None)
            areas.append(BoundArea(area_id, code, group.id))
    return areas


def check_group(sent: list[SentMessage], code: str, record_ids: list[int] | None) -> str | None:
    """What is wrong with one group's messages (None: its summary arrived whole, once, in order, as recorded)."""
    kinds = [m.kind for m in sent]
    if not kinds or kinds.count("photo") != 1 or kinds[-1] != "photo" or set(kinds[:-1]) != {"text"}:
        return f"{code}: got {kinds}"
    texts = [m.text for m in sent[:-1]]
    if len(set(texts)) != len(texts):
        return f"{code}: a text piece twice"
    if f"（{code}）" not in texts[0] and f"({code})" not in texts[0]:
        return f"{code}: the first piece is not its summary"
    if record_ids is not None and record_ids != [m.message_id for m in sent]:
        return f"{code}: record {record_ids} != sent {[m.message_id for m in sent]}"
    return None


@dataclass
class Run:
    name: str
    seconds: float
    messages: int
    refused: int
    problems: list[str]


async def _riverbot(server: BotApiServer, tmp: Path, count: int) -> tuple[Run, dict[int, list[SentMessage]]]:
    token = server.add_bot(username="riverbot_bench_bot")
    settings = load_settings(
        env_file=None,
        bot_token=token,
        telegram_api_url=server.url,
        data_dir=tmp,
        summary_time="mon 00:00",
        log_level="WARNING",
    )
    assert settings.rate_limit_per_second == TELEGRAM_PER_SECOND  # the bot's limiter as shipped
    store = await Store.open(settings.database)
    sandbox = Sandbox(server, token)
    today = datetime.now(settings.tz).date()
    week: Week = last_week(today)
    started = time.perf_counter()
    areas = await bound_areas(store, sandbox, count, today=today)
    print(f"  set up {count} areas, reaches, chiefs and bound groups in {time.perf_counter() - started:.1f}s")
    app = build_application(settings, services=Services.create(settings, store))
    await start_app(app, poll_timeout=2)
    try:
        assert app.job_queue is not None
        for job in app.job_queue.get_jobs_by_name("weekly_summaries"):
            job.schedule_removal()  # the run is started here, and timed; the job's own would only wait on its lock
        started = time.perf_counter()
        await summaries.deliver_week(CallbackContext(app), week)
        seconds = time.perf_counter() - started
        problems: list[str] = []
        sent: dict[int, list[SentMessage]] = {}
        for area in areas:
            sent[area.chat_id] = list(sandbox.state.sent_in_chat(area.chat_id))
            record = await store.summaries.get(AREA, area.area_id, week.code, area.chat_id)
            if record is None or record.status != "sent":
                problems.append(f"{area.code}: record {record.status if record else None}")
            problem = check_group(sent[area.chat_id], area.code, record.message_ids if record else None)
            if problem:
                problems.append(problem)
    finally:
        await stop_app(app)
        await store.close()
    messages = sum(len(m) for m in sent.values())
    refused = sum(1 for r in server.flood.refused if r.token == token)
    return Run("riverbot", seconds, messages, refused, problems), sent


async def _bare(server: BotApiServer, pieces: dict[int, list[SentMessage]]) -> Run:
    token = server.add_bot(username="bare_bench_bot")
    sandbox = Sandbox(server, token)
    for chat_id in pieces:
        sandbox.group(title="bare", chat_id=chat_id)
    app: Application = (  # type: ignore[type-arg]
        ApplicationBuilder()
        .token(token)
        .base_url(f"{server.url}/bot")
        .base_file_url(f"{server.url}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=TELEGRAM_LIMITS.overall,
                overall_time_period=TELEGRAM_LIMITS.overall_period,
                group_max_rate=TELEGRAM_LIMITS.group,
                group_time_period=TELEGRAM_LIMITS.group_period,
                max_retries=MAX_RETRIES,
            )
        )
        .build()
    )
    await app.initialize()
    failed: list[str] = []

    async def push(chat_id: int, messages: list[SentMessage]) -> None:
        try:
            for message in messages:
                if message.kind == "photo":
                    assert message.photo is not None
                    await app.bot.send_photo(chat_id, message.photo, caption=message.html)
                else:
                    await app.bot.send_message(chat_id, message.html or message.text)
        except Exception as exc:  # counted, as riverbot's would be
            failed.append(f"chat {chat_id}: {exc!r}")

    try:
        started = time.perf_counter()
        await asyncio.gather(*(push(chat_id, messages) for chat_id, messages in pieces.items()))
        seconds = time.perf_counter() - started
    finally:
        await app.shutdown()
    problems = list(failed)
    for chat_id, expected in pieces.items():
        got = sandbox.state.sent_in_chat(chat_id)
        if [(m.kind, m.text) for m in got] != [(m.kind, m.text) for m in expected]:
            problems.append(f"chat {chat_id}: got {[m.kind for m in got]}")
    messages = sum(len(sandbox.state.sent_in_chat(chat_id)) for chat_id in pieces)
    refused = sum(1 for r in server.flood.refused if r.token == token)
    return Run("bare PTB", seconds, messages, refused, problems)


async def main(argv: Sequence[str] = ()) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks delivery", description=__doc__)
    parser.add_argument("--areas", type=int, default=500, help="areas, each bound to its own group")
    parser.add_argument("--rtt", type=float, default=0.15, help="seconds the stand-in adds to every call")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=delivery.AREAS_IN_FLIGHT,
        help=f"areas riverbot delivers at once (shipped: {delivery.AREAS_IN_FLIGHT}; 1 is one after another)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    delivery.AREAS_IN_FLIGHT = args.in_flight

    print(
        f"weekly summaries to {args.areas} area groups, stand-in at Telegram's limits"
        f" ({TELEGRAM_LIMITS.overall}/s overall, {TELEGRAM_LIMITS.group}/min a group), {args.rtt * 1000:.0f} ms a call,"
        f" riverbot delivering {args.in_flight} areas at once"
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with BotApiServer(flood_limits=TELEGRAM_LIMITS) as server:
            server.latency = args.rtt
            river, pieces = await _riverbot(server, Path(tmp), args.areas)
            bare = await _bare(server, pieces)

    photos = sum(1 for messages in pieces.values() for m in messages if m.kind == "photo")
    floor = max(river.messages, 1) / TELEGRAM_PER_SECOND
    print(
        f"  {river.messages} messages ({river.messages - photos} texts, {photos} charts); floor at 30/s: {floor:.1f}s"
    )
    for run in (river, bare):
        verdict = "PASS" if not run.problems else f"FAIL ({len(run.problems)}: {'; '.join(run.problems[:3])})"
        print(
            f"  {run.name:9s} {run.seconds:6.1f}s  {run.messages / run.seconds:5.1f} messages/s"
            f"  {run.refused:4d} × 429 answered  {run.seconds / floor:4.2f} × floor  exactly once: {verdict}"
        )
    print(f"  ratio riverbot / bare PTB time = {river.seconds / bare.seconds:.2f}")
    return not river.problems
