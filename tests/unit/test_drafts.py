"""The report draft's state machine, as a table: from each step, each input, what comes next (or why not)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot import drafts
from bot.drafts import Next, Refusal, State, Step, Transition
from bot.problems import MAX_PHOTOS, Draft, DraftPhoto

PHOTO = DraftPhoto(7, "file-7", False, None)
FILE_WITH_GPS = DraftPhoto(8, "file-8", True, (32.5, 120.4))
AFTER = DraftPhoto(9, "file-9", False, None)

# One draft filled as far as each step has it.
AT_STEP = {
    Step.PHOTOS: Draft(started_at="2025-03-12T01:00:00+00:00"),
    Step.LOCATION: Draft(photos=[FILE_WITH_GPS]),
    Step.REACH: Draft(photos=[PHOTO], lat=32.5, lon=120.4, location_source="shared"),
    Step.CATEGORY: Draft(photos=[PHOTO], lat=32.5, lon=120.4, location_source="shared", reach_id=3),
    Step.DUPLICATE: Draft(photos=[PHOTO], lat=32.5, lon=120.4, reach_id=3, category="garbage", offered_problem_id=4),
    Step.DESCRIPTION: Draft(photos=[PHOTO], lat=32.5, lon=120.4, reach_id=3, category="garbage"),
    Step.CONFIRM: Draft(photos=[PHOTO], lat=32.5, lon=120.4, reach_id=3, category="garbage", description="漂浮物"),
    Step.AFTER_PHOTO: Draft(photos=[PHOTO], lat=32.5, lon=120.4, reach_id=3, category="garbage", fixed_photos=[AFTER]),
}

Input = Callable[[State], Transition]

INPUTS: dict[str, Input] = {
    "photo": lambda s: drafts.add_photo(s, PHOTO),
    "next": drafts.photos_done,
    "location": lambda s: drafts.share_location(s, 32.51, 120.41),
    "exif": drafts.use_exif,
    "area": lambda s: drafts.list_area(s, 2),
    "reach": lambda s: drafts.choose_reach(s, 5),
    "category": lambda s: drafts.choose_category(s, "garbage", duplicate_of=None),
    "category, one like it nearby": lambda s: drafts.choose_category(s, "garbage", duplicate_of=4),
    "same problem": lambda s: drafts.answer_duplicate(s, same=True, problem_id=4),
    "a new problem": lambda s: drafts.answer_duplicate(s, same=False),
    "text": lambda s: drafts.describe(s, "  河面漂浮物  "),
    "skip": lambda s: drafts.describe(s, None),
    "send": drafts.confirm,
    "fixed on the spot": drafts.fix_on_spot,
    "after-photo": lambda s: drafts.add_fixed_photo(s, DraftPhoto(10, "file-10", False, None)),
    "send as fixed": drafts.confirm_fixed,
}

# (step, input) -> (step after, what next); every pair not listed is refused as the wrong step, except photos.
MOVES: dict[tuple[Step, str], tuple[Step | None, Next]] = {
    (Step.PHOTOS, "photo"): (Step.PHOTOS, Next.MORE_PHOTOS),
    (Step.LOCATION, "location"): (Step.REACH, Next.ASK_REACH),
    (Step.LOCATION, "exif"): (Step.REACH, Next.ASK_REACH),
    (Step.REACH, "area"): (Step.REACH, Next.LIST_AREA),
    (Step.REACH, "reach"): (Step.CATEGORY, Next.ASK_CATEGORY),
    (Step.CATEGORY, "category"): (Step.DESCRIPTION, Next.ASK_DESCRIPTION),
    (Step.CATEGORY, "category, one like it nearby"): (Step.DUPLICATE, Next.OFFER_DUPLICATE),
    (Step.DUPLICATE, "same problem"): (None, Next.JOIN),
    (Step.DUPLICATE, "a new problem"): (Step.DESCRIPTION, Next.ASK_DESCRIPTION),
    (Step.DESCRIPTION, "text"): (Step.CONFIRM, Next.ASK_CONFIRM),
    (Step.DESCRIPTION, "skip"): (Step.CONFIRM, Next.ASK_CONFIRM),
    (Step.CONFIRM, "send"): (None, Next.SUBMIT),
    (Step.CONFIRM, "fixed on the spot"): (Step.AFTER_PHOTO, Next.ASK_AFTER_PHOTO),
    (Step.AFTER_PHOTO, "after-photo"): (Step.AFTER_PHOTO, Next.MORE_AFTER_PHOTOS),
    (Step.AFTER_PHOTO, "send as fixed"): (None, Next.SUBMIT_FIXED),
}
# "next" needs a photo: the PHOTOS draft above has none.
REFUSED = {(Step.PHOTOS, "next"): Refusal.NEED_A_PHOTO}


@pytest.mark.parametrize("step", list(Step))
@pytest.mark.parametrize("name", list(INPUTS))
def test_each_step_takes_its_own_inputs_and_refuses_the_rest(step: Step, name: str) -> None:
    state = State(step, AT_STEP[step])
    before = state.draft.to_json()
    transition = INPUTS[name](state)
    assert state.draft.to_json() == before  # pure: the draft given is never changed
    expected = MOVES.get((step, name))
    if expected is not None:
        assert (transition.step, transition.next, transition.refused) == (*expected, None)
        return
    if (step, name) in REFUSED:
        why = REFUSED[(step, name)]
    elif name == "photo":
        why = Refusal.PHOTOS_DONE
    else:
        why = Refusal.WRONG_STEP
    assert (transition.step, transition.draft, transition.next, transition.refused) == (step, state.draft, None, why)
    assert not transition.over


@pytest.mark.parametrize("step", list(Step))
def test_cancel_works_at_every_step(step: Step) -> None:
    transition = drafts.cancel(State(step, AT_STEP[step]))
    assert (transition.step, transition.next, transition.over) == (None, Next.CANCELLED, True)


def test_what_each_input_writes_into_the_draft() -> None:
    photos = drafts.add_photo(State(Step.PHOTOS, AT_STEP[Step.PHOTOS]), PHOTO).draft
    assert photos.photos == [PHOTO]
    shared = drafts.share_location(State(Step.LOCATION, AT_STEP[Step.LOCATION]), 32.51, 120.41).draft
    assert (shared.lat, shared.lon, shared.location_source) == (32.51, 120.41, "shared")
    exif = drafts.use_exif(State(Step.LOCATION, AT_STEP[Step.LOCATION])).draft
    assert (exif.lat, exif.lon, exif.location_source) == (32.5, 120.4, "exif")
    assert drafts.choose_reach(State(Step.REACH, AT_STEP[Step.REACH]), 5).draft.reach_id == 5
    chosen = drafts.choose_category(State(Step.CATEGORY, AT_STEP[Step.CATEGORY]), "garbage", duplicate_of=None)
    assert chosen.draft.category == "garbage" and not chosen.draft.duplicate_checked
    new = drafts.answer_duplicate(State(Step.DUPLICATE, AT_STEP[Step.DUPLICATE]), same=False)
    assert new.draft.duplicate_checked
    described = drafts.describe(State(Step.DESCRIPTION, AT_STEP[Step.DESCRIPTION]), "  河面漂浮物  ")
    assert described.draft.description == "河面漂浮物"
    long = drafts.describe(State(Step.DESCRIPTION, AT_STEP[Step.DESCRIPTION]), "水" * 1500)
    assert long.draft.description == "水" * drafts.DESCRIPTION_LIMIT
    skipped = drafts.describe(State(Step.DESCRIPTION, AT_STEP[Step.CONFIRM]), None)
    assert skipped.draft.description is None


def test_the_edges_refuse_with_their_reason() -> None:
    full = State(Step.PHOTOS, replace(AT_STEP[Step.PHOTOS], photos=[PHOTO] * MAX_PHOTOS))
    assert drafts.add_photo(full, PHOTO).refused is Refusal.TOO_MANY_PHOTOS
    assert drafts.photo_refusal(full) is Refusal.TOO_MANY_PHOTOS
    assert drafts.photo_refusal(State(Step.PHOTOS, AT_STEP[Step.PHOTOS])) is None
    no_gps = State(Step.LOCATION, Draft(photos=[PHOTO]))
    assert drafts.use_exif(no_gps).refused is Refusal.WRONG_STEP
    category = State(Step.CATEGORY, AT_STEP[Step.CATEGORY])
    assert drafts.choose_category(category, "no-such-kind", duplicate_of=None).refused is Refusal.WRONG_STEP
    assert drafts.describe(State(Step.DESCRIPTION, AT_STEP[Step.DESCRIPTION]), "   ").refused is Refusal.WRONG_STEP


def test_a_draft_stored_before_the_state_machine_still_loads() -> None:
    # A dialog row as the bot wrote it before bot/drafts.py existed: flow, step and Draft.to_json().
    row: dict[str, Any] = {
        "photos": [[11, "AgACAgUAAx", True, [32.50012, 120.40034]], [12, "AgACAgUAAy", False, None]],
        "lat": None,
        "lon": None,
        "location_source": None,
        "reach_id": None,
        "category": None,
        "description": None,
        "patrol_id": 4,
        "duplicate_checked": False,
        "started_at": "2025-03-12T01:00:00+00:00",
    }
    state = drafts.load("report", "location", row)
    assert state is not None and state.step is Step.LOCATION
    assert state.draft.photos[0] == DraftPhoto(11, "AgACAgUAAx", True, (32.50012, 120.40034))
    assert state.draft.patrol_id == 4 and state.draft.exif_location == (32.50012, 120.40034)
    assert drafts.stored(state) == ("report", "location", row)
    # And it carries on where it stood.
    assert drafts.use_exif(state).step is Step.REACH


def test_the_area_listed_is_kept_for_its_page_buttons_at_the_reach_step_only() -> None:
    reach = State(Step.REACH, AT_STEP[Step.REACH])
    assert drafts.listed_area(reach) is None  # the nearest reaches are listed, no area yet
    listed = drafts.list_area(reach, 2)
    assert listed.draft.listed_area_id == 2
    assert drafts.listed_area(State(Step.REACH, listed.draft)) == 2
    assert drafts.listed_area(State(Step.REACH, drafts.list_area(State(Step.REACH, listed.draft), 6).draft)) == 6
    # Once the reach is chosen, a page button of the old list has nothing to turn.
    chosen = drafts.choose_reach(State(Step.REACH, listed.draft), 5)
    assert chosen.step is Step.CATEGORY and drafts.listed_area(State(Step.CATEGORY, chosen.draft)) is None


def test_the_area_listed_is_stored_only_when_there_is_one() -> None:
    reach = State(Step.REACH, AT_STEP[Step.REACH])
    assert "listed_area_id" not in drafts.stored(reach)[2]  # the stored form a draft always had
    listed = State(Step.REACH, drafts.list_area(reach, 2).draft)
    assert drafts.stored(listed)[2]["listed_area_id"] == 2
    assert drafts.load(*drafts.stored(listed)) == listed


def test_other_flows_and_unknown_steps_are_not_drafts() -> None:
    assert drafts.load("patrol", "reach", {"at": "2025-03-12T01:00:00+00:00"}) is None
    assert drafts.load("report", "map", {}) is None
    begun = drafts.begin(started_at="2025-03-12T01:00:00+00:00", patrol_id=None)
    assert drafts.load(*drafts.stored(begun)) == begun


def test_the_same_problem_is_only_the_one_offered() -> None:
    """Finding 1 of issue 13: "the same problem" named any problem; only the one the draft was offered joins."""
    offered = drafts.choose_category(State(Step.CATEGORY, AT_STEP[Step.CATEGORY]), "garbage", duplicate_of=9)
    assert offered.draft.offered_problem_id == 9
    state = State(Step.DUPLICATE, offered.draft)
    assert drafts.answer_duplicate(state, same=True, problem_id=9).next is Next.JOIN
    for forged in (1, 10, None):
        transition = drafts.answer_duplicate(state, same=True, problem_id=forged)
        assert transition.refused is Refusal.NOT_OFFERED
        assert (transition.step, transition.draft) == (Step.DUPLICATE, state.draft)
    stored = drafts.load(*drafts.stored(state))
    assert stored is not None and stored.draft.offered_problem_id == 9
    # A draft that reached the question before offers were kept can only go on as a new problem.
    before = State(Step.DUPLICATE, replace(offered.draft, offered_problem_id=None))
    assert drafts.answer_duplicate(before, same=True, problem_id=9).refused is Refusal.NOT_OFFERED
    assert drafts.answer_duplicate(before, same=False).next is Next.ASK_DESCRIPTION


def test_text_after_the_photos_is_the_description_and_moves_on() -> None:
    """Typed after the photos (before "Next"): kept as the description, the photos taken as done, and the
    description step is skipped later; with a patrol's track point, the location is asked for no more."""
    photos = State(Step.PHOTOS, replace(AT_STEP[Step.PHOTOS], photos=[PHOTO]))
    moved = drafts.describe(photos, "  岸边堆了建筑垃圾  ")
    assert (moved.step, moved.next, moved.draft.description) == (Step.LOCATION, Next.ASK_LOCATION, "岸边堆了建筑垃圾")
    on_patrol = drafts.describe(photos, "垃圾", track=(32.5, 120.41))
    assert (on_patrol.step, on_patrol.next) == (Step.REACH, Next.ASK_REACH)
    assert (on_patrol.draft.lat, on_patrol.draft.lon, on_patrol.draft.location_source) == (32.5, 120.41, "patrol")
    assert drafts.photos_done(photos, track=(32.5, 120.41)).next is Next.ASK_REACH
    assert drafts.describe(photos, "   ").refused is Refusal.WRONG_STEP
    described = State(Step.CATEGORY, replace(AT_STEP[Step.CATEGORY], description="垃圾"))
    assert drafts.choose_category(described, "garbage", duplicate_of=None).next is Next.ASK_CONFIRM
    duplicate = State(Step.DUPLICATE, replace(AT_STEP[Step.DUPLICATE], description="垃圾"))
    assert drafts.answer_duplicate(duplicate, same=False).step is Step.CONFIRM


