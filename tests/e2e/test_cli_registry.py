"""`riverbot registry import|export` and `riverbot invites` as the office runs them, in process."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.cli import _ProgressBar
from bot.invites import BOT_USERNAME_KEY
from storage import Store
from tests.cli import another_data_dir, cli_database
from tests.conftest import Cli, SeparateDatabase

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "registry"
T = TypeVar("T")
AREAS = "code,name_zh,name_en\nQT,曲塘镇,Qutang Town\nCD,城东街道,Chengdong Subdistrict\n"
REACHES = "code,name_zh,name_en,area_code,level,length_km,tags\nDBH-01,丁堡河,Dingbao River,QT,town,2.5,\n"
CHIEFS = "name,phone,level,area_code,reach_codes,telegram_id\n"


def _db(tmp_path: Path, query: Callable[[Store], Awaitable[T]], env: dict[str, str] | None = None) -> T:
    """`query` on the store the commands work on: by default those run in `tmp_path`; else those run with `env`."""

    async def run() -> T:
        data_dir = Path(env["DATA_DIR"]) if env else tmp_path / "data"
        async with await Store.open(cli_database(data_dir, env)) as store:
            return await query(store)

    return asyncio.run(run())


def _write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_the_sample_loads_in_one_command_and_again_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    sample = sorted(EXAMPLES.iterdir())  # what the shell makes of examples/registry/*, README.md included
    code, out, err = cli("registry", "import", *sample)
    assert code == 0, err
    assert "Areas: 5 new" in out and "Reaches: 32 new" in out and "Chiefs: 24 new" in out
    assert "37 started" in out and "Invites: 19 new" in out and "5 linked" in out
    assert "README.md: skipped" in err and "Traceback" not in err
    code, out, _ = cli("registry", "import", *sample)
    assert code == 0
    assert "5 unchanged" in out and "32 unchanged" in out and "24 unchanged" in out
    assert "0 started, 0 ended" in out and "Invites: 0 new" in out


def test_export_and_import_round_trip_byte_for_byte(
    cli: Cli, tmp_path: Path, separate_database: SeparateDatabase
) -> None:
    assert cli("registry", "import", *sorted(EXAMPLES.glob("*.*sv")), EXAMPLES / "reaches.geojson")[0] == 0
    code, out, _ = cli("registry", "export", tmp_path / "one")
    assert code == 0 and "5 areas" in out and "32 reaches" in out and "24 chiefs" in out
    exported = sorted((tmp_path / "one").iterdir())
    assert [p.name for p in exported] == ["areas.csv", "chiefs.csv", "reaches.geojson"]
    assert exported[0].read_bytes().startswith(b"\xef\xbb\xbf") and exported[1].read_bytes().startswith(b"\xef\xbb\xbf")
    collection = json.loads(exported[2].read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 32
    assert set(collection["features"][0]["properties"]) == {
        "code",
        "name_zh",
        "name_en",
        "area_code",
        "level",
        "length_km",
        "tags",
    }

    fresh = another_data_dir(tmp_path / "fresh", separate_database())
    code, _, err = cli("registry", "import", *exported, **fresh)
    assert code == 0, err
    assert cli("registry", "export", tmp_path / "two", **fresh)[0] == 0
    for first in exported:
        assert (tmp_path / "two" / first.name).read_bytes() == first.read_bytes(), first.name
    assert _db(tmp_path, _contents) == _db(tmp_path, _contents, env=fresh)


async def _contents(store: Store) -> dict[str, Any]:
    areas = {a.id: a.code for a in await store.areas.all()}
    return {
        "areas": [(a.code, a.name_zh, a.name_en) for a in await store.areas.all()],
        "reaches": [
            (r.code, r.name_zh, r.name_en, r.area_code, r.level, r.length_km, r.tags, r.geometry, r.bbox)
            for r in await store.reaches.all()
        ],
        "chiefs": sorted(
            (p.name, p.phone, p.telegram_id, sorted(p.roles.items()), areas.get(p.home_area_id or 0))
            for p in await store.people.chiefs()
        ),
        "assignments": sorted(
            (a.person_name, a.reach_code, a.level, a.starts_on)
            for a in await store.assignments.all()
            if a.ends_on is None
        ),
    }


def test_accepted_encodings(cli: Cli, tmp_path: Path) -> None:
    areas = _write(tmp_path, "areas.csv", AREAS.encode("gb18030"))
    reaches = _write(tmp_path, "reaches.csv", REACHES.encode("utf-8-sig"))
    code, _, err = cli("registry", "import", reaches, areas)
    assert code == 0, err
    names = _db(tmp_path, lambda s: s.areas.all())
    assert [a.name_zh for a in names] == ["城东街道", "曲塘镇"]


GEOJSON_POINT = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"code": "A-1", "name_zh": "甲", "name_en": "A", "area_code": "QT", "level": "town"},
            "geometry": {"type": "LineString", "coordinates": [[120.4, 32.5], [120.5, 32.6]]},
        },
        {
            "type": "Feature",
            "properties": {"code": "B-1", "name_zh": "乙", "name_en": "B", "area_code": "QT", "level": "town"},
            "geometry": {"type": "Point", "coordinates": [120.4, 32.5]},
        },
        {
            "type": "Feature",
            "properties": {"code": "C-1", "name_zh": "丙", "name_en": "C", "area_code": "QT", "level": "town"},
            "geometry": {"type": "LineString", "coordinates": [[32.5, 120.4], [32.6, 120.5]]},
        },
    ],
}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("areas.csv", b"code,name_zh,name_en\n\xff\xfe\xfa,\x81,x\n", "areas.csv: Cannot tell the file's encoding"),
        ("areas.csv", "id,title\n1,2\n", "areas.csv:1: Cannot tell what this file holds"),
        (
            "chiefs.csv",
            "name,phone,level,reach_codes,telegram_id\n张三,,town,,\n",
            "chiefs.csv:1: Cannot tell what this file holds (header: name,phone,level,reach_codes,telegram_id)",
        ),
        ("reaches.csv", REACHES + "XM-01,新民河,Xinmin,ZZ,village,,\n", 'reaches.csv:3: Area code "ZZ" is neither'),
        ("areas2.csv", AREAS + "QT,曲塘,Qutang\n", 'areas2.csv:4: "QT" appears twice in this file (first on line 2)'),
        ("reaches.geojson", json.dumps(GEOJSON_POINT), "reaches.geojson: feature 2: The geometry is a Point"),
        (
            "reaches.geojson",
            json.dumps(GEOJSON_POINT),
            "reaches.geojson: feature 3: Coordinate [32.5, 120.4] is out of range; latitude and longitude look swapped",
        ),
        ("reaches.csv", REACHES.replace(",town,", ",province,"), 'reaches.csv:2: Level “province” is not known'),
        (
            "chiefs.csv",
            CHIEFS + "张三,13900000001,town,QT,DBH-01;NOPE-1,\n",
            'chiefs.csv:2: Reach code "NOPE-1" is neither',
        ),
        (
            "reaches.geojson",
            '{"type": "FeatureCollection",\n "features": [}',
            "reaches.geojson:2: The GeoJSON cannot be read",
        ),
    ],
)
def test_bad_input_is_reported_with_its_line_and_nothing_is_written(
    cli: Cli, tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    areas = _write(tmp_path, "areas.csv", AREAS) if name != "areas.csv" else None
    reaches = _write(tmp_path, "reaches.csv", REACHES) if name == "chiefs.csv" else None
    bad = _write(tmp_path, name, content)
    files = [p for p in (areas, reaches) if p is not None and p != bad] + [bad]
    code, _, err = cli("registry", "import", *files)
    assert code == 1 and expected in err and "Traceback" not in err
    assert "Nothing was written" in err
    assert _db(tmp_path, lambda s: s.areas.all()) == []


def test_skip_bad_loads_the_good_rows_and_dry_run_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    areas = _write(tmp_path, "areas.csv", AREAS)
    reaches = _write(tmp_path, "reaches.csv", REACHES)
    chiefs = _write(tmp_path, "chiefs.csv", CHIEFS + "张三,13900000001,town,QT,DBH-01,\n李四,13900000002,town,ZZ,,\n")
    code, out, err = cli("registry", "import", areas, reaches, chiefs, "--dry-run")
    assert code == 1 and "chiefs.csv:3:" in err and "1 bad row." in err and out == ""

    code, out, err = cli("registry", "import", areas, reaches, chiefs, "--dry-run", "--skip-bad")
    assert code == 0 and "chiefs.csv:3:" in err and "1 bad row would be skipped" in err
    assert "Dry run: nothing was written" in out
    assert "chiefs.csv:2: new chief 张三 (town-level chief)" in out
    assert "chiefs.csv:2: 张三 takes charge of reach DBH-01 from" in out and "Chiefs: 1 new" in out
    assert _db(tmp_path, lambda s: s.areas.all()) == []

    code, out, err = cli("registry", "import", areas, reaches, chiefs, "--skip-bad")
    assert code == 0 and "1 bad row was skipped" in err and "Chiefs: 1 new" in out
    assert [p.name for p in _db(tmp_path, lambda s: s.people.chiefs())] == ["张三"]
    code, out, _ = cli("registry", "import", areas, reaches, chiefs, "--skip-bad", "--dry-run")
    assert code == 0 and "(no changes)" in out


def test_kind_option_and_chinese_output(cli: Cli, tmp_path: Path) -> None:
    # A header that names no kind by itself: --kind says what the file holds.
    areas = _write(tmp_path, "areas.csv", "code,name_zh,name_en,remark\nQT,曲塘镇,Qutang Town,x\n")
    code, out, err = cli("registry", "import", "--kind", "areas", areas, DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    assert "片区：新增 1 个，更新 0 个，无变化 0 个。" in out
    code, _, err = cli("registry", "import", _write(tmp_path, "x.csv", "id,title\n1,2\n"), DEFAULT_LANGUAGE="zh")
    assert code == 1 and "x.csv:1: 无法判断文件类型" in err and "未写入任何数据" in err


def test_invites_list_links_and_renew(cli: Cli, tmp_path: Path) -> None:
    assert cli("registry", "import", *sorted(EXAMPLES.iterdir()))[0] == 0
    code, out, err = cli("invites")
    assert code == 2 and "--bot-username" in err and "riverbot run" in err and out == ""
    code, out, _ = cli("invites", "--bot-username", "@my_river_bot")
    assert code == 0 and "19 pending invites" in out
    assert out.count("https://t.me/my_river_bot?start=") == 19
    assert "周立新 (county-level chief, QT Qutang Town), phone 13800005667, valid until" in out
    assert cli("invites", "--bot-username", "no way")[0] == 2

    async def record_username_and_expire_invites(store: Store) -> None:
        await store.meta.set(BOT_USERNAME_KEY, "riverbot_test_bot")
        for invite in await store.invites.pending(now=datetime.now(UTC)):
            await store.invites.revoke_for_person(invite.person_id)

    _db(tmp_path, record_username_and_expire_invites)
    code, out, _ = cli("invites")
    assert code == 0 and "No pending invites." in out
    code, out, _ = cli("invites", "--renew", DEFAULT_LANGUAGE="zh")
    assert code == 0 and "已重新生成邀请 19 个。" in out and out.count("https://t.me/riverbot_test_bot?start=") == 19
    code, out, _ = cli("invites", "--renew")
    assert "Issued 0 fresh invites." in out and out.count("https://t.me/") == 19
    expiry = _db(tmp_path, lambda s: s.invites.pending(now=datetime.now(UTC)))[0].expires_at
    assert expiry - datetime.now(UTC) > timedelta(days=29)


def test_export_names_chiefs_without_an_area(cli: Cli, tmp_path: Path) -> None:
    async def chief_without_area(store: Store) -> None:
        person = await store.people.create(name="赵六")
        await store.people.grant_role(person, "chief", level="village")

    _db(tmp_path, chief_without_area)
    code, out, err = cli("registry", "export", tmp_path / "out")
    assert code == 0 and "1 chief to" in out and "赵六 has no home area" in err
    assert (tmp_path / "out" / "chiefs.csv").read_text(encoding="utf-8-sig").splitlines()[1] == "赵六,,village,,,"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    terminal = _Terminal()
    bar = _ProgressBar(terminal, "Writing", lambda rows, seconds: f"wrote {rows}")
    for done in range(1, 501):
        bar(done, 500)
    bar.close()
    shown = terminal.getvalue()
    assert shown.startswith("\rWriting [") and "500/500" in shown and "\n" not in shown

    log = io.StringIO()
    bar = _ProgressBar(log, "Writing", lambda rows, seconds: f"wrote {rows}")
    for done in range(1, 501):
        bar(done, 500)
    bar.close()
    assert log.getvalue() == "wrote 500\n"  # one line, not 500 redraws
    short = io.StringIO()
    bar = _ProgressBar(short, "Writing", lambda rows, seconds: f"wrote {rows}")
    bar(1, 1)
    bar.close()
    assert short.getvalue() == ""


def test_registry_export_escapes_formulas_and_import_reads_them_back(
    cli: Cli, tmp_path: Path, separate_database: SeparateDatabase
) -> None:
    """Finding 7 of issue 13: a chief's name or area name starting like a formula is written with a leading
    apostrophe (Excel shows it as text), and import takes the apostrophe off, so the round trip keeps the name."""
    areas = _write(tmp_path, "areas.csv", AREAS.replace("曲塘镇", "@SUM(1+1)"))
    reaches = _write(tmp_path, "reaches.csv", REACHES)
    chiefs = _write(tmp_path, "chiefs.csv", CHIEFS + '"=HYPERLINK(""http://x"",""y"")",+8613900000001,town,QT,DBH-01,\n')
    code, _, err = cli("registry", "import", areas, reaches, chiefs)
    assert code == 0, err
    assert cli("registry", "export", tmp_path / "one")[0] == 0
    areas_out = (tmp_path / "one" / "areas.csv").read_text(encoding="utf-8-sig")
    chiefs_out = (tmp_path / "one" / "chiefs.csv").read_text(encoding="utf-8-sig")
    assert "\nQT,'@SUM(1+1),Qutang Town\n" in areas_out
    assert chiefs_out.splitlines()[1].startswith("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+8613900000001,")

    fresh = another_data_dir(tmp_path / "fresh", separate_database())
    exported = sorted((tmp_path / "one").iterdir())
    code, _, err = cli("registry", "import", *exported, **fresh)
    assert code == 0, err
    assert _db(tmp_path, _contents) == _db(tmp_path, _contents, env=fresh)
    names = [p.name for p in _db(tmp_path, lambda s: s.people.chiefs(), env=fresh)]
    assert names == ['=HYPERLINK("http://x","y")']
    assert cli("registry", "export", tmp_path / "two", **fresh)[0] == 0
    for first in exported:
        assert (tmp_path / "two" / first.name).read_bytes() == first.read_bytes(), first.name


def test_geojson_nested_too_deep_is_one_line_not_a_traceback(cli: Cli, tmp_path: Path) -> None:
    """Finding 12 of issue 13: `registry import` crashed with a RecursionError traceback."""
    deep = '{"type": "FeatureCollection", "features": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    path = _write(tmp_path, "reaches.geojson", deep)
    code, _, err = cli("registry", "import", _write(tmp_path, "areas.csv", AREAS), path)
    assert code == 1 and "Traceback" not in err and "RecursionError" not in err
    assert f"{path}:1: " in err and "nested too deeply" in err
    assert _db(tmp_path, lambda s: s.areas.all()) == []


def test_registry_names_lose_invisible_characters_and_reserved_names_are_refused(cli: Cli, tmp_path: Path) -> None:
    """Finding 15 of issue 13: chief names from the office's spreadsheet are cleaned like any other name."""
    areas = _write(tmp_path, "areas.csv", AREAS)
    reaches = _write(tmp_path, "reaches.csv", REACHES)
    rows = "\u202e张三\u200b,13900000001,town,QT,DBH-01,\n系统,13900000002,town,QT,,\n"
    chiefs = _write(tmp_path, "chiefs.csv", CHIEFS + rows)
    code, _, err = cli("registry", "import", areas, reaches, chiefs)
    assert code == 1 and 'chiefs.csv:3: Name "系统" is reserved' in err and "Traceback" not in err
    code, _, err = cli("registry", "import", areas, reaches, chiefs, "--skip-bad")
    assert code == 0, err
    assert [p.name for p in _db(tmp_path, lambda s: s.people.chiefs())] == ["张三"]
