"""Fault injection: make the next API calls fail or stall the way Telegram sometimes does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["429", "5xx", "slow", "400"]
_STATUS_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Fault:
    """One armed fault; ``remaining`` counts down as matching calls hit it."""

    kind: FaultKind
    remaining: int
    method: str | None = None
    retry_after: int = 1
    delay: float = 1.0
    status: int = 502
    #: the "400" kind's error text, e.g. Telegram's for a callback query it has forgotten after a restart
    description: str = "Bad Request"
    #: only calls to this chat (``chat_id`` as sent, compared as text), e.g. one group's 429 storm
    chat_id: int | str | None = None

    def matches(self, method: str, chat_id: object = None) -> bool:
        if self.chat_id is not None and str(chat_id) != str(self.chat_id):
            return False
        # Polling is excluded unless named: a fault meant for sendMessage must not stall getUpdates.
        if self.method is None:
            return method.lower() != "getupdates"
        return self.method.lower() == method.lower()

    @property
    def status_text(self) -> str:
        return _STATUS_TEXT.get(self.status, "Server Error")


class FaultInjector:
    """Faults waiting for matching calls, applied in the order they were injected."""

    def __init__(self) -> None:
        self.active: list[Fault] = []
        #: every fault that fired, with the method it hit (for assertions)
        self.fired: list[tuple[FaultKind, str]] = []

    def inject(
        self,
        kind: FaultKind,
        count: int = 1,
        method: str | None = None,
        *,
        retry_after: int = 1,
        delay: float = 1.0,
        status: int = 502,
        description: str = "Bad Request",
        chat_id: int | str | None = None,
    ) -> Fault:
        """Affect the next ``count`` calls of ``method`` (any method except getUpdates when ``None``), to
        ``chat_id`` only when given."""
        if kind not in ("429", "5xx", "slow", "400"):
            raise ValueError(f"unknown fault kind {kind!r}; use '429', '5xx', 'slow' or '400'")
        if count < 1:
            raise ValueError("count must be >= 1")
        fault = Fault(kind, count, method, retry_after, delay, status, description, chat_id)
        self.active.append(fault)
        return fault

    def clear(self) -> None:
        self.active.clear()

    def take(self, method: str, chat_id: object = None) -> Fault | None:
        """The fault to apply to this call, if any (consumes one of its ``count``)."""
        for fault in self.active:
            if fault.matches(method, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.active.remove(fault)
                self.fired.append((fault.kind, method))
                return fault
        return None
