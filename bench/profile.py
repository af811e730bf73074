"""Profile one benchmark configuration with pyinstrument (statistical, low
overhead): ``python -m bench.profile "<configuration label>" [requests]``.

Prints the call tree of the requests, so that what stands between drf-toctou
and the round-trip floor can be seen; ``make bench`` measures, this explains.
The labels are those of docs/BENCHMARKS.md (bench/configs.py); ``--list``
prints them."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("BENCH_QUICK", "1")


def main(argv: list[str]) -> int:
    from pyinstrument import Profiler

    from bench.configs import IN_PROCESS
    from bench.harness import Harness
    from bench.inprocess import InProcess

    configurations = {c.label: c for c in IN_PROCESS}
    if not argv or argv[0] == "--list" or argv[0] not in configurations:
        print("\n".join(configurations))
        return 0 if argv and argv[0] == "--list" else 2
    harness = Harness()
    try:
        config = configurations[argv[0]]
        count = int(argv[1]) if len(argv) > 1 else 5000
        with harness.store(config.store):
            call = InProcess(harness, [config]).caller(config, harness.mint(config))
            statuses = {call().status_code for _ in range(200)}  # warm, and a broken configuration is not profiled
            if statuses != {200}:
                print(f"{config.label}: responses {sorted(statuses)}, not profiled", file=sys.stderr)
                return 1
            profiler = Profiler(interval=0.0001)
            with profiler:
                for _ in range(count):
                    call()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    finally:
        harness.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
