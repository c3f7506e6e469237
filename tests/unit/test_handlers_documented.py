"""Every callback the bot registers, and every job it schedules, says in one sentence what it does (issue 11).

Why a test: a newcomer reads the callbacks first, from the handler list; a missing or rambling first line is the
first thing they would trip on, and review alone lets it slip back in.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from bot.app import build_application
from bot.config import load_settings
from handlers.jobs import JOBS

TOKEN = "123456:" + "A" * 35
# A sentence: begins with a capital, a command (/report), a quote or code; ends with a full stop, ? or !.
SENTENCE = re.compile(r'^[A-Z/"“`(].*\S[.?!]$')


def registered() -> list[Callable[..., Any]]:
    """The callbacks as the bot registers them (handlers of every group, error handlers) and its jobs'."""
    app = build_application(load_settings(env_file=None, bot_token=TOKEN))  # never started: nothing runs
    assert app.job_queue is not None
    handlers = [handler.callback for group in sorted(app.handlers) for handler in app.handlers[group]]
    # A daily job is scheduled wrapped (once a day, handlers/jobs.py): its own callback is what is documented.
    jobs = [inspect.unwrap(job.callback) for job in app.job_queue.jobs()]
    return [*handlers, *app.error_handlers, *jobs]


def summary_problem(callback: Callable[..., Any]) -> str | None:
    """What is wrong with the callback's docstring summary, or None if it is one line, one sentence."""
    function = inspect.unwrap(callback)  # the decorators (`pressed`, ...) keep the original's docstring
    doc = inspect.getdoc(function)
    name = f"{function.__module__}.{function.__qualname__}"
    if not doc:
        return f"{name}: no docstring"
    first, *rest = doc.splitlines()
    if not SENTENCE.match(first):
        return f"{name}: the first line is not a sentence: {first!r}"
    if rest and rest[0].strip():
        return f"{name}: the summary runs past the first line: {first!r} / {rest[0]!r}"
    return None


def test_every_registered_callback_and_job_has_a_one_line_summary() -> None:
    callbacks = registered()
    assert len(callbacks) > 50  # the handlers really were found
    problems = {problem for callback in callbacks if (problem := summary_problem(callback)) is not None}
    assert sorted(problems) == []


def test_the_jobs_list_is_what_gets_checked() -> None:
    # The jobs come from the one list: a job scheduled elsewhere would be missing here, and from test_jobs.
    assert {job.callback for job in JOBS} <= set(registered())


def test_the_check_catches_a_missing_or_long_summary() -> None:
    async def undocumented() -> None:
        pass

    async def rambling() -> None:
        """Start a report, and then
        carry on into the next line."""

    async def lower() -> None:
        """start a report."""

    async def good() -> None:
        """/report: begin a problem report."""

    assert summary_problem(undocumented) is not None
    assert summary_problem(rambling) is not None
    assert summary_problem(lower) is not None
    assert summary_problem(good) is None
