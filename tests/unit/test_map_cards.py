"""How a card travels with its map: as the caption when it fits, after a short caption when it is too long."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from handlers.patrol import CAPTION_LIMIT, send_card


class RecordingBot:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, dict[str, Any]]] = []

    async def send_photo(self, chat_id: int, photo: bytes, *, caption: str | None = None, **options: Any) -> None:
        self.calls.append(("photo", caption, options))

    async def send_message(self, chat_id: int, text: str, **options: Any) -> None:
        self.calls.append(("text", text, options))


async def test_a_card_that_fits_is_the_maps_caption() -> None:
    bot = RecordingBot()
    await send_card(SimpleNamespace(bot=bot), 1, "card", b"jpeg", "short", reply_markup="menu")  # type: ignore[arg-type]
    assert bot.calls == [("photo", "card", {"reply_markup": "menu"})]


async def test_a_card_too_long_for_a_caption_follows_the_map() -> None:
    bot = RecordingBot()
    card = "x" * (CAPTION_LIMIT + 1)
    await send_card(SimpleNamespace(bot=bot), 1, card, b"jpeg", "short", reply_markup="menu")  # type: ignore[arg-type]
    assert bot.calls == [("photo", "short", {}), ("text", card, {"reply_markup": "menu"})]


async def test_without_a_map_the_card_goes_as_text() -> None:
    bot = RecordingBot()
    await send_card(SimpleNamespace(bot=bot), 1, "card", None, "short")  # type: ignore[arg-type]
    assert bot.calls == [("text", "card", {})]
