"""Maps drawn by the bot: a reach's line, a patrol's track, problems as pins, in Web Mercator.

Pure Pillow, no Telegram, no store, no network: the caller passes a `Scene` with every word already in the
reader's language, and gets JPEG bytes. An optional basemap (`Basemap`, e.g. `bot.tiles.TileSource`) sits under
the layers; without one the map still reads on a plain land colour, since what matters is where the track went
along the river, not the streets around it.

The projection is the slippy-map one every tile server uses (256-pixel tiles, integer zoom), scaled by a factor
in [1, 2) so the picture is filled: a `Viewport` says which part of the world, at which zoom, the picture
shows, and is the contract with the tile source. Tiles in China (AMap, Tianditu's GCJ-02 layers) are drawn in
GCJ-02: with such tiles every WGS84 point is shifted before projecting, or the river would sit hundreds of
metres off the drawn one.

Sizes are for a phone: the picture is 1080 pixels wide and shown about 390 wide, so text is 28 to 40 pixels
and lines 8 to 14. CPU-bound: the async entry point runs the drawing in a thread.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from PIL import Image, ImageDraw

from bot import fonts, gcj02

log = logging.getLogger(__name__)

TILE_SIZE = 256
MAX_LAT = 85.05112878  # where Web Mercator ends
WIDTH = 1080
HEIGHT = 1080
MAX_ZOOM = 17  # a single point is drawn at this zoom (about 1 m a pixel), never closer
MIN_SPAN_M = 300.0  # a map never shows less ground than this across: a lone pin needs its surroundings

LatLon = tuple[float, float]  # (latitude, longitude), degrees
Colour = tuple[int, int, int]

# Colours: the land plain, the river blue, what a person did warm, problems red. The area map reuses the
# summary chart's green / orange / grey so the two pictures of one week agree.
LAND = (242, 239, 233)
GRID = (230, 226, 218)
WATER = (30, 136, 229)
WATER_HALO = (187, 222, 251)
TRACK = (255, 111, 0)
START = (46, 139, 87)
END = (33, 37, 41)
PHOTO = (142, 68, 173)
PROBLEM = (211, 32, 42)
OTHER_PROBLEM = (255, 179, 0)
MET = (46, 139, 87)
SHORT = (214, 95, 60)
NOT_REQUIRED = (158, 166, 175)
RUNNING = (120, 176, 226)  # a period still running: the chart's light blue, deeper to stand off the water halo
OPEN_PIN = (30, 136, 229)
OVERDUE_PIN = (183, 28, 28)
INK = (33, 37, 41)
MUTED = (90, 98, 106)
WHITE = (255, 255, 255)

PANEL_ALPHA = 215  # the header and legend bands: the map shows faintly through them
PANEL = tuple(round((255 * PANEL_ALPHA + c * (255 - PANEL_ALPHA)) / 255) for c in LAND)  # the same over land


# -- projection ---------------------------------------------------------------------------------------------


def world_xy(point: LatLon, zoom: int) -> tuple[float, float]:
    """Global pixel coordinates of `point` at `zoom` (256-pixel tiles; x east, y south)."""
    lat = max(-MAX_LAT, min(MAX_LAT, point[0]))
    size = TILE_SIZE * 2**zoom
    x = (point[1] + 180.0) / 360.0 * size
    sin = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * size
    return x, y


@dataclass(frozen=True, slots=True)
class Viewport:
    """The part of the world a picture shows: global pixels at integer `zoom` from (`left`, `top`), each drawn
    `scale` (1 to 2) picture pixels wide, over a picture of `width` x `height`."""

    zoom: int
    left: float
    top: float
    width: int
    height: int
    scale: float

    def project(self, point: LatLon) -> tuple[float, float]:
        """Where `point` (already in the tiles' datum) falls on the picture, in picture pixels."""
        x, y = world_xy(point, self.zoom)
        return (x - self.left) * self.scale, (y - self.top) * self.scale

    def projector(self) -> Callable[[float, float], tuple[float, float]]:
        """`project` as a function of (lat, lon) with the constants worked out once: a map projects thousands
        of points, and the calls and the clamping were a fifth of its time."""
        size = TILE_SIZE * 2**self.zoom
        scale = self.scale
        x_k = size / 360.0 * scale
        x_0 = (180.0 * size / 360.0 - self.left) * scale
        y_k = -size / (4 * math.pi) * scale
        y_0 = (0.5 * size - self.top) * scale
        sin, radians, log = math.sin, math.radians, math.log
        limit = math.sin(math.radians(MAX_LAT))

        def project(lat: float, lon: float) -> tuple[float, float]:
            s = min(limit, max(-limit, sin(radians(lat))))
            return lon * x_k + x_0, log((1 + s) / (1 - s)) * y_k + y_0

        return project

    def metres_per_pixel(self, lat: float) -> float:
        """Ground metres one picture pixel spans at latitude `lat`."""
        circumference = 2 * math.pi * 6_378_137.0
        return float(circumference * math.cos(math.radians(lat)) / (TILE_SIZE * 2**self.zoom) / self.scale)

    @property
    def tile_request(self) -> tuple[int, float, float, int, int]:
        """(zoom, left, top, width, height) of the basemap to ask for, in global pixels at `zoom`."""
        return (
            self.zoom,
            self.left,
            self.top,
            math.ceil(self.width / self.scale),
            math.ceil(self.height / self.scale),
        )

    @property
    def centre_lat(self) -> float:
        """The latitude at the middle of the picture."""
        size = TILE_SIZE * 2**self.zoom
        y = self.top + self.height / self.scale / 2
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / size))))


