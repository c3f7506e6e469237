"""Repositories for the registry: areas, reaches, assignments, invites, group bindings, registrations, dialogs."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from storage.dbtime import from_db_time, to_db_time, utc_now
from storage.records import (
    AreaRecord,
    AssignmentRecord,
    BindingRecord,
    DialogRecord,
    InviteRecord,
    ReachRecord,
    RegistrationRecord,
)

if TYPE_CHECKING:
    from storage.engine import Dialect
    from storage.store import Store


def _area(row: sqlite3.Row) -> AreaRecord:
    return AreaRecord(id=row["id"], code=row["code"], name_zh=row["name_zh"], name_en=row["name_en"])


class Areas:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def all(self) -> list[AreaRecord]:
        return [_area(r) for r in await self._store.fetchall("SELECT * FROM areas ORDER BY code")]

    async def by_code(self, code: str) -> AreaRecord | None:
        row = await self._store.fetchone("SELECT * FROM areas WHERE code = ?", (code,))
        return None if row is None else _area(row)

    async def by_id(self, area_id: int) -> AreaRecord | None:
        row = await self._store.fetchone("SELECT * FROM areas WHERE id = ?", (area_id,))
        return None if row is None else _area(row)

    async def upsert(self, code: str, name_zh: str, name_en: str) -> tuple[int, bool]:
        """Create or update by code; returns (id, whether anything changed)."""
        now = utc_now()
        async with self._store.atomic() as conn:
            changed = (
                await conn.execute(
                    "INSERT INTO areas (code, name_zh, name_en, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en,"
                    "  updated_at = excluded.updated_at"
                    " WHERE areas.name_zh IS DISTINCT FROM excluded.name_zh"
                    " OR areas.name_en IS DISTINCT FROM excluded.name_en",
                    (code, name_zh, name_en, now, now),
                )
            ) > 0
            area_id = await self._store.fetchval("SELECT id FROM areas WHERE code = ?", (code,))
        return int(area_id), changed


_REACH_COLUMNS = "r.*, a.code AS area_code"


def _reach(row: sqlite3.Row) -> ReachRecord:
    bbox = None
    if row["min_lat"] is not None:
        bbox = (row["min_lat"], row["min_lon"], row["max_lat"], row["max_lon"])
    return ReachRecord(
        id=row["id"],
        code=row["code"],
        name_zh=row["name_zh"],
        name_en=row["name_en"],
        area_id=row["area_id"],
        area_code=row["area_code"],
        level=row["level"],
        length_km=row["length_km"],
        tags=tuple(t for t in str(row["tags"] or "").split(";") if t),
        geometry=row["geometry"],
        bbox=bbox,
    )


@dataclass(frozen=True, slots=True)
class ReachValues:
    code: str
    name_zh: str
    name_en: str
    area_id: int
    level: str
    length_km: float | None
    tags: tuple[str, ...]
    # None leaves the stored geometry as it is (a CSV has none); "" clears it; otherwise GeoJSON text.
    geometry: str | None
    bbox: tuple[float, float, float, float] | None


def boxes_in_sql(dialect: Dialect, *, geometry: bool) -> str:
    """The window query over reach_boxes, as each engine's index answers it. SQLite's R*Tree takes the four
    comparisons; PostgreSQL's GiST index takes `&&` on the box expression it indexes, whose comparisons allow a
    millionth of a degree, so the exact four follow it."""
    meets = "b.max_lat >= :min_lat AND b.min_lat <= :max_lat AND b.max_lon >= :min_lon AND b.min_lon <= :max_lon"
    if dialect == "postgresql":
        meets = (
            "box(point(b.min_lon, b.min_lat), point(b.max_lon, b.max_lat))"
            " && box(point(:min_lon, :min_lat), point(:max_lon, :max_lat))"
            f" AND {meets}"
        )
    return (
        f"SELECT b.id, b.min_lat, b.min_lon, b.max_lat, b.max_lon, {'r.geometry' if geometry else 'NULL'}"
        f" FROM reach_boxes b {'JOIN reaches r ON r.id = b.id' if geometry else ''}"
        f" WHERE {meets}"
    )


class Reaches:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def all(self) -> list[ReachRecord]:
        rows = await self._store.fetchall(
            f"SELECT {_REACH_COLUMNS} FROM reaches r JOIN areas a ON a.id = r.area_id ORDER BY r.code"
        )
        return [_reach(r) for r in rows]

    async def in_area(self, area_id: int) -> list[ReachRecord]:
        rows = await self._store.fetchall(
            f"SELECT {_REACH_COLUMNS} FROM reaches r JOIN areas a ON a.id = r.area_id WHERE r.area_id = ?"
            " ORDER BY r.level = 'village', r.level = 'town', r.level = 'county', r.code",
            (area_id,),
        )
        return [_reach(r) for r in rows]

    async def boxes_in(
        self, min_lat: float, min_lon: float, max_lat: float, max_lon: float, *, geometry: bool
    ) -> list[tuple[int, float, float, float, float, str | None]]:
        """(id, min_lat, min_lon, max_lat, max_lon, geometry) of the reaches whose bounding box meets this one, by
        the spatial index (reach_boxes; SQLite's R*Tree rounds its boxes outwards to 32-bit floats, so they hold
        the reaches' own). With `geometry`, each reach's GeoJSON comes along, which saves a query when the window
        holds few; without, it is None (read with `geometries` for the few to measure)."""
        rows = await self._store.fetchall(
            boxes_in_sql(self._store.dialect, geometry=geometry),
            {"min_lat": min_lat, "min_lon": min_lon, "max_lat": max_lat, "max_lon": max_lon},
        )
        return [(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def geometries(self, ids: Sequence[int]) -> dict[int, str | None]:
        """Reach id → its GeoJSON text (None without), for these ids."""
        found: dict[int, str | None] = {}
        for start in range(0, len(ids), 500):  # well under SQLite's limit on bound parameters
            chunk = list(ids[start : start + 500])
            rows = await self._store.fetchall(
                f"SELECT id, geometry FROM reaches WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )
            found.update((int(r[0]), r[1]) for r in rows)
        return found

    async def by_ids(self, ids: Sequence[int]) -> list[ReachRecord]:
        """The reaches with these ids (any order); unknown ids are skipped."""
        found: list[ReachRecord] = []
        for start in range(0, len(ids), 500):  # well under SQLite's limit on bound parameters
            chunk = list(ids[start : start + 500])
            rows = await self._store.fetchall(
                f"SELECT {_REACH_COLUMNS} FROM reaches r JOIN areas a ON a.id = r.area_id"
                f" WHERE r.id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.extend(_reach(r) for r in rows)
        return found

    async def unmapped_in_area(self, area_id: int | None, limit: int) -> list[ReachRecord]:
        """An area's reaches without geometry, by code: what the nearest-reach search offers after the mapped."""
        if area_id is None or limit <= 0:
            return []
        rows = await self._store.fetchall(
            f"SELECT {_REACH_COLUMNS} FROM reaches r JOIN areas a ON a.id = r.area_id"
            " WHERE r.area_id = ? AND r.min_lat IS NULL ORDER BY r.code LIMIT ?",
            (area_id, limit),
        )
        return [_reach(r) for r in rows]

    async def by_code(self, code: str) -> ReachRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_REACH_COLUMNS} FROM reaches r JOIN areas a ON a.id = r.area_id WHERE r.code = ?", (code,)
        )
        return None if row is None else _reach(row)

    async def by_id(self, reach_id: int) -> ReachRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_REACH_COLUMNS} FROM reaches r JOIN areas a ON a.id = r.area_id WHERE r.id = ?", (reach_id,)
        )
        return None if row is None else _reach(row)

    async def upsert(self, values: ReachValues) -> tuple[int, bool]:
        """Create or update by code; returns (id, whether anything changed)."""
        now = utc_now()
        keep_geometry = values.geometry is None
        geometry = None if keep_geometry or values.geometry == "" else values.geometry
        bbox = values.bbox if geometry is not None else None
        params: dict[str, Any] = {
            "code": values.code,
            "name_zh": values.name_zh,
            "name_en": values.name_en,
            "area_id": values.area_id,
            "level": values.level,
            "length_km": values.length_km,
            "tags": ";".join(sorted(values.tags)),
            "geometry": geometry,
            "min_lat": bbox[0] if bbox else None,
            "min_lon": bbox[1] if bbox else None,
            "max_lat": bbox[2] if bbox else None,
            "max_lon": bbox[3] if bbox else None,
            "keep": 1 if keep_geometry else 0,
            "now": now,
        }
        geometry_columns = ("geometry", "min_lat", "min_lon", "max_lat", "max_lon")
        plain_columns = ("name_zh", "name_en", "area_id", "level", "length_km", "tags")
        update = ", ".join(
            [f"{c} = excluded.{c}" for c in plain_columns]
            + [f"{c} = CASE WHEN :keep = 1 THEN reaches.{c} ELSE excluded.{c} END" for c in geometry_columns]
        )
        differs = " OR ".join(
            [f"reaches.{c} IS DISTINCT FROM excluded.{c}" for c in plain_columns]
            + ["(:keep = 0 AND reaches.geometry IS DISTINCT FROM excluded.geometry)"]
        )
        async with self._store.atomic() as conn:
            changed = (
                await conn.execute(
                    "INSERT INTO reaches (code, name_zh, name_en, area_id, level, length_km, tags, geometry,"
                    " min_lat, min_lon, max_lat, max_lon, created_at, updated_at) VALUES (:code, :name_zh, :name_en,"
                    " :area_id, :level, :length_km, :tags, :geometry, :min_lat, :min_lon, :max_lat, :max_lon, :now,"
                    f" :now) ON CONFLICT (code) DO UPDATE SET {update}, updated_at = excluded.updated_at"
                    f" WHERE {differs}",
                    params,
                )
            ) > 0
            reach_id = await self._store.fetchval("SELECT id FROM reaches WHERE code = ?", (values.code,))
        return int(reach_id), changed


