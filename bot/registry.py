"""The registry files the office keeps in spreadsheets: areas, reaches, chiefs — read, checked, written back.

Everything is checked before anything is stored: a bad row is reported with its line number and what is wrong,
and an import with any bad row writes nothing unless the operator asks to skip bad rows.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.cells import escape_formula, unescape_formula
from bot.config import LANGUAGES
from bot.i18n import Locales
from bot.names import clean_display_name, is_reserved

Kind = Literal["areas", "reaches", "chiefs"]
LEVELS = ("city", "county", "town", "village")
KNOWN_TAGS = frozenset({"black_odorous", "happy_river_demo"})

AREA_COLUMNS = ("code", "name_zh", "name_en")
REACH_COLUMNS = ("code", "name_zh", "name_en", "area_code", "level", "length_km", "tags")
CHIEF_COLUMNS = ("name", "phone", "level", "area_code", "reach_codes", "telegram_id")
COLUMNS: dict[Kind, tuple[str, ...]] = {"areas": AREA_COLUMNS, "reaches": REACH_COLUMNS, "chiefs": CHIEF_COLUMNS}
# A chiefs-file column marking a row as office staff (an admin) with the areas its office covers; such a row may
# leave level and reaches empty (a clerk, not a chief). Its other header names live in the locale files
# ([scope] office_areas_header, "name | name"); its list takes ASCII or full-width semicolons and commas and the
# Chinese enumeration comma.
OFFICE_AREAS = "office_areas"
OFFICE_AREAS_SEPARATORS = re.compile(r"[;,\uff1b\uff0c\u3001]+")
# Codes go into deep links and callback data: keep them short and plain.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
PHONE_RE = re.compile(r"^\+?\d{5,15}$")


@dataclass(frozen=True, slots=True)
class RowError:
    """What is wrong with one row; `key` and `params` pick the localized text (locales: registry.error.*)."""

    file: str
    line: int
    key: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AreaRow:
    line: int
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class ReachRow:
    line: int
    code: str
    name_zh: str
    name_en: str
    area_code: str
    level: str
    length_km: float | None
    tags: tuple[str, ...]
    geometry: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChiefRow:
    line: int
    name: str
    phone: str | None
    level: str
    area_code: str
    reach_codes: tuple[str, ...]
    telegram_id: int | None
    # Office staff: the codes of the areas their office covers (empty: not office staff by this file).
    office_areas: tuple[str, ...] = ()


Row = AreaRow | ReachRow | ChiefRow


@dataclass
class ParsedFile:
    path: str
    kind: Kind
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class RegistryFileError(Exception):
    """The file as a whole can't be read (unknown kind, encoding, header, JSON)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def decode(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel adds) or GB18030, which Chinese spreadsheets export."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryFileError("registry.file.encoding")


def detect_kind(path: Path, text: str) -> Kind:
    """A GeoJSON file holds reaches; a CSV is told by its header."""
    stripped = text.lstrip()
    if path.suffix.lower() in (".geojson", ".json") or stripped.startswith("{"):
        return "reaches"
    header = set(_header(text))
    # Most specific first: a reaches file also has every column an areas file has.
    if {"name", "level", "area_code", "reach_codes"} <= header:
        return "chiefs"
    if {"code", "area_code", "level"} <= header:
        return "reaches"
    if {"code", "name_zh", "name_en"} <= header:
        return "areas"
    raise RegistryFileError("registry.file.unknown_kind", header=",".join(_header(text)))


@functools.cache
def _office_areas_headers() -> frozenset[str]:
    """The header cells that name the office-areas column, in every language."""
    locales = Locales.load()
    names = {OFFICE_AREAS}
    for lang in LANGUAGES:
        names |= {n.strip().lower() for n in locales.plain(lang, "scope.office_areas_header").split("|") if n.strip()}
    return frozenset(names)


def _header(text: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text)), [])
    cells = [h.strip().lower() for h in first]
    return [OFFICE_AREAS if c in _office_areas_headers() else c for c in cells]


