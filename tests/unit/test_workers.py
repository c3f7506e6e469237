"""Webhook workers (issue 17): a chat's updates are handled by one worker at a time and in order, other chats in
parallel; one worker leads and runs the jobs, and when it dies another takes over; a worker that loses its
database session stops at once.

The locks themselves are PostgreSQL's (storage/claims.py): those tests run on a PostgreSQL run only. The worker's
rules run on both engines (on SQLite the claims are kept in memory, one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bot import workers as workers_module
from bot.config import Settings
from bot.failures import FailedUpdates
from bot.inbox import MAX_ATTEMPTS, InboxService, chat_of
from bot.workers import EXIT_SESSION_LOST, LeaderRecord, Supervisor, Worker, read_leader
from storage import Store
from storage.claims import Claims, LocalClaims, PostgresClaims, SessionLost, chat_key, home_slot, open_claims
from storage.engine import WRITE_LOCK_KEY
from storage.inbox import worker_channel
from tests.conftest import TEST_ENGINE

postgresql_only = pytest.mark.skipif(
    TEST_ENGINE != "postgresql", reason="PostgreSQL's advisory locks: on the PostgreSQL run only"
)

JSON = dict[str, Any]
DEADLINE_S = 60.0


def _message(update_id: int, chat_id: int, text: str = "巡河") -> JSON:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_764_000_000,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": abs(chat_id) % 1_000_000 or 1, "is_bot": False, "first_name": "张"},
            "text": text,
        },
    }


def _say(key: str, **params: object) -> str:
    return key


async def _until(condition: Callable[[], Awaitable[bool]], what: str, within_s: float = DEADLINE_S) -> None:
    """Wait for a condition of the store or the workers, polling, with a generous deadline."""
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s:.0f} s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def inbox(store: Store, settings: Settings) -> InboxService:
    return InboxService(store, FailedUpdates(store, settings))


# -- the inbox by chat ---------------------------------------------------------------------------------------------


def test_the_chat_of_an_update_is_its_chat_else_its_sender_else_none() -> None:
    assert chat_of(_message(1, -100_123_456_789)) == -100_123_456_789
    callback = {"update_id": 2, "callback_query": {"id": "q", "from": {"id": 7}, "message": {"chat": {"id": 42}}}}
    assert chat_of(callback) == 42
    assert chat_of({"update_id": 3, "inline_query": {"id": "i", "from": {"id": 9}, "query": ""}}) == 9
    assert chat_of({"update_id": 4, "poll": {"id": "p", "question": "?"}}) == 0


def test_chat_keys_fit_the_lock_and_spread() -> None:
    ids = [0, 1, -1, 42, 2**31, -(2**31), -100_123_456_789, 9_000_000_001, 2**63 - 1, -(2**63)]
    keys = [chat_key(i) for i in ids]
    assert all(-(2**31) <= k < 2**31 for k in keys)
    assert len({chat_key(i) for i in range(-5000, 5000)}) == 10_000  # small ids never share a key


async def test_updates_are_kept_with_their_chat_and_taken_chat_by_chat(store: Store, inbox: InboxService) -> None:
    await inbox.take([_message(1, 42), _message(2, -100_7), _message(3, 42), _message(4, 43)])
    assert await inbox.waiting_chats(10) == [42, -100_7, 43]  # the longest-waiting first
    first = await inbox.leftovers(42, limit=1)
    assert [u["update_id"] for u in first.updates] == [1]
    rest = await inbox.leftovers(42, limit=10)
    assert [u["update_id"] for u in rest.updates] == [1, 3]  # 1 is not marked handled yet: taken again
    rows = await store.fetchall("SELECT update_id, attempts, chat_id FROM inbox ORDER BY update_id")
    assert [tuple(r) for r in rows] == [(1, 2, 42), (2, 0, -100_7), (3, 1, 42), (4, 0, 43)]
    await store.inbox.mark_done([1, 3])
    assert not await inbox.has_waiting(42) and await inbox.has_waiting(43)
    assert await inbox.waiting_chats(10) == [-100_7, 43]


async def test_updates_kept_before_the_chat_was_recorded_get_it_at_start(store: Store, inbox: InboxService) -> None:
    await inbox.take([_message(1, 42), _message(2, 77)])
    await store.execute("UPDATE inbox SET chat_id = NULL")
    assert await inbox.waiting_chats(10) == []
    assert await inbox.fill_in_chats() == 2
    assert await inbox.waiting_chats(10) == [42, 77]
    assert await inbox.fill_in_chats() == 0


async def test_marked_waits_for_the_marks_to_be_stored(store: Store, inbox: InboxService) -> None:
    await inbox.take([_message(1, 42), _message(2, 42)])
    inbox.handled(1)
    inbox.handled(2)
    await inbox.marked([1, 2, 99])  # 99 was never reported handled: nothing to wait for
    assert (await inbox.figures()).waiting == 0


# -- the worker's rules, on either engine --------------------------------------------------------------------------


class Recorder:
    """A stand-in for the Application: notes who handled which update when, and reports it handled."""

    def __init__(self, inbox: InboxService) -> None:
        self.inbox = inbox
        self.seen: list[tuple[str, int, int]] = []  # (worker, chat, update id)
        self.busy: dict[int, str] = {}
        self.overlaps: list[int] = []
        self.poison: set[int] = set()
        self.poison_tries = 0

    def handler(self, worker: str) -> Callable[[JSON], Awaitable[None]]:
        async def handle(raw: JSON) -> None:
            chat, update_id = chat_of(raw), int(raw["update_id"])
            if chat in self.busy:
                self.overlaps.append(chat)
            self.busy[chat] = worker
            try:
                await asyncio.sleep(0.001)  # a handler's awaits: another chat's update may run meanwhile
                if update_id in self.poison:
                    self.poison_tries += 1
                    raise RuntimeError("a poisonous update")
                self.seen.append((worker, chat, update_id))
            finally:
                del self.busy[chat]
            self.inbox.handled(update_id)

        return handle


@pytest.fixture
async def two_claims(store: Store, settings: Settings) -> AsyncIterator[tuple[Claims, Claims]]:
    """Two workers' claims: two sessions on PostgreSQL; on SQLite one process's, shared."""
    if store.dialect == "postgresql":
        first, second = await open_claims(store), await open_claims(store)
    else:
        first = second = LocalClaims(store)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _worker(store: Store, inbox: InboxService, claims: Claims, handle: Callable[[JSON], Awaitable[None]], name: str,
            **options: Any) -> Worker:
    values: dict[str, Any] = {"poll_s": 0.5, "leader_check_s": 0.2, "chats_at_once": 4, "turn_size": 3}
    values.update(options)
    return Worker(store, inbox, claims, handle, say=_say, name=name, **values)


async def test_two_workers_handle_each_chat_in_order_and_one_at_a_time(
    store: Store, inbox: InboxService, two_claims: tuple[Claims, Claims]
) -> None:
    recorder = Recorder(inbox)
    workers = [
        _worker(store, inbox, claims, recorder.handler(f"w{i}"), f"w{i}") for i, claims in enumerate(two_claims)
    ]
    stopping = asyncio.Event()
    runs = [asyncio.create_task(w.run(stopping)) for w in workers]
    chats = [42, 43, -100_5, 77, 78, 79, 80, 81]
    update_id = 0
    sent: dict[int, list[int]] = {chat: [] for chat in chats}
    for _ in range(6):  # updates keep coming while the workers work
        batch = []
        for chat in chats:
            update_id += 1
            batch.append(_message(update_id, chat))
            sent[chat].append(update_id)
        await inbox.take(batch)
        await asyncio.sleep(0.01)
    try:
        await _until(lambda: _none_waiting(inbox), "every update handled")
    finally:
        stopping.set()
        codes = await asyncio.gather(*runs)
    assert codes == [0, 0]
    assert recorder.overlaps == []
    for chat in chats:
        assert [u for _, c, u in recorder.seen if c == chat] == sent[chat], chat
    assert len(recorder.seen) == update_id  # each once
    if store.dialect == "postgresql":
        assert {w for w, _, _ in recorder.seen} == {"w0", "w1"}  # both took chats


async def _none_waiting(inbox: InboxService) -> bool:
    return (await inbox.figures()).waiting == 0


async def test_a_poisonous_update_is_set_aside_and_the_chat_goes_on(
    store: Store, inbox: InboxService, two_claims: tuple[Claims, Claims]
) -> None:
    recorder = Recorder(inbox)
    recorder.poison = {2}
    worker = _worker(store, inbox, two_claims[0], recorder.handler("w"), "w")
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    await inbox.take([_message(1, 42), _message(2, 42), _message(3, 42)])
    try:
        await _until(lambda: _none_waiting(inbox), "the chat's updates handled or set aside")
    finally:
        stopping.set()
        assert await run == 0
    assert [u for _, _, u in recorder.seen] == [1, 3]
    assert recorder.poison_tries == MAX_ATTEMPTS
    failed = await store.fetchall("SELECT update_id FROM failed_updates")
    assert [r[0] for r in failed] == [2]


async def test_the_leader_runs_the_jobs_and_says_so(store: Store, inbox: InboxService, settings: Settings) -> None:
    elected: list[Callable[[str], Awaitable[None]]] = []
    claims = await open_claims(store)
    worker = _worker(store, inbox, claims, Recorder(inbox).handler("w"), "w1", elected=elected.append)
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    try:
        await _until(lambda: _leader_is(store, "w1"), "w1 leads")
        (ran,) = elected
        await ran("heartbeat")
        await ran("weekly_summaries")
        await ran("heartbeat")
    finally:
        stopping.set()
        assert await run == 0
        await claims.close()
    leader = await read_leader(store)
    assert leader is not None and leader.jobs_run == ["heartbeat", "weekly_summaries"]


async def _leader_is(store: Store, name: str) -> bool:
    leader = await read_leader(store)
    return leader is not None and leader.worker == name


async def test_a_worker_whose_front_is_gone_stops(store: Store, inbox: InboxService) -> None:
    claims = await open_claims(store)
    not_my_parent = os.getppid() + 1_000_000
    worker = _worker(store, inbox, claims, Recorder(inbox).handler("w"), "w", parent_pid=not_my_parent)
    try:
        assert await asyncio.wait_for(worker.run(asyncio.Event()), DEADLINE_S) == 0
    finally:
        await claims.close()


# -- PostgreSQL's locks ----------------------------------------------------------------------------------------


@postgresql_only
async def test_a_chat_is_held_by_one_session_at_a_time(store: Store) -> None:
    a, b = await open_claims(store), await open_claims(store)
    try:
        assert await a.try_chat(42)
        assert not await b.try_chat(42)
        assert await b.try_chat(43)  # another chat: in parallel
        assert not await a.try_chat(43)
        await a.release_chat(42)
        assert await b.try_chat(42)
        assert not await a.try_chat(42)
    finally:
        await a.close()
        await b.close()


@postgresql_only
async def test_claims_and_releases_asked_at_once_share_round_trips(store: Store) -> None:
    """Many turns ending and starting at once (a worker's short turns): their claims and releases go together,
    each answered for its own chat, in the order asked."""
    a, b = await open_claims(store), await open_claims(store)
    assert isinstance(a, PostgresClaims)
    trips = 0
    run = a._run

    async def counted(query: Callable[[], Awaitable[Any]], within_s: float | None = None) -> Any:
        nonlocal trips
        trips += 1
        return await run(query, within_s)

    a._run = counted  # type: ignore[method-assign]
    try:
        taken = await asyncio.gather(*(a.try_chat(chat) for chat in range(1, 51)))
        assert all(taken)
        assert trips < 10
        assert not any(await asyncio.gather(*(b.try_chat(chat) for chat in range(1, 51))))
        # Half let go while the other half (held) is tried again by its own session, which holds it twice then.
        await asyncio.gather(
            *(a.release_chat(chat) for chat in range(1, 26)), *(a.try_chat(chat) for chat in range(26, 51))
        )
        assert await asyncio.gather(*(b.try_chat(chat) for chat in range(1, 51))) == [True] * 25 + [False] * 25
        # A chat let go and taken again in one batch is held once, by the new turn.
        assert await a.try_chat(60)
        assert (await asyncio.gather(a.release_chat(60), a.try_chat(60)))[1]
        assert not await b.try_chat(60)
        await a.release_chat(60)
        assert await b.try_chat(60)
    finally:
        await a.close()
        await b.close()


@postgresql_only
async def test_claims_waiting_for_a_round_trip_fail_with_the_session(store: Store) -> None:
    a = await open_claims(store)
    assert isinstance(a, PostgresClaims)
    try:
        await _kill_session(store, a)
        results = await asyncio.gather(*(a.try_chat(chat) for chat in range(1, 20)), return_exceptions=True)
        assert all(isinstance(r, SessionLost) for r in results)
        assert a.lost
        with pytest.raises(SessionLost):
            await a.release_chat(1)
    finally:
        await a.close()


@postgresql_only
async def test_a_chat_lock_never_meets_the_write_lock(store: Store) -> None:
    """The chats' two-key locks live apart from the one-key ones: a chat whose key folds to the write lock's
    halves still lets every write through."""
    claims = await open_claims(store)
    try:
        assert await claims.try_chat(WRITE_LOCK_KEY)
        async with asyncio.timeout(10):
            await store.meta.set("k", "v")
    finally:
        await claims.close()


@postgresql_only
async def test_the_leader_lock_passes_on_when_its_session_ends(store: Store) -> None:
    a, b = await open_claims(store), await open_claims(store)
    try:
        assert await a.try_leader()
        assert not await b.try_leader()
        assert await a.try_leader()  # still
        await a.close()
        assert await b.try_leader()
    finally:
        await b.close()


@postgresql_only
async def test_a_killed_session_is_lost_and_its_chats_are_free(store: Store) -> None:
    a, b = await open_claims(store), await open_claims(store)
    assert isinstance(a, PostgresClaims)
    told: list[str] = []
    a.on_lost(lambda: told.append("lost"))
    try:
        assert await a.try_chat(42) and await a.try_leader()
        await _kill_session(store, a)
        with pytest.raises(SessionLost):
            for _ in range(100):  # the server closes the socket; asyncpg notices at the next use at the latest
                await a.check()
                await asyncio.sleep(0.05)
        assert a.lost and told == ["lost"]
        assert await b.try_chat(42) and await b.try_leader()
    finally:
        await a.close()
        await b.close()


@postgresql_only
async def test_the_inbox_keeps_updates_while_another_process_holds_the_write_lock(
    store: Store, inbox: InboxService
) -> None:
    """The front answers Telegram once the update is kept: that must not wait behind the workers' writes."""
    other = await Store.open(store.engine.url)  # type: ignore[attr-defined]
    holding, done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with other.atomic() as conn:
            await conn.execute("UPDATE meta SET value = value WHERE key = 'none'")
            holding.set()
            await done.wait()

    holder = asyncio.create_task(hold())
    try:
        await asyncio.wait_for(holding.wait(), DEADLINE_S)
        async with asyncio.timeout(DEADLINE_S / 2):
            assert await inbox.take([_message(1, 42)])
            inbox.handled(1)
            await inbox.marked([1])
        assert not holder.done()  # the other write is still open: the inbox did not wait for it
    finally:
        done.set()
        await holder
        await other.close()


@postgresql_only
async def test_a_kept_update_is_announced_after_its_commit(store: Store, inbox: InboxService) -> None:
    claims = await open_claims(store)
    heard: list[int] = []
    try:
        await claims.listen(heard.append)
        await inbox.take([_message(1, 42), _message(2, -100_9), _message(3, 42)])
        await _until(lambda: _truthy(sorted(heard) == [-100_9, 42]), "both chats announced")
        await claims.announce(77)
        await _until(lambda: _truthy(77 in heard), "an announcement")
    finally:
        await claims.close()


@postgresql_only
async def test_the_front_announces_a_chat_to_its_home_worker_alone(store: Store, inbox: InboxService) -> None:
    """With the front's channels, each worker hears the chats whose home it is, and every announcement."""
    chats = [42, -100_9, 7, 1_234_567, 99, -5]
    homes = {chat: home_slot(chat, 2) for chat in chats}
    assert set(homes.values()) == {1, 2}  # both workers have some
    store.inbox.channel_of = lambda chat: worker_channel(home_slot(chat, 2))
    first, second = await open_claims(store), await open_claims(store)
    heard: dict[int, list[int]] = {1: [], 2: []}
    try:
        await first.listen(heard[1].append, slot=1)
        await second.listen(heard[2].append, slot=2)
        await inbox.take([_message(i, chat) for i, chat in enumerate(chats, start=1)])
        mine = {slot: sorted(chat for chat, home in homes.items() if home == slot) for slot in (1, 2)}
        await _until(lambda: _truthy(sorted(heard[1]) == mine[1] and sorted(heard[2]) == mine[2]), "each its chats")
        await first.announce(77)
        await _until(lambda: _truthy(77 in heard[1] and 77 in heard[2]), "an announcement, to both")
        assert sorted(heard[1] + heard[2]) == sorted([*chats, 77, 77])  # nobody heard another's chat
    finally:
        await first.close()
        await second.close()


async def _truthy(value: bool) -> bool:
    return value


async def _kill_session(store: Store, claims: Claims) -> None:
    """End a worker's own session from another one, as a server restart or a broken network would."""
    assert isinstance(claims, PostgresClaims)
    pid = await claims._conn.fetchval("SELECT pg_backend_pid()")
    admin = await asyncpg.connect(store.engine.url)  # type: ignore[attr-defined]
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@postgresql_only
async def test_when_the_leader_dies_another_worker_leads(store: Store, inbox: InboxService) -> None:
    elections: list[str] = []
    claims = [await open_claims(store), await open_claims(store)]
    workers = [
        _worker(
            store, inbox, c, Recorder(inbox).handler(f"w{i}"), f"w{i}",
            elected=lambda ran, name=f"w{i}": elections.append(name),
        )
        for i, c in enumerate(claims)
    ]
    stopping = asyncio.Event()
    first = asyncio.create_task(workers[0].run(stopping))
    await _until(lambda: _leader_is(store, "w0"), "w0 leads")
    second = asyncio.create_task(workers[1].run(stopping))
    try:
        await asyncio.sleep(0.5)  # w1 checks a few times meanwhile: there is a leader
        assert elections == ["w0"]
        await _kill_session(store, claims[0])
        assert await asyncio.wait_for(first, DEADLINE_S) == EXIT_SESSION_LOST
        await _until(lambda: _leader_is(store, "w1"), "w1 leads")
        assert elections == ["w0", "w1"]
    finally:
        stopping.set()
        assert await second == 0
        for c in claims:
            await c.close()


@postgresql_only
async def test_a_worker_that_loses_its_session_stops_handling_at_once(store: Store, inbox: InboxService) -> None:
    claims = await open_claims(store)
    gate = asyncio.Event()
    started = asyncio.Event()

    async def slow(raw: JSON) -> None:
        started.set()
        await gate.wait()
        inbox.handled(int(raw["update_id"]))

    worker = _worker(store, inbox, claims, slow, "w")
    run = asyncio.create_task(worker.run(asyncio.Event()))
    await inbox.take([_message(1, 42), _message(2, 42)])
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    await _kill_session(store, claims)
    try:
        assert await asyncio.wait_for(run, DEADLINE_S) == EXIT_SESSION_LOST
    finally:
        gate.set()
        await claims.close()
    assert worker.handled == 0 and (await inbox.figures()).waiting == 2  # left for another worker, whole


# -- the supervisor --------------------------------------------------------------------------------------------

# A "worker" that runs until told to stop, or ends at once with the code its index says (1: 3, 2: runs on).
_WORKER = (
    "import signal, sys, time\n"
    "index = int(sys.argv[-1])\n"
    "if index == 1:\n"
    "    sys.exit(3)\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "while True:\n"
    "    time.sleep(0.05)\n"
)


async def test_a_worker_started_while_the_supervisor_stops_is_stopped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keeper that was starting a worker when `stop` looked at the running ones: that worker goes too (CI once
    found one left running after the stop)."""
    real = asyncio.create_subprocess_exec
    starting, go_on = asyncio.Event(), asyncio.Event()

    async def slow_start(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        starting.set()
        await go_on.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", slow_start)
    supervisor = Supervisor(1, [sys.executable, "-c", _WORKER], say=_say)
    supervisor.start()
    await asyncio.wait_for(starting.wait(), DEADLINE_S)
    stopping = asyncio.create_task(supervisor.stop(within_s=DEADLINE_S))
    await asyncio.sleep(0.1)  # the stop has looked: nothing running yet
    go_on.set()
    await asyncio.wait_for(stopping, DEADLINE_S + 5)
    # Started, then ended (asked to stop, or killed by SIGTERM before it set its handler): not left running.
    assert len(supervisor.processes) == 1
    assert all(p.returncode is not None for p in supervisor.processes.values())


async def test_the_supervisor_starts_a_worker_again_when_it_ends_and_stops_them_all() -> None:
    supervisor = Supervisor(2, [sys.executable, "-c", _WORKER], say=_say, first_backoff_s=0.05, max_backoff_s=0.2)
    supervisor.start()
    try:
        await _until(lambda: _truthy(supervisor.restarts.get(1, 0) >= 3), "worker 1 started again and again")
        await _until(lambda: _truthy(2 in supervisor.processes), "worker 2 started")
        steady = supervisor.processes[2]
        assert steady.returncode is None and supervisor.restarts.get(2, 0) == 0
    finally:
        await supervisor.stop(within_s=DEADLINE_S)
    assert await steady.wait() == 0  # asked to stop (SIGTERM), and stopped
    # Its keepers are done with the stop: nobody is started again.
    assert all(p.returncode is not None for p in supervisor.processes.values())
    assert supervisor.processes[2] is steady


def test_leader_record_round_trip() -> None:
    record = LeaderRecord("worker 1", 12, "host", "2026-12-03T07:00:00+00:00", ["heartbeat"])
    assert LeaderRecord(**json.loads(record.encode())) == record


# -- home workers -------------------------------------------------------------------------------------------------


async def test_with_their_slots_known_each_chat_goes_to_its_home_worker_in_order(
    store: Store, inbox: InboxService, two_claims: tuple[Claims, Claims]
) -> None:
    """Every notice reaches every worker; only the chat's home worker answers it (no slow poll in this test)."""
    recorder = Recorder(inbox)
    workers = [
        _worker(store, inbox, claims, recorder.handler(f"w{i}"), f"w{i}", poll_s=600.0, slot=(i + 1, 2))
        for i, claims in enumerate(two_claims)
    ]
    stopping = asyncio.Event()
    runs = [asyncio.create_task(w.run(stopping)) for w in workers]

    async def scanned() -> bool:
        return not any(w._rescan for w in workers)  # the first look at the inbox is behind them

    chats = [42, 43, -100_5, 77, 78, 79, 80, 81]
    homes = {chat: next(f"w{i}" for i, w in enumerate(workers) if w.home(chat)) for chat in chats}
    assert set(homes.values()) == {"w0", "w1"}  # these chats are shared out between the two
    update_id = 0
    sent: dict[int, list[int]] = {chat: [] for chat in chats}
    try:
        await _until(scanned, "both workers listening")
        for _ in range(4):
            batch = []
            for chat in chats:
                update_id += 1
                batch.append(_message(update_id, chat))
                sent[chat].append(update_id)
            await inbox.take(batch)
        await _until(lambda: _none_waiting(inbox), "every update handled")
    finally:
        stopping.set()
        codes = await asyncio.gather(*runs)
    assert codes == [0, 0]
    for chat in chats:
        assert [u for _, c, u in recorder.seen if c == chat] == sent[chat], chat
        assert {w for w, c, _ in recorder.seen if c == chat} == {homes[chat]}, chat


async def test_a_turn_that_took_all_that_waited_ends_without_another_look(
    store: Store, inbox: InboxService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most turns are a single update: a look that finds fewer than it asks for took all that waited, and with no
    notice since, the chat is let go without a second look (a write). An update kept while the turn handles the
    last one is noticed, and handled in the same turn, in order."""
    looks: list[int] = []
    leftovers = inbox.leftovers

    async def counted(chat_id: int | None = None, *, limit: int | None = None) -> Any:
        looks.append(len((found := await leftovers(chat_id, limit=limit)).updates))
        return found

    monkeypatch.setattr(inbox, "leftovers", counted)
    recorder = Recorder(inbox)
    handle = recorder.handler("w1")
    late = asyncio.Event()

    async def handle_and_keep(raw: JSON) -> None:
        if raw["update_id"] == 2:  # a second update arrives while the turn handles the first of this batch
            await inbox.take([_message(3, 42)])
            late.set()
        await handle(raw)

    claims = await open_claims(store)
    worker = _worker(store, inbox, claims, handle_and_keep, "w1", poll_s=600.0, turn_size=3)
    try:
        async with _listening(worker):
            await inbox.take([_message(1, 42)])
            await _until(lambda: _none_waiting(inbox), "the first update handled")
            await _until(lambda: _async(not worker.chats), "the chat let go")
            assert looks == [1]  # one look, not a second one that finds nothing
            looks.clear()
            await inbox.take([_message(2, 42)])
            await _until(lambda: _async(late.is_set()), "the late update kept")
            await _until(lambda: _none_waiting(inbox), "every update handled")
            await _until(lambda: _async(not worker.chats), "the chat let go")
    finally:
        await claims.close()
    assert [u for _, _, u in recorder.seen] == [1, 2, 3]
    assert looks[:2] == [1, 1]  # the notice of update 3 made the turn look again


async def test_a_home_worker_keeps_a_drained_chat_for_its_next_update_then_lets_it_go(
    store: Store, inbox: InboxService, two_claims: tuple[Claims, Claims], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live location moves every few seconds: the chat's home worker keeps it claimed a moment after a turn, so
    the next update's turn claims nothing (two round trips spared), and then lets it go for anyone to take."""
    monkeypatch.setattr(workers_module, "REST_S", 600.0)  # ended below by the test, not by the clock
    claims, other = two_claims
    tries: list[int] = []
    try_chat = claims.try_chat

    async def counted(chat_id: int) -> bool:
        tries.append(chat_id)
        return await try_chat(chat_id)

    monkeypatch.setattr(claims, "try_chat", counted)
    recorder = Recorder(inbox)
    worker = _worker(store, inbox, claims, recorder.handler("w1"), "w1", poll_s=600.0, slot=(1, 1))
    async with _listening(worker):
        await inbox.take([_message(1, 42)])
        await _until(lambda: _none_waiting(inbox), "the first update handled")
        await _until(lambda: _async(42 in worker._resting), "the chat resting")
        await inbox.take([_message(2, 42)])
        await _until(lambda: _none_waiting(inbox), "the second update handled")
        assert tries == [42]  # claimed once for both turns
        await _until(lambda: _async(42 in worker._resting), "the chat resting again")
        monkeypatch.setattr(workers_module, "REST_S", 0.0)  # the rest is over at the worker's next look
        worker._wake.set()
        await _until(lambda: _async(not worker._resting and not worker.chats), "the chat let go after its rest")
        if store.dialect == "postgresql":  # another session can have it now
            assert await other.try_chat(42)
            await other.release_chat(42)
    assert [u for _, _, u in recorder.seen] == [1, 2]


async def _async(value: bool) -> bool:
    return value


@contextlib.asynccontextmanager
async def _listening(worker: Worker) -> AsyncIterator[None]:
    """The worker running, past its first look at the inbox (so a notice from now on is one it hears); stopped
    after, and it must stop cleanly."""
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    try:
        await _until(lambda: _async(not worker._rescan), "the worker listening")
        yield
    finally:
        stopping.set()
        assert await run == 0


async def test_a_chat_whose_home_worker_is_gone_is_taken_at_another_ones_slow_poll(
    store: Store, inbox: InboxService
) -> None:
    recorder = Recorder(inbox)
    claims = await open_claims(store)
    worker = _worker(store, inbox, claims, recorder.handler("w1"), "w1", poll_s=0.2, slot=(1, 2))
    away = next(chat for chat in range(42, 100) if not worker.home(chat))  # worker 2's, which is not running
    stopping = asyncio.Event()
    run = asyncio.create_task(worker.run(stopping))
    try:
        await inbox.take([_message(1, away), _message(2, away)])
        await _until(lambda: _none_waiting(inbox), "the other worker's chat handled")
    finally:
        stopping.set()
        assert await run == 0
        await claims.close()
    assert [(c, u) for _, c, u in recorder.seen] == [(away, 1), (away, 2)]
