"""The command line speaks the terminal's language (LC_ALL, then LC_MESSAGES, then LANG) when it names zh or en,
else DEFAULT_LANGUAGE; the bot's users keep their own language whatever the terminal says (issue 14, item 6).

Each test runs `riverbot` as its own process, as an operator at a terminal would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sandbox import BotApiServer, Sandbox
from tests.cli import RIVERBOT, cli_env, run_cli
from tests.postgres import unmigrated_database

LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")
NO_TOKEN_EN = "BOT_TOKEN is not set"
NO_TOKEN_ZH = "未设置 BOT_TOKEN"


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return cli_env(tmp_path, without=LOCALE_VARIABLES, log_level=None, **settings)


async def _run(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    return await run_cli(tmp_path, *args, env=_env(tmp_path, **settings))


async def test_an_english_terminal_gets_english_over_a_chinese_default(tmp_path: Path) -> None:
    code, _, err = await _run(tmp_path, "run", DEFAULT_LANGUAGE="zh", LANG="en_US.UTF-8")
    assert code == 2 and NO_TOKEN_EN in err, err
    async with unmigrated_database() as database:
        code, out, _ = await _run(tmp_path, "migrate", DEFAULT_LANGUAGE="zh", LANG="en_GB.UTF-8", **database)
    assert code == 0 and "upgraded to version" in out, out
    code, out, _ = await _run(tmp_path, "--help", DEFAULT_LANGUAGE="zh", LANG="en_US.UTF-8")
    assert code == 0 and "River Chief assistant" in out and "河长制" not in out, out


async def test_a_chinese_terminal_gets_chinese_over_an_english_default(tmp_path: Path) -> None:
    code, _, err = await _run(tmp_path, "run", DEFAULT_LANGUAGE="en", LANG="zh_CN.UTF-8")
    assert code == 2 and NO_TOKEN_ZH in err, err
    async with unmigrated_database() as database:
        code, out, _ = await _run(tmp_path, "migrate", DEFAULT_LANGUAGE="en", LANG="zh_TW.UTF-8", **database)
    assert code == 0 and "数据库" in out, out
    code, out, _ = await _run(tmp_path, "--help", DEFAULT_LANGUAGE="en", LANG="zh_CN.UTF-8")
    assert code == 0 and "河长制" in out, out


@pytest.mark.parametrize(
    ("terminal", "expected"),
    [
        ({"LC_ALL": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8", "LANG": "en_US.UTF-8"}, NO_TOKEN_ZH),
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, NO_TOKEN_ZH),
        ({"LC_ALL": "", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8"}, NO_TOKEN_ZH),
        # The first that is set decides, as for any program: a C locale there means "no language", the default.
        ({"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"}, NO_TOKEN_EN),
        ({"LANG": "de_DE.UTF-8"}, NO_TOKEN_EN),
        ({}, NO_TOKEN_EN),
    ],
)
async def test_lc_all_then_lc_messages_then_lang_else_the_default(
    tmp_path: Path, terminal: dict[str, str], expected: str
) -> None:
    code, _, err = await _run(tmp_path, "run", DEFAULT_LANGUAGE="en", **terminal)
    assert code == 2 and expected in err, err


async def test_a_bad_setting_is_told_in_the_terminals_language(tmp_path: Path) -> None:
    """When the settings can't be read, the terminal's language still holds."""
    code, _, err = await _run(tmp_path, "run", TIMEZONE="Asia/Shangai", LANG="en_US.UTF-8", DEFAULT_LANGUAGE="zh")
    assert code == 2 and "TIMEZONE" in err and "Asia/Shangai" in err
    assert not any("\u4e00" <= char <= "\u9fff" for char in err), err


async def test_the_bots_users_keep_their_own_language(tmp_path: Path, server: BotApiServer) -> None:
    """An English terminal starts the bot; a person whose app language is unknown gets DEFAULT_LANGUAGE."""
    token = server.add_bot(username="riverbot_lang_bot")
    sandbox = Sandbox(server, token)
    env = _env(tmp_path, BOT_TOKEN=token, TELEGRAM_API_URL=server.url, DEFAULT_LANGUAGE="zh", LANG="en_US.UTF-8")
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT, "run", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        unknown = sandbox.user(first_name="李四", language_code=None)
        await unknown.send("/start")
        assert "河长制工作助手" in (await unknown.next_message(timeout=20)).text
        english = sandbox.user(first_name="Ann", language_code="en")
        await english.send("/start")
        assert "河长制" not in (await english.next_message(timeout=20)).text
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, err.decode()
    assert "riverbot stopped." in err.decode()
