"""The weekly summary reads right (issue 15): reaches whose chiefs patrol monthly, by xun or quarterly show this
period's progress instead of nothing required; the summary names the week it reports as last week.

The clock is pinned to Monday 2026-11-23 09:00 in Shanghai, when the summary of week 47 (16-22 Nov) is due: the
month and the xun then have 8 days left (23-30 Nov), the quarter 39 (to 31 Dec)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import delivery
from bot.config import PatrolRule
from handlers import summaries as summary_handlers
from tests.conftest import BotFactory, Harness
from tests.support import World, chief, current, run_weekly, seed, started_admin

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "_now", lambda: MONDAY)
    monkeypatch.setattr(summary_handlers, "_now", lambda: MONDAY)
    monkeypatch.setattr(delivery, "RETRY_DELAYS", (0,))


async def _town(bot: Harness) -> dict[str, int]:
    """李堡镇 with a monthly, a xun and a quarterly reach, each with its chief, and a zh and an en group bound."""
    world = World(bot.store)
    lb = await world.area("LB", "李堡镇", "Libao Town")
    month = await world.reach("LB-01", lb, "town", "李堡河", "Libao River")
    xun = await world.reach("LB-02", lb, "town", "新河", "Xin River")
    quarter = await world.reach("LB-03", lb, "town", "西河", "Xi River")
    zhang = await world.person("张三", level="town")
    li = await world.person("李四", level="town")
    wang = await world.person("王五", level="town")
    await world.assign(zhang, month, "2026-01-01", level="town", rule=PatrolRule(1, "month"))
    await world.assign(li, xun, "2026-01-01", level="town", rule=PatrolRule(1, "xun"))
    await world.assign(wang, quarter, "2026-01-01", level="town", rule=PatrolRule(1, "quarter"))
    await world.patrol(wang, quarter, "2026-11-10 09:00")  # this quarter's one patrol, done
    await world.patrol(zhang, month, "2026-11-23 08:00")  # after the reported week: not in its progress
    groups = {}
    for language in ("zh", "en"):
        chat_id = bot.sandbox.group(title=f"李堡镇河长群 {language}").id
        await bot.store.chats.upsert(chat_id, type="supergroup", title="李堡镇河长群", bot_status="member")
        await bot.store.chats.set_language(chat_id, language)
        await bot.store.bindings.bind(chat_id, lb, bound_by=None)
        groups[language] = chat_id
    return groups


async def test_monthly_xun_and_quarterly_reaches_show_their_progress(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 09:00")
    groups = await _town(bot)
    await run_weekly(bot)
    zh = bot.sandbox.state.sent_in_chat(groups["zh"])[0].text
    assert "• 李堡河：本月 0/1，剩 8 天" in zh
    assert "• 新河：本旬 0/1，剩 8 天" in zh
    assert "• 西河：本季度 1/1，已完成 ✅" in zh
    assert "无巡河要求" not in zh and "本周" not in zh
    assert "未达标河长（1 人）" in zh and "• 李四：新河，实巡 0 / 应巡 1" in zh  # the xun of 11-20 Nov ended
    assert "不计入巡河率" in zh  # the footnote tells the progress from the rate
    en = bot.sandbox.state.sent_in_chat(groups["en"])[0].text
    assert "• Libao River: this month 0/1, 8 days left" in en
    assert "• Xin River: this xun 0/1, 8 days left" in en
    assert "• Xi River: this quarter 1/1, done ✅" in en
    assert "Not required" not in en and "this week" not in en.lower()
    assert "not in the rate" in en


async def test_binding_a_group_says_when_the_first_summary_comes_and_sends_no_empty_one(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(summary_time="mon 09:00")
    admin = await started_admin(bot)
    await World(bot.store).area("LB", "李堡镇", "Libao Town")
    group = bot.sandbox.group(title="李堡镇河长群", members=[admin])
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    await admin.press(offer, text="李堡镇（LB）")
    await bot.sandbox.wait_consumed()
    told = current(bot, offer).text
    assert told.startswith("本群已绑定到片区：李堡镇（LB）")
    # Week 47's summary was due at 09:00 today, before the group was bound: the first is week 48's, next Monday.
    assert "首份周报将于 11月30日（周一）09:00 后发送，统计 2026年11月23日至11月29日（第 48 周）。" in told
    await run_weekly(bot)
    assert [m.message_id for m in bot.sandbox.state.sent_in_chat(group.id)] == [offer.message_id]


async def test_binding_before_the_summary_time_promises_today_in_english(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 10:00", default_language="en")
    admin = await started_admin(bot, language_code="en")
    await World(bot.store).area("LB", "李堡镇", "Libao Town")
    group = bot.sandbox.group(title="Libao chiefs", members=[admin])
    await admin.send("/bind", chat=group)
    offer = await admin.next_message(chat=group)
    await admin.press(offer, text="Libao Town (LB)")
    await bot.sandbox.wait_consumed()
    assert (
        "The first weekly summary will be posted shortly after Mon 23 Nov, 10:00 and will cover Week 47: 16 Nov – 22"
        " Nov 2026." in current(bot, offer).text
    )


async def test_a_county_chief_gets_the_towns_ranked_with_the_rule(bot_factory: BotFactory) -> None:
    bot = await bot_factory(summary_time="mon 09:00")
    world = World(bot.store)
    towns = (("LB", "李堡镇", "Libao", 4), ("QT", "曲塘镇", "Qutang", 5), ("XC", "新城镇", "Xincheng", 4))
    for code, zh, en, done in towns:
        area = await world.area(code, zh, en)
        reach = await world.reach(f"{code}-01", area, "town")
        person = await world.person(f"{zh}河长", level="town")
        await world.assign(person, reach, "2026-01-01", level="town", rule=PatrolRule(5, "week"))
        for day in range(done):
            await world.patrol(person, reach, f"2026-11-{16 + day} 09:00")
    await world.problem(person, reach, reported="2026-11-02 09:00", deadline="2026-11-10")  # 新城镇: one overdue
    small = await world.area("CD", "城东街道", "Chengdong")
    village = await world.person("城东河长")
    small_reach = await world.reach("CD-01", small)
    await world.assign(village, small_reach, "2026-01-01")
    county = bot.sandbox.user(first_name="县", language_code="zh-hans")
    person_id = await bot.store.people.create(name="周县长", telegram_id=county.id)
    await bot.store.people.grant_role(person_id, "chief", level="county")
    await bot.services.people.met_in_private(county.id, name="周县长", username=None, language_code="zh-hans")
    town = bot.sandbox.user(first_name="镇", language_code="zh-hans")
    town_id = await bot.store.people.create(name="吴镇长", telegram_id=town.id)
    await bot.store.people.grant_role(town_id, "chief", level="town")
    await world.assign(town_id, small_reach, "2026-01-01", level="town")
    await bot.services.people.met_in_private(town.id, name="吴镇长", username=None, language_code="zh-hans")
    await run_weekly(bot)
    town_digest = "\n".join(m.text for m in bot.sandbox.state.sent_in_chat(town.id))
    assert "吴镇长" in town_digest and "红黑榜" not in town_digest  # a town chief answers for reaches, not towns
    digest = "\n".join(m.text for m in bot.sandbox.state.sent_in_chat(county.id))
    assert "上周各片区巡河排名（红黑榜）" in digest
    assert "1. 曲塘镇：100.0%（5/5），逾期 0 个，未销号 0 个 🔴 红榜" in digest
    assert "2. 李堡镇：80.0%（4/5），逾期 0 个，未销号 0 个\n" in digest
    assert "3. 新城镇：80.0%（4/5），逾期 1 个，未销号 1 个 ⚫ 黑榜" in digest
    assert "应巡不足 5 次、不参与排名：城东街道" in digest
    assert "排名规则：按巡河率由高到低" in digest


async def test_a_chief_is_greeted_by_their_registered_name(bot: Harness) -> None:
    ids = await seed(bot.store)
    zhao = bot.sandbox.user(first_name="Sunny", last_name="Z", language_code="zh-hans")
    await chief(bot, zhao, "赵六", [ids["DBH-01"]])
    await zhao.send("/start")
    greeting = await zhao.next_message()
    assert greeting.text.startswith("您好，赵六！") and "Sunny" not in greeting.text
