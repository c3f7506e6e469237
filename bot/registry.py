"""The registry files the office keeps in spreadsheets: areas, reaches, chiefs — read, checked, written back.

Everything is checked before anything is stored: a bad row is reported with its line number and what is wrong,
and an import with any bad row writes nothing unless the operator asks to skip bad rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tomllib
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from bot.cells import escape_formula, unescape_formula
from bot.names import clean_display_name, is_reserved

Kind = Literal["areas", "reaches", "chiefs"]
LEVELS = ("city", "county", "town", "village")
KNOWN_TAGS = frozenset({"black_odorous", "happy_river_demo"})

AREA_COLUMNS = ("code", "name_zh", "name_en")
REACH_COLUMNS = ("code", "name_zh", "name_en", "area_code", "level", "length_km", "tags")
CHIEF_COLUMNS = ("name", "phone", "level", "area_code", "reach_codes", "telegram_id")
COLUMNS: dict[Kind, tuple[str, ...]] = {"areas": AREA_COLUMNS, "reaches": REACH_COLUMNS, "chiefs": CHIEF_COLUMNS}
# A chiefs-file column marking a row as office staff (an admin) with the areas its office covers; such a row may
# leave level and reaches empty (a clerk, not a chief).
OFFICE_AREAS = "office_areas"
# A reach's line as GeoJSON text: the column a spreadsheet (XLSX, CSV) carries it in. Without it a table file
# leaves the stored geometry alone.
GEOMETRY_COLUMN = "geometry"
# Columns a file of each kind may leave out.
OPTIONAL: dict[Kind, frozenset[str]] = {
    "areas": frozenset(),
    "reaches": frozenset({"tags", "length_km", GEOMETRY_COLUMN}),
    "chiefs": frozenset({"telegram_id", "phone", OFFICE_AREAS}),
}
# The other names a header cell may give a column (Chinese ones among them) live in the locale files, one line
# per column in the table HEADER_TABLE: `column = "alias | alias"`; the first name of a language is the header
# `registry export --format xlsx` writes in it. A new column needs one line there in each file, nothing here.
HEADER_TABLE = "registry16.headers"
# Level words an office writes (county-level, "district", a bare "town"...), likewise one line per level.
LEVEL_TABLE = "registry16.levels"
# A title line or two may sit above the header (a merged "county river chiefs" line): the header is looked for
# in this many first non-empty rows.
HEADER_SEARCH_ROWS = 5
# Lists (reach codes, tags) as an office types them: ASCII or full-width semicolons and commas, the Chinese
# enumeration comma, any spaces (full-width ones too).
LIST_SEPARATORS = re.compile(r"[;,\s\uff1b\uff0c\u3001]+")
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
    # A reaches table with a geometry column: its empty cells mean "no line", not "leave the stored one".
    geometry_column: bool = False
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class RegistryFileError(Exception):
    """The file as a whole can't be read (unknown kind, encoding, header, JSON)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@cache
def _locale_tables() -> list[dict[str, Any]]:
    """Both locale files, read once: header and level aliases from every language are accepted, whatever the
    language of the command."""
    package = resources.files("locales")
    return [tomllib.loads(package.joinpath(f"{stem}.toml").read_text(encoding="utf-8")) for stem in ("en", "zh_CN")]


def _table(catalog: dict[str, Any], dotted: str) -> dict[str, str]:
    for part in dotted.split("."):
        catalog = catalog.get(part, {})
    return {k: v for k, v in catalog.items() if isinstance(v, str)}


