"""Two workers on one database (issue 17): what one of them decides, the other sees at once.

Each "worker" is a Store of its own opened on the same database, shared (`Store.shared`): a SQLite file here, or
the PostgreSQL database the run gives each test. docs/workers-state.md lists the state this covers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.albums import Albums
from bot.config import Settings
from bot.delivery import Delivery, Failure, GroupAsk
from bot.services import Services
from bot.summaries import Week
from bot.todo import Action
from storage import Store
from storage.marks import LEASE_LOCK_SPACE, lease_key
from storage.registry import ReachValues

T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
WEEK = Week(2026, 47)
GROUP = -100123


async def test_shared_is_the_engines_answer_unless_asked(settings: Settings) -> None:
    async with await Store.open(settings.database) as store:
        assert store.shared is (store.dialect == "postgresql")
    async with await Store.open(settings.database, shared=True) as store:
        assert store.shared


# -- marks --------------------------------------------------------------------------------------------------------


async def test_a_mark_taken_by_one_worker_holds_for_the_other_until_it_expires(workers: tuple[Store, Store]) -> None:
    a, b = workers
    assert await a.marks.take("k", 600, "a", now=T0)
    assert not await b.marks.take("k", 600, "b", now=T0 + timedelta(seconds=599))
    mark = await b.marks.get("k", now=T0 + timedelta(seconds=599))
    assert mark is not None and mark.value == "a" and mark.expires_at == T0 + timedelta(seconds=600)
    assert await b.marks.get("k", now=T0 + timedelta(seconds=600)) is None
    assert await b.marks.take("k", 600, "b", now=T0 + timedelta(seconds=600))
    assert not await a.marks.take("k", 600, "a", now=T0 + timedelta(seconds=601))


async def test_of_many_takers_at_once_on_two_workers_exactly_one_wins(workers: tuple[Store, Store]) -> None:
    a, b = workers
    taken = await asyncio.gather(*(store.marks.take("once", 60, str(n)) for n in range(20) for store in (a, b)))
    assert taken.count(True) == 1


async def test_only_the_holder_renews_or_drops_a_mark(workers: tuple[Store, Store]) -> None:
    a, b = workers
    assert await a.marks.take("lease", 60, "a", now=T0)
    assert not await b.marks.renew("lease", "b", 60, now=T0 + timedelta(seconds=30))
    assert not await b.marks.drop("lease", "b")
    assert await a.marks.renew("lease", "a", 60, now=T0 + timedelta(seconds=50))
    assert not await b.marks.take("lease", 60, "b", now=T0 + timedelta(seconds=100))  # renewed to T0 + 110 s
    # A holder that stopped renewing has lost it: it can neither renew nor drop what another holds now.
    assert await b.marks.take("lease", 60, "b", now=T0 + timedelta(seconds=110))
    assert not await a.marks.renew("lease", "a", 60, now=T0 + timedelta(seconds=111))
    assert not await a.marks.drop("lease", "a")
    assert await b.marks.drop("lease", "b")
    assert await a.marks.get("lease", now=T0 + timedelta(seconds=112)) is None


async def test_put_overwrites_a_mark_and_none_keeps_it_until_dropped(workers: tuple[Store, Store]) -> None:
    a, b = workers
    await a.marks.put("k", "1", None, now=T0)
    await b.marks.put("k", "2", None, now=T0)
    assert not await a.marks.take("k", 60, now=T0 + timedelta(days=3650))
    mark = await a.marks.get("k", now=T0 + timedelta(days=3650))
    assert mark is not None and mark.value == "2" and mark.expires_at is None
    assert await a.marks.prune(T0 + timedelta(days=3650)) == 0
    assert await b.marks.drop("k")
    assert await a.marks.get("k") is None


async def test_a_lease_is_held_while_its_block_runs_and_free_after(workers: tuple[Store, Store]) -> None:
    a, b = workers
    async with a.marks.lease("job", 60) as mine:
        assert mine
        async with b.marks.lease("job", 60) as theirs:
            assert not theirs
    async with b.marks.lease("job", 60) as theirs:
        assert theirs


async def test_a_lease_is_free_the_moment_its_holders_session_ends(workers: tuple[Store, Store]) -> None:
    """A worker killed while it holds a lease (the weekly delivery's): on PostgreSQL the lease ends with its
    database session, so the next run goes ahead at once, not an hour later when the job comes round again."""
    a, b = workers
    if a.dialect != "postgresql":
        pytest.skip("a SQLite lease is a mark that lapses after its ttl: test_only_the_holder_renews_or_drops_a_mark")
    async with a.marks.lease("job", 3600) as mine:
        assert mine
        holder = await b.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
            " AND CAST(classid AS BIGINT) = CAST(? AS BIGINT) AND CAST(objid AS BIGINT) = CAST(? AS BIGINT)",
            (LEASE_LOCK_SPACE, lease_key("job") & 0xFFFFFFFF),
        )
        assert holder is not None
        # As the server sees a killed process's connection close; waits (up to 10 s) until the session is gone.
        assert await b.fetchval("SELECT pg_terminate_backend(CAST(? AS INTEGER), 10000)", (holder,))
        async with b.marks.lease("job", 3600) as theirs:
            assert theirs
    async with a.marks.lease("job", 3600) as mine:  # the first's block ended quietly; the lease is free again
        assert mine


# -- what the bot decides with them -------------------------------------------------------------------------------


async def test_a_groups_summary_cooldown_taken_on_one_worker_holds_on_the_other(
    settings: Settings, workers: tuple[Store, Store]
) -> None:
    a, b = (Services.create(settings, store).delivery for store in workers)
    assert await a.ask_in_group(GROUP, 1, now=T0) == GroupAsk(send=True)
    assert await b.ask_in_group(GROUP, 2, now=T0 + timedelta(minutes=1)) == GroupAsk(send=False, tell_wait_minutes=9)
    assert await a.ask_in_group(GROUP, 2, now=T0 + timedelta(minutes=2)) == GroupAsk(send=False)  # told once
    assert await b.ask_in_group(GROUP, 3, now=T0 + timedelta(minutes=10)) == GroupAsk(send=True)


async def test_an_album_answered_on_one_worker_is_not_answered_on_the_other(workers: tuple[Store, Store]) -> None:
    a, b = (Albums(store) for store in workers)
    assert await a.first(7, "patrol_albums", "album")
    assert not await b.first(7, "patrol_albums", "album")
    await b.note(7, "report_albums", "album", "1234")
    assert await a.answer(7, "report_albums", "album") == "1234"


async def test_an_error_the_admins_heard_of_through_one_worker_is_not_told_again_by_the_other(
    settings: Settings, workers: tuple[Store, Store]
) -> None:
    a, b = (Services.create(settings, store).failures for store in workers)
    assert await a.first_notice("KeyError: 'reach'", 60)
    assert not await b.first_notice("KeyError: 'reach'", 60)
    assert await b.first_notice("ValueError: another bug", 60)


class Sender:
    """A stand-in for Telegram that only counts what is sent."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send_message(self, chat_id: int, text: str, *, actions: Sequence[Action] = ()) -> int:
        self.sent.append(chat_id)
        return len(self.sent)

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str) -> int:
        self.sent.append(chat_id)
        return len(self.sent)

    def failure(self, error: Exception) -> Failure | None:
        return None


