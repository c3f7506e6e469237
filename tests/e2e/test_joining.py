"""Joining through the stand-in: invites for chiefs and admins, volunteers registering, approvals, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app import stop as stop_app
from sandbox import FakeUser, SentMessage
from tests.conftest import ADMIN_ID, BotFactory, Harness
from tests.support import invite_code, make_chief_invite, restart, seed_registry, started_admin, tap


async def last_message(bot: Harness, user: FakeUser) -> SentMessage:
    await bot.sandbox.wait_consumed()
    return user.messages()[-1]


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
    assert (await lucy.next_message()).keyboard == [["🚶 Patrol", "📋 My patrols"], ["📝 Report a problem"]]
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
    assert "您已成为河小义" in welcome.text and welcome.keyboard == [["🚶 巡河", "📋 我的巡河"], ["📝 上报问题"]]
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
    assert "1 volunteer registration waiting" in (await admin.next_message()).text
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

    restarted = await restart(bot)
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


async def test_register_refuses_reserved_names_and_drops_invisible_characters(bot: Harness) -> None:
    """Finding 15 of issue 13: a name imitating the bot ("系统") or the office ("河长办"), or carrying bidi and
    zero-width characters, would show in timelines and group summaries as if it were them."""
    await seed_registry(bot.store)
    zhou = bot.sandbox.user(first_name="\u202e周\u200b", language_code="zh-hans")
    await zhou.send("/register")
    await zhou.next_message()
    for reserved in ("系统", "河长办", "【系 统】"):
        await zhou.send(reserved)
        answer = await zhou.next_message()
        assert "保留名称" in answer.text and "请重新输入" in answer.text, reserved
    await zhou.send("\u2067周\u200d八\u2069")
    assert "周八" in (await zhou.next_message()).text
    areas = await zhou.next_message()
    await tap(bot, zhou, areas, text="城东片区")
    await zhou.next_message()
    await zhou.send("跳过")
    assert "您已成为河小义" in (await zhou.next_message()).text
    person = await bot.store.people.by_telegram_id(zhou.id)
    assert person is not None and person.name == "周八"
    assert bot.errors() == []


async def test_telegram_names_are_cleaned_and_marked_when_they_imitate_the_office(bot: Harness) -> None:
    fake = bot.sandbox.user(first_name="河长办\u200b", language_code="zh-hans")
    await fake.send("/start")
    greeting = await fake.next_message()
    assert "\u200b" not in greeting.text
    person = await bot.store.people.by_telegram_id(fake.id)
    assert person is not None and person.name == "⚠河长办"
    rtl = bot.sandbox.user(first_name="\u202e三张", language_code="zh-hans")
    await rtl.send("/start")
    await rtl.next_message()
    person = await bot.store.people.by_telegram_id(rtl.id)
    assert person is not None and person.name == "三张"
