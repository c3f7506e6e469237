"""Bot API method implementations, enforcing the Telegram rules bots most often trip over.

Each method gets a :class:`Context` and returns the ``result`` JSON, or raises :class:`ApiError`.
Validation always happens before any state changes, so a rejected call leaves no trace except
its entry in ``server.calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ApiError, bad_request, forbidden
from .markup import Parsed, parse_text, utf16_len
from .media import NotAnImage, compress_photo, make_thumbnail
from .params import Params, Upload
from .state import (
    JSON,
    MAX_DOWNLOAD_SIZE,
    BotState,
    ChatRecord,
    SentMessage,
    StoredFile,
    chat_member_json,
    member_json,
)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_UPLOAD = 50 * 1024 * 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_RE = re.compile(r"(https?|tg)://\S+")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LANG_RE = re.compile(r"[a-z]{2}")


@dataclass
class Context:
    """What a method implementation may use."""

    state: BotState
    params: Params
    strict_html: bool = True
    #: a ``--local`` server's ``--dir``: getFile answers absolute paths of files written there
    local_dir: Path | None = None
    #: whether the HTTP client is still connected (a long poll must not hand updates to a dead socket)
    alive: Callable[[], bool] = lambda: True


Handler = Callable[[Context], Awaitable[Any]]
#: lower-case method name -> (canonical name, implementation)
METHODS: dict[str, tuple[str, Handler]] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a Bot API method (names are case-insensitive, like on Telegram)."""

    def register(func: Handler) -> Handler:
        METHODS[name.lower()] = (name, func)
        return func

    return register


# -- shared helpers ---------------------------------------------------------------------------------


def find_chat(state: BotState, chat_id: int | str) -> ChatRecord:
    """Resolve ``chat_id`` (number or ``@username``); 400 like Telegram if unknown or migrated."""
    chat: ChatRecord | None = None
    if isinstance(chat_id, str):
        if chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            chat = next((c for c in state.chats.values() if (c.username or "").lower() == wanted), None)
        elif re.fullmatch(r"-?\d+", chat_id):
            chat = state.chats.get(int(chat_id))
    else:
        chat = state.chats.get(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    if chat.migrated_to is not None:
        raise bad_request("group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": chat.migrated_to})
    return chat


def check_membership(chat: ChatRecord) -> None:
    """403 when the bot is no longer in a group."""
    if not chat.is_group:
        return
    where = "supergroup chat" if chat.type == "supergroup" else "group chat"
    if chat.bot_status == "kicked":
        raise forbidden(f"bot was kicked from the {where}")
    if chat.bot_status == "left":
        raise forbidden(f"bot is not a member of the {where}")


def writable_chat(state: BotState, params: Params) -> ChatRecord:
    """The target chat of a send/edit, after Telegram's 400/403 checks."""
    chat = find_chat(state, params.chat_id())
    if chat.user is not None:
        if chat.user.blocked:
            raise forbidden("bot was blocked by the user")
        if not chat.user.started:
            raise forbidden("bot can't initiate conversation with a user")
    check_membership(chat)
    return chat


def parse_body(ctx: Context, text: str | None, parse_mode: str | None, entities: Any, *, caption: bool) -> Parsed:
    """Parse text/caption and enforce the length limits (counted after parsing, in UTF-16 units)."""
    if not caption and not text:
        raise bad_request("message text is empty")
    parsed = parse_text(text or "", parse_mode, entities, strict_entities=ctx.strict_html)
    if caption and utf16_len(parsed.text) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    if not caption:
        if utf16_len(parsed.text) > MAX_TEXT:
            raise bad_request("message is too long")
        if not parsed.text.strip():
            raise bad_request("message text is empty")
    return parsed


