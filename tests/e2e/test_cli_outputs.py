"""Commands that write a file never destroy the database or a file nobody asked to replace (finding 8 of
issue 13): `export`, `registry export` and `summary --chart` refuse a path inside DATA_DIR and an existing file
without --force, and write through a temporary file; a 0-byte or foreign file where the database belongs is
refused, not initialised."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

import bot.exports
from sandbox import BotApiServer
from storage import Store
from tests.cli import cli_database
from tests.conftest import Cli
from tests.e2e import test_cli_stats
from tests.e2e.test_cli import _run
from tests.support import dump_tables

filled = test_cli_stats.filled

MARCH = ("export", "--from", "2025-03-01", "--to", "2025-03-31")


def _digest(path: Path) -> object:
    """The database in DATA_DIR as it is now: the bytes of its SQLite file, or every row on PostgreSQL (where
    the commands aimed at the file's place find nothing there, and must still leave the database alone)."""
    database = cli_database(path.parent)
    if isinstance(database, Path):
        return hashlib.sha256(database.read_bytes()).hexdigest()

    async def rows() -> object:
        async with await Store.open(database) as store:
            return await dump_tables(store)

    return asyncio.run(rows())


def _one_line(err: str) -> bool:
    return "Traceback" not in err and err.strip().count("\n") == 0


@pytest.mark.parametrize("fmt", ["geojson", "xlsx", "csv"])
def test_export_out_aimed_at_the_database_is_refused_and_the_database_survives(
    cli: Cli, filled: Path, fmt: str
) -> None:
    before = _digest(filled)
    code, out, err = cli(*MARCH, "--format", fmt, "--out", filled)
    assert code != 0 and out == "" and _one_line(err), err
    assert "DATA_DIR" in err and str(filled.parent) in err
    assert _digest(filled) == before
    code, out, err = cli(*MARCH, "--format", fmt, "--out", filled, "--force")
    assert code != 0 and _digest(filled) == before
    code, _, err = cli(*MARCH, "--format", fmt, "--out", filled.parent / "march.xlsx")
    assert code != 0 and not (filled.parent / "march.xlsx").exists()
    code, out, err = cli("migrate")
    assert code == 0 and "up to date" in out, err


def test_export_refuses_an_existing_file_without_force(cli: Cli, filled: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"the office's own spreadsheet")
    code, out, err = cli(*MARCH, "--format", "xlsx", "--out", target)
    assert code != 0 and out == "" and _one_line(err) and "--force" in err, err
    assert target.read_bytes() == b"the office's own spreadsheet"
    code, out, err = cli(*MARCH, "--format", "xlsx", "--out", target, "--force")
    assert code == 0, err
    assert target.read_bytes().startswith(b"PK")
    # A folder of CSVs: refused only if one of the three files would be replaced.
    folder = tmp_path / "csvs"
    folder.mkdir()
    assert cli(*MARCH, "--format", "csv", "--out", folder)[0] == 0
    assert sorted(p.name for p in folder.iterdir()) == ["patrol_rate.csv", "patrols.csv", "problems.csv"]
    code, _, err = cli(*MARCH, "--format", "csv", "--out", folder)
    assert code != 0 and "--force" in err
    assert cli(*MARCH, "--format", "csv", "--out", folder, "--force")[0] == 0


def test_a_failed_export_leaves_the_old_file_and_no_temporary(
    cli: Cli, filled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.zip"
    target.write_text("old")

    def broken(job: object) -> tuple[int, int, int]:
        (job.out).write_text('{"type": "FeatureCo')  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bot.exports, "_write_geojson", broken)
    code, _, err = cli(*MARCH, "--format", "geojson", "--out", target, "--force")
    assert code == 1 and "No space left" in err
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_registry_export_and_summary_chart_refuse_data_dir_and_existing_files(
    cli: Cli, filled: Path, tmp_path: Path
) -> None:
    before = _digest(filled)
    code, _, err = cli("registry", "export", filled.parent)
    assert code != 0 and _one_line(err) and "DATA_DIR" in err, err
    assert sorted(p.name for p in filled.parent.iterdir() if p.suffix == ".csv") == []
    assert cli("registry", "export", tmp_path / "reg")[0] == 0
    code, _, err = cli("registry", "export", tmp_path / "reg")
    assert code != 0 and "--force" in err
    assert cli("registry", "export", tmp_path / "reg", "--force")[0] == 0

    code, _, err = cli("summary", "--area", "QT", "--week", "2025-W11", "--chart", filled)
    assert code != 0 and _one_line(err) and "DATA_DIR" in err, err
    chart = tmp_path / "chart.jpg"
    chart.write_bytes(b"keep me")
    code, _, err = cli("summary", "--area", "QT", "--week", "2025-W11", "--chart", chart)
    assert code != 0 and "--force" in err and chart.read_bytes() == b"keep me"
    code, _, err = cli("summary", "--area", "QT", "--week", "2025-W11", "--chart", chart, "--force")
    assert code == 0, err
    assert chart.read_bytes().startswith(b"\xff\xd8")
    assert _digest(filled) == before


@pytest.mark.sqlite_only("the SQLite file's place; a PostgreSQL database of another application: tests/e2e/test_cli.py")
@pytest.mark.parametrize("content", [b"", b"riverbot export\n"], ids=["empty", "foreign"])
@pytest.mark.parametrize("command", ["migrate", "failures"])
def test_a_database_file_that_is_empty_or_foreign_is_refused_not_initialised(
    cli: Cli, tmp_path: Path, content: bytes, command: str
) -> None:
    database = tmp_path / "data" / "riverbot.sqlite3"
    database.parent.mkdir()
    database.write_bytes(content)
    code, out, err = cli(command)
    assert code != 0 and out == "" and _one_line(err), err
    assert "riverbot restore" in err and str(database) in err
    assert database.read_bytes() == content


def test_store_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "riverbot.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(sqlite3.DatabaseError):
        asyncio.run(Store.open(path))
    assert path.read_bytes() == b""


@pytest.mark.sqlite_only("an empty SQLite file; a PostgreSQL server that cannot be used: tests/e2e/test_cli.py")
async def test_run_on_an_empty_database_file_stops_with_one_line(tmp_path: Path, server: BotApiServer) -> None:
    token = server.add_bot(username="riverbot_empty_db_bot")
    database = tmp_path / "data" / "riverbot.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"")
    code, _, err = await _run(tmp_path, "run", BOT_TOKEN=token, TELEGRAM_API_URL=server.url, DEFAULT_LANGUAGE="en")
    assert code == 2 and "Traceback" not in err, err
    assert "is empty (0 bytes)" in err and "riverbot restore" in err
    assert database.read_bytes() == b""
