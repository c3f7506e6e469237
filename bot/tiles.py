"""An optional basemap under the bot's maps: web tiles (OpenStreetMap, Tianditu with a key, Amap…), cached on disk.

The bot draws its maps from the registry's geometry alone; tiles only add streets and villages underneath. So a
tile source never fails a map, nor holds one up: any network error or bad tile, or tiles that do not all arrive
within `deadline_s`, make `basemap` answer None (logged once until tiles work again) and the map is drawn without
it; after a failure the source is left alone for `backoff_s`, so the maps in between are drawn at once. Disk
reads and writes and the decoding of tiles run in worker threads, never on the event loop every chat shares.
Tiles are kept under DATA_DIR/tiles, one folder per URL template, so that a map drawn again, or a neighbouring
one, costs no network call; `fetches` counts the calls made, which the tests and the benchmark read.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
from PIL import Image, UnidentifiedImageError

from bot.config import Settings, masked_key

log = logging.getLogger(__name__)

TILE_SIZE = 256
# Web tiles are a few kB to tens of kB; one larger than this is not a tile.
MAX_TILE_BYTES = 2_000_000
TIMEOUT_S = 5.0
# The whole basemap, every tile included: a finish card waits for its map, so a slow source must not stall it.
DEADLINE_S = 4.0
# After a failure, tiles are not asked for again this long: each map would otherwise wait out the deadline.
BACKOFF_S = 300.0
CONCURRENT_FETCHES = 4
# The blank where the world ends (north of the last row of tiles): a light grey, like the tile servers' own.
EDGE = (242, 239, 233)


def _user_agent() -> str:
    # OpenStreetMap's tile policy asks every application to name itself; an anonymous client is blocked.
    try:
        version = metadata.version("riverbot")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"riverbot/{version} (river chief patrol bot; python-httpx)"


class TileError(Exception):
    """One tile could not be had: the network, the server's answer, or bytes that are no image."""


@dataclass(frozen=True, slots=True)
class TileCache:
    """Where tiles are kept, how long they stay fresh and how much room they may take."""

    root: Path
    max_age_s: float
    max_bytes: int


