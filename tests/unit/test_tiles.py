"""The optional tile source: stitching, the disk cache, failures that never reach the map, GCJ-02."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, masked_key
from bot.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from bot.geo import haversine_m
from bot.tiles import EDGE, TileCache, TileSource, tile_source
from sandbox.tiles import TileServer, tile_colour


@pytest.fixture
def server() -> Iterator[TileServer]:
    with TileServer() as running:
        yield running


def source(server: TileServer, tmp_path: Path, mode: str = "ok", **cache: float) -> TileSource:
    limits = {"max_age_s": 86400.0, "max_bytes": 10_000_000, **cache}
    return TileSource(
        f"{server.url}/{mode}/{{z}}/{{x}}/{{y}}.png",
        cache=TileCache(tmp_path / "tiles", max_age_s=limits["max_age_s"], max_bytes=int(limits["max_bytes"])),
        attribution="© test",
    )


def cached_tiles(tmp_path: Path) -> list[str]:
    return sorted("/".join(p.parts[-3:]) for p in (tmp_path / "tiles").rglob("*.tile"))


async def test_tiles_are_stitched_where_the_window_falls(server: TileServer, tmp_path: Path) -> None:
    tiles = source(server, tmp_path)
    picture = await tiles.basemap(3, 100.0, 50.0, 390, 300)
    assert picture is not None and picture.size == (390, 300) and picture.mode == "RGB"
    # Global pixel 256 is the first of tile 1: at 256 - 100 = 156 across and 256 - 50 = 206 down.
    assert picture.getpixel((0, 0)) == tile_colour(3, 0, 0)
    assert picture.getpixel((155, 0)) == tile_colour(3, 0, 0)
    assert picture.getpixel((156, 0)) == tile_colour(3, 1, 0)
    assert picture.getpixel((0, 205)) == tile_colour(3, 0, 0)
    assert picture.getpixel((0, 206)) == tile_colour(3, 0, 1)
    assert picture.getpixel((389, 299)) == tile_colour(3, 1, 1)
    assert tiles.fetches == 4 and server.requests == 4


async def test_a_cache_hit_costs_no_network_call(server: TileServer, tmp_path: Path) -> None:
    first = source(server, tmp_path)
    cold = await first.basemap(14, 3_420_000.5, 1_670_000.25, 390, 390)
    assert cold is not None and first.fetches == 4
    warm = await first.basemap(14, 3_420_000.5, 1_670_000.25, 390, 390)
    assert warm is not None and first.fetches == 4
    # On disk, not in memory: a new source (the bot restarted) still asks the server nothing.
    again = source(server, tmp_path)
    restarted = await again.basemap(14, 3_420_000.5, 1_670_000.25, 390, 390)
    assert restarted is not None and again.fetches == 0 and server.requests == 4
    assert restarted.tobytes() == cold.tobytes()


async def test_the_world_wraps_east_west_and_ends_north_south(server: TileServer, tmp_path: Path) -> None:
    tiles = source(server, tmp_path)
    picture = await tiles.basemap(2, -100.0, -50.0, 200, 100)
    assert picture is not None
    assert picture.getpixel((0, 60)) == tile_colour(2, 3, 0)  # x = -1 is the last column
    assert picture.getpixel((150, 60)) == tile_colour(2, 0, 0)
    assert picture.getpixel((10, 10)) == EDGE  # north of row 0: nothing to fetch
    assert sorted(server.paths) == ["/ok/2/0/0.png", "/ok/2/3/0.png"]


@pytest.mark.parametrize("mode", ["status/404", "status/500", "garbage"])
async def test_a_bad_tile_gives_no_basemap_and_is_not_cached(
    server: TileServer, tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    tiles = source(server, tmp_path, mode)
    with caplog.at_level(logging.DEBUG, logger="bot.tiles"):
        assert await tiles.basemap(5, 1000.0, 1000.0, 390, 300) is None
        assert await tiles.basemap(5, 1000.0, 1000.0, 390, 300) is None
    assert cached_tiles(tmp_path) == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()  # logged once, not per map
    assert tiles.fetches == server.requests > 0


async def test_missing_tiles_spoil_the_basemap_but_not_the_good_ones(server: TileServer, tmp_path: Path) -> None:
    tiles = source(server, tmp_path, "holes")
    assert await tiles.basemap(4, 0.0, 0.0, 512, 256) is None
    assert cached_tiles(tmp_path)[-1:] == ["4/0/0.tile"] and len(cached_tiles(tmp_path)) == 1


async def test_an_unreachable_server_gives_no_basemap(tmp_path: Path) -> None:
    with TileServer() as gone:
        url = gone.url
    tiles = TileSource(f"{url}/ok/{{z}}/{{x}}/{{y}}.png", cache=TileCache(tmp_path, 86400.0, 10**7), timeout_s=2.0)
    assert await tiles.basemap(5, 0.0, 0.0, 100, 100) is None


async def test_a_stale_tile_is_fetched_again_but_serves_when_the_server_fails(
    server: TileServer, tmp_path: Path
) -> None:
    fresh = source(server, tmp_path)
    assert await fresh.basemap(6, 10.0, 10.0, 100, 100) is not None
    stale = source(server, tmp_path, max_age_s=0.0)
    assert await stale.basemap(6, 10.0, 10.0, 100, 100) is not None and stale.fetches == 1
    # The same cache folder, a server that now fails: the old tile is better than none.
    failing = source(server, tmp_path, max_age_s=0.0)
    failing.url = f"{server.url}/status/503/{{z}}/{{x}}/{{y}}.png"
    picture = await failing.basemap(6, 10.0, 10.0, 100, 100)
    assert picture is not None and picture.getpixel((0, 0)) == tile_colour(6, 0, 0)


async def test_the_cache_keeps_to_its_size(server: TileServer, tmp_path: Path) -> None:
    tiles = source(server, tmp_path, max_bytes=3000)
    for step in range(6):
        assert await tiles.basemap(8, step * 256.0, 0.0, 256, 256) is not None
    files = list((tmp_path / "tiles").rglob("*.tile"))
    assert 0 < len(files) < 6 and sum(f.stat().st_size for f in files) <= 3000


def test_no_tile_source_unless_configured(tmp_path: Path) -> None:
    assert tile_source(load_settings(env_file=None, data_dir=tmp_path), tmp_path) is None
    assert tile_source(load_settings(env_file=None, data_dir=tmp_path, map_tiles_url="  "), tmp_path) is None
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path,
        map_tiles_url="https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}",
        map_tiles_crs="GCJ02",
        map_tiles_subdomains="1234",
        map_tiles_attribution="© 高德地图",
    )
    tiles = tile_source(settings, tmp_path)
    assert tiles is not None and tiles.gcj02 and tiles.attribution == "© 高德地图"
    assert tiles.tile_url(3, 5, 6) == "https://webrd04.is.autonavi.com/appmaptile?style=8&x=5&y=6&z=3"
    assert tiles.cache.root.parent == tmp_path / "tiles"
    osm = tile_source(load_settings(env_file=None, map_tiles_url="https://tile.example.org/{z}/{x}/{y}.png"), tmp_path)
    assert osm is not None and not osm.gcj02 and "OpenStreetMap" in osm.attribution


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAP_TILES_URL", "https://tile.example.org/{z}/{x}.png"),
        ("MAP_TILES_URL", "tile.example.org/{z}/{x}/{y}.png"),
        ("MAP_TILES_CRS", "bd09"),
        ("MAP_TILES_CACHE_DAYS", "0"),
    ],
)
def test_bad_tile_settings_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert caught.value.key == f"config.invalid.{name.lower()}"


# Reference pairs from the widely used coordtransform implementations of the published formula.
@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [
        ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # Beijing, Tiananmen
    ],
)
def test_wgs84_to_gcj02_matches_the_reference(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-9) and lat == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize("wgs", [(116.404, 39.915), (120.49, 32.55), (113.26, 23.13), (91.1, 29.65), (126.6, 45.7)])
def test_the_shift_is_hundreds_of_metres_and_the_inverse_undoes_it(wgs: tuple[float, float]) -> None:
    gcj = wgs84_to_gcj02(*wgs)
    shift = haversine_m((wgs[1], wgs[0]), (gcj[1], gcj[0]))
    assert 100 < shift < 1000
    back = gcj02_to_wgs84(*gcj)
    assert haversine_m((back[1], back[0]), (wgs[1], wgs[0])) < 0.01  # a centimetre


def test_outside_china_nothing_moves() -> None:
    for point in [(-0.1276, 51.5072), (139.69, 35.69), (151.2, -33.87)]:
        assert wgs84_to_gcj02(*point) == point and gcj02_to_wgs84(*point) == point


async def test_a_key_in_the_url_is_never_logged_nor_shown(
    server: TileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiles = TileSource(
        f"{server.url}/status/403/{{z}}/{{x}}/{{y}}.png?tk=SECRETKEY&style=1",
        cache=TileCache(tmp_path, 86400.0, 10**7),
    )
    with caplog.at_level(logging.DEBUG, logger="bot.tiles"):
        assert await tiles.basemap(3, 0.0, 0.0, 100, 100) is None
    assert caplog.records and "SECRETKEY" not in caplog.text and "tk=****&style=1" in caplog.text
    assert masked_key("https://t{s}.example.cn/w?A=1&TK=abc#x") == "https://t{s}.example.cn/w?A=1&TK=****#x"
    monkeypatch.setenv("MAP_TILES_URL", "https://example.cn/{z}/{x}.png?tk=SECRETKEY")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert "SECRETKEY" not in str(caught.value.params)


async def test_a_slow_server_gives_a_map_without_basemap_within_the_deadline(
    server: TileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tiles that take 30 s each: the map goes out at the deadline without them. The bound below is far from both,
    # so that a busy machine cannot fail it; whether the requests reached the server before the deadline is up to
    # that machine too, so the source's own count of the fetches it began is what is checked.
    tiles = TileSource(
        f"{server.url}/slow/30/{{z}}/{{x}}/{{y}}.png", cache=TileCache(tmp_path, 86400.0, 10**7), deadline_s=0.5
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="bot.tiles"):
        assert await tiles.basemap(5, 1000.0, 1000.0, 390, 300) is None
    assert time.monotonic() - started < 15  # the deadline, not 30 s a tile
    asked = tiles.fetches
    assert asked > 0
    # Within the back-off the source is not asked again: the next map is drawn without a network call.
    assert await tiles.basemap(5, 1000.0, 1000.0, 390, 300) is None
    assert tiles.fetches == asked
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()


async def test_after_the_back_off_tiles_are_tried_again(server: TileServer, tmp_path: Path) -> None:
    tiles = source(server, tmp_path, "status/503")
    assert await tiles.basemap(5, 0.0, 0.0, 100, 100) is None
    asked = server.requests
    tiles.url = f"{server.url}/ok/{{z}}/{{x}}/{{y}}.png"
    assert await tiles.basemap(5, 0.0, 0.0, 100, 100) is None and server.requests == asked  # still backing off
    tiles._retry_at = 0.0  # the back-off has run out
    assert await tiles.basemap(5, 0.0, 0.0, 100, 100) is not None and server.requests > asked


async def test_the_cache_is_read_off_the_event_loop(
    server: TileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiles = source(server, tmp_path)
    assert await tiles.basemap(6, 10.0, 10.0, 100, 100) is not None
    loop_thread = threading.get_ident()
    seen: list[int] = []
    read = tiles._read

    def spy(zoom: int, x: int, y: int) -> object:
        seen.append(threading.get_ident())
        return read(zoom, x, y)

    monkeypatch.setattr(tiles, "_read", spy)
    assert await tiles.basemap(6, 10.0, 10.0, 100, 100) is not None
    assert seen and loop_thread not in seen
