"""Problem reports and the closed loop through the stand-in: report → assign → rectify → verify → close (销号)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from tests.conftest import ADMIN_ID, Harness
from tests.factories import make_jpeg
from tests.support import LAT, WEST, chief, close_problem, is_problem_map, report, seed, started_admin, tap, volunteer


async def test_the_closed_loop_from_a_volunteers_photo_to_sign_off(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await wang.send("/start")
    await wang.next_message()
    await wang.next_message()
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")

    filed = await report(bot, xiao)
    assert "问题已提交，编号 #1" in filed.text and "感谢您守护河湖" in filed.text

    # The responsible chief gets the map, the photo, the map location and the card with its buttons.
    assert is_problem_map(await wang.next_message())
    photo = await wang.next_message()
    assert photo.photo is not None
    venue = await wang.next_message()
    assert venue.location is not None and abs(venue.location["latitude"] - (LAT + 0.0005)) < 1e-6
    card = await wang.next_message()
    assert "新问题交办" in card.text and "问题 #1" in card.text and "乱堆" in card.text
    deadline = (datetime.now(bot.settings.tz).date() + timedelta(days=7)).isoformat()
    assert f"整改期限：{deadline}" in card.text

    await tap(bot, wang, card, text="✅ 整改完成")
    ask = await wang.next_message()
    assert "请发送整改后的照片" in ask.text
    await wang.send("垃圾已清运")
    await wang.next_message()
    await wang.send_photo(make_jpeg(1600, 1200, seed=2))
    after = await wang.next_message()
    assert "已收到整改照片 1 张" in after.text
    done = await tap(bot, wang, after, text="📤 提交整改")
    assert "等待核查" in done.text

    # The reporter hears it; the admin verifies and closes it.
    assert "已整改完成，待核查" in (await xiao.next_message()).text
    await admin.next_message()  # photos (an album of before and after)
    verify = None
    for _ in range(4):
        message = await admin.next_message()
        if "已整改，请核查" in message.text:
            verify = message
            break
    assert verify is not None
    closed = await close_problem(bot, admin, verify)
    assert "问题 #1 已销号" in closed.text
    assert "已整改到位并销号" in (await xiao.next_message()).text

    # The story, in order, and append-only.
    events = await bot.store.problems.events(1)
    assert [e.action for e in events] == ["report", "assign", "rectify", "close"]
    assert events[2].note == "垃圾已清运" and events[1].actor_id is None
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "closed"
    assert [p.kind for p in await bot.store.problems.photos(1)] == ["before", "after"]
    await xiao.send("/problem 1")
    for _ in range(2):
        await xiao.next_message()
    timeline = await xiao.next_message()
    assert "办理过程" in timeline.text and "上报" in timeline.text and "核查通过，销号" in timeline.text
    assert "🔁 问题仍在，重新打开" in timeline.button_texts
    assert bot.errors() == []


async def test_english_report_with_a_photo_file_keeps_its_gps_and_goes_to_admins_without_a_chief(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot, "en")
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await volunteer(bot, amy, "Amy Wu")
    await amy.send_document(make_jpeg(1600, 1200, seed=5, gps=(LAT + 0.0003, 120.415)), file_name="IMG_5.jpg")
    assert "Send photos of the problem" in (await amy.next_message()).text  # a photo alone starts a report
    added = await amy.next_message()
    assert "Photo 1 received" in added.text
    await tap(bot, amy, added, text="➡️ Done with photos: next")
    exif = await amy.next_message()
    assert "The photo records where it was taken (32.50030, 120.41500)" in exif.text
    await amy.next_message()
    await tap(bot, amy, exif, text="✅ Use the photo's location")
    await amy.next_message()
    reaches = await amy.next_message()
    assert reaches.button_texts[0].startswith("✅ Dingbao River (east) · 33 m")
    kinds = await tap(bot, amy, reaches, data=reaches.buttons[0][0][1])
    described = await tap(bot, amy, kinds, text="black-odorous water")
    await amy.send("Black water and a bad smell near the bridge")
    confirm = await amy.next_message()
    assert "Description: Black water and a bad smell near the bridge" in confirm.text
    filed = await tap(bot, amy, confirm, text="📤 Send")
    assert "Problem reported as #1" in filed.text and described

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.location_source == "exif" and problem.status == "reported"
    assert problem.reach_id == ids["DBH-01"]
    assert is_problem_map(await admin.next_message())
    await admin.next_message()  # the photo
    await admin.next_message()  # the venue
    card = await admin.next_message()
    assert "New problem to assign" in card.text
    # Assign to a chief; a deactivated chief is refused.
    zhou = bot.sandbox.user(first_name="Zhou", language_code="en")
    zhou_id = await chief(bot, zhou, "Zhou", [ids["LGH-01"]])
    await zhou.send("/start")
    await zhou.next_message()
    await zhou.next_message()
    gone = bot.sandbox.user(first_name="Gone", language_code="en")
    gone_id = await chief(bot, gone, "Gone Chief", [])
    admin_record = await bot.store.people.by_telegram_id(ADMIN_ID)
    assert admin_record is not None
    await bot.store.people.set_active(gone_id, False, by=admin_record.id)
    choose = await tap(bot, admin, card, text="👤 Assign / reassign")
    answer = await bot.sandbox.answer(await admin.press_raw(choose.chat_id, choose.message_id, f"pb:asp:1:{gone_id}"))
    assert answer["show_alert"] and "deactivated" in answer["text"]
    assigned = await tap(bot, admin, choose, data=f"pb:asp:1:{zhou_id}")
    assert "Problem #1 assigned." in assigned.text
    assert is_problem_map(await zhou.next_message())  # his first notice of it: where it is, on a map
    await zhou.next_message()
    await zhou.next_message()
    assert "is now yours to rectify" in (await zhou.next_message()).text
    deadline = (datetime.now(bot.settings.tz).date() + timedelta(days=3)).isoformat()  # black-odorous: 3 days
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.deadline is not None and problem.deadline.isoformat() == deadline
    assert bot.errors() == []


async def test_the_same_problem_reported_twice_is_linked(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    first = bot.sandbox.user(first_name="甲", language_code="zh-hans")
    await volunteer(bot, first, "甲")
    second = bot.sandbox.user(first_name="乙", language_code="zh-hans")
    await volunteer(bot, second, "乙")
    await report(bot, first)
    # 20 m away, same kind: offered as the same problem, with its photo.
    offer = await report(bot, second, photo_seed=3, lon=WEST + 0.003 + 0.0002)
    same = await second.next_message()
    assert same.photo is not None and "是同一个问题吗" in same.text and "#1" in same.text
    joined = await tap(bot, second, same, text="是，同一个问题（#1）")
    assert "已将您的照片补充到问题 #1" in joined.text and offer
    assert await bot.store.problems.by_id(2) is None
    assert await bot.store.problems.followers(1) == [
        await bot.store.fetchval("SELECT id FROM people WHERE name = '乙'")
    ]
    assert [e.action for e in await bot.store.problems.events(1)][-1] == "same_report"


async def test_bad_input_while_reporting(bot: Harness) -> None:
    await seed(bot.store)
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await volunteer(bot, zhao, "赵六")
    await zhao.send("/report")
    await zhao.next_message()
    await zhao.send("这里有垃圾")  # text where a photo is expected
    assert "请先发送问题照片" in (await zhao.next_message()).text
    await zhao.send_document(b"just text", file_name="notes.txt", mime_type="text/plain")
    assert "这不是图片文件" in (await zhao.next_message()).text
    broken = make_jpeg(800, 600, seed=4)
    await zhao.send_document(broken[: len(broken) // 3], file_name="IMG_9.jpg")
    assert "图片已损坏" in (await zhao.next_message()).text
    await zhao.send_document(bomb_png(), file_name="huge.png", mime_type="image/png")
    assert "图片像素过大" in (await zhao.next_message()).text
    await zhao.send_document(b"\xff\xd8" + b"0" * (25 * 1024 * 1024), file_name="big.jpg")
    assert "文件超过 20 MB" in (await zhao.next_message()).text
    await zhao.send_album([make_jpeg(640, 480, seed=10 + i) for i in range(7)])
    added = await zhao.next_message()  # one answer for the album, updated as its photos arrive
    assert "每个问题最多 5 张照片" in (await zhao.next_message()).text
    await zhao.expect_silence()
    assert "已收到第 5 张照片" in added.text
    dialog = await bot.store.dialogs.get(zhao.id)
    assert dialog is not None and len(dialog.data["photos"]) == 5
    await tap(bot, zhao, added, text="➡️ 照片已发完，下一步")
    await zhao.next_message()
    # 1000 km from every reach: warned, still possible.
    await zhao.send_location(LAT + 9, WEST)
    await zhao.next_message()
    reaches = await zhao.next_message()
    assert "最近的河段也在" in reaches.text
    assert bot.errors() == []


def bomb_png() -> bytes:
    """A tiny PNG whose header declares 30000 × 30000 pixels (its pixel data is a token)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


