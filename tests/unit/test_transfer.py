"""A county's SQLite database moved to PostgreSQL (`bot.transfer`, `storage.transfer`): every row, checked by the
counts and the stats, or refused with nothing written.

The moves need a PostgreSQL server (RIVERBOT_TEST_POSTGRES; they run in the PostgreSQL run of the suite and
wherever a server is named); each gets an empty database of its own, made through the server's URL. The refusals
that come before the target is touched, and the pieces (load order, value checks), run everywhere.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot import transfer
from bot.config import Settings, load_settings
from bot.demo import generate
from bot.i18n import Locales
from bot.running import DataDirLock
from bot.tallies import TallyService
from bot.transfer import Moved, TransferError, migrate_data, stats_periods
from storage import Store
from storage.migrate import bundled_migrations
from storage.transfer import Source, TargetColumn, TargetTable, _converter, _Unfit, load_order, same_postgres_database
from tests.conftest import POSTGRES_SERVER
from tests.postgres import create_database, drop_database, needs_postgres

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)
# A target no refusal may reach: a refusal that needs no target must come before it is touched.
NOWHERE = "postgresql://nobody@/never?host=/nonexistent"
LOCALES = Locales.load()



@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # SQLite whatever the run: the county being moved is a file (a PostgreSQL run names a DATABASE_URL).
    return load_settings(env_file=None, data_dir=tmp_path / "data", database_url=None)


@pytest.fixture
async def county(settings: Settings) -> Path:
    """A small county's year of history, in the configured SQLite file."""
    async with await Store.open(settings.database_path) as store:
        await generate(store, settings, scale="small", seed=3, years=1, now=NOW)
    return settings.database_path


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
    """The stats left out of the check, for tests about what happens after a commit: the stats comparison has a
    test of its own."""

    async def nothing(*args: Any, **kwargs: Any) -> list[transfer.StatsCheck]:
        return []

    monkeypatch.setattr(transfer, "_compare_stats", nothing)


async def move(settings: Settings, source: str | Path | None, to: str | None) -> Moved:
    return await migrate_data(settings, LOCALES, source=source, target=to, today=TODAY)


async def refused(settings: Settings, source: str | Path | None, to: str | None = NOWHERE) -> TransferError:
    with pytest.raises(TransferError) as caught:
        await move(settings, source, to)
    return caught.value


