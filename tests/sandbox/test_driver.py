"""The driver builds the updates Telegram would send and shows what the bot did."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
from collections.abc import Callable

import pytest
from PIL import Image
from telegram import Update

from sandbox import FakeUser
from tests.sandbox.conftest import World, jpeg


async def _updates(world: World) -> list[dict[str, object]]:
    """Fetch and confirm everything pending, like a polling bot would."""
    updates: list[dict[str, object]] = await world.ok("getUpdates")
    if updates:
        await world.ok("getUpdates", offset=int(str(updates[-1]["update_id"])) + 1)
    return updates


async def test_text_messages_carry_entities_in_utf16(world: World) -> None:
    alice = world.sb.user("张三", language_code="zh-hans", username="zhangsan")
    sent = await alice.send("😀 /report@sandbox_test_bot 丁堡河 #垃圾 @someone https://x.org/a")
    assert sent["from"] == {
        "id": alice.id,
        "is_bot": False,
        "first_name": "张三",
        "username": "zhangsan",
        "language_code": "zh-hans",
    }
    assert sent["chat"] == {"id": alice.id, "type": "private", "first_name": "张三", "username": "zhangsan"}
    entities = {e["type"]: (e["offset"], e["length"]) for e in sent["entities"]}
    assert entities["bot_command"] == (3, 24)  # the emoji is two UTF-16 units
    assert set(entities) == {"bot_command", "hashtag", "mention", "url"}
    update = Update.de_json((await _updates(world))[0], None)
    assert update.message is not None and update.message.text == sent["text"]
    assert update.message.parse_entities()[update.message.entities[0]] == "/report@sandbox_test_bot"


async def test_dates_replies_and_threads(world: World) -> None:
    alice = world.sb.user("Alice")
    grp = world.sb.group("群", members=[alice], is_forum=True)
    when = dtm.datetime(2026, 11, 28, 8, 0, tzinfo=dtm.UTC)
    first = await alice.send("first", chat=grp, date=when)
    second = await alice.send("second", chat=grp, date=1_800_000_000, reply_to=first, thread_id=7)
    assert first["date"] == int(when.timestamp()) and second["date"] == 1_800_000_000
    assert second["reply_to_message"]["text"] == "first" and second["message_thread_id"] == 7
    with pytest.raises(ValueError, match="aware"):
        await alice.send("x", date=dtm.datetime(2026, 1, 1))  # naive on purpose
    stranger = world.sb.user("Stranger")
    with pytest.raises(AssertionError, match="not a member"):
        await stranger.send("hi", chat=grp)


async def test_compressed_photo_loses_exif_and_never_grows(world: World) -> None:
    alice = world.sb.user("Alice")
    original = jpeg(4000, 3000, exif=True)
    message = await alice.send_photo(original, caption="河面有垃圾")
    sizes = message["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 68), (320, 240), (1280, 960)]
    for size in sizes:
        stored = world.server.files.get(size["file_id"])
        assert stored is not None and stored.size == size["file_size"]
        with Image.open(io.BytesIO(stored.data)) as image:
            assert dict(image.getexif()) == {}
            assert "exif" not in image.info
    small = await alice.send_photo(jpeg(200, 100))
    assert [(s["width"], s["height"]) for s in small["photo"]] == [(90, 45), (200, 100)]
    assert message["caption"] == "河面有垃圾"


async def test_photo_sent_as_file_keeps_every_byte(world: World) -> None:
    alice = world.sb.user("Alice")
    original = jpeg(800, 600, exif=True)
    message = await alice.send_document(original, file_name="IMG_0001.jpg")
    doc = message["document"]
    stored = world.server.files.get(doc["file_id"])
    assert stored is not None and stored.data == original
    with Image.open(io.BytesIO(stored.data)) as image:
        assert image.getexif()[0x0110] == "RiverCam 3000"
    assert doc["thumbnail"]["width"] == 320 and doc["mime_type"] == "image/jpeg"
    pdf = await alice.send_document(b"%PDF-1.4", file_name="report.pdf", mime_type=None)
    assert pdf["document"]["mime_type"] == "application/pdf" and "thumbnail" not in pdf["document"]
    info = await world.ok("getFile", file_id=doc["file_id"])
    download = await world.http.get(f"{world.server.url}/file/bot{world.token}/{info['file_path']}")
    assert download.content == original


async def test_live_location_edits_arrive_as_edited_messages(world: World) -> None:
    alice = world.sb.user("Alice")
    start = await alice.send_location(32.55, 120.40, live_period=900, heading=90, date=1_800_000_000)
    moved = await alice.edit_live_location(start, 32.56, 120.41, edit_date=1_800_000_060)
    stopped = await alice.edit_live_location(start, 32.57, 120.42, edit_date=1_800_000_120, stop=True)
    updates = await _updates(world)
    assert [next(k for k in u if k != "update_id") for u in updates] == [
        "message",
        "edited_message",
        "edited_message",
    ]
    assert moved["message_id"] == stopped["message_id"] == start["message_id"]
    assert moved["location"]["live_period"] == 900 and moved["edit_date"] == 1_800_000_060
    assert stopped["location"] == {"latitude": 32.57, "longitude": 120.42}
    # each update shows the message as it was at that moment
    first_edit = updates[1]["edited_message"]
    assert isinstance(first_edit, dict) and first_edit["location"]["latitude"] == 32.56
    with pytest.raises(AssertionError, match="stopped"):
        await alice.edit_live_location(start, 1, 1)
    late = await alice.send_location(1, 1, live_period=60, date=1_800_000_000)
    with pytest.raises(AssertionError, match="expired"):
        await alice.edit_live_location(late, 2, 2, edit_date=1_800_000_061)


async def test_contacts_and_venues(world: World) -> None:
    alice = world.sb.user("Alice")
    own = await alice.send_contact("+8613800000000")
    other = await alice.send_contact("+8613900000000", own=False, first_name="Bob")
    venue = await alice.send_venue(32.5, 120.4, "丁堡河桥", "曲塘镇")
    assert own["contact"]["user_id"] == alice.id and "user_id" not in other["contact"]
    assert venue["venue"]["title"] == "丁堡河桥" and venue["location"]["latitude"] == 32.5
    for update in await _updates(world):
        assert Update.de_json(update, None).message is not None


async def test_next_message_expect_silence_and_listing(world: World) -> None:
    alice = world.sb.user("Alice")
    grp = world.sb.group("群", members=[alice])
    with pytest.raises(AssertionError, match="got no new bot message"):
        await alice.next_message(timeout=0.05)
    await world.ok("sendMessage", chat_id=alice.id, text="one")
    await world.ok("sendMessage", chat_id=grp.id, text="group one")
    assert (await alice.next_message(timeout=0.1)).text == "one"
    assert (await alice.next_message(timeout=0.1, chat=grp)).text == "group one"
    later = asyncio.create_task(alice.next_message(timeout=1))
    await asyncio.sleep(0.02)
    await world.ok("sendMessage", chat_id=alice.id, text="two", reply_markup={"keyboard": [["发送位置"]]})
    message = await later
    assert message.text == "two" and message.keyboard == [["发送位置"]]
    await alice.expect_silence(within=0.05)
    silence = asyncio.create_task(alice.expect_silence(within=0.2))
    await asyncio.sleep(0.02)
    await world.ok("sendMessage", chat_id=alice.id, text="unexpected")
    with pytest.raises(AssertionError, match="unexpected"):
        await silence
    assert [m.text for m in alice.messages()] == ["one", "two", "unexpected"]
    assert (await alice.next_message(timeout=0.1)).text == "unexpected"
    await world.error("sendMessage", chat_id=alice.id, text="<b>", parse_mode="HTML")
    with pytest.raises(AssertionError, match=r"sendMessage -> 400 Bad Request: can't parse entities"):
        await alice.next_message(timeout=0.05)


async def test_press_and_press_raw(world: World) -> None:
    alice = world.sb.user("Alice")
    markup = {
        "inline_keyboard": [
            [{"text": "中文", "callback_data": "lang:zh"}, {"text": "English", "callback_data": "lang:en"}]
        ]
    }
    await world.ok("sendMessage", chat_id=alice.id, text="语言？", reply_markup=markup)
    choice = await alice.next_message(timeout=1)
    assert choice.button_texts == ["中文", "English"]
    by_text = await alice.press(choice, text="English")
    by_data = await alice.press(choice, data="lang:zh")
    stale = await alice.press_raw(alice.id, 9999, "lang:xx")
    updates = [Update.de_json(u, None) for u in await _updates(world)]
    queries = [u.callback_query for u in updates if u.callback_query]
    assert [q.id for q in queries] == [by_text, by_data, stale]
    assert [q.data for q in queries] == ["lang:en", "lang:zh", "lang:xx"]
    assert queries[0].message is not None and queries[0].message.message_id == choice.message_id
    assert queries[2].message is not None and not queries[2].message.is_accessible
    await world.ok("answerCallbackQuery", callback_query_id=stale)
    assert (await world.sb.answer(stale, timeout=0.1))["callback_query_id"] == stale


async def test_block_unblock_and_group_membership_updates(world: World) -> None:
    alice = world.sb.user("Alice")
    grp = world.sb.group("小群", supergroup=False, members=[alice], admins=[alice], bot_member=False)
    await alice.block_bot()
    await alice.unblock_bot()
    await grp.add_bot(by=alice)
    await grp.remove_bot(by=alice)
    updates = [Update.de_json(u, None) for u in await _updates(world)]
    changes = [
        (u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
        for u in updates
        if u.my_chat_member
    ]
    assert changes == [("member", "kicked"), ("kicked", "member"), ("left", "member"), ("member", "kicked")]
    service = [u.message for u in updates if u.message]
    assert service[0] is not None and service[0].new_chat_members[0].id == world.sb.state.bot_id
    assert service[1] is not None and service[1].left_chat_member is not None


async def test_migration_pushes_both_service_messages(world: World) -> None:
    alice = world.sb.user("Alice")
    grp = world.sb.group("小群", supergroup=False, members=[alice], admins=[alice])
    old_id = grp.id
    new_id = await grp.migrate_to_supergroup()
    assert grp.id == new_id and new_id < -1000000000000
    messages = [u["message"] for u in await _updates(world)]
    assert isinstance(messages[0], dict) and messages[0]["chat"]["id"] == old_id
    assert messages[0]["migrate_to_chat_id"] == new_id
    assert isinstance(messages[1], dict) and messages[1]["chat"]["type"] == "supergroup"
    assert messages[1]["migrate_from_chat_id"] == old_id
    await alice.send("still here", chat=grp)
    assert (await _updates(world))[0]["message"]["chat"]["id"] == new_id  # type: ignore[index]


async def test_push_raw_and_wait_consumed(world: World) -> None:
    update_id = world.sb.push_raw(
        {
            "update_id": 0,
            "callback_query": {
                "id": "4382bfdwdsb323b2da",
                "from": {"id": 12345678, "is_bot": False, "first_name": "Name"},
                "chat_instance": "-1",
                "data": "x",
            },
        }
    )
    assert update_id > 0
    with pytest.raises(ValueError, match="must be greater"):
        world.sb.push_raw({"update_id": update_id, "poll": {"id": "1"}})
    with pytest.raises(AssertionError, match="did not fetch"):
        await world.sb.wait_consumed(timeout=0.05)
    waiter = asyncio.create_task(world.sb.wait_consumed(timeout=1))
    await world.ok("getUpdates")
    await waiter
    # a replayed callback query can be answered once, like a real one
    assert await world.ok("answerCallbackQuery", callback_query_id="4382bfdwdsb323b2da")
    # a replayed message teaches the world its chat, so the bot can reply to it
    world.sb.push_raw(
        {
            "message": {
                "message_id": 777,
                "from": {"id": 555, "is_bot": False, "first_name": "Replayed"},
                "chat": {"id": 555, "type": "private", "first_name": "Replayed"},
                "date": 1_800_000_000,
                "text": "hi",
            }
        }
    )
    reply = await world.ok("sendMessage", chat_id=555, text="ok", reply_parameters={"message_id": 777})
    assert reply["message_id"] == 778 and reply["reply_to_message"]["text"] == "hi"


async def test_two_bots_share_a_server_with_separate_queues(world: World) -> None:
    other_token = world.server.add_bot(username="other_bot")
    other = world.server.sandbox(other_token)
    alice: FakeUser = world.sb.user("Alice")
    bob = other.user("Bob")
    await alice.send("to first")
    await bob.send("to second")
    first = await world.ok("getUpdates")
    second = (await world.http.post(f"{world.server.url}/bot{other_token}/getUpdates")).json()["result"]
    assert [u["message"]["text"] for u in first] == ["to first"]
    assert [u["message"]["text"] for u in second] == ["to second"]
    assert alice.id != bob.id


async def test_privacy_mode_hides_plain_group_chatter(world: World) -> None:
    token = world.server.add_bot(username="private_bot", privacy_mode=True)
    sb = world.server.sandbox(token)
    alice = sb.user("Alice")
    grp = sb.group("群", members=[alice])
    await alice.send("just chatting", chat=grp)
    await alice.send("/help", chat=grp)
    await alice.send("hey @private_bot", chat=grp)
    got = (await world.http.post(f"{world.server.url}/bot{token}/getUpdates")).json()["result"]
    assert [u["message"]["text"] for u in got] == ["/help", "hey @private_bot"]


class _Probe:
    """A bot's idle signal, switched by hand."""

    def __init__(self) -> None:
        self.idle = True
        self.listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def done(self) -> None:
        self.idle = True
        for listener in self.listeners:
            listener()


async def test_with_a_probe_wait_consumed_waits_for_the_confirmed_fetch_and_the_idle_bot(world: World) -> None:
    probe = _Probe()
    world.sb.watch(probe)
    alice = world.sb.user("Alice")
    await alice.send("hi")
    waiter = asyncio.create_task(world.sb.wait_consumed(timeout=5))
    fetched = await world.ok("getUpdates")
    probe.idle = False  # the bot took the update in and is handling it
    await world.ok("getUpdates", offset=fetched[-1]["update_id"] + 1, timeout=0)  # confirmed
    await asyncio.sleep(0)
    assert not waiter.done()  # fetched and confirmed, but the bot is still at it
    silence = asyncio.create_task(alice.expect_silence())
    await world.ok("sendMessage", chat_id=alice.id, text="late answer")
    probe.done()
    await waiter
    with pytest.raises(AssertionError, match="late answer"):
        await silence
    await alice.send("again")
    with pytest.raises(AssertionError, match="did not finish updates"):
        await world.sb.wait_consumed(timeout=0.05)  # never fetched
