"""One river, one file: a reach's dossier as a PDF, or a tag's dossiers (one PDF per reach) in a zip.

A dossier gathers, for one reach and a range of local dates (both inclusive):

- the registry's data (code, names, area, level, length, tags) and its chiefs over time, every assignment with
  its first and last day;
- its patrol rate, over the range and by each required period ending in it, from `TallyService` (so it agrees
  with `riverbot stats`): a period's figure is `patrol_rate(end, end)` for its last day, the reach's
  assignments of that period's kind (the tallies are additive, so the periods sum to the range);
- its patrols, chosen as `riverbot export` chooses them (finished, started in the range), each with its number
  "#id", who walked, duration, distance, validity and reasons; one overview map of the range's tracks and a
  small map per patrol with a track (at most `PATROL_MAPS`, so a busy reach's year stays printable);
- its problems, chosen as the export chooses them, each with its timeline and its before and after photos,
  scaled down for print (an original pruned by RETENTION_YEARS is said to be gone).

Everything the file says comes from locales/ (table `dossier`), in the office's language. The data is read in
one read transaction (`storage.dossier`), the maps and photos made small, then the PDF is written through
`bot.pdf` in a worker thread. `areas` is the office's scope: a reach outside it is treated as unknown.
"""

from __future__ import annotations

import asyncio
import functools
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bot import maps, units
from bot.config import Language, Settings
from bot.events import assignee_of, event_text
from bot.geo import lines_of
from bot.i18n import Locales
from bot.maps import Basemap, LatLon, LegendItem, Mark, Scene, Stroke
from bot.outputs import write_replacing
from bot.people import Person
from bot.periods import periods_ending_in
from bot.tallies import PatrolTally, Rate, TallyService, day_start, percent
from bot.validity import reason_params
from storage import Store
from storage.dossier import DossierReader, ReachSheet
from storage.exports import PatrolRow, ProblemRow
from storage.records import ReachRecord

# Small maps of single patrols, at most: past this the overview map alone shows where the patrols went.
PATROL_MAPS = 120
MAP_SIDE = 900  # pixels: the overview map as printed (a page's width at about 150 dpi)
SMALL_MAP_SIDE = 420  # a patrol's own map
PHOTO_SIDE = 520  # the longest side of a photo as printed
JPEG_QUALITY = 70
DEFAULT_MONTHS = 12

# Done, total: how far a long dossier has come (the CLI draws it on stderr).
Progress = Callable[[int, int], None]


class DossierError(Exception):
    """Input the caller must fix: an unknown reach or tag, a range that ends before it begins. `key` is the
    locale key (table `dossier`) of the message, `params` its parameters."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def default_range(today: date) -> tuple[date, date]:
    """The last 12 months: from the day after the same date a year ago to today (365 or 366 days)."""
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_ago = today.replace(year=today.year - 1, day=28)
    return year_ago + timedelta(days=1), today


# -- what a dossier shows, in words and pictures ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    widths: list[float]  # relative widths of the columns


@dataclass(frozen=True, slots=True)
class Figure:
    jpeg: bytes
    width: int
    height: int
    caption: str


@dataclass(frozen=True, slots=True)
class Figures:
    """Pictures side by side, `per_row` a row, each with its caption underneath."""

    items: list[Figure]
    per_row: int


Block = Heading | Paragraph | Table | Figures


@dataclass(slots=True)
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PeriodRate:
    kind: str
    start: date
    end: date
    chiefs: tuple[str, ...]
    rate: Rate


@dataclass(frozen=True, slots=True)
class DossierResult:
    path: Path
    reaches: int
    patrols: int
    problems: int
    size: int


# -- pictures made small -------------------------------------------------------------------------------------


def shrink(data: bytes, side: int) -> Figure | None:
    """A picture as a JPEG whose longest side is at most `side`; None when it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (side, side))  # JPEG decodes at a fraction of its size: a phone photo is 12 MP
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    picture.thumbnail((side, side))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return Figure(out.getvalue(), picture.width, picture.height, "")


def _lat_lon(track: Sequence[tuple[float, float]]) -> list[LatLon]:
    return [(lat, lon) for lon, lat in track]


# -- the service ---------------------------------------------------------------------------------------------