class TileSource:
    """Tiles from one URL template; `gcj02` says whether they are drawn in GCJ-02 (the caller shifts to match)."""

    def __init__(
        self,
        url: str,
        *,
        cache: TileCache,
        attribution: str = "",
        gcj02: bool = False,
        subdomains: str = "abc",
        timeout_s: float = TIMEOUT_S,
        concurrency: int = CONCURRENT_FETCHES,
        deadline_s: float = DEADLINE_S,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        self.url = url
        self.attribution = attribution
        self.gcj02 = gcj02
        self.subdomains = subdomains or "a"
        self.timeout_s = timeout_s
        self.concurrency = max(1, concurrency)
        self.deadline_s = deadline_s
        self.backoff_s = backoff_s
        # A folder per template: another server's (or another key's) tiles are never mixed in. The hash keeps a
        # key in the URL out of the path.
        self.cache = TileCache(
            cache.root / hashlib.sha256(url.encode()).hexdigest()[:12], cache.max_age_s, cache.max_bytes
        )
        self.fetches = 0  # requests sent over the network, for tests and the benchmark
        self._failing = False  # a failure was logged; quiet until tiles work again
        self._cache_bytes: int | None = None  # the cache's size, counted once, then kept up to date
        self._cache_lock = threading.Lock()  # tiles are written from several worker threads at once
        self._retry_at = 0.0  # time.monotonic() before which tiles are not asked for (after a failure)

    # -- the caller's side ---------------------------------------------------------------------------------

    async def basemap(self, zoom: int, left: float, top: float, width: int, height: int) -> Image.Image | None:
        """The RGB picture of the window (global Web Mercator pixels at `zoom`, 256-px tiles), or None."""
        if width <= 0 or height <= 0 or not 0 <= zoom <= 22:
            return None
        x0, y0 = math.floor(left / TILE_SIZE), math.floor(top / TILE_SIZE)
        x1, y1 = math.floor((left + width - 1) / TILE_SIZE), math.floor((top + height - 1) / TILE_SIZE)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 64:  # a window no phone map needs; refuse rather than fetch hundreds
            return None
        if time.monotonic() < self._retry_at:
            log.debug("map tiles skipped: backing off after a failure")
            return None
        count = 1 << zoom
        wanted = [(x, y) for y in range(max(y0, 0), min(y1, count - 1) + 1) for x in range(x0, x1 + 1)]
        try:
            tiles = await asyncio.wait_for(self._tiles(zoom, [(x % count, y) for x, y in wanted]), self.deadline_s)
        except TileError as exc:
            self._failed(str(exc))
            return None
        except TimeoutError:
            self._failed(f"no basemap within {self.deadline_s:g} s")
            return None
        if self._failing:
            log.info("map tiles from %s work again", self._shown_url())
            self._failing = False
        return await asyncio.to_thread(_stitch, list(zip(wanted, tiles, strict=True)), left, top, (width, height))

    # -- tiles ------------------------------------------------------------------------------------------------

    async def _tiles(self, zoom: int, wanted: list[tuple[int, int]]) -> list[Image.Image]:
        found: dict[tuple[int, int], Image.Image] = {}
        stale: dict[tuple[int, int], Image.Image] = {}
        missing: list[tuple[int, int]] = []
        unique = list(dict.fromkeys(wanted))
        on_disk = await asyncio.to_thread(lambda: [self._read(zoom, *xy) for xy in unique])
        for xy, cached in zip(unique, on_disk, strict=True):
            if cached is not None and cached[1]:
                found[xy] = cached[0]
            else:
                if cached is not None:
                    stale[xy] = cached[0]
                missing.append(xy)
        if missing:
            try:
                found.update(await self._fetch_all(zoom, missing))
            except TileError:
                # An old tile beats none: streets seldom move. Only when every missing one is at hand.
                if not all(xy in stale for xy in missing):
                    raise
                found.update(stale)
        return [found[xy] for xy in wanted]

    async def _fetch_all(self, zoom: int, missing: list[tuple[int, int]]) -> dict[tuple[int, int], Image.Image]:
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        headers = {"User-Agent": _user_agent()}
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits, headers=headers) as client:

            async def one(xy: tuple[int, int]) -> tuple[tuple[int, int], Image.Image]:
                async with gate:
                    return xy, await self._fetch(client, zoom, *xy)

            results = await asyncio.gather(*(one(xy) for xy in missing), return_exceptions=True)
        tiles: dict[tuple[int, int], Image.Image] = {}
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, TileError):
                    raise result
                raise TileError(repr(result)) from result
            tiles[result[0]] = result[1]
        return tiles

    def tile_url(self, zoom: int, x: int, y: int) -> str:
        sub = self.subdomains[(x + y) % len(self.subdomains)]
        return self.url.replace("{s}", sub).replace("{z}", str(zoom)).replace("{x}", str(x)).replace("{y}", str(y))

    async def _fetch(self, client: httpx.AsyncClient, zoom: int, x: int, y: int) -> Image.Image:
        self.fetches += 1
        try:
            response = await client.get(self.tile_url(zoom, x, y))
        except httpx.HTTPError as exc:
            raise TileError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise TileError(f"HTTP {response.status_code} for tile {zoom}/{x}/{y}")
        data = response.content
        tile = await asyncio.to_thread(self._keep, zoom, x, y, data)
        if tile is None:
            raise TileError(f"tile {zoom}/{x}/{y} is not an image ({len(data)} bytes)")
        return tile

    def _keep(self, zoom: int, x: int, y: int, data: bytes) -> Image.Image | None:
        """The fetched tile decoded, and cached when it is one (in a worker thread)."""
        tile = _decode(data)
        if tile is not None:
            self._write(zoom, x, y, data)
        return tile

    # -- the disk cache ---------------------------------------------------------------------------------------

    def _path(self, zoom: int, x: int, y: int) -> Path:
        return self.cache.root / str(zoom) / str(x) / f"{y}.tile"

    def _read(self, zoom: int, x: int, y: int) -> tuple[Image.Image, bool] | None:
        """(the cached tile, whether it is fresh), or None when there is none usable."""
        path = self._path(zoom, x, y)
        try:
            data = path.read_bytes()
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
        tile = _decode(data)
        if tile is None:  # damaged on disk: fetch it again
            path.unlink(missing_ok=True)
            return None
        return tile, age <= self.cache.max_age_s

    def _write(self, zoom: int, x: int, y: int, data: bytes) -> None:
        path = self._path(zoom, x, y)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f"{path.name}.{os.getpid()}.part")
            temporary.write_bytes(data)
            temporary.replace(path)  # whole or not at all: a reader never sees half a tile
        except OSError as exc:
            log.warning("map tile cache %s not written: %s", self.cache.root, exc)
            return
        with self._cache_lock:
            if self._cache_bytes is None:
                self._cache_bytes = self._cache_size()
            else:
                self._cache_bytes += len(data)
            if self._cache_bytes > self.cache.max_bytes:
                self._trim()

    def _cached_files(self) -> list[tuple[float, int, Path]]:
        files = []
        for path in self.cache.root.rglob("*.tile"):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        return files

    def _cache_size(self) -> int:
        return sum(size for _, size, _ in self._cached_files())

    def _trim(self) -> None:
        """Remove the oldest tiles until the cache is at 90% of its limit (room for the next map's tiles)."""
        files = sorted(self._cached_files())
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.cache.max_bytes * 0.9:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._cache_bytes = total

    # -- logging ---------------------------------------------------------------------------------------------

    def _shown_url(self) -> str:
        # Keys ride in the query string (Tianditu's tk=…): the log never shows them.
        return masked_key(self.url)

    def _failed(self, reason: str) -> None:
        self._retry_at = time.monotonic() + self.backoff_s
        if not self._failing:
            log.warning(
                "map tiles from %s unavailable, maps drawn without them for the next %g s: %s",
                self._shown_url(),
                self.backoff_s,
                reason,
            )
            self._failing = True
        else:
            log.debug("map tiles still unavailable: %s", reason)