def check_markup(markup: Any, *, inline_only: bool = False) -> JSON | None:
    """Validate reply_markup like Telegram does; returns it unchanged."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        for row in rows:
            for button in row:
                text = button.get("text") if isinstance(button, dict) else button
                if not isinstance(text, str) or not text:
                    raise bad_request("can't parse keyboard button: Text must be non-empty")
        return markup
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    count = 0
    for row in rows:
        for button in row:
            count += 1
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            text = button.get("text")
            if not isinstance(text, str) or not text:
                raise bad_request("can't parse inline keyboard button: Text must be non-empty")
            actions = [a for a in BUTTON_ACTIONS if a in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise bad_request("can't parse inline keyboard button: exactly one of the optional fields must be used")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not _URL_RE.fullmatch(url):
                    raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    if count > 100:
        raise bad_request("reply markup is too long")


def inline_part(markup: JSON | None) -> JSON | None:
    """What Telegram echoes in Message.reply_markup: only inline keyboards."""
    if markup and "inline_keyboard" in markup:
        return {"inline_keyboard": [list(row) for row in markup["inline_keyboard"]]}
    return None


def reply_target(state: BotState, chat: ChatRecord, params: Params) -> JSON | None:
    """The message being replied to (reply_parameters or legacy reply_to_message_id)."""
    reply = params.get_json("reply_parameters")
    allow = params.get_bool("allow_sending_without_reply")
    message_id: Any = None
    if isinstance(reply, dict):
        message_id = reply.get("message_id")
        allow = bool(reply.get("allow_sending_without_reply", allow))
    elif "reply_to_message_id" in params:
        message_id = params.get_int("reply_to_message_id")
    if message_id is None:
        return None
    target = state.messages.get((chat.id, int(message_id)))
    if target is None:
        if allow:
            return None
        raise bad_request("message to be replied not found")
    return {k: v for k, v in target.items() if k != "reply_to_message"}


def new_message(state: BotState, chat: ChatRecord, params: Params, reply: JSON | None) -> JSON:
    """Skeleton of a message from the bot (allocates the message id, so validate first)."""
    msg: JSON = {
        "message_id": chat.next_message_id(),
        "from": state.bot_user.to_json(),
        "chat": chat.to_json(),
        "date": state.now(),
    }
    thread = params.get_int("message_thread_id")
    if thread:
        msg["message_thread_id"] = thread
        if chat.is_forum:
            msg["is_topic_message"] = True
    if reply is not None:
        msg["reply_to_message"] = reply
    if params.get_bool("protect_content"):
        msg["has_protected_content"] = True
    return msg


def record(
    state: BotState,
    chat: ChatRecord,
    msg: JSON,
    kind: str,
    *,
    markup: JSON | None = None,
    html: str | None = None,
    parse_mode: str | None = None,
    media_group_id: str | None = None,
) -> SentMessage:
    """Store a bot message and make it visible to the driver."""
    echoed = inline_part(markup)
    if echoed:
        msg["reply_markup"] = echoed
    state.store_message(msg)
    sent = SentMessage(
        message_id=int(msg["message_id"]),
        chat_id=chat.id,
        kind=kind,
        raw=msg,
        html=html,
        parse_mode=parse_mode,
        reply_markup=markup,
        media_group_id=media_group_id,
        files=state.files,
    )
    state.record_sent(sent)
    return sent


def set_text(msg: JSON, parsed: Parsed, *, caption: bool) -> None:
    """Put (or remove) text/caption and entities on a message."""
    key, ekey = ("caption", "caption_entities") if caption else ("text", "entities")
    msg.pop(key, None)
    msg.pop(ekey, None)
    if parsed.text:
        msg[key] = parsed.text
    if parsed.entities:
        msg[ekey] = parsed.entities


def known_file(state: BotState, value: str) -> StoredFile:
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    stored = state.files.get(value)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored


def photo_sizes(state: BotState, params: Params, value: Any) -> list[StoredFile]:
    """Upload (compressed into PhotoSizes like Telegram does) or reuse an existing photo file_id."""
    source = params.input_file(value)
    if source is None:
        raise bad_request("there is no photo in the request")
    if isinstance(source, Upload):
        if len(source.data) > 10 * 1024 * 1024:
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        try:
            return state.files.add_photo(compress_photo(source.data))
        except NotAnImage as exc:
            raise bad_request("IMAGE_PROCESS_FAILED") from exc
    stored = known_file(state, source)
    if stored.photo_group is None:
        raise bad_request(f"can't use file of type {stored.kind.capitalize()} as Photo")
    return stored.photo_group


def document_file(state: BotState, params: Params, value: Any) -> StoredFile:
    """Upload (kept byte-for-byte) or reuse an existing document file_id."""
    source = params.input_file(value)
    if source is None:
        raise bad_request("there is no document in the request")
    if isinstance(source, str):
        stored = known_file(state, source)
        if stored.kind != "document":
            raise bad_request(f"can't use file of type {stored.kind.capitalize()} as Document")
        return stored
    if len(source.data) > MAX_UPLOAD:
        raise ApiError(413, "Request Entity Too Large")
    name = source.filename or "file"
    mime = source.content_type
    if not mime or mime == "application/octet-stream":
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    stored = state.files.add(source.data, "document", mime_type=mime, file_name=name)
    thumb = make_thumbnail(source.data)
    if thumb is not None:
        data, width, height = thumb
        stored.thumbnail = state.files.add(data, "thumbnail", mime_type="image/jpeg", width=width, height=height)
    return stored


def location_json(params: Params) -> JSON:
    lat, lon = params.req_float("latitude"), params.req_float("longitude")
    if not -90 <= lat <= 90:
        raise bad_request("wrong latitude")
    if not -180 <= lon <= 180:
        raise bad_request("wrong longitude")
    loc: JSON = {"latitude": lat, "longitude": lon}
    accuracy = params.get_float("horizontal_accuracy")
    if accuracy is not None:
        loc["horizontal_accuracy"] = accuracy
    live = params.get_int("live_period")
    if live is not None:
        if not (60 <= live <= 86400 or live == 0x7FFFFFFF):
            raise bad_request("wrong live period specified")
        loc["live_period"] = live
    heading = params.get_int("heading")
    if heading is not None:
        if not 1 <= heading <= 360:
            raise bad_request("wrong heading specified")
        loc["heading"] = heading
    return loc


def bot_message_to_edit(state: BotState, params: Params) -> tuple[ChatRecord, SentMessage]:
    """The bot's own message named by chat_id + message_id, or Telegram's edit errors."""
    if "inline_message_id" in params:
        raise bad_request("sandbox: inline messages are not supported")
    chat = writable_chat(state, params)
    if "message_id" not in params:
        raise bad_request("message identifier is not specified")
    key = (chat.id, params.req_int("message_id"))
    sent = state.sent_by_key.get(key)
    if sent is None or sent.deleted:
        if key in state.messages:
            raise bad_request("message can't be edited")
        raise bad_request("message to edit not found")
    return chat, sent


def mark_edited(state: BotState, sent: SentMessage) -> JSON:
    sent.raw["edit_date"] = state.now()
    sent.edits += 1
    state.activity.fire()
    return sent.raw


def push_my_chat_member(state: BotState, chat: ChatRecord, by: JSON, old: str, new: str) -> None:
    """The my_chat_member update Telegram sends when the bot's membership changes."""
    state.push_update(
        {
            "my_chat_member": {
                "chat": chat.to_json(),
                "from": by,
                "date": state.now(),
                "old_chat_member": member_json(state.bot_user, old),
                "new_chat_member": member_json(state.bot_user, new),
            }
        }
    )


