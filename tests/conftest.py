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
# gets a database of its own with nothing in it: a few copies of a template migrated once, emptied between tests.
TEST_ENGINE = os.environ.get("RIVERBOT_TEST_ENGINE", "sqlite")
POSTGRES_SERVER = os.environ.get("RIVERBOT_TEST_POSTGRES", "")
_database_numbers = itertools.count(1)

# Empties a test database in one round trip: every table (triggers and foreign keys off for the session, so the
# append-only tables empty too and the order does not matter) and every sequence back to its start. Deleting from
# a few small tables takes milliseconds; copying the template takes a tenth of a second and more on a busy machine.
_RESET_FUNCTION = """
CREATE SCHEMA riverbot_test;
CREATE FUNCTION riverbot_test.reset() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
    SET LOCAL session_replication_role = replica;
    FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
             AND c.relname <> 'schema_version' LOOP
        EXECUTE format('DELETE FROM public.%I', t);
    END LOOP;
    -- Every sequence, not only those pg_sequences shows a last_value for: that is NULL also after
    -- setval(…, n, false), which the demo's bulk load leaves behind at the ids past what it wrote.
    PERFORM setval(format('%I.%I', schemaname, sequencename), start_value, false)
        FROM pg_sequences WHERE schemaname = 'public';
END $$;
CREATE FUNCTION riverbot_test.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(':',
        (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace),
        (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),
        (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'public'::regnamespace),
        (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
        (SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace))
$$;
-- Whatever the test left connected (a bot it started, a pool not closed) goes first, with its locks; a database
-- whose schema the test changed is not reused.
CREATE FUNCTION riverbot_test.recycle(expected text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid();
    IF riverbot_test.fingerprint() IS DISTINCT FROM expected THEN
        RETURN false;
    END IF;
    PERFORM riverbot_test.reset();
    RETURN true;
END $$;
"""


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
        await _admin(_on_database(POSTGRES_SERVER, name), _RESET_FUNCTION)

    asyncio.run(build())
    yield name
    asyncio.run(_admin(POSTGRES_SERVER, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class _DatabaseFactory:
    """Test databases in rotation, kept ready on a thread of its own while a test runs: a used database is emptied
    and handed out again, unless its test changed the schema (then it is dropped and a new copy made)."""

    SPARE = 3

    def __init__(self, server: str, template: str) -> None:
        import queue
        import threading

        self.server = server
        self.template = template
        self.fingerprint: str | None = None
        self.ready: queue.Queue[str | BaseException] = queue.Queue()
        self.jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._work()), daemon=True)
        self.thread.start()
        for _ in range(self.SPARE):
            self.jobs.put(("create", ""))

    async def _work(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.server)
        loop = asyncio.get_running_loop()
        emptying: set[asyncio.Task[None]] = set()
        try:
            while (job := await loop.run_in_executor(None, self.jobs.get)) is not None:
                what, name = job
                if what == "recycle":  # beside the next jobs: emptying needs no admin connection
                    task = asyncio.create_task(self._recycle(name))
                    emptying.add(task)
                    task.add_done_callback(emptying.discard)
                    continue
                try:
                    if name:
                        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    if what == "drop":
                        continue
                    fresh = f"riverbot_test_{os.getpid()}_{next(_database_numbers)}"
                    await conn.execute(f"CREATE DATABASE {fresh} TEMPLATE {self.template}")
                    if self.fingerprint is None:
                        self.fingerprint = await self._fingerprint(fresh)
                    self.ready.put(fresh)
                except Exception as exc:  # handed to the test that waits for it
                    if what != "drop":
                        self.ready.put(exc)
            await asyncio.gather(*emptying, return_exceptions=True)
        finally:
            await conn.close()

    async def _recycle(self, name: str) -> None:
        if await self._empty(name):
            self.ready.put(name)
        else:
            self.jobs.put(("replace", name))

    async def _fingerprint(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(_on_database(self.server, name))
        try:
            return str(await conn.fetchval("SELECT riverbot_test.fingerprint()"))
        finally:
            await conn.close()

    async def _empty(self, name: str) -> bool:
        """Empty a used database for the next test; False when its schema is no longer the template's."""
        import asyncpg

        conn = await asyncpg.connect(_on_database(self.server, name))
        try:
            return bool(await conn.fetchval("SELECT riverbot_test.recycle($1)", self.fingerprint))
        except asyncpg.PostgresError:
            return False
        finally:
            await conn.close()

    def take(self) -> str:
        # None ready (a test holding several, or emptying behind): one more copy joins the rotation.
        if self.ready.empty() and self.jobs.empty():
            self.jobs.put(("create", ""))
        got = self.ready.get(timeout=120)
        if isinstance(got, BaseException):
            raise got
        return got

    def give_back(self, name: str) -> None:
        self.jobs.put(("recycle", name))

    def close(self) -> None:
        import queue

        while True:
            try:
                got = self.ready.get_nowait()
            except queue.Empty:
                break
            if isinstance(got, str):
                self.jobs.put(("drop", got))
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
    """On a PostgreSQL run: DATABASE_URL names an empty database for this test (settings read it)."""
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
        postgres_databases.give_back(name)


#: the `separate_database` fixture: each call, the settings of one more database
SeparateDatabase = Callable[[], dict[str, str]]


@pytest.fixture
def separate_database(postgres_databases: _DatabaseFactory | None) -> Iterator[SeparateDatabase]:
    """For a test that opens several stores that must not share data (one per data directory on SQLite): each
    call gives the settings for one more database, `{}` on SQLite (the data directory's own file) and a
    `database_url` of its own on PostgreSQL."""
    taken: list[str] = []

    def another() -> dict[str, str]:
        if postgres_databases is None:
            return {}
        taken.append(postgres_databases.take())
        return {"database_url": _on_database(POSTGRES_SERVER, taken[-1])}

    yield another
    if postgres_databases is not None:
        for name in taken:
            postgres_databases.give_back(name)


ReadOnly = Callable[[Store, bool], Awaitable[None]]


async def _postgres_read_only(url: str, read_only: bool) -> None:
    import asyncpg

    # A session of its own that may write, to switch the default back even while it is read-only.
    conn = await asyncpg.connect(url, server_settings={"default_transaction_read_only": "off"})
    try:
        name = await conn.fetchval("SELECT quote_ident(current_database())")
        await conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = {'on' if read_only else 'off'}")
    finally:
        await conn.close()


@pytest.fixture
async def database_read_only() -> AsyncIterator[ReadOnly]:
    """`await database_read_only(store, True)`: the database refuses every write from now on, as a full or
    read-only disk would; `False` takes writes again. On SQLite with its own SQLITE_READONLY ("attempt to write
    a readonly database"), as when DATA_DIR is remounted read-only mid-run; on PostgreSQL with its "read-only
    transaction" (SQLSTATE 25006), as when the server becomes a standby or is set read-only: the database's
    default for new sessions, the store's pooled sessions replaced. Writable again after the test, whatever
    happened in it (PostgreSQL keeps the switch with the database, which the next test gets).

    Why not a full file (PRAGMA max_page_count): a small row still fits into a page with room, so some writes
    would go through, unlike on a real full disk, where every commit fails to append to the WAL. The unit tests
    use max_page_count where a write is sure to need a new page."""
    from storage.engine import PostgresEngine, SqliteEngine

    switched: list[str] = []

    async def switch(store: Store, read_only: bool) -> None:
        engine = store.engine
        if isinstance(engine, SqliteEngine):
            await engine.raw_writer.execute(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
            return
        assert isinstance(engine, PostgresEngine)
        switched.append(engine.url)
        await _postgres_read_only(engine.url, read_only)
        await engine.pool.expire_connections()

    yield switch
    for url in set(switched):
        await _postgres_read_only(url, False)


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
