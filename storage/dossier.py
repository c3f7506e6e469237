"""What one reach's file (`bot.dossier`) shows, read in one read transaction so its parts agree.

The dossier is drawn in a worker thread, like the exports (`storage.exports`), so it reads through a blocking
reader of its own (`storage.reading`). One reach's year is a few hundred patrols and problems at most: everything
is read at once, inside one snapshot (SQLite: one read transaction; PostgreSQL: REPEATABLE READ), so a patrol
finished while the file is drawn is either in every part (list, map, tally) or in none. Patrols and problems
are chosen exactly as `riverbot export` chooses them, restricted to the reach: the dossier must list what the
export lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time
from storage.exports import EventRow, PatrolRow, ProblemRow
from storage.reading import open_reader
from storage.records import ReachRecord
from storage.registry import _reach
from storage.retention import decode_track

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True, slots=True)
class ChiefTerm:
    """One assignment of a chief to the reach, with its dates (ends_on None: still holds it)."""

    person_id: int
    name: str
    level: str
    starts_on: date
    ends_on: date | None


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """A problem's photo: before or after, and where its original lies under DATA_DIR."""

    problem_id: int
    kind: str
    path: str
    added_at: datetime


@dataclass(slots=True)
class ReachSheet:
    reach: ReachRecord
    area_name_zh: str
    area_name_en: str
    chiefs: list[ChiefTerm]
    patrols: list[PatrolRow]
    tracks: dict[int, list[tuple[float, float]]]  # patrol id → [(lon, lat), …]
    problems: list[ProblemRow]
    photos: dict[int, list[PhotoRef]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # people named in events (assignees)


# str.lower() folds every script; SQLite's LIKE and lower() fold A-Z only.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_REACH = (
    "SELECT r.*, a.code AS area_code, a.name_zh AS area_name_zh, a.name_en AS area_name_en"
    " FROM reaches r JOIN areas a ON a.id = r.area_id WHERE r.id = ?"
)
_PATROLS = (
    "SELECT pa.id, pe.name AS person_name, r.code AS reach_code, r.name_zh, r.name_en, a.code AS area_code,"
    " a.name_zh AS area_name_zh, a.name_en AS area_name_en,"
    " pa.started_at, pa.ended_at, pa.duration_s, pa.distance_m, pa.point_count, pa.photo_count, pa.valid,"
    " pa.reasons, pa.points_pruned_at, pa.track, w.name AS walked_by_name"
    " FROM patrols pa JOIN people pe ON pe.id = pa.person_id JOIN reaches r ON r.id = pa.reach_id"
    " JOIN areas a ON a.id = r.area_id LEFT JOIN people w ON w.id = pa.walked_by"
    " WHERE pa.reach_id = ? AND pa.status = 'finished' AND pa.started_at >= ? AND pa.started_at < ?"
    " ORDER BY pa.started_at, pa.id"
)
# As storage.exports._PROBLEMS: reported in the range, or reported before its end and still unsettled at its
# start or touched by an event inside it.
_PROBLEMS = (
    "SELECT p.id, p.category, p.status, p.description, p.lat, p.lon, r.code AS reach_code, r.name_zh, r.name_en,"
    " a.code AS area_code, a.name_zh AS area_name_zh, a.name_en AS area_name_en, rep.name AS reporter_name,"
    " asg.name AS assignee_name, p.deadline, p.reported_at, p.closed_at"
    " FROM problems p JOIN reaches r ON r.id = p.reach_id JOIN areas a ON a.id = p.area_id"
    " JOIN people rep ON rep.id = p.reporter_id LEFT JOIN people asg ON asg.id = p.assignee_id"
    " WHERE p.reach_id = :reach AND p.reported_at < :end AND (p.reported_at >= :start OR p.closed_at IS NULL"
    "  OR p.closed_at >= :start"
    "  OR EXISTS (SELECT 1 FROM problem_events e WHERE e.problem_id = p.id AND e.at >= :start AND e.at < :end))"
    " ORDER BY p.id"
)