_ASSIGNMENT_COLUMNS = (
    "s.id, s.person_id, p.name AS person_name, s.reach_id, r.code AS reach_code, s.level, s.starts_on, s.ends_on,"
    " s.patrol_count, s.patrol_period"
)
_ASSIGNMENT_FROM = "assignments s JOIN people p ON p.id = s.person_id JOIN reaches r ON r.id = s.reach_id"


def _assignment(row: sqlite3.Row) -> AssignmentRecord:
    return AssignmentRecord(
        id=row["id"],
        person_id=row["person_id"],
        person_name=row["person_name"],
        reach_id=row["reach_id"],
        reach_code=row["reach_code"],
        level=row["level"],
        starts_on=date.fromisoformat(row["starts_on"]),
        ends_on=date.fromisoformat(row["ends_on"]) if row["ends_on"] else None,
        patrol_count=row["patrol_count"],
        patrol_period=row["patrol_period"],
    )


class Assignments:
    """Chief ↔ reach over time. Ending an assignment keeps its row, so past periods still know who answered."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def active_for_person(self, person_id: int) -> list[AssignmentRecord]:
        rows = await self._store.fetchall(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM {_ASSIGNMENT_FROM} WHERE s.person_id = ? AND s.ends_on IS NULL"
            " ORDER BY r.code",
            (person_id,),
        )
        return [_assignment(r) for r in rows]

    async def active_for_reach(self, reach_id: int) -> list[AssignmentRecord]:
        rows = await self._store.fetchall(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM {_ASSIGNMENT_FROM} WHERE s.reach_id = ? AND s.ends_on IS NULL"
            " ORDER BY s.level = 'village', s.level = 'town', s.level = 'county', p.name",
            (reach_id,),
        )
        return [_assignment(r) for r in rows]

    async def by_id(self, assignment_id: int) -> AssignmentRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM {_ASSIGNMENT_FROM} WHERE s.id = ?", (assignment_id,)
        )
        return None if row is None else _assignment(row)

    async def all(self) -> list[AssignmentRecord]:
        rows = await self._store.fetchall(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM {_ASSIGNMENT_FROM} ORDER BY s.reach_id, s.starts_on, s.id"
        )
        return [_assignment(r) for r in rows]

    async def assign(
        self,
        person_id: int,
        reach_id: int,
        *,
        level: str,
        starts_on: date,
        patrol_count: int | None = None,
        patrol_period: str | None = None,
    ) -> tuple[int, bool]:
        """Start an assignment unless one is already active; returns (id, whether it is new)."""
        now = utc_now()
        async with self._store.atomic() as conn:
            existing = await self._store.fetchval(
                "SELECT id FROM assignments WHERE person_id = ? AND reach_id = ? AND ends_on IS NULL",
                (person_id, reach_id),
            )
            if existing is not None:
                return int(existing), False
            new_id = await conn.insert(
                "INSERT INTO assignments (person_id, reach_id, level, starts_on, patrol_count, patrol_period,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (person_id, reach_id, level, starts_on.isoformat(), patrol_count, patrol_period, now, now),
            )
            return new_id, True

    async def end(self, assignment_id: int, *, last_day: date) -> bool:
        """The chief answers for the reach through `last_day`. One that had not begun by then is removed whole.

        Returns False when the assignment was not active (ended already, or gone): a second press changes nothing.
        """
        async with self._store.atomic() as conn:
            row = await self._store.fetchone(
                "SELECT starts_on FROM assignments WHERE id = ? AND ends_on IS NULL", (assignment_id,)
            )
            if row is None:
                return False
            if date.fromisoformat(row["starts_on"]) > last_day:
                await conn.execute("DELETE FROM assignments WHERE id = ?", (assignment_id,))
            else:
                await conn.execute(
                    "UPDATE assignments SET ends_on = ?, updated_at = ? WHERE id = ?",
                    (last_day.isoformat(), utc_now(), assignment_id),
                )
            return True


_INVITE_COLUMNS = "i.*, p.name AS person_name, p.telegram_id AS person_telegram_id"


def _invite(row: sqlite3.Row) -> InviteRecord:
    return InviteRecord(
        id=row["id"],
        code=row["code"],
        person_id=row["person_id"],
        person_name=row["person_name"],
        person_telegram_id=row["person_telegram_id"],
        role=row["role"],
        created_by=row["created_by"],
        created_at=from_db_time(row["created_at"]),  # type: ignore[arg-type]
        expires_at=from_db_time(row["expires_at"]),  # type: ignore[arg-type]
        used_at=from_db_time(row["used_at"]),
        used_by=row["used_by"],
    )


def new_invite_code() -> str:
    """12 URL-safe characters (72 bits): unguessable, and fits Telegram's 64-character /start parameter."""
    return secrets.token_urlsafe(9)


