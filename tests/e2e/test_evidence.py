"""Evidence that holds up, through the stand-in: after-photos stamped as rectified with their own time and
place, albums that say before and after, and each person sent a problem's photos once, later steps replying."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bot.stamp
import handlers.problems
from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import (
    LAT,
    STEP,
    WEST,
    chief,
    close_problem,
    is_problem_map,
    report,
    seed,
    start_patrol,
    started_admin,
    tap,
    volunteer,
)


async def started(user: FakeUser) -> None:
    await user.send("/start")
    await user.next_message()
    await user.next_message()


def media(value: Any) -> list[dict[str, Any]]:
    """sendMediaGroup's media, as the stand-in recorded it (parsed, or the JSON text sent)."""
    return json.loads(value) if isinstance(value, str) else list(value)


def photo_media(bot: Harness) -> Counter[int]:
    """How many problem photos the bot sent to each chat (sendPhoto: one; sendMediaGroup: its media). A new
    problem's map is a picture the bot drew, not evidence: it is left out."""
    counts: Counter[int] = Counter()
    for call in bot.sandbox.calls:
        if call.method == "sendPhoto":
            caption = str(call.params.get("caption") or "")
            if "的位置：" in caption or caption.startswith("🗺 Where problem"):
                continue
            counts[int(call.params["chat_id"])] += 1
        elif call.method == "sendMediaGroup":
            counts[int(call.params["chat_id"])] += len(media(call.params["media"]))
    return counts


def album_captions(bot: Harness, chat_id: int) -> list[list[str]]:
    """The captions of each photo send to the chat, in order: an album's per photo, a single photo's alone."""
    sends = []
    for call in bot.sandbox.calls:
        if int(call.params.get("chat_id", 0) or 0) != chat_id:
            continue
        if call.method == "sendPhoto":
            sends.append([str(call.params.get("caption") or "")])
        elif call.method == "sendMediaGroup":
            sends.append([str(m.get("caption") or "") for m in media(call.params["media"])])
    return sends


def replied_to(message: SentMessage) -> int | None:
    reply = message.raw.get("reply_to_message")
    return int(reply["message_id"]) if reply else None


async def rectify(bot: Harness, user: FakeUser, card: SentMessage, *, seed: int) -> None:
    await tap(bot, user, card, text="✅ 整改完成")
    await user.next_message()
    await user.send_photo(make_jpeg(1200, 900, seed=seed))
    added = await user.next_message()
    done = await tap(bot, user, added, text="📤 提交整改")
    assert "等待核查" in done.text


