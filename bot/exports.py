"""Exports for the office: patrols with their validity, problems with status and timeline, the patrol-rate table.

Formats:

- **xlsx**: one workbook, sheets Patrols / Problems / Patrol rate, named in the export's language, header row
  bold and frozen, column widths set, times as real Excel date-times (local, `TIMEZONE`), rates as percentages.
  Written with openpyxl's write-only mode, so rows stream to disk.
- **csv**: three files, patrols.csv, problems.csv and patrol_rate.csv, UTF-8 with a BOM (Excel opens it right),
  CRLF. `--out` ending in `.zip` gets a zip of the three; any other path is a directory they are written into.
  The bot always sends the zip.
- **geojson**: one RFC 7946 FeatureCollection (WGS 84, positions [lon, lat]): each problem a Point, each patrol
  track a LineString (a patrol with fewer than two track points has a null geometry), with the columns as
  properties under stable English keys (`kind` is "problem" or "patrol"). QGIS opens it as one layer per
  geometry type. The patrol-rate table has no geometry and is not in it.

The range is local dates, both inclusive. Patrols: finished ones started in the range. Problems: those
reported in it, or reported before and still unsettled at its start or with an event inside it; each with
its whole timeline (events joined into one cell, one line each). The patrol-rate table is `TallyService`'s,
so it agrees with `riverbot stats`: a row per area, reach and chief with done and required.

Nothing here knows Telegram; `export()` is what the CLI and the bot call.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import functools
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from bot.cells import escape_formula
from bot.config import Settings
from bot.i18n import Locales
from bot.outputs import write_replacing
from bot.reachability import reason_of, waiting_label
from bot.tallies import PatrolTally, Rate, TallyService, day_start, percent
from bot.validity import reason_params
from storage import Store
from storage.exports import CHUNK, ExportReader, PatrolRow, ProblemRow

Format = Literal["xlsx", "csv", "geojson"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv", "geojson")
TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes a bot may send as a document

PATROL_COLUMNS = (
    "patrol_id",
    "chief",
    "area",
    "reach_code",
    "reach",
    "started",
    "ended",
    "minutes",
    "meters",
    "points",
    "photos",
    "valid",
    "reasons",
)
PROBLEM_COLUMNS = (
    "number",
    "category",
    "status",
    "area",
    "reach_code",
    "reach",
    "reporter",
    "assignee",
    "deadline",
    "reported",
    "closed",
    "lon",
    "lat",
    "description",
    "timeline",
)
RATE_COLUMNS = ("scope", "code", "name", "area", "done", "required", "rate")
# Column widths in the workbook (characters; a Chinese character takes two).
WIDTHS = {
    "patrol_id": 10, "chief": 12, "area": 10, "reach_code": 12, "reach": 24, "started": 18, "ended": 18,
    "minutes": 13, "meters": 15, "points": 10, "photos": 10, "valid": 10, "reasons": 50,
    "number": 10, "category": 14, "status": 10, "reporter": 12, "assignee": 12, "deadline": 12, "reported": 18,
    "closed": 18, "lon": 12, "lat": 12, "description": 40, "timeline": 70,
    "scope": 8, "code": 12, "name": 24, "done": 8, "required": 8, "rate": 10,
}  # fmt: skip
CSV_FILES = {"patrols": "patrols.csv", "problems": "problems.csv", "rate": "patrol_rate.csv"}

Cell = str | int | float | datetime | date | None
Progress = Callable[[int], None]

# Characters XML 1.0 (so XLSX) cannot hold; people type odd things into descriptions.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    patrols: int
    problems: int
    rate_rows: int

    @property
    def size(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return self.path.stat().st_size


class _Rows:
    """Turns store rows into cells in the office's language."""

    def __init__(self, locales: Locales, language: str, tz: ZoneInfo) -> None:
        self.locales = locales
        self.language = language
        self.tz = tz

    def say(self, key: str, **params: object) -> str:
        return self.locales.plain(self.language, key, **params)

    def header(self, columns: Sequence[str]) -> list[str]:
        return [self.say(f"export.col.{c}") for c in columns]

    def local(self, moment: datetime | None) -> datetime | None:
        """Local wall time without a zone: what Excel and a reader expect."""
        return None if moment is None else moment.astimezone(self.tz).replace(tzinfo=None)

    def reasons(self, patrol: PatrolRow) -> str:
        texts = []
        for reason in patrol.reasons:
            code = str(reason.get("code", ""))
            params = reason_params(reason)
            try:
                texts.append(self.say(f"patrol.reason.{code}", **params))
            except (KeyError, IndexError, ValueError):
                texts.append(code)  # an old or partial reason: its code says enough
        return self.say("export.reason_separator").join(texts)

    def valid(self, value: bool | None) -> str:
        return "" if value is None else self.say("export.yes" if value else "export.no")

    def patrol(self, p: PatrolRow) -> list[Cell]:
        return [
            p.id,
            p.person_name,
            p.area_code,
            p.reach_code,
            p.reach_name_zh if self.language == "zh" else p.reach_name_en,
            self.local(p.started_at),
            self.local(p.ended_at),
            None if p.duration_s is None else round(p.duration_s / 60, 1),
            None if p.distance_m is None else round(p.distance_m),
            p.point_count,
            p.photo_count,
            self.valid(p.valid),
            self.reasons(p),
        ]

    def timeline(self, problem: ProblemRow, names: dict[int, str]) -> str:
        lines = []
        for event in problem.events:
            line = self.say(
                "export.event",
                when=event.at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M"),
                who=event.actor_name or self.say("problem.system"),
                what=self.say(f"problem.event.{event.action}") if self.locales.has(f"problem.event.{event.action}")
                else event.action,
            )  # fmt: skip
            assignee = event.data.get("assignee")
            if event.action in ("assign", "reassign") and assignee is not None:
                line += self.say(
                    "export.event_to", name=names.get(int(assignee), "?"), deadline=event.data.get("deadline", "")
                )
            if event.note:
                line += self.say("export.event_note", note=event.note)
            lines.append(line)
        return "\n".join(lines)

    def status(self, p: ProblemRow) -> str:
        """An assigned problem whose chief cannot act on it waits, and the office's sheet says so."""
        reason = reason_of(p.assignee_contact) if p.assignee_contact is not None and p.status == "assigned" else None
        if reason is not None:
            return self.say(f"reachability.waiting.{waiting_label(reason)}")
        return self.say(f"problem.status.{p.status}")

    def problem(self, p: ProblemRow, names: dict[int, str]) -> list[Cell]:
        return [
            p.id,
            self.say(f"category.{p.category}"),
            self.status(p),
            p.area_code,
            p.reach_code,
            p.reach_name_zh if self.language == "zh" else p.reach_name_en,
            p.reporter_name,
            p.assignee_name or "",
            None if p.deadline is None else date.fromisoformat(p.deadline),
            self.local(p.reported_at),
            self.local(p.closed_at) if p.status in ("closed", "dismissed") else None,
            round(p.lon, 6),
            round(p.lat, 6),
            p.description or "",
            self.timeline(p, names),
        ]

    def rate_rows(self, tally: PatrolTally) -> Iterator[list[Cell]]:
        """The patrol-rate table: areas, then reaches, then chiefs; the rate as a fraction (None: nothing due)."""

        def ratio(done: int, required: int) -> float | None:
            return None if required == 0 else done / required

        for a in tally.areas:
            yield [self.say("export.scope.area"), a.code, a.name(self.language), a.code, a.rate.done,
                   a.rate.required, ratio(a.rate.done, a.rate.required)]  # fmt: skip
        for r in tally.reaches:
            yield [self.say("export.scope.reach"), r.code, r.name(self.language), r.area_code, r.rate.done,
                   r.rate.required, ratio(r.rate.done, r.rate.required)]  # fmt: skip
        for c in tally.chiefs:
            yield [self.say("export.scope.chief"), ",".join(c.reach_codes), c.name, ",".join(c.area_codes),
                   c.rate.done, c.rate.required, ratio(c.rate.done, c.rate.required)]  # fmt: skip


