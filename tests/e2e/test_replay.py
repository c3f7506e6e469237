"""Every real update payload in tests/corpus/telegram-updates, replayed through the stand-in.

The bot must never crash on what Telegram really sends; it answers where a person expects an answer (a private
message) and stays quiet where it has nothing to say (channel posts, inline queries, service messages, edits).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import FakeGroup, FakeUser
from sandbox.state import StoredFile
from tests.conftest import BOT_USERNAME, Harness
from tests.factories import make_jpeg

# Copied into the repository with their licence (tests/corpus/telegram-updates/LICENSE and README.md), so a bare
# clone replays them too.
PAYLOADS = Path(__file__).resolve().parents[1] / "corpus" / "telegram-updates"
FILES = sorted(PAYLOADS.glob("*.json")) + sorted(PAYLOADS.glob("current/*.json"))

PAYLOAD_USER = 12345678
PAYLOAD_BOT = 123
PAYLOAD_BOT_USERNAME = "probe_bot"
PAYLOAD_SUPERGROUP = -1001234567890
PAYLOAD_GROUP = -987654321

# What a person would expect from each kind of update; anything not listed expects a private answer.
SILENT = {
    "channel_post.json",  # not our channel
    "chat_join_request.json",  # join requests are for the group's admins
    "edited_message.json",  # an edit is not a new request
    "edited_message_live_location.json",  # live-location edits feed patrols, and say nothing
    "edited_message_live_location_stopped.json",
    "inline_query.json",  # no inline mode
    "message_automatic_forward.json",
    "message_command_for_other_bot.json",  # /help@other_bot is not for us
    "message_forum_topic.json",  # /summary does not exist yet
    "message_group_chat_created.json",
    "message_left_chat_member.json",
    "message_migrate_from_chat_id.json",
    "message_migrate_to_chat_id.json",
    "message_new_chat_members.json",
    "message_reaction.json",
    "my_chat_member_added_to_group.json",
    "my_chat_member_blocked_in_private.json",  # and could not answer anyway
    "my_chat_member_kicked_from_group.json",
    "pre_checkout_query.json",
    "shipping_query.json",
}
ANSWER_IN_GROUP = {
    "message_command_with_botname_in_group.json",
    # /bind posted as the group by an anonymous admin: nobody the bot could know as an office admin, so the short
    # refusal every non-admin gets (an answer in the group, where the command was sent).
    "message_anonymous_admin.json",
}
BUTTON_ANSWER = {"callback_query_inaccessible_message.json", "callback_query_unknown_data.json"}
# The payload's sender is nobody yet: a photo or image file of theirs is kept, with the offer to join as a volunteer
# (tests/e2e/test_citizens.py), its file served by the stand-in under the payload's own file id.
KEPT = ("照片已保存", "Photo saved")  # the payload with language code ln-LN reads the default language


def _map_ids(value: Any, ids: dict[int, int]) -> Any:
    if isinstance(value, dict):
        return {k: _map_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_ids(v, ids) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value in ids:
        return ids[value]
    if isinstance(value, str):
        return value.replace(f"@{PAYLOAD_BOT_USERNAME}", f"@{BOT_USERNAME}")
    return value


def _fix_command_entities(update: dict[str, Any]) -> None:
    """Entity lengths are in UTF-16 units of the original text; a renamed bot changes the command's length."""
    for kind in ("message", "edited_message", "channel_post"):
        message = update.get(kind)
        if not isinstance(message, dict) or "text" not in message:
            continue
        for entity in message.get("entities", []):
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                entity["length"] = len(re.split(r"\s", message["text"], maxsplit=1)[0].encode("utf-16-le")) // 2


def prepare(path: Path, bot: Harness, user: FakeUser, group: FakeGroup, small_group: FakeGroup) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    ids = {
        PAYLOAD_USER: user.id,
        PAYLOAD_BOT: bot.app.bot.id,
        PAYLOAD_SUPERGROUP: group.id,
        PAYLOAD_GROUP: small_group.id,
    }
    update: dict[str, Any] = _map_ids(raw, ids)
    update.pop("update_id", None)
    now = int(time.time())
    for value in update.values():
        if isinstance(value, dict):
            for key in ("date", "edit_date"):
                if value.get(key):
                    value[key] = now
            if value.get("message", {}).get("date"):
                value["message"]["date"] = now
    _fix_command_entities(update)
    return update


