"""Reading the office's registry files: encodings, headers, every kind of bad row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import Locales
from bot.registry import (
    AreaRow,
    ChiefRow,
    ReachRow,
    RegistryFileError,
    bounding_box,
    find_duplicates,
    parse_file,
)

LOCALES = Locales.load()
AREAS = "code,name_zh,name_en\nQT,曲塘镇,Qutang Town\nCD,城东街道,Chengdong Subdistrict\n"


def _feature(code: str, geometry: Any, **props: Any) -> dict[str, Any]:
    properties = {
        "code": code,
        "name_zh": "丁堡河",
        "name_en": "Dingbao River",
        "area_code": "QT",
        "level": "town",
        "length_km": 2.5,
        "tags": "",
    }
    properties.update(props)
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _geojson(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False).encode()


LINE = {"type": "LineString", "coordinates": [[120.40, 32.50], [120.42, 32.51]]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_areas_in_every_encoding_spreadsheets_export(encoding: str) -> None:
    parsed = parse_file(Path("areas.csv"), AREAS.encode(encoding))
    assert parsed.kind == "areas" and parsed.errors == []
    assert parsed.rows == [
        AreaRow(2, "QT", "曲塘镇", "Qutang Town"),
        AreaRow(3, "CD", "城东街道", "Chengdong Subdistrict"),
    ]


def test_undecodable_bytes_are_refused() -> None:
    with pytest.raises(RegistryFileError) as caught:
        parse_file(Path("areas.csv"), b"code,name_zh,name_en\n\xff\xfe\xfa,\x81,x\n")
    assert caught.value.key == "registry.file.encoding"


def test_wrong_header_and_missing_column() -> None:
    with pytest.raises(RegistryFileError) as caught:
        parse_file(Path("x.csv"), b"id,title\n1,2\n")
    assert caught.value.key == "registry.file.unknown_kind"
    with pytest.raises(RegistryFileError) as caught:
        parse_file(Path("x.csv"), b"code,name_zh\nQT,x\n", kind="areas")
    assert caught.value.key == "registry.file.missing_columns"
    assert caught.value.params == {"columns": "name_en", "line": 1}


def test_reaches_from_geojson() -> None:
    multi = {"type": "MultiLineString", "coordinates": [LINE["coordinates"], [[120.43, 32.52], [120.44, 32.53]]]}
    parsed = parse_file(
        Path("reaches.geojson"),
        _geojson(
            _feature("DBH-01", LINE, tags="happy_river_demo;black_odorous"),
            _feature("DBH-02", multi),
            _feature("XM-01", None, level="village", length_km=None),
        ),
    )
    assert parsed.errors == []
    first, second, third = parsed.rows
    assert isinstance(first, ReachRow) and first.tags == ("black_odorous", "happy_river_demo")
    assert isinstance(second, ReachRow) and second.geometry is not None
    assert bounding_box(second.geometry) == (32.50, 120.40, 32.53, 120.44)
    assert isinstance(third, ReachRow) and third.geometry is None and third.length_km is None


@pytest.mark.parametrize(
    ("geometry", "key"),
    [
        ({"type": "Point", "coordinates": [120.4, 32.5]}, "registry.error.geometry_type"),
        (
            {"type": "Polygon", "coordinates": [[[120.4, 32.5], [120.5, 32.5], [120.4, 32.6], [120.4, 32.5]]]},
            "registry.error.geometry_type",
        ),
        ({"type": "LineString", "coordinates": [[120.4, 32.5]]}, "registry.error.geometry_points"),
        ({"type": "LineString", "coordinates": [[32.50, 120.40], [32.51, 120.42]]}, "registry.error.swapped"),
        ({"type": "LineString", "coordinates": [[200.0, 95.0], [120.42, 32.51]]}, "registry.error.out_of_range"),
        ({"type": "LineString", "coordinates": [["a", 1], [120.42, 32.51]]}, "registry.error.geometry_points"),
    ],
)
def test_bad_geometry_is_named(geometry: dict[str, Any], key: str) -> None:
    parsed = parse_file(Path("reaches.geojson"), _geojson(_feature("DBH-01", geometry)))
    assert parsed.rows == [] and [e.key for e in parsed.errors] == [key]
    assert parsed.errors[0].line == 1


@pytest.mark.parametrize(
    ("props", "key"),
    [
        ({"level": "province"}, "registry16.error.level"),
        ({"level": ""}, "registry.error.empty"),
        ({"length_km": "-1"}, "registry.error.length"),
        ({"length_km": "about 3"}, "registry.error.length"),
        ({"tags": "dirty"}, "registry.error.tags"),
        ({"code": "丁堡河 01"}, "registry.error.code"),
    ],
)
def test_bad_reach_values(props: dict[str, Any], key: str) -> None:
    code = props.pop("code", "DBH-01")
    parsed = parse_file(Path("reaches.geojson"), _geojson(_feature(code, LINE, **props)))
    assert [e.key for e in parsed.errors] == [key]


def test_reaches_as_csv_without_geometry() -> None:
    text = "code,name_zh,name_en,area_code,level,length_km,tags\nDBH-01,丁堡河,Dingbao River,QT,town,2.5,\n"
    parsed = parse_file(Path("reaches.csv"), text.encode())
    assert parsed.kind == "reaches" and parsed.errors == []
    assert isinstance(parsed.rows[0], ReachRow) and parsed.rows[0].geometry is None


def test_chiefs() -> None:
    text = (
        "name,phone,level,area_code,reach_codes,telegram_id\n"
        "王建国,139-0000-1234,town,QT,DBH-01;DBH-02,\n"
        "李梅,13900005678,village,QT,XM-01,123456789\n"
        "张三,12ab,mayor,QT,,x1\n"
    )
    parsed = parse_file(Path("chiefs.csv"), text.encode())
    assert parsed.rows == [
        ChiefRow(2, "王建国", "13900001234", "town", "QT", ("DBH-01", "DBH-02"), None),
        ChiefRow(3, "李梅", "13900005678", "village", "QT", ("XM-01",), 123456789),
    ]
    assert sorted((e.line, e.key) for e in parsed.errors) == [
        (4, "registry.error.phone"),
        (4, "registry.error.telegram_id"),
        (4, "registry16.error.level"),
    ]


def test_duplicate_codes_in_one_file_are_both_refused() -> None:
    parsed = parse_file(Path("areas.csv"), (AREAS + "QT,曲塘,Qutang\n").encode())
    find_duplicates(parsed)
    assert [r.code for r in parsed.rows if isinstance(r, AreaRow)] == ["CD"]
    assert [(e.line, e.key, e.params["first"]) for e in parsed.errors] == [(4, "registry.error.duplicate", 2)]


def test_bad_json_is_reported_with_its_line() -> None:
    with pytest.raises(RegistryFileError) as caught:
        parse_file(Path("reaches.geojson"), b'{"type": "FeatureCollection",\n "features": [}')
    assert caught.value.key == "registry.file.json" and caught.value.params["line"] == 2


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_error_has_a_message(lang: str) -> None:
    keys = [k for k in LOCALES.catalogs[lang] if k.startswith(("registry.error.", "registry.file."))]
    assert len(keys) >= 18


def test_the_shipped_sample_registry_reads_clean() -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "registry"
    counts = {}
    for name in ("areas.csv", "reaches.geojson", "chiefs.csv"):
        parsed = parse_file(sample / name, (sample / name).read_bytes())
        find_duplicates(parsed)
        assert parsed.errors == [], parsed.errors[:3]
        counts[parsed.kind] = len(parsed.rows)
    assert counts["areas"] >= 4 and counts["reaches"] >= 28 and counts["chiefs"] >= 20


def test_optional_columns_may_be_left_out() -> None:
    chiefs = parse_file(Path("chiefs.csv"), "name,level,area_code,reach_codes\n张三,town,CD,DBH-01\n".encode())
    assert not chiefs.errors and len(chiefs.rows) == 1
    reaches = parse_file(Path("r.csv"), "code,name_zh,name_en,area_code,level\nX-1,某河,Some River,CD,town\n".encode())
    assert not reaches.errors and len(reaches.rows) == 1


def test_geojson_tags_may_be_a_list_and_booleans_are_no_coordinates() -> None:
    properties: dict[str, Any] = {
        "code": "X-1",
        "name_zh": "某河",
        "name_en": "Some River",
        "area_code": "CD",
        "level": "town",
        "tags": ["black_odorous", "happy_river_demo"],
    }
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "LineString", "coordinates": [[120.4, 32.5], [120.41, 32.51]]},
    }
    bad = {
        **feature,
        "properties": {**properties, "code": "X-2"},
        "geometry": {"type": "LineString", "coordinates": [[True, 32.5], [120.41, 32.51]]},
    }
    data = json.dumps({"type": "FeatureCollection", "features": [feature, bad]}).encode()
    parsed = parse_file(Path("r.geojson"), data)
    assert [r.tags for r in parsed.rows] == [("black_odorous", "happy_river_demo")]  # type: ignore[union-attr]
    assert [e.key for e in parsed.errors] == ["registry.error.geometry_points"]


@pytest.mark.parametrize(
    "point",
    [
        [120.4, 32.5, [1, [2, [3]]]],
        [120.4, 32.5, {"cmd": "rm -rf /"}],
        [120.4, 32.5, "junk"],
        [120.4, 32.5, 10.0, 11.0],
        [[120.4], 32.5],
        [120.4, float("inf")],
    ],
)
def test_a_coordinate_with_junk_nested_inside_is_refused(point: list[Any]) -> None:
    """Finding 12 of issue 13: a position is [lon, lat] (an altitude may follow), finite numbers in range."""
    geometry = {"type": "LineString", "coordinates": [point, [120.42, 32.51]]}
    data = json.dumps({"type": "FeatureCollection", "features": [_feature("DBH-01", geometry)]}).encode()
    parsed = parse_file(Path("reaches.geojson"), data)
    assert parsed.rows == [] and [e.key for e in parsed.errors] == ["registry.error.geometry_points"]


def test_an_altitude_is_accepted_and_not_stored() -> None:
    geometry = {"type": "LineString", "coordinates": [[120.4, 32.5, 3.5], [120.42, 32.51, 4]]}
    parsed = parse_file(Path("reaches.geojson"), _geojson(_feature("DBH-01", geometry)))
    [row] = parsed.rows
    assert isinstance(row, ReachRow) and row.geometry is not None
    assert row.geometry["coordinates"] == [[120.4, 32.5], [120.42, 32.51]]


def test_geojson_nested_too_deep_is_reported_with_its_line() -> None:
    """Finding 12 of issue 13: 100,000 nested arrays raised RecursionError out of json.loads."""
    text = '{"type": "FeatureCollection",\n "features": [\n' + "[" * 100_000 + "]" * 100_000 + "\n]}"
    with pytest.raises(RegistryFileError) as caught:
        parse_file(Path("reaches.geojson"), text.encode())
    assert caught.value.key == "registry.file.too_deep" and caught.value.params["line"] == 3
