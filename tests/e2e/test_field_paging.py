"""Lists longer than a page in the field flows: ◀ ▶ show the page pressed on the same message (a chief's own
reaches in /patrol, an area's reaches in a report draft), and the choice carries on from there."""

from __future__ import annotations

from sandbox.state import SentMessage
from storage import Store
from storage.registry import ReachValues
from tests.conftest import Harness
from tests.factories import make_jpeg
from tests.support import LAT, WEST, chief, seed, tap, volunteer

MINE_PAGE = 10  # /patrol shows 10 of one's own reaches a page
AREA_PAGE = 50  # a report's area list shows 50 reaches a page


async def more_reaches(store: Store, count: int) -> list[int]:
    """`count` town reaches 支河01.. (codes R01..) in area CD, beside the two of `seed`; their ids in code order."""
    area = await store.areas.by_code("CD")
    assert area is not None
    ids = []
    for number in range(1, count + 1):
        reach_id, _ = await store.reaches.upsert(
            ReachValues(
                f"R{number:02}", f"支河{number:02}", f"Branch {number:02}", area.id, "town", None, (), None, None
            )
        )
        ids.append(reach_id)
    return ids


def labels(message: SentMessage) -> list[str]:
    return [text for row in message.buttons for text, _ in row]


async def test_a_chief_turns_the_page_of_their_own_reaches_in_patrol(bot: Harness) -> None:
    ids = await seed(bot.store)
    extra = await more_reaches(bot.store, MINE_PAGE)  # with DBH-01 and LGH-01: 12, two pages
    zhou = bot.sandbox.user(first_name="周", language_code="zh-hans")
    await chief(bot, zhou, "周八", [ids["DBH-01"], ids["LGH-01"], *extra])
    await zhou.send("/patrol")
    offer = await zhou.next_message()
    await zhou.next_message()  # "or send your location" with the location keyboard
    assert "🏞 丁堡河（城东段）" in labels(offer) and "1/2" in labels(offer)
    shown_first = [label for label in labels(offer) if label.startswith("🏞")]
    assert len(shown_first) == MINE_PAGE

    sent = len(zhou.messages())
    second = await tap(bot, zhou, offer, "▶")
    assert len(zhou.messages()) == sent  # the pressed message turns; the offer is not sent again
    shown = [label for label in labels(second) if label.startswith("🏞")]
    assert len(shown) == 12 - MINE_PAGE and not set(shown) & set(shown_first)
    assert "2/2" in labels(second) and "◀" in labels(second)
    assert second.text == offer.text

    back = await tap(bot, zhou, second, "◀")
    assert [label for label in labels(back) if label.startswith("🏞")] == shown_first

    # A reach from the second page starts the patrol.
    second = await tap(bot, zhou, back, "▶")
    started = await tap(bot, zhou, second, shown[0])
    assert "巡河已开始" in started.text
    assert bot.errors() == []


async def test_a_report_turns_the_page_of_an_area_with_many_reaches(bot: Harness) -> None:
    await seed(bot.store)
    await more_reaches(bot.store, AREA_PAGE + 3)  # with the two of seed: 55, two pages
    qian = bot.sandbox.user(first_name="钱", language_code="zh-hans")
    await volunteer(bot, qian, "钱七")
    await qian.send("/report")
    await qian.next_message()
    await qian.send_photo(make_jpeg(1600, 1200, seed=3))
    added = await qian.next_message()
    await tap(bot, qian, added, text="➡️ 照片已发完，下一步")
    await qian.next_message()  # share your location (keyboard)
    await qian.send_location(LAT + 0.0005, WEST + 0.003)
    await qian.next_message()  # location received
    nearest = await qian.next_message()
    areas = await tap(bot, qian, nearest, "按片区选择河段")
    first = await tap(bot, qian, areas, "城东片区")
    assert "1/2" in labels(first) and "支河01" in labels(first) and "支河50" not in labels(first)

    sent = len(qian.messages())
    second = await tap(bot, qian, first, "▶")
    assert len(qian.messages()) == sent
    assert "2/2" in labels(second) and "◀" in labels(second)
    assert labels(second)[:4] == ["支河50", "支河51", "支河52", "支河53"]
    assert "支河01" not in labels(second)
    assert second.text == first.text

    back = await tap(bot, qian, second, "◀")
    assert "支河01" in labels(back) and "1/2" in labels(back)

    # The draft is still at its reach step: a reach from the second page leads on to the category.
    second = await tap(bot, qian, back, "▶")
    category = await tap(bot, qian, second, "支河52")
    assert category.text.startswith("支河52：请选择问题类别")
    assert bot.errors() == []
