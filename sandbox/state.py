"""In-memory world behind the fake Bot API: users, chats, messages, files and update queues.

Everything lives in one process so the test driver can read and change it directly while the bot
talks to it over HTTP. One :class:`BotState` per bot token: each bot has its own users, chats and
update queue, like separate bots on real Telegram (ids are allocated server-wide so they never clash).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import mimetypes
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

if TYPE_CHECKING:
    from .webhook import Push

JSON = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]

_ID_ALPHABET = string.ascii_letters + string.digits + "_-"
#: Update types Telegram does not deliver unless asked for explicitly in ``allowed_updates``.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024


_ATOMS = (str, int, float, bool, type(None))
_T = TypeVar("_T")


def json_copy(value: _T) -> _T:
    """A deep copy of JSON-shaped data (dicts, lists and scalars): what copy.deepcopy gives, at a fraction of its
    cost (no memo, no dispatch table). The stand-in copies every update it queues, pushes and hands back; with
    deepcopy that was a quarter of the intake benchmark's stand-in CPU, which the bot under test shares the machine
    with. Anything else (a tuple, an object) still goes to deepcopy."""
    return cast(_T, _copied(value))


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


def random_id(length: int) -> str:
    """Random string in the alphabet Telegram uses for tokens and file ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class Signal:
    """A re-armable broadcast: every waiter wakes on :meth:`fire`; later waiters wait for the next one."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def next_fire(self) -> asyncio.Event:
        """The event the next :meth:`fire` sets, taken now: a fire before its waiter first runs is not missed."""
        return self._event

    async def wait(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the next :meth:`fire`; ``False`` on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), max(within, 0))
        except TimeoutError:
            return False
        return True

    async def wait_until(self, predicate: Callable[[], bool], within: float) -> bool:
        """Wait until ``predicate()`` holds, re-checking after every fire; ``False`` on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self.wait(remaining)
        return True


@dataclass
class StoredFile:
    """A file the server can hand out via getFile and serve under ``/file/bot<token>/<file_path>``."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    #: the PhotoSize list this file belongs to (so a photo re-sent by file_id keeps all its sizes)
    photo_group: list[StoredFile] | None = field(default=None, repr=False)
    thumbnail: StoredFile | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def photo_size(self) -> JSON:
        """PhotoSize JSON."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "width": self.width or 0,
            "height": self.height or 0,
        }

    def document(self) -> JSON:
        """Document JSON (with a thumbnail when the document is an image)."""
        doc: JSON = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}
        if self.file_name:
            doc["file_name"] = self.file_name
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        if self.thumbnail is not None:
            doc["thumbnail"] = self.thumbnail.photo_size()
        return doc

    def file_json(self) -> JSON:
        """File JSON as returned by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


_PREFIX = {"photo": "AgACAgUAAxkBAAI", "document": "BQACAgUAAxkBAAI", "thumbnail": "AAMCBQADGQEAAg"}
_FOLDER = {"photo": "photos", "document": "documents", "thumbnail": "thumbnails"}


class FileStore:
    """All files known to the server, by file_id and by download path."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def add(
        self,
        data: bytes,
        kind: str,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        n = next(self._counter)
        ext = ".jpg" if kind in ("photo", "thumbnail") else _extension(file_name, mime_type)
        stored = StoredFile(
            file_id=_PREFIX.get(kind, "BQACAgUAAxkBAAI") + random_id(56),
            file_unique_id="AgAD" + random_id(12),
            kind=kind,
            data=data,
            file_path=f"{_FOLDER.get(kind, 'documents')}/file_{n}{ext}",
            mime_type=mime_type,
            file_name=file_name,
            width=width,
            height=height,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def add_photo(self, variants: list[tuple[bytes, int, int]]) -> list[StoredFile]:
        """Store the sizes of one photo; each size knows its siblings."""
        group = [self.add(d, "photo", mime_type="image/jpeg", width=w, height=h) for d, w, h in variants]
        for item in group:
            item.photo_group = group
        return group

    def get(self, file_id: str) -> StoredFile | None:
        return self.by_id.get(file_id)


def _extension(file_name: str | None, mime_type: str | None) -> str:
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1].lower()
    guessed = mimetypes.guess_extension(mime_type or "") if mime_type else None
    return guessed or ""