async def rows_in(url: str) -> dict[str, int]:
    """Every table's rows in the target, schema_version aside."""
    conn = await asyncpg.connect(url)
    try:
        names = [
            r[0]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name <> 'schema_version'"
            )
        ]
        return {name: int(await conn.fetchval(f'SELECT count(*) FROM "{name}"')) for name in names}
    finally:
        await conn.close()


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def spoil(path: Path, *statements: str) -> None:
    """Change the county's file behind the Store's back, as a hand edit in the sqlite3 shell may."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


# --- the move ---------------------------------------------------------------------------------------------------


@needs_postgres
async def test_every_table_arrives_with_its_count(settings: Settings, county: Path, target: str) -> None:
    moved = await move(settings, county, target)
    counts = {c.table: c for c in moved.counts}
    assert all(c.same for c in moved.counts), [c for c in moved.counts if not c.same]
    assert {"areas", "reaches", "people", "patrols", "patrol_points", "problems", "problem_events"} <= set(counts)
    assert counts["patrols"].source == sqlite_rows(county, "SELECT count(*) FROM patrols")[0][0] > 500
    assert counts["problem_events"].target > 100
    # The reaches' boxes are PostgreSQL's own, rebuilt by its triggers as the reaches went in, and counted.
    assert counts["reach_boxes"].derived and counts["reach_boxes"].target > 0
    assert "schema_version" not in counts
    assert moved.rows == sum(c.source for c in moved.counts if not c.derived)


@needs_postgres
async def test_the_stats_agree_on_both_engines_and_the_move_is_committed(
    settings: Settings, county: Path, target: str
) -> None:
    moved = await move(settings, county, target)
    assert [s.error for s in moved.stats] == [None] * len(moved.stats)
    # A year of history that spans two calendar years: the whole, then each year.
    assert [(s.first, s.last) for s in moved.stats] == [
        (date(2025, 11, 1), TODAY),
        (date(2025, 11, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), TODAY),
    ]
    assert all(s.same for s in moved.stats)
    assert moved.committed
    async with await Store.open(target) as store:
        after = await TallyService(store, settings).stats(date(2025, 11, 1), TODAY)
    assert after.patrols.overall == moved.stats[0].source.patrols.overall
    assert after.problems.overall == moved.stats[0].source.problems.overall


@needs_postgres
async def test_the_copy_is_exact_and_new_rows_are_numbered_after_the_moved_ones(
    settings: Settings, county: Path, target: str, stats_unchecked: None
) -> None:
    moved = await move(settings, county, target)
    assert moved.committed
    conn = await asyncpg.connect(target)
    try:
        for table in ("areas", "reaches", "people", "patrols", "patrol_points", "problems", "problem_events"):
            before = sqlite_rows(county, f"SELECT * FROM {table} ORDER BY id")
            after = [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")]
            assert after == before, table
    finally:
        await conn.close()
    largest = sqlite_rows(county, "SELECT max(id) FROM problem_events")[0][0]
    async with await Store.open(target) as store:
        new = await store.insert(
            "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            ("NEW", "新片区", "New area", "2026-11-20T04:00:00Z", "2026-11-20T04:00:00Z"),
        )
        assert new == sqlite_rows(county, "SELECT max(id) FROM areas")[0][0] + 1
        problem = sqlite_rows(county, "SELECT max(id) FROM problems")[0][0]
        event = await store.insert(
            "INSERT INTO problem_events (problem_id, at, actor_id, action, from_status, to_status, note, data)"
            " VALUES (?, '2026-11-20T04:00:00Z', NULL, 'note', NULL, NULL, 'moved', '{}')",
            (problem,),
        )
        assert event == largest + 1


@needs_postgres
async def test_a_second_move_into_the_filled_target_is_refused(
    settings: Settings, county: Path, target: str, stats_unchecked: None
) -> None:
    assert (await move(settings, county, target)).committed
    before = await rows_in(target)
    error = await refused(settings, county, target)
    assert error.key == "migrate_data.target_not_empty"
    assert error.params["rows"] == before[str(error.params["table"])] > 0
    assert await rows_in(target) == before


@needs_postgres
async def test_a_value_postgresql_cannot_hold_moves_nothing(settings: Settings, county: Path, target: str) -> None:
    # Patrols load after the registry and the people: by then a dozen tables are copied, and all must go back.
    patrol = sqlite_rows(county, "SELECT max(id) FROM patrols")[0][0]
    spoil(county, f"UPDATE patrols SET point_count = 'many' WHERE id = {patrol}")
    error = await refused(settings, county, target)
    assert error.key == "migrate_data.bad_value"
    assert error.params == {
        "table": "patrols",
        "row": f"id={patrol}",
        "column": "point_count",
        "value": '"many"',
        "type": "integer",
    }
    text = LOCALES.plain("en", error.key, **error.params)
    assert f'Table patrols, row id={patrol}, column point_count: the value "many"' in text
    assert "Nothing was moved" in text
    counts = await rows_in(target)
    assert counts and set(counts.values()) == {0}


@needs_postgres
async def test_text_that_is_not_utf8_is_named_too(settings: Settings, county: Path, target: str) -> None:
    spoil(county, "UPDATE people SET name = CAST(X'E6B2B3FF' AS TEXT) WHERE id = 3")
    error = await refused(settings, county, target)
    assert (error.key, error.params["table"], error.params["row"], error.params["column"]) == (
        "migrate_data.bad_value",
        "people",
        "id=3",
        "name",
    )
    assert set((await rows_in(target)).values()) == {0}


@needs_postgres
async def test_a_row_against_a_foreign_key_moves_nothing(settings: Settings, county: Path, target: str) -> None:
    # The sqlite3 shell leaves foreign keys off: a hand edit can leave a row that points at nothing.
    spoil(
        county,
        "INSERT INTO patrol_points (patrol_id, at, lat, lon, accuracy_m, source)"
        " VALUES (999999, '2026-01-01T00:00:00Z', 23.1, 113.3, NULL, 'live')",
    )
    error = await refused(settings, county, target)
    assert error.key == "migrate_data.refused_rows"
    assert error.params["table"] == "patrol_points"
    assert str(error.params["reason"]).endswith("(Key (patrol_id)=(999999) is not present in table \"patrols\".)")
    assert "\n" not in str(error.params["reason"])
    assert set((await rows_in(target)).values()) == {0}


@needs_postgres
async def test_a_row_against_a_check_is_named_and_moves_nothing(settings: Settings, county: Path, target: str) -> None:
    spoil(county, "UPDATE reaches SET level = 'province' WHERE id = 5")
    error = await refused(settings, county, target)
    assert (error.key, error.params["table"], error.params["row"]) == ("migrate_data.refused_row", "reaches", "id=5")
    assert "check constraint" in str(error.params["reason"])
    assert set((await rows_in(target)).values()) == {0}


@needs_postgres
async def test_the_target_defaults_to_database_url(settings: Settings, county: Path, target: str) -> None:
    on_postgres = settings.model_copy(update={"database_url": target})
    moved = await move(on_postgres, None, None)
    assert moved.source == county  # tmp_path is absolute and resolved already
    assert all(c.same for c in moved.counts)


# --- refused before the target is touched ---------------------------------------------------------------------


async def test_a_missing_source_is_refused(settings: Settings, tmp_path: Path) -> None:
    error = await refused(settings, tmp_path / "nothing.sqlite3")
    assert (error.key, error.params["path"]) == ("migrate_data.source_missing", str(tmp_path / "nothing.sqlite3"))


async def test_the_source_must_be_sqlite_and_the_target_postgresql(settings: Settings, county: Path) -> None:
    assert (await refused(settings, NOWHERE, "postgresql://someone@/other")).key == "migrate_data.source_not_sqlite"
    assert (await refused(settings, county, f"sqlite:///{county.parent}/copy.sqlite3")).key == (
        "migrate_data.target_not_postgres"
    )
    assert (await refused(settings, county, "mysql://db/county")).key == "migrate_data.target_not_postgres"


async def test_one_database_as_both_ends_is_refused(settings: Settings, county: Path) -> None:
    assert (await refused(settings, NOWHERE, NOWHERE)).key == "migrate_data.same_database"
    same = "postgresql://other@localhost:5432/never"
    assert (await refused(settings, "postgresql://someone@localhost/never", same)).key == "migrate_data.same_database"
    assert (await refused(settings, county, f"sqlite:///{county}")).key == "migrate_data.same_database"


async def test_without_a_target_and_on_sqlite_it_asks_where_to(settings: Settings, county: Path) -> None:
    assert (await refused(settings, None, None)).key == "migrate_data.no_target"


async def test_a_source_the_bot_is_running_on_is_refused(settings: Settings, county: Path, tmp_path: Path) -> None:
    with DataDirLock.acquire(settings.data_dir):
        error = await refused(settings, None)
        assert error.key == "migrate_data.bot_running"
        assert error.params == {"path": str(settings.data_dir), "pid": str(os.getpid())}
        # The same file named by its URL is the same database, with the same bot on it.
        assert (await refused(settings, f"sqlite:///{county}")).key == "migrate_data.bot_running"
    # A copy elsewhere, in a folder a bot runs on (DATABASE_URL=sqlite:///…), is refused as well.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / "county.sqlite3"
    with sqlite3.connect(county) as source, sqlite3.connect(copy) as into:
        source.backup(into)
    with DataDirLock.acquire(elsewhere):
        assert (await refused(settings, copy)).key == "migrate_data.bot_running"


async def test_a_source_at_another_schema_version_is_refused(settings: Settings, tmp_path: Path) -> None:
    latest = bundled_migrations()[-1].version
    older = tmp_path / "older.sqlite3"
    async with await Store.open(older, migrations=bundled_migrations()[:-1]):
        pass
    error = await refused(settings, older)
    assert error.key == "migrate_data.source_older"
    assert error.params == {"path": str(older.resolve()), "version": latest - 1, "supported": latest}
    assert "riverbot migrate" in LOCALES.plain("en", error.key, **error.params)

    newer = tmp_path / "newer.sqlite3"
    async with await Store.open(newer):
        pass
    spoil(newer, f"INSERT INTO schema_version VALUES ({latest + 1}, 'future', '2030-01-01T00:00:00Z')")
    error = await refused(settings, newer)
    assert (error.key, error.params["version"]) == ("migrate_data.source_newer", latest + 1)
    assert "Upgrade riverbot" in LOCALES.plain("en", error.key, **error.params)
    assert "升级" in LOCALES.plain("zh", error.key, **error.params)


async def test_a_sqlite_file_without_riverbot_schema_is_refused(settings: Settings, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    assert (await refused(settings, other)).key == "migrate_data.not_riverbot"


async def test_the_source_is_opened_read_only(settings: Settings, county: Path) -> None:
    """Nothing the move does can change the county's file, the figures it compares included."""
    source = await Source.open(county)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await source.store().engine.reader.execute("UPDATE areas SET name_en = 'changed'")
    finally:
        await source.close()
    error = await refused(settings, county, "postgresql://nobody@/never?host=/nonexistent")
    assert error.key == "migrate_data.target_unreachable"


