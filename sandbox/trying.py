"""`riverbot try`: the real bot against the Bot API stand-in, in one process, with a chat page in the browser.

Everything lives in DATA_DIR/try/: the bot's own database (never a real deployment's), the stand-in's state file
(token, chats, messages, files, update counter) and the files people and the bot sent. A restart picks up the
conversation where it was; the first start seeds the sample registry and a few weeks of demo history.

The people are fixed, so a page left open keeps working after a restart: the office admin (an admin for this run
only), a village chief and a town chief of the sample registry (their Telegram ids are in examples/registry),
a volunteer, a stranger, and one group chat per area, bound to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.i18n import Locales

from .driver import FakeGroup, FakeUser, Sandbox
from .server import BotApiServer
from .state import JSON, SentMessage, StoredFile, random_id

log = logging.getLogger(__name__)

TRY_DIR = "try"
STATE_FILE = "standin.json"
FILES_DIR = "files"
BOT_USERNAME = "riverbot_try_bot"
DEFAULT_PORT = 8088
# Demo history seeded on first start: the generator needs half a year at least (chiefs change half-way), and
# a year gives the charts, the summaries and the exports something to show; it takes a few seconds.
DEMO_YEARS = 1
SAVE_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Person:
    """One of the fixed people of the try world; `key` is the page's stable name for them."""

    key: str
    user_id: int
    language: str


# The two chiefs are in examples/registry/chiefs.csv with these Telegram ids (a village and a town chief of
# Chengdong), so the registry binds them on import; their names come from there too.
PEOPLE = (
    Person("admin", 900_000_001, "zh-hans"),
    Person("village", 6_391_520_847, "zh-hans"),
    Person("town", 736_104_259, "zh-hans"),
    Person("volunteer", 900_000_004, "zh-hans"),
    Person("stranger", 900_000_005, "zh-hans"),
)
GROUP_ID_BASE = -1_000_900_000_000


class SkewClock:
    """The stand-in's clock: real time plus a skew, never ahead of real time.

    A walk compresses time through Telegram's dates: its points are dated 30 s apart while a fraction of that
    passes. The bot takes a date more than two minutes ahead of its own clock as now (a forged client's), so the
    world must run behind real time for a walk to fit: it starts TIME_BANK_S behind, and each walk spends what it
    compresses. The page says how much is left."""

    def __init__(self, skew: float = 0.0) -> None:
        self.skew = skew

    def __call__(self) -> float:
        return time.time() + self.skew

    @property
    def banked(self) -> float:
        """Seconds of Telegram time a walk may still compress."""
        return max(0.0, -self.skew)


# Two hours of Telegram time for walks: six 20-minute patrols walked in seconds each.
TIME_BANK_S = 2 * 3600