class Invites:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, person_id: int, role: str, *, expires_at: datetime, created_by: int | None = None) -> str:
        code = new_invite_code()
        await self._store.insert(
            "INSERT INTO invites (code, person_id, role, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (code, person_id, role, created_by, utc_now(), to_db_time(expires_at)),
        )
        return code

    async def by_id(self, invite_id: int) -> InviteRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_INVITE_COLUMNS} FROM invites i JOIN people p ON p.id = i.person_id WHERE i.id = ?", (invite_id,)
        )
        return None if row is None else _invite(row)

    async def by_code(self, code: str) -> InviteRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_INVITE_COLUMNS} FROM invites i JOIN people p ON p.id = i.person_id WHERE i.code = ?", (code,)
        )
        return None if row is None else _invite(row)

    async def pending(self, *, now: datetime, include_expired: bool = False) -> list[InviteRecord]:
        """Unused invites of people who have not joined yet, newest per person first."""
        expiry = "" if include_expired else " AND i.expires_at > ?"
        params: tuple[Any, ...] = () if include_expired else (to_db_time(now),)
        rows = await self._store.fetchall(
            f"SELECT {_INVITE_COLUMNS} FROM invites i JOIN people p ON p.id = i.person_id"
            f" WHERE i.used_at IS NULL AND p.active = 1 AND p.telegram_id IS NULL{expiry} ORDER BY p.name, i.id DESC",
            params,
        )
        return [_invite(r) for r in rows]

    async def pending_for_person(self, person_id: int, *, now: datetime) -> InviteRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_INVITE_COLUMNS} FROM invites i JOIN people p ON p.id = i.person_id"
            " WHERE i.person_id = ? AND i.used_at IS NULL AND i.expires_at > ? ORDER BY i.id DESC LIMIT 1",
            (person_id, to_db_time(now)),
        )
        return None if row is None else _invite(row)

    async def mark_used(self, invite_id: int, telegram_id: int, *, now: datetime) -> bool:
        """Use the invite once: False when it was used or expired meanwhile (a double tap, a second person)."""
        return (
            await self._store.execute(
                "UPDATE invites SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?",
                (to_db_time(now), telegram_id, invite_id, to_db_time(now)),
            )
            > 0
        )

    async def revoke_for_person(self, person_id: int) -> int:
        """Expire a person's unused invites (they were deactivated, or joined another way)."""
        now = utc_now()
        return await self._store.execute(
            "UPDATE invites SET expires_at = ? WHERE person_id = ? AND used_at IS NULL AND expires_at > ?",
            (now, person_id, now),
        )


