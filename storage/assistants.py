"""Chiefs' assistants: who assists which chief, since and until when, and the links that name one.

A row is ended (its `until` set), never deleted: a past month's patrols walked by an assistant still name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time, utc_now
from storage.registry import new_invite_code

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True, slots=True)
class AssistantRecord:
    id: int
    chief_id: int
    chief_name: str
    assistant_id: int
    assistant_name: str
    since: datetime
    until: datetime | None


@dataclass(frozen=True, slots=True)
class AssistantLink:
    code: str
    chief_id: int
    chief_name: str
    expires_at: datetime
    used_at: datetime | None


_COLUMNS = (
    "a.id, a.chief_id, c.name AS chief_name, a.assistant_id, h.name AS assistant_name, a.since, a.until"
    " FROM assistants a JOIN people c ON c.id = a.chief_id JOIN people h ON h.id = a.assistant_id"
)


def _record(row: object) -> AssistantRecord:
    r = row  # sqlite3.Row
    return AssistantRecord(
        id=r["id"],  # type: ignore[index]
        chief_id=r["chief_id"],  # type: ignore[index]
        chief_name=r["chief_name"],  # type: ignore[index]
        assistant_id=r["assistant_id"],  # type: ignore[index]
        assistant_name=r["assistant_name"],  # type: ignore[index]
        since=from_db_time(r["since"]),  # type: ignore[index,arg-type]
        until=from_db_time(r["until"]),  # type: ignore[index]
    )


class Assistants:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, chief_id: int, assistant_id: int, *, by: int | None) -> tuple[AssistantRecord, bool]:
        """Name the assistant (the row already active, if they are one): (the row, whether it is new)."""
        async with self._store.atomic() as conn:
            new = (
                await conn.execute(
                    "INSERT INTO assistants (chief_id, assistant_id, since, added_by) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (chief_id, assistant_id) WHERE until IS NULL DO NOTHING",
                    (chief_id, assistant_id, utc_now(), by),
                )
                > 0
            )
            found = await self.active(chief_id, assistant_id)
        assert found is not None
        return found, new

    async def remove(self, chief_id: int, assistant_id: int, *, by: int | None) -> bool:
        """End the assistant's active row; False when they were not (or no longer) assisting the chief."""
        return (
            await self._store.execute(
                "UPDATE assistants SET until = ?, removed_by = ? WHERE chief_id = ? AND assistant_id = ?"
                " AND until IS NULL",
                (utc_now(), by, chief_id, assistant_id),
            )
            > 0
        )

    async def active(self, chief_id: int, assistant_id: int) -> AssistantRecord | None:
        row = await self._store.fetchone(
            f"SELECT {_COLUMNS} WHERE a.chief_id = ? AND a.assistant_id = ? AND a.until IS NULL",
            (chief_id, assistant_id),
        )
        return None if row is None else _record(row)

    async def of_chief(self, chief_id: int) -> list[AssistantRecord]:
        """The chief's assistants now, by name."""
        rows = await self._store.fetchall(
            f"SELECT {_COLUMNS} WHERE a.chief_id = ? AND a.until IS NULL ORDER BY h.name, a.id", (chief_id,)
        )
        return [_record(r) for r in rows]

    async def chiefs_of(self, assistant_id: int) -> list[AssistantRecord]:
        """The chiefs the person assists now, by name."""
        rows = await self._store.fetchall(
            f"SELECT {_COLUMNS} WHERE a.assistant_id = ? AND a.until IS NULL ORDER BY c.name, a.id",
            (assistant_id,),
        )
        return [_record(r) for r in rows]

    async def walked(
        self, *, start: datetime, end: datetime, area_id: int | None = None, chief_id: int | None = None
    ) -> list[WalkedCount]:
        return await walked_counts(self._store, start=start, end=end, area_id=area_id, chief_id=chief_id)

    async def all_active(self) -> list[AssistantRecord]:
        rows = await self._store.fetchall(f"SELECT {_COLUMNS} WHERE a.until IS NULL ORDER BY c.name, h.name, a.id")
        return [_record(r) for r in rows]

    async def create_link(self, chief_id: int, expires_at: datetime) -> str:
        code = new_invite_code()
        await self._store.execute(
            "INSERT INTO assistant_links (code, chief_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (code, chief_id, utc_now(), to_db_time(expires_at)),
        )
        return code

    async def link(self, code: str) -> AssistantLink | None:
        row = await self._store.fetchone(
            "SELECT l.code, l.chief_id, p.name, l.expires_at, l.used_at FROM assistant_links l"
            " JOIN people p ON p.id = l.chief_id WHERE l.code = ?",
            (code,),
        )
        if row is None:
            return None
        return AssistantLink(row[0], row[1], row[2], from_db_time(row[3]), from_db_time(row[4]))  # type: ignore[arg-type]

    async def use_link(self, code: str, person_id: int, now: datetime) -> bool:
        """Spend the link for the person; False when it was spent already or has expired (a second tap)."""
        return (
            await self._store.execute(
                "UPDATE assistant_links SET used_at = ?, used_by = ? WHERE code = ? AND used_at IS NULL"
                " AND expires_at > ?",
                (utc_now(), person_id, code, to_db_time(now)),
            )
            > 0
        )

    async def walker_names(self, patrol_ids: list[int]) -> dict[int, tuple[str, str]]:
        """patrol id → (the assistant who walked it, the chief it counts for), for those of `patrol_ids` an
        assistant walked."""
        if not patrol_ids:
            return {}
        marks = ",".join("?" * len(patrol_ids))
        rows = await self._store.fetchall(
            f"SELECT pa.id, h.name, c.name FROM patrols pa JOIN people h ON h.id = pa.walked_by"
            f" JOIN people c ON c.id = pa.person_id WHERE pa.id IN ({marks})",
            tuple(patrol_ids),
        )
        return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}


@dataclass(frozen=True, slots=True)
class WalkedCount:
    """The finished patrols one assistant walked for one chief in a range, in one area."""

    area_id: int
    chief_id: int
    chief_name: str
    assistant_id: int
    assistant_name: str
    patrols: int
    valid: int


async def walked_counts(
    store: Store, *, start: datetime, end: datetime, area_id: int | None = None, chief_id: int | None = None
) -> list[WalkedCount]:
    """Per (area, chief, assistant): finished patrols an assistant walked for a chief, started in [start, end)."""
    params: dict[str, object] = {"s": to_db_time(start), "e": to_db_time(end)}
    area = ""
    if area_id is not None:
        area = " AND r.area_id = :area"
        params["area"] = area_id
    if chief_id is not None:
        area += " AND pa.person_id = :chief"
        params["chief"] = chief_id
    rows = await store.fetchall(
        "SELECT r.area_id, pa.person_id, c.name, pa.walked_by, h.name, count(*), count(*) FILTER (WHERE pa.valid = 1)"
        " FROM patrols pa JOIN reaches r ON r.id = pa.reach_id JOIN people c ON c.id = pa.person_id"
        " JOIN people h ON h.id = pa.walked_by"
        " WHERE pa.walked_by IS NOT NULL AND pa.status = 'finished' AND pa.started_at >= :s AND pa.started_at < :e"
        f"{area} GROUP BY r.area_id, pa.person_id, c.name, pa.walked_by, h.name ORDER BY r.area_id, c.name, h.name",
        params,
    )
    return [WalkedCount(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6] or 0)) for r in rows]
