"""Half-finished private dialogs (a registration, an invite, a report draft): where each person is in one.

A person has at most one open dialog: starting another replaces it. It lives in the store, so a restart in
the middle loses nothing. Handlers keep a dialog through this service, never through the store.
"""

from __future__ import annotations

from typing import Any

from storage import Store
from storage.records import DialogRecord

# The dialog as handlers see it: which flow, which step, and what was collected so far.
Dialog = DialogRecord


class Dialogs:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, telegram_id: int) -> Dialog | None:
        """The person's open dialog, whatever flow it belongs to."""
        return await self._store.dialogs.get(telegram_id)

    async def at(self, telegram_id: int, flow: str, step: str | None = None) -> Dialog | None:
        """The person's open dialog if it is `flow` (at `step`, when given); None: a button from an older one."""
        dialog = await self._store.dialogs.get(telegram_id)
        if dialog is None or dialog.flow != flow or (step is not None and dialog.step != step):
            return None
        return dialog

    async def set(self, telegram_id: int, flow: str, step: str, data: dict[str, Any]) -> None:
        """Open the dialog, or move it to `step` with `data` (replacing any other open dialog)."""
        await self._store.dialogs.put(telegram_id, flow, step, data)

    async def clear(self, telegram_id: int, flow: str | None = None) -> bool:
        """Close the person's dialog (only if it is `flow`, when given); False when there was none."""
        return await self._store.dialogs.clear(telegram_id, flow)
