"""Webhook mode against the stand-in: Telegram (the stand-in) pushes each update to the bot, which answers 200 only
once the inbox keeps it; a push without the secret is refused; a storage failure makes Telegram push again."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from bot.app import build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from sandbox import BotApiServer, Sandbox
from tests.cli import RIVERBOT, cli_env
from tests.conftest import BotFactory, Harness, ReadOnly

SECRET = "s3cret-Webhook_token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _webhook_bot(bot_factory: BotFactory) -> tuple[Harness, str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/riverbot/telegram"
    bot = await bot_factory(webhook_url=url, webhook_listen=f"127.0.0.1:{port}", webhook_secret=SECRET)
    return bot, url


async def test_start_is_answered_in_webhook_mode(bot_factory: BotFactory, server: BotApiServer) -> None:
    bot, url = await _webhook_bot(bot_factory)
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await zhang.send("/start")
    assert "河长制工作助手" in (await zhang.next_message()).text
    (set_webhook,) = server.calls_to("setWebhook")
    assert set_webhook.params["url"] == url and set_webhook.params["secret_token"] == SECRET
    assert "message" in set_webhook.params["allowed_updates"]
    assert not server.calls_to("getUpdates") and not server.calls_to("deleteWebhook")
    assert [p.status for p in bot.sandbox.state.pushes] == [200]
    await bot.sandbox.wait_consumed()
    assert await bot.services.inbox.settle()
    assert (await bot.store.inbox.figures()).waiting == 0
    assert not bot.errors()


async def test_getupdates_conflicts_while_the_webhook_is_set(bot_factory: BotFactory) -> None:
    bot, _ = await _webhook_bot(bot_factory)
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{bot.server.url}/bot{bot.settings.token}/getUpdates")
        info = await client.post(f"{bot.server.url}/bot{bot.settings.token}/getWebhookInfo")
    assert answer.status_code == 409 and "webhook is active" in answer.json()["description"]
    assert info.json()["result"]["url"].endswith("/riverbot/telegram")


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_stored(bot_factory: BotFactory) -> None:
    bot, url = await _webhook_bot(bot_factory)
    forged = {
        "update_id": 999_001,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 4242, "type": "private", "first_name": "伪"},
            "from": {"id": 4242, "is_bot": False, "first_name": "伪"},
            "text": "/start",
        },
    }
    async with httpx.AsyncClient() as client:
        wrong = await client.post(url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1] + "X"})
        missing = await client.post(url, json=forged)
        elsewhere = await client.post(url.replace("/telegram", "/other"), json=forged)
    assert (wrong.status_code, missing.status_code, elsewhere.status_code) == (403, 403, 404)
    figures = await bot.store.inbox.figures()
    assert figures.waiting == 0 and figures.last_update_id is None  # not one row
    assert not bot.sandbox.state.sent


async def test_a_storage_failure_at_the_webhook_is_pushed_again_and_nothing_is_lost(
    bot_factory: BotFactory, database_read_only: ReadOnly
) -> None:
    bot, _ = await _webhook_bot(bot_factory)
    await database_read_only(bot.store, True)  # the database refuses every write
    users = [bot.sandbox.user(first_name=name, language_code="zh-hans") for name in ("甲", "乙", "丙")]
    for user in users:
        await user.send("/start")
    state = bot.sandbox.state
    await bot.sandbox.wait_until(lambda: sum(p.status == 503 for p in state.pushes) >= 3, timeout=20)
    assert all(p.status == 503 for p in state.pushes)  # the first update, pushed again and again, none after it
    assert len(state.pending) == 3
    # The one whose update was refused hears, once, that it waits unsaved, to be handled without sending again.
    assert "无需重新发送" in (await users[0].next_message(timeout=20)).text
    await database_read_only(bot.store, False)
    for user in users:
        assert "河长制工作助手" in (await user.next_message(timeout=20)).text
    await bot.sandbox.wait_consumed(timeout=20)
    assert [p.status for p in state.pushes if p.status == 200] == [200, 200, 200]
    assert await bot.services.inbox.settle()
    assert (await bot.store.inbox.figures()).waiting == 0


async def test_a_restart_in_webhook_mode_keeps_the_webhook_and_what_came_meanwhile(
    bot_factory: BotFactory, server: BotApiServer
) -> None:
    bot, url = await _webhook_bot(bot_factory)
    assert bot.settings.webhook is not None and bot.settings.webhook.path == "/riverbot/telegram"
    zhang = bot.sandbox.user(first_name="张三", language_code="zh-hans")
    await stop_app(bot.app)
    assert bot.sandbox.state.webhook["url"] == url  # stopping never deletes the webhook
    await zhang.send("/start")  # while the bot is down: Telegram keeps it
    restarted = build_application(bot.settings, services=bot.services)
    await start_app(restarted)
    try:
        bot.sandbox.watch(restarted.work)
        assert "河长制工作助手" in (await zhang.next_message()).text
        await bot.sandbox.wait_consumed()
    finally:
        await stop_app(restarted)
    assert not server.calls_to("deleteWebhook") and not server.calls_to("getUpdates")
    assert len(server.calls_to("setWebhook")) == 2


# -- `riverbot run` in webhook mode, as a service runs it ------------------------------------------------------


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return cli_env(tmp_path, **settings)


async def test_riverbot_run_in_webhook_mode_answers_and_stops_cleanly(tmp_path: Path, server: BotApiServer) -> None:
    token = server.add_bot(username="riverbot_webhook_bot")
    sandbox = Sandbox(server, token)
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT,
        "run",
        cwd=tmp_path,
        env=_env(
            tmp_path,
            BOT_TOKEN=token,
            TELEGRAM_API_URL=server.url,
            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
            WEBHOOK_SECRET=SECRET,
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        zhang = sandbox.user(first_name="张三", language_code="zh-hans")
        await zhang.send("/start")
        answered = await zhang.next_message(timeout=30)
    finally:
        if process.returncode is None:
            process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert "河长制工作助手" in answered.text
    assert process.returncode == 0 and "Traceback" not in err.decode(), err.decode()
    assert not server.calls_to("getUpdates") and not server.calls_to("deleteWebhook")
    assert sandbox.state.webhook["url"] == f"http://127.0.0.1:{port}/hook"


@pytest.mark.parametrize("secret", [None, "short"], ids=["missing", "short"])
async def test_webhook_mode_without_a_proper_secret_is_a_bad_setting(tmp_path: Path, secret: str | None) -> None:
    settings = {"WEBHOOK_URL": "https://bot.example.gov.cn/riverbot/telegram", "DEFAULT_LANGUAGE": "en"}
    if secret is not None:
        settings["WEBHOOK_SECRET"] = secret
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT,
        "run",
        cwd=tmp_path,
        env=_env(tmp_path, BOT_TOKEN="123456789:" + "E" * 35, **settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, raw = await asyncio.wait_for(process.communicate(), timeout=60)
    err = raw.decode()
    assert process.returncode == 2 and err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert "WEBHOOK_SECRET" in err and (secret is None or secret not in err)


@pytest.mark.parametrize("length", ["²", "1e3", "-1", " 12x"])
async def test_a_malformed_content_length_is_a_bad_request_not_a_crash(bot_factory: BotFactory, length: str) -> None:
    """Header bytes are read as Latin-1, where "²" counts as a digit for str.isdigit but not for int()."""
    bot, url = await _webhook_bot(bot_factory)
    parts = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parts.host, parts.port)
    request = (
        f"POST {parts.raw_path.decode()} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n\r\n"
    )
    writer.write(request.encode("latin-1"))
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), timeout=30)
    writer.close()
    assert status.startswith(b"HTTP/1.1 400")
    assert bot.errors() == []