Box = tuple[float, float, float, float]  # (min_lat, min_lon, max_lat, max_lon)


def bounds(points: Iterable[LatLon]) -> Box | None:
    found = list(points)
    if not found:
        return None
    lats = [p[0] for p in found]
    lons = [p[1] for p in found]
    return min(lats), min(lons), max(lats), max(lons)


@dataclass(frozen=True, slots=True)
class Padding:
    """Picture pixels kept free of the fitted box on each side (the header, the legend, a margin)."""

    top: int = 60
    right: int = 60
    bottom: int = 60
    left: int = 60


def fit(box: Box, width: int = WIDTH, height: int = HEIGHT, padding: Padding | None = None) -> Viewport:
    """The viewport that shows `box` as large as fits inside the padding, centred there.

    The overall magnification f = 2^zoom * scale is what fits; the zoom is its integer part in powers of two
    and the scale the rest, in [1, 2): tiles are then drawn at most twice their size, never shrunk.
    """
    pad = padding or Padding()
    box = _widened(box)
    x0, y1 = world_xy((box[0], box[1]), 0)
    x1, y0 = world_xy((box[2], box[3]), 0)
    free_w = max(1, width - pad.left - pad.right)
    free_h = max(1, height - pad.top - pad.bottom)
    magnification = min(free_w / max(x1 - x0, 1e-12), free_h / max(y1 - y0, 1e-12))
    magnification = min(magnification, float(2**MAX_ZOOM))
    magnification = max(magnification, 1.0)
    zoom = min(MAX_ZOOM, math.floor(math.log2(magnification)))
    scale = magnification / 2**zoom
    if scale >= 2.0:  # float rounding at an exact power of two
        zoom, scale = zoom + 1, scale / 2
    scale = max(1.0, min(scale, 1.999999))
    # The box's centre lands at the centre of the free area.
    cx = (x0 + x1) / 2 * 2**zoom
    cy = (y0 + y1) / 2 * 2**zoom
    centre_x = pad.left + free_w / 2
    centre_y = pad.top + free_h / 2
    return Viewport(zoom, cx - centre_x / scale, cy - centre_y / scale, width, height, scale)


