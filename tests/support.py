"""Helpers the tests share: people and places seeded into the store, the steps of common flows, and waiting on
the bot (a job run to its end, a restart the driver follows). Fixtures live in tests/conftest.py; test modules
import from here, never from each other."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Collection
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram.ext import CallbackContext

from bot.app import RiverbotApplication, build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from bot.config import PatrolRule
from handlers.summaries import weekly_summaries
from sandbox import FakeUser, SentMessage
from storage import Store
from storage.patrols import Finish
from storage.problems import NewProblem
from storage.registry import ReachValues
from tests.conftest import ADMIN_ID, Harness
from tests.factories import make_jpeg

#: a job's callback
Job = Callable[[Any], Awaitable[None]]

# -- the bot as a whole --------------------------------------------------------------------------------------


async def restart(bot: Harness) -> RiverbotApplication:
    """Stop the bot and start another Application over the same store, which the driver then waits on; the
    caller stops it."""
    await stop_app(bot.app)
    restarted = build_application(bot.settings, services=bot.services)
    await start_app(restarted, poll_timeout=1)
    bot.sandbox.watch(restarted.work)
    bot.app = restarted
    return restarted


async def run_job(bot: Harness, callback: Job, app: RiverbotApplication | None = None, *, settle: bool = True) -> None:
    """Run a job now through the job queue (as the schedule would), and wait until it and what it sent are done
    (and, with `settle`, until the bot has confirmed every update: not while its inbox refuses them)."""
    application = app or bot.app
    finished = asyncio.Event()

    async def job(context: CallbackContext) -> None:  # type: ignore[type-arg]
        """The job, then the signal that it ended."""
        try:
            await callback(context)
        finally:
            finished.set()

    assert application.job_queue is not None
    application.job_queue.run_once(job, 0)
    await asyncio.wait_for(finished.wait(), 10)
    if settle:
        await bot.sandbox.wait_consumed()


async def run_weekly(bot: Harness) -> None:
    """Run the weekly summaries job now, to its end (as the JobQueue would)."""
    await weekly_summaries(CallbackContext(bot.app))
    await bot.sandbox.wait_consumed()


async def dump_tables(store: Store, *, without: Collection[str] = ()) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but `without`, in a stable order, on either engine: what a test compares before
    and after something that must change nothing."""
    tables = [t for t in await store.table_names() if t not in without and not t.startswith("sqlite_")]
    return {t: sorted((tuple(row) for row in await store.fetchall(f'SELECT * FROM "{t}"')), key=repr) for t in tables}


# -- people and buttons --------------------------------------------------------------------------------------


async def started_admin(bot: Harness, language_code: str = "zh-hans") -> FakeUser:
    """The bootstrap admin (ADMIN_IDS), after /start in private: only then does the bot know them as an admin."""
    admin = bot.sandbox.user(first_name="河长办", last_name="管理员", language_code=language_code, user_id=ADMIN_ID)
    await admin.send("/start")
    await admin.next_message()
    await admin.next_message()
    return admin


async def tap(
    bot: Harness, user: FakeUser, message: SentMessage, text: str | None = None, data: str | None = None
) -> SentMessage:
    """Press a button, wait until the bot has answered the press, and return that message as it is now."""
    query_id = await user.press(message, text=text, data=data)
    await bot.sandbox.answer(query_id)
    return next(m for m in user.messages() if m.message_id == message.message_id)


async def close_problem(
    bot: Harness, user: FakeUser, message: SentMessage, *, zh: bool = True, note: str | None = None
) -> SentMessage:
    """Close (销号) from a card: the close button asks to confirm; a typed note confirms with it, else the
    confirm button. Returns the message that says it is done (or why not)."""
    await tap(bot, user, message, text="✅ 核查通过，销号" if zh else "✅ Verified: close it")
    ask = await user.next_message()
    assert ("确认销号" if zh else "Close (sign off)") in ask.text, ask.text
    if note is not None:
        await user.send(note)
        return await user.next_message()
    return await tap(bot, user, ask, text="✅ 确认销号" if zh else "✅ Confirm")


