"""`riverbot report` (the assessment report) as the office runs it: XLSX and PDF of a month, their figures
against `riverbot stats` for the same range, print setup, and the refusals of bad input."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot import fonts
from storage import Store
from tests.cli import cli_database
from tests.conftest import Cli
from tests.e2e.test_cli_stats import _fill

requires_pdf_tools = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None or fonts._search() is None,
    reason="needs poppler-utils (pdftoppm, pdftotext) and a Chinese font (fonts-wqy-microhei)",
)


def last_month() -> tuple[str, date, date]:
    """The month before today in the default TIMEZONE: the demo data (which ends today) covers it whole."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year}-{last.month:02d}", last.replace(day=1), last


async def problem_ids(database: str | Path, where: str = "") -> list[int]:
    """The ids of the problems (`where`: a condition on them), in order."""
    async with await Store.open(database) as store:
        return [int(r[0]) for r in await store.fetchall(f"SELECT id FROM problems {where} ORDER BY id")]


async def press(database: str | Path, problem_ids: list[int], at: datetime) -> None:
    """督办 as the dispatch part records it: an event `pressed` in the problem's log, through the store."""
    async with await Store.open(database) as store:
        for problem_id in problem_ids:
            await store.problems.add_event(
                problem_id, actor_id=None, action="pressed", from_status=None, to_status=None, at=at
            )


def table(sheet: Worksheet) -> list[dict[str, Any]]:
    """The sheet's rows under its header (row 2) as dicts."""
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def rate(done: int, required: int) -> str:
    return "—" if required == 0 else f"{round(done / required * 100, 1):.1f}%"


