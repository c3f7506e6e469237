"""Loading the office's registry files into the store.

Every file is read and every row checked first — against the other files and against the database — and only
then is anything written: all of it or, when a row is bad, none of it (unless the operator asks to skip bad rows).
Importing the same files again changes nothing.

The writes go in short transactions (WRITE_SECONDS each, then a pause), not one: a city's registry takes a minute
to write, and the running bot must not wait that long for its own writes. What keeps the import whole instead is
that it is idempotent: if it stops half-way (a crash, a full disk, or a row that another writer made bad after the
check, which is checked again just before it is written), running the same files again writes exactly the rest.
A dry run still makes every change in one transaction and rolls it back, so it holds the write lock while it runs.

Who is who: a chief is known by phone when the row has one, else by name within their area. A Telegram id in the
file links the chief to that account; an account that only opened the bot (no role, or a volunteer) is merged
into the chief, one that is already a registered chief or admin is refused.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from bot.config import Settings
from bot.invites import ensure_pending
from bot.registry import (
    AreaRow,
    ChiefRow,
    Kind,
    ParsedFile,
    ReachRow,
    RegistryFileError,
    Row,
    RowError,
    bounding_box,
    find_duplicates,
    kind_order,
    parse_file,
    parse_workbook,
    place,
    sheet_name,
)
from storage import Store
from storage.records import PersonRecord
from storage.registry import ReachValues

# What the import reads; anything else named on the command line (a README next to the files) is skipped.
DATA_SUFFIXES = (".csv", ".geojson", ".json", ".xlsx", ".xlsm", ".xls")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
# One write transaction lasts about this long; then the import pauses long enough for a waiting writer (the bot)
# to get in: SQLite's busy handler retries at most every 100 ms, so a 0.15 s pause is always seen.
WRITE_SECONDS = 0.4
PAUSE_SECONDS = 0.15
Progress = Callable[[int, int], None]


@dataclass
class Batch:
    """The files of one import, read and checked."""

    files: list[ParsedFile] = field(default_factory=list)
    # Paths of GeoJSON files: their "line" numbers count features, not lines.
    geojson: set[str] = field(default_factory=set)
    # Files that cannot be read at all: nothing is written, --skip-bad or not.
    file_errors: list[RowError] = field(default_factory=list)
    # Paths named but not registry files (e.g. a README matched by a glob).
    skipped: list[str] = field(default_factory=list)

    @property
    def row_errors(self) -> list[RowError]:
        return [e for f in self.files for e in sorted(f.errors, key=lambda e: e.line)]

    @property
    def rows(self) -> int:
        return sum(len(f.rows) for f in self.files)


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the import does, for `--dry-run` to show; `key` and `params` pick the text (registry.import.*)."""

    file: str
    line: int
    key: str
    params: dict[str, object]


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, created: bool, changed: bool) -> None:
        if created:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


@dataclass
class ImportReport:
    areas: Tally = field(default_factory=Tally)
    reaches: Tally = field(default_factory=Tally)
    chiefs: Tally = field(default_factory=Tally)
    assignments_started: int = 0
    assignments_ended: int = 0
    invites_created: int = 0
    telegram_linked: int = 0
    merged: int = 0
    changes: list[Change] = field(default_factory=list)
    written: bool = False
    # The row the import stopped at, because it had become bad since the check; the rows before it are written.
    stopped_at: RowError | None = None
    rows_written: int = 0


def read_files(paths: Iterable[Path], kind: Kind | None = None) -> Batch:
    """Read and parse every file; duplicates within a file are reported by `find_duplicates`."""
    batch = Batch()
    for path in paths:
        if path.is_dir() or path.suffix.lower() not in DATA_SUFFIXES:
            batch.skipped.append(str(path))
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            batch.file_errors.append(
                RowError(str(path), 0, "registry.check.unreadable", {"reason": exc.strerror or str(exc)})
            )
            continue
        if path.suffix.lower() == ".xls":
            # The binary format of Excel 97-2003: no maintained library reads it; saving as .xlsx is one step.
            batch.file_errors.append(RowError(str(path), 0, "registry16.file.xls"))
            continue
        if path.suffix.lower() in WORKBOOK_SUFFIXES:
            _read_workbook(batch, path, data, kind)
            continue
        try:
            parsed = parse_file(path, data, kind)
        except RegistryFileError as exc:
            # A bad header is line 1; broken JSON says where; an undecodable file has no line to name.
            line = exc.params.get("line", 1 if exc.key.endswith(("unknown_kind", "missing_columns")) else 0)
            batch.file_errors.append(RowError(str(path), int(str(line)), exc.key, dict(exc.params)))
            continue
        find_duplicates(parsed)
        if parsed.kind == "reaches" and _is_geojson(path, data):
            batch.geojson.add(parsed.path)
        batch.files.append(parsed)
    batch.files = kind_order(batch.files)
    return batch


