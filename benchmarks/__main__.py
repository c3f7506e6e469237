"""`python -m benchmarks` (or `make bench`): run every benchmark and print its figures.

`python -m benchmarks NAME [options]` runs one of them (`python -m benchmarks live --help` for its options).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from benchmarks import (
    city,
    delivery,
    help_roundtrip,
    live_locations,
    maps,
    nearest,
    photo_ingest,
    retention,
    scale,
    tiles,
)

BENCHMARKS: dict[str, Callable[[Sequence[str]], Coroutine[Any, Any, bool]]] = {
    "help": help_roundtrip.main,  # /help round trips (issue 2)
    "live": live_locations.main,  # live-location edits stored as patrol tracks (issue 4)
    "city": city.main,  # city-scale demo data: generation, weekly summaries, stats, peak memory (issue 6)
    "photo": photo_ingest.main,  # 12-megapixel photo ingest: draft-mode decode against a full decode (issue 5)
    "delivery": delivery.main,  # weekly summaries to 500 groups under Telegram's flood limits (issue 6)
    "retention": retention.main,  # pruning 200,000 track points while the bot writes (issue 12)
    "nearest": nearest.main,  # the nearest-reach search at city scale: R*Tree against the scan (issue 15)
    "tiles": tiles.main,  # a basemap from tiles, cold and from the disk cache (issue 15)
    "maps": maps.main,  # a patrol's and an area's map against the weekly chart (issue 15)
    "scale": scale.main,  # province scale on PostgreSQL against city scale on SQLite, and webhook workers (issue 17)
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in BENCHMARKS:
        chosen = {args[0]: BENCHMARKS[args[0]]}
        options = args[1:]
    elif not args:
        chosen, options = BENCHMARKS, []
    else:
        print(f"usage: python -m benchmarks [{'|'.join(BENCHMARKS)} [options]]", file=sys.stderr)
        return 2
    ok = True
    for run in chosen.values():
        # Each in its own event loop, one after the other: they must not share the machine.
        passed = asyncio.run(run(options))
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
