"""Where the near cache's time goes, and why a busy process's checks send its
PINGs and not a thread: ``python -m bench.near_thread [rounds]``.

The same view (GET /me with drf-toctou's authentication), back to back in runs
of 400 requests, interleaved round by round: plain simplejwt, drf-toctou with
no round trip (our code alone), the strict RedisStore, the near cache with
max_staleness 5 ms (the default) and 20 ms, and the near cache with its first
design put back (the checks never PING, a thread reads the tracking socket
and PINGs every max_staleness / 3, 1.7 ms). Prints each one's median time
per request over the rounds.

Whole requests are too noisy on a shared 2-core VM to resolve a few
microseconds, so the near cache's own part is also timed from the inside: in
the near cache's runs every lookup (the whole of its request path: the poll
of the tracking socket, the PING a check sends when one is due, the read of
a PONG or an invalidation, the lock, the keys, the LRU) and, within it, each
PING sent and each read of the socket are timed, and their mean per request
printed — next to the bare MGET (the floor) timed in the same rounds. The
timers themselves (three wrappers, two clock reads each) are in "the rest".

README "Near cache (opt-in)", near_pinger and the issue's note quote it."""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from unittest import mock

os.environ.setdefault("BENCH_QUICK", "1")

RUN = 400
SIMPLEJWT, NO_TRIP, STRICT = "simplejwt JWTAuthentication", "drf-toctou, no round trip", "drf-toctou RedisStore, strict"
NEAR, NEAR_20 = "near cache, max_staleness 5 ms", "near cache, max_staleness 20 ms"
FIRST = "near cache, first design (a thread PINGs every 1.7 ms)"
PARTS = ("lookup", "ping", "read", "empty poll")


class Timers:
    """Wrappers that time the near cache's request path (``parts``: seconds
    by part and variant; ``requests``: by variant)."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(PARTS, 0.0))
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PARTS, 0))
        self.variant = ""

    def add(self, part: str, seconds: float) -> None:
        self.parts[self.variant][part] += seconds
        self.counts[self.variant][part] += 1

    def patches(self):
        from drf_toctou.stores.near_cache import NearCache
        from drf_toctou.stores.near_tracking import Tracking

        lookup, ping, drain, clock = NearCache.lookup, Tracking.ping, Tracking.drain, time.perf_counter
        main = threading.main_thread()  # the requests' thread; the pinger thread's calls are not counted

        def timed_lookup(cache, keys):
            started = clock()
            try:
                return lookup(cache, keys)
            finally:
                self.add("lookup", clock() - started)

        def timed_ping(tracking, now):
            started = clock()
            try:
                return ping(tracking, now)
            finally:
                if threading.current_thread() is main:
                    self.add("ping", clock() - started)

        def timed_drain(tracking, on_invalidate, budget=1 << 18):
            reader = tracking.reader
            before, started = (len(reader.buf), reader.pos), clock()
            try:
                return drain(tracking, on_invalidate, budget)
            finally:
                if threading.current_thread() is main:  # bytes fed to the reader: it read something
                    self.add("read" if (len(reader.buf), reader.pos) != before else "empty poll", clock() - started)

        return (mock.patch.object(NearCache, "lookup", timed_lookup), mock.patch.object(Tracking, "ping", timed_ping),
                mock.patch.object(Tracking, "drain", timed_drain))


def main(rounds: int) -> None:
    import redis
    from django.test import override_settings

    from bench.configs import BASE_ME, IN_PROCESS, NEAR_ME, NO_TRIP_ME, REDIS_ME
    from bench.harness import Harness
    from bench.inprocess import InProcess
    from bench.near_steady import floor_run, timed_run
    from drf_toctou.stores import get_store
    from drf_toctou.stores.near_pinger import Pinger

    harness = Harness()
    configs = {c.label: c for c in IN_PROCESS}
    runner = InProcess(harness, [configs[BASE_ME], configs[NO_TRIP_ME], configs[REDIS_ME], configs[NEAR_ME]])
    thread_turn, timers = Pinger.turn, Timers()

    def first_design(pinger, cache):
        """The thread of the first design: read, PING, every max_staleness / 3."""
        tracking = cache.tracking
        if tracking is None:
            return thread_turn(pinger, cache)
        tracking.interval = float("inf")  # the checks never PING
        tracking._adapt = lambda delay: None  # ... nor after a PONG
        with cache._lock:
            if tracking.drain(cache._invalidated, budget=1 << 22):
                tracking.ping(time.monotonic())
        return cache.max_staleness / 3

    def near(max_staleness: float, *patches):
        dotted, options = harness.store_setting(configs[NEAR_ME].store)
        options = {**options, "near_cache": {"max_staleness": max_staleness}}

        @contextlib.contextmanager
        def context():
            with override_settings(DRF_TOCTOU={"STORE": dotted, "STORE_OPTIONS": options}), \
                    contextlib.ExitStack() as stack:
                for patch in (*patches, *timers.patches()):
                    stack.enter_context(patch)
                try:
                    yield
                finally:
                    get_store().close()  # the next run of a near cache starts with its own thread
        return context

    variants = {
        SIMPLEJWT: (BASE_ME, lambda: harness.store(configs[BASE_ME].store)),
        NO_TRIP: (NO_TRIP_ME, lambda: harness.store(configs[NO_TRIP_ME].store)),
        STRICT: (REDIS_ME, lambda: harness.store(configs[REDIS_ME].store)),
        NEAR: (NEAR_ME, near(0.005)),
        NEAR_20: (NEAR_ME, near(0.020)),
        FIRST: (NEAR_ME, near(0.005, mock.patch.object(Pinger, "turn", first_design))),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    floor: list[float] = []
    client = redis.Redis.from_url(harness.urls["redis_tcp"])
    try:
        for _ in range(rounds):
            for name in random.sample([*variants, "floor"], len(variants) + 1):
                if name == "floor":
                    floor.append(floor_run(client, RUN))
                    continue
                label, context = variants[name]
                config = configs[label]
                timers.variant = name
                with context():
                    taken, bad = timed_run(runner.caller(config, harness.mint(config)), RUN, warm=50)
                if bad:
                    raise SystemExit(f"{name}: {bad} of {RUN} responses not 2xx: a failed measurement")
                times[name].append(statistics.median(taken))
    finally:
        client.close()
        harness.stop()
    for name, values in times.items():
        print(f"{statistics.median(values) * 1e6:7.0f} µs  {name}")
    floor_mean = statistics.median(statistics.mean(run) for run in floor)
    print(f"{floor_mean * 1e6:7.0f} µs  bare MGET (the floor; mean per run, median over the rounds)")
    for name in (NEAR, NEAR_20):
        parts, counts = timers.parts[name], timers.counts[name]
        per = {part: parts[part] / counts["lookup"] for part in PARTS}
        print(f"\n{name}: the near cache's path per request {per['lookup'] * 1e6:.1f} µs = "
              f"{per['lookup'] / floor_mean:.2f}× the floor (mean over {counts['lookup']:,} requests), of which")
        for part, what in (("ping", "PINGs sent"), ("read", "reads of a PONG or an invalidation"),
                           ("empty poll", "polls that found nothing")):
            each = parts[part] / counts[part] if counts[part] else 0.0
            print(f"  {per[part] * 1e6:5.1f} µs  {what}: one per {counts['lookup'] / max(counts[part], 1):.1f} "
                  f"requests, {each * 1e6:.1f} µs each")
        rest = per["lookup"] - per["ping"] - per["read"] - per["empty poll"]
        print(f"  {rest * 1e6:5.1f} µs  the rest (the lock, the keys, the LRU, the timers)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
