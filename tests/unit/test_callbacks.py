"""Button data codecs: every button the bot draws has one, packs to the same bytes as before, and forged data
parses to nothing."""

from __future__ import annotations

import functools
import re
from typing import Literal

import pytest
from telegram.ext import CallbackQueryHandler

from bot.app import build_application
from bot.config import load_settings
from handlers import callbacks as cb
from handlers.callbacks import ID_MAX, MAX_BYTES, CallbackData, CodecError, Id, Page

# The inventory: a button as the bot draws it today, its codec, and the module whose handler takes it.
INVENTORY: list[tuple[str, type[CallbackData], str]] = [
    ("bind:a:3:0", cb.BindArea, "groups"),
    ("bind:a:3:7", cb.BindArea, "groups"),
    ("bind:p:1", cb.BindPage, "groups"),
    ("bind:x", cb.BindCancel, "groups"),
    ("lang:zh", cb.LanguageChoice, "start"),
    ("lang:en", cb.LanguageChoice, "start"),
    ("inv:ok:Ab-_09xyzQRS", cb.InviteAnswer, "join"),
    ("inv:no:Ab-_09xyzQRS", cb.InviteAnswer, "join"),
    ("reg:start", cb.RegisterStart, "join"),
    ("reg:area:4", cb.RegisterArea, "join"),
    ("reg:apg:2", cb.RegisterAreaPage, "join"),
    ("pend:ok:9", cb.PendingDecision, "join"),
    ("pend:no:9", cb.PendingDecision, "join"),
    ("ni:x", cb.NewInviteCancel, "office.invite"),
    ("ni:role:chief", cb.NewInviteRole, "office.invite"),
    ("ni:role:admin", cb.NewInviteRole, "office.invite"),
    ("ni:lvl:village", cb.NewInviteLevel, "office.invite"),
    ("ni:apg:1", cb.NewInviteAreaPage, "office.invite"),
    ("ni:area:5:0", cb.NewInviteArea, "office.invite"),
    ("ni:r:12", cb.NewInviteReach, "office.invite"),
    ("ni:rpg:3", cb.NewInviteReachPage, "office.invite"),
    ("ni:done", cb.NewInviteDone, "office.invite"),
    ("ni:sa:5:0", cb.NewInviteScopeArea, "office.invite"),
    ("ni:sd", cb.NewInviteScopeDone, "office.invite"),
    ("ni:sx", cb.NewInviteCounty, "office.invite"),
    ("pp:pg:0", cb.PeoplePage, "office.people"),
    ("pp:p:8", cb.PersonCard, "office.people"),
    ("pp:off:8", cb.PersonDeactivate, "office.people"),
    ("pp:off!:8", cb.PersonDeactivateConfirmed, "office.people"),
    ("pp:on:8", cb.PersonReactivate, "office.people"),
    ("pp:wait:0", cb.PeopleWaiting, "office.people"),
    ("pp:link:8", cb.InviteLinkShown, "office.people"),
    ("pp:renew:8", cb.InviteLinkRenewed, "office.people"),
    ("pp:sc:8:0", cb.PersonScope, "office.people"),
    ("pp:sa:8:3:0", cb.PersonScopeArea, "office.people"),
    ("pp:sx:8", cb.PersonScopeCounty, "office.people"),
    ("rc:top:0", cb.ReachesTop, "office.reaches"),
    ("rc:mine:0", cb.ReachesMine, "office.reaches"),
    ("rc:a:2:1", cb.ReachesArea, "office.reaches"),
    ("rc:r:30", cb.ReachCard, "office.reaches"),
    ("rc:f:30", cb.ReachDossier, "office.reaches"),
    ("as:top:0", cb.AssignTop, "office.assign"),
    ("as:a:2:0", cb.AssignArea, "office.assign"),
    ("as:r:30:1", cb.AssignReach, "office.assign"),
    ("as:p:30:8", cb.AssignChief, "office.assign"),
    ("ua:top:0", cb.UnassignTop, "office.assign"),
    ("ua:a:2:0", cb.UnassignArea, "office.assign"),
    ("ua:r:30:0", cb.UnassignReach, "office.assign"),
    ("ua:e:44", cb.UnassignEnd, "office.assign"),
    ("pb:v:17", cb.ProblemView, "problems"),
    ("pb:rect:17", cb.ProblemAction, "problems"),
    ("pb:close:17", cb.ProblemAction, "problems"),
    ("pb:rej:17", cb.ProblemAction, "problems"),
    ("pb:as:17", cb.ProblemAction, "problems"),
    ("pb:dis:17", cb.ProblemAction, "problems"),
    ("pb:reopen:17", cb.ProblemAction, "problems"),
    ("pb:asp:17:8", cb.ProblemAssignTo, "problems"),
    ("pb:x:0", cb.ProblemAssigneePage, "problems"),
    ("pl:0:0:", cb.ProblemList, "problems"),
    ("pl:2:5:dumping", cb.ProblemList, "problems"),
    ("pl:1:0:black_odorous", cb.ProblemList, "problems"),
    ("pl:x:0", cb.ProblemListPage, "problems"),
    ("pl:my:1", cb.MyReportsPage, "problems"),
    ("pf:a:", cb.ProblemFilterArea, "problems"),
    ("pf:a:garbage", cb.ProblemFilterArea, "problems"),
    ("pf:c:0", cb.ProblemFilterCategory, "problems"),
    ("pf:c:5", cb.ProblemFilterCategory, "problems"),
    ("pn:x", cb.NoteCancel, "problems"),
    ("pn:send", cb.NoteSend, "problems"),
    ("pt:x", cb.PatrolCancel, "patrol"),
    ("pt:r:30", cb.PatrolReach, "patrol"),
    ("pt:go:30", cb.PatrolGo, "patrol"),
    ("pt:areas:0", cb.PatrolAreas, "patrol"),
    ("pt:a:2:0", cb.PatrolArea, "patrol"),
    ("pt:mine:1", cb.PatrolMine, "patrol"),
    ("pt:p:101", cb.PatrolProblem, "patrol"),
    ("pt:f:101", cb.PatrolFinish, "patrol"),
    ("rp:start", cb.ReportStart, "report"),
    ("rp:x", cb.ReportCancel, "report"),
    ("rp:next", cb.ReportPhotosDone, "report"),
    ("rp:exif", cb.ReportUseExif, "report"),
    ("rp:areas", cb.ReportAreas, "report"),
    ("rp:a:2", cb.ReportArea, "report"),
    ("rp:r:30", cb.ReportReach, "report"),
    ("rp:rp:1", cb.ReportReachPage, "report"),
    ("rp:c:outfall", cb.ReportCategory, "report"),
    ("rp:cp:0", cb.ReportCategoryPage, "report"),
    ("rp:same:17", cb.ReportSame, "report"),
    ("rp:new", cb.ReportNew, "report"),
    ("rp:skip", cb.ReportSkip, "report"),
    ("rp:send", cb.ReportSend, "report"),
    ("sm:a:2", cb.SummaryArea, "summaries"),
    ("sm:w:2:0", cb.SummaryWeek, "summaries"),
    ("sm:w:2:2", cb.SummaryWeek, "summaries"),
    ("ex:f:xlsx", cb.ExportFormat, "exports"),
    ("ex:r:geojson:month", cb.ExportRange, "exports"),
    ("asm:p:2026-11", cb.AssessmentPeriod, "assessment"),
    ("asm:f:2026-Q4:pdf", cb.AssessmentFile, "assessment"),
    ("ex:c:csv", cb.ExportCustom, "exports"),
    ("rp:fix", cb.ReportFixed, "report"),
    ("rp:fixed", cb.ReportFixedSend, "report"),
    ("td:p:1", cb.TodoPage, "todo"),
    ("cz:join", cb.JoinToReport, "citizens"),
    ("pt:sw:101", cb.PatrolSwitch, "patrol"),
    ("pt:for:12:7", cb.PatrolFor, "patrol"),
    ("ast:x:7", cb.AssistantRemove, "assistants"),
    ("ast:l", cb.AssistantLink, "assistants"),
    ("ast:y:Ab-_09xyzQRS", cb.AssistantAccept, "assistants"),
    ("ast:n:Ab-_09xyzQRS", cb.AssistantDecline, "assistants"),
    ("ast:o:5", cb.OfficeAssistants, "assistants"),
    ("ast:ox:5:7", cb.OfficeAssistantRemove, "assistants"),
    ("ast:ol:5", cb.OfficeAssistantLink, "assistants"),
    ("dx:ext:17", cb.DispatchExtend, "dispatch"),
    ("dx:d:17:7", cb.DispatchExtendDays, "dispatch"),
    ("dx:ok:4", cb.DispatchGrant, "dispatch"),
    ("dx:no:4", cb.DispatchRefuse, "dispatch"),
    ("dx:nox:4", cb.DispatchRefuseNow, "dispatch"),
    ("dx:tr:17", cb.DispatchTransfer, "dispatch"),
    ("dx:tt:17:c:8", cb.DispatchTransferTo, "dispatch"),
    ("dx:td:17:d:2:1", cb.DispatchTransferDo, "dispatch"),
    ("dx:pr:17", cb.DispatchPress, "dispatch"),
    ("dx:prx:17", cb.DispatchPressNow, "dispatch"),
    ("dx:x", cb.DispatchCancel, "dispatch"),
    ("dx:cf:17", cb.CloseConfirm, "problems"),
]


