"""The stand-in speaks the Bot API over plain HTTP: auth, routing, bodies, long polling, rules, faults."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.sandbox.conftest import World, jpeg


async def test_get_me_and_routing(world: World) -> None:
    me = await world.ok("getMe")
    assert me["is_bot"] is True and me["username"] == "sandbox_test_bot"
    assert me["id"] == int(world.token.split(":")[0])
    # method names are case-insensitive, GET works, unknown methods are 404 and unknown tokens 401
    response = await world.http.get(f"{world.api}/GETME")
    assert response.json()["result"]["id"] == me["id"]
    assert (await world.call("sendTelepathy")).json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found",
    }
    bad = await world.http.post(f"{world.server.url}/bot123:{'x' * 35}/getMe")
    assert bad.status_code == 401
    assert bad.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_token_format() -> None:
    from sandbox import BotApiServer

    server = BotApiServer()
    token = server.add_bot()
    bot_id, secret = token.split(":")
    assert bot_id.isdigit() and len(secret) == 35
    assert server.add_bot(token="123456789:" + "B" * 35) == "123456789:" + "B" * 35
    with pytest.raises(ValueError, match="malformed"):
        server.add_bot(token="not-a-token")


async def test_form_and_query_bodies_are_typed(world: World) -> None:
    alice = world.sb.user("Alice")
    markup = json.dumps({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]})
    response = await world.http.post(
        f"{world.api}/sendMessage", data={"chat_id": str(alice.id), "text": "hi", "reply_markup": markup}
    )
    message = response.json()["result"]
    assert message["chat"]["id"] == alice.id and message["reply_markup"]["inline_keyboard"][0][0]["text"] == "Go"
    response = await world.http.get(f"{world.api}/sendMessage", params={"chat_id": alice.id, "text": "q"})
    assert response.json()["result"]["text"] == "q"
    call = world.server.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == alice.id and call.params["reply_markup"]["inline_keyboard"]


async def test_long_polling_offset_limit_and_timeout(world: World) -> None:
    alice = world.sb.user("Alice")
    for i in range(3):
        await alice.send(f"m{i}")
    first = await world.ok("getUpdates", limit=2)
    assert [u["message"]["text"] for u in first] == ["m0", "m1"]
    again = await world.ok("getUpdates")  # not confirmed yet: delivered again
    assert len(again) == 3
    rest = await world.ok("getUpdates", offset=first[-1]["update_id"] + 1)
    assert [u["message"]["text"] for u in rest] == ["m2"]
    assert await world.ok("getUpdates", offset=rest[-1]["update_id"] + 1, timeout=0) == []
    # an empty long poll waits for its timeout ...
    started = time.monotonic()
    assert await world.ok("getUpdates", offset=rest[-1]["update_id"] + 1, timeout=0.3) == []
    assert time.monotonic() - started >= 0.28


async def test_long_poll_wakes_up_on_push(world: World) -> None:
    alice = world.sb.user("Alice")
    poll = asyncio.create_task(world.ok("getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    started = time.monotonic()
    await alice.send("wake up")
    updates = await asyncio.wait_for(poll, 2)
    assert updates[0]["message"]["text"] == "wake up"
    assert time.monotonic() - started < 1


async def test_allowed_updates_filters_and_sticks(world: World) -> None:
    alice = world.sb.user("Alice")
    await alice.send("text")
    world.sb.push_raw({"message_reaction": {"chat": {"id": alice.id, "type": "private"}}})
    world.sb.push_raw({"poll": {"id": "1"}})
    only_polls = await world.ok("getUpdates", allowed_updates=["poll"])
    assert [next(k for k in u if k != "update_id") for u in only_polls] == ["poll"]
    await world.ok("getUpdates", offset=only_polls[-1]["update_id"] + 1, allowed_updates=[])
    # default set: everything except chat_member / message_reaction / message_reaction_count
    await alice.send("again")
    world.sb.push_raw({"message_reaction": {"chat": {"id": alice.id, "type": "private"}}})
    default = await world.ok("getUpdates")
    assert [u["message"]["text"] for u in default] == ["again"]
    await world.sb.wait_consumed(timeout=0.1)


async def test_webhook_is_stored_and_blocks_polling(world: World) -> None:
    await world.ok("setWebhook", url="https://example.org/hook")
    assert (await world.ok("getWebhookInfo"))["url"] == "https://example.org/hook"
    code, description = await world.error("getUpdates")
    assert code == 409 and "webhook is active" in description
    assert await world.ok("deleteWebhook", drop_pending_updates=True) is True
    assert (await world.ok("getWebhookInfo"))["url"] == ""
    assert await world.ok("logOut") is True and await world.ok("close") is True


async def test_a_newer_poll_terminates_the_older_one(world: World) -> None:
    older = asyncio.create_task(world.call("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    assert await world.ok("getUpdates", timeout=0) == []
    response = await asyncio.wait_for(older, 2)
    assert response.status_code == 409 and "terminated by other getUpdates" in response.json()["description"]


async def test_commands_are_stored_per_scope_and_language(world: World) -> None:
    commands = [{"command": "start", "description": "开始"}, {"command": "help", "description": "帮助"}]
    await world.ok("setMyCommands", commands=commands, scope={"type": "all_private_chats"}, language_code="zh")
    await world.ok("setMyCommands", commands=commands[:1])
    assert world.sb.commands("all_private_chats", "zh") == commands
    assert world.sb.commands() == commands[:1]
    assert await world.ok("getMyCommands", scope={"type": "all_private_chats"}, language_code="zh") == commands
    assert await world.ok("getMyCommands", language_code="en") == []
    await world.ok("deleteMyCommands")
    assert world.sb.commands() == []
    assert world.server.calls_to("setmycommands")[0].status == 200
    assert (await world.error("setMyCommands", commands=[{"command": "Start", "description": "x"}]))[1] == (
        "Bad Request: BOT_COMMAND_INVALID"
    )


async def test_length_limits_count_utf16_after_parsing(world: World) -> None:
    alice = world.sb.user("Alice")
    assert (await world.ok("sendMessage", chat_id=alice.id, text="河" * 4096))["text"] == "河" * 4096
    assert await world.error("sendMessage", chat_id=alice.id, text="河" * 4097) == (
        400,
        "Bad Request: message is too long",
    )
    await world.ok("sendMessage", chat_id=alice.id, text="😀" * 2048)  # 2 UTF-16 units each
    assert (await world.error("sendMessage", chat_id=alice.id, text="😀" * 2049))[1].endswith("too long")
    # markup does not count: 4096 visible characters inside <b> is fine
    await world.ok("sendMessage", chat_id=alice.id, text=f"<b>{'a' * 4096}</b>", parse_mode="HTML")
    assert await world.error("sendMessage", chat_id=alice.id, text="  ") == (
        400,
        "Bad Request: message text is empty",
    )
    photo = (await world.ok("sendPhoto", chat_id=alice.id, photo=_first_photo_id(world, alice.id)))["photo"]
    assert await world.error("sendPhoto", chat_id=alice.id, photo=photo[0]["file_id"], caption="x" * 1025) == (
        400,
        "Bad Request: message caption is too long",
    )


def _first_photo_id(world: World, chat_id: int) -> str:
    """A photo file_id the bot may reuse (uploaded once through the file store)."""
    from sandbox.media import compress_photo

    sizes = world.server.files.add_photo(compress_photo(jpeg(100, 100)))
    return sizes[-1].file_id


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<p>para</p>", 'Unsupported start tag "p"'),
        ("fish & chips", "Unsupported HTML entity"),
        ("&nbsp;", "Unsupported HTML entity"),
        ("x</b>", "Unexpected end tag"),
        ('<span class="x">s</span>', 'must have class "tg-spoiler"'),
    ],
)
async def test_broken_html_is_rejected(world: World, text: str, fragment: str) -> None:
    alice = world.sb.user("Alice")
    code, description = await world.error("sendMessage", chat_id=alice.id, text=text, parse_mode="HTML")
    assert code == 400 and description.startswith("Bad Request: can't parse entities: ")
    assert fragment in description


async def test_good_html_becomes_entities(world: World) -> None:
    alice = world.sb.user("Alice")
    html = (
        '<b>粗</b> <a href="https://t.me/x">链接</a> &lt;tag&gt; &amp; &quot; &#27827; '
        '<tg-spoiler>s</tg-spoiler> <pre><code class="language-python">x = 1</code></pre> '
        "<blockquote expandable>q</blockquote>"
    )
    message = await world.ok("sendMessage", chat_id=alice.id, text=html, parse_mode="HTML")
    assert message["text"] == '粗 链接 <tag> & " 河 s x = 1 q'
    types = {e["type"]: e for e in message["entities"]}
    assert types["text_link"]["url"] == "https://t.me/x"
    assert types["pre"]["language"] == "python"
    assert set(types) == {"bold", "text_link", "spoiler", "pre", "expandable_blockquote"}


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        (
            {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]},
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        ({"inline_keyboard": [[{"text": "x", "callback_data": ""}]]}, "Bad Request: BUTTON_DATA_INVALID"),
        (
            {"inline_keyboard": [[{"text": "x", "callback_data": "河" * 22}]]},
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        ({"inline_keyboard": [[{"text": "x"}]]}, "Text buttons are unallowed in the inline keyboard"),
        ({"inline_keyboard": [{"text": "x", "callback_data": "a"}]}, "must be an Array of Arrays"),
        ({"inline_keyboard": [[{"text": "x", "url": "not a url"}]]}, "is invalid"),
        ({"keyboard": "no"}, "must be an Array of Arrays"),
        ({"something": 1}, "can't parse reply keyboard markup JSON object"),
    ],
)
async def test_bad_keyboards_are_rejected(world: World, markup: dict[str, object], description: str) -> None:
    alice = world.sb.user("Alice")
    code, got = await world.error("sendMessage", chat_id=alice.id, text="hi", reply_markup=markup)
    assert code == 400 and description in got


async def test_who_the_bot_may_write_to(world: World) -> None:
    alice = world.sb.user("Alice")
    shy = world.sb.user("Shy", started=False)
    grp = world.sb.group("群", members=[alice])
    assert await world.error("sendMessage", chat_id=424242, text="x") == (400, "Bad Request: chat not found")
    assert await world.error("sendMessage", chat_id=shy.id, text="x") == (
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
    await shy.send("/start")  # writing to the bot starts the chat
    await world.ok("sendMessage", chat_id=shy.id, text="hello")
    await alice.block_bot()
    assert await world.error("sendMessage", chat_id=alice.id, text="x") == (
        403,
        "Forbidden: bot was blocked by the user",
    )
    await grp.remove_bot(by=alice)
    assert await world.error("sendMessage", chat_id=grp.id, text="x") == (
        403,
        "Forbidden: bot was kicked from the supergroup chat",
    )


async def test_basic_group_migration_answers_with_the_new_id(world: World) -> None:
    alice = world.sb.user("Alice")
    grp = world.sb.group("小群", supergroup=False, members=[alice])
    old_id = grp.id
    new_id = await grp.migrate_to_supergroup(by=alice)
    response = (await world.call("sendMessage", chat_id=old_id, text="x")).json()
    assert response["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert response["parameters"] == {"migrate_to_chat_id": new_id}
    await world.ok("sendMessage", chat_id=new_id, text="x")


async def test_multipart_photo_upload_get_file_and_download(world: World) -> None:
    alice = world.sb.user("Alice")
    files = {"photo": ("river.jpg", jpeg(2000, 1000, exif=True), "image/jpeg")}
    response = await world.http.post(f"{world.api}/sendPhoto", data={"chat_id": str(alice.id)}, files=files)
    message = response.json()["result"]
    sizes = [(p["width"], p["height"]) for p in message["photo"]]
    assert sizes == [(90, 45), (320, 160), (1280, 640)]
    info = await world.ok("getFile", file_id=message["photo"][-1]["file_id"])
    assert info["file_path"].startswith("photos/") and info["file_size"] == message["photo"][-1]["file_size"]
    download = await world.http.get(f"{world.server.url}/file/bot{world.token}/{info['file_path']}")
    assert download.status_code == 200 and download.content[:2] == b"\xff\xd8"
    assert b"RiverCam" not in download.content  # Telegram drops EXIF from photos the bot sends too
    assert (await world.http.get(f"{world.server.url}/file/bot{world.token}/photos/nope.jpg")).status_code == 404
    # re-sending by file_id reuses the same sizes
    again = await world.ok("sendPhoto", chat_id=alice.id, photo=message["photo"][-1]["file_id"])
    assert again["photo"] == message["photo"]
    assert (await world.error("sendPhoto", chat_id=alice.id, photo="nonsense"))[1] == (
        "Bad Request: wrong file identifier/HTTP URL specified"
    )
    bad = await world.http.post(
        f"{world.api}/sendPhoto", data={"chat_id": str(alice.id)}, files={"photo": ("x.jpg", b"not an image")}
    )
    assert bad.json()["description"] == "Bad Request: IMAGE_PROCESS_FAILED"


async def test_document_round_trip_and_size_limit(world: World) -> None:
    alice = world.sb.user("Alice")
    data = jpeg(64, 64, exif=True)
    files = {"document": ("IMG_1.jpg", data, "image/jpeg")}
    response = await world.http.post(
        f"{world.api}/sendDocument", data={"chat_id": str(alice.id), "caption": "原图"}, files=files
    )
    doc = response.json()["result"]["document"]
    assert doc["file_name"] == "IMG_1.jpg" and doc["mime_type"] == "image/jpeg" and "thumbnail" in doc
    info = await world.ok("getFile", file_id=doc["file_id"])
    download = await world.http.get(f"{world.server.url}/file/bot{world.token}/{info['file_path']}")
    assert download.content == data  # byte for byte, EXIF included
    big = await alice.send_document(b"\0" * (20 * 1024 * 1024 + 1), file_name="big.bin", mime_type=None)
    assert await world.error("getFile", file_id=big["document"]["file_id"]) == (
        400,
        "Bad Request: file is too big",
    )


async def test_media_group_with_attach_references(world: World) -> None:
    alice = world.sb.user("Alice")
    media = [
        {"type": "photo", "media": "attach://one", "caption": "<b>两张</b>", "parse_mode": "HTML"},
        {"type": "photo", "media": "attach://two"},
    ]
    files = {"one": ("1.jpg", jpeg(400, 300), "image/jpeg"), "two": ("2.jpg", jpeg(300, 400), "image/jpeg")}
    response = await world.http.post(
        f"{world.api}/sendMediaGroup",
        data={"chat_id": str(alice.id), "media": json.dumps(media)},
        files=files,
    )
    messages = response.json()["result"]
    assert len(messages) == 2 and messages[0]["media_group_id"] == messages[1]["media_group_id"]
    assert messages[0]["caption"] == "两张" and messages[0]["caption_entities"][0]["type"] == "bold"
    assert messages[1]["photo"][-1]["height"] == 400
    album = await alice.next_message(timeout=1)
    assert album.kind == "media_group" and len(album.album) == 2 and album.photo is not None
    await alice.expect_silence(within=0)  # the second item is part of the same send
    one = [{"type": "photo", "media": messages[0]["photo"][-1]["file_id"]}]
    assert "wrong number of media" in (await world.error("sendMediaGroup", chat_id=alice.id, media=one))[1]
    mixed = [{"type": "document", "media": "x"}, {"type": "photo", "media": "y"}]
    assert "can't be mixed" in (await world.error("sendMediaGroup", chat_id=alice.id, media=mixed))[1]


async def test_edits_and_deletes(world: World) -> None:
    alice = world.sb.user("Alice")
    keyboard = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    sent = await world.ok("sendMessage", chat_id=alice.id, text="one", reply_markup=keyboard)
    ids = {"chat_id": alice.id, "message_id": sent["message_id"]}
    assert (await world.error("editMessageText", **ids, text="one", reply_markup=keyboard))[1].startswith(
        "Bad Request: message is not modified: specified new message content and reply markup are exactly"
    )
    edited = await world.ok("editMessageText", **ids, text="<i>two</i>", parse_mode="HTML")
    assert edited["text"] == "two" and "reply_markup" not in edited and edited["edit_date"] >= edited["date"]
    current = alice.messages()[-1]
    assert current.text == "two" and current.html == "<i>two</i>" and current.edits == 1 and current.buttons == []
    await world.ok("editMessageReplyMarkup", **ids, reply_markup=keyboard)
    assert alice.messages()[-1].buttons == [[("A", "a")]]
    assert await world.error("editMessageText", chat_id=alice.id, message_id=999, text="x") == (
        400,
        "Bad Request: message to edit not found",
    )
    mine = await alice.send("user text")
    assert (await world.error("editMessageText", chat_id=alice.id, message_id=mine["message_id"], text="x"))[
        1
    ] == "Bad Request: message can't be edited"
    assert (await world.error("editMessageCaption", **ids, caption="c"))[1] == (
        "Bad Request: there is no caption in the message to edit"
    )
    assert await world.ok("deleteMessage", **ids) is True
    assert alice.messages()[-1].deleted
    assert (await world.error("deleteMessage", **ids))[1] == "Bad Request: message to delete not found"


async def test_callback_answers_once(world: World) -> None:
    alice = world.sb.user("Alice")
    await world.ok(
        "sendMessage",
        chat_id=alice.id,
        text="pick",
        reply_markup={
            "inline_keyboard": [[{"text": "是", "callback_data": "yes"}, {"text": "否", "url": "https://x.org"}]]
        },
    )
    message = await alice.next_message(timeout=1)
    assert message.buttons == [[("是", "yes"), ("否", "https://x.org")]]
    query_id = await alice.press(message, text="是")
    assert await world.ok("answerCallbackQuery", callback_query_id=query_id, text="好", show_alert=True)
    assert world.sb.answers[-1] == {
        "callback_query_id": query_id,
        "text": "好",
        "show_alert": True,
        "url": None,
        "cache_time": None,
    }
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert (await world.error("answerCallbackQuery", callback_query_id=query_id))[1] == too_old
    assert (await world.error("answerCallbackQuery", callback_query_id="123"))[1] == too_old
    with pytest.raises(AssertionError, match="no callback button"):
        await alice.press(message, text="否")


async def test_chats_and_members(world: World) -> None:
    alice, bob, carol = world.sb.user("Alice"), world.sb.user("Bob"), world.sb.user("Carol")
    grp = world.sb.group("河长群", members=[bob], admins=[alice], owner=carol, username="hezhang")
    chat = await world.ok("getChat", chat_id="@hezhang")
    assert chat["id"] == grp.id and chat["type"] == "supergroup" and chat["title"] == "河长群"
    statuses = {
        uid: (await world.ok("getChatMember", chat_id=grp.id, user_id=uid))["status"]
        for uid in (alice.id, bob.id, carol.id, world.sb.state.bot_id)
    }
    assert statuses == {
        alice.id: "administrator",
        bob.id: "member",
        carol.id: "creator",
        world.sb.state.bot_id: "member",
    }
    admins = await world.ok("getChatAdministrators", chat_id=grp.id)
    assert sorted(a["user"]["id"] for a in admins) == sorted([alice.id, carol.id])
    assert await world.ok("leaveChat", chat_id=grp.id) is True
    assert (await world.error("getChat", chat_id=grp.id))[0] == 403
    assert await world.ok("sendChatAction", chat_id=alice.id, action="typing") is True
    assert (await world.error("sendChatAction", chat_id=alice.id, action="dancing"))[0] == 400
    mine = await alice.send("hi")
    assert await world.ok(
        "setMessageReaction",
        chat_id=alice.id,
        message_id=mine["message_id"],
        reaction=[{"type": "emoji", "emoji": "👍"}],
    )


async def test_locations_and_venues(world: World) -> None:
    alice = world.sb.user("Alice")
    loc = await world.ok("sendLocation", chat_id=alice.id, latitude=32.55, longitude=120.4, live_period=600)
    assert loc["location"]["live_period"] == 600
    ids = {"chat_id": alice.id, "message_id": loc["message_id"]}
    moved = await world.ok("editMessageLiveLocation", **ids, latitude=32.56, longitude=120.41)
    assert moved["location"]["latitude"] == 32.56
    stopped = await world.ok("stopMessageLiveLocation", **ids)
    assert "live_period" not in stopped["location"]
    venue = await world.ok("sendVenue", chat_id=alice.id, latitude=1, longitude=2, title="桥", address="镇东")
    assert venue["venue"]["title"] == "桥" and venue["location"]["latitude"] == 1
    assert (await world.error("sendLocation", chat_id=alice.id, latitude=91, longitude=0))[1] == (
        "Bad Request: wrong latitude"
    )


async def test_fault_injection(world: World) -> None:
    alice = world.sb.user("Alice")
    world.server.faults.inject("429", count=2, method="sendMessage", retry_after=3)
    body = (await world.call("sendMessage", chat_id=alice.id, text="x")).json()
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    await world.ok("getMe")  # other methods are not affected
    assert (await world.call("sendMessage", chat_id=alice.id, text="x")).status_code == 429
    await world.ok("sendMessage", chat_id=alice.id, text="x")  # count exhausted
    world.server.faults.inject("5xx", status=502)
    assert await world.ok("getUpdates") is not None  # method=None spares polling ...
    assert await world.error("getMe") == (502, "Bad Gateway")  # ... but hits the next other call
    world.server.faults.inject("slow", delay=0.3, method="getMe")
    started = time.monotonic()
    await world.ok("getMe")
    assert time.monotonic() - started >= 0.28
    world.server.faults.inject("429", count=5)
    world.server.faults.clear()
    await world.ok("getMe")
    statuses = [c.status for c in world.sb.calls]
    assert statuses.count(429) == 2 and statuses.count(502) == 1


async def test_server_stop_releases_a_waiting_long_poll(world: World) -> None:
    async with httpx.AsyncClient(timeout=10) as other:
        poll = asyncio.create_task(other.post(f"{world.api}/getUpdates", json={"timeout": 30}))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await world.server.stop()
        response = await asyncio.wait_for(poll, 3)
        assert response.json() == {"ok": True, "result": []}
        assert time.monotonic() - started < 2
