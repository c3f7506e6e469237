"""Rows for the office's exports (`bot.exports`), read in chunks so that a year of a city fits in little memory.

Exports are written in a worker thread (an XLSX of a year takes seconds of CPU), so this reader has a blocking
connection of its own (`storage.reading`: read-only `sqlite3` on the file, or asyncpg on a private loop) instead
of the store's: the bot's event loop never waits for it, and it reads while the bot writes. Every query walks its
table by primary key in chunks of `CHUNK` rows (keyset pagination), and track points are read one chunk of
patrols at a time, streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.dbtime import from_db_time, to_db_time
from storage.reading import open_reader
from storage.records import Contact
from storage.retention import decode_track

if TYPE_CHECKING:
    from storage.store import Store

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class PatrolRow:
    id: int
    person_name: str
    reach_code: str
    reach_name_zh: str
    reach_name_en: str
    area_code: str
    area_name_zh: str
    area_name_en: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None
    distance_m: float | None
    point_count: int | None
    photo_count: int | None
    valid: bool | None
    reasons: list[dict[str, Any]]
    walked_by_name: str | None = None  # the assistant who walked it for the chief, if one did


@dataclass(frozen=True, slots=True)
class EventRow:
    at: datetime
    actor_name: str | None
    action: str
    note: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProblemRow:
    id: int
    category: str
    status: str
    description: str | None
    lat: float
    lon: float
    reach_code: str
    reach_name_zh: str
    reach_name_en: str
    area_code: str
    area_name_zh: str
    area_name_en: str
    reporter_name: str
    assignee_name: str | None
    deadline: str | None
    reported_at: datetime
    closed_at: datetime | None
    events: list[EventRow]
    # Whether the bot can write to the assignee now (None: nobody has it).
    assignee_contact: Contact | None = None


@dataclass(frozen=True, slots=True)
class ReachRow:
    code: str
    name_zh: str
    name_en: str
    level: str
    area_code: str
    area_name_zh: str
    area_name_en: str
    length_km: float | None
    tags: str
    geometry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AreaRow:
    id: int
    code: str
    name_zh: str
    name_en: str


def _scope(column: str, areas: frozenset[int] | None) -> tuple[str, list[int]]:
    """An SQL condition keeping rows of these areas (None: every area), and its parameters."""
    if areas is None:
        return "", []
    ids = sorted(areas)
    return f" AND {column} IN ({','.join('?' * len(ids))})", ids


_PATROLS = (
    "SELECT pa.id, pe.name AS person_name, r.code AS reach_code, r.name_zh, r.name_en, a.code AS area_code,"
    " a.name_zh AS area_name_zh, a.name_en AS area_name_en,"
    " pa.started_at, pa.ended_at, pa.duration_s, pa.distance_m, pa.point_count, pa.photo_count, pa.valid,"
    " pa.reasons, w.name AS walked_by_name"
    " FROM patrols pa JOIN people pe ON pe.id = pa.person_id JOIN reaches r ON r.id = pa.reach_id"
    " LEFT JOIN people w ON w.id = pa.walked_by"
    " JOIN areas a ON a.id = r.area_id"
    " WHERE pa.id > ? AND pa.status = 'finished' AND pa.started_at >= ? AND pa.started_at < ?{scope}"
    " ORDER BY pa.id LIMIT ?"
)

# Problems that concern the range: reported in it, or reported before its end and either still unsettled at
# its start (open, or closed/dismissed only later) or touched by an event inside it.
_PROBLEMS = (
    "SELECT p.id, p.category, p.status, p.description, p.lat, p.lon, r.code AS reach_code, r.name_zh, r.name_en,"
    " a.code AS area_code, a.name_zh AS area_name_zh, a.name_en AS area_name_en, rep.name AS reporter_name,"
    " asg.name AS assignee_name, p.deadline, p.reported_at,"
    " p.closed_at, asg.active AS asg_active, asg.telegram_id IS NOT NULL AND asg.started_at IS NOT NULL AS asg_joined,"
    " asg.blocked_at IS NOT NULL AS asg_blocked, asg.blocked_reason AS asg_blocked_reason"
    " FROM problems p JOIN reaches r ON r.id = p.reach_id JOIN areas a ON a.id = p.area_id"
    " JOIN people rep ON rep.id = p.reporter_id LEFT JOIN people asg ON asg.id = p.assignee_id"
    " WHERE p.id > ? AND p.reported_at < ? AND (p.reported_at >= ? OR p.closed_at IS NULL OR p.closed_at >= ?"
    "  OR EXISTS (SELECT 1 FROM problem_events e WHERE e.problem_id = p.id AND e.at >= ? AND e.at < ?)){scope}"
    " ORDER BY p.id LIMIT ?"
)


class ExportReader:
    """Read-only access to the store's database for an export; use as a context manager, in one thread.
    `database`: the store, or what `Store.open` takes (settings.database)."""

    def __init__(self, database: Store | str | Path) -> None:
        self._conn = open_reader(database)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ExportReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def patrols(
        self, start: datetime, end: datetime, *, chunk: int = CHUNK, areas: frozenset[int] | None = None
    ) -> Iterator[list[PatrolRow]]:
        """Finished patrols started in [start, end) on reaches of `areas` (None: all), by id, `chunk` at a time."""
        after = 0
        bounds = (to_db_time(start), to_db_time(end))
        scope, ids = _scope("r.area_id", areas)
        query = _PATROLS.format(scope=scope)
        while True:
            rows = self._conn.fetchall(query, (after, *bounds, *ids, chunk))
            if not rows:
                return
            after = rows[-1]["id"]
            yield [
                PatrolRow(
                    id=r["id"],
                    person_name=r["person_name"],
                    reach_code=r["reach_code"],
                    reach_name_zh=r["name_zh"],
                    reach_name_en=r["name_en"],
                    area_code=r["area_code"],
                    area_name_zh=r["area_name_zh"],
                    area_name_en=r["area_name_en"],
                    started_at=from_db_time(r["started_at"]),  # type: ignore[arg-type]
                    ended_at=from_db_time(r["ended_at"]),
                    duration_s=r["duration_s"],
                    distance_m=r["distance_m"],
                    point_count=r["point_count"],
                    photo_count=r["photo_count"],
                    valid=None if r["valid"] is None else bool(r["valid"]),
                    reasons=json.loads(r["reasons"] or "[]"),
                    walked_by_name=r["walked_by_name"],
                )
                for r in rows
            ]

    def tracks(self, patrol_ids: list[int]) -> Iterator[tuple[int, list[tuple[float, float]]]]:
        """(patrol id, [(lon, lat), …] in time order) for each of these patrols that has a track, one at a time.
        A patrol whose points were pruned (RETENTION_YEARS) gives the simplified track kept in their place."""
        if not patrol_ids:
            return
        marks = ",".join("?" * len(patrol_ids))
        pruned: set[int] = set()
        for patrol_id, track in self._conn.fetchall(
            f"SELECT id, track FROM patrols WHERE id IN ({marks}) AND points_pruned_at IS NOT NULL", patrol_ids
        ):
            pruned.add(patrol_id)
            yield patrol_id, decode_track(track)
        cursor = self._conn.rows(
            f"SELECT patrol_id, lon, lat FROM patrol_points WHERE patrol_id IN ({marks}) ORDER BY patrol_id, at, id",
            patrol_ids,
        )
        current: int | None = None
        line: list[tuple[float, float]] = []
        for patrol_id, lon, lat in cursor:
            if patrol_id in pruned:
                continue
            if patrol_id != current:
                if current is not None:
                    yield current, line
                current, line = patrol_id, []
            line.append((lon, lat))
        if current is not None:
            yield current, line

    def problems(
        self, start: datetime, end: datetime, *, chunk: int = CHUNK, areas: frozenset[int] | None = None
    ) -> Iterator[list[ProblemRow]]:
        """Problems of `areas` (None: all) that concern [start, end) (see `_PROBLEMS`), by number, each with its
        whole event log."""
        after = 0
        s, e = to_db_time(start), to_db_time(end)
        scope, area_ids = _scope("p.area_id", areas)
        query = _PROBLEMS.format(scope=scope)
        while True:
            rows = self._conn.fetchall(query, (after, e, s, s, s, e, *area_ids, chunk))
            if not rows:
                return
            after = rows[-1]["id"]
            ids = [r["id"] for r in rows]
            events: dict[int, list[EventRow]] = {i: [] for i in ids}
            marks = ",".join("?" * len(ids))
            for ev in self._conn.fetchall(
                "SELECT e.problem_id, e.at, pe.name, e.action, e.note, e.data FROM problem_events e"
                f" LEFT JOIN people pe ON pe.id = e.actor_id WHERE e.problem_id IN ({marks})"
                " ORDER BY e.problem_id, e.id",
                ids,
            ):
                events[ev[0]].append(
                    EventRow(from_db_time(ev[1]), ev[2], ev[3], ev[4], json.loads(ev[5] or "{}"))  # type: ignore[arg-type]
                )
            yield [
                ProblemRow(
                    id=r["id"],
                    category=r["category"],
                    status=r["status"],
                    description=r["description"],
                    lat=r["lat"],
                    lon=r["lon"],
                    reach_code=r["reach_code"],
                    reach_name_zh=r["name_zh"],
                    reach_name_en=r["name_en"],
                    area_code=r["area_code"],
                    area_name_zh=r["area_name_zh"],
                    area_name_en=r["area_name_en"],
                    reporter_name=r["reporter_name"],
                    assignee_name=r["assignee_name"],
                    deadline=r["deadline"],
                    reported_at=from_db_time(r["reported_at"]),  # type: ignore[arg-type]
                    closed_at=from_db_time(r["closed_at"]),
                    events=events[r["id"]],
                    assignee_contact=None
                    if r["asg_active"] is None
                    else Contact(
                        bool(r["asg_active"]), bool(r["asg_joined"]), bool(r["asg_blocked"]), r["asg_blocked_reason"]
                    ),
                )
                for r in rows
            ]

    def people_names(self, ids: list[int]) -> dict[int, str]:
        """Names of these people (assignees named in events)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {
            int(r[0]): str(r[1]) for r in self._conn.fetchall(f"SELECT id, name FROM people WHERE id IN ({marks})", ids)
        }

    def areas(self) -> list[AreaRow]:
        """Every area, by code: names beside codes, and the codes of a scope."""
        return [
            AreaRow(r["id"], r["code"], r["name_zh"], r["name_en"])
            for r in self._conn.fetchall("SELECT id, code, name_zh, name_en FROM areas ORDER BY code")
        ]

    def reaches(self, areas: frozenset[int] | None = None) -> list[ReachRow]:
        """The reaches of `areas` (None: all) that have a geometry, by code; a county has hundreds, not more."""
        scope, ids = _scope("r.area_id", areas)
        rows = self._conn.fetchall(
            "SELECT r.code, r.name_zh, r.name_en, r.level, r.length_km, r.tags, r.geometry, a.code AS area_code,"
            " a.name_zh AS area_name_zh, a.name_en AS area_name_en FROM reaches r JOIN areas a ON a.id = r.area_id"
            f" WHERE r.geometry IS NOT NULL AND r.geometry != ''{scope} ORDER BY r.code",
            ids,
        )
        found = []
        for r in rows:
            geometry = json.loads(r["geometry"])
            if not isinstance(geometry, dict) or not geometry.get("coordinates"):
                continue  # an empty geometry is no geometry
            found.append(
                ReachRow(
                    r["code"],
                    r["name_zh"],
                    r["name_en"],
                    r["level"],
                    r["area_code"],
                    r["area_name_zh"],
                    r["area_name_en"],
                    r["length_km"],
                    r["tags"],
                    geometry,
                )
            )
        return found
