"""Problems and the closed loop: report → assign → rectify → verify → close (sign off).

Every change is one transaction: a conditional status update (of two people acting at once, one wins) and an
event in the append-only log, which tells each problem's full story. Who may do what to a problem depends on
the problem (its assignee, its reporter), so those rules live here, beside the lifecycle they guard; the
command-level rules are in `bot.permissions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from bot.config import CATEGORIES, LEVELS, Settings
from bot.dialogs import Dialog, Dialogs
from bot.evidence import TRACK_AFTER, TRACK_BEFORE, Sighting, trusted_taken_at
from bot.geo import haversine_m
from bot.people import ADMIN, CHIEF, Person, chiefs_within, may_hand_to, office_of, person_from
from bot.permissions import acts_as_admin
from bot.photos import read_taken_at
from bot.reachability import Reason, why_unreachable
from storage import Store
from storage.problems import NewProblem, ProblemEvent, ProblemFilter, ProblemPhoto, ProblemRecord
from storage.records import AreaRecord, PersonRecord, ReachRecord

__all__ = [  # ProblemRecord and ProblemPhoto too: handlers show them, and import no storage module
    "MAX_PHOTOS",
    "NOTE_FLOW",
    "Action",
    "Card",
    "Change",
    "Draft",
    "DraftPhoto",
    "Listed",
    "Outcome",
    "ProblemPhoto",
    "ProblemRecord",
    "ProblemService",
    "TimelineEntry",
]

MAX_PHOTOS = 5
NOTE_FLOW = "problem_note"  # the dialog while an assignee sends after-photos, or someone types a reason
Action = Literal["assign", "rectify", "close", "reject", "dismiss", "reopen"]
# The steps after which an open extension request (bot.dispatch) no longer answers the problem: it has left its
# asker (assigned or reassigned), ended, or come back with a fresh deadline. It is withdrawn, or it would block
# every later request (one open per problem) and the card would still say one waits. Rectify and reject keep it:
# the asker and the deadline stay, and a sent-back problem may still need the time.
LAPSING: frozenset[Action] = frozenset({"assign", "close", "dismiss", "reopen"})
Outcome = Literal[
    "ok",
    "not_allowed",
    "own_rectification",
    "too_late",
    "inactive_assignee",
    "not_a_chief",
    "same_assignee",
    "out_of_scope",
]


@dataclass(frozen=True, slots=True)
class DraftPhoto:
    photo_id: int
    file_id: str
    as_document: bool
    gps: tuple[float, float] | None
    # The reporter's own message that carried it: their chat has the photo, so it is not sent back to them.
    message_id: int | None = None


@dataclass
class Draft:
    """A report being written; kept as JSON in the person's dialog so a restart or a pause loses nothing."""

    photos: list[DraftPhoto] = field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    location_source: str | None = None
    reach_id: int | None = None
    category: str | None = None
    description: str | None = None
    patrol_id: int | None = None
    duplicate_checked: bool = False
    started_at: str | None = None
    # The area whose reaches are listed at the reach step (chosen "by area"), so its page buttons can turn.
    listed_area_id: int | None = None
    # The open problem offered as perhaps the same: the only one "the same problem" may join.
    offered_problem_id: int | None = None
    # Fixed on the spot: the after-photos (None: not chosen), filed with the report as closed at once.
    fixed_photos: list[DraftPhoto] | None = None

    def to_json(self) -> dict[str, Any]:
        # A key added later is written only when set: a draft that never used it keeps the stored form it had.
        later: dict[str, Any] = {"listed_area_id": self.listed_area_id} if self.listed_area_id is not None else {}
        if self.offered_problem_id is not None:
            later["offered_problem_id"] = self.offered_problem_id
        if self.fixed_photos is not None:
            later["fixed_photos"] = [_photo_json(p) for p in self.fixed_photos]
        return {
            "photos": [_photo_json(p) for p in self.photos],
            "lat": self.lat,
            "lon": self.lon,
            "location_source": self.location_source,
            "reach_id": self.reach_id,
            "category": self.category,
            "description": self.description,
            "patrol_id": self.patrol_id,
            "duplicate_checked": self.duplicate_checked,
            "started_at": self.started_at,
            **later,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        photos = [_photo_from(p) for p in data.get("photos", [])]
        return cls(
            photos=photos,
            lat=data.get("lat"),
            lon=data.get("lon"),
            location_source=data.get("location_source"),
            reach_id=data.get("reach_id"),
            category=data.get("category"),
            description=data.get("description"),
            patrol_id=data.get("patrol_id"),
            duplicate_checked=bool(data.get("duplicate_checked")),
            started_at=data.get("started_at"),
            listed_area_id=data.get("listed_area_id"),
            offered_problem_id=data.get("offered_problem_id"),
            fixed_photos=None if data.get("fixed_photos") is None else [_photo_from(p) for p in data["fixed_photos"]],
        )

    @property
    def exif_location(self) -> tuple[float, float] | None:
        """The first photo-as-file that carried GPS: the place the camera recorded."""
        return next((p.gps for p in self.photos if p.gps is not None), None)


def _photo_json(p: DraftPhoto) -> list[Any]:
    stored = [p.photo_id, p.file_id, p.as_document, list(p.gps) if p.gps else None]
    return stored if p.message_id is None else [*stored, p.message_id]


def _photo_from(p: list[Any]) -> DraftPhoto:
    gps = (float(p[3][0]), float(p[3][1])) if p[3] else None
    return DraftPhoto(int(p[0]), str(p[1]), bool(p[2]), gps, int(p[4]) if len(p) > 4 and p[4] else None)


@dataclass(frozen=True, slots=True)
class Change:
    """What an action did, and who should hear of it."""

    outcome: Outcome
    problem: ProblemRecord | None = None
    # Telegram-less person ids to tell: the reporter and followers, the (new) assignee, verifiers.
    tell_reporters: tuple[int, ...] = ()
    tell_assignee: int | None = None
    tell_verifiers: tuple[int, ...] = ()
    # A reassignment took the problem from this person: they should stop working on it.
    tell_previous: int | None = None
    # Reopened with nobody to take it (its chief has left, the reach has none now): the admins assign it.
    tell_admins: bool = False


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event: ProblemEvent
    target: Person | None  # whom an assign or reassign gave the problem to


@dataclass(frozen=True, slots=True)
class Card:
    """Everything a problem's card shows: the problem, the names around it, its photos, and its story."""

    problem: ProblemRecord
    reach: ReachRecord | None
    area: AreaRecord | None
    reporter: Person | None
    assignee: Person | None
    photos: list[ProblemPhoto]
    timeline: list[TimelineEntry]
    pressed: int = 0  # how many times the office pressed it
    extension_asked: date | None = None  # the new deadline an open extension request asks for


@dataclass(frozen=True, slots=True)
class Listed:
    """A problem in a list, with its reach's name to show, and why it waits when its assignee cannot act."""

    problem: ProblemRecord
    reach: ReachRecord | None
    waiting: Reason | None = None


class ProblemService:
    """The lifecycle and who may drive it. Decisions take the domain `Person`, whose roles already include the
    bootstrap admins (`bot.people`), so no rule here asks about ADMIN_IDS."""

    def __init__(self, store: Store, settings: Settings, dialogs: Dialogs | None = None) -> None:
        self._store = store
        self._settings = settings
        self._dialogs = dialogs or Dialogs(store)

    def today(self) -> date:
        return datetime.now(self._settings.tz).date()

    def deadline_for(self, category: str, day: date) -> date:
        days = self._settings.problem_deadline_overrides.get(category, self._settings.problem_deadline_days)
        return day + timedelta(days=days)

    async def possible_duplicates(self, category: str, lat: float, lon: float) -> list[tuple[ProblemRecord, float]]:
        radius = self._settings.problem_duplicate_radius_m
        near = []
        for problem in await self._store.problems.open_near(category, lat, lon, radius):
            distance = haversine_m((lat, lon), (problem.lat, problem.lon))
            if distance <= radius:
                near.append((problem, distance))
        return sorted(near, key=lambda pair: pair[1])

    async def responsible(self, reach_id: int) -> int | None:
        """The chief a new problem goes to: the first level in PROBLEM_ROUTE_LEVELS with an active chief; of two
        at that level, one the bot can write to. The level is kept even when nobody at it can be reached: the
        reach is theirs, the office is told (`bot.reachability`) and reassigns if it cannot wait."""
        holders = []
        reachable: set[int] = set()
        for assignment in await self._store.assignments.active_for_reach(reach_id):
            person = await self._store.people.by_id(assignment.person_id)
            if person is not None and person.active and CHIEF in person.roles:
                holders.append(assignment)
                if why_unreachable(person_from(self._settings, person)) is None:
                    reachable.add(person.id)
        for level in self._settings.problem_route_levels:
            at_level = sorted(
                (a for a in holders if a.level == level),
                key=lambda a: (a.person_id not in reachable, a.starts_on, a.id),
            )
            if at_level:
                return at_level[0].person_id
        return None

    async def submit(self, reporter_id: int, draft: Draft, *, at: datetime) -> ProblemRecord:
        """File the report: the problem, its photos, the event, and routing to the responsible chief.

        Anyone the report flow let through may report, so only the reporter's id matters here."""
        assert draft.reach_id is not None and draft.category in CATEGORIES
        assert draft.lat is not None and draft.lon is not None
        reach = await self._store.reaches.by_id(draft.reach_id)
        assert reach is not None
        async with self._store.atomic():
            problem_id = await self._insert_reported(draft, reach, reporter_id, at)
            await self._store.problems.add_event(
                problem_id, actor_id=reporter_id, action="report", from_status=None, to_status="reported", at=at
            )
            assignee = await self.responsible(reach.id)
            if assignee is not None:
                deadline = self.deadline_for(draft.category, at.astimezone(self._settings.tz).date())
                await self._store.problems.transition(
                    problem_id, expect=("reported",), status="assigned", assignee_id=assignee, deadline=deadline
                )
                await self._store.problems.add_event(
                    problem_id,
                    actor_id=None,
                    action="assign",
                    from_status="reported",
                    to_status="assigned",
                    data={"assignee": assignee, "deadline": deadline.isoformat(), "routed": True},
                )
            if draft.patrol_id is not None:
                patrol = await self._store.patrols.by_id(draft.patrol_id)
                if patrol is not None and patrol.is_open:
                    await self._store.patrols.add_note(patrol.id, at=at, text=f"#{problem_id}", kind="problem")
            problem = await self._store.problems.by_id(problem_id)
        assert problem is not None
        return problem

    async def _insert_reported(self, draft: Draft, reach: ReachRecord, reporter_id: int, at: datetime) -> int:
        """The problem as reported, with its photos as before-photos; the caller holds the transaction."""
        assert draft.category is not None and draft.lat is not None and draft.lon is not None
        problem_id = await self._store.problems.insert(
            NewProblem(
                reporter_id=reporter_id,
                patrol_id=draft.patrol_id,
                reach_id=reach.id,
                area_id=reach.area_id,
                category=draft.category,
                description=draft.description,
                lat=draft.lat,
                lon=draft.lon,
                # The patrol's track is a location the person shared (live): stored as shared.
                location_source="exif" if draft.location_source == "exif" else "shared",
            ),
            reported_at=at,
        )
        for photo in draft.photos:
            await self._store.problems.add_photo(
                problem_id, photo_id=photo.photo_id, file_id=photo.file_id, kind="before", added_by=reporter_id
            )
        return problem_id

    @staticmethod
    def may_fix_on_spot(person: Person) -> bool:
        """Who may file a problem as fixed on the spot (closed at once, with before and after photos): an active
        chief, who answers for rectification anyway. Not a volunteer (or an office clerk who is no chief): their
        word alone would close a problem that nobody responsible for the river has seen."""
        return person.active and person.is_chief

    async def submit_fixed(self, reporter: Person, draft: Draft, *, at: datetime) -> ProblemRecord | None:
        """File the report as found and put right there and then: reported at `at`, closed now by the reporter,
        who is its assignee, due today, so it counts as found, closed and closed on time. None when this person
        may not, or there is no after-photo."""
        if not self.may_fix_on_spot(reporter) or not draft.fixed_photos:
            return None
        assert draft.reach_id is not None and draft.category in CATEGORIES
        assert draft.lat is not None and draft.lon is not None
        reach = await self._store.reaches.by_id(draft.reach_id)
        assert reach is not None
        now = max(datetime.now(UTC), at)
        due = now.astimezone(self._settings.tz).date()
        async with self._store.atomic():
            problem_id = await self._insert_reported(draft, reach, reporter.id, at)
            for photo in draft.fixed_photos:
                await self._store.problems.add_photo(
                    problem_id, photo_id=photo.photo_id, file_id=photo.file_id, kind="after", added_by=reporter.id
                )
            await self._store.problems.add_event(
                problem_id, actor_id=reporter.id, action="report", from_status=None, to_status="reported", at=at
            )
            await self._store.problems.transition(
                problem_id, expect=("reported",), status="closed", assignee_id=reporter.id, deadline=due, closed_at=now
            )
            await self._store.problems.add_event(
                problem_id,
                actor_id=reporter.id,
                action="fixed_on_spot",
                from_status="reported",
                to_status="closed",
                data={"deadline": due.isoformat(), "photos": len(draft.fixed_photos)},
                at=now,
            )
            if draft.patrol_id is not None:
                patrol = await self._store.patrols.by_id(draft.patrol_id)
                if patrol is not None and patrol.is_open:
                    await self._store.patrols.add_note(patrol.id, at=at, text=f"#{problem_id}", kind="problem")
            return await self._store.problems.by_id(problem_id)

    async def join_existing(self, problem_id: int, reporter_id: int, draft: Draft) -> ProblemRecord | None:
        """The report was the same problem: its photos become more evidence, the reporter follows it."""
        async with self._store.atomic():
            problem = await self._store.problems.by_id(problem_id)
            if problem is None or not problem.is_open:
                return None
            for photo in draft.photos:
                await self._store.problems.add_photo(
                    problem_id, photo_id=photo.photo_id, file_id=photo.file_id, kind="before", added_by=reporter_id
                )
            if reporter_id != problem.reporter_id:
                await self._store.problems.add_follower(problem_id, reporter_id)
            await self._store.problems.add_event(
                problem_id,
                actor_id=reporter_id,
                action="same_report",
                from_status=problem.status,
                to_status=problem.status,
                note=draft.description,
                data={"photos": len(draft.photos)},
            )
        return problem

    # -- what the handlers show ---------------------------------------------------------------------------

    async def get(self, problem_id: int) -> ProblemRecord | None:
        return await self._store.problems.by_id(problem_id)

    def _person(self, record: PersonRecord | None) -> Person | None:
        return None if record is None else person_from(self._settings, record)

    async def recipient(self, person_id: int) -> Person | None:
        """The person, if the bot can write to them: active, joined, and not refused since (`bot.reachability`)."""
        person = self._person(await self._store.people.by_id(person_id))
        return person if person is not None and why_unreachable(person) is None else None

    async def areas(self) -> list[AreaRecord]:
        return await self._store.areas.all()

    async def card(self, problem: ProblemRecord, *, timeline: bool) -> Card:
        people = self._store.people
        entries = []
        if timeline:
            for event in await self._store.problems.events(problem.id):
                target = None
                if event.action in ("assign", "reassign", "transferred") and "assignee" in event.data:
                    target = self._person(await people.by_id(int(event.data["assignee"])))
                entries.append(TimelineEntry(event, target))
        request = await self._store.dispatch.open_extension(problem.id)
        return Card(
            problem=problem,
            reach=await self._store.reaches.by_id(problem.reach_id),
            area=await self._store.areas.by_id(problem.area_id),
            reporter=self._person(await people.by_id(problem.reporter_id)),
            assignee=self._person(await people.by_id(problem.assignee_id)) if problem.assignee_id else None,
            photos=await self._store.problems.photos(problem.id),
            timeline=entries,
            pressed=await self._store.dispatch.count_events(problem.id, "pressed"),
            extension_asked=request.new_deadline if request is not None else None,
        )

    async def _listed(self, problems: list[ProblemRecord]) -> list[Listed]:
        listed = []
        for p in problems:
            assignee = self._person(await self._store.people.by_id(p.assignee_id)) if p.assignee_id else None
            waiting = why_unreachable(assignee) if assignee is not None and p.status == "assigned" else None
            listed.append(Listed(p, await self._store.reaches.by_id(p.reach_id), waiting))
        return listed

    async def page(
        self, person: Person, *, area_id: int, category: str, page: int, page_size: int
    ) -> tuple[list[Listed], int]:
        """A page of the open problems this person sees (admins: all in their scope; a chief: theirs and their
        reaches'),
        optionally of one area or category (0 or "": any); and how many there are in all."""
        if person.is_admin and person.areas is not None and area_id and area_id not in person.areas:
            return [], 0
        if person.is_admin:
            # A town's office: its own areas only (a chosen area inside the scope narrows it further).
            within = None if person.areas is None or area_id else tuple(sorted(person.areas))
            scope = ProblemFilter(area_id=area_id or None, area_ids=within, category=category or None)
        else:
            reaches = tuple(a.reach_id for a in await self._store.assignments.active_for_person(person.id))
            scope = ProblemFilter(
                area_id=area_id or None, category=category or None, assignee_id=person.id, reach_ids=reaches
            )
        found, total = await self._store.problems.page(scope, limit=page_size, offset=page * page_size)
        return await self._listed(found), total

    async def reported_by(self, person_id: int, *, page: int, page_size: int) -> tuple[list[Listed], int]:
        """A page of the problems this person reported or follows, newest first; and how many there are."""
        found, total = await self._store.problems.for_reporter(person_id, limit=page_size, offset=page * page_size)
        return await self._listed(found), total

    async def assignee_choices(
        self, problem: ProblemRecord, scope: frozenset[int] | None = None
    ) -> list[tuple[Person, bool]]:
        """The chiefs to assign to, each with whether they hold the problem's reach: those first, then those
        of its area, by name. A town's office (`scope`) is offered its own areas' chiefs and the reach's."""
        within = await chiefs_within(self._store, scope, problem.reach_id)
        chiefs = [
            person_from(self._settings, r)
            for r in await self._store.people.with_role(CHIEF)
            if within is None or r.id in within
        ]
        holders = {a.person_id for a in await self._store.assignments.active_for_reach(problem.reach_id)}
        chiefs.sort(key=lambda p: (p.id not in holders, p.home_area_id != problem.area_id, p.name))
        return [(p, p.id in holders) for p in chiefs]

    # -- the note dialog (after-photos, or a reason) --------------------------------------------------------

    async def note(self, telegram_id: int) -> Dialog | None:
        """The person's open note dialog, if that is what they have open."""
        return await self._dialogs.at(telegram_id, NOTE_FLOW)

    async def put_note(self, telegram_id: int, step: str, data: dict[str, Any]) -> None:
        await self._dialogs.set(telegram_id, NOTE_FLOW, step, data)

    async def end_note(self, telegram_id: int) -> None:
        await self._dialogs.clear(telegram_id, NOTE_FLOW)

    # -- who may do what ---------------------------------------------------------------------------------

    def allowed(self, problem: ProblemRecord, person: Person) -> set[Action]:
        """The lifecycle actions this person may take on the problem as it is now, as far as the problem and the
        person tell (`permitted` adds what the reach's chiefs may)."""
        if not person.active:
            return set()
        # An admin's powers reach the problems of their office scope only (a town's office, its town).
        admin = acts_as_admin(person, problem.area_id)
        actions: set[Action] = set()
        if problem.is_open and admin:
            actions |= {"assign", "dismiss"}
        if problem.status == "assigned" and problem.assignee_id == person.id:
            actions.add("rectify")
        reporter_chief = problem.reporter_id == person.id and person.is_chief
        if problem.status == "rectified" and (admin or reporter_chief) and not self.own_rectification(problem, person):
            actions |= {"close", "reject"}
        window = timedelta(days=self._settings.problem_reopen_days)
        closed_at = problem.closed_at
        reporter_recently_closed = (
            problem.status == "closed"
            and problem.reporter_id == person.id
            and closed_at is not None
            and datetime.now(UTC) - closed_at <= window
        )
        if reporter_recently_closed:
            actions.add("reopen")
        return actions

    async def permitted(self, problem: ProblemRecord, person: Person) -> set[Action]:
        """`allowed`, and verification by a higher-level chief of the problem's reach: the river chief system's
        own check on a rectification, besides the office's (never by whoever rectified it)."""
        actions = self.allowed(problem, person)
        if (
            problem.status == "rectified"
            and person.active
            and person.is_chief
            and not self.own_rectification(problem, person)
            and person.id in await self.higher_chiefs(problem)
        ):
            actions |= {"close", "reject"}
        return actions

    async def higher_chiefs(self, problem: ProblemRecord) -> set[int]:
        """The active chiefs holding the problem's reach at a level above its assignee's there (a county chief
        over a village chief's rectification); none when it has no assignee."""
        if problem.assignee_id is None:
            return set()
        holders = await self._store.assignments.active_for_reach(problem.reach_id)
        assignee = await self._store.people.by_id(problem.assignee_id)
        own = [LEVELS.index(a.level) for a in holders if a.person_id == problem.assignee_id and a.level in LEVELS]
        if own:
            rank = min(own)
        elif assignee is not None and assignee.roles.get(CHIEF) in LEVELS:
            rank = LEVELS.index(str(assignee.roles[CHIEF]))
        else:
            return set()
        higher = set()
        for assignment in holders:
            if assignment.level in LEVELS and LEVELS.index(assignment.level) < rank:
                person = await self._store.people.by_id(assignment.person_id)
                if person is not None and person.active and CHIEF in person.roles:
                    higher.add(person.id)
        higher.discard(problem.assignee_id)
        return higher

    @staticmethod
    def own_rectification(problem: ProblemRecord, person: Person) -> bool:
        """Segregation of duties: whoever rectified a problem does not verify it (close it or send it back), even
        as its reporter or an admin; the office or another verifier does. Otherwise a chief who reports on his
        own reach, gets it and "rectifies" it could sign it off alone, and the rectification rate would mean
        nothing. Only the assignee can rectify, and a reassignment leaves "rectified", so while a problem is
        rectified its assignee is the one who rectified it."""
        return problem.status == "rectified" and problem.assignee_id == person.id
    async def may_be_offered(self, problem: ProblemRecord, person: Person) -> bool:
        """Whether a report of this person's may be offered the problem as perhaps the same: one they may view, or
        one of their own area. Never another area's: the offer shows its photo and place, and joining it makes
        them a follower, who sees the whole card and hears of every step."""
        if await self.may_view(problem, person):
            return True
        return person.home_area_id is not None and problem.area_id == person.home_area_id

    async def may_view(self, problem: ProblemRecord, person: Person) -> bool:
        """Admins see every problem of their scope; others (and admins outside their scope) the ones they reported,
        hold, follow, or that are on their reaches."""
        if acts_as_admin(person, problem.area_id):
            return True
        if person.id in (problem.reporter_id, problem.assignee_id):
            return True
        if person.id in await self._store.problems.followers(problem.id):
            return True
        held = await self._store.assignments.active_for_person(person.id)
        return any(a.reach_id == problem.reach_id for a in held)

    async def _audience(self, problem: ProblemRecord) -> tuple[int, ...]:
        return (problem.reporter_id, *await self._store.problems.followers(problem.id))

    async def _verifiers(self, problem: ProblemRecord) -> tuple[int, ...]:
        """Who is asked to verify a rectification: the area's office (`office_of`), a reporting chief and the
        reach's higher-level chiefs; never who rectified it."""
        everyone = [person_from(self._settings, r) for r in await self._store.people.with_role(ADMIN)]
        admins = [p.id for p in office_of(everyone, problem.area_id)]
        reporter = await self._store.people.by_id(problem.reporter_id)
        if reporter is not None and CHIEF in reporter.roles:
            admins.append(reporter.id)
        admins += sorted(await self.higher_chiefs(problem))
        return tuple(p for p in dict.fromkeys(admins) if p != problem.assignee_id)

    # -- the lifecycle -----------------------------------------------------------------------------------

    async def act(
        self,
        problem_id: int,
        actor: Person,
        action: Action,
        *,
        note: str | None = None,
        assignee_id: int | None = None,
        photos: list[DraftPhoto] | None = None,
    ) -> Change:
        """Do `action` if this person may, and the problem is still where they saw it."""
        async with self._store.atomic():
            problem = await self._store.problems.by_id(problem_id)
            if problem is None:
                return Change("too_late")
            if action not in await self.permitted(problem, actor):
                if action in ("close", "reject") and self.own_rectification(problem, actor):
                    return Change("own_rectification", problem)
                # Not theirs to do, or someone else changed the problem a moment ago: the handler tells which.
                return Change("not_allowed", problem)
            before = problem.status
            previous: int | None = None
            if action == "assign":
                assert assignee_id is not None
                target = await self._store.people.by_id(assignee_id)
                if target is None or CHIEF not in target.roles:
                    return Change("not_a_chief", problem)
                if not target.active:
                    return Change("inactive_assignee", problem)
                if problem.assignee_id == target.id and problem.status == "assigned":
                    return Change("same_assignee", problem)
                if not await may_hand_to(self._store, actor, problem.reach_id, target.id):
                    return Change("out_of_scope", problem)
                deadline = problem.deadline or self.deadline_for(problem.category, self.today())
                ok = await self._store.problems.transition(
                    problem.id, expect=(before,), status="assigned", assignee_id=target.id, deadline=deadline
                )
                event_data = {"assignee": target.id, "deadline": deadline.isoformat()}
                if problem.assignee_id is not None:
                    event_data["previous"] = problem.assignee_id
                    previous = problem.assignee_id
                action_name = "reassign" if problem.assignee_id is not None else "assign"
                to_status = "assigned"
            elif action == "rectify":
                ok = await self._store.problems.transition(problem.id, expect=("assigned",), status="rectified")
                for photo in photos or []:
                    await self._store.problems.add_photo(
                        problem.id, photo_id=photo.photo_id, file_id=photo.file_id, kind="after", added_by=actor.id
                    )
                event_data = {"photos": len(photos or [])}
                action_name, to_status = "rectify", "rectified"
            elif action == "close":
                ok = await self._store.problems.transition(
                    problem.id, expect=("rectified",), status="closed", closed_at=datetime.now(UTC)
                )
                event_data, action_name, to_status = {}, "close", "closed"
            elif action == "reject":
                ok = await self._store.problems.transition(problem.id, expect=("rectified",), status="assigned")
                event_data, action_name, to_status = {}, "reject", "assigned"
            elif action == "dismiss":
                ok = await self._store.problems.transition(
                    problem.id, expect=(before,), status="dismissed", closed_at=datetime.now(UTC)
                )
                event_data, action_name, to_status = {}, "dismiss", "dismissed"
            else:  # reopen: back to whoever had it, with a fresh deadline; if they have left, to the reach's chief now
                assignee = problem.assignee_id
                holder = await self._store.people.by_id(assignee) if assignee is not None else None
                if holder is None or not holder.active or CHIEF not in holder.roles:
                    assignee = await self.responsible(problem.reach_id)
                status = "assigned" if assignee is not None else "reported"
                deadline = self.deadline_for(problem.category, self.today())
                ok = await self._store.problems.transition(
                    problem.id,
                    expect=("closed",),
                    status=status,
                    assignee_id=assignee,
                    closed_at=None,
                    deadline=deadline,
                )
                event_data = {"deadline": deadline.isoformat()}
                if assignee != problem.assignee_id:
                    event_data |= {"assignee": assignee, "previous": problem.assignee_id}
                action_name, to_status = "reopen", status
            if not ok:
                return Change("not_allowed", problem)
            if action in LAPSING:
                await self._store.dispatch.withdraw_open(problem.id)
            await self._store.problems.add_event(
                problem.id,
                actor_id=actor.id,
                action=action_name,
                from_status=before,
                to_status=to_status,
                note=note,
                data=event_data,
            )
            changed = await self._store.problems.by_id(problem.id)
            assert changed is not None
            audience = await self._audience(changed)
            verifiers = await self._verifiers(changed) if action == "rectify" else ()
        tell_assignee = changed.assignee_id if action in ("assign", "reject", "reopen", "dismiss") else None
        return Change(
            "ok",
            changed,
            tell_reporters=tuple(p for p in audience if p != actor.id),
            tell_assignee=tell_assignee if tell_assignee != actor.id else None,
            tell_verifiers=tuple(p for p in verifiers if p != actor.id),
            tell_previous=previous if previous not in (actor.id, changed.assignee_id) else None,
            tell_admins=action == "reopen" and changed.assignee_id is None,
        )

    async def escalate(self, problem: ProblemRecord, days_overdue: int, *, county: bool = False) -> None:
        """Record that the office was told (`county`: the second step, after a town's office was)."""
        data: dict[str, object] = {"days_overdue": days_overdue}
        if problem.deadline is not None:
            data["deadline"] = problem.deadline.isoformat()
        if county:
            data["county"] = True
        await self._store.problems.add_event(
            problem.id,
            actor_id=None,
            action="escalate",
            from_status=problem.status,
            to_status=problem.status,
            data=data,
        )

    # -- evidence -----------------------------------------------------------------------------------------

    async def sightings(self, problem: ProblemRecord, photos: list[ProblemPhoto]) -> list[Sighting]:
        """What each photo's stamp says (`bot.evidence`): before-photos the report's place and time; after-photos
        their own, from their EXIF or the sender's track, or unknown; never the problem's passed off as theirs."""
        seen = []
        for photo in photos:
            taken = read_taken_at(photo.taken_at)
            if photo.kind != "after":
                seen.append(Sighting("before", taken, problem.reported_at, (problem.lat, problem.lon)))
                continue
            arrived = photo.added_at
            taken = trusted_taken_at(taken, not_before=problem.reported_at, not_after=arrived, tz=self._settings.tz)
            if photo.gps is not None:
                seen.append(Sighting("after", taken, arrived, photo.gps, "exif"))
                continue
            point = None
            if photo.added_by is not None:
                point = await self._store.patrols.point_near(
                    photo.added_by, arrived, before=TRACK_BEFORE, after=TRACK_AFTER
                )
            if point is not None:
                seen.append(Sighting("after", taken, arrived, (point.lat, point.lon), "track", point.at))
            else:
                seen.append(Sighting("after", taken, arrived, None))
        return seen

    # -- which photos each chat has been sent ---------------------------------------------------------------

    async def photos_sent(self, chat_id: int, problem_id: int) -> dict[int, int]:
        """photo id -> the message that carried it to this chat: sent once, replied to after."""
        return await self._store.problems.photo_messages(chat_id, problem_id)

    async def remember_photos_sent(self, chat_id: int, problem_id: int, sent: dict[int, int]) -> None:
        async with self._store.atomic():
            await self._store.problems.remember_photo_messages(chat_id, problem_id, sent)

    async def forget_photos_sent(self, chat_id: int, problem_id: int) -> None:
        """The chat no longer has those messages (Telegram cannot find them to reply to): send them again."""
        await self._store.problems.forget_photo_messages(chat_id, problem_id)