def current(bot: Harness, message: SentMessage) -> SentMessage:
    """The bot's message as it is now (edits applied)."""
    return bot.sandbox.state.sent_by_key[(message.chat_id, message.message_id)]


# -- the registry and the people in it -----------------------------------------------------------------------

# 丁堡河（城东段）runs east–west along 32.5 N from 120.40 E to 120.43 E (about 2.8 km).
LAT = 32.5
WEST = 120.40
# 0.0003 degrees of longitude at 32.5 N: 6371008.8 × cos(32.5°) × 0.0003 × π / 180 ≈ 28.1 m.
STEP = 0.0003


async def seed(store: Store) -> dict[str, int]:
    """Area CD with 丁堡河 (a mapped town reach) and 立公河 (a village one); returns reach ids by code."""
    cd, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    line = {"type": "LineString", "coordinates": [[WEST, LAT], [120.43, LAT]]}
    ids = {}
    ids["DBH-01"], _ = await store.reaches.upsert(
        ReachValues(
            "DBH-01",
            "丁堡河（城东段）",
            "Dingbao River (east)",
            cd,
            "town",
            2.8,
            (),
            json.dumps(line),
            (LAT, WEST, LAT, 120.43),
        )
    )
    ids["LGH-01"], _ = await store.reaches.upsert(
        ReachValues("LGH-01", "立公河", "Ligong River", cd, "village", 1.2, (), None, None)
    )
    return ids


async def seed_registry(store: Store) -> dict[str, int]:
    """Two areas and three reaches; returns reach ids by code."""
    cd, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    await store.areas.upsert("CN", "城南片区", "Chengnan")
    ids = {}
    for code, zh, en, level in (
        ("DBH-01", "丁堡河（城东段）", "Dingbao River (east)", "town"),
        ("JHH-01", "江海河（城东段）", "Jianghai River (east)", "town"),
        ("LGH-01", "立公河", "Ligong River", "village"),
    ):
        ids[code], _ = await store.reaches.upsert(
            ReachValues(code, zh, en, cd, level, 3.5, ("black_odorous",) if code == "LGH-01" else (), None, None)
        )
    return ids


async def chief(bot: Harness, user: FakeUser, name: str, reach_ids: list[int], level: str = "town") -> int:
    """A chief of area CD holding `reach_ids` since a month ago; returns the person id."""
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    person_id = await bot.store.people.create(name=name, telegram_id=user.id, home_area_id=area.id)
    await bot.store.people.grant_role(person_id, "chief", level=level)
    today = datetime.now(bot.settings.tz).date() - timedelta(days=30)
    for reach_id in reach_ids:
        await bot.store.assignments.assign(person_id, reach_id, level=level, starts_on=today)
    return person_id


async def volunteer(bot: Harness, user: FakeUser, name: str) -> int:
    """A volunteer of area CD; returns the person id."""
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    person_id = await bot.store.people.create(name=name, telegram_id=user.id, home_area_id=area.id)
    await bot.store.people.grant_role(person_id, "volunteer")
    return person_id


async def bound_group(bot: Harness) -> tuple[int, int]:
    """Area CD with two reaches and a chief, its group bound; returns (group chat id, area id)."""
    ids = await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await chief(bot, zhao, "赵六", [ids["DBH-01"], ids["LGH-01"]], level="village")
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    group = bot.sandbox.group(title="城东片区河长群", members=[zhao])
    await bot.store.chats.upsert(group.id, type="supergroup", title="城东片区河长群", bot_status="member")
    await bot.store.bindings.bind(group.id, area.id, bound_by=None)
    return group.id, area.id


# -- flows ---------------------------------------------------------------------------------------------------


