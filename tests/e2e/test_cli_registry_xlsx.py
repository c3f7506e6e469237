"""The office's own spreadsheets: XLSX workbooks, Chinese headers and level words, projected reach files."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import openpyxl
import pytest

from storage import Store
from tests.cli import another_data_dir, cli_database
from tests.conftest import Cli, SeparateDatabase

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def _db(tmp_path: Path, query: Callable[[Store], Awaitable[T]], env: dict[str, str] | None = None) -> T:
    """`query` on the store the commands work on: by default those run in `tmp_path`; else those run with `env`."""

    async def run() -> T:
        data_dir = Path(env["DATA_DIR"]) if env else tmp_path / "data"
        async with await Store.open(cli_database(data_dir, env)) as store:
            return await query(store)

    return asyncio.run(run())


def _office_workbook(path: Path) -> Path:
    """A workbook as a county office keeps it: sheets named as it likes, a merged title line, numbers as numbers."""
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "说明"  # an empty sheet: skipped
    areas = book.create_sheet("Sheet2")
    areas.append(["XX县片区名录"])
    areas.merge_cells("A1:C1")
    areas.append(["编码", "名称", "英文名称"])
    areas.append(["QT", "曲塘镇", "Qutang Town"])
    areas.append(["CD", "城东街道", "Chengdong Subdistrict"])
    reaches = book.create_sheet("河段一览")
    reaches.append(["XX县河段名录"])
    reaches.merge_cells("A1:G1")
    reaches.append(["河段编码", "河段名称", "英文名称", "所属片区", "河段级别", "长度（km）", "标签"])
    reaches.append(["DBH-01", "丁堡河北段", "Dingbao North", "QT", "镇级", 2.5, None])
    reaches.append(["DBH-02", "丁堡河南段", "Dingbao South", "QT", "村", 3, "black_odorous"])
    reaches.append(["CDH-01", "城东河", "Chengdong River", "CD", "县级", None, None])
    chiefs = book.create_sheet("河长")
    chiefs.append(["XX县河长名录"])
    chiefs.merge_cells("A1:F1")
    chiefs.append(["姓名", "联系电话", "河长级别", "所属乡镇", "负责河段", "备注"])
    chiefs.append(["张三", 13900000001, "镇级", "QT", "DBH-01；DBH-02", datetime(2026, 11, 2)])
    chiefs.append(["李四", 13900000002.0, "村级", "QT", "DBH-01、DBH-02", None])
    chiefs.append(["王五", "139 0000 0003", "区级", "CD", "CDH-01，DBH-01\u3000DBH-02", None])
    book.save(path)
    return path


async def _contents(store: Store) -> dict[str, Any]:
    areas = {a.id: a.code for a in await store.areas.all()}
    return {
        "areas": [(a.code, a.name_zh, a.name_en) for a in await store.areas.all()],
        "reaches": [
            (r.code, r.name_zh, r.name_en, r.area_code, r.level, r.length_km, r.tags, r.geometry, r.bbox)
            for r in await store.reaches.all()
        ],
        "chiefs": sorted(
            (p.name, p.phone, p.telegram_id, sorted(p.roles.items()), areas.get(p.home_area_id or 0))
            for p in await store.people.chiefs()
        ),
        "assignments": sorted(
            (a.person_name, a.reach_code, a.level) for a in await store.assignments.all() if a.ends_on is None
        ),
    }


def _cells(path: Path) -> dict[str, list[tuple[object, ...]]]:
    book = openpyxl.load_workbook(path)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_an_office_workbook_with_chinese_headers_imports_and_round_trips(
    cli: Cli, tmp_path: Path, separate_database: SeparateDatabase
) -> None:
    workbook = _office_workbook(tmp_path / "名录.xlsx")
    code, out, err = cli("registry", "import", workbook)
    assert code == 0, err
    assert "Areas: 2 new" in out and "Reaches: 3 new" in out and "Chiefs: 3 new" in out
    contents = _db(tmp_path, _contents)
    assert contents["reaches"][1][:7] == ("DBH-01", "丁堡河北段", "Dingbao North", "QT", "town", 2.5, ())
    assert contents["reaches"][0][4] == "county" and contents["reaches"][2][4:7] == ("village", 3.0, ("black_odorous",))
    assert [(c[0], c[1], c[3]) for c in contents["chiefs"]] == [
        ("张三", "13900000001", [("chief", "town")]),
        ("李四", "13900000002", [("chief", "village")]),
        ("王五", "13900000003", [("chief", "county")]),
    ]
    assert contents["assignments"] == [
        ("张三", "DBH-01", "town"),
        ("张三", "DBH-02", "town"),
        ("李四", "DBH-01", "village"),
        ("李四", "DBH-02", "village"),
        ("王五", "CDH-01", "county"),
        ("王五", "DBH-01", "county"),
        ("王五", "DBH-02", "county"),
    ]

    one = tmp_path / "one.xlsx"
    code, out, err = cli("registry", "export", "--format", "xlsx", "--out", one, DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    assert str(one) in out
    book = openpyxl.load_workbook(one)
    assert len(book.worksheets) == 3
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    assert [c.value for c in book.worksheets[2][1]][:3] == ["姓名", "手机号", "级别"]

    fresh = another_data_dir(tmp_path / "fresh", separate_database())
    code, _, err = cli("registry", "import", one, **fresh)
    assert code == 0, err
    two = tmp_path / "two.xlsx"
    assert cli("registry", "export", "--format", "xlsx", "--out", two, DEFAULT_LANGUAGE="zh", **fresh)[0] == 0
    assert _cells(tmp_path / "two.xlsx") == _cells(one)
    assert _db(tmp_path, _contents, env=fresh) == contents
    # An English workbook (English headers) reads back the same.
    code, _, err = cli("registry", "export", "--format", "xlsx", "--out", tmp_path / "en.xlsx")
    assert code == 0, err
    code, out, err = cli("registry", "import", tmp_path / "en.xlsx", **fresh)
    assert code == 0 and "3 unchanged" in out, err


def test_xlsx_export_keeps_reach_geometry_and_refuses_to_overwrite(
    cli: Cli, tmp_path: Path, separate_database: SeparateDatabase
) -> None:
    examples = ROOT / "examples" / "registry"
    assert cli("registry", "import", *sorted(examples.iterdir()))[0] == 0
    out = tmp_path / "all.xlsx"
    assert cli("registry", "export", "--format", "xlsx", "--out", out)[0] == 0
    code, _, err = cli("registry", "export", "--format", "xlsx", "--out", out)
    assert code == 2 and str(out) in err and "--force" in err and "Traceback" not in err
    fresh = another_data_dir(tmp_path / "fresh", separate_database())
    code, _, err = cli("registry", "import", out, **fresh)
    assert code == 0, err
    assert _db(tmp_path, _contents, env=fresh) == _db(tmp_path, _contents)
    code, _, err = cli("registry", "export", "--format", "xlsx")
    assert code == 1 and "--out" in err


def test_gbk_csv_with_chinese_headers_and_level_words(cli: Cli, tmp_path: Path) -> None:
    areas = tmp_path / "片区.csv"
    areas.write_bytes("代码,名称,英文名称\r\nQT,曲塘镇,Qutang Town\r\n".encode("gbk"))
    reaches = tmp_path / "河段.csv"
    reaches.write_bytes("编码,名称,英文名称,片区,级别,长度(km)\nDBH-01,丁堡河,Dingbao,QT,镇,1.5\n".encode("gb18030"))
    chiefs = tmp_path / "河长.csv"
    chiefs.write_bytes("\ufeff姓名,手机号,级别,片区,河段\n张三,13900000001,街道级,QT,DBH-01\n".encode())
    code, out, err = cli("registry", "import", chiefs, reaches, areas)
    assert code == 0, err
    assert "Chiefs: 1 new" in out
    assert [(a.person_name, a.level) for a in _db(tmp_path, lambda s: s.assignments.all())] == [("张三", "town")]


def test_a_utf16_text_file_is_named_as_such(cli: Cli, tmp_path: Path) -> None:
    """Excel's "Unicode Text" is UTF-16 and tab-separated: said so, not read as garbage."""
    text = tmp_path / "片区.csv"
    text.write_bytes("code\tname_zh\tname_en\nQT\t曲塘镇\tQutang\n".encode("utf-16"))
    code, _, err = cli("registry", "import", text)
    assert code == 1 and "片区.csv: This file is UTF-16" in err and "CSV UTF-8" in err
    assert _db(tmp_path, lambda s: s.areas.all()) == []