# -- bot & updates ---------------------------------------------------------------------------------


@method("getMe")
async def get_me(ctx: Context) -> Any:
    me = ctx.state.bot_user.to_json()
    me.update(
        can_join_groups=True,
        can_read_all_group_messages=not ctx.state.privacy_mode,
        supports_inline_queries=False,
        can_connect_to_business=False,
        has_main_web_app=False,
    )
    return me


@method("getUpdates")
async def get_updates(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    if state.webhook.get("url"):
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    limit = min(max(p.get_int("limit") or 100, 1), 100)
    timeout = max(p.get_float("timeout") or 0.0, 0.0)
    allowed = p.get_json("allowed_updates")
    if isinstance(allowed, list):
        state.allowed_updates = [str(a) for a in allowed]
    offset = p.get_int("offset")
    if offset is not None:
        state.confirm(offset)
    # A newer getUpdates terminates an older one still waiting, as on Telegram.
    state.poll_generation += 1
    generation = state.poll_generation
    state.updates_signal.fire()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if not ctx.alive():
            return []  # the client gave up on this poll (e.g. PTB stopping); nobody will read it
        if generation != state.poll_generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            )
        batch = state.take(limit)
        remaining = deadline - loop.time()
        if batch or remaining <= 0 or state.closed:
            state.mark_delivered(batch)
            return batch
        await state.updates_signal.wait(remaining)


