"""The office's own words in registry files: header and level aliases, list separators, spreadsheet cells, CRS names."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.registry import (
    COLUMNS,
    GEOMETRY_COLUMN,
    OFFICE_AREAS,
    canonical_header,
    cell_text,
    crs_name,
    header_names,
    kind_of_header,
    level_of,
    split_list,
)


def test_chinese_and_english_headers_name_the_same_columns() -> None:
    assert canonical_header(["姓名", " 联系电话 ", "河长级别", "所属乡镇", "负责河段", "Telegram ID"]) == [
        "name",
        "phone",
        "level",
        "area_code",
        "reach_codes",
        "telegram_id",
    ]
    assert canonical_header(["长度（km）", "长度(km)", "Length (km)", "*编码", "备注"]) == [
        "length_km",
        "length_km",
        "length_km",
        "code",
        "备注",
    ]
    assert kind_of_header(canonical_header(["片区编码", "名称", "英文名称"])) == "areas"
    assert kind_of_header(canonical_header(["联系人", "电话"])) is None


def test_every_column_has_a_header_in_both_languages() -> None:
    columns = {c for kind in COLUMNS.values() for c in kind} | {GEOMETRY_COLUMN, OFFICE_AREAS}
    assert set(header_names("en")) == columns == set(header_names("zh_CN"))
    assert header_names("en")["name_zh"] == "name_zh" and header_names("zh_CN")["phone"] == "手机号"


@pytest.mark.parametrize(
    ("word", "level"),
    [
        ("市级", "city"),
        ("市", "city"),
        ("县级", "county"),
        ("区级", "county"),
        ("镇级", "town"),
        ("乡级", "town"),
        ("街道级", "town"),
        ("镇", "town"),
        ("村级", "village"),
        ("村", "village"),
        ("Town", "town"),
        ("省级", None),
    ],
)
def test_level_words(word: str, level: str | None) -> None:
    assert level_of(word) == level


def test_lists_split_on_chinese_punctuation_and_spaces() -> None:
    for text in (
        "TYY-01；TYY-02",
        "TYY-01、TYY-02",
        "TYY-01，TYY-02",
        "TYY-01;TYY-02",
        "TYY-01\u3000TYY-02",
        " TYY-01 , TYY-02;",
    ):
        assert split_list(text) == ["TYY-01", "TYY-02"], text


def test_spreadsheet_cells_read_as_typed() -> None:
    assert cell_text(13900000001.0) == "13900000001"
    assert cell_text(13900000001) == "13900000001"
    assert cell_text(2.5) == "2.5"
    assert cell_text(datetime(2026, 11, 2)) == "2026-11-02"
    assert cell_text(date(2026, 11, 2)) == "2026-11-02"
    assert cell_text(None) == "" and cell_text("  x ") == "x" and cell_text("'=A1") == "=A1"


def test_crs_names() -> None:
    assert crs_name(4547) == "EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"
    assert crs_name(4527) == "EPSG:4527 (CGCS2000 / 3-degree Gauss-Kruger zone 39)"
    assert crs_name(4498) == "EPSG:4498 (CGCS2000 / Gauss-Kruger zone 20)"
    assert crs_name(2435) == "EPSG:2435 (Beijing 1954 / 3-degree Gauss-Kruger CM 114E)"
    assert crs_name(3857) == "EPSG:3857 (WGS 84 / Pseudo-Mercator)"
    assert crs_name(12345) == "EPSG:12345"
