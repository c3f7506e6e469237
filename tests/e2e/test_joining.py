"""Joining through the stand-in: invites for chiefs and admins, volunteers registering, approvals, restarts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.app import build_application
from bot.app import start as start_app
from bot.app import stop as stop_app
from sandbox import FakeUser, SentMessage
from storage import Store
from storage.registry import ReachValues
from tests.conftest import ADMIN_ID, BotFactory, Harness


async def seed_registry(store: Store) -> dict[str, int]:
    """Two areas and three reaches; returns reach ids by code."""
    cd, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
    await store.areas.upsert("CN", "城南片区", "Chengnan")
    ids = {}
    for code, zh, en, level in (
        ("DBH-01", "丁堡河（城东段）", "Dingbao River (east)", "town"),
        ("JHH-01", "江海河（城东段）", "Jianghai River (east)", "town"),
        ("LGH-01", "立公河", "Ligong River", "village"),
    ):
        ids[code], _ = await store.reaches.upsert(
            ReachValues(code, zh, en, cd, level, 3.5, ("black_odorous",) if code == "LGH-01" else (), None, None)
        )
    return ids


async def started_admin(bot: Harness, language_code: str = "zh-hans") -> FakeUser:
    admin = bot.sandbox.user(first_name="河长办", last_name="管理员", language_code=language_code, user_id=ADMIN_ID)
    await admin.send("/start")
    await admin.next_message()
    await admin.next_message()
    return admin


async def tap(
    bot: Harness, user: FakeUser, message: SentMessage, text: str | None = None, data: str | None = None
) -> SentMessage:
    """Press a button, wait until the bot has answered the press, and return that message as it is now."""
    query_id = await user.press(message, text=text, data=data)
    await bot.sandbox.answer(query_id)
    return next(m for m in user.messages() if m.message_id == message.message_id)


async def last_message(bot: Harness, user: FakeUser) -> SentMessage:
    await bot.sandbox.wait_consumed()
    return user.messages()[-1]


def invite_code(text: str) -> str:
    found = re.search(r"https://t\.me/riverbot_test_bot\?start=([A-Za-z0-9_-]+)", text)
    assert found is not None, text
    return found.group(1)


async def make_chief_invite(bot: Harness, admin: FakeUser, name: str = "王五") -> str:
    await admin.send("/invite")
    ask = await admin.next_message()
    assert "请输入被邀请人（河长）的姓名" in (await tap(bot, admin, ask, text="河长")).text
    await admin.send(name)
    level = await admin.next_message()
    areas = await tap(bot, admin, level, text="镇级河长")
    reaches = await tap(bot, admin, areas, text="城东片区 · CD")
    reaches = await tap(bot, admin, reaches, data=next(d for t, d in reaches.buttons[0] if d))
    assert reaches.button_texts[0].startswith("✅")
    reaches = await tap(bot, admin, reaches, text="▫️ 江海河（城东段） · JHH-01")
    created = await tap(bot, admin, reaches, text="完成（已选 2 条）")
    assert f"已为 {name}（镇级河长）生成邀请链接" in created.text
    return invite_code(created.text)


async def test_chief_joins_by_invite_after_confirming_their_name(bot: Harness) -> None:
    reach_ids = await seed_registry(bot.store)
    admin = await started_admin(bot)
    code = await make_chief_invite(bot, admin)

    wang = bot.sandbox.user(first_name="Wang", language_code="zh-hans")
    await wang.send(f"/start {code}")
    card = await wang.next_message()
    assert "姓名：王五" in card.text and "镇级河长" in card.text
    assert "丁堡河（城东段）" in card.text and "江海河（城东段）" in card.text
    welcome = await tap(bot, wang, card, text="✅ 是我，王五")
    assert "您已以河长身份加入" in welcome.text

    person = await bot.store.people.by_telegram_id(wang.id)
    assert person is not None and person.name == "王五" and person.roles == {"chief": "town"}
    held = {a.reach_id for a in await bot.store.assignments.active_for_person(person.id)}
    assert held == {reach_ids["DBH-01"], reach_ids["JHH-01"]}
    assert len(await bot.store.fetchall("SELECT id FROM people WHERE name = '王五'")) == 1  # no leftover row
    assert "✅ 王五 已通过您的邀请加入（镇级河长）" in (await admin.next_message()).text
    menu = bot.sandbox.commands(scope_type="chat", chat_id=wang.id)
    assert "reaches" in [c["command"] for c in menu]

    # The same button again, and the link opened again: told plainly, nothing changes.
    await wang.press_raw(card.chat_id, card.message_id, f"inv:ok:{code}")
    await wang.send(f"/start {code}")
    assert "您已通过该邀请加入" in (await last_message(bot, wang)).text
    # A second person with the same link.
    other = bot.sandbox.user(first_name="Other", language_code="en")
    await other.send(f"/start {code}")
    assert "already been used by someone else" in (await other.next_message()).text
    assert bot.errors() == []


async def test_admin_invite_in_english(bot: Harness) -> None:
    admin = await started_admin(bot, "en")
    await admin.send("/invite")
    ask = await admin.next_message()
    await tap(bot, admin, ask, text="office admin")
    await admin.send("Lucy Chen")
    created = await admin.next_message()
    assert "Invite link for Lucy Chen (office admin)" in created.text
    code = invite_code(created.text)

    lucy = bot.sandbox.user(first_name="Lucy", language_code="en-US")
    await lucy.send(f"/start {code}")
    card = await lucy.next_message()
    assert "Role: office admin" in card.text
    assert "You are now a River Chief Office admin" in (await tap(bot, lucy, card, text="✅ Yes, I am Lucy Chen")).text
    assert (await lucy.next_message()).keyboard == [["🚶 Patrol", "📋 My patrols"]]
    await lucy.send("/pending")
    assert "No volunteer registrations are waiting" in (await lucy.next_message()).text


async def test_not_me_leaves_the_invite_usable(bot: Harness) -> None:
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    code = await make_chief_invite(bot, admin)
    wrong = bot.sandbox.user(first_name="Wrong", language_code="zh-hans")
    await wrong.send(f"/start {code}")
    card = await wrong.next_message()
    assert "未作绑定" in (await tap(bot, wrong, card, text="不是我")).text
    right = bot.sandbox.user(first_name="Right", language_code="zh-hans")
    await right.send(f"/start {code}")
    assert "姓名：王五" in (await right.next_message()).text


async def test_unknown_and_expired_codes_are_told_apart(bot: Harness) -> None:
    person_id = await bot.store.people.create(name="过期")
    await bot.store.invites.create(person_id, "chief", expires_at=datetime.now(UTC) - timedelta(days=1))
    expired = await bot.store.fetchval("SELECT code FROM invites WHERE person_id = ?", (person_id,))
    zhao = bot.sandbox.user(first_name="赵", language_code="zh-hans")
    await zhao.send("/start nosuchcode123")
    assert "邀请码无效" in (await zhao.next_message()).text
    await zhao.send(f"/start {expired}")
    assert "该邀请已过期" in (await zhao.next_message()).text
    mary = bot.sandbox.user(first_name="Mary", language_code="en")
    await mary.send(f"/start {expired}")
    assert "This invite has expired" in (await mary.next_message()).text


async def test_volunteer_registers_with_their_own_phone(bot: Harness) -> None:
    await seed_registry(bot.store)
    zhao = bot.sandbox.user(first_name="赵", last_name="六", language_code="zh-hans")
    await zhao.send("/start")
    greeting = await zhao.next_message()
    await zhao.next_message()
    await tap(bot, zhao, greeting, text="注册成为河小义")
    ask = await zhao.next_message()
    assert "请输入您的姓名" in ask.text and ask.keyboard == [["赵 六"]]
    await zhao.send("名" * 41)
    assert "1–40 个字" in (await zhao.next_message()).text
    await zhao.send("赵六")
    await zhao.next_message()
    areas = await zhao.next_message()
    await zhao.send("城东")  # text where a button is expected
    assert "请点击下方按钮选择片区" in (await zhao.next_message()).text
    assert (await tap(bot, zhao, areas, text="城东片区")).text == "片区：城东片区"
    phone = await zhao.next_message()
    assert phone.keyboard_buttons[0][0].get("request_contact") is True
    await zhao.send("13800001111")
    assert "分享手机号" in (await zhao.next_message()).text
    await zhao.send_contact("+8613800001111", own=False)
    assert "您本人的号码" in (await zhao.next_message()).text
    await zhao.send_contact("+8613800001111")
    welcome = await zhao.next_message()
    assert "您已成为河小义" in welcome.text and welcome.keyboard == [["🚶 巡河", "📋 我的巡河"]]
    person = await bot.store.people.by_telegram_id(zhao.id)
    assert person is not None and person.roles == {"volunteer": None}
    assert person.name == "赵六" and person.phone == "+8613800001111" and person.home_area_id is not None
    await zhao.send("/register")
    assert "您已注册" in (await zhao.next_message()).text
    # A volunteer is not staff.
    await zhao.send("/reaches")
    assert "仅河长和河长办管理员" in (await zhao.next_message()).text
    assert bot.errors() == []


async def test_registration_needing_approval_and_two_admins_deciding(bot_factory: BotFactory) -> None:
    bot = await bot_factory(volunteer_approval="admin", admin_ids=frozenset({ADMIN_ID, ADMIN_ID + 1}))
    await seed_registry(bot.store)
    admin = await started_admin(bot, "en")
    second = bot.sandbox.user(first_name="Second", language_code="zh-hans", user_id=ADMIN_ID + 1)
    await second.send("/start")
    await second.next_message()
    await second.next_message()

    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await amy.send("/register")
    await amy.next_message()
    await amy.send("Amy Wu")
    await amy.next_message()
    areas = await amy.next_message()
    await tap(bot, amy, areas, text="Chengdong")
    await amy.next_message()
    await amy.send("Skip")
    assert "your registration has been sent" in (await amy.next_message()).text
    await amy.send("/reaches")
    assert "waiting for approval" in (await amy.next_message()).text

    notice = await admin.next_message()
    assert "Name: Amy Wu" in notice.text and "Area: Chengdong" in notice.text
    zh_notice = await second.next_message()
    assert "姓名：Amy Wu" in zh_notice.text
    await admin.send("/pending")
    assert "1 volunteer registration(s) waiting" in (await admin.next_message()).text
    await admin.next_message()

    approved = await tap(bot, admin, notice, text="✅ Approve")
    assert "Amy Wu's registration approved (by 河长办 管理员)" in approved.text
    assert "has been approved" in (await amy.next_message()).text
    answer = await bot.sandbox.answer(await second.press(zh_notice, text="❌ 不通过"))
    assert answer["show_alert"] and "该申请已处理：已通过" in answer["text"]
    person = await bot.store.people.by_telegram_id(amy.id)
    assert person is not None and person.roles == {"volunteer": None}
    assert bot.errors() == []


async def test_registration_survives_a_restart(bot: Harness) -> None:
    await seed_registry(bot.store)
    qian = bot.sandbox.user(first_name="钱", language_code="zh-hans")
    await qian.send("/register")
    await qian.next_message()
    await qian.send("钱七")
    await qian.next_message()
    areas = await qian.next_message()

    await stop_app(bot.app)
    restarted = build_application(bot.settings, services=bot.services)
    await start_app(restarted, poll_timeout=1)
    try:
        await tap(bot, qian, areas, text="城东片区")
        await qian.next_message()
        await qian.send("跳过")
        assert "您已成为河小义" in (await qian.next_message()).text
    finally:
        await stop_app(restarted)


async def test_cancel_drops_the_dialog(bot: Harness) -> None:
    sun = bot.sandbox.user(first_name="孙", language_code="zh-hans")
    await sun.send("/register")
    await sun.next_message()
    await sun.send("/cancel")
    cancelled = await sun.next_message()
    assert cancelled.text == "已取消。" and cancelled.removes_keyboard
    await sun.send("孙八")
    assert "我没能理解这条消息" in (await sun.next_message()).text
    await sun.send("/cancel")
    assert "没有需要取消" in (await sun.next_message()).text
