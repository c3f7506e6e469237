"""Forged button data from every kind of person in every kind of chat: nothing crashes and nothing changes.

The sweep walks the codec registry of handlers/callbacks.py, so a button kind added later is pressed too. Each
codec's data is forged the ways a modified client can: numbers out of bounds or too big for SQLite, digits that
are not ASCII, words not in a field's set, and ids no row has; and those who may do nothing at all press real
ids too. Whoever presses and
wherever, the store must read the same afterwards, and no update may fail.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bot import drafts
from bot.drafts import State, Step
from bot.problems import Draft, DraftPhoto
from handlers.callbacks import CallbackData, Number, OneOf, Token, registry
from sandbox import FakeGroup, FakeUser
from tests.conftest import Harness
from tests.support import World, chief, dump_tables, run_weekly, seed_registry, started_admin, tap, volunteer

# What a forged number may be: beyond an id's bounds, beyond what SQLite or any database takes, digits Python's
# int() reads but ASCII does not have (alone and after an ASCII one), and an id in bounds that no row has.
FORGED_NUMBERS = ("2147483648", "9" * 25, "١٢", "1١", "²", "2147483647")
FORGED_WORDS = ("zz", "١")
# Every table is compared before and after, but the inbox (each update is kept there), the failed updates
# (asserted empty on their own) and meta (the heartbeat job writes there); a table added later is compared too.
UNCOMPARED = frozenset({"inbox", "failed_updates", "meta"})


def _sample(part: Number | OneOf | Token) -> tuple[str, ...]:
    """Values a field is drawn with, to hold still while another field is forged."""
    if isinstance(part, OneOf):  # every word of a short set (each may be its own way through); two of a long one
        words = tuple(str(c) for c in part.choices)
        return words if len(words) <= 6 else words[:2]
    if isinstance(part, Token):
        return ("Zz9",)
    return (str(part.high),)  # in bounds, and no row has it


def forged_data(codec: type[CallbackData]) -> list[str]:
    """Data of `codec`'s kind that the bot never draws: each field in turn forged, the others as drawn."""
    found: set[str] = set()
    if not codec.parts:
        found |= {f"{codec.prefix}:١", f"{codec.prefix}:{'9' * 25}"}
    for index, (_, part) in enumerate(codec.parts):
        forgeries = FORGED_NUMBERS if isinstance(part, Number) else FORGED_WORDS
        others = [_sample(p) if i != index else ("",) for i, (_, p) in enumerate(codec.parts)]
        for forged in forgeries:
            for values in itertools.product(*others):
                texts = [forged if i == index else v for i, v in enumerate(values)]
                found.add(":".join([codec.prefix, *texts]))
    return sorted(d for d in found if len(d.encode()) <= 64)


def real_ids(codec: type[CallbackData]) -> list[str]:
    """Data as the bot would draw it, every id the first row's (which exists): for those who may do nothing at all,
    a stranger and a deactivated person, whose presses must change nothing however real the button."""
    if not any(isinstance(part, Number) for _, part in codec.parts):
        return []
    choices = [("1",) if isinstance(p, Number) else _sample(p) for _, p in codec.parts]
    return [":".join([codec.prefix, *values]) for values in itertools.product(*choices)]


def shares(data: list[str], count: int) -> list[list[str]]:
    """`data` dealt to `count` pressers in turn, each getting at least one, so every button kind is pressed by
    every one of them while the data is pressed about once in all."""
    return [data[i::count] or [data[i % len(data)]] for i in range(count)]


