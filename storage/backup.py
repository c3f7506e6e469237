"""The database's side of backups: a consistent copy of a live database, the checks a copy must pass, and (on
PostgreSQL) the way back into the server.

Everything here is blocking (plain `sqlite3` on its own connections, PostgreSQL's client programs, never the
Store's connections): callers run it in a thread. The bot keeps writing through the Store while a copy is made.

Why a read transaction around the backup API: `sqlite3_backup_step` copies a few pages at a time and lets
writers in between steps, but a write from another connection makes it start over at the next step; a busy
bot could keep it starting over forever. Holding one read transaction on the source connection pins a WAL
snapshot: every step reads the same moment, nothing starts over, and writers (WAL) never wait for it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit, urlunsplit

from storage.reading import BlockingReader, open_reader, schema_version_of

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


# -- PostgreSQL ---------------------------------------------------------------------------------------------------
#
# A PostgreSQL database is backed up with its own tools, as its operators expect: `pg_dump --format=custom`, one
# compressed archive that `pg_restore` reads. The manifest's counts are read in the very snapshot pg_dump copies
# (exported from a REPEATABLE READ transaction and handed to `pg_dump --snapshot`), so they describe the archive
# exactly, while the bot keeps writing.
#
# A restore replaces what is in the database's schema in one transaction: psql runs BEGIN, drops riverbot's
# tables, functions and types there, runs the archive (pg_restore turns it into SQL), checks the schema version
# and the counts against the manifest, then COMMIT. Whatever fails (a broken archive, a count, a permission), the
# transaction is rolled back and the database is left as it was.

PG_DUMP_FILE = "riverbot.pgdump"
# Where Debian and Ubuntu install each major version's client programs, when PATH has none.
PG_BIN_DIRS = Path("/usr/lib/postgresql")


class PostgresToolMissing(FileNotFoundError):
    """pg_dump, pg_restore or psql is not installed (`tool` names it)."""

    def __init__(self, tool: str) -> None:
        super().__init__(f"{tool} was not found (install PostgreSQL's client programs: postgresql-client)")
        self.tool = tool


class PostgresToolFailed(RuntimeError):
    """A PostgreSQL client program failed; `detail` is the end of what it said."""

    def __init__(self, tool: str, detail: str) -> None:
        super().__init__(f"{tool} failed: {detail}")
        self.tool = tool
        self.detail = detail


def pg_tool(name: str) -> str:
    """The program `name` (pg_dump, pg_restore, psql): from PATH, or the newest of Debian's versioned folders
    (a newer pg_dump reads an older server; an older one refuses a newer server)."""
    found = shutil.which(name)
    if found:
        return found
    versions: list[tuple[int, Path]] = []
    if PG_BIN_DIRS.is_dir():
        for folder in PG_BIN_DIRS.iterdir():
            program = folder / "bin" / name
            if folder.name.isdigit() and program.is_file() and os.access(program, os.X_OK):
                versions.append((int(folder.name), program))
    if not versions:
        raise PostgresToolMissing(name)
    return str(max(versions)[1])


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for a client program's --dbname without its password, and the environment carrying it: a
    password on a command line is readable by every user of the machine (`ps`)."""
    parts = urlsplit(url)
    env = {**os.environ, "LC_ALL": "C", "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "30")}
    env.pop("LANGUAGE", None)  # English messages: the progress is read from them
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = unquote(parts.password)
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    netloc = f"{parts.netloc.split(':', 1)[0]}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc)), env


def _tail(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:]) or "no message"