@requires_pdf_tools
def test_the_demo_month_as_xlsx_and_pdf_agrees_with_stats(cli: Cli, tmp_path: Path) -> None:
    assert cli("demo-data", "--scale", "small", "--years", "1")[0] == 0
    database = cli_database(tmp_path / "data")
    period, first, last = last_month()
    pressed_ids = asyncio.run(problem_ids(database))[:3]
    middle = datetime.combine(first + timedelta(days=14), datetime.min.time(), ZoneInfo("Asia/Shanghai"))
    asyncio.run(press(database, [*pressed_ids, pressed_ids[0]], middle))
    asyncio.run(press(database, pressed_ids[:1], middle - timedelta(days=40)))  # before the month: not counted

    out = tmp_path / "report.xlsx"
    code, said, err = cli("report", "--period", period, "--format", "xlsx", "--out", out, DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    assert str(out) in said and first.isoformat() in said
    code, stats_json, err = cli("stats", "--from", first.isoformat(), "--to", last.isoformat(), "--format", "json")
    assert code == 0, err
    stats = json.loads(stats_json)

    book = load_workbook(out)
    assert book.sheetnames == ["通报概要", "片区", "河长", "问题分类", "逾期问题"]
    overview = book["通报概要"]
    assert "考核通报" in str(overview["A1"].value) and f"{last.month}月" in str(overview["A1"].value)
    for name in ("片区", "河长", "问题分类", "逾期问题"):
        sheet = book[name]
        assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize or 0) == 9
        fit = sheet.sheet_properties.pageSetUpPr
        assert sheet.page_setup.fitToWidth == 1 and fit is not None and fit.fitToPage
        assert sheet.print_title_rows == "$2:$2"
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A2:")

    areas = {row["片区代码"]: row for row in table(book["片区"]) if row["片区代码"]}
    assert set(areas) == {a["code"] for a in stats["areas"]}
    problems_by_area = {a["code"]: a for a in stats["problems"]["areas"]}
    for a in stats["areas"]:
        row = areas[a["code"]]
        p = problems_by_area[a["code"]]
        assert row["片区"] == a["name"] or row["片区"]  # the name is there next to the code
        assert (row["应巡次数"], row["有效巡河"]) == (a["required"], a["done"])
        assert row["巡河率"] == rate(a["done"], a["required"])
        assert (row["发现问题"], row["应整改"], row["按期整改"], row["逾期未整改"]) == (
            p["new"], p["due"], p["closed_on_time"], p["overdue"],
        )  # fmt: skip
        assert row["河长发现"] + row["河小义发现"] <= row["发现问题"]
    [total] = [row for row in table(book["片区"]) if row["片区"] == "合计"]
    assert (total["应巡次数"], total["有效巡河"]) == (stats["patrol_rate"]["required"], stats["patrol_rate"]["done"])
    assert (total["发现问题"], total["应整改"], total["按期整改"], total["逾期未整改"]) == (
        stats["problems"]["new"], stats["problems"]["due"], stats["problems"]["closed_on_time"],
        stats["problems"]["overdue"],
    )  # fmt: skip
    assert total["督办次数"] == 4  # three cases pressed in the month, one twice; the earlier press is not counted

    chiefs = table(book["河长"])
    assert sorted((c["河长"], c["应巡次数"], c["有效巡河"]) for c in chiefs) == sorted(
        (c["name"], c["required"], c["done"]) for c in stats["chiefs"]
    )
    assert sum(int(c["督办次数"]) for c in chiefs) <= 4  # pressed cases assigned to a chief
    for chief in chiefs:
        assert chief["排名"] or chief["红黑榜"] == "不参与排名"
        if not chief["排名"]:
            assert chief["应巡次数"] < 5  # the small-sample rule, as stated in the report

    categories = {row["问题类别"]: row for row in table(book["问题分类"])}
    names = list(categories)
    assert names[:5] == ["乱占", "乱采", "乱堆", "乱建", "其中“四乱”小计"]
    for c in stats["problems"]["categories"]:
        zh = {"occupation": "乱占", "extraction": "乱采", "dumping": "乱堆", "building": "乱建"}.get(c["category"])
        if zh is None:
            continue
        row = categories[zh]
        assert (row["发现问题"], row["已整改销号"], row["期末未整改"]) == (c["new"], c["closed"], c["open"])
    assert categories["合计"]["发现问题"] == stats["problems"]["new"]
    overdue = table(book["逾期问题"])
    assert len(overdue) == stats["problems"]["overdue"]  # one row per overdue problem, as stats counts them
    assert [row["逾期天数"] for row in overdue] == sorted((row["逾期天数"] for row in overdue), reverse=True)

    pdf = tmp_path / "report.pdf"
    code, _, err = cli("report", "--period", period, "--format", "pdf", "--out", pdf, DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-png", "-r", "30", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page*.png"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    assert "河长制工作考核通报" in flat and "红榜" in flat and "不参与排名" in flat
    assert f"应巡{stats['patrol_rate']['required']}次" in flat
    assert "督办4次" in flat
    pages = text.split("\f")[:-1]
    if len(pages) > 1:
        assert all("巡河率" in page for page in pages[:-1])  # a table header on every page but the rules


def test_a_known_month_per_chief(cli: Cli, tmp_path: Path) -> None:
    database = cli_database(tmp_path / "data")
    asyncio.run(_fill(database))
    [open_problem] = asyncio.run(problem_ids(database, "WHERE status = 'assigned'"))
    at = datetime(2025, 3, 25, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    asyncio.run(press(database, [open_problem, open_problem], at))
    out = tmp_path / "march.xlsx"
    code, _, err = cli("report", "--period", "2025-03", "--format", "xlsx", "--out", out)
    assert code == 0, err
    book = load_workbook(out)
    assert book.sheetnames == ["Overview", "By area", "By chief", "By category", "Overdue"]
    areas = {row["Area code"]: row for row in table(book["By area"])}
    qt, cd = areas["QT"], areas["CD"]
    assert (qt["Area"], qt["Required patrols"], qt["Valid patrols"]) == ("Qutang Town", 8, 6)
    assert qt["Patrol rate"] == "75.0%"
    assert (qt["Problems found"], qt["By chiefs"], qt["By volunteers"]) == (1, 1, 0)
    assert (cd["Problems found"], cd["By chiefs"], cd["By volunteers"]) == (1, 0, 1)
    # The volunteer's report, due Mar 27 and still open on Mar 31: overdue 4 days, pressed twice.
    assert (cd["Overdue"], cd["Days overdue (longest)"], cd["Pressed"]) == (1, 4, 2)
    [overdue] = table(book["Overdue"])
    assert overdue == {
        "Problem no.": open_problem,
        "Area": "CD Chengdong Subdistrict",
        "Reach": "LG-01 Ligong River",
        "Category": "floating garbage",
        "Assigned to": "李四",
        "Deadline": "2025-03-27",
        "Days overdue": 4,
        "Pressed": 2,
    }
    chiefs = {row["Chief"]: row for row in table(book["By chief"])}
    li, zhang = chiefs["李四"], chiefs["张三"]
    assert (li["Due"], li["Closed on time"], li["Rectification rate"], li["Overdue"]) == (1, 0, "0.0%", 1)
    assert (li["Days overdue (longest)"], li["Pressed"], li["Problems found"]) == (4, 2, 0)
    assert (zhang["Problems found"], zhang["Due"], zhang["Closed on time"], zhang["Pressed"]) == (1, 1, 1, 0)
    assert zhang["Reaches"] == "XM-01 Xinmin River" and zhang["Areas"] == "QT Qutang Town"
    # 赵六 had 3 required patrols (per xun): listed, not ranked; the weekly chiefs had 5 and are ranked.
    assert chiefs["赵六"]["List"] == "not ranked" and chiefs["赵六"]["Rank"] is None
    assert chiefs["张三"]["Rank"] == 1 and chiefs["李四"]["Rank"] == 2
    code, _, err = cli("report", "--period", "2025-03", "--format", "xlsx", "--out", tmp_path / "town.xlsx",
                       "--level", "town")  # fmt: skip
    assert code == 0, err
    assert [row["Chief"] for row in table(load_workbook(tmp_path / "town.xlsx")["By chief"])] == ["赵六"]
    code, _, err = cli("report", "--period", "2025-03", "--format", "xlsx", "--out", tmp_path / "cd.xlsx",
                       "--area", "CD")  # fmt: skip
    assert code == 0, err
    cd_only = load_workbook(tmp_path / "cd.xlsx")
    assert [row["Area code"] for row in table(cd_only["By area"])] == ["CD", None]
    overview = "\n".join(str(row[0].value) for row in cd_only["Overview"].iter_rows() if row[0].value)
    # The tie and small-sample rules are stated in the report itself.
    assert "Fewer than 5 required patrols in the period: listed but not ranked" in overview
    assert "equal on all three share a rank" in overview


@pytest.mark.parametrize("period", ["2026-13", "2026-Q5", "2026-H3", "26-11", "2999-01", "november", ""])
def test_a_bad_period_is_refused(cli: Cli, tmp_path: Path, period: str) -> None:
    out = tmp_path / "r.xlsx"
    code, said, err = cli("report", "--period", period, "--format", "xlsx", "--out", out)
    assert (code, said) == (2, "")
    assert f"“{period}” is not a period" in err and "2026-Q4" in err
    assert not out.exists()
    code, _, err = cli("report", "--period", period, "--format", "xlsx", "--out", out, DEFAULT_LANGUAGE="zh")
    assert code == 2 and "不是有效的考核期" in err


def test_an_unknown_area_and_an_unwritable_path_are_refused(cli: Cli, tmp_path: Path) -> None:
    asyncio.run(_fill(cli_database(tmp_path / "data")))
    code, _, err = cli("report", "--period", "2025-03", "--format", "pdf", "--out", tmp_path / "r.pdf",
                       "--area", "NOPE")  # fmt: skip
    assert code == 2 and "no area with the code “NOPE”" in err
    assert not (tmp_path / "r.pdf").exists()
    code, _, err = cli("report", "--period", "2025-03", "--format", "xlsx", "--out", tmp_path / "missing" / "r.xlsx")
    assert code == 2 and "Cannot write" in err and "missing" in err
    code, _, err = cli("report", "--period", "2025-03", "--format", "xlsx", "--out", tmp_path / "data" / "r.xlsx")
    assert code == 2 and "DATA_DIR" in err
    code, _, err = cli("report", "--period", "2025", "--format", "xlsx", "--out", tmp_path / "missing" / "r.xlsx",
                       DEFAULT_LANGUAGE="zh")  # fmt: skip
    assert code == 2 and "无法写入" in err