def _serve_files(bot: Harness, update: dict[str, Any]) -> bool:
    """Let the stand-in serve the files a private message's photo or image file names (the payload's ids are
    Telegram's, unknown to it); whether there were any."""
    message = update.get("message")
    if not isinstance(message, dict) or message.get("chat", {}).get("type") != "private":
        return False
    files = [*message.get("photo", [])]
    document = message.get("document")
    if isinstance(document, dict) and str(document.get("mime_type", "")).startswith("image/"):
        files.append(document)
    store = bot.sandbox.server.files
    for n, described in enumerate(files):
        stored = StoredFile(
            described["file_id"], described["file_unique_id"], "photo", make_jpeg(seed=n),
            f"photos/replayed_{described['file_unique_id']}.jpg", mime_type="image/jpeg",
        )  # fmt: skip
        store.by_id[stored.file_id] = stored
        store.by_path[stored.file_path] = stored
    return bool(files)


def test_payloads_are_present() -> None:
    assert len(FILES) >= 40, f"expected the shared payloads at {PAYLOADS}"


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
async def test_replay(bot: Harness, path: Path) -> None:
    user = bot.sandbox.user(first_name="Name", username="UserName", language_code="zh-hans")
    await user.send("/start")
    await user.next_message()
    await user.next_message()
    member = bot.sandbox.user(first_name="Member", language_code="zh-hans")
    group = bot.sandbox.group(title="曲塘镇河长群", supergroup=True, members=[user, member], admins=[user])
    small_group = bot.sandbox.group(title="曲塘镇河长群", supergroup=False, members=[user], admins=[user])
    answers_before = len(bot.sandbox.answers)

    update = prepare(path, bot, user, group, small_group)
    kept = _serve_files(bot, update)
    bot.sandbox.push_raw(update)
    await bot.sandbox.wait_consumed()

    name = path.name
    if name in BUTTON_ANSWER:
        await user.expect_silence()
        assert len(bot.sandbox.answers) == answers_before + 1
    elif name in ANSWER_IN_GROUP:
        assert (await user.next_message(chat=group)).text
    elif name in SILENT:
        await user.expect_silence()
    elif kept:
        answer = await user.next_message()
        assert answer.text.startswith(("📷 " + KEPT[0], "📷 " + KEPT[1])), answer.describe()
    else:
        answer = await user.next_message()
        assert answer.text and "/help" in answer.text
    await user.expect_silence(chat=group)
    await user.expect_silence(chat=small_group)
    # expect_silence only sees what comes after it: anything already sent must have been read above.
    for chat in (user.id, group.id, small_group.id):
        unread = bot.sandbox.state.sent_in_chat(chat)[bot.sandbox.read_upto.get(chat, 0) :]
        assert [m.text for m in unread] == []
    assert bot.errors() == []
    assert await bot.store.failed_updates.open() == []


async def test_replayed_migration_keeps_the_group_language(bot: Harness) -> None:
    user = bot.sandbox.user(first_name="Name", language_code="zh-hans")
    group = bot.sandbox.group(title="曲塘镇河长群", supergroup=True, members=[user], admins=[user])
    small_group = bot.sandbox.group(title="曲塘镇河长群", supergroup=False, members=[user], admins=[user])
    await bot.services.chats.set_language(small_group.id, type="group", title="曲塘镇河长群", language="en")
    for name in ("message_migrate_to_chat_id.json", "message_migrate_from_chat_id.json"):
        bot.sandbox.push_raw(prepare(PAYLOADS / "current" / name, bot, user, group, small_group))
    await bot.sandbox.wait_consumed()
    assert await bot.services.chats.language(group.id) == "en"
    old = await bot.store.chats.get(small_group.id)
    assert old is not None and old.migrated_to == group.id
