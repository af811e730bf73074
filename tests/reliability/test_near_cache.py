"""The near cache's long proofs (``make reliability``): propagation of
revocations from one process to four others, and the checker under a
concurrent revocation load, each with its negative control (invalidations
ignored in the checking processes). Short in ``make test``."""

from __future__ import annotations

import pytest

from tests.near_propagation import ROUND_TIMEOUT, concurrent_load, percentiles, propagate
from tests.reliability.conftest import scaled
from tests.servers import RedisServer

BOUND = 0.005


@pytest.fixture(scope="module")
def server():
    started = RedisServer().start()
    yield started
    started.stop()


def test_near_cache_propagation(server, report):
    rounds = scaled(300, 10_000)
    result = propagate(server.url, rounds=rounds, workers=4, max_staleness=BOUND)
    control = propagate(server.url, rounds=8, workers=2, max_staleness=BOUND, control=True)
    report("near cache: revocation propagation, 1 revoking + 4 checking processes", cases=rounds * 4,
           failures=result.violations + result.missed,
           worst_latency=f"{max(max(result.latencies_us), 0) / 1000:.2f} ms",
           naive=f"invalidations ignored: {control.violations}/{8 * 2} stale beyond {BOUND * 1000:g} ms",
           note=f"near cache propagation ({rounds} revocations — jti, version bump, session end in turn — "
                f"each seen by 4 processes checking every ~100 µs, max_staleness {BOUND * 1000:g} ms): "
                f"acknowledgement → first refusal {result.summary()}; → the cache stopped answering "
                f"'good' {percentiles(result.dropped_us)}; the last cached 'good' answer began "
                f"{percentiles(result.staleness_us)} after the acknowledgement (0: none after it), "
                f"{result.violations} more than max_staleness after it; checks from the cache {result.cached_checks}, "
                f"strict {result.strict_checks}. Negative control (invalidations ignored): "
                f"{control.violations} of 16 checker-rounds served 'good' more than {BOUND * 1000:g} ms late "
                f"(up to {max(control.staleness_us) / 1000:.0f} ms; a round gives up after "
                f"{ROUND_TIMEOUT * 1000:.0f} ms)")
    assert result.violations == 0 and result.missed == 0
    assert control.violations > 0


def test_near_cache_checker_under_concurrent_revocations(server, report):
    seconds = scaled(1.5, 30.0)
    tokens = scaled(400, 8_000)
    result = concurrent_load(server.url, tokens=tokens, users=tokens // 5, seconds=seconds, max_staleness=BOUND)
    control = concurrent_load(server.url, tokens=200, users=40, seconds=0.6, workers=2, max_staleness=BOUND,
                              control=True)
    report("near cache: cached answers vs the store's truth under concurrent revocations", cases=result.checks,
           failures=result.violations, worst_latency=f"{result.worst_us / 1000:.2f} ms stale",
           naive=f"invalidations ignored: {control.violations} stale beyond {BOUND * 1000:g} ms",
           note=f"near cache under load ({seconds:g} s, 4 checking processes, {tokens} tokens of which "
                f"{result.ended} ended while checked): {result.checks} checks, {result.cached_good} 'good' "
                f"answers from the cache, {result.violations} begun more than {BOUND * 1000:g} ms after their "
                f"token's end was acknowledged (stalest: {result.worst_us:.0f} µs after it)")
    assert result.violations == 0 and result.ended > 100
    assert control.violations > 0
