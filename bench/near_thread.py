"""Why the near cache's checks send the PINGs of a busy process, and not a
thread: ``python -m bench.near_thread [rounds]``.

The same view (GET /me with drf-toctou's authentication), back to back in runs
of 400 requests, interleaved round by round: plain simplejwt, drf-toctou with
no round trip (our code alone), the strict RedisStore, the near cache as it
is, and the near cache with its first design put back — the checks never
PING, a thread reads the tracking socket and PINGs every max_staleness / 3
(1.7 ms). Prints each one's median time per request over the rounds; README
"Near cache (opt-in)" and near_pinger quote it."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time

os.environ.setdefault("BENCH_QUICK", "1")

RUN = 400


def main(rounds: int) -> None:
    from bench.configs import BASE_ME, IN_PROCESS, NEAR_ME, NO_TRIP_ME, REDIS_ME
    from bench.harness import Harness
    from bench.inprocess import InProcess
    from bench.near_steady import timed_run
    from drf_toctou.stores import get_store
    from drf_toctou.stores.near_pinger import Pinger

    harness = Harness()
    configs = {c.label: c for c in IN_PROCESS}
    runner = InProcess(harness, [configs[BASE_ME], configs[NO_TRIP_ME], configs[REDIS_ME], configs[NEAR_ME]])
    thread_turn = Pinger.turn

    def first_design(pinger, cache):
        """The thread of the first design: read, PING, every max_staleness / 3."""
        tracking = cache.tracking
        if tracking is None:
            return thread_turn(pinger, cache)
        tracking.interval = float("inf")  # the checks never PING
        with cache._lock:
            if tracking.drain(cache._invalidated, budget=1 << 22):
                tracking.ping(time.monotonic())
        return cache.max_staleness / 3

    variants = {"simplejwt JWTAuthentication": (BASE_ME, None), "drf-toctou, no round trip": (NO_TRIP_ME, None),
                "drf-toctou RedisStore, strict": (REDIS_ME, None),
                "near cache (checks PING)": (NEAR_ME, thread_turn),
                "near cache, first design (a thread PINGs every 1.7 ms)": (NEAR_ME, first_design)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name in random.sample(list(variants), len(variants)):
                label, turn = variants[name]
                config = configs[label]
                if turn is not None:
                    Pinger.turn = turn
                with harness.store(config.store):
                    taken, bad = timed_run(runner.caller(config, harness.mint(config)), RUN, warm=50)
                    if bad:
                        raise SystemExit(f"{name}: {bad} of {RUN} responses not 2xx: a failed measurement")
                    if turn is not None:
                        get_store().close()  # the next run of a near cache starts with its own thread
                Pinger.turn = thread_turn
                times[name].append(statistics.median(taken))
    finally:
        Pinger.turn = thread_turn
        harness.stop()
    for name, values in times.items():
        print(f"{statistics.median(values) * 1e6:7.0f} µs  {name}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
