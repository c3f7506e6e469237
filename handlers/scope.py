"""Office scope in the chat: the refusal a town's office hears when something lies outside its areas."""

from __future__ import annotations

from telegram import Update

from bot.config import Language
from bot.people import Person
from handlers.access import refuse
from handlers.common import Context, services


async def scope_names(context: Context, person: Person, language: Language | None = None) -> str:
    """The names of this admin's areas, joined ("" for a county admin), in `language` (default: theirs)."""
    if person.areas is None:
        return ""
    lang = language or person.language
    svc = services(context)
    named = [a.name(lang) for a in await svc.office.areas() if a.id in person.areas]
    return svc.locales.plain(lang, "common.list_sep").join(named)


async def refuse_out_of_scope(
    update: Update, context: Context, person: Person, key: str, *, language: Language | None = None, **params: object
) -> None:
    """Say no to a town's office acting outside its areas, naming its areas (`key` in [scope]); in a group, in the
    group's `language`."""
    lang = language or person.language
    areas = await scope_names(context, person, lang)
    await refuse(update, context, lang, f"scope.{key}", areas=areas, **params)
