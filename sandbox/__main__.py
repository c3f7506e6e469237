"""``python -m sandbox``: run the fake Bot API standalone and chat with your bot from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from . import INSTALL_HINT
from .flood import TELEGRAM_LIMITS

try:
    from .server import BotApiServer
except ModuleNotFoundError as missing:  # aiohttp is the `sandbox` extra: one line saying so, not a traceback
    if missing.name != "aiohttp":
        raise
    print(f"python -m sandbox needs aiohttp, which the sandbox extra brings: {INSTALL_HINT}", file=sys.stderr)
    raise SystemExit(2) from None


async def _console(server: BotApiServer, token: str) -> None:
    sandbox = server.sandbox(token)
    person = sandbox.user("Console", username="console_user")
    print(f"Console user id={person.id}. Type a line to send it to the bot privately (Ctrl-D stops typing).")

    async def printer() -> None:
        while True:
            try:
                message = await person.next_message(timeout=3600.0)
            except AssertionError:
                continue
            print(f"<bot> {message.describe()}", flush=True)

    task = asyncio.create_task(printer())
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip():
                await person.send(line.rstrip("\n"))
        await asyncio.Event().wait()  # stdin closed: keep serving until interrupted
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _main(args: argparse.Namespace) -> None:
    server = BotApiServer(flood_limits=TELEGRAM_LIMITS if args.flood else None)
    url = await server.start(args.host, args.port)
    token = server.add_bot(args.username, "Riverbot", token=args.token)
    print(f"Fake Telegram Bot API at {url}")
    print(f"TELEGRAM_API_URL={url} BOT_TOKEN={token}", flush=True)
    try:
        await _console(server, token)
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="use this bot token instead of a generated one")
    parser.add_argument("--username", default="riverbot_test_bot")
    parser.add_argument("--flood", action="store_true", help="answer 429 past Telegram's limits (30/s, 20/min a group)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
