"""Webhook workers: one front process keeps Telegram's pushes in the inbox, N worker processes handle them.

Why: one process handles about as many updates as one core allows, and while it is down (a crash, an upgrade)
nothing is handled. With PostgreSQL, the front (`riverbot run --workers N`) only keeps each pushed update in the
inbox, answers 200 after the commit, and the commit's NOTIFY wakes the workers (`riverbot worker`, started and
restarted by the front's `Supervisor`). Each worker:

- takes chats, not updates: a chat's waiting updates are handled by whoever holds the chat's advisory lock
  (storage/claims.py), one at a time in update_id order, the way one process keeps a chat's order
  (bot/app.py, PerChatUpdateProcessor); up to CHATS_PER_WORKER chats at once, other chats on other workers;
- lets go of a chat only once every update it handled is marked so in the inbox (InboxService.marked), so whoever
  takes the chat next starts after them; a worker that dies lets go of its chats by dying, and what it handled
  but had not marked is handled again, idempotently, as after a crash of the one process;
- runs the scheduled jobs only while it is the leader (one advisory lock for the whole database): when the leader
  dies another worker takes the lock within LEADER_CHECK_SECONDS and schedules the jobs. What a job does once per
  period it records (the weekly summary in summary_deliveries), so the new leader does not do it again;
- stops at once, with EXIT_SESSION_LOST, when its own database session is gone: its locks went with it.

The same `Worker` runs on SQLite with the claims kept in memory (one process), which is how its rules are tested
without a server; `riverbot worker` itself needs PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.inbox import InboxService, Leftovers
from storage import Store
from storage.claims import Claims, SessionLost, home_slot

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
Say = Callable[..., str]

# EX_TEMPFAIL (sysexits.h): the worker lost its database session; the supervisor (or systemd) starts it again.
EXIT_SESSION_LOST = 75
# Chats one worker handles at once, each one update at a time: what one process handles at once (bot/app.py's
# MAX_CONCURRENT_UPDATES); more workers, more chats at once.
CHATS_PER_WORKER = 16
# A chat's updates taken per turn: each turn counts one attempt on each (a poisonous update is set aside after
# bot.inbox.MAX_ATTEMPTS), and a chat with a long backlog still gives the worker back between turns.
TURN_SIZE = 20
# A turn the store refused (an outage) holds its chat this long before letting it go to be tried again.
FAILED_TURN_PAUSE_S = 1.0
# Chats read per look at the whole inbox (the slow poll, and the first look at start).
SCAN_LIMIT = 256
# The meta key under which the leader says who it is and which jobs it has run.
LEADER_META_KEY = "workers.leader"
# How long a stopping worker waits for its chats' current updates.
STOP_WITHIN_S = 30.0
# How long a home worker keeps a drained chat claimed for its next update (see `Worker._rest`).
REST_S = 2.0


@dataclass
class LeaderRecord:
    """Who leads, since when, and the jobs that have run under it (each name once, in the order first run)."""

    worker: str
    pid: int
    host: str
    since: str
    jobs_run: list[str] = field(default_factory=list)

    def encode(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))


async def read_leader(store: Store) -> LeaderRecord | None:
    """The last leader's record (`riverbot status`, the tests); None when no worker has led yet."""
    text = await store.meta.get(LEADER_META_KEY)
    if not text:
        return None
    try:
        return LeaderRecord(**json.loads(text))
    except (ValueError, TypeError):
        return None


