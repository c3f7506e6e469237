"""Evidence that holds up, through the stand-in: after-photos stamped as rectified with their own time and
place, albums that say before and after, and each person sent a problem's photos once, later steps replying."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

import bot.stamp
import handlers.problems
from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import chief, report, seed, started_admin, tap, volunteer


async def started(user: FakeUser) -> None:
    await user.send("/start")
    await user.next_message()
    await user.next_message()


def media(value: Any) -> list[dict[str, Any]]:
    """sendMediaGroup's media, as the stand-in recorded it (parsed, or the JSON text sent)."""
    return json.loads(value) if isinstance(value, str) else list(value)


def photo_media(bot: Harness) -> Counter[int]:
    """How many photos the bot sent to each chat (sendPhoto: one; sendMediaGroup: its media)."""
    counts: Counter[int] = Counter()
    for call in bot.sandbox.calls:
        if call.method == "sendPhoto":
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
    closed = await tap(bot, admin, verify, text="✅ 核查通过，销号")
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