def parse_file(path: Path, data: bytes, kind: Kind | None = None) -> ParsedFile:
    text = decode(data)
    kind = kind or detect_kind(path, text)
    parsed = ParsedFile(str(path), kind)
    if kind == "reaches" and (path.suffix.lower() in (".geojson", ".json") or text.lstrip().startswith("{")):
        _parse_geojson(parsed, text)
        return parsed
    header = _header(text)
    optional = {"reaches": {"tags", "length_km"}, "chiefs": {"telegram_id", "phone", OFFICE_AREAS}, "areas": set()}[
        kind
    ]
    missing = [c for c in COLUMNS[kind] if c not in header and c not in optional]
    if missing:
        raise RegistryFileError("registry.file.missing_columns", columns=",".join(missing))
    reader = csv.DictReader(io.StringIO(text), fieldnames=header)
    next(reader, None)  # the header itself, read above in lower case
    for record in reader:
        line = reader.line_num
        values = {k: unescape_formula((v or "").strip()) for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue
        _parse_row(parsed, line, values, None)
    return parsed


def _parse_geojson(parsed: ParsedFile, text: str) -> None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryFileError("registry.file.json", reason=exc.msg, line=exc.lineno) from None
    except RecursionError:
        # Thousands of nested brackets: the decoder gives up without saying where, so find the line.
        raise RegistryFileError("registry.file.too_deep", line=_too_deep_line(text)) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise RegistryFileError("registry.file.not_feature_collection")
    features = document.get("features")
    if not isinstance(features, list):
        raise RegistryFileError("registry.file.not_feature_collection")
    for number, feature in enumerate(features, start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict):
            parsed.errors.append(RowError(parsed.path, number, "registry.error.no_properties"))
            continue
        values = {k: _property_text(properties.get(k)) for k in REACH_COLUMNS}
        _parse_row(parsed, number, values, feature.get("geometry"))


# Deeper than any GeoJSON needs (a MultiLineString's positions are 4 levels inside the document): past it the
# line of the first such bracket is named.
MAX_DEPTH = 64
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}\n]')


def _too_deep_line(text: str) -> int:
    depth, line = 0, 1
    for token in _JSON_TOKEN.finditer(text):
        kind = token.group()
        if kind == "\n":
            line += 1
        elif kind in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif kind in "]}":
            depth -= 1
    return 1


