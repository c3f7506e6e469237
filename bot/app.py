"""Building and running the Telegram Application: the one place where settings meet python-telegram-bot."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseUpdateProcessor, Defaults, ExtBot
from telegram.request import HTTPXRequest

import handlers
from bot import __version__, fonts
from bot.backups import open_store
from bot.commands import Where, menu_commands
from bot.config import LANGUAGES, ConfigError, Settings, TelegramUnreachable, Webhook, masked_url
from bot.delivery import Sender
from bot.i18n import Locales
from bot.invites import BOT_USERNAME_KEY
from bot.running import DataDirBusy, DataDirLock
from bot.services import Services
from bot.workers import EXIT_SESSION_LOST, Supervisor, Worker
from handlers import jobs
from handlers.errors import inbox_refused
from handlers.intake import Intake, read_update
from handlers.live import LiveEdit
from handlers.router import live_edit
from handlers.sending import BotSender
from handlers.webhook import WebhookServer
from storage.claims import Claims, home_slot, open_claims
from storage.inbox import worker_channel

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Opt in to PTB 23 behaviour now (durations as timedelta), so no deprecation warning fires at a 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")

# Handlers running at once. Enough to hide Telegram's round trip (about 0.1 s from the mainland), and far above
# what Telegram's limit of about 30 messages a second needs.
MAX_CONCURRENT_UPDATES = 16
# Warm connections kept to the Bot API. httpcore checks every idle pooled connection (two system calls each) on
# every request, so a large idle pool costs more than it saves (measured: /help throughput 0.69 → 0.91 of bare
# PTB going from 20 to 4): four warm connections carry 30 messages a second at 0.1 s a round trip, and a burst
# beyond that opens, then closes, extra ones.
KEEPALIVE_CONNECTIONS = 4
# How long a call to the Bot API may take before it counts as failed (PTB's defaults: 5 s to read, 5 s to write,
# 1 s to get a pooled connection). Telegram sometimes answers in 8 s; a call given up on is an apology to the
# person and a notice to the admins, and the message often arrives anyway. A slow answer is waited for instead.
READ_TIMEOUT_SECONDS = 30.0
WRITE_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
# Every handler holds at most one connection, but a stalled Telegram holds them all: wait for one to come free.
POOL_TIMEOUT_SECONDS = 30.0
# 429s for one call, each waited out for its retry_after, before it counts as failed (a run of eight was seen).
MAX_RETRIES_AFTER_429 = 12


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Different chats run concurrently; one chat's updates run one at a time, in the order they came.

    A chief who sends a photo and then taps "Finish" must have the photo stored first. PTB's own semaphore is
    taken before `do_process_update`, so it is set far above the real limit and the real limit is applied here,
    after the chat's lock: a burst from one chat then waits on its lock without holding slots other chats need.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates * 1024)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._slots = asyncio.Semaphore(max_concurrent_updates)

    @staticmethod
    def _key(update: object) -> int | None:
        if isinstance(update, LiveEdit):
            return update.chat_id
        if isinstance(update, Update):
            if update.effective_chat is not None:
                return update.effective_chat.id
            if update.effective_user is not None:
                return update.effective_user.id
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:  # forget idle chats so the dict doesn't grow forever
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class WorkTracker:
    """The bot's unfinished work: updates taken in but not yet handled, and tasks started for them (`block=False`
    handlers, `application.create_task`). Idle when there is none.

    Why: a test (or anything driving the bot) can then wait until the bot has done everything it was asked,
    instead of waiting for a quiet period and hoping. It costs a counter and a done-callback per task. Work started
    with a bare `asyncio.create_task`, and jobs, are not counted: start update work through the Application.
    """

    def __init__(self) -> None:
        self.busy = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def idle(self) -> bool:
        return self.busy == 0

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` each time the bot becomes idle."""
        self._listeners.append(listener)

    def begin(self) -> None:
        self.busy += 1

    def end(self, _: object = None) -> None:
        self.busy -= 1
        if self.busy == 0:
            for listener in self._listeners:
                listener()