def _read_workbook(batch: Batch, path: Path, data: bytes, kind: Kind | None) -> None:
    """Each sheet of a workbook joins the batch as a file of its own; a sheet that cannot be read is named."""
    try:
        sheets, errors = parse_workbook(path, data, kind)
    except RegistryFileError as exc:
        batch.file_errors.append(RowError(str(path), 0, exc.key, dict(exc.params)))
        return
    for problem in errors:
        params = dict(problem.error.params)
        line = int(str(params.pop("line", 0)))
        # In a workbook a sheet of notes is common: say that no header was found, not that the "file" is unknown.
        key = "registry16.file.sheet_header" if problem.error.key == "registry.file.unknown_kind" else problem.error.key
        batch.file_errors.append(RowError(sheet_name(str(path), problem.sheet), line, key, params))
    for parsed in sheets:
        find_duplicates(parsed)
        batch.files.append(parsed)
    if not sheets and not errors:
        batch.file_errors.append(RowError(str(path), 0, "registry16.file.empty_workbook"))


def _is_geojson(path: Path, data: bytes) -> bool:
    # The same test parse_file makes; a BOM may precede the brace.
    return path.suffix.lower() in (".geojson", ".json") or data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _key(row: Row) -> str:
    if isinstance(row, ChiefRow):
        return row.phone or f"{row.name}@{row.area_code}"
    return row.code


async def _find_chief(store: Store, row: ChiefRow, area_id: int | None) -> PersonRecord | None:
    """The registered person a chief row means: by phone; else (or when that phone is new) by name in the area.

    The fallback lets the office add a phone to a chief first registered without one.
    """
    if row.phone is not None:
        person = await store.people.by_phone(row.phone)
        if person is not None:
            return person
    if area_id is None:
        return None
    return await store.people.registered_without_phone(row.name, area_id)


def _only_opened_the_bot(person: PersonRecord) -> bool:
    """Someone who started the bot but holds no office role: safe to merge into a registered chief."""
    return set(person.roles) <= {"volunteer"}


async def check(store: Store, batch: Batch) -> None:
    """Check rows against each other and the database; bad rows move from `rows` to `errors`.

    Files are taken areas → reaches → chiefs, so a reach naming an area whose own row is bad is bad too.
    """
    _cross_file_duplicates(batch)
    area_ids = {a.code: a.id for a in await store.areas.all()}
    known = {
        "areas": set(area_ids),
        "reaches": {r.code for r in await store.reaches.all()},
    }
    # Codes whose rows were dropped as duplicates: a reference to them is "bad", not "unknown".
    bad: dict[str, set[str]] = {"areas": set(), "reaches": set()}
    for parsed in batch.files:
        if parsed.kind in bad:
            bad[parsed.kind].update(str(e.params.get("value")) for e in parsed.errors if "duplicate" in e.key)
    seen_people: dict[int, str] = {}
    for parsed in kind_order(batch.files):
        kept: list[Row] = []
        for row in parsed.rows:
            problems: list[tuple[str, dict[str, object]]] = []
            if isinstance(row, ReachRow | ChiefRow) and row.area_code not in known["areas"]:
                problems.append(
                    ("bad_area" if row.area_code in bad["areas"] else "unknown_area", {"value": row.area_code})
                )
            if isinstance(row, ChiefRow):
                for code in row.office_areas:
                    if code not in known["areas"]:
                        problems.append(("bad_area" if code in bad["areas"] else "unknown_area", {"value": code}))
                for code in dict.fromkeys(row.reach_codes):
                    if code not in known["reaches"]:
                        problems.append(("bad_reach" if code in bad["reaches"] else "unknown_reach", {"value": code}))
                where = place(parsed.path, row.line)
                problems += await _check_chief(store, row, area_ids.get(row.area_code), where, seen_people)
            if problems:
                parsed.errors.extend(
                    RowError(parsed.path, row.line, f"registry.check.{key}", params) for key, params in problems
                )
                if parsed.kind in bad:
                    bad[parsed.kind].add(_key(row))
            else:
                kept.append(row)
                if parsed.kind in known:
                    known[parsed.kind].add(_key(row))
        parsed.rows = kept


