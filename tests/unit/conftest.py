"""Fixtures the unit tests share: settings on a fresh data directory, and a store opened on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from storage import Store


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env_file=None, data_dir=tmp_path / "data")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with await Store.open(settings.database) as opened:
        yield opened


@pytest.fixture
async def workers(settings: Settings) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, each opened as a webhook worker opens its own (shared): two workers' views."""
    first = await Store.open(settings.database, shared=True)
    second = await Store.open(settings.database, shared=True)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()
