"""Proxies for the tests: a SOCKS5 proxy and an HTTP proxy, each counting the connections it carried.

Both can map host names that resolve nowhere (`api.telegram.invalid`) to the stand-in, so a bot that reaches the
stand-in at such a name can only have gone through the proxy. Each connection is tunnelled to the host its
first request names: enough for one Bot API server, not a general proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Self


@dataclass(frozen=True)
class Route:
    """Where a client's connection goes, what is sent on first, and the proxy's answers either way."""

    host: str
    port: int
    first: bytes
    connected: bytes
    refused: bytes


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class _Proxy:
    scheme = ""

    def __init__(self, hosts: dict[str, str] | None = None) -> None:
        #: names the proxy resolves itself (to an IP address), like a proxy abroad resolving Telegram's
        self.hosts = dict(hosts or {})
        #: (host, port) of every connection carried
        self.connections: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._serve, sock=sock)
        self.port = int(sock.getsockname()[1])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            route = await self._handshake(reader, writer)
            if route is None:
                return
            self.connections.append((route.host, route.port))
            try:
                upstream = await asyncio.open_connection(self.hosts.get(route.host, route.host), route.port)
            except OSError:
                writer.write(route.refused)
                await writer.drain()
                return
            upstream_reader, upstream_writer = upstream
            writer.write(route.connected)
            upstream_writer.write(route.first)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Route | None:
        raise NotImplementedError


class Socks5Proxy(_Proxy):
    """RFC 1928 without authentication, CONNECT only."""

    scheme = "socks5"

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Route | None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            writer.write(b"\x05\xff")
            return None
        writer.write(b"\x05\x00")
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return None
        return Route(host, port, b"", b"\x05\x00\x00\x01" + bytes(6), b"\x05\x05\x00\x01" + bytes(6))


class HttpProxy(_Proxy):
    """CONNECT for https targets; for http targets the request (absolute-form) is passed on as it came."""

    scheme = "http"

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Route | None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        refused = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            return Route(host, int(port), b"", b"HTTP/1.1 200 Connection established\r\n\r\n", refused)
        authority = target.split("://", 1)[1].split("/", 1)[0]
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "80")
        return Route(host, int(port), head, b"", refused)
