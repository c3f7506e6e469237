"""Telegram's text formatting rules: HTML / MarkdownV2 / Markdown parsing into plain text + entities.

Telegram validates formatting server-side and rejects the whole message on the first mistake, so a
bot that forgets to escape user input only fails in production. The sandbox re-implements the
parsers (modelled on tdlib's behaviour and error texts) so those bugs fail in tests instead.
Offsets and lengths are in UTF-16 code units, as in the real API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request

JSON = dict[str, Any]

#: HTML tag -> entity type (``span``/``a``/``code``/``blockquote``/``tg-emoji`` need attributes).
_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_HTML_TAGS = set(_SIMPLE_TAGS) | {"a", "span", "blockquote", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z_:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: emoji outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Parsed:
    """Result of parsing formatted text: what the user sees plus the entities describing styling."""

    text: str
    entities: list[JSON] = field(default_factory=list)


class _Builder:
    """Accumulates output text while tracking the UTF-16 offset needed for entity positions."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos16 = 0
        self.entities: list[JSON] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos16 += utf16_len(text)

    def entity(self, etype: str, start: int, **extra: Any) -> None:
        # Telegram silently drops empty entities.
        if self.pos16 > start:
            self.entities.append({"type": etype, "offset": start, "length": self.pos16 - start, **extra})

    def result(self) -> Parsed:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return Parsed("".join(self.parts), ents)


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


def _entity_error(message: str) -> ApiError:
    return bad_request(f"can't parse entities: {message}")


def parse_html(src: str, *, strict_entities: bool = True) -> Parsed:
    """Parse Telegram-flavoured HTML; raise :class:`ApiError` (400) with Telegram's wording on errors.

    ``strict_entities`` also rejects a bare ``&`` that does not start a supported character entity.
    Telegram itself tolerates that, but it nearly always means user text was not escaped, so the
    sandbox is stricter by default.
    """
    out = _Builder()
    # stack of (tag name, start offset16, attributes)
    stack: list[tuple[str, int, dict[str, str]]] = []
    attrs: dict[str, str]
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch == "&":
            m = _ENTITY_RE.match(src, i)
            if m:
                if m.group(1):
                    out.add(_NAMED_ENTITIES[m.group(1)])
                else:
                    code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
                    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                        raise _entity_error(f"Invalid character entity at byte offset {_byte_offset(src, i)}")
                    out.add(chr(code))
                i = m.end()
                continue
            if strict_entities:
                raise _entity_error(
                    f"Unsupported HTML entity at byte offset {_byte_offset(src, i)} "
                    "(sandbox rule: escape a literal '&' as '&amp;')"
                )
            out.add(ch)
            i += 1
            continue
        if ch != "<":
            out.add(ch)
            i += 1
            continue
        begin = i
        close = src.find(">", i)
        if src.startswith("</", i):
            if close < 0:
                raise _entity_error(f"Unclosed end tag at byte offset {_byte_offset(src, begin)}")
            if not stack:
                raise _entity_error(f"Unexpected end tag at byte offset {_byte_offset(src, begin)}")
            name = src[i + 2 : close].strip().lower()
            tag, start, attrs = stack.pop()
            if name and name != tag:
                raise _entity_error(
                    f"Unmatched end tag at byte offset {_byte_offset(src, begin)}, "
                    f'expected "</{tag}>", found "</{name}>"'
                )
            _close_html_tag(out, stack, tag, start, attrs)
            i = close + 1
            continue
        j = i + 1
        while j < n and not src[j].isspace() and src[j] not in ">/":
            j += 1
        name = src[i + 1 : j].lower()
        # Like tdlib: the name is checked as soon as it ends, only then a missing '>' matters.
        if j < n and name not in _HTML_TAGS:
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, begin)}')
        if close < 0:
            raise _entity_error(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
        if name not in _HTML_TAGS:
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, begin)}')
        attrs = {}
        for am in _ATTR_RE.finditer(src[j:close].rstrip("/ ")):
            value = next((g for g in am.groups()[1:] if g is not None), "")
            attrs[am.group(1).lower()] = _decode_entities(value)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _entity_error('Tag "span" must have class "tg-spoiler"')
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise _entity_error("Custom emoji entity must contain a valid emoji-id")
        if name == "blockquote" and any(t == "blockquote" for t, _, _ in stack):
            raise _entity_error("Blockquote entities can't be nested")
        stack.append((name, out.pos16, attrs))
        i = close + 1
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _close_html_tag(
    out: _Builder, stack: list[tuple[str, int, dict[str, str]]], tag: str, start: int, attrs: dict[str, str]
) -> None:
    if tag in _SIMPLE_TAGS:
        etype = _SIMPLE_TAGS[tag]
        if tag == "code" and stack and stack[-1][0] == "pre" and attrs.get("class", "").startswith("language-"):
            # <pre><code class="language-x"> sets the language of the enclosing pre entity.
            stack[-1][2]["language"] = attrs["class"][len("language-") :]
            return
        if tag == "pre" and attrs.get("language"):
            out.entity("pre", start, language=attrs["language"])
            return
        out.entity(etype, start)
    elif tag == "span":
        out.entity("spoiler", start)
    elif tag == "a":
        href = attrs.get("href", "")
        if href:
            out.entity("text_link", start, url=href)
    elif tag == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    elif tag == "tg-emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs["emoji-id"])


def _decode_entities(value: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return _NAMED_ENTITIES[m.group(1)]
        return chr(int(m.group(2)) if m.group(2) else int(m.group(3), 16))

    return _ENTITY_RE.sub(repl, value)


_MDV2_NAMES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
    "`": "code",
    "```": "pre",
    "[": "text_link",
}


