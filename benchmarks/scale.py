"""Province scale on PostgreSQL against city scale on SQLite, in one run (issue 17).

`python -m benchmarks scale [--quick] [--keep] [--sqlite-dir DIR] [--rounds N] [--no-intake | --only-intake]
[--no-cap | --worker-cpu CPU]`

* data: `riverbot demo-data` as the office runs it: city scale into a SQLite file (a temporary data directory, or
  DIR, reused when it already holds a history), province scale (six times city: 990 areas, 96,000 reaches, about
  12,000,000 patrols) into PostgreSQL (reused when the database already holds a history). Both generations are
  timed, for information.
* PostgreSQL: the database DATABASE_URL names when it is a `postgresql://` URL, else the server
  RIVERBOT_BENCH_POSTGRES names (a database `riverbot_bench_scale` is made in it, and dropped after unless
  `--keep`), else a throwaway cluster started with scripts/pg-cluster in a temporary directory and stopped after
  (unless `--keep`). The run says which, and the server's memory settings.
* figures: the city benchmark's (benchmarks/city.py, `measure` in a fresh child process each): every area's
  weekly summary for the last complete week (figures, text and chart), and the stats for the last year; measured
  `--rounds` times (3), city and province alternating, and each side's best time kept (its highest peak memory):
  the machine is shared, and a burst of other load must not fall on one side only. Targets:
  province ÷ city at most 6× for each (six times the data); the peak resident set of the process doing the work
  (`ru_maxrss` of the child: the database server's own memory is its own) ≤ 300 MB on PostgreSQL.
* intake: live-location edits through the Bot API stand-in, pushed to a webhook front that keeps them in the
  inbox, with 1 and with 4 worker processes behind it (`riverbot run --webhook --workers N`, except that with 1
  too the front only keeps and a worker process handles: benchmarks/intake_front.py), on a database of its own on
  the same server: updates a second from the first edit pushed to the last track point stored (as
  benchmarks/live.py counts them); 1 and 4 workers alternating, INTAKE_PAIRS (3) runs each, and each one's best
  kept, as for the summaries. Target: 4 workers ≥ 3× one.

  The load. 1,000 people on patrol, each sharing a live location (a chat each), every one moving once a round:
  a phone edits a live location every few seconds, far apart next to the moment the bot takes for one, so a chat
  whose bot keeps up never has two edits waiting, and each edit is a turn of its own (a claim, a look, a mark).
  The load before (200 people, 10 edits each as fast as the stand-in would take them) piled ten edits up in every
  chat once one worker fell behind, and a pile is cheaper an edit (one turn for ten): it measured how fast a
  backlog drains, which favours the slowest setup, rather than the rate the workers keep up with.

  The CPU budget. A deployment gives workers machines of their own; here the stand-in, the front, the workers and
  the server share this machine's cores (two, on the machine this was written on, with other work on it), and one
  worker that may use a whole core leaves four nothing to gain whatever the design. So every worker process runs
  in a CPU cgroup of its own (cgroup v1 `cpu`, else v2 `cpu.max`), with the same cap in both runs, while the
  front, the stand-in and PostgreSQL are not capped: the ratio then says whether what the workers share (the
  front, the database, its locks) lets them scale. That holds only while what they share has the CPU to keep up
  with four workers, so the cap is fitted to the machine, not to the result: a first guess from the cores left
  idle by other work (sampled for two seconds before the run: half of them for the workers, split among the 4 of
  the larger run), a run with one worker at it that measures k, the CPU seconds the front, the stand-in and
  PostgreSQL used for each of the worker's (the machine's busy time less the worker's and other work's), and then
  the cap that lets 4 workers at full speed and k times that fit in the idle cores: idle ÷ (4 × (1 + k)), in steps
  of 0.05 CPU, at least 0.05. When that is lower than the guess, the one-worker run is made again at it. Every
  later run, four workers' above all, measures k too: when it asks for a lower cap, all the runs are made again at
  that. So are they, 0.05 CPU lower, when the stand-in pushed a run less than PUSH_MARGIN (1.5) times as fast as
  its workers stored it: the cores were there, but the stand-in and the front (one process each) did not get them
  in time, and the workers waited for updates. At most MAX_REFITS times in all (`lower_cap`).
  `--worker-cpu` sets the cap instead, to compare runs on a machine whose load changes; `--no-cap` runs uncapped,
  and so does a machine where no cgroup can be made: the run says so, and the verdict says the figures are
  bounded by the machine's cores. The groups are removed after each run. Each run prints how
  often the workers used up their budget (near 100 %: they were what bounded the intake).

`--only-intake` runs the intake alone (no data generated): the loop for work on the intake path.

`--quick` makes both 2 % of their size and one year of history, for a smoke test: the ratios then say little, and
the verdicts are printed but do not decide the exit code; only that every step ran does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from benchmarks.city import measure_in_child
from benchmarks.live_locations import open_patrols, position
from bot.config import load_settings, masked_url
from bot.demo import Scale, generate
from sandbox import BotApiServer, FakeUser, Sandbox
from storage import Store
from storage import demo as bulk
from storage.engine import is_postgres_url

TARGET_RATIO = 6.0  # six times the data, at most six times the time
TARGET_PEAK_MB = 300.0
# The machine is shared (the server, the child processes, and whatever else runs): each side is measured this many
# times, alternating, and its best kept, so that a burst of someone else's load does not fall on one side only.
ROUNDS = 3
QUICK_FRACTION = 0.02
BENCH_DATABASE = "riverbot_bench_scale"
REPOSITORY = Path(__file__).resolve().parents[1]
PG_CLUSTER = REPOSITORY / "scripts" / "pg-cluster"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One line of the report: what was measured, against what, and whether it passed."""

    text: str
    ok: bool


