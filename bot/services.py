"""Everything a handler needs, built once at start and kept in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.albums import Albums
from bot.assessment import Assessments
from bot.assistants import AssistantService
from bot.backups import Backups
from bot.chats import ChatService
from bot.citizens import Citizens
from bot.config import Settings
from bot.deadlines import Deadlines
from bot.delivery import Delivery
from bot.dialogs import Dialogs
from bot.dispatch import DispatchService
from bot.dossier import Dossiers
from bot.exports import Exports
from bot.failures import FailedUpdates
from bot.i18n import Locales
from bot.inbox import InboxService
from bot.joining import Joining, Roster
from bot.mapviews import MapService
from bot.office import Office
from bot.patrols import PatrolService
from bot.people import PeopleService
from bot.problems import ProblemService
from bot.reachability import Reachability
from bot.reports import ReportService
from bot.retention import RetentionService
from bot.schedule import DailyRuns
from bot.summaries import SummaryService
from bot.tiles import tile_source
from bot.todo import TodoService
from storage import Store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    locales: Locales
    people: PeopleService
    chats: ChatService
    joining: Joining
    roster: Roster
    patrols: PatrolService
    problems: ProblemService
    deadlines: Deadlines
    summaries: SummaryService
    delivery: Delivery
    exports: Exports
    assessments: Assessments
    dialogs: Dialogs
    office: Office
    failures: FailedUpdates
    reports: ReportService
    inbox: InboxService
    backups: Backups
    retention: RetentionService
    # Who cannot be reached, and what the office hears of it.
    reachability: Reachability
    # Maps of patrols, problems and areas (optionally over a tile source's basemap).
    maps: MapService
    # What waits for a chief: /todo, the digest's and the overdue letter's buttons.
    todo: TodoService
    # A stranger's photo kept until they join; the public signs' QR codes.
    citizens: Citizens
    # Chiefs' assistants, who patrol on a chief's behalf.
    assistants: AssistantService
    # Extensions, transfers and presses (bot.dispatch).
    dispatch: DispatchService
    # One river, one file: a reach's dossier as a PDF.
    dossiers: Dossiers
    # Which albums a chat was answered for already (one answer per album).
    albums: Albums
    # The day each daily job last ran on: a day's run neither lost nor doubled.
    daily_runs: DailyRuns

    @classmethod
    def create(cls, settings: Settings, store: Store, locales: Locales | None = None) -> Services:
        locales = locales or Locales.load(settings.default_language)
        people = PeopleService(store, settings)
        failures = FailedUpdates(store, settings)
        chats = ChatService(store, settings)
        summaries = SummaryService(store, settings)
        dialogs = Dialogs(store)
        problems = ProblemService(store, settings, dialogs)
        patrols = PatrolService(store, settings, dialogs)
        joining = Joining(store, settings)
        roster = Roster(store, settings)
        drawn = MapService(store, settings, locales, patrols, tiles=tile_source(settings, settings.data_dir))
        reports = ReportService(store, settings, patrols, problems, dialogs)
        return cls(
            settings=settings,
            store=store,
            locales=locales,
            people=people,
            chats=chats,
            joining=joining,
            roster=roster,
            patrols=patrols,
            problems=problems,
            deadlines=Deadlines(store, settings, problems),
            summaries=summaries,
            delivery=Delivery(
                store, settings, locales=locales, people=people, chats=chats, summaries=summaries, maps=drawn
            ),
            exports=Exports(store, settings, locales),
            assessments=Assessments(store, settings, locales),
            dialogs=dialogs,
            office=Office(store, settings, dialogs, joining, roster),
            failures=failures,
            reports=reports,
            inbox=InboxService(store, failures),
            backups=Backups(store, settings),
            retention=RetentionService(store, settings),
            reachability=Reachability(store, settings),
            maps=drawn,
            todo=TodoService(store, settings, patrols),
            citizens=Citizens(store, joining, reports),
            assistants=AssistantService(store, settings),
            dispatch=DispatchService(store, settings, problems),
            dossiers=Dossiers(store, settings, locales, tiles=drawn.tiles),
            albums=Albums(store),
            daily_runs=DailyRuns(store, settings),
        )
