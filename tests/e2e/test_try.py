"""`riverbot try`: the stand-in, the real bot and the chat page in one process, driven through the page's JSON API
as the page's script drives it (no browser here)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings, load_settings
from bot.i18n import Locales
from bot.services import Services
from sandbox.trying import PEOPLE, TIME_BANK_S, Running, start_try
from storage import Store
from tests.conftest import Cli
from tests.factories import make_jpeg

ROOT = Path(__file__).resolve().parents[2]
ID = {person.key: person.user_id for person in PEOPLE}


class Page:
    """The page's calls, and a wait on the bot between them (never on the clock)."""

    def __init__(self, running: Running, http: aiohttp.ClientSession) -> None:
        self.running = running
        self.http = http

    @property
    def url(self) -> str:
        return self.running.url

    async def settle(self) -> None:
        assert self.running.world.sandbox is not None
        await self.running.world.sandbox.wait_consumed(timeout=30.0)

    async def post(self, path: str, **body: Any) -> Any:
        async with self.http.post(self.url + path, json=body) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        await self.settle()
        return answer

    async def feed(self, person: str, chat: int | None = None) -> dict[str, Any]:
        query = {"as": person, "chat": str(chat if chat is not None else ID[person]), "wait": "0"}
        async with self.http.get(self.url + "/api/messages", params=query) as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())

    async def send(self, person: str, text: str, chat: int | None = None) -> list[dict[str, Any]]:
        """Send a text; the bot's messages that came after it."""
        sent = await self.post("/api/send", **{"as": person, "chat": chat or ID[person], "text": text})
        return [m for m in (await self.feed(person, chat))["messages"] if m["id"] > sent["message_id"]]

    @property
    def services(self) -> Services:
        return self.running.app.bot_data["services"]  # type: ignore[no-any-return]


