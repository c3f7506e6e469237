"""The weekly summary on demand: `riverbot summary` (print, chart, --send through the stand-in, recorded like the
job), /summary in groups and in private, the chiefs' private digest once, and a summary longer than one message."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import CallbackContext

from bot import delivery as summaries
from bot.app import stop as stop_app
from bot.i18n import Locales
from bot.summaries import MESSAGE_LIMIT, last_week, week_dates
from handlers.summaries import deliver_week
from sandbox import BotApiServer, Sandbox
from sandbox.driver import FakeUser
from storage import Store
from storage.registry import ReachValues
from storage.summaries import AREA, CHIEF
from tests.cli import cli_database
from tests.conftest import BotFactory, Cli, Harness
from tests.support import World, bound_group, chief, current, restart, run_weekly, started_admin

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"  # well formed; never used: no group to send to


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "RETRY_DELAYS", (0,))


async def _fill(path: str | Path) -> int:
    """Area CD, a chief who patrolled once of the two weeks' required, a volunteer; returns the area id."""
    async with await Store.open(path) as store:
        world = World(store)
        cd = await world.area("CD", "城东街道", "Chengdong Subdistrict")
        await world.area("QT", "曲塘镇", "Qutang Town")
        lg = await world.reach("LG-01", cd, "village", "立公河", "Ligong River")
        db = await world.reach("DB-01", cd, "village", "丁堡河", "Dingbao River")
        zhang = await world.person("张三")
        li = await world.person("李<四>")
        await world.assign(zhang, lg, "2026-01-01")
        await world.assign(li, db, "2026-01-01")
        await world.patrol(zhang, lg, "2026-11-18 09:00")
        return cd


@pytest.fixture
def filled(tmp_path: Path) -> str | Path:
    path = cli_database(tmp_path / "data")
    asyncio.run(_fill(path))
    return path


def test_prints_the_text_and_saves_the_chart(cli: Cli, filled: str | Path, tmp_path: Path) -> None:
    chart = tmp_path / "w47.jpg"
    code, out, err = cli("summary", "--area", "CD", "--week", "2026-W47", "--chart", chart)
    assert code == 0, err
    assert out.startswith("📋 Chengdong Subdistrict (CD): weekly river chief summary\nWeek 47: 16 Nov – 22 Nov 2026\n")
    assert "<b>" not in out and "&lt;" not in out
    assert "• 李<四>: Dingbao River, 0 of 1" in out
    assert f"Chart saved: {chart}" in out
    assert chart.read_bytes().startswith(b"\xff\xd8")


