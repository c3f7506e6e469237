"""The chat page of `riverbot try`: static files from sandbox/static/ and a small JSON API on the stand-in.

The API speaks for the fixed people of the try world (``as`` = a person's key): it pushes updates through the
driver, as a Telegram client would, and reads back what the bot sent. Every element the page's script uses has a
stable id or data- attribute, so a browser test can drive the page as well as a person.

    GET  /                       the page
    GET  /api/strings            the page's strings, both languages (locales/*.toml, section [page])
    GET  /api/world              the people, the group chats, the samples, the bot
    GET  /api/map                the sample reaches as GeoJSON (the registry's own geometry)
    GET  /api/messages           ?as=&chat=&version=: a chat as the person sees it; long-polls while unchanged
    POST /api/send               {as, chat, text}
    POST /api/press              {as, chat, message_id, data}
    POST /api/photo              multipart: as, chat, mode (photo|file), caption, file or sample
    POST /api/location           {as, chat, latitude, longitude}
    POST /api/walk               {as, chat, reach, speed_kmh, seconds}: a live location walked along a reach
    GET  /api/file/{file_id}     a file the bot or a person sent (documents download)
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .samples import SAMPLES, sample_bytes
from .state import JSON, SentMessage

if TYPE_CHECKING:
    from .driver import FakeUser
    from .trying import TryWorld

STATIC = Path(str(resources.files("sandbox") / "static"))
LONG_POLL_S = 20.0
# A live location is shared for this long (Telegram offers 15 min, 1 h, 8 h); a walk sends a point this often
# in Telegram's time, however fast it runs in real time.
LIVE_PERIOD_S = 8 * 3600
WALK_STEP_S = 30
WALK_REAL_STEP_S = 0.05
MAX_WALK_S = 4 * 3600


class ChatPage:
    def __init__(self, world: TryWorld) -> None:
        self.world = world
        self.walks: dict[str, asyncio.Task[None]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/strings", self._strings)
        app.router.add_get("/api/world", self._world)
        app.router.add_get("/api/map", self._map)
        app.router.add_get("/api/messages", self._messages)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/photo", self._photo)
        app.router.add_post("/api/location", self._location)
        app.router.add_post("/api/walk", self._walk)
        app.router.add_get("/api/file/{file_id}", self._file)

    # -- static ----------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def _strings(self, request: web.Request) -> web.Response:
        catalogs = self.world.locales.catalogs
        return web.json_response(
            {
                lang: {k[5:]: v for k, v in catalog.items() if k.startswith("page.")}
                for lang, catalog in catalogs.items()
            }
        )

    # -- world -----------------------------------------------------------------------------------

    async def _world(self, request: web.Request) -> web.Response:
        world = self.world
        people = [
            {"key": key, "id": person.id, "name": person.first_name, "chats": self._chats_of(person)}
            for key, person in world.people.items()
        ]
        groups = [{"id": g.id, "title": g.title, "area": world.group_areas[g.id]} for g in world.groups.values()]
        bot = world.server.bot(world.token).bot_user
        return web.json_response(
            {
                "people": people,
                "groups": groups,
                "samples": list(SAMPLES),
                "bot": {"id": bot.id, "name": bot.first_name, "username": bot.username},
                "language": world.language,
                "banked_minutes": int(world.clock.banked // 60),
            }
        )

    def _chats_of(self, person: FakeUser) -> list[JSON]:
        bot_name = self.world.server.bot(self.world.token).bot_user.first_name
        chats: list[JSON] = [{"id": person.id, "type": "private", "title": bot_name}]
        for group in self.world.groups.values():
            if person.id in group.record.members:
                chats.append({"id": group.id, "type": "group", "title": group.title})
        return chats

    async def _map(self, request: web.Request) -> web.Response:
        from bot.demo import SAMPLE_REGISTRY  # noqa: PLC0415

        return web.json_response(json.loads((SAMPLE_REGISTRY / "reaches.geojson").read_text(encoding="utf-8")))

    # -- reading ---------------------------------------------------------------------------------

    def _person(self, key: object) -> FakeUser:
        person = self.world.people.get(str(key))
        if person is None:
            raise web.HTTPBadRequest(text="unknown person")
        return person

    def _chat(self, person: FakeUser, chat: object) -> int:
        try:
            chat_id = int(str(chat))
        except ValueError:
            raise web.HTTPBadRequest(text="bad chat") from None
        if chat_id != person.id and not (
            chat_id in self.world.groups and person.id in self.world.groups[chat_id].record.members
        ):
            raise web.HTTPForbidden(text="not this person's chat")
        return chat_id

    def feed(self, chat_id: int) -> JSON:
        """The chat as a Telegram client shows it: every message still there, current version, oldest first;
        the reply keyboard the bot last set."""
        state = self.world.server.bot(self.world.token)
        messages = sorted(
            (m for (cid, _), m in state.messages.items() if cid == chat_id), key=lambda m: int(m["message_id"])
        )
        shown = [self._shown(m, state.sent_by_key.get((chat_id, int(m["message_id"])))) for m in messages]
        keyboard: list[list[str]] = []
        for sent in reversed(state.sent_in_chat(chat_id)):
            markup = sent.reply_markup or {}
            if "keyboard" in markup:
                keyboard = sent.keyboard
                break
            if markup.get("remove_keyboard"):
                break
        body: JSON = {"messages": shown, "keyboard": keyboard}
        body["version"] = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return body

    def _shown(self, message: JSON, sent: SentMessage | None) -> JSON:
        sender = message.get("from") or {}
        item: JSON = {
            "id": message["message_id"],
            "from": {"id": sender.get("id"), "name": sender.get("first_name", ""), "bot": bool(sender.get("is_bot"))},
            "date": message.get("date"),
            "edited": "edit_date" in message,
            "text": message.get("text", message.get("caption", "")),
        }
        if sent is not None and sent.html is not None and sent.parse_mode == "HTML":
            item["html"] = sent.html
        if message.get("photo"):
            item["photo"] = message["photo"][-1]["file_id"]
        if message.get("document"):
            doc = message["document"]
            item["document"] = {
                "file_id": doc["file_id"],
                "name": doc.get("file_name", ""),
                "mime": doc.get("mime_type"),
            }
        if message.get("venue"):
            venue = message["venue"]
            item["venue"] = {"title": venue.get("title", ""), "address": venue.get("address", "")}
        if message.get("location"):
            loc = message["location"]
            item["location"] = {
                "latitude": loc["latitude"],
                "longitude": loc["longitude"],
                "live": "live_period" in loc,
            }
        if message.get("media_group_id"):
            item["album"] = message["media_group_id"]
        buttons = []
        markup = (sent.reply_markup if sent is not None else None) or message.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            buttons.append(
                [{"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")} for b in row]
            )
        if buttons:
            item["buttons"] = buttons
        return item

    async def _messages(self, request: web.Request) -> web.Response:
        person = self._person(request.query.get("as"))
        chat_id = self._chat(person, request.query.get("chat"))
        known = request.query.get("version", "")
        state = self.world.server.bot(self.world.token)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(float(request.query.get("wait", LONG_POLL_S)), LONG_POLL_S)
        while True:
            body = self.feed(chat_id)
            remaining = deadline - loop.time()
            if body["version"] != known or remaining <= 0 or state.closed:
                return web.json_response(body)
            await state.activity.wait(min(remaining, 1.0))

    # -- writing ---------------------------------------------------------------------------------

    async def _json(self, request: web.Request) -> tuple[FakeUser, int, dict[str, Any]]:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="JSON expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        person = self._person(body.get("as"))
        return person, self._chat(person, body.get("chat")), body

    def _say(self, key: str, **params: object) -> str:
        return self.world.locales.plain(self.world.language, f"page.{key}", **params)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.world.clock(), self.world.zone)

    def _target(self, chat_id: int, person: FakeUser) -> Any:
        return self.world.groups.get(chat_id) if chat_id != person.id else None

    async def _send(self, request: web.Request) -> web.Response:
        person, chat_id, body = await self._json(request)
        text = str(body.get("text", "")).strip()
        if not text:
            raise web.HTTPBadRequest(text="empty text")
        sent = await person.send(text, chat=self._target(chat_id, person))
        return web.json_response({"message_id": sent["message_id"]})

    async def _press(self, request: web.Request) -> web.Response:
        person, chat_id, body = await self._json(request)
        target = self._target(chat_id, person) or chat_id
        query_id = await person.press_raw(target, int(body["message_id"]), str(body["data"]))
        return web.json_response({"query_id": query_id})

    async def _photo(self, request: web.Request) -> web.Response:
        form = await request.post()
        person = self._person(form.get("as"))
        chat_id = self._chat(person, form.get("chat"))
        caption = str(form.get("caption") or "") or None
        upload = form.get("file")
        if isinstance(upload, web.FileField):
            data, name = upload.file.read(), upload.filename or "photo.jpg"
        elif form.get("sample") in SAMPLES:
            name = str(form["sample"])
            data = sample_bytes(self.world.folder / "samples", name, self._now())
        else:
            raise web.HTTPBadRequest(text="a file or a sample")
        target = self._target(chat_id, person)
        if form.get("mode") == "file":
            sent = await person.send_document(data, name, None, caption, chat=target)
        else:
            sent = await person.send_photo(data, caption, chat=target)
        return web.json_response({"message_id": sent["message_id"]})

    async def _location(self, request: web.Request) -> web.Response:
        person, chat_id, body = await self._json(request)
        lat, lon = float(body["latitude"]), float(body["longitude"])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise web.HTTPBadRequest(text="bad coordinates")
        sent = await person.send_location(lat, lon, chat=self._target(chat_id, person))
        return web.json_response({"message_id": sent["message_id"]})

    async def _walk(self, request: web.Request) -> web.Response:
        """A live location walked along a reach's line at `speed_kmh` for `seconds` of Telegram time (the line
        walked back and forth when it is short), one point every WALK_STEP_S, in a fraction of that in real time:
        the stand-in's clock moves on by the difference, so every date the bot sees is consistent."""
        person, chat_id, body = await self._json(request)
        line = self._reach_line(str(body.get("reach", "")))
        speed = max(0.5, min(float(body.get("speed_kmh", 4)), 60.0))
        seconds = max(WALK_STEP_S, min(int(body.get("seconds", 1200)), MAX_WALK_S))
        task = self.walks.get(person.first_name)
        if task is not None and not task.done():
            raise web.HTTPConflict(text=self._say("walk_busy"))
        if self.world.clock.banked < seconds:
            minutes = int(self.world.clock.banked // 60)
            raise web.HTTPConflict(text=self._say("walk_no_time", minutes=minutes))
        first = await person.send_location(line[0][0], line[0][1], LIVE_PERIOD_S, chat=self._target(chat_id, person))
        walk = asyncio.create_task(self._walking(person, first, line, speed, seconds))
        self.walks[person.first_name] = walk
        if body.get("wait"):
            await walk
        return web.json_response({"message_id": first["message_id"], "points": seconds // WALK_STEP_S})

    async def _walking(
        self, person: FakeUser, first: JSON, line: list[tuple[float, float]], speed: float, seconds: int
    ) -> None:
        clock = self.world.clock
        probe = self.world.sandbox
        for step in range(1, seconds // WALK_STEP_S + 1):
            await asyncio.sleep(WALK_REAL_STEP_S)
            clock.skew = min(0.0, clock.skew + WALK_STEP_S - WALK_REAL_STEP_S)
            lat, lon = _along(line, speed / 3.6 * step * WALK_STEP_S)
            await person.edit_live_location(first, lat, lon)
            if probe is not None:
                await probe.wait_consumed(timeout=30.0)
        clock.skew = min(0.0, clock.skew + 1)
        lat, lon = _along(line, speed / 3.6 * seconds)
        await person.edit_live_location(first, lat, lon, stop=True)

    def _reach_line(self, code: str) -> list[tuple[float, float]]:
        from bot.demo import SAMPLE_REGISTRY  # noqa: PLC0415

        data = json.loads((SAMPLE_REGISTRY / "reaches.geojson").read_text(encoding="utf-8"))
        for feature in data["features"]:
            geometry = feature.get("geometry")
            if feature["properties"].get("code") == code and geometry:
                coords = geometry["coordinates"] if geometry["type"] == "LineString" else geometry["coordinates"][0]
                return [(float(lat), float(lon)) for lon, lat in coords]
        raise web.HTTPBadRequest(text="unknown reach")

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.world.server.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        headers = {"Cache-Control": "private, max-age=86400, immutable"}  # a file_id's bytes never change
        if stored.file_name:
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(stored.file_name)}"
        mime = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=mime, headers=headers)


def _quote(name: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415

    return quote(name)


def _along(line: list[tuple[float, float]], metres: float) -> tuple[float, float]:
    """The point `metres` along the line, walking it back and forth."""
    lengths = [_distance(line[i - 1], line[i]) for i in range(1, len(line))]
    total = sum(lengths) or 1.0
    position = metres % (2 * total)
    if position > total:
        position = 2 * total - position
    for (a, b), length in zip(itertools.pairwise(line), lengths, strict=True):
        if position <= length and length > 0:
            t = position / length
            return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
        position -= length
    return line[-1]


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dy = (b[0] - a[0]) * 111_320
    dx = (b[1] - a[1]) * 111_320 * math.cos(lat)
    return math.hypot(dx, dy)