def try_settings(base: Settings, api_url: str, token: str) -> Settings:
    """The settings of the try run: the base ones with DATA_DIR/try, the stand-in, and the office admin."""
    admin = PEOPLE[0].user_id
    values = base.model_dump()
    values.update(
        bot_token=token,
        telegram_api_url=api_url,
        telegram_api_local=False,
        telegram_proxy=None,
        webhook_url=None,
        webhook_secret=None,
        data_dir=try_dir(base),
        admin_ids=frozenset({*base.admin_ids, admin}),
        # The world runs up to TIME_BANK_S behind the bot's clock: a patrol must not look idle for that alone.
        patrol_idle_minutes=max(base.patrol_idle_minutes, TIME_BANK_S // 60 + 30),
        rate_limit_per_second=1000,
        rate_limit_group_per_minute=10_000,
    )
    values["backup_dir"] = try_dir(base) / "backups"  # never among a real deployment's backups
    # A database of its own, whatever DATABASE_URL the deployment names (its PostgreSQL server would get the demo).
    values["database_url"] = f"sqlite:///{try_dir(base) / 'riverbot.sqlite3'}"
    return load_settings(env_file=None, **{k: v for k, v in values.items() if v is not None})


def try_dir(settings: Settings) -> Path:
    return settings.data_dir / TRY_DIR


class TryWorld:
    """The stand-in with the fixed people and groups, its state kept in a file across restarts."""

    def __init__(self, folder: Path, locales: Locales, language: str, zone: tzinfo = UTC) -> None:
        self.folder = folder
        self.zone = zone
        self.locales = locales
        self.language = language
        self.clock = SkewClock()
        self.server = BotApiServer(clock=self.clock)
        self.token = ""
        self.sandbox: Sandbox | None = None
        self.people: dict[str, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        #: area code of each group chat, for the page's list
        self.group_areas: dict[int, str] = {}
        self._saved_marker: tuple[int, int] = (-1, -1)
        self._saver: asyncio.Task[None] | None = None
        (folder / FILES_DIR).mkdir(parents=True, exist_ok=True)

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    def person_name(self, key: str) -> str:
        user_id = next(p.user_id for p in PEOPLE if p.key == key)
        return sample_chief_names().get(user_id) or self.locales.plain(self.language, f"try.name.{key}")

    def build(self, areas: list[tuple[str, str]]) -> None:
        """The bot, the people and one group per area (code, name); then what the state file kept."""
        saved: JSON = {}
        if self.state_path.exists():
            saved = json.loads(self.state_path.read_text(encoding="utf-8"))
        self.clock.skew = float(saved.get("skew", -TIME_BANK_S))
        self.token = str(saved.get("token") or f"{7_000_900_001}:AA{random_id(33)}")
        self.server.add_bot(BOT_USERNAME, self.locales.plain(self.language, "try.bot_name"), token=self.token)
        sandbox = self.sandbox = self.server.sandbox(self.token)
        for person in PEOPLE:
            # Telegram tells the bot the app's language: the run's DEFAULT_LANGUAGE (each can still switch).
            language = "en" if self.language == "en" else person.language
            self.people[person.key] = sandbox.user(
                self.person_name(person.key), language_code=language, user_id=person.user_id
            )
        members = [p for k, p in self.people.items() if k != "stranger"]
        for index, (code, name) in enumerate(areas):
            chat_id = GROUP_ID_BASE - index
            group = sandbox.group(
                self.locales.plain(self.language, "try.group_title", area=name),
                members=[m for m in members if m.id != self.people["admin"].id],
                admins=[self.people["admin"]],
                owner=self.people["admin"],
                chat_id=chat_id,
                bot_admin=True,
            )
            self.groups[chat_id] = group
            self.group_areas[chat_id] = code
        self._restore(saved)

    # -- persistence -----------------------------------------------------------------------------

    def _restore(self, saved: JSON) -> None:
        state = self.server.bot(self.token)
        if not saved:
            return
        state.last_pushed_id = state.consumed_upto = int(saved.get("last_update_id", state.last_pushed_id))
        files = self.server.files
        highest = 0
        for item in saved.get("files", []):
            path = self.folder / FILES_DIR / item["file_unique_id"]
            if not path.exists():
                continue
            stored = StoredFile(
                file_id=item["file_id"],
                file_unique_id=item["file_unique_id"],
                kind=item["kind"],
                data=path.read_bytes(),
                file_path=item["file_path"],
                mime_type=item.get("mime_type"),
                file_name=item.get("file_name"),
                width=item.get("width"),
                height=item.get("height"),
            )
            files.by_id[stored.file_id] = stored
            files.by_path[stored.file_path] = stored
            found = re.search(r"file_(\d+)", stored.file_path)
            highest = max(highest, int(found[1]) if found else 0)
        files._counter = itertools.count(highest + 1)
        for chat_id, last in saved.get("chats", {}).items():
            chat = state.chats.get(int(chat_id))
            if chat is not None:
                chat.last_message_id = max(chat.last_message_id, int(last))
        for message in saved.get("messages", []):
            state.store_message(message)
            sizes = [files.by_id.get(p["file_id"]) for p in message.get("photo", [])]
            group = [s for s in sizes if s is not None]
            for item in group:
                item.photo_group = group
        for item in saved.get("sent", []):
            raw = state.messages.get((int(item["chat_id"]), int(item["message_id"])))
            if raw is None:
                continue
            state.record_sent(
                SentMessage(
                    message_id=int(item["message_id"]),
                    chat_id=int(item["chat_id"]),
                    kind=str(item["kind"]),
                    raw=raw,
                    html=item.get("html"),
                    parse_mode=item.get("parse_mode"),
                    reply_markup=item.get("reply_markup"),
                    edits=int(item.get("edits", 0)),
                    media_group_id=item.get("media_group_id"),
                    files=files,
                )
            )
        if self.sandbox is not None:  # what was there before the restart counts as read
            for chat_id, sent in state.sent_by_chat.items():
                self.sandbox.read_upto[chat_id] = len(sent)

    def save(self) -> None:
        """Write the state file (atomically) and any file not yet on disk."""
        state = self.server.bot(self.token)
        files: list[JSON] = []
        for stored in self.server.files.by_id.values():
            path = self.folder / FILES_DIR / stored.file_unique_id
            if not path.exists():
                path.write_bytes(stored.data)
            files.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "kind": stored.kind,
                    "file_path": stored.file_path,
                    "mime_type": stored.mime_type,
                    "file_name": stored.file_name,
                    "width": stored.width,
                    "height": stored.height,
                }
            )
        data: JSON = {
            "token": self.token,
            "skew": self.clock.skew,
            "last_update_id": state.last_pushed_id,
            "chats": {str(c.id): c.last_message_id for c in state.chats.values()},
            "messages": list(state.messages.values()),
            "sent": [
                {
                    "chat_id": s.chat_id,
                    "message_id": s.message_id,
                    "kind": s.kind,
                    "html": s.html,
                    "parse_mode": s.parse_mode,
                    "reply_markup": s.reply_markup,
                    "edits": s.edits,
                    "media_group_id": s.media_group_id,
                }
                for s in state.sent
                if not s.deleted
            ],
            "files": files,
        }
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        temporary.replace(self.state_path)
        self._saved_marker = self._marker()

    def _marker(self) -> tuple[int, int]:
        state = self.server.bot(self.token)
        return state.last_pushed_id, len(self.server.calls)

    async def keep_saved(self) -> None:
        """Save whenever something happened, at most once a second."""
        while True:
            await asyncio.sleep(SAVE_EVERY_S)
            if self._marker() != self._saved_marker:
                try:
                    self.save()
                except OSError:
                    log.exception("could not save the try state in %s", self.folder)
            if len(self.server.calls) > 5000:  # the call log is for tests; a long try session must not grow it
                del self.server.calls[:-1000]


