"""Button data as typed codecs, registered once, and `pressed`: the one way a button press reaches its callback.

A codec is a small frozen class with a prefix and typed fields, in the manner of aiogram's `CallbackData`::

    class BindArea(CallbackData, prefix="bind:a"):
        area: Id
        seen: IdOrNone

`BindArea(area=3, seen=0).pack()` is `"bind:a:3:0"`; `BindArea.parse(data)` gives the instance back, or None for
forged or old data (a number out of bounds, a word not in the fixed set, a wrong shape); `BindArea.pattern` is
the anchored regex its CallbackQueryHandler is registered with. The pattern takes any digits where a number
goes, so a forged number (too big, leading zeros, another script's digits) still reaches the handler of its
button kind, whose `pressed` answers it (see its `forged`); a wrong word or shape is left to the fallback's
outdated answer. A number parses from ASCII digits only. Ids are
1..2**31-1 (SQLite would overflow on more), pages 0..999999, and the longest data a codec can pack is checked
against Telegram's 64 bytes when the class is defined. Defining two codecs with one prefix, or two whose data
could be alike, fails at import: no press can be claimed by two handlers.

A callback is `@pressed(Codec, action=...)`; only the language choice, whose permission is not an action of
the table, is `@parsed(LanguageChoice)`. Commands have the like of `pressed` in handlers.access.command.

This module is here, not in bot/, because callback data is the Telegram wire format of the buttons; bot/
decides, it does not draw buttons. The codecs themselves import nothing from telegram.

Every button the bot draws today, by family (the first part), with the module whose handler reads it:

| family | data (codec)                                                                    | handler module |
|--------|---------------------------------------------------------------------------------|----------------|
| bind   | bind:a:<area>:<seen> (BindArea), bind:p:<page> (BindPage), bind:x (BindCancel)  | groups         |
| lang   | lang:<zh|en> (LanguageChoice)                                                   | start          |
| inv    | inv:<ok|no>:<code> (InviteAnswer)                                               | join           |
| reg    | reg:start, reg:area:<area>, reg:apg:<page>                                      | join           |
| pend   | pend:<ok|no>:<registration> (PendingDecision)                                   | join           |
| ni     | ni:x, ni:role:<role>, ni:lvl:<level>, ni:apg:<page>, ni:area:<area>:<page>,     | office.invite  |
|        | ni:r:<reach>, ni:rpg:<page>, ni:done, ni:sa:<area>:<page>, ni:sd, ni:sx         |                |
| pp     | pp:pg:<page>, pp:p:<person>, pp:off:<person>, pp:off!:<person>, pp:on:<person>, | office.people  |
|        | pp:sc:<person>:<page>, pp:sa:<person>:<area>:<page>, pp:sx:<person>,            |                |
|        | pp:wait:<page>, pp:link:<invite>, pp:renew:<invite> (invites not yet accepted)  |                |
| rc     | rc:top:<page>, rc:mine:<page>, rc:a:<area>:<page>, rc:r:<reach>, rc:f:<reach>   | office.reaches |
| as     | as:top:<page>, as:a:<area>:<page>, as:r:<reach>:<page>, as:p:<reach>:<person>   | office.assign  |
| ua     | ua:top:<page>, ua:a:<area>:<page>, ua:r:<reach>:<page>, ua:e:<assignment>       | office.assign  |
| pb     | pb:v:<problem>, pb:<rect|close|rej|as|dis|reopen>:<problem>,                    | problems       |
|        | pb:asp:<problem>:<person>, pb:x:<page>                                          |                |
| pl     | pl:<page>:<area or 0>:<category or empty>, pl:x:<page>, pl:my:<page>            | problems       |
| pf     | pf:a:<category or empty>, pf:c:<area or 0>                                      | problems       |
| pn     | pn:x, pn:send                                                                   | problems       |
| pt     | pt:x, pt:r:<reach>, pt:go:<reach>, pt:areas:<page>, pt:a:<area>:<page>,         | patrol         |
|        | pt:mine:<page>, pt:p:<patrol>, pt:f:<patrol>                                    |                |
| rp     | rp:start, rp:x, rp:next, rp:exif, rp:areas, rp:a:<area>, rp:r:<reach>,          | report         |
|        | rp:rp:<page>, rp:c:<category>, rp:cp:<page>, rp:same:<problem>, rp:new,         |                |
|        | rp:skip, rp:send                                                                |                |
| sm     | sm:a:<area>, sm:w:<area>:<0|1|2>                                                | summaries      |
| ex     | ex:f:<format>, ex:r:<format>:<range>                                            | exports        |
| asm    | asm:p:<period>, asm:f:<period>:<xlsx|pdf>                                       | assessment     |
| ast    | ast:x:<assistant>, ast:l, ast:y:<code>, ast:n:<code>, ast:o:<chief>,            | assistants     |
|        | ast:ox:<chief>:<assistant>, ast:ol:<chief>; and pt:for:<reach>:<chief> (patrol) |                |
| dx     | dx:ext:<problem>, dx:d:<problem>:<3|7|15>, dx:ok|no|nox:<request>, dx:x,        | dispatch       |
|        | dx:tr:<problem>, dx:tt:<problem>:<c|d>:<target>, dx:td:<problem>:<c|d>:<target>:|                |
|        | <0|1>, dx:pr:<problem>, dx:prx:<problem>; dx:cf:<problem> (close confirmation)  | problems       |

tests/unit/test_callbacks.py holds the same table as data and checks it against the handlers registered today.
Every codec has a handler of its own, registered with its pattern; the one callback without a pattern is the
fallback's `answer_outdated`, for data no codec takes. Some buttons are kept only to be answered (the page
number of a list that fits one page, such as the categories' `rp:cp`, never drawn; `rp:start` from older
messages): the registry knows every prefix in use.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    TypeVar,
    cast,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

from telegram import Update

from bot.config import CATEGORIES, LEVELS, Language
from bot.exports import RANGES, Format
from bot.invites import InviteRole
from handlers.access import Actor, guard
from handlers.common import services
from handlers.ui import ButtonHandler, Context, alert, button

MAX_BYTES = 64  # Telegram refuses callback data longer than this, counted in UTF-8 bytes
ID_MAX = 2**31 - 1
PAGE_MAX = 999_999
_PREFIX = re.compile(r"[a-z]+(?::[a-z!]+)*")


class CodecError(TypeError):
    """A codec that cannot be defined: a duplicate or ambiguous prefix, an unbounded field, data over 64 bytes."""


# -- what a field may hold --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A whole number in [low, high], written without sign or leading zeros (so packing gives the same text)."""

    low: int
    high: int

    @property
    def regex(self) -> str:
        # [0-9], not \d: \d and int() also take other scripts' digits, so "1١" would read as 11.
        return rf"0|[1-9][0-9]{{0,{len(str(self.high)) - 1}}}"

    @property
    def shape(self) -> str:
        """What the pattern takes: any digits, so a number out of bounds is this button's to answer."""
        return r"\d+"

    @property
    def longest(self) -> int:
        return len(str(self.high))

    def parse(self, text: str) -> int | None:
        if not (text.isascii() and re.fullmatch(self.regex, text)):
            return None
        value = int(text)
        return value if self.low <= value <= self.high else None

    def pack(self, value: object) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
        return str(value) if ok else None


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of words (or small numbers), as they are written."""

    choices: tuple[str | int, ...]

    @property
    def regex(self) -> str:
        # Longest first, so that the alternation cannot stop at a word that begins a longer one.
        return "|".join(re.escape(str(c)) for c in sorted(self.choices, key=lambda c: -len(str(c))))

    @property
    def longest(self) -> int:
        return max(len(str(c)) for c in self.choices)

    @property
    def shape(self) -> str:
        return self.regex

    def parse(self, text: str) -> str | int | None:
        return next((c for c in self.choices if str(c) == text), None)

    def pack(self, value: object) -> str | None:
        return str(value) if value in self.choices and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Token:
    """A code such as an invite's: URL-safe base64 letters, 1..`longest` of them."""

    longest: int

    @property
    def regex(self) -> str:
        return rf"[A-Za-z0-9_-]{{1,{self.longest}}}"

    @property
    def shape(self) -> str:
        return self.regex

    def parse(self, text: str) -> str | None:
        return text if re.fullmatch(self.regex, text) else None

    def pack(self, value: object) -> str | None:
        return value if isinstance(value, str) and self.parse(value) is not None else None


