"""`riverbot migrate-data` as an office moving its county to PostgreSQL runs it: demo data in the SQLite file, moved
into a new, empty PostgreSQL database, checked, and refused whenever the move could not be trusted.

The moves need a PostgreSQL server (RIVERBOT_TEST_POSTGRES): they run in the PostgreSQL run of the suite, each into
an empty database of its own made through the server's URL. The refusals before the target is touched run always.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot import transfer
from storage.migrate import bundled_migrations
from tests.conftest import POSTGRES_SERVER, BotFactory, Cli
from tests.postgres import create_database, drop_database

LATEST = bundled_migrations()[-1].version
NOWHERE = "postgresql://nobody@/never?host=/nonexistent"


@pytest.fixture
def county(cli: Cli, tmp_path: Path) -> Path:
    """`riverbot demo-data` at small scale, in the default SQLite file of DATA_DIR."""
    path = tmp_path / "data" / "riverbot.sqlite3"
    code, _, err = cli("demo-data", "--scale", "small", "--years", "1", "--seed", "4", DATABASE_URL=f"sqlite:///{path}")
    assert code == 0, err
    return path


@pytest.fixture
def target() -> Iterator[str]:
    """A new, empty PostgreSQL database (as `createdb` leaves it), dropped afterwards."""
    if not POSTGRES_SERVER:
        pytest.skip("needs a PostgreSQL server: RIVERBOT_TEST_POSTGRES")
    url = asyncio.run(create_database())
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
def stats_unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stats left out of the check, for the tests about a committed move: the comparison has a test of its
    own, which waits for the problem tallies' SQL to run on PostgreSQL."""

    async def nothing(*args: Any, **kwargs: Any) -> list[transfer.StatsCheck]:
        return []

    monkeypatch.setattr(transfer, "_compare_stats", nothing)


def sqlite_counts(path: Path, tables: list[str]) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def postgres_counts(url: str, tables: list[str]) -> dict[str, int]:
    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
        finally:
            await conn.close()

    return asyncio.run(read())


MAIN = ["areas", "reaches", "people", "assignments", "patrols", "patrol_points", "problems", "problem_events"]


def count_line(out: str, table: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [table])


def test_a_county_moves_with_counts_and_stats_equal_and_only_once(cli: Cli, county: Path, target: str) -> None:
    code, out, err = cli("migrate-data", "--from", f"sqlite:///{county}", "--to", target)
    assert code == 0, err
    assert count_line(out, "patrols")[1:] == [f"{sqlite_counts(county, ['patrols'])['patrols']:,}"] * 2 + ["equal"]
    assert "Stats for" in out and "DIFFERENT" not in out
    # The whole year, then each of the two calendar years it touches: three periods, each on both engines.
    assert sum(line.split()[:1] == ["PostgreSQL"] for line in out.splitlines()) == 3
    assert "counts and stats equal" in out and "Point DATABASE_URL at it" in out
    assert postgres_counts(target, MAIN) == sqlite_counts(county, MAIN)

    code, out, err = cli("migrate-data", "--from", str(county), "--to", target)
    assert code == 1 and out == ""
    assert "The PostgreSQL database is not empty" in err and "Nothing was written" in err


def test_a_move_shows_each_table_and_a_second_run_into_the_filled_target_is_refused(
    cli: Cli, county: Path, target: str, stats_unchecked: None
) -> None:
    code, out, err = cli("migrate-data", "--from", f"sqlite:///{county}", "--to", target)
    assert code == 0, err
    expected = sqlite_counts(county, MAIN)
    for table in MAIN:
        assert count_line(out, table)[1:] == [f"{expected[table]:,}", f"{expected[table]:,}", "equal"]
    assert count_line(out, "reach_boxes")[1:2] == ["(rebuilt)"]
    assert "schema_version" not in out
    assert f"Moved {county} (schema version {LATEST}) into PostgreSQL" in out
    # Progress per table on stderr: not a terminal, so one line for each long table.
    assert f"patrols: {expected['patrols']} rows copied in" in err
    assert f"patrol_points: {expected['patrol_points']} rows copied in" in err
    assert postgres_counts(target, MAIN) == expected

    code, out, err = cli("migrate-data", "--from", str(county), "--to", target, DEFAULT_LANGUAGE="zh")
    assert code == 1 and out == ""
    assert "PostgreSQL 数据库不是空的" in err and "未写入任何数据" in err
    assert postgres_counts(target, MAIN) == expected


def test_the_documented_way_database_url_first_then_migrate_data(
    cli: Cli, county: Path, target: str, stats_unchecked: None
) -> None:
    """DATABASE_URL already names the new database: the configured SQLite file moves there without arguments."""
    code, out, err = cli("migrate-data", DATABASE_URL=target)
    assert code == 0, err
    assert f"Moved {county}" in out
    assert postgres_counts(target, ["patrols"]) == sqlite_counts(county, ["patrols"])


def test_a_value_postgresql_cannot_hold_is_named_and_nothing_is_moved(cli: Cli, county: Path, target: str) -> None:
    with sqlite3.connect(county) as conn:
        problem = conn.execute("SELECT max(id) FROM problems").fetchone()[0]
        conn.execute("UPDATE problems SET lat = 'north' WHERE id = ?", (problem,))
    code, out, err = cli("migrate-data", "--from", str(county), "--to", target)
    assert code == 1 and out == ""
    assert f'Table problems, row id={problem}, column lat: the value "north" does not fit' in err
    assert "PostgreSQL's type double precision" in err
    assert "Nothing was moved" in err
    # The tables copied before problems (the registry, the people, the patrols) went back with it.
    assert set(postgres_counts(target, MAIN).values()) == {0}


async def test_refused_while_the_bot_runs_on_the_database(bot_factory: BotFactory, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "data" / "riverbot.sqlite3"
    await bot_factory(data_dir=tmp_path / "data", database_url=f"sqlite:///{path}")
    code, out, err = await asyncio.to_thread(
        cli, "migrate-data", "--from", str(path), "--to", NOWHERE, DEFAULT_LANGUAGE="zh"
    )
    assert code == 1 and out == ""
    assert f"机器人正在使用 {tmp_path / 'data'}（进程号 {os.getpid()}）" in err
    assert "请先停止机器人" in err


def test_refused_for_a_database_of_another_version_and_for_two_ends_that_are_one(
    cli: Cli, county: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(county) as conn:
        conn.execute("DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)")
    code, out, err = cli("migrate-data", "--from", str(county), "--to", NOWHERE)
    assert code == 1 and out == ""
    assert f"is at schema version {LATEST - 1}, older than this riverbot's ({LATEST})" in err
    assert "riverbot migrate" in err

    code, _, err = cli("migrate-data", "--from", str(county), "--to", f"sqlite:///{county}")
    assert code == 1 and "the same database" in err
    code, _, err = cli("migrate-data", "--from", str(tmp_path / "none.sqlite3"), "--to", NOWHERE)
    assert code == 1 and "There is no database at" in err
    code, _, err = cli("migrate-data", "--from", str(county), DATABASE_URL=f"sqlite:///{county}")
    assert code == 1 and "Where to?" in err