def _ratio(province: float, city: float) -> float:
    return province / city if city > 0 else float("inf")


def _failed(what: str, city: dict[str, Any], province: dict[str, Any], part: str) -> Verdict | None:
    """A FAIL line when either side could not compute `part` (summaries, stats), naming the error."""
    for engine, figures in (("SQLite", city), ("PostgreSQL", province)):
        error = figures.get("errors", {}).get(part)
        if error:
            return Verdict(f"{what}: failed on {engine}: {error}", False)
    return None


def verdicts(city: dict[str, Any], province: dict[str, Any]) -> list[Verdict]:
    """The judged lines, from the two measuring processes' figures (`benchmarks.city.measure`)."""
    lines = []
    what = "all areas' weekly summaries"
    failed = _failed(what, city, province, "summaries")
    if failed is None:
        ratio = _ratio(province["all_s"], city["all_s"])
        failed = Verdict(
            f"{what}: city (SQLite, {city['areas']} areas) {city['all_s']:.2f} s, province "
            f"(PostgreSQL, {province['areas']} areas) {province['all_s']:.2f} s: ratio {ratio:.2f}× "
            f"(target ≤ {TARGET_RATIO:g}×)",
            ratio <= TARGET_RATIO,
        )
    lines.append(failed)
    what = f"stats for a year ({province['stats_first']} to {province['stats_last']})"
    failed = _failed(what, city, province, "stats")
    if failed is None:
        ratio = _ratio(province["stats_s"], city["stats_s"])
        failed = Verdict(
            f"{what}: city {city['stats_s']:.2f} s, province {province['stats_s']:.2f} s: ratio {ratio:.2f}× "
            f"(target ≤ {TARGET_RATIO:g}×)",
            ratio <= TARGET_RATIO,
        )
    lines.append(failed)
    lines.append(
        Verdict(
            f"peak memory of the measuring process: city (SQLite) {city['peak_mb']:.0f} MB, province (PostgreSQL) "
            f"{province['peak_mb']:.0f} MB: ratio {_ratio(province['peak_mb'], city['peak_mb']):.2f}× "
            f"(target: province ≤ {TARGET_PEAK_MB:g} MB)",
            province["peak_mb"] <= TARGET_PEAK_MB,
        )
    )
    return lines


