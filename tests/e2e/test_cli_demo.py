"""`riverbot demo-data` as the office runs it, in process, at small scale."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.config import load_settings
from storage import Store
from tests.conftest import Cli


def test_small_scale_fills_a_fresh_store_and_says_what_it_made(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("demo-data", "--scale", "small", "--seed", "5", "--years", "2")
    assert code == 0, err
    assert out.startswith("Demo data created (") and out.count("\n") == 1
    assert "5 areas" in out and " s." in out
    assert "Generating demo data: patrols and problems (by month)" in err
    with sqlite3.connect(tmp_path / "data" / "riverbot.sqlite3") as conn:
        patrols = conn.execute("SELECT count(*) FROM patrols").fetchone()[0]
        problems = conn.execute("SELECT count(*) FROM problems").fetchone()[0]
        first = conn.execute("SELECT min(started_at) FROM patrols").fetchone()[0]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        volunteers, by_volunteers, reported = conn.execute(
            "WITH volunteer AS (SELECT person_id FROM person_roles WHERE role = 'volunteer')"
            " SELECT (SELECT count(*) FROM volunteer),"
            " (SELECT count(*) FROM patrols WHERE person_id IN volunteer),"
            " (SELECT count(*) FROM problems WHERE reporter_id IN volunteer)"
        ).fetchone()
    assert f"{patrols} patrols" in out and f"{problems} problems" in out
    assert patrols > 500 and problems > 20
    assert f"{volunteers} volunteers" in out and f"{by_volunteers} by volunteers" in out
    assert f"({reported} reported by volunteers)" in out and volunteers >= 20 and by_volunteers > 100

    # The stats command reads it.
    code, out, err = cli("stats", "--from", first[:10], "--to", "2099-01-01", "--format", "json")
    assert code == 0, err


def test_refuses_a_store_that_has_history_in_chinese(cli: Cli, tmp_path: Path) -> None:
    assert cli("demo-data", "--scale", "small")[0] == 0
    with sqlite3.connect(tmp_path / "data" / "riverbot.sqlite3") as conn:
        before = conn.execute("SELECT count(*) FROM patrols").fetchone()[0]
    code, out, err = cli("demo-data", "--scale", "small", DEFAULT_LANGUAGE="zh")
    assert code == 2
    assert out == ""
    assert "已有巡河记录或问题" in err and "DATA_DIR" in err
    code, _, err = cli("demo-data", "--scale", "city", DEFAULT_LANGUAGE="zh")
    assert code == 2 and "全新的数据库" in err
    with sqlite3.connect(tmp_path / "data" / "riverbot.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM patrols").fetchone()[0] == before


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
