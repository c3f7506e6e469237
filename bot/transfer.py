"""`riverbot migrate-data`: a county's SQLite database moved to PostgreSQL, checked before it is committed.

The move is refused before anything is written when it could not be trusted: a source the bot is running on (its
writes during the copy would be lost), a source at another schema version than this riverbot's (its tables would
not match the target's), a target that already holds data (a second run, or another county's database), or a
source and target that are one database.

The check is the point of the command: the office must be able to tell its superiors that the figures did not
change with the database. Inside the one transaction that copies the rows, every table's rows are counted on both
sides, and the stats (`riverbot stats`) are computed by the Store's own queries on both sides, for the whole
history and for each calendar year of it. Only when all of them agree is the transaction committed; otherwise the
target is left as it was and the comparison says what differed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path

import asyncpg

from bot.config import Settings, masked_url
from bot.i18n import Locales
from bot.running import LOCK_FILE, DataDirBusy, DataDirLock
from bot.tallies import Stats, StatsReport, TallyService
from storage import MigrationError, Store
from storage.dbtime import from_db_time
from storage.engine import is_postgres_url, sqlite_path
from storage.migrate import bundled_migrations
from storage.transfer import (
    NOT_COPIED,
    Progress,
    Source,
    SourceTable,
    Target,
    TargetTable,
    TransferError,
    load_order,
    readable,
    same_postgres_database,
)

__all__ = ["Moved", "StatsCheck", "TableCount", "TransferError", "migrate_data"]


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int
    derived: bool = False  # rebuilt by the target's triggers, not copied

    @property
    def same(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True)
class StatsCheck:
    """One period's stats on both sides, as `riverbot stats --format json` prints them."""

    first: date
    last: date
    source: Stats
    target: Stats | None
    # The target's query failed: PostgreSQL's error. Nothing was committed.
    error: str | None = None
    same: bool = False


@dataclass
class Moved:
    source: Path
    version: int
    counts: list[TableCount] = field(default_factory=list)
    stats: list[StatsCheck] = field(default_factory=list)
    committed: bool = False
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(c.source for c in self.counts if not c.derived)


def stats_periods(first: date, last: date) -> list[tuple[date, date]]:
    """The whole history, then each calendar year of it when it spans more than one."""
    periods = [(first, last)]
    if first.year != last.year:
        periods += [
            (max(first, date(year, 1, 1)), min(last, date(year, 12, 31))) for year in range(first.year, last.year + 1)
        ]
    return periods


@contextmanager
def _holding(directories: Sequence[Path]) -> Iterator[None]:
    """The data directories of the source held as the bot holds them: refused while a bot runs there, and no bot
    starts there until the move is over."""
    held: list[DataDirLock] = []
    try:
        for directory in directories:
            try:
                held.append(DataDirLock.acquire(directory))
            except DataDirBusy as busy:
                raise TransferError("migrate_data.bot_running", path=str(directory), pid=busy.pid or "?") from None
        yield
    finally:
        for lock in reversed(held):
            lock.release()


def _data_dirs(settings: Settings, source: Path) -> list[Path]:
    """Where a bot running on `source` would hold its lock: DATA_DIR when `source` is the configured database, and
    the file's own folder when a bot has held that one."""
    found: list[Path] = []
    if source.resolve() == settings.database_path.resolve():
        found.append(settings.data_dir)
    if (source.parent / LOCK_FILE).exists():
        found.append(source.parent)
    unique: dict[Path, Path] = {}
    for directory in found:
        unique.setdefault(directory.resolve(), directory)
    return list(unique.values())


def _check_endpoints(source: str | Path, target: str) -> Path:
    """The source's file, after the refusals that need no database opened."""
    if is_postgres_url(source):
        if same_postgres_database(str(source), target):
            raise TransferError("migrate_data.same_database")
        raise TransferError("migrate_data.source_not_sqlite", source=_masked(str(source)))
    if not is_postgres_url(target):
        try:
            same = sqlite_path(target).resolve() == sqlite_path(source).resolve()
        except ValueError:  # sqlite:// without a path
            same = False
        if same:
            raise TransferError("migrate_data.same_database")
        raise TransferError("migrate_data.target_not_postgres", target=_masked(str(target)))
    return sqlite_path(source)


def _masked(url: str) -> str:
    return masked_url(url) if "://" in url else url


def _plan(source: dict[str, SourceTable], target: dict[str, TargetTable]) -> tuple[list[TargetTable], list[str]]:
    """The tables to copy, parents first, and the derived ones present on both sides (rebuilt by the target, and
    counted to show they were). A source table or column the target has no place for refuses the move: its data
    would be lost."""
    copied: list[TargetTable] = []
    derived: list[str] = []
    for name, table in sorted(source.items()):
        if name in NOT_COPIED:
            continue
        if table.derived:
            if name in target:
                derived.append(name)
            continue
        into = target.get(name)
        if into is None:
            raise TransferError("migrate_data.no_such_table", table=name)
        missing = [c for c in table.columns if c not in {t.name for t in into.columns}]
        if missing:
            raise TransferError("migrate_data.no_such_column", table=name, column=missing[0])
        absent = [c.name for c in into.columns if c.name not in table.columns]
        if absent:
            raise TransferError("migrate_data.no_such_column", table=name, column=absent[0])
        copied.append(into)
    return load_order(copied), derived


