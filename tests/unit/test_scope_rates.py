"""A town's office reports a chief who also answers for a reach in another town by its own town only: the rate and
the reaches its assessment report and its export show come from the chief's assignments inside its areas."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from bot.assessment import AssessmentService, parse_period
from bot.config import Settings
from bot.exports import export
from bot.i18n import Locales
from bot.tallies import Rate
from storage import Store
from tests.support import World

LOCALES = Locales.load()
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


async def two_towns(store: Store) -> tuple[int, int]:
    """Wang answers for one reach in each town; walks the western one every week, the eastern one never."""
    world = World(store)
    east = await world.area("CD", "城东", "East")
    west = await world.area("CX", "城西", "West")
    east_reach = await world.reach("CD-01", east, name_zh="东河", name_en="East River")
    west_reach = await world.reach("CX-01", west, name_zh="西河", name_en="West River")
    wang = await world.person("王五")
    await world.assign(wang, east_reach, "2026-01-01")
    await world.assign(wang, west_reach, "2026-01-01")
    for day in range(2, 30, 3):
        await world.patrol(wang, west_reach, f"2026-11-{day:02d} 09:00")
    return east, wang


async def test_the_assessment_report_rates_a_chief_by_the_offices_areas_only(store: Store, settings: Settings) -> None:
    east, wang = await two_towns(store)
    period = parse_period("2026-11", date(2026, 12, 2))
    assert period is not None
    service = AssessmentService(store, settings)
    whole = await service.build(period, office="X", language="zh")
    [county_row] = [c for c in whole.chiefs if c.person_id == wang]
    assert [code for code, _ in county_row.reaches] == ["CD-01", "CX-01"] and county_row.rate.done > 0
    town = await service.build(period, office="X", language="zh", areas=frozenset({east}))
    [row] = [c for c in town.chiefs if c.person_id == wang]
    assert row.reaches == (("CD-01", "东河"),)
    assert row.areas == (("CD", "城东"),)
    assert row.rate.done == 0 and row.rate.required > 0
    [east_row] = town.areas
    assert row.rate == east_row.rate == Rate(0, row.rate.required, row.rate.periods)


async def test_the_export_rates_a_chief_by_the_offices_areas_only(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    east, _ = await two_towns(store)
    out = tmp_path / "east.xlsx"
    await export(store, settings, LOCALES, language="en", fmt="xlsx", first=NOVEMBER[0], last=NOVEMBER[1], out=out,
                 areas=frozenset({east}))  # fmt: skip
    sheets = load_workbook(out)
    chiefs = [[cell.value for cell in row] for row in sheets[sheets.sheetnames[-1]].iter_rows(min_row=2)]
    assert [(r[0], r[1], r[2], r[4]) for r in chiefs] == [("王五", "CD-01", "CD", 0)]
