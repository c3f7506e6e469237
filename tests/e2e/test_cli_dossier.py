"""`riverbot dossier` (one river, one file) on the small demo data, read back as a reader's viewer reads it:
pdftotext for what it says, pdftoppm for whether it draws. Its patrols and problems are `riverbot export`'s for
the same reach and range, one for one."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from bot import fonts
from bot.exports import PATROL_COLUMNS, PROBLEM_COLUMNS
from bot.i18n import Locales
from storage.reading import open_reader
from tests.cli import cli_database
from tests.conftest import Cli

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) is not installed",
)

FIRST, LAST = "2025-12-01", "2026-11-30"
LOCALES = Locales.load()


def _demo(cli: Cli, tmp_path: Path) -> str | Path:
    """The small demo data, in the database the commands use (the SQLite file in DATA_DIR, or DATABASE_URL's)."""
    code, _, err = cli("demo-data", "--scale", "small", "--seed", "5", "--years", "2")
    assert code == 0, err
    return cli_database(tmp_path / "data")


def _black_odorous(database: str | Path) -> list[str]:
    with open_reader(database) as reader:
        rows = reader.fetchall("SELECT code FROM reaches WHERE ';' || tags || ';' LIKE '%;black_odorous;%'")
    return sorted(r[0] for r in rows)


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout


def _export(cli: Cli, tmp_path: Path, code: str) -> tuple[list[list[str]], list[list[str]]]:
    """The export's patrol and problem rows of this reach over the range (CSV in a zip)."""
    target = tmp_path / "export.zip"
    result, _, err = cli("export", "--from", FIRST, "--to", LAST, "--format", "csv", "--out", target)
    assert result == 0, err
    with zipfile.ZipFile(target) as archive:
        patrols = list(csv.reader(io.StringIO(archive.read("patrols.csv").decode("utf-8-sig"))))[1:]
        problems = list(csv.reader(io.StringIO(archive.read("problems.csv").decode("utf-8-sig"))))[1:]
    reach_at = PATROL_COLUMNS.index("reach_code")
    problem_reach_at = PROBLEM_COLUMNS.index("reach_code")
    return [p for p in patrols if p[reach_at] == code], [q for q in problems if q[problem_reach_at] == code]


def test_a_black_odorous_reach_s_file_lists_what_the_export_lists(cli: Cli, tmp_path: Path) -> None:
    database = _demo(cli, tmp_path)
    codes = _black_odorous(database)
    assert codes, "the demo data has black-odorous reaches"
    with open_reader(database) as reader:
        # The one with the most patrols in the range: the strictest comparison.
        code = max(
            codes,
            key=lambda c: reader.fetchval(
                "SELECT count(*) FROM patrols p JOIN reaches r ON r.id = p.reach_id WHERE r.code = ?", (c,)
            ),
        )
    out = tmp_path / "file.pdf"
    result, said, err = cli("dossier", "--reach", code, "--from", FIRST, "--to", LAST, "--out", out, "--lang", "zh")
    assert result == 0, err
    assert str(out) in said and out.read_bytes().startswith(b"%PDF")

    patrols, problems = _export(cli, tmp_path, code)
    assert patrols and problems, "the reach has patrols and problems in the range"
    text = _text(out)
    assert "一河一档" in text and code in text
    # Patrols come before the problems' section; problem numbers and patrol numbers may coincide.
    heading = LOCALES.plain("zh", "dossier.section_problems", count=len(problems))
    assert heading in text
    patrol_part, problem_part = text.split(heading, 1)
    patrol_part = patrol_part.split(
        LOCALES.plain(
            "zh",
            "dossier.section_patrols",
            count=len(patrols),
            valid=sum(1 for p in patrols if p[PATROL_COLUMNS.index("valid")] == "yes"),
        )
    )[1]
    listed_patrols = set(re.findall(r"#(\d+)", patrol_part))
    assert listed_patrols == {p[0] for p in patrols}
    for p in patrols:
        assert p[PATROL_COLUMNS.index("started")] in patrol_part  # the same local time, to the minute
    listed_problems = set(re.findall(r"#(\d+)", problem_part))
    assert listed_problems == {q[0] for q in problems}

    # Every page draws: pdftoppm renders each, and none is blank.
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, check=True, text=True).stdout
    found = re.search(r"Pages:\s+(\d+)", info)
    assert found, info
    pages = int(found[1])
    assert pages >= 2
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out), str(tmp_path / "page")], check=True)
    rendered = sorted(tmp_path.glob("page*.png"))
    assert len(rendered) == pages
    for png in rendered:
        with Image.open(png) as picture:
            assert sum(picture.convert("L").histogram()[:100]) > 0, f"{png.name} is blank"