def normalize(text: str) -> str:
    """A header or level word as compared: full-width forms folded (NFKC), case and spaces and a required-mark
    asterisk ignored."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).strip("*").lower()


@cache
def _aliases(table: str) -> dict[str, str]:
    """normalized alias -> canonical name, from `table` in every locale file; the canonical name is its own alias."""
    found: dict[str, str] = {}
    for catalog in _locale_tables():
        for name, aliases in _table(catalog, table).items():
            found.setdefault(normalize(name), name)
            for alias in aliases.split("|"):
                if alias.strip():
                    found.setdefault(normalize(alias), name)
    return found


def header_names(language_stem: str) -> dict[str, str]:
    """column -> the header written for it in one language (`en` or `zh_CN`): the first alias of its line."""
    catalog = _locale_tables()[0 if language_stem == "en" else 1]
    return {name: aliases.split("|")[0].strip() for name, aliases in _table(catalog, HEADER_TABLE).items()}


def canonical_header(cells: Iterable[str]) -> list[str]:
    """Each header cell as the column it names (an alias resolved), else as typed (normalized)."""
    aliases = _aliases(HEADER_TABLE)
    return [aliases.get(normalize(cell), normalize(cell)) for cell in cells]


def level_of(text: str) -> str | None:
    """The level a cell names (`town`, a Chinese level word...), or None."""
    return _aliases(LEVEL_TABLE).get(normalize(text))


def split_list(text: str) -> list[str]:
    return [part for part in LIST_SEPARATORS.split(text) if part]


def decode(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel adds) or GB18030, which Chinese spreadsheets export."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode Text": UTF-16 and tab-separated, not a CSV; say which it is rather than read garbage.
        raise RegistryFileError("registry16.file.utf16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryFileError("registry.file.encoding")


def kind_of_header(header: Sequence[str]) -> Kind | None:
    """The kind of file a canonical header row opens, if any."""
    columns = set(header)
    # Most specific first: a reaches file also has every column an areas file has.
    if {"name", "level", "area_code", "reach_codes"} <= columns:
        return "chiefs"
    if {"code", "area_code", "level"} <= columns:
        return "reaches"
    if {"code", "name_zh", "name_en"} <= columns:
        return "areas"
    if {"area_code", "name_zh", "name_en"} <= columns and "level" not in columns:
        return "areas"  # an areas sheet headed "area code": it is the area's own code
    return None


def detect_kind(path: Path, text: str) -> Kind:
    """A GeoJSON file holds reaches; a CSV is told by its header."""
    stripped = text.lstrip()
    if path.suffix.lower() in (".geojson", ".json") or stripped.startswith("{"):
        return "reaches"
    rows = _csv_rows(text)
    _, kind = _find_header(rows, None)
    return kind


# A table as read: (line or row number, cells as text), empty rows left out.
TableRows = list[tuple[int, list[str]]]


def _csv_rows(text: str) -> TableRows:
    reader = csv.reader(io.StringIO(text))
    rows: TableRows = []
    for record in reader:
        cells = [unescape_formula(cell.strip()) for cell in record]
        if any(cells):
            rows.append((reader.line_num, cells))
    return rows


def _find_header(rows: TableRows, kind: Kind | None) -> tuple[int, Kind]:
    """(index in `rows` of the header row, the kind it names): the first of the first rows that names a kind."""
    for index, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found = kind_of_header(canonical_header(cells))
        if found is not None:
            return index, kind or found
    if kind is not None and rows:
        return 0, kind
    first = rows[0][1] if rows else []
    line = rows[0][0] if rows else 1
    raise RegistryFileError("registry.file.unknown_kind", header=",".join(c for c in first if c), line=line)


def parse_file(path: Path, data: bytes, kind: Kind | None = None) -> ParsedFile:
    text = decode(data)
    if path.suffix.lower() in (".geojson", ".json") or text.lstrip().startswith("{"):
        if kind not in (None, "reaches"):
            raise RegistryFileError("registry.file.unknown_kind", header="GeoJSON", line=1)
        parsed = ParsedFile(str(path), "reaches")
        _parse_geojson(parsed, text)
        return parsed
    return parse_table(str(path), _csv_rows(text), kind)


def parse_table(name: str, rows: TableRows, kind: Kind | None = None) -> ParsedFile:
    """A CSV file or a spreadsheet's sheet: the header (below any title lines), then a row per line."""
    start, kind = _find_header(rows, kind)
    header_line, cells = rows[start]
    header = canonical_header(cells)
    if kind == "areas" and "code" not in header and "area_code" in header:
        header = ["code" if h == "area_code" else h for h in header]
    missing = [c for c in COLUMNS[kind] if c not in header and c not in OPTIONAL[kind]]
    if missing:
        raise RegistryFileError("registry.file.missing_columns", columns=",".join(missing), line=header_line)
    parsed = ParsedFile(name, kind, geometry_column=kind == "reaches" and GEOMETRY_COLUMN in header)
    for line, record in rows[start + 1 :]:
        values: dict[str, str] = {}
        for column, value in zip(header, record, strict=False):
            if column and column not in values:  # the first of two columns with one name counts
                values[column] = value
        if not any(values.values()):
            continue
        geometry: Any = None
        if parsed.geometry_column and values.get(GEOMETRY_COLUMN):
            try:
                geometry = json.loads(values[GEOMETRY_COLUMN])
            except (json.JSONDecodeError, RecursionError):
                parsed.errors.append(RowError(name, line, "registry16.error.geometry_json"))
                continue
        _parse_row(parsed, line, values, geometry)
    return parsed


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV would hold: a phone typed as a number keeps its digits (no `.0`, no
    exponent), a date is ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e17:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return unescape_formula(str(value).strip())


