"""A chief's to-do (/todo and the menu's button): problems waiting for them and patrols due, each with its action
button; the weekly digest and the overdue letter carry the same buttons."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.problems import chase_deadlines
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import World, chief, run_job, run_weekly, seed, tap, volunteer


async def _problems(bot: Harness, reporter_id: int, assignee_id: int, reach_id: int, offsets: list[int]) -> None:
    """Problems assigned to `assignee_id`, due `offsets` days from today (negative: overdue), in that order."""
    world = World(bot.store)
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    world.area_of[reach_id] = area.id
    today = datetime.now(bot.settings.tz).date()
    for offset in offsets:
        await world.problem(
            reporter_id,
            reach_id,
            category="dumping",
            reported=f"{today - timedelta(days=10)} 09:00",
            deadline=(today + timedelta(days=offset)).isoformat(),
            assignee_id=assignee_id,
        )


async def test_todo_lists_overdue_problems_first_then_patrols_due_each_with_its_button(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"], ids["LGH-01"]], level="village")
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    xiao_id = await volunteer(bot, xiao, "李小义")
    await _problems(bot, xiao_id, wang_id, ids["DBH-01"], [2, -3])

    await wang.send("/start")
    greeting = await wang.next_message()
    assert ["📝 上报问题", "📌 我的待办"] in greeting.keyboard
    await wang.next_message()
    await wang.send("/todo")
    todo = await wang.next_message()
    text = todo.text
    assert "王五" in text and "4 项" in text, text
    assert text.index("#2") < text.index("#1"), text  # overdue first
    assert "已逾期 3 天" in text and "剩 2 天" in text
    assert "丁堡河（城东段）" in text and "立公河" in text and "已巡 0/" in text
    assert todo.button_texts[:2] == ["🛠 整改 #2", "🛠 整改 #1"], todo.button_texts
    assert "🚶 巡 立公河" in todo.button_texts and "🚶 巡 丁堡河（城东段）" in todo.button_texts

    # The menu's button says the same; its buttons act.
    await wang.send("📌 我的待办")
    again = await wang.next_message()
    assert again.text == todo.text
    await tap(bot, wang, again, text="🛠 整改 #2")
    assert "问题 #2：请发送整改后的照片" in (await wang.next_message()).text
    await wang.send("/cancel")
    await wang.next_message()
    await wang.send("/todo")
    fresh = await wang.next_message()
    started = await tap(bot, wang, fresh, text="🚶 巡 立公河")
    assert "巡河已开始" in started.text and "立公河" in started.text, started.describe()
    assert bot.errors() == []


async def test_todo_in_english_and_when_nothing_waits(bot: Harness) -> None:
    ids = await seed(bot.store)
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    amy_id = await chief(bot, amy, "Amy Wu", [ids["LGH-01"]], level="village")
    xiao_id = await volunteer(bot, bot.sandbox.user(first_name="x"), "李小义")
    await _problems(bot, xiao_id, amy_id, ids["LGH-01"], [-1])
    await amy.send("📌 My to-do")
    todo = await amy.next_message()
    assert "Amy Wu" in todo.text and "1 day overdue" in todo.text and "Ligong River" in todo.text, todo.text
    assert todo.button_texts[0] == "🛠 Rectify #1"

    lone = bot.sandbox.user(first_name="Lone", language_code="en")
    await chief(bot, lone, "Lone Chief", [], level="village")
    await lone.send("/todo")
    assert "nothing is waiting for you" in (await lone.next_message()).text
    # Not a chief's list to ask for.
    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义二")
    await xiao.send("/todo")
    assert "仅河长" in (await xiao.next_message()).text
    assert bot.errors() == []


async def test_a_long_todo_pages(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    xiao_id = await volunteer(bot, bot.sandbox.user(first_name="x"), "李小义")
    await _problems(bot, xiao_id, wang_id, ids["DBH-01"], [-i for i in range(1, 13)])
    await wang.send("/todo")
    first = await wang.next_message()
    assert "13 项" in first.text and "1/2" in first.button_texts and "▶" in first.button_texts
    assert "#12" in first.text and "#1 " not in first.text  # the most overdue first
    second = await tap(bot, wang, first, text="▶")
    assert "2/2" in second.button_texts and "🚶 巡 丁堡河（城东段）" in second.button_texts
    assert "#1 " in second.text and "#12" not in second.text
    assert bot.errors() == []


async def test_the_weekly_digest_and_the_overdue_letter_carry_the_same_buttons(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    wang_id = await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    amy_id = await chief(bot, amy, "Amy Wu", [ids["LGH-01"]], level="village")
    for person in (wang, amy):
        await person.send("/start")
        await person.next_message()
        await person.next_message()
    xiao_id = await volunteer(bot, bot.sandbox.user(first_name="x"), "李小义")
    await _problems(bot, xiao_id, wang_id, ids["DBH-01"], [-2])
    await _problems(bot, xiao_id, amy_id, ids["LGH-01"], [-1])
    # Rectified, waiting for the office: in the digest's list, but not a button of the chief's.
    await _problems(bot, xiao_id, wang_id, ids["DBH-01"], [-4])
    assert await bot.store.problems.transition(3, expect=("assigned",), status="rectified")

    await run_weekly(bot)
    digest = await wang.next_message()
    while not digest.buttons:
        digest = await wang.next_message()
    assert "#3" in digest.text and digest.button_texts == ["🛠 整改 #1", "🚶 巡 丁堡河（城东段）"], digest.describe()
    english = await amy.next_message()
    while not english.buttons:
        english = await amy.next_message()
    assert english.button_texts == ["🛠 Rectify #2", "🚶 Patrol Ligong River"], english.describe()
    await tap(bot, wang, digest, text="🛠 整改 #1")
    assert "问题 #1：请发送整改后的照片" in (await wang.next_message()).text
    await wang.send("/cancel")
    await wang.next_message()

    await run_job(bot, chase_deadlines)
    letter = await wang.next_message()
    assert "提醒函" in letter.text and letter.button_texts == ["🛠 整改 #1", "查看详情"], letter.describe()
    letter = await amy.next_message()
    assert "Reminder letter" in letter.text and letter.button_texts == ["🛠 Rectify #2", "Details"]
    started = await tap(bot, amy, english, text="🚶 Patrol Ligong River")
    assert "Patrol started" in started.text, started.describe()
    assert bot.errors() == []


async def test_a_todo_button_never_throws_away_a_report_being_written(bot: Harness) -> None:
    """Review finding: one dialog per person, and the rectify and patrol buttons replaced a half-written report
    (its photos too) without a word. Now they say a report is being written, and the report goes on."""
    ids = await seed(bot.store)
    for code, rectify, patrol, says in (
        ("zh-hans", "🛠 整改 #1", "🚶 巡 立公河", "正在填写"),
        ("en", "🛠 Rectify #2", "🚶 Patrol Ligong River", "in the middle of a report"),
    ):
        wang = bot.sandbox.user(first_name="王五", language_code=code)
        wang_id = await chief(bot, wang, f"王五{code}", [ids["LGH-01"]], level="village")
        xiao_id = await volunteer(bot, bot.sandbox.user(first_name="x"), f"李小义{code}")
        await _problems(bot, xiao_id, wang_id, ids["LGH-01"], [2])
        await wang.send("/todo")
        todo = await wang.next_message()
        await wang.send("/report")
        await wang.next_message()
        await wang.send_photo(make_jpeg(1600, 1200, seed=5))
        await wang.next_message()
        for label in (rectify, patrol):
            answer = await bot.sandbox.answer(await wang.press(todo, text=label))
            assert answer.get("show_alert") and says in answer["text"], answer
        state = await bot.services.reports.current(wang.id)
        assert state is not None and len(state.draft.photos) == 1
        assert await bot.store.fetchall("SELECT id FROM patrols") == []
    assert bot.errors() == []