@pytest.fixture
def base(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data", default_language="en")


@pytest.fixture
async def page(base: Settings) -> AsyncIterator[Page]:
    running = await start_try(base, Locales.load(), port=0, poll_timeout=1)
    try:
        async with aiohttp.ClientSession() as http:
            yield Page(running, http)
    finally:
        await running.stop()


async def test_the_page_and_its_strings_are_served(page: Page) -> None:
    async with page.http.get(page.url + "/") as response:
        assert response.status == 200
        html = await response.text()
    assert 'id="person"' in html and "/static/page.js" in html and "http" not in html.replace("http-equiv", "")
    async with page.http.get(page.url + "/api/strings") as response:
        strings = await response.json()
    assert strings["en"]["send"] == "Send" and set(strings["en"]) == set(strings["zh"])
    async with page.http.get(page.url + "/api/world") as response:
        world = await response.json()
    assert [p["key"] for p in world["people"]] == ["admin", "village", "town", "volunteer", "stranger"]
    assert len(world["groups"]) == 5
    stranger = next(p for p in world["people"] if p["key"] == "stranger")
    assert [c["type"] for c in stranger["chats"]] == ["private"]  # in no group


async def test_start_is_answered_and_an_inline_button_works(page: Page) -> None:
    replies = await page.send("stranger", "/start")
    assert replies and all(m["from"]["bot"] for m in replies)
    choice = next(m for m in replies if any(b["data"] == "lang:en" for row in m.get("buttons", []) for b in row))
    press = {"as": "stranger", "chat": ID["stranger"], "message_id": choice["id"], "data": "lang:en"}
    await page.post("/api/press", **press)
    state = page.running.world.server.bot(page.running.world.token)
    assert state.answers, "the button press was answered"
    after = (await page.feed("stranger"))["messages"]
    assert any("English" in m["text"] or m["edited"] for m in after if m["from"]["bot"])


async def test_a_reply_keyboard_press_is_its_text(page: Page) -> None:
    await page.send("village", "/start")
    keyboard = (await page.feed("village"))["keyboard"]
    assert keyboard, "a chief gets the menu keyboard"
    replies = await page.send("village", keyboard[0][0])
    assert replies and replies[0]["from"]["bot"]


async def test_a_photo_upload_reaches_the_bot_as_a_photo(page: Page) -> None:
    await page.send("volunteer", "/start")
    form = aiohttp.FormData()
    form.add_field("as", "volunteer")
    form.add_field("chat", str(ID["volunteer"]))
    form.add_field("mode", "photo")
    form.add_field("file", io.BytesIO(make_jpeg(1600, 1200, seed=3)), filename="river.jpg", content_type="image/jpeg")
    async with page.http.post(page.url + "/api/photo", data=form) as response:
        assert response.status == 200, await response.text()
        sent = await response.json()
    await page.settle()
    state = page.running.world.server.bot(page.running.world.token)
    message = state.messages[(ID["volunteer"], sent["message_id"])]
    assert len(message["photo"]) >= 2 and "document" not in message  # compressed, in several sizes
    feed = (await page.feed("volunteer"))["messages"]
    assert any(m["from"]["bot"] and m["id"] > sent["message_id"] for m in feed), "the bot answered the photo"
    mine = next(m for m in feed if m["id"] == sent["message_id"])
    async with page.http.get(page.url + "/api/file/" + mine["photo"]) as response:
        assert response.status == 200 and (await response.read())[:2] == b"\xff\xd8"


async def test_a_sample_picture_goes_as_a_file_with_its_exif(page: Page) -> None:
    await page.send("volunteer", "/start")
    form = aiohttp.FormData()
    fields = {"as": "volunteer", "chat": str(ID["volunteer"]), "mode": "file", "sample": "bank_gps.jpg"}
    for name, value in fields.items():
        form.add_field(name, value)
    async with page.http.post(page.url + "/api/photo", data=form) as response:
        assert response.status == 200, await response.text()
        sent = await response.json()
    await page.settle()
    state = page.running.world.server.bot(page.running.world.token)
    document = state.messages[(ID["volunteer"], sent["message_id"])]["document"]
    data = state.files.by_id[document["file_id"]].data
    from PIL import Image  # noqa: PLC0415

    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "GPS kept in a file"


async def test_a_live_location_walk_makes_a_patrol_with_a_track(page: Page) -> None:
    await page.send("village", "/start")
    replies = await page.send("village", "/patrol")
    choice = next(m for m in replies if m.get("buttons") and m["buttons"][0][0]["data"].startswith("pt:r:"))
    await page.post(
        "/api/press",
        **{"as": "village", "chat": ID["village"], "message_id": choice["id"], "data": choice["buttons"][0][0]["data"]},
    )
    await page.post(
        "/api/walk",
        **{"as": "village", "chat": ID["village"], "reach": "QJH-01", "speed_kmh": 4, "seconds": 1200, "wait": True},
    )
    keyboard = (await page.feed("village"))["keyboard"]
    finish = next(text for row in keyboard for text in row if text.startswith("✅"))
    await page.send("village", finish)
    person = await page.services.store.people.by_telegram_id(ID["village"])
    assert person is not None
    patrols = await page.services.store.patrols.recent_for_person(person.id)
    assert patrols and patrols[0].duration_s is not None and patrols[0].duration_s >= 19 * 60
    assert await page.services.store.patrols.point_count(patrols[0].id) >= 30
    assert page.running.settings.patrol_idle_minutes * 60 > TIME_BANK_S, "no idle finish from the lag alone"


async def _untouched(base: Settings) -> bool:
    """Nothing of a try run is in the deployment's database: no SQLite file in DATA_DIR, nobody in the
    PostgreSQL database DATABASE_URL names."""
    if not base.on_postgres:
        return not base.database_path.exists()
    async with await Store.open(base.database) as store:
        return int(await store.fetchval("SELECT count(*) FROM people")) == 0


async def test_the_conversation_survives_a_restart(base: Settings) -> None:
    locales = Locales.load()
    running = await start_try(base, locales, port=0, poll_timeout=1)
    try:
        async with aiohttp.ClientSession() as http:
            first = Page(running, http)
            await first.send("admin", "/start")
            before = (await first.feed("admin"))["messages"]
    finally:
        await running.stop()
    assert (base.data_dir / "try" / "standin.json").exists()
    assert await _untouched(base), "a real deployment's database is never touched"
    running = await start_try(base, locales, port=0, poll_timeout=1)
    try:
        assert running.settings.data_dir == base.data_dir / "try"
        assert running.settings.database == base.data_dir / "try" / "riverbot.sqlite3"
        assert running.settings.backups_path == base.data_dir / "try" / "backups"
        async with aiohttp.ClientSession() as http:
            again = Page(running, http)
            kept = (await again.feed("admin"))["messages"]
            assert [m["id"] for m in kept] == [m["id"] for m in before]
            replies = await again.send("admin", "/help")
            assert replies and min(m["id"] for m in replies) > max(m["id"] for m in before)
    finally:
        await running.stop()


def test_riverbot_try_prints_the_page_address_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "ADMIN_IDS")}
    env.update(DATA_DIR=str(tmp_path / "data"), LANG="en_US.UTF-8", LC_ALL="", DEFAULT_LANGUAGE="zh")
    with subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "try", "--port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # the bot and the page are up once it is printed
            assert line.startswith("Try mode") and "http://127.0.0.1:" in line and "BOT_TOKEN" in line, line
            address = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert address is not None
            with urllib.request.urlopen(address[0] + "/api/world", timeout=30) as response:
                assert json.load(response)["people"][0]["key"] == "admin"
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert (tmp_path / "data" / "try" / "standin.json").exists()


