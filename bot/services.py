"""Everything a handler needs, built once at start and kept in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.chats import ChatService
from bot.config import Settings
from bot.i18n import Locales
from bot.joining import Joining, Roster
from bot.patrols import PatrolService
from bot.people import PeopleService
from bot.problems import ProblemService
from bot.reports import ReportService
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
    reports: ReportService

    @classmethod
    def create(cls, settings: Settings, store: Store, locales: Locales | None = None) -> Services:
        patrols = PatrolService(store, settings)
        problems = ProblemService(store, settings)
        return cls(
            settings=settings,
            store=store,
            locales=locales or Locales.load(settings.default_language),
            people=PeopleService(store, settings),
            chats=ChatService(store, settings),
            joining=Joining(store, settings),
            roster=Roster(store, settings),
            patrols=patrols,
            problems=problems,
            reports=ReportService(store, settings, patrols, problems),
        )