class Leadership:
    """The scheduled jobs, on the one worker that holds the leader's lock."""

    def __init__(self, store: Store, worker: str, elected: Callable[[Callable[[str], Awaitable[None]]], None]) -> None:
        self._store = store
        self._worker = worker
        self._elected = elected
        self.record: LeaderRecord | None = None

    @property
    def leading(self) -> bool:
        return self.record is not None

    async def begin(self) -> None:
        """This worker became the leader: schedule the jobs, then say so in the store."""
        self.record = LeaderRecord(
            worker=self._worker,
            pid=os.getpid(),
            host=socket.gethostname(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self._elected(self.job_ran)
        await self._write()

    async def job_ran(self, name: str) -> None:
        """A job ended without an error: recorded the first time it runs under this leader."""
        if self.record is not None and name not in self.record.jobs_run:
            self.record.jobs_run.append(name)
            await self._write()

    async def _write(self) -> None:
        if self.record is None:
            return
        try:
            await self._store.meta.set(LEADER_META_KEY, self.record.encode())
        except Exception:  # a record for people to read: the jobs run without it
            logger.exception("could not record the leader")


class Worker:
    """One worker process's loop: take chats with waiting updates, handle them in order, lead when it can."""

    def __init__(
        self,
        store: Store,
        inbox: InboxService,
        claims: Claims,
        handle: Callable[[JSON], Awaitable[None]],
        *,
        say: Say,
        name: str,
        poll_s: float,
        leader_check_s: float,
        elected: Callable[[Callable[[str], Awaitable[None]]], None] | None = None,
        chats_at_once: int = CHATS_PER_WORKER,
        turn_size: int = TURN_SIZE,
        parent_pid: int | None = None,
        slot: tuple[int, int] | None = None,
    ) -> None:
        self._store = store
        self._inbox = inbox
        self._claims = claims
        self._handle = handle
        self._say = say
        self.name = name
        self._poll_s = poll_s
        self._leader_check_s = leader_check_s
        self.leadership = Leadership(store, name, elected) if elected is not None else None
        self._chats_at_once = chats_at_once
        self._turn_size = turn_size
        self._parent_pid = parent_pid
        # (this worker's index, 1…count; count): the chats whose notices it answers at once (`home`).
        self._slot = slot
        # Chats to try, oldest news first (a dict as an ordered set): heard of, or found waiting.
        self._wanted: dict[int, None] = {}
        self._turns: dict[int, asyncio.Task[None]] = {}
        # Chats held here that had a notice since their turn's last look at the inbox (see `_let_go`).
        self._noticed: set[int] = set()
        # Drained chats still claimed here, for their next update, and since when (see `_rest`).
        self._resting: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._rescan = True
        self._closing = False
        #: updates this worker has handled (for the tests and the log)
        self.handled = 0

    @property
    def chats(self) -> set[int]:
        """The chats this worker holds now."""
        return set(self._turns)

    def home(self, chat_id: int) -> bool:
        """Whether this worker answers the chat's notices. If every worker tried to take every chat, all but one
        would fail, and with N workers each update cost N - 1 wasted claims, and the CPU to make them, in every
        worker (measured: 4 workers took in less than 1). So with its slot known (the front's workers), a worker
        answers only its own share of chats, by the chat lock's key: the home worker (`home_slot`). The front
        announces a chat's updates on its home worker's channel alone (storage.inbox.worker_channel), so a worker
        does not even hear the others' (announcements after a turn still go to all). The others still take any
        chat left waiting at their slow poll (`WORKER_POLL_SECONDS`), so a home worker that is dead, or full,
        delays a chat by that much at most. Alone (no slot): every chat is home."""
        if self._slot is None:
            return True
        index, count = self._slot
        return count <= 1 or home_slot(chat_id, count) == index

    def _heard(self, chat_id: int) -> None:
        if chat_id in self._turns:
            self._noticed.add(chat_id)  # held here: the turn looks again before it lets the chat go
            return
        if not self.home(chat_id):
            return
        self._wanted[chat_id] = None
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> int:
        """Work until `stopping` is set (0), or until the database session is lost (EXIT_SESSION_LOST, at once:
        the chats and the leadership may be someone else's already)."""
        self._claims.on_lost(self._wake.set)
        stopped = asyncio.ensure_future(stopping.wait())
        stopped.add_done_callback(lambda _: self._wake.set())
        watch = asyncio.create_task(self._watch(stopping), name=f"riverbot:{self.name}:watch")
        try:
            await self._claims.listen(self._heard, slot=self._slot[0] if self._slot is not None else None)
            quiet_since = time.monotonic()  # the slow poll comes after `poll_s` with nothing to wake the worker
            while not stopping.is_set() and not self._claims.lost:
                try:
                    await self._take_chats()
                except SessionLost:
                    break
                except Exception:  # the database refused a read: the next look (the slow poll at the latest) again
                    logger.exception("%s: could not look for waiting updates", self.name)
                    self._rescan = True
                until = quiet_since + self._poll_s
                if self._resting:
                    until = min(until, min(self._resting.values()) + REST_S)  # a rest ends: its chat is let go
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, until - time.monotonic())):
                        await self._wake.wait()
                        self._wake.clear()
                        quiet_since = time.monotonic()
                        continue
                if time.monotonic() >= quiet_since + self._poll_s:
                    quiet_since = time.monotonic()
                    self._rescan = True  # the slow poll: a safety net under the notices
        except SessionLost:
            pass
        finally:
            stopped.cancel()
            # On a stop the watch ends by itself after its current check: cancelled mid-query, it would leave the
            # session unusable for letting the chats go.
            if not stopping.is_set() or self._claims.lost:
                watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, SessionLost):
                await watch
        if self._claims.lost:
            for turn in self._turns.values():
                turn.cancel()
            return EXIT_SESSION_LOST
        await self._finish()
        return 0

    async def _finish(self) -> None:
        """A stop: each chat's current update is finished and marked, then the chats are let go."""
        self._closing = True
        await self._end_rests(everyone=True)
        turns = list(self._turns.values())
        if turns:
            _, pending = await asyncio.wait(turns, timeout=STOP_WITHIN_S)
            for turn in pending:
                turn.cancel()
            if pending:
                await asyncio.wait(pending)

    async def _take_chats(self) -> None:
        await self._end_rests()
        if self._rescan:
            self._rescan = False
            for chat_id in await self._inbox.waiting_chats(SCAN_LIMIT):
                self._wanted.setdefault(chat_id, None)
        for chat_id in list(self._wanted):
            if len(self._turns) >= self._chats_at_once or self._closing or self._claims.lost:
                return  # the rest stay wanted until a chat is let go
            del self._wanted[chat_id]
            if chat_id in self._turns:
                continue  # the turn looks again before it lets the chat go
            if self._resting.pop(chat_id, None) is not None or await self._claims.try_chat(chat_id):
                self._turns[chat_id] = asyncio.create_task(
                    self._turn(chat_id), name=f"riverbot:{self.name}:chat:{chat_id}"
                )
            # else another worker holds it, and looks again before it lets it go

    async def _turn(self, chat_id: int) -> None:
        """Handle the chat's waiting updates in order until none is left, then let the chat go."""
        drained = False  # the last look found nothing waiting
        try:
            while not self._closing and not self._claims.lost:
                self._noticed.discard(chat_id)  # before the look: a notice from now on is of what it may miss
                batch = await self._inbox.leftovers(chat_id, limit=self._turn_size)
                if not batch.updates:
                    if batch.given_up:
                        continue
                    drained = True
                    break
                if not await self._handle_batch(batch.updates):
                    break
                if self._drained_by(chat_id, batch):
                    drained = True
                    break
        except SessionLost:
            return
        except Exception:  # the store refused (an outage): the chat waits a moment rather than spin
            logger.exception("chat %s: its updates could not be taken", chat_id)
            await asyncio.sleep(FAILED_TURN_PAUSE_S)
        finally:
            del self._turns[chat_id]
            self._wake.set()
        if self._rest(chat_id, drained):
            return
        await self._let_go(chat_id, drained)

    def _rest(self, chat_id: int, drained: bool) -> bool:
        """Keep a drained home chat claimed for REST_S instead of letting it go at once: its next update, most
        often seconds away (a live location moves every few seconds), then starts a turn without claiming it
        again, and the claim and the release are spared, two round trips of each turn. Only with slots known (the
        front's workers), where the chat's notices come to this worker alone, and others take it only when it is
        left waiting (this one dead or full); at most as many chats as it handles at once. Synchronous right after
        the turn ends, so nothing can claim the chat in between: each claim is still let go once."""
        if (
            not drained
            or self._slot is None
            or not self.home(chat_id)
            or chat_id in self._noticed
            or self._closing
            or self._claims.lost
            or len(self._resting) >= self._chats_at_once
        ):
            return False
        self._resting[chat_id] = time.monotonic()
        return True

    async def _end_rests(self, *, everyone: bool = False) -> None:
        """Let go of the chats whose rest is over (all of them with `everyone`: a stop)."""
        now = time.monotonic()
        for chat_id, since in list(self._resting.items()):
            if (everyone or now - since >= REST_S) and self._resting.pop(chat_id, None) is not None:
                await self._let_go(chat_id, drained=True)

    def _drained_by(self, chat_id: int, batch: Leftovers) -> bool:
        """Whether the look that gave `batch`, now handled, left nothing behind it: it found fewer updates than it
        asked for, so it took all that waited then; and nothing came since, for the chat's home worker hears of
        every update kept for it (a notice while the chat is held here is in `_noticed`). Another look would find
        nothing: it is spared, a write round trip of each turn, and most turns are a single update. Another
        worker's chat, or a stop under way, gets the look."""
        return (
            len(batch.updates) + len(batch.given_up) < self._turn_size
            and chat_id not in self._noticed
            and self.home(chat_id)
            and not self._closing
            and not self._claims.lost
        )

    async def _handle_batch(self, updates: Sequence[JSON]) -> bool:
        """Handle updates one after another; False when one failed unexpectedly (the chat's next turn starts with
        it, one attempt more: after bot.inbox.MAX_ATTEMPTS it is set aside)."""
        done: list[int] = []
        ok = True
        begun = 0
        for raw in updates:
            if self._closing or self._claims.lost:
                break
            begun += 1
            try:
                await self._handle(raw)
            except Exception:
                logger.exception("update %s could not be handled", raw.get("update_id"))
                ok = False
                break
            done.append(int(raw["update_id"]))
            self.handled += 1
        if begun < len(updates) and not self._claims.lost:
            await self._inbox.not_begun([int(raw["update_id"]) for raw in updates[begun:]])
        await self._inbox.marked(done)
        return ok

    async def _let_go(self, chat_id: int, drained: bool = False) -> None:
        """Release the chat; if updates came for it meanwhile, announce them (to every worker, this one too).

        A chat's home worker (`home`) hears of every update kept for it. If the turn's last look found nothing
        (`drained`) and no notice came since, none was kept after that look either, so the check is spared (a round
        trip of each turn): one kept later is heard of after the chat left `_turns`, and taken again. Otherwise
        (a turn cut short, or another worker's chat, whose notices go to its home worker, which may have tried
        while this worker held it) the inbox is asked."""
        if self._claims.lost:
            return
        try:
            await self._claims.release_chat(chat_id)
            check = not drained or chat_id in self._noticed or not self.home(chat_id)
            self._noticed.discard(chat_id)
            if check and await self._inbox.has_waiting(chat_id):
                await self._claims.announce(chat_id)
        except SessionLost:
            return
        except Exception:
            logger.exception("chat %s: could not be let go cleanly", chat_id)

    async def _watch(self, stopping: asyncio.Event) -> None:
        """Every LEADER_CHECK_SECONDS: is the session still there, is there a leader, is the supervisor alive."""
        while not stopping.is_set():
            try:
                await self._claims.check()
                if self.leadership is not None and not self.leadership.leading and await self._claims.try_leader():
                    logger.info(self._say("workers.leader", worker=self.name, pid=os.getpid()))
                    await self.leadership.begin()
            except SessionLost:
                return
            except Exception:
                logger.exception("the leader check failed; trying again")
            if self._parent_pid is not None and os.getppid() != self._parent_pid:
                logger.warning(self._say("workers.orphaned", worker=self.name))
                stopping.set()
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._leader_check_s):
                    await stopping.wait()


