"""People's names as they come in: from Telegram, typed at /register or /invite, or in the registry's chiefs file.

Names are shown in problem timelines, approval notices and group summaries, next to the bot's own "system"
lines and the office's. Two things there could mislead a reader, so every name is cleaned on the way in:

- invisible characters: bidi controls (an RTL override shows a name backwards and can flip the text after it)
  and zero-width ones (two names that look alike, a name that looks empty). Every Unicode format character
  (category Cf) goes, and control characters become spaces;
- names that pass for the bot or the office (the words in locales/reserved_names.toml, such as "System").
  Nobody may register one, and the registry refuses such a row. A Telegram name is not chosen for this bot, so
  it is kept but marked with `MARK` in front, except for the ADMIN_IDS accounts, which are the office.
"""

from __future__ import annotations

import functools
import tomllib
import unicodedata
from importlib import resources

MARK = "\u26a0"  # the warning sign: language-free, and not removable by the cleaning above



@functools.cache
def _reserved() -> tuple[tuple[str, ...], frozenset[str]]:
    """(words reserved anywhere in a name, words reserved as the whole name), from the locales package."""
    words = tomllib.loads(resources.files("locales").joinpath("reserved_names.toml").read_text(encoding="utf-8"))
    return tuple(words["inside"]), frozenset(words["whole"])


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
    inside, whole = _reserved()
    return skeleton in whole or any(word in skeleton for word in inside)


def telegram_name(text: str, *, trusted: bool) -> str:
    """A Telegram display name to store: cleaned, and marked when it imitates the bot or the office (unless
    `trusted`: an ADMIN_IDS account). Empty when nothing visible is left; the caller falls back."""
    name = clean_display_name(text)
    if name and not trusted and is_reserved(name):
        return MARK + name
    return name
