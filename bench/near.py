"""The near cache beyond the per-request rows (bench/configs.py has those):
its hit rate under a mix of many users with some revocations, its memory per
cached key, and an invalidation storm — 100,000 revocations in a burst while
the process keeps checking: every answer is compared with the acknowledged
revocations, and the checks' latency shows whether the process stays
responsive."""

from __future__ import annotations

import random
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field

from bench.harness import Harness

BOUND = 0.005  # max_staleness of every near cache here


def _store(url: str, **near):
    from drf_toctou.stores.redis import RedisStore

    store = RedisStore({"url": url, "near_cache": {"max_staleness": BOUND, **near}})
    store.check("warm", "0" * 32)
    deadline = time.monotonic() + 5
    while not store._near.stats()["fresh"] and time.monotonic() < deadline:
        time.sleep(0.001)
    return store


def _jti(n: int) -> str:
    return f"{n + 7 * 10**9:032x}"


@dataclass
class NearFigures:
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def hit_rate(url: str, checks: int, users: int = 1_000, per_user: int = 2, revoke_every: int = 200) -> list[str]:
    """Checks of random tokens of ``users`` users (a few tokens each), one
    token ended (revoked, or its user's version bumped) every ``revoke_every``
    checks by another client, as a logout would."""
    from drf_toctou.stores.redis import RedisStore

    store, revoker, rng = _store(url), RedisStore({"url": url}), random.Random(3)
    tokens = users * per_user
    before = store._near.stats()
    started = time.perf_counter()
    for n in range(checks):
        token = rng.randrange(tokens)
        user, jti = f"mix{token % users}", _jti(token)
        if store.cached_check(user, jti, None, "authentication") is None:
            store.check(user, jti)
        if n % revoke_every == revoke_every - 1:
            victim = rng.randrange(tokens)
            if victim % 2:
                revoker.revoke(f"mix{victim % users}", _jti(victim), int(time.time()) + 600)
            else:
                revoker.bump_version(f"mix{victim % users}")
    per_check = (time.perf_counter() - started) / checks
    after = store._near.stats()
    hits, asked = after["hits"] - before["hits"], checks
    store.close()
    revoker.close()
    return [f"| hit rate: {users:,} users × {per_user} tokens, {checks:,} checks of random tokens, one token ended "
            f"every {revoke_every} checks | {hits / asked:.1%} from the cache (misses: the first check of a token, "
            f"after a revocation of its user's keys, or while not proven fresh) | mean {per_check * 1e6:.0f} µs "
            f"per check, strict ones included |"]


def memory_per_key(url: str, count: int = 100_000) -> list[str]:
    """Python heap per cached key (tracemalloc), keys shaped as RedisStore's."""
    store = _store(url, max_entries=count)
    near = store._near
    keys = [store.jti_key(f"user{n}", _jti(n)) for n in range(count)]
    token = near.token()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for key in keys:
        near.insert([key], [None], token)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    key_bytes = statistics.fmean(len(k) + 33 for k in keys)  # a bytes object: 33 bytes + its length
    entries = near.stats()["entries"]
    store.close()
    return [f"| memory per cached key ({entries:,} keys, one jti key each) | {grown / count + key_bytes:.0f} bytes "
            f"of Python heap ({grown / count:.0f} for the LRU's entry, {key_bytes:.0f} for the key itself) | a "
            f"check reads 2 keys (3 with a session); a user's version key is shared by all its tokens |"]


def storm(url: str, revocations: int, batch: int = 1_000) -> tuple[list[str], list[str]]:
    """``revocations`` jtis revoked in pipelined batches by another client
    while this process checks tokens among them: latency of every check, and
    every answer compared with the batch acknowledgements."""
    store = _store(url)
    import redis

    writer = redis.Redis.from_url(url)
    watched = list(range(0, revocations, revocations // 200))  # tokens checked during the storm
    for n in watched:
        store.check("storm", _jti(n))
        store.check("storm", _jti(n))  # cached "good"
    import multiprocessing

    context = multiprocessing.get_context("fork")  # the writer is another process, as in production
    acked = context.Array("d", [float("inf")] * revocations, lock=False)
    latencies: list[float] = []
    wrong = served = 0
    rng = random.Random(5)
    keys = [store.jti_key("storm", _jti(n)) for n in range(revocations)]

    def burst() -> None:
        keep = int(time.time()) + 600
        for first in range(0, revocations, batch):
            pipe = writer.pipeline(transaction=False)
            for key in keys[first:first + batch]:
                pipe.set(key, b"r1", exat=keep)
            pipe.execute()
            now = time.perf_counter()
            for n in range(first, min(first + batch, revocations)):
                acked[n] = now

    process = context.Process(target=burst)
    began_storm = time.perf_counter()
    process.start()
    while process.is_alive():
        n = rng.choice(watched)
        began = time.perf_counter()
        state = store.cached_check("storm", _jti(n), None, "authentication")
        if state is not None:
            served += 1
            wrong += (not state.revoked) and began - acked[n] > BOUND
        else:
            state = store.check("storm", _jti(n))
        latencies.append(time.perf_counter() - began)
    process.join()
    storm_seconds = time.perf_counter() - began_storm
    settled = time.perf_counter()
    while not store._near.stats()["fresh"]:
        time.sleep(0.0005)
    settled = time.perf_counter() - settled
    stale_after = [n for n in watched if not store.check("storm", _jti(n)).revoked]
    store.close()
    writer.close()
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99)]
    failed = [f"near cache storm: {wrong} cached answers staler than {BOUND * 1000:g} ms"] if wrong else []
    failed += [f"near cache storm: {len(stale_after)} revoked tokens not refused after it"] if stale_after else []
    return [f"| invalidation storm: {revocations:,} revocations in {storm_seconds:.1f} s (pipelined batches of "
            f"{batch:,}) while the process checks {len(watched)} of those tokens | {len(latencies):,} checks, "
            f"{served:,} from the cache, {wrong} staler than {BOUND * 1000:g} ms (must be 0) | check latency p50 "
            f"{statistics.median(ordered) * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs, max {ordered[-1] * 1e3:.1f} ms; "
            f"fresh again {settled * 1e3:.1f} ms after the burst |"], failed


def measure(harness: Harness, checks: int, revocations: int, server_seconds: int = 3,
            steady_rounds: int = 12) -> NearFigures:
    from bench import near_servers, near_steady

    url = harness.urls["redis_tcp"]
    harness.redis.client().flushall()
    figures = NearFigures()
    steady_lines, figures.failed = near_steady.measure(harness, steady_rounds)
    figures.lines += steady_lines
    figures.lines += hit_rate(url, checks)
    figures.lines += near_servers.by_pace(url)
    figures.lines += near_servers.under_gunicorn(harness, server_seconds)
    figures.lines += memory_per_key(url)
    storm_lines, storm_failed = storm(url, revocations)
    figures.failed += storm_failed
    figures.lines += storm_lines
    return figures


def section(figures: NearFigures) -> list[str]:
    return ["## Near cache (opt-in): hit rate, memory, invalidation storm", "",
            f"RedisStore with `near_cache` (`max_staleness` {BOUND * 1000:g} ms) on the benchmark's Redis (TCP). "
            "Its per-request cost with the in-process rows' interleaving (runs of 6 requests, other "
            "configurations' work in between) is in the rows and targets above; back to back, here.", "",
            "| what | result | detail |", "|---|---|---|", *figures.lines, ""]
