"""Area-scoped offices: a town's river chief office (镇河长办) sees and acts only inside its own areas, and hears
first about its own areas' escalations and unassigned problems; the county hears when a town has no office."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

from handlers.callbacks import (
    NewInviteArea,
    NewInviteCounty,
    NewInviteScopeArea,
    PendingDecision,
    PersonCard,
    PersonScope,
    PersonScopeArea,
    PersonScopeCounty,
    ProblemAction,
    ProblemView,
    ReachesArea,
)
from handlers.problems import chase_deadlines
from sandbox import FakeUser, SentMessage
from tests.conftest import Harness
from tests.e2e.test_problem_lifecycle import started, until
from tests.support import World, invite_code, report, run_job, seed, started_admin, tap, volunteer


class Towns:
    """Three towns: 城东 (CD) with its own office, 城南 (CN) with its own, 曲塘 (QT) with none."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.areas: dict[str, int] = {}
        self.reaches: dict[str, int] = {}

    async def build(self) -> Towns:
        towns = (("CD", "城东片区", "Chengdong"), ("CN", "城南片区", "Chengnan"), ("QT", "曲塘镇", "Qutang"))
        for code, zh, en in towns:
            self.areas[code] = await self.world.area(code, zh, en)
            self.reaches[code] = await self.world.reach(f"{code}-01", self.areas[code], name_zh=f"{zh}河")
        return self


async def office(bot: Harness, user: FakeUser, name: str, *areas: int) -> int:
    """An admin scoped to `areas` (a town's office), who has opened the bot."""
    person_id = await bot.store.people.create(name=name, telegram_id=user.id)
    await bot.store.people.grant_role(person_id, "admin")
    await bot.store.people.set_scope(person_id, areas)
    await started(user)
    return person_id


async def test_a_town_admins_forged_button_on_another_towns_problem_is_refused(bot: Harness) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    county = await started_admin(bot, "en")
    east = bot.sandbox.user(first_name="East", language_code="en")
    await office(bot, east, "Chen East", towns.areas["CD"])
    reporter = await world.person("Li", role="volunteer")
    today = bot.services.problems.today().isoformat()
    own = await world.problem(reporter, towns.reaches["CD"], reported=f"{today} 09:00")
    other = await world.problem(reporter, towns.reaches["CN"], reported=f"{today} 09:30")

    # Their own town's problem: the card with the office's buttons.
    await east.send(f"/problem {own}")
    card = await until(east, "Timeline")
    assert card.button_texts == ["👤 Assign / reassign", "🚫 Dismiss"]
    # Another town's: refused by name, not shown.
    await east.send(f"/problem {other}")
    refusal = await east.next_message()
    assert refusal.text == f"Problem #{other} is outside your office's areas (Chengdong)."
    # Buttons built by hand for the other town's problem: each refused with the same answer, nothing done.
    for data in (
        ProblemAction(action="dis", problem=other).pack(),
        ProblemAction(action="as", problem=other).pack(),
        ProblemView(problem=other).pack(),
    ):
        answer = await bot.sandbox.answer(await east.press_raw(east.id, card.message_id, data))
        assert answer["show_alert"], answer
        assert answer["text"] == f"Problem #{other} is outside your office's areas (Chengdong).", data
    await east.expect_silence()
    problem = await bot.store.problems.by_id(other)
    assert problem is not None and problem.status == "reported"
    # The county admin may do it all.
    await county.send(f"/problem {other}")
    assert (await until(county, "Timeline")).button_texts == ["👤 Assign / reassign", "🚫 Dismiss"]
    assert bot.errors() == []


