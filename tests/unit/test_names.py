"""Display names as they come in from Telegram, /register and the registry (finding 15 of issue 13)."""

from __future__ import annotations

import pytest

from bot.joining import clean_name
from bot.names import MARK, clean_display_name, is_reserved, telegram_name


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\u202e王五\u202c", "王五"),  # right-to-left override, pop
        ("王\u200b五", "王五"),  # zero-width space
        ("\u2066张三\u2069", "张三"),  # isolates
        ("\ufeff李四\u200d", "李四"),  # BOM, zero-width joiner
        ("Amy\u200fWu", "AmyWu"),  # right-to-left mark
        ("  Amy \t Wu\n", "Amy Wu"),
        ("赵\x00六\x1b", "赵 六"),  # control characters count as spaces
        ("河小义王", "河小义王"),
    ],
)
def test_names_lose_bidi_and_zero_width_characters(raw: str, clean: str) -> None:
    assert clean_display_name(raw) == clean
    assert clean_name(raw) == clean


@pytest.mark.parametrize(
    "name",
    [
        *("系统", "系 统", "系\u200b统", "【系统】", "系统通知", "系統"),
        *("河长办", "河長辦", "城东河长办", "System", "ＳＹＳＴＥＭ", "admin"),
    ],
)
def test_reserved_words_are_recognised_in_disguise(name: str) -> None:
    assert is_reserved(name)


@pytest.mark.parametrize("name", ["张三", "王系", "统一", "河长", "Systema Li", "Amy Wu", "河小义王"])
def test_ordinary_names_are_not_reserved(name: str) -> None:
    assert not is_reserved(name)


def test_telegram_names_imitating_reserved_words_are_marked() -> None:
    assert telegram_name("系统", trusted=False) == MARK + "系统"
    assert telegram_name("\u202e河长办", trusted=False) == MARK + "河长办"
    assert telegram_name(MARK + "系统", trusted=False) == MARK + MARK + "系统"
    assert telegram_name("河长办 管理员", trusted=True) == "河长办 管理员"  # ADMIN_IDS: the office itself
    assert telegram_name("张三", trusted=False) == "张三"
    assert telegram_name("\u200b\u200b", trusted=False) == ""