def best(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One side's figures over its rounds: the shortest time of each part, the highest peak memory, and any
    part that failed in any round."""
    figures = dict(runs[0])
    for key in ("all_s", "stats_s", "table_s"):
        times = [run[key] for run in runs if key in run]
        if times:
            figures[key] = min(times)
    figures["peak_mb"] = max(run["peak_mb"] for run in runs)
    figures["errors"] = {part: error for run in runs for part, error in run.get("errors", {}).items()}
    return figures


def _round_line(city: dict[str, Any], province: dict[str, Any]) -> str:
    def times(figures: dict[str, Any]) -> str:
        return f"summaries {figures.get('all_s', 0.0):.2f} s, stats {figures.get('stats_s', 0.0):.2f} s"

    return f"city {times(city)}; province {times(province)}"


def _peak_mb() -> float:
    import resource  # noqa: PLC0415 (POSIX only, like the city benchmark)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _on_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _cluster(command: str, directory: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        str(PG_CLUSTER), command, str(directory), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"scripts/pg-cluster {command} failed: {err.decode().strip()}")
    lines = out.decode().strip().splitlines()
    return lines[-1] if lines else ""


@asynccontextmanager
async def postgres(keep: bool) -> AsyncIterator[tuple[str, str]]:
    """(the database URL, where it comes from): DATABASE_URL, RIVERBOT_BENCH_POSTGRES or a throwaway cluster."""
    given = os.environ.get("DATABASE_URL", "")
    if is_postgres_url(given):
        yield given, f"the database DATABASE_URL names ({masked_url(given)})"
        return
    server = os.environ.get("RIVERBOT_BENCH_POSTGRES", "")
    if is_postgres_url(server):
        url = _on_database(server, BENCH_DATABASE)
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a kept one: reused when it holds the province
            await _admin(server, f"CREATE DATABASE {BENCH_DATABASE}")
        try:
            yield url, f"database {BENCH_DATABASE} on the server RIVERBOT_BENCH_POSTGRES names ({masked_url(server)})"
        finally:
            if not keep:
                await _admin(server, f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        return
    if not PG_CLUSTER.exists():
        raise RuntimeError("no PostgreSQL: set RIVERBOT_BENCH_POSTGRES, or run from a checkout (scripts/pg-cluster)")
    # A short path: the server's socket lives in it, and a unix socket's path is at most 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="rb-scale-pg-", dir="/tmp"))
    url = await _cluster("start", directory)
    try:
        yield url, f"a throwaway cluster (scripts/pg-cluster) in {directory}"
    finally:
        if keep:
            print(f"  kept: the cluster in {directory} ({url}); scripts/pg-cluster stop {directory} ends it")
        else:
            await _cluster("stop", directory)


async def _server_settings(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SHOW server_version")
        shown = [f"{name} {await conn.fetchval(f'SHOW {name}')}" for name in ("shared_buffers", "work_mem", "fsync")]
    finally:
        await conn.close()
    return f"PostgreSQL {version}: " + ", ".join(shown)


async def _fill(target: str | Path, data_dir: Path, scale: Scale, *, quick: bool) -> tuple[str, float, int]:
    """Generate `scale` into the store at `target` unless it holds a history: (what happened, seconds, patrols)."""
    database = target if isinstance(target, str) else f"sqlite:///{target}"
    settings = load_settings(env_file=None, data_dir=data_dir, database_url=database)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with await Store.open(settings.database) as store:
        if await bulk.has_history(store):
            patrols = int(await store.fetchval("SELECT count(*) FROM patrols"))
            return "reused (generation not timed)", 0.0, patrols
        started = time.perf_counter()
        report = await generate(
            store, settings, scale=scale, years=1 if quick else 4, fraction=QUICK_FRACTION if quick else 1.0
        )
    return "generated", time.perf_counter() - started, report.patrols


# -- live-location intake through the webhook front ---------------------------------------------------------------

INTAKE_WORKERS = (1, 4)
# Runs of each worker count, alternating, each count's best kept: the machine is shared, and a burst of someone
# else's load, or a slower spell of the machine's own, must not fall on one side only (as for the summaries).
INTAKE_PAIRS = 3
TARGET_INTAKE_GAIN = 3.0  # four workers take at least three times what one does
MAX_REFITS = 3  # times the workers' CPU cap is lowered, and all the runs made again, when what they share fell short
# A run whose stand-in pushed less than this many times as fast as the workers stored did not keep them busy.
PUSH_MARGIN = 1.5
CAP_STEP = 0.05  # the workers' CPU cap moves in steps of this much
INTAKE_SECRET = "bench-Webhook_secret-0123456789abcdef"
INTAKE_STEP_S = 5  # Telegram's clock between two edits of one live location
INTAKE_DEADLINE_S = 600.0
INTAKE_POLL_S = 0.05
WEBHOOK_CONNECTIONS = 40  # Telegram's default max_connections


@dataclass(frozen=True, slots=True)
class IntakeSize:
    patrols: int  # people on patrol at once, each sharing a live location (one chat each)
    edits: int  # edits per person per round (one: see the module's docstring, "The load")
    rounds: int
    window: int  # updates the stand-in holds unpushed at most (Telegram holds the backlog on its side)


INTAKE = IntakeSize(patrols=1000, edits=1, rounds=5, window=300)
INTAKE_QUICK = IntakeSize(patrols=40, edits=1, rounds=1, window=100)


def _workers(count: int) -> str:
    return "worker" if count == 1 else "workers"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(
    count: Callable[[], Awaitable[int]], target: int, what: str, front: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + INTAKE_DEADLINE_S
    while (have := await count()) < target:
        if front.returncode is not None:
            raise RuntimeError(f"riverbot ended ({front.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {have} of {target} after {INTAKE_DEADLINE_S:.0f} s")
        await asyncio.sleep(INTAKE_POLL_S)


# -- the workers' CPU budget --------------------------------------------------------------------------------------

CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
CPU_PERIOD_US = 100_000
SPARE_SAMPLE_S = 2.0


def _cpu_times() -> tuple[float, float]:
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (every core), from /proc/stat."""
    idle, total = _cpu_times()
    return (total - idle) / os.sysconf("SC_CLK_TCK")


async def spare_cores() -> float:
    """Cores the machine leaves idle now (what other work on it does not use), over SPARE_SAMPLE_S."""
    cores = len(os.sched_getaffinity(0))
    try:
        idle0, total0 = _cpu_times()
        await asyncio.sleep(SPARE_SAMPLE_S)
        idle1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return float(cores)
    return cores * (idle1 - idle0) / (total1 - total0) if total1 > total0 else float(cores)


def worker_cap(spare: float, most_workers: int) -> float:
    """Each worker's CPU budget: half the spare cores for the workers (the other half for what they share: the
    front, the stand-in, PostgreSQL), split among the most workers measured; in steps of 0.05 CPU, at least one."""
    return _in_steps(spare / 2 / most_workers)


def shared_share(run: Intake, others: float) -> float | None:
    """k: what the workers share (the front, the stand-in, PostgreSQL) used, in CPU, for each CPU second the
    capped workers used, over a run's measured rounds; `others` is the cores other work kept busy before the run
    (the machine's busy time less theirs and the workers' is the shared parts'). None when not measured."""
    if run.worker_cpu_s is None or run.machine_cpu_s is None or run.wall_s is None or run.worker_cpu_s <= 0:
        return None
    return max(0.0, run.machine_cpu_s - others * run.wall_s - run.worker_cpu_s) / run.worker_cpu_s


def fitted_cap(spare: float, k: float, most_workers: int) -> float:
    """The cap that leaves what the workers share room to keep up: `most_workers` at full speed use
    cap × most_workers, and what they share, k times that; together within the spare cores. In steps of 0.05
    CPU, at least one."""
    return _in_steps(spare / (most_workers * (1 + k)))


def _in_steps(cpu: float) -> float:
    """`cpu` rounded down to a whole number of CAP_STEPs, at least one."""
    steps = round(1 / CAP_STEP)
    return max(CAP_STEP, int(cpu * steps) / steps)


class CpuCaps:
    """One CPU cgroup per worker slot (`{prefix}-{index}`), each allowed `cap` of a CPU, or none when no cgroup can
    be made here (then `why` says so). Removed by `remove`."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.prefix = ""
        self.why = ""
        self._groups: list[Path] = []
        self._root: Path | None = None

    def make(self, slots: int) -> None:
        name = f"riverbot-intake-{os.getpid()}"
        quota = int(self.cap * CPU_PERIOD_US)
        try:
            if (CGROUP_V1 / "cpu.cfs_quota_us").exists():
                self._root = CGROUP_V1
                for index in range(1, slots + 1):
                    group = CGROUP_V1 / f"{name}-{index}"
                    group.mkdir()
                    self._groups.append(group)
                    (group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                    (group / "cpu.cfs_quota_us").write_text(str(quota))
            elif "cpu" in (CGROUP_V2 / "cgroup.subtree_control").read_text().split():
                self._root = CGROUP_V2
                for index in range(1, slots + 1):
                    group = CGROUP_V2 / f"{name}-{index}"
                    group.mkdir()
                    self._groups.append(group)
                    (group / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            else:
                raise OSError("no writable CPU controller (cgroup v1 cpu, or cgroup v2 with cpu enabled)")
        except OSError as exc:
            self.remove()
            self.why = f"no CPU cgroup could be made ({exc})"
            return
        self.prefix = str(self._root / name)

    def periods(self) -> tuple[int, int]:
        """(scheduling periods the workers ran in, those in which they used up their budget), all groups together
        (cpu.stat's nr_periods and nr_throttled, in cgroup v1 and v2 alike)."""
        periods = throttled = 0
        for group in self._groups:
            with contextlib.suppress(OSError, ValueError):
                stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
                periods += int(stat.get("nr_periods", 0))
                throttled += int(stat.get("nr_throttled", 0))
        return periods, throttled

    def cpu_seconds(self) -> float:
        """CPU the processes now in the groups have used (user and system, from /proc), all groups together."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = 0.0
        for group in self._groups:
            with contextlib.suppress(OSError, ValueError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError, ValueError, IndexError):
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                        used += (int(fields[11]) + int(fields[12])) / ticks
        return used

    def remove(self) -> None:
        for group in self._groups:
            with contextlib.suppress(OSError):
                assert self._root is not None
                # A straggler goes back to the root group: a group with a process in it cannot be removed.
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        (self._root / "cgroup.procs").write_text(pid)
                group.rmdir()
        self._groups.clear()
        self.prefix = ""


@dataclass(frozen=True, slots=True)
class Intake:
    rate: float  # updates a second stored as track points (the median round)
    pushed: float  # updates a second the stand-in pushed and the front answered 200 (the same round)
    transactions: float  # transactions the database committed (reads too) per update stored, measured rounds
    waiting: float  # sessions waiting for the writers' lock (storage/engine.py), on average over those rounds
    throttled: float | None  # the share of periods the capped workers ran out of CPU (None: not capped)
    # Over the measured rounds (None: not capped): the capped workers' CPU seconds, the whole machine's, and the
    # seconds the rounds took.
    worker_cpu_s: float | None = None
    machine_cpu_s: float | None = None
    wall_s: float | None = None


class _Watch:
    """What the database does meanwhile: its commits, and how many sessions wait for the write lock (sampled)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.samples: list[int] = []
        self.commits = 0

    async def _commits(self) -> int:
        assert self._conn is not None
        await self._conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await self._conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        )

    async def _sample(self) -> None:
        assert self._conn is not None
        while True:
            waiting = await self._conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            self.samples.append(int(waiting))
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._url)
        self.commits = -await self._commits()
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await asyncio.sleep(1.0)  # the server publishes its statistics within a second
            self.commits += await self._commits()
            await self._conn.close()