async def test_two_verifiers_at_once_one_wins(bot: Harness) -> None:
    ids = await seed(bot.store)
    await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    chief_reporter = bot.sandbox.user(first_name="周", language_code="zh-hans")
    await chief(bot, chief_reporter, "周河长", [ids["LGH-01"]], level="town")
    await report(bot, chief_reporter)
    wang_record = await bot.services.people.by_id(wang_id)
    assert wang_record is not None
    change = await bot.services.problems.act(1, wang_record, "rectify", note="已清理")
    assert change.outcome == "ok"
    await bot.sandbox.wait_consumed()
    admin_record = await bot.services.people.find(ADMIN_ID)
    reporter_record = await bot.services.people.find(chief_reporter.id)
    assert admin_record is not None and reporter_record is not None
    results = await asyncio.gather(
        bot.services.problems.act(1, admin_record, "close"),
        bot.services.problems.act(1, reporter_record, "reject", note="还有残留"),
    )
    assert sorted(r.outcome for r in results) == ["not_allowed", "ok"]
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status in ("closed", "assigned")
    # A button pressed after the problem was settled, and by someone who may not press it.
    volunteer_user = bot.sandbox.user(first_name="Nobody", language_code="zh-hans")
    await volunteer(bot, volunteer_user, "路人")
    answer = await bot.sandbox.answer(await volunteer_user.press_raw(volunteer_user.id, 1, "pb:close:1"))
    assert answer["show_alert"] and "此操作已无法进行" in answer["text"]
    assert time.time() and bot.errors() == []


async def test_cancelling_at_the_location_step_gives_the_menu_back(bot: Harness) -> None:
    await seed(bot.store)
    qin = bot.sandbox.user(first_name="秦", language_code="zh-hans")
    await volunteer(bot, qin, "秦十一")
    await qin.send("/report")
    await qin.next_message()
    await qin.send_photo(make_jpeg(800, 600, seed=21))
    added = await qin.next_message()
    await tap(bot, qin, added, text="➡️ 照片已发完，下一步")
    asked = await qin.next_message()
    assert asked.keyboard_buttons[0][0].get("request_location") is True
    # The cancel button of an earlier step's message (or /cancel) drops the draft at the location step.
    await bot.sandbox.answer(await qin.press_raw(added.chat_id, added.message_id, "rp:x"))
    back = await qin.next_message()
    assert back.keyboard == [["🚶 巡河", "📋 我的巡河"], ["📝 上报问题"]]
    assert await bot.store.dialogs.get(qin.id) is None