def _widened(box: Box) -> Box:
    """`box`, grown around its centre to at least MIN_SPAN_M across each way."""
    min_lat, min_lon, max_lat, max_lon = box
    mid_lat, mid_lon = (min_lat + max_lat) / 2, (min_lon + max_lon) / 2
    half_lat = MIN_SPAN_M / 2 / 111_194.9
    half_lon = half_lat / max(0.01, math.cos(math.radians(mid_lat)))
    return (
        min(min_lat, mid_lat - half_lat),
        min(min_lon, mid_lon - half_lon),
        max(max_lat, mid_lat + half_lat),
        max(max_lon, mid_lon + half_lon),
    )


def scale_bar(metres_per_pixel: float, longest_px: float) -> tuple[float, float]:
    """(metres, pixels) of a scale bar: the longest round length (1, 2 or 5 times a power of ten) that fits."""
    most = metres_per_pixel * longest_px
    power = 10 ** math.floor(math.log10(most))
    for step in (5, 2, 1):
        if step * power <= most:
            metres = step * power
            return metres, metres / metres_per_pixel
    return power, power / metres_per_pixel  # pragma: no cover - step 1 always fits


# -- GCJ-02 -------------------------------------------------------------------------------------------------


def wgs84_to_gcj02(lat: float, lon: float) -> LatLon:
    """WGS84 to GCJ-02 (the datum of Chinese web maps) in this module's (lat, lon) order; `bot.gcj02` has the
    formula and its inverse."""
    shifted_lon, shifted_lat = gcj02.wgs84_to_gcj02(lon, lat)
    return shifted_lat, shifted_lon


# -- what a map shows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stroke:
    """A line on the map: a reach, a track."""

    points: Sequence[LatLon]
    colour: Colour
    width: int
    halo: Colour | None = None  # drawn wider underneath, so a line reads on any background


@dataclass(frozen=True, slots=True)
class Mark:
    """A point on the map: a pin (a round marker with a white ring), a dot, with an optional label beside it."""

    point: LatLon
    colour: Colour
    radius: int = 12
    label: str = ""


LegendKind = Literal["line", "pin", "dot"]


@dataclass(frozen=True, slots=True)
class LegendItem:
    colour: Colour
    label: str
    kind: LegendKind = "pin"


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything one map shows, with every word already in the reader's language."""

    title: str
    subtitle: str
    strokes: Sequence[Stroke]
    marks: Sequence[Mark]
    legend: Sequence[LegendItem]
    distance: Callable[[float], str]  # metres as the reader reads them ("500 m", "1.0 km"), for the scale bar
    north: str = "N"
    badge: str = ""  # one big figure in the header's corner (the coverage)
    focus: Box | None = None  # what must be in view; None: everything drawn
    width: int = WIDTH
    height: int = 0  # 0: as the ground's shape needs (see `viewport`)
    empty: str = ""  # said in the middle when there is nothing to draw
    grid: bool = True

    def points(self) -> list[LatLon]:
        found = [p for stroke in self.strokes for p in stroke.points]
        return found + [mark.point for mark in self.marks]


class Basemap(Protocol):
    """A source of background imagery, such as `bot.tiles.TileSource`."""

    gcj02: bool  # its tiles are drawn in GCJ-02 (Chinese web maps): shift WGS84 points before drawing
    attribution: str  # shown small in a corner, as the tiles' licence asks

    async def basemap(self, zoom: int, left: float, top: float, width: int, height: int) -> Image.Image | None:
        """The area `width` x `height` global pixels from (`left`, `top`) at `zoom`; None when unavailable."""
        ...


@dataclass(frozen=True, slots=True)
class Picture:
    jpeg: bytes
    viewport: Viewport
    gcj02: bool  # the points were shifted to GCJ-02 before projecting


def header_height(scene: Scene) -> int:
    return 132 if scene.subtitle else 88


