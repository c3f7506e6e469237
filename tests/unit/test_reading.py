"""The blocking reader that exports, dossiers and backups use from a worker thread: the same rows, the same
moments and the same recovery from an error on both engines."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.config import Settings
from storage import Store
from storage.reading import BlockingReader, database_target, open_reader, schema_version_of


async def _note(store: Store, key: str, value: str) -> None:
    await store.execute("INSERT INTO meta (key, value, updated_at) VALUES (?, ?, '2026-12-02T00:00:00Z')", (key, value))


def _notes(reader: BlockingReader) -> list[str]:
    return [str(r["key"]) for r in reader.fetchall("SELECT key FROM meta WHERE key LIKE 'note-%' ORDER BY key")]


async def test_rows_read_by_name_and_by_position_with_either_placeholder(store: Store, settings: Settings) -> None:
    await _note(store, "note-a", "1")
    await _note(store, "note-b", "2")
    for target in (store, settings.database):
        with open_reader(target) as reader:
            assert reader.dialect == store.dialect
            row = reader.fetchone("SELECT key, value FROM meta WHERE key = ?", ("note-b",))
            assert row is not None and (row["key"], row["value"]) == ("note-b", "2") == (row[0], row[1])
            named = reader.fetchone("SELECT key, value FROM meta WHERE key = :key", {"key": "note-a"})
            assert named is not None and tuple(named) == ("note-a", "1")
            assert reader.fetchone("SELECT key FROM meta WHERE key = ?", ("none",)) is None
            assert reader.fetchval("SELECT count(*) FROM meta WHERE key LIKE ?", ("note-%",)) == 2
            assert schema_version_of(reader) == store.schema_version
    assert database_target(store) == database_target(settings.database)


async def test_rows_stream_past_one_batch(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.reading.STREAM_BATCH", 3)
    for n in range(8):
        await _note(store, f"note-{n}", str(n))
    with open_reader(store) as reader:
        streamed = [
            (r["key"], r[1]) for r in reader.rows("SELECT key, value FROM meta WHERE key LIKE 'note-%' ORDER BY key")
        ]
        assert streamed == [(f"note-{n}", str(n)) for n in range(8)]
        # Exactly a whole number of batches, and none at all.
        assert len(list(reader.rows("SELECT key FROM meta WHERE key LIKE 'note-%' AND key < 'note-6'"))) == 6
        assert list(reader.rows("SELECT key FROM meta WHERE key = 'none'")) == []


async def test_each_statement_reads_its_moment_and_a_snapshot_one_moment(store: Store) -> None:
    """Outside a snapshot every read sees what was committed before it; inside, none sees what was committed
    after the snapshot's first read (what the dossier relies on: its parts agree)."""
    await _note(store, "note-1", "x")
    reader = await asyncio.to_thread(open_reader, store)
    try:
        assert await asyncio.to_thread(_notes, reader) == ["note-1"]
        await _note(store, "note-2", "x")
        assert await asyncio.to_thread(_notes, reader) == ["note-1", "note-2"]

        started = threading.Event()
        written = threading.Event()
        seen: list[list[str]] = []

        def in_one_snapshot() -> None:
            with reader.snapshot():
                seen.append(_notes(reader))
                started.set()
                assert written.wait(30)
                seen.append(_notes(reader))
            seen.append(_notes(reader))

        thread = asyncio.create_task(asyncio.to_thread(in_one_snapshot))
        assert await asyncio.to_thread(started.wait, 30)
        await _note(store, "note-3", "x")
        written.set()
        await thread
        assert seen == [["note-1", "note-2"], ["note-1", "note-2"], ["note-1", "note-2", "note-3"]]
    finally:
        await asyncio.to_thread(reader.close)


async def test_a_failed_statement_does_not_stop_the_next(store: Store) -> None:
    await _note(store, "note-1", "x")
    with open_reader(store) as reader:
        with pytest.raises(Exception, match="no_such_table"):
            reader.fetchall("SELECT * FROM no_such_table")
        assert _notes(reader) == ["note-1"]
        with pytest.raises(Exception, match="no_such_table"), reader.snapshot():
            reader.fetchall("SELECT * FROM no_such_table")
        assert _notes(reader) == ["note-1"]


async def test_a_reader_leaves_no_thread_behind(store: Store) -> None:
    before = threading.active_count()
    for _ in range(3):
        with open_reader(store) as reader:
            reader.fetchval("SELECT 1")
    assert threading.active_count() == before


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - sqlite3's "unable to open database file"
        open_reader(tmp_path / "none.sqlite3")
    assert not (tmp_path / "none.sqlite3").exists()
