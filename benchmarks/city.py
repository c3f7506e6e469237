"""City-scale figures (issue 6): demo-data generation, every area's weekly summary, a year's stats, peak memory.

`python -m benchmarks city [--data-dir DIR] [--keep]`

* generation: `bot.demo.generate(scale="city")` (about 2,000,000 patrols) into a temporary data directory, or
  into DIR; when DIR already holds demo history it is reused and generation is not timed. Target ≤ 3 minutes.
* summaries: for the last complete ISO week, every area's weekly summary composed as the bot does it: the
  figures (`SummaryService.area_summary`), the text and the chart image. Targets: all areas ≤ 3 s in total, the
  median area ≤ 100 ms.
* stats: `TallyService.stats` over the last year (today − 365 days to today), as `riverbot stats` computes it,
  and its table rendered. Target ≤ 5 s.
* peak memory: the summaries and stats run in a fresh child process (`python -m benchmarks.city --measure
  DIR`), whose own peak resident set (`ru_maxrss`) is the figure held to ≤ 300 MB. The generating process's peak
  is printed too, for information (it holds no target here).

`python -m benchmarks scale` measures the same way on PostgreSQL (`--measure DIR --database URL`).

The targets are absolute, on this machine; there is no baseline to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.demo import generate
from bot.i18n import Locales
from bot.summaries import SummaryService, chart_jpeg, last_week, summary_text
from bot.tallies import StatsReport, TallyService
from storage import Store
from storage import demo as bulk

TARGET_GENERATE_S = 180.0
TARGET_ALL_SUMMARIES_S = 3.0
TARGET_ONE_SUMMARY_MS = 100.0
TARGET_STATS_S = 5.0
TARGET_PEAK_MB = 300.0


def _peak_mb() -> float:
    """This process's peak resident set: ru_maxrss is in KiB on Linux."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _settings(data_dir: Path, database: str | None = None) -> Settings:
    """The data directory's settings; `database` (a URL) overrides DATABASE_URL."""
    if database is None:
        return load_settings(env_file=None, data_dir=data_dir)
    return load_settings(env_file=None, data_dir=data_dir, database_url=database)


async def _has_history(settings: Settings) -> bool:
    if not settings.database_path.exists():
        return False
    async with await Store.open(settings.database) as store:
        return await bulk.has_history(store)


async def _generate(settings: Settings) -> tuple[float, int]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    async with await Store.open(settings.database) as store:
        report = await generate(store, settings, scale="city")
    return time.perf_counter() - started, report.patrols


async def measure(
    data_dir: Path, database: str | None = None, *, each_area: bool = True, keep_going: bool = False
) -> dict[str, Any]:
    """The summaries and stats on the data in `data_dir` or `database` (run in a fresh process for its peak
    memory); `each_area` times every area's summary on its own as well. With `keep_going`, a part that fails
    (the summaries, the stats) is named in "errors" with its first line, and the other part still runs."""
    settings = _settings(data_dir, database)
    locales = Locales.load()
    language = settings.default_language
    today = datetime.now(UTC).astimezone(settings.tz).date()
    week = last_week(today)
    first = today - timedelta(days=365)
    figures: dict[str, Any] = {
        "week": week.code,
        "stats_first": first.isoformat(),
        "stats_last": today.isoformat(),
        "errors": {},
    }
    async with await Store.open(settings.database) as store:
        figures["patrols"] = int(await store.fetchval("SELECT count(*) FROM patrols"))
        areas = await store.areas.all()
        figures["areas"] = len(areas)

        async def summaries() -> None:
            service = SummaryService(store, settings)
            times: list[float] = []
            chart_bytes = 0
            # All areas as the weekly job composes them (figures from one query each), then one area alone.
            started = time.perf_counter()
            for summary in (await service.week_summaries(week)).values():
                summary_text(summary, locales, language)
                chart_bytes += len(chart_jpeg(summary, locales, language))
            figures["all_s"] = time.perf_counter() - started
            figures["chart_bytes"] = chart_bytes
            for area in areas if each_area else ():
                t0 = time.perf_counter()
                summary = await service.area_summary(area, week)
                summary_text(summary, locales, language)
                chart_jpeg(summary, locales, language)
                times.append(time.perf_counter() - t0)
            figures["median_ms"] = statistics.median(times) * 1000 if times else 0.0
            figures["max_ms"] = max(times) * 1000 if times else 0.0

        async def stats() -> None:
            t0 = time.perf_counter()
            found = await TallyService(store, settings).stats(first, today)
            figures["stats_s"] = time.perf_counter() - t0
            # The table as `riverbot stats` writes it out: a chunk at a time, never held whole.
            t0 = time.perf_counter()
            lines = sum(chunk.count("\n") for chunk in StatsReport(found, locales, language).table_chunks())
            figures["table_s"] = time.perf_counter() - t0
            figures["table_lines"] = lines

        for name, part in (("summaries", summaries), ("stats", stats)):
            try:
                await part()
            except Exception as exc:
                if not keep_going:
                    raise
                message = str(exc).strip()
                figures["errors"][name] = f"{type(exc).__name__}: {message.splitlines()[0] if message else ''}"
    figures["peak_mb"] = _peak_mb()
    return figures


