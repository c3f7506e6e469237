"""Scratch PostgreSQL databases for the tests about PostgreSQL itself (its schema, its compatibility functions):
they need a database of their own, empty or migrated, beside the one each test of a PostgreSQL run gets. They run
whenever RIVERBOT_TEST_POSTGRES names a server, on either engine's run, and are skipped otherwise."""

from __future__ import annotations

import getpass
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import POSTGRES_SERVER, TEST_ENGINE, _admin, _on_database

needs_postgres = pytest.mark.skipif(
    not POSTGRES_SERVER, reason="RIVERBOT_TEST_POSTGRES names no PostgreSQL server (scripts/pg-cluster starts one)"
)

_numbers = itertools.count(1)


async def create_database() -> str:
    """The URL of a new, empty database (from template0: nothing anyone added to template1)."""
    name = f"riverbot_scratch_{os.getpid()}_{next(_numbers)}"
    await _admin(POSTGRES_SERVER, f"CREATE DATABASE {name} TEMPLATE template0")
    return _on_database(POSTGRES_SERVER, name)


async def drop_database(url: str) -> None:
    await _admin(POSTGRES_SERVER, f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A new, empty database for the block, dropped after."""
    url = await create_database()
    try:
        yield url
    finally:
        await drop_database(url)


def with_password(url: str, password: str = "s3cret") -> str:
    """The URL with a password in it, for tests that nothing shows it: the one it has, else `password` (the test
    cluster trusts its socket, so any will do)."""
    parts = urlsplit(url)
    user, secret = parts.username or getpass.getuser(), parts.password or password
    return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.netloc.rsplit('@', 1)[-1]}"))


@asynccontextmanager
async def unmigrated_database() -> AsyncIterator[dict[str, str]]:
    """The environment for a command run on a database that does not exist yet, for the tests of what creates
    one: nothing on SQLite (DATA_DIR holds no file yet), and on a PostgreSQL run the DATABASE_URL of an empty
    database (the one each test gets is migrated already)."""
    if TEST_ENGINE != "postgresql":
        yield {}
        return
    async with scratch_database() as url:
        yield {"DATABASE_URL": url}
