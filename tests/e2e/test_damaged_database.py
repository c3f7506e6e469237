"""A database damaged on disk is found when the bot starts, not halfway through someone's work (finding 12 of
issue 13): `run` and `migrate` check it first and stop with one line pointing at `riverbot restore`.

About the SQLite file only: a PostgreSQL server checks its own pages, and what riverbot does when the server
fails it is tested in tests/e2e/test_cli.py."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from sandbox import BotApiServer
from storage import Store
from tests.conftest import Cli
from tests.e2e.test_cli import _run
from tests.support import World

pytestmark = pytest.mark.sqlite_only("damage to the SQLite file's pages, and SQLite's quick check finding it")


def _people_database(path: Path) -> None:
    async def fill() -> None:
        async with await Store.open(path) as store:
            world = World(store)
            for n in range(400):
                await world.person(f"河长{n:03d}号（城东街道某某村）")

    asyncio.run(fill())


def _damage_a_people_page(path: Path) -> None:
    """Overwrite one leaf page of the `people` table with junk, as a failing disk or a stray write would."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'people' AND pagetype = 'leaf'")]
    assert len(pages) > 2, pages
    with path.open("r+b") as f:
        f.seek((pages[1] - 1) * page_size)
        f.write(b"\x0d\xff\xff\xff" + b"junk" * (page_size // 4 - 1))


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "riverbot.sqlite3"
    _people_database(path)
    _damage_a_people_page(path)
    return path


def test_a_damaged_people_page_is_found_by_migrate(cli: Cli, damaged: Path) -> None:
    before = damaged.read_bytes()
    code, out, err = cli("migrate")
    assert code == 2 and out == "" and "Traceback" not in err and err.strip().count("\n") == 0, err
    assert "damaged" in err and "riverbot restore" in err and str(damaged) in err
    assert damaged.read_bytes() == before


async def test_a_damaged_people_page_stops_run_at_start(tmp_path: Path, damaged: Path, server: BotApiServer) -> None:
    token = server.add_bot(username="riverbot_damaged_bot")
    code, _, err = await _run(tmp_path, "run", BOT_TOKEN=token, TELEGRAM_API_URL=server.url, DEFAULT_LANGUAGE="en")
    assert code == 2 and "Traceback" not in err, err
    assert "damaged" in err and "riverbot restore" in err