def test_the_inventory_names_every_codec() -> None:
    assert {codec for _, codec, _ in INVENTORY} == set(cb.registry().values())
    assert len({codec.prefix.split(":")[0] for codec in cb.registry().values()}) == 23


@pytest.mark.parametrize(("data", "codec", "module"), INVENTORY)
def test_a_button_packs_back_to_the_same_bytes(data: str, codec: type[CallbackData], module: str) -> None:
    parsed = codec.parse(data)
    assert parsed is not None
    assert parsed.pack() == data
    assert codec.pattern.match(data)
    assert all(other.parse(data) is None for other in cb.registry().values() if other is not codec)


@functools.cache
def _handler_modules() -> dict[str, str | None]:
    """For each button of the inventory, the module of the first registered handler whose pattern takes it."""
    # Built as the bot builds it (never started: nothing is sent), so the handlers are registered as in production.
    app = build_application(load_settings(env_file=None, bot_token="123456:" + "A" * 35))
    found: dict[str, str | None] = {}
    for data, _, _ in INVENTORY:
        found[data] = None
        for group in sorted(app.handlers):
            for handler in app.handlers[group]:
                if not isinstance(handler, CallbackQueryHandler):
                    continue
                pattern = handler.pattern
                if isinstance(pattern, str | re.Pattern) and re.match(pattern, data):
                    found[data] = handler.callback.__module__
                    break
            if found[data] is not None:
                break
    return found


