"""Citizens: the volunteer's "report a problem" button, a stranger's photo kept and one tap to join, and the QR
codes of the public signs (公示牌) that start a report on their reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import qr
from bot.problems import MAX_PHOTOS
from handlers.retention import prune_old_records
from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import (
    LAT,
    WEST,
    chief,
    d,
    make_chief_invite,
    run_job,
    seed,
    seed_registry,
    started_admin,
    tap,
    volunteer,
)


async def test_a_volunteers_keyboard_has_report_a_problem_and_it_starts_a_report(bot: Harness) -> None:
    await seed(bot.store)
    for code, label, asks in (
        ("zh-hans", "📝 上报问题", "请发送问题现场照片"),
        ("en", "📝 Report a problem", "Send photos of the problem"),
    ):
        xiao = bot.sandbox.user(first_name="小李", language_code=code)
        await volunteer(bot, xiao, "李小义")
        await xiao.send("/start")
        greeting = await xiao.next_message()
        assert [label] in greeting.keyboard or any(label in row for row in greeting.keyboard), greeting.describe()
        await xiao.next_message()  # the language choice
        await xiao.send(label)
        ask = await xiao.next_message()
        assert asks in ask.text, ask.describe()
    assert bot.errors() == []


async def test_a_strangers_photo_is_kept_and_one_tap_joins_them_and_the_report_goes_on(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    for code, join, location, category, send in (
        ("zh-hans", "🙋 加入河小义，继续上报", "请共享问题所在位置", "乱堆", "📤 提交"),
        ("en", "🙋 Join as a volunteer and go on", "Share where the problem is", "illegal dumping", "📤 Send"),
    ):
        stranger = bot.sandbox.user(first_name="路人", last_name="甲", language_code=code)
        await stranger.send_photo(make_jpeg(1600, 1200, seed=7))
        offer = await stranger.next_message()
        assert offer.button_texts == [join], offer.describe()
        person = await bot.store.people.by_telegram_id(stranger.id)
        assert person is not None and not person.roles  # not a member before the tap
        kept = await bot.store.kept_reports.get(stranger.id)
        assert kept is not None and len(kept.photos) == 1

        await tap(bot, stranger, offer, text=join)
        welcome = await stranger.next_message()
        assert ["📝 上报问题"] in welcome.keyboard or ["📝 Report a problem"] in welcome.keyboard, welcome.describe()
        ask = await stranger.next_message()  # the draft is past its photos: the location is asked
        assert location in ask.text, ask.describe()
        assert ask.keyboard_buttons[0][0].get("request_location") is True
        assert await bot.store.kept_reports.get(stranger.id) is None
        person = await bot.store.people.by_telegram_id(stranger.id)
        assert person is not None and "volunteer" in person.roles and person.name == "路人 甲"

        await stranger.send_location(LAT + 0.0005, WEST + 0.003)
        await stranger.next_message()  # location received
        reaches = await stranger.next_message()
        kinds = await tap(bot, stranger, reaches, data=reaches.buttons[0][0][1])
        described = await tap(bot, stranger, kinds, text=category)
        if described.text.startswith(("问题类别", "Kind of problem")):
            new = "不是，另报新问题" if code != "en" else "No, report a new one"
            offered = await stranger.next_message()  # the open problem it may be
            described = await tap(bot, stranger, offered, text=new)
        confirm = await tap(bot, stranger, described, text="跳过" if code != "en" else "Skip")
        filed = await tap(bot, stranger, confirm, text=send)
        assert "#" in filed.text, filed.describe()
    problems = await bot.store.fetchall("SELECT id FROM problems")
    assert len(problems) >= 1
    photos = await bot.store.problems.photos(problems[0][0])
    assert len(photos) == 1
    assert bot.errors() == []


async def test_a_forged_or_stale_join_button_joins_nobody_and_an_ignored_offer_expires(bot_factory: BotFactory) -> None:
    bot = await bot_factory(retention_years=3)
    await seed(bot.store)
    stranger = bot.sandbox.user(first_name="路人", language_code="zh-hans")
    # Forged: no photo was kept for them.
    await stranger.send("/start")
    greeting = await stranger.next_message()
    await stranger.next_message()
    await bot.sandbox.answer(await stranger.press_raw(greeting.chat_id, greeting.message_id, "cz:join"))
    person = await bot.store.people.by_telegram_id(stranger.id)
    assert person is not None and not person.roles
    assert await bot.store.dialogs.get(stranger.id) is None

    # Ignored: the offer stays, and the kept photo goes with the retention window.
    await stranger.send_photo(make_jpeg(1600, 1200, seed=8))
    offer = await stranger.next_message()
    assert "照片已保存" in offer.text
    old = (datetime.now(UTC) - timedelta(days=4 * 366)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await bot.store.execute("UPDATE kept_reports SET created_at = ?, updated_at = ?", (old, old))
    await run_job(bot, prune_old_records)
    assert await bot.store.kept_reports.get(stranger.id) is None
    # Stale: the offer's button now joins nobody.
    await bot.sandbox.answer(await stranger.press_raw(offer.chat_id, offer.message_id, "cz:join"))
    person = await bot.store.people.by_telegram_id(stranger.id)
    assert person is not None and not person.roles
    assert bot.errors() == []


async def test_with_admin_approval_the_kept_photo_waits_and_the_report_goes_on_once_approved(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(volunteer_approval="admin")
    await seed(bot.store)
    admin = await started_admin(bot)
    stranger = bot.sandbox.user(first_name="路人", language_code="zh-hans")
    await stranger.send_photo(make_jpeg(1600, 1200, seed=9))
    offer = await stranger.next_message()
    waiting = await tap(bot, stranger, offer, text="🙋 加入河小义，继续上报")
    assert "照片已保存" in waiting.text and "审核" in waiting.text, waiting.describe()
    request = await admin.next_message()
    assert "路人" in request.text
    await tap(bot, admin, request, text="✅ 通过")
    assert "注册已通过审核" in (await stranger.next_message()).text
    ask = await stranger.next_message()
    assert "请共享问题所在位置" in ask.text, ask.describe()
    state = await bot.services.reports.current(stranger.id)
    assert state is not None and len(state.draft.photos) == 1
    assert bot.errors() == []


async def test_a_stranger_keeps_at_most_a_reports_photos_and_more_are_not_downloaded(bot: Harness) -> None:
    stranger = bot.sandbox.user(first_name="Passer", language_code="en")
    for n in range(MAX_PHOTOS):
        await stranger.send_photo(make_jpeg(800, 600, seed=20 + n))
        assert f"Photo saved ({n + 1} so far)" in (await stranger.next_message()).text
    photos = await bot.store.fetchval("SELECT count(*) FROM photos")
    await stranger.send_photo(make_jpeg(800, 600, seed=40))
    assert "at most 5 photos" in (await stranger.next_message()).text
    assert await bot.store.fetchval("SELECT count(*) FROM photos") == photos
    kept = await bot.store.kept_reports.get(stranger.id)
    assert kept is not None and len(kept.photos) == MAX_PHOTOS
    assert bot.errors() == []


async def test_a_stranger_who_joins_by_invite_keeps_their_name_and_their_kept_photo_goes_on(bot: Harness) -> None:
    """Review finding: the invite left the kept photo stranded, and the old join button then renamed the chief
    to their Telegram name and made them a volunteer too."""
    await seed_registry(bot.store)
    admin = await started_admin(bot)
    wang = bot.sandbox.user(first_name="Wang", language_code="zh-hans")
    await wang.send_photo(make_jpeg(1600, 1200, seed=11))
    offer = await wang.next_message()
    code = await make_chief_invite(bot, admin)
    await wang.send(f"/start {code}")
    card = await wang.next_message()
    await tap(bot, wang, card, text="✅ 是我，王五")
    await wang.next_message()  # the menu
    ask = await wang.next_message()
    assert "请共享问题所在位置" in ask.text, ask.describe()
    assert await bot.store.kept_reports.get(wang.id) is None

    await bot.sandbox.answer(await wang.press_raw(offer.chat_id, offer.message_id, "cz:join"))
    person = await bot.store.people.by_telegram_id(wang.id)
    assert person is not None and person.name == "王五" and person.roles == {"chief": "town"}
    state = await bot.services.reports.current(wang.id)
    assert state is not None and len(state.draft.photos) == 1
    assert bot.errors() == []


async def test_the_join_button_of_a_member_with_something_kept_resumes_it_and_joins_nothing(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="Wang", language_code="zh-hans")
    await wang.send_photo(make_jpeg(1600, 1200, seed=12))
    offer = await wang.next_message()
    stranger = await bot.store.people.by_telegram_id(wang.id)
    assert stranger is not None
    await bot.store.people.grant_role(stranger.id, "chief", level="village")  # made a chief by the office meanwhile
    await bot.store.assignments.assign(stranger.id, ids["DBH-01"], level="village", starts_on=d("2026-11-01"))
    await bot.sandbox.answer(await wang.press_raw(offer.chat_id, offer.message_id, "cz:join"))
    ask = await wang.next_message()
    assert "请共享问题所在位置" in ask.text, ask.describe()
    person = await bot.store.people.by_telegram_id(wang.id)
    assert person is not None and person.name == stranger.name and person.roles == {"chief": "village"}
    assert bot.errors() == []


async def test_a_deactivated_member_who_scans_a_sign_is_told_so_and_no_report_starts(bot: Harness) -> None:
    ids = await seed(bot.store)
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    person_id = await volunteer(bot, xiao, "李小义")
    await bot.store.people.set_active(person_id, False, by=None)
    [sign] = qr.sign_codes(bot.app.bot.username, [(ids["LGH-01"], "LGH-01", "立公河")])
    await xiao.send(f"/start {sign.link.split('start=')[1]}")
    assert "您的账号已被停用" in (await xiao.next_message()).text
    assert await bot.store.dialogs.get(xiao.id) is None
    assert bot.errors() == []
