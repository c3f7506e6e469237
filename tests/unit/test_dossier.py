"""The dossier's rules: its patrol rate is `riverbot stats`' and its periods add up to it, who may have a
reach's file, which reaches a tag takes, and the default range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.config import Settings
from bot.demo import generate
from bot.dossier import Dossiers, default_range
from bot.i18n import Locales
from bot.people import PeopleService
from bot.tallies import Rate, TallyService
from storage import Store
from storage.registry import ReachValues

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


async def test_the_periods_add_up_to_the_range_and_the_range_is_stats(store: Store, settings: Settings) -> None:
    await generate(store, settings, scale="small", seed=7, now=NOW)
    dossiers = Dossiers(store, settings, Locales.load())
    first, last = date(2025, 11, 1), date(2026, 10, 31)
    stats = await TallyService(store, settings).patrol_rate(first, last)
    checked = 0
    for row in stats.reaches:
        reach = await store.reaches.by_id(row.reach_id)
        assert reach is not None
        rate, periods = await dossiers.rates(reach, first, last)
        assert rate == row.rate
        total = Rate()
        for period in periods:
            assert first <= period.end <= last and period.rate.required > 0
            total += period.rate
        assert (total.done, total.required) == (rate.done, rate.required), reach.code
        checked += 1
    assert checked > 20


async def test_admins_and_the_reach_s_current_chiefs_may_have_its_file(store: Store, settings: Settings) -> None:
    area, _ = await store.areas.upsert("CD", "\u57ce\u4e1c", "Chengdong")
    ours, _ = await store.reaches.upsert(ReachValues("A-1", "A", "A", area, "town", 1.0, (), None, None))
    other, _ = await store.reaches.upsert(ReachValues("B-1", "B", "B", area, "town", 1.0, (), None, None))
    people = PeopleService(store, settings)
    ids = {}
    for name, role in (("admin", "admin"), ("holder", "chief"), ("former", "chief"), ("elsewhere", "chief")):
        ids[name] = await store.people.create(name=name, telegram_id=None, home_area_id=area)
        await store.people.grant_role(ids[name], role, level="town" if role == "chief" else None)
    volunteer = await store.people.create(name="volunteer", telegram_id=None, home_area_id=area)
    await store.people.grant_role(volunteer, "volunteer")
    start = date(2026, 1, 1)
    await store.assignments.assign(ids["holder"], ours, level="town", starts_on=start)
    await store.assignments.assign(ids["elsewhere"], other, level="town", starts_on=start)
    former, _ = await store.assignments.assign(ids["former"], ours, level="town", starts_on=start)
    await store.assignments.end(former, last_day=date(2026, 6, 30))
    dossiers = Dossiers(store, settings, Locales.load())
    expected = {"admin": True, "holder": True, "former": False, "elsewhere": False}
    for name, allowed in expected.items():
        person = await people.by_id(ids[name])
        assert person is not None
        assert await dossiers.may_have(person, ours) is allowed, name
    person = await people.by_id(volunteer)
    assert person is not None and not await dossiers.may_have(person, ours)


async def test_a_tag_takes_only_reaches_with_exactly_that_tag(store: Store, settings: Settings) -> None:
    area, _ = await store.areas.upsert("CD", "\u57ce\u4e1c", "Chengdong")
    other_area, _ = await store.areas.upsert("CN", "\u57ce\u5357", "Chengnan")
    for code, tags, where in (
        ("A-1", ("black_odorous",), area),
        ("B-1", ("black_odorous", "happy_river_demo"), other_area),
        ("C-1", ("blackXodorous",), area),  # "_" is a LIKE wildcard: it must not match
        ("D-1", ("black_odorous_old",), area),
        ("E-1", (), area),
    ):
        await store.reaches.upsert(ReachValues(code, code, code, where, "town", 1.0, tags, None, None))
    dossiers = Dossiers(store, settings, Locales.load())
    found = await dossiers.reaches_tagged("black_odorous")
    codes = [r.code for r in await store.reaches.by_ids(found)]
    assert sorted(codes) == ["A-1", "B-1"]
    # Typed in capitals, it is the same tag (as SQLite's LIKE always took it; PostgreSQL's LIKE minds case).
    assert await dossiers.reaches_tagged("Black_ODOROUS") == found
    scoped = await dossiers.reaches_tagged("black_odorous", areas=frozenset({other_area}))
    assert [r.code for r in await store.reaches.by_ids(scoped)] == ["B-1"]


def test_the_default_range_is_the_last_twelve_months() -> None:
    assert default_range(date(2026, 12, 2)) == (date(2025, 12, 3), date(2026, 12, 2))
    first, last = default_range(date(2028, 2, 29))
    assert (first, last) == (date(2027, 3, 1), date(2028, 2, 29))
    assert (last - first) + timedelta(days=1) == timedelta(days=366)