class Dossiers:
    """Dossiers from the store: what `riverbot dossier` and the reach card's button call."""

    def __init__(self, store: Store, settings: Settings, locales: Locales, tiles: Basemap | None = None) -> None:
        self._store = store
        self._settings = settings
        self._locales = locales
        self._tiles = tiles

    # -- who may have a file

    async def may_have(self, person: Person, reach_id: int) -> bool:
        """Admins the file of any reach in their office's scope; a chief the files of the reaches they answer for
        now: their own river."""
        if person.is_admin:
            if person.areas is None:
                return True
            reach = await self._store.reaches.by_id(reach_id)
            if reach is not None and reach.area_id in person.areas:
                return True
        if not person.is_chief:
            return False
        return any(a.person_id == person.id for a in await self._store.assignments.active_for_reach(reach_id))

    # -- finding reaches

    async def reach_by_code(self, code: str, *, areas: frozenset[int] | None = None) -> int:
        """The reach's id; DossierError("dossier.unknown_reach") when there is none (or it is outside `areas`)."""
        reach = await self._store.reaches.by_code(code)
        if reach is None or (areas is not None and reach.area_id not in areas):
            raise DossierError("dossier.unknown_reach", code=code)
        return reach.id

    async def reaches_tagged(self, tag: str, *, areas: frozenset[int] | None = None) -> list[int]:
        ids = await asyncio.to_thread(self._tagged, tag, areas)
        if not ids:
            raise DossierError("dossier.unknown_tag", tag=tag)
        return ids

    def _tagged(self, tag: str, areas: frozenset[int] | None) -> list[int]:
        with DossierReader(self._store) as reader:
            return reader.reaches_tagged(tag, areas)

    # -- one reach

    async def document(
        self,
        reach_id: int,
        first: date,
        last: date,
        *,
        language: Language,
        areas: frozenset[int] | None = None,
        progress: Progress | None = None,
    ) -> tuple[Document, ReachSheet]:
        """The reach's dossier over [first, last], laid out as blocks in `language`."""
        if first > last:
            raise DossierError("dossier.reversed", first=first.isoformat(), last=last.isoformat())
        tz = self._settings.tz
        start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
        sheet = await asyncio.to_thread(self._read, reach_id, start, end)
        if sheet is None or (areas is not None and sheet.reach.area_id not in areas):
            raise DossierError("dossier.unknown_reach", code=str(reach_id))
        overall, periods = await self.rates(sheet.reach, first, last)
        writer = _Writer(self._locales, language, self._settings)
        doc = writer.begin(sheet, first, last)
        writer.registry(doc, sheet)
        writer.chiefs(doc, sheet)
        writer.rates(doc, overall, periods)
        doc.blocks.append(Heading(writer.say("section_map")))
        overview = await self._overview_map(writer, sheet)
        doc.blocks.append(Figures([overview], 1) if overview else Paragraph(writer.say("no_map")))
        writer.patrols(doc, sheet)
        drawn = [p for p in sheet.patrols if len(sheet.tracks.get(p.id, ())) >= 2][:PATROL_MAPS]
        if drawn:
            doc.blocks.append(Heading(writer.say("section_patrol_maps")))
            if len(drawn) < sum(1 for p in sheet.patrols if len(sheet.tracks.get(p.id, ())) >= 2):
                doc.blocks.append(Paragraph(writer.say("patrol_maps_capped", count=PATROL_MAPS)))
            figures = []
            for done, patrol in enumerate(drawn, start=1):
                figure = await self._patrol_map(writer, sheet, patrol)
                if figure is not None:
                    figures.append(figure)
                if progress is not None:
                    progress(done, len(drawn))
            doc.blocks.append(Figures(figures, 3))
        photos = await asyncio.to_thread(self._photos, sheet)
        writer.problems(doc, sheet, photos)
        return doc, sheet

    def _read(self, reach_id: int, start: datetime, end: datetime) -> ReachSheet | None:
        with DossierReader(self._store) as reader:
            return reader.sheet(reach_id, start, end)

    async def rates(self, reach: ReachRecord, first: date, last: date) -> tuple[Rate, list[PeriodRate]]:
        """The reach's patrol rate over [first, last] as `riverbot stats` counts it, and its figure in each
        required period ending in the range, of each kind its chiefs' rules use: the tallies for the period's
        last day, the reach's assignments of that kind. The periods add up to the range (tallies are additive)."""
        tallies = TallyService(self._store, self._settings)
        overall = await tallies.patrol_rate(first, last, area_id=reach.area_id)
        rate = next((r.rate for r in overall.reaches if r.reach_id == reach.id), Rate())
        return rate, await self._period_rates(tallies, overall, reach, first, last)

    async def _period_rates(
        self, tallies: TallyService, overall: PatrolTally, reach: ReachRecord, first: date, last: date
    ) -> list[PeriodRate]:
        reach_id, area_id = reach.id, reach.area_id
        kinds = sorted({c.kind for c in overall.assignments if c.reach_id == reach_id and c.periods})
        by_day: dict[date, PatrolTally] = {}
        rows = []
        for kind in kinds:
            for period in periods_ending_in(kind, first, last):
                if period.end not in by_day:
                    by_day[period.end] = await tallies.patrol_rate(period.end, period.end, area_id=area_id)
                held = [
                    c for c in by_day[period.end].assignments if c.reach_id == reach_id and c.kind == kind and c.periods
                ]
                if not held:
                    continue
                rate = Rate()
                for c in held:
                    rate += Rate(c.done, c.required, c.periods)
                rows.append(PeriodRate(kind, period.start, period.end, tuple(c.person_name for c in held), rate))
        rows.sort(key=lambda r: (r.end, r.kind))
        return rows

    async def _overview_map(self, writer: _Writer, sheet: ReachSheet) -> Figure | None:
        lines = lines_of(sheet.reach.geometry)
        tracks = [(p, _lat_lon(sheet.tracks[p.id])) for p in sheet.patrols if len(sheet.tracks.get(p.id, ())) >= 2]
        pins = [(q.lat, q.lon) for q in sheet.problems]
        if not lines and not tracks and not pins:
            return None
        strokes = [Stroke(line, maps.WATER, 14, maps.WATER_HALO) for line in lines]
        strokes += [Stroke(track, maps.TRACK if p.valid else maps.SHORT, 6) for p, track in tracks]
        legend = [LegendItem(maps.WATER, writer.map_say("legend.reach"), "line")]
        if tracks:
            legend.append(LegendItem(maps.TRACK, writer.say("legend_valid"), "line"))
            if any(not p.valid for p, _ in tracks):
                legend.append(LegendItem(maps.SHORT, writer.say("legend_invalid"), "line"))
        if pins:
            legend.append(LegendItem(maps.PROBLEM, writer.say("legend_problem")))
        scene = Scene(
            title=writer.reach_name(sheet),
            subtitle=writer.range_text,
            strokes=strokes,
            marks=[Mark(pin, maps.PROBLEM, 12) for pin in pins],
            legend=legend,
            distance=writer.distance,
            north=writer.map_say("north"),
        )
        picture = await maps.draw(scene, self._tiles)
        figure = await asyncio.to_thread(shrink, picture.jpeg, MAP_SIDE)
        return None if figure is None else Figure(figure.jpeg, figure.width, figure.height, "")

    async def _patrol_map(self, writer: _Writer, sheet: ReachSheet, patrol: PatrolRow) -> Figure | None:
        track = _lat_lon(sheet.tracks[patrol.id])
        strokes = [Stroke(line, maps.WATER, 14, maps.WATER_HALO) for line in lines_of(sheet.reach.geometry)]
        strokes.append(Stroke(track, maps.TRACK, 10))
        scene = Scene(
            title=f"#{patrol.id}",
            subtitle=writer.when(patrol.started_at),
            strokes=strokes,
            marks=[Mark(track[0], maps.START, 14), Mark(track[-1], maps.END, 14)],
            legend=[],
            distance=writer.distance,
            north=writer.map_say("north"),
            grid=False,
        )
        picture = await maps.draw(scene)  # no basemap: a hundred small maps must not fetch a thousand tiles
        figure = await asyncio.to_thread(shrink, picture.jpeg, SMALL_MAP_SIDE)
        if figure is None:
            return None
        return Figure(figure.jpeg, figure.width, figure.height, writer.patrol_caption(patrol))

    def _photos(self, sheet: ReachSheet) -> dict[int, list[tuple[str, Figure | None]]]:
        """Each problem's photos, before ones first, made small; None where the original is gone."""
        root = self._settings.data_dir.resolve()
        found: dict[int, list[tuple[str, Figure | None]]] = {}
        for problem_id, refs in sheet.photos.items():
            for ref in refs:
                path = (self._settings.data_dir / ref.path).resolve()
                figure = None
                if path.is_relative_to(root) and path.is_file():
                    figure = shrink(path.read_bytes(), PHOTO_SIDE)
                found.setdefault(problem_id, []).append((ref.kind, figure))
        return found

    # -- files

    async def write(
        self,
        reach_ids: Sequence[int],
        first: date,
        last: date,
        out: Path,
        *,
        language: Language,
        areas: frozenset[int] | None = None,
        progress: Progress | None = None,
        reach_progress: Callable[[int, int, str], None] | None = None,
    ) -> DossierResult:
        """One reach to a PDF at `out`, or several (a tag) to a zip of one PDF per reach with an index. A PDF
        that cannot be drawn (no Chinese font on the system) is a DossierError with `pdf`'s own message."""
        from bot.pdf import PdfError  # noqa: PLC0415 — fpdf2 loads only for a PDF

        try:
            return await self._write(
                reach_ids,
                first,
                last,
                out,
                language=language,
                areas=areas,
                progress=progress,
                reach_progress=reach_progress,
            )
        except PdfError as exc:
            raise DossierError(f"pdf.{exc.key}") from exc

    async def _write(
        self,
        reach_ids: Sequence[int],
        first: date,
        last: date,
        out: Path,
        *,
        language: Language,
        areas: frozenset[int] | None = None,
        progress: Progress | None = None,
        reach_progress: Callable[[int, int, str], None] | None = None,
    ) -> DossierResult:
        patrols = problems = 0
        if out.suffix.lower() != ".zip":
            doc, sheet = await self.document(
                reach_ids[0], first, last, language=language, areas=areas, progress=progress
            )
            await asyncio.to_thread(write_replacing, out, functools.partial(render, doc, self._locales, language))
            patrols, problems = len(sheet.patrols), len(sheet.problems)
            size = await asyncio.to_thread(lambda: out.stat().st_size)
            return DossierResult(out, 1, patrols, problems, size)
        rendered: list[tuple[str, bytes, ReachSheet]] = []
        for done, reach_id in enumerate(reach_ids):
            doc, sheet = await self.document(reach_id, first, last, language=language, areas=areas)
            data = await asyncio.to_thread(pdf_bytes, doc, self._locales, language)
            rendered.append((file_name(sheet.reach.code, first, last), data, sheet))
            patrols += len(sheet.patrols)
            problems += len(sheet.problems)
            if reach_progress is not None:
                reach_progress(done + 1, len(reach_ids), sheet.reach.code)
        writer = _Writer(self._locales, language, self._settings)
        index = writer.index(rendered, first, last)

        def archive(target: Path) -> None:
            with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zipped:
                zipped.writestr("index.txt", index.encode("utf-8-sig"))
                for name, data, _ in rendered:
                    zipped.writestr(name, data)

        await asyncio.to_thread(write_replacing, out, archive)
        size = await asyncio.to_thread(lambda: out.stat().st_size)
        return DossierResult(out, len(rendered), patrols, problems, size)


