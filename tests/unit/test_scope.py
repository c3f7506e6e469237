"""Office scope as stored and as the bot sees it: the table, the person's areas, and who hears about an area."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.people import PeopleService, Person, office_of
from storage import Store
from storage.migrate import bundled_migrations


async def test_migration_from_0014_keeps_admins_county_wide(tmp_path: Path) -> None:
    path = tmp_path / "riverbot.sqlite3"
    async with await Store.open(path, migrations=bundled_migrations()[:14]) as store:
        admin = await store.people.create(name="Admin", telegram_id=5)
        await store.people.grant_role(admin, "admin")
        await store.areas.upsert("CD", "城东片区", "Chengdong")
    async with await Store.open(path) as store:
        assert "admin_scopes" in await store.table_names()
        record = await store.people.by_id(admin)
        assert record is not None and record.scope == () and record.roles == {"admin": None}


async def test_a_scope_is_set_and_read_whole(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        assert "admin_scopes" in await store.table_names()
        cd, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
        cn, _ = await store.areas.upsert("CN", "城南片区", "Chengnan")
        admin = await store.people.create(name="Admin", telegram_id=5)
        await store.people.grant_role(admin, "admin")
        assert await store.people.by_telegram_id(5) is not None  # cached now: a change must still show
        assert await store.people.set_scope(admin, [cn, cd, cd])
        assert not await store.people.set_scope(admin, [cd, cn])
        assert await store.people.scope(admin) == (cd, cn)
        record = await store.people.by_telegram_id(5)
        assert record is not None and record.scope == (cd, cn)
        assert await store.people.set_scope(admin, [])
        record = await store.people.by_telegram_id(5)
        assert record is not None and record.scope == ()
        # An area that does not exist is refused, and the scope before it stays.
        await store.people.set_scope(admin, [cd])
        with pytest.raises(Exception, match="FOREIGN KEY"):
            await store.people.set_scope(admin, [cd, 999])
        assert await store.people.scope(admin) == (cd,)


async def test_bootstrap_admins_are_always_county_wide(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path, admin_ids=frozenset({5}), default_language="zh")
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        cd, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
        people = PeopleService(store, settings)
        boot = await store.people.create(name="Boot", telegram_id=5)
        town = await store.people.create(name="Town", telegram_id=6)
        for person_id in (boot, town):
            await store.people.grant_role(person_id, "admin")
            await store.people.set_scope(person_id, [cd])
        boot_person, town_person = await people.find(5), await people.find(6)
        assert boot_person is not None and boot_person.areas is None and boot_person.is_county_admin
        assert town_person is not None and town_person.areas == frozenset({cd}) and not town_person.is_county_admin


def admin(person_id: int, areas: set[int] | None, *, reachable: bool = True) -> Person:
    return Person(
        person_id, person_id, f"a{person_id}", "zh", frozenset({"admin"}), None, True,
        started=reachable, areas=None if areas is None else frozenset(areas),
    )  # fmt: skip


def test_the_office_of_an_area_is_its_town_office_else_the_county() -> None:
    county, east, south, gone = admin(1, None), admin(2, {10}), admin(3, {20}), admin(4, {30}, reachable=False)
    both = admin(5, {10, 20})
    everyone = [county, east, south, gone, both]
    assert office_of(everyone, 10) == [east, both]
    assert office_of(everyone, 20) == [south, both]
    # A town whose only office cannot be reached, a town with none, and something of no area: the county.
    assert office_of(everyone, 30) == [county]
    assert office_of(everyone, 40) == [county]
    assert office_of(everyone, None) == [county]
    chief = Person(6, 6, "c", "zh", frozenset({"chief"}), "town", True, started=True, areas=frozenset({40}))
    assert office_of([county, chief], 40) == [county]