@dataclass(frozen=True, slots=True)
class SheetError:
    """A sheet of a workbook that cannot be read as a whole (no header, missing columns)."""

    sheet: str
    error: RegistryFileError


def parse_workbook(path: Path, data: bytes, kind: Kind | None = None) -> tuple[list[ParsedFile], list[SheetError]]:
    """Every non-empty sheet of an XLSX workbook, each told by its header whatever its name.

    A parsed sheet is named `sheet_name(path, title)`; the CLI shows that as the file and the sheet.
    """
    import openpyxl  # noqa: PLC0415 - a second to import, only for workbooks
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError):
        raise RegistryFileError("registry16.file.not_workbook") from None
    files: list[ParsedFile] = []
    errors: list[SheetError] = []
    try:
        for sheet in book.worksheets:
            rows: TableRows = []
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [cell_text(value) for value in values]
                if any(cells):
                    rows.append((number, cells))
            if not rows:
                continue
            try:
                files.append(parse_table(sheet_name(str(path), sheet.title), rows, kind))
            except RegistryFileError as exc:
                errors.append(SheetError(sheet.title, exc))
    finally:
        book.close()
    return files, errors


SHEET_MARK = "\x00"


def sheet_name(path: str, title: str) -> str:
    """How a sheet is named among the files of an import (a character no path holds joins the two)."""
    return f"{path}{SHEET_MARK}{title}"


def split_sheet_name(name: str) -> tuple[str, str | None]:
    """(file, sheet or None) of a name made by `sheet_name`, or of a plain file path."""
    path, _, title = name.partition(SHEET_MARK)
    return path, (title if _ else None)


def place(name: str, line: int) -> str:
    """A row named inside another message (the other copy of a duplicate): `file:line`, `file[sheet]:row`."""
    path, sheet = split_sheet_name(name)
    return f"{path}:{line}" if sheet is None else f"{path}[{sheet}]:{line}"


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
    _check_crs(document.get("crs"), features)
    for number, feature in enumerate(features, start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict):
            parsed.errors.append(RowError(parsed.path, number, "registry.error.no_properties"))
            continue
        values = {k: _property_text(properties.get(k)) for k in REACH_COLUMNS}
        _parse_row(parsed, number, values, feature.get("geometry"))


# Coordinate systems whose positions are longitude/latitude on WGS84 (CRS84 is WGS84 with that axis order, as
# GeoJSON has it). CGCS2000's geographic system (EPSG:4490) is taken too: its positions differ from WGS84's by
# centimetres, far below what a reach line or a phone's GPS can tell.
GEOGRAPHIC_WGS84 = frozenset({4326, 4490})
_EPSG = re.compile(r"EPSG:{1,2}(?:[\d.]*:)?(\d+)$", re.IGNORECASE)


