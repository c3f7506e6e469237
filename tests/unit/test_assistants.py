"""Chiefs' assistants (河长助理): an assistant's patrol counts for the chief exactly as the chief's own would
(issue 16, "Done when"), or not at all with ASSISTANT_PATROLS_COUNT off; naming, removing and links; migration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.assessment import CHIEF_COLUMNS, AssessmentReport, AssessmentService, parse_period
from bot.assistants import AssistantService, link_code
from bot.config import Settings, load_settings
from bot.dialogs import Dialogs
from bot.i18n import Locales
from bot.joining import Joining, Roster
from bot.office import Office
from bot.patrols import PatrolService
from bot.summaries import SummaryService, digest_text, week_of
from bot.tallies import Rate, TallyService
from storage import Store
from storage.migrate import bundled_migrations
from tests.support import World, d

# Village chiefs patrol once a week (the default rule); the week of Mon 2025-03-03 to Sun 2025-03-09.
WEEK = (d("2025-03-03"), d("2025-03-09"))


async def _chief_and_assistant(world: World) -> tuple[int, int, int]:
    area = await world.area("QT")
    reach = await world.reach("XM", area)
    chief = await world.person("老王", level="village")
    helper = await world.person("小张", role="volunteer")
    await world.assign(chief, reach, "2025-02-01")
    return chief, helper, reach


@pytest.mark.parametrize("counted", [True, False])
async def test_an_assistants_patrol_raises_the_chiefs_rate_exactly_as_the_chiefs_own_would(
    tmp_path: Path, counted: bool, separate_database: Callable[[], dict[str, str]]
) -> None:
    """The same week twice: once the chief walks, once the assistant walks for the chief. Counted, the rates are
    equal; with ASSISTANT_PATROLS_COUNT off, the assistant's patrol raises nothing."""
    rates: dict[str, Rate] = {}
    for walker in ("chief", "assistant", "nobody"):
        settings = load_settings(
            env_file=None, data_dir=tmp_path / walker, assistant_patrols_count=counted, **separate_database()
        )
        async with await Store.open(settings.database) as store:
            world = World(store)
            chief, helper, reach = await _chief_and_assistant(world)
            await AssistantService(store, settings).add(chief, helper, by=None)
            if walker == "chief":
                await world.patrol(chief, reach, "2025-03-05 10:00")
            elif walker == "assistant":
                await world.patrol(chief, reach, "2025-03-05 10:00", walked_by=helper)
            tally = await TallyService(store, settings).patrol_rate(*WEEK)
            rates[walker] = next(c.rate for c in tally.chiefs if c.person_id == chief)
            assert tally.overall == rates[walker]
            # The chief's current progress reads the same rule (/mypatrols, reminders, digests).
            progress = await PatrolService(store, settings).progress(chief, d("2025-03-09"))
            assert [p.done for p in progress] == [rates[walker].done]
    assert rates["chief"] == Rate(1, 1, 1) and rates["nobody"] == Rate(0, 1, 1)
    assert rates["assistant"] == (rates["chief"] if counted else rates["nobody"])


async def test_a_removed_assistants_past_patrols_still_count_and_later_ones_cannot_be_for_the_chief(
    store: Store, settings: Settings
) -> None:
    world = World(store)
    chief, helper, reach = await _chief_and_assistant(world)
    service = AssistantService(store, settings)
    assert await service.add(chief, helper, by=None) == "added"
    assert await service.add(chief, helper, by=None) == "already"
    assert await service.may_walk_for(helper, chief, reach)
    await world.patrol(chief, reach, "2025-03-05 10:00", walked_by=helper)
    assert await service.remove(chief, helper, by=chief)
    assert not await service.remove(chief, helper, by=chief)  # a stale button: removed already
    assert not await service.may_walk_for(helper, chief, reach)
    assert await service.assisted_reaches(helper) == []
    tally = await TallyService(store, settings).patrol_rate(*WEEK)
    assert next(c.rate for c in tally.chiefs if c.person_id == chief) == Rate(1, 1, 1)
    # The history is kept: one ended row, none active.
    assert await store.fetchval("SELECT count(*) FROM assistants WHERE until IS NOT NULL") == 1
    assert await service.of_chief(chief) == []


async def test_who_may_be_named(store: Store, settings: Settings) -> None:
    world = World(store)
    chief, helper, _ = await _chief_and_assistant(world)
    service = AssistantService(store, settings)
    assert await service.add(chief, chief, by=None) == "self"
    assert await service.add(helper, chief, by=None) == "not_chief"  # 小张 is no chief
    other_chief = await world.person("老李", level="village")
    assert await service.add(chief, other_chief, by=None) == "added"  # another chief may assist too


async def test_an_assistant_link_is_used_once(store: Store, settings: Settings) -> None:
    world = World(store)
    chief, helper, reach = await _chief_and_assistant(world)
    third = await world.person("小赵", role="volunteer")
    service = AssistantService(store, settings)
    payload = await service.new_link(chief)
    code = link_code(payload)
    assert code is not None and link_code("r-12") is None and link_code("abc") is None
    assert (await service.check_link(code, chief)).status == "self"
    check = await service.check_link(code, helper)
    assert (check.status, check.chief_name) == ("ok", "老王")
    assert (await service.accept_link(code, helper)).status == "ok"
    assert (await service.accept_link(code, third)).status == "used"
    assert (await service.check_link("nope", helper)).status == "unknown"
    assert [r.assistant_name for r in await service.of_chief(chief)] == ["小张"]
    assert [(a.reach.id, a.chief_name) for a in await service.assisted_reaches(helper)] == [(reach, "老王")]
    # An expired link.
    expired = link_code(await service.new_link(chief))
    assert expired is not None
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await store.execute("UPDATE assistant_links SET expires_at = ? WHERE code = ?", (past, expired))
    assert (await service.check_link(expired, third)).status == "expired"