def parse_markdown_v2(src: str) -> Parsed:
    """Parse MarkdownV2 the way Telegram does, including its "reserved character" errors."""
    out = _Builder()
    stack: list[tuple[str, int, int]] = []  # (marker, start offset16, byte offset of marker)
    quote_start: int | None = None
    i, n = 0, len(src)
    line_start = True
    while i < n:
        ch = src[i]
        top = stack[-1][0] if stack else None
        if ch == "\\" and i + 1 < n and 0 < ord(src[i + 1]) < 127:
            out.add(src[i + 1])
            i += 2
            line_start = False
            continue
        if top in ("`", "```"):
            # Inside code only the closing backticks are special.
            if top == "```" and src.startswith("```", i):
                _, start, _ = stack.pop()
                out.entity("pre", start)
                i += 3
            elif top == "`" and ch == "`":
                _, start, _ = stack.pop()
                out.entity("code", start)
                i += 1
            else:
                out.add(ch)
                i += 1
            continue
        if line_start and ch == ">":
            if quote_start is None:
                quote_start = out.pos16
            i += 1
            line_start = False
            continue
        if ch == "\n":
            out.add(ch)
            i += 1
            line_start = True
            if quote_start is not None and not src.startswith(">", i):
                out.pos16 -= 1  # the quote ends before the newline
                out.entity("blockquote", quote_start)
                out.pos16 += 1
                quote_start = None
            continue
        line_start = False
        if ch not in _MDV2_RESERVED:
            out.add(ch)
            i += 1
            continue
        marker = _mdv2_marker(src, i)
        if top is not None and top != "[" and marker == top:
            _, start, _ = stack.pop()
            out.entity(_MDV2_NAMES[marker], start)
            i += len(marker)
            continue
        if top == "[" and ch == "]":
            _, start, _ = stack.pop()
            i += 1
            if not src.startswith("(", i):
                raise _entity_error("Character ']' is reserved and must be escaped with the preceding '\\'")
            url, i = _mdv2_url(src, i + 1)
            out.entity("text_link", start, url=url)
            continue
        if marker in ("*", "_", "__", "~", "||", "[", "`", "```"):
            stack.append((marker, out.pos16, _byte_offset(src, i)))
            i += len(marker)
            if marker == "```":
                nl = src.find("\n", i)
                lang = src[i:nl] if nl >= 0 else ""
                if lang and re.fullmatch(r"[\w+#.-]+", lang):
                    i = nl + 1
            continue
        raise _entity_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    if stack:
        marker, _, byte_pos = stack[-1]
        name = _MDV2_NAMES[marker].replace("_", " ").capitalize()
        raise _entity_error(f"Can't find end of {name} entity at byte offset {byte_pos}")
    return out.result()


def _mdv2_marker(src: str, i: int) -> str:
    for marker in ("```", "__", "||"):
        if src.startswith(marker, i):
            return marker
    return src[i]


def _mdv2_url(src: str, i: int) -> tuple[str, int]:
    url: list[str] = []
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src):
            url.append(src[i + 1])
            i += 2
            continue
        if ch == ")":
            return "".join(url), i + 1
        url.append(ch)
        i += 1
    raise _entity_error(f"Can't find end of a url at byte offset {_byte_offset(src, i)}")


def parse_markdown(src: str) -> Parsed:
    """Parse legacy Markdown (``*bold* _italic_ `code` ```pre``` [text](url)``)."""
    out = _Builder()
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.add(src[i + 1])
            i += 2
            continue
        if ch not in "_*`[":
            out.add(ch)
            i += 1
            continue
        begin = i
        if ch == "[":
            end = src.find("]", i + 1)
            if end < 0 or not src.startswith("(", end + 1) or src.find(")", end + 2) < 0:
                raise _entity_error(f"Can't find end of the entity starting at byte offset {_byte_offset(src, begin)}")
            close = src.find(")", end + 2)
            start = out.pos16
            out.add(src[i + 1 : end])
            out.entity("text_link", start, url=src[end + 2 : close])
            i = close + 1
            continue
        marker = "```" if src.startswith("```", i) else ch
        end = src.find(marker, i + len(marker))
        if end < 0:
            raise _entity_error(f"Can't find end of the entity starting at byte offset {_byte_offset(src, begin)}")
        start = out.pos16
        out.add(src[i + len(marker) : end])
        out.entity({"*": "bold", "_": "italic", "`": "code", "```": "pre"}[marker], start)
        i = end + len(marker)
    return out.result()


def parse_text(text: str, parse_mode: str | None, entities: Any = None, *, strict_entities: bool = True) -> Parsed:
    """Apply ``parse_mode`` (or explicit ``entities``) the way sendMessage & co. do."""
    if parse_mode is None or parse_mode == "":
        ents = entities if isinstance(entities, list) else []
        return Parsed(text, [dict(e) for e in ents if isinstance(e, dict)])
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text, strict_entities=strict_entities)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


_AUTO_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")),
    ("url", re.compile(r"https?://[^\s<>]+")),
    ("email", re.compile(r"(?<![\w.@])[\w.+-]+@[\w-]+\.[\w.-]+")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}")),
    ("hashtag", re.compile(r"(?<![\w#])#\w+")),
]


def detect_entities(text: str) -> list[JSON]:
    """Entities Telegram clients/servers attach to plain user text (commands, mentions, URLs, ...)."""
    taken: list[tuple[int, int]] = []
    found: list[JSON] = []
    for etype, pattern in _AUTO_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append({"type": etype, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())})
    return sorted(found, key=lambda e: e["offset"])
