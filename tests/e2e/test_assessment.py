"""/assessment through the Bot API stand-in: an admin picks a period and a format and gets the assessment report
as a document; a chief is refused; a bad typed period and a forged button get their localized answers."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot import fonts
from bot.assessment import preset
from tests.conftest import Harness
from tests.e2e.test_exports import _patrol_last_week
from tests.support import chief, seed, started_admin, tap


async def test_an_admin_gets_the_report_as_a_pdf_and_as_a_spreadsheet(bot: Harness, tmp_path: Path) -> None:
    if fonts._search() is None:
        pytest.skip("no Chinese font on this machine (fonts-wqy-microhei)")
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    now = datetime.now(bot.settings.tz)
    await _patrol_last_week(bot.store, wang_id, ids["DBH-01"], now)
    month = preset("this_month", now.date())

    await admin.send("/assessment")
    periods = await admin.next_message()
    assert "考核通报" in periods.text and "/assessment 2026-11" in periods.text
    assert len(periods.button_texts) == 7
    this_month = f"本月 · {now.year}年{now.month}月"
    assert this_month in periods.button_texts and periods.button_texts[0].startswith("上月 · ")
    formats = await tap(bot, admin, periods, text=this_month)
    assert formats.button_texts == ["表格（XLSX）", "打印版（PDF）"]
    assert f"{now.year}年{now.month}月" in formats.text and month.first.isoformat() in formats.text
    await tap(bot, admin, formats, text="打印版（PDF）")
    document = await admin.next_message(timeout=30)
    assert document.document is not None and document.document_name == f"riverbot-assessment-{month.text}.pdf"
    assert document.document.startswith(b"%PDF-")
    if shutil.which("pdftotext") is not None:
        path = tmp_path / "r.pdf"
        path.write_bytes(document.document)
        done = await asyncio.to_thread(
            subprocess.run, ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
        )
        text = done.stdout
        assert "考核通报" in text and "王五" in text
    await bot.sandbox.wait_consumed()
    assert "考核通报已发送" in formats.text or "考核通报已发送" in admin.messages()[-1].text

    # Typed: the month before, straight to the formats, as a spreadsheet.
    before = (now.date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    await admin.send(f"/assessment {before}")
    formats = await admin.next_message()
    assert formats.button_texts == ["表格（XLSX）", "打印版（PDF）"]
    await tap(bot, admin, formats, text="表格（XLSX）")
    document = await admin.next_message(timeout=30)
    assert document.document is not None and (document.document_name or "").endswith(f"{before}.xlsx")
    book = load_workbook(io.BytesIO(document.document))
    assert book.sheetnames == ["通报概要", "片区", "河长", "问题分类", "逾期问题"]
    assert book["片区"]["C3"].value == "CD" and book["片区"]["D3"].value == "城东片区"
    await bot.sandbox.wait_consumed()
    assert bot.errors() == []


async def test_a_chief_is_refused(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]])
    await wang.send("/assessment")
    refusal = await wang.next_message()
    assert "仅河长办管理员可以进行此操作" in refusal.text
    assert refusal.document is None and refusal.button_texts == []


async def test_a_bad_period_and_a_forged_button_are_answered(bot: Harness) -> None:
    await seed(bot.store)
    admin = await started_admin(bot)
    await admin.send("/assessment 2026-13")
    answer = await admin.next_message()
    assert "“2026-13”不是有效的考核期" in answer.text and answer.button_texts == []
    await admin.send("/assessment")
    periods = await admin.next_message()
    for data in ("asm:f:2999-01:pdf", "asm:p:2026-Q9"):
        await bot.sandbox.answer(await admin.press_raw(admin.id, periods.message_id, data))
    texts = [a["text"] for a in bot.sandbox.answers[-2:]]
    rest = "不是有效的考核期。请写月份（2026-11）、季度（2026-Q4）、半年（2026-H1）或年度（2026），且不晚于今天。"
    assert texts == [f"“2999-01”{rest}", f"“2026-Q9”{rest}"]
    await bot.sandbox.answer(await admin.press_raw(admin.id, periods.message_id, "asm:f:2026-11:doc"))
    assert bot.sandbox.answers[-1]["text"] == "这个按钮已失效，请重新操作。"
    assert admin.messages()[-1].document is None
    assert bot.errors() == []
