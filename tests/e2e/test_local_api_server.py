"""A self-hosted Bot API server in `--local` mode (issue 14): getFile answers an absolute path on the server's disk
and the server serves no file downloads, so the bot (TELEGRAM_API_LOCAL=true) reads the file from disk.

The stand-in plays such a server: it writes each file under its `--dir` when asked for it, answers that absolute
path, and refuses `/file/` downloads as the real one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import BotApiServer
from sandbox.methods import METHODS, Context
from tests.conftest import BotFactory
from tests.factories import make_jpeg
from tests.support import report, seed, started_admin, volunteer


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[BotApiServer]:
    """The stand-in as `telegram-bot-api --local --dir=<tmp>/bot-api`."""
    async with BotApiServer(local_dir=tmp_path / "bot-api") as running:
        yield running


async def test_a_photo_report_reads_the_local_servers_file_from_disk(
    bot_factory: BotFactory, server: BotApiServer, tmp_path: Path
) -> None:
    bot = await bot_factory(telegram_api_local=True)
    await seed(bot.store)
    await started_admin(bot)
    reporter = bot.sandbox.user(first_name="王芳")
    await volunteer(bot, reporter, "王芳")
    filed = await report(bot, reporter)
    assert "问题已提交" in filed.text

    (get_file,) = [call for call in server.calls if call.method == "getFile"]
    served = Path(get_file.response["result"]["file_path"])
    assert served.is_absolute() and served.is_relative_to(tmp_path / "bot-api")
    (photo,) = await bot.store.problems.photos(1)
    kept = bot.settings.data_dir / photo.path
    assert await asyncio.to_thread(kept.read_bytes) == await asyncio.to_thread(served.read_bytes)
    # The real server in --local mode serves no downloads, and neither does the stand-in: the bot read the disk.
    async with httpx.AsyncClient() as client:
        relative = served.relative_to(tmp_path / "bot-api" / bot.sandbox.token)
        answer = await client.get(f"{server.url}/file/bot{bot.sandbox.token}/{relative}")
    assert answer.status_code == 404
    assert bot.errors() == []


async def test_a_local_servers_file_the_bot_cannot_see_is_named_in_the_log(
    bot_factory: BotFactory, server: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot runs where the server's --dir is not mounted (another machine, another container): the log says
    which path is missing and what to do, instead of a download that a local server cannot answer."""
    name, get_file = METHODS["getfile"]

    async def elsewhere(ctx: Context) -> Any:
        answer = await get_file(ctx)
        # Written on the server's disk, which the bot does not see.
        await asyncio.to_thread(Path(answer["file_path"]).unlink)
        return answer

    monkeypatch.setitem(METHODS, "getfile", (name, elsewhere))
    bot = await bot_factory(telegram_api_local=True)
    await seed(bot.store)
    reporter = bot.sandbox.user(first_name="王芳")
    await volunteer(bot, reporter, "王芳")
    await reporter.send("/report")
    await reporter.next_message()
    await reporter.send_photo(make_jpeg(1600, 1200, seed=3))
    await reporter.next_message()  # the person hears that something went wrong
    (record,) = bot.errors()
    text = record.getMessage() + str(record.exc_info[1] if record.exc_info else "")
    # Before, PTB tried a download the local server cannot answer (404), and called it a rejected token.
    assert "TELEGRAM_API_LOCAL" in text and str(server.local_dir) in text and "InvalidToken" not in text, text
