"""One river, one file from the reach card: the office and the reach's own chiefs get the PDF as a document; a
chief of another reach neither sees the button nor gets the file with a forged one."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from bot import fonts
from handlers.callbacks import ReachDossier
from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.e2e.test_exports import _patrol_last_week
from tests.support import chief, report, seed, started_admin, tap

BUTTON = "📁 一河一档"


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout


async def _card(bot: Harness, user: FakeUser, reach: str = "丁堡河（城东段） · DBH-01 · 镇级河道") -> SentMessage:
    await user.send("/reaches")
    areas = await user.next_message()
    reaches = await tap(bot, user, areas, text="城东片区 · CD")
    return await tap(bot, user, reaches, text=reach)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
async def test_the_office_gets_the_reach_file_as_a_document(bot: Harness, tmp_path: Path) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    await _patrol_last_week(bot.store, wang_id, ids["DBH-01"], datetime.now(bot.settings.tz))
    await report(bot, wang)  # a problem with its before photo, real JPEG bytes through the bot
    await bot.sandbox.wait_consumed()
    [(patrol_id,)] = await bot.store.fetchall("SELECT id FROM patrols")
    [(problem_id,)] = await bot.store.fetchall("SELECT id FROM problems")

    card = await _card(bot, admin)
    before = len(admin.messages())
    await tap(bot, admin, card, text=BUTTON)
    await bot.sandbox.wait_until(lambda: any(m.document for m in admin.messages()[before:]), timeout=60)
    sent = admin.messages()[before:]
    assert "正在生成 丁堡河（城东段） 的一河一档" in sent[0].text  # told first: drawing takes a while
    [document] = [m for m in sent if m.document]
    assert (document.document_name or "").startswith("dossier-DBH-01-") and document.document is not None
    assert document.text.startswith("一河一档：丁堡河（城东段）（DBH-01）")
    path = tmp_path / "file.pdf"
    path.write_bytes(document.document)
    text = await asyncio.to_thread(_pdf_text, path)
    assert f"#{patrol_id}" in text and f"#{problem_id}" in text and "王五" in text
    assert "整改前" in text  # the before photo is drawn, captioned
    assert bot.errors() == []


async def test_a_chief_gets_the_button_on_their_own_reach_only_and_a_forged_one_is_refused(bot: Harness) -> None:
    ids = await seed(bot.store)
    await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]])
    li = bot.sandbox.user(first_name="李四", language_code="zh-hans")
    await chief(bot, li, "李四", [ids["LGH-01"]], level="village")

    own = await _card(bot, wang)
    assert BUTTON in own.button_texts
    other = await _card(bot, li)
    assert BUTTON not in other.button_texts
    before = len(li.messages())
    query = await li.press_raw(li.id, other.message_id, ReachDossier(reach=ids["DBH-01"]).pack())
    answered = await bot.sandbox.answer(query)
    assert answered.get("show_alert") and "只有河长办和本河段的河长可以获取" in answered.get("text", "")
    await li.expect_silence()
    assert not any(m.document for m in li.messages()[before:])
    assert bot.errors() == []


async def test_without_a_chinese_font_the_office_is_told_how_to_get_one(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(bot.store)
    admin = await started_admin(bot)
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    card = await _card(bot, admin)
    before = len(admin.messages())
    await tap(bot, admin, card, text=BUTTON)
    await bot.sandbox.wait_until(lambda: any("fonts-wqy-microhei" in m.text for m in admin.messages()), timeout=30)
    assert not any(m.document for m in admin.messages()[before:])
    assert bot.errors() == []
