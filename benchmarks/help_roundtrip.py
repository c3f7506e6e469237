"""`/help` round trips: riverbot against a bare python-telegram-bot echo bot, both on the same stand-in.

Both bots poll one stand-in server in this process; rounds alternate (riverbot, bare, riverbot, …) so that the
machine's noise falls on both alike, and the medians are compared. A round sends `--updates` /help commands
from `--users` people at once and ends when every answer has arrived. riverbot runs with its rate limiter on
but set above the load, so its cost is measured without throttling; the bare bot has none.
Target (issue 2): riverbot ≥ 0.8 × bare PTB.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from bot.app import build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from bot.config import load_settings
from bot.services import Services
from sandbox import BotApiServer, FakeUser, Sandbox
from storage import Store

TARGET_RATIO = 0.8


# The bare bot answers with a fixed text of the same shape riverbot sends (HTML, same lines), so that the
# stand-in, which runs in this process too, does the same work for both and the ratio is riverbot's own cost.
BARE_HELP = (
    "<b>您可以使用以下功能：</b>\n\n<b>常用</b>\n/start — 开始使用\n/help — 查看可用功能\n"
    "/language — 切换语言 / Language"
)


async def _bare_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(BARE_HELP, parse_mode="HTML")


async def _start_polling(app: Application) -> None:  # type: ignore[type-arg]
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=2, allowed_updates=Update.ALL_TYPES)


async def _stop(app: Application) -> None:  # type: ignore[type-arg]
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


async def _round(sandbox: Sandbox, users: list[FakeUser], updates: int) -> float:
    """Seconds from the first /help sent to the last answer received."""
    per_user = updates // len(users)
    started = time.perf_counter()

    async def one_user(user: FakeUser) -> None:
        for _ in range(per_user):
            await user.send("/help")
        for _ in range(per_user):
            await user.next_message(timeout=60)

    await asyncio.gather(*(one_user(u) for u in users))
    return time.perf_counter() - started


async def main(argv: Sequence[str] = ()) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--updates", type=int, default=600, help="/help commands per round")
    parser.add_argument("--users", type=int, default=30, help="people sending them at once")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per bot (alternating)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        async with BotApiServer() as server:
            river_token = server.add_bot(username="riverbot_bench_bot")
            bare_token = server.add_bot(username="bare_bench_bot")
            settings = load_settings(
                env_file=None,
                bot_token=river_token,
                telegram_api_url=server.url,
                data_dir=Path(tmp),
                rate_limit_per_second=1_000_000,
                rate_limit_group_per_minute=1_000_000,
                log_level="WARNING",
            )
            store = await Store.open(settings.database)
            riverbot = build_application(settings, services=Services.create(settings, store))
            bare = (
                ApplicationBuilder()
                .token(bare_token)
                .base_url(f"{server.url}/bot")
                .base_file_url(f"{server.url}/file/bot")
                # riverbot processes up to 16 updates at once (one at a time per chat): the same for the baseline.
                .concurrent_updates(16)
                .build()
            )
            bare.add_handler(CommandHandler("help", _bare_help))
            await start_app(riverbot, poll_timeout=2)
            await _start_polling(bare)
            try:
                worlds = {"riverbot": Sandbox(server, river_token), "bare PTB": Sandbox(server, bare_token)}
                people = {
                    name: [w.user(first_name=f"用户{i}", language_code="zh-hans") for i in range(args.users)]
                    for name, w in worlds.items()
                }
                # warm-up: people exist in the store, connections are open
                for name, world in worlds.items():
                    await _round(world, people[name], args.users)
                timings: dict[str, list[float]] = {name: [] for name in worlds}
                for _ in range(args.rounds):
                    for name, world in worlds.items():
                        timings[name].append(await _round(world, people[name], args.updates))
            finally:
                await _stop(bare)
                await stop_app(riverbot)
                await store.close()

    rates = {name: args.updates / statistics.median(t) for name, t in timings.items()}
    ratio = rates["riverbot"] / rates["bare PTB"]
    print(f"/help round trips: {args.updates} per round from {args.users} people, {args.rounds} rounds each")
    for name, t in timings.items():
        print(f"  {name:9s} median {rates[name]:7.0f} updates/s   rounds: " + " ".join(f"{x:.2f}s" for x in t))
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"  ratio riverbot / bare PTB = {ratio:.2f}  ({verdict} the ≥ {TARGET_RATIO} target)")
    return bool(ratio >= TARGET_RATIO)
