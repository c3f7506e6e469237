"""Repository for dispatch: extension requests, the department registry, and counts from the event log."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, utc_now
from storage.engine import INTEGRITY_ERRORS

if TYPE_CHECKING:
    from storage.store import Store

MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ExtensionRecord:
    id: int
    problem_id: int
    asked_by: int
    reason: str
    old_deadline: date
    new_deadline: date
    status: str
    asked_at: datetime
    decided_by: int | None


@dataclass(frozen=True, slots=True)
class DepartmentRecord:
    id: int
    name: str
    person_id: int


def _extension(row: sqlite3.Row) -> ExtensionRecord:
    return ExtensionRecord(
        id=row["id"],
        problem_id=row["problem_id"],
        asked_by=row["asked_by"],
        reason=row["reason"],
        old_deadline=date.fromisoformat(row["old_deadline"]),
        new_deadline=date.fromisoformat(row["new_deadline"]),
        status=row["status"],
        asked_at=from_db_time(row["asked_at"]),  # type: ignore[arg-type]
        decided_by=row["decided_by"],
    )


class Dispatch:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- extension requests --------------------------------------------------------------------------------

    async def open_extension(self, problem_id: int) -> ExtensionRecord | None:
        row = await self._store.fetchone(
            "SELECT * FROM problem_extensions WHERE problem_id = ? AND status = 'open'", (problem_id,)
        )
        return None if row is None else _extension(row)

    async def extension(self, request_id: int) -> ExtensionRecord | None:
        if not 0 < request_id <= MAX_ID:
            return None
        row = await self._store.fetchone("SELECT * FROM problem_extensions WHERE id = ?", (request_id,))
        return None if row is None else _extension(row)

    async def ask_extension(
        self, problem_id: int, *, asked_by: int, reason: str, old_deadline: date, new_deadline: date
    ) -> int | None:
        """The new request's id; None when the problem has an open one already (one at a time)."""
        try:
            return await self._store.insert(
                "INSERT INTO problem_extensions (problem_id, asked_by, reason, old_deadline, new_deadline, asked_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (problem_id, asked_by, reason, old_deadline.isoformat(), new_deadline.isoformat(), utc_now()),
            )
        except INTEGRITY_ERRORS:
            return None

    async def decide_extension(self, request_id: int, *, status: str, decided_by: int | None) -> bool:
        """Decide a request still open: of two office clerks deciding at once, one wins."""
        changed = await self._store.execute(
            "UPDATE problem_extensions SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'open'",
            (status, decided_by, utc_now(), request_id),
        )
        return changed > 0

    async def withdraw_open(self, problem_id: int) -> int:
        """An open request lapses when the problem leaves its asker (transferred, reassigned, closed, dismissed,
        reopened): nobody may grant it after."""
        return await self._store.execute(
            "UPDATE problem_extensions SET status = 'withdrawn', decided_at = ?"
            " WHERE problem_id = ? AND status = 'open'",
            (utc_now(), problem_id),
        )

    async def count_events(self, problem_id: int, action: str) -> int:
        return int(
            await self._store.fetchval(
                "SELECT count(*) FROM problem_events WHERE problem_id = ? AND action = ?", (problem_id, action)
            )
        )

    # -- departments ---------------------------------------------------------------------------------------

    async def departments(self) -> list[DepartmentRecord]:
        rows = await self._store.fetchall("SELECT id, name, person_id FROM departments ORDER BY name")
        return [DepartmentRecord(r["id"], r["name"], r["person_id"]) for r in rows]

    async def department(self, department_id: int) -> DepartmentRecord | None:
        if not 0 < department_id <= MAX_ID:
            return None
        row = await self._store.fetchone("SELECT id, name, person_id FROM departments WHERE id = ?", (department_id,))
        return None if row is None else DepartmentRecord(row["id"], row["name"], row["person_id"])

    async def add_department(self, name: str, person_id: int) -> int | None:
        """The new department's id; None when the name is taken."""
        try:
            return await self._store.insert(
                "INSERT INTO departments (name, person_id, added_at) VALUES (?, ?, ?)", (name, person_id, utc_now())
            )
        except INTEGRITY_ERRORS:
            return None

    async def remove_department(self, name: str) -> bool:
        return await self._store.execute("DELETE FROM departments WHERE name = ?", (name,)) > 0
