"""The `riverbot` command as an operator runs it: a real process, the stand-in as Telegram."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.config import masked_url
from sandbox import BotApiServer, Sandbox
from storage import Store
from tests.cli import RIVERBOT, cli_env, run_cli
from tests.conftest import TEST_ENGINE
from tests.postgres import needs_postgres, scratch_database, with_password


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


@pytest.mark.sqlite_only("a file of junk where the SQLite database belongs; a PostgreSQL server that fails is below")
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


@pytest.mark.parametrize("command", ["migrate", "failures", "backup", "run"])
async def test_a_database_server_out_of_reach_is_one_line_and_exit_3(
    tmp_path: Path, server: BotApiServer, command: str
) -> None:
    """Like Telegram out of reach: the server may come back, so a service manager should retry (exit 3)."""
    nowhere = f"postgresql://riverbot:s3cret@/riverbot?host={tmp_path / 'no-server-here'}"
    token = server.add_bot(username="riverbot_no_db_bot")
    settings = {"DATABASE_URL": nowhere, "BOT_TOKEN": token, "TELEGRAM_API_URL": server.url}
    code, out, err = await _run(tmp_path, command, DEFAULT_LANGUAGE="en", **settings)
    assert code == 3 and out == "" and "Traceback" not in err and err.strip().count("\n") == 0, err
    assert "cannot be reached" in err and "riverbot:****@" in err and "s3cret" not in err
    code, _, err = await _run(tmp_path, command, DEFAULT_LANGUAGE="zh", **settings)
    assert code == 3 and "无法连接 DATABASE_URL 指定的数据库服务器" in err


@needs_postgres
@pytest.mark.parametrize("command", ["migrate", "failures"])
async def test_a_database_the_server_refuses_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    """No such database or user: only a changed DATABASE_URL helps, so no retry (exit 2)."""
    async with scratch_database() as url:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        for wrong, named in (
            (urlunsplit(parts._replace(path=parts.path + "_missing")), "_missing"),
            (urlunsplit(parts._replace(netloc=f"no_such_role@{host}")), "no_such_role"),
        ):
            code, out, err = await _run(tmp_path, command, DATABASE_URL=wrong, DEFAULT_LANGUAGE="en")
            assert code == 2 and out == "" and "Traceback" not in err and err.strip().count("\n") == 0, err
            assert "refused the connection" in err and named in err, err


@needs_postgres
async def test_migrate_on_postgresql_says_what_it_did_and_hides_the_password(tmp_path: Path) -> None:
    async with scratch_database() as url:
        secret = with_password(url, "hunter2")  # the test servers trust the socket: the password is not asked for
        code, out, err = await _run(tmp_path, "migrate", DATABASE_URL=secret, DEFAULT_LANGUAGE="en")
        assert code == 0, err
        assert "upgraded to version" in out and "(migrations applied now: 1, 2," in out, out
        assert "hunter2" not in out and ":****@" in out
        code, out, err = await _run(tmp_path, "migrate", DATABASE_URL=secret, DEFAULT_LANGUAGE="en")
        assert code == 0 and "is up to date (version" in out, out
        assert not (tmp_path / "data" / "riverbot.sqlite3").exists()


@needs_postgres
@pytest.mark.parametrize("command", ["migrate", "failures"])
async def test_a_postgresql_database_of_another_application_is_refused_and_left_alone(
    tmp_path: Path, command: str
) -> None:
    """The counterpart of a foreign file where the SQLite database belongs: a database whose tables clash with
    riverbot's is not taken over; one line, exit 2, and its table as it was."""
    async with scratch_database() as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE people (id integer PRIMARY KEY, surname text)")
            await conn.execute("INSERT INTO people VALUES (1, 'Li')")
            code, out, err = await _run(tmp_path, command, DATABASE_URL=url, DEFAULT_LANGUAGE="en")
            assert code == 2 and out == "" and "Traceback" not in err and err.strip().count("\n") == 0, err
            assert "The database could not be opened or upgraded" in err and "people" in err, err
            assert [tuple(r) for r in await conn.fetch("SELECT * FROM people")] == [(1, "Li")]
            assert await conn.fetchval("SELECT to_regclass('schema_version')") is None
        finally:
            await conn.close()


@needs_postgres
async def test_a_postgresql_database_missing_a_table_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """The counterpart of a damaged SQLite file: riverbot's schema, but a table someone dropped by hand."""
    async with scratch_database() as url:
        store = await Store.open(url)
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP TABLE failed_updates")
        finally:
            await conn.close()
        code, out, err = await _run(tmp_path, "failures", DATABASE_URL=url, DEFAULT_LANGUAGE="en")
        assert code == 2 and out == "" and "Traceback" not in err and err.strip().count("\n") == 0, err
        assert "The database could not be opened or upgraded" in err and "failed_updates" in err, err
