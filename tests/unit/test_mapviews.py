"""What each map view gathers from the store: problems raised on a patrol, the open ones near a problem, each
reach's status and which problems are overdue on an area's map."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot import maps
from bot.config import load_settings
from bot.mapviews import reach_status, share
from bot.services import Services
from storage import Store
from storage.patrols import Finish, NewPhoto
from storage.problems import NewProblem
from storage.registry import ReachValues

LAT, WEST, EAST = 32.5, 120.40, 120.43


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Services]:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data")
    async with await Store.open(settings.database) as store:
        yield Services.create(settings, store)


async def _registry(svc: Services) -> tuple[int, int, int]:
    """An area with one mapped reach and a person; (area, reach, person)."""
    area_id, _ = await svc.store.areas.upsert("A1", "曲塘镇", "Qutang")
    line = {"type": "LineString", "coordinates": [[WEST, LAT], [EAST, LAT]]}
    reach_id, _ = await svc.store.reaches.upsert(
        ReachValues(
            "R1", "丁堡河", "Dingbao River", area_id, "village", 2.8, (), json.dumps(line), (LAT, WEST, LAT, EAST)
        )
    )
    person_id = await svc.store.people.create(name="王五")
    return area_id, reach_id, person_id


def _colours(scene: maps.Scene, point: tuple[float, float]) -> set[tuple[int, int, int]]:
    return {mark.colour for mark in scene.marks if mark.point == point}


async def test_a_patrol_map_shows_its_problems_and_photos_where_the_track_was(svc: Services) -> None:
    area_id, reach_id, person_id = await _registry(svc)
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    patrol, _ = await svc.store.patrols.start(person_id, reach_id, start)
    for minute in range(21):
        at = start + timedelta(minutes=minute)
        await svc.store.patrols.add_point(
            patrol.id, at=at, lat=LAT, lon=WEST + minute * 0.0003, accuracy_m=5.0, source="single"
        )
    photo_id = await svc.store.photos.add(_photo())
    await svc.store.patrols.add_photo(
        patrol.id, photo_id=photo_id, file_id="f", as_document=False, sent_at=start + timedelta(minutes=10),
        caption=None,
    )
    raised = NewProblem(person_id, patrol.id, reach_id, area_id, "garbage", None, LAT + 0.0002, WEST + 0.002, "shared")
    await svc.store.problems.insert(raised, reported_at=start + timedelta(minutes=5))
    elsewhere = NewProblem(person_id, None, reach_id, area_id, "garbage", None, LAT, WEST + 0.004, "shared")
    await svc.store.problems.insert(elsewhere, reported_at=start)
    result = Finish(start + timedelta(minutes=20), "finished", 560.0, 1200, 21, 1, True, [])
    assert await svc.store.patrols.finish(patrol.id, result)
    finished = await svc.store.patrols.by_id(patrol.id)
    assert finished is not None
    summary = await svc.patrols.summary(finished)
    assert summary.coverage is not None and 0.2 < summary.coverage < 0.25  # 600 m (+50 m) of 2.8 km
    scene = await svc.maps.patrol_scene(summary, "en")
    assert scene is not None
    assert maps.PROBLEM in _colours(scene, (LAT + 0.0002, WEST + 0.002))  # raised on this patrol
    assert not _colours(scene, (LAT, WEST + 0.004))  # another problem: not this patrol's
    assert maps.PHOTO in _colours(scene, (LAT, WEST + 10 * 0.0003))  # the track at the photo's time
    labels = {mark.label for mark in scene.marks if mark.label}
    assert labels == {"08:00", "08:20"}  # start and end in the bot's time zone (Shanghai)
    assert scene.badge == f"{share(summary.coverage)} covered"
    assert len(await svc.maps.patrol_map(summary, "en") or b"") > 1000


async def test_a_problem_map_shows_the_other_open_problems_nearby_only(svc: Services) -> None:
    area_id, reach_id, person_id = await _registry(svc)
    now = datetime(2026, 12, 1, tzinfo=UTC)

    async def problem(lat: float, lon: float) -> int:
        new = NewProblem(person_id, None, reach_id, area_id, "garbage", None, lat, lon, "shared")
        return await svc.store.problems.insert(new, reported_at=now)

    this = await problem(LAT, WEST + 0.005)
    near = await problem(LAT, WEST + 0.008)  # 280 m away
    await problem(LAT, WEST + 0.025)  # 1.9 km away: not on this map
    closed = await problem(LAT, WEST + 0.006)
    assert await svc.store.problems.transition(closed, expect=("reported",), status="dismissed", closed_at=now)
    record = await svc.store.problems.by_id(this)
    assert record is not None and near
    scene = await svc.maps.problem_scene(record, "zh")
    pins = {mark.point: mark.colour for mark in scene.marks}
    assert pins == {(LAT, WEST + 0.005): maps.PROBLEM, (LAT, WEST + 0.008): maps.OTHER_PROBLEM}


async def test_an_area_map_colours_reaches_by_status_and_overdue_problems_apart(svc: Services) -> None:
    area_id, reach_id, person_id = await _registry(svc)
    today = date(2026, 12, 2)
    for lon, deadline in ((WEST + 0.005, today - timedelta(days=1)), (WEST + 0.010, today)):
        new = NewProblem(person_id, None, reach_id, area_id, "garbage", None, LAT, lon, "shared")
        problem_id = await svc.store.problems.insert(new, reported_at=datetime(2026, 11, 20, tzinfo=UTC))
        assert await svc.store.problems.transition(
            problem_id, expect=("reported",), status="assigned", assignee_id=person_id, deadline=deadline
        )
    cases: list[tuple[dict[int, tuple[int, int]], dict[int, bool], tuple[int, int, int]]] = [
        ({reach_id: (1, 1)}, {}, maps.MET),
        ({reach_id: (0, 1)}, {}, maps.SHORT),
        ({}, {}, maps.NOT_REQUIRED),
        ({}, {reach_id: False}, maps.RUNNING),  # a month still running, not yet done: in progress
        ({}, {reach_id: True}, maps.MET),  # already done this month
        ({reach_id: (0, 1)}, {reach_id: True}, maps.SHORT),  # a period that ended short is not hidden
    ]
    for rates, running, colour in cases:
        scene = await svc.maps.area_scene(
            area_id, area="A", period="P", rates=rates, running=running, lang="en", today=today
        )
        assert scene is not None and [s.colour for s in scene.strokes] == [colour]
        pins = {mark.point: mark.colour for mark in scene.marks}
        assert pins == {(LAT, WEST + 0.005): maps.OVERDUE_PIN, (LAT, WEST + 0.010): maps.OPEN_PIN}
        # The legend names the reach colours drawn (the chart's words), and says the pins are problems open now.
        legend = {item.colour: item.label for item in scene.legend}
        assert legend[colour] == {
            maps.MET: "Met", maps.SHORT: "Short", maps.NOT_REQUIRED: "Not required", maps.RUNNING: "In progress"
        }[colour]
        assert {maps.MET, maps.SHORT, maps.NOT_REQUIRED, maps.RUNNING} & set(legend) == {colour}
        assert "now" in legend[maps.OPEN_PIN] and "now" in legend[maps.OVERDUE_PIN]
    zh = await svc.maps.area_scene(area_id, area="A", period="P", rates={reach_id: (1, 2)}, lang="zh", today=today)
    assert zh is not None and {item.label for item in zh.legend} >= {"未达标"}
    empty, _ = await svc.store.areas.upsert("A2", "空", "Empty")
    assert await svc.maps.area_map(empty, area="E", period="P", rates={}, lang="en", today=today) is None


def test_reach_status_and_shares() -> None:
    assert [reach_status(1, 1), reach_status(0, 1), reach_status(0, 0), reach_status(3, 2)] == [
        "met",
        "short",
        "none",
        "met",
    ]
    assert [reach_status(0, 0, running=False), reach_status(0, 0, running=True)] == ["running", "met"]
    assert [share(0.0), share(0.001), share(0.416), share(0.999), share(1.0)] == ["0%", "1%", "41%", "99%", "100%"]



def _photo() -> NewPhoto:
    return NewPhoto("a" * 64, "photos/a.jpg", "JPEG", 10, 10, 10, None, None, 1, (0, 0, 0, 1), None)
