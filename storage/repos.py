"""Repositories: the SQL for people, chats and failed updates."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from storage.dbtime import from_db_time, to_db_time, utc_now
from storage.records import ChatRecord, FailedUpdateRecord, PersonRecord

if TYPE_CHECKING:
    from storage.store import Store

_PERSON_COLUMNS = (
    "p.id, p.telegram_id, p.name, p.username, p.language, p.language_code, p.phone, p.active, "
    "p.started_at, p.blocked_at, p.blocked_reason, p.home_area_id, "
    "(SELECT group_concat(r.role || ':' || COALESCE(r.level, ''), ',') FROM person_roles r"
    " WHERE r.person_id = p.id) AS roles,"
    " EXISTS (SELECT 1 FROM registrations g WHERE g.person_id = p.id AND g.status = 'pending') AS pending,"
    # An admin's office scope (no rows: the whole county); read with the person, by the table's primary key.
    " (SELECT group_concat(CAST(s.area_id AS TEXT), ',') FROM admin_scopes s WHERE s.person_id = p.id) AS scope"
)
# PostgreSQL's own string_agg where the baseline's group_concat (an aggregate in SQL, for SQLite's dialect) would
# run its step function per row: a person is read for every update a worker handles (a shared store caches none).
_PERSON_COLUMNS_PG = _PERSON_COLUMNS.replace("group_concat(", "string_agg(")


def _person(row: sqlite3.Row) -> PersonRecord:
    roles: dict[str, str | None] = {}
    if row["roles"]:
        for part in str(row["roles"]).split(","):
            role, _, level = part.partition(":")
            roles[role] = level or None
    return PersonRecord(
        id=row["id"],
        telegram_id=row["telegram_id"],
        name=row["name"],
        username=row["username"],
        language=row["language"],
        language_code=row["language_code"],
        phone=row["phone"],
        active=bool(row["active"]),
        started_at=from_db_time(row["started_at"]),
        blocked_at=from_db_time(row["blocked_at"]),
        roles=roles,
        home_area_id=row["home_area_id"],
        pending=bool(row["pending"]),
        blocked_reason=row["blocked_reason"],
        scope=tuple(sorted(int(a) for a in str(row["scope"]).split(","))) if row["scope"] else (),
    )


def _in_areas(areas: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    """A condition on `people p`: their home area, a reach they answer for now, or their office scope lies in
    `areas`."""
    marks = ",".join("?" * len(areas)) or "NULL"
    clause = (
        f"(p.home_area_id IN ({marks})"
        " OR EXISTS (SELECT 1 FROM assignments s JOIN reaches r ON r.id = s.reach_id"
        f"  WHERE s.person_id = p.id AND s.ends_on IS NULL AND r.area_id IN ({marks}))"
        f" OR EXISTS (SELECT 1 FROM admin_scopes x WHERE x.person_id = p.id AND x.area_id IN ({marks})))"
    )
    return clause, (*areas, *areas, *areas)


class People:
    """People and roles. Lookups by Telegram id are cached: one runs for every update a person sends.

    Every write here drops what it may have changed from the cache; writes by another process (the command
    line) are seen within `CACHE_SECONDS`. A shared store (several workers: `Store.shared`) caches nothing: a
    role granted through one worker must count in the next update, whichever worker takes it.
    """

    CACHE_SECONDS = 30.0

    def __init__(self, store: Store) -> None:
        self._store = store
        self._columns = _PERSON_COLUMNS_PG if store.dialect == "postgresql" else _PERSON_COLUMNS
        self._cache: dict[int, tuple[float, PersonRecord]] = {}
        # Bumped by every write: a read that overlapped a write may have seen the old row, and is not cached.
        self._generation = 0

    def _forget(self, telegram_id: int | None = None) -> None:
        self._generation += 1
        if telegram_id is None:
            self._cache.clear()
        else:
            self._cache.pop(telegram_id, None)

    async def by_telegram_id(self, telegram_id: int) -> PersonRecord | None:
        # Inside a transaction, read through it (its own writes count) and cache nothing: it may roll back.
        uncached = self._store.shared or self._store.in_transaction()
        cached = None if uncached else self._cache.get(telegram_id)
        if cached is not None and time.monotonic() - cached[0] < self.CACHE_SECONDS:
            return cached[1]
        generation = self._generation
        row = await self._store.fetchone(
            f"SELECT {self._columns} FROM people p WHERE p.telegram_id = ?", (telegram_id,)
        )
        if row is None:
            return None
        person = _person(row)
        if not uncached and generation == self._generation:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[telegram_id] = (time.monotonic(), person)
        return person

    async def by_id(self, person_id: int) -> PersonRecord | None:
        row = await self._store.fetchone(f"SELECT {self._columns} FROM people p WHERE p.id = ?", (person_id,))
        return None if row is None else _person(row)

    async def record_contact(
        self,
        telegram_id: int,
        *,
        name: str,
        username: str | None,
        language_code: str | None,
        started: bool,
    ) -> PersonRecord:
        """Create or refresh the person behind a private message; mark them started (and so reachable)."""
        now = utc_now()
        self._forget(telegram_id)
        async with self._store.atomic() as conn:
            await conn.execute(
                "INSERT INTO people (telegram_id, name, username, language_code, started_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (telegram_id) DO UPDATE SET"
                "  username = excluded.username,"
                "  language_code = COALESCE(excluded.language_code, people.language_code),"
                "  started_at = COALESCE(people.started_at, excluded.started_at),"
                "  blocked_at = CASE WHEN excluded.started_at IS NOT NULL THEN NULL ELSE people.blocked_at END,"
                "  blocked_reason = CASE WHEN excluded.started_at IS NOT NULL THEN NULL ELSE people.blocked_reason END,"
                "  updated_at = excluded.updated_at",
                (telegram_id, name, username, language_code, now if started else None, now, now),
            )
            person = await self.by_telegram_id(telegram_id)
        self._forget(telegram_id)
        assert person is not None
        return person

    async def set_language(self, telegram_id: int, language: str | None) -> None:
        self._forget(telegram_id)
        await self._store.execute(
            "UPDATE people SET language = ?, updated_at = ? WHERE telegram_id = ?",
            (language, utc_now(), telegram_id),
        )
        self._forget(telegram_id)

    async def set_blocked(self, telegram_id: int, blocked: bool, *, reason: str | None = None) -> None:
        """Telegram told us the person blocked (or unblocked) the bot: don't push to them meanwhile."""
        self._forget(telegram_id)
        await self._store.execute(
            "UPDATE people SET blocked_at = ?, blocked_reason = ?, updated_at = ? WHERE telegram_id = ?",
            (utc_now() if blocked else None, reason if blocked else None, utc_now(), telegram_id),
        )
        self._forget(telegram_id)

    async def refused(self, telegram_id: int, reason: str) -> bool:
        """Telegram answered 403 to a message for the person: unreachable from now, until they write again.
        False when they were already marked (the moment of the first refusal is kept: it names the episode)."""
        self._forget(telegram_id)
        changed = await self._store.execute(
            "UPDATE people SET blocked_at = ?, blocked_reason = ?, updated_at = ?"
            " WHERE telegram_id = ? AND blocked_at IS NULL",
            (utc_now(), reason, utc_now(), telegram_id),
        )
        self._forget(telegram_id)
        return changed > 0

    async def unreachable_told(self, person_ids: list[int]) -> dict[int, str]:
        """The episode the office was last told of, for each of these people it was told of at all."""
        told: dict[int, str] = {}
        for start in range(0, len(person_ids), 500):  # SQLite's limit on bound parameters
            chunk = person_ids[start : start + 500]
            rows = await self._store.fetchall(
                f"SELECT person_id, episode FROM unreachable_told WHERE person_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            told.update({int(r[0]): str(r[1]) for r in rows})
        return told

    async def claim_unreachable_notice(self, person_id: int, episode: str) -> bool:
        """Record that the office is told this person cannot be reached in `episode`; False when it already was."""
        return (
            await self._store.execute(
                "INSERT INTO unreachable_told (person_id, episode, told_at) VALUES (?, ?, ?)"
                " ON CONFLICT (person_id) DO UPDATE SET episode = excluded.episode, told_at = excluded.told_at"
                " WHERE unreachable_told.episode != excluded.episode",
                (person_id, episode, utc_now()),
            )
            > 0
        )

    async def grant_role(
        self, person_id: int, role: str, *, level: str | None = None, granted_by: int | None = None
    ) -> None:
        self._forget()
        await self._store.execute(
            "INSERT INTO person_roles (person_id, role, level, granted_at, granted_by) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (person_id, role) DO UPDATE SET level = excluded.level",
            (person_id, role, level, utc_now(), granted_by),
        )
        self._forget()

    async def by_phone(self, phone: str) -> PersonRecord | None:
        row = await self._store.fetchone(f"SELECT {self._columns} FROM people p WHERE p.phone = ?", (phone,))
        return None if row is None else _person(row)

    async def registered_without_phone(self, name: str, home_area_id: int) -> PersonRecord | None:
        """A chief (or office staff) the office registered without a phone is known by name within their area."""
        row = await self._store.fetchone(
            f"SELECT {self._columns} FROM people p WHERE p.name = ? AND p.home_area_id = ? AND p.phone IS NULL"
            " AND EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role IN ('chief', 'admin'))"
            " ORDER BY p.id LIMIT 1",
            (name, home_area_id),
        )
        return None if row is None else _person(row)

    async def create(
        self, *, name: str, phone: str | None = None, home_area_id: int | None = None, telegram_id: int | None = None
    ) -> int:
        """A person the office registers before they have opened the bot (a chief, an invited admin)."""
        now = utc_now()
        self._forget()
        person_id = await self._store.insert(
            "INSERT INTO people (telegram_id, name, phone, home_area_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (telegram_id, name, phone, home_area_id, now, now),
        )
        self._forget()
        return person_id

    async def update_registry(self, person_id: int, *, name: str, phone: str | None, home_area_id: int | None) -> bool:
        """Set what the office's registry says; returns whether anything changed."""
        self._forget()
        changed = (
            await self._store.execute(
                "UPDATE people SET name = ?, phone = ?, home_area_id = ?, updated_at = ? WHERE id = ?"
                " AND (name IS DISTINCT FROM ? OR phone IS DISTINCT FROM ? OR home_area_id IS DISTINCT FROM ?)",
                (name, phone, home_area_id, utc_now(), person_id, name, phone, home_area_id),
            )
            > 0
        )
        self._forget()
        return changed

    async def set_profile(
        self, person_id: int, *, name: str | None = None, phone: str | None = None, home_area_id: int | None = None
    ) -> None:
        """Fill in what a person told the bot about themselves; None leaves a field as it is."""
        self._forget()
        await self._store.execute(
            "UPDATE people SET name = COALESCE(?, name), phone = COALESCE(?, phone),"
            " home_area_id = COALESCE(?, home_area_id), updated_at = ? WHERE id = ?",
            (name, phone, home_area_id, utc_now(), person_id),
        )
        self._forget()

    async def set_telegram_id(self, person_id: int, telegram_id: int) -> None:
        self._forget()
        await self._store.execute(
            "UPDATE people SET telegram_id = ?, updated_at = ? WHERE id = ?", (telegram_id, utc_now(), person_id)
        )
        self._forget()

    async def adopt(self, placeholder_id: int, telegram_id: int) -> int:
        """The person behind `telegram_id` is the one the office registered as `placeholder_id`: make them one.

        The Telegram row survives (its id is what later records of the person use); it takes the registry's
        name, phone and home area, and every reference to the placeholder (roles, assignments, invites, …) is
        moved onto it. Found generically from the schema's foreign keys, so tables added later follow too.
        """
        self._forget()
        async with self._store.atomic() as conn:
            own = await self._store.fetchval("SELECT id FROM people WHERE telegram_id = ?", (telegram_id,))
            placeholder = await self._store.fetchone(
                "SELECT telegram_id, name, phone, home_area_id FROM people WHERE id = ?", (placeholder_id,)
            )
            if placeholder is None:
                raise LookupError(f"no person {placeholder_id}")
            if own is None or own == placeholder_id:
                if placeholder["telegram_id"] is None:
                    await conn.execute(
                        "UPDATE people SET telegram_id = ?, updated_at = ? WHERE id = ?",
                        (telegram_id, utc_now(), placeholder_id),
                    )
                self._forget()
                return placeholder_id
            own_id = int(own)
            now = utc_now()
            await conn.execute(
                "INSERT INTO person_roles (person_id, role, level, granted_at, granted_by)"
                " SELECT ?, role, level, granted_at, granted_by FROM person_roles WHERE person_id = ?"
                " ON CONFLICT (person_id, role) DO UPDATE SET level = excluded.level",
                (own_id, placeholder_id),
            )
            await conn.execute("DELETE FROM person_roles WHERE person_id = ?", (placeholder_id,))
            # The same reach held twice at once would break the one-active-assignment rule: keep the older one.
            await conn.execute(
                "DELETE FROM assignments WHERE person_id = ? AND ends_on IS NULL AND reach_id IN"
                " (SELECT reach_id FROM assignments WHERE person_id = ? AND ends_on IS NULL)",
                (placeholder_id, own_id),
            )
            await conn.execute(
                "DELETE FROM registrations WHERE person_id = ? AND status = 'pending'", (placeholder_id,)
            )
            # No one assists themselves (a CHECK), and one active row per chief and assistant (a unique index).
            await conn.execute(
                "DELETE FROM assistants"
                " WHERE (chief_id = ? AND assistant_id = ?) OR (chief_id = ? AND assistant_id = ?)",
                (own_id, placeholder_id, placeholder_id, own_id),
            )
            await conn.execute(
                "DELETE FROM assistants WHERE until IS NULL AND ((chief_id = ? AND assistant_id IN"
                "  (SELECT assistant_id FROM assistants WHERE chief_id = ? AND until IS NULL))"
                " OR (assistant_id = ? AND chief_id IN"
                "  (SELECT chief_id FROM assistants WHERE assistant_id = ? AND until IS NULL)))",
                (placeholder_id, own_id, placeholder_id, own_id),
            )
            # The office scopes join (the primary key holds each area once).
            await conn.execute(
                "INSERT INTO admin_scopes (person_id, area_id)"
                " SELECT ?, area_id FROM admin_scopes WHERE person_id = ? ON CONFLICT DO NOTHING",
                (own_id, placeholder_id),
            )
            await conn.execute("DELETE FROM admin_scopes WHERE person_id = ?", (placeholder_id,))
            for table, column in await self._references():
                await conn.execute(
                    f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?', (own_id, placeholder_id)
                )
            await conn.execute("UPDATE people SET phone = NULL WHERE id = ?", (placeholder_id,))
            await conn.execute(
                "UPDATE people SET name = ?, phone = COALESCE(?, phone), home_area_id = COALESCE(?, home_area_id),"
                " active = 1, updated_at = ? WHERE id = ?",
                (placeholder["name"], placeholder["phone"], placeholder["home_area_id"], now, own_id),
            )
            await conn.execute("DELETE FROM people WHERE id = ?", (placeholder_id,))
        self._forget()
        return own_id

    async def _references(self) -> list[tuple[str, str]]:
        """Every (table, column) with a foreign key to people.id."""
        if self._store.dialect == "postgresql":
            rows = await self._store.fetchall(
                "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
                " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                " WHERE c.contype = 'f' AND c.confrelid = 'people'::regclass"
                " AND array_length(c.conkey, 1) = 1 ORDER BY 1, 2"
            )
            return [(str(r[0]).strip('"'), str(r[1])) for r in rows]
        tables = await self._store.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        found: list[tuple[str, str]] = []
        for (table,) in tables:
            for fk in await self._store.fetchall("SELECT * FROM pragma_foreign_key_list(?)", (table,)):
                if fk["table"] == "people" and (fk["to"] in (None, "id")):
                    found.append((str(table), str(fk["from"])))
        return found

    async def revoke_role(self, person_id: int, role: str) -> bool:
        self._forget()
        removed = (
            await self._store.execute("DELETE FROM person_roles WHERE person_id = ? AND role = ?", (person_id, role))
            > 0
        )
        self._forget()
        return removed

    async def set_active(self, person_id: int, active: bool, *, by: int | None) -> bool:
        """Deactivate or reactivate; returns whether it changed (a second press does nothing)."""
        self._forget()
        changed = (
            await self._store.execute(
                "UPDATE people SET active = ?, deactivated_at = ?, deactivated_by = ?, updated_at = ?"
                " WHERE id = ? AND active = ?",
                (
                    1 if active else 0,
                    None if active else utc_now(),
                    None if active else by,
                    utc_now(),
                    person_id,
                    0 if active else 1,
                ),
            )
            > 0
        )
        self._forget()
        return changed

    async def search(
        self, text: str, *, limit: int, offset: int = 0, areas: tuple[int, ...] | None = None
    ) -> tuple[list[PersonRecord], int]:
        """People whose name, phone or username contains `text` (all when empty), and how many match in all;
        with `areas`, only people of those areas (`in_areas`)."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE is the same search.
        like = "LIKE" if self._store.dialect == "sqlite" else "ILIKE"
        where = (
            f"WHERE (p.name {like} ? ESCAPE '\\' OR p.phone {like} ? ESCAPE '\\'"
            f" OR p.username {like} ? ESCAPE '\\')"
        )
        params: tuple[object, ...] = (pattern, pattern, pattern)
        if areas is not None:
            clause, more = _in_areas(areas)
            where += f" AND {clause}"
            params += more
        total = await self._store.fetchval(f"SELECT count(*) FROM people p {where}", params)
        rows = await self._store.fetchall(
            f"SELECT {self._columns} FROM people p {where} ORDER BY p.active DESC, p.name, p.id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_person(r) for r in rows], int(total)

    async def in_areas(self, person_id: int, areas: tuple[int, ...]) -> bool:
        """Whether the person belongs to these areas: lives in one, answers for a reach in one now, or is an office
        of one of them (what a town's office sees of people)."""
        clause, params = _in_areas(areas)
        return bool(await self._store.fetchval(f"SELECT {clause} FROM people p WHERE p.id = ?", (*params, person_id)))

    async def ids_in_areas(self, areas: tuple[int, ...]) -> set[int]:
        """The people who belong to these areas, as `in_areas` tells it for one."""
        clause, params = _in_areas(areas)
        return {row[0] for row in await self._store.fetchall(f"SELECT p.id FROM people p WHERE {clause}", params)}

    async def chiefs(self) -> list[PersonRecord]:
        """Active chiefs, for the registry export."""
        rows = await self._store.fetchall(
            f"SELECT {self._columns} FROM people p WHERE p.active = 1 AND EXISTS"
            " (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = 'chief') ORDER BY p.id"
        )
        return [_person(r) for r in rows]

    async def chiefs_holding_reaches(self) -> list[PersonRecord]:
        """Active chiefs who answer for a reach now (the weekly digests are for them), by id."""
        rows = await self._store.fetchall(
            f"SELECT {self._columns} FROM people p WHERE p.active = 1 AND EXISTS"
            " (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = 'chief') AND EXISTS"
            " (SELECT 1 FROM assignments s WHERE s.person_id = p.id AND s.ends_on IS NULL) ORDER BY p.id"
        )
        return [_person(r) for r in rows]

    async def with_role(self, role: str) -> list[PersonRecord]:
        rows = await self._store.fetchall(
            f"SELECT {self._columns} FROM people p WHERE p.active = 1 AND EXISTS"
            " (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = ?) ORDER BY p.name, p.id",
            (role,),
        )
        return [_person(r) for r in rows]

    async def scope(self, person_id: int) -> tuple[int, ...]:
        """The area ids of this admin's office scope, ascending; empty: the whole county."""
        rows = await self._store.fetchall(
            "SELECT area_id FROM admin_scopes WHERE person_id = ? ORDER BY area_id", (person_id,)
        )
        return tuple(int(r[0]) for r in rows)

    async def set_scope(self, person_id: int, area_ids: Iterable[int]) -> bool:
        """Replace this admin's scope (empty: the whole county) in one transaction; returns whether it changed."""
        wanted = tuple(sorted(set(area_ids)))
        self._forget()
        async with self._store.atomic() as conn:
            before = await self.scope(person_id)
            if before != wanted:
                await conn.execute("DELETE FROM admin_scopes WHERE person_id = ?", (person_id,))
                await conn.executemany(
                    "INSERT INTO admin_scopes (person_id, area_id) VALUES (?, ?)", [(person_id, a) for a in wanted]
                )
        self._forget()
        return before != wanted

    async def reachable_admins(self) -> list[tuple[int, bool]]:
        """Telegram ids of active admins who opened the bot and have not blocked it, each with whether the admin
        has an office scope (a town's office, not the county)."""
        rows = await self._store.fetchall(
            "SELECT p.telegram_id, EXISTS (SELECT 1 FROM admin_scopes s WHERE s.person_id = p.id)"
            " FROM people p JOIN person_roles r ON r.person_id = p.id AND r.role = 'admin'"
            " WHERE p.active = 1 AND p.telegram_id IS NOT NULL AND p.started_at IS NOT NULL"
            " AND p.blocked_at IS NULL ORDER BY p.id"
        )
        return [(int(r[0]), bool(r[1])) for r in rows]


def _chat(row: sqlite3.Row) -> ChatRecord:
    return ChatRecord(
        id=row["id"],
        type=row["type"],
        title=row["title"],
        language=row["language"],
        bot_status=row["bot_status"],
        migrated_to=row["migrated_to"],
    )


class Chats:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, chat_id: int) -> ChatRecord | None:
        row = await self._store.fetchone("SELECT * FROM chats WHERE id = ?", (chat_id,))
        return None if row is None else _chat(row)

    async def upsert(self, chat_id: int, *, type: str, title: str | None, bot_status: str | None = None) -> None:
        now = utc_now()
        await self._store.execute(
            "INSERT INTO chats (id, type, title, bot_status, created_at, updated_at)"
            " VALUES (?, ?, ?, COALESCE(?, 'member'), ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET type = excluded.type, title = COALESCE(excluded.title, chats.title),"
            "  bot_status = COALESCE(?, chats.bot_status), updated_at = excluded.updated_at",
            (chat_id, type, title, bot_status, now, now, bot_status),
        )

    async def set_language(self, chat_id: int, language: str | None) -> None:
        await self._store.execute(
            "UPDATE chats SET language = ?, updated_at = ? WHERE id = ?", (language, utc_now(), chat_id)
        )

    async def migrate(self, old_id: int, new_id: int, *, title: str | None) -> None:
        """A group became a supergroup under a new id: the new chat inherits everything the old one had."""
        now = utc_now()
        async with self._store.atomic() as conn:
            await conn.execute(
                "INSERT INTO chats (id, type, title, language, bot_status, created_at, updated_at)"
                " SELECT ?, 'supergroup', COALESCE(?, title), language, 'member', ?, ? FROM chats WHERE id = ?"
                " ON CONFLICT (id) DO UPDATE SET"
                "  language = COALESCE(chats.language, excluded.language), updated_at = excluded.updated_at",
                (new_id, title, now, now, old_id),
            )
            await conn.execute(
                "INSERT INTO chats (id, type, title, bot_status, created_at, updated_at)"
                " VALUES (?, 'supergroup', ?, 'member', ?, ?) ON CONFLICT (id) DO NOTHING",
                (new_id, title, now, now),
            )
            await conn.execute(
                "UPDATE chats SET migrated_to = ?, bot_status = 'migrated', updated_at = ? WHERE id = ?",
                (new_id, now, old_id),
            )
            # The new id is a new chats row, so chat_bindings' ON UPDATE CASCADE never fires: move the binding by
            # hand. One the new id already has (bound after the upgrade) is the newer choice and is kept.
            await conn.execute(
                "UPDATE chat_bindings SET chat_id = ? WHERE chat_id = ?"
                " AND NOT EXISTS (SELECT 1 FROM chat_bindings WHERE chat_id = ?)",
                (new_id, old_id, new_id),
            )
            await conn.execute("DELETE FROM chat_bindings WHERE chat_id = ?", (old_id,))


class FailedUpdates:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(
        self, *, update_id: int | None, chat_id: int | None, user_id: int | None, payload: str, error: str
    ) -> int:
        return await self._store.insert(
            "INSERT INTO failed_updates (update_id, chat_id, user_id, payload, error, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (update_id, chat_id, user_id, payload, error, utc_now()),
        )

    async def count_alike(self, *, user_id: int | None, error: str) -> int:
        """Open failures of this person with exactly this error (the same bug hit again and again)."""
        return int(
            await self._store.fetchval(
                "SELECT count(*) FROM failed_updates"
                " WHERE resolved_at IS NULL AND user_id IS NOT DISTINCT FROM ? AND error = ?",
                (user_id, error),
            )
        )

    async def prune(self, before: datetime, *, batch: int = 500) -> int:
        """Delete failures recorded before `before`, a batch per transaction (the bot's writes wait on each)."""
        deleted = 0
        while True:
            changed = await self._store.execute(
                "DELETE FROM failed_updates WHERE id IN"
                " (SELECT id FROM failed_updates WHERE created_at < ? ORDER BY id LIMIT ?)",
                (to_db_time(before), batch),
            )
            deleted += changed
            if changed < batch:
                return deleted

    async def probe_space(self, size: int) -> None:
        """Write `size` bytes and take them back in one committed transaction: raises what a full disk or a
        read-only database raises. The commit writes the pages to the WAL, so a real full disk shows too."""
        async with self._store.atomic() as conn:
            # zeroblob() is SQLite's; PostgreSQL stores the same number of bytes of text.
            filler = "zeroblob(?)" if conn.dialect == "sqlite" else "repeat(' ', CAST(? AS INTEGER))"
            probe_id = await conn.insert(
                f"INSERT INTO failed_updates (payload, error, created_at, resolved_at) VALUES ({filler}, '', ?, ?)",
                (size, utc_now(), utc_now()),
            )
            await conn.execute("DELETE FROM failed_updates WHERE id = ?", (probe_id,))

    async def open(self, limit: int = 50) -> list[FailedUpdateRecord]:
        rows = await self._store.fetchall(
            "SELECT * FROM failed_updates WHERE resolved_at IS NULL ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            FailedUpdateRecord(
                id=r["id"],
                update_id=r["update_id"],
                chat_id=r["chat_id"],
                user_id=r["user_id"],
                payload=r["payload"],
                error=r["error"],
                created_at=from_db_time(r["created_at"]),  # type: ignore[arg-type]
            )
            for r in rows
        ]

    async def resolve(self, failure_id: int) -> bool:
        return (
            await self._store.execute(
                "UPDATE failed_updates SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                (utc_now(), failure_id),
            )
            > 0
        )