def _binding(row: sqlite3.Row) -> BindingRecord:
    return BindingRecord(
        chat_id=row["chat_id"],
        area_id=row["area_id"],
        area_code=row["area_code"],
        bound_by=row["bound_by"],
        bound_at=from_db_time(row["bound_at"]),  # type: ignore[arg-type]
    )


class Bindings:
    """Which group gets which area's weekly summary."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def for_chat(self, chat_id: int) -> BindingRecord | None:
        row = await self._store.fetchone(
            "SELECT b.*, a.code AS area_code FROM chat_bindings b JOIN areas a ON a.id = b.area_id WHERE b.chat_id = ?",
            (chat_id,),
        )
        return None if row is None else _binding(row)

    async def for_area(self, area_id: int) -> list[BindingRecord]:
        rows = await self._store.fetchall(
            "SELECT b.*, a.code AS area_code FROM chat_bindings b JOIN areas a ON a.id = b.area_id"
            " WHERE b.area_id = ? ORDER BY b.bound_at",
            (area_id,),
        )
        return [_binding(r) for r in rows]

    async def bind(self, chat_id: int, area_id: int, *, bound_by: int | None) -> None:
        await self._store.execute(
            "INSERT INTO chat_bindings (chat_id, area_id, bound_by, bound_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET area_id = excluded.area_id, bound_by = excluded.bound_by,"
            "  bound_at = excluded.bound_at",
            (chat_id, area_id, bound_by, utc_now()),
        )

    async def unbind(self, chat_id: int) -> bool:
        return await self._store.execute("DELETE FROM chat_bindings WHERE chat_id = ?", (chat_id,)) > 0


def _registration(row: sqlite3.Row) -> RegistrationRecord:
    return RegistrationRecord(
        id=row["id"],
        person_id=row["person_id"],
        telegram_id=row["telegram_id"],
        name=row["name"],
        home_area_id=row["home_area_id"],
        phone=row["phone"],
        status=row["status"],
        created_at=from_db_time(row["created_at"]),  # type: ignore[arg-type]
    )


class Registrations:
    """Volunteers asking to join; with admin approval they wait here."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(
        self, person_id: int, *, name: str, home_area_id: int | None, phone: str | None, status: str
    ) -> int:
        return await self._store.insert(
            "INSERT INTO registrations (person_id, name, home_area_id, phone, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (person_id, name, home_area_id, phone, status, utc_now()),
        )

    async def by_id(self, registration_id: int) -> RegistrationRecord | None:
        row = await self._store.fetchone(
            "SELECT g.*, p.telegram_id FROM registrations g JOIN people p ON p.id = g.person_id WHERE g.id = ?",
            (registration_id,),
        )
        return None if row is None else _registration(row)

    async def pending(self) -> list[RegistrationRecord]:
        rows = await self._store.fetchall(
            "SELECT g.*, p.telegram_id FROM registrations g JOIN people p ON p.id = g.person_id"
            " WHERE g.status = 'pending' ORDER BY g.id"
        )
        return [_registration(r) for r in rows]

    async def pending_for_person(self, person_id: int) -> RegistrationRecord | None:
        row = await self._store.fetchone(
            "SELECT g.*, p.telegram_id FROM registrations g JOIN people p ON p.id = g.person_id"
            " WHERE g.person_id = ? AND g.status = 'pending'",
            (person_id,),
        )
        return None if row is None else _registration(row)

    async def decide(self, registration_id: int, *, approved: bool, decided_by: int | None) -> bool:
        """Approve or reject once: False when another admin decided first."""
        return (
            await self._store.execute(
                "UPDATE registrations SET status = ?, decided_by = ?, decided_at = ?"
                " WHERE id = ? AND status = 'pending'",
                ("approved" if approved else "rejected", decided_by, utc_now(), registration_id),
            )
            > 0
        )


