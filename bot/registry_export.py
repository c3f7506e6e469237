"""Writing the registry back to the office's three files: areas.csv, reaches.geojson, chiefs.csv — or to one
XLSX workbook, a sheet per kind, that `registry import` reads back the same.

The files are the ones `registry import` reads, so import → export → import loses nothing. CSVs are UTF-8 with a
BOM: Excel on Chinese Windows opens UTF-8 without one as garbage. Output is sorted and formatted the same way
every time, so exporting an unchanged registry twice gives byte-identical files (good for diffs and version
control).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.cells import escape_formula
from bot.registry import AREA_COLUMNS, CHIEF_COLUMNS, GEOMETRY_COLUMN, OFFICE_AREAS, REACH_COLUMNS, Kind, write_csv
from storage import Store

AREAS_FILE = "areas.csv"
REACHES_FILE = "reaches.geojson"
CHIEFS_FILE = "chiefs.csv"
BOM = "\ufeff"


@dataclass
class ExportResult:
    counts: dict[str, int] = field(default_factory=dict)
    # Chiefs without a home area: their area_code is empty, and must be filled in before the file is imported.
    without_area: list[str] = field(default_factory=list)


@dataclass
class Registry:
    """The registry as rows, in the files' column order (reaches with their geometry as a dict or None)."""

    areas: list[list[Any]]
    reaches: list[tuple[list[Any], dict[str, Any] | None]]
    chiefs: list[list[Any]]
    without_area: list[str]
    # The chiefs file's columns: with `office_areas` only when some row is office staff (a town's office), so a
    # registry without any keeps the file it always had.
    chief_columns: tuple[str, ...] = CHIEF_COLUMNS


async def gather(store: Store) -> Registry:
    """Areas, reaches, and active chiefs with their active reaches, then the office staff of a town's office
    (scoped admins who are no chiefs), sorted as the store lists them."""
    areas = await store.areas.all()
    area_codes = {a.id: a.code for a in areas}
    reaches = [
        (
            [r.code, r.name_zh, r.name_en, r.area_code, r.level, r.length_km, ";".join(r.tags)],
            None if r.geometry is None else json.loads(r.geometry),
        )
        for r in await store.reaches.all()
    ]
    chiefs: list[list[Any]] = []
    without_area: list[str] = []
    chief_ids = set()
    for person in await store.people.chiefs():
        chief_ids.add(person.id)
        area_code = area_codes.get(person.home_area_id) if person.home_area_id is not None else None
        if area_code is None:
            without_area.append(person.name)
        assignments = await store.assignments.active_for_person(person.id)
        chiefs.append(
            [
                person.name,
                person.phone,
                person.roles.get("chief"),
                area_code,
                ";".join(sorted({a.reach_code for a in assignments})),
                person.telegram_id,
                ";".join(area_codes[a] for a in person.scope if a in area_codes),
            ]
        )
    for person in await store.people.with_role("admin"):
        if person.id in chief_ids or not person.scope:
            continue  # a county admin is not in the registry (ADMIN_IDS, invites); a chief is listed above
        area_code = area_codes.get(person.home_area_id) if person.home_area_id is not None else None
        if area_code is None:
            without_area.append(person.name)
        office = ";".join(area_codes[a] for a in person.scope if a in area_codes)
        chiefs.append([person.name, person.phone, None, area_code, "", person.telegram_id, office])
    columns: tuple[str, ...] = CHIEF_COLUMNS
    if any(row[-1] for row in chiefs):
        columns = (*CHIEF_COLUMNS, OFFICE_AREAS)
    else:
        chiefs = [row[:-1] for row in chiefs]
    areas_rows = [[a.code, a.name_zh, a.name_en] for a in areas]
    return Registry(areas_rows, reaches, chiefs, without_area, columns)


# A cell holds at most this many characters (Excel's limit): a longer reach line cannot go in a workbook.
CELL_LIMIT = 32767


class GeometryTooLong(Exception):
    """A reach line too long for a spreadsheet cell; the directory export (GeoJSON) has no such limit."""

    def __init__(self, code: str, length: int) -> None:
        super().__init__(code)
        self.code = code
        self.length = length


def render_xlsx(registry: Registry, titles: Mapping[Kind, str], headers: Mapping[str, str], title: str) -> bytes:
    """One workbook: a sheet per kind with a header row (in `headers`' language), frozen, with an autofilter.

    Text cells that look like formulas are escaped as in the CSVs; phones and Telegram ids are text, so that no
    spreadsheet turns them into `1.39E+10`; a reach's line is GeoJSON text in its `geometry` column.
    """
    from openpyxl import Workbook  # noqa: PLC0415 - a second to import, only for workbooks
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    book = Workbook()
    book.properties.title = title
    sheets: list[tuple[Kind, Sequence[str], list[list[Any]]]] = [
        ("areas", AREA_COLUMNS, registry.areas),
        ("reaches", (*REACH_COLUMNS, GEOMETRY_COLUMN), [_reach_cells(row, line) for row, line in registry.reaches]),
        ("chiefs", registry.chief_columns, registry.chiefs),
    ]
    first = book.active
    assert first is not None
    book.remove(first)
    for kind, columns, rows in sheets:
        sheet = book.create_sheet(titles[kind])
        sheet.append([headers.get(column, column) for column in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_cell(column, value) for column, value in zip(columns, row, strict=True)])
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"
        for index, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = 60 if column == GEOMETRY_COLUMN else 16
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _reach_cells(row: list[Any], line: dict[str, Any] | None) -> list[Any]:
    if line is None:
        return [*row, None]
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    if len(text) > CELL_LIMIT:
        raise GeometryTooLong(str(row[0]), len(text))
    return [*row, text]


def _cell(column: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column == "length_km":
        return value
    return escape_formula(str(value))


async def render(store: Store) -> tuple[dict[str, bytes], ExportResult]:
    """The three files' bytes, by file name."""
    registry = await gather(store)
    features = [
        {"type": "Feature", "properties": dict(zip(REACH_COLUMNS, row, strict=True)), "geometry": line}
        for row, line in registry.reaches
    ]
    result = ExportResult(
        counts={
            AREAS_FILE: len(registry.areas),
            REACHES_FILE: len(registry.reaches),
            CHIEFS_FILE: len(registry.chiefs),
        },
        without_area=registry.without_area,
    )
    files = {
        AREAS_FILE: (BOM + write_csv(AREA_COLUMNS, registry.areas)).encode("utf-8"),
        REACHES_FILE: _feature_collection(features).encode("utf-8"),
        CHIEFS_FILE: (BOM + write_csv(registry.chief_columns, registry.chiefs)).encode("utf-8"),
    }
    return files, result


def _feature_collection(features: list[dict[str, Any]]) -> str:
    """One feature per line: readable, and a changed reach is a one-line diff."""
    lines = [json.dumps(f, ensure_ascii=False) for f in features]
    body = ",\n".join(f"    {line}" for line in lines)
    return '{\n  "type": "FeatureCollection",\n  "features": [\n' + body + ("\n" if body else "") + "  ]\n}\n"


def write(directory: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write the files into `directory` (created if missing), each replaced whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, data in files.items():
        target = directory / name
        temporary = directory / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.replace(target)
        written[name] = target
    return written
