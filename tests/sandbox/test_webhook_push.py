"""The stand-in pushes updates to a webhook as Telegram does: with the secret, one at a time, again until a 2xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.sandbox.conftest import World


class Receiver:
    """A webhook endpoint that answers with the statuses it is given, then 200, and keeps what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.got: list[tuple[str | None, dict[str, object]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


async def test_updates_are_pushed_with_the_secret_and_retried_until_taken(world: World, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    await world.ok("setWebhook", url=receiver.url, secret_token="the-secret_1", allowed_updates=["message"])
    alice = world.sb.user("Alice")
    await alice.send("one")
    await alice.send("two")
    await world.sb.wait_until(lambda: len(receiver.got) == 4, timeout=5)
    texts = [update["message"]["text"] for _, update in receiver.got]  # type: ignore[index]
    assert texts == ["one", "one", "one", "two"]  # nothing overtakes an update not yet taken
    assert {secret for secret, _ in receiver.got} == {"the-secret_1"}
    assert [p.status for p in world.sb.state.pushes] == [500, 503, 200, 200]
    await world.sb.wait_consumed(timeout=1)
    info = await world.ok("getWebhookInfo")
    assert info["pending_update_count"] == 0 and "503" in info["last_error_message"]


async def test_plain_http_is_refused_except_to_this_machine(world: World) -> None:
    code, description = await world.error("setWebhook", url="http://example.org/hook")
    assert code == 400 and "HTTPS URL must be provided" in description
    code, description = await world.error("setWebhook", url="https://example.org/hook", secret_token="bad secret!")
    assert code == 400 and "secret token" in description
    assert await world.ok("setWebhook", url="http://127.0.0.1:1/hook") is True


async def test_deleting_the_webhook_stops_pushing_and_polling_works_again(world: World, receiver: Receiver) -> None:
    await world.ok("setWebhook", url=receiver.url)
    assert await world.ok("deleteWebhook") is True
    alice = world.sb.user("Alice")
    await alice.send("polled")
    updates = await world.ok("getUpdates")
    assert [u["message"]["text"] for u in updates] == ["polled"] and not receiver.got
