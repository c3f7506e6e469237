"""Maps through the stand-in: a finished patrol, a new problem and the weekly summary each arrive with a map,
in Chinese and English, and the pictures show what they should where they should (pixels, not only a photo)."""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timedelta

import pytest
from PIL import Image

from bot import delivery as summaries
from bot import maps
from bot.config import Language
from bot.summaries import last_week, running_done, week_dates
from sandbox.state import SentMessage
from sandbox.tiles import TileServer, tile_colour
from storage.problems import NewProblem
from storage.registry import ReachValues
from tests.conftest import BotFactory, Harness
from tests.factories import make_jpeg
from tests.support import (
    LAT,
    STEP,
    WEST,
    World,
    bound_group,
    chief,
    is_problem_map,
    report,
    run_weekly,
    seed,
    start_patrol,
    started_admin,
    tap,
)
from tests.support import volunteer as make_volunteer


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "RETRY_DELAYS", (0,))


def picture(message: SentMessage) -> Image.Image:
    assert message.kind == "photo" and message.photo is not None, message.describe()
    return Image.open(io.BytesIO(message.photo)).convert("RGB")


def close(pixel: tuple[int, int, int], colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    return sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= tolerance


def colour_at(image: Image.Image, xy: tuple[float, float], colour: tuple[int, int, int], radius: int = 2) -> bool:
    """Whether `colour` is drawn within `radius` pixels of `xy` (JPEG blurs edges a little)."""
    x0, y0 = round(xy[0]), round(xy[1])
    return any(
        close(image.getpixel((x, y)), colour)  # type: ignore[arg-type]
        for x in range(x0 - radius, x0 + radius + 1)
        for y in range(y0 - radius, y0 + radius + 1)
        if 0 <= x < image.width and 0 <= y < image.height
    )


def legend_has(image: Image.Image, colour: tuple[int, int, int]) -> bool:
    """The colour appears in the legend band at the bottom of the picture."""
    band = image.crop((0, image.height - 3 * maps.LEGEND_ROW - 24, image.width, image.height))
    return any(
        close(band.getpixel((x, y)), colour)  # type: ignore[arg-type]
        for x in range(0, band.width, 2)
        for y in range(0, band.height, 2)
    )


async def walk_half_the_reach(bot: Harness, user: object, t0: int) -> None:
    """A live location along the western 1.1 km of the 2.8 km reach (40 steps of 28 m), one step a minute."""
    live = await user.send_location(LAT, WEST, live_period=3600, date=t0 + 60)  # type: ignore[attr-defined]
    await user.next_message()  # type: ignore[attr-defined]
    for minute in range(1, 41):
        await user.edit_live_location(live, LAT, WEST + minute * STEP, edit_date=t0 + 60 + minute * 60)  # type: ignore[attr-defined]


async def test_a_finished_patrol_arrives_as_its_map_with_the_card_as_caption(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    await chief(bot, wang, "王五", [ids["DBH-01"]])
    t0 = int(time.time()) - 3 * 3600
    await start_patrol(bot, wang, t0)
    await walk_half_the_reach(bot, wang, t0)
    await wang.send_photo(make_jpeg(1600, 1200, seed=1), date=t0 + 20 * 60)  # when the track was at step 19
    await wang.next_message()
    await wang.send("✅ 结束巡河", date=t0 + 42 * 60)
    card = await wang.next_message()
    # The card is the map's caption, with the share of the reach walked: 1.1 km of 2.8 km, within 50 m.
    assert "巡河记录：丁堡河（城东段）" in card.text and "河段覆盖：约 4" in card.text
    image = picture(card)
    person = await bot.store.people.by_telegram_id(wang.id)
    assert person is not None
    patrols = await bot.store.patrols.recent_for_person(person.id)
    summary = await bot.services.patrols.summary(patrols[0])
    assert summary.coverage is not None and 0.38 < summary.coverage < 0.45
    scene = await bot.services.maps.patrol_scene(summary, "zh")
    assert scene is not None
    view = maps.viewport(scene)
    assert image.size == (view.width, view.height)
    # Where the track went along the reach: the track's colour; further east, where nobody walked: water.
    for lon in (WEST + 5 * STEP, WEST + 15 * STEP, WEST + 25 * STEP, WEST + 33 * STEP):
        assert colour_at(image, view.project((LAT, lon)), maps.TRACK), lon
    for lon in (120.420, 120.425):
        assert colour_at(image, view.project((LAT, lon)), maps.WATER), lon
        assert not colour_at(image, view.project((LAT, lon)), maps.TRACK, radius=6), lon
    # The photo where the track was when it was sent; the start (green) and the end (dark) where the walk began
    # and ended; the coverage in the header.
    assert colour_at(image, view.project((LAT, WEST + 19 * STEP)), maps.PHOTO, radius=1)
    assert not colour_at(image, view.project((LAT, WEST + 30 * STEP)), maps.PHOTO, radius=4)
    assert colour_at(image, view.project((LAT, WEST)), maps.START)
    assert colour_at(image, view.project((LAT, WEST + 40 * STEP)), maps.END)
    header = image.crop((image.width - 300, 20, image.width - 20, 110))
    assert any(close(header.getpixel((x, y)), maps.TRACK) for x in range(header.width) for y in range(header.height))  # type: ignore[arg-type]
    assert legend_has(image, maps.TRACK) and legend_has(image, maps.WATER)
    assert "辛苦了" in (await wang.next_message()).text
    assert bot.errors() == []


async def test_a_patrol_finished_by_its_button_gets_the_map_under_the_card_in_english(bot: Harness) -> None:
    ids = await seed(bot.store)
    mary = bot.sandbox.user(first_name="Mary", language_code="en")
    await chief(bot, mary, "Mary Li", [ids["DBH-01"]])
    t0 = int(time.time()) - 3600
    await mary.send("/patrol", date=t0)
    choice = await mary.next_message()
    await mary.next_message()
    started = await tap(bot, mary, choice, text="🏞 Dingbao River (east)")
    await mary.next_message()
    await walk_half_the_reach(bot, mary, t0)
    card = await tap(bot, mary, started, text="✅ Finish patrol")
    assert "Reach covered: about 4" in card.text
    shown = await mary.next_message()
    assert "Patrol track on Dingbao River (east): about 4" in shown.text
    image = picture(shown)
    person = await bot.store.people.by_telegram_id(mary.id)
    assert person is not None
    summary = await bot.services.patrols.summary((await bot.store.patrols.recent_for_person(person.id))[0])
    scene = await bot.services.maps.patrol_scene(summary, "en")
    assert scene is not None and scene.badge.endswith("covered")
    view = maps.viewport(scene)
    assert colour_at(image, view.project((LAT, WEST + 20 * STEP)), maps.TRACK)
    assert colour_at(image, view.project((LAT, 120.425)), maps.WATER)


async def test_a_new_problem_arrives_with_its_pin_on_the_reach_and_the_open_ones_nearby(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    await wang.send("/start")
    await wang.next_message()
    await wang.next_message()
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    # An older open problem 300 m along the river: a smaller pin on the new one's map.
    older = NewProblem(wang_id, None, ids["DBH-01"], area.id, "garbage", None, LAT, WEST + 0.0065, "shared")
    await bot.store.problems.insert(older, reported_at=datetime.now(bot.settings.tz) - timedelta(days=2))
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await make_volunteer(bot, xiao, "李小义")

    filed = await report(bot, xiao)
    assert "问题已提交，编号 #2" in filed.text
    mine = bot.sandbox.state.sent_in_chat(xiao.id)[-1]  # the reporter's confirmation comes with the map
    assert "问题 #2 的位置：丁堡河（城东段）" in mine.text

    first = await wang.next_message()  # the chief's first notice starts with the map
    assert "问题 #2 的位置" in first.text
    problem = await bot.store.problems.by_id(2)
    assert problem is not None
    for message in (first, mine):
        image = picture(message)
        view = maps.viewport(await bot.services.maps.problem_scene(problem, "zh"))
        assert colour_at(image, view.project((problem.lat, problem.lon)), maps.PROBLEM, radius=1)
        assert colour_at(image, view.project((LAT, WEST + 0.0065)), maps.OTHER_PROBLEM, radius=1)
        assert colour_at(image, view.project((LAT, WEST + 0.005)), maps.WATER)  # the reach's line
        assert not colour_at(image, view.project((LAT + 0.002, WEST + 0.005)), maps.WATER, radius=4)
        assert legend_has(image, maps.PROBLEM) and legend_has(image, maps.OTHER_PROBLEM)
    # Then as before: the photo, the venue and the card.
    assert (await wang.next_message()).photo is not None
    assert (await wang.next_message()).location is not None
    assert "新问题交办" in (await wang.next_message()).text

    # A later step does not send the map again.
    card = bot.sandbox.state.sent_in_chat(wang.id)[-1]
    await tap(bot, wang, card, text="✅ 整改完成")
    ask = await wang.next_message()
    assert "请发送整改后的照片" in ask.text
    assert sum("问题 #2 的位置" in m.text for m in bot.sandbox.state.sent_in_chat(wang.id)) == 1
    assert bot.errors() == []


async def test_a_new_problem_with_no_chief_reaches_the_office_with_its_map_in_english(bot: Harness) -> None:
    ids = await seed(bot.store)
    del ids
    admin = await started_admin(bot, "en")
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await make_volunteer(bot, amy, "Amy Wu")
    filed = await report(bot, amy, zh=False, category="illegal dumping")
    assert "#1" in filed.text
    mine = bot.sandbox.state.sent_in_chat(amy.id)[-1]
    assert "Where problem #1 is: Dingbao River (east)" in mine.text
    first = None
    for _ in range(4):
        message = await admin.next_message()
        if "Where problem #1 is" in message.text:
            first = message
            break
    assert first is not None
    problem = await bot.store.problems.by_id(1)
    assert problem is not None
    image = picture(first)
    view = maps.viewport(await bot.services.maps.problem_scene(problem, "en"))
    assert colour_at(image, view.project((problem.lat, problem.lon)), maps.PROBLEM, radius=1)
    assert legend_has(image, maps.PROBLEM)


async def weekly_world(bot: Harness) -> tuple[int, int, dict[str, tuple[float, float]]]:
    """The bound group's area with a second mapped reach: 丁堡河 patrolled last week, 江海河 not; an open problem
    and an overdue one on the map. Returns (group, area id, the problems' places by kind)."""
    group_id, area_id = await bound_group(bot)
    north = LAT + 0.006
    line = {"type": "LineString", "coordinates": [[WEST, north], [120.43, north]]}
    jhh, _ = await bot.store.reaches.upsert(
        ReachValues(
            "JHH-01", "江海河（城东段）", "Jianghai River (east)", area_id, "village", 2.8, (), json.dumps(line),
            (north, WEST, north, 120.43),
        )
    )  # fmt: skip
    zhao_id = (await bot.store.people.chiefs())[0].id
    today = datetime.now(bot.settings.tz).date()
    await bot.store.assignments.assign(zhao_id, jhh, level="village", starts_on=today - timedelta(days=30))
    # A reach patrolled monthly: in most weeks no month ends, and it is running, not "nothing required".
    south = LAT - 0.006
    line = {"type": "LineString", "coordinates": [[WEST, south], [120.43, south]]}
    mth, _ = await bot.store.reaches.upsert(
        ReachValues(
            "MTH-01", "马塘河", "Matang River", area_id, "village", 2.8, (), json.dumps(line),
            (south, WEST, south, 120.43),
        )
    )  # fmt: skip
    await bot.store.assignments.assign(
        zhao_id, mth, level="village", starts_on=today - timedelta(days=90), patrol_count=1, patrol_period="month"
    )
    world = World(bot.store)
    dbh = next(r.id for r in await bot.store.reaches.in_area(area_id) if r.code == "DBH-01")
    week = last_week(today)
    await world.patrol(zhao_id, dbh, f"{week.first.isoformat()} 09:00")
    places = {"open": (LAT + 0.003, WEST + 0.010), "overdue": (LAT + 0.003, WEST + 0.020)}
    for kind, (lat, lon) in places.items():
        problem_id = await bot.store.problems.insert(
            NewProblem(zhao_id, None, dbh, area_id, "garbage", None, lat, lon, "shared"),
            reported_at=datetime.now(bot.settings.tz) - timedelta(days=20),
        )
        deadline = today - timedelta(days=3) if kind == "overdue" else today + timedelta(days=5)
        assert await bot.store.problems.transition(
            problem_id, expect=("reported",), status="assigned", assignee_id=zhao_id, deadline=deadline
        )
    return group_id, area_id, places


@pytest.mark.parametrize(("language", "caption"), [("zh", "各河段巡河情况"), ("en", "patrols on each reach")])
async def test_the_weekly_summary_carries_the_area_map(bot_factory: object, language: str, caption: str) -> None:
    bot = await bot_factory(summary_time="mon 00:00")  # type: ignore[operator]
    group_id, area_id, places = await weekly_world(bot)
    if language == "en":
        await bot.store.chats.set_language(group_id, "en")
    await run_weekly(bot)
    sent = bot.sandbox.state.sent_in_chat(group_id)
    assert [m.kind for m in sent][-2:] == ["photo", "photo"], [m.describe() for m in sent]
    chart, shown = sent[-2], sent[-1]
    assert caption in shown.text and chart.text != shown.text
    image = picture(shown)
    area = await bot.store.areas.by_id(area_id)
    assert area is not None
    today = datetime.now(bot.settings.tz).date()
    week = last_week(today)
    lang: Language = "en" if language == "en" else "zh"
    summary = await bot.services.summaries.area_summary(area, week, today)
    scene = await bot.services.maps.area_scene(
        area_id,
        area=area.name(lang),
        period=week_dates(week, bot.services.locales, lang),
        rates={r.reach_id: (r.rate.done, r.rate.required) for r in summary.patrols.reaches},
        running=running_done(summary),
        lang=lang,
        today=datetime.now(bot.settings.tz).date(),
    )
    assert scene is not None
    view = maps.viewport(scene)
    assert image.size == (view.width, view.height)
    # 丁堡河 was patrolled (green), 江海河 was due and was not (orange).
    assert colour_at(image, view.project((LAT, WEST + 0.005)), maps.MET)
    assert colour_at(image, view.project((LAT + 0.006, WEST + 0.005)), maps.SHORT)
    # 马塘河's month: running (light blue) unless it ended inside the week (then it is short like 江海河).
    month_ended = week.first.month != (week.last + timedelta(days=1)).month
    monthly = maps.SHORT if month_ended else maps.RUNNING
    assert colour_at(image, view.project((LAT - 0.006, WEST + 0.005)), monthly)
    assert not colour_at(image, view.project((LAT - 0.006, WEST + 0.005)), maps.NOT_REQUIRED)
    # The open problem's pin, and the overdue one's in its own colour.
    assert colour_at(image, view.project(places["open"]), maps.OPEN_PIN, radius=1)
    assert colour_at(image, view.project(places["overdue"]), maps.OVERDUE_PIN, radius=1)
    assert not colour_at(image, view.project(places["overdue"]), maps.OPEN_PIN, radius=1)
    for colour in (maps.MET, maps.SHORT, maps.OPEN_PIN, maps.OVERDUE_PIN):
        assert legend_has(image, colour), colour
    assert legend_has(image, maps.RUNNING) != month_ended
    # Nothing on this map is free of requirements: no "nothing required" in the legend.
    assert ("无巡河要求" if lang == "zh" else "Not required") not in {item.label for item in scene.legend}
    # Delivered once: the job again sends nothing more.
    count = len(sent)
    await run_weekly(bot)
    assert len(bot.sandbox.state.sent_in_chat(group_id)) == count



async def test_with_map_tiles_set_the_patrol_map_lies_on_them_and_a_second_map_costs_no_fetch(
    bot_factory: BotFactory,
) -> None:
    """MAP_TILES_URL puts the tile server's pictures under the drawn layers; the disk cache serves them again."""
    with TileServer() as tiles:
        bot = await bot_factory(map_tiles_url=tiles.url + "/ok/{z}/{x}/{y}.png")
        ids = await seed(bot.store)
        wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
        await chief(bot, wang, "王五", [ids["DBH-01"]])
        pictures: list[Image.Image] = []
        fetched: list[int] = []
        for hours in (5, 3):
            t0 = int(time.time()) - hours * 3600
            await start_patrol(bot, wang, t0)
            await walk_half_the_reach(bot, wang, t0)
            await wang.send("✅ 结束巡河", date=t0 + 42 * 60)
            pictures.append(picture(await wang.next_message()))
            await wang.next_message()  # thanks
            fetched.append(tiles.requests)
        person = await bot.store.people.by_telegram_id(wang.id)
        assert person is not None
        summary = await bot.services.patrols.summary((await bot.store.patrols.recent_for_person(person.id))[0])
        scene = await bot.services.maps.patrol_scene(summary, "zh")
        assert scene is not None
        view = maps.viewport(scene)
        # North of the river, away from every drawn layer: the colour of the tile that covers that spot.
        x, y = view.project((LAT + 0.004, WEST + 20 * STEP))
        world_x, world_y = view.left + x / view.scale, view.top + y / view.scale
        expected = tile_colour(view.zoom, int(world_x // 256), int(world_y // 256))
        for image in pictures:
            seen = image.getpixel((round(x), round(y)))
            assert close(seen, expected, tolerance=30), (seen, expected)  # type: ignore[arg-type]
            assert colour_at(image, view.project((LAT, WEST + 15 * STEP)), maps.TRACK)
        # The first map fetched its tiles; the second, over the same ground, was drawn from the disk cache.
        assert fetched[0] > 0 and fetched[1] == fetched[0]
        assert bot.errors() == []


def maps_of(bot: Harness, chat_id: int, number: int) -> int:
    sent = bot.sandbox.state.sent_in_chat(chat_id)
    return sum(m.kind == "photo" and f"#{number} " in m.text and "🗺" in m.text for m in sent)


async def test_an_admin_reporting_an_unassigned_problem_gets_its_map_once(bot: Harness) -> None:
    """The office is told of a problem nobody has with its map; the admin who reported it is that office."""
    await seed(bot.store)
    admin = await started_admin(bot, "en")
    filed = await report(bot, admin, zh=False, category="illegal dumping")
    assert "#1" in filed.text
    await bot.sandbox.wait_consumed()
    assert maps_of(bot, admin.id, 1) == 1, [m.describe() for m in bot.sandbox.state.sent_in_chat(admin.id)]
    assert bot.errors() == []


async def test_a_problem_assigned_later_by_the_office_reaches_the_assignee_with_its_map(bot: Harness) -> None:
    ids = await seed(bot.store)
    admin = await started_admin(bot, "en")
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await make_volunteer(bot, amy, "Amy Wu")
    await report(bot, amy, zh=False, category="illegal dumping")  # on a reach with no chief: the office has it
    await bot.sandbox.wait_consumed()
    card = next(m for m in reversed(bot.sandbox.state.sent_in_chat(admin.id)) if "New problem" in m.text)
    zhou = bot.sandbox.user(first_name="Zhou", language_code="en")
    zhou_id = await chief(bot, zhou, "Zhou", [ids["LGH-01"]])
    await zhou.send("/start")
    await zhou.next_message()
    await zhou.next_message()
    choose = await tap(bot, admin, card, text="👤 Assign / reassign")
    await tap(bot, admin, choose, data=f"pb:asp:1:{zhou_id}")
    first = await zhou.next_message()  # the first notice starts with the map, as a new problem's does
    assert is_problem_map(first) and "Where problem #1 is" in first.text
    problem = await bot.store.problems.by_id(1)
    assert problem is not None
    view = maps.viewport(await bot.services.maps.problem_scene(problem, "en"))
    assert colour_at(picture(first), view.project((problem.lat, problem.lon)), maps.PROBLEM, radius=1)
    assert (await zhou.next_message()).photo is not None
    assert (await zhou.next_message()).location is not None
    assert "is now yours to rectify" in (await zhou.next_message()).text
    assert maps_of(bot, zhou.id, 1) == 1
    assert bot.errors() == []
