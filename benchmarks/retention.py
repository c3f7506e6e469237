"""Retention at a realistic size (issue 12): pruning 200,000 track points and 2,000 photo originals while the bot
keeps writing.

`python -m benchmarks retention [--patrols N] [--points N] [--photos N]`

A store with N finished patrols of M points each (a point every 10 s, as a live location sends them) that ended
five years ago, and as many recent ones that stay; photos of the old patrols with small files on disk. Then
`RetentionService.prune` with RETENTION_YEARS=3 runs as the nightly job does, while two probes write
every 20 ms: one through the same Store (the bot, when the job prunes inside it) and one through its own SQLite
connection (the bot, when `riverbot prune` runs in another process). Figures: the run's time, points a second,
and the probes' median and longest waits.

Target: no probe write waits longer than 1 s (issue 12: the bot keeps answering meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_settings
from bot.retention import RetentionService
from storage import Store, to_db_time
from storage import demo as bulk

TARGET_LONGEST_WAIT_S = 1.0
PROBE_EVERY_S = 0.02


async def _fill(store: Store, data_dir: Path, *, patrols: int, points: int, photos: int) -> None:
    """Old and recent patrols with tracks, and photos of the old ones, straight into the tables."""
    now = datetime.now(UTC)
    await store.executemany(
        "INSERT INTO areas (id, code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(1, "CD", "城东片区", "Chengdong", to_db_time(now), to_db_time(now))],
    )
    await store.execute(
        "INSERT INTO reaches (id, code, name_zh, name_en, area_id, level, tags, created_at, updated_at)"
        " VALUES (1, 'DBH-01', '丁堡河', 'Dingbao River', 1, 'town', '', ?, ?)",
        (to_db_time(now), to_db_time(now)),
    )
    await store.execute(
        "INSERT INTO people (id, name, active, created_at, updated_at) VALUES (1, '王五', 1, ?, ?)",
        (to_db_time(now), to_db_time(now)),
    )
    old_start = now - timedelta(days=5 * 366)
    starts = [(old_start if n < patrols else now - timedelta(days=30)) + timedelta(hours=n) for n in range(2 * patrols)]
    rows = []
    for n, start in enumerate(starts):
        end = start + timedelta(seconds=10 * points)
        rows.append(
            (n + 1, 1, 1, to_db_time(start), to_db_time(end), "finished", to_db_time(end),
             2000.0, 10 * points, points, 0, 0, 1, "[]", to_db_time(end), to_db_time(end))
        )  # fmt: skip
    await store.executemany(bulk.PATROL_SQL, rows)
    tracks = []
    for n, start in enumerate(starts):
        for i in range(points):
            at = start + timedelta(seconds=10 * i)
            tracks.append((n + 1, to_db_time(at), 32.5 + 0.0003 * math.sin(i / 8), 120.4 + 0.00009 * i, 5.0))
        if len(tracks) >= 50_000:
            await store.executemany(bulk.POINT_SQL, tracks)
            tracks = []
    await store.executemany(bulk.POINT_SQL, tracks)
    folder = data_dir / "photos" / "00"
    folder.mkdir(parents=True)
    photo_rows, links = [], []
    for n in range(photos):
        sha = f"{n:064x}"
        (folder / f"{sha}.jpg").write_bytes(b"\xff\xd8" + bytes(200_000))  # a 200 KB original
        photo_rows.append(
            (n + 1, sha, f"photos/00/{sha}.jpg", "JPEG", 200_002, 4000, 3000, n, 0, 0, 0, 0,
             to_db_time(old_start), to_db_time(old_start))
        )  # fmt: skip
        links.append((n % patrols + 1, n + 1, "AgAD", 0, to_db_time(old_start)))
    await store.executemany(
        "INSERT INTO photos (id, sha256, path, format, size_bytes, width, height, phash, band0, band1, band2, band3,"
        " created_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        photo_rows,
    )
    await store.executemany(
        "INSERT INTO patrol_photos (patrol_id, photo_id, file_id, as_document, sent_at) VALUES (?, ?, ?, ?, ?)", links
    )


async def _probe_in_store(store: Store, stop: asyncio.Event, waits: list[float]) -> None:
    """The bot's own writes through the Store, every PROBE_EVERY_S: how long each waits."""
    n = 0
    while not stop.is_set():
        started = time.perf_counter()
        await store.meta.set("retention_probe", str(n))
        waits.append(time.perf_counter() - started)
        n += 1
        await asyncio.sleep(PROBE_EVERY_S)


def _probe_other_connection(path: Path, stop: threading.Event, waits: list[float]) -> None:
    """Another process's writes (its own connection, as `riverbot prune` beside the running bot)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    n = 0
    while not stop.is_set():
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO meta (key, value, updated_at) VALUES ('probe2', ?, '')", (str(n),))
        conn.execute("COMMIT")
        waits.append(time.perf_counter() - started)
        n += 1
        time.sleep(PROBE_EVERY_S)
    conn.close()


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms, longest {max(values) * 1000:.0f} ms"


async def main(argv: Sequence[str]) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks retention")
    parser.add_argument("--patrols", type=int, default=1000, help="old patrols (as many recent ones stay)")
    parser.add_argument("--points", type=int, default=200, help="track points per patrol")
    parser.add_argument("--photos", type=int, default=2000, help="photo originals of the old patrols")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="riverbot-retention-") as temporary:
        data_dir = Path(temporary)
        settings = load_settings(env_file=None, data_dir=data_dir, retention_years=3)
        async with await Store.open(settings.database, synchronous="NORMAL") as store:
            await _fill(store, data_dir, patrols=args.patrols, points=args.points, photos=args.photos)
        async with await Store.open(settings.database) as store:
            service = RetentionService(store, settings)
            plan = await service.plan(datetime.now(UTC))
            stop, stop_thread = asyncio.Event(), threading.Event()
            own: list[float] = []
            other: list[float] = []
            probe = asyncio.create_task(_probe_in_store(store, stop, own))
            thread = threading.Thread(target=_probe_other_connection, args=(settings.database_path, stop_thread, other))
            thread.start()
            started = time.perf_counter()
            pruned = await service.prune(datetime.now(UTC))
            seconds = time.perf_counter() - started
            stop.set()
            stop_thread.set()
            await probe
            await asyncio.to_thread(thread.join)
            left = await store.fetchval("SELECT count(*) FROM patrol_points")
    assert (pruned.points, pruned.photos) == (plan.points, plan.photos), (pruned, plan)
    assert left == args.patrols * args.points  # the recent patrols' points, all of them
    longest = max(*own, *other)
    ok = longest <= TARGET_LONGEST_WAIT_S
    print(
        f"retention: pruned {pruned.points:,} points of {pruned.patrols:,} patrols and {pruned.photos:,} photos"
        f" ({pruned.photo_bytes / 1e6:.0f} MB) in {seconds:.1f} s ({pruned.points / seconds:,.0f} points/s)\n"
        f"  a write through the bot's Store meanwhile: {_ms(own)} ({len(own)} writes)\n"
        f"  a write from another connection meanwhile: {_ms(other)} ({len(other)} writes)\n"
        f"  target: no write waits more than {TARGET_LONGEST_WAIT_S:.0f} s: {'PASS' if ok else 'FAIL'}"
    )
    return ok


if __name__ == "__main__":
    import sys

    raise SystemExit(0 if asyncio.run(main(sys.argv[1:])) else 1)