Part = Number | OneOf | Token

ID = Number(1, ID_MAX)  # a row id; `ID.parse(text)` reads one from a forged press's texts
Id = Annotated[int, ID]
IdOrNone = Annotated[int, Number(0, ID_MAX)]  # 0: none (no filter, not bound)
Page = Annotated[int, Number(0, PAGE_MAX)]
InviteCode = Annotated[str, Token(48)]  # bot.invites issues 12 letters; room to spare, still under 64 bytes
Category = Annotated[str, OneOf(CATEGORIES)]
CategoryOrAny = Annotated[str, OneOf(("", *CATEGORIES))]  # "": no filter
Level = Annotated[str, OneOf(LEVELS)]
Range = Annotated[str, OneOf(RANGES)]
Answer = Literal["ok", "no"]
PeriodText = Annotated[str, Token(7)]  # an assessment period as typed; bot.assessment.parse_period reads it
AssessmentFormat = Literal["xlsx", "pdf"]
WeeksBack = Literal[0, 1, 2]  # this week, last week, two weeks ago
ProblemButton = Literal["rect", "close", "rej", "as", "dis", "reopen"]  # a lifecycle button's word


def _part_of(owner: str, name: str, hint: object) -> Part:
    if get_origin(hint) is Literal:
        return OneOf(get_args(hint))
    if get_origin(hint) is Annotated:
        found = [m for m in hint.__metadata__ if isinstance(m, Number | OneOf | Token)]  # type: ignore[attr-defined]
        if len(found) == 1:
            return found[0]
    raise CodecError(f"{owner}.{name}: use a bounded field type (Id, Page, a Literal, …), not {hint!r}")