@pytest.mark.parametrize(("data", "codec", "module"), INVENTORY)
def test_the_handler_registered_today_takes_it(data: str, codec: type[CallbackData], module: str) -> None:
    assert _handler_modules()[data] == f"handlers.{module}"


def test_every_button_handler_is_registered_with_a_codec_pattern_but_the_fallback() -> None:
    # The fallback is the one handler without a pattern, registered last: it answers every press no codec took.
    app = build_application(load_settings(env_file=None, bot_token="123456:" + "A" * 35))
    patterns = {codec.pattern for codec in cb.registry().values()}
    *coded, last = [
        handler
        for group in sorted(app.handlers)
        for handler in app.handlers[group]
        if isinstance(handler, CallbackQueryHandler)
    ]
    assert [handler.callback.__module__ for handler in coded if handler.pattern not in patterns] == []
    assert last.pattern is None and last.callback is cb.answer_outdated


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "bind:a:QT",  # a pre-release button
        "bind:a:1",
        "bind:a:1:0:0",
        "bind:a:0:0",  # ids start at 1
        f"bind:a:{ID_MAX + 1}:0",  # SQLite would overflow
        "bind:a:99999999999999999999:0",
        "bind:a:007:0",  # not as packed
        "bind:a:-1:0",
        "bind:a:1:0\n",
        "bind:a: 1:0",
        "BIND:a:1:0",
        "bind:p:1000000",
        "lang:fr",
        "pb:frobnicate:1",
        "pl:0:0:not_a_category",
        "sm:w:2:3",  # weeks back: 0, 1 or 2
        "ex:r:pdf:month",
        "inv:ok:" + "x" * 49,
        "inv:ok:a b",
        "pp:off!!:8",
    ],
)
def test_forged_data_parses_to_nothing(data: str | None) -> None:
    assert all(codec.parse(data) is None for codec in cb.registry().values())


def test_ids_are_bounded_both_ways() -> None:
    assert cb.BindArea.parse(f"bind:a:{ID_MAX}:0") == cb.BindArea(area=ID_MAX, seen=0)
    with pytest.raises(ValueError, match="cannot hold"):
        cb.BindArea(area=0, seen=0).pack()
    with pytest.raises(ValueError, match="cannot hold"):
        cb.BindArea(area=ID_MAX + 1, seen=0).pack()
    with pytest.raises(ValueError, match="cannot hold"):
        cb.LanguageChoice(language="fr").pack()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot hold"):
        cb.ProblemList(page=True, area=0, category="").pack()


