"""Citizens: the volunteer's "report a problem" button, a stranger's photo kept and one tap to join, and the QR
codes of the public signs (公示牌) that start a report on their reach."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support import seed, volunteer


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