@dataclass
class UserRecord:
    """A Telegram account (a person, or a bot itself)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    #: pressed Start in the private chat with the bot (otherwise the bot gets 403 writing to them)
    started: bool = True
    #: blocked the bot (the bot gets 403 writing to them)
    blocked: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass
class ChatRecord:
    """A private chat, basic group or supergroup as the bot sees it."""

    id: int
    type: ChatType
    title: str | None = None
    user: UserRecord | None = None
    username: str | None = None
    is_forum: bool = False
    members: dict[int, UserRecord] = field(default_factory=dict)
    admins: set[int] = field(default_factory=set)
    owner_id: int | None = None
    #: the bot's own membership: "member", "administrator", "left" or "kicked"
    bot_status: str = "member"
    #: set when a basic group was upgraded; sending to the old id then fails like on Telegram
    migrated_to: int | None = None
    pinned: list[int] = field(default_factory=list)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def note_message_id(self, message_id: int) -> None:
        """Keep ids unique when a message with a given id is injected (replayed updates)."""
        self.last_message_id = max(self.last_message_id, message_id)

    @property
    def is_group(self) -> bool:
        return self.type != "private"

    def to_json(self) -> JSON:
        """Short Chat JSON as embedded in messages."""
        if self.user is not None:
            data: JSON = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        data = {"id": self.id, "type": self.type, "title": self.title or ""}
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data

    def full_info(self) -> JSON:
        """ChatFullInfo JSON for getChat."""
        data = self.to_json()
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if self.pinned:
            data["pinned_message"] = {"message_id": self.pinned[-1], "date": 0, "chat": self.to_json()}
        return data


def chat_member_json(chat: ChatRecord, user: UserRecord, bot_id: int) -> JSON:
    """ChatMember JSON for ``user`` in ``chat`` (drives getChatMember / getChatAdministrators)."""
    if user.id == bot_id:
        status = chat.bot_status
    elif chat.type == "private":
        status = "member" if chat.user is not None and chat.user.id == user.id else "left"
    elif user.id == chat.owner_id:
        status = "creator"
    elif user.id in chat.admins:
        status = "administrator"
    elif user.id in chat.members:
        status = "member"
    else:
        status = "left"
    return member_json(user, status)


def member_json(user: UserRecord, status: str) -> JSON:
    """ChatMember JSON of the given status with the fields python-telegram-bot requires."""
    data: JSON = {"status": status, "user": user.to_json()}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_pin_messages=True,
        )
    elif status == "kicked":
        data["until_date"] = 0
    return data


@dataclass
class SentMessage:
    """A message the bot sent, as tests want to inspect it (kept current through edits/deletion)."""

    message_id: int
    chat_id: int
    kind: str
    raw: JSON
    html: str | None = None
    parse_mode: str | None = None
    #: reply_markup exactly as the bot sent it (reply keyboards are not echoed in ``raw`` by Telegram)
    reply_markup: JSON | None = None
    edits: int = 0
    deleted: bool = False
    media_group_id: str | None = None
    album: list[SentMessage] = field(default_factory=list, repr=False)
    files: FileStore | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """Text, or caption for media messages (after HTML/Markdown parsing); "" when there is none."""
        value = self.raw.get("text", self.raw.get("caption"))
        return value if isinstance(value, str) else ""

    @property
    def entities(self) -> list[JSON]:
        value = self.raw.get("entities", self.raw.get("caption_entities", []))
        return list(value) if isinstance(value, list) else []

    @property
    def date(self) -> int:
        return int(self.raw["date"])

    @property
    def inline_keyboard(self) -> list[list[JSON]]:
        markup = self.raw.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", [])
        return [list(row) for row in rows]

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of ``(text, callback_data or url)``."""
        return [
            [(str(b.get("text", "")), b.get("callback_data", b.get("url"))) for b in row]
            for row in self.inline_keyboard
        ]

    @property
    def button_texts(self) -> list[str]:
        """All inline button texts, flattened."""
        return [text for row in self.buttons for text, _ in row]

    @property
    def keyboard_buttons(self) -> list[list[JSON]]:
        """Reply keyboard rows as button dicts (``text``, ``request_location``, ``request_contact``...)."""
        markup = self.reply_markup or {}
        rows = markup.get("keyboard", [])
        return [[b if isinstance(b, dict) else {"text": str(b)} for b in row] for row in rows]

    @property
    def keyboard(self) -> list[list[str]]:
        """Reply keyboard rows of button texts (empty if the message carries none)."""
        return [[str(b.get("text", "")) for b in row] for row in self.keyboard_buttons]

    @property
    def removes_keyboard(self) -> bool:
        return bool((self.reply_markup or {}).get("remove_keyboard"))

    def _file(self, file_id: str | None) -> bytes | None:
        if file_id is None or self.files is None:
            return None
        stored = self.files.get(file_id)
        return stored.data if stored else None

    @property
    def photo(self) -> bytes | None:
        """Bytes of the largest size of the photo, if this is a photo message."""
        sizes = self.raw.get("photo")
        return self._file(sizes[-1]["file_id"]) if sizes else None

    @property
    def document(self) -> bytes | None:
        doc = self.raw.get("document")
        return self._file(doc["file_id"]) if doc else None

    @property
    def document_name(self) -> str | None:
        doc = self.raw.get("document")
        return doc.get("file_name") if doc else None

    @property
    def location(self) -> JSON | None:
        loc = self.raw.get("location")
        return dict(loc) if loc else None

    @property
    def venue(self) -> JSON | None:
        venue = self.raw.get("venue")
        return dict(venue) if venue else None

    def describe(self) -> str:
        """One line for assertion messages."""
        flags = " (deleted)" if self.deleted else ""
        flags += f" (edited x{self.edits})" if self.edits else ""
        text = self.text
        body = "" if not text else repr(text if len(text) <= 200 else text[:200] + "...")
        extra = f" buttons={self.button_texts}" if self.inline_keyboard else ""
        extra += f" keyboard={self.keyboard}" if self.keyboard else ""
        return f"#{self.message_id} [{self.kind}]{flags} {body}{extra}".rstrip()