def _assignee_ids(problems: list[ProblemRow]) -> list[int]:
    ids = set()
    for p in problems:
        for e in p.events:
            value = e.data.get("assignee")
            if value is not None and str(value).lstrip("-").isdigit():
                ids.add(int(value))
    return sorted(ids)


def _problems(reader: ExportReader, start: datetime, end: datetime) -> Iterator[tuple[ProblemRow, dict[int, str]]]:
    for chunk in reader.problems(start, end):
        names = reader.people_names(_assignee_ids(chunk))
        for problem in chunk:
            yield problem, names


class _ScopedReader(ExportReader):
    """The rows of some areas only (a town office's export): patrols and problems of those area codes."""

    def __init__(self, path: Path, codes: frozenset[str]) -> None:
        super().__init__(path)
        self._codes = codes

    def patrols(self, start: datetime, end: datetime, *, chunk: int = CHUNK) -> Iterator[list[PatrolRow]]:
        for rows in super().patrols(start, end, chunk=chunk):
            yield [r for r in rows if r.area_code in self._codes]

    def problems(self, start: datetime, end: datetime, *, chunk: int = CHUNK) -> Iterator[list[ProblemRow]]:
        for rows in super().problems(start, end, chunk=chunk):
            yield [r for r in rows if r.area_code in self._codes]