def test_a_chief_in_two_sheets_is_named_with_both(cli: Cli, tmp_path: Path) -> None:
    path = _office_workbook(tmp_path / "book.xlsx")
    book = openpyxl.load_workbook(path)
    more = book.create_sheet("补充")
    more.append(["姓名", "手机号", "级别", "片区", "河段"])
    more.append(["张三", "13900000001", "镇级", "QT", "DBH-01"])
    book.save(path)
    code, _, err = cli("registry", "import", path)
    assert code == 1 and "book.xlsx[补充]:2" in err and "book.xlsx[河长]:3" in err and "\x00" not in err, err


def test_a_file_that_is_not_a_workbook_is_named(cli: Cli, tmp_path: Path) -> None:
    fake = tmp_path / "河长名录.xlsx"
    fake.write_bytes(os.urandom(2048))
    code, _, err = cli("registry", "import", fake, DEFAULT_LANGUAGE="zh")
    assert code == 1 and "Traceback" not in err
    assert "河长名录.xlsx" in err and "不是 Excel 工作簿" in err and "未写入任何数据" in err
    assert _db(tmp_path, lambda s: s.areas.all()) == []


def test_a_sheet_without_a_header_and_an_unknown_level_are_named(cli: Cli, tmp_path: Path) -> None:
    path = _office_workbook(tmp_path / "book.xlsx")
    book = openpyxl.load_workbook(path)
    book["河长"]["C4"] = "省级"
    notes = book.create_sheet("备注")
    notes.append(["本表由河长办维护"])
    notes.append(["联系人", "电话"])
    book.save(path)
    code, _, err = cli("registry", "import", path, DEFAULT_LANGUAGE="zh")
    assert code == 1 and "Traceback" not in err
    assert re.search(r"book\.xlsx.*工作表“备注”.*无法识别", err), err
    assert _db(tmp_path, lambda s: s.areas.all()) == []
    del book["备注"]
    book.save(path)
    code, _, err = cli("registry", "import", path)
    assert code == 1 and "Traceback" not in err
    assert re.search(r"book\.xlsx, sheet “河长”, row 4: .*“省级”", err), err
    assert "Nothing was written" in err
    assert _db(tmp_path, lambda s: s.areas.all()) == []