async def measure_in_child(
    data_dir: Path, database: str | None = None, *, each_area: bool = True, keep_going: bool = False
) -> dict[str, Any]:
    """`measure` in a fresh process: its figures, and that process's own peak memory."""
    more = ([] if database is None else ["--database", database]) + ([] if each_area else ["--no-each-area"])
    more += ["--keep-going"] if keep_going else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.city", "--measure", str(data_dir), *more, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the measuring process failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def main(argv: Sequence[str] = ()) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks city", description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="use (or fill) this data directory instead of a temporary one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory and print its path")
    args = parser.parse_args(list(argv))

    temporary = args.data_dir is None
    data_dir: Path = Path(tempfile.mkdtemp(prefix="riverbot-city-")) if temporary else args.data_dir
    ok = True
    try:
        settings = _settings(data_dir)
        print("city-scale demo data")
        if not temporary and await _has_history(settings):
            print(f"  data: reused from {data_dir} (generation not timed)")
        else:
            print(f"  data: generating into {data_dir} {'(temporary)' if temporary else ''}".rstrip(), flush=True)
            seconds, patrols = await _generate(settings)
            good = seconds <= TARGET_GENERATE_S
            ok = ok and good
            print(
                f"  generation: {patrols:,} patrols in {seconds:.1f} s "
                f"({_verdict(good)}: ≤ {TARGET_GENERATE_S:g} s); generating process peak {_peak_mb():.0f} MB"
            )
        figures = await measure_in_child(data_dir)
        print(f"  measured in a child process on {figures['patrols']:,} patrols, {figures['areas']} areas")
        good = figures["all_s"] <= TARGET_ALL_SUMMARIES_S
        ok = ok and good
        print(
            f"  weekly summaries {figures['week']}, all areas (figures, text, chart JPEG; "
            f"{figures['chart_bytes'] / 1e6:.1f} MB of JPEG): {figures['all_s']:.2f} s "
            f"({_verdict(good)}: ≤ {TARGET_ALL_SUMMARIES_S:g} s)"
        )
        good = figures["median_ms"] <= TARGET_ONE_SUMMARY_MS
        ok = ok and good
        print(
            f"  one area's summary: median {figures['median_ms']:.1f} ms, slowest {figures['max_ms']:.1f} ms "
            f"({_verdict(good)}: median ≤ {TARGET_ONE_SUMMARY_MS:g} ms)"
        )
        good = figures["stats_s"] <= TARGET_STATS_S
        ok = ok and good
        print(
            f"  stats {figures['stats_first']} to {figures['stats_last']}: {figures['stats_s']:.2f} s "
            f"({_verdict(good)}: ≤ {TARGET_STATS_S:g} s); its table ({figures['table_lines']:,} lines) "
            f"{figures['table_s']:.2f} s more"
        )
        good = figures["peak_mb"] <= TARGET_PEAK_MB
        ok = ok and good
        print(
            f"  peak memory of the summaries-and-stats process: {figures['peak_mb']:.0f} MB "
            f"({_verdict(good)}: ≤ {TARGET_PEAK_MB:g} MB)"
        )
    finally:
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif temporary:
            print(f"  kept: {data_dir}")
    return ok


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        child = argparse.ArgumentParser()
        child.add_argument("--measure", type=Path, required=True)
        child.add_argument("--database")
        child.add_argument("--no-each-area", dest="each_area", action="store_false")
        child.add_argument("--keep-going", action="store_true")
        given = child.parse_args()
        figures = measure(given.measure, given.database, each_area=given.each_area, keep_going=given.keep_going)
        print(json.dumps(asyncio.run(figures)))
    else:
        raise SystemExit(0 if asyncio.run(main(sys.argv[1:])) else 1)
