"""Exports for the office: patrols with their validity, problems with status and timeline, the patrol-rate table.

Formats:

- **xlsx**: one workbook, sheets Patrols / Problems and the patrol rate as three sheets (areas, reaches, chiefs),
  named in the export's language. Every sheet prints on A4 landscape fit to the page width, repeats its header
  row on every printed page, has an autofilter and a frozen bold header; times are real Excel date-times (local,
  `TIMEZONE`), rates percentages, areas a code and a name. A sheet that would pass `SHEET_ROWS` rows (Excel's
  limit) goes on in "Patrols (2)" and so on, each with its header: nothing is dropped. Written with openpyxl's
  write-only mode, so rows stream to disk.
- **csv**: three files, patrols.csv, problems.csv and patrol_rate.csv, UTF-8 with a BOM (Excel opens it right),
  CRLF. `--out` ending in `.zip` gets a zip of the three; any other path is a directory they are written into.
  The bot always sends the zip.
- **geojson**: three RFC 7946 FeatureCollections (WGS 84, positions [lon, lat]), one per geometry, so GDAL,
  QGIS and a Shapefile take each as one layer: problems.geojson (Points), tracks.geojson (LineStrings: patrols
  with at least two track points; the others are in the spreadsheet only) and reaches.geojson (the registry's
  reaches that have a geometry). Zip or directory as for csv. Times carry the local offset ("+08:00"); a
  problem's `timeline` is a list of event objects (at, actor, action, action_name, detail, note, and what the
  event changed as fields: assignee, deadline, department, kept_deadline, old_deadline, new_deadline,
  asked_deadline; `bot.events`), so GDAL keeps it whole as JSON rather than reading a date out of it. The
  patrol-rate table has no geometry and is not in it.

Every export takes `areas` (an office's scope: None is the whole county): patrols, problems and reaches of those
areas only, and the patrol-rate rows of those areas (a chief with reaches in several areas stays whole).

The range is local dates, both inclusive. Patrols: finished ones started in the range. Problems: those
reported in it, or reported before and still unsettled at its start or with an event inside it; each with
its whole timeline (events joined into one cell, one line each) and its days overdue: for a closed problem,
how late it was closed; for an open one, how far past its deadline it is on the export's last day (or today,
if that is earlier); empty without a deadline or for a dismissed one. The patrol-rate table is `TallyService`'s,
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
from bot.events import assignee_of, event_detail, event_facts, event_text, event_words
from bot.i18n import Locales
from bot.outputs import write_replacing
from bot.reachability import reason_of, waiting_label
from bot.tallies import PatrolTally, Rate, TallyService, day_start, percent, scoped_chiefs
from bot.validity import reason_params
from storage import Store
from storage.exports import AreaRow, ExportReader, PatrolRow, ProblemRow

Format = Literal["xlsx", "csv", "geojson"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv", "geojson")
TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes a bot may send as a document

PATROL_COLUMNS = (
    "patrol_id",
    "chief",
    "area",
    "area_name",
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
    "walked_by",  # the assistant who walked it for the chief; last, so the columns before keep their place
)
PROBLEM_COLUMNS = (
    "number",
    "category",
    "status",
    "area",
    "area_name",
    "reach_code",
    "reach",
    "reporter",
    "assignee",
    "deadline",
    "overdue_days",
    "reported",
    "closed",
    "lon",
    "lat",
    "description",
    "timeline",
)
RATE_COLUMNS = ("scope", "code", "name", "area", "done", "required", "rate")  # patrol_rate.csv: one table
# The workbook's three patrol-rate sheets.
AREA_RATE_COLUMNS = ("area", "area_name", "done", "required", "rate")
REACH_RATE_COLUMNS = ("reach_code", "reach", "area", "area_name", "done", "required", "rate")
CHIEF_RATE_COLUMNS = ("chief_name", "reach_codes", "area", "area_name", "done", "required", "rate")
# Rows a sheet may hold, its header included (Excel's limit); a module constant so that tests can lower it.
SHEET_ROWS = 1_048_576
# The longest range /export takes as typed (the CLI takes any).
MAX_RANGE_DAYS = 5 * 365 + 1
# Column widths in the workbook (characters; a Chinese character takes two).
WIDTHS = {
    "patrol_id": 10, "chief": 12, "area": 10, "reach_code": 12, "reach": 24, "started": 18, "ended": 18,
    "minutes": 13, "meters": 15, "points": 10, "photos": 10, "valid": 10, "reasons": 50, "walked_by": 14,
    "number": 10, "category": 14, "status": 10, "reporter": 12, "assignee": 12, "deadline": 12, "reported": 18,
    "closed": 18, "lon": 12, "lat": 12, "description": 40, "timeline": 70,
    "scope": 8, "code": 12, "name": 24, "done": 8, "required": 8, "rate": 10,
    "area_name": 14, "overdue_days": 10, "chief_name": 12, "reach_codes": 24,
}  # fmt: skip
# Column headings kept in another table than export.col.
_HEADER_KEYS = {"walked_by": "assistants.export_walked_by"}
CSV_FILES = {"patrols": "patrols.csv", "problems": "problems.csv", "rate": "patrol_rate.csv"}
GEOJSON_FILES = {"problems": "problems.geojson", "tracks": "tracks.geojson", "reaches": "reaches.geojson"}

Cell = str | int | float | datetime | date | None
Progress = Callable[[int], None]

# Characters XML 1.0 (so XLSX) cannot hold; people type odd things into descriptions.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    patrols: int  # GeoJSON: the tracks drawn
    problems: int
    rate_rows: int

    @property
    def size(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return self.path.stat().st_size


class _Rows:
    """Turns store rows into cells in the office's language."""

    def __init__(self, locales: Locales, language: str, tz: ZoneInfo, *, as_of: date, aware: bool = False) -> None:
        self.locales = locales
        self.language = language
        self.tz = tz
        self.as_of = as_of  # the day open problems' days overdue are counted to
        self.aware = aware  # times keep their offset (GeoJSON); Excel and CSV get wall time

    def say(self, key: str, **params: object) -> str:
        return self.locales.plain(self.language, key, **params)

    def header(self, columns: Sequence[str]) -> list[str]:
        return [self.say(self._header_key(c)) for c in columns]

    def _header_key(self, column: str) -> str:
        if column in _HEADER_KEYS:
            return _HEADER_KEYS[column]
        newer = f"exports16.col.{column}"
        return newer if self.locales.has(newer) else f"export.col.{column}"

    def local(self, moment: datetime | None) -> datetime | None:
        """Local wall time: without a zone for Excel and a reader, with its offset for GeoJSON."""
        if moment is None:
            return None
        shown = moment.astimezone(self.tz)
        return shown if self.aware else shown.replace(tzinfo=None)

    def area_name(self, zh: str, en: str) -> str:
        return zh if self.language == "zh" else en

    def overdue_days(self, p: ProblemRow) -> int | None:
        """Days past the deadline: to the closing for a closed problem, to `as_of` for an open one."""
        if p.deadline is None or p.status == "dismissed":
            return None
        if p.status == "closed":
            if p.closed_at is None:
                return None
            until = p.closed_at.astimezone(self.tz).date()
        else:
            until = self.as_of
        return max(0, (until - date.fromisoformat(p.deadline)).days)

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
            self.area_name(p.area_name_zh, p.area_name_en),
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
            p.walked_by_name,
        ]

    def events(self, problem: ProblemRow, names: dict[int, str]) -> list[dict[str, Any]]:
        """The timeline as event objects (GeoJSON): GDAL keeps a list of objects whole, as JSON. Each has its
        words and details as the spreadsheet's timeline says them (`bot.events`), and the details as fields."""
        events = []
        for event in problem.events:
            name = self.assignee_name(event.data, names)
            item: dict[str, Any] = {
                "at": event.at.astimezone(self.tz).isoformat(timespec="seconds"),
                "actor": event.actor_name or self.say("problem.system"),
                "action": event.action,
                "action_name": event_words(self.locales, self.language, event.action),
                "detail": event_detail(self.locales, self.language, event.action, event.data, name),
                "note": event.note,
            }
            events.append(item | event_facts(event.action, event.data, name))
        return events

    @staticmethod
    def assignee_name(data: dict[str, Any], names: dict[int, str]) -> str | None:
        assignee = assignee_of(data)
        return None if assignee is None else names.get(assignee, "?")

    def timeline(self, problem: ProblemRow, names: dict[int, str]) -> str:
        lines = []
        for event in problem.events:
            name = self.assignee_name(event.data, names)
            line = self.say(
                "export.event",
                when=event.at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M"),
                who=event.actor_name or self.say("problem.system"),
                what=event_text(self.locales, self.language, event.action, event.data, name),
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
            self.area_name(p.area_name_zh, p.area_name_en),
            p.reach_code,
            p.reach_name_zh if self.language == "zh" else p.reach_name_en,
            p.reporter_name,
            p.assignee_name or "",
            None if p.deadline is None else date.fromisoformat(p.deadline),
            self.overdue_days(p),
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

    def rate_sheets(self, tally: PatrolTally, areas: dict[str, AreaRow]) -> dict[str, list[list[Cell]]]:
        """The workbook's three patrol-rate sheets, names beside codes; the rate a fraction (None: nothing due)."""

        def ratio(rate: Rate) -> float | None:
            return None if rate.required == 0 else rate.done / rate.required

        def names(codes: Sequence[str]) -> str:
            return self.say("export.reason_separator").join(
                self.area_name(areas[c].name_zh, areas[c].name_en) if c in areas else c for c in codes
            )

        return {
            "rate_areas": [
                [a.code, a.name(self.language), a.rate.done, a.rate.required, ratio(a.rate)] for a in tally.areas
            ],
            "rate_reaches": [
                [r.code, r.name(self.language), r.area_code, names([r.area_code]), r.rate.done, r.rate.required,
                 ratio(r.rate)]
                for r in tally.reaches
            ],
            "rate_chiefs": [
                [c.name, ",".join(c.reach_codes), ",".join(c.area_codes), names(c.area_codes), c.rate.done,
                 c.rate.required, ratio(c.rate)]
                for c in tally.chiefs
            ],
        }  # fmt: skip


def _assignee_ids(problems: list[ProblemRow]) -> list[int]:
    ids = set()
    for p in problems:
        for e in p.events:
            value = e.data.get("assignee")
            if value is not None and str(value).lstrip("-").isdigit():
                ids.add(int(value))
    return sorted(ids)


def _problems(
    reader: ExportReader, start: datetime, end: datetime, areas: frozenset[int] | None
) -> Iterator[tuple[ProblemRow, dict[int, str]]]:
    for chunk in reader.problems(start, end, areas=areas):
        names = reader.people_names(_assignee_ids(chunk))
        for problem in chunk:
            yield problem, names


class _Job(NamedTuple):
    out: Path
    rows: _Rows
    reader: ExportReader
    tally: PatrolTally
    start: datetime
    end: datetime
    counter: _Counter
    areas: frozenset[int] | None


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
def _text_file(
    archive: zipfile.ZipFile | None, folder: Path, name: str, encoding: str = "utf-8-sig"
) -> Iterator[IO[str]]:
    """A text file `name` (in the zip, or the folder); closed on leaving."""
    with contextlib.ExitStack() as stack:
        if archive is not None:
            raw = stack.enter_context(archive.open(name, "w", force_zip64=True))
            text: IO[str] = stack.enter_context(io.TextIOWrapper(raw, encoding=encoding, newline=""))
        else:
            text = stack.enter_context((folder / name).open("w", encoding=encoding, newline=""))
        yield text


@contextlib.contextmanager
def _csv_file(archive: zipfile.ZipFile | None, folder: Path, name: str) -> Iterator[Any]:
    """A csv writer into `name` (in the zip, or the folder): UTF-8 with a BOM, CRLF; closed on leaving."""
    with _text_file(archive, folder, name) as text:
        yield csv.writer(text)


@contextlib.contextmanager
def _archive_or_folder(out: Path) -> Iterator[zipfile.ZipFile | None]:
    """A zip for a path ending in .zip; otherwise the path is made a directory (None)."""
    if out.suffix.lower() == ".zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            yield archive
    else:
        out.mkdir(parents=True, exist_ok=True)
        yield None


def _write_csv(job: _Job) -> tuple[int, int, int]:
    out, rows, reader, tally, start, end, count, areas = job
    counts = [0, 0, 0]
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(_archive_or_folder(out))
        with _csv_file(archive, out, CSV_FILES["patrols"]) as writer:
            writer.writerow(rows.header(PATROL_COLUMNS))
            for chunk in reader.patrols(start, end, areas=areas):
                for p in chunk:
                    writer.writerow([_csv_text(v) for v in rows.patrol(p)])
                    counts[0] += 1
                    count.tick()
        with _csv_file(archive, out, CSV_FILES["problems"]) as writer:
            writer.writerow(rows.header(PROBLEM_COLUMNS))
            for problem, names in _problems(reader, start, end, areas):
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
    out, rows, reader, tally, start, end, count, areas = job
    # openpyxl loads only for an xlsx export: the bot and the CLI start without it.
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415
    from openpyxl.worksheet.properties import PageSetupProperties  # noqa: PLC0415
    from openpyxl.worksheet.worksheet import Worksheet  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    class Sheet:
        """One table: a sheet set up for print, going on in a numbered sheet before `SHEET_ROWS` rows."""

        def __init__(self, key: str, columns: Sequence[str]) -> None:
            self.key, self.columns, self.part = key, columns, 0
            self.ws: Any = None
            self.rows = 0
            self._open()

        def _open(self) -> None:
            self._close()
            self.part += 1
            name = rows.say(f"exports16.sheet.{self.key}")
            if self.part > 1:
                name = rows.say("exports16.sheet_part", name=name, part=self.part)
            ws = workbook.create_sheet(name[:31])
            for index, column in enumerate(self.columns, start=1):
                ws.column_dimensions[get_column_letter(index)].width = WIDTHS[column]
            # Set before the first row: write-only sheets write their properties and views then.
            ws.freeze_panes = "A2"
            ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
            ws.page_setup.orientation = "landscape"
            ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
            ws.page_setup.fitToWidth = 1
            ws.page_setup.fitToHeight = 0  # as many pages down as it takes
            ws.print_title_rows = "1:1"
            header = []
            for text in rows.header(self.columns):
                cell = WriteOnlyCell(ws, value=text)
                cell.font = bold
                header.append(cell)
            ws.append(header)
            self.ws, self.rows = ws, 1

        def _close(self) -> None:
            if self.ws is not None:
                self.ws.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{self.rows}"

        def append(self, values: Sequence[Cell]) -> None:
            if self.rows >= SHEET_ROWS:
                self._open()
            self.ws.append(cells(self.ws, values, self.columns))
            self.rows += 1

        def close(self) -> None:
            self._close()

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
            sheet = Sheet("patrols", PATROL_COLUMNS)
            for chunk in reader.patrols(start, end, areas=areas):
                for p in chunk:
                    sheet.append(rows.patrol(p))
                    counts[0] += 1
                    count.tick()
            sheet.close()
            sheet = Sheet("problems", PROBLEM_COLUMNS)
            for problem, names in _problems(reader, start, end, areas):
                sheet.append(rows.problem(problem, names))
                counts[1] += 1
                count.tick()
            sheet.close()
            known = {a.code: a for a in reader.areas()}
            columns = {"rate_areas": AREA_RATE_COLUMNS, "rate_reaches": REACH_RATE_COLUMNS,
                       "rate_chiefs": CHIEF_RATE_COLUMNS}  # fmt: skip
            for key, table in rows.rate_sheets(tally, known).items():
                sheet = Sheet(key, columns[key])
                for values in table:
                    shown: list[Cell] = list(values)
                    if shown[-1] is None:
                        shown[-1] = "—"  # nothing required: neither 0 % nor 100 %
                    sheet.append(shown)
                    counts[2] += 1
                sheet.close()
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
        return value.isoformat(timespec="seconds")  # with the local offset: "2025-03-05T09:00:00+08:00"
    if isinstance(value, date):
        return value.isoformat()
    return value


class _Layer:
    """One FeatureCollection written feature by feature."""

    def __init__(self, f: IO[str]) -> None:
        self._f = f
        self._first = True
        f.write('{"type": "FeatureCollection", "features": [\n')

    def add(self, geometry: dict[str, Any], properties: dict[str, Any]) -> None:
        if not self._first:
            self._f.write(",\n")
        self._first = False
        text = {"type": "Feature", "geometry": geometry, "properties": properties}
        self._f.write(json.dumps(text, ensure_ascii=False, separators=(",", ":")))

    def close(self) -> None:
        self._f.write("\n]}\n")


def _write_geojson(job: _Job) -> tuple[int, int, int]:
    out, rows, reader, _, start, end, count, areas = job
    counts = [0, 0, 0]
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(_archive_or_folder(out))
        with _text_file(archive, out, GEOJSON_FILES["problems"], encoding="utf-8") as f:
            layer = _Layer(f)
            for problem, names in _problems(reader, start, end, areas):
                values = rows.problem(problem, names)
                properties = {k: _json_value(v) for k, v in zip(PROBLEM_COLUMNS, values, strict=True)}
                properties["timeline"] = rows.events(problem, names)
                layer.add({"type": "Point", "coordinates": [round(problem.lon, 6), round(problem.lat, 6)]}, properties)
                counts[1] += 1
                count.tick()
            layer.close()
        with _text_file(archive, out, GEOJSON_FILES["tracks"], encoding="utf-8") as f:
            layer = _Layer(f)
            for chunk in reader.patrols(start, end, areas=areas):
                tracks = dict(reader.tracks([p.id for p in chunk]))
                for p in chunk:
                    line = tracks.get(p.id, [])
                    if len(line) < 2:
                        continue  # no line to draw: the patrol is in the spreadsheet, not on the map
                    values = rows.patrol(p)
                    properties = {k: _json_value(v) for k, v in zip(PATROL_COLUMNS, values, strict=True)}
                    properties["valid"] = p.valid  # a real boolean, for styling in QGIS
                    geometry = {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in line]}
                    layer.add(geometry, properties)
                    counts[0] += 1
                    count.tick()
            layer.close()
        with _text_file(archive, out, GEOJSON_FILES["reaches"], encoding="utf-8") as f:
            layer = _Layer(f)
            reaches = reader.reaches(areas)
            # One geometry type a layer: with any MultiLineString, every line becomes one.
            multi = any(r.geometry.get("type") == "MultiLineString" for r in reaches)
            for r in reaches:
                geometry = r.geometry
                if multi and geometry.get("type") == "LineString":
                    geometry = {"type": "MultiLineString", "coordinates": [geometry["coordinates"]]}
                layer.add(
                    geometry,
                    {
                        "code": r.code,
                        "name": r.name_zh if rows.language == "zh" else r.name_en,
                        "level": r.level,
                        "area": r.area_code,
                        "area_name": rows.area_name(r.area_name_zh, r.area_name_en),
                        "length_km": r.length_km,
                        "tags": r.tags,
                    },
                )
            layer.close()
    return counts[0], counts[1], counts[2]


