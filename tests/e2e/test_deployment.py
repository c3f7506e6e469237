"""`riverbot` as a service manager runs it: exit codes it can act on, and a start on Windows' event loop.

Each test runs the command as its own process (as systemd or Docker would), with the stand-in as Telegram.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import pytest

from sandbox import BotApiServer, Sandbox
from storage import Store
from tests.cli import RIVERBOT, cli_database, cli_env, run_cli
from tests.proxies import HttpProxy, Socks5Proxy
from tests.support import World

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:" + "D" * 35
# Bad settings: fix them, don't retry. Telegram unreachable: retry (systemd's RestartPreventExitStatus=2).
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return cli_env(tmp_path, **settings)


async def _run(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    return await run_cli(tmp_path, *args, env=_env(tmp_path, **settings), within_s=60)


def _closed_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- exit codes ----------------------------------------------------------------------------------------------


async def test_run_exits_3_when_telegram_is_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, _, err = await _run(tmp_path, "run", BOT_TOKEN=TOKEN, TELEGRAM_API_URL=url, DEFAULT_LANGUAGE="en")
    assert code == EXIT_UNREACHABLE, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("Cannot reach TELEGRAM_API_URL") and url in lines[-1]


async def test_run_still_exits_2_for_a_rejected_token(tmp_path: Path, server: BotApiServer) -> None:
    code, _, err = await _run(tmp_path, "run", BOT_TOKEN=TOKEN, TELEGRAM_API_URL=server.url, DEFAULT_LANGUAGE="en")
    assert code == EXIT_CONFIG and "rejected BOT_TOKEN" in err and "Traceback" not in err


async def test_summary_send_exits_3_when_telegram_is_unreachable(tmp_path: Path) -> None:
    async with await Store.open(cli_database(tmp_path / "data")) as store:
        area = await World(store).area("CD", "城东街道", "Chengdong Subdistrict")
        await store.chats.upsert(-100123, type="supergroup", title="城东街道河长群", bot_status="member")
        await store.bindings.bind(-100123, area, bound_by=None)
    url = f"http://127.0.0.1:{_closed_port()}"
    code, _, err = await _run(
        tmp_path,
        "summary",
        "--area",
        "CD",
        "--send",
        "--chart",
        str(tmp_path / "c.jpg"),
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=url,
        DEFAULT_LANGUAGE="en",
    )
    assert code == EXIT_UNREACHABLE, err
    assert "Traceback" not in err and "Cannot reach TELEGRAM_API_URL" in err


async def test_a_clean_stop_still_exits_0(tmp_path: Path, server: BotApiServer) -> None:
    token = server.add_bot(username="riverbot_deploy_bot")
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
        user = sandbox.user(first_name="张三", language_code="zh-hans")
        await user.send("/start")
        assert "河长制工作助手" in (await user.next_message(timeout=30)).text
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()


# -- Windows: no add_signal_handler --------------------------------------------------------------------------

# `riverbot run` in a process whose event loop refuses signal handlers, as Windows' Proactor loop does.
WINDOWS_LOOP = """
import asyncio, sys

def refuse(self, sig, callback, *args):
    raise NotImplementedError

