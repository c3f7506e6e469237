"""The map renderer: projection, zoom fit, scale bar, GCJ-02, the basemap hook, and the pixels it draws."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from bot import geo, maps

LAT, WEST, EAST = 32.5, 120.40, 120.43


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    return sum(abs(a - b) for a, b in zip(pixel[:3], colour, strict=True)) <= tolerance


def has_colour(image: Image.Image, xy: tuple[float, float], colour: tuple[int, int, int], radius: int = 3) -> bool:
    x0, y0 = round(xy[0]), round(xy[1])
    return any(
        near(image.getpixel((x, y)), colour)  # type: ignore[arg-type]
        for x in range(x0 - radius, x0 + radius + 1)
        for y in range(y0 - radius, y0 + radius + 1)
        if 0 <= x < image.width and 0 <= y < image.height
    )


def test_world_pixels_follow_the_slippy_map_convention() -> None:
    assert maps.world_xy((0.0, 0.0), 0) == pytest.approx((128.0, 128.0))
    assert maps.world_xy((0.0, 180.0), 1) == pytest.approx((512.0, 256.0))
    # Tile numbers at zoom 15 for a point in Jiangsu, as every tile server counts them.
    x, y = maps.world_xy((32.5, 120.4), 15)
    n = 2**15
    tile_x = math.floor((120.4 + 180) / 360 * n)
    lat = math.radians(32.5)
    tile_y = math.floor((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * n)
    assert (math.floor(x / 256), math.floor(y / 256)) == (tile_x, tile_y)
    # North is up: a point further north is higher on the picture.
    assert maps.world_xy((33.0, 120.4), 10)[1] < maps.world_xy((32.0, 120.4), 10)[1]


def test_the_fit_is_an_integer_zoom_and_a_scale_below_two_that_fills_the_free_area() -> None:
    box = (LAT, WEST, LAT + 0.01, EAST)
    pad = maps.Padding(100, 50, 150, 50)
    view = maps.fit(box, 1080, 1080, pad)
    assert isinstance(view.zoom, int) and 1 <= view.scale < 2
    (x0, y1), (x1, y0) = view.project((box[0], box[1])), view.project((box[2], box[3]))
    assert x0 >= 50 - 1e-6 and x1 <= 1080 - 50 + 1e-6 and y0 >= 100 - 1e-6 and y1 <= 1080 - 150 + 1e-6
    assert x1 - x0 == pytest.approx(1080 - 100, abs=1e-6)  # the wide box fills the width
    # Double the ground: one zoom level less, the same scale.
    wider = maps.fit((LAT, WEST, LAT + 0.01, WEST + 2 * (EAST - WEST)), 1080, 1080, pad)
    assert wider.zoom == view.zoom - 1 or wider.scale == pytest.approx(view.scale / 2 * 2, rel=0.05)
    assert maps.fit((LAT, WEST, LAT, WEST)).zoom <= maps.MAX_ZOOM  # a single point: not infinitely close


def test_the_scale_bar_is_a_round_length_that_fits() -> None:
    assert maps.scale_bar(2.0, 260) == (500, 250)
    assert maps.scale_bar(10.0, 260) == (2000, 200)
    metres, pixels = maps.scale_bar(3.3, 260)
    assert metres == 500 and pixels == pytest.approx(500 / 3.3)
    view = maps.fit((LAT, WEST, LAT, EAST), 1080, 720)
    # The metres per pixel agree with the ground: the reach is 2.8 km across the drawn pixels.
    (xa, _), (xb, _) = view.project((LAT, WEST)), view.project((LAT, EAST))
    ground = geo.haversine_m((LAT, WEST), (LAT, EAST))
    assert (xb - xa) * view.metres_per_pixel(LAT) == pytest.approx(ground, rel=0.01)


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [
        # Published reference pairs (coordtransform, used by many Chinese GIS libraries).
        ((39.915, 116.404), (39.91640428150164, 116.41024449916938)),
        ((30.6107779, 121.0917077), (30.608604331756705, 121.09626935575027)),
    ],
)
def test_gcj02_matches_the_reference_pairs(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    lat, lon = maps.wgs84_to_gcj02(*wgs)
    assert lat == pytest.approx(gcj[0], abs=1e-6) and lon == pytest.approx(gcj[1], abs=1e-6)  # 0.1 m


def test_gcj02_is_the_identity_outside_china() -> None:
    assert maps.wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)
    assert maps.wgs84_to_gcj02(35.68, 139.76) == (35.68, 139.76)  # Tokyo


def test_coverage_counts_the_share_of_the_reach_walked() -> None:
    reach = [[(LAT, WEST), (LAT, EAST)]]
    assert geo.coverage(reach, []) == 0.0
    assert geo.coverage([], [(LAT, WEST)]) is None
    # Walked the western half, 30 m off the line: about half covered.
    half = [(LAT + 0.00027, WEST + i * (EAST - WEST) / 100) for i in range(51)]
    assert geo.coverage(reach, half) == pytest.approx(0.5, abs=0.04)
    # The whole length: all of it; 200 m off the line: none of it.
    whole = [(LAT, WEST + i * (EAST - WEST) / 20) for i in range(21)]
    assert geo.coverage(reach, whole) == 1.0
    assert geo.coverage(reach, [(LAT + 0.0018, p[1]) for p in whole]) == 0.0
    # Two points at the ends, no walk between them: a straight segment between them still counts (a sparse
    # track of single locations), as the track is drawn.
    assert geo.coverage(reach, [(LAT, WEST), (LAT, EAST)]) == 1.0
    # A single point covers 100 m of a 2.8 km reach.
    assert geo.coverage(reach, [(LAT, WEST + 0.015)]) == pytest.approx(100 / 2800, abs=0.01)


def _scene(**changes: object) -> maps.Scene:
    reach = [(LAT, WEST), (LAT, EAST)]
    track = [(LAT, WEST + i * 0.0003) for i in range(40)]
    scene = maps.Scene(
        title="丁堡河（城东段）",
        subtitle="2026-12-02 08:00–08:42",
        strokes=[maps.Stroke(reach, maps.WATER, 14, maps.WATER_HALO), maps.Stroke(track, maps.TRACK, 10)],
        marks=[maps.Mark((LAT, 120.425), maps.PROBLEM, 16)],
        legend=[maps.LegendItem(maps.WATER, "河段", "line"), maps.LegendItem(maps.PROBLEM, "问题")],
        distance=lambda m: f"{m:g} m",
    )
    return maps.Scene(**{**{f: getattr(scene, f) for f in scene.__dataclass_fields__}, **changes})


async def test_the_picture_shows_the_track_the_reach_and_the_pin_where_they_are() -> None:
    scene = _scene()
    picture = await maps.draw(scene)
    image = Image.open(io.BytesIO(picture.jpeg)).convert("RGB")
    view = picture.viewport
    assert image.size == (view.width, view.height) == (1080, view.height)
    assert view == maps.viewport(scene)
    for lon in (WEST + 0.002, WEST + 0.006, WEST + 0.010):  # walked: the track's colour on the reach
        assert has_colour(image, view.project((LAT, lon)), maps.TRACK)
    assert has_colour(image, view.project((LAT, 120.420)), maps.WATER)  # not walked: water blue
    assert not has_colour(image, view.project((LAT, 120.420)), maps.TRACK, radius=6)
    assert has_colour(image, view.project((LAT, 120.425)), maps.PROBLEM, radius=1)
    assert has_colour(image, view.project((LAT + 0.004, 120.425)), maps.LAND, radius=0)


class FakeTiles:
    """A basemap of one colour, noting what it was asked for."""

    def __init__(self, *, gcj02: bool, colour: tuple[int, int, int] = (200, 230, 200)) -> None:
        self.gcj02 = gcj02
        self.attribution = "© Test tiles"
        self.colour = colour
        self.asked: list[tuple[int, float, float, int, int]] = []

    async def basemap(self, zoom: int, left: float, top: float, width: int, height: int) -> Image.Image | None:
        self.asked.append((zoom, left, top, width, height))
        return Image.new("RGB", (width, height), self.colour)


async def test_a_basemap_goes_under_the_layers_with_its_attribution() -> None:
    tiles = FakeTiles(gcj02=False)
    picture = await maps.draw(_scene(), tiles)
    view = picture.viewport
    assert tiles.asked == [
        (view.zoom, view.left, view.top, math.ceil(view.width / view.scale), math.ceil(view.height / view.scale))
    ]
    image = Image.open(io.BytesIO(picture.jpeg)).convert("RGB")
    assert has_colour(image, view.project((LAT + 0.004, 120.425)), tiles.colour, radius=0)
    assert has_colour(image, view.project((LAT, WEST + 0.002)), maps.TRACK)
    # The attribution is written at the right above the legend band: dark ink where the plain picture has none.
    plain = Image.open(io.BytesIO((await maps.draw(_scene())).jpeg)).convert("RGB")
    band = view.height - len(maps.legend_rows(_scene())) * maps.LEGEND_ROW - 24
    corner = (view.width - 200, band - 36, view.width - 12, band - 8)
    assert image.crop(corner).getextrema() != plain.crop(corner).getextrema()


async def test_gcj02_tiles_shift_every_point_before_projecting() -> None:
    tiles = FakeTiles(gcj02=True)
    picture = await maps.draw(_scene(), tiles)
    assert picture.gcj02
    image = Image.open(io.BytesIO(picture.jpeg)).convert("RGB")
    view = picture.viewport
    shifted = maps.wgs84_to_gcj02(LAT, 120.425)
    assert view == maps.viewport(_scene(), gcj02=True)
    assert has_colour(image, view.project(shifted), maps.PROBLEM, radius=1)
    # About 500 m off in this part of China: the unshifted spot is well away from the pin.
    gap = math.dist(view.project(shifted), view.project((LAT, 120.425)))
    assert gap * view.metres_per_pixel(LAT) > 300


async def test_a_basemap_that_fails_leaves_a_plain_map() -> None:
    class Broken(FakeTiles):
        async def basemap(self, zoom: int, left: float, top: float, width: int, height: int) -> Image.Image | None:
            raise OSError("offline")

    picture = await maps.draw(_scene(), Broken(gcj02=False))
    image = Image.open(io.BytesIO(picture.jpeg)).convert("RGB")
    assert has_colour(image, picture.viewport.project((LAT + 0.004, 120.425)), maps.LAND, radius=0)


async def test_the_legend_is_drawn_in_the_bottom_band() -> None:
    picture = await maps.draw(_scene())
    image = Image.open(io.BytesIO(picture.jpeg)).convert("RGB")
    # The first legend item, a short line of water blue, sits at the left of the bottom band.
    band = image.crop((32, image.height - maps.LEGEND_ROW - 24, 32 + 50, image.height))
    assert any(near(band.getpixel((x, y)), maps.WATER) for x in range(band.width) for y in range(band.height))  # type: ignore[arg-type]
