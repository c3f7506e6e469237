"""Reporting a problem: keeps the draft (`bot.drafts`) in the person's dialog row and does what its steps need.

Each method loads the draft, applies one transition of `bot.drafts`, saves the result (or drops the draft when
it is over) and returns the transition with whatever the handler shows next. A draft is keyed by the person's
Telegram id because the dialog row is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot import drafts
from bot.config import CATEGORIES, Settings
from bot.dialogs import Dialogs
from bot.drafts import State, Transition
from bot.geo import distance_to_lines_m
from bot.patrols import NearbyReach, PatrolService, not_ahead
from bot.people import Person
from bot.problems import Draft, DraftPhoto, ProblemService
from storage import Store
from storage.problems import ProblemRecord
from storage.records import ReachRecord

NEAREST = 5  # reaches offered for a problem's location
# A patrol's latest point stands for where a problem is when the live location still runs, or when it is at most
# this much older than the report: a single location sent long ago is no longer where the person stands.
TRACK_FRESH = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class OnPatrol:
    """Where a report begun on a patrol is (`point`: the track's latest point, or None to ask), and the patrol's
    reach when that point lies on it (within PATROL_MAX_DISTANCE_FROM_REACH_M): the reach is not asked either."""

    point: tuple[float, float] | None
    reach_id: int | None


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An open problem of the same kind close by, as the person is shown it."""

    problem: ProblemRecord
    reach: ReachRecord | None
    distance_m: float
    photo_file_id: str | None  # its first "before" photo


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the person checks before sending."""

    draft: Draft
    reach: ReachRecord | None


class ReportService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        patrols: PatrolService,
        problems: ProblemService,
        dialogs: Dialogs | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._patrols = patrols
        self._problems = problems
        self._dialogs = dialogs or Dialogs(store)

    # -- the draft in the store ----------------------------------------------------------------------------

    async def current(self, telegram_id: int) -> State | None:
        """The person's draft; None when they are writing none (or are in another dialog)."""
        dialog = await self._dialogs.get(telegram_id)
        return None if dialog is None else drafts.load(dialog.flow, dialog.step, dialog.data)

    async def apply(self, telegram_id: int, transition: Transition) -> Transition:
        """Keep what a transition of `bot.drafts` made of the draft: saved, dropped when over, unchanged if refused."""
        if transition.refused is not None:
            return transition
        if transition.step is None:
            await self.drop(telegram_id)
        else:
            await self._dialogs.set(telegram_id, *drafts.stored(State(transition.step, transition.draft)))
        return transition

    async def drop(self, telegram_id: int) -> bool:
        """Forget the person's draft (a dialog of another flow stays)."""
        return await self._dialogs.clear(telegram_id, drafts.FLOW)

    # -- the steps -----------------------------------------------------------------------------------------

    async def begin(
        self,
        telegram_id: int,
        person_id: int,
        *,
        started_at: datetime,
        patrol_id: int | None = None,
        reach_id: int | None = None,
        photos: tuple[DraftPhoto, ...] = (),
    ) -> State:
        """A new draft, linked to the patrol given or else to the person's open patrol; `reach_id` and `photos`
        as `bot.drafts.begin` takes them."""
        if patrol_id is None:
            patrol = await self._patrols.open_patrol(person_id)
            patrol_id = patrol.id if patrol else None
        state = drafts.begin(started_at=started_at.isoformat(), patrol_id=patrol_id, reach_id=reach_id, photos=photos)
        await self._dialogs.set(telegram_id, *drafts.stored(state))
        return state

    async def add_photo(self, telegram_id: int, photo: DraftPhoto, *, at: datetime | None = None) -> Transition | None:
        """Add a downloaded photo to the draft as it is now (the photos of an album arrive one by one, each
        added to the same draft). None: the draft is gone meanwhile.

        A problem found on a patrol is seen on that patrol: its photos are the patrol's evidence too (sent at
        `at`, Telegram's time), whatever becomes of the report."""
        state = await self.current(telegram_id)
        if state is None:
            return None
        transition = await self.apply(telegram_id, drafts.add_photo(state, photo))
        if transition.refused is None:
            await self._patrol_evidence(state, photo, at)
        return transition

    async def add_fixed_photo(
        self, telegram_id: int, state: State, photo: DraftPhoto, *, at: datetime | None = None
    ) -> Transition:
        """An after-photo of a problem fixed on the spot; on a patrol it is that patrol's evidence too, as the
        problem's own photos are."""
        transition = await self.apply(telegram_id, drafts.add_fixed_photo(state, photo))
        if transition.refused is None:
            await self._patrol_evidence(state, photo, at)
        return transition

    async def _patrol_evidence(self, state: State, photo: DraftPhoto, at: datetime | None) -> None:
        patrol_id = state.draft.patrol_id
        if patrol_id is None:
            return
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is not None and patrol.is_open:
            await self._store.patrols.add_photo(
                patrol.id,
                photo_id=photo.photo_id,
                file_id=photo.file_id,
                as_document=photo.as_document,
                sent_at=not_ahead(at or datetime.now(UTC)),
                caption=None,
            )

    async def on_patrol(self, state: State) -> OnPatrol:
        """Where a problem found on a patrol is: the track's latest point, while the live location runs (or the
        point is at most TRACK_FRESH older than the report); None: ask for the location as for any report."""
        nowhere = OnPatrol(None, None)
        patrol_id = state.draft.patrol_id
        if patrol_id is None or state.step is not drafts.Step.PHOTOS:
            return nowhere
        patrol = await self._store.patrols.by_id(patrol_id)
        if patrol is None or not patrol.is_open:
            return nowhere
        latest = await self._store.patrols.latest_point(patrol.id)
        if latest is None:
            return nowhere
        live = patrol.live_message_id is not None and patrol.live_stopped_at is None
        began = datetime.fromisoformat(state.draft.started_at) if state.draft.started_at else datetime.now(UTC)
        if not live and began - latest.at > TRACK_FRESH:
            return nowhere
        point = (latest.lat, latest.lon)
        reach = await self._patrols.reach(patrol.reach_id)
        lines = self._patrols.reach_lines(reach) if reach is not None else []
        on_it = bool(lines) and distance_to_lines_m(point, lines) <= self._settings.patrol_max_distance_from_reach_m
        return OnPatrol(point, patrol.reach_id if on_it else None)

    async def nearest_reaches(self, state: State, *, home_area_id: int | None) -> list[NearbyReach]:
        """The reaches to offer for the draft's location; with none at all the draft cannot go on, and is dropped
        (the caller says the registry is empty)."""
        draft = state.draft
        assert draft.lat is not None and draft.lon is not None
        return await self._patrols.nearest_reaches((draft.lat, draft.lon), home_area_id=home_area_id, limit=NEAREST)

    async def choose_category(
        self, telegram_id: int, reporter: Person, state: State, category: str
    ) -> tuple[Transition, Duplicate | None]:
        """The kind of problem, and the nearest open problem of that kind it may be, among those the reporter may
        be offered (`ProblemService.may_be_offered`)."""
        duplicate = None
        draft = state.draft
        asking = state.step is drafts.Step.CATEGORY and category in CATEGORIES
        if asking and draft.lat is not None and draft.lon is not None:
            for problem, distance in await self._problems.possible_duplicates(category, draft.lat, draft.lon):
                if await self._problems.may_be_offered(problem, reporter):
                    duplicate = await self._duplicate(problem, distance)
                    break
        offered = duplicate.problem.id if duplicate is not None else None
        transition = await self.apply(telegram_id, drafts.choose_category(state, category, duplicate_of=offered))
        return transition, duplicate if transition.refused is None else None

    async def _duplicate(self, problem: ProblemRecord, distance_m: float) -> Duplicate:
        reach = await self._store.reaches.by_id(problem.reach_id)
        photos = await self._store.problems.photos(problem.id, "before")
        return Duplicate(problem, reach, distance_m, photos[0].file_id if photos else None)

    async def confirmation(self, state: State) -> Confirmation:
        assert state.draft.reach_id is not None
        return Confirmation(state.draft, await self._store.reaches.by_id(state.draft.reach_id))

    async def join(
        self, telegram_id: int, person_id: int, state: State, problem_id: int
    ) -> tuple[Transition, ProblemRecord | None]:
        """It was the same problem: the draft's photos go to it and the person follows it; the draft is over.
        Refused (the draft unchanged) for any problem but the one offered; no problem when it is closed (or gone)
        by now."""
        transition = drafts.answer_duplicate(state, same=True, problem_id=problem_id)
        if transition.refused is not None:
            return transition, None
        joined = await self._problems.join_existing(problem_id, person_id, state.draft)
        await self.apply(telegram_id, transition)
        return transition, joined

    async def submit(self, telegram_id: int, person_id: int, state: State) -> ProblemRecord | None:
        """File the problem, dated when the report was begun. None: the draft is not ready to send."""
        transition = drafts.confirm(state)
        if transition.refused is not None:
            return None
        draft = state.draft
        # Telegram's time of /report; one from the future (a forged client) is now, here as in a patrol.
        at = not_ahead(datetime.fromisoformat(draft.started_at)) if draft.started_at else datetime.now(UTC)
        problem = await self._problems.submit(person_id, draft, at=at)
        await self.apply(telegram_id, transition)
        return problem

    async def submit_fixed(self, telegram_id: int, person: Person, state: State) -> ProblemRecord | None:
        """File the problem as fixed on the spot (`ProblemService.submit_fixed`), dated when the report was begun.
        None: the draft has no after-photo yet, or this person may not (the draft is kept)."""
        transition = drafts.confirm_fixed(state)
        if transition.refused is not None:
            return None
        draft = state.draft
        at = not_ahead(datetime.fromisoformat(draft.started_at)) if draft.started_at else datetime.now(UTC)
        problem = await self._problems.submit_fixed(person, draft, at=at)
        if problem is not None:
            await self.apply(telegram_id, transition)
        return problem