LINE = {"type": "LineString", "coordinates": [[120.1, 32.5], [120.2, 32.6]]}


def _reach_collection(geometry: dict[str, Any], crs: str | None = None) -> str:
    document: dict[str, Any] = {"type": "FeatureCollection"}
    if crs is not None:
        document["crs"] = {"type": "name", "properties": {"name": crs}}
    document["features"] = [
        {
            "type": "Feature",
            "properties": {
                "code": "DBH-01",
                "name_zh": "丁堡河",
                "name_en": "Dingbao",
                "area_code": "QT",
                "level": "town",
            },
            "geometry": geometry,
        }
    ]
    return json.dumps(document, ensure_ascii=False)


@pytest.mark.parametrize(
    ("crs", "geometry", "expected"),
    [
        ("urn:ogc:def:crs:EPSG::4547", LINE, "EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"),
        ("EPSG:2383", LINE, "EPSG:2383 (Xian 1980 / 3-degree Gauss-Kruger CM 114E)"),
        ("urn:ogc:def:crs:EPSG::32650", LINE, "EPSG:32650 (WGS 84 / UTM zone 50N)"),
        ("urn:ogc:def:crs:EPSG::9999", LINE, "EPSG:9999"),
        (None, {"type": "LineString", "coordinates": [[500000.5, 3600000.2], [500100, 3600100]]}, "projected"),
    ],
)
def test_a_projected_reach_file_is_refused_with_its_name(
    cli: Cli, tmp_path: Path, crs: str | None, geometry: dict[str, Any], expected: str
) -> None:
    areas = tmp_path / "areas.csv"
    areas.write_text("code,name_zh,name_en\nQT,曲塘镇,Qutang Town\n", encoding="utf-8")
    reaches = tmp_path / "reaches.geojson"
    reaches.write_text(_reach_collection(geometry, crs), encoding="utf-8")
    code, _, err = cli("registry", "import", areas, reaches)
    assert code == 1 and expected in err and "ogr2ogr" in err and "Traceback" not in err
    assert "reaches.geojson" in err
    assert _db(tmp_path, lambda s: s.areas.all()) == []


