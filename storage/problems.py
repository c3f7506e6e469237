"""Repository for problems, their photos, followers and the append-only event log."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from storage.dbtime import from_db_time, to_db_time, utc_now

if TYPE_CHECKING:
    from storage.store import Store

OPEN_STATUSES = ("reported", "assigned", "rectified")
MAX_ID = 2**63 - 1  # SQLite's largest INTEGER


@dataclass(frozen=True, slots=True)
class ProblemRecord:
    id: int
    reporter_id: int
    patrol_id: int | None
    reach_id: int
    area_id: int
    category: str
    description: str | None
    lat: float
    lon: float
    location_source: str
    status: str
    assignee_id: int | None
    deadline: date | None
    reported_at: datetime
    closed_at: datetime | None
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue_days(self, today: date) -> int:
        """Days past the deadline (0 when not overdue, or closed)."""
        if not self.is_open or self.deadline is None:
            return 0
        return max(0, (today - self.deadline).days)


@dataclass(frozen=True, slots=True)
class ProblemEvent:
    id: int
    problem_id: int
    at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProblemPhoto:
    photo_id: int
    file_id: str
    kind: str
    path: str
    taken_at: str | None
    added_at: datetime
    pruned: bool = False  # the original file was removed (RETENTION_YEARS): nothing to show but the record
    gps: tuple[float, float] | None = None  # the photo's own EXIF GPS, if it carried any
    added_by: int | None = None


@dataclass(frozen=True, slots=True)
class NewProblem:
    reporter_id: int
    patrol_id: int | None
    reach_id: int
    area_id: int
    category: str
    description: str | None
    lat: float
    lon: float
    location_source: str


@dataclass(frozen=True, slots=True)
class ProblemFilter:
    """Which problems a list shows. Empty fields do not filter."""

    statuses: tuple[str, ...] = OPEN_STATUSES
    area_id: int | None = None
    # A town's office sees its own areas only (None: any area).
    area_ids: tuple[int, ...] | None = None
    category: str | None = None
    # A chief sees what is assigned to them and what happens on their reaches.
    assignee_id: int | None = None
    reach_ids: tuple[int, ...] | None = None
    reporter_id: int | None = None


def _problem(row: sqlite3.Row) -> ProblemRecord:
    return ProblemRecord(
        id=row["id"],
        reporter_id=row["reporter_id"],
        patrol_id=row["patrol_id"],
        reach_id=row["reach_id"],
        area_id=row["area_id"],
        category=row["category"],
        description=row["description"],
        lat=row["lat"],
        lon=row["lon"],
        location_source=row["location_source"],
        status=row["status"],
        assignee_id=row["assignee_id"],
        deadline=date.fromisoformat(row["deadline"]) if row["deadline"] else None,
        reported_at=from_db_time(row["reported_at"]),  # type: ignore[arg-type]
        closed_at=from_db_time(row["closed_at"]),
        updated_at=from_db_time(row["updated_at"]),  # type: ignore[arg-type]
    )


class Problems:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def by_id(self, problem_id: int) -> ProblemRecord | None:
        if not 0 < problem_id <= MAX_ID:
            return None  # "/problem 99999999999999999999" names no problem; SQLite would overflow on it
        row = await self._store.fetchone("SELECT * FROM problems WHERE id = ?", (problem_id,))
        return None if row is None else _problem(row)

    async def insert(self, problem: NewProblem, *, reported_at: datetime) -> int:
        now = utc_now()
        return await self._store.insert(
            "INSERT INTO problems (reporter_id, patrol_id, reach_id, area_id, category, description, lat, lon,"
            " location_source, status, reported_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'reported', ?, ?)",
            (
                problem.reporter_id,
                problem.patrol_id,
                problem.reach_id,
                problem.area_id,
                problem.category,
                problem.description,
                problem.lat,
                problem.lon,
                problem.location_source,
                to_db_time(reported_at),
                now,
            ),
        )

    async def transition(
        self,
        problem_id: int,
        *,
        expect: Sequence[str],
        status: str,
        assignee_id: int | object | None = ...,
        deadline: date | object | None = ...,
        closed_at: datetime | object | None = ...,
    ) -> bool:
        """Change the status only if it still is one of `expect`: of two people acting at once, one wins."""
        sets = ["status = ?", "updated_at = ?"]
        params: list[Any] = [status, utc_now()]
        if assignee_id is not ...:
            sets.append("assignee_id = ?")
            params.append(assignee_id)
        if deadline is not ...:
            sets.append("deadline = ?")
            params.append(deadline.isoformat() if isinstance(deadline, date) else None)
        if closed_at is not ...:
            sets.append("closed_at = ?")
            params.append(to_db_time(closed_at) if isinstance(closed_at, datetime) else None)
        marks = ",".join("?" * len(expect))
        return (
            await self._store.execute(
                f"UPDATE problems SET {', '.join(sets)} WHERE id = ? AND status IN ({marks})",
                (*params, problem_id, *expect),
            )
            > 0
        )

    async def add_event(
        self,
        problem_id: int,
        *,
        actor_id: int | None,
        action: str,
        from_status: str | None,
        to_status: str | None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        await self._store.insert(
            "INSERT INTO problem_events (problem_id, at, actor_id, action, from_status, to_status, note, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                problem_id,
                to_db_time(at) if at else utc_now(),
                actor_id,
                action,
                from_status,
                to_status,
                note,
                json.dumps(data or {}, ensure_ascii=False),
            ),
        )

    async def events(self, problem_id: int) -> list[ProblemEvent]:
        rows = await self._store.fetchall(
            "SELECT e.*, p.name AS actor_name FROM problem_events e LEFT JOIN people p ON p.id = e.actor_id"
            " WHERE e.problem_id = ? ORDER BY e.id",
            (problem_id,),
        )
        return [
            ProblemEvent(
                id=r["id"],
                problem_id=r["problem_id"],
                at=from_db_time(r["at"]),  # type: ignore[arg-type]
                actor_id=r["actor_id"],
                actor_name=r["actor_name"],
                action=r["action"],
                from_status=r["from_status"],
                to_status=r["to_status"],
                note=r["note"],
                data=json.loads(r["data"] or "{}"),
            )
            for r in rows
        ]

    async def add_photo(self, problem_id: int, *, photo_id: int, file_id: str, kind: str, added_by: int | None) -> None:
        # A photo is one problem's before (or after) evidence once: the same message handled again after a crash,
        # or the same picture sent twice, adds nothing.
        await self._store.execute(
            "INSERT INTO problem_photos (problem_id, photo_id, file_id, kind, added_by, added_at)"
            " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS"
            " (SELECT 1 FROM problem_photos WHERE problem_id = ? AND photo_id = ? AND kind = ?)",
            (problem_id, photo_id, file_id, kind, added_by, utc_now(), problem_id, photo_id, kind),
        )

    async def photos(self, problem_id: int, kind: str | None = None) -> list[ProblemPhoto]:
        where = "" if kind is None else " AND pp.kind = ?"
        params: tuple[Any, ...] = (problem_id,) if kind is None else (problem_id, kind)
        rows = await self._store.fetchall(
            "SELECT pp.photo_id, pp.file_id, pp.kind, p.path, p.taken_at, pp.added_at, p.pruned_at IS NOT NULL,"
            " p.gps_lat, p.gps_lon, pp.added_by FROM problem_photos pp"
            f" JOIN photos p ON p.id = pp.photo_id WHERE pp.problem_id = ?{where} ORDER BY pp.id",
            params,
        )
        return [
            ProblemPhoto(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                from_db_time(r[5]),  # type: ignore[arg-type]
                bool(r[6]),
                (r[7], r[8]) if r[7] is not None and r[8] is not None else None,
                r[9],
            )
            for r in rows
        ]

    async def photo_messages(self, chat_id: int, problem_id: int) -> dict[int, int]:
        """photo id -> the message that carried it to this chat."""
        rows = await self._store.fetchall(
            "SELECT photo_id, message_id FROM problem_photo_messages WHERE chat_id = ? AND problem_id = ?",
            (chat_id, problem_id),
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def remember_photo_messages(self, chat_id: int, problem_id: int, sent: dict[int, int]) -> None:
        now = utc_now()
        for photo_id, message_id in sent.items():
            await self._store.execute(
                "INSERT INTO problem_photo_messages (chat_id, problem_id, photo_id, message_id, sent_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, problem_id, photo_id)"
                " DO UPDATE SET message_id = excluded.message_id, sent_at = excluded.sent_at",
                (chat_id, problem_id, photo_id, message_id, now),
            )

    async def forget_photo_messages(self, chat_id: int, problem_id: int) -> None:
        await self._store.execute(
            "DELETE FROM problem_photo_messages WHERE chat_id = ? AND problem_id = ?", (chat_id, problem_id)
        )

    async def open_near(self, category: str, lat: float, lon: float, radius_m: float) -> list[ProblemRecord]:
        """Open problems of the category inside a box around the point (the caller measures exactly)."""
        dlat = radius_m / 111_194.9
        dlon = dlat / max(0.01, math.cos(math.radians(lat)))
        rows = await self._store.fetchall(
            "SELECT * FROM problems WHERE category = ? AND status IN ('reported', 'assigned', 'rectified')"
            " AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? ORDER BY id",
            (category, lat - dlat, lat + dlat, lon - dlon, lon + dlon),
        )
        return [_problem(r) for r in rows]

    async def add_follower(self, problem_id: int, person_id: int) -> bool:
        return (
            await self._store.execute(
                "INSERT INTO problem_followers (problem_id, person_id, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (problem_id, person_id, utc_now()),
            )
            > 0
        )

    async def followers(self, problem_id: int) -> list[int]:
        rows = await self._store.fetchall(
            "SELECT person_id FROM problem_followers WHERE problem_id = ? ORDER BY since", (problem_id,)
        )
        return [int(r[0]) for r in rows]

    def _where(self, scope: ProblemFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if scope.statuses:
            clauses.append(f"status IN ({','.join('?' * len(scope.statuses))})")
            params += scope.statuses
        if scope.area_id is not None:
            clauses.append("area_id = ?")
            params.append(scope.area_id)
        if scope.area_ids is not None:
            clauses.append(f"area_id IN ({','.join('?' * len(scope.area_ids))})" if scope.area_ids else "0")
            params.extend(scope.area_ids)
        if scope.category is not None:
            clauses.append("category = ?")
            params.append(scope.category)
        if scope.reporter_id is not None:
            clauses.append("reporter_id = ?")
            params.append(scope.reporter_id)
        mine: list[str] = []
        if scope.assignee_id is not None:
            mine.append("assignee_id = ?")
            params.append(scope.assignee_id)
        if scope.reach_ids is not None:
            mine.append(f"reach_id IN ({','.join('?' * len(scope.reach_ids))})" if scope.reach_ids else "0")
            params += scope.reach_ids
        if mine:
            clauses.append("(" + " OR ".join(mine) + ")")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    async def page(self, scope: ProblemFilter, *, limit: int, offset: int) -> tuple[list[ProblemRecord], int]:
        """Overdue (earliest deadline) first, then the newest; and how many match in all."""
        where, params = self._where(scope)
        total = await self._store.fetchval(f"SELECT count(*) FROM problems{where}", params)
        rows = await self._store.fetchall(
            f"SELECT * FROM problems{where} ORDER BY deadline IS NULL, deadline, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_problem(r) for r in rows], int(total)

    async def for_reporter(self, person_id: int, *, limit: int, offset: int) -> tuple[list[ProblemRecord], int]:
        """The problems the person reported or follows, newest first; and how many there are in all."""
        where = " WHERE reporter_id = ? OR id IN (SELECT problem_id FROM problem_followers WHERE person_id = ?)"
        total = await self._store.fetchval(f"SELECT count(*) FROM problems{where}", (person_id, person_id))
        rows = await self._store.fetchall(
            f"SELECT * FROM problems{where} ORDER BY id DESC LIMIT ? OFFSET ?", (person_id, person_id, limit, offset)
        )
        return [_problem(r) for r in rows], int(total)

    async def open_with_deadline_before(self, day: date) -> list[ProblemRecord]:
        """Open problems due on or before `day` (local date): due soon, and overdue."""
        rows = await self._store.fetchall(
            "SELECT * FROM problems WHERE status IN ('reported', 'assigned', 'rectified') AND deadline <= ?"
            " ORDER BY deadline, id",
            (day.isoformat(),),
        )
        return [_problem(r) for r in rows]

    async def assigned_to(self, person_id: int) -> list[ProblemRecord]:
        """Problems waiting for this person to rectify them (status assigned), the earliest deadline first."""
        rows = await self._store.fetchall(
            "SELECT * FROM problems WHERE assignee_id = ? AND status = 'assigned'"
            " ORDER BY deadline IS NULL, deadline, id",
            (person_id,),
        )
        return [_problem(r) for r in rows]

    # -- for maps ---------------------------------------------------------------------------------------

    async def for_patrol(self, patrol_id: int) -> list[ProblemRecord]:
        """The problems raised during a patrol, in order."""
        rows = await self._store.fetchall("SELECT * FROM problems WHERE patrol_id = ? ORDER BY id", (patrol_id,))
        return [_problem(r) for r in rows]

    async def open_in_box(
        self, min_lat: float, min_lon: float, max_lat: float, max_lon: float, *, limit: int
    ) -> list[ProblemRecord]:
        """Open problems inside a box (the ones nearby on a map), the newest first."""
        rows = await self._store.fetchall(
            "SELECT * FROM problems WHERE status IN ('reported', 'assigned', 'rectified')"
            " AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? ORDER BY id DESC LIMIT ?",
            (min_lat, max_lat, min_lon, max_lon, limit),
        )
        return [_problem(r) for r in rows]

    async def open_in_area(self, area_id: int, *, limit: int) -> list[ProblemRecord]:
        """Open problems of an area, the earliest deadline first (the overdue ones are kept when cut)."""
        rows = await self._store.fetchall(
            "SELECT * FROM problems WHERE area_id = ? AND status IN ('reported', 'assigned', 'rectified')"
            " ORDER BY deadline IS NULL, deadline, id LIMIT ?",
            (area_id, limit),
        )
        return [_problem(r) for r in rows]