# -- the codecs and their registry ---------------------------------------------------------------------------

_registry: dict[str, type[CallbackData]] = {}


@dataclass_transform(eq_default=True)
class CallbackData:
    """Base of every codec: subclass it with `prefix=` and typed fields (see the module docstring)."""

    prefix: ClassVar[str]
    pattern: ClassVar[re.Pattern[str]]
    parts: ClassVar[tuple[tuple[str, Part], ...]]

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)
        if not _PREFIX.fullmatch(prefix):
            raise CodecError(f"{cls.__name__}: prefix {prefix!r} is not lowercase words joined by ':'")
        hints = get_type_hints(cls, include_extras=True)
        cls.prefix = prefix
        names = [field.name for field in dataclasses.fields(cast(Any, cls))]
        cls.parts = tuple((name, _part_of(cls.__name__, name, hints[name])) for name in names)
        cls.pattern = re.compile("^" + re.escape(prefix) + "".join(f":({p.shape})" for _, p in cls.parts) + "$")
        longest = len(prefix) + sum(1 + p.longest for _, p in cls.parts)
        if longest > MAX_BYTES:
            raise CodecError(f"{cls.__name__}: data may reach {longest} bytes; Telegram takes {MAX_BYTES}")
        _register(cls)

    def pack(self) -> str:
        """The callback data for a button; ValueError for a value its field cannot hold (a bug, not a press)."""
        texts = [self.prefix]
        for name, part in self.parts:
            text = part.pack(getattr(self, name))
            if text is None:
                raise ValueError(f"{type(self).__name__}.{name} cannot hold {getattr(self, name)!r}")
            texts.append(text)
        return ":".join(texts)

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        """The pressed button's values; None for data this codec did not pack (forged, old, out of bounds)."""
        texts = cls.texts(data)
        if texts is None:
            return None
        values: dict[str, object] = {}
        for name, part in cls.parts:
            value = part.parse(texts[name])
            if value is None:
                return None
            values[name] = value
        return cls(**values)

    @classmethod
    def texts(cls, data: str | None) -> dict[str, str] | None:
        """Each field's text as sent, unchecked; None when the data does not have this codec's shape."""
        match = cls.pattern.fullmatch(data) if data is not None else None
        if match is None:
            return None
        return {name: text for (name, _), text in zip(cls.parts, match.groups(), strict=True)}


def _shape(codec: type[CallbackData]) -> list[str | Part]:
    return [*codec.prefix.split(":"), *(part for _, part in codec.parts)]


def _may_overlap(a: str | Part, b: str | Part) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        word, part = (a, b) if isinstance(a, str) else (b, a)
        assert isinstance(word, str) and not isinstance(part, str)
        return part.parse(word) is not None
    if isinstance(a, OneOf) or isinstance(b, OneOf):
        words, other = (a, b) if isinstance(a, OneOf) else (b, a)
        assert isinstance(words, OneOf)
        return any(other.parse(str(c)) is not None for c in words.choices)
    return True  # two open fields: assume they can meet