class DossierReader:
    """Read-only access to the store's database for dossiers; use as a context manager, in one thread.
    `database`: the store, or what `Store.open` takes (settings.database)."""

    def __init__(self, database: Store | str | Path) -> None:
        self._conn = open_reader(database)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> DossierReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reach_by_code(self, code: str) -> int | None:
        row = self._conn.fetchone("SELECT id FROM reaches WHERE code = ?", (code,))
        return None if row is None else int(row[0])

    def reaches_tagged(self, tag: str, areas: frozenset[int] | None = None) -> list[int]:
        """The reaches carrying `tag` (inside `areas`, when given), by code. Letters match in either case, as
        SQLite's LIKE always matched them: both sides lowered (ASCII only, like LIKE's folding and lower() on
        both engines' byte-order collation)."""
        escaped = tag.translate(_ASCII_LOWER).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%;{escaped};%"
        rows = self._conn.fetchall(
            "SELECT id, area_id FROM reaches WHERE lower(';' || tags || ';') LIKE ? ESCAPE '\\' ORDER BY code",
            (pattern,),
        )
        return [int(r[0]) for r in rows if areas is None or r[1] in areas]

    def sheet(self, reach_id: int, start: datetime, end: datetime) -> ReachSheet | None:
        """Everything the reach's file shows for [start, end), read in one transaction; None: no such reach."""
        with self._conn.snapshot():
            return self._sheet(reach_id, to_db_time(start), to_db_time(end))

    def _sheet(self, reach_id: int, start: str, end: str) -> ReachSheet | None:
        row = self._conn.fetchone(_REACH, (reach_id,))
        if row is None:
            return None
        chiefs = [
            ChiefTerm(
                r["person_id"],
                r["name"],
                r["level"],
                date.fromisoformat(r["starts_on"]),
                date.fromisoformat(r["ends_on"]) if r["ends_on"] else None,
            )
            for r in self._conn.fetchall(
                "SELECT s.person_id, pe.name, s.level, s.starts_on, s.ends_on FROM assignments s"
                " JOIN people pe ON pe.id = s.person_id WHERE s.reach_id = ? ORDER BY s.starts_on, s.id",
                (reach_id,),
            )
        ]
        patrols: list[PatrolRow] = []
        tracks: dict[int, list[tuple[float, float]]] = {}
        for r in self._conn.fetchall(_PATROLS, (reach_id, start, end)):
            patrols.append(
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
            )
            if r["points_pruned_at"] is not None:
                tracks[r["id"]] = decode_track(r["track"])
        self._points(patrols, tracks)
        problems = self._problems(reach_id, start, end)
        return ReachSheet(
            reach=_reach(row),
            area_name_zh=row["area_name_zh"],
            area_name_en=row["area_name_en"],
            chiefs=chiefs,
            patrols=patrols,
            tracks=tracks,
            problems=problems,
            photos=self._photos([p.id for p in problems]),
            names=self._names(problems),
        )

    def _points(self, patrols: list[PatrolRow], tracks: dict[int, list[tuple[float, float]]]) -> None:
        wanted = [p.id for p in patrols if p.id not in tracks]
        for i in range(0, len(wanted), 500):
            ids = wanted[i : i + 500]
            marks = ",".join("?" * len(ids))
            for patrol_id, lon, lat in self._conn.rows(
                f"SELECT patrol_id, lon, lat FROM patrol_points WHERE patrol_id IN ({marks})"
                " ORDER BY patrol_id, at, id",
                ids,
            ):
                tracks.setdefault(patrol_id, []).append((lon, lat))

    def _problems(self, reach_id: int, start: str, end: str) -> list[ProblemRow]:
        rows = self._conn.fetchall(_PROBLEMS, {"reach": reach_id, "start": start, "end": end})
        events: dict[int, list[EventRow]] = {r["id"]: [] for r in rows}
        ids = list(events)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for ev in self._conn.fetchall(
                "SELECT e.problem_id, e.at, pe.name, e.action, e.note, e.data FROM problem_events e"
                f" LEFT JOIN people pe ON pe.id = e.actor_id WHERE e.problem_id IN ({marks})"
                " ORDER BY e.problem_id, e.id",
                chunk,
            ):
                events[ev[0]].append(
                    EventRow(from_db_time(ev[1]), ev[2], ev[3], ev[4], json.loads(ev[5] or "{}"))  # type: ignore[arg-type]
                )
        return [
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
            )
            for r in rows
        ]

    def _photos(self, problem_ids: list[int]) -> dict[int, list[PhotoRef]]:
        found: dict[int, list[PhotoRef]] = {}
        for i in range(0, len(problem_ids), 500):
            chunk = problem_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._conn.fetchall(
                "SELECT pp.problem_id, pp.kind, ph.path, pp.added_at FROM problem_photos pp"
                f" JOIN photos ph ON ph.id = pp.photo_id WHERE pp.problem_id IN ({marks})"
                " ORDER BY pp.problem_id, pp.kind DESC, pp.id",
                chunk,
            ):
                found.setdefault(r[0], []).append(PhotoRef(r[0], r[1], r[2], from_db_time(r[3])))  # type: ignore[arg-type]
        return found

    def _names(self, problems: list[ProblemRow]) -> dict[int, str]:
        ids = sorted(
            {
                int(e.data["assignee"])
                for p in problems
                for e in p.events
                if str(e.data.get("assignee", "")).lstrip("-").isdigit()
            }
        )
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn.fetchall(f"SELECT id, name FROM people WHERE id IN ({marks})", ids)
        return {int(r[0]): str(r[1]) for r in rows}