async def test_scoped_admins_receive_only_their_areas_escalations(bot: Harness) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    county = await started_admin(bot, "en")
    east = bot.sandbox.user(first_name="East", language_code="en")
    south = bot.sandbox.user(first_name="South", language_code="en")
    await office(bot, east, "Chen East", towns.areas["CD"])
    await office(bot, south, "Sun South", towns.areas["CN"])
    chief_id = await world.person("Wang", level="village")
    reporter = await world.person("Li", role="volunteer")
    day = bot.services.problems.today()
    late = (day - timedelta(days=5)).isoformat()
    reported = f"{(day - timedelta(days=20)).isoformat()} 09:00"
    in_east = await world.problem(reporter, towns.reaches["CD"], reported=reported, deadline=late, assignee_id=chief_id)
    in_qutang = await world.problem(
        reporter, towns.reaches["QT"], reported=reported, deadline=late, assignee_id=chief_id
    )

    await run_job(bot, chase_deadlines)

    def escalations(user: FakeUser) -> list[str]:
        return [m.text.split("\n")[0] for m in user.messages() if m.text and m.text.startswith("🚨")]

    # 城东's escalation goes to 城东's office only; 城南's office hears nothing; 曲塘 has no office, so the
    # county hears of it (and not of 城东's, which has its own).
    overdue = "(floating garbage) is 5 days overdue and still not rectified; please follow it up."
    assert escalations(east) == [f"🚨 Problem #{in_east} {overdue}"]
    assert escalations(south) == []
    assert escalations(county) == [f"🚨 Problem #{in_qutang} {overdue}"]
    events = await bot.store.problems.events(in_east)
    assert [e.action for e in events][-1] == "escalate"
    assert bot.errors() == []


async def people_card(bot: Harness, user: FakeUser, search: str, label: str) -> SentMessage:
    await user.send(f"/people {search}")
    found = await user.next_message()
    return await tap(bot, user, found, text=label)


async def test_a_county_admin_sets_an_admins_scope_in_people_and_a_town_admin_cannot(bot: Harness) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    county = await started_admin(bot, "en")
    east = bot.sandbox.user(first_name="East", language_code="en")
    east_id = await office(bot, east, "Chen East", towns.areas["CD"])
    zhao = bot.sandbox.user(first_name="Zhao", language_code="en")
    zhao_id = await office(bot, zhao, "Zhao Admin")  # the whole county, for now

    card = await people_card(bot, county, "Zhao", "Zhao Admin · office admin")
    assert "Office scope: the whole county" in card.text
    chooser = await tap(bot, county, card, text="🗺 Office scope")
    assert chooser.text.startswith("Office scope of Zhao Admin: the whole county.")
    chooser = await tap(bot, county, chooser, text="▫️ Chengdong (CD)")
    assert chooser.text.startswith("Office scope of Zhao Admin: Chengdong.")
    chooser = await tap(bot, county, chooser, text="▫️ Chengnan (CN)")
    assert chooser.text.startswith("Office scope of Zhao Admin: Chengdong, Chengnan.")
    assert await bot.store.people.scope(zhao_id) == (towns.areas["CD"], towns.areas["CN"])
    chooser = await tap(bot, county, chooser, text="✅ Chengdong (CD)")
    assert await bot.store.people.scope(zhao_id) == (towns.areas["CN"],)
    # The last area does not go out by a tap (that would widen to the county): "Whole county" does that.
    answer = await bot.sandbox.answer(await county.press(chooser, text="✅ Chengnan (CN)"))
    assert answer["text"] == "An office keeps at least one area: to cover every area, tap “Whole county”."
    assert await bot.store.people.scope(zhao_id) == (towns.areas["CN"],)
    # Zhao, now 城南's office, sees only 城南's problems: the change holds at once.
    reporter = await world.person("Li", role="volunteer")
    in_east = await world.problem(reporter, towns.reaches["CD"], reported=f"{bot.services.problems.today()} 09:00")
    await zhao.send(f"/problem {in_east}")
    assert (await zhao.next_message()).text == f"Problem #{in_east} is outside your office's areas (Chengnan)."

    # A town's office cannot widen anyone's scope, its own least, even with buttons made by hand; nor see
    # people outside its areas.
    await east.send("/people Chen")
    own = await tap(bot, east, await east.next_message(), text="Chen East · office admin")
    assert "Office scope: Chengdong" in own.text and "🗺 Office scope" not in own.button_texts
    for data in (
        PersonScopeCounty(person=east_id).pack(),
        PersonScopeArea(person=east_id, area=towns.areas["CN"], page=0).pack(),
        PersonScope(person=east_id, page=0).pack(),
    ):
        answer = await bot.sandbox.answer(await east.press_raw(east.id, own.message_id, data))
        assert answer["text"] == "Only a county office admin can set an office's scope.", data
    assert await bot.store.people.scope(east_id) == (towns.areas["CD"],)
    await east.send("/people Zhao")
    assert (await east.next_message()).text == "Nobody matches “Zhao”."
    answer = await bot.sandbox.answer(await east.press_raw(east.id, own.message_id, PersonCard(person=zhao_id).pack()))
    assert answer["text"] == "This person is outside your office's areas (Chengdong)."

    # Back to the county for Zhao.
    chooser = await tap(bot, county, chooser, text="🏛 Whole county")
    assert chooser.text.startswith("Office scope of Zhao Admin: the whole county.")
    assert await bot.store.people.scope(zhao_id) == ()
    assert bot.errors() == []