def _register(codec: type[CallbackData]) -> None:
    if codec.prefix in _registry:
        raise CodecError(f"prefix {codec.prefix!r} of {codec.__name__} is taken by {_registry[codec.prefix].__name__}")
    shape = _shape(codec)
    for other in _registry.values():
        theirs = _shape(other)
        if len(theirs) == len(shape) and all(_may_overlap(a, b) for a, b in zip(shape, theirs, strict=True)):
            raise CodecError(f"{codec.__name__} ({codec.prefix}) and {other.__name__} ({other.prefix}) match alike")
    _registry[codec.prefix] = codec


def registry() -> Mapping[str, type[CallbackData]]:
    """Every codec by prefix."""
    return MappingProxyType(_registry)


def unregister(codecs: Iterable[type[CallbackData]]) -> None:
    """Forget codecs (tests define throwaway ones)."""
    for codec in codecs:
        _registry.pop(codec.prefix, None)


# -- the decorator -----------------------------------------------------------------------------------------

C = TypeVar("C", bound=CallbackData)
PressHandler = Callable[[Update, Context, Actor, C], Coroutine[Any, Any, None]]
OpenPressHandler = Callable[[Update, Context, C], Coroutine[Any, Any, None]]
# A forged press of the right shape, with its fields' texts as sent (see `pressed`).
ForgedHandler = Callable[[Update, Context, Actor, Mapping[str, str]], Coroutine[Any, Any, None]]


async def answer_outdated(update: Update, context: Context) -> None:
    """Tell the presser the button is outdated (an old message, a previous version, forged data)."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    person = await svc.people.find(query.from_user.id)
    lang = person.language if person else svc.people.language_for(None, query.from_user.language_code)
    await alert(update, svc.locales.plain(lang, "fallback.outdated_button"))


def pressed(
    codec: type[C], *, action: str, forged: ForgedHandler | None = None
) -> Callable[[PressHandler[C]], ButtonHandler]:
    """Turn `handler(update, context, actor, data)` into a button callback for `codec`'s buttons.

    The data is parsed first (forged or old: the outdated answer), then the presser must be allowed `action`
    (`guard` answers a refusal), and the press is answered after the handler, unless it alerted.
    Register the result with `CallbackQueryHandler(callback, pattern=codec.pattern)`.

    `forged`, when given, answers data of the codec's shape that does not parse (an id out of bounds) instead of
    the outdated answer, after `guard`, from the fields' texts: for a button whose answer to a forged press
    depends on what can still be read of it (a problem number no problem can have is "not found").
    """

    def decorate(handler: PressHandler[C]) -> ButtonHandler:
        @functools.wraps(handler)
        async def wrapped(update: Update, context: Context) -> None:
            query = update.callback_query
            raw = query.data if query is not None else None
            data = codec.parse(raw)
            texts = codec.texts(raw) if data is None and forged is not None else None
            if data is None and texts is None:
                await answer_outdated(update, context)
                return
            actor = await guard(update, context, action)
            if actor is None:
                return
            if data is not None:
                await handler(update, context, actor, data)
            elif forged is not None and texts is not None:
                await forged(update, context, actor, texts)

        return button(wrapped)

    return decorate


def parsed(codec: type[C]) -> Callable[[OpenPressHandler[C]], ButtonHandler]:
    """Like `pressed`, without `guard`: `handler(update, context, data)` decides itself who may press.

    For the language choice only: in a group the group's own Telegram admins decide, and in private anyone,
    even a deactivated person, may read the bot in their language, which no action of the permission table says.
    """

    def decorate(handler: OpenPressHandler[C]) -> ButtonHandler:
        @functools.wraps(handler)
        async def wrapped(update: Update, context: Context) -> None:
            data = codec.parse(update.callback_query.data if update.callback_query is not None else None)
            if data is None:
                await answer_outdated(update, context)
                return
            await handler(update, context, data)

        return button(wrapped)

    return decorate


# -- the codecs --------------------------------------------------------------------------------------------
# One class per button kind, grouped by family; the docstring says where it is drawn when that is not obvious.


class BindArea(CallbackData, prefix="bind:a"):
    """An area offered by /bind; `seen` is the area bound when it was drawn (0: none), so an old offer fails."""

    area: Id
    seen: IdOrNone


class BindPage(CallbackData, prefix="bind:p"):
    page: Page


class BindCancel(CallbackData, prefix="bind:x"):
    pass


class LanguageChoice(CallbackData, prefix="lang"):
    language: Language


class InviteAnswer(CallbackData, prefix="inv"):
    """The person's answer to an invite they opened: it is them, or it is not."""

    answer: Answer
    code: InviteCode


