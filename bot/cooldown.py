"""A cooldown: one go per key per period, for what a flood must not multiply (a group's /summary).

The times are kept in process memory, bounded: a restart forgets them, which at worst lets one more go through,
and several workers would each let one through. That is the price of not writing to the store on every request;
what the cooldown protects, a chat's sending limit at Telegram, tolerates it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

CAP = 10_000  # keys remembered; the oldest go first


class Cooldown:
    """Lets each key through at most once per `period` seconds."""

    def __init__(self, period: float, *, cap: int = CAP, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self._cap = cap
        self._clock = clock
        self._last: OrderedDict[Hashable, float] = OrderedDict()  # oldest go first: the clock only moves on

    def take(self, key: Hashable) -> float:
        """0 when `key` may go now (and the go is counted); otherwise the seconds it still has to wait."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            return self.period - (now - last)
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self._cap:
            self._last.popitem(last=False)
        return 0.0
