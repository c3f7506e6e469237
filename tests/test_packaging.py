"""The wheel carries what the installed commands read: the sample registry (`riverbot demo-data`), the catalogs,
the migrations; and the stand-in's aiohttp is the `sandbox` extra.

Built once from a copy of the checkout (so the build leaves nothing in it); installing it is left to the manual
check, being far slower.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "data", ".*_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "riverbot"
    shutil.copytree(ROOT, source, ignore=SKIPPED)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (path,) = (work / "dist").glob("riverbot-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_the_sample_registry_catalogs_and_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    sample = {name for name in (ROOT / "examples" / "registry").iterdir() if name.is_file()}
    assert {f"examples/registry/{p.name}" for p in sample} <= names
    assert {f"locales/{p.name}" for p in (ROOT / "locales").glob("*.toml")} <= names
    assert {f"storage/migrations/{p.name}" for p in (ROOT / "storage" / "migrations").glob("*.sql")} <= names
    postgresql = {
        f"storage/migrations/postgresql/{p.name}" for p in (ROOT / "storage/migrations/postgresql").glob("*.sql")
    }
    assert postgresql and postgresql <= names
    assert {"bot/cli.py", "sandbox/__main__.py", "examples/__init__.py"} <= names
    assert not any(name.startswith("tests/") for name in names)


def test_aiohttp_comes_with_the_sandbox_extra_only(wheel: zipfile.ZipFile) -> None:
    (metadata,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    aiohttp = [r for r in requires if r.startswith("aiohttp")]
    assert aiohttp and all('extra == "sandbox"' in r for r in aiohttp), requires


def test_without_aiohttp_python_m_sandbox_names_the_extra() -> None:
    blocked = "import runpy, sys; sys.modules['aiohttp'] = None; runpy.run_module('sandbox', run_name='__main__')"
    ran = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, check=False, cwd=ROOT)
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "python -m sandbox needs aiohttp, which the sandbox extra brings: pip install 'riverbot[sandbox]'"
    ]


def test_the_wheel_holds_every_module_of_the_source(wheel: zipfile.ZipFile) -> None:
    """An installed riverbot (the Docker image, `pip install .`) imports what the checkout does: a subpackage
    missing from pyproject's list (handlers/office was) breaks `riverbot run` with an ImportError."""
    names = set(wheel.namelist())
    sources = {
        path.relative_to(ROOT).as_posix()
        for top in ("bot", "handlers", "storage", "locales", "sandbox", "examples")
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources - names == set()