def legend_rows(scene: Scene) -> list[list[tuple[LegendItem, float]]]:
    """The legend as `_legend` draws it: rows of (item, width), wrapped to the picture's width."""
    font = _legend_font()
    rows: list[list[tuple[LegendItem, float]]] = []
    used = 0.0
    for item in scene.legend:
        width = 56 + font.getlength(item.label) + 30
        if not rows or (used and used + width > scene.width - 2 * 32):
            rows.append([])
            used = 0.0
        rows[-1].append((item, width))
        used += width
    return rows


def _legend_font() -> fonts.Font:
    """The legend's font for measuring, one per thread (Pillow's fonts are not to be shared between threads)."""
    found: fonts.Font | None = getattr(_measuring, "font", None)
    if found is None:
        found = _measuring.font = fonts.load(LEGEND_SIZE)
    return found


LEGEND_SIZE = 28
LEGEND_ROW = 46
_measuring = threading.local()


def padding(scene: Scene) -> Padding:
    rows = len(legend_rows(scene))
    legend = rows * LEGEND_ROW + (24 if rows else 0)
    return Padding(top=header_height(scene) + 40, right=56, bottom=legend + 110, left=56)


MIN_HEIGHT, MAX_HEIGHT = 720, 1280  # Telegram keeps at most 1280 pixels on the long side


def viewport(scene: Scene, *, gcj02: bool = False) -> Viewport:
    """Where the scene's points fall on its picture: the same call the renderer makes, for tests and tiles."""
    shift = wgs84_to_gcj02 if gcj02 else _same
    if scene.focus is not None:
        corners = [shift(scene.focus[0], scene.focus[1]), shift(scene.focus[2], scene.focus[3])]
        box = bounds(corners)
    else:
        box = bounds(shift(lat, lon) for lat, lon in scene.points())
    if box is None:
        box = (32.0, 120.0, 32.0, 120.0)  # nothing to draw: any small piece of ground
    pad = padding(scene)
    height = scene.height
    if height <= 0:  # as tall as the ground's shape needs, within bounds: a river running east is a wide picture
        wide = _widened(box)
        x0, y1 = world_xy((wide[0], wide[1]), 0)
        x1, y0 = world_xy((wide[2], wide[3]), 0)
        tall = (scene.width - pad.left - pad.right) * (y1 - y0) / max(x1 - x0, 1e-12)
        height = round(min(MAX_HEIGHT, max(MIN_HEIGHT, tall + pad.top + pad.bottom)))
    return fit(box, scene.width, height, pad)


def _same(lat: float, lon: float) -> LatLon:
    return lat, lon


async def draw(scene: Scene, tiles: Basemap | None = None) -> Picture:
    """The scene as JPEG, over the tile source's basemap when one is given and answers."""
    gcj02 = bool(tiles is not None and tiles.gcj02)
    view = viewport(scene, gcj02=gcj02)
    base: Image.Image | None = None
    attribution = ""
    if tiles is not None:
        attribution = tiles.attribution
        try:
            base = await tiles.basemap(*view.tile_request)
        except Exception:  # a map without its background is still a map
            log.warning("the basemap could not be had; drawing without it", exc_info=True)
            base = None
    jpeg = await asyncio.to_thread(render, scene, view, base=base, gcj02=gcj02, attribution=attribution)
    return Picture(jpeg, view, gcj02)


# -- drawing ------------------------------------------------------------------------------------------------


class _Fonts:
    def __init__(self) -> None:
        self.title = fonts.load(40)
        self.subtitle = fonts.load(28)
        self.badge = fonts.load(44)
        self.label = fonts.load(LEGEND_SIZE)
        self.small = fonts.load(22)


