"""The collector's pause (bot/heap.py): counted, so that overlapping holders, across awaits or threads, never turn
the collector on under another, nor on when it was off before."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest

from bot.heap import collector_paused, holders


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_off_inside_and_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
        assert holders() == 1
    assert gc.isenabled()
    assert holders() == 0


def test_nested_holders_keep_it_off_until_the_last_leaves() -> None:
    with collector_paused():
        with collector_paused():
            assert holders() == 2
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_back_on() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    assert holders() == 0


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


async def test_overlapping_tasks_do_not_turn_it_on_under_each_other() -> None:
    first_in = asyncio.Event()
    second_out = asyncio.Event()
    seen: list[bool] = []

    async def first() -> None:
        with collector_paused():
            first_in.set()
            await second_out.wait()
            seen.append(gc.isenabled())  # the second left before this one: still off

    async def second() -> None:
        await first_in.wait()
        with collector_paused():
            await asyncio.sleep(0)
        second_out.set()

    await asyncio.gather(first(), second())
    assert seen == [False]
    assert gc.isenabled()


def test_threads_holding_at_once() -> None:
    inside = threading.Barrier(4)
    leave = threading.Event()
    off: list[bool] = []

    def hold() -> None:
        with collector_paused():
            inside.wait()
            leave.wait()
            off.append(not gc.isenabled())

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert holders() == 3
    leave.set()
    for thread in threads:
        thread.join()
    assert all(off)
    assert gc.isenabled()
    assert holders() == 0