def test_fixed_on_the_spot_takes_after_photos_and_needs_one() -> None:
    confirm = State(Step.CONFIRM, AT_STEP[Step.CONFIRM])
    asked = drafts.fix_on_spot(confirm)
    assert asked.step is Step.AFTER_PHOTO and asked.draft.fixed_photos == []
    empty = State(Step.AFTER_PHOTO, asked.draft)
    assert drafts.confirm_fixed(empty).refused is Refusal.NEED_A_PHOTO
    added = drafts.add_fixed_photo(empty, AFTER)
    assert added.draft.fixed_photos == [AFTER] and added.draft.photos == [PHOTO]
    again = drafts.add_fixed_photo(State(Step.AFTER_PHOTO, added.draft), AFTER)  # the same message twice
    assert again.draft.fixed_photos == [AFTER]
    # A before-photo sent again as the after-photo is not evidence of a change.
    assert drafts.add_fixed_photo(empty, PHOTO).refused is Refusal.SAME_AS_BEFORE
    full = State(Step.AFTER_PHOTO, replace(asked.draft, fixed_photos=[AFTER] * MAX_PHOTOS))
    assert drafts.add_fixed_photo(full, DraftPhoto(11, "f", False, None)).refused is Refusal.TOO_MANY_PHOTOS
    # Stored and loaded back (a restart between the photos and the send loses nothing).
    flow, step, data = drafts.stored(State(Step.AFTER_PHOTO, added.draft))
    assert drafts.load(flow, step, data) == State(Step.AFTER_PHOTO, added.draft)
    # A draft that never used it keeps the stored form it had.
    assert "fixed_photos" not in AT_STEP[Step.CONFIRM].to_json()


