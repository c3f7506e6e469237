"""Chasing invites from the bot: /people's "not joined yet" list, a chief's link shown again, an expired one renewed."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import invites
from sandbox import FakeUser
from tests.conftest import Harness
from tests.support import invite_code, make_chief_invite, seed_registry, started_admin, tap


async def _waiting_chiefs(bot: Harness, count: int) -> dict[str, int]:
    """Chiefs the office registered (with phones) and invited; none has opened their link. Ids by name."""
    area = (await bot.store.areas.all())[0]
    ids: dict[str, int] = {}
    for number in range(1, count + 1):
        name = f"候补{number:02d}"
        person_id = await bot.store.people.create(name=name, phone=f"139000000{number:02d}", home_area_id=area.id)
        await bot.store.people.grant_role(person_id, "chief", level="village")
        await invites.issue(bot.store, bot.settings, person_id, "chief")
        ids[name] = person_id
    return ids


async def _join(bot: Harness, admin: FakeUser, code: str, name: str) -> FakeUser:
    chief = bot.sandbox.user(first_name=name, language_code="zh-hans")
    await chief.send(f"/start {code}")
    await tap(bot, chief, await chief.next_message(), text=f"✅ 是我，{name}")
    await chief.next_message()
    assert "已通过您的邀请加入" in (await admin.next_message()).text
    return chief


async def test_not_joined_filter_shows_and_renews_links(bot: Harness) -> None:
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    joined_code = await make_chief_invite(bot, admin, "王五")
    await _join(bot, admin, joined_code, "王五")
    ids = await _waiting_chiefs(bot, 9)
    await bot.store.invites.revoke_for_person(ids["候补03"])  # its link has expired
    old = await bot.store.invites.pending(now=datetime.now(UTC), include_expired=True)
    old_id = next(i.id for i in old if i.person_id == ids["候补03"])

    await admin.send("/people")
    listing = await admin.next_message()
    waiting = await tap(bot, admin, listing, text="⏳ 未加入（9）")
    assert "尚未加入的共 9 人" in waiting.text
    assert "王五" not in " ".join(waiting.button_texts)
    assert "候补01 · 村级河长" in waiting.button_texts and "⌛ 候补03 · 村级河长" in waiting.button_texts
    assert "候补09 · 村级河长" not in waiting.button_texts  # 8 a page
    second = await tap(bot, admin, waiting, text="▶")
    assert "候补09 · 村级河长" in second.button_texts and "候补01 · 村级河长" not in second.button_texts
    first = await tap(bot, admin, second, text="◀")

    shown = await tap(bot, admin, first, text="候补01 · 村级河长")
    pending = await bot.store.invites.pending_for_person(ids["候补01"], now=datetime.now(UTC))
    assert pending is not None
    assert invite_code(shown.text) == pending.code
    assert "13900000001" in shown.text and "有效期至" in shown.text and "转发" in shown.text
    assert "🔄 重新生成邀请" not in shown.button_texts

    back = await tap(bot, admin, shown, text="◀ 返回未加入名单")
    expired = await tap(bot, admin, back, text="⌛ 候补03 · 村级河长")
    assert "过期，链接已失效" in expired.text and "https://t.me/" not in expired.text
    renew_data = next(data for text, data in expired.buttons[0] if text == "🔄 重新生成邀请") or ""
    renewed = await tap(bot, admin, expired, text="🔄 重新生成邀请")
    code = invite_code(renewed.text)
    assert "已重新生成邀请" in renewed.text and "有效期至" in renewed.text
    fresh = await bot.store.invites.pending_for_person(ids["候补03"], now=datetime.now(UTC))
    assert fresh is not None and fresh.code == code
    unused = await bot.store.invites.pending(now=datetime.now(UTC), include_expired=True)
    assert next(i.code for i in unused if i.person_id == ids["候补03"]) == code  # the newest; the old one is dead

    # The renew button pressed again: the link just made, not another one.
    answer = await bot.sandbox.answer(await admin.press_raw(renewed.chat_id, renewed.message_id, renew_data))
    assert answer is not None
    again = bot.sandbox.state.sent_by_key[(renewed.chat_id, renewed.message_id)]
    assert invite_code(again.text) == code
    assert len([i for i in await bot.store.invites.pending(now=datetime.now(UTC)) if i.person_id == ids["候补03"]]) == 1

    # The renewed link lets them in, and they leave the list.
    await _join(bot, admin, code, "候补03")
    await admin.send("/people")
    assert "⏳ 未加入（8）" in (await admin.next_message()).button_texts

    # A button for someone who has joined meanwhile (or forged for them) is answered clearly.
    answer = await bot.sandbox.answer(await admin.press_raw(shown.chat_id, shown.message_id, f"pp:link:{fresh.id}"))
    assert answer["show_alert"] and "候补03 已加入" in answer["text"]
    answer = await bot.sandbox.answer(await admin.press_raw(shown.chat_id, shown.message_id, f"pp:renew:{old_id}"))
    assert answer["show_alert"] and "候补03 已加入" in answer["text"]
    answer = await bot.sandbox.answer(await admin.press_raw(shown.chat_id, shown.message_id, "pp:link:99999"))
    assert answer["show_alert"]
    assert bot.errors() == []


async def test_strangers_cannot_see_links(bot: Harness) -> None:
    stranger = bot.sandbox.user(first_name="Nobody", language_code="en")
    for data in ("pp:wait:0", "pp:link:1", "pp:renew:1"):
        answer = await bot.sandbox.answer(await stranger.press_raw(stranger.id, 1, data))
        assert answer["show_alert"] and "Only River Chief Office admins" in answer["text"]
    assert bot.errors() == []


async def test_everyone_joined_says_so(bot: Harness) -> None:
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    await admin.send("/people")
    listing = await admin.next_message()
    assert not any(text.startswith("⏳") for text in listing.button_texts)
    await admin.press_raw(listing.chat_id, listing.message_id, "pp:wait:0")
    await bot.sandbox.wait_consumed()
    assert "所有受邀人员都已加入" in admin.messages()[-1].text
