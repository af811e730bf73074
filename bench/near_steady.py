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
measure different things.

In the same rounds, what the mechanism costs with none of drf-toctou's code:
plain simplejwt requests, each preceded by a ``poll(0)`` of an idle socket
to the benchmark's Redis (the read a check does before answering from the
cache), and the same with a raw ``PING`` sent on that socket once per
0.9 × 5 ms at the pace measured (the fewest the checks send, with the lead
at its floor) and its ``PONG`` read by a later request. That is the lower
bound of the design on this machine, whatever the code around it."""

from __future__ import annotations

import dataclasses
import gc
import random
import select
import socket
import statistics
import time
import urllib.parse
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


class Mechanism:
    """A raw socket to the benchmark's Redis: the near cache's poll and PING
    without its code (see the module's docstring)."""

    PING = b"*1\r\n$4\r\nPING\r\n"

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def around(self, call: Callable[[], Any], every: int) -> Callable[[], Any]:
        """``call`` after a poll (and a read of what it found), with a PING
        before every ``every``-th call (0: none)."""
        count = 0

        def wrapped() -> Any:
            nonlocal count
            if self.poller.poll(0):
                self.sock.recv(65536)
            if every and count % every == 0:
                self.sock.send(self.PING)
            count += 1
            return call()

        return wrapped

    def settle(self) -> None:
        """Read the last PONG, so that no run inherits one."""
        time.sleep(0.002)
        while self.poller.poll(0):
            if not self.sock.recv(65536):
                break

    def close(self) -> None:
        self.sock.close()


POLL_ONLY = "the mechanism alone (plain simplejwt + a poll per request)"
POLL_PING = "the mechanism alone (plain simplejwt + a poll per request + a PING per 0.9 × 5 ms)"


def measure(harness: Harness, rounds: int) -> tuple[list[str], list[str]]:
    import redis

    from drf_toctou.stores import get_store

    configs = {c.label: c for c in IN_PROCESS}
    configs[NEAR_20] = dataclasses.replace(configs[NEAR_ME], label=NEAR_20, store="redis-near-20ms")
    runner = InProcess(harness, [configs[BASE_ME], configs[NO_TRIP_ME], configs[NEAR_ME], configs[NEAR_20]])
    client = redis.Redis.from_url(harness.urls["redis_tcp"])
    shuffle = random.Random(5)
    mechanism = Mechanism(harness.urls["redis_tcp"])
    added: dict[str, list[float]] = {NEAR_ME: [], NEAR_20: [], NO_TRIP_ME: [], POLL_ONLY: [], POLL_PING: []}
    ratios: dict[str, list[float]] = {NEAR_ME: [], NEAR_20: [], POLL_ONLY: [], POLL_PING: []}
    floors: list[float] = []
    failed: list[str] = []
    every, everies = 9, []  # requests per 0.9 × 5 ms: from the pace of the last round's plain requests
    for _ in range(rounds):
        means: dict[str, float] = {}
        for label in shuffle.sample([BASE_ME, NO_TRIP_ME, NEAR_ME, NEAR_20, POLL_ONLY, POLL_PING, "floor"], 7):
            if label == "floor":
                means[label] = statistics.mean(floor_run(client))
                continue
            if label in (POLL_ONLY, POLL_PING):
                base = configs[BASE_ME]
                call = runner.caller(base, harness.mint(base))
                times, bad = timed_run(mechanism.around(call, every if label == POLL_PING else 0))
                mechanism.settle()
                if bad:
                    failed.append(f"near cache steady state: {label}: {bad} of {RUN} responses not 2xx")
                means[label] = statistics.mean(times)
                if label == POLL_PING:
                    everies.append(every)
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
        every = max(1, round(0.9 * 0.005 / means[BASE_ME]))
    client.close()
    mechanism.close()
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
    poll, poll_ratio = Spread.of(added[POLL_ONLY]), Spread.of(ratios[POLL_ONLY])
    ping, ping_ratio = Spread.of(added[POLL_PING]), Spread.of(ratios[POLL_PING])
    lines.append(
        f"| back to back, the same rounds: the mechanism alone, none of drf-toctou's code (plain simplejwt "
        f"requests, each after a `poll(0)` of an idle socket to the same Redis; then also a raw `PING` on it "
        f"every {min(everies)}–{max(everies)} requests, one per 0.9 × 5 ms at the pace of the round before — "
        f"the fewest the checks send, with the lead at its floor — its `PONG` read by a later request) | "
        f"poll alone {poll.fmt(1e6, 0, ' µs')} = {poll_ratio.fmt(unit='× the floor')}; poll and PING "
        f"{ping.fmt(1e6, 0, ' µs')} = {ping_ratio.fmt(unit='× the floor')} | the lower bound of a design that "
        f"reads its tracking socket at every check and proves it fresh with a `PING` per process, on this "
        f"machine: a `PING` wakes `redis-server`, and with the `poll` costs the request far more than the same "
        f"calls in a tight loop (bench/near_thread.py times them inside the requests) |")
    return lines, failed


def main(rounds: int) -> None:
    """``python -m bench.near_steady [rounds]``: these rows alone (make bench runs them with the rest)."""
    harness = Harness()
    try:
        lines, failed = measure(harness, rounds)
    finally:
        harness.stop()
    print("\n".join(lines + failed))


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