async def start_patrol(bot: Harness, user: FakeUser, at: int, reach_text: str = "🏞 丁堡河（城东段）") -> None:
    """/patrol, the reach chosen: the patrol has started, and every message about it is read."""
    await user.send("/patrol", date=at)
    choice = await user.next_message()
    await user.next_message()  # "or send your location" with the location keyboard
    started = await tap(bot, user, choice, text=reach_text)
    assert "巡河已开始" in started.text or "Patrol started" in started.text
    await user.next_message()  # how to share a live location, with the Finish / Report keyboard


async def report(
    bot: Harness,
    user: FakeUser,
    *,
    zh: bool = True,
    category: str = "乱堆",
    photo_seed: int = 1,
    lat: float = LAT + 0.0005,
    lon: float = WEST + 0.003,
) -> SentMessage:
    """Walk the whole report flow with a compressed photo and a shared location; returns the confirmation."""
    await user.send("/report")
    await user.next_message()
    await user.send_photo(make_jpeg(1600, 1200, seed=photo_seed))
    added = await user.next_message()
    await tap(bot, user, added, text="➡️ 照片已发完，下一步" if zh else "➡️ Done with photos: next")
    await user.next_message()  # share your location (keyboard)
    await user.send_location(lat, lon)
    await user.next_message()  # location received
    reaches = await user.next_message()
    category_message = await tap(bot, user, reaches, data=reaches.buttons[0][0][1])
    described = await tap(bot, user, category_message, text=category)
    if described.text.startswith(("问题类别", "Kind of problem")):
        return described  # a possible duplicate is offered next
    confirm = await tap(bot, user, described, text="跳过" if zh else "Skip")
    filed = await tap(bot, user, confirm, text="📤 提交" if zh else "📤 Send")
    await bot.sandbox.wait_consumed()
    if is_problem_map(bot.sandbox.state.sent_in_chat(user.id)[-1]):
        await user.next_message()  # the map that comes with the confirmation (tests/e2e/test_maps.py reads it)
    return filed


def is_problem_map(message: SentMessage) -> bool:
    """A new problem's map (bot.mapviews), which comes before its notice and with the reporter's confirmation."""
    return message.kind == "photo" and ("的位置：" in message.text or message.text.startswith("🗺 Where problem"))


def invite_code(text: str) -> str:
    """The start code of the invite link in a bot message."""
    found = re.search(r"https://t\.me/riverbot_test_bot\?start=([A-Za-z0-9_-]+)", text)
    assert found is not None, text
    return found.group(1)


async def make_chief_invite(bot: Harness, admin: FakeUser, name: str = "王五") -> str:
    """The admin invites a town chief of two reaches in CD through /invite; returns the invite's code."""
    await admin.send("/invite")
    ask = await admin.next_message()
    assert "请输入被邀请人（河长）的姓名" in (await tap(bot, admin, ask, text="河长")).text
    await admin.send(name)
    level = await admin.next_message()
    areas = await tap(bot, admin, level, text="镇级河长")
    reaches = await tap(bot, admin, areas, text="城东片区 · CD")
    reaches = await tap(bot, admin, reaches, data=next(d for t, d in reaches.buttons[0] if d))
    assert reaches.button_texts[0].startswith("✅")
    reaches = await tap(bot, admin, reaches, text="▫️ 江海河（城东段） · JHH-01")
    created = await tap(bot, admin, reaches, text="完成（已选 2 条）")
    assert f"已为 {name}（镇级河长）生成邀请链接" in created.text
    return invite_code(created.text)


# -- data written straight into a store (no bot) ------------------------------------------------------------

