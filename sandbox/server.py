"""HTTP front of the fake Bot API: routing, request decoding, auth, fault injection, call log.

Runs in-process on aiohttp so an unmodified python-telegram-bot ``Application`` can talk to it over
real HTTP (``base_url=f"{server.url}/bot"``, ``base_file_url=f"{server.url}/file/bot"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError
from .faults import FaultInjector
from .flood import FloodControl, FloodLimits
from .methods import METHODS, Context, Handler
from .params import Params, Upload
from .state import JSON, BotState, FileStore, UserRecord, random_id
from .webhook import WebhookPusher

if TYPE_CHECKING:
    from .driver import Sandbox

log = logging.getLogger(__name__)
_TOKEN_RE = re.compile(r"(\d{5,12}):[A-Za-z0-9_-]{30,50}")
MAX_REQUEST_SIZE = 60 * 1024 * 1024


@dataclass
class ApiCall:
    """One request the bot made, for assertions like "setMyCommands was called"."""

    token: str
    method: str
    params: dict[str, Any]
    at: float
    status: int
    #: the JSON body the server answered with
    response: Any = field(default=None, repr=False)


class BotApiServer:
    """A local Telegram Bot API server hosting any number of bots."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        strict_html_entities: bool = True,
        flood_limits: FloodLimits | None = None,
        local_dir: Path | None = None,
    ) -> None:
        """``clock`` dates bot messages; ``strict_html_entities`` rejects a bare ``&`` in HTML; ``flood_limits``
        turns on Telegram's flood control (off by default; also ``server.flood.enable()``); ``local_dir`` plays a
        self-hosted server in ``--local`` mode with ``--dir=local_dir``: getFile writes the file there and answers
        its absolute path, and ``/file/`` serves nothing (the bot must read the disk)."""
        self.clock = clock
        self.local_dir = local_dir.resolve() if local_dir is not None else None
        self.strict_html_entities = strict_html_entities
        self.bots: dict[str, BotState] = {}
        self.files = FileStore()
        self.faults = FaultInjector()
        self.flood = FloodControl(flood_limits)
        #: seconds added to every call but getUpdates: the network's round trip (0.1–0.2 s from the mainland),
        #: which decides how fast a bot that waits for each answer can go
        self.latency = 0.0
        self.calls: list[ApiCall] = []
        #: unexpected exceptions inside method implementations (sandbox bugs), answered with 500
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        #: seconds between two pushes of an update the webhook did not take (Telegram waits longer)
        self.webhook_retry_s = 0.05
        #: updates pushed to a webhook at once, at most (and at most its max_connections): 1 is the strict case
        #: of Telegram's order, which the tests rely on; Telegram pushes up to 40 (sandbox/webhook.py)
        self.webhook_connections = 1
        self._pushers: dict[str, WebhookPusher] = {}
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("BotApiServer is not started; call `await server.start()` first")
        return self._url

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, setup: Callable[[web.Application], None] | None = None
    ) -> str:
        """Start listening (``port=0`` picks a free port); returns :attr:`url`. ``setup`` adds routes of its own
        (the chat page of ``riverbot try``)."""
        app = web.Application(client_max_size=MAX_REQUEST_SIZE)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        if setup is not None:
            setup(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:  # a port in use: nothing left open behind
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self._url = f"http://{host}:{sock.getsockname()[1]}"
        return self._url

    async def stop(self) -> None:
        """Stop serving; pending long polls return at once."""
        for state in self.bots.values():
            state.close()
        for pusher in self._pushers.values():
            await pusher.stop()
        self._pushers.clear()
        if self._runner is not None:
            await asyncio.sleep(0)  # let woken long polls answer before connections are closed
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- world ----------------------------------------------------------------------------------

    def next_id(self) -> int:
        """Server-wide counter used to allocate user and chat ids that never clash between bots."""
        return next(self._ids)

    def add_bot(
        self,
        username: str = "riverbot_test_bot",
        first_name: str = "Riverbot",
        *,
        token: str | None = None,
        privacy_mode: bool = False,
    ) -> str:
        """Register a bot and return its token (``<bot id>:<35 chars>``, like BotFather's).

        ``privacy_mode=True`` makes the driver deliver only commands, replies to the bot and
        mentions from groups where the bot is not an admin, like Telegram's default privacy mode.
        """
        if token is None:
            bot_id = 7000000000 + self.next_id()
            token = f"{bot_id}:AA{random_id(33)}"
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise ValueError(f"malformed bot token {token!r}")
        if token in self.bots:
            raise ValueError("a bot with this token already exists")
        user = UserRecord(id=int(match.group(1)), first_name=first_name, username=username, is_bot=True)
        state = BotState(token, user, self.files, self.clock)
        state.privacy_mode = privacy_mode
        self.bots[token] = state
        return token

    def bot(self, token: str) -> BotState:
        """The state behind a token (KeyError if unknown)."""
        return self.bots[token]

    def sandbox(self, token: str) -> Sandbox:
        """A test driver for one bot; same as ``Sandbox(server, token)``."""
        from .driver import Sandbox

        return Sandbox(self, token)

    def calls_to(self, method: str, token: str | None = None) -> list[ApiCall]:
        """Recorded calls of one method (case-insensitive), optionally for one bot only."""
        return [c for c in self.calls if c.method.lower() == method.lower() and (token is None or c.token == token)]

    # -- HTTP -------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        state = self.bots.get(token)
        if state is None:
            return self._answer(token, method_name, {}, ApiError(401, "Unauthorized").body())
        entry = METHODS.get(method_name.lower())
        if entry is None:
            return self._answer(token, method_name, {}, ApiError(404, "Not Found").body())
        canonical, handler = entry
        try:
            params = await _read_params(request)
        except ApiError as exc:
            return self._answer(token, canonical, {}, exc.body())
        except ConnectionError:
            # The client hung up while sending (e.g. a request cancelled at shutdown): nothing to answer.
            return self._answer(token, canonical, {}, ApiError(499, "Client Closed Request").body())
        polling = canonical == "getUpdates"
        if not polling:
            state.call_started(time.monotonic())
        try:
            answer = await self._serve(request, state, canonical, handler, params)
        finally:
            if not polling:
                state.call_finished(time.monotonic())
        if canonical in ("setWebhook", "deleteWebhook") and answer.status == 200:
            await self._webhook_changed(state)
        return answer

    async def _webhook_changed(self, state: BotState) -> None:
        """Push updates to the webhook while one is set (sandbox/webhook.py); stop when it is deleted."""
        pusher = self._pushers.get(state.token)
        if state.webhook.get("url"):
            if pusher is None:
                pusher = self._pushers[state.token] = WebhookPusher(
                    state, self.webhook_retry_s, self.webhook_connections
                )
            pusher.start()
        elif pusher is not None:
            await self._pushers.pop(state.token).stop()

    async def _serve(
        self, request: web.Request, state: BotState, canonical: str, handler: Handler, params: Params
    ) -> web.Response:
        """Apply faults and flood control, run the method, record the call."""
        token = state.token
        if self.latency > 0 and canonical != "getUpdates":
            await asyncio.sleep(self.latency)
        fault = self.faults.take(canonical, params.values.get("chat_id"))
        if fault is not None:
            state.activity.fire()  # a test waiting for its faults to fire sees it now
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.kind == "429":
            return self._answer(token, canonical, params.values, _too_many(fault.retry_after).body())
        elif fault is not None and fault.kind == "400":
            return self._answer(token, canonical, params.values, ApiError(400, fault.description).body())
        elif fault is not None:
            error = ApiError(fault.status, fault.status_text)
            return self._answer(token, canonical, params.values, error.body())
        retry_after = self._flood_check(state, canonical, params)
        if retry_after is not None:
            return self._answer(token, canonical, params.values, _too_many(retry_after).body())
        transport = request.transport
        ctx = Context(
            state=state,
            params=params,
            strict_html=self.strict_html_entities,
            local_dir=self.local_dir,
            alive=lambda: transport is not None and not transport.is_closing(),
        )
        try:
            result = await handler(ctx)
            body: JSON = {"ok": True, "result": result}
        except ApiError as exc:
            body = exc.body()
        except Exception as exc:  # a sandbox bug must not look like a Telegram answer
            self.errors.append(traceback.format_exc())
            log.exception("sandbox method %s crashed", canonical)
            body = ApiError(500, f"Internal Server Error: sandbox bug: {exc!r}").body()
        if not ctx.alive():
            # Recorded as nginx's "client closed request": the bot abandoned the call (a cancelled long poll).
            body = ApiError(499, "Client Closed Request").body()
        return self._answer(token, canonical, params.values, body)

    def _flood_check(self, state: BotState, method: str, params: Params) -> int | None:
        """Seconds to wait when the call would break a flood limit, else None (and the call is counted)."""
        if self.flood.limits is None:
            return None
        chat_id: int | str | None = params.values.get("chat_id")
        if isinstance(chat_id, str):
            with contextlib.suppress(ValueError):
                chat_id = int(chat_id)
        if chat_id is None:
            return None
        # An unknown numeric chat is judged by its sign, as Telegram's ids are; "@name" is a channel or group.
        chat = state.chats.get(chat_id) if isinstance(chat_id, int) else None
        group = chat.is_group if chat is not None else not isinstance(chat_id, int) or chat_id < 0
        media = params.values.get("media") if method == "sendMediaGroup" else None
        count = len(media) if isinstance(media, list) and media else 1
        return self.flood.check(state.token, method, chat_id, group=group, count=count)

    def _answer(self, token: str, method: str, params: dict[str, Any], body: JSON) -> web.Response:
        status = 200 if body.get("ok") else int(body["error_code"])
        self.calls.append(ApiCall(token, method, params, self.clock(), status, body))
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        not_found = web.json_response(ApiError(404, "Not Found").body(), status=404)
        if request.match_info["token"] not in self.bots or self.local_dir is not None:
            return not_found
        stored = self.files.by_path.get(request.match_info["file_path"])
        if stored is None:
            return not_found
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")


def _too_many(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


async def _read_params(request: web.Request) -> Params:
    """Merge query string and body (JSON, urlencoded or multipart) into :class:`Params`."""
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON") from exc
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON object expected")
            values.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    value.file.close()
                    upload = Upload(name, value.filename, value.content_type, data)
                    uploads[name] = upload
                    values[name] = upload
                elif isinstance(value, bytes):
                    values[name] = value.decode("utf-8", "replace")
                else:
                    values[name] = value
    return Params(values, uploads)
