"""`make bench`: drf-toctou against simplejwt, its blacklist approach and knox,
measured side by side in one run; writes docs/BENCHMARKS.md.

1. In process (bench/inprocess.py): DRF's views called directly, every
   configuration of bench/configs.py interleaved request by request.
2. The floor: one bare redis-py MGET of two keys on the same Redis (TCP and
   unix socket), measured in the same rounds.
3. Round trips per check, counted; check cost with 0 / 100k / 1M revocations;
   Redis memory per revoked token; the DatabaseStore purge of 1M rows
   (bench/scale.py).
4. Sessions (bench/sessions.py): login, refresh and the sessions/ listing with
   10 and 1,000 sessions per user, their round trips, Redis memory per session.
5. The near cache (bench/near.py, near_steady.py, near_servers.py): its cost
   back to back, hit rate under a mix, by the pace of checks and under
   gunicorn, memory per cached key, an invalidation storm of 100,000
   revocations.
6. End to end (bench/e2e.py): gunicorn (sync workers) on loopback under wrk.

Ratios are per round, printed with their interquartile range (bench/report.py).
Exits 1 when a measurement failed (a configuration answered anything but 2xx),
after writing the report that lists it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.harness import ROOT, Harness

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS, CYCLES = (5, 8) if QUICK else (12, 20)
E2E_ROUNDS, E2E_SECONDS = (5, 1) if QUICK else (8, 3)
BIG = 20_000 if QUICK else 1_000_000
MID = 2_000 if QUICK else 100_000
SESSION_ROUNDS = 3 if QUICK else 10
NEAR_CHECKS = 10_000 if QUICK else 100_000
NEAR_STORM = 100_000  # revocations in the invalidation storm (the figure, also in a short run)


def main() -> int:
    from bench import near as near_bench
    from bench import scale
    from bench import sessions as session_bench
    from bench.configs import END_TO_END, IN_PROCESS
    from bench.e2e import end_to_end
    from bench.inprocess import InProcess
    from bench.report import report

    harness = Harness()
    try:
        print(f"in-process: {ROUNDS} rounds of {CYCLES}-cycle blocks...", flush=True)
        in_process = InProcess(harness, IN_PROCESS)
        samples = in_process.run(ROUNDS, CYCLES, progress=lambda s: print(s, flush=True))
        trips = scale.round_trips(harness) + [scale.dynamodb_round_trips(harness)]
        print("Redis at scale...", flush=True)
        redis_rows, per_token = scale.redis_scale(harness, MID, BIG)
        print("DatabaseStore at scale and purge...", flush=True)
        db_rows, purge_seconds, deletes = scale.database_scale(MID, BIG)
        print(f"sessions: {SESSION_ROUNDS} rounds...", flush=True)
        sessions = session_bench.measure(harness, SESSION_ROUNDS, progress=lambda s: print(s, flush=True))
        print("near cache: hit rate, memory, invalidation storm...", flush=True)
        near = near_bench.measure(harness, NEAR_CHECKS, NEAR_STORM, E2E_SECONDS, ROUNDS)
        print(f"end to end: {E2E_ROUNDS} rounds of {E2E_SECONDS} s wrk runs...", flush=True)
        e2e = end_to_end(harness, E2E_ROUNDS, E2E_SECONDS, END_TO_END, progress=lambda s: print(s, flush=True))
        text = report(samples=samples, bases={c.label: c.base for c in IN_PROCESS},
                      stores=in_process.stores(), rounds=ROUNDS, block=CYCLES,
                      quick=QUICK, trips=trips, redis_rows=redis_rows, per_token=per_token, db_rows=db_rows,
                      purge_seconds=purge_seconds, deletes=deletes, big=BIG,
                      sessions=session_bench.section(sessions, SESSION_ROUNDS),
                      near=near_bench.section(near), e2e=e2e,
                      e2e_bases={c.label: c.base for c in END_TO_END}, e2e_rounds=E2E_ROUNDS,
                      e2e_seconds=E2E_SECONDS)
    finally:
        harness.stop()
    target = ROOT / "docs" / "BENCHMARKS.md"
    target.write_text(text + f"\nCommand: `make bench` (= `{Path(sys.executable).name} -m bench.run`).\n")
    print(text)
    failed = [*samples.failed, *sessions.failed, *near.failed, *e2e.failed]
    if failed:
        print(f"\nFAILED measurements ({len(failed)}): " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