def test_no_codec_can_pack_more_than_telegram_takes() -> None:
    for codec in cb.registry().values():
        longest = len(codec.prefix) + sum(1 + part.longest for _, part in codec.parts)
        assert longest <= MAX_BYTES, codec.__name__
    biggest = cb.AssignChief(reach=ID_MAX, person=ID_MAX).pack()
    assert len(biggest.encode()) <= MAX_BYTES


def test_a_codec_over_64_bytes_fails_where_it_is_defined() -> None:
    with pytest.raises(CodecError, match="64"):

        class TooLong(CallbackData, prefix="toolong:abcdefghijklmnopqrstuvwxyz"):
            a: Id
            b: Id
            c: Id

    assert "toolong:abcdefghijklmnopqrstuvwxyz" not in cb.registry()


def test_a_taken_prefix_fails_at_import() -> None:
    with pytest.raises(CodecError, match="taken"):

        class AnotherBind(CallbackData, prefix="bind:a"):
            page: Page


def test_a_prefix_whose_data_another_codec_reads_fails() -> None:
    # "pt:r:<id>" belongs to PatrolReach: a field that may be "r" would claim the same presses.
    with pytest.raises(CodecError, match="alike"):

        class Clash(CallbackData, prefix="pt"):
            kind: Literal["r", "q"]
            reach: Id

    # A prefix that reads like another codec's data: "lang:zh" is LanguageChoice's.
    with pytest.raises(CodecError, match="alike"):

        class Clash2(CallbackData, prefix="lang:zh"):
            pass

    assert "pt" not in cb.registry()
    assert "lang:zh" not in cb.registry()


def test_an_unbounded_field_fails() -> None:
    with pytest.raises(CodecError, match="bounded"):

        class Loose(CallbackData, prefix="loose"):
            number: int


def test_a_prefix_is_lowercase_words() -> None:
    with pytest.raises(CodecError, match="prefix"):

        class Bad(CallbackData, prefix="bad::x"):
            pass


def test_a_fresh_codec_registers_and_can_be_forgotten() -> None:
    class Fresh(CallbackData, prefix="zz:fresh"):
        page: Page

    try:
        assert cb.registry()["zz:fresh"] is Fresh
        assert Fresh.parse("zz:fresh:4") == Fresh(page=4)
        assert re.fullmatch(Fresh.pattern, "zz:fresh:4")
    finally:
        cb.unregister([Fresh])
    assert "zz:fresh" not in cb.registry()


def test_a_forged_number_reaches_its_handler_and_still_does_not_parse() -> None:
    # The pattern routes by shape, so pressed() can answer the press in the button's own terms (see `forged`).
    huge = "9" * 23
    for data in (f"pb:v:{huge}", "pb:v:0", "pb:v:007", f"pb:asp:1:{huge}", f"pl:{huge}:0:"):
        codec = next(c for c in cb.registry().values() if c.pattern.match(data))
        assert codec.parse(data) is None, data
    assert cb.ProblemAssignTo.texts(f"pb:asp:1:{huge}") == {"problem": "1", "person": huge}
    assert cb.ID.parse("1") == 1 and cb.ID.parse(huge) is None
    # A word out of its set, or another shape, is not this codec's: the fallback answers it.
    for data in ("sm:w:2:3", "pb:v:x", "pb:v:1:2", "ex:f:pdf"):
        assert cb.SummaryWeek.texts(data) is None and not any(c.pattern.match(data) for c in cb.registry().values())


@pytest.mark.parametrize("digits", ["1١", "1٢3", "١٢", "²", "1²", "１", "1０", "9" * 25])
def test_malformed_numbers_under_every_prefix_parse_to_nothing(digits: str) -> None:
    """Finding 11 of issue 13: int() reads "1١" as 11 and "1０" as 10; only ASCII digits within bounds are ids."""
    for codec in cb.registry().values():
        for index, (_, part) in enumerate(codec.parts):
            if not isinstance(part, cb.Number):
                continue
            texts = [str(p.choices[0]) if isinstance(p, cb.OneOf) else "1" for _, p in codec.parts]
            texts[index] = digits
            data = ":".join([codec.prefix, *texts])
            assert codec.parse(data) is None, data
    assert cb.ID.parse("1١") is None and cb.ID.parse("2147483648") is None
