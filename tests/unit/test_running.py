"""The hold on DATA_DIR: one holder at a time, and a holder that died holds nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.running import DataDirBusy, DataDirLock, held


def test_one_holder_at_a_time_and_the_refused_learn_who(tmp_path: Path) -> None:
    assert held(tmp_path) is None
    with DataDirLock.acquire(tmp_path):
        assert held(tmp_path) == str(os.getpid())
        with pytest.raises(DataDirBusy) as busy:
            DataDirLock.acquire(tmp_path)
        assert busy.value.pid == str(os.getpid())
    assert held(tmp_path) is None
    DataDirLock.acquire(tmp_path).release()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_a_holder_killed_outright_leaves_nothing_that_blocks(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, pathlib; from bot.running import DataDirLock;"
        f" lock = DataDirLock.acquire(pathlib.Path({str(tmp_path)!r})); print('held', flush=True); sys.stdin.read()",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
    assert held(tmp_path) == str(holder.pid)
    holder.kill()
    await holder.wait()
    assert (tmp_path / "riverbot.running").exists()  # the file stays; the lock died with the process
    assert held(tmp_path) is None