def test_a_tag_gives_one_file_per_reach_in_a_zip_with_an_index(cli: Cli, tmp_path: Path) -> None:
    database = _demo(cli, tmp_path)
    codes = _black_odorous(database)
    out = tmp_path / "black.zip"
    result, said, err = cli("dossier", "--tag", "black_odorous", "--from", FIRST, "--to", LAST, "--out", out)
    assert result == 0, err
    assert f"{len(codes)} reaches" in said
    for number, code in enumerate(codes, start=1):
        assert f"Drawing {code}: {number}/{len(codes)}" in err  # progress, one line a reach off a terminal
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert names[0] == "index.txt"
        assert sorted(names[1:]) == sorted(f"dossier-{c}-{FIRST}-{LAST}.pdf" for c in codes)
        index = archive.read("index.txt").decode("utf-8-sig")
        for code in codes:
            pdf = tmp_path / f"{code}.pdf"
            pdf.write_bytes(archive.read(f"dossier-{code}-{FIRST}-{LAST}.pdf"))
            assert code in _text(pdf) and code in index


def test_bad_input_is_one_clear_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    _demo(cli, tmp_path)
    out = tmp_path / "x.pdf"
    cases = [
        (("--reach", "NO-SUCH", "--out", out), 'There is no reach with the code "NO-SUCH".'),
        (("--tag", "no_such_tag", "--out", tmp_path / "x.zip"), 'No reach carries the tag "no_such_tag".'),
        (("--reach", "CPH-01", "--from", "2026-13-01", "--out", out), "2026-13-01"),
        (("--reach", "CPH-01", "--from", "2026-05-01", "--to", "2026-04-01", "--out", out), "2026-04-01"),
        (("--reach", "CPH-01", "--out", tmp_path / "x.zip"), "use a .pdf file"),
        (("--reach", "CPH-01", "--out", tmp_path / "missing" / "x.pdf"), "Cannot write"),
        (("--reach", "CPH-01", "--out", tmp_path / "data" / "x.pdf"), "DATA_DIR"),
        (("--reach", "CPH-01", "--out", tmp_path / "kept.pdf"), "--force"),
    ]
    (tmp_path / "kept.pdf").write_bytes(b"the office's own file")
    for args, message in cases:
        code, said, err = cli("dossier", *args)
        assert code == 2, (args, err)
        assert said == "" and message in err and "Traceback" not in err and err.strip().count("\n") == 0, err
    assert not out.exists() and not (tmp_path / "x.zip").exists() and not (tmp_path / "data" / "x.pdf").exists()
    assert (tmp_path / "kept.pdf").read_bytes() == b"the office's own file"
    code, _, err = cli("dossier", "--reach", "NO-SUCH", "--out", out, LC_ALL="zh_CN.UTF-8")
    assert code == 2 and "没有编码为“NO-SUCH”的河段" in err


def test_without_a_chinese_font_the_refusal_says_how_to_get_one(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _demo(cli, tmp_path)
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    out = tmp_path / "x.pdf"
    code, said, err = cli("dossier", "--reach", "CPH-01", "--out", out)
    assert code == 2 and said == "" and "Traceback" not in err, err
    assert "fonts-wqy-microhei" in err and not out.exists()
