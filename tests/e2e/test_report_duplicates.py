""""The same problem?": a report joins only the problem it was offered, and is offered only one its reporter may
see (issue 13, finding 1)."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.problems import NewProblem
from storage.registry import ReachValues
from tests.conftest import Harness
from tests.support import LAT, WEST, chief, report, seed, tap, volunteer

# Where the reports below are made (the default of tests.support.report).
SPOT = (LAT + 0.0005, WEST + 0.003)


async def _other_areas_problem(bot: Harness, *, at: tuple[float, float]) -> int:
    """A problem in area CN, reported by its own chief, with a phone number in its description."""
    cn, _ = await bot.store.areas.upsert("CN", "城南片区", "Chengnan")
    reach, _ = await bot.store.reaches.upsert(
        ReachValues("NH-01", "南河", "South River", cn, "village", 1.0, (), None, None)
    )
    reporter = await bot.store.people.create(name="周河长", home_area_id=cn)
    await bot.store.people.grant_role(reporter, "chief", level="village")
    return await bot.store.problems.insert(
        NewProblem(reporter, None, reach, cn, "dumping", "联系电话 13800000000", at[0], at[1], "shared"),
        reported_at=datetime.now(UTC),
    )


async def test_forged_same_problem_button_cannot_join_another_problem(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    target = await _other_areas_problem(bot, at=(32.6, 120.6))  # far from anything below
    xiao = bot.sandbox.user(first_name="小李")
    await volunteer(bot, xiao, "李小义")
    decoy = await report(bot, xiao)
    assert "问题已提交" in decoy.text
    await report(bot, xiao, photo_seed=2)  # the same spot and kind: the decoy is offered
    offer = await xiao.next_message()
    assert "是同一个问题吗" in offer.text and f"#{target}" not in offer.text

    answer = await bot.sandbox.answer(await xiao.press_raw(xiao.id, offer.message_id, f"rp:same:{target}"))
    assert answer.get("text") == "这个按钮已失效，请重新操作。", answer
    assert await bot.store.problems.followers(target) == []
    assert await bot.store.problems.photos(target, "before") == []
    assert [e.action for e in await bot.store.problems.events(target)] == []
    assert [m for m in xiao.messages() if f"#{target}" in m.text] == []

    # The button as drawn still joins the problem offered.
    joined = await tap(bot, xiao, offer, data=offer.buttons[0][0][1])
    assert "已将您的照片补充到问题" in joined.text
    assert bot.errors() == []


async def test_a_problem_the_reporter_may_not_see_is_not_offered_as_the_same(bot: Harness) -> None:
    ids = await seed(bot.store)
    wang = bot.sandbox.user(first_name="王五")
    await chief(bot, wang, "王五", [ids["DBH-01"]], level="village")
    other = await _other_areas_problem(bot, at=SPOT)  # another area's, right where the volunteer stands
    xiao = bot.sandbox.user(first_name="小李")
    await volunteer(bot, xiao, "李小义")
    filed = await report(bot, xiao)
    assert "问题已提交" in filed.text and f"#{other}" not in filed.text
    assert [m for m in xiao.messages() if "是同一个问题吗" in m.text] == []
    assert await bot.store.problems.followers(other) == []
