"""The near cache's cost when checks come back to back, as in a worker
serving one authenticated request after another: runs of ``RUN`` requests of
plain simplejwt, of drf-toctou with no round trip (our code alone) and of
drf-toctou with the near cache (max_staleness 5 ms, the default, and 20 ms),
and ``RUN`` bare MGETs (the floor), in shuffled order, every round; each
added time is taken within its round.

The in-process rows of bench/inprocess.py interleave configurations by runs
of 6 requests, with ~10 ms of other configurations' work in between: there
the first check of each run finds the cache not proven fresh (no check for
longer than max_staleness) and the thread PINGs between runs, which hands
the GIL back and forth with the requests. Both patterns are reported; they
measure different things."""

from __future__ import annotations

import dataclasses
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
NEAR_20 = "drf-toctou RedisStore (TCP), near cache, max_staleness 20 ms"
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


def floor_run(client: Any, count: int = RUN) -> list[float]:
    """One untimed and ``count`` timed bare MGETs of the check's keys: their durations."""
    client.mget(*KEYS)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.mget(*KEYS)
        times.append(time.perf_counter() - started)
    return times


def measure(harness: Harness, rounds: int) -> tuple[list[str], list[str]]:
    import redis

    from drf_toctou.stores import get_store

    configs = {c.label: c for c in IN_PROCESS}
    configs[NEAR_20] = dataclasses.replace(configs[NEAR_ME], label=NEAR_20, store="redis-near-20ms")
    runner = InProcess(harness, [configs[BASE_ME], configs[NO_TRIP_ME], configs[NEAR_ME], configs[NEAR_20]])
    client = redis.Redis.from_url(harness.urls["redis_tcp"])
    shuffle = random.Random(5)
    added: dict[str, list[float]] = {NEAR_ME: [], NEAR_20: [], NO_TRIP_ME: []}
    ratios: dict[str, list[float]] = {NEAR_ME: [], NEAR_20: []}
    floors: list[float] = []
    failed: list[str] = []
    for _ in range(rounds):
        means: dict[str, float] = {}
        for label in shuffle.sample([BASE_ME, NO_TRIP_ME, NEAR_ME, NEAR_20, "floor"], 5):
            if label == "floor":
                means[label] = statistics.mean(floor_run(client))
                continue
            config = configs[label]
            with harness.store(config.store):
                times, bad = timed_run(runner.caller(config, harness.mint(config)))
                if label in ratios:
                    get_store().close()  # the next run of a near cache starts with its own thread
            if bad:
                failed.append(f"near cache steady state: {label}: {bad} of {RUN} responses not 2xx")
            means[label] = statistics.mean(times)
        for label in added:
            added[label].append(means[label] - means[BASE_ME])
        for label in ratios:
            ratios[label].append((means[label] - means[BASE_ME]) / means["floor"])
        floors.append(means["floor"])
    client.close()
    alone, floor = Spread.of(added[NO_TRIP_ME]), Spread.of(floors)
    lines = []
    for label, what in ((NEAR_ME, "max_staleness 5 ms (the default)"), (NEAR_20, "max_staleness 20 ms")):
        near, ratio = Spread.of(added[label]), Spread.of(ratios[label])
        met = "met" if at_most(ratio, TARGET) else "**not met**"
        lines.append(
            f"| back to back ({rounds} rounds of {RUN}-request runs, as a worker serving one authenticated request "
            f"after another), {what}: added time of authentication (− JWTAuthentication) | "
            f"{near.fmt(1e6, 0, ' µs')} = {ratio.fmt(unit='× the floor')}: target ≤ {TARGET}× floor {met} (q3) | "
            f"in the same runs, drf-toctou with no round trip (our code alone) added {alone.fmt(1e6, 0, ' µs')}; "
            f"the floor (bare MGET) {floor.fmt(1e6, 0, ' µs')}; `python -m bench.near_thread` times the near "
            f"cache's parts |")
    return lines, failed