def test_the_default_week_and_chart_file(cli: Cli, filled: str | Path, tmp_path: Path) -> None:
    code, out, err = cli("summary", "--area", "CD", DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    week = last_week(datetime.now(ZoneInfo("Asia/Shanghai")).date())
    assert "城东街道（CD）河长制工作周报" in out and week.code in out
    default = tmp_path / f"summary-CD-{week.code}.jpg"
    assert f"图表已保存：{default}" in out and default.read_bytes().startswith(b"\xff\xd8")


def test_unknown_area_and_bad_week_are_one_line_and_exit_2(cli: Cli, filled: str | Path) -> None:
    code, out, err = cli("summary", "--area", "XX", "--week", "2026-W47")
    assert (code, out, err) == (2, "", 'There is no area with the code "XX".\n')
    for week in ("2026-47", "2025-W53", "next"):
        code, out, err = cli("summary", "--area", "CD", "--week", week)
        assert (code, out) == (2, "") and err == f'"{week}" is not a week: write it like 2026-W47.\n'


def test_send_without_a_bound_group_exits_1(cli: Cli, filled: str | Path) -> None:
    code, out, err = cli(
        "summary",
        "--area",
        "CD",
        "--week",
        "2026-W47",
        "--send",
        BOT_TOKEN=TOKEN,
    )
    assert (code, out, err) == (1, "", "Area CD has no bound group.\n")


async def test_send_delivers_once_and_records_it(
    cli: Cli,
    filled: str | Path,
    server: BotApiServer,
    tmp_path: Path,
) -> None:
    token = server.add_bot(username="riverbot_test_bot", first_name="河长制助手")
    sandbox = Sandbox(server, token)
    group = sandbox.group(title="城东街道河长群")
    async with await Store.open(filled) as store:
        area = await store.areas.by_code("CD")
        assert area is not None
        await store.chats.upsert(group.id, type="supergroup", title=group.title, bot_status="member")
        await store.bindings.bind(group.id, area.id, bound_by=None)
    env = {"BOT_TOKEN": token, "TELEGRAM_API_URL": server.url, "DEFAULT_LANGUAGE": "en"}
    args = ("summary", "--area", "CD", "--week", "2026-W47", "--send", "--chart", tmp_path / "c.jpg")
    code, out, err = await asyncio.to_thread(cli, *args, **env)
    assert code == 0, err
    assert out.endswith("Sent to 1 group.\n")
    sent = sandbox.state.sent_in_chat(group.id)
    assert [m.kind for m in sent] == ["text", "photo"]
    # In the group's language (here the default, en), the HTML rendered by the Bot API.
    assert sent[0].text.startswith("📋 Chengdong Subdistrict (CD): weekly river chief summary\nWeek 47: 16 Nov")
    assert "李<四>" in sent[0].text and sent[0].parse_mode == "HTML"
    assert "Week 47: 16 Nov – 22 Nov 2026" in sent[1].text
    async with await Store.open(filled) as store:
        record = await store.summaries.get(AREA, area.id, "2026-W47", group.id)
        assert record is not None and record.status == "sent"
        assert record.message_ids == [m.message_id for m in sent]
    # Again: recorded as delivered, so neither the command nor the weekly job sends it a second time. (--force:
    # the chart from the first run is there, and is replaced only when asked.)
    code, out, err = await asyncio.to_thread(cli, *args, "--force", **env)
    assert code == 0 and out.endswith("Sent to 0 groups.\n"), err
    assert len(sandbox.state.sent_in_chat(group.id)) == 2


# -- /summary through the stand-in --------------------------------------------------------------------------


async def test_summary_in_a_bound_group_for_any_member(bot: Harness) -> None:
    group_id, _ = await bound_group(bot)
    member = bot.sandbox.user(first_name="路人")
    bot.sandbox.state.chats[group_id].members[member.id] = member.record
    await member.send("/summary", chat=group_id)
    text = await member.next_message(chat=group_id)
    week = last_week(datetime.now(bot.settings.tz).date())
    period = week_dates(week, Locales.load(), "zh")
    assert text.text.startswith(f"📋 城东片区（CD）河长制工作周报\n{period}") and "巡河率" in text.text
    photo = await member.next_message(chat=group_id)
    assert photo.kind == "photo" and period in photo.text
    shown = await member.next_message(chat=group_id)  # the area's map
    assert shown.kind == "photo" and period in shown.text and shown.text != photo.text
    await member.expect_silence(chat=group_id)


async def test_summary_in_an_unbound_group_sends_no_summary(bot: Harness) -> None:
    await bound_group(bot)
    member = bot.sandbox.user(first_name="路人")
    group = bot.sandbox.group(title="闲聊群", members=[member])
    await member.send("/summary", chat=group)
    await bot.sandbox.wait_consumed()
    sent = bot.sandbox.state.sent_in_chat(group.id)
    assert sent == [], [m.text for m in sent]  # the guard: silence in a group that is not bound


async def test_an_admin_picks_area_and_week_in_private(bot: Harness) -> None:
    admin = await started_admin(bot)
    await bound_group(bot)
    await bot.store.areas.upsert("QT", "曲塘镇", "Qutang")
    await admin.send("/summary")
    offer = await admin.next_message()
    assert offer.button_texts == ["城东片区（CD）", "曲塘镇（QT）"]
    await admin.press(offer, text="城东片区（CD）")
    await bot.sandbox.wait_consumed()
    weeks = current(bot, offer)
    assert weeks.button_texts == ["本周", "上周", "两周前"]
    await admin.press(weeks, text="两周前")
    await bot.sandbox.wait_consumed()
    two_ago = last_week(datetime.now(bot.settings.tz).date()).previous()
    sent = admin.messages()
    assert f"正在生成 城东片区 {week_dates(two_ago, Locales.load(), 'zh')} 的周报" in sent[-4].text
    assert "-W" not in sent[-4].text  # dates, not an ISO week code
    assert sent[-3].text.startswith(f"📋 城东片区（CD）河长制工作周报\n{week_dates(two_ago, Locales.load(), 'zh')}")
    assert [m.kind for m in sent[-2:]] == ["photo", "photo"]  # the chart, the area's map


async def test_a_chief_sees_only_their_areas_and_a_volunteer_is_refused(bot: Harness) -> None:
    await bound_group(bot)  # 赵六, chief in CD
    await bot.store.areas.upsert("QT", "曲塘镇", "Qutang")
    zhao_id = next(c.telegram_id for c in await bot.store.people.chiefs() if c.name == "赵六")
    assert zhao_id is not None
    user = FakeUser(bot.sandbox, bot.sandbox.state.users[zhao_id])
    await user.send("/summary")
    offer = await user.next_message()
    assert offer.button_texts == ["城东片区（CD）"]
    # A forged button for the other area is refused.
    qt = await bot.store.areas.by_code("QT")
    assert qt is not None
    query = await user.press_raw(user.id, offer.message_id, f"sm:a:{qt.id}")
    answer = await bot.sandbox.answer(query)
    assert answer.get("text") == "您无权查看该片区的周报。", answer

    volunteer = bot.sandbox.user(first_name="河小青")
    person_id = await bot.store.people.create(name="河小青", telegram_id=volunteer.id)
    await bot.store.people.grant_role(person_id, "volunteer")
    await volunteer.send("/summary")
    refused = await volunteer.next_message()
    assert "周报" not in refused.text and refused.kind == "text"
    await volunteer.expect_silence()


async def test_forged_summary_button_from_a_group_member_who_never_opened_the_bot(bot: Harness) -> None:
    """Finding 10 of issue 13: an `sm:` press in a bound group from someone the bot has never met asserted a
    person; 300 of them stored 370 KB of failed updates. It is answered as outdated, and nothing is kept."""
    group_id, area_id = await bound_group(bot)
    lurker = bot.sandbox.user(first_name="路人", started=False)
    bot.sandbox.state.chats[group_id].members[lurker.id] = lurker.record
    for data in (f"sm:a:{area_id}", f"sm:w:{area_id}:0", f"sm:w:{area_id}:2"):
        answer = await bot.sandbox.answer(await lurker.press_raw(group_id, 99999, data))
        assert answer.get("text") == "这个按钮已失效，请重新操作。", answer
    assert bot.errors() == []
    assert await bot.store.failed_updates.open() == []
    assert bot.sandbox.state.sent_in_chat(group_id) == []


async def test_a_chief_cannot_post_their_own_areas_summary_in_another_areas_group(bot: Harness) -> None:
    """Finding 13 of issue 13: a forged `sm:w:<own area>` pressed in another area's group sent the chief's own
    area's summary there. In a group the summary buttons are never drawn, so none of them is taken."""
    group_id, _ = await bound_group(bot)  # CD's group
    qt_id, _ = await bot.store.areas.upsert("QT", "曲塘镇", "Qutang")
    sun = bot.sandbox.user(first_name="孙")
    qt_reach, _ = await bot.store.reaches.upsert(
        ReachValues("QT-01", "曲塘河", "Qutang River", qt_id, "town", None, (), None, None)
    )
    await chief(bot, sun, "孙河长", [qt_reach])  # 曲塘镇's chief, and a member of 城东片区's group
    bot.sandbox.state.chats[group_id].members[sun.id] = sun.record
    await sun.send("/summary")  # in private, his own area is his to read
    assert (await sun.next_message()).button_texts == ["曲塘镇（QT）"]
    for data in (f"sm:w:{qt_id}:0", f"sm:a:{qt_id}"):
        answer = await bot.sandbox.answer(await sun.press_raw(group_id, 99999, data))
        assert answer.get("text") == "这个按钮已失效，请重新操作。", answer
    assert bot.sandbox.state.sent_in_chat(group_id) == []
    assert bot.errors() == []


async def test_summary_in_a_group_waits_out_a_cooldown(bot: Harness) -> None:
    """Finding 13 of issue 13: 40 /summary in a group queued 80 messages. Within the cooldown the group gets no
    other summary; whoever asks is told once, briefly, in the group's language."""
    group_id, _ = await bound_group(bot)
    members = [bot.sandbox.user(first_name=name) for name in ("路人", "过客")]
    for member in members:
        bot.sandbox.state.chats[group_id].members[member.id] = member.record
    first, second = members
    await first.send("/summary", chat=group_id)
    assert (await first.next_message(chat=group_id)).text.startswith("📋 城东片区（CD）河长制工作周报")
    assert (await first.next_message(chat=group_id)).kind == "photo"
    assert (await first.next_message(chat=group_id)).kind == "photo"  # the area's map
    for _ in range(20):
        await first.send("/summary", chat=group_id)
        await second.send("/summary", chat=group_id)
    await bot.sandbox.wait_consumed()
    later = bot.sandbox.state.sent_in_chat(group_id)[3:]
    assert [m.text for m in later] == ["本群的周报刚刚发送过，请 10 分钟后再试。"] * 2
    assert {m.raw["reply_to_message"]["from"]["id"] for m in later} == {first.id, second.id}
    assert bot.errors() == []


# -- the chiefs' private digest -----------------------------------------------------------------------------


async def test_each_started_chief_gets_one_digest_across_runs_and_a_restart(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 00:00")
    await bound_group(bot)
    chiefs = {c.name: c for c in await bot.store.people.chiefs()}
    zhao_id = chiefs["赵六"].telegram_id
    assert zhao_id is not None
    await bot.services.people.met_in_private(zhao_id, name="赵六", username=None, language_code="zh-hans")
    silent = bot.sandbox.user(first_name="钱", started=False)
    await chief(bot, silent, "钱七", [], level="village")  # never started the bot: no digest
    await run_weekly(bot)
    await run_weekly(bot)
    digests = bot.sandbox.state.sent_in_chat(zhao_id)
    assert len(digests) == 1 and "赵六" in digests[0].text and "巡河" in digests[0].text
    assert bot.sandbox.state.sent_in_chat(silent.id) == []

    restarted = await restart(bot)
    try:
        await deliver_week(CallbackContext(restarted), last_week(datetime.now(bot.settings.tz).date()))
        await bot.sandbox.wait_consumed()
    finally:
        await stop_app(restarted)
    assert len(bot.sandbox.state.sent_in_chat(zhao_id)) == 1
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(CHIEF, 0, week.code, chiefs["赵六"].id)
    assert record is not None and record.status == "sent"


# -- longer than one message --------------------------------------------------------------------------------


async def test_a_long_summary_arrives_in_several_messages_in_order(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 00:00")
    group_id, area_id = await bound_group(bot)
    world = World(bot.store)
    long_reach = "丁堡河" + "支流" * 30
    for n in range(150):
        reach = await world.reach(f"R{n:03d}", area_id, "village", f"{long_reach}{n:03d}段")
        person = await world.person(f"第{n:03d}号河长" + "（城东街道办事处水务科派驻村级河长）" * 3)
        await world.assign(person, reach, "2020-01-01")
    await run_weekly(bot)
    sent = bot.sandbox.state.sent_in_chat(group_id)
    assert [m.kind for m in sent][-1] == "photo" and len(sent) >= 3, [len(m.text) for m in sent]
    texts = [m.text for m in sent[:-1]]
    assert all(len(t) <= MESSAGE_LIMIT for t in texts)
    assert texts[0].startswith("📋 城东片区（CD）河长制工作周报")
    whole = "\n".join(texts)
    # 赵六 and 29 of the 150 listed, in order, then how many more
    assert whole.index("赵六") < whole.index("第000号河长") < whole.index("第028号河长") < whole.index("……另有 121 项")
    assert "第029号河长" not in whole
    assert [m.message_id for m in sent] == sorted(m.message_id for m in sent)
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(AREA, area_id, week.code, group_id)
    assert record is not None and record.message_ids == [m.message_id for m in sent]


async def test_a_digest_the_store_fails_to_record_costs_no_other_chief_theirs_and_is_not_sent_twice(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await bot_factory(summary_time="mon 00:00")
    await bound_group(bot)
    reach = await bot.store.reaches.by_code("DBH-01")
    assert reach is not None
    sun = bot.sandbox.user(first_name="孙", language_code="zh-hans")
    sun_id = await chief(bot, sun, "孙八", [reach.id], level="village")
    chiefs = {c.name: c for c in await bot.store.people.chiefs()}
    for name, person in chiefs.items():
        assert person.telegram_id is not None
        await bot.services.people.met_in_private(person.telegram_id, name=name, username=None, language_code="zh-hans")
    store_sent = bot.store.summaries.sent
    failures: list[int] = []

    async def failing(kind: str, area_id: int, week: str, target: int, ids: list[int], *, now: datetime) -> None:
        if kind == CHIEF and target == sun_id and not failures:
            failures.append(target)
            raise sqlite3.OperationalError("database is locked")
        await store_sent(kind, area_id, week, target, ids, now=now)

    monkeypatch.setattr(bot.store.summaries, "sent", failing)
    await run_weekly(bot)
    assert failures == [sun_id]
    assert len(bot.sandbox.state.sent_in_chat(sun.id)) == 1
    zhao_id = chiefs["赵六"].telegram_id
    assert zhao_id is not None and len(bot.sandbox.state.sent_in_chat(zhao_id)) == 1  # not cost by sun's trouble
    week = last_week(datetime.now(bot.settings.tz).date())
    record = await bot.store.summaries.get(CHIEF, 0, week.code, sun_id)
    assert record is not None and record.status == "pending" and len(record.message_ids) == 1
    await run_weekly(bot)  # the next run finds the digest's one message sent: records it, sends nothing again
    assert len(bot.sandbox.state.sent_in_chat(sun.id)) == 1
    record = await bot.store.summaries.get(CHIEF, 0, week.code, sun_id)
    assert record is not None and record.status == "sent"
    assert any("digest for chief" in r.getMessage() for r in bot.errors())
