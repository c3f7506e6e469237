"""Telegram handlers: thin — parse the update, call the domain in `bot/`, answer from `locales/`."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    dialogs,
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
    start,
    summaries,
)


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Wire every feature, in order. Order matters: within a group the first matching handler wins."""
    members.register(app)  # membership changes and migrations, before anything reads the chat
    dialogs.register(app)  # half-finished dialogs get typed input first; /cancel
    start.register(app)  # /start, /help, /language
    join.register(app)  # invites, volunteer registration, /pending
    office.register(app)  # /invite, /people, /reaches, /assign, /unassign: one module per command family
    patrol.register(app)  # /patrol, the track and evidence, /mypatrols, auto-finish and reminders
    report.register(app)  # /report and a photo sent with nothing open: the report draft
    problems.register(app)  # /problem N, /problems, /myreports, the lifecycle buttons, deadlines
    summaries.register(app)  # /summary, the weekly area summaries and chiefs' digests
    exports.register(app)  # /export: the office's data as xlsx, csv or geojson
    # Later features register here, before the fallback.
    groups.register(app)  # /bind, /unbind: a group chat linked to an area
    fallback.register(app)  # must stay last: unknown commands, stray messages, outdated buttons
    errors.register(app)
    # The jobs are wired here with the handlers (not in bot/app.py): their callbacks are handler code, and every
    # job, with its name and time, is in the one list of handlers/jobs.py.
    jobs.schedule(app)
