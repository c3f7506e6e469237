"""Both catalogs have every key with the same placeholders, and HTML templates are well formed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bot.commands import COMMANDS
from bot.i18n import Locales, Markup, placeholders

LOCALES = Locales.load()
ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler"}


def test_same_keys_in_every_language() -> None:
    zh, en = LOCALES.catalogs["zh"], LOCALES.catalogs["en"]
    assert sorted(set(zh) - set(en)) == [], "keys missing in en"
    assert sorted(set(en) - set(zh)) == [], "keys missing in zh_CN"


@pytest.mark.parametrize("key", sorted(LOCALES.catalogs["zh"]))
def test_same_placeholders(key: str) -> None:
    assert placeholders(LOCALES.catalogs["zh"][key]) == placeholders(LOCALES.catalogs["en"][key])


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"tag <{tag}> is not Telegram HTML")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_templates_are_telegram_html(lang: str) -> None:
    for key, template in LOCALES.catalogs[lang].items():
        checker = _TagChecker()
        checker.feed(template)
        assert not checker.errors and not checker.stack, (key, checker.errors, checker.stack)
        bare = re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", template)
        assert bare is None, f"{key}: bare & in a template"


def test_every_command_has_a_description_of_valid_length() -> None:
    for command in COMMANDS:
        for lang in ("zh", "en"):
            description = LOCALES.plain(lang, f"commands.{command}")
            assert 3 <= len(description) <= 256


def test_values_are_escaped_but_markup_is_not() -> None:
    text = LOCALES.t("en", "start.greeting", name="<Tom & Jerry>")
    assert "&lt;Tom &amp; Jerry&gt;" in text
    assert LOCALES.t("en", "help.group", link=Markup("<a href='x'>x</a>")).count("<a href='x'>") == 1


def test_unknown_language_falls_back_to_default() -> None:
    assert LOCALES.plain("fr", "language.name") == LOCALES.plain("zh", "language.name")


def test_missing_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        LOCALES.plain("zh", "no.such.key")
