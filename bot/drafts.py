"""The problem report being written, as a state machine: photos → location → reach → category → (same
problem?) → description → confirm.

Each input the person gives (a photo, a location, a button, typed text) is one pure function from the draft
and its step to a `Transition`: the new draft and step, and what to ask next, or why the input was refused
(the draft unchanged). Nothing here reads the store or talks to Telegram: `bot.reports` loads and saves the
draft (it lives in the person's dialog row, so a restart or an hour's pause loses nothing) and does the
look-ups a step needs (the nearest reaches, a possible duplicate), and the handler renders what comes back.

The stored form is the one the bot has always written: flow "report", the step's name, `Draft.to_json()`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.config import CATEGORIES
from bot.problems import MAX_PHOTOS, Draft, DraftPhoto

FLOW = "report"  # the dialog's flow name in the store
DESCRIPTION_LIMIT = 1000


class Step(StrEnum):
    """Where a draft stands: the value is the step's name in the stored dialog."""

    PHOTOS = "photos"
    LOCATION = "location"
    REACH = "reach"
    CATEGORY = "category"
    DUPLICATE = "duplicate"
    DESCRIPTION = "description"
    CONFIRM = "confirm"
    AFTER_PHOTO = "after_photo"  # fixed on the spot: waiting for the after-photos


class Next(StrEnum):
    """What the bot does after a transition."""

    MORE_PHOTOS = "more_photos"  # a photo was added: say so, offer "Next"
    ASK_LOCATION = "ask_location"
    ASK_REACH = "ask_reach"  # list the reaches nearest the location
    LIST_AREA = "list_area"  # list the reaches of the area chosen, a page at a time; the step stays
    ASK_CATEGORY = "ask_category"
    OFFER_DUPLICATE = "offer_duplicate"  # show the problem it may be, ask "same?"
    ASK_DESCRIPTION = "ask_description"
    ASK_CONFIRM = "ask_confirm"
    SUBMIT = "submit"  # file the problem; the draft is over
    JOIN = "join"  # add the person to the existing problem; the draft is over
    CANCELLED = "cancelled"  # the draft is dropped
    ASK_AFTER_PHOTO = "ask_after_photo"  # fixed on the spot: ask for the photo after
    MORE_AFTER_PHOTOS = "more_after_photos"  # an after-photo was added: say so, offer "Send as fixed"
    SUBMIT_FIXED = "submit_fixed"  # file the problem closed at once, with its after-photos; the draft is over


class Refusal(StrEnum):
    """Why an input changed nothing."""

    WRONG_STEP = "wrong_step"  # not what this step takes (typed: say what it wants; a button: outdated)
    PHOTOS_DONE = "photos_done_already"
    TOO_MANY_PHOTOS = "too_many_photos"
    NEED_A_PHOTO = "need_a_photo"
    NOT_OFFERED = "not_offered"  # "the same problem" named one the draft was not offered (a forged button)
    SAME_AS_BEFORE = "same_as_before"  # an after-photo that is one of the report's own photos