@pytest.mark.parametrize("crs", ["urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326"])
def test_wgs84_named_in_the_file_is_accepted(cli: Cli, tmp_path: Path, crs: str) -> None:
    areas = tmp_path / "areas.csv"
    areas.write_text("code,name_zh,name_en\nQT,曲塘镇,Qutang Town\n", encoding="utf-8")
    reaches = tmp_path / "reaches.geojson"
    reaches.write_text(_reach_collection(LINE, crs), encoding="utf-8")
    code, _, err = cli("registry", "import", areas, reaches)
    assert code == 0, err


def _readme_ogr2ogr(readme: Path) -> list[str]:
    """The conversion command as the README shows it, inside a shell block of the registry section."""
    text = readme.read_text(encoding="utf-8")
    found = re.search(r"^(ogr2ogr -t_srs EPSG:4326 \S+ \S+)", text, flags=re.MULTILINE)
    assert found, f"{readme.name} shows no ogr2ogr conversion"
    return shlex.split(found.group(1))


@pytest.mark.parametrize("name", ["README.md", "README.zh-CN.md"])
def test_the_readme_shows_how_to_convert_a_projected_file(name: str) -> None:
    command = _readme_ogr2ogr(ROOT / name)
    assert command[:3] == ["ogr2ogr", "-t_srs", "EPSG:4326"] and command[3].endswith(".geojson")


@pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="gdal-bin (ogr2ogr) is not installed")
def test_a_projected_file_converted_as_the_readme_says_imports(cli: Cli, tmp_path: Path) -> None:
    wgs84 = tmp_path / "wgs84.geojson"
    wgs84.write_text(_reach_collection({"type": "LineString", "coordinates": [[114.1, 30.5], [114.2, 30.6]]}))
    projected = tmp_path / "projected.geojson"
    subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", "-s_srs", "EPSG:4326", "-t_srs", "EPSG:4547", projected, wgs84],
        check=True,
        capture_output=True,
    )
    areas = tmp_path / "areas.csv"
    areas.write_text("code,name_zh,name_en\nQT,曲塘镇,Qutang Town\n", encoding="utf-8")
    code, _, err = cli("registry", "import", areas, projected)
    assert code == 1 and "EPSG:4547" in err

    command = _readme_ogr2ogr(ROOT / "README.md")
    converted = tmp_path / command[3]
    subprocess.run([*command[:3], converted, projected], check=True, capture_output=True, cwd=tmp_path)
    code, _, err = cli("registry", "import", areas, converted)
    assert code == 0, err
    reach = _db(tmp_path, lambda s: s.reaches.all())[0]
    assert reach.geometry is not None
    points = json.loads(reach.geometry)["coordinates"]
    assert abs(points[0][0] - 114.1) < 1e-6 and abs(points[1][1] - 30.6) < 1e-6