asyncio.SelectorEventLoop.add_signal_handler = refuse
from bot.cli import main
raise SystemExit(main(["run"]))
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_run_starts_and_stops_cleanly_without_add_signal_handler(
    tmp_path: Path, server: BotApiServer, stop: signal.Signals
) -> None:
    token = server.add_bot(username="riverbot_windows_bot")
    sandbox = Sandbox(server, token)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WINDOWS_LOOP,
        cwd=tmp_path,
        env=_env(tmp_path, BOT_TOKEN=token, TELEGRAM_API_URL=server.url, PYTHONPATH=str(ROOT)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        user = sandbox.user(first_name="张三", language_code="zh-hans")
        await user.send("/start")
        assert "河长制工作助手" in (await user.next_message(timeout=30)).text
    finally:
        if process.returncode is None:
            process.send_signal(stop)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert "riverbot stopped" in err.decode() or "riverbot 已停止" in err.decode()


# -- TELEGRAM_PROXY ------------------------------------------------------------------------------------------

# A name that resolves nowhere: only a proxy that maps it to the stand-in reaches the stand-in by it.
HIDDEN_HOST = "api.telegram.invalid"


async def _start_answered(tmp_path: Path, server: BotApiServer, *, python: list[str] | None = None, **env: str) -> str:
    """`riverbot run` with the stand-in at HIDDEN_HOST: /start answered, then SIGTERM; returns stderr."""
    token = server.add_bot(username="riverbot_proxy_bot")
    sandbox = Sandbox(server, token)
    port = server.url.rsplit(":", 1)[1]
    process = await asyncio.create_subprocess_exec(
        *(python or [*RIVERBOT, "run"]),
        cwd=tmp_path,
        env=_env(tmp_path, BOT_TOKEN=token, TELEGRAM_API_URL=f"http://{HIDDEN_HOST}:{port}", **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        user = sandbox.user(first_name="张三", language_code="zh-hans")
        await user.send("/start")
        answered = await user.next_message(timeout=30)
    finally:
        if process.returncode is None:
            process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert "河长制工作助手" in answered.text
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    return err.decode()


@pytest.mark.parametrize("kind", [Socks5Proxy, HttpProxy], ids=["socks5", "http"])
async def test_every_bot_api_call_goes_through_telegram_proxy(
    tmp_path: Path, server: BotApiServer, kind: type[Socks5Proxy | HttpProxy]
) -> None:
    async with kind(hosts={HIDDEN_HOST: "127.0.0.1"}) as proxy:
        err = await _start_answered(tmp_path, server, TELEGRAM_PROXY=proxy.url)
    assert proxy.connections and {host for host, _ in proxy.connections} == {HIDDEN_HOST}
    assert proxy.url in err  # the start-up line says which proxy is in use


async def test_a_socks_all_proxy_in_the_environment_is_used_not_a_crash(tmp_path: Path, server: BotApiServer) -> None:
    async with Socks5Proxy(hosts={HIDDEN_HOST: "127.0.0.1"}) as proxy:
        await _start_answered(tmp_path, server, ALL_PROXY=proxy.url)
    assert proxy.connections


# `riverbot run` where the socks extra is missing (socksio cannot be imported).
NO_SOCKSIO = """
import sys
sys.modules["socksio"] = None
from bot.cli import main
raise SystemExit(main(["run"]))
"""


@pytest.mark.parametrize("variable", ["ALL_PROXY", "TELEGRAM_PROXY"])
async def test_an_unusable_proxy_is_one_line_naming_it(tmp_path: Path, variable: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        NO_SOCKSIO,
        cwd=tmp_path,
        env=_env(
            tmp_path, BOT_TOKEN=TOKEN, DEFAULT_LANGUAGE="en", PYTHONPATH=str(ROOT), **{variable: "socks5://127.0.0.1:1"}
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, raw = await asyncio.wait_for(process.communicate(), timeout=60)
    err = raw.decode()
    assert process.returncode == EXIT_CONFIG, err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert variable in err and "socks5://127.0.0.1:1" in err


async def test_a_dead_proxy_exits_3_naming_the_proxy_not_its_password(tmp_path: Path) -> None:
    proxy = f"socks5://office:s3cret@127.0.0.1:{_closed_port()}"
    code, _, err = await _run(
        tmp_path,
        "run",
        BOT_TOKEN=TOKEN,
        TELEGRAM_PROXY=proxy,
        TELEGRAM_API_URL="https://api.telegram.org",
        DEFAULT_LANGUAGE="en",
    )
    assert code == EXIT_UNREACHABLE, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert "TELEGRAM_PROXY" in line and proxy.replace("s3cret", "****") in line
    assert "s3cret" not in err


async def test_a_malformed_telegram_proxy_is_a_bad_setting(tmp_path: Path) -> None:
    code, _, err = await _run(
        tmp_path, "run", BOT_TOKEN=TOKEN, TELEGRAM_PROXY="ftp://u:pw@host:21", DEFAULT_LANGUAGE="en"
    )
    assert code == EXIT_CONFIG and err.strip().count("\n") == 0, err
    assert "TELEGRAM_PROXY" in err and "socks5://" in err and "pw@" not in err
    code, out, _ = await _run(tmp_path, "config", TELEGRAM_PROXY="http://u:pw@proxy.example:3128")
    assert code == 0 and "TELEGRAM_PROXY=http://u:****@proxy.example:3128" in out and "pw" not in out