# -- the entry point -----------------------------------------------------------------------------------------


def file_name(fmt: Format, first: date, last: date) -> str:
    """What the document is called when the bot sends it."""
    extension = {"xlsx": ".xlsx", "csv": ".zip", "geojson": "-gis.zip"}[fmt]
    return f"riverbot-{first.isoformat()}-{last.isoformat()}{extension}"


def _scoped(tally: PatrolTally, codes: set[str] | None, areas: frozenset[int] | None) -> PatrolTally:
    """The tally's rows of these areas (None: all); a chief by their assignments in them only, so another
    town's reaches and patrols stay out."""
    if codes is None:
        return tally
    return dataclasses.replace(
        tally,
        areas=[a for a in tally.areas if a.code in codes],
        reaches=[r for r in tally.reaches if r.area_code in codes],
        chiefs=scoped_chiefs(tally, areas),
    )


def write_export(
    database: Store | str | Path,
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
    areas: frozenset[int] | None = None,
    today: date | None = None,
) -> ExportResult:
    """Write the export (blocking: run it in a thread from async code) from `database` (the store, or
    settings.database); with `areas`, those areas' rows only."""
    tz = settings.tz
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    as_of = min(last, today or datetime.now(tz).date())
    rows = _Rows(locales, language, tz, as_of=as_of, aware=fmt == "geojson")
    count = _Counter(progress)
    with ExportReader(database) as reader:
        codes = None if areas is None else {a.code for a in reader.areas() if a.id in areas}
        job = _Job(out, rows, reader, _scoped(tally, codes, areas), start, end, count, areas)
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
    today: date | None = None,
) -> ExportResult:
    """The export of [first, last] (local dates, both inclusive) to `out`: the patrol-rate table from the
    tallies, then the rows streamed from the store's database in a worker thread. `areas` is the office's scope
    (None: the whole county); `today` dates the days overdue (None: now)."""
    if first > last:
        raise ValueError(f"range ends before it begins: {first} > {last}")
    tally = await TallyService(store, settings).patrol_rate(first, last)
    return await asyncio.to_thread(
        functools.partial(
            write_export,
            store,
            settings,
            locales,
            language=language,
            fmt=fmt,
            first=first,
            last=last,
            out=out,
            tally=tally,
            progress=progress,
            areas=areas,
            today=today,
        )
    )


