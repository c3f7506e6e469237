"""Exports round-trip: the workbook read back with openpyxl, the GeoJSON parsed, the CSV with its BOM."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cells import escape_formula, unescape_formula
from bot.config import Settings
from bot.exports import CSV_FILES, export, range_of
from bot.i18n import Locales
from bot.tallies import TallyService
from storage import Store
from storage.exports import ExportReader
from tests.support import World, local

LOCALES = Locales.load()
MARCH = (date(2025, 3, 1), date(2025, 3, 31))


async def fill(store: Store) -> dict[str, int]:
    world = World(store)
    qt = await world.area("QT", "曲塘镇", "Qutang Town")
    xm = await world.reach("XM-01", qt, "village", "新民河", "Xinmin River")
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
    assert book.sheetnames == ["巡河记录", "问题", "巡河率"]
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
    assert str(rows[1]["办理过程"]).split("\n")[-1] == "2025-03-21 10:00 张三 改派（李四，整改期限 2025-03-28）：换人"

    rate = book["巡河率"]
    header = [c.value for c in rate[1]]
    assert header == ["统计对象", "编号", "名称", "片区", "已巡次数", "应巡次数", "巡河率"]
    tally = await TallyService(store, settings).patrol_rate(*MARCH)
    values = [[c.value for c in row] for row in rate.iter_rows(min_row=2)]
    chief = next(v for v in values if v[0] == "河长")
    assert chief[2] == "张三" and (chief[4], chief[5]) == (tally.chiefs[0].rate.done, tally.chiefs[0].rate.required)
    assert rate.cell(row=2, column=7).number_format == "0.0%"


async def test_xlsx_in_english(store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path) -> None:
    out = tmp_path / "march.xlsx"
    await export(store, settings, LOCALES, language="en", fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
    book = load_workbook(out)
    assert book.sheetnames == ["Patrols", "Problems", "Patrol rate"]
    assert "Patroller" in [c.value for c in book["Patrols"][1]]
    assert book["Patrols"]["E2"].value == "Xinmin River"


async def test_geojson_points_and_lines_lon_lat(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "march.geojson"
    await export(store, settings, LOCALES, language="zh", fmt="geojson", first=MARCH[0], last=MARCH[1], out=out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection" and "crs" not in data  # RFC 7946: WGS 84, no crs member
    problems = [f for f in data["features"] if f["properties"]["kind"] == "problem"]
    patrols = [f for f in data["features"] if f["properties"]["kind"] == "patrol"]
    assert len(problems) == 2 and len(patrols) == 2
    assert all(f["geometry"]["type"] == "Point" for f in problems)
    assert problems[0]["geometry"]["coordinates"] == [120.45, 32.5]  # [lon, lat]
    assert problems[0]["properties"]["status"] == "已销号"
    good = next(f for f in patrols if f["properties"]["patrol_id"] == filled["good"])
    assert good["geometry"]["type"] == "LineString"
    assert good["geometry"]["coordinates"] == [[120.4, 32.5], [120.41, 32.51], [120.43, 32.52]]
    assert good["properties"]["valid"] is True and good["properties"]["started"] == "2025-03-05T09:00"
    bad = next(f for f in patrols if f["properties"]["patrol_id"] == filled["bad"])
    assert bad["geometry"] is None and bad["properties"]["valid"] is False


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
    assert rows[0][:2] == ["巡河编号", "巡河人"] and rows[1][5] == "2025-03-05 09:00"

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
    with ExportReader(store.path) as reader:
        chunks = list(reader.patrols(local("2025-03-01 00:00"), local("2025-04-01 00:00"), chunk=1))
        assert [len(c) for c in chunks] == [1, 1]
        problems = list(reader.problems(local("2025-03-01 00:00"), local("2025-04-01 00:00"), chunk=1))
        assert [p[0].id for p in problems] == [filled["closed"], filled["open"]]
        # A problem closed before April is not April's; the open one still is.
        april = list(reader.problems(local("2025-04-01 00:00"), local("2025-05-01 00:00")))
        assert [p.id for c in april for p in c] == [filled["open"]]


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


async def test_dispatch_events_read_as_words_in_the_timeline(
    store: Store, settings: Settings, filled: dict[str, int], tmp_path: Path
) -> None:
    """Extension, transfer and 督办 events are written out as the office says them, not as their codes."""
    number = filled["open"]
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
    for language, words in (
        ("zh", ["张三 申请延期：下雨", "张三 同意延期", "张三 转办（李四，整改期限 2025-04-04）", "张三 督办：抓紧"]),
        ("en", ["asked for an extension", "granted an extension", "transferred (to 李四, due 2025-04-04)", "pressed"]),
    ):
        out = tmp_path / f"{language}.xlsx"
        await export(store, settings, LOCALES, language=language, fmt="xlsx", first=MARCH[0], last=MARCH[1], out=out)
        sheet = load_workbook(out).worksheets[1]
        timeline = str(next(iter(sheet.iter_rows(min_row=3, values_only=True)))[-1]).split("\n")[-4:]
        for line, expected in zip(timeline, words, strict=True):
            assert expected in line, (line, expected)
