"""Shared fixtures: a Bot API stand-in, and the real riverbot Application polling it over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from telegram.ext import Application, BaseHandler

from bot.app import RiverbotApplication, build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from bot.config import Settings, load_settings
from bot.services import Services
from sandbox import BotApiServer, Sandbox
from storage import Store

ADMIN_ID = 9_000_001
BOT_USERNAME = "riverbot_test_bot"


@dataclass
class Harness:
    """The running bot and the world it talks to."""

    server: BotApiServer
    sandbox: Sandbox
    app: RiverbotApplication
    services: Services
    settings: Settings
    caplog: pytest.LogCaptureFixture

    @property
    def store(self) -> Store:
        return self.services.store

    def errors(self) -> list[logging.LogRecord]:
        """Log records at ERROR or above: an end-to-end test expects none unless it provoked one."""
        return [r for r in self.caplog.records if r.levelno >= logging.ERROR]


BotFactory = Callable[..., Awaitable[Harness]]


# The suite runs on SQLite, and again on PostgreSQL when `RIVERBOT_TEST_ENGINE=postgresql` and
# `RIVERBOT_TEST_POSTGRES` names a server (.ci/run starts a throwaway one; `make test` runs both). Each test then
# gets a database of its own, copied from a template that was migrated once.
TEST_ENGINE = os.environ.get("RIVERBOT_TEST_ENGINE", "sqlite")
POSTGRES_SERVER = os.environ.get("RIVERBOT_TEST_POSTGRES", "")
_database_numbers = itertools.count(1)


def _on_database(server: str, name: str) -> str:
    """The server URL with its database name replaced (postgresql://user@host/db?query)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(server: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A database migrated to the current schema, to copy for each test; dropped at the end."""
    if TEST_ENGINE != "postgresql":
        yield None
        return
    if not POSTGRES_SERVER:
        pytest.exit("RIVERBOT_TEST_ENGINE=postgresql needs RIVERBOT_TEST_POSTGRES, a server URL", returncode=2)
    name = f"riverbot_template_{os.getpid()}"

    async def build() -> None:
        await _admin(POSTGRES_SERVER, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        store = await Store.open(_on_database(POSTGRES_SERVER, name))
        await store.close()

    asyncio.run(build())
    yield name
    asyncio.run(_admin(POSTGRES_SERVER, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class _DatabaseFactory:
    """Copies the template a few databases ahead, and drops used ones, on a thread of its own: a copy takes
    about 0.1 s, which the server does on the other core while a test runs."""

    AHEAD = 3

    def __init__(self, server: str, template: str) -> None:
        import queue
        import threading

        self.server = server
        self.template = template
        self.ready: queue.Queue[str | BaseException] = queue.Queue()
        self.jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._work()), daemon=True)
        self.thread.start()
        for _ in range(self.AHEAD):
            self._order()

    def _order(self) -> None:
        self.jobs.put(("create", f"riverbot_test_{os.getpid()}_{next(_database_numbers)}"))

    async def _work(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.server)
        try:
            while (job := self.jobs.get()) is not None:
                what, name = job
                try:
                    if what == "create":
                        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
                        self.ready.put(name)
                    else:
                        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                except Exception as exc:  # handed to the test that waits for it
                    if what == "create":
                        self.ready.put(exc)
        finally:
            await conn.close()

    def take(self) -> str:
        self._order()
        got = self.ready.get(timeout=120)
        if isinstance(got, BaseException):
            raise got
        return got

    def drop(self, name: str) -> None:
        self.jobs.put(("drop", name))

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=60)


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str | None) -> Iterator[_DatabaseFactory | None]:
    if postgres_template is None:
        yield None
        return
    factory = _DatabaseFactory(POSTGRES_SERVER, postgres_template)
    yield factory
    factory.close()


@pytest.fixture(autouse=True)
def engine_database(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, postgres_databases: _DatabaseFactory | None
) -> Iterator[None]:
    """On a PostgreSQL run: DATABASE_URL names a fresh database for this test (settings read it)."""
    if postgres_databases is None:
        yield
        return
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        pytest.skip(f"SQLite only: {marker.kwargs.get('reason') or (marker.args[0] if marker.args else '')}")
    name = postgres_databases.take()
    monkeypatch.setenv("DATABASE_URL", _on_database(POSTGRES_SERVER, name))
    try:
        yield
    finally:
        postgres_databases.drop(name)


@pytest.fixture(autouse=True)
def neutral_terminal_language(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI speaks the terminal's language (LC_ALL, LC_MESSAGES, LANG) before DEFAULT_LANGUAGE: a developer's
    zh_CN or en_US shell must not change what the tests read. Those that test the rule set these themselves."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer() as running:
        yield running


@pytest.fixture
async def bot_factory(
    server: BotApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[BotFactory]:
    """Start riverbot against the stand-in with settings overridden per test; stops it afterwards."""
    running: list[tuple[Application, Store]] = []  # type: ignore[type-arg]
    caplog.set_level(logging.INFO)

    async def start(
        *,
        extra_handlers: list[tuple[BaseHandler[Any, Any, Any], int]] | None = None,
        shared: bool | None = None,
        **overrides: Any,
    ) -> Harness:
        token = server.add_bot(username=BOT_USERNAME, first_name="河长制助手")
        values: dict[str, Any] = {
            "bot_token": token,
            "telegram_api_url": server.url,
            "data_dir": tmp_path / f"data{len(running)}",
            "admin_ids": frozenset({ADMIN_ID}),
            # The stand-in has no flood limits; real ones would only slow the tests down.
            "rate_limit_per_second": 10_000,
            "rate_limit_group_per_minute": 100_000,
        }
        values.update(overrides)
        settings = load_settings(env_file=None, **values)
        # `shared`: as one of several workers on the database (Store.shared); None: the engine decides.
        store = await Store.open(settings.database, shared=shared)
        services = Services.create(settings, store)
        app = build_application(settings, services=services)
        for handler, group in extra_handlers or []:
            app.add_handler(handler, group)
        await start_app(app, poll_timeout=1)
        running.append((app, store))
        # The driver waits on the bot's own idle signal, not on a quiet period.
        return Harness(server, Sandbox(server, token, app.work), app, services, settings, caplog)

    yield start

    for app, store in reversed(running):
        await stop_app(app)
        await store.close()


@pytest.fixture
async def bot(bot_factory: BotFactory) -> Harness:
    """riverbot with default settings and one bootstrap admin (ADMIN_ID)."""
    return await bot_factory()


class Cli(Protocol):
    def __call__(self, *args: str | Path, **env: str) -> tuple[int, str, str]: ...


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`riverbot` run in-process with settings from the environment only; returns (exit code, stdout, stderr)."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no .env there: only the environment counts
    for variable in ("BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS", "TIMEZONE", "INVITE_DAYS", "PATROL_RULES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")

    def run(*args: str | Path, **env: str) -> tuple[int, str, str]:
        """One command; `env` holds for this command only."""
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