async def migrate_data(
    settings: Settings,
    locales: Locales,
    *,
    source: str | Path | None = None,
    target: str | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> Moved:
    """Move the SQLite database `source` (default: the configured one) into the empty PostgreSQL database `target`
    (default: DATABASE_URL when it names one). Raises TransferError when refused or when a row cannot move
    (nothing written); returns the comparison, with `committed` False when a check failed (nothing written)."""
    started = time.monotonic()
    if target is None:
        if not settings.on_postgres:
            raise TransferError("migrate_data.no_target")
        target = str(settings.database_url)
    path = readable(_check_endpoints(settings.database_path if source is None else source, target))
    latest = bundled_migrations()[-1].version
    with _holding(_data_dirs(settings, path)):
        reading = await Source.open(path)
        try:
            version = await reading.version()
            if version == 0:
                raise TransferError("migrate_data.not_riverbot", path=str(path))
            if version < latest:
                raise TransferError("migrate_data.source_older", path=str(path), version=version, supported=latest)
            if version > latest:
                raise TransferError("migrate_data.source_newer", path=str(path), version=version, supported=latest)
            try:
                # The target's schema, through the same migrations the bot runs (PostgreSQL is backed up with its
                # own tools, so nothing to back up first).
                migrated = await Store.open(target)
            except MigrationError as exc:
                raise TransferError("migrate_data.target_schema", reason=str(exc)) from None
            except (OSError, asyncpg.PostgresError) as exc:
                masked = _masked(target)
                raise TransferError("migrate_data.target_unreachable", target=masked, reason=str(exc)) from None
            await migrated.close()
            if migrated.schema_version != version:
                raise TransferError(
                    "migrate_data.target_version", version=migrated.schema_version, source_version=version
                )
            moved = Moved(path, version)
            await _move(reading, target, moved, settings=settings, locales=locales, progress=progress, today=today)
        finally:
            await reading.close()
    moved.seconds = time.monotonic() - started
    return moved


async def _move(
    reading: Source,
    url: str,
    moved: Moved,
    *,
    settings: Settings,
    locales: Locales,
    progress: Progress | None,
    today: date | None,
) -> None:
    writing = await Target.connect(url)
    try:
        await writing.begin()
        tables, derived = _plan(await reading.tables(), await writing.tables())
        occupied = await writing.first_with_rows([t.name for t in tables] + derived)
        if occupied is not None:
            raise TransferError("migrate_data.target_not_empty", table=occupied, rows=await writing.count(occupied))
        for table in tables:
            total = await reading.count(table.name)
            rows = partial(reading.rows, table.name, [c.name for c in table.columns])
            await writing.copy(table, rows, total, progress)
        await writing.reset_sequences(t.name for t in tables)
        for name in [t.name for t in tables] + derived:
            count = TableCount(name, await reading.count(name), await writing.count(name), derived=name in derived)
            moved.counts.append(count)
        moved.counts.sort(key=lambda c: c.table)
        checking = await writing.check_store()
        moved.stats = await _compare_stats(reading, checking, settings=settings, locales=locales, today=today)
        if all(c.same for c in moved.counts) and all(s.same for s in moved.stats):
            await writing.commit()
            moved.committed = True
    finally:
        await writing.close()  # rolls back whatever was not committed


async def _compare_stats(
    reading: Source, target: Store, *, settings: Settings, locales: Locales, today: date | None
) -> list[StatsCheck]:
    source = reading.store()
    today = today or datetime.now(settings.tz).date()
    first_at, last_at = await reading.history_span()
    if first_at is None or last_at is None:
        periods = [(today.replace(day=1), today)]
    else:
        first = _local_day(first_at, settings)
        periods = stats_periods(min(first, today), max(_local_day(last_at, settings), today))
    checks: list[StatsCheck] = []
    for first, last in periods:
        before = await TallyService(source, settings).stats(first, last)
        try:
            after = await TallyService(target, settings).stats(first, last)
        except Exception as exc:  # shown in the comparison, with the move rolled back
            # The transaction is aborted: nothing later can be read through it, and nothing will be committed.
            checks.append(StatsCheck(first, last, before, None, error=f"{type(exc).__name__}: {exc}"))
            break
        same = _shown(before, locales) == _shown(after, locales)
        checks.append(StatsCheck(first, last, before, after, same=same))
    return checks


def _shown(stats: Stats, locales: Locales) -> str:
    """The figures as the office reads them (`riverbot stats --format json`): rates as exact ratios, the median
    time to close rounded to hundredths of a day, so the engines' floating-point noise is not a difference."""
    return StatsReport(stats, locales, "en").as_json()


def _local_day(stored: str, settings: Settings) -> date:
    moment = from_db_time(stored)
    assert moment is not None
    return moment.astimezone(settings.tz).date()
