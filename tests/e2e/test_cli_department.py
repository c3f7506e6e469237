"""`riverbot department add|list|remove`: the departments a problem can be transferred to, each with its contact,
who must be a person in the bot (found by phone, or by an exact name that only one person has)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage import Store
from tests.cli import cli_database
from tests.conftest import Cli


async def _people(path: str | Path) -> None:
    async with await Store.open(path) as store:
        await store.people.create(name="张三", phone="+8613800000001")
        await store.people.create(name="李四")
        await store.people.create(name="李四")


@pytest.fixture
def people(tmp_path: Path) -> str | Path:
    path = cli_database(tmp_path / "data")
    asyncio.run(_people(path))
    return path


async def _departments(path: str | Path) -> list[tuple[str, int]]:
    async with await Store.open(path) as store:
        return [(d.name, d.person_id) for d in await store.dispatch.departments()]


def test_add_list_and_remove_a_department(cli: Cli, people: str | Path) -> None:
    assert cli("department", "list") == (0, "No departments yet: riverbot department add NAME --contact PHONE\n", "")
    code, out, err = cli("department", "add", "城管局", "--contact", "+86 138 0000 0001")
    assert (code, out, err) == (0, "Department “城管局” registered.\n", "")
    code, out, _ = cli("department", "add", "水务局", "--contact", "张三", DEFAULT_LANGUAGE="zh")
    assert (code, out) == (0, "已登记部门“水务局”。\n")
    assert asyncio.run(_departments(people)) == [("城管局", 1), ("水务局", 1)]
    code, out, _ = cli("department", "list")
    assert out.splitlines() == ["城管局: 张三 (+8613800000001)", "水务局: 张三 (+8613800000001)"]
    # Refused, each with why: a taken name, nobody by that phone, two people of that name.
    code, _, err = cli("department", "add", "城管局", "--contact", "张三")
    assert (code, err) == (1, "A department named “城管局” exists already.\n")
    code, _, err = cli("department", "add", "环保局", "--contact", "13900000000")
    assert code == 1 and "Nobody in the bot is “13900000000”" in err
    code, _, err = cli("department", "add", "环保局", "--contact", "李四")
    assert code == 1 and "More than one person is named “李四”" in err
    assert cli("department", "remove", "水务局") == (0, "Department “水务局” removed.\n", "")
    code, _, err = cli("department", "remove", "水务局")
    assert (code, err) == (1, "There is no department named “水务局”.\n")
    assert asyncio.run(_departments(people)) == [("城管局", 1)]
