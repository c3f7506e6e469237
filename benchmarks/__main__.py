"""`python -m benchmarks` (or `make bench`): run every benchmark and print its figures."""

from __future__ import annotations

import asyncio
import sys

from benchmarks import help_roundtrip


def main() -> int:
    ok = asyncio.run(help_roundtrip.main(sys.argv[1:]))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
