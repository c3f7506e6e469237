"""A patrol's locations sent by hand (no live location) do not make it count, and the card says why; photos
whose capture time cannot be trusted are marked so on the card."""

from __future__ import annotations

import time

from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import LAT, STEP, WEST, chief, seed, start_patrol

# 20 steps of 28.1 m along the reach: about 560 m.
FAR = WEST + 20 * STEP


async def test_two_static_map_points_11_minutes_and_560_m_apart_are_no_valid_patrol(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    person_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, wang, t0)
    await wang.send_location(LAT, WEST, date=t0 + 10)
    await wang.next_message()
    await wang.send_location(LAT, FAR, date=t0 + 11 * 60)
    await wang.next_message()
    await wang.send("✅ 结束巡河", date=t0 + 11 * 60 + 20)
    card = await wang.next_message()
    assert "2 个位置点" in card.text
    assert "本次巡河不计入巡河率" in card.text and "有效巡河，计入巡河率" not in card.text
    assert "位置为手动发送" in card.text and "须共享实时位置" in card.text  # the rule, stated
    patrols = await bot.store.patrols.recent_for_person(person_id)
    assert len(patrols) == 1 and not patrols[0].valid
    assert [r["code"] for r in patrols[0].reasons] == ["manual_locations"]
    assert bot.errors() == []


async def test_manual_locations_count_where_the_county_allows_them(bot_factory: BotFactory) -> None:
    bot = await bot_factory(patrol_allow_manual_locations=True)
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    person_id = await chief(bot, wang, "王五", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, wang, t0)
    await wang.send_location(LAT, WEST, date=t0 + 10)
    await wang.next_message()
    await wang.send_location(LAT, FAR, date=t0 + 11 * 60)
    await wang.next_message()
    await wang.send("✅ 结束巡河", date=t0 + 11 * 60 + 20)
    card = await wang.next_message()
    assert "有效巡河，计入巡河率" in card.text and "位置为手动发送" in card.text
    patrols = await bot.store.patrols.recent_for_person(person_id)
    assert len(patrols) == 1 and patrols[0].valid


async def test_a_compressed_photo_is_marked_as_having_no_trustworthy_capture_time(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await start_patrol(bot, wang, t0)
    live = await wang.send_location(LAT, WEST, live_period=3600, date=t0 + 60)
    await wang.next_message()
    for minute in range(1, 21):
        await wang.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 60 + minute * 60)
    await wang.send_photo(make_jpeg(1600, 1200, seed=3), date=t0 + 5 * 60)
    await wang.next_message()
    await wang.send("✅ 结束巡河", date=t0 + 22 * 60)
    card = await wang.next_message()
    assert "有效巡河，计入巡河率" in card.text
    assert "有 1 张照片没有可信的拍摄时间" in card.text
    assert bot.errors() == []
