"""Backups: a consistent copy of the store and its photos in a timestamped folder, and the way back.

A backup is a folder in BACKUP_DIR named by its local time, `2026-12-02_03-30-00` (and `…_before-v8` when it
was made just before a migration to schema version 8), holding:
- the database as it was at one moment, while the bot keeps running (storage/backup.py): `riverbot.sqlite3`,
  copied with SQLite's online backup API, or, on PostgreSQL, `riverbot.pgdump`, pg_dump's custom-format archive;
- `photos/`: the tree of DATA_DIR/photos. Photos are named by their content's SHA-256 and never change, so a
  file the previous backup already has is hard-linked from it, not copied again;
- `manifest.json`, written last: a folder without one is a half-written backup, never restored.

The database is copied before the photos: a photo's file is written before its row, so every photo the copied
database names is on disk by the time the photos are copied.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Literal, get_args

from bot import __version__
from bot.config import Settings
from bot.running import DataDirBusy, DataDirLock
from storage import MigrationError, Store
from storage.backup import (
    PG_DUMP_FILE,
    DatabaseFacts,
    PostgresToolFailed,
    PostgresToolMissing,
    archive_contents,
    copy_database,
    database_files,
    dump_database,
    facts,
    has_schema,
    integrity_problems,
    other_sessions,
    restore_database,
    sha256_of,
)
from storage.engine import Dialect, is_postgres_url
from storage.migrate import Migration, bundled_migrations
from storage.reading import database_target

logger = logging.getLogger(__name__)

Kind = Literal["manual", "daily", "before_migration"]
# What a long copy reports: the phase ("database", "photos"), how far it is and of how much.
Progress = Callable[[str, int, int], None]

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "riverbot.sqlite3"
PG_DUMP = PG_DUMP_FILE
# The database's file in a backup folder, by the engine it was taken from.
DATABASE_FILES: dict[Dialect, str] = {"sqlite": DATABASE, "postgresql": PG_DUMP}
PHOTOS = "photos"
# 2026-12-02_03-30-00, a "-2" when two start in the same second, "_before-v8" before a migration.
NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:-(\d+))?(?:_before-v(\d+))?$")
_STAMP = "%Y-%m-%d_%H-%M-%S"
LAST_BACKUP_KEY = "last_backup"
# Set while the admins have been told that the daily backup fails; cleared by the next success.
FAILURE_TOLD_KEY = "backup_failure_told"
_MB = 1024 * 1024
_CHUNK = 4 * _MB


class BackupError(Exception):
    """A backup can't be made, trusted or restored; `key` picks the localized explanation (locales: backup.*)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key, params)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a finished backup holds, to check a copy against before and after it is restored."""

    kind: Kind
    created_at: datetime  # UTC
    riverbot: str
    schema_version: int
    target_version: int | None  # before a migration: the version it was about to migrate to
    database_sha256: str
    database_bytes: int
    counts: dict[str, int]
    photo_files: int
    photo_bytes: int
    format: int = FORMAT
    engine: Dialect = "sqlite"  # manifests written before PostgreSQL say nothing: they are SQLite's

    @property
    def database_file(self) -> str:
        return DATABASE_FILES[self.engine]

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """The manifest in `text`; ValueError when it is not one this riverbot understands."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("kind") not in get_args(Kind):
                raise ValueError("not a riverbot backup manifest")
            engine = data.get("engine", "sqlite")
            if engine not in DATABASE_FILES:
                raise ValueError(f"a backup of an unknown database engine: {engine!r}")
            target = data["target_version"]
            return cls(
                kind=data["kind"],
                created_at=datetime.strptime(data["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                riverbot=str(data["riverbot"]),
                schema_version=int(data["schema_version"]),
                target_version=None if target is None else int(target),
                database_sha256=str(data["database_sha256"]),
                database_bytes=int(data["database_bytes"]),
                counts={str(k): int(v) for k, v in dict(data["counts"]).items()},
                photo_files=int(data["photo_files"]),
                photo_bytes=int(data["photo_bytes"]),
                engine=engine,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"incomplete manifest: {exc}") from None


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """The last successful backup, as `riverbot status` reports it."""

    at: datetime
    path: Path
    kind: Kind


@dataclass(frozen=True, slots=True)
class Made:
    """A finished backup."""

    path: Path
    manifest: Manifest
    photos_copied: int
    photos_linked: int

    @property
    def info(self) -> BackupInfo:
        return BackupInfo(self.manifest.created_at, self.path, self.manifest.kind)


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore did: from where, the current database kept where, the photos brought back."""

    source: Path
    manifest: Manifest
    kept_aside: Path | None
    photos_copied: int
    photos_present: int


