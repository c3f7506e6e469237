"""Two languages, one voice: every user-facing string comes from `locales/*.toml`.

Catalogs are TOML files (one per language) that translators edit directly; nested tables become dotted keys.
Messages go out with `parse_mode=HTML`, so `t()` escapes every value put into a template, while templates may
hold Telegram's HTML tags. `plain()` is for places that are not HTML: button labels, the CLI, alerts.
"""

from __future__ import annotations

import html
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bot.config import LANGUAGES, Language

# File stem in locales/ for each language code used inside the bot.
CATALOG_FILES: dict[Language, str] = {"zh": "zh_CN", "en": "en"}


# `{days:day|days}`: the word for one, or for any other count, picked by the parameter `days`.
_PLURAL = re.compile(r"\{(\w+):([^{}|]*)\|([^{}|]*)\}")


def plural(template: str, params: Mapping[str, object]) -> str:
    """The template with each `{count:one|other}` replaced by the word its count asks for. English needs the two
    forms; Chinese has no plural and never asks. A count that is not a number takes the other form."""

    def pick(match: re.Match[str]) -> str:
        try:
            one = float(str(params.get(match[1]))) == 1
        except ValueError:
            one = False
        return match[2] if one else match[3]

    return _PLURAL.sub(pick, template) if "|" in template else template


class Markup(str):
    """A value that is already safe HTML and must not be escaped again."""

    __slots__ = ()


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise TypeError(f"locale key {name!r} must be a string, not {type(value).__name__}")
    return flat


def placeholders(template: str) -> frozenset[str]:
    """Names used as `{name}` in a template (what every translation must also use)."""
    return frozenset(
        field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(template) if field
    )


@dataclass(frozen=True)
class Locales:
    """The loaded catalogs, keyed by language."""

    catalogs: Mapping[str, Mapping[str, str]]
    default: Language = "zh"

    @classmethod
    def load(cls, default: Language = "zh") -> Locales:
        package = resources.files("locales")
        catalogs: dict[str, dict[str, str]] = {}
        for lang, stem in CATALOG_FILES.items():
            text = package.joinpath(f"{stem}.toml").read_text(encoding="utf-8")
            catalogs[lang] = _flatten(tomllib.loads(text))
        return cls(catalogs=catalogs, default=default)

    def _template(self, lang: str | None, key: str) -> str:
        catalog = self.catalogs.get(lang if lang in LANGUAGES else self.default)
        if catalog is not None and key in catalog:
            return catalog[key]
        fallback = self.catalogs[self.default]
        if key in fallback:
            return fallback[key]
        raise KeyError(f"no locale key {key!r}")

    def has(self, key: str) -> bool:
        return key in self.catalogs[self.default]

    def t(self, lang: str | None, key: str, /, **params: object) -> str:
        """The message `key` in `lang` as HTML, with every parameter escaped unless it is `Markup`."""
        safe = {k: v if isinstance(v, Markup) else html.escape(str(v), quote=False) for k, v in params.items()}
        return plural(self._template(lang, key), params).format(**safe)

    def plain(self, lang: str | None, key: str, /, **params: object) -> str:
        """The message `key` in `lang` as plain text (no HTML parsing on the receiving side)."""
        return plural(self._template(lang, key), params).format(**params)

    def both(self, key: str) -> dict[Language, str]:
        return {lang: self.plain(lang, key) for lang in LANGUAGES}