def _property_text(value: Any) -> str:
    """GeoJSON properties may be numbers or lists (tags as ["a", "b"]): read them as the CSV would."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v).strip() for v in value if v is not None)
    return str(value).strip()


def _parse_row(parsed: ParsedFile, line: int, values: dict[str, str], geometry: Any) -> None:
    errors: list[RowError] = []

    def error(key: str, **params: object) -> None:
        errors.append(RowError(parsed.path, line, key, params))

    def required(name: str) -> str:
        value = values.get(name, "")
        if not value:
            error("registry.error.empty", column=name)
        return value

    def level(optional: bool = False) -> str:
        value = values.get("level", "").lower() if optional else required("level").lower()
        if value and value not in LEVELS:
            error("registry.error.level", value=value)
        return value

    def code(name: str, value: str) -> None:
        if value and not CODE_RE.match(value):
            error("registry.error.code", column=name, value=value)

    row: Row
    if parsed.kind == "areas":
        row = AreaRow(line, required("code"), required("name_zh"), required("name_en"))
        code("code", row.code)
    elif parsed.kind == "reaches":
        length: float | None = None
        if values.get("length_km"):
            try:
                length = float(values["length_km"])
                if not math.isfinite(length) or length < 0:
                    raise ValueError
            except ValueError:
                error("registry.error.length", value=values["length_km"])
        tags = tuple(sorted({t.strip() for t in values.get("tags", "").split(";") if t.strip()}))
        unknown = [t for t in tags if t not in KNOWN_TAGS]
        if unknown:
            error("registry.error.tags", value=";".join(unknown), known=";".join(sorted(KNOWN_TAGS)))
        checked = check_geometry(geometry, error) if geometry is not None else None
        row = ReachRow(
            line,
            required("code"),
            required("name_zh"),
            required("name_en"),
            required("area_code"),
            level(),
            length,
            tags,
            checked,
        )
        code("code", row.code)
    else:
        phone = values.get("phone") or None
        if phone is not None:
            phone = re.sub(r"[\s-]", "", phone)
            if not PHONE_RE.match(phone):
                error("registry.error.phone", value=values["phone"])
        telegram_id: int | None = None
        if values.get("telegram_id"):
            if re.fullmatch(r"\d{1,20}", values["telegram_id"]):
                telegram_id = int(values["telegram_id"])
            else:
                error("registry.error.telegram_id", value=values["telegram_id"])
        reach_codes = tuple(c.strip() for c in values.get("reach_codes", "").split(";") if c.strip())
        values["name"] = clean_display_name(values.get("name", ""))
        if is_reserved(values["name"]):
            error("registry.error.reserved_name", value=values["name"])
        office_areas = tuple(
            dict.fromkeys(c.strip() for c in OFFICE_AREAS_SEPARATORS.split(values.get(OFFICE_AREAS, "")) if c.strip())
        )
        for area_code in office_areas:
            code(OFFICE_AREAS, area_code)
        # Office staff need no level: a clerk of the office is not a chief (and so holds no reaches).
        chief_level = level(optional=bool(office_areas))
        if not chief_level and reach_codes:
            error("registry.error.empty", column="level")
        row = ChiefRow(
            line, required("name"), phone, chief_level, required("area_code"), reach_codes, telegram_id, office_areas
        )
    if errors:
        parsed.errors.extend(errors)
    else:
        parsed.rows.append(row)


def check_geometry(geometry: Any, error: Callable[..., None]) -> dict[str, Any] | None:
    """A LineString or MultiLineString in WGS84 ([lon, lat]); swapped coordinates are named as such."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("LineString", "MultiLineString"):
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        error("registry.error.geometry_type", value=str(kind))
        return None
    lines = geometry.get("coordinates")
    if geometry["type"] == "LineString":
        lines = [lines]
    if not isinstance(lines, list) or not lines:
        error("registry.error.geometry_points")
        return None
    for points in lines:
        if not isinstance(points, list) or len(points) < 2:
            error("registry.error.geometry_points")
            return None
        for point in points:
            # [lon, lat], or [lon, lat, altitude] as GPS tools write it; anything else inside is refused, not stored.
            if (
                not isinstance(point, list)
                or len(point) not in (2, 3)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in point)
            ):
                error("registry.error.geometry_points")
                return None
            lon, lat = float(point[0]), float(point[1])
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                if -90 <= lon <= 90 and -180 <= lat <= 180:
                    error("registry.error.swapped", lon=lon, lat=lat)
                else:
                    error("registry.error.out_of_range", lon=lon, lat=lat)
                return None
    # Positions as given (an int stays an int, so export -> import -> export keeps the bytes), the altitude dropped.
    flat = [[point[:2] for point in points] for points in lines]
    return {"type": geometry["type"], "coordinates": flat[0] if geometry["type"] == "LineString" else flat}


def bounding_box(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of a checked geometry."""
    lines = geometry["coordinates"] if geometry["type"] == "MultiLineString" else [geometry["coordinates"]]
    lons = [float(p[0]) for line in lines for p in line]
    lats = [float(p[1]) for line in lines for p in line]
    return min(lats), min(lons), max(lats), max(lons)


def find_duplicates(parsed: ParsedFile) -> None:
    """Two rows with one code in one file: both are reported, neither is guessed."""

    def key_of(row: Row) -> str:
        if isinstance(row, ChiefRow):
            return row.phone or f"{row.name}@{row.area_code}"
        return row.code

    first_line: dict[str, int] = {}
    duplicated: set[str] = set()
    for row in parsed.rows:
        key = key_of(row)
        if key in first_line:
            parsed.errors.append(
                RowError(parsed.path, row.line, "registry.error.duplicate", {"value": key, "first": first_line[key]})
            )
            duplicated.add(key)
        else:
            first_line[key] = row.line
    if duplicated:
        parsed.rows = [r for r in parsed.rows if key_of(r) not in duplicated]


def kind_order(files: Iterable[ParsedFile]) -> list[ParsedFile]:
    """Areas before the reaches that name them, reaches before the chiefs assigned to them."""
    order = {"areas": 0, "reaches": 1, "chiefs": 2}
    return sorted(files, key=lambda f: order[f.kind])


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A registry CSV; a text starting like a formula is escaped (bot.cells), and import reads it back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else escape_formula(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()
