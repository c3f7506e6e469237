"""Exports round-trip: the workbook read back with openpyxl, the GeoJSON parsed, the CSV with its BOM."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

import bot.exports
from bot.cells import escape_formula, unescape_formula
from bot.config import Settings
from bot.dossier import Dossiers
from bot.exports import CSV_FILES, GEOJSON_FILES, RangeRefused, export, parse_range, range_of
from bot.i18n import Locales
from bot.tallies import TallyService
from storage import Store
from storage.exports import ExportReader
from storage.registry import ReachValues
from tests.support import World, local

LOCALES = Locales.load()
MARCH = (date(2025, 3, 1), date(2025, 3, 31))


async def fill(store: Store) -> dict[str, int]:
    world = World(store)
    qt = await world.area("QT", "曲塘镇", "Qutang Town")
    xm = await world.reach("XM-01", qt, "village", "新民河", "Xinmin River")
    line = {"type": "LineString", "coordinates": [[120.40, 32.50], [120.45, 32.52]]}
    await store.reaches.upsert(
        ReachValues("XM-01", "新民河", "Xinmin River", qt, "village", None, (), json.dumps(line),
                    (32.50, 120.40, 32.52, 120.45))
    )  # fmt: skip
    await world.reach("XM-02", qt, "village", "无图河", "Unmapped River")  # no geometry: not in the reaches layer
    zhang = await world.person("张三")
    li = await world.person("李四")
    # 李四 has joined: the bot can write to him, so what he is assigned is being rectified (整改中).
    await store.execute("UPDATE people SET telegram_id = 4004, started_at = '2025-01-01T00:00:00Z' WHERE id = ?", (li,))
    await world.assign(zhang, xm, "2025-01-01")
    good = await world.patrol(zhang, xm, "2025-03-05 09:00")
    bad = await world.patrol(zhang, xm, "2025-03-12 09:00", valid=False)
    await world.patrol(zhang, xm, "2025-04-02 09:00")  # outside the range
    for i, (lat, lon) in enumerate([(32.50, 120.40), (32.51, 120.41), (32.52, 120.43)]):
        await store.execute(
            "INSERT INTO patrol_points (patrol_id, at, lat, lon, accuracy_m, source) VALUES (?, ?, ?, ?, 5, 'live')",
            (good, f"2025-03-05T01:0{i}:00Z", lat, lon),
        )
    closed = await world.problem(zhang, xm, category="dumping", reported="2025-03-03 09:00", deadline="2025-03-10",
                                 assignee_id=li, closed="2025-03-08 09:00")  # fmt: skip
    open_ = await world.problem(zhang, xm, reported="2025-03-20 09:00", deadline="2025-03-27", assignee_id=li)
    await store.problems.add_event(
        open_, actor_id=zhang, action="reassign", from_status="assigned", to_status="assigned",
        at=local("2025-03-21 10:00"), data={"assignee": li, "deadline": "2025-03-28"}, note="换人",
    )  # fmt: skip
    return {"good": good, "bad": bad, "closed": closed, "open": open_}


@pytest.fixture
async def filled(store: Store) -> dict[str, int]:
    return await fill(store)


async def test_xlsx_has_chinese_sheets_headers_real_dates_and_the_rate_table(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "march.xlsx"
    result = await export(store, settings, LOCALES, language="zh", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
    assert (result.patrols, result.problems) == (2, 2)
    book = load_workbook(out)
    assert book.sheetnames == ["巡河记录", "问题", "片区巡河率", "河段巡河率", "河长巡河率"]
    patrols = book["巡河记录"]
    header = [c.value for c in patrols[1]]
    for title in ("巡河人", "河段", "开始时间", "结束时间", "时长（分钟）", "轨迹长度（米）", "是否有效", "无效原因"):
        assert title in header
    assert patrols[1][0].font.b and patrols.freeze_panes == "A2"
    assert patrols.column_dimensions["A"].width > 0
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in patrols.iter_rows(min_row=2)]
    assert [r["巡河编号"] for r in rows] == [filled["good"], filled["bad"]]
    assert rows[0]["开始时间"] == datetime(2025, 3, 5, 9, 0)  # a real date, local time
    assert rows[0]["是否有效"] == "是" and rows[1]["是否有效"] == "否"
    assert rows[0]["河段"] == "新民河" and rows[0]["巡河人"] == "张三"
    assert rows[0]["时长（分钟）"] == 30 and rows[0]["轨迹长度（米）"] == 1200
    assert rows[1]["无效原因"] == "too_short"  # a reason recorded without its figures keeps its code

    problems = book["问题"]
    header = [c.value for c in problems[1]]
    for title in ("问题编号", "类别", "状态", "责任人", "整改期限", "上报时间", "销号时间", "办理过程"):
        assert title in header
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in problems.iter_rows(min_row=2)]
    first = rows[0]
    assert first["问题编号"] == filled["closed"] and first["状态"] == "已销号" and first["类别"] == "乱堆"
    assert first["状态"] == "已销号" and first["责任人"] == "李四"
    assert first["整改期限"] == datetime(2025, 3, 10) and first["销号时间"] == datetime(2025, 3, 8, 9, 0)
    timeline = str(first["办理过程"]).split("\n")
    assert len(timeline) == 4 and "上报" in timeline[0] and "核查通过，销号" in timeline[3]
    assert "系统 指派" in timeline[1]
    assert rows[1]["状态"] == "整改中" and rows[1]["销号时间"] is None
    assert str(rows[1]["办理过程"]).split("\n")[-1] == "2025-03-21 10:00 张三 改派 → 李四（期限 2025-03-28）：换人"

    chiefs = book["河长巡河率"]
    header = [c.value for c in chiefs[1]]
    assert header == ["河长", "河段编号", "片区", "片区名称", "已巡次数", "应巡次数", "巡河率"]
    tally = await TallyService(store, settings).patrol_rate(*MARCH)
    values = [[c.value for c in row] for row in chiefs.iter_rows(min_row=2)]
    assert values[0][0] == "张三" and values[0][3] == "曲塘镇"
    assert (values[0][4], values[0][5]) == (tally.chiefs[0].rate.done, tally.chiefs[0].rate.required)
    areas = book["片区巡河率"]
    assert [c.value for c in areas[1]] == ["片区", "片区名称", "已巡次数", "应巡次数", "巡河率"]
    assert [c.value for c in areas[2]][:2] == ["QT", "曲塘镇"] and areas.cell(row=2, column=5).number_format == "0.0%"
    reaches = book["河段巡河率"]
    assert [c.value for c in reaches[1]] == ["河段编号", "河段", "片区", "片区名称", "已巡次数", "应巡次数", "巡河率"]
    assert [r[0].value for r in reaches.iter_rows(min_row=2)] == ["XM-01"]  # XM-02 has no chief: nothing due


async def test_xlsx_prints_on_a4_landscape_with_filters_area_names_and_days_overdue(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "march.xlsx"
    await export(store, settings, LOCALES, language="zh", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out,
                 today=date(2025, 6, 1))  # fmt: skip
    book = load_workbook(out)
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref == f"A1:{get_column_letter(ws.max_column)}{ws.max_row}", ws.title
        assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4, ws.title
        setup = ws.sheet_properties.pageSetUpPr
        assert setup is not None and setup.fitToPage, ws.title
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.print_title_rows == "$1:$1", ws.title  # the header on every printed page
    patrols = book["巡河记录"]
    header = [c.value for c in patrols[1]]
    assert header[header.index("片区") + 1] == "片区名称"
    assert patrols.cell(row=2, column=header.index("片区名称") + 1).value == "曲塘镇"
    problems = book["问题"]
    header = [c.value for c in problems[1]]
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in problems.iter_rows(min_row=2)]
    assert rows[0]["片区名称"] == "曲塘镇"
    assert rows[0]["逾期天数"] == 0  # closed 2025-03-08, due 2025-03-10
    assert rows[1]["逾期天数"] == 4  # still open at the end of March, due 2025-03-27


async def test_xlsx_sheets_split_before_the_row_limit(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(store)
    area = await world.area("QT")
    reach = await world.reach("XM-01", area)
    person = await world.person("张三")
    patrols = [await world.patrol(person, reach, f"2025-03-{day:02d} 09:00") for day in range(1, 13)]
    monkeypatch.setattr(bot.exports, "SHEET_ROWS", 10)  # the header and nine rows a sheet
    out = tmp_path / "a.xlsx"
    result = await export(store, settings, LOCALES, language="zh", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
    assert result.patrols == 12
    book = load_workbook(out)
    assert book.sheetnames[:2] == ["巡河记录", "巡河记录（2）"]
    first, second = book["巡河记录"], book["巡河记录（2）"]
    assert first.max_row == 10 and second.max_row == 1 + 3
    assert [c.value for c in second[1]] == [c.value for c in first[1]]
    assert second.auto_filter.ref == f"A1:{get_column_letter(second.max_column)}4"
    ids = [r[0].value for r in first.iter_rows(min_row=2)] + [r[0].value for r in second.iter_rows(min_row=2)]
    assert ids == patrols
    en = tmp_path / "en.xlsx"
    await export(store, settings, LOCALES, language="en", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=en)
    assert load_workbook(en).sheetnames[:2] == ["Patrols", "Patrols (2)"]


async def test_xlsx_in_english(store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path) -> None:
    out = tmp_path / "march.xlsx"
    await export(store, settings, LOCALES, language="en", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
    book = load_workbook(out)
    assert book.sheetnames == [
        "Patrols", "Problems", "Patrol rate by area", "Patrol rate by reach", "Patrol rate by chief"
    ]  # fmt: skip
    assert "Patroller" in [c.value for c in book["Patrols"][1]]
    assert book["Patrols"]["F2"].value == "Xinmin River"


def _layers(out: Path) -> dict[str, Any]:
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(GEOJSON_FILES.values())
        return {name: json.loads(archive.read(file)) for name, file in GEOJSON_FILES.items()}


async def test_geojson_layers_one_geometry_each_timeline_as_a_list_times_with_offset(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "march.zip"
    await export(store, settings, LOCALES, language="zh", fmt="geojson", first=MARCH[0], last=MARCH[1], out=out)
    layers = _layers(out)
    for data in layers.values():
        assert data["type"] == "FeatureCollection" and "crs" not in data  # RFC 7946: WGS 84, no crs member
    problems = layers["problems"]["features"]
    assert [f["geometry"]["type"] for f in problems] == ["Point", "Point"]
    assert problems[0]["geometry"]["coordinates"] == [120.45, 32.5]
    first = problems[0]["properties"]
    assert first["status"] == "已销号" and first["area_name"] == "曲塘镇"
    assert first["reported"] == "2025-03-03T09:00:00+08:00" and first["deadline"] == "2025-03-10"
    timeline = first["timeline"]
    assert isinstance(timeline, list) and len(timeline) == 4
    assert set(timeline[0]) >= {"at", "actor", "action", "action_name", "note"}
    assert timeline[0]["at"] == "2025-03-03T09:00:00+08:00" and timeline[0]["action"] == "report"
    reassign = problems[1]["properties"]["timeline"][-1]
    assert reassign["action"] == "reassign" and reassign["actor"] == "张三" and reassign["note"] == "换人"
    assert reassign["assignee"] == "李四" and reassign["deadline"] == "2025-03-28"
    # Only tracks with a line: the patrol without one is in the spreadsheet, not on the map.
    tracks = layers["tracks"]["features"]
    assert [f["properties"]["patrol_id"] for f in tracks] == [filled["good"]]
    good = tracks[0]
    assert good["geometry"]["type"] == "LineString"
    assert good["geometry"]["coordinates"] == [[120.4, 32.5], [120.41, 32.51], [120.43, 32.52]]
    assert good["properties"]["valid"] is True and good["properties"]["started"] == "2025-03-05T09:00:00+08:00"
    reaches = layers["reaches"]["features"]
    assert [f["properties"]["code"] for f in reaches] == ["XM-01"]
    assert reaches[0]["geometry"]["type"] == "LineString"
    assert reaches[0]["properties"]["area_name"] == "曲塘镇"
    folder = tmp_path / "march"
    await export(store, settings, LOCALES, language="zh", fmt="geojson", first=MARCH[0], last=MARCH[1], out=folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(GEOJSON_FILES.values())


def _gdal(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL (gdal-bin: ogrinfo, ogr2ogr) is not installed")
async def test_gdal_reads_every_layer_whole_and_converts_it_to_shapefile(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    folder = tmp_path / "layers"
    await export(store, settings, LOCALES, language="zh", fmt="geojson", first=MARCH[0], last=MARCH[1], out=folder)
    expected = {"problems": (2, "Point"), "tracks": (1, "Line String"), "reaches": (1, "Line String")}
    assert set(GEOJSON_FILES) == set(expected)
    for name, file in GEOJSON_FILES.items():
        path = folder / file
        summary = _gdal("ogrinfo", "-so", "-al", path)
        count, geometry = expected[name]
        assert f"Feature Count: {count}" in summary, summary
        assert f"Geometry: {geometry}" in summary, summary
        table = tmp_path / f"{name}.csv"
        _gdal("ogr2ogr", "-f", "CSV", table, path)
        rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
        assert len(rows) == count
        if name == "problems":
            for row in rows:
                events = json.loads(row["timeline"])  # the whole history, not its first timestamp
                assert len(events) in (4, 3) and all("at" in e for e in events)
            assert [len(json.loads(r["timeline"])) for r in rows] == [4, 3]
            assert rows[0]["reported"].startswith("2025/03/03 09:00:00+08") or rows[0]["reported"].startswith(
                "2025-03-03T09:00:00+08"
            ), rows[0]["reported"]
        shapes = tmp_path / f"{name}-shp"
        _gdal("ogr2ogr", "-f", "ESRI Shapefile", shapes, path)
        assert "Feature Count: " + str(count) in _gdal("ogrinfo", "-so", "-al", shapes)


async def test_reaches_layer_is_one_geometry_type_when_some_are_multi_part(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    world = World(store)
    area = await world.area("DC", "东城镇", "Dongcheng")
    parts = {"type": "MultiLineString", "coordinates": [[[120.5, 32.5], [120.6, 32.6]], [[120.7, 32.5], [120.8, 32.6]]]}
    await store.reaches.upsert(
        ReachValues(
            "DC-01", "东河", "East River", area, "town", None, (), json.dumps(parts), (32.5, 120.5, 32.6, 120.8)
        )
    )
    folder = tmp_path / "gis"
    await export(store, settings, LOCALES, language="en", fmt="geojson", first=MARCH[0], last=MARCH[1], out=folder)
    reaches = json.loads((folder / "reaches.geojson").read_text(encoding="utf-8"))["features"]
    assert [(f["properties"]["code"], f["geometry"]["type"]) for f in reaches] == [
        ("DC-01", "MultiLineString"),
        ("XM-01", "MultiLineString"),
    ]
    assert reaches[1]["geometry"]["coordinates"] == [[[120.4, 32.5], [120.45, 32.52]]]
    assert reaches[1]["properties"]["area_name"] == "Qutang Town"


async def test_export_keeps_to_its_areas(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    world = World(store)
    other = await world.area("DC", "东城镇", "Dongcheng")
    out = tmp_path / "other.xlsx"
    result = await export(store, settings, LOCALES, language="zh", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out,
                          areas=frozenset({other}))  # fmt: skip
    assert (result.patrols, result.problems) == (0, 0)
    folder = tmp_path / "gis"
    await export(store, settings, LOCALES, language="zh", fmt="geojson", first=MARCH[0], last=MARCH[1], out=folder,
                 areas=frozenset({other}))  # fmt: skip
    assert json.loads((folder / "reaches.geojson").read_text(encoding="utf-8"))["features"] == []
    book = load_workbook(out)
    assert [r[0].value for r in book["片区巡河率"].iter_rows(min_row=2)] == ["DC"]
    assert book["河段巡河率"].max_row == 1 and book["河长巡河率"].max_row == 1


async def test_csv_zip_and_directory_with_bom(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "march.zip"
    await export(store, settings, LOCALES, language="zh", fmt="csv", first=MARCH[0], last=MARCH[1], out=out)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(CSV_FILES.values())
        raw = archive.read("patrols.csv")
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:2] == ["巡河编号", "巡河人"] and rows[1][6] == "2025-03-05 09:00"

    folder = tmp_path / "march"
    await export(store, settings, LOCALES, language="zh", fmt="csv", first=MARCH[0], last=MARCH[1], out=folder)
    text = (folder / "problems.csv").read_text(encoding="utf-8-sig")
    problems = list(csv.DictReader(io.StringIO(text)))
    assert len(problems) == 2 and problems[0]["状态"] == "已销号"
    assert len(problems[0]["办理过程"].split("\n")) == 4  # the timeline in one cell
    rate = list(csv.DictReader(io.StringIO((folder / "patrol_rate.csv").read_text(encoding="utf-8-sig"))))
    assert {r["统计对象"] for r in rate} == {"片区", "河段", "河长"}
    assert all(r["巡河率"].endswith("%") or r["巡河率"] == "—" for r in rate)


async def test_formulas_are_never_run(store: Store, settings: Settings, tmp_path: Path) -> None:
    world = World(store)
    area = await world.area("QT")
    reach = await world.reach("XM-01", area)
    person = await world.person("=HYPERLINK(1)")
    await world.patrol(person, reach, "2025-03-05 09:00")
    out = tmp_path / "a.xlsx"
    await export(store, settings, LOCALES, language="zh", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
    cell = load_workbook(out)["巡河记录"]["B2"]
    assert cell.data_type == "s" and cell.value == "=HYPERLINK(1)"
    folder = tmp_path / "c"
    await export(store, settings, LOCALES, language="zh", fmt="csv", first=MARCH[0], last=MARCH[1], out=folder)
    assert "'=HYPERLINK(1)" in (folder / "patrols.csv").read_text(encoding="utf-8-sig")


async def test_reader_walks_in_chunks(store: Store, filled: dict[str, int]) -> None:
    with ExportReader(store) as reader:
        chunks = list(reader.patrols(local("2025-03-01 00:00"), local("2025-04-01 00:00"), chunk=1))
        assert [len(c) for c in chunks] == [1, 1]
        problems = list(reader.problems(local("2025-03-01 00:00"), local("2025-04-01 00:00"), chunk=1))
        assert [p[0].id for p in problems] == [filled["closed"], filled["open"]]
        # A problem closed before April is not April's; the open one still is.
        april = list(reader.problems(local("2025-04-01 00:00"), local("2025-05-01 00:00")))
        assert [p.id for c in april for p in c] == [filled["open"]]


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-01-01 2026-03-31", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-01-01~2026-03-31", date(2026, 1, 1), date(2026, 3, 31)),
        (" 2026-1-1 至 2026-3-31 ", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-01-01 到 2026-03-31", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-01-01～2026-03-31", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2024-2", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-03-05", date(2026, 3, 5), date(2026, 3, 5)),
    ],
)
def test_custom_ranges_parse(text: str, first: date, last: date) -> None:
    assert parse_range(text) == (first, last)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("last week", "format"),
        ("", "format"),
        ("2026-02-30 2026-03-31", "bad_date"),
        ("2026-13", "bad_date"),
        ("2026-03-31 2026-01-01", "reversed"),
        ("2019-01-01 2026-01-01", "too_long"),
    ],
)
def test_custom_ranges_refused(text: str, reason: str) -> None:
    with pytest.raises(RangeRefused) as refused:
        parse_range(text)
    assert refused.value.reason == reason


def test_ranges() -> None:
    today = date(2026, 3, 4)  # a Wednesday
    assert range_of("week", today) == (date(2026, 2, 23), date(2026, 3, 1))
    assert range_of("month", today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert range_of("year", today) == (date(2026, 1, 1), today)


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_escaping_is_undone_by_reading_back(text: str) -> None:
    """One helper for every CSV the project writes (finding 7 of issue 13); registry import undoes it."""
    escaped = escape_formula(text)
    assert escaped.startswith("'") and unescape_formula(escaped) == text


@pytest.mark.parametrize("text", ["张三", "", "'", "'quoted'", "13800000000", "a=b"])
def test_ordinary_cells_are_left_alone(text: str) -> None:
    assert escape_formula(text) == text and unescape_formula(text) == text


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "geojson"])
async def test_every_export_names_the_assistant_who_walked_a_patrol(
    store: Store, settings: Settings, tmp_path: Path, fmt: str
) -> None:
    """A patrol an assistant walked for the chief (河长助理 代巡): in every format, the chief's row names the
    assistant in its own column (property); the chief's own patrol leaves it empty."""
    world = World(store)
    qt = await world.area("QT", "曲塘镇", "Qutang Town")
    xm = await world.reach("XM-01", qt, "village", "新民河", "Xinmin River")
    zhang = await world.person("张三")
    xiao = await world.person("小周", role="volunteer")
    await world.assign(zhang, xm, "2025-01-01")
    own = await world.patrol(zhang, xm, "2025-03-05 09:00")
    walked = await world.patrol(zhang, xm, "2025-03-12 09:00", walked_by=xiao)
    for patrol, day in ((own, "05"), (walked, "12")):  # a line each, so both are on the map too
        for i, (lat, lon) in enumerate([(32.50, 120.40), (32.51, 120.41)]):
            await store.execute(
                "INSERT INTO patrol_points (patrol_id, at, lat, lon, accuracy_m, source)"
                " VALUES (?, ?, ?, ?, 5, 'live')",
                (patrol, f"2025-03-{day}T01:0{i}:00Z", lat, lon),
            )
    out = tmp_path / "march.xlsx" if fmt == "xlsx" else tmp_path / "march"
    await export(store, settings, LOCALES, language="zh", fmt=fmt, first=MARCH[0], last=MARCH[1], out=out)  # type: ignore[arg-type]
    if fmt == "xlsx":
        sheet = load_workbook(out)["巡河记录"]
        header = [c.value for c in sheet[1]]
        rows = [dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(min_row=2)]
    elif fmt == "csv":
        text = (out / CSV_FILES["patrols"]).read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        data = json.loads((out / GEOJSON_FILES["tracks"]).read_text(encoding="utf-8"))
        rows = [
            {"巡河编号": f["properties"]["patrol_id"], "巡河人": f["properties"]["chief"],
             "代巡助理": f["properties"]["walked_by"]}
            for f in data["features"]
        ]  # fmt: skip
    by_id = {int(r["巡河编号"]): r for r in rows}  # type: ignore[arg-type]
    assert by_id[walked]["巡河人"] == "张三" and by_id[walked]["代巡助理"] == "小周"
    assert by_id[own]["代巡助理"] in (None, "")


