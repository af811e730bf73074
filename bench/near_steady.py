"""The near cache's cost when checks come back to back, as in a worker
serving one authenticated request after another: runs of ``RUN`` requests of
plain simplejwt, of drf-toctou with no round trip (our code alone) and of
drf-toctou with the near cache, and ``RUN`` bare MGETs (the floor), in
shuffled order, every round; each added time is taken within its round.

The in-process rows of bench/inprocess.py interleave configurations by runs
of 6 requests, with ~10 ms of other configurations' work in between: there
the first check of each run finds the cache not proven fresh (no check for
longer than max_staleness) and the thread PINGs between runs, which hands
the GIL back and forth with the requests. Both patterns are reported; they
measure different things."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.configs import BASE_ME, IN_PROCESS, NEAR_ME, NO_TRIP_ME
from bench.harness import Harness
from bench.inprocess import KEYS, InProcess
from bench.stats import Spread, at_most

RUN = 200
TARGET = 0.2  # the goal: authentication's added time at most 0.2× the floor


def timed_run(call: Callable[[], Any], count: int = RUN, warm: int = 20) -> tuple[list[float], int]:
    """``warm`` untimed calls (the near cache subscribed, the token's answer
    cached), then ``count`` timed ones with the garbage collector off: their
    durations and how many answered anything but 2xx."""
    for _ in range(warm):
        call()
    gc.disable()
    times, bad = [], 0
    try:
        for _ in range(count):
            started = time.perf_counter()
            response = call()
            times.append(time.perf_counter() - started)
            bad += not 200 <= response.status_code < 300
    finally:
        gc.enable()
    return times, bad


def measure(harness: Harness, rounds: int) -> tuple[list[str], list[str]]:
    import redis

    configs = {c.label: c for c in IN_PROCESS}
    runner = InProcess(harness, [configs[BASE_ME], configs[NO_TRIP_ME], configs[NEAR_ME]])
    client = redis.Redis.from_url(harness.urls["redis_tcp"])
    shuffle = random.Random(5)
    added: dict[str, list[float]] = {NEAR_ME: [], NO_TRIP_ME: []}
    ratios: list[float] = []
    floors: list[float] = []
    failed: list[str] = []
    for _ in range(rounds):
        means: dict[str, float] = {}
        for label in shuffle.sample([BASE_ME, NO_TRIP_ME, NEAR_ME, "floor"], 4):
            if label == "floor":
                client.mget(*KEYS)
                times = []
                for _ in range(RUN):
                    started = time.perf_counter()
                    client.mget(*KEYS)
                    times.append(time.perf_counter() - started)
                means[label] = statistics.mean(times)
                continue
            config = configs[label]
            with harness.store(config.store):
                times, bad = timed_run(runner.caller(config, harness.mint(config)))
            if bad:
                failed.append(f"near cache steady state: {label}: {bad} of {RUN} responses not 2xx")
            means[label] = statistics.mean(times)
        for label in added:
            added[label].append(means[label] - means[BASE_ME])
        ratios.append((means[NEAR_ME] - means[BASE_ME]) / means["floor"])
        floors.append(means["floor"])
    client.close()
    near, alone, floor, ratio = (Spread.of(v) for v in (added[NEAR_ME], added[NO_TRIP_ME], floors, ratios))
    met = "met" if at_most(ratio, TARGET) else "**not met**"
    lines = [
        f"| back to back ({rounds} rounds of {RUN}-request runs, as a worker serving one authenticated request "
        f"after another): added time of authentication (− JWTAuthentication) | {near.fmt(1e6, 0, ' µs')} = "
        f"{ratio.fmt(unit='× the floor')}: target ≤ {TARGET}× floor {met} (q3) | in the same runs, drf-toctou "
        f"with no round trip (our code alone) added {alone.fmt(1e6, 0, ' µs')}; the floor (bare MGET) "
        f"{floor.fmt(1e6, 0, ' µs')} |",
    ]
    return lines, failed