class RegisterStart(CallbackData, prefix="reg:start"):
    pass


class RegisterArea(CallbackData, prefix="reg:area"):
    area: Id


class RegisterAreaPage(CallbackData, prefix="reg:apg"):
    page: Page


class PendingDecision(CallbackData, prefix="pend"):
    """Approve or reject a volunteer's registration."""

    answer: Answer
    registration: Id


class NewInviteCancel(CallbackData, prefix="ni:x"):
    pass


class NewInviteRole(CallbackData, prefix="ni:role"):
    role: InviteRole


class NewInviteLevel(CallbackData, prefix="ni:lvl"):
    level: Level


class NewInviteAreaPage(CallbackData, prefix="ni:apg"):
    page: Page


class NewInviteArea(CallbackData, prefix="ni:area"):
    """Drawn with a page (always 0) after the area, like the other area lists; the handler ignores it."""

    area: Id
    page: Page


class NewInviteReach(CallbackData, prefix="ni:r"):
    """Toggle a reach in the invite's choice."""

    reach: Id


class NewInviteReachPage(CallbackData, prefix="ni:rpg"):
    page: Page


class NewInviteDone(CallbackData, prefix="ni:done"):
    pass


class NewInviteScopeArea(CallbackData, prefix="ni:sa"):
    """Toggle an area in an admin invite's office scope (the chooser stays at `page`); area 0: turn the page."""

    area: IdOrNone
    page: Page


class NewInviteScopeDone(CallbackData, prefix="ni:sd"):
    """The admin invite covers the areas chosen."""


class NewInviteCounty(CallbackData, prefix="ni:sx"):
    """The admin invite covers the whole county (a county admin's choice only)."""


class PeoplePage(CallbackData, prefix="pp:pg"):
    page: Page


class PersonCard(CallbackData, prefix="pp:p"):
    person: Id


class PersonDeactivate(CallbackData, prefix="pp:off"):
    """Asks to confirm; `PersonDeactivateConfirmed` does it."""

    person: Id


class PersonDeactivateConfirmed(CallbackData, prefix="pp:off!"):
    person: Id


class PeopleWaiting(CallbackData, prefix="pp:wait"):
    """A page of the people invited who have not joined yet."""

    page: Page


class InviteLinkShown(CallbackData, prefix="pp:link"):
    """Show a not-yet-joined person's invite link again, for the office to forward (by invite: see
    `bot.invites.invite_link`)."""

    invite: Id


class InviteLinkRenewed(CallbackData, prefix="pp:renew"):
    """Issue a fresh invite for someone whose link expired (pressed again: shows the fresh one)."""

    invite: Id


class PersonReactivate(CallbackData, prefix="pp:on"):
    person: Id


class PersonScope(CallbackData, prefix="pp:sc"):
    """An admin's office scope chooser, at a page of the areas."""

    person: Id
    page: Page


class PersonScopeArea(CallbackData, prefix="pp:sa"):
    """Put an area in the admin's scope, or take it out (the chooser stays at `page`)."""

    person: Id
    area: Id
    page: Page


class PersonScopeCounty(CallbackData, prefix="pp:sx"):
    """Make the admin's scope the whole county."""

    person: Id


class ReachesTop(CallbackData, prefix="rc:top"):
    page: Page


class ReachesMine(CallbackData, prefix="rc:mine"):
    page: Page


class ReachesArea(CallbackData, prefix="rc:a"):
    area: Id
    page: Page


class ReachCard(CallbackData, prefix="rc:r"):
    reach: Id


class ReachDossier(CallbackData, prefix="rc:f"):
    """The reach card's "one river, one file" button: the reach's dossier as a PDF."""

    reach: Id


class AssignTop(CallbackData, prefix="as:top"):
    page: Page


class AssignArea(CallbackData, prefix="as:a"):
    area: Id
    page: Page


class AssignReach(CallbackData, prefix="as:r"):
    reach: Id
    page: Page


class AssignChief(CallbackData, prefix="as:p"):
    reach: Id
    person: Id


