"""Demo data at small scale: counts, referential integrity and distributions that look like a real county."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.demo import DemoError, DemoReport, generate
from bot.geo import BoundingBox, Point, distance_to_lines_m, lines_of
from bot.summaries import SummaryService, week_of
from bot.tallies import TallyService
from storage import Store
from storage import demo as bulk
from storage.records import ReachRecord

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with await Store.open(settings.database) as opened:
        yield opened


@pytest.fixture
async def demo(store: Store, settings: Settings) -> DemoReport:
    return await generate(store, settings, scale="small", seed=7, now=NOW)


async def count(store: Store, sql: str) -> int:
    return int(await store.fetchval(sql))


def local_day(store: Store, column: str) -> str:
    """SQL for the day in China (UTC+8) of a UTC timestamp column, as YYYY-MM-DD text, on the store's engine."""
    if store.dialect == "postgresql":
        return f"to_char(CAST({column} AS timestamp) + interval '8 hours', 'YYYY-MM-DD')"
    return f"date({column}, '+8 hours')"


def assignee(store: Store, column: str) -> str:
    """SQL for the person id an 'assign' event's JSON data names, on the store's engine."""
    if store.dialect == "postgresql":
        return f"CAST(CAST({column} AS jsonb) ->> 'assignee' AS BIGINT)"
    return f"json_extract({column}, '$.assignee')"


async def validated_foreign_keys(store: Store) -> list[tuple[str, str]]:
    """PostgreSQL's foreign keys that hold for every row (validated), by table and name."""
    rows = await store.fetchall(
        "SELECT CAST(conrelid::regclass AS text), conname FROM pg_constraint"
        " WHERE contype = 'f' AND convalidated AND connamespace = 'public'::regnamespace ORDER BY 1, 2"
    )
    return [(str(table), str(name)) for table, name in rows]


async def test_counts_match_the_report_and_the_sample_county(store: Store, demo: DemoReport) -> None:
    assert demo.first == date(2022, 11, 1) and demo.last == date(2026, 11, 20)
    assert demo.areas == await count(store, "SELECT count(*) FROM areas") == 5
    assert demo.reaches == await count(store, "SELECT count(*) FROM reaches") >= 20
    assert demo.patrols == await count(store, "SELECT count(*) FROM patrols") > 2000
    assert demo.problems == await count(store, "SELECT count(*) FROM problems") > 100
    assert demo.events == await count(store, "SELECT count(*) FROM problem_events")
    assert demo.points == await count(store, "SELECT count(*) FROM patrol_points") > 0
    assert demo.chiefs == await count(store, "SELECT count(*) FROM person_roles WHERE role = 'chief'")
    assert demo.assignments == await count(store, "SELECT count(*) FROM assignments") == demo.chiefs
    assert demo.volunteers == await count(store, "SELECT count(*) FROM person_roles WHERE role = 'volunteer'")
    assert 4 * demo.areas <= demo.volunteers <= 7 * demo.areas
    volunteer_patrols = "SELECT count(*) FROM patrols t JOIN person_roles r ON r.person_id = t.person_id"
    assert demo.volunteer_patrols == await count(store, f"{volunteer_patrols} AND r.role = 'volunteer'") > 200
    volunteer_reports = "SELECT count(*) FROM problems q JOIN person_roles r ON r.person_id = q.reporter_id"
    assert demo.volunteer_reports == await count(store, f"{volunteer_reports} AND r.role = 'volunteer'") > 30
    # Every reach has exactly one chief now; a few changed chiefs half-way.
    assert await count(store, "SELECT count(DISTINCT reach_id) FROM assignments WHERE ends_on IS NULL") == demo.reaches
    assert await count(store, "SELECT count(*) FROM assignments WHERE ends_on IS NULL") == demo.reaches