# -- the supervisor ---------------------------------------------------------------------------------------------

# A worker that ran this long before it ended was healthy: its next restart waits the shortest back-off again.
STABLE_S = 60.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


class Supervisor:
    """Starts `count` worker processes, starts again any that ends (after a growing back-off, so a worker that
    cannot start does not spin), and stops them all on `stop`. The workers inherit its stdout and stderr: one log."""

    def __init__(
        self,
        count: int,
        command: Sequence[str],
        *,
        say: Say,
        env: dict[str, str] | None = None,
        first_backoff_s: float = FIRST_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self.count = count
        self._command = list(command)
        self._say = say
        self._env = env
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._stopping = asyncio.Event()
        self._keepers: list[asyncio.Task[None]] = []
        #: the running worker process of each slot (1…count)
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        #: how many times each slot's worker was started again
        self.restarts: dict[int, int] = {}

    def start(self) -> None:
        for index in range(1, self.count + 1):
            self._keepers.append(asyncio.create_task(self._keep(index), name=f"riverbot:supervisor:{index}"))

    async def _keep(self, index: int) -> None:
        backoff = self._first_backoff_s
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                # A session of its own: Ctrl+C in a terminal reaches the front alone, which stops taking updates
                # first and then stops the workers (a worker whose front is gone stops by itself).
                process = await asyncio.create_subprocess_exec(
                    *self._command, "--index", str(index), env=self._env, start_new_session=True
                )
            except OSError as exc:
                logger.error(self._say("workers.start_failed", index=index, reason=str(exc)))
                code: int | None = None
            else:
                self.processes[index] = process
                logger.info(self._say("workers.started", index=index, pid=process.pid))
                if self._stopping.is_set():  # started while `stop` was at work, after it looked: it goes too
                    with contextlib.suppress(ProcessLookupError):
                        process.terminate()
                code = await process.wait()
                if self._stopping.is_set():
                    return
            if time.monotonic() - started >= STABLE_S:
                backoff = self._first_backoff_s
            logger.warning(
                self._say("workers.ended", index=index, code="?" if code is None else code, seconds=round(backoff, 1))
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._stopping.wait()
            backoff = min(backoff * 2, self._max_backoff_s)
            self.restarts[index] = self.restarts.get(index, 0) + 1

    async def stop(self, within_s: float = STOP_WITHIN_S + 15) -> None:
        """Ask every worker to stop (SIGTERM: each finishes its current updates), and kill those that do not."""
        self._stopping.set()
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        waits = [asyncio.ensure_future(p.wait()) for p in running]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=within_s)
            for process in running:
                if process.returncode is None:
                    logger.warning(self._say("workers.killed", pid=process.pid))
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            if pending:
                await asyncio.wait(pending)
        # A keeper ends by itself once it sees the stop, after its worker has (one it started meanwhile, too).
        if self._keepers:
            _, lingering = await asyncio.wait(self._keepers, timeout=within_s)
            for keeper in lingering:
                keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
        for process in self.processes.values():
            if process.returncode is None:  # its keeper was cut short: nobody else will end it
                logger.warning(self._say("workers.killed", pid=process.pid))
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