async def test_an_admin_invite_carries_its_office_scope_and_a_town_office_invites_only_inside_its_own(
    bot: Harness,
) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    county = await started_admin(bot, "en")
    await county.send("/invite")
    ask = await county.next_message()
    await tap(bot, county, ask, text="office admin")
    await county.send("Lucy Chen")
    chooser = await county.next_message()
    assert chooser.text == "Which areas will Lucy Chen's office cover? Tap each area, then “Done”."
    assert "🏛 Whole county" in chooser.button_texts
    chooser = await tap(bot, county, chooser, text="▫️ Chengdong (CD)")
    created = await tap(bot, county, chooser, text="Done (1 chosen)")
    assert "Invite link for Lucy Chen (office admin)" in created.text and "Office scope: Chengdong" in created.text
    code = invite_code(created.text)

    lucy = bot.sandbox.user(first_name="Lucy", language_code="en-US")
    await lucy.send(f"/start {code}")
    card = await lucy.next_message()
    await tap(bot, lucy, card, text="✅ Yes, I am Lucy Chen")
    await lucy.next_message()
    joined = await bot.services.people.find(lucy.id)
    assert joined is not None and joined.is_admin and joined.areas == frozenset({towns.areas["CD"]})

    # Lucy, 城东's office now, invites: an admin only within 城东, never the county; a chief only in 城东.
    await lucy.send("/invite")
    ask = await lucy.next_message()
    await tap(bot, lucy, ask, text="office admin")
    await lucy.send("Ma Clerk")
    chooser = await lucy.next_message()
    assert "🏛 Whole county" not in chooser.button_texts
    assert [b for b in chooser.button_texts if b.startswith("▫️")] == ["▫️ Chengdong (CD)"]
    answer = await bot.sandbox.answer(await lucy.press(chooser, text="Done (0 chosen)"))
    assert answer["text"] == "Choose at least one area (or the whole county)."
    for data, said in (
        (NewInviteCounty().pack(), "Only a county office admin can set an office's scope."),
        (
            NewInviteScopeArea(area=towns.areas["CN"], page=0).pack(),
            "This area is outside your office's areas (Chengdong).",
        ),
    ):
        answer = await bot.sandbox.answer(await lucy.press_raw(lucy.id, chooser.message_id, data))
        assert answer["text"] == said, data
    chooser = await tap(bot, lucy, chooser, text="▫️ Chengdong (CD)")
    created = await tap(bot, lucy, chooser, text="Done (1 chosen)")
    assert "Office scope: Chengdong" in created.text
    ma = await bot.store.people.by_id(max(p.id for p in (await bot.store.people.search("Ma", limit=5))[0]))
    assert ma is not None and ma.scope == (towns.areas["CD"],)

    await lucy.send("/invite")
    ask = await lucy.next_message()
    await tap(bot, lucy, ask, text="river chief")
    await lucy.send("Zhou Qiang")
    level = await lucy.next_message()
    areas = await tap(bot, lucy, level, text="town-level chief")
    assert areas.button_texts == ["Chengdong · CD"]
    answer = await bot.sandbox.answer(
        await lucy.press_raw(lucy.id, areas.message_id, NewInviteArea(area=towns.areas["CN"], page=0).pack())
    )
    assert answer["text"] == "This area is outside your office's areas (Chengdong)."
    assert bot.errors() == []


