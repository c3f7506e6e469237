"""The office's rules: how a person's account reads, who may be (de)activated, which chiefs come first, and
what the office's reads return from a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.dialogs import Dialogs
from bot.joining import HeldReach, Joining, Roster
from bot.office import INVITE, SEARCH_SHOWN, Office, Status, chiefs_for, status_of, status_refusal, toggled
from bot.people import Person
from storage import Store
from storage.records import AssignmentRecord, ReachRecord


def person(
    id: int = 1,
    *,
    telegram_id: int | None = 100,
    active: bool = True,
    blocked: bool = False,
    name: str = "张三",
    home_area_id: int | None = None,
) -> Person:
    return Person(
        id=id,
        telegram_id=telegram_id,
        name=name,
        language="zh",
        roles=frozenset({"chief"}),
        chief_level="village",
        active=active,
        home_area_id=home_area_id,
        blocked=blocked,
    )


@pytest.mark.parametrize(
    ("active", "telegram_id", "blocked", "expected"),
    [
        (True, 100, False, "active"),
        (True, 100, True, "blocked"),
        (True, None, False, "invited"),
        (True, None, True, "invited"),  # never joined: blocking is not the news
        (False, 100, False, "inactive"),
        (False, None, False, "inactive"),  # deactivated says it all
        (False, 100, True, "inactive"),
    ],
)
def test_status_of_a_persons_account(active: bool, telegram_id: int | None, blocked: bool, expected: Status) -> None:
    assert status_of(person(active=active, telegram_id=telegram_id, blocked=blocked)) == expected


@pytest.mark.parametrize(("actor_id", "target_id", "allowed"), [(1, 2, True), (1, 1, False)])
def test_an_admin_may_not_change_their_own_status(actor_id: int, target_id: int, allowed: bool) -> None:
    assert (status_refusal(person(actor_id), person(target_id)) is None) is allowed


def admin(id: int, areas: frozenset[int] | None) -> Person:
    return Person(id, 100 + id, "admin", "zh", frozenset({"admin"}), None, True, areas=areas)


def held(area_id: int | None) -> HeldReach:
    """A reach held now in `area_id` (None: the reach left the registry)."""
    assignment = AssignmentRecord(1, 2, "x", 5, "R5", "village", date(2026, 1, 1), None, None, None)
    if area_id is None:
        return HeldReach(assignment, None)
    reach = ReachRecord(5, "R5", "五河", "R5", area_id, "A", "village", None, (), None, None)
    return HeldReach(assignment, reach)


@pytest.mark.parametrize(
    ("target", "reaches", "refusal"),
    [
        (admin(2, None), [], "scope.change_admin"),  # a county admin, wherever they live
        (admin(2, frozenset({10, 20})), [], "scope.change_admin"),  # a wider office
        (admin(2, frozenset({10})), [], None),
        (person(2), [held(10), held(20)], "scope.change_reaches"),  # a chief with a reach in another town
        (person(2), [held(None)], "scope.change_reaches"),  # a reach of no known area
        (person(2), [held(10)], None),
        (person(2), [], None),
    ],
)
def test_a_town_office_changes_only_people_wholly_within_its_areas(
    target: Person, reaches: list[HeldReach], refusal: str | None
) -> None:
    assert status_refusal(admin(1, frozenset({10})), target, reaches) == refusal
    assert status_refusal(admin(1, None), target, reaches) is None  # the county office may


@pytest.mark.parametrize(
    ("chosen", "tapped", "after"),
    [
        ([], 5, [5]),
        ([5], 5, []),
        ([3, 5, 7], 5, [3, 7]),
        ([3, 7], 5, [3, 7, 5]),
    ],
)
def test_tapping_a_reach_toggles_it(chosen: list[int], tapped: int, after: list[int]) -> None:
    before = list(chosen)
    assert toggled(chosen, tapped) == after
    assert chosen == before  # the dialog's own list is left as it was


def test_chiefs_of_the_reachs_own_area_come_first_then_by_name() -> None:
    reach = ReachRecord(
        id=1,
        code="R1",
        name_zh="一河",
        name_en="River 1",
        area_id=10,
        area_code="A10",
        level="village",
        length_km=None,
        tags=(),
        geometry=None,
        bbox=None,
    )
    chiefs = [
        person(1, name="Zhou", home_area_id=10),
        person(2, name="An", home_area_id=20),
        person(3, name="Bai", home_area_id=10),
        person(4, name="Chen", home_area_id=None),
    ]
    assert [p.name for p in chiefs_for(reach, chiefs)] == ["Bai", "Zhou", "An", "Chen"]


# -- against a store -------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path, admin_ids=frozenset({900}))


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


@pytest.fixture
def office(store: Store, settings: Settings) -> Office:
    return Office(store, settings, Dialogs(store), Joining(store, settings), Roster(store, settings))


async def test_people_pages_and_search(store: Store, office: Office) -> None:
    for i in range(SEARCH_SHOWN + 3):
        await store.people.create(name=f"李{i:02d}")
    await store.people.create(name="王五")
    first = await office.people_page("", 0)
    assert (first.total, first.page, first.pages, len(first.people)) == (SEARCH_SHOWN + 4, 0, 3, 8)
    last = await office.people_page("", 2)
    assert (last.page, len(last.people)) == (2, SEARCH_SHOWN + 4 - 16)
    searched = await office.people_page("李", 5)
    assert (searched.total, searched.page, searched.pages, len(searched.people)) == (SEARCH_SHOWN + 3, 0, 1, 20)
    assert [p.name for p in (await office.people_page("王", 0)).people] == ["王五"]


async def test_a_bootstrap_admin_is_an_admin_on_their_card(store: Store, office: Office) -> None:
    record = await store.people.record_contact(900, name="Boss", username="boss", language_code="en", started=True)
    card = await office.person_card(record.id)
    assert card is not None
    assert card.person.is_admin and card.person.username == "boss" and card.status == "active"
    assert await office.person_card(record.id + 1000) is None


async def test_deactivating_ends_assignments_once(store: Store, office: Office, settings: Settings) -> None:
    area_id, _ = await store.areas.upsert("A1", "一区", "Area 1")
    admin = person(await store.people.create(name="Admin"))
    joining = Joining(store, settings)
    code = await joining.create_invite(created_by=admin.id, role="chief", name="赵六", level="town", area_id=area_id)
    invite = await store.invites.by_code(code)
    assert invite is not None
    card = await joining.invite_card(invite)
    assert card is not None and card.level == "town" and card.area is not None and card.area.code == "A1"

    first = await office.deactivate(invite.person_id, by=admin)
    assert first is not None and first.changed and first.card.status == "inactive"
    again = await office.deactivate(invite.person_id, by=admin)
    assert again is not None and not again.changed and again.ended == 0
    back = await office.reactivate(invite.person_id, by=admin)
    assert back is not None and back.changed and back.card.status == "invited"


async def test_creating_an_invite_closes_the_dialog(store: Store, office: Office) -> None:
    admin_id = await store.people.create(name="Admin", telegram_id=555)
    admin = person(admin_id, telegram_id=555)
    await office.begin_invite(555)
    assert (await Dialogs(store).at(555, INVITE, "role")) is not None
    created = await office.create_invite(admin, {"role": "admin", "name": "钱七", "county": True})
    assert created.role == "admin" and created.level is None and created.reaches == []
    assert await Dialogs(store).get(555) is None


async def test_joining_merges_two_rows_that_assist_each_other_and_share_a_scope(store: Store) -> None:
    """The office's row and the Telegram row are one person: the assistant rows between them go (a person does not
    assist themselves), the scopes join, and the placeholder's other links follow."""
    east, _ = await store.areas.upsert("CD", "城东", "East")
    south, _ = await store.areas.upsert("CN", "城南", "South")
    own = (await store.people.record_contact(777, name="tg", username=None, language_code=None, started=True)).id
    placeholder = await store.people.create(name="钱七")
    chief = await store.people.create(name="王五")
    for person in (own, placeholder):
        await store.people.grant_role(person, "admin")
    await store.people.set_scope(own, (east,))
    await store.people.set_scope(placeholder, (east, south))
    await store.assistants.add(own, placeholder, by=None)
    await store.assistants.add(placeholder, own, by=None)
    await store.assistants.add(chief, placeholder, by=None)
    await store.assistants.add(chief, own, by=None)

    assert await store.people.adopt(placeholder, 777) == own
    record = await store.people.by_id(own)
    assert record is not None and record.name == "钱七" and record.scope == tuple(sorted((east, south)))
    assert [(a.chief_id, a.assistant_id) for a in await store.assistants.of_chief(chief)] == [(chief, own)]
    assert await store.assistants.of_chief(own) == []
