"""Office staff in the chiefs registry file: a row with the areas its office covers makes an admin of that
scope (a town's river chief office), by the English or the Chinese header, with the separators offices type."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage import Store
from storage.records import PersonRecord
from tests.cli import another_data_dir, cli_database
from tests.conftest import Cli, SeparateDatabase

AREAS = "code,name_zh,name_en\nQT,曲塘镇,Qutang Town\nCD,城东街道,Chengdong Subdistrict\nCN,城南街道,Chengnan\n"
REACHES = "code,name_zh,name_en,area_code,level,length_km,tags\nDBH-01,丁堡河,Dingbao River,QT,town,2.5,\n"


def people(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, tuple[PersonRecord, dict[int, str]]]:
    """Everyone in the store of the commands run in `tmp_path` (or with `env`), with the area codes by id."""

    async def run() -> dict[str, tuple[PersonRecord, dict[int, str]]]:
        data_dir = Path(env["DATA_DIR"]) if env else tmp_path / "data"
        async with await Store.open(cli_database(data_dir, env)) as store:
            codes = {a.id: a.code for a in await store.areas.all()}
            found, _ = await store.people.search("", limit=50)
            return {p.name: (p, codes) for p in found}

    return asyncio.run(run())


def scope_codes(record: PersonRecord, codes: dict[int, str]) -> list[str]:
    return sorted(codes[a] for a in record.scope)


def test_office_staff_rows_make_scoped_admins_by_either_header(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "areas.csv").write_text(AREAS, encoding="utf-8")
    (tmp_path / "reaches.csv").write_text(REACHES, encoding="utf-8")
    (tmp_path / "chiefs.csv").write_text(
        "name,phone,level,area_code,reach_codes,telegram_id,office_areas\n"
        "王五,13800000001,town,QT,DBH-01,,\n"
        "陈文,13800000002,,CD,,,CD;CN\n",
        encoding="utf-8",
    )
    files = [tmp_path / name for name in ("areas.csv", "reaches.csv", "chiefs.csv")]
    code, _, err = cli("registry", "import", *files)
    assert code == 0, err
    found = people(tmp_path)
    wang, codes = found["王五"]
    assert wang.roles == {"chief": "town"} and wang.scope == ()
    chen, _ = found["陈文"]
    assert chen.roles == {"admin": None} and scope_codes(chen, codes) == ["CD", "CN"]

    # The Chinese header, full-width separators: the scope follows the file; a chief may be office staff too.
    (tmp_path / "chiefs2.csv").write_text(
        "name,phone,level,area_code,reach_codes,telegram_id,管辖片区\n"
        "王五,13800000001,town,QT,DBH-01,,QT、CD\n"
        "陈文,13800000002,,CD,,,CN\n"
        "李四,13800000003,,QT,,,QT；CD，CN\n",
        encoding="utf-8",
    )
    code, _, err = cli("registry", "import", tmp_path / "chiefs2.csv")
    assert code == 0, err
    found = people(tmp_path)
    assert found["王五"][0].roles == {"chief": "town", "admin": None}
    assert scope_codes(found["王五"][0], codes) == ["CD", "QT"]
    assert scope_codes(found["陈文"][0], codes) == ["CN"]
    assert found["李四"][0].roles == {"admin": None} and scope_codes(found["李四"][0], codes) == ["CD", "CN", "QT"]


def test_an_office_row_naming_an_unknown_area_is_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "areas.csv").write_text(AREAS, encoding="utf-8")
    (tmp_path / "chiefs.csv").write_text(
        "name,phone,level,area_code,reach_codes,telegram_id,office_areas\n陈文,13800000002,,CD,,,CD;XX\n",
        encoding="utf-8",
    )
    code, _, err = cli("registry", "import", tmp_path / "areas.csv", tmp_path / "chiefs.csv")
    assert code != 0
    assert "XX" in err
    assert "陈文" not in people(tmp_path)


def test_office_staff_survive_a_registry_round_trip(
    cli: Cli, tmp_path: Path, separate_database: SeparateDatabase
) -> None:
    """`registry export` writes the office_areas column when there is office staff, in CSV and in XLSX, and a
    fresh database importing the export has the same offices (a town's office is not lost on the way)."""
    (tmp_path / "areas.csv").write_text(AREAS, encoding="utf-8")
    (tmp_path / "reaches.csv").write_text(REACHES, encoding="utf-8")
    (tmp_path / "chiefs.csv").write_text(
        "name,phone,level,area_code,reach_codes,telegram_id,office_areas\n"
        "王五,13800000001,town,QT,DBH-01,,QT\n"
        "陈文,13800000002,,CD,,,CD;CN\n",
        encoding="utf-8",
    )
    files = [tmp_path / name for name in ("areas.csv", "reaches.csv", "chiefs.csv")]
    assert cli("registry", "import", *files)[0] == 0
    out = tmp_path / "out"
    code, _, err = cli("registry", "export", out)
    assert code == 0, err
    chiefs = (out / "chiefs.csv").read_text(encoding="utf-8-sig").splitlines()
    assert chiefs[0].endswith(",office_areas")
    assert "陈文,13800000002,,CD,,,CD;CN" in chiefs
    workbook = tmp_path / "registry.xlsx"
    assert cli("registry", "export", "--format", "xlsx", "--out", workbook, DEFAULT_LANGUAGE="zh")[0] == 0
    for source in ([out / "areas.csv", out / "reaches.geojson", out / "chiefs.csv"], [workbook]):
        fresh = another_data_dir(tmp_path / f"fresh-{len(source)}" / "data", separate_database())
        code, _, err = cli("registry", "import", *source, **fresh)
        assert code == 0, err
        again = people(tmp_path, fresh)
        wang, codes = again["王五"]
        assert wang.roles == {"chief": "town", "admin": None} and scope_codes(wang, codes) == ["QT"]
        chen, _ = again["陈文"]
        assert chen.roles == {"admin": None} and scope_codes(chen, codes) == ["CD", "CN"]
