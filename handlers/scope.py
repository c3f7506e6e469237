"""Office scope in the chat: the refusal a town's office hears when something lies outside its areas."""

from __future__ import annotations

from telegram import Update

from bot.people import Person
from handlers.access import refuse
from handlers.common import Context, services


async def scope_names(context: Context, person: Person) -> str:
    """The names of this admin's areas, joined ("" for a county admin)."""
    if person.areas is None:
        return ""
    lang = person.language
    svc = services(context)
    named = [a.name(lang) for a in await svc.office.areas() if a.id in person.areas]
    return svc.locales.plain(lang, "common.list_sep").join(named)


async def refuse_out_of_scope(update: Update, context: Context, person: Person, key: str, **params: object) -> None:
    """Say no to a town's office acting outside its areas, naming its areas (`key` in [scope])."""
    await refuse(update, context, person.language, f"scope.{key}", areas=await scope_names(context, person), **params)
