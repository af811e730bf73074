"""In process: each view called directly with a request from APIRequestFactory
(DRF's whole stack: parsing, authentication, permissions, the view, the
serializer; no test-client overhead to dilute the differences).

The machine drifts by tens of per cent from one second to the next (other jobs
share its two cores), more than the differences measured. So configurations
are not timed in long blocks of their own but interleaved in runs of a few
requests: a round is one block per store, and a block repeats cycles in which
every configuration that uses that store, every one that uses none (the
baselines, knox, the blacklist) and every floor runs once, in shuffled order.
A run is one warm-up request then REPEAT timed ones (the same warm path as a
long block of one configuration), so every configuration of a block sees the
same machine and each ratio is taken within one block.

Each block gets fresh tokens and a warm-up cycle, runs with the garbage
collector off, and times each request on its own; a configuration's time in a
block is the mean of its timed requests. Every response is checked: a
configuration with any non-2xx response is a failed measurement and is
measured no further.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.configs import BASE_ME, FLOORS, IN_CONTEXT, IN_PROCESS, TIGHT, Config
from bench.harness import Harness

REPEAT = 5  # timed requests per run, after one warm-up request
FLOOR_REPEAT, FLOOR_SETTLE = 20, 2  # a floor's run: FLOOR_SETTLE warm-up MGETs, then FLOOR_REPEAT timed
KEYS = ("t:{1}v", b"t:{1}j" + bytes(16))  # the two keys a RedisStore check reads
Times = dict[str, list[float]]


@dataclass
class Failure:
    bad: Counter = field(default_factory=Counter)  # status code → responses
    total: int = 0

    def __str__(self) -> str:
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(self.bad.items()))
        return f"FAILED: {sum(self.bad.values())} of {self.total} responses not 2xx ({codes})"


@dataclass
class Samples:
    """Seconds per request: one dict per block (label → mean over the block)."""

    blocks: list[dict[str, float]] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)  # the round of each block
    failed: dict[str, Failure] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # in report order

    def values(self, label: str) -> list[float]:
        return [block[label] for block in self.blocks if label in block]

    def paired(self, *labels: str) -> list[list[float]]:
        """Columns of the values of ``labels`` from the blocks that measured them all."""
        rows = [[block[label] for label in labels] for block in self.blocks if all(lb in block for lb in labels)]
        return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in labels]

    def via(self, a: str, b: str, reference: str) -> list[float]:
        """a − b per round for two labels never in one block: (a − reference)
        in a's block minus (b − reference) in b's block of the same round."""
        out = []
        for number in sorted(set(self.rounds)):
            blocks = [blk for blk, r in zip(self.blocks, self.rounds, strict=True) if r == number]
            side_a = [blk[a] - blk[reference] for blk in blocks if a in blk and reference in blk]
            side_b = [blk[b] - blk[reference] for blk in blocks if b in blk and reference in blk]
            if side_a and side_b:
                out.append(side_a[0] - side_b[0])
        return out


class InProcess:
    def __init__(self, harness: Harness, configs: list[Config] = IN_PROCESS, seed: int = 0) -> None:
        from django.urls import resolve
        from rest_framework.test import APIRequestFactory

        self.harness, self.configs = harness, configs
        self.factory, self.resolve = APIRequestFactory(), resolve
        self.random = random.Random(seed)  # the same shuffles in every run
        self.failures: dict[str, Failure] = defaultdict(Failure)
        self.baseline = next((c for c in configs if c.label == BASE_ME), None)

    def caller(self, config: Config, header: str) -> Callable[[], object]:
        path = self.harness.path(config)
        match = self.resolve(path)
        build = getattr(self.factory, config.method)
        body = {"title": "t"} if config.method == "patch" else None

        def call():
            request = build(path, body, format="json", HTTP_AUTHORIZATION=header)
            return match.func(request, *match.args, **match.kwargs)

        return call

    def stores(self) -> list[str | None]:
        """One block per store the configurations name (None: no store at all)."""
        names = list(dict.fromkeys(c.store for c in self.configs if c.store))
        return names or [None]

    # --- the steps of a cycle: each appends its timed calls to ``times`` ----------------

    def request_step(self, config: Config) -> Callable[[Times], None]:
        call, failure, clock = self.caller(config, self.harness.mint(config)), self.failures[config.label], \
            time.perf_counter

        def step(times: Times) -> None:
            for number in range(1 + REPEAT):
                started = clock()
                response = call()
                elapsed = clock() - started
                failure.total += 1
                if not 200 <= response.status_code < 300:
                    failure.bad[response.status_code] += 1
                if number:
                    times[config.label].append(elapsed)

        return step

    @staticmethod
    def floor_step(label: str, client) -> Callable[[Times], None]:
        """A bare redis-py MGET of two keys in a tight loop."""
        clock = time.perf_counter

        def step(times: Times) -> None:
            for number in range(FLOOR_SETTLE + FLOOR_REPEAT):
                started = clock()
                client.mget(*KEYS)
                if number >= FLOOR_SETTLE:
                    times[label].append(clock() - started)

        return step

    def in_context_step(self, client) -> Callable[[Times], None]:
        """The same MGET, timed alone but right after each of REPEAT baseline
        requests: its cost where drf-toctou pays it, with Django's work
        evicting the caches a tight loop keeps warm."""
        call, clock = self.caller(self.baseline, self.harness.mint(self.baseline)), time.perf_counter

        def step(times: Times) -> None:
            for number in range(1 + REPEAT):
                call()
                started = clock()
                client.mget(*KEYS)
                if number:
                    times[IN_CONTEXT].append(clock() - started)

        return step

    def block(self, store: str | None, cycles: int, clients: dict[str, object]) -> dict[str, float]:
        """One block: ``cycles`` cycles of every configuration of ``store``,
        every configuration with no store and every floor, shuffled."""
        members = [c for c in self.configs if c.store in (None, store) and not self.failures[c.label].bad]
        times: Times = defaultdict(list)
        with self.harness.store(store):
            steps = [self.request_step(c) for c in members]  # fresh tokens
            steps += [self.floor_step(label, client) for label, client in clients.items()]
            if self.baseline is not None:
                steps.append(self.in_context_step(clients[TIGHT]))
            gc.collect()
            gc.disable()
            try:
                for cycle in range(1 + cycles):  # the first cycle warms up and is not kept
                    self.random.shuffle(steps)
                    for step in steps:
                        step(times if cycle else defaultdict(list))
            finally:
                gc.enable()
        return {label: statistics.fmean(values) for label, values in times.items()
                if not self.failures[label].bad}

    def run(self, rounds: int, cycles: int, progress: Callable[[str], None] = print) -> Samples:
        import redis

        samples = Samples(labels=[*FLOORS, IN_CONTEXT, *(c.label for c in self.configs)])
        clients = {label: redis.Redis.from_url(self.harness.store_setting(store)[1]["url"])
                   for label, store in FLOORS.items()}
        try:
            for store in self.stores():  # a warm-up round, not kept
                self.block(store, 1, clients)
            for number in range(rounds):
                for store in self.stores():
                    samples.blocks.append(self.block(store, cycles, clients))
                    samples.rounds.append(number)
                progress(f"  round {number + 1}/{rounds}")
        finally:
            for client in clients.values():
                client.close()
        samples.failed = {label: f for label, f in self.failures.items() if f.bad}
        for block in samples.blocks:
            for label in samples.failed:
                block.pop(label, None)
        return samples