def test_a_draft_begun_on_a_known_reach_skips_the_reach_question_after_the_location() -> None:
    """A public sign's QR code names the reach: the location is still asked (where on it), the reach is not."""
    state = drafts.begin(started_at="2025-03-12T01:00:00+00:00", patrol_id=None, reach_id=9, photos=(FILE_WITH_GPS,))
    assert state.step is Step.PHOTOS and state.draft.photos == [FILE_WITH_GPS] and state.draft.reach_id == 9
    located = drafts.photos_done(state)
    assert located.next is Next.ASK_LOCATION
    shared = drafts.share_location(State(Step.LOCATION, located.draft), 32.51, 120.41)
    assert (shared.step, shared.next, shared.draft.reach_id) == (Step.CATEGORY, Next.ASK_CATEGORY, 9)
    exif = drafts.use_exif(State(Step.LOCATION, located.draft))
    assert (exif.step, exif.next, exif.draft.lat) == (Step.CATEGORY, Next.ASK_CATEGORY, 32.5)
    nine = tuple(DraftPhoto(i, f"f{i}", False, None) for i in range(9))
    many = drafts.begin(started_at="x", patrol_id=None, photos=nine)
    assert len(many.draft.photos) == MAX_PHOTOS


def test_a_track_point_on_the_patrols_reach_takes_that_reach() -> None:
    """On a patrol, a track point on the patrol's reach answers both the location and the reach questions."""
    photos = State(Step.PHOTOS, replace(AT_STEP[Step.PHOTOS], photos=[PHOTO]))
    on_reach = drafts.photos_done(photos, track=(32.5, 120.41), track_reach=7)
    assert (on_reach.step, on_reach.next, on_reach.draft.reach_id) == (Step.CATEGORY, Next.ASK_CATEGORY, 7)
    described = drafts.describe(photos, "垃圾", track=(32.5, 120.41), track_reach=7)
    assert (described.next, described.draft.reach_id, described.draft.description) == (Next.ASK_CATEGORY, 7, "垃圾")
    off_reach = drafts.photos_done(photos, track=(32.5, 120.41))
    assert (off_reach.next, off_reach.draft.reach_id) == (Next.ASK_REACH, None)