async def test_an_assistant_walks_their_own_patrol_and_one_for_the_chief_while_the_chief_walks_too(
    store: Store, settings: Settings
) -> None:
    """One open patrol per walker: the assistant's open patrol for the chief is theirs to finish, and does not
    stop the chief's own."""
    world = World(store)
    chief, helper, reach = await _chief_and_assistant(world)
    start = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
    mine, new = await store.patrols.start(helper, reach, start, for_chief=chief)
    assert new and (mine.person_id, mine.walked_by, mine.walker) == (chief, helper, helper)
    own, new = await store.patrols.start(chief, reach, start)
    assert new and own.walked_by is None
    assert (await store.patrols.open_for(helper)).id == mine.id  # type: ignore[union-attr]
    assert (await store.patrols.open_for(chief)).id == own.id  # type: ignore[union-attr]
    patrols = PatrolService(store, settings)
    assert await patrols.finish_own(chief, mine.id, at=start + timedelta(minutes=20)) is None  # not the chief's walk
    finished = await patrols.finish_own(helper, mine.id, at=start + timedelta(minutes=20))
    assert finished is not None
    summary, ended = finished
    assert ended and (summary.assistant_name, summary.chief_name, summary.counted) == ("小张", "老王", True)
    # The chief reads it among theirs; the assistant among the ones they walked.
    assert mine.id in [p.id for p, _ in await patrols.recent(chief)]
    assert [p.id for p, _ in await patrols.recent(helper)] == [mine.id]


async def test_migration_0016_from_empty_and_from_0015(tmp_path: Path) -> None:
    """From empty: the tables and the column are there. From 0015 with an open patrol: kept, and the open index
    is now one per walker."""
    async with await Store.open(tmp_path / "fresh.sqlite3") as fresh:
        assert {"assistants", "assistant_links"} <= set(await fresh.table_names())
    path = tmp_path / "riverbot.sqlite3"
    async with await Store.open(path, migrations=bundled_migrations()[:15]) as store:
        assert "assistants" not in await store.table_names()
        world = World(store)
        chief, helper, reach = await _chief_and_assistant(world)
        await store.execute(
            "INSERT INTO patrols (person_id, reach_id, started_at, last_activity_at, created_at, updated_at)"
            " VALUES (?, ?, '2025-03-05T02:00:00Z', '2025-03-05T02:00:00Z', '2025-03-05T02:00:00Z',"
            " '2025-03-05T02:00:00Z')",
            (chief, reach),
        )
    async with await Store.open(path) as store:
        patrol = await store.patrols.open_for(chief)
        assert patrol is not None and patrol.walked_by is None
        started = datetime(2025, 3, 5, 3, 0, tzinfo=UTC)
        theirs, new = await store.patrols.start(helper, reach, started, for_chief=chief)
        assert new and theirs.walker == helper
        again, new = await store.patrols.start(helper, reach, started, for_chief=chief)
        assert not new and again.id == theirs.id


async def test_the_chiefs_digest_and_the_reach_card_name_the_assistant(store: Store, settings: Settings) -> None:
    world = World(store)
    chief, helper, reach = await _chief_and_assistant(world)
    await world.patrol(chief, reach, "2025-03-05 10:00", walked_by=helper)
    digest = await SummaryService(store, settings).chief_digest(chief, "老王", week_of(WEEK[0]), WEEK[1])
    text = digest_text(digest, Locales.load(), "zh")
    assert "其中助理 小张 代巡 1 次（有效 1 次）" in text
    off = load_settings(env_file=None, data_dir=settings.data_dir, assistant_patrols_count=False)
    text = digest_text(await SummaryService(store, off).chief_digest(chief, "老王", week_of(WEEK[0]), WEEK[1]),
                       Locales.load(), "en")  # fmt: skip
    assert "walked for you by assistant 小张" in text and "not counted in the patrol rate here" in text
    record = await store.reaches.by_id(reach)
    assert record is not None
    office = Office(store, settings, Dialogs(store), Joining(store, settings), Roster(store, settings))
    last = (await office.reach_file(record)).last_patrol
    assert last is not None and (last.walker, last.assistant) == ("老王", "小张")


async def test_the_assessment_report_names_the_assistant_beside_the_chief(store: Store, settings: Settings) -> None:
    """The assessment report (考核通报) counts an assistant's patrol for the chief, as the tallies do, and its
    chief table names who walked for them."""
    world = World(store)
    chief, helper, reach = await _chief_and_assistant(world)
    other = await world.person("老李", level="village")
    await world.assign(other, await world.reach("XM-2", await world.area("QX")), "2025-02-01")
    await world.patrol(chief, reach, "2025-03-05 10:00", walked_by=helper)
    await world.patrol(chief, reach, "2025-03-12 10:00", walked_by=helper)
    await world.patrol(chief, reach, "2025-03-19 10:00")
    period = parse_period("2025-03", d("2025-12-01"))
    assert period is not None
    report = await AssessmentService(store, settings).build(period, office="X", language="zh")
    rows = {row.name: row for row in report.chiefs}
    assert rows["老王"].assisted == (("小张", 2),)
    assert rows["老李"].assisted == ()
    tally = await TallyService(store, settings).patrol_rate(period.first, period.last)
    assert rows["老王"].rate == next(c.rate for c in tally.chiefs if c.person_id == chief)
    table = AssessmentReport(report, Locales.load(), "zh")
    cells = {row[CHIEF_COLUMNS.index("chief")]: row[CHIEF_COLUMNS.index("assisted")] for row in table.chief_rows()}
    assert cells["老王"] == "小张 2 次" and cells["老李"] == ""
