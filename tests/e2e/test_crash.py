"""The bot killed (SIGKILL, not a clean stop) right after it confirmed a burst to Telegram, then started again.

Run as a real process, so the kill is real: nothing of the bot's memory survives, only what it stored. What it
had fetched and confirmed must be handled after the restart, once; an answer may come twice only if it was
already on its way at the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.delivery import bound_areas
from bot.app import build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from bot.config import load_settings
from bot.delivery import AREAS_IN_FLIGHT
from sandbox import BotApiServer, FakeUser, Sandbox
from storage import Store
from storage.registry import ReachValues
from tests.cli import cli_database
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import started_admin

RIVERBOT = [sys.executable, "-m", "bot", "run"]
STARTED_WITHIN_S = 60.0


@asynccontextmanager
async def running_bot(
    data_dir: Path, server: BotApiServer, token: str, **settings: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`riverbot run` as its own process; killed at the end if the test has not killed it."""
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS"}}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "BOT_TOKEN": token,
            "TELEGRAM_API_URL": server.url,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
    )
    with (data_dir.parent / "bot.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(*RIVERBOT, cwd=data_dir.parent, env=env, stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert process.returncode == -signal.SIGKILL


async def stop_cleanly(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, as systemd stops the bot: it finishes what it has in hand and exits 0."""
    process.send_signal(signal.SIGTERM)
    assert await process.wait() == 0


async def calls_ended(sandbox: Sandbox) -> None:
    """Wait until the stand-in has finished the calls a killed bot had made: an answer on its way at the kill is
    delivered (Telegram would deliver it too), and counts as sent before the restart."""
    async with asyncio.timeout(STARTED_WITHIN_S):
        while sandbox.state.in_flight:  # noqa: ASYNC110 - the stand-in signals no event when a call ends
            await asyncio.sleep(0.01)


async def confirmed(sandbox: Sandbox) -> None:
    """Wait until the bot has confirmed every update pushed (the offset of a later getUpdates has passed it)."""
    await sandbox.wait_until(lambda: sandbox.state.all_confirmed, timeout=STARTED_WITHIN_S)


async def test_sixty_commands_confirmed_then_killed_are_all_answered_after_the_restart(
    tmp_path: Path, server: BotApiServer
) -> None:
    token = server.add_bot(username="riverbot_crash_bot")
    sandbox = Sandbox(server, token)
    data_dir = tmp_path / "data"
    people = [sandbox.user(first_name=f"河长{i}", language_code="zh-hans") for i in range(60)]
    server.latency = 0.3  # each answer takes a while to send: most are still to be sent at the kill
    async with running_bot(data_dir, server, token) as first:
        await people[0].send("/help")
        await people[0].next_message(timeout=STARTED_WITHIN_S)  # the bot is up
        for person in people[1:]:
            await person.send("/help")
        await confirmed(sandbox)
        await kill(first)
        await calls_ended(sandbox)
    before = {p.id: len(p.messages()) for p in people}
    assert sum(1 for p in people[1:] if before[p.id] == 0) > 0, "the kill came after every answer: no test"

    server.latency = 0.0
    async with running_bot(data_dir, server, token) as second:
        for person in people[1:]:
            if before[person.id] == 0:
                await person.next_message(timeout=STARTED_WITHIN_S)
        await confirmed(sandbox)
        await stop_cleanly(second)
    for person in people[1:]:
        answers = len(person.messages())
        # Once each; twice only for an answer that was already sent before the kill (its update not yet marked).
        assert answers == 1 or (answers == 2 and before[person.id] == 1), (person.id, before[person.id], answers)


async def _chief(data_dir: Path, telegram_id: int) -> tuple[int, int]:
    """A chief of one reach, as the office would leave them: (person id, reach id)."""
    async with await Store.open(cli_database(data_dir)) as store:
        area_id, _ = await store.areas.upsert("CRASH", "测试片区", "Test area")
        reach_id, _ = await store.reaches.upsert(
            ReachValues("CRASH-01", "测试河", "Test River", area_id, "town", 3.5, (), None, None)
        )
        person_id = await store.people.create(name="陈河长", telegram_id=telegram_id)
        await store.people.grant_role(person_id, "chief", level="town")
        await store.assignments.assign(person_id, reach_id, level="town", starts_on=datetime.now(UTC).date())
    return person_id, reach_id


async def _chief_on_patrol(data_dir: Path, telegram_id: int, started_at: int) -> None:
    """A chief with an open patrol on their reach, as the office and /patrol would leave them."""
    person_id, reach_id = await _chief(data_dir, telegram_id)
    async with await Store.open(cli_database(data_dir)) as store:
        _, new = await store.patrols.start(person_id, reach_id, _at(started_at))
        assert new


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


async def _walk(user: FakeUser, live: dict[str, object], moves: range, shared_at: int) -> None:
    for move in moves:
        await user.edit_live_location(live, 31.0 + move * 0.0001, 121.0, edit_date=shared_at + move * 5)


async def test_a_patrol_backlog_confirmed_then_killed_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, server: BotApiServer
) -> None:
    token = server.add_bot(username="riverbot_crash2_bot")
    sandbox = Sandbox(server, token)
    data_dir = tmp_path / "data"
    chen = sandbox.user(first_name="陈", language_code="zh-hans")
    # Three hours ago: the 1,500 edits, 5 s apart, all dated in the past (a time ahead of the server's clock is
    # taken as the moment it arrived, which a replay after the kill could not repeat).
    shared_at = int(time.time()) - 3 * 3600
    await _chief_on_patrol(data_dir, chen.id, shared_at - 60)
    async with running_bot(data_dir, server, token) as first:
        live = await chen.send_location(31.0, 121.0, live_period=8 * 3600, date=shared_at)
        await chen.next_message(timeout=STARTED_WITHIN_S)  # "live track started": the bot is up
        await _walk(chen, live, range(1, 751), shared_at)
        await chen.send_photo(make_jpeg(800, 600, seed=5), date=shared_at + 3800)
        await chen.send("河面有漂浮物", date=shared_at + 3801)
        await _walk(chen, live, range(751, 1501), shared_at)
        await confirmed(sandbox)
        await kill(first)

    def answered(text: str) -> bool:
        return any(text in (m.text or "") for m in chen.messages())

    async with running_bot(data_dir, server, token) as second:
        # The restart works off the inbox first, in order (one chat's updates one at a time): /help sent now is
        # answered only after everything left from before the kill.
        await chen.send("/help")
        await sandbox.wait_until(lambda: answered("/help — "), timeout=STARTED_WITHIN_S)
        assert answered("已记录照片") and answered("已记录备注")
        await confirmed(sandbox)
        await stop_cleanly(second)
    async with await Store.open(cli_database(data_dir)) as store:
        assert int(await store.fetchval("SELECT count(*) FROM patrol_points")) == 1501  # the first + 1,500 edits
        assert int(await store.fetchval("SELECT count(*) FROM patrol_notes")) == 1
        assert int(await store.fetchval("SELECT count(*) FROM patrol_photos")) == 1
        assert int(await store.fetchval("SELECT count(*) FROM inbox WHERE done_at IS NULL")) == 0


def _help_from(user: FakeUser, update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
            "from": {"id": user.id, "is_bot": False, "first_name": user.first_name, "language_code": "en"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def test_leftovers_are_handled_first_and_a_second_delivery_is_ignored(bot: Harness) -> None:
    admin = await started_admin(bot, "en")
    await stop_app(bot.app)
    answered = len(admin.messages())
    # What a crash leaves: one update kept and not handled, one handled (Telegram was not told before the crash).
    left, handled = bot.sandbox.state.last_pushed_id + 100, bot.sandbox.state.last_pushed_id + 101
    assert len(await bot.services.inbox.take([_help_from(admin, left), _help_from(admin, handled)])) == 2
    await bot.store.inbox.mark_done([handled])

    restarted = build_application(bot.settings, services=bot.services)
    await start_app(restarted, poll_timeout=1)
    try:
        bot.sandbox.watch(restarted.work)
        bot.app = restarted
        assert "/help" in (await admin.next_message()).text  # the leftover, handled first
        bot.sandbox.state.push_update(_help_from(admin, handled))  # Telegram sends the handled one again
        await bot.sandbox.wait_consumed()
        assert len(admin.messages()) == answered + 1  # ignored: not answered twice
        await admin.send("/help")
        await admin.next_message()
        assert len(admin.messages()) == answered + 2
        await bot.sandbox.wait_consumed()
        assert await bot.services.inbox.settle()  # the handled marks are written in batches, behind the answers
        figures = await bot.store.inbox.figures()
        assert figures.waiting == 0 and figures.last_update_id == handled + 1
    finally:
        await stop_app(restarted)  # the harness stops the Application it started, not this one


async def test_a_report_draft_confirmed_then_killed_keeps_every_photo_once(
    tmp_path: Path, server: BotApiServer
) -> None:
    token = server.add_bot(username="riverbot_crash3_bot")
    sandbox = Sandbox(server, token)
    data_dir = tmp_path / "data"
    chen = sandbox.user(first_name="陈", language_code="zh-hans")
    await _chief(data_dir, chen.id)
    server.latency = 0.2  # answers take a while: most photos are still to be handled at the kill
    async with running_bot(data_dir, server, token) as first:
        await chen.send("/report")
        await chen.next_message(timeout=STARTED_WITHIN_S)  # asks for photos: the bot is up
        for i in range(5):
            await chen.send_photo(make_jpeg(1200, 900, seed=40 + i))
        await confirmed(sandbox)
        await kill(first)
        await calls_ended(sandbox)
    server.latency = 0.0

    async with running_bot(data_dir, server, token) as second:
        await chen.send("/help")  # answered only after the photos left from before the kill (one chat, in order)
        await sandbox.wait_until(lambda: any("/help — " in (m.text or "") for m in chen.messages()), timeout=60)
        await stop_cleanly(second)
    async with await Store.open(cli_database(data_dir)) as store:
        data = await store.fetchval("SELECT data FROM dialogs WHERE telegram_id = ?", (chen.id,))
        photos = int(await store.fetchval("SELECT count(*) FROM photos"))
    draft_photos = [p[0] for p in json.loads(data)["photos"]]
    assert len(draft_photos) == 5 and len(set(draft_photos)) == 5 and photos == 5


async def test_a_weekly_delivery_killed_midway_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path, server: BotApiServer
) -> None:
    token = server.add_bot(username="riverbot_crash4_bot")
    sandbox = Sandbox(server, token)
    data_dir = tmp_path / "data"
    settings = load_settings(env_file=None, data_dir=data_dir)
    async with await Store.open(settings.database) as store:
        areas = await bound_areas(store, sandbox, 16, today=datetime.now(settings.tz).date())

    def pieces() -> int:
        return sum(len(sandbox.state.sent_in_chat(a.chat_id)) for a in areas)

    def whole() -> bool:
        return all({"text", "photo"} <= {m.kind for m in sandbox.state.sent_in_chat(a.chat_id)} for a in areas)

    server.latency = 0.1  # a run of 32 pieces takes a while: the kill lands in the middle of it
    async with running_bot(data_dir, server, token, SUMMARY_TIME="mon 00:00") as first:
        await sandbox.wait_until(lambda: pieces() >= 6, timeout=STARTED_WITHIN_S)  # the run soon after start
        await kill(first)
        await calls_ended(sandbox)
    at_kill = pieces()
    assert at_kill < 2 * len(areas), "the kill came after the whole run: no test"
    server.latency = 0.0

    async with running_bot(data_dir, server, token, SUMMARY_TIME="mon 00:00") as second:
        await sandbox.wait_until(whole, timeout=STARTED_WITHIN_S)
        await stop_cleanly(second)
    # Every group has its text and its chart; a piece was sent twice only if it was on its way at the kill: at
    # most one per area of the 12 delivered at once (bot.delivery.AREAS_IN_FLIGHT).
    assert pieces() - 2 * len(areas) <= AREAS_IN_FLIGHT
