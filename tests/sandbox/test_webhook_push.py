"""The stand-in pushes updates to a webhook as Telegram does: with the secret, one at a time, again until a 2xx;
or, when the server allows it, several at once, one chat's in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

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


class HeldReceiver(Receiver):
    """A webhook endpoint that keeps each request open until the test lets it answer, and counts how many are
    open at once."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[asyncio.Future[int]] = []
        self.most_open = 0
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((None, await request.json()))
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.open.append(answer)
        self.most_open = max(self.most_open, sum(not f.done() for f in self.open))
        self.arrived.set()
        return web.Response(status=await answer)

    async def until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate()` holds, checking it as each request arrives."""
        async with asyncio.timeout(within):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

    def answer(self, text: str, status: int = 200) -> None:
        """Let the open request for the message `text` answer with `status`."""
        for (_, update), future in zip(self.got, self.open, strict=True):
            if update["message"]["text"] == text and not future.done():  # type: ignore[index]
                future.set_result(status)
                return
        raise AssertionError(f"no open request for {text!r}")

    def texts(self) -> list[str]:
        return [update["message"]["text"] for _, update in self.got]  # type: ignore[index]


@pytest.fixture
async def held() -> AsyncIterator[HeldReceiver]:
    hook = HeldReceiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield hook
    for future in hook.open:
        if not future.done():
            future.set_result(200)
    await runner.cleanup()


async def test_pushes_at_once_when_allowed_one_chat_at_a_time_in_order(world: World, held: HeldReceiver) -> None:
    world.server.webhook_connections = 40  # as Telegram: up to the webhook's max_connections
    await world.ok("setWebhook", url=held.url)
    alice, bob, carol = world.sb.user("Alice"), world.sb.user("Bob"), world.sb.user("Carol")
    for user, text in ((alice, "a1"), (alice, "a2"), (bob, "b1"), (alice, "a3"), (bob, "b2"), (carol, "c1")):
        await user.send(text)
    # One of each chat at once, the first of each; nothing more while they are open.
    await held.until(lambda: len(held.got) == 3)
    assert held.texts() == ["a1", "b1", "c1"] and held.most_open == 3
    # A failed push holds back its own chat only.
    held.answer("a1", 503)
    held.answer("b1")
    await held.until(lambda: "b2" in held.texts() and held.texts().count("a1") == 2)
    assert "a2" not in held.texts()
    held.answer("c1")
    held.answer("b2")
    for text in ("a1", "a2", "a3"):

        def pushed(text: str = text) -> bool:
            return text in held.texts() and not held.open[-1].done()

        await held.until(pushed)
        held.answer(text)
    await world.sb.wait_consumed(timeout=5)
    assert [t for t in held.texts() if t.startswith("a")] == ["a1", "a1", "a2", "a3"]
    assert held.most_open == 3
    assert [p.status for p in world.sb.state.pushes].count(200) == 6


async def test_no_more_at_once_than_the_webhooks_max_connections(world: World, held: HeldReceiver) -> None:
    world.server.webhook_connections = 40
    await world.ok("setWebhook", url=held.url, max_connections=2)
    for name in ("Alice", "Bob", "Carol", "Dave"):
        await world.sb.user(name).send(name.lower())
    await held.until(lambda: len(held.got) == 2)
    held.answer("alice")
    await held.until(lambda: len(held.got) == 3)
    held.answer("bob")
    await held.until(lambda: len(held.got) == 4)
    held.answer("carol")
    held.answer("dave")
    await world.sb.wait_consumed(timeout=5)
    # Never more than two open at once: a pusher that took more would have had all four open at the start.
    assert held.texts() == ["alice", "bob", "carol", "dave"] and held.most_open == 2
    code, description = await world.error("setWebhook", url=held.url, max_connections=101)
    assert code == 400 and "max_connections" in description