async def _dispatch_events(store: Store, number: int) -> None:
    li = 2
    for action, at, data, note in (
        ("extension_asked", "2025-03-22 09:00", {"request": 1, "old": "2025-03-28", "new": "2025-04-04"}, "下雨"),
        ("extension_granted", "2025-03-22 10:00", {"request": 1, "old": "2025-03-28", "new": "2025-04-04"}, None),
        ("transferred", "2025-03-23 10:00", {"to": li, "assignee": li, "deadline": "2025-04-04", "kept": True}, None),
        ("pressed", "2025-03-24 10:00", {"assignee": li, "superiors": []}, "抓紧"),
    ):
        await store.problems.add_event(
            number, actor_id=1, action=action, from_status="assigned", to_status="assigned",
            at=local(at), data=data, note=note,
        )  # fmt: skip


# What each surface says of the dispatch events above, in each language (bot.events: one wording for all).
DISPATCH_WORDS = {
    "zh": [
        "申请延期（至 2025-04-04）",
        "同意延期（2025-03-28 → 2025-04-04）",
        "转办 → 李四（期限 2025-04-04）（保留原期限）",
        "督办",
    ],
    "en": [
        "asked for an extension (to 2025-04-04)",
        "granted an extension (2025-03-28 → 2025-04-04)",
        "transferred → 李四, due 2025-04-04 (deadline kept)",
        "pressed (urged on)",
    ],
}


