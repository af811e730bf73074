"""Profile one benchmark configuration with pyinstrument (statistical, low
overhead): ``python -m bench.profile "<configuration label>" [requests]``.

Prints the call tree of the requests, so that what stands between drf-toctou
and the round-trip floor can be seen; ``make bench`` measures, this explains.
The labels are those of docs/BENCHMARKS.md; ``--list`` prints them."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext

os.environ.setdefault("BENCH_QUICK", "1")


def main(argv: list[str]) -> int:
    from pyinstrument import Profiler

    from bench.run import Bench

    bench = Bench()
    try:
        configurations = {c[0]: c for c in bench.configurations()}
        if not argv or argv[0] == "--list" or argv[0] not in configurations:
            print("\n".join(configurations))
            return 0 if argv and argv[0] == "--list" else 2
        label, method, path, header, store = configurations[argv[0]]
        count = int(argv[1]) if len(argv) > 1 else 5000
        with bench.store(store) if store else nullcontext():
            bench.block(method, path, header, 200)  # warm
            profiler = Profiler(interval=0.0001)
            with profiler:
                bench.block(method, path, header, count)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
