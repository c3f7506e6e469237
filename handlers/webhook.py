"""Webhook mode: Telegram pushes each update to the bot, which answers 200 only once the inbox keeps it.

Why not PTB's webhook server (`Updater.start_webhook`, tornado, the `webhooks` extra): it answers 200 as soon as
the update is in the in-memory queue, which is the loss the inbox exists to prevent (handlers/intake.py), and its
classes are private. What is needed is small: one POST route behind the office's reverse proxy (nginx, Caddy),
which terminates TLS. So this is a plain HTTP/1.1 server on asyncio's streams: it checks the secret Telegram
sends (X-Telegram-Bot-Api-Secret-Token), keeps the update through the intake (`Intake.take_in`, the same path
polling takes: the inbox, then the queue, a live edit by the fast path), and only then answers 200. A storage
failure answers 503 and Telegram sends the update again later; nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from http import HTTPStatus
from typing import Any

from bot.config import Webhook
from handlers.intake import Intake

logger = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# An update is a few kilobytes; a request far larger is not Telegram's.
MAX_BODY = 1024 * 1024
MAX_HEAD = 16 * 1024
# A keep-alive connection idle this long is closed (nginx keeps upstream connections 60 s by default).
IDLE_S = 75.0
# Reading one request, once it has begun.
READ_S = 30.0


class WebhookServer:
    """Listens for Telegram's pushes; `start` before setWebhook, `stop` before the Application stops."""

    def __init__(self, intake: Intake, webhook: Webhook) -> None:
        self._intake = intake
        self._webhook = webhook
        self._secret = webhook.secret.encode()
        self._paths = {webhook.path.rstrip("/") or "/", (webhook.path.rstrip("/") or "") + "/"}
        self._server: asyncio.Server | None = None
        # One update kept and queued at a time: the queue's order is the inbox's.
        self._taking = asyncio.Lock()
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self.port = webhook.port

    async def start(self) -> None:
        """Listen (an address in use or not allowed raises OSError)."""
        self._server = await asyncio.start_server(
            self._connection, self._webhook.host, self._webhook.port, limit=MAX_HEAD
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("webhook: listening on %s:%d%s", self._webhook.host, self.port, self._webhook.path)

    async def stop(self) -> None:
        """Stop listening; requests being handled finish (kept and queued, answered), idle connections close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections - self._busy):
            task.cancel()
        busy = list(self._busy)
        if busy:
            await asyncio.wait(busy, timeout=READ_S)
        for task in list(self._connections):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), timeout=5)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            keep_alive = True
            while keep_alive:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=IDLE_S)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                    return
                self._busy.add(task)
                try:
                    status, keep_alive = await self._request(head, reader)
                    await self._answer(writer, status, keep_alive)
                finally:
                    self._busy.discard(task)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _request(self, head: bytes, reader: asyncio.StreamReader) -> tuple[HTTPStatus, bool]:
        """Read and handle one request: (the answer's status, whether the connection stays open)."""
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            return HTTPStatus.BAD_REQUEST, False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return HTTPStatus.LENGTH_REQUIRED, False  # Telegram and nginx send Content-Length
        length_text = headers.get("content-length", "0")
        if not (length_text.isascii() and length_text.isdigit()):  # Latin-1 "²" is a digit to isdigit
            return HTTPStatus.BAD_REQUEST, False
        length = int(length_text)
        if length > MAX_BODY:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, False
        body = await asyncio.wait_for(reader.readexactly(length), timeout=READ_S) if length else b""
        if target.split("?", 1)[0] not in self._paths:
            return HTTPStatus.NOT_FOUND, keep_alive
        if method != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED, keep_alive
        given = headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, self._secret):
            logger.warning("webhook: a request without the right secret was refused")
            return HTTPStatus.FORBIDDEN, keep_alive
        update = _update(body)
        if update is None:
            return HTTPStatus.BAD_REQUEST, keep_alive
        return await self._take(update), keep_alive

    async def _take(self, update: dict[str, Any]) -> HTTPStatus:
        if self._intake.full:
            return HTTPStatus.SERVICE_UNAVAILABLE  # a flood: Telegram keeps it and pushes it again later
        async with self._taking:
            kept = await self._intake.take_in([update])
        return HTTPStatus.OK if kept else HTTPStatus.SERVICE_UNAVAILABLE

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: HTTPStatus, keep_alive: bool) -> None:
        connection = "keep-alive" if keep_alive else "close"
        writer.write(
            f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Length: 0\r\nConnection: {connection}\r\n\r\n".encode()
        )
        await writer.drain()


def _update(body: bytes) -> dict[str, Any] | None:
    """The pushed update, when it is one (a JSON object with an integer update_id)."""
    try:
        update = json.loads(body)
    except ValueError:
        return None
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None
    return update