@dataclass(frozen=True, slots=True)
class DailyOutcome:
    """The daily job's result; the job tells the admins when `tell_admins` (once per run of failures)."""

    made: Made | None = None
    pruned: list[Path] = field(default_factory=list)
    error: str | None = None
    tell_admins: bool = False


# -- names and the folder of backups ----------------------------------------------------------------------------


def backup_name(at: datetime, zone: tzinfo, *, target_version: int | None = None) -> str:
    """The folder name of a backup made at `at`, in local time of `zone` (what an operator reads)."""
    name = at.astimezone(zone).strftime(_STAMP)
    return name if target_version is None else f"{name}_before-v{target_version}"


@dataclass(frozen=True, slots=True)
class Found:
    """A folder in BACKUP_DIR that is (or was meant to be) a backup."""

    path: Path
    finished: bool
    before_migration: bool


def backups_in(folder: Path) -> list[Found]:
    """The backups in `folder`, oldest first (names sort by time); other files and folders are ignored."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir(), key=lambda p: _sort_key(p.name)):
        match = NAME.match(entry.name)
        if match and entry.is_dir():
            found.append(Found(entry, (entry / MANIFEST).is_file(), match[3] is not None))
    return found


def _sort_key(name: str) -> tuple[str, int]:
    match = NAME.match(name)
    if match is None:
        return (name, 0)
    return (match[1], int(match[2] or 1))


def to_prune(found: Sequence[Found], keep: int) -> list[Path]:
    """What pruning deletes: finished daily and manual backups beyond the newest `keep`, and half-written ones
    older than the newest finished one (a crash's leftovers; a newer one may still be being written). Backups
    made before a migration stay: they are the way back from an upgrade, and there are few."""
    finished = [f for f in found if f.finished and not f.before_migration]
    doomed = [f.path for f in finished[: max(0, len(finished) - keep)]]
    newest = max((_sort_key(f.path.name) for f in found if f.finished), default=None)
    if newest is not None:
        doomed += [f.path for f in found if not f.finished and _sort_key(f.path.name) < newest]
    return sorted(doomed, key=lambda p: _sort_key(p.name))


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete what `to_prune` names; returns the folders deleted."""
    doomed = to_prune(backups_in(folder), keep)
    for path in doomed:
        shutil.rmtree(path)
    return doomed


# -- making a backup ---------------------------------------------------------------------------------------------


def _photo_files(root: Path) -> list[Path]:
    """The files under `root`, relative to it, without the temporary files of photos being written."""
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def make_backup(
    database: Store | str | Path,
    data_dir: Path,
    folder: Path,
    *,
    kind: Kind,
    now: datetime,
    zone: tzinfo,
    target_version: int | None = None,
    progress: Progress | None = None,
) -> Made:
    """Back up the database (`database`: the store, a SQLite file, or a PostgreSQL URL) and the photos of
    `data_dir` into a new folder in `folder`.

    Blocking (run it in a thread). The bot may keep writing meanwhile. On PostgreSQL, PostgresToolMissing when
    pg_dump is not installed, PostgresToolFailed when it fails.
    """
    database = database_target(database)
    folder.mkdir(parents=True, exist_ok=True)
    previous = next((f.path for f in reversed(backups_in(folder)) if f.finished), None)
    base = backup_name(now, zone, target_version=target_version)
    target, number = folder / base, 1
    while True:
        try:
            target.mkdir()
            break
        except FileExistsError:
            number += 1
            stamp, _, before = base.partition("_before")
            target = folder / (f"{stamp}-{number}" + (f"_before{before}" if before else ""))

    def report(phase: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(phase, done, total)

    try:
        return _fill(
            database, data_dir, target, previous=previous, kind=kind, now=now, target_version=target_version,
            report=report,
        )  # fmt: skip
    except BaseException:
        # A backup that failed (a full disk) gives its space back; only a crash leaves one for `prune`.
        shutil.rmtree(target, ignore_errors=True)
        raise


def _fill(
    database: str | Path,
    data_dir: Path,
    target: Path,
    *,
    previous: Path | None,
    kind: Kind,
    now: datetime,
    target_version: int | None,
    report: Callable[[str], Callable[[int, int], None] | None],
    photos: bool = True,
) -> Made:
    """Fill the new backup folder `target`: the database, the photos (unless not `photos`), then the
    manifest."""
    copied: DatabaseFacts
    if isinstance(database, str):
        engine: Dialect = "postgresql"
        copy = target / PG_DUMP
        copied = dump_database(database, copy, progress=report("dump"))
    else:
        engine = "sqlite"
        copy = target / DATABASE
        copy_database(database, copy, progress=report("database"))
        copied = facts(copy)
    copied_photos, linked, photo_bytes = (
        _copy_photos(data_dir / PHOTOS, target / PHOTOS, previous, report("photos")) if photos else (0, 0, 0)
    )
    manifest = Manifest(
        kind=kind,
        created_at=now.astimezone(UTC).replace(microsecond=0),
        riverbot=__version__,
        schema_version=copied.schema_version,
        target_version=target_version,
        database_sha256=sha256_of(copy),
        database_bytes=copy.stat().st_size,
        counts=copied.counts,
        photo_files=copied_photos + linked,
        photo_bytes=photo_bytes,
        engine=engine,
    )
    if hasattr(os, "sync"):
        os.sync()  # the copies are on disk before the manifest says the backup is whole
    _write_atomically(target / MANIFEST, manifest.to_json().encode("utf-8"))
    return Made(target, manifest, copied_photos, linked)


def _copy_photos(
    source: Path, target: Path, previous: Path | None, progress: Callable[[int, int], None] | None
) -> tuple[int, int, int]:
    """(copied, hard-linked, bytes): each photo file linked from the previous backup when it has it, else
    copied. A link can fail (another file system, a file system without links): then it is copied."""
    files = _photo_files(source)
    copied = linked = size = 0
    for done, relative in enumerate(files, start=1):
        original = source / relative
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        length = original.stat().st_size
        earlier = previous / PHOTOS / relative if previous is not None else None
        try:
            if earlier is None or not earlier.is_file() or earlier.stat().st_size != length:
                raise FileNotFoundError(relative)
            os.link(earlier, destination)
            linked += 1
        except OSError:
            shutil.copyfile(original, destination)
            copied += 1
        size += length
        if progress is not None:
            progress(done, len(files))
    return copied, linked, size


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


# -- checking and restoring --------------------------------------------------------------------------------------


def supported_version(migrations: Sequence[Migration] | None = None, dialect: Dialect = "sqlite") -> int:
    """The newest schema this riverbot knows, on that engine."""
    known = bundled_migrations(dialect) if migrations is None else migrations
    return max((m.version for m in known), default=0)


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup folder `path`, or BackupError saying why it is not a backup to restore."""
    if not path.exists():
        raise BackupError("backup.error.missing", path=str(path))
    if not path.is_dir() or not any((path / name).is_file() for name in DATABASE_FILES.values()):
        raise BackupError("backup.error.not_a_backup", path=str(path))
    if not (path / MANIFEST).is_file():
        # A database without a manifest is a backup cut short, or no backup at all (a DATA_DIR): the name tells.
        key = "backup.error.unfinished" if NAME.match(path.resolve().name) else "backup.error.not_a_backup"
        raise BackupError(key, path=str(path))
    try:
        manifest = Manifest.from_json((path / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupError("backup.error.not_a_backup", path=str(path)) from None
    if not (path / manifest.database_file).is_file():
        raise BackupError("backup.error.not_a_backup", path=str(path))
    return manifest


def tool_missing(missing: PostgresToolMissing) -> BackupError:
    """PostgreSQL's client programs are not installed: what to install."""
    return BackupError("backup.error.no_pg_tool", tool=missing.tool)


def verify(path: Path, *, migrations: Sequence[Migration] | None = None) -> Manifest:
    """Check a backup whole before it is trusted: the manifest, the database copy's SHA-256 and integrity,
    its schema (not newer than this code) and its photo files. Raises BackupError; blocking."""
    manifest = read_manifest(path)
    copy = path / manifest.database_file
    if sha256_of(copy) != manifest.database_sha256:
        raise BackupError("backup.error.corrupt", path=str(path), reason="SHA-256")
    if manifest.engine == "postgresql":
        # The archive's table of contents reads whole: pg_restore can walk it. (The restore itself checks the
        # rows, in its transaction.)
        try:
            archive_contents(copy)
        except PostgresToolMissing as missing:
            raise tool_missing(missing) from None
        except PostgresToolFailed as failed:
            raise BackupError("backup.error.corrupt", path=str(path), reason=failed.detail) from None
    else:
        problems = integrity_problems(copy)
        if problems:
            raise BackupError("backup.error.corrupt", path=str(path), reason="; ".join(problems[:3]))
    supported = supported_version(migrations, manifest.engine)
    if manifest.schema_version > supported:
        raise BackupError(
            "backup.error.newer_schema", path=str(path), version=manifest.schema_version, supported=supported
        )
    photos = _photo_files(path / PHOTOS)
    if len(photos) != manifest.photo_files:
        raise BackupError(
            "backup.error.corrupt",
            path=str(path),
            reason=f"{len(photos)} / {manifest.photo_files} photo files",
        )
    return manifest


def restore_backup(
    source: Path,
    data_dir: Path,
    *,
    now: datetime,
    zone: tzinfo,
    migrations: Sequence[Migration] | None = None,
    progress: Progress | None = None,
    database_url: str | None = None,
) -> Restored:
    """Replace the database in `data_dir` (or, with `database_url`, the PostgreSQL database at that URL) with
    the backup at `source`, and bring back its photos.

    Refused (BackupError) while a bot holds `data_dir`, and for a backup that fails `verify` or was taken from
    the other engine. The current database is moved aside, never deleted; the restored one is checked again in
    place, and if it fails the current one is put back. Blocking.
    """
    try:
        lock = DataDirLock.acquire(data_dir)
    except DataDirBusy as busy:
        raise BackupError("backup.error.bot_running", path=str(data_dir), pid=busy.pid or "?") from None
    with lock:
        engine: Dialect = "postgresql" if database_url is not None and is_postgres_url(database_url) else "sqlite"
        taken_from = read_manifest(source).engine
        if taken_from != engine:
            raise BackupError(
                "backup.error.other_engine", path=str(source), backup_engine=_ENGINE_NAMES[taken_from],
                engine=_ENGINE_NAMES[engine],
            )  # fmt: skip
        manifest = verify(source, migrations=migrations)
        if database_url is not None and engine == "postgresql":
            return _restore_postgres(source, manifest, data_dir, database_url, now=now, zone=zone, progress=progress)
        database = data_dir / DATABASE
        incoming = data_dir / f".{DATABASE}.restoring"
        try:
            if _copy_with_sha(source / DATABASE, incoming, progress) != manifest.database_sha256:
                raise BackupError("backup.error.corrupt", path=str(source), reason="SHA-256")
            # Photos before the database: they only add files, and the restored rows must find theirs.
            copied, present = _restore_photos(source / PHOTOS, data_dir / PHOTOS, progress)
            aside: Path | None = None
            current = database_files(database)
            if current:
                aside = _new_folder(data_dir, f"before-restore-{backup_name(now, zone)}")
                for path in current:  # with its WAL: the names stay paired, so the kept copy opens whole
                    path.replace(aside / path.name)
            incoming.replace(database)
        finally:
            incoming.unlink(missing_ok=True)  # a copy cut short (a full disk) is not left behind
        problems = integrity_problems(database, foreign_keys=True)
        if not problems:
            restored = facts(database)
            if restored.counts != manifest.counts or restored.schema_version != manifest.schema_version:
                problems.append(f"counts {restored.counts} != {manifest.counts}")
        if problems:
            database.unlink()
            if aside is not None:
                for path in aside.iterdir():
                    path.replace(data_dir / path.name)
                aside.rmdir()
            raise BackupError("backup.error.corrupt_after", path=str(source), reason="; ".join(problems[:3]))
    return Restored(source, manifest, aside, copied, present)


_ENGINE_NAMES: dict[Dialect, str] = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _restore_postgres(
    source: Path,
    manifest: Manifest,
    data_dir: Path,
    url: str,
    *,
    now: datetime,
    zone: tzinfo,
    progress: Progress | None,
) -> Restored:
    """The PostgreSQL side of `restore_backup`, with DATA_DIR held: refused while anyone else is connected (a
    worker on another machine holds no DATA_DIR of this one); the current contents kept aside as a backup of
    their own (a folder restorable in turn), then replaced in one transaction that checks the counts."""

    def report(phase: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(phase, done, total)

    try:
        connected = other_sessions(url)
        if connected:
            raise BackupError("backup.error.database_busy", count=connected)
        copied, present = _restore_photos(source / PHOTOS, data_dir / PHOTOS, progress)
        aside: Path | None = None
        if has_schema(url):
            aside = _new_folder(data_dir, f"before-restore-{backup_name(now, zone)}")
            try:
                _fill(url, data_dir, aside, previous=None, kind="manual", now=now, target_version=None,
                      report=lambda phase: report("keep") if phase == "dump" else None, photos=False)  # fmt: skip
            except BaseException as exc:
                shutil.rmtree(aside, ignore_errors=True)
                if isinstance(exc, PostgresToolFailed):  # nothing was changed yet
                    raise BackupError("backup.error.pg_tool_failed", tool=exc.tool, reason=exc.detail) from None
                raise
        expected = DatabaseFacts(manifest.schema_version, manifest.counts)
        try:
            restore_database(url, source / PG_DUMP, expected, progress=report("load"))
        except (PostgresToolFailed, ValueError) as failed:
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)  # nothing was changed: nothing to keep
            reason = failed.detail if isinstance(failed, PostgresToolFailed) else str(failed)
            raise BackupError("backup.error.load_failed", path=str(source), reason=reason) from None
    except PostgresToolMissing as missing:
        raise tool_missing(missing) from None
    return Restored(source, manifest, aside, copied, present)


def _new_folder(parent: Path, name: str) -> Path:
    """A new folder `name` in `parent`, or `name-2`, `name-3`… when that exists."""
    folder, number = parent / name, 1
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            number += 1
            folder = parent / f"{name}-{number}"


def _copy_with_sha(source: Path, target: Path, progress: Progress | None) -> str:
    """Copy a file and hash it on the way, flushed to disk; the digest of what was written."""
    total = source.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with source.open("rb") as reading, target.open("wb") as writing:
        while chunk := reading.read(_CHUNK):
            writing.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:  # in MB: bytes make a long, unreadable count
                progress("database", -(-done // _MB), -(-total // _MB))
        writing.flush()
        os.fsync(writing.fileno())
    return digest.hexdigest()


def _restore_photos(source: Path, target: Path, progress: Progress | None) -> tuple[int, int]:
    """(copied, already there): photos the data directory lacks (or holds damaged, by size) come back; photos
    it has that the backup does not are left alone, as evidence never is deleted by a restore."""
    files = _photo_files(source)
    copied = present = 0
    for done, relative in enumerate(files, start=1):
        original, destination = source / relative, target / relative
        if destination.is_file() and destination.stat().st_size == original.stat().st_size:
            present += 1
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            temporary = destination.with_name(f".{destination.name}.restoring")
            shutil.copyfile(original, temporary)
            temporary.replace(destination)
            copied += 1
        if progress is not None:
            progress("photos", done, len(files))
    return copied, present


# -- the store's side: open with a backup before migrating, the last backup, the daily job ---------------------


async def open_store(
    settings: Settings, *, migrations: Sequence[Migration] | None = None, verify: bool = False
) -> Store:
    """The store as the bot and the command line open it: an existing database is backed up to BACKUP_DIR
    (`…_before-vN`) before a migration changes it. If that backup fails, nothing is migrated. `verify`: the
    quick integrity check first (the bot's start, `migrate`)."""
    made: list[Made] = []

    async def back_up_first(version: int, target: int) -> None:
        """Back up the database at `version` before it is migrated to `target`."""
        try:
            done = await asyncio.to_thread(
                make_backup,
                settings.database,
                settings.data_dir,
                settings.backups_path,
                kind="before_migration",
                now=datetime.now(UTC),
                zone=settings.tz,
                target_version=target,
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise MigrationError(f"the backup before migrating to version {target} failed: {exc}") from exc
        logger.info("Backed up the database (version %s) to %s before migrating to %s", version, done.path, target)
        made.append(done)

    store = await Store.open(settings.database, migrations=migrations, before_migrating=back_up_first, verify=verify)
    if made:
        await record(store, made[-1].info)
    return store


async def record(store: Store, info: BackupInfo) -> None:
    """Remember the last successful backup, for `riverbot status`."""
    value = {"at": info.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "path": str(info.path), "kind": info.kind}
    await store.meta.set(LAST_BACKUP_KEY, json.dumps(value, ensure_ascii=False))


async def last_backup(store: Store) -> BackupInfo | None:
    """The last successful backup (any kind), or None when there never was one."""
    raw = await store.meta.get(LAST_BACKUP_KEY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        at = datetime.strptime(data["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        kind: Kind = data["kind"] if data["kind"] in get_args(Kind) else "manual"
        return BackupInfo(at, Path(str(data["path"])), kind)
    except (ValueError, KeyError, TypeError):
        return None


class Backups:
    """Backups of the running store: made on demand (`riverbot backup`) and by the daily job."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        # Also kept here: when the disk is full, the store can't record that the admins were told.
        self._failure_told = False

    async def make(
        self, kind: Kind, now: datetime, *, folder: Path | None = None, progress: Progress | None = None
    ) -> Made:
        """One backup into `folder` (BACKUP_DIR by default), recorded as the last one."""
        made = await asyncio.to_thread(
            make_backup,
            self._store,
            self._settings.data_dir,
            folder or self._settings.backups_path,
            kind=kind,
            now=now,
            zone=self._settings.tz,
            progress=progress,
        )
        await record(self._store, made.info)
        return made

    async def daily(self, now: datetime) -> DailyOutcome:
        """The daily backup, then the oldest beyond BACKUP_KEEP deleted. A failure is logged, and the admins
        are to be told the first time only, until a backup succeeds again."""
        if not self._settings.backup_enabled:
            return DailyOutcome()
        try:
            made = await self.make("daily", now)
            pruned = await asyncio.to_thread(prune, self._settings.backups_path, self._settings.backup_keep)
        except Exception as exc:  # a full disk, a missing folder, a locked file: the office must hear of it
            logger.exception("The daily backup to %s failed", self._settings.backups_path)
            error = f"{type(exc).__name__}: {exc}"[:500]
            try:
                told = bool(await self._store.meta.get(FAILURE_TOLD_KEY))
                await self._store.meta.set(FAILURE_TOLD_KEY, now.astimezone(UTC).isoformat())
            except Exception:
                logger.warning("Could not record that the admins were told of the failed backup", exc_info=True)
                told = self._failure_told
            self._failure_told = True
            return DailyOutcome(error=error, tell_admins=not told)
        self._failure_told = False
        await self._store.meta.set(FAILURE_TOLD_KEY, "")
        logger.info("Daily backup written to %s; %d old backups deleted", made.path, len(pruned))
        return DailyOutcome(made=made, pruned=pruned)