class UnassignTop(CallbackData, prefix="ua:top"):
    page: Page


class UnassignArea(CallbackData, prefix="ua:a"):
    area: Id
    page: Page


class UnassignReach(CallbackData, prefix="ua:r"):
    reach: Id
    page: Page


class UnassignEnd(CallbackData, prefix="ua:e"):
    assignment: Id


class ProblemView(CallbackData, prefix="pb:v"):
    problem: Id


class ProblemAction(CallbackData, prefix="pb"):
    """A lifecycle button on a problem card."""

    action: ProblemButton
    problem: Id


class ProblemAssignTo(CallbackData, prefix="pb:asp"):
    problem: Id
    person: Id


class ProblemAssigneePage(CallbackData, prefix="pb:x"):
    """The page-number button of the assignee list (one page: nothing to do)."""

    page: Page


class ProblemList(CallbackData, prefix="pl"):
    page: Page
    area: IdOrNone
    category: CategoryOrAny


class ProblemListPage(CallbackData, prefix="pl:x"):
    """The page-number button of a problem list (the list pages itself with `ProblemList`)."""

    page: Page


class MyReportsPage(CallbackData, prefix="pl:my"):
    """A page of /myreports: ◀, ▶ and the page number between them."""

    page: Page


class ProblemFilterArea(CallbackData, prefix="pf:a"):
    """Choose an area, keeping the category filter."""

    category: CategoryOrAny


class ProblemFilterCategory(CallbackData, prefix="pf:c"):
    """Choose a category, keeping the area filter."""

    area: IdOrNone


class NoteCancel(CallbackData, prefix="pn:x"):
    pass


class NoteSend(CallbackData, prefix="pn:send"):
    pass


class PatrolCancel(CallbackData, prefix="pt:x"):
    pass


class PatrolReach(CallbackData, prefix="pt:r"):
    reach: Id


class PatrolGo(CallbackData, prefix="pt:go"):
    """From a patrol reminder: start on that reach now."""

    reach: Id


class PatrolAreas(CallbackData, prefix="pt:areas"):
    page: Page


class PatrolArea(CallbackData, prefix="pt:a"):
    area: Id
    page: Page


class PatrolMine(CallbackData, prefix="pt:mine"):
    """A page of one's own reaches in /patrol's reach choice (10 a page)."""

    page: Page


class PatrolProblem(CallbackData, prefix="pt:p"):
    patrol: Id


class PatrolFinish(CallbackData, prefix="pt:f"):
    patrol: Id


class ReportStart(CallbackData, prefix="rp:start"):
    """Drawn by earlier versions; still read."""


class ReportCancel(CallbackData, prefix="rp:x"):
    pass


class ReportPhotosDone(CallbackData, prefix="rp:next"):
    pass


class ReportUseExif(CallbackData, prefix="rp:exif"):
    pass


class ReportAreas(CallbackData, prefix="rp:areas"):
    pass


class ReportArea(CallbackData, prefix="rp:a"):
    area: Id


class ReportReach(CallbackData, prefix="rp:r"):
    reach: Id


class ReportReachPage(CallbackData, prefix="rp:rp"):
    """A page of an area's reaches at a report's reach step (50 a page); the area is the one the draft keeps."""

    page: Page


class ReportCategory(CallbackData, prefix="rp:c"):
    category: Category


class ReportCategoryPage(CallbackData, prefix="rp:cp"):
    """The categories fit one page, so this is never drawn; kept so the prefix stays reserved (and answered)."""

    page: Page


class ReportSame(CallbackData, prefix="rp:same"):
    """The reporter says the problem found nearby is theirs: join the report to it."""

    problem: Id


class ReportNew(CallbackData, prefix="rp:new"):
    pass


class ReportSkip(CallbackData, prefix="rp:skip"):
    pass


class ReportSend(CallbackData, prefix="rp:send"):
    pass


class SummaryArea(CallbackData, prefix="sm:a"):
    area: Id


class SummaryWeek(CallbackData, prefix="sm:w"):
    area: Id
    weeks_back: WeeksBack


class ExportFormat(CallbackData, prefix="ex:f"):
    fmt: Format


class ExportRange(CallbackData, prefix="ex:r"):
    fmt: Format
    period: Range


class AssessmentPeriod(CallbackData, prefix="asm:p"):
    """/assessment: this period (2026-11, 2026-Q4, 2026-H1, 2026), resolved when the button was drawn."""

    period: PeriodText