class TrackedQueue(asyncio.Queue[object]):
    """PTB's update queue, counting each update from `put` (by the updater) to `task_done` (after its handlers)."""

    def __init__(self, work: WorkTracker) -> None:
        super().__init__()
        self.work = work

    def put_nowait(self, item: object) -> None:  # `put` ends in `put_nowait` too
        super().put_nowait(item)
        self.work.begin()

    def task_done(self) -> None:
        super().task_done()
        self.work.end()


class RiverbotApplication(Application):  # type: ignore[type-arg]
    """PTB's Application whose tasks (each update's, `block=False` handlers', `create_task`'s) count as work."""

    def __init__(self, *, work: WorkTracker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.work = work

    def create_task(
        self,
        coroutine: Generator[asyncio.Future[object], None, T] | Awaitable[T],
        update: object | None = None,
        *,
        name: str | None = None,
    ) -> asyncio.Task[T]:
        """PTB's create_task, the task counted as work until it ends."""
        task = super().create_task(coroutine, update, name=name)
        self.work.begin()
        task.add_done_callback(self.work.end)
        return task

    async def process_update(self, update: object) -> None:
        """PTB's, then the update is marked handled in the inbox (its failure, if any, is kept by then).

        A live edit the intake read from the JSON (handlers/live.py) skips PTB's handlers; if its handling fails,
        it is handled again as the Update it came as (the point is stored once either way), so the failure takes
        the ordinary way through the handlers and the error handler."""
        services: Services | None = self.bot_data.get("services")
        if isinstance(update, LiveEdit):
            if services is not None:
                try:
                    await live_edit(services, self.bot, update)
                except Exception:
                    logger.debug("live edit %d failed; handling it as an Update", update.update_id, exc_info=True)
                else:
                    services.inbox.handled(update.update_id)
                    return
            update = update.as_update(self.bot)
        await super().process_update(update)
        if isinstance(update, Update) and services is not None:
            services.inbox.handled(update.update_id)


def telegram_request(settings: Settings, **options: Any) -> HTTPXRequest:
    """PTB's HTTP client for the Bot API, through TELEGRAM_PROXY when set (else the environment's proxy, as httpx
    reads it). A proxy httpx cannot use (a socks URL without the `socks` extra, an unknown scheme) is one line
    naming the setting it came from, not a traceback."""
    try:
        return HTTPXRequest(proxy=settings.telegram_proxy, **options)
    except (ImportError, RuntimeError, ValueError) as exc:
        culprit = _unusable_proxy(settings)
        if culprit is None:
            raise
        name, url = culprit
        reason = str(exc).splitlines()[0].rstrip(". ")
        raise ConfigError("config.proxy_unusable", name=name, proxy=masked_url(url), reason=reason) from None


def _unusable_proxy(settings: Settings) -> tuple[str, str] | None:
    """The proxy httpx refused at start: TELEGRAM_PROXY, or an environment proxy it cannot speak (httpx builds
    one for every *_PROXY variable, whichever URL they are for)."""
    if settings.telegram_proxy:
        return "TELEGRAM_PROXY", settings.telegram_proxy
    proxies = urllib.request.getproxies_environment()
    for scheme, url in proxies.items():
        if scheme != "no" and not url.lower().startswith(("http://", "https://")):
            return f"{scheme.upper()}_PROXY", url
    return settings.proxy_in_force()


def _shown_proxy(settings: Settings) -> str:
    """The proxy in force as logs show it: "socks5://user:****@host:port (TELEGRAM_PROXY)", or "" for none."""
    proxy = settings.proxy_in_force()
    return "" if proxy is None else f"{masked_url(proxy[1])} ({proxy[0]})"


def unreachable(settings: Settings, error: NetworkError) -> TelegramUnreachable:
    """The one line for a Bot API that did not answer: naming the proxy when the calls went through one."""
    proxy = settings.proxy_in_force()
    if proxy is None:
        return TelegramUnreachable("config.api_unreachable", url=settings.telegram_api_url, reason=str(error))
    name, url = proxy
    return TelegramUnreachable(
        "config.api_unreachable_proxy",
        url=settings.telegram_api_url,
        proxy=masked_url(url),
        name=name,
        reason=str(error),
    )


def rate_limiter(settings: Settings) -> AIORateLimiter:
    """Telegram's limits on what the bot sends, with retries of the 429s that get through anyway (the bot and
    `riverbot summary --send`).

    The overall limit is one send every 1/rate seconds, not `rate` per second: PTB's limiter would let a whole
    second's worth through at once, which Telegram answers with 429s (500 areas' summaries: 288 429s -> 2).
    """
    return AIORateLimiter(
        overall_max_rate=1,
        overall_time_period=1 / settings.rate_limit_per_second,
        group_max_rate=settings.rate_limit_group_per_minute,
        group_time_period=60,
        max_retries=MAX_RETRIES_AFTER_429,
    )


@asynccontextmanager
async def standalone_sender(settings: Settings) -> AsyncIterator[Sender]:
    """A bot outside the running Application (`riverbot summary --send`) that sends as the bot does: HTML, the
    same rate limits. A rejected token or an unreachable API is a ConfigError with the how-to."""
    bot = ExtBot(
        settings.token,
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
        local_mode=settings.telegram_api_local,
        defaults=Defaults(
            parse_mode=ParseMode.HTML, tzinfo=settings.tz, link_preview_options=LinkPreviewOptions(is_disabled=True)
        ),
        rate_limiter=rate_limiter(settings),
        request=telegram_request(
            settings,
            read_timeout=READ_TIMEOUT_SECONDS,
            write_timeout=WRITE_TIMEOUT_SECONDS,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            pool_timeout=POOL_TIMEOUT_SECONDS,
        ),
        get_updates_request=telegram_request(settings, connection_pool_size=1),
    )
    try:
        async with bot:
            yield BotSender(bot)
    except InvalidToken:
        raise ConfigError("config.token_rejected") from None
    except NetworkError as exc:
        raise unreachable(settings, exc) from None


def build_application(
    settings: Settings, *, services: Services | None = None, with_jobs: bool = True
) -> RiverbotApplication:
    """The Application, wired but not started. Without `services`, the store is opened at start-up. Without
    `with_jobs`, nothing is scheduled (the front of webhook workers; a worker until it leads)."""
    defaults = Defaults(
        parse_mode=ParseMode.HTML,
        tzinfo=settings.tz,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    limiter = rate_limiter(settings)
    work = WorkTracker()
    app = (
        ApplicationBuilder()
        .application_class(RiverbotApplication, {"work": work})
        .update_queue(TrackedQueue(work))
        .updater(None)  # handlers.intake polls instead: through the inbox
        .token(settings.token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .local_mode(settings.telegram_api_local)
        .defaults(defaults)
        .rate_limiter(limiter)
        .concurrent_updates(PerChatUpdateProcessor())
        .request(
            telegram_request(
                settings,
                connection_pool_size=MAX_CONCURRENT_UPDATES,
                read_timeout=READ_TIMEOUT_SECONDS,
                write_timeout=WRITE_TIMEOUT_SECONDS,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                pool_timeout=POOL_TIMEOUT_SECONDS,
                httpx_kwargs={
                    "limits": httpx.Limits(
                        max_connections=MAX_CONCURRENT_UPDATES, max_keepalive_connections=KEEPALIVE_CONNECTIONS
                    )
                },
            )
        )
        # The intake's getUpdates (handlers/intake.py) has a client of its own: PTB's defaults, the same proxy.
        .get_updates_request(telegram_request(settings, connection_pool_size=1))
        .build()
    )
    assert isinstance(app, RiverbotApplication)
    app.bot_data["settings"] = settings
    if services is not None:
        app.bot_data["services"] = services
    handlers.register(app, with_jobs=with_jobs)
    return app


async def start(app: Application, *, poll_timeout: int = 30, handle_here: bool = True) -> None:  # type: ignore[type-arg]
    """Initialize (getMe: a rejected token fails here), open the store, publish menus, start polling (or the
    webhook). Without `handle_here` (the front of webhook workers), updates are only kept in the inbox."""
    await app.initialize()
    try:
        await startup(app)
        services: Services = app.bot_data["services"]
        # Pending updates are kept: what people sent while the bot was down is still handled, in order, after
        # what the inbox holds from before.
        intake = Intake(
            app,
            services.inbox,
            poll_timeout=poll_timeout,
            allowed_updates=Update.ALL_TYPES,
            refused=functools.partial(inbox_refused, app),
            backlog=(lambda: app.work.busy) if isinstance(app, RiverbotApplication) else None,
            proxy=_shown_proxy(services.settings),
            handle_here=handle_here,
        )
        app.bot_data["intake"] = intake
        if not handle_here:
            await services.inbox.fill_in_chats()  # updates kept before the inbox had chats: the workers find them
        await app.start()
        webhook = services.settings.webhook
        if webhook is None:
            await intake.start()
        else:
            await _start_webhook(app, intake, webhook)
    except BaseException:
        await stop(app)
        raise


async def _start_webhook(app: Application, intake: Intake, webhook: Webhook) -> None:  # type: ignore[type-arg]
    """Webhook mode: what the inbox kept first, then listen, then tell Telegram where to push (with the secret).

    A webhook set before is replaced, never deleted: deleteWebhook is for polling. An address the bot cannot
    listen on, or a URL Telegram refuses, is a bad setting."""
    await intake.queue_leftovers()
    server = WebhookServer(intake, webhook)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(
            "config.webhook_listen_failed", listen=f"{webhook.host}:{webhook.port}", reason=exc.strerror or str(exc)
        ) from None
    app.bot_data["webhook"] = server
    try:
        await app.bot.set_webhook(
            webhook.url, secret_token=webhook.secret, allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
        )
    except BadRequest as exc:
        raise ConfigError("config.webhook_refused", url=webhook.url, reason=exc.message) from None
    logger.info("webhook: Telegram pushes updates to %s", webhook.url)


async def stop_taking(app: Application) -> None:  # type: ignore[type-arg]
    """Stop taking updates in: the webhook's server, then the intake (what it fetched is kept first)."""
    server: WebhookServer | None = app.bot_data.pop("webhook", None)
    if server is not None:
        await server.stop()  # no deleteWebhook: Telegram keeps what comes meanwhile for the next start
    intake: Intake | None = app.bot_data.pop("intake", None)
    if intake is not None:
        await intake.stop()


async def stop(app: Application) -> None:  # type: ignore[type-arg]
    """Stop taking updates in, let running handlers finish, mark them handled, close the store."""
    await stop_taking(app)
    if app.running:
        await app.stop()
    await app.shutdown()
    services: Services | None = app.bot_data.get("services")
    if services is not None:
        await services.inbox.settle()
    await shutdown(app)


def on_stop_signals(stop: Callable[[], None]) -> Callable[[], None]:
    """Call `stop` on SIGINT or SIGTERM (what Ctrl+C and systemd send; Ctrl+Break too on Windows); returns the
    function that puts the previous handlers back.

    The event loop's own signal handlers where it has them. Windows' loop has none (NotImplementedError): there
    a plain signal handler hands the stop over to the loop, which the interpreter wakes for a signal.
    """
    loop = asyncio.get_running_loop()
    signals = [signal.SIGINT, signal.SIGTERM]
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop)
    except NotImplementedError:
        pass
    else:

        def remove() -> None:
            for sig in signals:
                loop.remove_signal_handler(sig)

        return remove
    if hasattr(signal, "SIGBREAK"):  # pragma: no cover — Windows only
        signals.append(signal.SIGBREAK)

    def handler(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(stop)

    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def restore() -> None:
        for sig, was in previous.items():
            signal.signal(sig, was)

    return restore


async def serve(
    app: Application,  # type: ignore[type-arg]
    *,
    workers: int = 1,
    front: bool | None = None,
    command: Sequence[str] | None = None,
) -> None:
    """Run until SIGINT or SIGTERM (what systemd and Ctrl+C send), then stop cleanly. With `workers` > 1 this
    process is the front of that many worker processes (bot/workers.py), which it starts and keeps running.
    `front` (default: `workers` > 1) makes it a front even of one worker (the intake benchmark measures 1 and 4
    workers behind the same front); `command` starts each worker (default: `worker_command()`)."""
    stopping = asyncio.Event()
    forget_signals = on_stop_signals(stopping.set)
    try:
        await _serve_until(
            app, stopping, workers=workers, front=workers > 1 if front is None else front, command=command
        )
    finally:
        forget_signals()


def worker_command() -> list[str]:
    """How the front starts a worker: this Python, this riverbot."""
    return [sys.executable, "-m", "bot", "worker"]


async def _serve_until(
    app: Application,  # type: ignore[type-arg]
    stopping: asyncio.Event,
    *,
    workers: int = 1,
    front: bool = False,
    command: Sequence[str] | None = None,
) -> None:
    await start(app, handle_here=not front)
    settings: Settings = app.bot_data["settings"]
    services: Services = app.bot_data["services"]
    supervisor: Supervisor | None = None
    if front:
        # Each chat's updates announced to its home worker alone (bot/workers.py, Worker.home).
        services.store.inbox.channel_of = lambda chat: worker_channel(home_slot(chat, workers))
        say = functools.partial(services.locales.plain, settings.default_language)
        # Each worker hears how many they are (WORKERS), for its share of Telegram's rate limit.
        supervisor = Supervisor(
            workers, command or worker_command(), say=say, env={**os.environ, "WORKERS": str(workers)}
        )
        supervisor.start()
    logger.info(
        services.locales.plain(
            settings.default_language,
            "cli.starting",
            version=__version__,
            username=app.bot.username,
            url=settings.telegram_api_url,
            data_dir=str(settings.data_dir),
            timezone=settings.timezone,
        )
    )
    proxy = settings.proxy_in_force()
    if proxy is not None:
        name, url = proxy
        logger.info(services.locales.plain(settings.default_language, "cli.proxy", proxy=masked_url(url), name=name))
    try:
        await stopping.wait()
    finally:
        if supervisor is not None:
            await stop_taking(app)  # nothing more is answered 200 …
            await supervisor.stop()  # … then the workers finish what was kept
        await stop(app)


async def serve_worker(
    settings: Settings, *, index: int | None = None, exit_now: Callable[[int], None] | None = None
) -> int:
    """`riverbot worker`: handle the inbox's updates chat by chat beside the other workers, and the jobs while
    this worker leads (bot/workers.py), until SIGINT or SIGTERM; returns the exit code. A lost database session
    is EXIT_SESSION_LOST, and `exit_now` (the command line: os._exit) ends the process at once, before anything
    else is written on a session whose locks are gone.

    Telegram's limit is the bot's, whichever process sends: each of WORKERS workers sends at most its share of
    RATE_LIMIT_PER_SECOND (the leader's broadcasts too; a shared limiter would let them go faster)."""
    settings = settings.model_copy(update={"rate_limit_per_second": settings.rate_limit_per_second / settings.workers})
    app = build_application(settings, with_jobs=False)
    stopping = asyncio.Event()
    forget_signals = on_stop_signals(stopping.set)
    services: Services | None = None
    claims: Claims | None = None
    locales = Locales.load(settings.default_language)
    say = functools.partial(locales.plain, settings.default_language)
    name = say("workers.name", index=index) if index is not None else say("workers.name_pid", pid=os.getpid())
    try:
        await app.initialize()
        store = await open_store(settings)
        services = Services.create(settings, store, locales)
        app.bot_data["services"] = services
        fonts.configure(settings.font_path)
        await app.start()
        claims = await open_claims(store)

        async def handle(raw: dict[str, Any]) -> None:
            assert services is not None
            update = await read_update(app, services.inbox, raw)
            if update is not None:
                await app.process_update(update)

        worker = Worker(
            store,
            services.inbox,
            claims,
            handle,
            say=say,
            name=name,
            poll_s=settings.worker_poll_seconds,
            leader_check_s=settings.leader_check_seconds,
            elected=lambda ran: jobs.schedule(app, ran=ran),
            parent_pid=os.getppid() if index is not None else None,
            slot=(index, settings.workers) if index is not None else None,
        )
        logger.info(say("workers.worker_started", worker=name, pid=os.getpid()))
        code = await worker.run(stopping)
        if code == EXIT_SESSION_LOST:
            logger.critical(say("workers.session_lost", worker=name))
            if exit_now is not None:
                exit_now(code)
        return code
    finally:
        forget_signals()
        if app.running:
            await app.stop()
        await app.shutdown()  # nothing to do when initialize failed
        if services is not None:
            await services.inbox.settle()
        if claims is not None:
            await claims.close()
        if services is not None:
            await services.store.close()
        logger.info(say("workers.worker_stopped", worker=name))


async def startup(app: Application) -> None:  # type: ignore[type-arg]
    """Hold DATA_DIR, open the store (unless given), then publish the command menus."""
    settings: Settings = app.bot_data["settings"]
    # Held until shutdown: `riverbot restore` refuses while it is, and a second bot on the same data refuses.
    try:
        app.bot_data["data_dir_lock"] = DataDirLock.acquire(settings.data_dir)
    except DataDirBusy as busy:
        raise ConfigError("backup.data_dir_busy", path=str(settings.data_dir), pid=busy.pid or "?") from None
    if "services" not in app.bot_data:
        store = await open_store(settings, verify=True)
        app.bot_data["services"] = Services.create(settings, store)
        app.bot_data["owns_store"] = True
    services: Services = app.bot_data["services"]
    # Evidence copies and charts write Chinese: find the font now, so a wrong FONT_PATH stops the start.
    fonts.configure(settings.font_path)
    # The command line builds invite links offline: it needs to know who the bot is.
    await services.store.meta.set(BOT_USERNAME_KEY, app.bot.username)
    await publish_commands(app)


async def shutdown(app: Application) -> None:  # type: ignore[type-arg]
    if app.bot_data.pop("owns_store", False):
        services: Services = app.bot_data["services"]
        await services.store.close()
    lock: DataDirLock | None = app.bot_data.pop("data_dir_lock", None)
    if lock is not None:
        lock.release()


async def publish_commands(app: Application) -> None:  # type: ignore[type-arg]
    """The command menu in both languages, for private chats and groups; Telegram picks by the app's language."""
    services: Services = app.bot_data["services"]
    locales: Locales = services.locales
    scopes: list[tuple[Where, BotCommandScopeAllPrivateChats | BotCommandScopeAllGroupChats]] = [
        ("private", BotCommandScopeAllPrivateChats()),
        ("group", BotCommandScopeAllGroupChats()),
    ]
    for where, scope in scopes:
        for lang in (None, *LANGUAGES):
            shown = lang or services.settings.default_language
            commands = [BotCommand(c, locales.plain(shown, f"commands.{c}")) for c in menu_commands(where)]
            await app.bot.set_my_commands(commands, scope=scope, language_code=lang)