class Dialogs:
    """Half-finished private dialogs, kept in the store so a restart loses nothing."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, telegram_id: int) -> DialogRecord | None:
        row = await self._store.fetchone("SELECT * FROM dialogs WHERE telegram_id = ?", (telegram_id,))
        if row is None:
            return None
        return DialogRecord(
            telegram_id=row["telegram_id"],
            flow=row["flow"],
            step=row["step"],
            data=json.loads(row["data"]),
            updated_at=from_db_time(row["updated_at"]),  # type: ignore[arg-type]
        )

    async def put(self, telegram_id: int, flow: str, step: str, data: dict[str, Any]) -> None:
        await self._store.execute(
            "INSERT INTO dialogs (telegram_id, flow, step, data, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (telegram_id) DO UPDATE SET flow = excluded.flow, step = excluded.step,"
            "  data = excluded.data, updated_at = excluded.updated_at",
            (telegram_id, flow, step, json.dumps(data, ensure_ascii=False), utc_now()),
        )

    async def clear(self, telegram_id: int, flow: str | None = None) -> bool:
        if flow is None:
            return await self._store.execute("DELETE FROM dialogs WHERE telegram_id = ?", (telegram_id,)) > 0
        return (
            await self._store.execute("DELETE FROM dialogs WHERE telegram_id = ? AND flow = ?", (telegram_id, flow)) > 0
        )


class Meta:
    """Small facts shared between the bot and the command line."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, key: str) -> str | None:
        value = await self._store.fetchval("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        await self._store.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
            " WHERE meta.value IS DISTINCT FROM excluded.value",
            (key, value, utc_now()),
        )