async def seed(settings: Settings, world: TryWorld) -> None:
    """First start: the sample registry (areas, reaches, chiefs), a few weeks of history, the groups bound."""
    from bot.backups import open_store  # noqa: PLC0415
    from bot.chats import ChatService  # noqa: PLC0415
    from bot.demo import SAMPLE_REGISTRY, generate  # noqa: PLC0415
    from bot.registry_import import read_files, run_import  # noqa: PLC0415
    from storage import demo as bulk  # noqa: PLC0415

    store = await open_store(settings, verify=True)
    try:
        if not await bulk.has_registry(store):
            files = [SAMPLE_REGISTRY / name for name in ("areas.csv", "reaches.geojson", "chiefs.csv")]
            today = datetime.now(settings.tz).date()
            await run_import(store, settings, read_files(files), today=today)
        if not await bulk.has_history(store):
            await generate(store, settings, scale="small", years=DEMO_YEARS)
        chats = ChatService(store, settings)
        for chat_id, code in world.group_areas.items():
            area = await store.areas.by_code(code)
            if area is not None and not await chats.is_bound(chat_id):
                title = world.groups[chat_id].title
                await chats.bind(chat_id, area.id, type="supergroup", title=title, expected=None, by=None)
    finally:
        await store.close()


def sample_chief_names() -> dict[int, str]:
    """Telegram id -> name of the sample registry's chiefs that have one."""
    import csv  # noqa: PLC0415

    from bot.demo import SAMPLE_REGISTRY  # noqa: PLC0415

    with (SAMPLE_REGISTRY / "chiefs.csv").open(encoding="utf-8") as handle:
        return {int(row["telegram_id"]): row["name"] for row in csv.DictReader(handle) if row["telegram_id"]}


def sample_areas() -> list[tuple[str, str]]:
    """(code, Chinese name) of the sample registry's areas, for the group chats."""
    import csv  # noqa: PLC0415

    from bot.demo import SAMPLE_REGISTRY  # noqa: PLC0415

    with (SAMPLE_REGISTRY / "areas.csv").open(encoding="utf-8") as handle:
        return [(row["code"], row["name_zh"]) for row in csv.DictReader(handle)]


@dataclass
class Running:
    """A started try run: the world (stand-in and page) and the bot's Application."""

    world: TryWorld
    app: Any
    settings: Settings
    url: str

    async def stop(self) -> None:
        from bot.app import stop as stop_app  # noqa: PLC0415

        if self.world._saver is not None:
            self.world._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.world._saver
        with contextlib.suppress(Exception):
            await stop_app(self.app)
        self.world.save()
        await self.world.server.stop()


async def start_try(
    base: Settings, locales: Locales, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, poll_timeout: int = 10
) -> Running:
    """The stand-in with its page, then the bot against it (seeded on first start)."""
    from bot.app import build_application  # noqa: PLC0415
    from bot.app import start as start_app  # noqa: PLC0415

    from .chatpage import ChatPage  # noqa: PLC0415

    folder = try_dir(base)
    folder.mkdir(parents=True, exist_ok=True)
    world = TryWorld(folder, locales, base.default_language, base.tz)
    world.build(sample_areas())
    page = ChatPage(world)
    try:
        url = await world.server.start(host, port, setup=page.routes)
    except OSError as exc:
        raise ConfigError("cli.try.port_busy", port=port, reason=exc.strerror or str(exc)) from None
    settings = try_settings(base, url, world.token)
    await seed(settings, world)
    app = build_application(settings)
    assert world.sandbox is not None
    world.sandbox.watch(app.work)
    await start_app(app, poll_timeout=poll_timeout)
    world.save()
    world._saver = asyncio.create_task(world.keep_saved())
    return Running(world, app, settings, url)


async def serve_try(base: Settings, locales: Locales, lang: str, *, port: int) -> None:
    """`riverbot try` until Ctrl+C: the one line saying what runs and where."""
    from bot.app import on_stop_signals  # noqa: PLC0415

    running = await start_try(base, locales, port=port)
    print(locales.plain(lang, "cli.try.running", url=running.url, data_dir=str(running.settings.data_dir)), flush=True)
    stopping = asyncio.Event()
    forget = on_stop_signals(stopping.set)
    try:
        await stopping.wait()
    finally:
        forget()
        await running.stop()