async def test_forged_buttons_from_anyone_anywhere_change_nothing_and_crash_nothing(bot: Harness) -> None:
    """Every button kind, forged, from a stranger, a volunteer, a chief, a deactivated person and an admin, in
    private, in a group and in a bound supergroup. In private each presses every forged datum; in the groups
    the data of each kind is dealt among them. The stranger and the deactivated person also press real ids
    (about 3,200 presses in all: quick enough for every run)."""
    ids = await seed_registry(bot.store)
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    admin = await started_admin(bot)
    zhao, qian, sun, li = (bot.sandbox.user(first_name=name) for name in ("赵", "钱", "孙", "李"))
    never_started = bot.sandbox.user(first_name="路人", started=False)  # a group member who never opened the bot
    chief_id = await chief(bot, zhao, "赵六", [ids["DBH-01"]])
    volunteer_id = await volunteer(bot, qian, "钱七")
    assert await bot.store.people.set_active(await volunteer(bot, sun, "孙八"), False, by=None)
    world = World(bot.store)
    world.area_of[ids["DBH-01"]] = area.id
    await world.problem(
        volunteer_id, ids["DBH-01"], reported="2026-11-30 09:00", deadline="2026-12-30", assignee_id=chief_id
    )
    # Half-way states, so that forged presses reach past "you have none": the chief is on patrol, the volunteer
    # is choosing the reach of a report (and the admin an invite's, below).
    await bot.store.patrols.start(chief_id, ids["DBH-01"], datetime.now(UTC) - timedelta(minutes=5))
    draft = Draft(photos=[DraftPhoto(1, "file-1", False, None)], lat=32.5, lon=120.41, location_source="shared")
    assert qian.id is not None
    await bot.services.dialogs.set(qian.id, *drafts.stored(State(Step.REACH, draft)))
    await admin.send("/invite")
    await tap(bot, admin, await admin.next_message(), text="河长")
    await admin.send("王五")
    areas = await tap(bot, admin, await admin.next_message(), text="镇级河长")
    assert "丁堡河" in str((await tap(bot, admin, areas, text="城东片区 · CD")).buttons)
    group = bot.sandbox.group(title="闲聊群", supergroup=False, members=[admin, zhao, qian, sun, never_started])
    supergroup = bot.sandbox.group(title="城东片区河长群", members=[admin, zhao, qian, sun, never_started])
    await bot.store.chats.upsert(supergroup.id, type="supergroup", title=supergroup.title, bot_status="member")
    await bot.store.bindings.bind(supergroup.id, area.id, bound_by=None)
    # admin, chief, volunteer, deactivated, stranger: in private the stranger has opened the bot, in groups not.
    private = [admin, zhao, qian, sun, li]
    in_groups = [admin, zhao, qian, sun, never_started]
    places: list[tuple[FakeGroup | None, list[FakeUser]]] = [
        (None, private),
        (group, in_groups),
        (supergroup, in_groups),
    ]
    for chat, people in places:  # each is met once, so that the sweep has nothing left to record about anyone
        for person in people:
            await person.send("/help", chat=chat)
    await run_weekly(bot)  # the summary job would otherwise deliver the week in the middle of the sweep
    await bot.sandbox.wait_consumed()
    before = await dump_tables(bot.store, without=UNCOMPARED)

    kinds = [forged_data(codec) for codec in registry().values()]
    real = [d for codec in registry().values() for d in real_ids(codec)]
    queries: set[str] = set()
    for chat, people in places:
        for person in people:
            pressed_on = person.messages(chat)[-1].message_id  # the bot's answer to /help: a real message
            if chat is None:
                mine = [d for data in kinds for d in data]
            else:
                mine = [d for data in kinds for d in shares(data, len(people))[people.index(person)]]
            if person in (sun, li, never_started):
                mine += real
            for d in mine:
                queries.add(await person.press_raw(chat or person.id, pressed_on, d))
    await bot.sandbox.wait_consumed(timeout=120)

    assert len(queries) > 3000
    assert queries <= {a["callback_query_id"] for a in bot.sandbox.answers}  # each one answered, none left spinning
    assert [r.getMessage()[:300] for r in bot.errors()] == []
    assert await bot.store.failed_updates.open() == []
    after = await dump_tables(bot.store, without=UNCOMPARED)
    assert {table: rows for table, rows in after.items() if rows != before[table]} == {}


async def test_malformed_numbers_in_buttons_and_commands_are_answered_without_a_crash(bot: Harness) -> None:
    """Finding 11 of issue 13: "1١" read as 11 turned a people page past the end into a BadRequest, and a
    problem number too big for SQLite overflowed in /problem."""
    admin = await started_admin(bot)
    await admin.send("/problem 99999999999999999999999")
    assert (await admin.next_message()).text == "没有找到问题 #99999999999999999999999，或您无权查看。"
    await admin.send(f"/problem {2**31}")
    assert (await admin.next_message()).text == f"没有找到问题 #{2**31}，或您无权查看。"
    await admin.send("/problem 1١")
    assert (await admin.next_message()).text == "请发送“/problem 编号”，例如 /problem 12。"
    pressed_on = admin.messages()[-1].message_id
    for data in ("pp:pg:1١", "pp:pg:١٢", "pf:c:²", "pb:v:1١", "rc:a:1:1٢"):
        await bot.sandbox.answer(await admin.press_raw(admin.id, pressed_on, data))
    outdated = "这个按钮已失效，请重新操作。"
    not_found = "没有找到问题 #1١，或您无权查看。"  # the forged answer of a problem button: as /problem says it
    assert [a["text"] for a in bot.sandbox.answers[-5:]] == [outdated] * 3 + [not_found, outdated]
    assert bot.errors() == []
    assert await bot.store.failed_updates.open() == []
