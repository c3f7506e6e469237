"""The cyclic garbage collector, paused while a tally builds a province's rows.

A province's weekly summaries and a year's stats build hundreds of thousands of lasting objects (a row per
assignment, per reach, per chief) in a few seconds. Each of those allocations counts towards the collector's
thresholds, and while the heap keeps growing it runs a full collection every time the long-lived objects have
grown by a quarter: ten full passes over a heap of a million objects, about a fifth of the time of composing every
area's summary (3 of 15 s; a city pays 0.4 of 2.8 s, so the share grows with the data). The rows hold no cycles,
so a pause loses nothing: what cyclic garbage is made meanwhile is collected at the next collection after it.

The pause is process-wide (the collector is), so it is counted: it lasts while any holder, on any thread, is
inside `collector_paused()`, and it never turns on a collector that was off before the first holder came in.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pause:
    """The holders of the pause, counted under a lock (threads as well as tasks may hold it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        self.was_enabled = False

    def enter(self) -> None:
        with self.lock:
            if self.holders == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
            self.holders += 1

    def leave(self) -> None:
        with self.lock:
            self.holders -= 1
            if self.holders == 0 and self.was_enabled:
                gc.enable()


_pause = _Pause()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (nor in anything else running meanwhile); usable across awaits,
    nested, and from several tasks or threads at once."""
    _pause.enter()
    try:
        yield
    finally:
        _pause.leave()


def holders() -> int:
    """How many blocks hold the pause now (for tests)."""
    return _pause.holders
