"""Telegram handlers: thin — parse the update, call the domain in `bot/`, answer from `locales/`."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    assessment,
    assistants,
    citizens,
    dialogs,
    dispatch,
    errors,
    exports,
    fallback,
    groups,
    jobs,
    join,
    members,
    office,
    patrol,
    problems,
    report,
    router,
    start,
    summaries,
    todo,
)


def register(app: Application, *, with_jobs: bool = True) -> None:  # type: ignore[type-arg]
    """Wire every feature, in order. Everything is in one handler group, where the first matching handler wins:
    a private message that is not a command has one handler (the router), a command its CommandHandler (and the
    fallback after them all), a button its CallbackQueryHandler; the order settles only overlaps among those.
    Then the jobs, unless `with_jobs` is False: a webhook worker schedules them only once it leads (bot/workers.py)."""
    members.register(app)  # membership changes and migrations, before anything reads the chat
    # Every private message and edit but a command: bot.routing decides between an open patrol, an open dialog,
    # the menu, a photo that starts a report and a short answer. Nothing else takes those, so it comes early.
    router.register(app)
    dialogs.register(app)  # /cancel (the dialogs' typed input comes through the router)
    start.register(app)  # /start, /help, /language
    join.register(app)  # invites, volunteer registration, /pending
    citizens.register(app)  # a stranger's kept photo and its one-tap join
    office.register(app)  # /invite, /people, /reaches, /assign, /unassign: one module per command family
    assistants.register(app)  # /assistants, the assistant links, the office's view from /people
    patrol.register(app)  # /patrol, /mypatrols, the patrol's buttons, auto-finish and reminders
    report.register(app)  # /report and the report draft's buttons
    problems.register(app)  # /problem N, /problems, /myreports, the lifecycle buttons, deadlines
    dispatch.register(app)  # extensions, transfers and presses on a problem card
    summaries.register(app)  # /summary, the weekly area summaries and chiefs' digests
    todo.register(app)  # /todo: what waits for a chief
    exports.register(app)  # /export: the office's data as xlsx, csv or geojson
    assessment.register(app)  # /assessment: the assessment report of a period as xlsx or pdf
    # Later features register here, before the fallback.
    groups.register(app)  # /bind, /unbind: a group chat linked to an area
    fallback.register(app)  # must stay last: unknown commands (after every CommandHandler), outdated buttons
    errors.register(app)
    # The jobs are wired here with the handlers (not in bot/app.py): their callbacks are handler code, and every
    # job, with its name and time, is in the one list of handlers/jobs.py.
    if with_jobs:
        jobs.schedule(app)
