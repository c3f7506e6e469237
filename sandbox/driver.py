"""Test driver: play people and group chats against one bot and inspect what the bot sent.

The driver changes the world directly (it shares memory with the server) and pushes the same
updates Telegram would, so the bot under test sees exactly what it would see in production.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import mimetypes
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .markup import detect_entities
from .media import compress_photo, make_thumbnail
from .methods import push_my_chat_member
from .state import JSON, BotState, ChatRecord, SentMessage, UserRecord, json_copy

if TYPE_CHECKING:
    from .server import ApiCall, BotApiServer

DateLike = int | float | dtm.datetime | None
INDEFINITE_LIVE_PERIOD = 0x7FFFFFFF

__all__ = ["BotProbe", "FakeGroup", "FakeUser", "Sandbox", "SentMessage"]
#: how long expect_silence() watches a bot that gives no probe
SILENCE_WITHOUT_PROBE = 0.3


class BotProbe(Protocol):
    """What the bot under test says about its own work (riverbot: `bot.app.WorkTracker`).

    The Bot API sees only what a bot fetches and calls, not when its handlers are done; with a probe the driver
    waits until the bot is done instead of waiting for a quiet period.
    """

    @property
    def idle(self) -> bool:
        """No update taken in but unhandled, and no task started for one still running."""
        ...

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` each time the bot becomes idle."""
        ...


