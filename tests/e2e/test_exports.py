"""Exports as the office gets them: `riverbot export` on the command line, and /export through the stand-in."""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.exports import EXPORT_FLOW, GEOJSON_FILES, range_of
from storage import Store
from storage.patrols import Finish
from tests.conftest import Cli, Harness
from tests.e2e import test_cli_stats
from tests.support import chief, seed, started_admin, tap


@pytest.fixture
def filled(tmp_path: Path) -> None:
    """The known March of `riverbot stats`'s tests, in the database the settings name (on a PostgreSQL run,
    DATABASE_URL's)."""
    asyncio.run(test_cli_stats._fill(os.environ.get("DATABASE_URL") or tmp_path / "data" / "riverbot.sqlite3"))


MARCH = ("export", "--from", "2025-03-01", "--to", "2025-03-31")


def test_cli_writes_each_format(cli: Cli, filled: None, tmp_path: Path) -> None:
    code, out, err = cli(*MARCH, "--format", "xlsx", "--out", tmp_path / "m.xlsx", "--lang", "zh")
    assert code == 0, err
    assert "m.xlsx" in out
    book = load_workbook(tmp_path / "m.xlsx")
    assert book.sheetnames == ["巡河记录", "问题", "片区巡河率", "河段巡河率", "河长巡河率"]
    assert book["巡河记录"].max_row == 1 + 7  # every March patrol, the header first

    code, out, err = cli(*MARCH, "--format", "geojson", "--out", tmp_path / "gis.zip")
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "gis.zip") as archive:
        layers = {name: json.loads(archive.read(file)) for name, file in GEOJSON_FILES.items()}
    assert [f["geometry"]["type"] for f in layers["problems"]["features"]] == ["Point"] * 2
    assert {f["geometry"]["type"] for f in layers["tracks"]["features"]} <= {"LineString"}
    assert "Xinmin River" in {f["properties"]["reach"] for f in layers["problems"]["features"]}  # DEFAULT_LANGUAGE=en
    code, _, err = cli(*MARCH, "--format", "geojson", "--out", tmp_path / "gis")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "gis").iterdir()) == sorted(GEOJSON_FILES.values())

    code, _, err = cli(*MARCH, "--format", "csv", "--out", tmp_path / "m.zip")
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        assert archive.read("patrols.csv").startswith(b"\xef\xbb\xbf")


