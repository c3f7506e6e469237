"""The office's commands in private chat, one module per command family: /invite, /people, /reaches,
/assign and /unassign.

Every step is a button whose data carries what the step needs (area, reach, person ids), so a restart between
taps loses nothing; only /invite, which asks for a typed name, keeps a dialog (`bot.dialogs`). Every button
checks permission again: an admin removed a minute ago can't finish what they started. The rules (who is
listed, what may be changed) are in `bot.office`.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers.office import assign, invite, people, reaches


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Wire the office's commands; they share no pattern, so their order among themselves does not matter."""
    invite.register(app)  # /invite: register a chief or an admin and make their invite link
    people.register(app)  # /people: search, look up, deactivate and reactivate people
    reaches.register(app)  # /reaches: the registry by area, a reach's file
    assign.register(app)  # /assign, /unassign: who answers for a reach
