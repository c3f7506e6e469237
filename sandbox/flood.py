"""Flood control: Telegram's limits on how fast a bot may send messages, answered with 429 like Telegram does.

Off by default, so tests that don't ask for it run as fast as before. Telegram documents its limits loosely
("about 30 messages a second overall, no more than 20 a minute in one group, about one a second in a private
chat") and keeps the exact algorithm to itself; the stand-in applies them as strict sliding windows, which is
the stricter reading: a bot that passes here passes there. Only calls that post a message count; polling,
file downloads, callback answers and edits do not.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: the methods that post a message (lower case); an album counts one message per item
SENDING_METHODS = frozenset(
    name.lower()
    for name in (
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendInvoice",
        "sendPaidMedia",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    )
)


@dataclass(frozen=True)
class FloodLimits:
    """At most `overall` messages per `overall_period` seconds for the bot, `group` per `group_period` in one group
    or channel, `private` per `private_period` in one private chat. The defaults are Telegram's documented ones;
    tests scale the periods down to meet the limits within a second or two."""

    overall: int = 30
    overall_period: float = 1.0
    group: int = 20
    group_period: float = 60.0
    private: int = 1
    private_period: float = 1.0

    def __post_init__(self) -> None:
        if min(self.overall, self.group, self.private) < 1:
            raise ValueError("flood limits must allow at least one message")
        if min(self.overall_period, self.group_period, self.private_period) <= 0:
            raise ValueError("flood periods must be positive")


TELEGRAM_LIMITS = FloodLimits()


@dataclass(frozen=True)
class Refusal:
    """One call answered with 429, for assertions."""

    token: str
    method: str
    chat_id: int | str
    #: which limit refused it: "overall", "group" or "private"
    limit: str
    retry_after: int


@dataclass
class _Window:
    """The send times inside one sliding window, oldest first."""

    limit: int
    period: float
    times: deque[float] = field(default_factory=deque)

    def wait(self, now: float, count: int) -> float:
        """Seconds until `count` more messages fit (0: they fit now)."""
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        count = min(count, self.limit)  # an album larger than the limit goes through once the window is empty
        over = len(self.times) + count - self.limit
        return 0.0 if over <= 0 else self.times[over - 1] + self.period - now

    def add(self, now: float, count: int) -> None:
        self.times.extend([now] * count)


class FloodControl:
    """Per bot: one window overall and one per chat. `limits=None` (the default) lets everything through."""

    def __init__(self, limits: FloodLimits | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        #: every call answered with 429 because of a limit (injected 429 faults are in FaultInjector.fired)
        self.refused: list[Refusal] = []
        self._overall: dict[str, _Window] = {}
        self._chats: dict[tuple[str, int | str], _Window] = {}

    def enable(self, limits: FloodLimits = TELEGRAM_LIMITS) -> None:
        """Start applying `limits` (Telegram's by default), with empty windows."""
        self.limits = limits
        self._overall.clear()
        self._chats.clear()

    def disable(self) -> None:
        self.limits = None

    @property
    def answered(self) -> int:
        """How many calls were answered with 429 so far."""
        return len(self.refused)

    def check(self, token: str, method: str, chat_id: int | str | None, *, group: bool, count: int = 1) -> int | None:
        """None when the call may post its `count` messages now (and they are counted); else the whole seconds
        to wait (≥ 1), the call's 429 answer. Check and count happen together: no await may come between."""
        limits = self.limits
        if limits is None or method.lower() not in SENDING_METHODS or chat_id is None:
            return None
        now = self.clock()
        overall = self._overall.get(token)
        if overall is None:
            overall = self._overall[token] = _Window(limits.overall, limits.overall_period)
        chat = self._chats.get((token, chat_id))
        if chat is None:
            chat = self._chats[(token, chat_id)] = (
                _Window(limits.group, limits.group_period) if group else _Window(limits.private, limits.private_period)
            )
        waits = {"overall": overall.wait(now, count), "group" if group else "private": chat.wait(now, count)}
        limit, wait = max(waits.items(), key=lambda item: item[1])
        if wait <= 0:
            overall.add(now, count)
            chat.add(now, count)
            return None
        # Telegram answers whole seconds, rounded up: by then the window has room again.
        retry_after = max(1, math.ceil(wait))
        self.refused.append(Refusal(token, method, chat_id, limit, retry_after))
        return retry_after