def test_cli_bad_dates_exit_2(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "x.xlsx"
    code, _, err = cli("export", "--from", "2025-3-1", "--to", "2025-03-31", "--format", "xlsx", "--out", out)
    assert code == 2 and "2025-3-1" in err
    code, _, err = cli("export", "--from", "2025-04-01", "--to", "2025-03-31", "--format", "xlsx", "--out", out)
    assert code == 2 and "2025-04-01" in err
    assert not out.exists()


def test_cli_unwritable_path(cli: Cli, filled: None, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(*MARCH, "--format", "xlsx", "--out", blocker / "m.xlsx")
    assert code == 1 and "m.xlsx" in err


async def _patrol_last_week(store: Store, person_id: int, reach_id: int, tz_now: datetime) -> None:
    first, _ = range_of("week", tz_now.date())
    started = datetime.combine(first, datetime.min.time(), tz_now.tzinfo) + timedelta(days=2, hours=9)
    patrol, _ = await store.patrols.start(person_id, reach_id, started)
    ended = started + timedelta(minutes=40)
    assert await store.patrols.finish(patrol.id, Finish(ended, "finished", 1500.0, 2400, 30, 1, True, []))


async def test_export_in_the_bot_arrives_as_a_document(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    await _patrol_last_week(bot.store, wang_id, ids["DBH-01"], datetime.now(bot.settings.tz))

    await admin.send("/export")
    formats = await admin.next_message()
    assert "导出数据" in formats.text and "Excel（xlsx）" in formats.button_texts
    ranges = await tap(bot, admin, formats, text="Excel（xlsx）")
    assert ranges.button_texts == ["上周", "上月", "今年", "自定义时段…"]
    await tap(bot, admin, ranges, text="上周")
    document = await admin.next_message(timeout=15)
    assert document.document is not None and (document.document_name or "").endswith(".xlsx")
    book = load_workbook(io.BytesIO(document.document))
    patrols = book["巡河记录"]
    assert [c.value for c in patrols[2]][1] == "王五" and patrols["M2"].value == "是"
    await bot.sandbox.wait_consumed()
    assert "已生成" in ranges.text and "巡河记录 1 条" in ranges.text
    assert bot.errors() == []


async def test_export_of_a_typed_range_with_bad_ranges_answered(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    now = datetime.now(bot.settings.tz)
    await _patrol_last_week(bot.store, wang_id, ids["DBH-01"], now)
    first, last = range_of("week", now.date())

    await admin.send("/export")
    formats = await admin.next_message()
    ranges = await tap(bot, admin, formats, text="Excel（xlsx）")
    assert ranges.button_texts == ["上周", "上月", "今年", "自定义时段…"]
    question = await tap(bot, admin, ranges, text="自定义时段…")
    assert "请输入时间范围" in question.text and "2026-01-01 2026-03-31" in question.text
    # Each bad answer is explained, and the question stays open.
    for typed, answer in [
        ("下周", "无法识别时间范围"),
        ("2026-02-30 2026-03-31", "日期或月份不存在"),
        ("2026-03-31 2026-01-01", "结束日期早于开始日期"),
        ("2015-01-01 2026-01-01", "最多导出五年"),
    ]:
        await admin.send(typed)
        assert answer in (await admin.next_message()).text, typed
    await admin.send(f"{first.year}-{first.month}-{first.day} 至 {last.isoformat()}")
    working = await admin.next_message()
    assert "正在生成" in working.text
    document = await admin.next_message(timeout=15)
    assert document.document_name == f"riverbot-{first.isoformat()}-{last.isoformat()}.xlsx"
    assert document.document is not None
    patrols = load_workbook(io.BytesIO(document.document))["巡河记录"]
    assert [c.value for c in patrols[2]][1] == "王五"
    done = await admin.next_message()
    assert "已生成" in done.text and "巡河记录 1 条" in done.text
    await bot.sandbox.wait_consumed()
    assert await bot.services.dialogs.get(admin.id) is None  # answered: the next text is not a range
    assert bot.errors() == []


async def test_export_of_a_month_as_geojson_layers(bot: Harness) -> None:
    await seed(bot.store)
    admin = await started_admin(bot)
    await admin.send("/export")
    formats = await admin.next_message()
    ranges = await tap(bot, admin, formats, text="GeoJSON（地图）")
    await tap(bot, admin, ranges, text="自定义时段…")
    await admin.send("2026-11")
    assert "正在生成" in (await admin.next_message()).text
    document = await admin.next_message(timeout=15)
    assert document.document_name == "riverbot-2026-11-01-2026-11-30-gis.zip" and document.document is not None
    with zipfile.ZipFile(io.BytesIO(document.document)) as archive:
        assert sorted(archive.namelist()) == sorted(GEOJSON_FILES.values())
    assert "已生成" in (await admin.next_message()).text
    assert bot.errors() == []


async def test_export_is_for_admins_only(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]])
    await wang.send("/export")
    refusal = await wang.next_message()
    assert "仅河长办管理员可以进行此操作" in refusal.text
    assert refusal.document is None


async def test_a_typed_range_needs_the_rights_and_a_known_format(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]])
    # A chief holding an export dialog (an admin who lost the role meanwhile) is refused, and it is closed.
    await bot.services.dialogs.set(wang.id, EXPORT_FLOW, "range", {"fmt": "xlsx"})
    await wang.send("2026-11")
    refusal = await wang.next_message()
    assert "仅河长办管理员可以进行此操作" in refusal.text and refusal.document is None
    await bot.sandbox.wait_consumed()
    assert await bot.services.dialogs.get(wang.id) is None

    admin = await started_admin(bot)
    await bot.services.dialogs.set(admin.id, EXPORT_FLOW, "range", {"fmt": "pdf"})  # another version's
    await admin.send("2026-11")
    answer = await admin.next_message()
    assert "这个按钮已失效" in answer.text and answer.document is None
    await bot.sandbox.wait_consumed()
    assert await bot.services.dialogs.get(admin.id) is None
    assert bot.errors() == []