# --- the pieces -------------------------------------------------------------------------------------------------


def _table(name: str, *parents: str) -> TargetTable:
    return TargetTable(name, (), ("id",), frozenset(parents))


def test_parents_load_before_their_children() -> None:
    tables = [
        _table("problem_events", "problems", "people"),
        _table("problems", "patrols", "people", "reaches", "areas"),
        _table("people", "areas", "people"),  # itself: checked at the end of its one COPY
        _table("patrols", "people", "reaches"),
        _table("reaches", "areas"),
        _table("areas"),
        _table("meta"),
    ]
    assert [t.name for t in load_order(tables)] == [
        "areas",
        "meta",
        "people",
        "reaches",
        "patrols",
        "problems",
        "problem_events",
    ]


def test_tables_that_refer_to_each_other_in_a_circle_are_refused() -> None:
    with pytest.raises(TransferError) as caught:
        load_order([_table("a", "b"), _table("b", "a"), _table("c")])
    assert caught.value.key == "migrate_data.cycle" and caught.value.params == {"tables": "a, b"}


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int8", 5, 5),
        ("int8", -(2**63), -(2**63)),
        ("int4", 2**31 - 1, 2**31 - 1),
        ("float8", 3, 3.0),
        ("float8", 2.5, 2.5),
        ("text", "巡河", "巡河"),
        ("bytea", b"\x00\x01", b"\x00\x01"),
        ("bool", 1, True),
        ("jsonb", '{"a": [1]}', '{"a": [1]}'),
        ("date", "2026-11-20", date(2026, 11, 20)),
        ("text", None, None),
    ],
)
def test_values_that_fit(kind: str, value: Any, expected: Any) -> None:
    converted = _converter(TargetColumn("c", kind, not_null=False))(value)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("int8", "twelve"),  # SQLite keeps text it cannot read as a number in an INTEGER column
        ("int8", "12"),  # and a number as text where the column has no type
        ("int8", 1.5),
        ("int4", 2**31),
        ("int2", 40000),
        ("float8", "fast"),
        ("float8", float("nan")),
        ("text", 12),
        ("text", b"bytes"),
        ("text", "nul \x00 inside"),
        ("text", "\udce6 not UTF-8"),
        ("bytea", "text"),
        ("bool", 2),
        ("jsonb", "{not json"),
        ("date", "20 Nov 2026"),
    ],
)
def test_values_that_do_not(kind: str, value: Any) -> None:
    with pytest.raises(_Unfit):
        _converter(TargetColumn("c", kind, not_null=False))(value)


def test_null_only_where_the_column_allows_it() -> None:
    with pytest.raises(_Unfit):
        _converter(TargetColumn("c", "text", not_null=True))(None)


def test_stats_cover_the_whole_history_then_each_calendar_year() -> None:
    assert stats_periods(date(2026, 3, 1), date(2026, 11, 20)) == [(date(2026, 3, 1), date(2026, 11, 20))]
    assert stats_periods(date(2024, 11, 1), date(2026, 2, 3)) == [
        (date(2024, 11, 1), date(2026, 2, 3)),
        (date(2024, 11, 1), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 2, 3)),
    ]


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("postgresql://a@db/county", "postgresql://b:secret@db:5432/county", True),
        ("postgresql://a@db/county", "postgresql://a@db/province", False),
        ("postgresql://a@db/county", "postgresql://a@db:5433/county", False),
        ("postgresql://a@/county?host=/run/pg", "postgres://a@/county?host=/run/pg/", True),
        ("postgresql://a@/county?host=/run/pg", "postgresql://a@/county?host=/tmp", False),
    ],
)
def test_two_urls_name_one_database(first: str, second: str, same: bool) -> None:
    assert same_postgres_database(first, second) is same
