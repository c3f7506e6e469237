"""What a chat was answered for its albums (one answer per album): marks in the store, per chat, that expire and
are pruned, so they stay bounded however many albums a chat sends (issue 13, finding 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.albums import ALBUM_SECONDS, Albums
from storage import Store


async def test_an_album_is_answered_once_per_chat_and_kind(store: Store) -> None:
    albums = Albums(store)
    assert await albums.first(1, "patrol_albums", "A")
    assert not await albums.first(1, "patrol_albums", "A")
    assert await albums.first(2, "patrol_albums", "A")  # another chat
    assert await albums.first(1, "report_albums_full", "A")  # another answer


async def test_what_was_noted_for_an_album_is_read_back(store: Store) -> None:
    albums = Albums(store)
    assert await albums.answer(1, "report_albums", "A") is None
    await albums.note(1, "report_albums", "A", "42")
    assert await albums.answer(1, "report_albums", "A") == "42"
    await albums.note(1, "report_albums", "A", "43")  # its next photo answered anew
    assert await albums.answer(1, "report_albums", "A") == "43"


async def test_albums_are_forgotten_once_expired(store: Store) -> None:
    albums = Albums(store)
    for number in range(50):
        await albums.note(1, "patrol_albums", str(number))
    assert await store.fetchval("SELECT COUNT(*) FROM marks") == 50
    later = datetime.now(UTC) + timedelta(seconds=ALBUM_SECONDS + 1)
    assert await store.marks.prune(later) == 50
    assert await store.fetchval("SELECT COUNT(*) FROM marks") == 0
    assert await albums.first(1, "patrol_albums", "0")