@dataclass(frozen=True, slots=True)
class State:
    step: Step
    draft: Draft


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one input. `step` None: the draft is over (submitted, joined, cancelled)."""

    step: Step | None
    draft: Draft
    next: Next | None = None
    refused: Refusal | None = None

    @property
    def over(self) -> bool:
        return self.step is None and self.refused is None


def _to(step: Step | None, draft: Draft, what: Next) -> Transition:
    return Transition(step, draft, what)


def _refuse(state: State, why: Refusal) -> Transition:
    return Transition(state.step, state.draft, refused=why)


# -- starting, and the stored form --------------------------------------------------------------------------


def begin(
    *, started_at: str, patrol_id: int | None, reach_id: int | None = None, photos: tuple[DraftPhoto, ...] = ()
) -> State:
    """A fresh draft, waiting for photos; linked to the patrol it was started from, if any. `reach_id`: the reach
    is known already (a public sign's QR code), so the reach question is skipped; `photos`: kept before the
    draft could exist (a stranger's, before they joined)."""
    draft = Draft(photos=list(photos[:MAX_PHOTOS]), patrol_id=patrol_id, started_at=started_at, reach_id=reach_id)
    return State(Step.PHOTOS, draft)


def _located(draft: Draft) -> Transition:
    """The location is in: on to the reach, unless it is known already (then to the category)."""
    if draft.reach_id is not None:
        return _to(Step.CATEGORY, draft, Next.ASK_CATEGORY)
    return _to(Step.REACH, draft, Next.ASK_REACH)


def stored(state: State) -> tuple[str, str, dict[str, Any]]:
    """(flow, step, data) as the dialog row holds them."""
    return FLOW, state.step.value, state.draft.to_json()


def load(flow: str, step: str, data: dict[str, Any]) -> State | None:
    """The draft in a dialog row; None when the row is another flow's, or a step this version doesn't know."""
    if flow != FLOW or step not in Step.__members__.values():
        return None
    return State(Step(step), Draft.from_json(data))


# -- the inputs ---------------------------------------------------------------------------------------------


def photo_refusal(state: State) -> Refusal | None:
    """Why a photo would not be taken now (asked before downloading one); None: it would."""
    if state.step is not Step.PHOTOS:
        return Refusal.PHOTOS_DONE
    if len(state.draft.photos) >= MAX_PHOTOS:
        return Refusal.TOO_MANY_PHOTOS
    return None


def add_photo(state: State, photo: DraftPhoto) -> Transition:
    """A photo (or image file) for the report: only while photos are asked for, and at most MAX_PHOTOS."""
    refusal = photo_refusal(state)
    if refusal is not None:
        return _refuse(state, refusal)
    if any(kept.photo_id == photo.photo_id for kept in state.draft.photos):
        return _to(Step.PHOTOS, state.draft, Next.MORE_PHOTOS)  # the same photo again (a message handled twice)
    draft = replace(state.draft, photos=[*state.draft.photos, photo])
    return _to(Step.PHOTOS, draft, Next.MORE_PHOTOS)


def photos_done(
    state: State, *, track: tuple[float, float] | None = None, track_reach: int | None = None
) -> Transition:
    """"Next" under the photos: on to the location, once there is at least one. On a patrol whose track knows
    where the person is (`track`, the caller's look-up), that is the location, and the reach comes next: the
    live location already running is not asked for again. `track_reach`: the point lies on the patrol's own
    reach, which is then taken as the problem's, and the reach question is skipped too."""
    if state.step is not Step.PHOTOS:
        return _refuse(state, Refusal.WRONG_STEP)
    if not state.draft.photos:
        return _refuse(state, Refusal.NEED_A_PHOTO)
    if track is not None:
        draft = replace(state.draft, lat=track[0], lon=track[1], location_source="patrol")
        if track_reach is not None and draft.reach_id is None:
            draft = replace(draft, reach_id=track_reach)
        return _located(draft)
    return _to(Step.LOCATION, state.draft, Next.ASK_LOCATION)


def share_location(state: State, lat: float, lon: float) -> Transition:
    """A location shared from the phone: where the problem is."""
    if state.step is not Step.LOCATION:
        return _refuse(state, Refusal.WRONG_STEP)
    return _located(replace(state.draft, lat=lat, lon=lon, location_source="shared"))


def use_exif(state: State) -> Transition:
    """"Use the photo's location": the GPS a photo sent as a file carried."""
    exif = state.draft.exif_location
    if state.step is not Step.LOCATION or exif is None:
        return _refuse(state, Refusal.WRONG_STEP)
    return _located(replace(state.draft, lat=exif[0], lon=exif[1], location_source="exif"))


def list_area(state: State, area_id: int) -> Transition:
    """None of the nearest reaches: the person looks through an area's reaches, kept so its pages can turn."""
    if state.step is not Step.REACH:
        return _refuse(state, Refusal.WRONG_STEP)
    return _to(Step.REACH, replace(state.draft, listed_area_id=area_id), Next.LIST_AREA)


def listed_area(state: State) -> int | None:
    """The area whose reaches a page button turns: only at the reach step, once an area was chosen."""
    return state.draft.listed_area_id if state.step is Step.REACH else None


def choose_reach(state: State, reach_id: int) -> Transition:
    if state.step is not Step.REACH:
        return _refuse(state, Refusal.WRONG_STEP)
    return _to(Step.CATEGORY, replace(state.draft, reach_id=reach_id), Next.ASK_CATEGORY)


def choose_category(state: State, category: str, *, duplicate_of: int | None) -> Transition:
    """The kind of problem; when one like it is open nearby (the caller looked: `duplicate_of`), ask whether it
    is that one, and keep which one was offered."""
    if state.step is not Step.CATEGORY or category not in CATEGORIES:
        return _refuse(state, Refusal.WRONG_STEP)
    draft = replace(state.draft, category=category, offered_problem_id=duplicate_of)
    if duplicate_of is not None:
        return _to(Step.DUPLICATE, draft, Next.OFFER_DUPLICATE)
    return _describe_next(draft)


def _describe_next(draft: Draft) -> Transition:
    """The description, unless it was typed already (with the photos): then the confirmation."""
    if draft.description:
        return _to(Step.CONFIRM, draft, Next.ASK_CONFIRM)
    return _to(Step.DESCRIPTION, draft, Next.ASK_DESCRIPTION)


def answer_duplicate(state: State, *, same: bool, problem_id: int | None = None) -> Transition:
    """"The same problem" (`problem_id`): join it, the draft is over; only the problem offered can be joined, as a
    button names its problem and a forged one could name any. "A new one": carry on to the description."""
    if state.step is not Step.DUPLICATE:
        return _refuse(state, Refusal.WRONG_STEP)
    if same:
        if problem_id is None or problem_id != state.draft.offered_problem_id:
            return _refuse(state, Refusal.NOT_OFFERED)
        return _to(None, state.draft, Next.JOIN)
    return _describe_next(replace(state.draft, duplicate_checked=True))


def describe(
    state: State, text: str | None, *, track: tuple[float, float] | None = None, track_reach: int | None = None
) -> Transition:
    """Typed text is the description (cut at DESCRIPTION_LIMIT); None is "Skip".

    Typed after the photos, before "Next": the person is describing the problem, so the text is kept as its
    description and the photos are taken as done (`photos_done`); the description is not asked again."""
    if state.step is Step.PHOTOS and text is not None and text.strip() and state.draft.photos:
        described = State(Step.PHOTOS, replace(state.draft, description=text.strip()[:DESCRIPTION_LIMIT]))
        return photos_done(described, track=track, track_reach=track_reach)
    if state.step is not Step.DESCRIPTION:
        return _refuse(state, Refusal.WRONG_STEP)
    if text is not None:
        text = text.strip()
        if not text:
            return _refuse(state, Refusal.WRONG_STEP)
        text = text[:DESCRIPTION_LIMIT]
    return _to(Step.CONFIRM, replace(state.draft, description=text), Next.ASK_CONFIRM)


def confirm(state: State) -> Transition:
    """"Send": the draft becomes a problem."""
    if state.step is not Step.CONFIRM:
        return _refuse(state, Refusal.WRONG_STEP)
    return _to(None, state.draft, Next.SUBMIT)


def fix_on_spot(state: State) -> Transition:
    """"Fixed on the spot" instead of "Send": the reporter put it right there and then; the after-photos next.
    Who may choose it is the caller's rule (`ProblemService.may_fix_on_spot`)."""
    if state.step is not Step.CONFIRM:
        return _refuse(state, Refusal.WRONG_STEP)
    return _to(Step.AFTER_PHOTO, replace(state.draft, fixed_photos=[]), Next.ASK_AFTER_PHOTO)


def add_fixed_photo(state: State, photo: DraftPhoto) -> Transition:
    """A photo after the fix: at most MAX_PHOTOS, and not one of the report's own (that shows no change)."""
    if state.step is not Step.AFTER_PHOTO:
        return _refuse(state, Refusal.WRONG_STEP)
    kept = state.draft.fixed_photos or []
    if any(p.photo_id == photo.photo_id for p in kept):
        return _to(Step.AFTER_PHOTO, state.draft, Next.MORE_AFTER_PHOTOS)
    if any(p.photo_id == photo.photo_id for p in state.draft.photos):
        return _refuse(state, Refusal.SAME_AS_BEFORE)
    if len(kept) >= MAX_PHOTOS:
        return _refuse(state, Refusal.TOO_MANY_PHOTOS)
    return _to(Step.AFTER_PHOTO, replace(state.draft, fixed_photos=[*kept, photo]), Next.MORE_AFTER_PHOTOS)


def confirm_fixed(state: State) -> Transition:
    """"Send as fixed": the problem is filed closed, once there is an after-photo."""
    if state.step is not Step.AFTER_PHOTO:
        return _refuse(state, Refusal.WRONG_STEP)
    if not state.draft.fixed_photos:
        return _refuse(state, Refusal.NEED_A_PHOTO)
    return _to(None, state.draft, Next.SUBMIT_FIXED)


def cancel(state: State) -> Transition:
    """Cancel works at every step."""
    return _to(None, state.draft, Next.CANCELLED)
