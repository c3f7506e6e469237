"""People's names as they come in: from Telegram, typed at /register or /invite, or in the registry's chiefs file.

Names are shown in problem timelines, approval notices and group summaries, next to the bot's own "系统" lines
and the office's. Two things there could mislead a reader, so every name is cleaned on the way in:

- invisible characters: bidi controls (an RTL override shows "王五" as "五王" and can flip the text after it)
  and zero-width ones (two names that look alike, a name that looks empty). Every Unicode format character
  (category Cf) goes, and control characters become spaces;
- names that pass for the bot or the office ("系统", "河长办", "System"). Nobody may register one, and the
  registry refuses such a row. A Telegram name is not chosen for this bot, so it is kept but marked with
  `MARK` (shown as "⚠河长办"), except for the ADMIN_IDS accounts, which are the office.
"""

from __future__ import annotations

import unicodedata

MARK = "\u26a0"  # the warning sign: language-free, and not removable by the cleaning above

# Chinese (simplified and traditional) anywhere in a name: no person's name contains them.
_RESERVED_INSIDE = ("系统", "系統", "河长办", "河長辦", "河长制办公室", "河長制辦公室")
# Latin words only as the whole name: "Systema Li" is a person.
_RESERVED_WHOLE = frozenset({"system", "admin", "administrator", "riverbot", "bot"})


def clean_display_name(text: str) -> str:
    """The name without format characters, control characters as spaces, runs of spaces as one."""
    kept = "".join(
        " " if unicodedata.category(ch) == "Cc" else ch for ch in text if unicodedata.category(ch) != "Cf"
    )
    return " ".join(kept.split())


def _skeleton(name: str) -> str:
    """What a reader takes the name to say: full-width forms folded, case folded, only letters and digits."""
    folded = unicodedata.normalize("NFKC", clean_display_name(name)).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def is_reserved(name: str) -> bool:
    """Whether the name would pass for the bot or the office."""
    skeleton = _skeleton(name)
    return skeleton in _RESERVED_WHOLE or any(word in skeleton for word in _RESERVED_INSIDE)


def telegram_name(text: str, *, trusted: bool) -> str:
    """A Telegram display name to store: cleaned, and marked when it imitates the bot or the office (unless
    `trusted`: an ADMIN_IDS account). Empty when nothing visible is left; the caller falls back."""
    name = clean_display_name(text)
    if name and not trusted and is_reserved(name):
        return MARK + name
    return name
