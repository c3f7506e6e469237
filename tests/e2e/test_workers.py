"""Webhook workers end to end (issue 17's acceptance test): `riverbot run --workers 3` on PostgreSQL, against the
Bot API stand-in pushing to its webhook, as an operator runs it.

200 chiefs on patrol share a live location and move it; one worker (the leader) is killed with SIGKILL mid-run.
Every point is stored exactly once and in the order it was sent, the supervisor starts the killed worker again,
another worker takes over the scheduled jobs, and the weekly summary the first leader sent is not sent again.

The refusals (more than one worker on SQLite) are here too, on the SQLite run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.delivery import BoundArea, bound_areas, check_group
from bot.summaries import last_week
from bot.workers import LeaderRecord, read_leader
from sandbox import BotApiServer, FakeUser, Sandbox
from storage import Store
from storage.registry import ReachValues
from storage.summaries import AREA
from tests.cli import RIVERBOT, cli_env
from tests.conftest import TEST_ENGINE, Cli

SECRET = "s3cret-Webhook_token-0123456789abcdef"
PATROLS = 200
EDITS = 8  # per patrol, after the first live location
STEP_S = 5  # Telegram's clock between two edits of one live location
AREAS = 3
WORKERS = 3
# Generous: the machine may be a busy 2-core one. Nothing waits this long unless something is wrong.
DEADLINE_S = 300.0
# Updates the stand-in holds unpushed at most (its queue costs time per update held, as Telegram's does not).
WINDOW = 200

logger = logging.getLogger(__name__)

postgresql_only = pytest.mark.skipif(
    TEST_ENGINE != "postgresql", reason="webhook workers share a PostgreSQL database: on the PostgreSQL run only"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    within_s: float = DEADLINE_S,
    *,
    running: asyncio.subprocess.Process | None = None,
) -> float:
    """Wait for an observable condition (polling the store or the stand-in); returns the seconds it took. Fails at
    once if `running` ends meanwhile."""
    started = time.monotonic()
    while not await condition():
        if running is not None and running.returncode is not None:
            raise AssertionError(f"riverbot ended ({running.returncode}) before {what}")
        if time.monotonic() - started > within_s:
            raise AssertionError(f"not within {within_s:.0f} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def _children(pid: int) -> set[int]:
    """The process's children (Linux): the workers of the front."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(p) for p in text.split()}


def _position(person: int, move: int) -> tuple[float, float]:
    """Person i walks north from a start of their own, about 11 m a move."""
    return 31.0 + person * 0.001 + move * 0.0001, 121.0 + person * 0.001


async def _open_patrols(store: Store, people: list[FakeUser], started_at: datetime) -> dict[int, int]:
    """A chief with an open patrol for each person, as /patrol leaves it; returns user id -> patrol id."""
    area_id, _ = await store.areas.upsert("LIVE", "Live area", "Live area")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("LIVE-01", "Live River", "Live River", area_id, "town", 3.5, (), None, None)
    )
    patrols: dict[int, int] = {}
    async with store.atomic():
        for i, user in enumerate(people):
            person_id = await store.people.create(name=f"Chief {i:03d}", telegram_id=user.id)
            await store.people.grant_role(person_id, "chief", level="town")
            patrol, new = await store.patrols.start(person_id, reach_id, started_at)
            assert new
            patrols[user.id] = patrol.id
    return patrols


async def _summaries_sent(store: Store, sandbox: Sandbox, areas: list[BoundArea], week_code: str) -> list[str]:
    """What is wrong with any group's weekly summary (empty: each got it whole, once, as recorded)."""
    problems = []
    for area in areas:
        record = await store.summaries.get(AREA, area.area_id, week_code, area.chat_id)
        if record is None or record.status != "sent":
            problems.append(f"{area.code}: record {record}")
            continue
        problem = check_group(sandbox.state.sent_in_chat(area.chat_id), area.code, record.message_ids)
        if problem:
            problems.append(problem)
    return problems