async def _check_chief(
    store: Store, row: ChiefRow, area_id: int | None, where: str, seen_people: dict[int, str]
) -> list[tuple[str, dict[str, object]]]:
    problems: list[tuple[str, dict[str, object]]] = []
    person = await _find_chief(store, row, area_id)
    if person is not None:
        if not person.active:
            problems.append(("deactivated", {"name": person.name}))
        if person.id in seen_people:
            problems.append(("same_person", {"name": person.name, "other": seen_people[person.id]}))
        seen_people.setdefault(person.id, where)
    if row.telegram_id is not None:
        if person is not None and person.telegram_id not in (None, row.telegram_id):
            problems.append(("telegram_mismatch", {"value": row.telegram_id, "current": person.telegram_id}))
        owner = await store.people.by_telegram_id(row.telegram_id)
        if owner is not None and (person is None or owner.id != person.id) and not _only_opened_the_bot(owner):
            problems.append(("telegram_taken", {"value": row.telegram_id, "name": owner.name}))
    return problems


def _cross_file_duplicates(batch: Batch) -> None:
    """One code in two files of one kind, or one Telegram id for two chiefs: every occurrence is reported."""
    where: dict[tuple[str, str], list[tuple[ParsedFile, Row]]] = {}
    for parsed in batch.files:
        for row in parsed.rows:
            where.setdefault((parsed.kind, _key(row)), []).append((parsed, row))
            if isinstance(row, ChiefRow) and row.telegram_id is not None:
                where.setdefault(("telegram", str(row.telegram_id)), []).append((parsed, row))
    dropped: set[tuple[str, int]] = set()
    for (kind, value), places in where.items():
        files = {p.path for p, _ in places}
        if len(places) < 2 or (kind != "telegram" and len(files) < 2):
            continue  # duplicates inside one file were reported by find_duplicates
        for parsed, row in places:
            others = ", ".join(place(p.path, r.line) for p, r in places if r is not row or p is not parsed)
            key = "registry.check.duplicate_telegram" if kind == "telegram" else "registry.check.duplicate_elsewhere"
            parsed.errors.append(RowError(parsed.path, row.line, key, {"value": value, "other": others}))
            dropped.add((parsed.path, row.line))
    if dropped:
        for parsed in batch.files:
            parsed.rows = [r for r in parsed.rows if (parsed.path, r.line) not in dropped]


class _Rollback(Exception):
    """Raised inside the transaction to undo a dry run."""


async def run_import(
    store: Store,
    settings: Settings,
    batch: Batch,
    *,
    today: date,
    skip_bad: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    write_seconds: float = WRITE_SECONDS,
    pause_seconds: float = PAUSE_SECONDS,
) -> ImportReport:
    """Check the batch and, unless a row is bad (and bad rows are not skipped), write it in short transactions.

    The check reads outside any write transaction; each chief row is checked again inside the transaction that
    writes it, so nobody can take a Telegram id in between unnoticed: the import then stops at that row
    (`stopped_at`). A dry run makes every change in one transaction and rolls it back: what it reports is exactly
    what an import would do.
    """
    report = ImportReport()
    if batch.file_errors:
        return report
    if dry_run:
        try:
            async with store.atomic():
                await check(store, batch)
                if not batch.row_errors or skip_bad:
                    await _Writer(store, settings, report, today).write(batch, progress, None)
                raise _Rollback
        except _Rollback:
            pass
        return report
    await check(store, batch)
    if batch.row_errors and not skip_bad:
        return report
    await _Writer(store, settings, report, today).write(batch, progress, _Pacing(write_seconds, pause_seconds))
    report.written = report.stopped_at is None
    return report


