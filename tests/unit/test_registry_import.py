"""Loading registry files into the store: cross-checks, one transaction, idempotence, people and assignments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import registry_import
from bot.config import Settings
from bot.registry_export import render
from bot.registry_import import Batch, ImportReport, read_files, run_import
from storage import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "registry"
SAMPLE = [EXAMPLES / "areas.csv", EXAMPLES / "reaches.geojson", EXAMPLES / "chiefs.csv"]
TODAY = date(2026, 3, 10)
AREAS = "code,name_zh,name_en\nQT,曲塘镇,Qutang Town\nCD,城东街道,Chengdong Subdistrict\n"
REACHES = (
    "code,name_zh,name_en,area_code,level,length_km,tags\n"
    "DBH-01,丁堡河曲塘段,Dingbao River (Qutang),QT,town,2.5,\n"
    "LGH-01,立公河城东段,Ligong River (Chengdong),CD,town,3,black_odorous\n"
    "XM-01,新民河,Xinmin River,QT,village,,\n"
)
CHIEFS_HEADER = "name,phone,level,area_code,reach_codes,telegram_id\n"
LINE = {"type": "LineString", "coordinates": [[120.40, 32.50], [120.42, 32.51]]}


def _files(tmp_path: Path, **contents: str | bytes) -> list[Path]:
    """Write `name=content` files (a `_` in the name becomes `.`) and return their paths."""
    paths = []
    for name, content in contents.items():
        path = tmp_path / name.replace("_", ".")
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        paths.append(path)
    return paths


async def _load(
    store: Store, settings: Settings, paths: list[Path], *, today: date = TODAY, **options: Any
) -> tuple[Batch, ImportReport]:
    batch = read_files(paths)
    assert batch.file_errors == []
    return batch, await run_import(store, settings, batch, today=today, **options)


def _errors(batch: Batch) -> list[tuple[str, int, str]]:
    return [(Path(e.file).name, e.line, e.key.rpartition(".")[2]) for e in batch.row_errors]


async def _active(store: Store) -> set[tuple[str, str, str]]:
    return {(a.person_name, a.reach_code, a.level) for a in await store.assignments.all() if a.ends_on is None}


async def test_the_sample_loads_and_a_second_import_changes_nothing(store: Store, settings: Settings) -> None:
    batch, report = await _load(store, settings, SAMPLE)
    assert batch.row_errors == [] and report.written
    assert (report.areas.created, report.reaches.created, report.chiefs.created) == (5, 32, 24)
    assert report.telegram_linked == 5 and report.invites_created == 19 and report.assignments_started == 37
    tyy = await store.reaches.by_code("TYY-02")
    assert tyy is not None and tyy.area_code == "CD" and tyy.tags == ("happy_river_demo",)
    assert tyy.geometry is not None and json.loads(tyy.geometry)["type"] == "LineString" and tyy.bbox is not None
    ditch = await store.reaches.by_code("DFG-01")
    assert ditch is not None and ditch.geometry is None and ditch.bbox is None
    holders = await store.assignments.active_for_reach(tyy.id)
    assert sorted(a.level for a in holders) == ["city", "town"]
    wang = await store.people.by_phone("13800004367")
    assert wang is not None and wang.telegram_id == 5820417366 and wang.roles == {"chief": "city"}
    before = (await store.assignments.all(), await store.invites.pending(now=datetime.now(UTC)))

    batch, again = await _load(store, settings, SAMPLE, today=TODAY + timedelta(days=3))
    assert batch.row_errors == [] and again.written and again.changes == []
    assert (again.areas.unchanged, again.reaches.unchanged, again.chiefs.unchanged) == (5, 32, 24)
    assert again.invites_created == again.assignments_started == again.assignments_ended == 0
    assert (await store.assignments.all(), await store.invites.pending(now=datetime.now(UTC))) == before


async def test_one_bad_row_writes_nothing_and_skip_bad_writes_the_rest(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    chiefs = CHIEFS_HEADER + "张三,13900000001,town,QT,DBH-01,\n李四,13900000002,town,ZZ,DBH-01,\n"
    paths = _files(tmp_path, areas_csv=AREAS, reaches_csv=REACHES, chiefs_csv=chiefs)
    batch, report = await _load(store, settings, paths)
    assert _errors(batch) == [("chiefs.csv", 3, "unknown_area")]
    assert not report.written and report.changes == []
    assert await store.areas.all() == [] and await store.people.chiefs() == []

    batch, report = await _load(store, settings, paths, skip_bad=True)
    assert _errors(batch) == [("chiefs.csv", 3, "unknown_area")] and report.written
    assert [p.name for p in await store.people.chiefs()] == ["张三"]
    assert len(await store.reaches.all()) == 3


async def test_dry_run_reports_every_change_and_writes_nothing(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    paths = _files(tmp_path, areas_csv=AREAS, chiefs_csv=CHIEFS_HEADER + "张三,,town,QT,DBH-01,\n")
    paths += _files(tmp_path, reaches_csv=REACHES)
    _, report = await _load(store, settings, paths, dry_run=True)
    assert not report.written and report.chiefs.created == 1 and report.invites_created == 1
    keys = [c.key.rpartition(".")[2] for c in report.changes]
    assert keys == ["area_created"] * 2 + ["reach_created"] * 3 + ["chief_created", "assignment_started"] + [
        "invite_created"
    ]
    assert await store.areas.all() == [] and await store.invites.pending(now=datetime.now(UTC)) == []


async def test_cross_references_are_checked_against_files_and_database(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    await _load(store, settings, _files(tmp_path, areas_csv=AREAS))
    # QT is in the database now; BM and its reach are bad in this batch, so the chief's BMH-01 is "bad", not unknown.
    reaches = (
        "code,name_zh,name_en,area_code,level,length_km,tags\n"
        "DBH-01,丁堡河,Dingbao,QT,town,,\n"
        "BMH-01,白米河,Baimi,BM,town,,\n"
        "DUP-01,甲,A,QT,town,,\n"
        "DUP-01,乙,B,QT,town,,\n"
    )
    chiefs = CHIEFS_HEADER + "张三,13900000001,town,QT,DBH-01;BMH-01;DUP-01;NOPE-9,\n"
    batch = read_files(_files(tmp_path, reaches2_csv=reaches, chiefs_csv=chiefs))
    report = await run_import(store, settings, batch, today=TODAY)
    assert sorted(_errors(batch)) == [
        ("chiefs.csv", 2, "bad_reach"),
        ("chiefs.csv", 2, "bad_reach"),
        ("chiefs.csv", 2, "unknown_reach"),
        ("reaches2.csv", 3, "unknown_area"),
        ("reaches2.csv", 5, "duplicate"),  # names line 4 too; neither row is loaded
    ]
    assert not report.written


async def test_one_code_in_two_files_is_reported_in_both(store: Store, settings: Settings, tmp_path: Path) -> None:
    other = "code,name_zh,name_en\nQT,曲塘,Qutang\nBM,白米镇,Baimi Town\n"
    batch, _ = await _load(store, settings, _files(tmp_path, areas_csv=AREAS, more_csv=other), skip_bad=True)
    assert sorted(_errors(batch)) == [("areas.csv", 2, "duplicate_elsewhere"), ("more.csv", 2, "duplicate_elsewhere")]
    assert [a.code for a in await store.areas.all()] == ["BM", "CD"]


async def test_assignments_follow_the_file(store: Store, settings: Settings, tmp_path: Path) -> None:
    base = _files(tmp_path, areas_csv=AREAS, reaches_csv=REACHES)
    await _load(
        store, settings, [*base, *_files(tmp_path, chiefs_csv=CHIEFS_HEADER + "张三,139,town,QT,DBH-01;LGH-01,\n")]
    )
    assert not (await store.people.chiefs())  # "139" is no phone number: nothing written
    first = _files(tmp_path, chiefs_csv=CHIEFS_HEADER + "张三,13900000001,town,QT,DBH-01;LGH-01,\n")
    await _load(store, settings, [*base, *first])
    zhang = await store.people.by_phone("13900000001")
    assert zhang is not None

    later = TODAY + timedelta(days=20)
    moved = _files(tmp_path, chiefs_csv=CHIEFS_HEADER + "张三,13900000001,village,QT,LGH-01;XM-01,\n")
    _, report = await _load(store, settings, moved, today=later)
    assert (report.assignments_started, report.assignments_ended, report.chiefs.updated) == (2, 2, 1)
    assert await _active(store) == {("张三", "LGH-01", "village"), ("张三", "XM-01", "village")}
    history = {(a.reach_code, a.level, a.starts_on, a.ends_on) for a in await store.assignments.all()}
    yesterday = later - timedelta(days=1)
    assert ("DBH-01", "town", TODAY, yesterday) in history and ("LGH-01", "town", TODAY, yesterday) in history
    assert await store.people.by_id(zhang.id) == (await store.people.chiefs())[0]
    assert (await store.people.chiefs())[0].roles == {"chief": "village"}

    # Changed again the same day: what began today is removed whole, not left as an empty stretch.
    back = _files(tmp_path, chiefs_csv=CHIEFS_HEADER + "张三,13900000001,village,QT,LGH-01,\n")
    _, report = await _load(store, settings, back, today=later)
    assert report.assignments_ended == 1
    assert not any(a.reach_code == "XM-01" for a in await store.assignments.all())


async def test_chiefs_are_known_by_phone_else_by_name_in_their_area(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    base = _files(tmp_path, areas_csv=AREAS, reaches_csv=REACHES)
    rows = "张三,,town,QT,DBH-01,\n李四,13900000002,town,CD,LGH-01,\n"
    await _load(store, settings, [*base, *_files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows)])
    ids = {p.name: p.id for p in await store.people.chiefs()}
    # 张三 gets a phone, 李四 a corrected name: both are updated, nobody is created.
    rows = "张三,13900000001,town,QT,DBH-01,\n李斯,13900000002,town,CD,LGH-01,\n"
    _, report = await _load(store, settings, _files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows))
    assert (report.chiefs.created, report.chiefs.updated) == (0, 2)
    assert {p.name: p.id for p in await store.people.chiefs()} == {"张三": ids["张三"], "李斯": ids["李四"]}
    assert report.invites_created == 0  # their invites are still valid


async def test_telegram_ids_link_merge_or_are_refused(store: Store, settings: Settings, tmp_path: Path) -> None:
    base = _files(tmp_path, areas_csv=AREAS, reaches_csv=REACHES)
    await _load(
        store, settings, [*base, *_files(tmp_path, chiefs_csv=CHIEFS_HEADER + "张三,13900000001,town,QT,DBH-01,\n")]
    )
    zhang = await store.people.by_phone("13900000001")
    assert zhang is not None and zhang.telegram_id is None
    assert await store.invites.pending_for_person(zhang.id, now=datetime.now(UTC)) is not None
    # 张三 opened the bot and registered as a volunteer before the office typed in his Telegram id.
    volunteer = await store.people.record_contact(7001, name="Zhang", username="zs", language_code="zh", started=True)
    await store.people.grant_role(volunteer.id, "volunteer")
    admin = await store.people.record_contact(7002, name="Admin", username=None, language_code=None, started=True)
    await store.people.grant_role(admin.id, "admin")

    rows = "张三,13900000001,town,QT,DBH-01,7001\n李四,13900000002,town,CD,LGH-01,7002\n"
    batch, report = await _load(store, settings, _files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows), skip_bad=True)
    assert _errors(batch) == [("chiefs.csv", 3, "telegram_taken")]
    assert report.merged == 1
    merged = await store.people.by_telegram_id(7001)
    assert merged is not None and merged.id == volunteer.id and merged.name == "张三"
    assert merged.roles == {"volunteer": None, "chief": "town"} and merged.phone == "13900000001"
    assert await store.people.by_id(zhang.id) is None
    assert await _active(store) == {("张三", "DBH-01", "town")}
    assert await store.invites.pending_for_person(merged.id, now=datetime.now(UTC)) is None

    rows = "张三,13900000001,town,QT,DBH-01,7003\n"
    batch, _ = await _load(store, settings, _files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows))
    assert _errors(batch) == [("chiefs.csv", 2, "telegram_mismatch")]


async def test_geometry_is_kept_by_a_csv_and_cleared_by_null(store: Store, settings: Settings, tmp_path: Path) -> None:
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": {"code": "DBH-01", "name_zh": "丁堡河", "name_en": "Dingbao", "area_code": "QT", "level": "town"},
        "geometry": LINE,
    }
    geojson = json.dumps({"type": "FeatureCollection", "features": [feature]})
    await _load(store, settings, _files(tmp_path, areas_csv=AREAS, reaches_geojson=geojson))
    stored = await store.reaches.by_code("DBH-01")
    assert stored is not None and stored.geometry == json.dumps(LINE, separators=(",", ":"))
    assert stored.bbox == (32.50, 120.40, 32.51, 120.42)

    csv = "code,name_zh,name_en,area_code,level,length_km,tags\nDBH-01,丁堡河,Dingbao,QT,town,2.5,\n"
    _, report = await _load(store, settings, _files(tmp_path, reaches_csv=csv))
    assert report.reaches.updated == 1
    kept = await store.reaches.by_code("DBH-01")
    assert kept is not None and kept.geometry == stored.geometry and kept.length_km == 2.5

    feature["geometry"] = None
    feature["properties"]["length_km"] = 2.5
    geojson = json.dumps({"type": "FeatureCollection", "features": [feature]})
    await _load(store, settings, _files(tmp_path, reaches_geojson=geojson))
    cleared = await store.reaches.by_code("DBH-01")
    assert cleared is not None and cleared.geometry is None and cleared.bbox is None


async def test_export_then_import_is_lossless(settings: Settings, tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "one.sqlite3") as first:
        await _load(first, settings, SAMPLE)
        files, result = await render(first)
        snapshot = await _snapshot(first)
    assert result.counts == {"areas.csv": 5, "reaches.geojson": 32, "chiefs.csv": 24} and result.without_area == []
    assert files["areas.csv"].startswith(b"\xef\xbb\xbfcode,name_zh,name_en\n")
    out = tmp_path / "out"
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    async with await Store.open(tmp_path / "two.sqlite3") as second:
        batch, _ = await _load(second, settings, sorted(out.iterdir()))
        assert batch.row_errors == []
        again, _ = await render(second)
        assert await _snapshot(second) == snapshot
    assert again == files


async def _snapshot(store: Store) -> dict[str, Any]:
    area_codes = {a.id: a.code for a in await store.areas.all()}
    return {
        "areas": [(a.code, a.name_zh, a.name_en) for a in await store.areas.all()],
        "reaches": [
            (r.code, r.name_zh, r.name_en, r.area_code, r.level, r.length_km, r.tags, r.geometry, r.bbox)
            for r in await store.reaches.all()
        ],
        "chiefs": sorted(
            (p.name, p.phone, p.telegram_id, tuple(sorted(p.roles.items())), area_codes.get(p.home_area_id or 0))
            for p in await store.people.chiefs()
        ),
        "assignments": await _active(store),
    }


async def test_deactivated_and_doubled_chiefs_are_refused(store: Store, settings: Settings, tmp_path: Path) -> None:
    base = _files(tmp_path, areas_csv=AREAS, reaches_csv=REACHES)
    rows = "张三,,town,QT,DBH-01,\n李四,13900000002,town,CD,LGH-01,\n"
    await _load(store, settings, [*base, *_files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows)])
    li = await store.people.by_phone("13900000002")
    assert li is not None and await store.people.set_active(li.id, False, by=None)
    # 张三 gets a phone on one row and is listed again without it: both rows mean the same person.
    rows = (
        "张三,13900000001,town,QT,DBH-01,\n"
        "张三,,town,QT,DBH-01,\n"
        "李四,13900000002,town,CD,LGH-01,\n"
        "王五,13900000003,town,CD,LGH-01,8001\n"
        "赵六,13900000004,town,CD,LGH-01,8001\n"
    )
    batch, report = await _load(store, settings, _files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows))
    assert sorted(_errors(batch)) == [
        ("chiefs.csv", 3, "same_person"),
        ("chiefs.csv", 4, "deactivated"),
        ("chiefs.csv", 5, "duplicate_telegram"),
        ("chiefs.csv", 6, "duplicate_telegram"),
    ]
    assert not report.written


async def test_a_big_import_writes_in_short_transactions_and_stops_at_a_row_taken_meanwhile(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _files(tmp_path, areas_csv=AREAS, reaches_csv=REACHES)
    rows = (
        "张三,13900000001,town,QT,DBH-01,\n李四,13900000002,town,CD,LGH-01,7002\n王五,13900000003,village,QT,XM-01,\n"
    )
    paths = [*base, *_files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows)]
    real_check = registry_import.check

    async def check_then_someone_takes_7002(store: Store, batch: Batch) -> None:
        """The check passes; then, before the import reaches Li Si's row, an admin joins with Telegram id 7002."""
        await real_check(store, batch)
        admin = await store.people.record_contact(7002, name="Admin", username=None, language_code=None, started=True)
        await store.people.grant_role(admin.id, "admin")

    monkeypatch.setattr(registry_import, "check", check_then_someone_takes_7002)
    done_rows: list[int] = []
    batch = read_files(paths)
    report = await run_import(
        store,
        settings,
        batch,
        today=TODAY,
        write_seconds=0,
        pause_seconds=0,
        progress=lambda done, _: done_rows.append(done),
    )
    assert batch.row_errors == []
    assert report.stopped_at is not None and not report.written
    assert (Path(report.stopped_at.file).name, report.stopped_at.line) == ("chiefs.csv", 3)
    assert report.stopped_at.key == "registry.check.telegram_taken"
    # Areas and reaches and 张三 are written (one row per transaction here), 李四 and what follows are not.
    assert report.rows_written == 6 and done_rows == [1, 2, 3, 4, 5, 6]
    assert await store.people.by_phone("13900000001") is not None
    assert await store.people.by_phone("13900000002") is None

    # Fixed (李四 without the taken id), the same import again writes exactly the rest.
    monkeypatch.undo()
    rows = rows.replace(",7002", ",")
    batch, report = await _load(store, settings, [*base, *_files(tmp_path, chiefs_csv=CHIEFS_HEADER + rows)])
    assert report.written and report.stopped_at is None
    assert (report.areas.unchanged, report.reaches.unchanged) == (2, 3)
    assert (report.chiefs.unchanged, report.chiefs.created) == (1, 2)