TZ = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    """ "2025-03-09 23:50" in Shanghai, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def d(text: str) -> date:
    return date.fromisoformat(text)


class World:
    """Builds registry, patrols and problems straight into a store, with explicit times and outcomes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.area_of: dict[int, int] = {}

    async def area(self, code: str, name_zh: str = "曲塘镇", name_en: str = "Qutang") -> int:
        area_id, _ = await self.store.areas.upsert(code, name_zh, name_en)
        return area_id

    async def reach(self, code: str, area_id: int, level: str = "village", name_zh: str = "", name_en: str = "") -> int:
        reach_id, _ = await self.store.reaches.upsert(
            ReachValues(code, name_zh or f"{code}河", name_en or f"{code} River", area_id, level, None, (), None, None)
        )
        self.area_of[reach_id] = area_id
        return reach_id

    async def person(self, name: str, *, role: str = "chief", level: str | None = "village") -> int:
        person_id = await self.store.people.create(name=name)
        await self.store.people.grant_role(person_id, role, level=level if role == "chief" else None)
        return person_id

    async def assign(
        self,
        person_id: int,
        reach_id: int,
        starts_on: str,
        ends_on: str | None = None,
        *,
        level: str = "village",
        rule: PatrolRule | None = None,
    ) -> int:
        assignment_id, new = await self.store.assignments.assign(
            person_id,
            reach_id,
            level=level,
            starts_on=d(starts_on),
            patrol_count=rule.count if rule else None,
            patrol_period=rule.period if rule else None,
        )
        assert new
        if ends_on is not None:
            assert await self.store.assignments.end(assignment_id, last_day=d(ends_on))
        return assignment_id

    async def patrol(
        self,
        person_id: int,
        reach_id: int,
        at: str,
        *,
        valid: bool = True,
        finished: bool = True,
        walked_by: int | None = None,
    ) -> int:
        """A patrol of `person_id`'s; with `walked_by`, walked for them by that assistant."""
        started = local(at)
        if walked_by is None:
            patrol, new = await self.store.patrols.start(person_id, reach_id, started)
        else:
            patrol, new = await self.store.patrols.start(walked_by, reach_id, started, for_chief=person_id)
        assert new
        if finished:
            ended = started + timedelta(minutes=30)
            result = Finish(ended, "finished", 1200.0, 1800, 20, 1, valid, [] if valid else [{"code": "too_short"}])
            assert await self.store.patrols.finish(patrol.id, result)
        return patrol.id

    async def problem(
        self,
        reporter_id: int,
        reach_id: int,
        *,
        category: str = "garbage",
        reported: str,
        deadline: str | None = None,
        assignee_id: int | None = None,
        closed: str | None = None,
        dismissed: str | None = None,
        reopened: tuple[str, str] | None = None,
        log: bool = True,
    ) -> int:
        """A problem through its lifecycle, with an event per step unless `log` is off (data from elsewhere)."""
        problems = self.store.problems
        new = NewProblem(reporter_id, None, reach_id, self.area_of[reach_id], category, None, 32.5, 120.45, "shared")
        problem_id = await problems.insert(new, reported_at=local(reported))

        async def event(action: str, before: str | None, after: str, at: str, **data: str) -> None:
            if log:
                await problems.add_event(
                    problem_id, actor_id=None, action=action, from_status=before, to_status=after, at=local(at),
                    data=dict(data),
                )  # fmt: skip

        await event("report", None, "reported", reported)
        if deadline is not None:
            assignee = assignee_id or reporter_id
            assert await problems.transition(
                problem_id, expect=("reported",), status="assigned", assignee_id=assignee, deadline=d(deadline)
            )
            await event("assign", "reported", "assigned", reported, deadline=deadline)
        if closed is not None:
            assert await problems.transition(problem_id, expect=("assigned",), status="rectified")
            await event("rectify", "assigned", "rectified", closed)
            assert await problems.transition(
                problem_id, expect=("rectified",), status="closed", closed_at=local(closed)
            )
            await event("close", "rectified", "closed", closed)
        if dismissed is not None:
            assert await problems.transition(
                problem_id, expect=("reported", "assigned"), status="dismissed", closed_at=local(dismissed)
            )
            await event("dismiss", "assigned" if deadline else "reported", "dismissed", dismissed)
        if reopened is not None:
            at, fresh = reopened
            assert await problems.transition(
                problem_id, expect=("closed",), status="assigned", closed_at=None, deadline=d(fresh)
            )
            await event("reopen", "closed", "assigned", at, deadline=fresh)
        return problem_id