def scoped_tally(tally: PatrolTally, codes: frozenset[str]) -> PatrolTally:
    """The patrol-rate table of some areas only: their areas, reaches and chiefs (a chief of several areas is
    kept whole, as `riverbot stats` counts them), and the overall rate of those areas."""
    areas = [a for a in tally.areas if a.code in codes]
    return dataclasses.replace(
        tally,
        overall=sum((a.rate for a in areas), Rate()),
        areas=areas,
        reaches=[r for r in tally.reaches if r.area_code in codes],
        chiefs=[c for c in tally.chiefs if set(c.area_codes) & codes],
        assignments=[],  # not in an export
    )


class _Job(NamedTuple):
    out: Path
    rows: _Rows
    reader: ExportReader
    tally: PatrolTally
    start: datetime
    end: datetime
    counter: _Counter


# -- CSV -----------------------------------------------------------------------------------------------------


def _csv_text(value: Cell, rate: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return escape_formula(value)  # names and notes come from anyone
    return str(value)


class _Counter:
    def __init__(self, progress: Progress | None) -> None:
        self.rows = 0
        self._progress = progress

    def tick(self, rows: int = 1) -> None:
        self.rows += rows
        if self._progress is not None and self.rows % 500 == 0:
            self._progress(self.rows)


@contextlib.contextmanager
def _csv_file(archive: zipfile.ZipFile | None, folder: Path, name: str) -> Iterator[Any]:
    """A csv writer into `name` (in the zip, or the folder): UTF-8 with a BOM, CRLF; closed on leaving."""
    with contextlib.ExitStack() as stack:
        if archive is not None:
            raw = stack.enter_context(archive.open(name, "w", force_zip64=True))
            text: IO[str] = stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        else:
            text = stack.enter_context((folder / name).open("w", encoding="utf-8-sig", newline=""))
        yield csv.writer(text)


def _write_csv(job: _Job) -> tuple[int, int, int]:
    out, rows, reader, tally, start, end, count = job
    counts = [0, 0, 0]
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED)) if out.suffix == ".zip" else None
        if archive is None:
            out.mkdir(parents=True, exist_ok=True)
        with _csv_file(archive, out, CSV_FILES["patrols"]) as writer:
            writer.writerow(rows.header(PATROL_COLUMNS))
            for chunk in reader.patrols(start, end):
                for p in chunk:
                    writer.writerow([_csv_text(v) for v in rows.patrol(p)])
                    counts[0] += 1
                    count.tick()
        with _csv_file(archive, out, CSV_FILES["problems"]) as writer:
            writer.writerow(rows.header(PROBLEM_COLUMNS))
            for problem, names in _problems(reader, start, end):
                writer.writerow([_csv_text(v) for v in rows.problem(problem, names)])
                counts[1] += 1
                count.tick()
        with _csv_file(archive, out, CSV_FILES["rate"]) as writer:
            writer.writerow(rows.header(RATE_COLUMNS))
            for cells in rows.rate_rows(tally):
                # The rate as "—" or "76.9%", exactly as `riverbot stats` shows it.
                done, required = cells[4], cells[5]
                assert isinstance(done, int) and isinstance(required, int)
                writer.writerow([_csv_text(v) for v in cells[:-1]] + [percent(Rate(done, required))])
                counts[2] += 1
    return counts[0], counts[1], counts[2]