def file_name(code: str, first: date, last: date) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in code)
    return f"dossier-{safe}-{first.isoformat()}-{last.isoformat()}.pdf"


# -- words ---------------------------------------------------------------------------------------------------


class _Writer:
    """Puts a reach's sheet into blocks, in the file's language."""

    def __init__(self, locales: Locales, language: Language, settings: Settings) -> None:
        self.locales = locales
        self.language = language
        self.settings = settings
        self.range_text = ""

    def say(self, key: str, **params: object) -> str:
        return self.locales.plain(self.language, f"dossier.{key}", **params)

    def map_say(self, key: str, **params: object) -> str:
        return self.locales.plain(self.language, f"map.{key}", **params)

    def word(self, key: str, fallback: str) -> str:
        return self.locales.plain(self.language, key) if self.locales.has(key) else fallback

    def distance(self, metres: float) -> str:
        return units.distance(self.locales, self.language, metres)

    def when(self, moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M")

    def reach_name(self, sheet: ReachSheet) -> str:
        return sheet.reach.name(self.language)

    def begin(self, sheet: ReachSheet, first: date, last: date) -> Document:
        self.range_text = self.say("range", first=first.isoformat(), last=last.isoformat())
        return Document(self.say("title", reach=self.reach_name(sheet), code=sheet.reach.code), self.range_text)

    def registry(self, doc: Document, sheet: ReachSheet) -> None:
        reach = sheet.reach
        none = self.say("none")
        area = sheet.area_name_zh if self.language == "zh" else sheet.area_name_en
        tags = [self.word(f"tags.{tag}", tag) for tag in reach.tags]
        rows = [
            [self.say("field_code"), reach.code],
            [self.say("field_name"), reach.name(self.language)],
            [self.say("field_other_name"), reach.name("en" if self.language == "zh" else "zh")],
            [self.say("field_area"), f"{area} ({reach.area_code})"],
            [self.say("field_level"), self.word(f"reaches.level.{reach.level}", reach.level)],
            [self.say("field_length"), f"{reach.length_km:g} km" if reach.length_km is not None else none],
            [self.say("field_tags"), self.say("list_sep").join(tags) or none],
        ]
        header = [self.say("col_field"), self.say("col_value")]
        doc.blocks += [Heading(self.say("section_registry")), Table(header, rows, [1, 3])]

    def chiefs(self, doc: Document, sheet: ReachSheet) -> None:
        doc.blocks.append(Heading(self.say("section_chiefs")))
        if not sheet.chiefs:
            doc.blocks.append(Paragraph(self.say("no_chiefs")))
            return
        rows = [
            [
                c.name,
                self.word(f"level.{c.level}", c.level),
                c.starts_on.isoformat(),
                c.ends_on.isoformat() if c.ends_on else self.say("until_now"),
            ]
            for c in sheet.chiefs
        ]
        header = [self.say("col_chief"), self.say("col_level"), self.say("col_from"), self.say("col_to")]
        doc.blocks.append(Table(header, rows, [2, 2, 1.3, 1.3]))

    def rates(self, doc: Document, rate: Rate, periods: list[PeriodRate]) -> None:
        doc.blocks.append(Heading(self.say("section_rate")))
        doc.blocks.append(
            Paragraph(self.say("rate_overall", done=rate.done, required=rate.required, rate=percent(rate)))
        )
        if not periods:
            doc.blocks.append(Paragraph(self.say("no_periods")))
            return
        rows = [
            [
                self.say(f"period_{p.kind}"),
                f"{p.start.isoformat()} – {p.end.isoformat()}",
                self.say("list_sep").join(p.chiefs),
                str(p.rate.done),
                str(p.rate.required),
                percent(p.rate),
            ]
            for p in periods
        ]
        header = [self.say(f"col_{c}") for c in ("period_kind", "period", "chiefs", "done", "required", "rate")]
        doc.blocks.append(Table(header, rows, [1, 2.2, 2.5, 0.8, 0.8, 1]))

    def reasons(self, patrol: PatrolRow) -> str:
        texts = []
        for reason in patrol.reasons:
            code = str(reason.get("code", ""))
            try:
                texts.append(self.locales.plain(self.language, f"patrol.reason.{code}", **reason_params(reason)))
            except (KeyError, IndexError, ValueError):
                texts.append(code)
        return self.say("reason_sep").join(texts)

    def valid(self, value: bool | None) -> str:
        return "" if value is None else self.say("valid_yes" if value else "valid_no")

    def walker(self, patrol: PatrolRow) -> str:
        """The chief the patrol counts for, and the assistant who walked it for them, if one did."""
        if patrol.walked_by_name is None:
            return patrol.person_name
        walked = self.locales.plain(self.language, "assistants.walked_suffix", assistant=patrol.walked_by_name)
        return patrol.person_name + walked

    def patrol_caption(self, patrol: PatrolRow) -> str:
        return self.say("patrol_caption", number=patrol.id, when=self.when(patrol.started_at), name=self.walker(patrol))

    def patrols(self, doc: Document, sheet: ReachSheet) -> None:
        valid = sum(1 for p in sheet.patrols if p.valid)
        doc.blocks.append(Heading(self.say("section_patrols", count=len(sheet.patrols), valid=valid)))
        if not sheet.patrols:
            doc.blocks.append(Paragraph(self.say("no_patrols")))
            return
        rows = [
            [
                f"#{p.id}",
                self.walker(p),
                self.when(p.started_at),
                "" if p.duration_s is None else str(round(p.duration_s / 60)),
                "" if p.distance_m is None else self.distance(p.distance_m),
                self.valid(p.valid),
                self.reasons(p),
            ]
            for p in sheet.patrols
        ]
        columns = ("patrol", "walker", "started", "minutes", "distance", "valid", "reasons")
        header = [self.say(f"col_{c}") for c in columns]
        doc.blocks.append(Table(header, rows, [0.8, 1.3, 1.6, 0.8, 1, 0.8, 4]))

    def event_line(self, problem: ProblemRow, index: int, names: dict[int, str]) -> str:
        """One event as the card and the export word it (`bot.events`): a transfer's target and deadline, an
        extension's dates."""
        event = problem.events[index]
        assignee = assignee_of(event.data)
        name = None if assignee is None else names.get(assignee, "?")
        line = self.say(
            "event",
            when=self.when(event.at),
            who=event.actor_name or self.word("problem.system", "-"),
            what=event_text(self.locales, self.language, event.action, event.data, name),
        )
        if event.note:
            line += self.say("event_note", note=event.note)
        return line

    def problems(self, doc: Document, sheet: ReachSheet, photos: dict[int, list[tuple[str, Figure | None]]]) -> None:
        doc.blocks.append(Heading(self.say("section_problems", count=len(sheet.problems))))
        if not sheet.problems:
            doc.blocks.append(Paragraph(self.say("no_problems")))
            return
        for q in sheet.problems:
            category = self.word(f"category.{q.category}", q.category)
            status = self.word(f"problem.status.{q.status}", q.status)
            doc.blocks.append(Heading(self.say("problem_heading", number=q.id, category=category, status=status)))
            doc.blocks.append(
                Paragraph(
                    self.say(
                        "problem_facts",
                        reported=self.when(q.reported_at),
                        reporter=q.reporter_name,
                        assignee=q.assignee_name or self.say("none"),
                        deadline=q.deadline or self.say("none"),
                        closed=self.when(q.closed_at) if q.status in ("closed", "dismissed") else self.say("none"),
                        lat=f"{q.lat:.6f}",
                        lon=f"{q.lon:.6f}",
                    )
                )
            )
            if q.description:
                doc.blocks.append(Paragraph(self.say("problem_description", text=q.description)))
            timeline = [self.event_line(q, i, sheet.names) for i in range(len(q.events))]
            if timeline:
                doc.blocks.append(Table([self.say("col_timeline")], [[line] for line in timeline], [1]))
            shown = photos.get(q.id, [])
            figures = [
                Figure(f.jpeg, f.width, f.height, self.say(f"photo_{kind}")) for kind, f in shown if f is not None
            ]
            gone = sum(1 for _, f in shown if f is None)
            if figures:
                doc.blocks.append(Figures(figures, 3))
            if gone:
                doc.blocks.append(Paragraph(self.say("photos_gone", count=gone)))

    def index(self, rendered: Sequence[tuple[str, bytes, ReachSheet]], first: date, last: date) -> str:
        lines = [self.say("index_title", first=first.isoformat(), last=last.isoformat()), ""]
        for name, _, sheet in rendered:
            lines.append(
                self.say(
                    "index_line",
                    file=name,
                    code=sheet.reach.code,
                    reach=sheet.reach.name(self.language),
                    patrols=len(sheet.patrols),
                    problems=len(sheet.problems),
                )
            )
        return "\r\n".join(lines) + "\r\n"


# -- the PDF -------------------------------------------------------------------------------------------------


def pdf_bytes(doc: Document, locales: Locales, language: Language) -> bytes:
    """The document as PDF bytes through the shared builder (blocking: a worker thread from async code)."""
    from bot import pdf  # noqa: PLC0415 — fpdf2 loads only for a PDF

    out = pdf.Document(locales, language, orientation="portrait", title=doc.title)
    try:
        out.title(doc.title, doc.subtitle)
        for block in doc.blocks:
            if isinstance(block, Heading):
                out.heading(block.text)
            elif isinstance(block, Paragraph):
                out.paragraph(block.text)
            elif isinstance(block, Table):
                columns = [pdf.Column(h, w) for h, w in zip(block.header, block.widths, strict=True)]
                out.table(columns, block.rows)
            elif len(block.items) == 1 and block.per_row == 1:
                out.image(block.items[0].jpeg, max_height=180, caption=block.items[0].caption)
            else:
                out.images([(f.jpeg, f.caption) for f in block.items], per_row=block.per_row)
        return out.to_bytes()
    finally:
        out.close()


def render(doc: Document, locales: Locales, language: Language, target: Path) -> None:
    """The document as a PDF at `target` (blocking)."""
    target.write_bytes(pdf_bytes(doc, locales, language))