def postgres_facts(reader: BlockingReader) -> DatabaseFacts:
    """The schema version and the main tables' row counts, as `reader` sees them (inside its snapshot)."""
    tables = {
        str(row[0])
        for row in reader.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    counts = {name: int(reader.fetchval(f"SELECT COUNT(*) FROM {name}")) for name in MAIN_TABLES if name in tables}
    return DatabaseFacts(schema_version_of(reader), counts)


def dump_database(url: str, target: Path, *, progress: Progress | None = None) -> DatabaseFacts:
    """`pg_dump --format=custom` of the database at `url` into the new file `target`, and the facts of the very
    snapshot it dumped. `progress(tables_done, tables)` is called as pg_dump reaches each table's rows."""
    if target.exists():
        raise FileExistsError(target)
    program = pg_tool("pg_dump")
    dbname, env = _libpq(url)
    with open_reader(url) as reader, reader.snapshot():
        snapshot = str(reader.fetchval("SELECT pg_export_snapshot()"))
        facts = postgres_facts(reader)
        schema = str(reader.fetchval("SELECT current_schema()"))
        tables = int(
            reader.fetchval(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        )
        command = [
            program, "--format=custom", "--verbose", "--no-password", f"--snapshot={snapshot}",
            f"--schema={schema}", f"--file={target}", f"--dbname={dbname}",
        ]  # fmt: skip
        said = _run_reporting(command, env, r"dumping contents of table", tables, progress)
    if said.returncode != 0:
        target.unlink(missing_ok=True)
        raise PostgresToolFailed("pg_dump", _tail(said.errors))
    return facts


@dataclass(frozen=True, slots=True)
class _Said:
    returncode: int
    errors: str


def _run_reporting(
    command: list[str], env: Mapping[str, str], step: str, steps: int, progress: Progress | None
) -> _Said:
    """Run a client program, counting the lines of its --verbose output that match `step` as progress; what
    it said that was not progress is kept for an error message."""
    with subprocess.Popen(
        command, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, errors="replace",
    ) as process:  # fmt: skip
        assert process.stderr is not None
        errors = _read_progress(process.stderr, step, steps, progress)
        return _Said(process.wait(), errors)


def _read_progress(stream: IO[str], step: str, steps: int, progress: Progress | None) -> str:
    pattern = re.compile(step)
    done = 0
    other: list[str] = []
    for line in stream:
        if pattern.search(line):
            done += 1
            if progress is not None:
                progress(min(done, steps), steps)
        elif "error" in line.lower() or "fatal" in line.lower() or not line.startswith(("pg_dump:", "pg_restore:")):
            other.append(line)
    return "".join(other[-20:])


def archive_contents(path: Path) -> list[str]:
    """The archive's table of contents (`pg_restore --list`); PostgresToolFailed when pg_restore cannot read it
    (truncated, damaged, not an archive)."""
    said = subprocess.run(
        [pg_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True, errors="replace", check=False
    )
    if said.returncode != 0:
        raise PostgresToolFailed("pg_restore", _tail(said.stderr))
    return said.stdout.splitlines()


def archive_tables(path: Path) -> int:
    """The number of tables whose rows the archive holds (PostgresToolFailed: it cannot be read)."""
    return sum(1 for line in archive_contents(path) if " TABLE DATA " in line)


# The schema itself is not restored: it exists (a restore replaces what is in it), and only its owner may
# create or comment on it.
_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ (?:SCHEMA - |COMMENT - SCHEMA )")


def other_sessions(url: str) -> int:
    """Clients connected to the database at `url` besides this one (the bot, its workers, a psql)."""
    with open_reader(url) as reader:
        return int(
            reader.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        )


def has_schema(url: str) -> bool:
    """Whether the database at `url` holds a riverbot schema (a restore keeps it aside first)."""
    with open_reader(url) as reader:
        return bool(reader.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"))


# Drops every table, view, sequence, function, aggregate and type of the current schema that no extension owns
# and that does not go with another (an identity's sequence, a table's row type): what a restore replaces.
_WIPE = """
DO $wipe$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT format('%I.%I', n.nspname, c.relname) AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                              WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype IN ('e', 'i', 'a'))
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', item.kind, item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure::text AS name,
               CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
        ORDER BY p.prokind = 'a' DESC
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', item.kind, item.name);
    END LOOP;
    FOR item IN
        SELECT format('%I.%I', n.nspname, t.typname) AS name
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r', 'm', 'c')
          AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                          AND d.deptype IN ('e', 'i', 'a'))
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', item.name);
    END LOOP;
END
$wipe$;
"""


def _check(expected: DatabaseFacts) -> str:
    """A statement that fails (and so rolls the restore back) unless the restored schema version and counts are
    the manifest's. Table names come from MAIN_TABLES only; the numbers are integers."""
    unknown = sorted(set(expected.counts) - set(MAIN_TABLES))
    if unknown:
        raise ValueError(f"the manifest counts unknown tables: {', '.join(unknown)}")
    checks = [
        f"IF (SELECT COALESCE(MAX(version), 0) FROM schema_version) <> {int(expected.schema_version)} THEN"
        f" RAISE EXCEPTION 'schema version % instead of {int(expected.schema_version)}',"
        " (SELECT COALESCE(MAX(version), 0) FROM schema_version); END IF;"
    ]
    for name, count in sorted(expected.counts.items()):
        checks.append(
            f"IF (SELECT count(*) FROM {name}) <> {int(count)} THEN RAISE EXCEPTION '{name}: % rows instead of"
            f" {int(count)}', (SELECT count(*) FROM {name}); END IF;"
        )
    return "RESET search_path;\nDO $check$ BEGIN\n" + "\n".join(checks) + "\nEND $check$;\n"


def restore_database(url: str, archive: Path, expected: DatabaseFacts, *, progress: Progress | None = None) -> None:
    """Replace the contents of the database at `url` with the archive, all or nothing; PostgresToolFailed (the
    database unchanged) when anything fails, the counts included."""
    contents = archive_contents(archive)
    tables = sum(1 for line in contents if " TABLE DATA " in line)
    check = _check(expected)
    dbname, env = _libpq(url)
    with tempfile.NamedTemporaryFile("w", suffix=".list") as wanted, tempfile.TemporaryFile() as psql_said:
        wanted.write("".join(f"{line}\n" for line in contents if not _SCHEMA_ENTRY.match(line)))
        wanted.flush()
        restore_tool, psql_tool = pg_tool("pg_restore"), pg_tool("psql")
        restore_said: list[str] = []
        with (
            subprocess.Popen(
                [
                    restore_tool, "--verbose", "--no-owner", "--no-privileges", f"--use-list={wanted.name}",
                    "--file=-", str(archive),
                ],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ) as restore,
            subprocess.Popen(
                [psql_tool, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", f"--dbname={dbname}"],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_said,
            ) as psql,
        ):  # fmt: skip
            assert restore.stdout is not None and restore.stderr is not None and psql.stdin is not None
            with _reading_in_thread(restore.stderr, "processing data for table", tables, progress, restore_said):
                begin = b"BEGIN;\nSET LOCAL client_min_messages = warning;\n" + _WIPE.encode()
                complete = _pump(restore.stdout, psql.stdin, begin, check.encode())
                restored = restore.wait() == 0
            try:
                if complete and restored:
                    psql.stdin.write(b"COMMIT;\n")
                psql.stdin.close()  # without COMMIT, the session ends and the transaction is rolled back
            except BrokenPipeError:
                pass
            loaded = psql.wait() == 0
        psql_said.seek(0)
        said = psql_said.read().decode("utf-8", "replace")
    if not restored:
        raise PostgresToolFailed("pg_restore", _tail("".join(restore_said)))
    if not (complete and loaded):
        raise PostgresToolFailed("psql", _tail(said))


def _pump(source: IO[bytes], sink: IO[bytes], before: bytes, after: bytes) -> bool:
    """`before`, the whole of `source`, then `after` into `sink`; False when the sink stopped taking it (psql
    stopped at an error)."""
    try:
        sink.write(before)
        while chunk := source.read(1024 * 1024):
            sink.write(chunk)
        sink.write(b"\n" + after)
        sink.flush()
    except BrokenPipeError:
        while source.read(1024 * 1024):  # let pg_restore finish writing, so that it ends
            pass
        return False
    return True


@contextmanager
def _reading_in_thread(
    stream: IO[bytes], step: str, steps: int, progress: Progress | None, said: list[str]
) -> Iterator[None]:
    """Read a program's --verbose stderr beside the work (the two pipes must both be drained)."""

    def read() -> None:
        with io.TextIOWrapper(stream, errors="replace") as text:
            said.append(_read_progress(text, step, steps, progress))

    thread = threading.Thread(target=read, name="riverbot-restore-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