@dataclass
class CallbackRecord:
    """A callback query the bot still owes an answer for."""

    id: str
    user_id: int
    data: str | None
    answered: bool = False


class BotState:
    """Everything one bot can see and change, plus its update queue."""

    def __init__(self, token: str, bot_user: UserRecord, files: FileStore, clock: Callable[[], float]) -> None:
        self.token = token
        self.bot_user = bot_user
        self.files = files
        self.clock = clock
        self.privacy_mode = False
        self.users: dict[int, UserRecord] = {bot_user.id: bot_user}
        self.chats: dict[int, ChatRecord] = {}
        #: every message in the world (users' and the bot's), current version, by (chat_id, message_id)
        self.messages: dict[tuple[int, int], JSON] = {}
        self.sent: list[SentMessage] = []
        # Per-chat index: drivers look up one chat's messages on every wait, and scanning all of them made long
        # runs (benchmarks) slow down as they went.
        self.sent_by_chat: dict[int, list[SentMessage]] = {}
        self.sent_by_key: dict[tuple[int, int], SentMessage] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.answers: list[JSON] = []
        self.chat_actions: list[JSON] = []
        self.reactions: list[JSON] = []
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.settings: dict[str, Any] = {}
        self.webhook: JSON = {}
        #: every attempt to push an update to the webhook (sandbox/webhook.py), in order
        self.pushes: list[Push] = []
        # update queue
        self.pending: list[JSON] = []
        self.last_pushed_id = 100000
        self.consumed_upto = 100000
        self.allowed_updates: list[str] = []
        self.poll_generation = 0
        #: API calls (other than getUpdates) being served right now
        self.in_flight = 0
        self.closed = False
        self.updates_signal = Signal()
        self.activity = Signal()

    @property
    def bot_id(self) -> int:
        return self.bot_user.id

    @property
    def username(self) -> str:
        return self.bot_user.username or ""

    def now(self) -> int:
        return int(self.clock())

    # -- update queue -----------------------------------------------------------------------------

    def push_update(self, update: JSON) -> int:
        """Queue an update (deep-copied, so later edits don't change what the bot receives)."""
        update = json_copy(update)
        update_id = int(update.get("update_id") or self.last_pushed_id + 1)
        if update_id <= self.last_pushed_id:
            # Telegram's ids only grow; a smaller one would be dropped by the bot's offset silently.
            raise ValueError(f"update_id {update_id} must be greater than the last one ({self.last_pushed_id})")
        update["update_id"] = update_id
        self.last_pushed_id = update_id
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            # Any pushed query (driver-made or replayed) may be answered exactly once, as on Telegram.
            sender = query.get("from") or {}
            self.callbacks.setdefault(
                str(query["id"]),
                CallbackRecord(str(query["id"]), int(sender.get("id", 0)), query.get("data")),
            )
        self.pending.append(update)  # in order: ids only grow (checked above)
        self.updates_signal.fire()
        return int(update_id)

    def confirm(self, offset: int) -> None:
        """getUpdates ``offset`` semantics: forget updates below it (negative: keep only the last -N)."""
        if offset > 0:
            dropped = [u for u in self.pending if u["update_id"] < offset]
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        elif offset < 0:
            dropped = self.pending[:offset]
            self.pending = self.pending[offset:]
        else:
            return
        if dropped:
            self._mark_consumed(max(int(u["update_id"]) for u in dropped))
            if not self.pending:
                # all_confirmed holds now. Only then: every fire wakes every waiter, and a benchmark's hundreds
                # of people pushing updates wait on this signal.
                self.activity.fire()
        if offset > 0:
            self._mark_consumed(offset - 1)

    def take(self, limit: int) -> list[JSON]:
        """Updates to deliver now; updates of types the bot did not ask for are dropped for good."""
        allowed = set(self.allowed_updates)
        kept: list[JSON] = []
        for update in self.pending:
            kind = next((k for k in update if k != "update_id"), "")
            if (kind in allowed) if allowed else (kind not in OPT_IN_UPDATES):
                kept.append(update)
            else:
                self._mark_consumed(int(update["update_id"]))
        self.pending = kept
        return [json_copy(u) for u in kept[:limit]]

    def delivered(self, update_id: int) -> None:
        """One update taken by the webhook, maybe before earlier ones (pushes at once): it leaves the queue, and
        `consumed_upto` counts up to the first that is still waiting."""
        self.pending = [u for u in self.pending if u["update_id"] != update_id]
        self._mark_consumed(int(self.pending[0]["update_id"]) - 1 if self.pending else self.last_pushed_id)
        if not self.pending:
            self.activity.fire()

    def mark_delivered(self, updates: list[JSON]) -> None:
        if updates:
            self._mark_consumed(max(int(u["update_id"]) for u in updates))

    def _mark_consumed(self, update_id: int) -> None:
        if update_id > self.consumed_upto:
            self.consumed_upto = update_id
            self.activity.fire()

    @property
    def all_consumed(self) -> bool:
        """Every pushed update fetched: delivered in a getUpdates answer, or dropped as not allowed."""
        return self.consumed_upto >= self.last_pushed_id

    @property
    def all_confirmed(self) -> bool:
        """Every pushed update confirmed by the offset of a later getUpdates, or dropped. A bot asks again only
        once it has taken in what it fetched (PTB: put it in its update queue), so from here the bot's own idle
        signal covers every update."""
        return not self.pending

    def call_started(self, at: float) -> None:
        self.in_flight += 1

    def call_finished(self, at: float) -> None:
        self.in_flight -= 1
        self.activity.fire()

    # -- messages ---------------------------------------------------------------------------------

    def store_message(self, message: JSON) -> None:
        self.messages[(int(message["chat"]["id"]), int(message["message_id"]))] = message

    def record_sent(self, sent: SentMessage) -> None:
        self.sent.append(sent)
        self.sent_by_chat.setdefault(sent.chat_id, []).append(sent)
        self.sent_by_key[(sent.chat_id, sent.message_id)] = sent
        self.activity.fire()

    def sent_in_chat(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in one chat, oldest first (a live view: don't modify it)."""
        return self.sent_by_chat.get(chat_id, [])

    def close(self) -> None:
        """Wake every long poll and waiter so the server can shut down promptly."""
        self.closed = True
        self.updates_signal.fire()
        self.activity.fire()
