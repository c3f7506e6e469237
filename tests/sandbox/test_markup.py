"""Formatting parsers: HTML, MarkdownV2 and legacy Markdown, with Telegram's error texts."""

from __future__ import annotations

import pytest

from sandbox.errors import ApiError
from sandbox.markup import (
    detect_entities,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    parse_text,
    utf16_len,
)


def test_utf16_length() -> None:
    assert utf16_len("河") == 1 and utf16_len("😀") == 2 and utf16_len("a😀b") == 4


def test_html_offsets_are_utf16() -> None:
    parsed = parse_html("😀<b>河</b>")
    assert parsed.text == "😀河"
    assert parsed.entities == [{"type": "bold", "offset": 2, "length": 1}]


def test_html_is_case_insensitive_and_allows_attributes_in_any_quote() -> None:
    parsed = parse_html("<B>x</B><a href='https://t.me'>y</a><tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>")
    assert [e["type"] for e in parsed.entities] == ["bold", "text_link", "custom_emoji"]


def test_lenient_entities_can_be_enabled() -> None:
    assert parse_html("fish & chips", strict_entities=False).text == "fish & chips"


def test_markdown_v2() -> None:
    parsed = parse_markdown_v2(r"*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://x.org/a\)b) 1\.5")
    assert parsed.text == "bold it u s sp c l 1.5"
    types = [e["type"] for e in parsed.entities]
    assert types == ["bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link"]
    assert parsed.entities[-1]["url"] == "https://x.org/a)b"
    with pytest.raises(ApiError, match=r"Character '\.' is reserved"):
        parse_markdown_v2("1.5")
    with pytest.raises(ApiError, match="Can't find end of Bold entity at byte offset 0"):
        parse_markdown_v2("*open")
    pre = parse_markdown_v2("```python\nx = 1\n```")
    assert pre.text == "x = 1\n" and pre.entities[0]["type"] == "pre"
    quote = parse_markdown_v2(">line one\n>line two\nafter")
    assert quote.text == "line one\nline two\nafter"
    assert quote.entities == [{"type": "blockquote", "offset": 0, "length": 17}]


def test_legacy_markdown() -> None:
    parsed = parse_markdown("*b* _i_ `c` [t](https://x.org)")
    assert parsed.text == "b i c t"
    with pytest.raises(ApiError, match="Can't find end of the entity starting at byte offset 0"):
        parse_markdown("*open")


def test_parse_mode_dispatch() -> None:
    assert parse_text("<b>x</b>", "html").entities[0]["type"] == "bold"
    explicit = [{"type": "bold", "offset": 0, "length": 1}]
    assert parse_text("x", None, explicit).entities == explicit
    with pytest.raises(ApiError, match="unsupported parse_mode"):
        parse_text("x", "rst")


def test_detected_entities() -> None:
    found = detect_entities("/start@bot x /help mail a@b.cn")
    assert [(e["type"], e["offset"], e["length"]) for e in found] == [
        ("bot_command", 0, 10),
        ("bot_command", 13, 5),
        ("email", 24, 6),
    ]