async def intake(server: str, workers: int, size: IntakeSize, log: Path, cap: float | None = None) -> Intake:
    """Updates a second that `riverbot run --webhook --workers N` stores as track points: the median of
    `size.rounds` rounds in which every person moves their live location `size.edits` times, from the first edit
    pushed to the last point stored. A database of its own on `server`, dropped after."""
    name = f"riverbot_bench_intake_{workers}"
    await _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await _admin(server, f"CREATE DATABASE {name}")
    url = _on_database(server, name)
    front: asyncio.subprocess.Process | None = None
    throttled: float | None = None
    worker_cpu_s: float | None = None
    machine_cpu_s: float | None = None
    wall_s: float | None = None
    caps = CpuCaps(cap) if cap is not None else None
    if caps is not None:
        caps.make(workers)
    try:
        async with BotApiServer() as api:
            # As Telegram does: up to 40 updates pushed at once (one chat's one at a time), not the stand-in's
            # strict one at a time, which would make every worker wait on the previous push.
            api.webhook_connections = WEBHOOK_CONNECTIONS
            token = api.add_bot(username=f"riverbot_intake{workers}_bot")
            sandbox = Sandbox(api, token)
            state = sandbox.state
            store = await Store.open(url)
            try:
                people = [
                    sandbox.user(first_name=f"Chief{i:03d}", language_code="zh-hans")
                    for i in range(size.patrols)
                ]
                # A few minutes ago: the edits' times (5 s apart) stay behind the clock, and well within
                # PATROL_IDLE_MINUTES of it, or the leader's idle check would finish the patrols mid-run.
                shared_at = int(time.time()) - 300
                await open_patrols(store, people, shared_at)
                port = _free_port()
                env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BOT_TOKEN", "ADMIN_IDS")}
                env.update(
                    BOT_TOKEN=token,
                    TELEGRAM_API_URL=api.url,
                    DATABASE_URL=url,
                    DATA_DIR=str(log.parent / f"intake-{workers}"),
                    WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                    WEBHOOK_LISTEN=f"127.0.0.1:{port}",
                    WEBHOOK_SECRET=INTAKE_SECRET,
                    RATE_LIMIT_PER_SECOND="1000000",
                    RATE_LIMIT_GROUP_PER_MINUTE="1000000",
                    LOG_LEVEL="WARNING",
                    PYTHONUNBUFFERED="1",
                    PYTHONPATH=os.pathsep.join(p for p in (str(REPOSITORY), env.get("PYTHONPATH", "")) if p),
                )
                # The front keeps the updates, N worker processes handle them, 1 as well (benchmarks/intake_front.py);
                # each worker in its own CPU cgroup when there are caps.
                prefix = caps.prefix if caps is not None else ""
                with log.open("ab") as out:
                    front = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "benchmarks.intake_front", str(workers), prefix,
                        cwd=log.parent, env=env, stdout=out, stderr=out,
                    )  # fmt: skip

                async def stored() -> int:
                    # All of them, each time: workers commit their batches side by side, so a point with a lower id
                    # can commit after one with a higher id. A few thousand rows: cheap enough to poll often.
                    return int(await store.fetchval("SELECT count(*) FROM patrol_points"))

                def room() -> bool:
                    return state.last_pushed_id - state.consumed_upto < size.window

                lives: list[dict[str, Any]] = []
                for i, user in enumerate(people):
                    lat, lon = position(i, 0)
                    lives.append(await user.send_location(lat, lon, live_period=8 * 3600, date=shared_at))
                await _until(stored, size.patrols, "the first live locations", front)
                moves = 0

                async def round_(edits: int) -> tuple[float, float]:
                    """(seconds until every point is stored, seconds until the stand-in had pushed them all)."""
                    nonlocal moves
                    target = await stored() + size.patrols * edits
                    started = time.perf_counter()
                    pushes_before, wall = len(state.pushes), time.time()

                    async def walk(i: int, user: FakeUser, live: dict[str, Any]) -> None:
                        for move in range(moves + 1, moves + 1 + edits):
                            if not room() and not await state.activity.wait_until(room, INTAKE_DEADLINE_S):
                                raise RuntimeError("the front stopped taking updates")
                            lat, lon = position(i, move)
                            await user.edit_live_location(live, lat, lon, edit_date=shared_at + move * INTAKE_STEP_S)

                    await asyncio.gather(*(walk(i, u, m) for i, (u, m) in enumerate(zip(people, lives, strict=True))))
                    moves += edits
                    assert front is not None
                    await _until(stored, target, f"{target} points stored", front)
                    took = time.perf_counter() - started
                    pushed = [p.at for p in state.pushes[pushes_before:] if 200 <= p.status < 300]
                    return took, (max(pushed) - wall if pushed else took)

                await round_(1)  # warm-up: every chat handled once on its worker
                watch = _Watch(url)
                await watch.start()
                capped = caps if caps is not None and caps.prefix else None
                before = capped.periods() if capped is not None else None
                cpu_before = (capped.cpu_seconds(), _busy_seconds(), time.monotonic()) if capped is not None else None
                try:
                    rounds = [await round_(size.edits) for _ in range(size.rounds)]
                    if capped is not None and cpu_before is not None:
                        worker_cpu_s = capped.cpu_seconds() - cpu_before[0]
                        machine_cpu_s = _busy_seconds() - cpu_before[1]
                        wall_s = time.monotonic() - cpu_before[2]
                finally:
                    await watch.stop()
                if capped is not None and before is not None:
                    after = capped.periods()
                    if after[0] > before[0]:
                        throttled = (after[1] - before[1]) / (after[0] - before[0])
            finally:
                await store.close()
            if front.returncode is None:
                front.send_signal(signal.SIGTERM)
                await asyncio.wait_for(front.wait(), 120)
    finally:
        if front is not None and front.returncode is None:
            front.kill()
            await front.wait()
        await _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if caps is not None:
            caps.remove()
    took, pushed = sorted(rounds)[len(rounds) // 2]
    updates = size.patrols * size.edits
    waiting = sum(watch.samples) / len(watch.samples) if watch.samples else 0.0
    return Intake(
        updates / took,
        updates / pushed,
        watch.commits / (updates * size.rounds),
        waiting,
        throttled,
        worker_cpu_s,
        machine_cpu_s,
        wall_s,
    )


def intake_verdict(rates: dict[int, float], cap: float | None = None) -> Verdict:
    """The judged line: updates a second stored with 4 workers against 1; `cap` the CPU each worker had (None:
    uncapped, so on this machine the workers, the front and the server shared its cores)."""
    one, four = rates[1], rates[4]
    gain = four / one if one > 0 else 0.0
    if cap is None:
        how = "workers uncapped: bounded by this machine's cores, which the workers share with the front and the server"
    else:
        how = f"each worker capped at {cap:g} CPU"
    return Verdict(
        f"live-location intake through the webhook front ({how}; the best of {INTAKE_PAIRS} runs each): 1 worker "
        f"{one:.0f} updates/s, 4 workers {four:.0f} updates/s: {gain:.2f}× (target ≥ {TARGET_INTAKE_GAIN:g}×)",
        gain >= TARGET_INTAKE_GAIN,
    )


def lower_cap(run: Intake, workers: int, cap: float, k: float, spare: float) -> tuple[float | None, str]:
    """(a lower cap for every worker and why, or None) after a run at `cap` whose shared share was `k`: the ratio
    says whether the workers scale only while what they share keeps up with the most workers measured."""
    most = max(INTAKE_WORKERS)
    fitted = fitted_cap(spare, k, most)
    if fitted < cap:
        # Four workers' share need not be one worker's: their run can ask for a lower cap too.
        need = most * cap * (1 + k)
        return fitted, f"{most} workers at {cap:g} CPU and that would need {need:.2f} of the {spare:.2f} idle cores"
    if run.pushed < PUSH_MARGIN * run.rate and cap > CAP_STEP:
        # The CPU may be there and still not come in time: the stand-in and the front are one process each, and on
        # a busy machine they wait for a core behind every other process. The workers then wait for updates, and
        # the run measures the stand-in.
        return round(cap - CAP_STEP, 2), (
            f"the stand-in pushed only {run.pushed / run.rate:.2f}× as fast as the {_workers(workers)} stored (at "
            f"least {PUSH_MARGIN:g}× says they never waited for updates)"
        )
    return None, ""


async def _intakes(
    server: str, data_dir: Path, size: IntakeSize, *, capped: bool = True, worker_cpu: float | None = None
) -> Verdict:
    """The intake with each worker count in turn, on databases of their own on the server; a run that failed is a
    FAIL line naming the error (the front's log is kept beside the data)."""
    log = data_dir / "intake.log"
    print(
        f"  live-location intake: {size.patrols} people sharing a live location, each moving {_times(size.edits)} a "
        f"round, median of {size.rounds} rounds; riverbot run --webhook --workers N, 1 and 4 alternating, "
        f"{INTAKE_PAIRS} runs each and the best kept (log: {log})",
        flush=True,
    )
    cap: float | None = None
    most = max(INTAKE_WORKERS)
    cores = len(os.sched_getaffinity(0))
    spare = float(cores)
    fit = False  # whether each run checks the cap (below): not when --worker-cpu sets it
    if capped:
        if worker_cpu is None:
            spare = await spare_cores()
            cap, fit = worker_cap(spare, most), True
            why = (
                f"a first guess from {spare:.2f} of {cores} cores idle before the run: half of that for the "
                f"workers, split among {most}"
            )
            if spare / 2 / most < cap:
                why += f" (less than {cap:g}: the floor)"
        else:
            cap, why = worker_cpu, "as --worker-cpu says"
        probe = CpuCaps(cap)
        probe.make(1)
        if probe.prefix:
            probe.remove()
            print(
                f"    each worker process capped at {cap:g} CPU (a cgroup each; the front, the stand-in and PostgreSQL "
                f"uncapped): {why}; the same cap for every worker in both runs",
                flush=True,
            )
        else:
            print(f"    workers NOT capped: {probe.why}; the figures are bounded by this machine's cores", flush=True)
            cap, fit = None, False
    else:
        print("    workers not capped (--no-cap): the figures are bounded by this machine's cores", flush=True)
    rates: dict[int, float] = {}
    runs = list(INTAKE_WORKERS) * INTAKE_PAIRS
    refits = 0
    while runs:
        workers = runs.pop(0)
        try:
            figures = await intake(server, workers, size, log, cap)
        except Exception as exc:  # the run goes on to print what it has
            return Verdict(f"live-location intake with {workers} workers: failed: {type(exc).__name__}: {exc}", False)
        rates[workers] = max(rates.get(workers, 0.0), figures.rate)
        throttled = (
            f"; the workers used up their CPU in {figures.throttled:.0%} of the periods"
            if figures.throttled is not None
            else ""
        )
        print(
            f"    {workers} {_workers(workers)}: {figures.rate:.0f} updates/s stored; "
            f"the stand-in pushed them at {figures.pushed:.0f}/s; {figures.transactions:.1f} database transactions "
            f"an update (reads too); {figures.waiting:.1f} sessions waiting for the writers' lock on average"
            f"{throttled}",
            flush=True,
        )
        k = shared_share(figures, cores - spare) if fit else None
        if k is not None:
            print(f"      what the workers share used {k:.1f} CPU seconds for each of the workers'", flush=True)
        if k is not None and cap is not None and refits < MAX_REFITS:
            lower, why = lower_cap(figures, workers, cap, k, spare)
            if lower is not None:
                refits += 1
                print(f"    {why}; the cap is {lower:g} CPU instead, and the runs start again at it", flush=True)
                cap = lower
                rates.clear()
                runs = list(INTAKE_WORKERS) * INTAKE_PAIRS
    return intake_verdict(rates, cap)


async def _only_intake(quick: bool, keep: bool, capped: bool, worker_cpu: float | None) -> bool:
    """`--only-intake`: the workers' intake alone, the loop for work on the intake path."""
    data_dir = Path(tempfile.mkdtemp(prefix="riverbot-intake-"))
    try:
        async with postgres(keep) as (url, where):
            print(f"live-location intake by webhook workers on PostgreSQL: {where}")
            print(f"  {await _server_settings(url)}")
            size = INTAKE_QUICK if quick else INTAKE
            verdict = await _intakes(url, data_dir, size, capped=capped, worker_cpu=worker_cpu)
            print(f"  {verdict.text}: {'PASS' if verdict.ok else 'FAIL'}")
    finally:
        if keep:
            print(f"  kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return verdict.ok or quick


async def main(argv: Sequence[str] = ()) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 %% of each scale and one year: a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite data and the PostgreSQL database")
    parser.add_argument("--sqlite-dir", type=Path, help="use (or fill) this data directory for city scale on SQLite")
    parser.add_argument("--no-intake", action="store_true", help="leave out the live-location intake by workers")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"rounds of measuring, each side's best kept (default {ROUNDS})"
    )
    parser.add_argument(
        "--only-intake", action="store_true", help="only the live-location intake by workers (no data generated)"
    )
    parser.add_argument(
        "--no-cap", action="store_true", help="do not cap each worker's CPU (the figures are then bounded by cores)"
    )
    parser.add_argument(
        "--worker-cpu",
        type=float,
        metavar="CPU",
        help="each worker's CPU cap (default: half the idle cores before the run, split among 4), to compare runs",
    )
    args = parser.parse_args(list(argv))
    if args.only_intake:
        return await _only_intake(args.quick, args.keep, not args.no_cap, args.worker_cpu)

    temporary = args.sqlite_dir is None
    data_dir: Path = Path(tempfile.mkdtemp(prefix="riverbot-scale-")) if temporary else args.sqlite_dir
    sqlite_file = data_dir / "riverbot.sqlite3"
    ok = True
    quick = " (quick: 2 % of each, one year)" if args.quick else ""
    print(f"province scale on PostgreSQL against city scale on SQLite{quick}")
    try:
        what, seconds, patrols = await _fill(sqlite_file, data_dir, "city", quick=args.quick)
        city_generation = seconds
        took = f" in {seconds:.1f} s" if seconds else ""
        print(f"  SQLite, city scale in {sqlite_file}: {what}: {patrols:,} patrols{took}")
        async with postgres(args.keep) as (url, where):
            print(f"  PostgreSQL: {where}")
            print(f"    {await _server_settings(url)}")
            what, seconds, patrols = await _fill(url, data_dir / "province", "province", quick=args.quick)
            line = f"  PostgreSQL, province scale: {what}: {patrols:,} patrols"
            if seconds:
                line += f" in {seconds:.1f} s"
                if city_generation:
                    line += f" ({seconds / city_generation:.1f}× the city's {city_generation:.1f} s on SQLite)"
            print(line + f"; generating process peak {_peak_mb():.0f} MB")
            rounds = 1 if args.quick else args.rounds
            print(f"  measuring: {rounds} round(s), city then province in each, every one a fresh child process")
            cities, provinces = [], []
            for number in range(1, rounds + 1):
                cities.append(
                    await measure_in_child(data_dir, f"sqlite:///{sqlite_file}", each_area=False, keep_going=True)
                )
                provinces.append(
                    await measure_in_child(data_dir / "province", url, each_area=False, keep_going=True)
                )
                print(f"    round {number}: {_round_line(cities[-1], provinces[-1])}", flush=True)
            city, province = best(cities), best(provinces)
            print(f"  measured in child processes: city {city['patrols']:,} patrols, province {province['patrols']:,}")
            lines = verdicts(city, province)
            for verdict in lines:
                print(f"  {verdict.text}: {'PASS' if verdict.ok else 'FAIL'}")
            if not args.no_intake:
                size = INTAKE_QUICK if args.quick else INTAKE
                lines.append(await _intakes(url, data_dir, size, capped=not args.no_cap, worker_cpu=args.worker_cpu))
                print(f"  {lines[-1].text}: {'PASS' if lines[-1].ok else 'FAIL'}")
        ok = all(verdict.ok for verdict in lines)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif temporary:
            print(f"  kept: {data_dir}")
    if args.quick:
        print("  quick run: the verdicts above are indicative only")
        return True
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if asyncio.run(main(sys.argv[1:])) else 1)