_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Plain http is allowed to a webhook on this machine only, as a self-hosted Bot API server (--local) allows it.
_LOCAL_WEBHOOK_RE = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/.*)?")


@method("setWebhook")
async def set_webhook(ctx: Context) -> Any:
    url = ctx.params.get_str("url") or ""
    if url and not (url.startswith("https://") or _LOCAL_WEBHOOK_RE.fullmatch(url)):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = ctx.params.get_str("secret_token")
    if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
        raise bad_request("bad webhook: secret token contains unallowed characters")
    allowed = ctx.params.get_json("allowed_updates")
    ctx.state.webhook = {"url": url, "allowed_updates": allowed, "secret_token": secret} if url else {}
    connections = ctx.params.get_int("max_connections")
    if url and connections is not None:
        if not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        ctx.state.webhook["max_connections"] = connections
    if url and isinstance(allowed, list):
        ctx.state.allowed_updates = [str(a) for a in allowed]
    if ctx.params.get_bool("drop_pending_updates") and ctx.state.pending:
        ctx.state.confirm(int(ctx.state.pending[-1]["update_id"]) + 1)
    return True


@method("deleteWebhook")
async def delete_webhook(ctx: Context) -> Any:
    ctx.state.webhook = {}
    if ctx.params.get_bool("drop_pending_updates") and ctx.state.pending:
        ctx.state.confirm(int(ctx.state.pending[-1]["update_id"]) + 1)
    return True


@method("getWebhookInfo")
async def get_webhook_info(ctx: Context) -> Any:
    info: JSON = {
        "url": ctx.state.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(ctx.state.pending),
    }
    if ctx.state.webhook.get("allowed_updates"):
        info["allowed_updates"] = ctx.state.webhook["allowed_updates"]
    for key in ("last_error_date", "last_error_message"):
        if key in ctx.state.webhook:
            info[key] = ctx.state.webhook[key]
    return info


@method("logOut")
async def log_out(ctx: Context) -> Any:
    return True


@method("close")
async def close(ctx: Context) -> Any:
    return True


# -- commands & profile ------------------------------------------------------------------------------


def scope_key(state: BotState, scope: Any) -> str:
    """Stable key for a BotCommandScope (commands are stored per scope + language)."""
    if scope is None:
        return "default"
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    kind = scope["type"]
    if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        return str(kind)
    if kind in ("chat", "chat_administrators", "chat_member"):
        chat = find_chat(state, scope.get("chat_id", ""))
        if kind == "chat_member":
            return f"chat_member:{chat.id}:{int(scope.get('user_id', 0))}"
        return f"{kind}:{chat.id}"
    raise bad_request("wrong BotCommandScope type specified")


def _language(params: Params) -> str:
    lang = params.get_str("language_code") or ""
    if lang and not _LANG_RE.fullmatch(lang):
        raise bad_request("invalid language code specified")
    return lang