async def test_dispatch_events_read_as_words_in_the_timeline(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    """Extension, transfer and 督办 events are written out as the office says them, not as their codes: to whom
    a transfer went and until when, an extension's old and new deadline; the GeoJSON has them as fields too."""
    await _dispatch_events(store, filled["open"])
    for language, words in DISPATCH_WORDS.items():
        out = tmp_path / f"{language}.xlsx"
        await export(store, settings, LOCALES, language=language, fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
        sheet = load_workbook(out).worksheets[1]
        timeline = str(next(iter(sheet.iter_rows(min_row=3, values_only=True)))[-1]).split("\n")[-4:]
        for line, expected in zip(timeline, words, strict=True):
            assert expected in line, (line, expected)
        folder = tmp_path / language
        await export(store, settings, LOCALES, language=language, fmt="geojson", first=MARCH[0], last=MARCH[1],
                     out=folder)  # fmt: skip
        layer = json.loads((folder / GEOJSON_FILES["problems"]).read_text(encoding="utf-8"))
        [feature] = [f for f in layer["features"] if f["properties"]["number"] == filled["open"]]
        events = feature["properties"]["timeline"][-4:]
        details = [w.removeprefix(e["action_name"]) for w, e in zip(words, events, strict=True)]
        assert [e["detail"] for e in events] == details
    asked, granted, transferred, pressed = events
    assert (granted["old_deadline"], granted["new_deadline"]) == ("2025-03-28", "2025-04-04")
    assert (asked["old_deadline"], asked["new_deadline"]) == ("2025-03-28", "2025-04-04")
    assert transferred["assignee"] == "李四" and transferred["deadline"] == "2025-04-04"
    assert transferred["kept_deadline"] is True and "assignee" not in pressed


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
async def test_the_dossier_words_dispatch_events_as_the_export_does(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    await _dispatch_events(store, filled["open"])
    dossiers = Dossiers(store, settings, LOCALES)
    reach = await dossiers.reach_by_code("XM-01")
    for language, words in DISPATCH_WORDS.items():
        out = tmp_path / f"{language}.pdf"
        await dossiers.write([reach], MARCH[0], MARCH[1], out, language=language)  # type: ignore[arg-type]
        flat = "".join(_pdf_text(out).split())  # pdftotext wraps the table's cells and spaces Chinese its own way
        for expected in words:
            assert "".join(expected.split()) in flat, expected
        assert "extension_granted" not in flat and "transferred" not in flat.replace("transferred→", "")
