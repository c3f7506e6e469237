"""Running the `riverbot` command as a real process, as an operator or a service manager would."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.config import load_settings

RIVERBOT = [sys.executable, "-m", "bot"]
# What the test machine's environment must not lend the command: each test says what it sets.
NOT_INHERITED = frozenset({"BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS"})


def cli_env(
    tmp_path: Path, *, without: Iterable[str] = (), log_level: str | None = "INFO", **settings: str
) -> dict[str, str]:
    """The environment for one run: DATA_DIR under `tmp_path`, unbuffered output, then `settings`."""
    skipped = NOT_INHERITED | set(without)
    env = {k: v for k, v in os.environ.items() if k not in skipped}
    env.update({"DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"})
    if log_level is not None:
        env["LOG_LEVEL"] = log_level
    env.update(settings)
    return env


def cli_database(data_dir: Path, env: Mapping[str, str] | None = None) -> str | Path:
    """The database a `riverbot` command run with DATA_DIR=`data_dir` works on, for a test to fill or read it as
    the command sees it: DATABASE_URL when the environment sets one (the suite's PostgreSQL run) or `env` does (a
    separate database), else the SQLite file in `data_dir`."""
    url = (env or {}).get("DATABASE_URL")
    return load_settings(env_file=None, data_dir=data_dir, **({"database_url": url} if url else {})).database


def another_data_dir(data_dir: Path, separate: Mapping[str, str]) -> dict[str, str]:
    """The environment for commands on a second deployment, with nothing shared with the first: DATA_DIR, and on
    PostgreSQL the DATABASE_URL of its own database (`separate`: a call of the `separate_database` fixture)."""
    return {"DATA_DIR": str(data_dir), **{name.upper(): value for name, value in separate.items()}}


async def run_cli(tmp_path: Path, *args: str, env: dict[str, str], within_s: float = 30) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `riverbot ARGS` run in `tmp_path`, where no .env is: only the environment
    counts. A hung riverbot is killed and fails the test rather than outlive it."""
    process = await asyncio.create_subprocess_exec(
        *RIVERBOT,
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=within_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