@method("setMyCommands")
async def set_my_commands(ctx: Context) -> Any:
    commands = ctx.params.get_json("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("too much commands")
    clean: list[JSON] = []
    for cmd in commands:
        if not isinstance(cmd, dict) or not _COMMAND_RE.fullmatch(str(cmd.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        description = cmd.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": cmd["command"], "description": description})
    key = (scope_key(ctx.state, ctx.params.get_json("scope")), _language(ctx.params))
    if clean:
        ctx.state.commands[key] = clean
    else:
        ctx.state.commands.pop(key, None)
    return True


@method("getMyCommands")
async def get_my_commands(ctx: Context) -> Any:
    key = (scope_key(ctx.state, ctx.params.get_json("scope")), _language(ctx.params))
    return list(ctx.state.commands.get(key, []))


@method("deleteMyCommands")
async def delete_my_commands(ctx: Context) -> Any:
    key = (scope_key(ctx.state, ctx.params.get_json("scope")), _language(ctx.params))
    ctx.state.commands.pop(key, None)
    return True


def _profile_setting(name: str, field: str) -> None:
    """setMyX stores the value per language; getMyX returns ``{field: value}``."""

    async def setter(ctx: Context) -> Any:
        ctx.state.settings[f"{name}:{_language(ctx.params)}"] = ctx.params.get_str(field) or ""
        return True

    async def getter(ctx: Context) -> Any:
        return {field: ctx.state.settings.get(f"{name}:{_language(ctx.params)}", "")}

    method(f"setMy{name}")(setter)
    method(f"getMy{name}")(getter)


_profile_setting("Description", "description")
_profile_setting("ShortDescription", "short_description")
_profile_setting("Name", "name")


@method("setChatMenuButton")
async def set_chat_menu_button(ctx: Context) -> Any:
    ctx.state.settings["menu_button"] = ctx.params.get_json("menu_button") or {"type": "default"}
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(ctx: Context) -> Any:
    return ctx.state.settings.get("menu_button", {"type": "commands"})


# -- sending ------------------------------------------------------------------------------------------


@method("sendMessage")
async def send_message(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    chat = writable_chat(state, p)
    text, parse_mode = p.get_str("text"), p.get_str("parse_mode")
    parsed = parse_body(ctx, text, parse_mode, p.get_json("entities"), caption=False)
    markup = check_markup(p.get_json("reply_markup"))
    reply = reply_target(state, chat, p)
    msg = new_message(state, chat, p, reply)
    set_text(msg, parsed, caption=False)
    preview = p.get_json("link_preview_options")
    if isinstance(preview, dict) and preview:
        msg["link_preview_options"] = preview
    record(state, chat, msg, "text", markup=markup, html=text, parse_mode=parse_mode)
    return msg


async def _send_media(ctx: Context, kind: str) -> Any:
    state, p = ctx.state, ctx.params
    chat = writable_chat(state, p)
    caption, parse_mode = p.get_str("caption"), p.get_str("parse_mode")
    parsed = parse_body(ctx, caption, parse_mode, p.get_json("caption_entities"), caption=True)
    markup = check_markup(p.get_json("reply_markup"))
    reply = reply_target(state, chat, p)
    if kind == "photo":
        sizes = photo_sizes(state, p, p.values.get("photo"))
        media: Any = [s.photo_size() for s in sizes]
    else:
        media = document_file(state, p, p.values.get("document")).document()
    msg = new_message(state, chat, p, reply)
    msg[kind] = media
    set_text(msg, parsed, caption=True)
    if p.get_bool("has_spoiler"):
        msg["has_media_spoiler"] = True
    if p.get_bool("show_caption_above_media"):
        msg["show_caption_above_media"] = True
    record(state, chat, msg, kind, markup=markup, html=caption, parse_mode=parse_mode)
    return msg


@method("sendPhoto")
async def send_photo(ctx: Context) -> Any:
    return await _send_media(ctx, "photo")


@method("sendDocument")
async def send_document(ctx: Context) -> Any:
    return await _send_media(ctx, "document")


@method("sendMediaGroup")
async def send_media_group(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    chat = writable_chat(state, p)
    media = p.get_json("media")
    if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
        raise bad_request("can't parse media JSON object")
    if len(media) > 10:
        raise bad_request("too much messages to send as an album")
    if len(media) < 2:
        raise bad_request("wrong number of media in the album: 2-10 items expected")
    types = {m.get("type") for m in media}
    if "document" in types and len(types) > 1:
        raise bad_request("document can't be mixed with other media types")
    prepared: list[tuple[str, Any, Parsed, str | None, str | None]] = []
    for item in media:
        kind = item.get("type")
        if kind not in ("photo", "document"):
            raise bad_request(f"sandbox: media type {kind!r} is not supported (photo and document are)")
        caption, parse_mode = item.get("caption"), item.get("parse_mode")
        parsed = parse_body(ctx, caption, parse_mode, item.get("caption_entities"), caption=True)
        if kind == "photo":
            payload: Any = [s.photo_size() for s in photo_sizes(state, p, item.get("media"))]
        else:
            payload = document_file(state, p, item.get("media")).document()
        prepared.append((kind, payload, parsed, caption, parse_mode))
    reply = reply_target(state, chat, p)
    group_id = str(10**17 + secrets.randbelow(9 * 10**17))
    album: list[SentMessage] = []
    result: list[JSON] = []
    for kind, payload, parsed, caption, parse_mode in prepared:
        msg = new_message(state, chat, p, reply)
        msg["media_group_id"] = group_id
        msg[kind] = payload
        set_text(msg, parsed, caption=True)
        sent = record(state, chat, msg, "media_group", html=caption, parse_mode=parse_mode, media_group_id=group_id)
        sent.album = album
        album.append(sent)
        result.append(msg)
    return result


@method("sendLocation")
async def send_location(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    chat = writable_chat(state, p)
    loc = location_json(p)
    markup = check_markup(p.get_json("reply_markup"))
    reply = reply_target(state, chat, p)
    msg = new_message(state, chat, p, reply)
    msg["location"] = loc
    record(state, chat, msg, "location", markup=markup)
    return msg


@method("sendVenue")
async def send_venue(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    chat = writable_chat(state, p)
    loc = location_json(p)
    title, address = p.req_str("title"), p.req_str("address")
    markup = check_markup(p.get_json("reply_markup"))
    reply = reply_target(state, chat, p)
    msg = new_message(state, chat, p, reply)
    venue: JSON = {"location": loc, "title": title, "address": address}
    for extra in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
        if extra in p:
            venue[extra] = p.get_str(extra)
    msg["venue"] = venue
    msg["location"] = loc
    record(state, chat, msg, "venue", markup=markup)
    return msg


@method("sendChatAction")
async def send_chat_action(ctx: Context) -> Any:
    chat = writable_chat(ctx.state, ctx.params)
    action = ctx.params.get_str("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    ctx.state.chat_actions.append({"chat_id": chat.id, "action": action, "at": ctx.state.clock()})
    return True


# -- editing & deleting ----------------------------------------------------------------------------------


@method("editMessageText")
async def edit_message_text(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    _, sent = bot_message_to_edit(state, p)
    if "text" not in sent.raw:
        raise bad_request("there is no text in the message to edit")
    text, parse_mode = p.get_str("text"), p.get_str("parse_mode")
    parsed = parse_body(ctx, text, parse_mode, p.get_json("entities"), caption=False)
    markup = check_markup(p.get_json("reply_markup"), inline_only=True)
    new_inline = inline_part(markup)
    if (
        parsed.text == sent.raw.get("text")
        and parsed.entities == sent.raw.get("entities", [])
        and new_inline == sent.raw.get("reply_markup")
    ):
        raise bad_request(NOT_MODIFIED)
    set_text(sent.raw, parsed, caption=False)
    _apply_markup(sent, markup)
    sent.html, sent.parse_mode = text, parse_mode
    return mark_edited(state, sent)


def _apply_markup(sent: SentMessage, markup: JSON | None) -> None:
    # Editing without reply_markup removes the inline keyboard, exactly like on Telegram.
    echoed = inline_part(markup)
    if echoed:
        sent.raw["reply_markup"] = echoed
    else:
        sent.raw.pop("reply_markup", None)
    sent.reply_markup = markup


@method("editMessageCaption")
async def edit_message_caption(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    _, sent = bot_message_to_edit(state, p)
    if not any(k in sent.raw for k in ("photo", "document", "video", "audio", "animation")):
        raise bad_request("there is no caption in the message to edit")
    caption, parse_mode = p.get_str("caption"), p.get_str("parse_mode")
    parsed = parse_body(ctx, caption, parse_mode, p.get_json("caption_entities"), caption=True)
    markup = check_markup(p.get_json("reply_markup"), inline_only=True)
    if (
        parsed.text == sent.raw.get("caption", "")
        and parsed.entities == sent.raw.get("caption_entities", [])
        and inline_part(markup) == sent.raw.get("reply_markup")
    ):
        raise bad_request(NOT_MODIFIED)
    set_text(sent.raw, parsed, caption=True)
    _apply_markup(sent, markup)
    sent.html, sent.parse_mode = caption, parse_mode
    return mark_edited(state, sent)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    _, sent = bot_message_to_edit(state, p)
    markup = check_markup(p.get_json("reply_markup"), inline_only=True)
    if inline_part(markup) == sent.raw.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    _apply_markup(sent, markup)
    return mark_edited(state, sent)


async def _edit_live(ctx: Context, stop: bool) -> Any:
    state, p = ctx.state, ctx.params
    _, sent = bot_message_to_edit(state, p)
    loc = sent.raw.get("location")
    if not loc or "live_period" not in loc:
        raise bad_request("message can't be edited")
    markup = check_markup(p.get_json("reply_markup"), inline_only=True)
    if stop:
        new_loc = {k: v for k, v in loc.items() if k not in ("live_period", "heading")}
    else:
        new_loc = {**location_json(p), "live_period": loc["live_period"]}
        if new_loc == loc and inline_part(markup) == sent.raw.get("reply_markup"):
            raise bad_request(NOT_MODIFIED)
    sent.raw["location"] = new_loc
    _apply_markup(sent, markup)
    return mark_edited(state, sent)


@method("editMessageLiveLocation")
async def edit_message_live_location(ctx: Context) -> Any:
    return await _edit_live(ctx, stop=False)


@method("stopMessageLiveLocation")
async def stop_message_live_location(ctx: Context) -> Any:
    return await _edit_live(ctx, stop=True)


def _delete(state: BotState, chat: ChatRecord, message_id: int) -> None:
    key = (chat.id, message_id)
    msg = state.messages.get(key)
    if msg is None:
        raise bad_request("message to delete not found")
    own = msg.get("from", {}).get("id") == state.bot_id
    if chat.is_group and not own and chat.bot_status != "administrator":
        raise bad_request("message can't be deleted")
    if state.now() - int(msg["date"]) > 48 * 3600:
        raise bad_request("message can't be deleted for everyone")
    del state.messages[key]
    sent = state.sent_by_key.get(key)
    if sent is not None:
        sent.deleted = True
        state.activity.fire()


@method("deleteMessage")
async def delete_message(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    _delete(ctx.state, chat, ctx.params.req_int("message_id"))
    return True


@method("deleteMessages")
async def delete_messages(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    ids = ctx.params.get_json("message_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must contain 1-100 message identifiers")
    for message_id in ids:
        # deleteMessages skips messages that can't be deleted instead of failing the whole call.
        with contextlib.suppress(ApiError):
            _delete(ctx.state, chat, int(message_id))
    return True


@method("answerCallbackQuery")
async def answer_callback_query(ctx: Context) -> Any:
    state, p = ctx.state, ctx.params
    query_id = p.get_str("callback_query_id") or ""
    pending = state.callbacks.get(query_id)
    if pending is None or pending.answered:
        raise bad_request(QUERY_TOO_OLD)
    text = p.get_str("text")
    if text is not None and len(text) > MAX_CALLBACK_ANSWER:
        raise bad_request("MESSAGE_TOO_LONG")
    pending.answered = True
    state.answers.append(
        {
            "callback_query_id": query_id,
            "text": text,
            "show_alert": p.get_bool("show_alert"),
            "url": p.get_str("url"),
            "cache_time": p.get_int("cache_time"),
        }
    )
    state.activity.fire()
    return True


@method("setMessageReaction")
async def set_message_reaction(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    message_id = ctx.params.req_int("message_id")
    if (chat.id, message_id) not in ctx.state.messages:
        raise bad_request("MESSAGE_ID_INVALID")
    ctx.state.reactions.append(
        {"chat_id": chat.id, "message_id": message_id, "reaction": ctx.params.get_json("reaction") or []}
    )
    return True


def _pin_target(ctx: Context) -> ChatRecord:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    if chat.is_group and chat.bot_status != "administrator":
        raise bad_request("not enough rights to manage pinned messages in the chat")
    return chat


@method("pinChatMessage")
async def pin_chat_message(ctx: Context) -> Any:
    chat = _pin_target(ctx)
    message_id = ctx.params.req_int("message_id")
    if (chat.id, message_id) not in ctx.state.messages:
        raise bad_request("message to pin not found")
    chat.pinned.append(message_id)
    return True


@method("unpinChatMessage")
async def unpin_chat_message(ctx: Context) -> Any:
    chat = _pin_target(ctx)
    message_id = ctx.params.get_int("message_id")
    if message_id is None and chat.pinned:
        chat.pinned.pop()
    elif message_id in chat.pinned:
        chat.pinned.remove(message_id)
    return True


@method("unpinAllChatMessages")
async def unpin_all_chat_messages(ctx: Context) -> Any:
    _pin_target(ctx).pinned.clear()
    return True


# -- files ---------------------------------------------------------------------------------------------


@method("getFile")
async def get_file(ctx: Context) -> Any:
    stored = known_file(ctx.state, ctx.params.req_str("file_id"))
    if ctx.local_dir is not None:
        # As `telegram-bot-api --local`: the file is on the server's disk under <dir>/<token>/, at any size.
        path = ctx.local_dir / ctx.state.token / stored.file_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stored.data)
        return {**stored.file_json(), "file_path": str(path)}
    if stored.size > MAX_DOWNLOAD_SIZE:
        raise bad_request("file is too big")
    return stored.file_json()


# -- chats -----------------------------------------------------------------------------------------------


@method("getChat")
async def get_chat(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    return chat.full_info()


@method("getChatMember")
async def get_chat_member(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    user = ctx.state.users.get(ctx.params.req_int("user_id"))
    if user is None:
        raise bad_request("user not found")
    return chat_member_json(chat, user, ctx.state.bot_id)


@method("getChatAdministrators")
async def get_chat_administrators(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    if not chat.is_group:
        raise bad_request("there are no administrators in the private chat")
    check_membership(chat)
    admins = [chat_member_json(chat, u, ctx.state.bot_id) for u in chat.members.values()]
    if chat.bot_status == "administrator":
        admins.append(chat_member_json(chat, ctx.state.bot_user, ctx.state.bot_id))
    return [a for a in admins if a["status"] in ("creator", "administrator")]


@method("getChatMemberCount")
async def get_chat_member_count(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    check_membership(chat)
    if not chat.is_group:
        return 2
    return len(chat.members) + (1 if chat.bot_status in ("member", "administrator") else 0)


@method("leaveChat")
async def leave_chat(ctx: Context) -> Any:
    chat = find_chat(ctx.state, ctx.params.chat_id())
    if not chat.is_group:
        raise bad_request("chat member status can't be changed in private chats")
    check_membership(chat)
    old = chat.bot_status
    chat.bot_status = "left"
    push_my_chat_member(ctx.state, chat, ctx.state.bot_user.to_json(), old, "left")
    return True
