"""Writing the registry back to the office's three files: areas.csv, reaches.geojson, chiefs.csv.

The files are the ones `registry import` reads, so import → export → import loses nothing. CSVs are UTF-8 with a
BOM: Excel on Chinese Windows opens UTF-8 without one as garbage. Output is sorted and formatted the same way
every time, so exporting an unchanged registry twice gives byte-identical files (good for diffs and version
control).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.registry import AREA_COLUMNS, CHIEF_COLUMNS, REACH_COLUMNS, write_csv
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


async def render(store: Store) -> tuple[dict[str, bytes], ExportResult]:
    """The three files' bytes, by file name."""
    result = ExportResult()
    areas = await store.areas.all()
    area_codes = {a.id: a.code for a in areas}
    areas_csv = write_csv(AREA_COLUMNS, ((a.code, a.name_zh, a.name_en) for a in areas))

    reaches = await store.reaches.all()
    features = [
        {
            "type": "Feature",
            "properties": dict(
                zip(
                    REACH_COLUMNS,
                    (r.code, r.name_zh, r.name_en, r.area_code, r.level, r.length_km, ";".join(r.tags)),
                    strict=True,
                )
            ),
            "geometry": None if r.geometry is None else json.loads(r.geometry),
        }
        for r in reaches
    ]
    reaches_json = _feature_collection(features)

    chiefs: list[list[Any]] = []
    for person in await store.people.chiefs():
        area_code = area_codes.get(person.home_area_id) if person.home_area_id is not None else None
        if area_code is None:
            result.without_area.append(person.name)
        assignments = await store.assignments.active_for_person(person.id)
        chiefs.append(
            [
                person.name,
                person.phone,
                person.roles.get("chief"),
                area_code,
                ";".join(sorted({a.reach_code for a in assignments})),
                person.telegram_id,
            ]
        )
    chiefs_csv = write_csv(CHIEF_COLUMNS, chiefs)

    result.counts = {AREAS_FILE: len(areas), REACHES_FILE: len(reaches), CHIEFS_FILE: len(chiefs)}
    files = {
        AREAS_FILE: (BOM + areas_csv).encode("utf-8"),
        REACHES_FILE: reaches_json.encode("utf-8"),
        CHIEFS_FILE: (BOM + chiefs_csv).encode("utf-8"),
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
