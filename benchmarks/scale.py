"""Province scale on PostgreSQL against city scale on SQLite, in one run (issue 17).

`python -m benchmarks scale [--quick] [--keep] [--sqlite-dir DIR]`

* data: `riverbot demo-data` as the office runs it: city scale into a SQLite file (a temporary data directory, or
  DIR, reused when it already holds a history), province scale (six times city: 990 areas, 96,000 reaches, about
  12,000,000 patrols) into PostgreSQL (reused when the database already holds a history). Both generations are
  timed, for information.
* PostgreSQL: the database DATABASE_URL names when it is a `postgresql://` URL, else the server
  RIVERBOT_BENCH_POSTGRES names (a database `riverbot_bench_scale` is made in it, and dropped after unless
  `--keep`), else a throwaway cluster started with scripts/pg-cluster in a temporary directory and stopped after
  (unless `--keep`). The run says which, and the server's memory settings.
* figures: the city benchmark's (benchmarks/city.py, `measure` in a fresh child process each): every area's
  weekly summary for the last complete week (figures, text and chart), and the stats for the last year. Targets:
  province ÷ city at most 6× for each (six times the data); the peak resident set of the process doing the work
  (`ru_maxrss` of the child: the database server's own memory is its own) ≤ 300 MB on PostgreSQL.

`--quick` makes both 2 % of their size and one year of history, for a smoke test: the ratios then say little, and
the verdicts are printed but do not decide the exit code; only that every step ran does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from benchmarks.city import measure_in_child
from bot.config import load_settings, masked_url
from bot.demo import Scale, generate
from storage import Store
from storage import demo as bulk
from storage.engine import is_postgres_url

TARGET_RATIO = 6.0  # six times the data, at most six times the time
TARGET_PEAK_MB = 300.0
QUICK_FRACTION = 0.02
BENCH_DATABASE = "riverbot_bench_scale"
PG_CLUSTER = Path(__file__).resolve().parents[1] / "scripts" / "pg-cluster"


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


async def main(argv: Sequence[str] = ()) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 %% of each scale and one year: a smoke test")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite data and the PostgreSQL database")
    parser.add_argument("--sqlite-dir", type=Path, help="use (or fill) this data directory for city scale on SQLite")
    args = parser.parse_args(list(argv))

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
        city = await measure_in_child(data_dir, f"sqlite:///{sqlite_file}", each_area=False, keep_going=True)
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
            province = await measure_in_child(data_dir / "province", url, each_area=False, keep_going=True)
        print(f"  measured in child processes: city {city['patrols']:,} patrols, province {province['patrols']:,}")
        for verdict in verdicts(city, province):
            ok = ok and verdict.ok
            print(f"  {verdict.text}: {'PASS' if verdict.ok else 'FAIL'}")
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