def _stitch(
    tiles: list[tuple[tuple[int, int], Image.Image]], left: float, top: float, size: tuple[int, int]
) -> Image.Image:
    picture = Image.new("RGB", size, EDGE)
    for (x, y), tile in tiles:
        picture.paste(tile, (round(x * TILE_SIZE - left), round(y * TILE_SIZE - top)))
    return picture


def _decode(data: bytes) -> Image.Image | None:
    """A tile's bytes as a 256-px RGB image, or None when they are not a (sane) image."""
    if not data or len(data) > MAX_TILE_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width > 4 * TILE_SIZE or image.height > 4 * TILE_SIZE:
                return None
            image.load()
            if image.mode in ("RGBA", "LA", "P", "PA"):
                background = Image.new("RGB", image.size, (255, 255, 255))
                rgba = image.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                tile = background
            else:
                tile = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    if tile.size != (TILE_SIZE, TILE_SIZE):  # "retina" 512-px tiles
        tile = tile.resize((TILE_SIZE, TILE_SIZE), Image.Resampling.LANCZOS)
    return tile


def tile_source(settings: Settings, data_dir: Path) -> TileSource | None:
    """The tile source MAP_TILES_URL names, cached under `data_dir`/tiles; None without one (the default)."""
    if not settings.map_tiles_url:
        return None
    cache = TileCache(
        data_dir / "tiles",
        max_age_s=settings.map_tiles_cache_days * 86400.0,
        max_bytes=settings.map_tiles_cache_mb * 1_000_000,
    )
    return TileSource(
        settings.map_tiles_url,
        cache=cache,
        attribution=settings.map_tiles_attribution,
        gcj02=settings.map_tiles_crs == "gcj02",
        subdomains=settings.map_tiles_subdomains,
    )