async def test_referential_integrity(store: Store, settings: Settings) -> None:
    keys = await validated_foreign_keys(store) if store.dialect == "postgresql" else []
    await generate(store, settings, scale="small", seed=7, now=NOW)
    if store.dialect == "postgresql":
        # The load drops the foreign keys and adds them back at its end, which checks every row: all back, checked.
        assert keys and await validated_foreign_keys(store) == keys
    else:
        assert await store.fetchall("PRAGMA foreign_key_check") == []
        assert await store.fetchval("PRAGMA integrity_check") == "ok"
    # Problems sit in their reach's area, and their patrol's reach, reporter and time.
    assert not await store.fetchall(
        "SELECT p.id FROM problems p JOIN reaches r ON r.id = p.reach_id JOIN patrols t ON t.id = p.patrol_id"
        " WHERE p.area_id != r.area_id OR t.reach_id != p.reach_id OR t.person_id != p.reporter_id"
        " OR p.reported_at < t.started_at OR p.reported_at > t.ended_at OR t.problem_count != 1"
    )
    # Patrols are by the reach's chief of the day, or by a volunteer.
    assert not await store.fetchall(
        "SELECT t.id FROM patrols t WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.person_id = t.person_id"
        f" AND a.reach_id = t.reach_id AND a.starts_on <= {local_day(store, 't.started_at')}"
        f" AND (a.ends_on IS NULL OR {local_day(store, 't.started_at')} <= a.ends_on))"
        " AND NOT EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = t.person_id AND r.role = 'volunteer')"
    )


async def test_volunteers_registered_as_the_bot_does_it(store: Store, settings: Settings, demo: DemoReport) -> None:
    assert settings.volunteer_approval == "auto"
    rows = await store.fetchall(
        "SELECT p.id, p.name, p.phone, p.home_area_id, p.created_at, r.level, r.granted_at, r.granted_by,"
        " g.name, g.home_area_id, g.phone, g.status, g.decided_by, g.created_at"
        " FROM people p JOIN person_roles r ON r.person_id = p.id AND r.role = 'volunteer'"
        " JOIN registrations g ON g.person_id = p.id"
    )
    assert len(rows) == demo.volunteers == await count(store, "SELECT count(*) FROM registrations")
    areas = {row[0] for row in await store.fetchall("SELECT id FROM areas")}
    homes: dict[int, int] = {}
    for _, name, phone, home, created, level, granted, granted_by, *registration in rows:
        assert (name, home, phone, "approved", None) == tuple(registration[:5])
        assert home in areas and level is None and granted_by is None
        assert created < granted == registration[5], "they opened the bot, then registered: approved at once"
        assert phone is None or phone.startswith("+861")
        homes[home] = homes.get(home, 0) + 1
    assert set(homes) == areas and min(homes.values()) >= 4, "a handful in every area"
    # Volunteers have no roles but that one and no assignments: no patrol requirement.
    assert not await store.fetchall(
        "SELECT r.person_id FROM person_roles r JOIN person_roles v ON v.person_id = r.person_id"
        " AND v.role = 'volunteer' WHERE r.role != 'volunteer'"
    )
    assert not await store.fetchall(
        "SELECT a.id FROM assignments a JOIN person_roles v ON v.person_id = a.person_id AND v.role = 'volunteer'"
    )
    # Nobody patrols before registering.
    assert not await store.fetchall(
        "SELECT t.id FROM patrols t JOIN person_roles v ON v.person_id = t.person_id AND v.role = 'volunteer'"
        " WHERE t.started_at < v.granted_at"
    )


async def test_volunteers_approved_by_their_areas_admin_when_approval_is_required(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "admin", volunteer_approval="admin")
    settings.data_dir.mkdir(parents=True)
    async with await Store.open(settings.database) as store:
        report = await generate(store, settings, scale="small", seed=3, years=1, now=NOW)
        rows = await store.fetchall(
            "SELECT g.status, g.decided_by, g.decided_at, g.created_at, r.granted_by, r.granted_at, a.role"
            " FROM registrations g JOIN person_roles r ON r.person_id = g.person_id AND r.role = 'volunteer'"
            " LEFT JOIN person_roles a ON a.person_id = g.decided_by"
        )
        assert len(rows) == report.volunteers > 0
        for status, decided_by, decided_at, created_at, granted_by, granted_at, role in rows:
            assert status == "approved" and role == "admin" and granted_by == decided_by
            assert created_at < decided_at == granted_at