@pytest.fixture
def stamped(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The lines of every stamp drawn, in order (the band itself is pixels)."""
    drawn: list[list[str]] = []
    real = bot.stamp.stamp

    def spy(original: bytes, lines: list[str], **kwargs: Any) -> bytes:
        drawn.append(list(lines))
        return real(original, lines, **kwargs)

    monkeypatch.setattr(handlers.problems, "stamp", spy)
    return drawn


async def test_a_problems_whole_life_sends_each_photo_to_each_person_once(
    bot: Harness, stamped: list[list[str]]
) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")

    await report(bot, xiao)
    assert is_problem_map(await wang.next_message())  # a new problem's first notice opens with its map
    # The assignee: the before-photo, then the location and the card.
    photo = await wang.next_message()
    assert photo.photo is not None and photo.raw.get("caption") == "整改前（上报照片）"
    await wang.next_message()
    card = await wang.next_message()
    assert "新问题交办" in card.text
    assert stamped[-1][0].startswith("问题 #1") and "上报" in stamped[-1][2]

    await rectify(bot, wang, card, seed=2)
    await xiao.next_message()  # rectified, to be verified
    album = await admin.next_message()
    assert album.media_group_id is not None
    assert album_captions(bot, admin.id)[-1] == ["整改前（上报照片）", "整改后"]
    # The after-photo's band: rectified, its own arrival time (a compressed photo has no EXIF), no place of its
    # own (the chief is not on a patrol) and never the problem's coordinates or report time.
    after = stamped[-1]
    assert after[0] == "整改后 · 问题 #1 · 乱堆 · 丁堡河（城东段）"
    assert after[1] == "拍摄地点不明"
    assert after[2].startswith("收到 ") and after[2].endswith("（照片无可信拍摄时间）")
    assert stamped[-2][0].startswith("问题 #1")  # the before-photo in the same album keeps its band
    await admin.next_message()  # location
    verify = await admin.next_message()
    assert "已整改，请核查" in verify.text

    # Sent back: the chief already has the before-photo (the bot's) and the after-photo (his own message):
    # nothing is sent again, the location and card reply to the earlier photo message.
    await tap(bot, admin, verify, text="↩️ 退回重改")
    await admin.next_message()
    await admin.send("岸坡上仍有垃圾")
    await admin.next_message()
    await xiao.next_message()
    venue = await wang.next_message()
    assert venue.photo is None and replied_to(venue) is not None
    again = await wang.next_message()
    assert "整改被退回" in again.text and replied_to(again) == replied_to(venue)

    # Rectified again: the office is sent only the new after-photo, as a reply to the album it already has.
    await rectify(bot, wang, again, seed=3)
    await xiao.next_message()
    second = await admin.next_message()
    assert second.photo is not None and second.media_group_id is None
    assert second.raw.get("caption") == "整改后" and replied_to(second) in [m.message_id for m in album.album]
    await admin.next_message()
    verify = await admin.next_message()
    closed = await close_problem(bot, admin, verify)
    assert "已销号" in closed.text
    told = await xiao.next_message()
    assert "已整改到位并销号" in told.text

    # Each person got each photo at most once: the chief the before-photo (the after-photos are his own), the
    # office the three, the reporter none (their own photo, and notices without an album).
    assert photo_media(bot) == Counter({wang.id: 1, admin.id: 3})
    assert bot.errors() == []


async def test_photos_the_person_deleted_are_sent_again_and_remembered_anew(bot: Harness) -> None:
    ids = await seed(bot.store)
    await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao)
    assert is_problem_map(await wang.next_message())  # a new problem's first notice opens with its map
    first = await wang.next_message()
    await wang.next_message()
    await wang.next_message()
    assert first.photo is not None

    # The chief clears the chat: the photo message is gone (Telegram: "message to be replied not found").
    del wang.state.messages[(wang.id, first.message_id)]
    await wang.send("/problem 1")
    photo = await wang.next_message()
    assert photo.photo is not None and photo.message_id != first.message_id
    venue = await wang.next_message()
    assert replied_to(venue) == photo.message_id
    card = await wang.next_message()
    assert "办理过程" in card.text
    remembered = await bot.services.problems.photos_sent(wang.id, 1)
    assert list(remembered.values()) == [photo.message_id]
    # And the next view replies to the new one, sending nothing again.
    await wang.send("/problem 1")
    venue = await wang.next_message()
    assert venue.photo is None and replied_to(venue) == photo.message_id
    await wang.next_message()
    assert photo_media(bot)[wang.id] == 2
    assert bot.errors() == []


async def test_the_verification_album_says_before_and_after_in_english(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot, language_code="en")
    wang = bot.sandbox.user(first_name="Wang", language_code="en")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="Xiao", language_code="en")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao, zh=False, category="illegal dumping")
    assert is_problem_map(await wang.next_message())  # a new problem's first notice opens with its map
    await wang.next_message()
    await wang.next_message()
    card = await wang.next_message()
    await tap(bot, wang, card, text="✅ Rectified")
    await wang.next_message()
    await wang.send_photo(make_jpeg(1200, 900, seed=4))
    await wang.send_photo(make_jpeg(1200, 900, seed=5))
    await wang.next_message()
    added = await wang.next_message()
    await tap(bot, wang, added, text="📤 Submit rectification")
    album = await admin.next_message()
    assert album.media_group_id is not None
    assert album_captions(bot, admin.id)[-1] == [
        "Before (as reported)",
        "After rectification 1/2",
        "After rectification 2/2",
    ]


# -- fixed on the spot ------------------------------------------------------------------------------------


async def to_confirmation(bot: Harness, user: FakeUser, *, zh: bool = True) -> SentMessage:
    """The report flow up to its confirmation: a photo, a shared location, the reach, the category, no note."""
    await user.send("/report")
    await user.next_message()
    await user.send_photo(make_jpeg(1600, 1200, seed=1))
    added = await user.next_message()
    await tap(bot, user, added, text="➡️ 照片已发完，下一步" if zh else "➡️ Done with photos: next")
    await user.next_message()
    await user.send_location(32.5005, 120.403)
    await user.next_message()
    reaches = await user.next_message()
    category = await tap(bot, user, reaches, data=reaches.buttons[0][0][1])
    described = await tap(bot, user, category, text="乱堆" if zh else "illegal dumping")
    return await tap(bot, user, described, text="跳过" if zh else "Skip")


async def test_a_chief_records_a_problem_fixed_on_the_spot(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)

    confirm = await to_confirmation(bot, wang)
    assert confirm.button_texts == ["📤 提交", "✅ 现场已处置", "取消"]
    asked = await tap(bot, wang, confirm, text="✅ 现场已处置")
    assert "请发送处置后的照片" in asked.text
    await wang.send("已经清理干净了")
    assert "请发送处置后的照片，或点" in (await wang.next_message()).text
    await wang.send_photo(make_jpeg(1600, 1200, seed=1))  # the problem's own photo again: no evidence of a fix
    assert "这张是上报时的问题照片" in (await wang.next_message()).text
    await wang.send_photo(make_jpeg(1600, 1200, seed=7))
    added = await wang.next_message()
    assert "已收到第 1 张处置后照片" in added.text
    done = await tap(bot, wang, added, text="📤 提交：现场已处置")
    assert "现场已处置，已销号" in done.text and "#1" in done.text

    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "closed" and problem.assignee_id == wang_id
    assert [p.kind for p in await bot.store.problems.photos(1)] == ["before", "after"]
    assert [e.action for e in await bot.store.problems.events(1)] == ["report", "fixed_on_spot"]
    assert await bot.store.dialogs.get(wang.id) is None
    await admin.expect_silence()  # nothing for the office to do: it shows in the summaries

    # The card's timeline says how it was closed, and its album says which photo is which.
    await admin.send("/problem 1")
    album = await admin.next_message()
    assert album_captions(bot, admin.id)[-1] == ["整改前（上报照片）", "整改后"]
    assert album.media_group_id is not None
    await admin.next_message()
    card = await admin.next_message()
    assert "现场已处置，销号" in card.text and "已销号" in card.text
    assert bot.errors() == []


async def test_a_volunteer_is_not_offered_fixed_on_the_spot_and_a_forged_press_is_refused(bot: Harness) -> None:
    await seed(bot.store)
    await started_admin(bot)
    xiao = bot.sandbox.user(first_name="Xiao", language_code="en")
    await volunteer(bot, xiao, "李小义")
    confirm = await to_confirmation(bot, xiao, zh=False)
    assert confirm.button_texts == ["📤 Send", "Cancel"]
    answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, confirm.message_id, "rp:fix"))
    assert answer["show_alert"] and "Only river chiefs" in answer["text"]
    state = await bot.services.reports.current(xiao.id)
    assert state is not None and state.step.value == "confirm" and state.draft.fixed_photos is None
    sent = await tap(bot, xiao, confirm, text="📤 Send")
    assert "#1" in sent.text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "reported"  # filed as usual (no chief holds the reach here)


async def test_a_new_after_photo_for_someone_who_deleted_the_album_comes_with_all_the_photos(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao)
    assert is_problem_map(await wang.next_message())  # a new problem's first notice opens with its map
    await wang.next_message()
    await wang.next_message()
    card = await wang.next_message()
    await rectify(bot, wang, card, seed=2)
    album = await admin.next_message()
    await admin.next_message()
    verify = await admin.next_message()
    for message in album.album:  # the office clears its chat
        del admin.state.messages[(admin.id, message.message_id)]
    await tap(bot, admin, verify, text="↩️ 退回重改")
    await admin.next_message()
    await admin.send("仍有垃圾")
    await admin.next_message()
    await wang.next_message()
    again = await wang.next_message()
    await rectify(bot, wang, again, seed=3)
    resent = await admin.next_message()
    assert resent.media_group_id is not None and replied_to(resent) is None
    assert album_captions(bot, admin.id)[-1] == ["整改前（上报照片）", "整改后 1/2", "整改后 2/2"]
    venue = await admin.next_message()
    assert replied_to(venue) == resent.message_id
    sent = await bot.services.problems.photos_sent(admin.id, 1)
    assert sorted(sent.values()) == [m.message_id for m in resent.album]
    assert bot.errors() == []


async def test_an_after_photo_sent_during_a_patrol_is_placed_by_the_track(
    bot: Harness, stamped: list[list[str]]
) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="Wang", language_code="en")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao)
    assert is_problem_map(await wang.next_message())  # a new problem's first notice opens with its map
    await wang.next_message()
    await wang.next_message()
    card = await wang.next_message()
    # The chief is on a patrol of the reach; his last track point was a minute ago, 300 m from the problem.
    patrol, _ = await bot.store.patrols.start(wang_id, ids["DBH-01"], datetime.now(UTC) - timedelta(minutes=20))
    await bot.store.patrols.add_point(
        patrol.id, at=datetime.now(UTC) - timedelta(minutes=1), lat=32.5012, lon=120.4061, accuracy_m=8, source="live"
    )
    await tap(bot, wang, card, text="✅ Rectified")
    await wang.next_message()
    await wang.send_photo(make_jpeg(1200, 900, seed=2))
    added = await wang.next_message()
    await tap(bot, wang, added, text="📤 Submit rectification")
    await admin.next_message()
    after = stamped[-1]
    assert after[0].startswith("整改后 · 问题 #1")
    assert after[1].startswith("32.50120 N, 120.40610 E（巡河轨迹 ")
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and f"{problem.lat:.5f} N" not in after[1]


async def test_the_reporter_is_not_sent_back_the_photos_they_sent(bot: Harness) -> None:
    """Their chat has the photo already (their own message): /problem refers to it and sends no copy."""
    ids = await seed(bot.store)
    await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await report(bot, xiao)
    own = [
        message_id
        for (chat_id, message_id), message in bot.sandbox.state.messages.items()
        if chat_id == xiao.id and message.get("photo") and (message.get("from") or {}).get("id") == xiao.id
    ]
    assert len(own) == 1
    await xiao.send("/problem 1")
    venue = await xiao.next_message()
    assert venue.photo is None and replied_to(venue) == own[0], venue.describe()
    card = await xiao.next_message()
    assert "办理过程" in card.text
    assert photo_media(bot)[xiao.id] == 0
    assert bot.errors() == []


async def test_a_problem_fixed_on_the_spot_during_a_patrol_is_filed_and_its_photos_count(bot: Harness) -> None:
    """On a patrol the location is the track's point (stored as shared), and both photos are patrol evidence."""
    ids = await seed(bot.store)
    await started_admin(bot)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await started(wang)
    t0 = int(time.time()) - 3600
    await start_patrol(bot, wang, t0)
    live = await wang.send_location(LAT, WEST, live_period=3600, date=t0 + 30)
    await wang.next_message()
    for minute in range(1, 6):
        await wang.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 30 + minute * 60)
    await wang.send("⚠️ 发现问题", date=t0 + 7 * 60)
    await wang.next_message()
    await wang.send_photo(make_jpeg(1600, 1200, seed=1), date=t0 + 8 * 60)
    added = await wang.next_message()
    await tap(bot, wang, added, text="➡️ 照片已发完，下一步")  # the track's point, on the patrol's reach
    category = await wang.next_message()
    described = await tap(bot, wang, category, text="乱堆")
    confirm = await tap(bot, wang, described, text="跳过")
    asked = await tap(bot, wang, confirm, text="✅ 现场已处置")
    assert "请发送处置后的照片" in asked.text
    await wang.send_photo(make_jpeg(1600, 1200, seed=7), date=t0 + 9 * 60)
    added = await wang.next_message()
    done = await tap(bot, wang, added, text="📤 提交：现场已处置")
    assert "现场已处置，已销号" in done.text, done.text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None and problem.status == "closed" and problem.location_source == "shared"
    patrol = await bot.store.patrols.open_for(wang_id)
    assert patrol is not None and len(await bot.store.patrols.photos(patrol.id)) == 2
    assert bot.errors() == []
