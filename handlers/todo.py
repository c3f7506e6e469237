"""/todo and the menu's "my to-do": what waits for a chief, each item with the button that does it.

The items and their order are `bot.todo`; this module draws them a page at a time (PAGE items, text and
buttons together, so a button is always next to its line) and turns an item's `Action` into the button the
rest of the bot already answers: a problem's rectify button (handlers/problems.py) or a patrol reminder's
"start on this reach" (handlers/patrol.py), so the to-do adds no second way of doing either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.config import Language
from bot.people import Person
from bot.todo import Action, Todo, item_actions, patrol_line, problem_line
from handlers.access import Actor, command
from handlers.callbacks import PatrolGo, ProblemAction, TodoPage, pressed
from handlers.common import Context, services
from handlers.fieldwork import category_name
from handlers.ui import paged, show

PAGE = 10


def action_data(action: Action) -> str:
    """The callback data of an item's action: the buttons its handlers already answer."""
    if action.kind == "rectify":
        return ProblemAction(action="rect", problem=action.target).pack()
    return PatrolGo(reach=action.target).pack()


def action_rows(actions: Sequence[Action]) -> list[list[tuple[str, str]]]:
    return [[(action.label, action_data(action))] for action in actions]


def _page_text(context: Context, person: Person, lang: Language, todo: Todo, page: int) -> str:
    """The header, then this page's lines under their kind's heading."""
    svc = services(context)
    locales = svc.locales
    today = datetime.now(svc.settings.tz).date()
    lines: list[str] = [
        *(problem_line(locales, lang, item, category_name(locales, lang, item.problem.category), today)
          for item in todo.problems),
        *(patrol_line(locales, lang, progress) for progress in todo.patrols),
    ]  # fmt: skip
    first = page * PAGE
    shown = range(first, min(first + PAGE, len(lines)))
    text = [locales.t(lang, "todo.header", name=person.name, count=len(todo))]
    if any(i < len(todo.problems) for i in shown):
        text += ["", locales.t(lang, "todo.problems_header")]
    for i in shown:
        if i == len(todo.problems):
            text += ["", locales.t(lang, "todo.patrols_header")]
        text.append(lines[i])
    return "\n".join(text)


async def _show(update: Update, context: Context, actor: Actor, page: int) -> None:
    svc = services(context)
    person = actor.known
    lang = actor.language
    todo = await svc.todo.of(person.id, datetime.now(svc.settings.tz).date())
    if not todo:
        await show(update, context, svc.locales.t(lang, "todo.none", name=person.name))
        return
    pages = -(-len(todo) // PAGE)
    page = min(max(page, 0), pages - 1)
    actions = item_actions(svc.locales, lang, todo)
    markup: InlineKeyboardMarkup = paged(
        [(action.label, action_data(action)) for action in actions],
        page=page,
        page_data=lambda n: TodoPage(page=n).pack(),
        page_size=PAGE,
    )
    await show(update, context, _page_text(context, person, lang, todo, page), markup)


@command("todo")
async def todo_command(update: Update, context: Context, actor: Actor, message: Message) -> None:
    """/todo (and the menu's button): the chief's open problems, overdue first, then the patrols due."""
    await _show(update, context, actor, 0)


@pressed(TodoPage, action="todo")
async def todo_paged(update: Update, context: Context, actor: Actor, data: TodoPage) -> None:
    """Another page of the to-do, counted afresh (an item done meanwhile is gone)."""
    await _show(update, context, actor, data.page)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("todo", todo_command, private))
    app.add_handler(CallbackQueryHandler(todo_paged, pattern=TodoPage.pattern))
