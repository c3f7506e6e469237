"""Which invites to renew, and which to hand over: people who have not joined yet, one valid invite each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import invites
from bot.config import Settings, load_settings
from bot.invites import InviteRole, invite_link, issue, not_joined, renewal_candidates
from storage import Store
from storage.records import InviteRecord


def unused(person_id: int, role: str, *, joined: bool = False) -> InviteRecord:
    now = datetime.now(UTC)
    return InviteRecord(
        id=person_id * 10,
        code=f"c{person_id}{role}",
        person_id=person_id,
        person_name=f"p{person_id}",
        person_telegram_id=5000 + person_id if joined else None,
        role=role,
        created_by=None,
        created_at=now,
        expires_at=now - timedelta(days=1),
        used_at=None,
        used_by=None,
    )


@pytest.mark.parametrize(
    ("invites_held", "unjoined_chiefs", "expected"),
    [
        ([], [], {}),
        ([unused(1, "admin")], [], {1: "admin"}),
        ([unused(1, "chief")], [], {1: "chief"}),
        ([unused(1, "admin", joined=True)], [], {}),  # joined meanwhile: needs no link
        ([], [2], {2: "chief"}),  # registered by the registry import, never invited
        ([unused(2, "admin"), unused(2, "chief")], [2], {2: "admin"}),  # the newest invite decides the role
        ([unused(1, "weird")], [], {1: "chief"}),  # an unknown role renews as the safer one
    ],
)
def test_who_gets_a_renewed_invite(
    invites_held: list[InviteRecord], unjoined_chiefs: list[int], expected: dict[int, InviteRole]
) -> None:
    assert renewal_candidates(invites_held, unjoined_chiefs) == expected


async def test_renewal_issues_only_what_is_missing(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path, invite_days=7)
    async with await Store.open(settings.database) as store:
        area_id, _ = await store.areas.upsert("A1", "一区", "Area 1")
        chief = await store.people.create(name="赵六", home_area_id=area_id)
        await store.people.grant_role(chief, "chief", level="town")
        admin = await store.people.create(name="钱七")
        await invites.issue(store, settings, admin, "admin")
        assert await invites.renew(store, settings) == 1  # the chief had none; the admin's is still valid
        assert await invites.renew(store, settings) == 0
        waiting = {w.invite.person_id: w for w in await invites.outstanding(store)}
        assert set(waiting) == {chief, admin}
        assert waiting[chief].level == "town" and waiting[chief].area is not None
        assert waiting[admin].level is None and waiting[admin].area is None


async def test_not_joined_lists_invites_not_accepted_within_the_scope(store: Store, settings: Settings) -> None:
    """/people's "not joined yet": newest invite per person, expired ones too; a scoped office sees its areas."""
    east, _ = await store.areas.upsert("CD", "城东", "East")
    south, _ = await store.areas.upsert("CN", "城南", "South")
    one = await store.people.create(name="甲", phone="13900000001", home_area_id=east)
    two = await store.people.create(name="乙", phone="13900000002", home_area_id=south)
    for person in (one, two):
        await store.people.grant_role(person, "chief", level="town")
        await issue(store, settings, person, "chief")
    await store.invites.revoke_for_person(two)
    everyone = await not_joined(store)
    assert [(w.person.name, w.level, w.expired(datetime.now(UTC))) for w in everyone] == [
        ("乙", "town", True),
        ("甲", "town", False),
    ]
    assert [w.person.name for w in await not_joined(store, frozenset({east}))] == ["甲"]
    expired = everyone[0].invite.id
    assert (await invite_link(store, settings, expired, renew=True, areas=frozenset({east}))).state == "gone"
    renewed = await invite_link(store, settings, expired, renew=True)
    assert renewed.state == "renewed" and renewed.waiting is not None
    assert renewed.waiting.invite.code != everyone[0].invite.code
    again = await invite_link(store, settings, expired, renew=True)
    assert again.state == "valid" and again.waiting is not None
    assert again.waiting.invite.code == renewed.waiting.invite.code


async def test_a_town_office_handles_only_admin_invites_within_its_scope(store: Store, settings: Settings) -> None:
    """An admin invite forwarded by a town's office must not give anyone more than the office has itself."""
    east, _ = await store.areas.upsert("CD", "城东", "East")
    south, _ = await store.areas.upsert("CN", "城南", "South")
    wide = await store.people.create(name="两镇", home_area_id=east)
    await store.people.set_scope(wide, (east, south))
    county = await store.people.create(name="全县", home_area_id=east)
    own = await store.people.create(name="本镇")
    await store.people.set_scope(own, (east,))
    for person in (wide, county, own):
        await issue(store, settings, person, "admin")
        if person != own:
            await store.invites.revoke_for_person(person)  # expired: a renewal is what would be forwarded
    ids = {waiting.person.id: waiting.invite.id for waiting in await not_joined(store)}
    town = frozenset({east})
    assert [w.person.name for w in await not_joined(store, town)] == ["本镇"]
    for person in (wide, county):
        for renew in (False, True):
            assert (await invite_link(store, settings, ids[person], renew=renew, areas=town)).state == "gone"
        assert await store.invites.pending_for_person(person, now=datetime.now(UTC)) is None  # nothing issued
    assert (await invite_link(store, settings, ids[own], renew=False, areas=town)).state == "valid"
    assert (await invite_link(store, settings, ids[wide], renew=False)).state == "expired"  # the county may