def crs_name(code: int) -> str:
    """The EPSG name of the coordinate systems Chinese registry data usually comes in, or just the code."""
    named: str | None = {
        4214: "Beijing 1954",
        4610: "Xian 1980",
        4490: "CGCS2000",
        4479: "CGCS2000 (geocentric)",
        3857: "WGS 84 / Pseudo-Mercator",
    }.get(code)
    if named is None and 4513 <= code <= 4533:
        named = f"CGCS2000 / 3-degree Gauss-Kruger zone {code - 4488}"
    elif named is None and 4534 <= code <= 4554:
        named = f"CGCS2000 / 3-degree Gauss-Kruger CM {75 + 3 * (code - 4534)}E"
    elif named is None and 4491 <= code <= 4501:
        named = f"CGCS2000 / Gauss-Kruger zone {code - 4478}"
    elif named is None and 4502 <= code <= 4512:
        named = f"CGCS2000 / Gauss-Kruger CM {75 + 6 * (code - 4502)}E"
    elif named is None and 2370 <= code <= 2390:
        named = f"Xian 1980 / 3-degree Gauss-Kruger CM {75 + 3 * (code - 2370)}E"
    elif named is None and 2422 <= code <= 2442:
        named = f"Beijing 1954 / 3-degree Gauss-Kruger CM {75 + 3 * (code - 2422)}E"
    elif named is None and 32601 <= code <= 32660:
        named = f"WGS 84 / UTM zone {code - 32600}N"
    return f"EPSG:{code} ({named})" if named else f"EPSG:{code}"


def _check_crs(crs: Any, features: list[Any]) -> None:
    """Refuse a reach file that is not in longitude/latitude on WGS84, naming its coordinate system.

    GeoJSON (RFC 7946) is always WGS84, but GIS tools still write the old `crs` member when they export a
    projected layer; without one, positions in the hundreds of thousands can only be metres.
    """
    if isinstance(crs, dict):
        properties = crs.get("properties")
        name = str(properties.get("name", "")) if isinstance(properties, dict) else ""
        if name.upper().endswith("CRS84"):
            return
        found = _EPSG.search(name.strip())
        if found is None:
            raise RegistryFileError("registry16.file.crs", name=name or json.dumps(crs, ensure_ascii=False))
        code = int(found.group(1))
        if code not in GEOGRAPHIC_WGS84:
            raise RegistryFileError("registry16.file.crs", name=crs_name(code))
        return
    for feature in features:
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
        for x, y in _positions(coordinates):
            if abs(x) > 180 and abs(y) > 180:  # no swap of longitude and latitude explains it
                raise RegistryFileError("registry16.file.projected", x=x, y=y)


def _positions(value: Any, depth: int = 0) -> Iterable[tuple[float, float]]:
    """The numeric [x, y] positions inside a geometry's coordinates (anything malformed is left to the row check)."""
    if not isinstance(value, list) or depth > 4:
        return
    if len(value) >= 2 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2]):
        yield float(value[0]), float(value[1])
        return
    for item in value:
        yield from _positions(item, depth + 1)


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
        value = values.get("level", "") if optional else required("level")
        found = level_of(value) if value else None
        if value and found not in LEVELS:
            error("registry16.error.level", value=value)
        return found or value.lower()

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
        tags = tuple(sorted(set(split_list(values.get("tags", "")))))
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
            phone = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", phone))
            if not PHONE_RE.match(phone):
                error("registry.error.phone", value=values["phone"])
        telegram_id: int | None = None
        if values.get("telegram_id"):
            if re.fullmatch(r"\d{1,20}", values["telegram_id"]):
                telegram_id = int(values["telegram_id"])
            else:
                error("registry.error.telegram_id", value=values["telegram_id"])
        reach_codes = tuple(split_list(values.get("reach_codes", "")))
        values["name"] = clean_display_name(values.get("name", ""))
        if is_reserved(values["name"]):
            error("registry.error.reserved_name", value=values["name"])
        office_areas = tuple(dict.fromkeys(split_list(values.get(OFFICE_AREAS, ""))))
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
