"""Summary deliveries (exactly once per area, week and chat; per chief and week), and the overdue problems a
summary lists."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time
from storage.records import Contact

if TYPE_CHECKING:
    from storage.store import Store

AREA = "area"
CHIEF = "chief"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    kind: str
    area_id: int
    week: str
    target: int
    status: str  # pending | sent | failed (given up) | skipped
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    message_ids: list[int]
    reported_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class OverdueProblem:
    id: int
    category: str
    reach_name_zh: str
    reach_name_en: str
    assignee: str | None
    deadline: date
    # Whether the bot can write to the assignee now (None: nobody has it, or not asked).
    assignee_contact: Contact | None = None


def _contact(row: sqlite3.Row) -> Contact | None:
    if row["active"] is None:
        return None
    return Contact(bool(row["active"]), bool(row["joined"]), bool(row["blocked"]), row["blocked_reason"])


def _delivery(row: sqlite3.Row) -> DeliveryRecord:
    return DeliveryRecord(
        kind=row["kind"],
        area_id=row["area_id"],
        week=row["week"],
        target=row["target"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=from_db_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        message_ids=[int(m) for m in json.loads(row["message_ids"])],
        reported_at=from_db_time(row["reported_at"]),
        delivered_at=from_db_time(row["delivered_at"]),
    )


class Summaries:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, kind: str, area_id: int, week: str, target: int) -> DeliveryRecord | None:
        row = await self._store.fetchone(
            "SELECT * FROM summary_deliveries WHERE kind = ? AND area_id = ? AND week = ? AND target = ?",
            (kind, area_id, week, target),
        )
        return None if row is None else _delivery(row)

    async def for_week(self, week: str) -> list[DeliveryRecord]:
        rows = await self._store.fetchall(
            "SELECT * FROM summary_deliveries WHERE week = ? ORDER BY kind, area_id, target", (week,)
        )
        return [_delivery(r) for r in rows]

    async def sent(
        self, kind: str, area_id: int, week: str, target: int, message_ids: list[int], *, now: datetime
    ) -> None:
        await self._store.execute(
            "INSERT INTO summary_deliveries (kind, area_id, week, target, status, attempts, message_ids,"
            " delivered_at, updated_at) VALUES (?, ?, ?, ?, 'sent', 1, ?, ?, ?)"
            " ON CONFLICT (kind, area_id, week, target) DO UPDATE SET status = 'sent',"
            "  attempts = summary_deliveries.attempts + 1, message_ids = excluded.message_ids,"
            "  next_attempt_at = NULL, delivered_at = excluded.delivered_at, updated_at = excluded.updated_at",
            (kind, area_id, week, target, json.dumps(message_ids), to_db_time(now), to_db_time(now)),
        )

    async def progress(
        self, kind: str, area_id: int, week: str, target: int, message_ids: list[int], *, now: datetime
    ) -> None:
        """Messages of a summary sent so far (a summary in several parts resumes after the last one sent)."""
        await self._store.execute(
            "INSERT INTO summary_deliveries (kind, area_id, week, target, message_ids, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, area_id, week, target) DO UPDATE SET"
            "  message_ids = excluded.message_ids, updated_at = excluded.updated_at",
            (kind, area_id, week, target, json.dumps(message_ids), to_db_time(now)),
        )

    async def failed(
        self,
        kind: str,
        area_id: int,
        week: str,
        target: int,
        *,
        error: str,
        next_attempt_at: datetime | None,
        now: datetime,
    ) -> DeliveryRecord:
        """One more failed attempt; with no next attempt the delivery is given up ('failed')."""
        status = "pending" if next_attempt_at is not None else "failed"
        await self._store.execute(
            "INSERT INTO summary_deliveries (kind, area_id, week, target, status, attempts, next_attempt_at,"
            " last_error, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)"
            " ON CONFLICT (kind, area_id, week, target) DO UPDATE SET status = excluded.status,"
            "  attempts = summary_deliveries.attempts + 1, next_attempt_at = excluded.next_attempt_at,"
            "  last_error = excluded.last_error, updated_at = excluded.updated_at",
            (
                kind,
                area_id,
                week,
                target,
                status,
                None if next_attempt_at is None else to_db_time(next_attempt_at),
                error[:500],
                to_db_time(now),
            ),
        )
        record = await self.get(kind, area_id, week, target)
        assert record is not None
        return record

    async def skipped(self, kind: str, area_id: int, week: str, target: int, *, reason: str, now: datetime) -> None:
        await self._store.execute(
            "INSERT INTO summary_deliveries (kind, area_id, week, target, status, last_error, updated_at)"
            " VALUES (?, ?, ?, ?, 'skipped', ?, ?) ON CONFLICT (kind, area_id, week, target) DO UPDATE SET"
            "  status = 'skipped', last_error = excluded.last_error, updated_at = excluded.updated_at",
            (kind, area_id, week, target, reason, to_db_time(now)),
        )

    async def mark_reported(self, kind: str, area_id: int, week: str, target: int, *, now: datetime) -> bool:
        """Note that the admins were told; False when they already were (tell them once)."""
        changed = await self._store.execute(
            "UPDATE summary_deliveries SET reported_at = ? WHERE kind = ? AND area_id = ? AND week = ?"
            " AND target = ? AND reported_at IS NULL",
            (to_db_time(now), kind, area_id, week, target),
        )
        return changed > 0

    async def overdue(self, area_id: int, last: date, *, limit: int) -> tuple[list[OverdueProblem], int]:
        """Problems of the area open now whose deadline came before `last`, the oldest deadline first; and how many."""
        return (await self._overdue(last, limit=limit, area_id=area_id)).get(area_id, ([], 0))

    async def overdue_by_area(self, last: date, *, limit: int) -> dict[int, tuple[list[OverdueProblem], int]]:
        """`overdue` of every area with any, from one query (the weekly job)."""
        return await self._overdue(last, limit=limit, area_id=None)

    async def _overdue(
        self, last: date, *, limit: int, area_id: int | None
    ) -> dict[int, tuple[list[OverdueProblem], int]]:
        if limit < 1:
            raise ValueError("list at least one: the count travels with the listed rows")
        # The open problems through the partial index problems_open (about a thousand of a city's 150,000; NOT IN,
        # the index's own condition, lets SQLite use it), kept apart: left to itself the planner walks every
        # problem in area order for the window. Numbered per area, so names are looked up only for those listed.
        area = "" if area_id is None else " AND p.area_id = :area"
        # PostgreSQL has no INDEXED BY: its planner takes the partial index for the same condition by itself.
        indexed = " INDEXED BY problems_open" if self._store.dialect == "sqlite" else ""
        rows = await self._store.fetchall(
            "WITH open AS MATERIALIZED (SELECT p.id, p.area_id, p.category, p.deadline, p.reach_id, p.assignee_id"
            f" FROM problems p{indexed}"
            f" WHERE p.status NOT IN ('closed', 'dismissed') AND p.deadline < :last{area}),"
            " late AS (SELECT o.*, row_number() OVER (PARTITION BY o.area_id ORDER BY o.deadline, o.id) AS n,"
            "  count(*) OVER (PARTITION BY o.area_id) AS total FROM open o)"
            " SELECT l.area_id, l.total, l.id, l.category, l.deadline, r.name_zh, r.name_en, a.name AS assignee,"
            " a.active, a.telegram_id IS NOT NULL AND a.started_at IS NOT NULL AS joined,"
            " a.blocked_at IS NOT NULL AS blocked, a.blocked_reason"
            " FROM late l JOIN reaches r ON r.id = l.reach_id LEFT JOIN people a ON a.id = l.assignee_id"
            " WHERE l.n <= :limit ORDER BY l.area_id, l.n",
            {"last": last.isoformat(), "limit": limit, "area": area_id},
        )
        result: dict[int, tuple[list[OverdueProblem], int]] = {}
        for r in rows:
            listed, _ = result.setdefault(int(r["area_id"]), ([], int(r["total"])))
            listed.append(
                OverdueProblem(
                    r["id"],
                    r["category"],
                    r["name_zh"],
                    r["name_en"],
                    r["assignee"],
                    date.fromisoformat(r["deadline"]),
                    _contact(r),
                )
            )
        return result

    async def assigned_open(self, person_id: int, *, limit: int) -> list[OverdueProblem]:
        """Problems assigned to the person and still open, the earliest deadline first (a chief's digest)."""
        rows = await self._store.fetchall(
            "SELECT p.id, p.category, p.deadline, r.name_zh, r.name_en, NULL AS assignee FROM problems p"
            " JOIN reaches r ON r.id = p.reach_id WHERE p.assignee_id = ?"
            " AND p.status IN ('reported', 'assigned', 'rectified')"
            " ORDER BY p.deadline IS NULL, p.deadline, p.id LIMIT ?",
            (person_id, limit),
        )
        return [
            OverdueProblem(
                r["id"],
                r["category"],
                r["name_zh"],
                r["name_en"],
                None,
                date.fromisoformat(r["deadline"]) if r["deadline"] else date.max,
            )
            for r in rows
        ]

    async def assignee_contacts(self) -> list[tuple[int, Contact, int]]:
        """(area id, the assignee's contact, how many) over the assigned problems open now: `bot.reachability`
        judges which of them wait for a chief who cannot act."""
        rows = await self._store.fetchall(
            "SELECT p.area_id, a.active, a.telegram_id IS NOT NULL AND a.started_at IS NOT NULL AS joined,"
            " a.blocked_at IS NOT NULL AS blocked, a.blocked_reason, count(*) AS n"
            " FROM problems p JOIN people a ON a.id = p.assignee_id WHERE p.status = 'assigned'"
            " GROUP BY p.area_id, a.active, joined, blocked, a.blocked_reason"
        )
        return [(int(r["area_id"]), _contact(r) or Contact(False, False, False), int(r["n"])) for r in rows]