def test_a_busy_port_is_one_line_and_exit_2(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("try", "--port", str(port))
    assert code == 2 and f"127.0.0.1:{port}" in err and "--port" in err


def test_make_run_without_a_token_runs_try_and_with_one_the_bot() -> None:
    recipe = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    assert "riverbot try" in recipe and "riverbot run" in recipe and "bot_token" in recipe


def test_run_without_a_token_still_refuses(cli: Cli) -> None:
    code, _, err = cli("run")
    assert code == 2 and "BOT_TOKEN" in err


def test_the_real_token_path_loads_neither_the_stand_in_nor_aiohttp(tmp_path: Path) -> None:
    """What `riverbot run` imports, and the Application it builds: no sandbox/, no aiohttp."""
    script = textwrap.dedent(
        """
        import json, sys
        import bot.cli
        from telegram.error import InvalidToken, NetworkError
        from bot.app import build_application, serve, unreachable
        from bot.config import load_settings
        settings = load_settings(env_file=None, bot_token="123456789:" + "A" * 35, data_dir=sys.argv[1])
        build_application(settings)
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("sandbox", "aiohttp"))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


async def _press(page: Page, person: str, message: dict[str, Any], pick: str, chat: int | None = None) -> None:
    data = next(b["data"] for row in message["buttons"] for b in row if pick in b["text"] or pick == b["data"])
    press = {"as": person, "chat": chat or ID[person], "message_id": message["id"], "data": data}
    await page.post("/api/press", **press)


async def test_the_admin_downloads_an_xlsx_export(page: Page) -> None:
    await page.send("admin", "/start")
    formats = next(m for m in await page.send("admin", "/export") if m.get("buttons"))
    await _press(page, "admin", formats, "xlsx")
    ranges = next(m for m in (await page.feed("admin"))["messages"] if m["id"] == formats["id"])
    await _press(page, "admin", ranges, ranges["buttons"][0][0]["data"])
    documents = [m["document"] for m in (await page.feed("admin"))["messages"] if m.get("document")]
    assert documents and documents[-1]["name"].endswith(".xlsx")
    async with page.http.get(page.url + "/api/file/" + documents[-1]["file_id"]) as response:
        assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
        assert (await response.read())[:2] == b"PK"


async def test_the_summary_in_an_area_group_shows_the_chart(page: Page) -> None:
    group = next(iter(page.running.world.groups))
    replies = await page.send("admin", "/summary", chat=group)
    assert any(m.get("photo") for m in replies), [m["text"][:80] for m in replies]


async def test_a_walk_spends_the_time_bank_and_is_refused_past_it(page: Page) -> None:
    clock = page.running.world.clock
    assert clock.banked >= 3600, "the try world runs behind real time, so walks can be compressed"
    clock.skew = -600.0
    body = {"as": "town", "chat": ID["town"], "reach": "LGH-01", "speed_kmh": 4, "seconds": 1200}
    async with page.http.post(page.url + "/api/walk", json=body) as response:
        assert response.status == 409 and "10" in await response.text()


def test_the_page_fetches_nothing_from_the_internet() -> None:
    for path in (ROOT / "sandbox" / "static").iterdir():
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


async def test_a_patrol_is_not_finished_as_idle_because_the_world_runs_behind(page: Page) -> None:
    await page.send("village", "/start")
    choice = next(m for m in await page.send("village", "/patrol") if m.get("buttons"))
    await _press(page, "village", choice, choice["buttons"][0][0]["data"])
    assert not await page.services.patrols.end_due(datetime.now(UTC))