@dataclass(frozen=True, slots=True)
class _Pacing:
    """Write transactions of about `write_seconds`, each followed by a pause of `pause_seconds`."""

    write_seconds: float
    pause_seconds: float


class _Writer:
    """Writes checked rows inside the import's transaction, noting every change."""

    def __init__(self, store: Store, settings: Settings, report: ImportReport, today: date) -> None:
        self.store = store
        self.settings = settings
        self.report = report
        self.today = today
        self.area_ids: dict[str, int] = {}
        self.reach_ids: dict[str, int] = {}

    async def write(self, batch: Batch, progress: Progress | None, pacing: _Pacing | None) -> None:
        """Every checked row; without `pacing` inside the caller's transaction, else in short ones of its own."""
        self.area_ids = {a.code: a.id for a in await self.store.areas.all()}
        self.reach_ids = {r.code: r.id for r in await self.store.reaches.all()}
        rows = [(parsed, row) for parsed in kind_order(batch.files) for row in parsed.rows]
        total, done = len(rows), 0
        while done < total and self.report.stopped_at is None:
            async with self.store.atomic():
                ends = None if pacing is None else time.monotonic() + pacing.write_seconds
                first = done
                # At least one row per transaction, however short the budget.
                while done < total and (ends is None or done == first or time.monotonic() < ends):
                    parsed, row = rows[done]
                    if not await self.row(batch, parsed, row, recheck=pacing is not None):
                        break
                    done += 1
                    self.report.rows_written = done
                    if progress is not None:
                        progress(done, total)
            if pacing is not None and done < total:
                await asyncio.sleep(pacing.pause_seconds)  # the bot's writes get in here

    async def row(self, batch: Batch, parsed: ParsedFile, row: Row, *, recheck: bool) -> bool:
        """Write one row; False, writing nothing, when a recheck finds it has become bad since the check."""
        if isinstance(row, AreaRow):
            await self.area(parsed.path, row)
        elif isinstance(row, ReachRow):
            await self.reach(parsed.path, row, geojson=parsed.path in batch.geojson or parsed.geometry_column)
        else:
            if recheck:
                where = place(parsed.path, row.line)
                problems = await _check_chief(self.store, row, self.area_ids.get(row.area_code), where, {})
                if problems:
                    key, params = problems[0]
                    self.report.stopped_at = RowError(parsed.path, row.line, f"registry.check.{key}", params)
                    return False
            await self.chief(parsed.path, row)
        return True

    def note(self, path: str, line: int, key: str, **params: object) -> None:
        self.report.changes.append(Change(path, line, f"registry.import.{key}", params))

    async def area(self, path: str, row: AreaRow) -> None:
        created = row.code not in self.area_ids
        self.area_ids[row.code], changed = await self.store.areas.upsert(row.code, row.name_zh, row.name_en)
        self.report.areas.count(created, changed)
        if created or changed:
            self.note(path, row.line, "area_created" if created else "area_updated", code=row.code, name=row.name_zh)

    async def reach(self, path: str, row: ReachRow, *, geojson: bool) -> None:
        created = row.code not in self.reach_ids
        geometry: str | None = None  # a CSV has no geometry column: keep what is stored
        if geojson:
            geometry = "" if row.geometry is None else geometry_text(row.geometry)
        values = ReachValues(
            code=row.code,
            name_zh=row.name_zh,
            name_en=row.name_en,
            area_id=self.area_ids[row.area_code],
            level=row.level,
            length_km=row.length_km,
            tags=row.tags,
            geometry=geometry,
            bbox=bounding_box(row.geometry) if row.geometry is not None else None,
        )
        self.reach_ids[row.code], changed = await self.store.reaches.upsert(values)
        self.report.reaches.count(created, changed)
        if created or changed:
            self.note(path, row.line, "reach_created" if created else "reach_updated", code=row.code, name=row.name_zh)

    async def chief(self, path: str, row: ChiefRow) -> None:
        store, report = self.store, self.report
        area_id = self.area_ids[row.area_code]
        first_change = len(report.changes)
        person = await _find_chief(store, row, area_id)
        created = person is None
        changed = False
        if person is None:
            person_id = await store.people.create(name=row.name, phone=row.phone, home_area_id=area_id)
            telegram_id = None
        else:
            person_id, telegram_id = person.id, person.telegram_id
            changed |= await store.people.update_registry(
                person_id, name=row.name, phone=row.phone, home_area_id=area_id
            )
        if row.level and (person is None or person.roles.get("chief", "") != row.level):
            await store.people.grant_role(person_id, "chief", level=row.level)
            changed = True
        if row.office_areas:
            # Office staff: an admin whose office covers the row's areas (the file owns the scope it names).
            if person is None or "admin" not in person.roles:
                await store.people.grant_role(person_id, "admin")
                changed = True
            changed |= await store.people.set_scope(person_id, [self.area_ids[c] for c in row.office_areas])

        if row.telegram_id is not None and telegram_id is None:
            owner = await store.people.by_telegram_id(row.telegram_id)
            if owner is None:
                await store.people.set_telegram_id(person_id, row.telegram_id)
                report.telegram_linked += 1
                self.note(path, row.line, "telegram_linked", name=row.name, value=row.telegram_id)
            else:
                # check() let only someone who merely opened the bot through: they are this chief.
                person_id = await store.people.adopt(person_id, row.telegram_id)
                report.merged += 1
                self.note(path, row.line, "merged", name=row.name, value=row.telegram_id)
            telegram_id = row.telegram_id
            # Invites made while the chief had no Telegram account are not needed any more.
            await store.invites.revoke_for_person(person_id)
            changed = True

        if row.level:
            changed |= await self.assignments(path, row, person_id)

        if telegram_id is None:
            _, new = await ensure_pending(store, self.settings, person_id, "chief" if row.level else "admin")
            if new:
                report.invites_created += 1
                self.note(path, row.line, "invite_created", name=row.name)
        report.chiefs.count(created, changed)
        if created or changed:
            self.note(
                path, row.line, "chief_created" if created else "chief_updated", name=row.name, level=row.level or "-"
            )
            # The chief first, then what changed for them.
            report.changes.insert(first_change, report.changes.pop())

    async def assignments(self, path: str, row: ChiefRow, person_id: int) -> bool:
        """Make the chief's active assignments exactly the row's reaches at the row's level."""
        wanted = list(dict.fromkeys(row.reach_codes))
        yesterday = self.today - timedelta(days=1)
        keep: set[str] = set()
        overrides: dict[str, tuple[int | None, str | None]] = {}
        changed = False
        for assignment in await self.store.assignments.active_for_person(person_id):
            if assignment.reach_code in wanted and assignment.level == row.level:
                keep.add(assignment.reach_code)
                continue
            if assignment.reach_code in wanted:
                # A new level restarts the assignment; a rule set for this one assignment carries over.
                overrides[assignment.reach_code] = (assignment.patrol_count, assignment.patrol_period)
            # Ends yesterday, so today counts for the new holder; one that began today is removed whole.
            await self.store.assignments.end(assignment.id, last_day=yesterday)
            self.report.assignments_ended += 1
            self.note(
                path,
                row.line,
                "assignment_ended",
                name=row.name,
                reach=assignment.reach_code,
                day=yesterday.isoformat(),
            )
            changed = True
        for code in wanted:
            if code in keep:
                continue
            count, period = overrides.get(code, (None, None))
            await self.store.assignments.assign(
                person_id,
                self.reach_ids[code],
                level=row.level,
                starts_on=self.today,
                patrol_count=count,
                patrol_period=period,
            )
            self.report.assignments_started += 1
            self.note(path, row.line, "assignment_started", name=row.name, reach=code, day=self.today.isoformat())
            changed = True
        return changed


def geometry_text(geometry: dict[str, object]) -> str:
    """A checked geometry as stored: compact JSON, Chinese kept readable."""
    return json.dumps(geometry, ensure_ascii=False, separators=(",", ":"))