class AssessmentFile(CallbackData, prefix="asm:f"):
    """/assessment: the report of this period in this format."""

    period: PeriodText
    fmt: AssessmentFormat


class ExportCustom(CallbackData, prefix="ex:c"):
    """Any range: the admin types it next."""

    fmt: Format


class ReportFixed(CallbackData, prefix="rp:fix"):
    """At the report's confirmation: the problem was fixed on the spot; the after-photos come next."""


class ReportFixedSend(CallbackData, prefix="rp:fixed"):
    """Send the report as fixed on the spot, with its after-photos."""


class TodoPage(CallbackData, prefix="td:p"):
    """A page of /todo: ◀, ▶ and the page number between them."""

    page: Page


class JoinToReport(CallbackData, prefix="cz:join"):
    """Under a stranger's kept photo (or a public sign's QR code): join as a volunteer and go on reporting."""


class PatrolSwitch(CallbackData, prefix="pt:sw"):
    """Under a quick-started patrol: not this reach after all; dropped while it holds nothing yet."""

    patrol: Id


class PatrolFor(CallbackData, prefix="pt:for"):
    """An assistant's choice: patrol this reach for the chief they assist."""

    reach: Id
    chief: Id


class AssistantRemove(CallbackData, prefix="ast:x"):
    """A chief's /assistants: this assistant assists them no more."""

    assistant: Id


class AssistantLink(CallbackData, prefix="ast:l"):
    """A chief's /assistants: a one-time link to forward to their assistant-to-be."""


class AssistantAccept(CallbackData, prefix="ast:y"):
    """The person who opened a chief's assistant link confirms: they assist that chief."""

    code: InviteCode


class AssistantDecline(CallbackData, prefix="ast:n"):
    """The person who opened a chief's assistant link declines it."""

    code: InviteCode


class OfficeAssistants(CallbackData, prefix="ast:o"):
    """A chief's /people card: their assistants, to remove one or make a link for a new one."""

    chief: Id


class OfficeAssistantRemove(CallbackData, prefix="ast:ox"):
    """The office ends a chief's assistant."""

    chief: Id
    assistant: Id


class OfficeAssistantLink(CallbackData, prefix="ast:ol"):
    """The office makes a chief's assistant link, to forward."""

    chief: Id


# -- dispatch (handlers.dispatch): extensions, transfers, presses; the close confirmation (handlers.problems) ----

ExtensionDays = Literal[3, 7, 15]  # bot.dispatch.EXTENSION_DAYS
TargetKind = Literal["c", "d"]  # a chief (a person id), or a department (a department id)


class DispatchExtend(CallbackData, prefix="dx:ext"):
    """On the assignee's card: ask for more time (a reason, then a date)."""

    problem: Id


class DispatchExtendDays(CallbackData, prefix="dx:d"):
    """A quick new deadline: the current one plus so many days."""

    problem: Id
    days: ExtensionDays


class DispatchGrant(CallbackData, prefix="dx:ok"):
    """On the office's request card: grant the extension request."""

    request: Id


class DispatchRefuse(CallbackData, prefix="dx:no"):
    """On the office's request card: refuse (a reason is asked, optional)."""

    request: Id


class DispatchRefuseNow(CallbackData, prefix="dx:nox"):
    request: Id


class DispatchTransfer(CallbackData, prefix="dx:tr"):
    """On the office's card: choose whom to transfer the problem to."""

    problem: Id


class DispatchTransferTo(CallbackData, prefix="dx:tt"):
    problem: Id
    kind: TargetKind
    target: Id


class DispatchTransferDo(CallbackData, prefix="dx:td"):
    """Transfer now; `keep` 1 keeps the deadline, 0 resets it."""

    problem: Id
    kind: TargetKind
    target: Id
    keep: Literal[0, 1]


class DispatchPress(CallbackData, prefix="dx:pr"):
    """On the office's card: press the case (a note is asked, optional)."""

    problem: Id


class DispatchPressNow(CallbackData, prefix="dx:prx"):
    problem: Id


class DispatchCancel(CallbackData, prefix="dx:x"):
    """Back out of a dispatch step (or the close confirmation) being written."""


class CloseConfirm(CallbackData, prefix="dx:cf"):
    """The close confirmation: close without a note."""

    problem: Id