class Sandbox:
    """The world of one bot: create people and groups, push updates, read what the bot did."""

    def __init__(self, server: BotApiServer, token: str, probe: BotProbe | None = None) -> None:
        self.server = server
        self.token = token
        self.state: BotState = server.bot(token)
        #: per chat: how many bot messages next_message() has handed out (shared by everyone in the chat)
        self.read_upto: dict[int, int] = {}
        self.probe: BotProbe | None = None
        if probe is not None:
            self.watch(probe)

    def watch(self, probe: BotProbe) -> None:
        """Wait on this probe from now on (e.g. the Application that replaced a stopped one)."""
        self.probe = probe
        probe.subscribe(self.state.activity.fire)

    # -- world -----------------------------------------------------------------------------------

    @property
    def bot_user(self) -> JSON:
        return self.state.bot_user.to_json()

    @property
    def bot_username(self) -> str:
        return self.state.username

    def user(
        self,
        first_name: str = "Alice",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        started: bool = True,
        *,
        user_id: int | None = None,
    ) -> FakeUser:
        """A person with a private chat with the bot; ``started=False``: never pressed Start."""
        uid = user_id if user_id is not None else 100000000 + self.server.next_id()
        if uid in self.state.users:
            raise ValueError(f"user id {uid} already exists")
        record = UserRecord(uid, first_name, last_name, username, language_code, started=started)
        self.state.users[uid] = record
        self.state.chats[uid] = ChatRecord(id=uid, type="private", user=record)
        return FakeUser(self, record)

    def group(
        self,
        title: str = "Test group",
        supergroup: bool = True,
        members: list[FakeUser] | None = None,
        admins: list[FakeUser] | None = None,
        chat_id: int | None = None,
        *,
        owner: FakeUser | None = None,
        bot_admin: bool = False,
        bot_member: bool = True,
        username: str | None = None,
        is_forum: bool = False,
    ) -> FakeGroup:
        """A group the bot is in (unless ``bot_member=False``); admins are members too."""
        if chat_id is None:
            n = self.server.next_id()
            chat_id = -(1000000000000 + 2000000000 + n) if supergroup else -(400000000 + n)
        if chat_id in self.state.chats:
            raise ValueError(f"chat id {chat_id} already exists")
        chat = ChatRecord(
            id=chat_id,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
            is_forum=is_forum,
            bot_status=("administrator" if bot_admin else "member") if bot_member else "left",
        )
        everyone = list(members or []) + list(admins or []) + ([owner] if owner else [])
        for person in everyone:
            chat.members[person.id] = person.record
        chat.admins = {p.id for p in admins or []}
        chat.owner_id = owner.id if owner else None
        self.state.chats[chat_id] = chat
        return FakeGroup(self, chat)

    # -- updates ----------------------------------------------------------------------------------

    def push_raw(self, update: JSON) -> int:
        """Push any update dict (e.g. a recorded one); an id is assigned if missing or 0."""
        if not isinstance(update, dict):
            raise TypeError("update must be a dict")
        for kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(kind)
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                self._learn(message)
        return self.state.push_update(update)

    def _learn(self, message: JSON) -> None:
        """Make a replayed message's chat, sender and message known, so the bot can answer it."""
        state = self.state
        sender = message.get("from")
        if isinstance(sender, dict) and "id" in sender and sender["id"] not in state.users:
            state.users[sender["id"]] = UserRecord(
                sender["id"],
                sender.get("first_name", ""),
                sender.get("last_name"),
                sender.get("username"),
                sender.get("language_code"),
                is_bot=bool(sender.get("is_bot")),
            )
        chat_json = message["chat"]
        chat = state.chats.get(chat_json.get("id"))
        if chat is None and "id" in chat_json:
            kind = chat_json.get("type", "private")
            user = state.users.get(chat_json["id"]) if kind == "private" else None
            if kind == "private" and user is None:
                return
            chat = ChatRecord(
                id=chat_json["id"],
                type=kind,
                title=chat_json.get("title"),
                user=user,
                username=chat_json.get("username"),
                is_forum=bool(chat_json.get("is_forum")),
            )
            state.chats[chat.id] = chat
        if chat is None or "message_id" not in message:
            return
        if chat.user is not None and chat.user.id == (sender or {}).get("id"):
            chat.user.started = True
        if isinstance(sender, dict) and chat.is_group and sender.get("id") in state.users:
            chat.members.setdefault(sender["id"], state.users[sender["id"]])
        chat.note_message_id(int(message["message_id"]))
        state.store_message(json_copy(message))

    async def wait_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the documented test API
        """Wait until the bot has taken in every pushed update and, with a probe, is idle: every handler it ran
        for them, and every task they started, has ended.

        Without a probe only fetching can be seen (the Bot API's view): the handlers may still be running.
        """
        state, probe = self.state, self.probe
        if probe is None:
            done, waiting_for = (lambda: state.all_consumed), "fetch"
        else:
            done, waiting_for = (lambda: state.all_confirmed and probe.idle), "finish"
        if not await state.activity.wait_until(done, timeout):
            raise AssertionError(
                f"bot did not {waiting_for} updates up to #{state.last_pushed_id} within {timeout}s "
                f"(fetched up to #{state.consumed_upto}, {len(state.pending)} unconfirmed, "
                f"{state.in_flight} API calls in flight, idle: {probe.idle if probe else 'no probe'}); "
                f"is it polling?{self._failures()}"
            )

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until `predicate()` holds, checking it after every API call, fetch and idle moment of the bot."""
        if not await self.state.activity.wait_until(predicate, timeout):
            raise AssertionError(f"condition not met within {timeout}s{self._failures()}")

    # -- what the bot did --------------------------------------------------------------------------

    @property
    def answers(self) -> list[JSON]:
        """Callback query answers: dicts with callback_query_id, text, show_alert, url, cache_time."""
        return self.state.answers

    async def answer(self, callback_query_id: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """Wait for the bot to answer a callback query and return the answer."""

        def find() -> JSON | None:
            return next((a for a in self.state.answers if a["callback_query_id"] == callback_query_id), None)

        await self.state.activity.wait_until(lambda: find() is not None, timeout)
        found = find()
        if found is None:
            raise AssertionError(f"callback query {callback_query_id} not answered within {timeout}s{self._failures()}")
        return found

    def commands(
        self,
        scope_type: str = "default",
        language_code: str | None = None,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[JSON]:
        """Commands stored by setMyCommands for a scope (+ chat/user for chat scopes) and language."""
        key = scope_type
        if chat_id is not None:
            key += f":{chat_id}"
        if user_id is not None:
            key += f":{user_id}"
        return list(self.state.commands.get((key, language_code or ""), []))

    @property
    def sent(self) -> list[SentMessage]:
        """Every message the bot sent, in order, all chats."""
        return list(self.state.sent)

    @property
    def calls(self) -> list[ApiCall]:
        """API calls this bot made."""
        return [c for c in self.server.calls if c.token == self.token]

    def _failures(self, limit: int = 5) -> str:
        failed = [c for c in self.calls if c.status != 200][-limit:]
        if not failed:
            return ""
        lines = [f"  {c.method} -> {c.status} {(c.response or {}).get('description', '')}" for c in failed]
        return "\nRecent failed API calls by the bot:\n" + "\n".join(lines)

    # -- helpers used by FakeUser/FakeGroup -----------------------------------------------------------

    def timestamp(self, date: DateLike) -> int:
        if date is None:
            return self.state.now()
        if isinstance(date, dtm.datetime):
            if date.tzinfo is None:
                raise ValueError("use an aware datetime (e.g. tzinfo=datetime.timezone.utc)")
            return int(date.timestamp())
        return int(date)

    def chat_record(self, chat: FakeGroup | int | None, person: FakeUser | None = None) -> ChatRecord:
        if chat is None:
            if person is None:
                raise ValueError("chat is required")
            return self.state.chats[person.id]
        chat_id = chat.chat_id if isinstance(chat, FakeGroup) else chat
        record = self.state.chats.get(chat_id)
        if record is None:
            raise ValueError(f"unknown chat {chat_id}")
        return record

    def deliver(self, chat: ChatRecord, kind: str, message: JSON, *, always: bool = False) -> bool:
        """Push ``message`` as a ``kind`` update if the bot can see it in ``chat``."""
        if chat.is_group:
            if chat.bot_status not in ("member", "administrator"):
                return False
            filtered = self.state.privacy_mode and chat.bot_status != "administrator"
            if filtered and not always and not self._visible_in_privacy_mode(message):
                return False
        self.state.push_update({kind: message})
        return True

    def _visible_in_privacy_mode(self, message: JSON) -> bool:
        text = str(message.get("text") or message.get("caption") or "")
        reply = message.get("reply_to_message") or {}
        return (
            text.startswith("/")
            or f"@{self.bot_username}".lower() in text.lower()
            or reply.get("from", {}).get("id") == self.state.bot_id
            or not any(k in message for k in ("text", "photo", "document", "location", "venue", "contact"))
        )


class FakeUser:
    """A human Telegram user talking to the bot."""

    def __init__(self, sandbox: Sandbox, record: UserRecord) -> None:
        self.sandbox = sandbox
        self.record = record

    def __repr__(self) -> str:
        return f"FakeUser(id={self.id}, first_name={self.record.first_name!r})"

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def first_name(self) -> str:
        return self.record.first_name

    @property
    def username(self) -> str | None:
        return self.record.username

    @property
    def json(self) -> JSON:
        """The ``User`` JSON Telegram puts in ``from``."""
        return self.record.to_json()

    @property
    def started(self) -> bool:
        return self.record.started

    @property
    def state(self) -> BotState:
        return self.sandbox.state

    # -- sending -----------------------------------------------------------------------------------

    def _base(
        self,
        chat: FakeGroup | int | None,
        date: DateLike,
        reply_to: SentMessage | JSON | int | None = None,
        thread_id: int | None = None,
    ) -> tuple[ChatRecord, JSON]:
        record = self.sandbox.chat_record(chat, self)
        if record.user is not None:
            if record.user.id != self.id:
                raise AssertionError(f"{self} can't write in {record.user.first_name}'s private chat")
            if self.record.blocked:
                raise AssertionError(f"{self} blocked the bot; call unblock_bot() first")
        elif self.id not in record.members:
            raise AssertionError(f"{self} is not a member of group {record.title!r}")
        msg: JSON = {
            "message_id": record.next_message_id(),
            "from": self.json,
            "chat": record.to_json(),
            "date": self.sandbox.timestamp(date),
        }
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        if reply_to is not None:
            msg["reply_to_message"] = self._reply_target(record, reply_to)
        return record, msg

    def _reply_target(self, chat: ChatRecord, reply_to: SentMessage | JSON | int) -> JSON:
        if isinstance(reply_to, SentMessage):
            message_id = reply_to.message_id
        elif isinstance(reply_to, dict):
            message_id = int(reply_to["message_id"])
        else:
            message_id = reply_to
        target = self.state.messages.get((chat.id, message_id))
        if target is None:
            raise AssertionError(f"no message {message_id} in chat {chat.id} to reply to")
        return {k: v for k, v in json_copy(target).items() if k != "reply_to_message"}

    async def _send(self, chat: ChatRecord, msg: JSON) -> JSON:
        if chat.user is not None:
            self.record.started = True
        self.state.store_message(msg)
        self.sandbox.deliver(chat, "message", msg)
        await asyncio.sleep(0)
        return json_copy(msg)

    async def send(
        self,
        text: str,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
        reply_to: SentMessage | JSON | int | None = None,
        thread_id: int | None = None,
        *,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """Send a text message (``chat=None``: the private chat); returns the message dict."""
        record, msg = self._base(chat, date, reply_to, thread_id)
        msg["text"] = text
        found = entities if entities is not None else detect_entities(text)
        if found:
            msg["entities"] = found
        return await self._send(record, msg)

    async def send_photo(
        self,
        data: bytes,
        caption: str | None = None,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
        *,
        media_group_id: str | None = None,
        reply_to: SentMessage | JSON | int | None = None,
    ) -> JSON:
        """Send a compressed photo: re-encoded, resized, metadata (EXIF/GPS) stripped like Telegram."""
        record, msg = self._base(chat, date, reply_to)
        sizes = self.state.files.add_photo(compress_photo(data))
        msg["photo"] = [s.photo_size() for s in sizes]
        if caption:
            msg["caption"] = caption
            found = detect_entities(caption)
            if found:
                msg["caption_entities"] = found
        if media_group_id:
            msg["media_group_id"] = media_group_id
        return await self._send(record, msg)

    async def send_album(
        self,
        photos: list[bytes],
        caption: str | None = None,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
    ) -> list[JSON]:
        """Several photos at once: one message per photo sharing a media_group_id (caption on the first)."""
        group_id = str(10**17 + secrets.randbelow(9 * 10**17))
        return [
            await self.send_photo(p, caption if i == 0 else None, chat, date, media_group_id=group_id)
            for i, p in enumerate(photos)
        ]

    async def send_document(
        self,
        data: bytes,
        file_name: str = "IMG_0001.jpg",
        mime_type: str | None = "image/jpeg",
        caption: str | None = None,
        *,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
    ) -> JSON:
        """Send a file ("photo as a file"): bytes kept exactly, EXIF included; images get a thumbnail."""
        record, msg = self._base(chat, date)
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.state.files.add(data, "document", mime_type=mime, file_name=file_name)
        thumb = make_thumbnail(data)
        if thumb is not None:
            tdata, width, height = thumb
            stored.thumbnail = self.state.files.add(
                tdata, "thumbnail", mime_type="image/jpeg", width=width, height=height
            )
        msg["document"] = stored.document()
        if caption:
            msg["caption"] = caption
        return await self._send(record, msg)

    async def send_location(
        self,
        lat: float,
        lon: float,
        live_period: int | None = None,
        heading: int | None = None,
        *,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
        horizontal_accuracy: float | None = None,
    ) -> JSON:
        """Share a location; with ``live_period`` (seconds) it is a live location that can be edited."""
        record, msg = self._base(chat, date)
        loc: JSON = {"latitude": lat, "longitude": lon}
        if horizontal_accuracy is not None:
            loc["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            loc["live_period"] = live_period
            if heading is not None:
                loc["heading"] = heading
        msg["location"] = loc
        return await self._send(record, msg)

    async def edit_live_location(
        self,
        message: JSON,
        lat: float,
        lon: float,
        *,
        edit_date: DateLike = None,
        stop: bool = False,
        heading: int | None = None,
    ) -> JSON:
        """Move a live location (an ``edited_message`` update); ``stop=True`` ends sharing."""
        key = (int(message["chat"]["id"]), int(message["message_id"]))
        current = self.state.messages.get(key)
        if current is None or "location" not in current:
            raise AssertionError("not a location message of this sandbox")
        if current["from"]["id"] != self.id:
            raise AssertionError(f"{self} can only edit her own live location")
        period = current["location"].get("live_period")
        if period is None:
            raise AssertionError("live location already stopped (or was never live)")
        when = self.sandbox.timestamp(edit_date)
        if period != INDEFINITE_LIVE_PERIOD and when > int(current["date"]) + period:
            raise AssertionError(f"live period expired: {when} > date {current['date']} + {period}s")
        loc: JSON = {"latitude": lat, "longitude": lon}
        if not stop:
            loc["live_period"] = period
            if heading is not None:
                loc["heading"] = heading
        current["location"] = loc
        current["edit_date"] = when
        chat = self.state.chats[key[0]]
        self.sandbox.deliver(chat, "edited_message", current)
        await asyncio.sleep(0)
        return json_copy(current)

    async def send_contact(
        self,
        phone_number: str = "+8613800000000",
        own: bool = True,
        *,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
        first_name: str | None = None,
    ) -> JSON:
        """Share a contact; ``own=True`` is "share my phone number" (contact.user_id is the sender)."""
        record, msg = self._base(chat, date)
        contact: JSON = {"phone_number": phone_number, "first_name": first_name or self.first_name}
        if own:
            contact["user_id"] = self.id
            if self.record.last_name:
                contact["last_name"] = self.record.last_name
        msg["contact"] = contact
        return await self._send(record, msg)

    async def send_media(
        self,
        kind: str,
        data: bytes = b"OggS\x00fake media",
        duration: int = 5,
        caption: str | None = None,
        *,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
    ) -> JSON:
        """Send a voice note, an audio file, a video or a round video note (``kind`` as Telegram names the field:
        voice, audio, video, video_note); the bytes are kept for getFile, nothing checks what they are."""
        if kind not in ("voice", "audio", "video", "video_note"):
            raise ValueError(f"not a media kind: {kind}")
        record, msg = self._base(chat, date)
        mime = {"voice": "audio/ogg", "audio": "audio/mpeg"}.get(kind, "video/mp4")
        stored = self.state.files.add(data, kind, mime_type=mime)
        media: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": duration}
        if kind == "video_note":
            media["length"] = 240
        elif kind == "video":
            media.update(width=640, height=360)
        msg[kind] = media
        if caption and kind != "video_note":
            msg["caption"] = caption
        return await self._send(record, msg)

    async def send_venue(
        self,
        lat: float,
        lon: float,
        title: str,
        address: str,
        *,
        chat: FakeGroup | int | None = None,
        date: DateLike = None,
    ) -> JSON:
        """Share a venue (Telegram includes both ``venue`` and ``location``)."""
        record, msg = self._base(chat, date)
        loc = {"latitude": lat, "longitude": lon}
        msg["venue"] = {"location": loc, "title": title, "address": address}
        msg["location"] = dict(loc)
        return await self._send(record, msg)

    # -- buttons ---------------------------------------------------------------------------------

    async def press(self, bot_message: SentMessage, text: str | None = None, data: str | None = None) -> str:
        """Press an inline button (by text or callback_data) of a bot message; returns the query id."""
        current = self.state.sent_by_key.get((bot_message.chat_id, bot_message.message_id))
        if current is None or current.deleted:
            raise AssertionError(f"message #{bot_message.message_id} is gone (deleted or unknown)")
        callback_buttons = [b for row in current.inline_keyboard for b in row if "callback_data" in b]
        matches = [
            b
            for b in callback_buttons
            if (text is None or b.get("text") == text) and (data is None or b.get("callback_data") == data)
        ]
        if text is None and data is None and len(callback_buttons) != 1:
            matches = []
        if not matches:
            raise AssertionError(
                f"no callback button text={text!r} data={data!r} on {current.describe()}; buttons: {current.buttons}"
            )
        return self._push_callback(current.chat_id, current.raw, str(matches[0]["callback_data"]))

    async def press_raw(self, chat_id: FakeGroup | int, message_id: int, data: str) -> str:
        """A callback query for any message id/data (stale keyboards, forged data, unknown messages)."""
        chat = self.sandbox.chat_record(chat_id, self)
        message = self.state.messages.get((chat.id, message_id))
        if message is None:
            # Telegram sends an InaccessibleMessage (date 0) when the message is no longer available.
            message = {"chat": chat.to_json(), "message_id": message_id, "date": 0}
        return self._push_callback(chat.id, message, data)

    def _push_callback(self, chat_id: int, message: JSON, data: str) -> str:
        query_id = str(secrets.randbits(63))
        self.state.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.json,
                    "message": message,
                    "chat_instance": str(abs(hash((self.state.bot_id, chat_id))) % 10**18),
                    "data": data,
                }
            }
        )
        return query_id

    # -- reading -----------------------------------------------------------------------------------

    def messages(self, chat: FakeGroup | int | None = None) -> list[SentMessage]:
        """All bot messages in that chat so far (current state: edits applied, deleted flagged)."""
        return self.state.sent_in_chat(self.sandbox.chat_record(chat, self).id)

    def _unread(self, chat_id: int) -> list[SentMessage]:
        # Album items after the first are skipped: an album is one logical send (see SentMessage.album).
        sent = self.state.sent_in_chat(chat_id)[self.sandbox.read_upto.get(chat_id, 0) :]
        return [m for m in sent if not m.album or m.album[0] is m]

    async def next_message(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented test API
        chat: FakeGroup | int | None = None,
    ) -> SentMessage:
        """The next bot message in the chat that no next_message() call has returned yet.

        The cursor belongs to the chat, not the person: in a group, whoever reads a message first
        consumes it, as when several people watch the same screen.
        """
        chat_id = self.sandbox.chat_record(chat, self).id
        await self.state.activity.wait_until(lambda: bool(self._unread(chat_id)), timeout)
        unread = self._unread(chat_id)
        if not unread:
            raise AssertionError(self._nothing_arrived(chat_id, f"within {timeout}s"))
        message = unread[0]
        all_sent = self.state.sent_in_chat(chat_id)
        last = message.album[-1] if message.album else message
        self.sandbox.read_upto[chat_id] = all_sent.index(last) + 1
        return message

    async def expect_silence(self, chat: FakeGroup | int | None = None, *, within: float | None = None) -> None:
        """Fail if the bot sends anything to the chat from now until it has handled every update pushed so far
        (Sandbox.wait_consumed). With `within`, or for a bot without a probe, watch for that many seconds instead."""
        chat_id = self.sandbox.chat_record(chat, self).id
        before = len(self.state.sent_in_chat(chat_id))
        if within is None and self.sandbox.probe is not None:
            await self.sandbox.wait_consumed()
        else:
            await asyncio.sleep(SILENCE_WITHOUT_PROBE if within is None else within)
        new = [m for m in self.state.sent_in_chat(chat_id)[before:] if not m.album or m.album[0] is m]
        if new:
            listing = "\n".join(f"  {m.describe()}" for m in new)
            raise AssertionError(f"expected silence in chat {chat_id}, but the bot sent:\n{listing}")

    def _nothing_arrived(self, chat_id: int, when: str) -> str:
        sent = self.state.sent_in_chat(chat_id)
        listing = "\n".join(f"  {m.describe()}" for m in sent[-10:]) or "  (none)"
        return (
            f"{self} got no new bot message in chat {chat_id} {when}.\n"
            f"Bot messages in this chat so far (last 10, all already returned):\n{listing}"
            f"{self.sandbox._failures()}"
        )

    # -- relationship with the bot ----------------------------------------------------------------

    async def block_bot(self, date: DateLike = None) -> None:
        """Block the bot: it gets a my_chat_member update and 403 on every later message."""
        self.record.blocked = True
        self._push_private_status("member", "kicked", date)
        await asyncio.sleep(0)

    async def unblock_bot(self, date: DateLike = None) -> None:
        self.record.blocked = False
        self.record.started = True
        self._push_private_status("kicked", "member", date)
        await asyncio.sleep(0)

    def _push_private_status(self, old: str, new: str, date: DateLike) -> None:
        chat = self.state.chats[self.id]
        update: JSON = {
            "chat": chat.to_json(),
            "from": self.json,
            "date": self.sandbox.timestamp(date),
            "old_chat_member": {"status": old, "user": self.state.bot_user.to_json()},
            "new_chat_member": {"status": new, "user": self.state.bot_user.to_json()},
        }
        if new == "kicked":
            update["new_chat_member"]["until_date"] = 0
        if old == "kicked":
            update["old_chat_member"]["until_date"] = 0
        self.state.push_update({"my_chat_member": update})


class FakeGroup:
    """A basic group or supergroup with people in it."""

    def __init__(self, sandbox: Sandbox, record: ChatRecord) -> None:
        self.sandbox = sandbox
        self.record = record

    def __repr__(self) -> str:
        return f"FakeGroup(id={self.chat_id}, title={self.record.title!r})"

    @property
    def chat_id(self) -> int:
        """Current id (changes when a basic group is migrated to a supergroup)."""
        return self.record.id

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def title(self) -> str:
        return self.record.title or ""

    @property
    def json(self) -> JSON:
        return self.record.to_json()

    @property
    def bot_status(self) -> str:
        return self.record.bot_status

    def _service(self, by: FakeUser, **fields: Any) -> JSON:
        msg: JSON = {
            "message_id": self.record.next_message_id(),
            "from": by.json,
            "chat": self.record.to_json(),
            "date": self.sandbox.state.now(),
            **fields,
        }
        self.sandbox.state.store_message(msg)
        return msg

    async def add_bot(self, by: FakeUser, admin: bool = False) -> None:
        """Someone adds the bot: my_chat_member update, then the new_chat_members service message."""
        state = self.sandbox.state
        # Groups are created with the bot inside by default; adding it then still reads as a join.
        old = self.record.bot_status if self.record.bot_status in ("left", "kicked") else "left"
        self.record.bot_status = "administrator" if admin else "member"
        push_my_chat_member(state, self.record, by.json, old, self.record.bot_status)
        joined = self._service(by, new_chat_members=[state.bot_user.to_json()])
        self.sandbox.deliver(self.record, "message", joined)
        await asyncio.sleep(0)

    async def remove_bot(self, by: FakeUser) -> None:
        """Someone removes the bot: my_chat_member (kicked) + left_chat_member service message."""
        state = self.sandbox.state
        old = self.record.bot_status
        push_my_chat_member(state, self.record, by.json, old, "kicked")
        service = self._service(by, left_chat_member=state.bot_user.to_json())
        self.sandbox.deliver(self.record, "message", service, always=True)
        self.record.bot_status = "kicked"
        await asyncio.sleep(0)

    async def promote_bot(self, by: FakeUser) -> None:
        """Make the bot an administrator (my_chat_member member -> administrator)."""
        old = self.record.bot_status
        self.record.bot_status = "administrator"
        push_my_chat_member(self.sandbox.state, self.record, by.json, old, "administrator")
        await asyncio.sleep(0)

    async def add_member(self, person: FakeUser, by: FakeUser | None = None, admin: bool = False) -> JSON:
        """A person joins (or is added); pushes the new_chat_members service message."""
        self.record.members[person.id] = person.record
        if admin:
            self.record.admins.add(person.id)
        msg = self._service(by or person, new_chat_members=[person.json])
        self.sandbox.deliver(self.record, "message", msg, always=True)
        await asyncio.sleep(0)
        return json_copy(msg)

    async def remove_member(self, person: FakeUser, by: FakeUser | None = None) -> JSON:
        """A person leaves (or is removed); pushes the left_chat_member service message."""
        msg = self._service(by or person, left_chat_member=person.json)
        self.record.members.pop(person.id, None)
        self.record.admins.discard(person.id)
        self.sandbox.deliver(self.record, "message", msg, always=True)
        await asyncio.sleep(0)
        return json_copy(msg)

    async def migrate_to_supergroup(self, by: FakeUser | None = None) -> int:
        """Upgrade a basic group; Telegram posts migrate_to_chat_id / migrate_from_chat_id messages.

        Afterwards :attr:`chat_id` is the new supergroup id and the bot gets 400 ("group chat was
        upgraded to a supergroup chat", with ``migrate_to_chat_id``) when using the old one.
        """
        if self.record.type != "group":
            raise AssertionError("only basic groups can be migrated")
        state = self.sandbox.state
        actor = by or next((FakeUser(self.sandbox, u) for u in self.record.members.values()), None)
        if actor is None:
            raise AssertionError("the group has no members to perform the migration")
        old = self.record
        new_id = -(1000000000000 + 2000000000 + self.sandbox.server.next_id())
        new = ChatRecord(
            id=new_id,
            type="supergroup",
            title=old.title,
            members=dict(old.members),
            admins=set(old.admins),
            owner_id=old.owner_id,
            bot_status=old.bot_status,
        )
        state.chats[new_id] = new
        self.sandbox.deliver(old, "message", self._service(actor, migrate_to_chat_id=new_id), always=True)
        old.migrated_to = new_id
        self.record = new
        from_new = self._service(actor, migrate_from_chat_id=old.id)
        self.sandbox.deliver(new, "message", from_new, always=True)
        await asyncio.sleep(0)
        return new_id