# -- XLSX ----------------------------------------------------------------------------------------------------


def _write_xlsx(job: _Job) -> tuple[int, int, int]:
    out, rows, reader, tally, start, end, count = job
    # openpyxl loads only for an xlsx export: the bot and the CLI start without it.
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    def sheet(key: str, columns: Sequence[str]) -> Any:
        ws = workbook.create_sheet(rows.say(f"export.sheet.{key}"))
        for index, column in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(index)].width = WIDTHS[column]
        ws.freeze_panes = "A2"
        header = []
        for text in rows.header(columns):
            cell = WriteOnlyCell(ws, value=text)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        return ws

    def cells(ws: Any, values: Sequence[Cell], columns: Sequence[str]) -> list[Any]:
        result: list[Any] = []
        for value, column in zip(values, columns, strict=True):
            if isinstance(value, datetime):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell = WriteOnlyCell(ws, value=datetime.combine(value, datetime.min.time()))
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(value, str):
                text = _ILLEGAL.sub("", value)
                cell = WriteOnlyCell(ws, value=text)
                if text.startswith("="):
                    cell.data_type = "s"  # text, never a formula
                if column in ("timeline", "reasons", "description"):
                    cell.alignment = wrap
            elif column == "rate" and value is not None:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "0.0%"
            else:
                cell = WriteOnlyCell(ws, value=value)
            result.append(cell)
        return result

    counts = [0, 0, 0]
    # The file is opened first, so that an unwritable path fails before any work; a failure halfway closes the
    # sheets' temporary files rather than leaving them to the garbage collector.
    with out.open("wb") as target:
        try:
            ws = sheet("patrols", PATROL_COLUMNS)
            for chunk in reader.patrols(start, end):
                for p in chunk:
                    ws.append(cells(ws, rows.patrol(p), PATROL_COLUMNS))
                    counts[0] += 1
                    count.tick()
            ws = sheet("problems", PROBLEM_COLUMNS)
            for problem, names in _problems(reader, start, end):
                ws.append(cells(ws, rows.problem(problem, names), PROBLEM_COLUMNS))
                counts[1] += 1
                count.tick()
            ws = sheet("rate", RATE_COLUMNS)
            for values in rows.rate_rows(tally):
                shown: list[Cell] = list(values)
                if shown[-1] is None:
                    shown[-1] = "—"  # nothing required: neither 0 % nor 100 %
                ws.append(cells(ws, shown, RATE_COLUMNS))
                counts[2] += 1

        except BaseException:
            for worksheet in workbook.worksheets:
                with contextlib.suppress(Exception):
                    worksheet.close()
            raise
        workbook.save(target)
    return counts[0], counts[1], counts[2]


# -- GeoJSON -------------------------------------------------------------------------------------------------


def _json_value(value: Cell) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_geojson(job: _Job) -> tuple[int, int, int]:
    out, rows, reader, _, start, end, count = job
    counts = [0, 0, 0]
    with out.open("w", encoding="utf-8") as f:
        f.write('{"type": "FeatureCollection", "features": [\n')
        first = True

        def feature(geometry: dict[str, Any] | None, properties: dict[str, Any]) -> None:
            nonlocal first
            if not first:
                f.write(",\n")
            first = False
            text = {"type": "Feature", "geometry": geometry, "properties": properties}
            f.write(json.dumps(text, ensure_ascii=False, separators=(",", ":")))

        for problem, names in _problems(reader, start, end):
            values = rows.problem(problem, names)
            properties = {"kind": "problem"} | {k: _json_value(v) for k, v in zip(PROBLEM_COLUMNS, values, strict=True)}
            geometry = {"type": "Point", "coordinates": [round(problem.lon, 6), round(problem.lat, 6)]}
            feature(geometry, properties)
            counts[1] += 1
            count.tick()
        for chunk in reader.patrols(start, end):
            tracks = dict(reader.tracks([p.id for p in chunk]))
            for p in chunk:
                values = rows.patrol(p)
                properties = {"kind": "patrol"} | {
                    k: _json_value(v) for k, v in zip(PATROL_COLUMNS, values, strict=True)
                }
                properties["valid"] = p.valid  # a real boolean, for styling in QGIS
                line = tracks.get(p.id, [])
                track: dict[str, Any] | None = (
                    {"type": "LineString", "coordinates": [[round(lon, 6), round(lat, 6)] for lon, lat in line]}
                    if len(line) >= 2
                    else None
                )
                feature(track, properties)
                counts[0] += 1
                count.tick()
        f.write("\n]}\n")
    return counts[0], counts[1], counts[2]


