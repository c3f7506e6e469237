"""What a chat remembers of its albums (one answer per album) stays bounded (issue 13, finding 16)."""

from __future__ import annotations

from typing import Any

from handlers.media import ALBUMS_KEPT, album_answer, note_album


def test_a_chat_remembers_only_its_latest_albums() -> None:
    chat_data: dict[str, Any] = {}
    for number in range(ALBUMS_KEPT + 30):
        note_album(chat_data, "patrol_albums", str(number), number)
    albums = chat_data["patrol_albums"]
    assert len(albums) == ALBUMS_KEPT
    assert album_answer(chat_data, "patrol_albums", "0") is None  # the oldest are forgotten
    assert album_answer(chat_data, "patrol_albums", str(ALBUMS_KEPT + 29)) == ALBUMS_KEPT + 29


def test_an_album_noted_again_is_the_newest() -> None:
    chat_data: dict[str, Any] = {}
    for number in range(ALBUMS_KEPT):
        note_album(chat_data, "report_albums", str(number))
    note_album(chat_data, "report_albums", "0")  # its next photo: still going on
    note_album(chat_data, "report_albums", "new")
    assert album_answer(chat_data, "report_albums", "0") is True
    assert album_answer(chat_data, "report_albums", "1") is None


def test_the_unbounded_set_of_an_older_version_is_replaced() -> None:
    chat_data: dict[str, Any] = {"patrol_albums": {str(n) for n in range(500)}}
    assert album_answer(chat_data, "patrol_albums", "1") is None
    note_album(chat_data, "patrol_albums", "1")
    assert chat_data["patrol_albums"] == {"1": True}
    note_album(None, "patrol_albums", "1")  # a chat without chat_data: nothing to remember
