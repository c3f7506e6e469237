"""Files the command line writes for the office (exports, registry files, charts), kept away from the database.

`riverbot export --out $DATA_DIR/riverbot.sqlite3` once truncated the database it was reading from. So every
command that writes a file where the operator points it checks the path first: never inside DATA_DIR or
BACKUP_DIR, never over an existing file unless `--force` says so; and it writes a temporary file beside the
target and renames it, so a failure halfway (a full disk, an error) leaves the old file as it was.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from bot.config import ConfigError, Settings

T = TypeVar("T")


def check_output(target: Path, settings: Settings, *, force: bool, files: Sequence[str] = ()) -> None:
    """Raise ConfigError (one localized line) if writing `target` could hurt: inside DATA_DIR or BACKUP_DIR, or
    replacing a file without `force`. With `files`, `target` is a folder that receives those files."""
    resolved = target.resolve()
    for folder in (settings.data_dir, settings.backups_path):
        root = folder.resolve()
        if resolved == root or root in resolved.parents:
            raise ConfigError("cli.output.inside_data_dir", path=str(target), folder=str(folder))
    replaced = [target / name for name in files] if files else [target]
    existing = next((path for path in replaced if path.exists() or path.is_symlink()), None)
    if existing is not None and not force:
        raise ConfigError("cli.output.exists", path=str(existing))


def write_replacing(target: Path, write: Callable[[Path], T]) -> T:
    """Call `write` with a temporary path beside `target` (same suffix, so the format it implies holds), then
    put the result in place with a rename; on any failure remove the temporary and leave `target` alone. A
    folder written this way has its files moved into `target` one by one."""
    temporary = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        result = write(temporary)
        if temporary.is_dir():
            target.mkdir(exist_ok=True)
            for item in temporary.iterdir():
                item.replace(target / item.name)
            temporary.rmdir()
        else:
            temporary.replace(target)
    except BaseException:
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise
    return result
