"""The near cache's hit rate where it runs: gunicorn workers under wrk (sync
workers, and threaded ones), and in one process at several paces of checks,
idle or busy in between. What lowers it: a check that comes more than
``max_staleness`` after the last PING's answer is strict (slower, never
wrong), and a thread that waits behind Python code for the GIL (the
interpreter hands it over every ``sys.getswitchinterval()``, 5 ms by
default) PINGs late."""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.request
from pathlib import Path

from bench.configs import Config
from bench.e2e import CONNECTIONS, THREADS, WORKERS, Servers, wrk
from bench.harness import Harness
from bench.near import BOUND, _jti, _store

SERVERS = {"sync workers": ("-k", "sync"), "gthread workers × 8 threads": ("-k", "gthread", "--threads", "8")}
PACES = (0.0005, 0.002, 0.008, 0.02)  # seconds between two checks


def _per_worker(port: int, workers: int = WORKERS) -> dict[int, dict]:
    """Each worker's counters (asked until every worker has answered)."""
    seen: dict[int, dict] = {}
    for _ in range(200):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/near-stats/", timeout=10) as response:
            stats = json.loads(response.read())
        seen[stats.pop("pid")] = stats
        if len(seen) == workers:
            break
    return seen


def under_gunicorn(harness: Harness, seconds: int) -> list[str]:
    if not shutil.which("wrk") or not shutil.which("gunicorn", path=str(Path(sys.executable).parent)):
        return ["| hit rate under gunicorn | skipped: wrk or gunicorn missing | |"]
    config = Config("near", "/toctou/me/", "versioned", "redis-near")
    lines = []
    for name, worker in SERVERS.items():
        servers = Servers(harness, worker)
        try:
            servers.start({"redis-near"})
            with harness.store("redis-near"):
                header = harness.mint(config)
            url = servers.url(config)
            wrk(shutil.which("wrk"), url, header, 1)  # warm: every worker subscribed and its cache filled
            before = _per_worker(servers.ports["redis-near"])
            wrk(shutil.which("wrk"), url, header, seconds)
            after = _per_worker(servers.ports["redis-near"])
        finally:
            servers.stop()
        rates = []
        for pid, stats in after.items():
            base = before.get(pid, {"hits": 0, "misses": 0, "strict": 0})
            asked = sum(stats[k] - base[k] for k in ("hits", "misses", "strict"))
            rates.append(f"{(stats['hits'] - base['hits']) / asked:.1%} of {asked:,}" if asked else "no checks")
        lines.append(f"| hit rate under gunicorn ({WORKERS} {name}; wrk, {THREADS} threads, {CONNECTIONS} "
                     f"connections, {seconds} s, one token) | {' / '.join(rates)} (per worker) | the rest strict: "
                     f"a check that found the cache not proven fresh |")
    return lines


def by_pace(url: str, seconds: float = 0.6) -> list[str]:
    """One process, checks every ``pace``, sleeping (an idle server) or running
    Python code (a busy one: the GIL held) in between."""
    store = _store(url)
    user, jti = "pace", _jti(1)
    while store.cached_check(user, jti, None, "authentication") is None:
        store.check(user, jti)
        time.sleep(0.001)
    cells = []
    for busy in (False, True):
        row = []
        for pace in PACES:
            before, end = store._near.stats(), time.monotonic() + seconds
            while time.monotonic() < end:
                if store.cached_check(user, jti, None, "authentication") is None:
                    store.check(user, jti)
                if busy:
                    until = time.perf_counter() + pace
                    while time.perf_counter() < until:
                        pass
                else:
                    time.sleep(pace)
            after = store._near.stats()
            asked = sum(after[k] - before[k] for k in ("hits", "misses", "strict"))
            row.append(f"{pace * 1000:g} ms: {(after['hits'] - before['hits']) / asked:.0%}")
        cells.append(("busy (Python code holds the GIL in between)" if busy else "idle in between", row))
    store.close()
    return [f"| hit rate by the time between checks, {kind} (max_staleness {BOUND * 1000:g} ms) | "
            f"{', '.join(row)} | |" for kind, row in cells]
