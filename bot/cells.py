"""Cells of the CSV files the project writes, safe to open in Excel or WPS.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and a leading tab or carriage
return hides one from a quick look), so a volunteer named `=HYPERLINK(...)` would put a link, or with DDE a
command, into the office's spreadsheet (CSV injection). Every CSV writer goes through `escape_formula`: such a
cell gets a leading apostrophe, which Excel and WPS show as text. `unescape_formula` is its inverse, for the
registry files the office imports back: an apostrophe followed by one of those characters is taken off, so
import -> export -> import keeps every name. (A value that really starts with an apostrophe and then one of
those characters cannot be told apart; no name, code or phone number in the registry does.)
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """`text` as a cell that a spreadsheet shows and never runs."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_formula(text: str) -> str:
    """What `escape_formula` was given; any other text unchanged."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text
