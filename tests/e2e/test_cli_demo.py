"""`riverbot demo-data` as the office runs it, in process, at small scale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import load_settings
from storage import Store
from storage.reading import BlockingReader, open_reader
from tests.cli import cli_database
from tests.conftest import Cli


def _database(tmp_path: Path) -> BlockingReader:
    """The database the command wrote, as it sees it: the SQLite file in DATA_DIR, or DATABASE_URL's."""
    return open_reader(cli_database(tmp_path / "data"))


def test_small_scale_fills_a_fresh_store_and_says_what_it_made(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("demo-data", "--scale", "small", "--seed", "5", "--years", "2")
    assert code == 0, err
    assert out.startswith("Demo data created (") and out.count("\n") == 1
    assert "5 areas" in out and " s." in out
    assert "Generating demo data: patrols and problems (by month)" in err
    with _database(tmp_path) as reader:
        patrols = reader.fetchval("SELECT count(*) FROM patrols")
        problems = reader.fetchval("SELECT count(*) FROM problems")
        first = reader.fetchval("SELECT min(started_at) FROM patrols")
        if reader.dialect == "sqlite":  # PostgreSQL checked every row when the load added its foreign keys back
            assert reader.fetchall("PRAGMA foreign_key_check") == []
        row = reader.fetchone(
            "WITH volunteer AS (SELECT person_id FROM person_roles WHERE role = 'volunteer')"
            " SELECT (SELECT count(*) FROM volunteer),"
            " (SELECT count(*) FROM patrols WHERE person_id IN (SELECT person_id FROM volunteer)),"
            " (SELECT count(*) FROM problems WHERE reporter_id IN (SELECT person_id FROM volunteer))"
        )
        assert row is not None
        volunteers, by_volunteers, reported = row
    assert f"{patrols} patrols" in out and f"{problems} problems" in out
    assert patrols > 500 and problems > 20
    assert f"{volunteers} volunteers" in out and f"{by_volunteers} by volunteers" in out
    assert f"({reported} reported by volunteers)" in out and volunteers >= 20 and by_volunteers > 100

    # The stats command reads it.
    code, out, err = cli("stats", "--from", first[:10], "--to", "2099-01-01", "--format", "json")
    assert code == 0, err


def test_refuses_a_store_that_has_history_in_chinese(cli: Cli, tmp_path: Path) -> None:
    assert cli("demo-data", "--scale", "small")[0] == 0
    with _database(tmp_path) as reader:
        before = reader.fetchval("SELECT count(*) FROM patrols")
        # What to change to get a fresh database: DATA_DIR for the SQLite file, DATABASE_URL for PostgreSQL's.
        setting = "DATABASE_URL" if reader.dialect == "postgresql" else "DATA_DIR"
    code, out, err = cli("demo-data", "--scale", "small", DEFAULT_LANGUAGE="zh")
    assert code == 2
    assert out == ""
    assert "已有巡河记录或问题" in err and setting in err
    code, _, err = cli("demo-data", "--scale", "city", DEFAULT_LANGUAGE="zh")
    assert code == 2 and "全新的数据库" in err
    with _database(tmp_path) as reader:
        assert reader.fetchval("SELECT count(*) FROM patrols") == before


def test_bad_years_and_scale(cli: Cli) -> None:
    code, _, err = cli("demo-data", "--scale", "small", "--years", "0")
    assert code == 2 and "1 to 10" in err
    with pytest.raises(SystemExit) as exited:
        cli("demo-data", "--scale", "huge")
    assert exited.value.code == 2


def test_city_and_province_scale_start_from_an_empty_store_and_say_what_to_change(cli: Cli, tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data")  # DATABASE_URL on a PostgreSQL run

    async def seed() -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with await Store.open(settings.database) as store:
            stamp = "2026-01-01T00:00:00Z"
            await store.insert(
                "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                ("A1", "片区", "Area", stamp, stamp),
            )

    asyncio.run(seed())
    for scale in ("city", "province"):
        code, out, err = cli("demo-data", "--scale", scale)
        assert code == 2 and out == ""
        assert "already holds areas or reaches" in err
        if settings.on_postgres:
            assert "DATABASE_URL" in err and "DATA_DIR" not in err and str(settings.database_url) in err
        else:
            assert "DATA_DIR" in err and str(settings.database_path) in err
    code, _, err = cli("demo-data", "--scale", "province", DEFAULT_LANGUAGE="zh")
    assert code == 2 and "市级和省级规模" in err