@postgresql_only
async def test_three_workers_lose_nothing_when_one_is_killed_and_send_the_summary_once(
    tmp_path: Path, server: BotApiServer
) -> None:
    began = time.monotonic()
    token = server.add_bot(username="riverbot_workers_bot")
    sandbox = Sandbox(server, token)
    database = os.environ["DATABASE_URL"]
    store = await Store.open(database)
    port = _free_port()
    log = tmp_path / "riverbot.log"
    front: asyncio.subprocess.Process | None = None
    timings: dict[str, float] = {}
    try:
        today = datetime.now(UTC).date()
        areas = await bound_areas(store, sandbox, AREAS, today=today)
        week_code = last_week(today).code
        people = [sandbox.user(first_name=f"Chief{i:03d}", language_code="zh-hans") for i in range(PATROLS)]
        shared_at = int(time.time()) - 600
        patrols = await _open_patrols(store, people, datetime.fromtimestamp(shared_at, UTC) - timedelta(minutes=1))

        with log.open("wb") as out:
            front = await asyncio.create_subprocess_exec(
                *RIVERBOT,
                "run",
                "--webhook",
                "--workers",
                str(WORKERS),
                cwd=tmp_path,
                env=cli_env(
                    tmp_path,
                    BOT_TOKEN=token,
                    TELEGRAM_API_URL=server.url,
                    DATABASE_URL=database,
                    WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                    WEBHOOK_LISTEN=f"127.0.0.1:{port}",
                    WEBHOOK_SECRET=SECRET,
                    DEFAULT_LANGUAGE="en",
                    SUMMARY_TIME="mon 00:00",  # last week's summary is due whatever the day
                    LEADER_CHECK_SECONDS="1",
                    WORKER_POLL_SECONDS="2",
                    RATE_LIMIT_PER_SECOND="10000",
                    RATE_LIMIT_GROUP_PER_MINUTE="100000",
                ),
                stdout=out,
                stderr=out,
            )
        front_pid = front.pid

        # The first leader sends last week's summary (its job runs soon after it leads).
        first: LeaderRecord | None = None

        async def first_summary_sent() -> bool:
            nonlocal first
            first = await read_leader(store)
            return first is not None and "weekly_summaries" in first.jobs_run

        timings["first leader's summary"] = await _until(
            first_summary_sent, "the first leader ran the weekly job", running=front
        )
        assert first is not None
        assert await _summaries_sent(store, sandbox, areas, week_code) == []
        assert len(_children(front_pid)) == WORKERS and first.pid in _children(front_pid)

        # 200 live locations shared, then moved; the stand-in pushes each update to the front.
        state = sandbox.state
        total = PATROLS * (1 + EDITS)

        def room() -> bool:
            return state.last_pushed_id - state.consumed_upto < WINDOW

        async def walk(i: int, user: FakeUser) -> None:
            await state.activity.wait_until(room, DEADLINE_S)
            lat, lon = _position(i, 0)
            live = await user.send_location(lat, lon, live_period=8 * 3600, date=shared_at)
            for move in range(1, EDITS + 1):
                if not await state.activity.wait_until(room, DEADLINE_S):
                    raise AssertionError("the front stopped taking updates")
                lat, lon = _position(i, move)
                await user.edit_live_location(live, lat, lon, edit_date=shared_at + move * STEP_S)

        async def stored() -> int:
            return int(await store.fetchval("SELECT count(*) FROM patrol_points"))

        stream_started = time.monotonic()
        walking = asyncio.gather(*(walk(i, user) for i, user in enumerate(people)))

        # Mid-run: the leader is killed, as a machine dies, once a third of the points are in.
        await _until(lambda: _at_least(stored, total // 3), "a third of the points stored", running=front)
        killed_at = await stored()
        os.kill(first.pid, signal.SIGKILL)
        timings["points stored when the leader was killed"] = killed_at

        await asyncio.wait_for(walking, DEADLINE_S)
        await _until(lambda: _at_least(stored, total), "every point stored", running=front)
        timings["stream (s)"] = time.monotonic() - stream_started
        assert killed_at < total, "the run was over before the kill: it proves nothing"

        # Another worker leads and has run the weekly job: it found the summary sent.
        second: LeaderRecord | None = None

        async def second_leader_ran() -> bool:
            nonlocal second
            second = await read_leader(store)
            return second is not None and second.pid != first.pid and "weekly_summaries" in second.jobs_run

        timings["new leader's weekly job"] = await _until(
            second_leader_ran, "a new leader ran the weekly job", running=front
        )
        assert second is not None and second.pid in _children(front_pid)
        # The supervisor started the killed worker again.
        await _until(lambda: _truthy(len(_children(front_pid) - {first.pid}) == WORKERS), "three workers again")

        # Every point exactly once, and each patrol's in the order they were sent.
        assert await stored() == total
        rows = await store.fetchall("SELECT patrol_id, at FROM patrol_points ORDER BY id")
        by_patrol: dict[int, list[str]] = {}
        for patrol_id, at in rows:
            by_patrol.setdefault(int(patrol_id), []).append(str(at))
        assert set(by_patrol) == set(patrols.values())
        for patrol_id, times in by_patrol.items():
            assert len(times) == 1 + EDITS and times == sorted(times) and len(set(times)) == len(times), patrol_id
        assert (await store.inbox.figures()).waiting == 0
        # The weekly summary went out once: nothing more in any group than the first leader sent.
        assert await _summaries_sent(store, sandbox, areas, week_code) == []
    finally:
        if front is not None and front.returncode is None:
            front.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(front.wait(), 90)
            except TimeoutError:
                front.kill()
                await front.wait()
        await store.close()
        # On a failure, pytest shows this: what the front and the workers logged.
        print(log.read_text(encoding="utf-8", errors="replace")[-20_000:])
    text = log.read_text(encoding="utf-8", errors="replace")
    assert front.returncode == 0, text[-4000:]
    assert "Traceback" not in text, text[-8000:]
    assert f"ended (exit code -{int(signal.SIGKILL)})" in text  # the supervisor saw the kill and started it again
    for name, value in timings.items():
        logger.warning("workers e2e: %s: %.1f", name, value)
    logger.warning("workers e2e: whole test: %.1f s", time.monotonic() - began)


async def _at_least(count: Callable[[], Awaitable[int]], target: int) -> bool:
    return await count() >= target


async def _truthy(value: bool) -> bool:
    return value


# -- refusals ------------------------------------------------------------------------------------------------------

TOKEN = "123456789:" + "E" * 35


@pytest.mark.sqlite_only("the refusal is about a SQLite database")
def test_more_than_one_worker_on_sqlite_is_refused_with_what_to_do(cli: Cli) -> None:
    code, out, err = cli("run", "--workers", "3", BOT_TOKEN=TOKEN)
    assert code == 2 and out == ""
    assert "PostgreSQL" in err and "DATABASE_URL" in err and "--workers 1" in err and err.count("\n") == 1
    code, _, err = cli("run", BOT_TOKEN=TOKEN, WORKERS="2")  # the setting, as the flag
    assert code == 2 and "PostgreSQL" in err
    code, _, err = cli("run", "--workers", "3", BOT_TOKEN=TOKEN, DEFAULT_LANGUAGE="zh")
    assert code == 2 and "PostgreSQL" in err and "SQLite" in err and "工作进程" in err


@pytest.mark.sqlite_only("the refusal is about a SQLite database")
def test_a_worker_on_sqlite_is_refused(cli: Cli) -> None:
    code, _, err = cli("worker", BOT_TOKEN=TOKEN)
    assert code == 2 and "PostgreSQL" in err and err.count("\n") == 1


def test_a_wrong_worker_count_or_a_webhook_without_its_url_is_a_bad_setting(cli: Cli) -> None:
    code, _, err = cli("run", "--workers", "0", BOT_TOKEN=TOKEN)
    assert code == 2 and "--workers 0" in err
    code, _, err = cli("run", "--webhook", BOT_TOKEN=TOKEN)
    assert code == 2 and "WEBHOOK_URL" in err
    code, _, err = cli("run", BOT_TOKEN=TOKEN, WORKERS="0")
    assert code == 2 and "WORKERS" in err
