"""The near cache's propagation proof: revoke in one process, check in N others.

Each round the checkers first hold the token's "good" answer in their near
cache (served from it at least once); then the revoker ends the token — its
jti revoked, its user's version bumped, or its session ended, in turn — and
notes the time of the acknowledgement. Every checker checks in a loop until
it sees the refusal, noting for each answer served from the cache when the
check began. Measured per checker and round: the time from the
acknowledgement to the first refusal, and the latest start of a cached "good"
answer after the acknowledgement (its staleness): an answer staler than
``max_staleness`` is a violation of the near cache's guarantee.

``control=True`` switches off exactly the invalidation handling in the
checkers (the negative control): their cached "good" answers then outlive
the revocation, so the checker can fail.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from unittest import mock

from drf_toctou.stores.near_cache import NearCache
from drf_toctou.stores.redis import RedisStore

KINDS = ("jti", "version", "session")
# A checker checks every PACE seconds (plus the check's own time), as a worker
# serving thousands of requests a second: four busy-looping checkers on a
# two-core machine would measure the scheduler's time slices, not the cache.
PACE = 0.0001
ROUND_TIMEOUT = 0.25  # seconds a checker waits for a refusal before giving up on the round


def token(i: int) -> tuple[str, str, str]:
    return f"user{i % 97}", f"{i:032x}", f"s{i}"


@dataclass
class Result:
    latencies_us: list[float]  # acknowledgement → first refusal, per checker and round (negative: before the ack was read)
    staleness_us: list[float]  # latest cached "good" answer begun after the acknowledgement, per checker and round
    dropped_us: list[float]  # acknowledgement → the first check not answered "good" by the cache
    violations: int  # cached "good" answers begun more than max_staleness after the acknowledgement
    missed: int  # checker-rounds with no refusal within ROUND_TIMEOUT
    cached_checks: int
    strict_checks: int

    def summary(self) -> str:
        return percentiles(self.latencies_us)


def percentiles(values: list[float]) -> str:
    """p50/p99/max of microsecond figures (negative ones, seen before the
    acknowledgement was read, count as 0)."""
    ordered = sorted(max(v, 0.0) for v in values)
    if not ordered:
        return "none measured"
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.0f} µs, p99 {p99:.0f} µs, max {ordered[-1]:.0f} µs"


def _checker(w: int, url: str, near: dict, rounds: int, control: bool, shared: dict) -> None:
    patch = mock.patch.object(NearCache, "_invalidated", lambda self, keys: None) if control else mock.MagicMock()
    with patch:
        store = RedisStore({"url": url, "near_cache": near})
        store.check("warm", "0" * 32)
        deadline = time.monotonic() + 10
        while not store._near.stats()["fresh"] and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.001)
        counts = [0, 0]
        for i in range(rounds):
            while shared["round"].value < i:
                time.sleep(0.00005)
            _one_round(store, w, i, rounds, shared, counts, near["max_staleness"])
        shared["cached"][w], shared["strict"][w] = counts
        store.close()


def _one_round(store: RedisStore, w: int, i: int, rounds: int, shared: dict, counts: list[int],
               bound: float) -> None:
    user, jti, session = token(i)
    version = store.check(user, jti, session).version
    while store.cached_check(user, jti, session, "authentication") is None:
        store.check(user, jti, session)  # strict: populates the cache once the tracking is fresh
        time.sleep(0.0001)
    shared["ready"][w] = i
    last_good, refused, dropped = -1.0, None, None
    give_up = time.perf_counter() + 30
    while refused is None:
        began = time.perf_counter()
        state = store.cached_check(user, jti, session, "authentication")
        cached = state is not None
        counts[0 if cached else 1] += 1
        if state is None:
            if dropped is None and shared["ack"][i] > 0:
                dropped = began  # the cache stopped answering "good": the invalidation arrived (or freshness lapsed)
            state = store.check(user, jti, session)
        if state.revoked or state.session_revoked or state.version != version:
            refused = time.perf_counter()
        elif cached and shared["ack"][i] > 0:
            last_good = began
        ack = shared["ack"][i]
        if refused is None and ack > 0 and began - ack > ROUND_TIMEOUT or began > give_up:
            break
        if refused is None:
            time.sleep(PACE)
    ack = shared["ack"][i]
    while ack == 0:
        time.sleep(0.00005)
        ack = shared["ack"][i]
    slot = i * len(shared["ready"]) + w
    shared["latency"][slot] = (refused - ack) if refused is not None else float("inf")
    shared["stale"][slot] = last_good - ack if last_good > ack else 0.0
    shared["dropped"][slot] = (dropped if dropped is not None else refused or ack) - ack
    shared["done"][w] = i


def propagate(url: str, rounds: int, workers: int = 4, max_staleness: float = 0.005,
              control: bool = False) -> Result:
    """Run the proof against the Redis at ``url`` (the revoker is this process)."""
    context = multiprocessing.get_context("fork")
    shared = {
        "round": context.Value("q", -1, lock=False),
        "ready": context.Array("q", [-1] * workers, lock=False),
        "done": context.Array("q", [-1] * workers, lock=False),
        "ack": context.Array("d", rounds, lock=False),
        "latency": context.Array("d", rounds * workers, lock=False),
        "stale": context.Array("d", rounds * workers, lock=False),
        "dropped": context.Array("d", rounds * workers, lock=False),
        "cached": context.Array("q", workers, lock=False),
        "strict": context.Array("q", workers, lock=False),
    }
    near = {"max_staleness": max_staleness}
    revoker = RedisStore({"url": url})
    processes = [context.Process(target=_checker, args=(w, url, near, rounds, control, shared), daemon=True)
                 for w in range(workers)]
    for process in processes:
        process.start()
    try:
        for i in range(rounds):
            _revoke_round(revoker, i, shared, workers)
        for process in processes:
            process.join(30)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        revoker.close()
    latencies = [v * 1e6 for v in shared["latency"] if v != float("inf")]
    staleness = [v * 1e6 for v in shared["stale"]]
    dropped = [v * 1e6 for v in shared["dropped"]]
    return Result(latencies_us=latencies, staleness_us=staleness, dropped_us=dropped,
                  violations=sum(1 for v in shared["stale"] if v > max_staleness),
                  missed=sum(1 for v in shared["latency"] if v == float("inf")),
                  cached_checks=sum(shared["cached"]), strict_checks=sum(shared["strict"]))


def _revoke_round(revoker: RedisStore, i: int, shared: dict, workers: int) -> None:
    shared["round"].value = i
    _wait(lambda: all(r >= i for r in shared["ready"]), f"checkers ready for round {i}")
    user, jti, session = token(i)
    kind = KINDS[i % len(KINDS)]
    keep = int(time.time()) + 600
    if kind == "jti":
        revoker.revoke(user, jti, keep)
    elif kind == "version":
        revoker.bump_version(user)
    else:
        revoker.revoke_session(user, session, keep)
    shared["ack"][i] = time.perf_counter()
    _wait(lambda: all(d >= i for d in shared["done"]), f"checkers done with round {i}")


def _wait(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.00005)
    os.sched_yield()


# --- the checker under a concurrent revocation load ------------------------------------------


@dataclass
class LoadResult:
    ended: int  # tokens ended (revoked, superseded by a bump, or their session ended)
    cached_good: int  # "good" answers served from the cache
    violations: int  # of those, begun more than max_staleness after their token's end was acknowledged
    worst_us: float  # the stalest cached "good" answer after an acknowledged end (0: none)
    checks: int


def _load_token(n: int, users: int) -> tuple[str, str, str]:
    return f"load{n % users}", f"{n + 10**6:032x}", f"ls{n}"


def _load_checker(w: int, url: str, tokens: int, users: int, seconds: float, shared: dict) -> None:
    if shared["control"]:  # the negative control: invalidations ignored
        mock.patch.object(NearCache, "_invalidated", lambda self, keys: None).start()
    store = RedisStore({"url": url, "near_cache": {"max_staleness": shared["bound"]}})
    rng = __import__("random").Random(w)
    shared["ready"][w] = 1
    while shared["go"].value == 0:
        time.sleep(0.0005)
    end, checks, good = time.perf_counter() + seconds, 0, 0
    latest = shared["latest"]
    while time.perf_counter() < end:
        n = rng.randrange(tokens)
        user, jti, session = _load_token(n, users)
        began = time.perf_counter()
        state = store.cached_check(user, jti, session, "authentication")
        checks += 1
        if state is None:
            store.check(user, jti, session)  # strict: populates
        elif not (state.revoked or state.session_revoked or state.version != 0):
            good += 1
            slot = w * tokens + n
            latest[slot] = max(latest[slot], began)
        time.sleep(PACE)
    shared["checks"][w], shared["good"][w] = checks, good
    store.close()


def concurrent_load(url: str, tokens: int, users: int, seconds: float, workers: int = 4,
                    max_staleness: float = 0.005, control: bool = False) -> LoadResult:
    """Checkers check random tokens of a pool while this process ends them one
    by one, in random order (jti, user's version — ending all that user's
    tokens —, or session): every cached "good" answer is compared with the
    acknowledged end of its token."""
    context = multiprocessing.get_context("fork")
    inf = float("inf")
    shared = {"go": context.Value("q", 0, lock=False), "ready": context.Array("q", workers, lock=False),
              "latest": context.Array("d", [-inf] * (tokens * workers), lock=False),
              "checks": context.Array("q", workers, lock=False), "good": context.Array("q", workers, lock=False),
              "bound": max_staleness, "control": control}
    processes = [context.Process(target=_load_checker, args=(w, url, tokens, users, seconds, shared), daemon=True)
                 for w in range(workers)]
    for process in processes:
        process.start()
    _wait(lambda: all(shared["ready"]), "load checkers ready")
    time.sleep(0.2)  # their tracking connections subscribed
    acked = [inf] * tokens
    revoker, order = RedisStore({"url": url}), list(range(tokens))
    __import__("random").Random(1).shuffle(order)
    shared["go"].value = 1
    stop = time.perf_counter() + seconds * 0.9
    for k, n in enumerate(order):
        if time.perf_counter() > stop or acked[n] != inf:
            continue
        user, jti, session = _load_token(n, users)
        kind = KINDS[k % len(KINDS)]
        if kind == "jti":
            revoker.revoke(user, jti, int(time.time()) + 600)
        elif kind == "session":
            revoker.revoke_session(user, session, int(time.time()) + 600)
        else:
            revoker.bump_version(user)
        now = time.perf_counter()
        for m in ([n] if kind != "version" else range(n % users, tokens, users)):
            acked[m] = min(acked[m], now)
        time.sleep(seconds / tokens * 1.5)  # about half the pool ended by the end of the run
    for process in processes:
        process.join(seconds + 30)
    revoker.close()
    late = [shared["latest"][w * tokens + n] - acked[n] for w in range(workers) for n in range(tokens)
            if acked[n] != inf and shared["latest"][w * tokens + n] > acked[n]]
    return LoadResult(ended=sum(1 for a in acked if a != inf), cached_good=sum(shared["good"]),
                      violations=sum(1 for v in late if v > max_staleness), worst_us=max(late, default=0) * 1e6,
                      checks=sum(shared["checks"]))
