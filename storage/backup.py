"""SQLite's side of backups: a consistent copy of a live database, and the checks a copy must pass.

Everything here is blocking (plain `sqlite3` on its own connections, never the Store's): callers run it in a
thread. The bot keeps writing through the Store while a copy is made.

Why a read transaction around the backup API: `sqlite3_backup_step` copies a few pages at a time and lets
writers in between steps, but a write from another connection makes it start over at the next step; a busy
bot could keep it starting over forever. Holding one read transaction on the source connection pins a WAL
snapshot: every step reads the same moment, nothing starts over, and writers (WAL) never wait for it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The tables whose row counts describe a store to a person (and prove a restore complete). A table that does
# not exist yet (an older schema) is left out.
MAIN_TABLES = (
    "people",
    "areas",
    "reaches",
    "assignments",
    "patrols",
    "patrol_points",
    "patrol_photos",
    "photos",
    "problems",
    "problem_events",
    "summary_deliveries",
)
# Pages copied per step: 1,024 pages of 4 KiB are 4 MiB, a few milliseconds of work each.
PAGES_PER_STEP = 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What a database copy holds, read from the copy itself."""

    schema_version: int
    counts: dict[str, int]


def copy_database(source: Path, target: Path, *, progress: Progress | None = None, pages: int | None = None) -> None:
    """Copy the database at `source` to a new file `target`, as it was at one moment, in steps.

    The copy is left in rollback-journal mode: a single self-contained file, whatever mode the source is in.
    `progress(done_pages, total_pages)` is called after each step.
    """
    if target.exists():
        raise FileExistsError(target)
    if not source.is_file():  # sqlite3.connect would create an empty database there
        raise FileNotFoundError(source)
    # Read-write, though it only reads: a read-only connection can't open a WAL database whose -shm is missing.
    src = sqlite3.connect(source, isolation_level=None, timeout=30)
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.execute("BEGIN")
            src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts at this read

            def step(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(dst, pages=pages or PAGES_PER_STEP, progress=step)
            src.execute("COMMIT")
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _open_copy(path: Path) -> sqlite3.Connection:
    """A backup copy, read-only and `immutable`: checking it must not create a journal beside it or change it."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None)


def facts(path: Path) -> DatabaseFacts:
    """The schema version and the main tables' row counts of a database copy (not a live database)."""
    conn = _open_copy(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = 0
        if "schema_version" in tables:
            version = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
        counts = {
            name: int(conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0])
            for name in MAIN_TABLES
            if name in tables
        }
        return DatabaseFacts(version, counts)
    finally:
        conn.close()


def integrity_problems(path: Path, *, foreign_keys: bool = False) -> list[str]:
    """What `PRAGMA integrity_check` (and with `foreign_keys`, `foreign_key_check`) finds wrong; empty when
    the copy is sound. A file that is not a database at all is one problem, not an exception."""
    try:
        conn = _open_copy(path)
        try:
            found = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(20)")]
            problems = [] if found == ["ok"] else found
            if foreign_keys:
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                problems += [f"foreign key: {row[0]} row {row[1]} -> {row[2]}" for row in broken[:20]]
            return problems
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def database_files(path: Path) -> list[Path]:
    """The database file and the journal files that belong with it (WAL, shared memory), those that exist."""
    return [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]