# -- the entry point -----------------------------------------------------------------------------------------


def file_name(fmt: Format, first: date, last: date) -> str:
    """What the document is called when the bot sends it."""
    extension = {"xlsx": "xlsx", "csv": "zip", "geojson": "geojson"}[fmt]
    return f"riverbot-{first.isoformat()}-{last.isoformat()}.{extension}"


def write_export(
    database: Path,
    settings: Settings,
    locales: Locales,
    *,
    language: str,
    fmt: Format,
    first: date,
    last: date,
    out: Path,
    tally: PatrolTally,
    progress: Progress | None = None,
    area_codes: frozenset[str] | None = None,
) -> ExportResult:
    """Write the export (blocking: run it in a thread from async code); with `area_codes`, those areas' rows
    only."""
    tz = settings.tz
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    rows = _Rows(locales, language, tz)
    count = _Counter(progress)
    with ExportReader(database) if area_codes is None else _ScopedReader(database, area_codes) as reader:
        job = _Job(out, rows, reader, tally, start, end, count)
        writer = {"xlsx": _write_xlsx, "csv": _write_csv, "geojson": _write_geojson}[fmt]
        patrols, problems, rate = write_replacing(out, lambda temporary: writer(job._replace(out=temporary)))
    if progress is not None:
        progress(count.rows)
    return ExportResult(out, patrols, problems, rate)


async def export(
    store: Store,
    settings: Settings,
    locales: Locales,
    *,
    language: str,
    fmt: Format,
    first: date,
    last: date,
    out: Path,
    progress: Progress | None = None,
    areas: frozenset[int] | None = None,
) -> ExportResult:
    """The export of [first, last] (local dates, both inclusive) to `out`: the patrol-rate table from the
    tallies, then the rows streamed from the store file in a worker thread. `areas`: a town office's scope (its
    areas' rows only); None: the county."""
    if first > last:
        raise ValueError(f"range ends before it begins: {first} > {last}")
    tally = await TallyService(store, settings).patrol_rate(first, last)
    codes = None if areas is None else frozenset(a.code for a in await store.areas.all() if a.id in areas)
    if codes is not None:
        tally = scoped_tally(tally, codes)
    return await asyncio.to_thread(
        functools.partial(
            write_export,
            store.path,
            settings,
            locales,
            language=language,
            fmt=fmt,
            first=first,
            last=last,
            out=out,
            tally=tally,
            progress=progress,
            area_codes=codes,
        )
    )


RANGES = ("week", "month", "year")


def range_of(name: str, today: date) -> tuple[date, date]:
    """The bot's choices, in local dates: last week (the previous Monday–Sunday), last month (the previous
    calendar month), this year (1 January to today)."""
    if name == "week":
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if name == "month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if name == "year":
        return today.replace(month=1, day=1), today
    raise ValueError(f"no such range: {name!r}")


class Exports:
    """`export()` bound to the bot's store, settings and locales: what /export calls."""

    def __init__(self, store: Store, settings: Settings, locales: Locales) -> None:
        self._store = store
        self._settings = settings
        self._locales = locales

    async def export(
        self,
        *,
        language: str,
        fmt: Format,
        first: date,
        last: date,
        out: Path,
        areas: frozenset[int] | None = None,
    ) -> ExportResult:
        """`areas`: a town office's scope (None: the county)."""
        return await export(
            self._store,
            self._settings,
            self._locales,
            language=language,
            fmt=fmt,
            first=first,
            last=last,
            out=out,
            areas=areas,
        )
