"""Office scope, the review's gaps: a town's office keeps to its own areas when it binds groups, changes people,
sends problems on, and forwards invites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.invites import issue
from handlers.callbacks import (
    AssignChief,
    BindArea,
    DispatchTransfer,
    DispatchTransferDo,
    DispatchTransferTo,
    InviteLinkRenewed,
    InviteLinkShown,
    PersonDeactivate,
    PersonDeactivateConfirmed,
    ProblemAssignTo,
)
from handlers.patrol import remind_chiefs
from tests.conftest import BotFactory, Harness
from tests.e2e.test_groups import bound_area_code
from tests.e2e.test_problem_lifecycle import until
from tests.e2e.test_scope import Towns, office
from tests.support import World, current, run_job, tap

AREA_REFUSAL_ZH = "该片区不在您所在河长办的管辖片区（城东片区）内。"


async def test_a_town_office_binds_groups_only_to_its_own_areas(bot: Harness) -> None:
    towns = await Towns(World(bot.store)).build()
    east = bot.sandbox.user(first_name="East", language_code="zh-hans")
    await office(bot, east, "陈东", towns.areas["CD"])
    group = bot.sandbox.group(title="城东河长工作群", members=[east])

    await east.send("/bind", chat=group)
    offer = await east.next_message(chat=group)
    assert offer.button_texts == ["城东片区（CD）", "取消"]
    # A forged button for another town is refused; the group stays unbound.
    forged = BindArea(area=towns.areas["CN"], seen=0).pack()
    answer = await bot.sandbox.answer(await east.press_raw(group, offer.message_id, forged))
    assert answer["show_alert"] and answer["text"] == AREA_REFUSAL_ZH
    assert await bound_area_code(bot, group) is None
    # Its own town binds.
    await east.press(offer, text="城东片区（CD）")
    await bot.sandbox.wait_consumed()
    assert current(bot, offer).text.startswith("本群已绑定到片区：城东片区（CD）")
    assert await bound_area_code(bot, group) == "CD"
    assert bot.errors() == []


async def test_a_town_office_cannot_take_over_or_unbind_another_towns_group(bot: Harness) -> None:
    towns = await Towns(World(bot.store)).build()
    east = bot.sandbox.user(first_name="East", language_code="zh-hans")
    await office(bot, east, "陈东", towns.areas["CD"])
    group = bot.sandbox.group(title="城南河长工作群", members=[east])
    await bot.services.chats.bind(group.id, towns.areas["CN"], type="group", title=group.title, expected=None, by=None)

    await east.send("/unbind", chat=group)
    assert (await east.next_message(chat=group)).text == AREA_REFUSAL_ZH
    await east.send("/bind", chat=group)
    assert (await east.next_message(chat=group)).text == AREA_REFUSAL_ZH
    forged = BindArea(area=towns.areas["CD"], seen=towns.areas["CN"]).pack()
    answer = await bot.sandbox.answer(await east.press_raw(group, 1, forged))
    assert answer["show_alert"] and answer["text"] == AREA_REFUSAL_ZH
    assert await bound_area_code(bot, group) == "CN"
    assert bot.errors() == []


async def test_a_town_office_cannot_deactivate_whom_the_county_answers_for(bot: Harness) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    east = bot.sandbox.user(first_name="East", language_code="en")
    await office(bot, east, "Chen East", towns.areas["CD"])
    store = bot.store
    # A county admin who lives in the town; an admin of two towns; a chief with a reach in another town.
    county_id = await store.people.create(name="Zhao County", home_area_id=towns.areas["CD"])
    await store.people.grant_role(county_id, "admin")
    wide_id = await store.people.create(name="Qian Wide")
    await store.people.grant_role(wide_id, "admin")
    await store.people.set_scope(wide_id, (towns.areas["CD"], towns.areas["CN"]))
    wang = await world.person("Wang Both")
    await world.assign(wang, towns.reaches["CD"], "2026-01-01")
    await world.assign(wang, towns.reaches["CN"], "2026-01-01")
    li = await world.person("Li Own")
    await world.assign(li, towns.reaches["CD"], "2026-01-01")

    beyond = "outside your office's areas (Chengdong): only the county office can deactivate or reactivate them."
    refusals = {
        county_id: "Zhao County is an office admin beyond your office's areas (Chengdong): only the county office"
        " can deactivate or reactivate them.",
        wide_id: "Qian Wide is an office admin beyond your office's areas (Chengdong): only the county office"
        " can deactivate or reactivate them.",
        wang: f"Wang Both answers for reaches {beyond}",
    }
    for person_id, refusal in refusals.items():
        for data in (PersonDeactivate(person=person_id).pack(), PersonDeactivateConfirmed(person=person_id).pack()):
            answer = await bot.sandbox.answer(await east.press_raw(east.id, 1, data))
            assert answer["show_alert"] and answer["text"] == refusal, data
        record = await store.people.by_id(person_id)
        assert record is not None and record.active
    assert len(await bot.services.office.held_reaches(wang)) == 2
    # Their own town's chief: done.
    answer = await bot.sandbox.answer(await east.press_raw(east.id, 1, PersonDeactivateConfirmed(person=li).pack()))
    assert not answer.get("show_alert")
    record = await store.people.by_id(li)
    assert record is not None and not record.active
    assert bot.errors() == []


async def test_a_town_office_hands_problems_and_reaches_only_to_its_own_chiefs(bot: Harness) -> None:
    world = World(bot.store)
    towns = await Towns(world).build()
    east = bot.sandbox.user(first_name="East", language_code="en")
    await office(bot, east, "Chen East", towns.areas["CD"])
    own = await world.person("Wang Own")
    await world.assign(own, towns.reaches["CD"], "2026-01-01")
    near = await world.person("Zhou Near")  # lives in the town, holds nothing yet
    await bot.store.people.update_registry(near, name="Zhou Near", phone=None, home_area_id=towns.areas["CD"])
    far = await world.person("Sun Far")
    await world.assign(far, towns.reaches["CN"], "2026-01-01")
    reporter = await world.person("Li", role="volunteer")
    today = bot.services.problems.today()
    number = await world.problem(
        reporter,
        towns.reaches["CD"],
        reported=f"{today.isoformat()} 09:00",
        deadline=(today + timedelta(days=5)).isoformat(),
        assignee_id=own,
    )

    # The transfer list offers the town's own chiefs only (the assignee left out).
    await east.send(f"/problem {number}")
    card = await until(east, "Timeline")
    listing = await tap(bot, east, card, data=DispatchTransfer(problem=number).pack())
    assert [t for t in listing.button_texts if "·" in t] == ["Zhou Near · village-level chief"]
    refusal = "This person is outside your office's areas (Chengdong)."
    for data in (
        DispatchTransferTo(problem=number, kind="c", target=far).pack(),
        DispatchTransferDo(problem=number, kind="c", target=far, keep=1).pack(),
        ProblemAssignTo(problem=number, person=far).pack(),
        AssignChief(reach=towns.reaches["CD"], person=far).pack(),
    ):
        answer = await bot.sandbox.answer(await east.press_raw(east.id, card.message_id, data))
        assert answer["show_alert"] and answer["text"] == refusal, data
    problem = await bot.store.problems.by_id(number)
    assert problem is not None and problem.assignee_id == own
    assert {a.person_id for a in await bot.store.assignments.active_for_reach(towns.reaches["CD"])} == {own}
    # A chief of the town is taken.
    data = DispatchTransferDo(problem=number, kind="c", target=near, keep=1).pack()
    answer = await bot.sandbox.answer(await east.press_raw(east.id, card.message_id, data))
    assert not answer.get("show_alert")
    problem = await bot.store.problems.by_id(number)
    assert problem is not None and problem.assignee_id == near
    assert bot.errors() == []


async def test_a_town_office_cannot_forward_a_wider_admins_invite(bot: Harness) -> None:
    towns = await Towns(World(bot.store)).build()
    east = bot.sandbox.user(first_name="East", language_code="en")
    await office(bot, east, "Chen East", towns.areas["CD"])
    store = bot.store
    wide = await store.people.create(name="Qian Wide", home_area_id=towns.areas["CD"])
    await store.people.set_scope(wide, (towns.areas["CD"], towns.areas["CN"]))
    await issue(store, bot.settings, wide, "admin")
    invite = await store.invites.pending_for_person(wide, now=datetime.now(UTC))
    assert invite is not None
    for data in (InviteLinkShown(invite=invite.id).pack(), InviteLinkRenewed(invite=invite.id).pack()):
        answer = await bot.sandbox.answer(await east.press_raw(east.id, 1, data))
        assert answer["show_alert"] and answer["text"] == "This button is no longer valid. Please start again."
    await east.expect_silence()
    assert [i.id for i in await store.invites.pending(now=datetime.now(UTC)) if i.person_id == wide] == [invite.id]
    assert bot.errors() == []


async def test_each_office_hears_how_many_of_its_own_people_could_not_be_reached(bot_factory: BotFactory) -> None:
    bot = await bot_factory(patrol_reminder_days=30)
    world = World(bot.store)
    towns = await Towns(world).build()
    east = bot.sandbox.user(first_name="East", language_code="zh-hans")
    south = bot.sandbox.user(first_name="South", language_code="zh-hans")
    await office(bot, east, "陈东", towns.areas["CD"])
    await office(bot, south, "孙南", towns.areas["CN"])
    month_ago = (datetime.now(bot.settings.tz).date() - timedelta(days=30)).isoformat()
    # Registered, never joined: one of 城东, two of 城南.
    for name, town in (("王五", "CD"), ("赵六", "CN"), ("钱七", "CN")):
        person = await bot.store.people.create(name=name, home_area_id=towns.areas[town])
        await bot.store.people.grant_role(person, "chief", level="village")
        await world.assign(person, towns.reaches[town], month_ago)

    await run_job(bot, remind_chiefs)
    told_east, told_south = await east.next_message(), await south.next_message()
    assert "巡河提醒有 1 人无法送达" in told_east.text and "以下 1 人为新发现" in told_east.text
    assert "王五" in told_east.text and "赵六" not in told_east.text
    assert "巡河提醒有 2 人无法送达" in told_south.text and "以下 2 人为新发现" in told_south.text
    assert bot.errors() == []