def render(
    scene: Scene, view: Viewport, *, base: Image.Image | None = None, gcj02: bool = False, attribution: str = ""
) -> bytes:
    """JPEG bytes of `scene` drawn over `view` (see `viewport`); `base` is the basemap at the view's zoom."""
    image = _background(scene, view, base)
    pen = ImageDraw.Draw(image)
    face = _Fonts()
    project = view.projector()
    if gcj02:

        def at(point: LatLon) -> tuple[float, float]:
            return project(*wgs84_to_gcj02(point[0], point[1]))

    else:

        def at(point: LatLon) -> tuple[float, float]:
            return project(point[0], point[1])

    for stroke in scene.strokes:
        xy = _thinned([at(p) for p in stroke.points])
        # No round joints (Pillow draws each one in Python, most of the map's time): at these widths the notch at
        # a bend is a pixel or two, and a third of that on the phone.
        if stroke.halo is not None:
            pen.line(xy, fill=stroke.halo, width=stroke.width + 8)
        pen.line(xy, fill=stroke.colour, width=stroke.width)
    for mark in scene.marks:
        _mark(pen, at(mark.point), mark.colour, mark.radius)
    for mark in scene.marks:
        if mark.label:
            x, y = at(mark.point)
            # Above and to the right, so the line through the marker stays visible; to the left instead where the
            # text would run off the picture's edge (a start or end at the map's margin).
            right = x + mark.radius // 2 + face.label.getlength(mark.label) + 8 <= view.width
            pen.text(
                (x + mark.radius // 2 if right else x - mark.radius // 2, y - mark.radius - 6),
                mark.label,
                fill=INK,
                font=face.label,
                anchor="ld" if right else "rd",
                stroke_width=4,
                stroke_fill=WHITE,
            )
    if not scene.strokes and not scene.marks and scene.empty:
        pen.text((view.width / 2, view.height / 2), scene.empty, fill=MUTED, font=face.label, anchor="mm")
    tiled = base is not None
    _header(image, pen, scene, face, tiled=tiled)
    _north(pen, scene, face)
    bottom = _legend(image, pen, scene, face, tiled=tiled)
    _scale(pen, scene, view, face, bottom)
    if attribution:  # above the legend band, at the right (the scale bar is at the left)
        pen.text(
            (view.width - 12, bottom - 8),
            attribution,
            fill=MUTED,
            font=face.small,
            anchor="rd",
            stroke_width=2,
            stroke_fill=WHITE,
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, subsampling=2)
    return out.getvalue()


def _thinned(xy: list[tuple[float, float]], least: float = 2.0) -> list[tuple[float, float]]:
    """The polyline without points closer than `least` pixels to the one kept before (a dense track at a low
    zoom), its last point always kept; a single point becomes a dot-long line."""
    if len(xy) < 2:
        return xy * 2
    kept = [xy[0]]
    least2 = least * least
    for point in xy[1:-1]:
        last = kept[-1]
        if (point[0] - last[0]) ** 2 + (point[1] - last[1]) ** 2 >= least2:
            kept.append(point)
    kept.append(xy[-1])
    return kept


def _background(scene: Scene, view: Viewport, base: Image.Image | None) -> Image.Image:
    if base is not None:
        try:
            return base.convert("RGB").resize((view.width, view.height), Image.Resampling.BILINEAR)
        except (OSError, ValueError):
            log.warning("the basemap could not be used", exc_info=True)
    image = Image.new("RGB", (view.width, view.height), LAND)
    if scene.grid:
        _grid(ImageDraw.Draw(image), view)
    return image


def _grid(pen: ImageDraw.ImageDraw, view: Viewport) -> None:
    """Faint lines every round number of metres, so distance reads even without a scale bar."""
    metres, pixels = scale_bar(view.metres_per_pixel(view.centre_lat), 260)
    del metres
    step = max(40.0, pixels)
    x = (-view.left * view.scale) % step
    while x < view.width:
        pen.line([(x, 0), (x, view.height)], fill=GRID, width=2)
        x += step
    y = (-view.top * view.scale) % step
    while y < view.height:
        pen.line([(0, y), (view.width, y)], fill=GRID, width=2)
        y += step


def _mark(pen: ImageDraw.ImageDraw, xy: tuple[float, float], colour: Colour, radius: int) -> None:
    x, y = xy
    ring = max(3, radius // 4)
    pen.ellipse((x - radius - ring, y - radius - ring, x + radius + ring, y + radius + ring), fill=WHITE)
    pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)


def _panel(image: Image.Image, box: tuple[int, int, int, int], *, see_through: bool) -> None:
    """A white band, which a basemap shows faintly through (over the plain land there is nothing to see, and
    blending costs a tenth of the map's time)."""
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        return
    if see_through:
        image.paste(WHITE, box, Image.new("L", (right - left, bottom - top), PANEL_ALPHA))
    else:
        image.paste(PANEL, box)


def _header(image: Image.Image, pen: ImageDraw.ImageDraw, scene: Scene, face: _Fonts, *, tiled: bool) -> None:
    height = header_height(scene)
    _panel(image, (0, 0, image.width, height), see_through=tiled)
    right = scene.width - 32
    if scene.badge:
        pen.text((right, height / 2), scene.badge, fill=TRACK, font=face.badge, anchor="rm")
        right -= int(pen.textlength(scene.badge, font=face.badge)) + 24
    pen.text((32, 28), _cut(pen, scene.title, face.title, right - 32), fill=INK, font=face.title)
    if scene.subtitle:
        pen.text((32, 82), _cut(pen, scene.subtitle, face.subtitle, right - 32), fill=MUTED, font=face.subtitle)


def _cut(pen: ImageDraw.ImageDraw, text: str, font: fonts.Font, width: float) -> str:
    if pen.textlength(text, font=font) <= width:
        return text
    while text and pen.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _north(pen: ImageDraw.ImageDraw, scene: Scene, face: _Fonts) -> None:
    """An arrow pointing up (north: Web Mercator keeps north up) under the header, at the right."""
    x = scene.width - 64
    top = header_height(scene) + 28
    pen.ellipse((x - 34, top - 6, x + 34, top + 92), fill=WHITE, outline=(206, 212, 218), width=2)
    pen.polygon([(x, top + 4), (x - 16, top + 48), (x, top + 38), (x + 16, top + 48)], fill=INK)
    pen.text((x, top + 68), scene.north, fill=INK, font=face.small, anchor="mm")


def _legend(image: Image.Image, pen: ImageDraw.ImageDraw, scene: Scene, face: _Fonts, *, tiled: bool) -> int:
    """The legend in a band at the bottom, wrapped to the width; returns the band's top."""
    rows = legend_rows(scene)
    width_, height_ = image.size
    if not rows:
        return height_ - 12
    top = height_ - len(rows) * LEGEND_ROW - 24
    _panel(image, (0, top, width_, height_), see_through=tiled)
    for number, row in enumerate(rows):
        y = top + 12.0 + number * LEGEND_ROW
        x = 32.0
        for item, width in row:
            _legend_item(pen, item, x, y + 17, face)
            x += width
    return top


def _legend_item(pen: ImageDraw.ImageDraw, item: LegendItem, x: float, centre: float, face: _Fonts) -> None:
    if item.kind == "line":
        pen.line([(x, centre), (x + 44, centre)], fill=item.colour, width=10)
    elif item.kind == "dot":
        _mark(pen, (x + 22, centre), item.colour, 8)
    else:
        _mark(pen, (x + 22, centre), item.colour, 12)
    pen.text((x + 56, centre), item.label, fill=INK, font=face.label, anchor="lm")


def _scale(pen: ImageDraw.ImageDraw, scene: Scene, view: Viewport, face: _Fonts, bottom: int) -> None:
    metres, pixels = scale_bar(view.metres_per_pixel(view.centre_lat), 260)
    left, y = 32.0, bottom - 28.0
    label = scene.distance(metres)
    pen.rectangle((left - 10, y - 52, left + pixels + 14, y + 14), fill=WHITE)
    pen.line([(left, y), (left + pixels, y)], fill=INK, width=6)
    pen.line([(left, y - 14), (left, y)], fill=INK, width=4)
    pen.line([(left + pixels, y - 14), (left + pixels, y)], fill=INK, width=4)
    pen.text((left, y - 20), label, fill=INK, font=face.small, anchor="ld")
