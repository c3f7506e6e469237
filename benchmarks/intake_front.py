"""The front of the workers' intake benchmark (benchmarks/scale.py), and the wrapper that caps each worker.

`python -m benchmarks.intake_front WORKERS [CGROUP_PREFIX]` is `riverbot run --webhook --workers WORKERS` from
the environment's settings, with two differences the measurement needs:

* with one worker too the front only keeps the updates and a worker process handles them (`riverbot run
  --workers 1` is one process doing everything), so that 1 and 4 workers are the same topology;
* each worker starts as `python -m benchmarks.intake_front --capped CGROUP_PREFIX -- riverbot worker --index I`,
  which moves itself into the CPU cgroup `CGROUP_PREFIX-I` (made by benchmarks/scale.py) and then becomes the
  worker: every worker gets the same CPU budget from its first instruction, and a restarted one stays in it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _capped(argv: Sequence[str]) -> None:
    """`--capped PREFIX -- COMMAND… --index I`: join cgroup PREFIX-I (when PREFIX is not empty), exec COMMAND."""
    prefix, command = argv[0], list(argv[2:])
    if prefix:
        index = command[command.index("--index") + 1]
        (Path(f"{prefix}-{index}") / "cgroup.procs").write_text(str(os.getpid()))
    os.execv(command[0], command)


def _front(workers: int, prefix: str) -> int:
    from bot.app import build_application, serve, worker_command  # noqa: PLC0415
    from bot.cli import configure_logging  # noqa: PLC0415
    from bot.config import ensure_data_dir, load_settings  # noqa: PLC0415

    settings = load_settings()
    ensure_data_dir(settings)
    configure_logging(settings.log_level)
    app = build_application(settings, with_jobs=False)
    command = [sys.executable, "-m", "benchmarks.intake_front", "--capped", prefix, "--", *worker_command()]
    asyncio.run(serve(app, workers=workers, front=True, command=command))
    return 0


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "--capped":
        _capped(argv[1:])
        return 1  # not reached: exec
    return _front(int(argv[0]), argv[1] if len(argv) > 1 else "")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
