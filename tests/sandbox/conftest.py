"""Fixtures for the sandbox's own tests: a fresh server, one bot, its driver and a raw HTTP client."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

from sandbox import BotApiServer, Sandbox


@dataclass
class World:
    """One running server with one bot, plus a plain HTTP client speaking to it."""

    server: BotApiServer
    token: str
    sb: Sandbox
    http: httpx.AsyncClient

    @property
    def api(self) -> str:
        return f"{self.server.url}/bot{self.token}"

    async def call(self, method: str, **params: Any) -> httpx.Response:
        """POST JSON to a method and return the raw response."""
        return await self.http.post(f"{self.api}/{method}", json=params)

    async def ok(self, method: str, **params: Any) -> Any:
        """Call a method that must succeed; return its result."""
        response = await self.call(method, **params)
        body = response.json()
        assert response.status_code == 200 and body["ok"] is True, body
        return body["result"]

    async def error(self, method: str, **params: Any) -> tuple[int, str]:
        """Call a method that must fail; return (error_code, description)."""
        response = await self.call(method, **params)
        body = response.json()
        assert body["ok"] is False, body
        assert response.status_code == body["error_code"]
        return body["error_code"], body["description"]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with BotApiServer() as server, httpx.AsyncClient(timeout=10) as http:
        token = server.add_bot(username="sandbox_test_bot", first_name="Sandbox")
        yield World(server, token, server.sandbox(token), http)


def jpeg(width: int = 640, height: int = 480, *, exif: bool = False) -> bytes:
    """A JPEG, optionally carrying EXIF (camera model + GPS) the way phone cameras write it."""
    image = Image.new("RGB", (width, height), (30, 120, 170))
    buf = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x0110] = "RiverCam 3000"  # Model
        gps = data.get_ifd(0x8825)
        gps[1], gps[2] = "N", (32.0, 33.0, 6.48)
        gps[3], gps[4] = "E", (120.0, 24.0, 14.76)
        image.save(buf, format="JPEG", exif=data)
    else:
        image.save(buf, format="JPEG")
    return buf.getvalue()
