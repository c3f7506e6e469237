"""The README reads as written: its code blocks close where they should, and its commands run as written.

Why: a closing fence with text after it is no fence, and everything below became one code block (issue 14);
and `riverbot` lives in .venv/bin, so a command block that calls it bare fails for whoever copies it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [path for path in (ROOT / "README.md", ROOT / "README.zh-CN.md") if path.exists()]
FENCE = re.compile(r"^(\s*)```")


def _blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(line of the opening fence, its info string, the lines inside) for each fenced block."""
    blocks: list[tuple[int, str, list[str]]] = []
    opened: tuple[int, str] | None = None
    inside: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not FENCE.match(line):
            inside.append(line)
            continue
        if opened is None:
            opened, inside = (number, line.strip()[3:].strip()), []
        else:
            assert line.strip() == "```", f"line {number}: a closing fence has text after it: {line!r}"
            blocks.append((opened[0], opened[1], inside))
            opened, inside = None, []
    assert opened is None, f"line {opened[0]}: a code block is never closed"
    return blocks


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.name)
def test_every_code_block_closes_on_a_line_of_its_own(readme: Path) -> None:
    blocks = _blocks(readme.read_text(encoding="utf-8"))
    assert blocks
    for line, _, inside in blocks:
        assert not any(text.startswith("## ") for text in inside), f"line {line}: swallows a heading"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.name)
def test_shell_examples_call_riverbot_where_make_run_installs_it(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    for line, info, inside in _blocks(text):
        if info not in {"sh", "bash", "shell", "console"}:
            continue
        activated = False  # after `source .venv/bin/activate` in the same block, plain `riverbot` is right
        for command in inside:
            words = command.split("#", 1)[0].split()
            activated = activated or (words[:1] in (["source"], ["."]) and "activate" in " ".join(words))
            if activated:
                continue
            assert "riverbot" not in words[:1] and not any(
                word == "riverbot" and i and "=" in words[i - 1] for i, word in enumerate(words)
            ), f"{readme.name}, block at line {line}: {command.strip()!r} calls riverbot bare (.venv/bin/riverbot)"
