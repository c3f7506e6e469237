"""`riverbot stats` as the office runs it, in process, on a store filled with a known March."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from bot.tallies import display_width
from storage import Store
from tests.cli import cli_database
from tests.conftest import Cli
from tests.support import World


async def _fill(path: str | Path) -> None:
    async with await Store.open(path) as store:
        world = World(store)
        qt = await world.area("QT", "曲塘镇", "Qutang Town")
        cd = await world.area("CD", "城东街道", "Chengdong Subdistrict")
        xm = await world.reach("XM-01", qt, "village", "新民河", "Xinmin River")
        dbh = await world.reach("DBH-01", qt, "town", "丁堡河曲塘段", "Dingbao River (Qutang)")
        lg = await world.reach("LG-01", cd, "village", "立公河", "Ligong River")
        zhang = await world.person("张三")
        zhao = await world.person("赵六", level="town")
        li = await world.person("李四")
        volunteer = await world.person("河小义王", role="volunteer", level=None)
        await world.assign(zhang, xm, "2025-01-01")
        await world.assign(zhao, dbh, "2025-01-01", level="town")
        await world.assign(li, lg, "2025-01-01")
        for day in ("05", "12", "19", "26"):
            await world.patrol(zhang, xm, f"2025-03-{day} 09:00")
        await world.patrol(zhao, dbh, "2025-03-09 10:00")
        await world.patrol(zhao, dbh, "2025-03-31 23:50")
        await world.patrol(volunteer, lg, "2025-03-15 08:00")
        await world.problem(zhang, xm, category="dumping", reported="2025-03-03 09:00", deadline="2025-03-10",
                            closed="2025-03-08 09:00")  # fmt: skip
        await world.problem(volunteer, lg, reported="2025-03-20 09:00", deadline="2025-03-27", assignee_id=li)


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """Where the SQLite file is in DATA_DIR (on PostgreSQL, where it would be), the database filled."""
    path = tmp_path / "data" / "riverbot.sqlite3"
    path.parent.mkdir()  # DATA_DIR is there on either engine: the photos live in it
    asyncio.run(_fill(cli_database(path.parent)))
    return path


MARCH = ("stats", "--from", "2025-03-01", "--to", "2025-03-31")


def test_json_has_every_figure(cli: Cli, filled: Path) -> None:
    code, out, err = cli(*MARCH, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    # Weeks ending Mar 2, 9, 16, 23, 30 and xun ending Mar 10, 20, 31:
    # 张三 weekly, patrols Mar 5, 12, 19, 26 → 4 of 5; 赵六 per xun, Mar 9 and Mar 31 23:50 → 2 of 3;
    # 李四 weekly, none → 0 of 5. All: 6 of 13.
    assert data["patrol_rate"] == {"done": 6, "required": 13, "periods": 13, "rate": round(6 / 13, 4)}
    areas = {a["code"]: a for a in data["areas"]}
    assert (areas["QT"]["done"], areas["QT"]["required"], areas["QT"]["rank"]) == (6, 8, 1)
    assert (areas["CD"]["done"], areas["CD"]["required"], areas["CD"]["rate"], areas["CD"]["rank"]) == (0, 5, 0.0, 2)
    assert [(r["code"], r["done"], r["required"]) for r in data["reaches"]] == [
        ("LG-01", 0, 5),
        ("DBH-01", 2, 3),
        ("XM-01", 4, 5),
    ]
    chiefs = {c["name"]: c for c in data["chiefs"]}
    assert (chiefs["李四"]["short"], chiefs["赵六"]["levels"], chiefs["张三"]["reaches"]) == (5, ["town"], ["XM-01"])
    problems = data["problems"]
    assert (problems["new"], problems["closed"], problems["open"], problems["overdue"]) == (2, 1, 1, 1)
    assert (problems["due"], problems["closed_on_time"], problems["rectification_rate"]) == (2, 1, 0.5)
    assert problems["median_days_to_close"] == 5.0
    assert data["volunteers"] == [{"id": data["volunteers"][0]["id"], "name": "河小义王", "patrols": 1,
                                   "valid_patrols": 1, "reports": 1}]  # fmt: skip


def test_table_in_chinese_is_aligned(cli: Cli, filled: Path) -> None:
    code, out, err = cli(*MARCH, DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "巡河与问题统计：2025-03-01 至 2025-03-31，全部片区"
    assert "巡河率：实巡 6 次 / 应巡 13 次 = 46.2%" in lines
    assert "整改率：应整改 2 个，按期整改销号 1 个 = 50.0%" in lines
    start = lines.index("巡河率（按片区）") + 1
    table = lines[start : start + 3]
    assert table[0].split() == ["片区", "名称", "实巡", "应巡", "巡河率", "排名"]
    assert table[1].split() == ["CD", "城东街道", "0", "5", "0.0%", "2"]
    assert table[2].split() == ["QT", "曲塘镇", "6", "8", "75.0%", "1"]
    # The last column is right-aligned, so aligned rows all end at the same display column.
    assert len({display_width(line) for line in table}) == 1
    start = lines.index("巡河率（按河段）") + 1
    reaches = lines[start : start + 4]
    assert len({display_width(line) for line in reaches}) == 1 and "丁堡河曲塘段" in reaches[2]


def test_csv_opens_in_excel(cli: Cli, filled: Path) -> None:
    code, out, err = cli(*MARCH, "--format", "csv")
    assert code == 0, err
    assert out.startswith("\ufeff") and "\r\n" in out
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"), newline="")))
    header = rows[0]
    assert header[:4] == ["scope", "code", "name", "area"]
    by_scope: dict[str, list[dict[str, str]]] = {}
    for row in rows[1:]:
        assert len(row) == len(header)
        by_scope.setdefault(row[0], []).append(dict(zip(header, row, strict=True)))
    [overall] = by_scope["overall"]
    assert (overall["done"], overall["required"], overall["patrol rate"], overall["rectification rate"]) == (
        "6",
        "13",
        "46.2%",
        "50.0%",
    )
    assert [r["code"] for r in by_scope["area"]] == ["CD", "QT"]
    assert len(by_scope["reach"]) == 3 and len(by_scope["chief"]) == 3 and len(by_scope["volunteer"]) == 1


def test_one_area(cli: Cli, filled: Path) -> None:
    code, out, err = cli(*MARCH, "--area", "CD", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["area"] == "CD" and [a["code"] for a in data["areas"]] == ["CD"]
    assert (data["patrol_rate"]["done"], data["patrol_rate"]["required"]) == (0, 5)
    assert (data["problems"]["new"], data["problems"]["overdue"], data["problems"]["closed"]) == (1, 1, 0)
    code, out, _ = cli(*MARCH, "--area", "CD")
    assert "Patrols and problems, 2025-03-01 to 2025-03-31, CD Chengdong Subdistrict" in out


def test_nothing_required_shows_a_dash(cli: Cli, filled: Path) -> None:
    # Tue Mar 4 … Sat Mar 8: no week, 旬 or month ends inside.
    code, out, _ = cli("stats", "--from", "2025-03-04", "--to", "2025-03-08", "--format", "json")
    assert code == 0 and json.loads(out)["patrol_rate"]["rate"] is None
    code, out, _ = cli("stats", "--from", "2025-03-04", "--to", "2025-03-08")
    assert "Patrol rate: 0 of 0 required patrols done = —" in out


@pytest.mark.parametrize(
    ("args", "english", "chinese"),
    [
        (("--from", "2025-3-1", "--to", "2025-03-31"), '"2025-3-1" is not a date', "“2025-3-1”不是有效日期"),
        (("--from", "2025-03-01", "--to", "2025-02-30"), '"2025-02-30" is not a date', "不是有效日期"),
        (("--from", "2025-04-01", "--to", "2025-03-31"), "ends before it begins", "起始日期 --from 2025-04-01 晚于"),
        (("--from", "2025-03-01", "--to", "2025-03-31", "--area", "XX"), 'no area with the code "XX"', "“XX”"),
    ],
)
def test_bad_input_is_one_localized_line(
    cli: Cli, filled: Path, args: tuple[str, ...], english: str, chinese: str
) -> None:
    code, out, err = cli("stats", *args)
    assert code == 2 and out == "" and english in err and err.strip().count("\n") == 0 and "Traceback" not in err
    code, out, err = cli("stats", *args, DEFAULT_LANGUAGE="zh")
    assert code == 2 and out == "" and chinese in err and err.strip().count("\n") == 0


def test_stats_csv_escapes_formulas_from_volunteer_names(cli: Cli, filled: Path) -> None:
    """Finding 7 of issue 13: names come from anyone; Excel runs a cell that starts like a formula."""

    async def hostile() -> None:
        async with await Store.open(cli_database(filled.parent)) as store:
            world = World(store)
            reach = (await store.reaches.all())[0].id
            for name in ("=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tTAB"):
                volunteer = await world.person(name, role="volunteer", level=None)
                await world.patrol(volunteer, reach, "2025-03-16 08:00")

    asyncio.run(hostile())
    code, out, err = cli(*MARCH, "--format", "csv")
    assert code == 0, err
    names = [row[2] for row in csv.reader(io.StringIO(out.lstrip("\ufeff"), newline="")) if row[0] == "volunteer"]
    hostile_names = [n for n in names if n != "河小义王"]
    assert len(hostile_names) == 5
    assert all(n.startswith("'") for n in hostile_names), hostile_names
    assert "'=HYPERLINK(\"http://x\",\"y\")" in names and "'@SUM(1+1)" in names