RANGES = ("week", "month", "year")
EXPORT_FLOW = "export"  # the dialog of a typed range: its data is the chosen format


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
        self, *, language: str, fmt: Format, first: date, last: date, out: Path, areas: frozenset[int] | None = None
    ) -> ExportResult:
        return await export(
            self._store, self._settings, self._locales, language=language, fmt=fmt, first=first, last=last, out=out,
            areas=areas,
        )  # fmt: skip


class RangeRefused(ValueError):
    """A typed range /export cannot take; `reason` names the answer (exports16.range_error.<reason>)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_DAY = r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
# Between the two days: a dash or tilde of any width, "to", the Chinese words for "to", or just spaces.
_BETWEEN = r"\s*(?:~|\uff5e|-|\u2013|\u2014|\u81f3|\u5230|to|\s)\s*"
_TWO_DAYS = re.compile(rf"\s*{_DAY}{_BETWEEN}{_DAY}\s*", re.IGNORECASE)
_ONE_DAY = re.compile(rf"\s*{_DAY}\s*")
_MONTH = re.compile(r"\s*(\d{4})[-/.](\d{1,2})\s*")


def parse_range(text: str) -> tuple[date, date]:
    """A range as an office types it: "2026-01-01 2026-03-31", "2026-01-01~2026-03-31", "2026-1-1 to 2026-3-31"
    (also with the Chinese word), one day, or a month "2026-11". RangeRefused: not a range, no such day,
    reversed, or longer than `MAX_RANGE_DAYS` (a bigger one is the CLI's job)."""

    def day(y: str, m: str, d: str) -> date:
        try:
            return date(int(y), int(m), int(d))
        except ValueError:
            raise RangeRefused("bad_date") from None

    if match := _TWO_DAYS.fullmatch(text):
        first, last = day(*match.groups()[:3]), day(*match.groups()[3:])
    elif match := _ONE_DAY.fullmatch(text):
        first = last = day(*match.groups())
    elif match := _MONTH.fullmatch(text):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise RangeRefused("bad_date")
        first = date(year, month, 1)
        last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    else:
        raise RangeRefused("format")
    if first > last:
        raise RangeRefused("reversed")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise RangeRefused("too_long")
    return first, last