async def test_volunteers_patrol_and_report_mostly_at_home_a_few_of_them_weekly(store: Store, demo: DemoReport) -> None:
    patrols = await store.fetchall(
        "SELECT t.person_id, p.home_area_id, r.area_id, t.valid, t.reasons, t.problem_count FROM patrols t"
        " JOIN person_roles v ON v.person_id = t.person_id AND v.role = 'volunteer'"
        " JOIN people p ON p.id = t.person_id JOIN reaches r ON r.id = t.reach_id"
    )
    at_home = sum(home == area for _, home, area, _, _, _ in patrols)
    assert 0.8 < at_home / len(patrols) < 1, "mostly their home area's reaches, now and then a neighbour's"
    invalid = [json.loads(reasons) for _, _, _, valid, reasons, _ in patrols if not valid]
    assert 0.04 < len(invalid) / len(patrols) < 0.2 and all(invalid)
    # Skewed: a few go out nearly every week, most a few times at most.
    per_person: dict[int, int] = {}
    for person_id, *_ in patrols:
        per_person[person_id] = per_person.get(person_id, 0) + 1
    counts = sorted([per_person.get(pid, 0) for (pid,) in await store.fetchall(
        "SELECT person_id FROM person_roles WHERE role = 'volunteer'"
    )])  # fmt: skip
    assert counts[-1] > 100 and counts[len(counts) // 2] < 15
    assert sum(c > 100 for c in counts) >= demo.areas, "one stalwart in every area at least"
    # Their reports: more per valid patrol than chiefs', routed to the reach's chief of the day.
    valid = sum(1 for row in patrols if row[3])
    reports = sum(row[5] for row in patrols)
    assert reports == demo.volunteer_reports
    chief_valid = await count(store, "SELECT count(*) FROM patrols WHERE valid = 1") - valid
    chief_reports = demo.problems - demo.volunteer_reports
    assert reports / valid > 1.5 * chief_reports / chief_valid
    routed = await store.fetchall(
        f"SELECT q.id, {assignee(store, 'e.data')}, e.at FROM problems q"
        " JOIN person_roles v ON v.person_id = q.reporter_id AND v.role = 'volunteer'"
        " JOIN problem_events e ON e.problem_id = q.id AND e.action = 'assign'"
        " WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.reach_id = q.reach_id"
        f"  AND a.person_id = {assignee(store, 'e.data')} AND a.starts_on <= {local_day(store, 'q.reported_at')}"
        f"  AND (a.ends_on IS NULL OR {local_day(store, 'q.reported_at')} <= a.ends_on))"
    )
    assert routed == []
    assert (
        await count(
            store,
            "SELECT count(*) FROM problems q JOIN person_roles v ON v.person_id = q.reporter_id"
            " AND v.role = 'volunteer' WHERE q.status = 'closed'",
        )
        > 0.7 * demo.volunteer_reports
    )


@pytest.mark.parametrize("day", [date(2026, 11, 12), date(2026, 10, 14), date(2025, 6, 18)])
async def test_weekly_summaries_thank_volunteers(store: Store, settings: Settings, demo: DemoReport, day: date) -> None:
    summaries = await SummaryService(store, settings).week_summaries(week_of(day))
    thanked = [v for s in summaries.values() for v in s.volunteers]
    assert thanked and all(v.patrols or v.reports for v in thanked)
    volunteers = {r[0] for r in await store.fetchall("SELECT person_id FROM person_roles WHERE role = 'volunteer'")}
    assert {v.person_id for v in thanked} <= volunteers


async def test_patrols_mostly_valid_the_rest_with_reasons(store: Store, demo: DemoReport) -> None:
    total = demo.patrols
    invalid = await store.fetchall("SELECT reasons, duration_s, distance_m FROM patrols WHERE valid = 0")
    assert len(invalid) == demo.invalid
    assert 0.04 < len(invalid) / total < 0.2
    codes: set[str] = set()
    for reasons, duration_s, distance_m in invalid:
        parsed = json.loads(reasons)
        assert parsed, "an invalid patrol says why"
        codes |= {r["code"] for r in parsed}
        if any(r["code"] == "too_short" for r in parsed):
            assert duration_s < 600
        if any(r["code"] == "too_little_distance" for r in parsed):
            assert distance_m < 500
    assert {"too_short", "too_little_distance", "far_from_reach"} <= codes
    assert await count(store, "SELECT count(*) FROM patrols WHERE valid = 1 AND reasons != '[]'") == 0
    assert await count(store, "SELECT count(*) FROM patrols WHERE status != 'finished' OR ended_at <= started_at") == 0
    assert await count(store, f"SELECT count(*) FROM patrols WHERE ended_at > '{NOW:%Y-%m-%dT%H:%M:%SZ}'") == 0


async def test_track_points_only_for_the_last_three_weeks(store: Store, demo: DemoReport) -> None:
    tracked = await store.fetchall(
        "SELECT t.id, t.point_count, min(p.at), max(p.at), count(*), t.started_at, t.ended_at"
        " FROM patrols t JOIN patrol_points p ON p.patrol_id = t.id GROUP BY t.id"
    )
    assert 5 <= len(tracked) < 200
    for _, point_count, first_at, last_at, points, started_at, ended_at in tracked:
        assert point_count == points
        assert started_at == first_at and last_at == ended_at
        assert started_at >= "2026-10-29T16:00:00Z"  # Oct 30 00:00 in Shanghai, 21 days before Nov 20


async def test_problems_in_every_status_with_a_consistent_story(store: Store, demo: DemoReport) -> None:
    # A small county has a few problems in hand at any moment; every status is passed through.
    statuses = {row[0] for row in await store.fetchall("SELECT DISTINCT status FROM problems")}
    assert {"assigned", "closed", "dismissed"} <= statuses
    passed = {row[0] for row in await store.fetchall("SELECT DISTINCT to_status FROM problem_events")}
    assert passed == {"reported", "assigned", "rectified", "closed", "dismissed"}
    assert demo.statuses["closed"] > demo.problems * 0.7
    # Nothing is left open for years: hard cases take months, an office takes weeks at worst.
    oldest = await store.fetchval(
        "SELECT min(deadline) FROM problems WHERE status NOT IN ('closed', 'dismissed') AND deadline IS NOT NULL"
    )
    assert oldest is None or date.fromisoformat(oldest) > NOW.date() - timedelta(days=330)
    events: dict[int, list[tuple[str, str | None, str, str, dict[str, object]]]] = {}
    for problem_id, at, action, from_status, to_status, data in await store.fetchall(
        "SELECT problem_id, at, action, from_status, to_status, data FROM problem_events ORDER BY problem_id, id"
    ):
        events.setdefault(problem_id, []).append((action, from_status, to_status, at, json.loads(data)))
    problems = await store.fetchall("SELECT id, status, deadline, reported_at, closed_at, updated_at FROM problems")
    for problem_id, status, deadline, reported_at, closed_at, updated_at in problems:
        story = events[problem_id]
        assert story[0][0] == "report" and story[0][3] == reported_at
        assert story[-1][2] == status and story[-1][3] == updated_at
        times = [e[3] for e in story]
        assert times == sorted(times)
        previous = None
        for _, from_status, to_status, _, _ in story:
            assert from_status == previous
            previous = to_status
        actions = [e[0] for e in story]
        if status == "closed":
            assert actions[-2:] == ["rectify", "close"] and closed_at == updated_at
        if status in ("assigned", "rectified", "closed"):
            assign = story[1]
            assert assign[0] == "assign" and assign[4]["deadline"] == deadline
        if status in ("reported", "assigned", "rectified"):
            assert closed_at is None


async def test_patrol_rates_and_tallies(store: Store, settings: Settings, demo: DemoReport) -> None:
    stats = await TallyService(store, settings).stats(date(2025, 11, 1), date(2026, 10, 31))
    assert stats.patrols.areas
    for area in stats.patrols.areas:
        value = area.rate.value
        assert value is not None and 0.4 <= value <= 1, (area.code, value)
    figures = stats.problems.overall
    assert figures.new > 20 and figures.closed > 0 and figures.due > 0
    assert 0 < figures.closed_on_time <= figures.due


async def test_same_seed_same_history(tmp_path: Path, store: Store, settings: Settings, demo: DemoReport) -> None:
    other = load_settings(env_file=None, data_dir=tmp_path / "other")
    other.data_dir.mkdir(parents=True)
    async with await Store.open(other.database_path) as second:
        again = await generate(second, other, scale="small", seed=7, now=NOW)
        assert (again.patrols, again.problems, again.events) == (demo.patrols, demo.problems, demo.events)
        assert (again.volunteers, again.volunteer_patrols, again.volunteer_reports) == (
            demo.volunteers, demo.volunteer_patrols, demo.volunteer_reports
        )  # fmt: skip
        sql = "SELECT person_id, reach_id, started_at, valid, reasons FROM patrols ORDER BY id"
        assert [tuple(r) for r in await second.fetchall(sql)] == [tuple(r) for r in await store.fetchall(sql)]
        sql = "SELECT id, name, phone, home_area_id, created_at FROM people ORDER BY id"
        assert [tuple(r) for r in await second.fetchall(sql)] == [tuple(r) for r in await store.fetchall(sql)]


async def test_refuses_a_store_with_history(store: Store, settings: Settings, demo: DemoReport) -> None:
    with pytest.raises(DemoError) as raised:
        await generate(store, settings, scale="small", seed=1, now=NOW)
    assert raised.value.key == ("cli.demo-data.not_fresh" + ("_postgres" if store.dialect == "postgresql" else ""))
    with pytest.raises(DemoError):
        await generate(store, settings, scale="city", seed=1, now=NOW)
    assert await count(store, "SELECT count(*) FROM patrols") == demo.patrols


@pytest.mark.sqlite_only("the SQLite load's own transactions; PostgreSQL's load is one transaction, tested below")
@pytest.mark.parametrize(("write_seconds", "seen_before_finish"), [(0.0, 3), (3600.0, 0)])
async def test_the_bulk_load_commits_as_it_goes_so_the_bot_can_write_in_between(
    store: Store, write_seconds: float, seen_before_finish: int
) -> None:
    writer = bulk.BulkWriter(bulk.writer_connection(store), chunk=1, write_seconds=write_seconds, pause_seconds=0)
    await writer.begin()
    stamp = "2026-01-01T00:00:00Z"
    await writer.add("areas", [(i, f"A{i}", f"片区{i}", f"Area {i}", stamp, stamp) for i in (1, 2, 3)])
    # The reader sees what is committed: every row at once with a short budget, none in one long transaction.
    assert await count(store, "SELECT count(*) FROM areas") == seen_before_finish
    await writer.finish()
    assert await count(store, "SELECT count(*) FROM areas") == 3


async def _schema(store: Store) -> list[tuple[str, ...]]:
    """Every index and foreign key in the database, as the engine describes them."""
    if store.dialect == "postgresql":
        indexes = await store.fetchall(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        )
        keys = await store.fetchall(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
        )
    else:
        indexes = await store.fetchall("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'")
        keys = []
        for (table,) in await store.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'"):
            keys += [(table, *map(str, key)) for key in await store.fetchall(f"PRAGMA foreign_key_list('{table}')")]
    return sorted(tuple(str(x) for x in row) for row in [*indexes, *keys])


def _rows(first: int, count: int) -> dict[str, list[bulk.Row]]:
    """An area, a reach, `count` chiefs and a patrol each, ids from `first`: what the generator hands over."""
    stamp = "2026-01-01T00:00:00Z"
    a = first
    return {
        "areas": [(a, f"A{a}", f"片区{a}", f"Area {a}", stamp, stamp)],
        "reaches": [
            (a, f"R{a}", f"河{a}", f"River {a}", a, "town", 1.5, "", None, None, None, None, None, stamp, stamp)
        ],
        "people": [(i, f"河长{i}", None, a, 1, stamp, stamp) for i in range(first, first + count)],
        "patrols": [
            (i, i, a, stamp, stamp, "finished", stamp, 1200.0, 1800, 20, 1, 0, 1, "[]", stamp, stamp)
            for i in range(first, first + count)
        ],
    }


async def test_the_bulk_load_leaves_indexes_keys_and_numbering_as_they_were(store: Store) -> None:
    """On PostgreSQL the load drops indexes and foreign keys and builds them again at the end; either engine
    numbers the next row after the ids the load gave."""
    before = await _schema(store)
    writer = bulk.bulk_writer(store)
    await writer.begin()
    assert await writer.next_id("people") == 1
    for table, rows in _rows(1, 300).items():
        await writer.add(table, rows)
    await writer.commit()
    assert await writer.next_id("people") == 301
    await writer.finish()
    assert await _schema(store) == before
    assert writer.written["patrols"] == await count(store, "SELECT count(*) FROM patrols") == 300
    assert await store.people.create(name="新来的") == 301
    area_sql = "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
    stamp = "2026-01-02T00:00:00Z"
    assert await store.insert(area_sql, ("NEW", "新片区", "New area", stamp, stamp)) == 2
    # The foreign keys hold again: a patrol of nobody is refused.
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        async with store.atomic() as conn:
            await conn.execute(bulk.PATROL_SQL, (999, 12345, 1, stamp, stamp, "finished", stamp, 1.0, 1, 1, 0, 0, 1,
                                                 "[]", stamp, stamp))  # fmt: skip


async def test_a_failed_bulk_load_leaves_no_rows_and_the_schema_whole(store: Store) -> None:
    before = await _schema(store)
    writer = bulk.bulk_writer(store)
    await writer.begin()
    for table, rows in _rows(1, 10).items():
        await writer.add(table, rows)
    await writer.flush()
    await writer.abort()
    assert await _schema(store) == before
    # On SQLite what was committed before the failure stays (a fresh store is needed again); not a half-built
    # schema, and the next load into a fresh store works.
    if store.dialect == "postgresql":
        assert await count(store, "SELECT count(*) FROM patrols") == 0
        writer = bulk.bulk_writer(store)
        await writer.begin()
        for table, rows in _rows(1, 10).items():
            await writer.add(table, rows)
        await writer.finish()
        assert await count(store, "SELECT count(*) FROM patrols") == 10


async def test_every_track_point_and_problem_lies_in_the_county_near_its_reach(store: Store, demo: DemoReport) -> None:
    reaches = await store.reaches.all()
    lines = {r.id: lines_of(r.geometry) for r in reaches}
    area_lines: dict[int, list[list[Point]]] = {}
    for r in reaches:
        area_lines.setdefault(r.area_id, []).extend(lines[r.id])
    every = [p for ls in lines.values() for line in ls for p in line]
    # The county's box, with 3 km about it: a patrol "far from its reach" walks about 2.9 km off it.
    county = BoundingBox(
        min(p[0] for p in every) - 0.03,
        min(p[1] for p in every) - 0.03,
        max(p[0] for p in every) + 0.03,
        max(p[1] for p in every) + 0.03,
    )
    unmapped = {r.id for r in reaches if not lines[r.id]}
    assert unmapped  # 东风沟 and 幸福沟: the reaches whose tracks once landed in Guangzhou

    def off_by(reach_id: int, point: Point) -> float:
        """Metres from the reach's line; for a reach without one, from its area's mapped lines."""
        own = lines[reach_id]
        return distance_to_lines_m(point, own or area_lines[_area(reaches, reach_id)])

    points = await store.fetchall(
        "SELECT p.lat, p.lon, t.reach_id, t.reasons FROM patrol_points p JOIN patrols t ON t.id = p.patrol_id"
    )
    problems = await store.fetchall("SELECT lat, lon, reach_id FROM problems")
    assert len(points) > 1000 and len(problems) > 100
    assert sum(row["reach_id"] in unmapped for row in points) > 0
    assert sum(row["reach_id"] in unmapped for row in problems) > 0
    for row in points:
        point = (row["lat"], row["lon"])
        assert county.distance_m(point) == 0.0, (row["reach_id"], point)
        far = "far_from_reach" in (row["reasons"] or "")
        limit = (3_500 if far else 50) + (2_500 if row["reach_id"] in unmapped else 0)
        assert off_by(row["reach_id"], point) <= limit, (row["reach_id"], point)
    for row in problems:
        point = (row["lat"], row["lon"])
        assert county.distance_m(point) == 0.0, (row["reach_id"], point)
        assert off_by(row["reach_id"], point) <= (2_500 if row["reach_id"] in unmapped else 100)


def _area(reaches: list[ReachRecord], reach_id: int) -> int:
    return next(r.area_id for r in reaches if r.id == reach_id)


class _Collect(bulk.BulkLoad):
    """A load that keeps the rows: the registry alone, without a store."""

    def __init__(self) -> None:
        super().__init__(chunk=1_000_000)
        self.rows: dict[str, list[bulk.Row]] = {}

    async def begin(self) -> None: ...

    async def _fetchval(self, sql: str) -> object:
        return None

    async def _write(self, table: str, rows: list[bulk.Row]) -> None:
        self.rows.setdefault(table, []).extend(rows)

    async def commit(self) -> None: ...

    async def finish(self) -> None: ...

    async def abort(self) -> None: ...


async def test_the_province_is_six_cities_of_the_city_scale_registry() -> None:
    import random  # noqa: PLC0415

    from bot import demo  # noqa: PLC0415


    city, province = _Collect(), _Collect()
    today = date(2026, 11, 20)
    city_report, report = DemoReport("city", today, today), DemoReport("province", today, today)
    city_reaches = await demo._registry(city, random.Random(1), "S", city_report, (demo._CITY,), fraction=0.02)
    reaches = await demo._registry(province, random.Random(1), "S", report, demo._PROVINCE, fraction=0.02)
    await city.flush()
    await province.flush()
    # 2 % of the real size: 16,000 reaches a city would make the test slow, and change nothing else.
    assert report.areas == len(province.rows["areas"]) == 6 * len(city.rows["areas"]) == 6 * 3
    assert len(reaches) == len(province.rows["reaches"]) == 6 * len(city_reaches) == 6 * 320
    assert [r[0] for r in province.rows["areas"]] == list(range(1, 6 * 3 + 1))
    assert [r[0] for r in province.rows["reaches"]] == list(range(1, 6 * 320 + 1))
    codes = [r[1] for r in province.rows["areas"]]
    assert len(set(codes)) == len(codes) and len({r[1] for r in province.rows["reaches"]}) == 6 * 320
    # City scale's codes and names are as they always were; the province's carry their city.
    assert city.rows["areas"][0][1:4] == ("YX01", city.rows["areas"][0][2], city.rows["areas"][0][3])
    assert city.rows["areas"][0][2].startswith("越秀区") and city.rows["areas"][0][3].endswith(", Yuexiu")
    cities = {code[:2] for code in codes}
    assert cities == {"GZ", "SZ", "HZ", "ST", "ZJ", "SG"}
    first = {r[1][:2]: r for r in reversed(province.rows["areas"])}
    assert first["GZ"][2].startswith("广州市越秀区") and first["GZ"][3].endswith(", Yuexiu, Guangzhou")
    assert first["SG"][2].startswith("韶关市武江区") and first["SG"][3].endswith(", Wujiang, Shaoguan")
    assert all(sum(c.startswith(city) for c in codes) == 3 for city in cities)
    # Each city's reaches lie about its own centre.
    boxes: dict[str, list[float]] = {}
    for r in province.rows["reaches"]:
        box = boxes.setdefault(r[1][:2], [90.0, 180.0, -90.0, -180.0])
        box[:] = [min(box[0], r[9]), min(box[1], r[10]), max(box[2], r[11]), max(box[3], r[12])]
    centres = {c.code: c.centre for c in demo._PROVINCE}
    for code, (south, west, north, east) in boxes.items():
        lat, lon = centres[code]
        assert abs((south + north) / 2 - lat) < 0.3 and abs((west + east) / 2 - lon) < 0.3, code
        assert north - south < 1.5 and east - west < 1.5, code
