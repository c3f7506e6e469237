"""Which invites to renew, and which to hand over: people who have not joined yet, one valid invite each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import invites
from bot.config import load_settings
from bot.invites import InviteRole, renewal_candidates
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
    async with await Store.open(settings.database_path) as store:
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