async def test_the_weekly_delivery_runs_on_one_worker_at_a_time(
    settings: Settings, workers: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = (Services.create(settings, store).delivery for store in workers)
    ran: list[Delivery] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run(self: Delivery, sender: Sender, week: Week) -> None:
        """The run itself, held open until the test lets it end."""
        ran.append(self)
        started.set()
        await release.wait()

    monkeypatch.setattr(Delivery, "_deliver_week", run)
    first = asyncio.create_task(a.deliver_week(Sender(), WEEK))
    await started.wait()
    # It returns at once, the other worker running it; the deadline only turns a run that waits too into a failure.
    await asyncio.wait_for(b.deliver_week(Sender(), WEEK), 30)
    assert ran == [a]
    release.set()
    await first
    await b.deliver_week(Sender(), WEEK)  # the lease was dropped when the run ended
    assert ran == [a, b]


async def test_two_workers_running_the_weekly_delivery_at_once_send_it_once(
    settings: Settings, workers: tuple[Store, Store]
) -> None:
    a = workers[0]
    area_id, _ = await a.areas.upsert("A1", "曲塘镇", "Qutang")
    await a.chats.upsert(GROUP, type="supergroup", title="Qutang", bot_status="member")
    await a.bindings.bind(GROUP, area_id, bound_by=None)
    senders = [Sender(), Sender()]
    await asyncio.gather(
        *(
            Services.create(settings, store).delivery.deliver_week(s, WEEK)
            for store, s in zip(workers, senders, strict=True)
        )
    )
    sent = [len(s.sent) for s in senders]
    assert sorted(sent) == [0, 2], sent  # the text and the chart, from one of them


# -- the Store's caches -------------------------------------------------------------------------------------------


async def _reach(store: Store) -> int:
    area_id, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    reach_id, _ = await store.reaches.upsert(
        ReachValues("DBH-01", "丁堡河", "Dingbao River", area_id, "town", None, (), None, None)
    )
    return reach_id


async def test_a_person_changed_through_one_worker_is_seen_by_the_other(workers: tuple[Store, Store]) -> None:
    a, b = workers
    person_id = await a.people.create(name="王五", telegram_id=42)
    before = await b.people.by_telegram_id(42)  # read (and, alone, cached) by the other worker
    assert before is not None and before.language is None and "chief" not in before.roles
    await a.people.set_language(42, "en")
    await a.people.grant_role(person_id, "chief", level="town")
    after = await b.people.by_telegram_id(42)
    assert after is not None and after.language == "en" and after.roles == {"chief": "town"}


async def test_alone_on_its_file_a_store_keeps_its_people_cache(settings: Settings) -> None:
    """The difference shared mode makes: a lone store serves the cached person for CACHE_SECONDS."""
    async with (
        await Store.open(settings.database, shared=False) as lone,
        await Store.open(settings.database, shared=True) as other,
    ):
        await lone.people.create(name="王五", telegram_id=42)
        assert (await lone.people.by_telegram_id(42)) is not None
        await other.people.set_language(42, "en")
        cached = await lone.people.by_telegram_id(42)
        assert cached is not None and cached.language is None


async def test_a_patrol_opened_or_ended_on_one_worker_is_seen_by_the_other(workers: tuple[Store, Store]) -> None:
    a, b = workers
    reach_id = await _reach(a)
    person_id = await a.people.create(name="王五", telegram_id=42)
    assert await b.patrols.open_for(person_id) is None  # read (and, alone, cached) by the other worker
    patrol, _ = await a.patrols.start(person_id, reach_id, T0)
    seen = await b.patrols.open_for(person_id)
    assert seen is not None and seen.id == patrol.id
    assert await a.patrols.discard_empty(patrol.id, person_id)
    assert await b.patrols.open_for(person_id) is None


async def test_a_live_point_is_stored_when_its_call_returns(workers: tuple[Store, Store]) -> None:
    """Alone, a live point is written behind; shared, the next update (maybe on the other worker) must find it,
    and a worker killed after answering must not lose it."""
    a, b = workers
    reach_id = await _reach(a)
    person_id = await a.people.create(name="王五", telegram_id=42)
    patrol, _ = await a.patrols.start(person_id, reach_id, T0)
    at = T0 + timedelta(minutes=5)
    await asyncio.gather(
        *(
            a.patrols.add_point(
                patrol.id, at=at + timedelta(seconds=i), lat=32.5, lon=120.4, accuracy_m=None, source="live"
            )
            for i in range(30)
        )
    )
    assert await b.fetchval("SELECT COUNT(*) FROM patrol_points WHERE patrol_id = ?", (patrol.id,)) == 30
    seen = await b.patrols.open_for(person_id)
    assert seen is not None and seen.last_activity_at == at + timedelta(seconds=29)
