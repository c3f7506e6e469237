"""The `riverbot` command as an operator runs it: a real process, the stand-in as Telegram."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.config import masked_url
from sandbox import BotApiServer, Sandbox
from tests.cli import RIVERBOT, cli_env, run_cli
from tests.conftest import TEST_ENGINE
from tests.postgres import scratch_database, with_password


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return cli_env(tmp_path, **settings)


async def _run(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    return await run_cli(tmp_path, *args, env=_env(tmp_path, **settings))


async def test_run_without_a_token_explains_how_to_get_one(tmp_path: Path) -> None:
    code, _, err = await _run(tmp_path, "run", DEFAULT_LANGUAGE="en")
    assert code == 2
    assert "BOT_TOKEN is not set" in err and "@BotFather" in err
    assert "Traceback" not in err


async def test_bad_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    code, _, err = await _run(tmp_path, "run", TIMEZONE="Asia/Shangai", BOT_TOKEN="123456789:" + "A" * 35)
    assert code == 2 and err.strip().count("\n") == 0 and "TIMEZONE" in err
    code, _, err = await _run(tmp_path, "run", BOT_TOKEN="123:abc")
    assert code == 2 and "BOT_TOKEN" in err and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = await _run(tmp_path, "run", BOT_TOKEN="123456789:" + "A" * 35, DATA_DIR=str(blocker / "data"))
    assert code == 2 and "DATA_DIR" in err and "Traceback" not in err


async def test_token_rejected_by_telegram(tmp_path: Path, server: BotApiServer) -> None:
    code, _, err = await _run(
        tmp_path, "run", BOT_TOKEN="123456789:" + "B" * 35, TELEGRAM_API_URL=server.url, DEFAULT_LANGUAGE="en"
    )
    assert code == 2 and "rejected BOT_TOKEN" in err and "Traceback" not in err


async def test_migrate_and_config(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        if TEST_ENGINE == "postgresql":  # a new, empty database, as a new SQLite file is
            url = await stack.enter_async_context(scratch_database())
            settings = {"DATABASE_URL": with_password(url)}
            shown = masked_url(settings["DATABASE_URL"])
        else:
            settings, shown = {}, str(tmp_path / "data" / "riverbot.sqlite3")
        code, out, _ = await _run(tmp_path, "migrate", DEFAULT_LANGUAGE="en", **settings)
        assert code == 0 and "upgraded to version" in out and shown in out
        code, out, _ = await _run(tmp_path, "migrate", DEFAULT_LANGUAGE="en", **settings)
        assert code == 0 and "up to date" in out and shown in out
        token = "123456789:" + "C" * 35
        code, out, _ = await _run(tmp_path, "config", BOT_TOKEN=token, ADMIN_IDS="5,4", **settings)
        assert code == 0 and "BOT_TOKEN=123456789:****" in out and token not in out and "ADMIN_IDS=4,5" in out
        if settings:  # the URL's password is never shown
            secret = urlsplit(settings["DATABASE_URL"]).password
            assert f"DATABASE_URL={shown}" in out and ":****@" in shown and f":{secret}@" not in out


async def test_a_database_server_out_of_reach_is_one_line(tmp_path: Path) -> None:
    nowhere = f"postgresql://riverbot:s3cret@/riverbot?host={tmp_path / 'no-server'}"
    for command in ("migrate", "failures", "backup"):
        code, _, err = await _run(tmp_path, command, DEFAULT_LANGUAGE="en", DATABASE_URL=nowhere)
        assert code == 2 and "Traceback" not in err and err.strip().count("\n") == 0, err
        assert "cannot be reached" in err and "riverbot:****@" in err and "s3cret" not in err
    code, _, err = await _run(tmp_path, "migrate", DEFAULT_LANGUAGE="zh", DATABASE_URL=nowhere)
    assert code == 2 and "无法连接" in err


async def test_run_answers_start_through_the_stand_in(tmp_path: Path, server: BotApiServer) -> None:
    token = server.add_bot(username="riverbot_cli_bot")
    sandbox = Sandbox(server, token)
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT,
        "run",
        cwd=tmp_path,
        env=_env(tmp_path, BOT_TOKEN=token, TELEGRAM_API_URL=server.url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        zhang = sandbox.user(first_name="张三", language_code="zh-hans")
        await zhang.send("/start")
        greeting = await zhang.next_message(timeout=20)
        assert "河长制工作助手" in greeting.text
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    failures_code, out, _ = await _run(tmp_path, "failures", DEFAULT_LANGUAGE="en")
    assert failures_code == 0 and "No failed messages" in out


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
async def test_help_is_localized(tmp_path: Path, args: list[str]) -> None:
    code, out, _ = await _run(tmp_path, *args, DEFAULT_LANGUAGE="zh")
    assert code == 0 and ("河长制" in out or "长轮询" in out)


@pytest.mark.sqlite_only("a file of junk where the SQLite database belongs")
@pytest.mark.parametrize("command", ["migrate", "failures"])
async def test_corrupt_database_is_one_line_not_a_hang(tmp_path: Path, command: str) -> None:
    database = tmp_path / "data" / "riverbot.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"not a database, just bytes\x00\xff" * 300)
    started = asyncio.get_running_loop().time()
    code, _, err = await _run(tmp_path, command, DEFAULT_LANGUAGE="en")
    assert code == 2 and "Traceback" not in err and err.strip().count("\n") == 0
    assert "The database could not be opened" in err and "not a database" in err
    assert asyncio.get_running_loop().time() - started < 20  # an open connection's thread would keep it alive
