"""The tile source (issue 15): a phone-size basemap fetched cold, then drawn again from the disk cache.

`python -m benchmarks tiles [--runs N]`

A stand-in tile server on loopback (sandbox/tiles.py) serves the tiles, so the figure is the bot's own cost
(requests, decoding, stitching, the cache), not a far server's. The cold run starts from an empty cache; each
warm run uses a new TileSource on the same cache folder, as after a restart. Target: a warm run makes no network
call (the issue's "with tiles, a cache hit costs no network call"); the cold/warm ratio is printed for
information.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.tiles import TILE_SIZE, TileCache, TileSource
from sandbox.tiles import TileServer

# A map as the maps are drawn for a phone (twice 390 px for a sharp picture), over the sample county.
WIDTH, HEIGHT, ZOOM = 780, 780, 15
CENTRE = (32.55, 120.49)  # lat, lon


def _pixel(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Global Web Mercator pixel coordinates at `zoom`, 256-px tiles."""
    scale = TILE_SIZE * (1 << zoom)
    x = (lon + 180.0) / 360.0 * scale
    sin = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * scale
    return x, y


async def main(argv: Sequence[str]) -> bool:
    parser = argparse.ArgumentParser(prog="python -m benchmarks tiles")
    parser.add_argument("--runs", type=int, default=20, help="warm runs to time (default 20)")
    args = parser.parse_args(argv)
    x, y = _pixel(*CENTRE, ZOOM)
    window = (ZOOM, x - WIDTH / 2, y - HEIGHT / 2, WIDTH, HEIGHT)
    print(f"tiles: a {WIDTH}×{HEIGHT} basemap at zoom {ZOOM} from a stand-in tile server on loopback")
    with tempfile.TemporaryDirectory(prefix="riverbot-tiles-") as folder, TileServer() as server:
        cache = TileCache(Path(folder), max_age_s=86400.0, max_bytes=100_000_000)
        url = f"{server.url}/ok/{{z}}/{{x}}/{{y}}.png"
        cold_source = TileSource(url, cache=cache)
        started = time.perf_counter()
        cold = await cold_source.basemap(*window)
        cold_s = time.perf_counter() - started
        warm_times: list[float] = []
        warm_fetches = 0
        for _ in range(max(1, args.runs)):
            source = TileSource(url, cache=cache)  # a fresh source: the disk cache, not memory, must serve
            started = time.perf_counter()
            warm = await source.basemap(*window)
            warm_times.append(time.perf_counter() - started)
            warm_fetches += source.fetches
            if warm is None or cold is None or warm.tobytes() != cold.tobytes():
                print("  FAIL: the warm basemap differs from the cold one")
                return False
    warm_s = statistics.median(warm_times)
    print(f"  cold: {cold_s * 1000:.1f} ms, {cold_source.fetches} tiles fetched")
    print(f"  warm: median {warm_s * 1000:.1f} ms over {len(warm_times)} runs, {warm_fetches} tiles fetched")
    ok = warm_fetches == 0 and cold_source.fetches > 0
    print(f"  cold/warm: {cold_s / warm_s:.1f}×; network calls on the warm runs: {warm_fetches} "
          f"({'PASS' if ok else 'FAIL'}: must be 0)")
    return ok
