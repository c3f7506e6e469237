"""Who a person is to the bot: the bootstrap-admin rule (ADMIN_IDS) and the language they read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Language, Settings, load_settings
from bot.people import PeopleService, is_bootstrap_admin, language_for, person_from
from storage import Store
from storage.records import PersonRecord


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path, admin_ids=frozenset({900}), default_language="zh")


def record(telegram_id: int | None, roles: dict[str, str | None], **extra: object) -> PersonRecord:
    values: dict[str, object] = {
        "id": 1,
        "telegram_id": telegram_id,
        "name": "张三",
        "username": None,
        "language": None,
        "language_code": None,
        "phone": None,
        "active": True,
        "started_at": None,
        "blocked_at": None,
        "roles": roles,
    }
    values.update(extra)
    return PersonRecord(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("telegram_id", "stored", "admin", "chief_level"),
    [
        (900, {}, True, None),  # ADMIN_IDS: an admin before the store says so
        (900, {"admin": None}, True, None),
        (901, {}, False, None),
        (901, {"admin": None}, True, None),
        (None, {}, False, None),  # registered, never joined: no Telegram id to match
        (901, {"chief": "town"}, False, "town"),
        (900, {"chief": "village"}, True, "village"),
    ],
)
def test_the_bootstrap_admin_rule_is_merged_into_roles(
    settings: Settings, telegram_id: int | None, stored: dict[str, str | None], admin: bool, chief_level: str | None
) -> None:
    person = person_from(settings, record(telegram_id, stored))
    assert person.is_admin is admin
    assert is_bootstrap_admin(settings, telegram_id) is (telegram_id == 900)
    assert person.chief_level == chief_level


@pytest.mark.parametrize(
    ("chosen", "app_language", "expected"),
    [
        ("en", "zh-hans", "en"),  # their own choice first
        ("zh", "en-US", "zh"),
        (None, "en-GB", "en"),  # then Telegram's
        (None, "zh-hant", "zh"),
        (None, "fr", "en"),  # any other app language reads English
        (None, None, "zh"),  # no app language: the configured default
        ("xx", None, "zh"),
    ],
)
def test_language(settings: Settings, chosen: str | None, app_language: str | None, expected: Language) -> None:
    assert language_for(settings, chosen, app_language) == expected


def test_blocked_and_username_come_through(settings: Settings) -> None:
    person = person_from(settings, record(5, {}, username="amy", blocked_at=datetime.now(UTC)))
    assert person.username == "amy" and person.blocked


@pytest.mark.parametrize(
    ("telegram_id", "started", "blocked", "reachable"),
    [
        (5, True, False, True),
        (5, False, False, False),  # never opened the bot in private: Telegram refuses the message
        (5, True, True, False),  # blocked the bot since
        (None, True, False, False),  # registered from the registry, never joined
    ],
)
def test_reachable_means_the_bot_may_write_to_them(
    settings: Settings, telegram_id: int | None, started: bool, blocked: bool, reachable: bool
) -> None:
    now = datetime.now(UTC)
    stored = record(telegram_id, {}, started_at=now if started else None, blocked_at=now if blocked else None)
    person = person_from(settings, stored)
    assert person.started is started
    assert person.reachable is reachable


async def test_a_bootstrap_admin_first_seen_in_a_group_is_recorded(settings: Settings) -> None:
    async with await Store.open(settings.database) as store:
        people = PeopleService(store, settings)
        assert await people.met_in_group(901, name="Stranger", username=None) is None
        boss = await people.met_in_group(900, name="Boss", username="boss")
        assert boss is not None and boss.is_admin
        assert [p.id for p in await people.with_role("admin")] == [boss.id]
        # Not started in private: the office can't message them yet.
        assert await people.admin_chat_ids() == []
        met = await people.met_in_private(900, name="Boss", username="boss", language_code="en")
        assert met.id == boss.id and met.language == "en"
        assert await people.admin_chat_ids() == [900]
