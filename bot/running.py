"""Who holds DATA_DIR: the running bot, or a restore, never both.

A lock file in DATA_DIR locked with the operating system's own lock (`flock` on POSIX, `msvcrt.locking` on
Windows), not the file's mere presence: the OS drops the lock when its process ends, however it ends, so a bot
killed with SIGKILL or a power cut leaves nothing that blocks the next start or a restore. The file keeps the
holder's process id, for the message that names who holds it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO, Self

if sys.platform == "win32":  # pragma: no cover — Windows has no flock; byte-range locks die with the process too
    import msvcrt
else:
    import fcntl

LOCK_FILE = "riverbot.running"


class DataDirBusy(Exception):
    """Another process (a running bot, a restore) holds DATA_DIR; `pid` is its process id when known."""

    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"{path} is held by process {pid or '?'}")
        self.path = path
        self.pid = pid


class DataDirLock:
    """Held for as long as the bot runs (or a restore works); `release()` or the process's end lets go."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path = path
        self._handle: BinaryIO | None = handle

    @classmethod
    def acquire(cls, data_dir: Path) -> Self:
        """Take DATA_DIR at once, or raise `DataDirBusy`: nobody waits for a bot to stop."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_FILE
        # "a+": never truncate the file before holding the lock, or the holder's pid would be lost.
        handle = path.open("a+b")
        try:
            _lock(handle)
        except OSError:
            try:
                handle.seek(0)
                pid = handle.read(32).decode("ascii", "replace").strip()
            except OSError:
                pid = ""
            finally:
                handle.close()
            raise DataDirBusy(path, pid) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()).encode("ascii"))
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        handle.seek(0)
        handle.truncate()
        handle.flush()
        _unlock(handle)
        handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def held(data_dir: Path) -> str | None:
    """The pid (or "" when unknown) of the process holding DATA_DIR, or None when nobody does."""
    if not (data_dir / LOCK_FILE).exists():
        return None
    try:
        DataDirLock.acquire(data_dir).release()
    except DataDirBusy as busy:
        return busy.pid
    return None


if sys.platform == "win32":  # pragma: no cover
    # A byte far past the pid: Windows locks are mandatory, and the pid must stay readable to the refused.
    _LOCKED_BYTE = 1 << 20

    def _lock(handle: BinaryIO) -> None:
        handle.seek(_LOCKED_BYTE)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # raises OSError when another process holds it

    def _unlock(handle: BinaryIO) -> None:
        handle.seek(_LOCKED_BYTE)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:

    def _lock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError (an OSError) when held

    def _unlock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