async def test_a_town_offices_lists_show_only_its_areas(bot: Harness) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    county = await started_admin(bot, "en")
    east = bot.sandbox.user(first_name="East", language_code="en")
    await office(bot, east, "Chen East", towns.areas["CD"])
    reporter = await world.person("Li", role="volunteer")
    week_ago = (bot.services.problems.today() - timedelta(days=7)).isoformat()
    in_east = await world.problem(reporter, towns.reaches["CD"], reported=f"{week_ago} 09:00")
    in_south = await world.problem(reporter, towns.reaches["CN"], reported=f"{week_ago} 09:30")
    chief_east = await world.person("Wang East")
    chief_south = await world.person("Sun South")
    await world.assign(chief_east, towns.reaches["CD"], "2026-01-01")
    await world.assign(chief_south, towns.reaches["CN"], "2026-01-01")
    for person_id in (chief_east, chief_south):
        await world.patrol(person_id, towns.reaches["CD" if person_id == chief_east else "CN"], f"{week_ago} 08:00")

    # /problems: 城东's only.
    await east.send("/problems")
    listing = await east.next_message()
    assert listing.text.startswith("Open problems (1)")
    assert any(f"#{in_east}" in b for b in listing.button_texts)
    assert not any(f"#{in_south}" in b for b in listing.button_texts)
    by_area = await tap(bot, east, listing, text="By area")
    assert by_area.button_texts == ["Chengdong"]
    await county.send("/problems")
    assert (await county.next_message()).text.startswith("Open problems (2)")

    # /people: 城东's people (who live, hold a reach, or are its office there).
    await east.send("/people")
    people = await east.next_message()
    assert "Wang East · village-level chief" in people.button_texts
    assert not any("Sun South" in b for b in people.button_texts)

    # /reaches and /summary: 城东 only.
    await east.send("/reaches")
    assert (await east.next_message()).button_texts == ["Chengdong · CD"]
    answer = await bot.sandbox.answer(
        await east.press_raw(east.id, people.message_id, ReachesArea(area=towns.areas["CN"], page=0).pack())
    )
    assert answer["text"] == "This area is outside your office's areas (Chengdong)."
    await east.send("/summary")
    assert (await east.next_message()).button_texts == ["Chengdong (CD)"]

    # /pending: 城东's volunteers only; a forged decision on 城南's is refused.
    waiting = {}
    for code, name in (("CD", "Amy East"), ("CN", "Bob South")):
        person_id = await bot.store.people.create(name=name)
        waiting[code] = await bot.store.registrations.create(
            person_id, name=name, home_area_id=towns.areas[code], phone=None, status="pending"
        )
    await east.send("/pending")
    assert (await east.next_message()).text == "1 volunteer registration waiting for review:"
    assert "Amy East" in (await east.next_message()).text
    await east.expect_silence()
    forged = PendingDecision(answer="ok", registration=waiting["CN"]).pack()
    answer = await bot.sandbox.answer(await east.press_raw(east.id, people.message_id, forged))
    assert answer["text"] == "This volunteer is outside your office's areas (Chengdong)."
    registration = await bot.store.registrations.by_id(waiting["CN"])
    assert registration is not None and registration.status == "pending"

    # /export: 城东's patrols and problems only.
    await east.send("/export")
    formats = await east.next_message()
    ranges = await tap(bot, east, formats, text="CSV (zip)")
    await tap(bot, east, ranges, text="Last week")
    document = await east.next_message(timeout=15)
    assert document.document is not None
    with zipfile.ZipFile(io.BytesIO(document.document)) as archive:
        texts = {name: archive.read(name).decode("utf-8-sig") for name in archive.namelist()}
    patrols = next(text for name, text in texts.items() if "patrol" in name and "rate" not in name)
    problems = next(text for name, text in texts.items() if "problem" in name)
    assert "Wang East" in patrols and "Sun South" not in patrols
    assert "CD-01" in problems and "CN-01" not in problems
    assert bot.errors() == []


async def test_an_unassigned_problem_goes_to_its_towns_office_not_the_county(bot: Harness) -> None:
    ids = await seed(bot.store)  # 城东 (CD): 丁堡河 with no chief
    south, _ = await bot.store.areas.upsert("CN", "城南片区", "Chengnan")
    county = await started_admin(bot, "en")
    east = bot.sandbox.user(first_name="East", language_code="en")
    south_office = bot.sandbox.user(first_name="South", language_code="en")
    cd = (await bot.store.reaches.by_id(ids["DBH-01"])).area_id  # type: ignore[union-attr]
    await office(bot, east, "Chen East", cd)
    await office(bot, south_office, "Sun South", south)
    amy = bot.sandbox.user(first_name="Amy", language_code="en")
    await volunteer(bot, amy, "Amy Wu")

    await report(bot, amy, zh=False, category="illegal dumping")
    await bot.sandbox.wait_consumed()

    def told(user: FakeUser) -> list[str]:
        return [m.text for m in user.messages() if m.text and "New problem to assign" in m.text]

    assert len(told(east)) == 1 and "#1" in told(east)[0]
    assert told(county) == [] and told(south_office) == []
    assert bot.errors() == []
